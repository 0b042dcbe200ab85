/**
 * @module
 * SMTP replies: the `SmtpReply` value handlers throw (and the session loop catches once), `reply()` to build
 * one from the table in `reply_codes.ts`, and `formatReply()` for the wire form (RFC 5321 §4.2, RFC 2034 §3).
 */
import { REPLY_CODES, type ReplyName } from "./reply_codes.ts";

/** RFC 5321 §4.5.3.1.5: a reply line is at most 512 octets including the code and CRLF. */
const MAX_REPLY_LINE = 512;

/** A reply to send: thrown by command handlers, caught once by the session loop, written with `formatReply`. */
export class SmtpReply extends Error {
  override name = "SmtpReply";
  /** Basic reply code (RFC 5321 §4.2). */
  readonly code: number;
  /** Enhanced status code such as "5.7.1" (RFC 3463), or null where RFC 2034 §3 says to omit it. */
  readonly enhanced: string | null;
  /** Text lines; a multi-line reply has several (RFC 5321 §4.2.1). */
  readonly lines: readonly string[];

  constructor(code: number, enhanced: string | null, lines: string | readonly string[]) {
    const all = typeof lines === "string" ? [lines] : [...lines];
    // A reply is an expected outcome, built several times per message: no stack trace (capturing one cost
    // more than everything else a reply does).
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    super(`${code}${enhanced ? ` ${enhanced}` : ""} ${all.join(" / ")}`);
    Error.stackTraceLimit = limit;
    if (!Number.isInteger(code) || code < 200 || code > 599) throw new RangeError(`Invalid SMTP reply code ${code}`);
    if (enhanced !== null && !/^[245]\.\d{1,3}\.\d{1,3}$/.test(enhanced)) {
      throw new RangeError(`Invalid enhanced status code "${enhanced}"`);
    }
    this.code = code;
    this.enhanced = enhanced;
    this.lines = all.length ? all : [""];
  }

  /** 2xx and 3xx: the command succeeded or the server waits for more. */
  get positive(): boolean {
    return this.code < 400;
  }

  /** 4xx: temporary failure; the client may retry. */
  get transient(): boolean {
    return this.code >= 400 && this.code < 500;
  }

  /** 421 and 221: the server closes the connection after sending this (RFC 5321 §3.8, §4.1.1.10). */
  get closesConnection(): boolean {
    return this.code === 421 || this.code === 221;
  }
}

/** Replies with their default text, built once: a reply is immutable, and a message needs several. */
const SHARED = new Map<ReplyName, SmtpReply>();

/** Builds the named reply from the table; `text` (one line or several) replaces the default text. */
export function reply(name: ReplyName, text?: string | readonly string[]): SmtpReply {
  const [code, enhanced, defaultText] = REPLY_CODES[name];
  if (text !== undefined) return new SmtpReply(code, enhanced, text);
  let r = SHARED.get(name);
  if (!r) SHARED.set(name, r = new SmtpReply(code, enhanced, defaultText));
  return r;
}

/** Wire forms of replies already formatted (the shared ones are formatted once). */
const WIRE = new WeakMap<SmtpReply, string>();

/**
 * The wire form of a reply: `250-first`, …, `250 last`, each line ending in CRLF, each prefixed by the
 * enhanced code when there is one (RFC 2034 §3: on every line of a multi-line reply). Text is made safe:
 * control characters and non-ASCII become `?` or a space (RFC 6531 §3.7.4.2: no UTF-8 in replies), and a line
 * is cut to 512 octets (RFC 5321 §4.5.3.1.5), so an echoed argument can never inject a line.
 */
export function formatReply(r: SmtpReply): string {
  let wire = WIRE.get(r);
  if (wire === undefined) WIRE.set(r, wire = wireForm(r));
  return wire;
}

function wireForm(r: SmtpReply): string {
  const prefix = r.enhanced ? `${r.enhanced} ` : "";
  let out = "";
  r.lines.forEach((line, i) => {
    const sep = i === r.lines.length - 1 ? " " : "-";
    const head = `${r.code}${sep}${prefix}`;
    let text = line.replace(/[\r\n\t]/g, " ").replace(/[^\x20-\x7e]/g, "?");
    const room = MAX_REPLY_LINE - 2 - head.length;
    if (text.length > room) text = text.slice(0, room);
    out += `${head}${text}\r\n`;
  });
  return out;
}
