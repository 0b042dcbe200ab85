/**
 * @module
 * Mail authentication with `mailauth` (DESIGN: never hand-roll signature canonicalisation):
 * - {@linkcode signMessage}: DKIM signatures (RSA and Ed25519, RFC 8463) on submitted mail.
 * - {@linkcode checkIncoming}: SPF, DKIM, DMARC and ARC of mail arriving on port 25, the
 *   `Authentication-Results` header (RFC 8601) with our host name as authserv-id, and the DMARC verdict.
 * - {@linkcode stripOurAuthResults}: removes incoming `Authentication-Results` that claim to be ours (RFC 8601
 *   §5), so nobody can forge a pass by writing the header themselves.
 */
import { Buffer } from "node:buffer";
import { authenticate } from "mailauth";
import { dkimSign } from "mailauth/lib/dkim/sign.js";
import type { DkimKey } from "../store/mod.ts";
import type { Resolver } from "../dns/resolver.ts";
import { concatBytes } from "../mail/bytes.ts";

/** Header fields signed (RFC 6376 §5.4.1 recommends these); From is listed twice to block an added From. */
const SIGNED_HEADERS = [
  "from",
  "from",
  "to",
  "cc",
  "subject",
  "date",
  "message-id",
  "reply-to",
  "in-reply-to",
  "references",
  "mime-version",
  "content-type",
  "content-transfer-encoding",
  "list-unsubscribe",
  "list-unsubscribe-post",
];

/** Prepends one DKIM-Signature per key. A key that cannot sign is skipped (and named in `errors`). */
export async function signMessage(
  raw: Uint8Array,
  keys: readonly DkimKey[],
): Promise<{ signed: Uint8Array; errors: string[] }> {
  if (!keys.length) return { signed: raw, errors: [] };
  const result = await dkimSign(Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength), {
    signingDomain: keys[0]!.domain,
    selector: keys[0]!.selector,
    privateKey: keys[0]!.privateKey,
    canonicalization: "relaxed/relaxed",
    headerList: SIGNED_HEADERS,
    signatureData: keys.map((k) => ({
      signingDomain: k.domain,
      selector: k.selector,
      privateKey: k.privateKey,
      algorithm: k.algorithm === "rsa" ? "rsa-sha256" : "ed25519-sha256",
      canonicalization: "relaxed/relaxed",
      headerList: SIGNED_HEADERS,
    })),
  });
  const errors = result.errors.map((e) => `${e.selector ?? "?"}: ${e.err?.message ?? String(e)}`);
  if (!result.signatures) return { signed: raw, errors };
  return { signed: concatBytes([new TextEncoder().encode(result.signatures), raw]), errors };
}

/** What the checks of one incoming message found, kept for the spam scoring that follows. */
export interface AuthVerdict {
  spf: string;
  dkim: string;
  dmarc: string;
  arc: string;
  /** The From domain's DMARC policy when DMARC failed ("none", "quarantine", "reject"), else undefined. */
  dmarcFailedPolicy?: string;
  /** accept, or what DMARC asks: deliver to Junk, or refuse at DATA. */
  action: "accept" | "quarantine" | "reject";
  /** `Received-SPF` and `Authentication-Results`, CRLF-terminated, to prepend to the stored message. */
  headers: string;
}

/** The envelope facts the checks need. */
export interface IncomingEnvelope {
  ip: string;
  helo: string;
  mailFrom: string;
  /** Our host name: the authserv-id. */
  hostname: string;
}

/**
 * Runs SPF, DKIM, DMARC and ARC. DMARC `p=reject` failures give `reject` (or `quarantine` when
 * `dmarcReject` says so), `p=quarantine` failures give `quarantine`. A DNS failure makes the affected check
 * `temperror`, which never rejects.
 */
export async function checkIncoming(
  message: Uint8Array,
  env: IncomingEnvelope,
  resolver: Resolver,
  dmarcReject: "reject" | "quarantine" = "reject",
): Promise<AuthVerdict> {
  const result = await authenticate(Buffer.from(message.buffer, message.byteOffset, message.byteLength), {
    ip: env.ip,
    helo: env.helo,
    sender: env.mailFrom,
    mta: env.hostname,
    resolver: resolver.forMailauth() as never,
    disableBimi: true,
  });
  const dkim = result.dkim.results.map((r) => r.status.result);
  const dmarc = result.dmarc ? result.dmarc.status.result : "none";
  let action: AuthVerdict["action"] = "accept";
  let dmarcFailedPolicy: string | undefined;
  if (result.dmarc && dmarc === "fail") {
    dmarcFailedPolicy = result.dmarc.policy;
    if (result.dmarc.policy === "reject") action = dmarcReject;
    else if (result.dmarc.policy === "quarantine") action = "quarantine";
  }
  return {
    spf: result.spf ? result.spf.status.result : "none",
    dkim: dkim.includes("pass") ? "pass" : dkim[0] ?? "none",
    dmarc,
    arc: result.arc ? result.arc.status.result : "none",
    ...(dmarcFailedPolicy ? { dmarcFailedPolicy } : {}),
    action,
    headers: result.headers,
  };
}

const CR = 13;
const LF = 10;

/**
 * The authserv-id of an `Authentication-Results` field (RFC 8601 §2.2: a value — token or quoted-string — after
 * optional comments and folding whitespace), lower-cased; undefined for any other field.
 */
export function authservIdOf(field: string): string | undefined {
  const unfolded = field.replace(/\r?\n(?=[ \t])/g, "");
  const name = /^authentication-results[ \t]*:/i.exec(unfolded);
  if (!name) return undefined;
  let at = name[0].length;
  // CFWS: whitespace and (nested, escaped) comments.
  for (;;) {
    while (at < unfolded.length && /[ \t\r\n]/.test(unfolded[at]!)) at++;
    if (unfolded[at] !== "(") break;
    let depth = 0;
    for (; at < unfolded.length; at++) {
      const c = unfolded[at];
      if (c === "\\") at++;
      else if (c === "(") depth++;
      else if (c === ")" && --depth === 0) {
        at++;
        break;
      }
    }
  }
  if (unfolded[at] === '"') {
    let id = "";
    for (at++; at < unfolded.length && unfolded[at] !== '"'; at++) {
      if (unfolded[at] === "\\") at++;
      id += unfolded[at] ?? "";
    }
    return id.toLowerCase();
  }
  // RFC 2045 token: up to a space, control character or tspecial.
  // deno-lint-ignore no-control-regex
  return /^[^\x00-\x20()<>@,;:\\"/[\]?=\x7f]*/.exec(unfolded.slice(at))![0].toLowerCase();
}

/**
 * Removes every `Authentication-Results` field whose authserv-id is `hostname` (any case, folded, quoted or after
 * comments) from the header section of `message`. Returns the message itself when there is none (the common
 * case: no copy).
 */
export function stripOurAuthResults(message: Uint8Array, hostname: string): Uint8Array {
  const ours = hostname.toLowerCase();
  const dec = new TextDecoder("latin1");
  const keep: [number, number][] = [];
  let removed = false;
  const close = (start: number, end: number) => {
    if (end <= start) return;
    // Only fields that can be one (the name is checked on the first bytes) are decoded whole.
    const maybe = (message[start]! | 0x20) === 0x61 && /^authentication-results/i.test(
      dec.decode(message.subarray(start, Math.min(end, start + 22))),
    );
    if (maybe && authservIdOf(dec.decode(message.subarray(start, end))) === ours) removed = true;
    else keep.push([start, end]);
  };
  let fieldStart = 0;
  let at = 0;
  for (;;) {
    const lf = message.indexOf(LF, at);
    const end = lf < 0 ? message.length : lf + 1;
    const blank = at >= message.length || message[at] === LF || (message[at] === CR && message[at + 1] === LF);
    if (blank) {
      close(fieldStart, at);
      break;
    }
    // A line not starting with space or tab begins a new field (RFC 5322 §2.2.3 folding).
    if (message[at] !== 0x20 && message[at] !== 0x09) {
      close(fieldStart, at);
      fieldStart = at;
    }
    at = end;
  }
  const start = at;
  if (!removed) return message;
  return concatBytes([...keep.map(([s, e]) => message.subarray(s, e)), message.subarray(start)]);
}
