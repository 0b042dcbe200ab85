/**
 * @module
 * SASL exchanges for SMTP AUTH (RFC 4954): PLAIN (RFC 4616) and LOGIN (draft-murchison-sasl-login), as small
 * state machines that turn the AUTH line and the client's response lines into credentials or the next
 * challenge. Pure: checking the password, throttling and TLS policy are the session's job.
 *
 * Secrets: this module never logs; `SaslCredentials` hides the password from JSON and console inspection, and
 * `redactAuthLine` gives the form of an AUTH line that may go into a trace log.
 */
import { reply, type SmtpReply } from "./reply.ts";

/** The mechanisms implemented here, in the order to advertise them (`250-AUTH PLAIN LOGIN`). */
export const SASL_MECHANISMS = ["PLAIN", "LOGIN"] as const;

/** A mechanism implemented here. */
export type SaslMechanism = (typeof SASL_MECHANISMS)[number];

const REDACTED = "[redacted]";
const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** Decoded credentials. The password is a private field: it never shows in JSON, logs or inspection. */
export class SaslCredentials {
  /** Authorization identity (RFC 4616 §2 authzid); "" means "the same as `username`". */
  readonly authzid: string;
  /** Authentication identity (authcid): the login name. */
  readonly username: string;
  readonly #password: string;

  constructor(authzid: string, username: string, password: string) {
    this.authzid = authzid;
    this.username = username;
    this.#password = password;
  }

  /** The password, for the verifier only. */
  get password(): string {
    return this.#password;
  }

  /** JSON form without the password. */
  toJSON(): { authzid: string; username: string; password: string } {
    return { authzid: this.authzid, username: this.username, password: REDACTED };
  }

  /** Inspection form without the password (Deno and node:util). */
  [Symbol.for("Deno.customInspect")](): string {
    return `SaslCredentials { username: ${JSON.stringify(this.username)}, password: ${REDACTED} }`;
  }

  [Symbol.for("nodejs.util.inspect.custom")](): string {
    return `SaslCredentials { username: ${JSON.stringify(this.username)}, password: ${REDACTED} }`;
  }
}

/** One step: a challenge to send as `334 <challenge>` (`reply("AUTH_CHALLENGE", challenge)`), or the result. */
export type SaslStep =
  | { done: false; challenge: string }
  | { done: true; credentials: SaslCredentials };

/** A running exchange. Its methods throw an `SmtpReply` (501) for cancellation or undecodable input. */
export interface SaslExchange {
  /** The mechanism, upper case. */
  readonly mechanism: SaslMechanism;
  /** First step, with the initial response from the AUTH line (null when there was none; "=" means empty). */
  start(initialResponse: string | null): SaslStep;
  /** Next step, with one response line from the client (without CRLF). */
  respond(line: string): SaslStep;
}

/** Starts an exchange for `mechanism` (any case), or returns null when it is not implemented (→ 504 5.5.4). */
export function saslExchange(mechanism: string): SaslExchange | null {
  switch (mechanism.toUpperCase()) {
    case "PLAIN":
      return new PlainExchange();
    case "LOGIN":
      return new LoginExchange();
    default:
      return null;
  }
}

/** RFC 4616 §2: message = [authzid] UTF8NUL authcid UTF8NUL passwd. */
class PlainExchange implements SaslExchange {
  readonly mechanism = "PLAIN";

  start(initialResponse: string | null): SaslStep {
    // RFC 4954 §4: without an initial response the server sends an empty challenge ("334 ").
    if (initialResponse === null) return { done: false, challenge: "" };
    return this.#decode(initialResponse === "=" ? "" : initialResponse);
  }

  respond(line: string): SaslStep {
    checkCancel(line);
    return this.#decode(line);
  }

  #decode(b64: string): SaslStep {
    const parts = decodeText(b64).split("\0");
    const [authzid, username, password] = parts;
    if (parts.length !== 3 || !username || !password || authzid === undefined) throw reply("AUTH_MALFORMED");
    return { done: true, credentials: new SaslCredentials(authzid, username, password) };
  }
}

/** LOGIN: "Username:" then "Password:" challenges, each answered with base64. */
class LoginExchange implements SaslExchange {
  readonly mechanism = "LOGIN";
  #username: string | null = null;

  start(initialResponse: string | null): SaslStep {
    if (initialResponse === null) return { done: false, challenge: "VXNlcm5hbWU6" }; // "Username:"
    return this.#takeUsername(initialResponse === "=" ? "" : initialResponse);
  }

  respond(line: string): SaslStep {
    checkCancel(line);
    if (this.#username === null) return this.#takeUsername(line);
    const password = decodeText(line);
    if (!password) throw reply("AUTH_MALFORMED");
    return { done: true, credentials: new SaslCredentials("", this.#username, password) };
  }

  #takeUsername(b64: string): SaslStep {
    const username = decodeText(b64);
    if (!username) throw reply("AUTH_MALFORMED");
    this.#username = username;
    return { done: false, challenge: "UGFzc3dvcmQ6" }; // "Password:"
  }
}

// RFC 4954 §4: "If the client wishes to cancel the authentication exchange, it issues a line with a single '*'.
// If the server receives such a response, it MUST reject the AUTH command by sending a 501 reply."
function checkCancel(line: string): void {
  if (line.trim() === "*") throw reply("AUTH_CANCELLED");
}

/** Strict base64 (RFC 4648 §4; padding may be omitted) → UTF-8 text. Throws 501 5.5.2 (RFC 4954 §4). */
function decodeText(b64: string): string {
  const m = /^([A-Za-z0-9+/]*)(={0,2})$/.exec(b64.trim());
  if (!m) throw badBase64();
  const body = m[1]!;
  const pad = m[2]!.length;
  // A quad holds 2-4 characters of data; with padding, data + "=" must fill it exactly.
  if (body.length % 4 === 1 || (pad > 0 && (body.length % 4) + pad !== 4)) throw badBase64();
  let binary: string;
  try {
    binary = atob(body + "=".repeat((4 - (body.length % 4)) % 4));
  } catch {
    throw badBase64();
  }
  const bytes = Uint8Array.from(binary, (c) => c.charCodeAt(0));
  try {
    return utf8.decode(bytes);
  } catch {
    throw badBase64();
  }
}

function badBase64(): SmtpReply {
  return reply("AUTH_BAD_BASE64");
}

/**
 * The form of a command line that may be written to a trace log: the AUTH initial response is replaced by
 * "[redacted]". Lines of a running AUTH exchange must never be logged at all (log `[redacted]` instead).
 */
export function redactAuthLine(line: string): string {
  const m = /^(AUTH +\S+) +\S/i.exec(line);
  return m ? `${m[1]} ${REDACTED}` : line;
}
