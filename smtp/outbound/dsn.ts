/**
 * @module
 * Delivery status notifications: the raw message of a bounce ("failed") or a delay warning ("delayed") for the
 * sender of a queued message, in the shape Postfix sends them. A DSN is a `multipart/report;
 * report-type=delivery-status` (RFC 6522) of three parts: a text/plain explanation for people, the
 * `message/delivery-status` fields for programs (RFC 3464), and the original message (RET=FULL, RFC 3461 §4.3) or
 * only its header section (RET=HDRS, or when the original is too large to return).
 *
 * The result is pure data: CRLF line endings, no line longer than 998 octets (RFC 5322 §2.1.1), and 7-bit unless
 * a returned original has 8-bit content (then labelled `8bit`, RFC 6152). The caller sends it with the null
 * reverse-path `MAIL FROM:<>` (RFC 5321 §4.5.5) and never sends a DSN about a DSN.
 */
import { concatBytes as concat } from "../../mail/bytes.ts";
import { rfc5322Date } from "../../mail/date.ts";
import { encodeXtext } from "../protocol/parse.ts";

/** One recipient a DSN reports on. */
export interface DsnRecipient {
  /** The address we tried. */
  recipient: string;
  /** RFC 3461 ORCPT as given at submission, decoded from xtext ("rfc822;addr"), if any. */
  orcpt?: string;
  /** What happened: given up ("failed") or still being retried ("delayed"). */
  action: "failed" | "delayed";
  /** Enhanced status code (RFC 3463), e.g. "5.1.1", "4.4.1"; see {@linkcode statusFromReply}. */
  status: string;
  /** The MX host name that answered, if any. */
  remoteMta?: string;
  /** The remote server's reply verbatim (lines separated by CRLF or LF), e.g. "550 5.1.1 <bob@b.test>: …". */
  diagnostic?: string;
  /** One human sentence: "The mail server for b.test said the address does not exist." */
  reason: string;
  /** When delivery was last tried. */
  lastAttempt?: Date;
  /** For "delayed": when the queue gives up. */
  willRetryUntil?: Date;
}

/** What {@linkcode buildDsn} needs. */
export interface DsnInput {
  /** Our host name (Reporting-MTA, RFC 3464 §2.2.2). */
  reportingMta: string;
  /** The From: address, e.g. "MAILER-DAEMON@hostname" (shown as "Mail Delivery System"). */
  postmaster: string;
  /** The original envelope sender, to whom the DSN goes; never empty (no DSN for the null sender). */
  to: string;
  /** When the original entered the queue. */
  arrivalDate: Date;
  /** RFC 3461 ENVID, decoded from xtext, if given. */
  envid?: string;
  /** All failed or all delayed; at least one. */
  recipients: DsnRecipient[];
  /** The original message as queued. */
  original: Uint8Array;
  /**
   * RFC 3461 §4.3 RET: FULL returns the message (message/rfc822), HDRS only its header (text/rfc822-headers).
   * FULL applies to "failed" DSNs only: a delay warning always carries the header.
   */
  ret: "FULL" | "HDRS";
  /** The domain of the DSN's own Message-ID. */
  messageIdDomain: string;
  /** Date: of the DSN; default now. */
  date?: Date;
  /** Largest original returned with RET=FULL; larger ones are returned as their header section. Default 1 MiB. */
  maxOriginalBytes?: number;
}

const CR = 0x0d;
const LF = 0x0a;
const CRLF = "\r\n";
/** RFC 5322 §2.1.1: at most 998 octets per line, excluding the CRLF. */
const MAX_LINE = 998;
/** RFC 5322 §2.1.1: "SHOULD" — where header fields are folded when they can be. */
const FOLD_AT = 78;
const DEFAULT_MAX_ORIGINAL = 1024 * 1024;
// RFC 3463 §2: class "." subject "." detail
const STATUS = /^[245]\.\d{1,3}\.\d{1,3}$/;

const encoder = new TextEncoder();

/**
 * The enhanced status code for an SMTP reply (RFC 3463): `enhanced` when it is valid, else "5.0.0" / "4.0.0" by
 * the reply's class. The class always follows the reply code (as in Postfix), since RFC 3463 §2 requires the
 * two to agree; codes other than 2xx/4xx/5xx count as permanent failures.
 */
export function statusFromReply(code: number, enhanced?: string): string {
  const first = Math.floor(code / 100);
  const cls = first === 2 || first === 4 ? first : 5;
  const m = enhanced === undefined ? null : /^\s*[245]\.(\d{1,3})\.(\d{1,3})\s*$/.exec(enhanced);
  return m ? `${cls}.${m[1]}.${m[2]}` : `${cls}.0.0`;
}

/** Builds the raw RFC 5322 message of a DSN (see the module doc). Throws `TypeError` on inconsistent input. */
export function buildDsn(input: DsnInput): Uint8Array {
  validate(input);
  const delayed = input.recipients[0]!.action === "delayed";
  const limit = input.maxOriginalBytes ?? DEFAULT_MAX_ORIGINAL;

  const normalized = crlfLines(input.original);
  const headerEnd = headerSectionEnd(normalized);
  const returned = chooseReturned(normalized, headerEnd, delayed, input.ret, limit);

  const parts: MimePart[] = [
    {
      headers: [
        "Content-Description: Notification",
        "Content-Type: text/plain; charset=utf-8",
        "Content-Transfer-Encoding: quoted-printable",
      ],
      body: encoder.encode(quotedPrintable(encoder.encode(humanText(input, delayed, returned)))),
    },
    {
      headers: ["Content-Description: Delivery report", "Content-Type: message/delivery-status"],
      body: encoder.encode(deliveryStatus(input)),
    },
    returned.part,
  ];

  const messageId = `<${randomHex(8)}.${Date.now().toString(36)}@${input.messageIdDomain}>`;
  const boundary = chooseBoundary(parts.map((p) => p.body));
  const inReplyTo = originalMessageId(normalized.subarray(0, headerEnd));
  const eightBit = returned.eightBit;

  const head = [
    `Date: ${rfc5322Date(input.date ?? new Date())}`,
    `From: Mail Delivery System <${input.postmaster}>`,
    fold("To", `<${input.to}>`),
    `Subject: ${delayed ? "Delayed Mail (still being retried)" : "Undelivered Mail Returned to Sender"}`,
    fold("Message-ID", messageId),
    ...(inReplyTo ? [`In-Reply-To: ${inReplyTo}`, `References: ${inReplyTo}`] : []),
    "Auto-Submitted: auto-replied", // RFC 3834 §5
    "MIME-Version: 1.0",
    `Content-Type: multipart/report; report-type=delivery-status;${CRLF}\tboundary="${boundary}"`, // RFC 6522 §3
    `Content-Transfer-Encoding: ${eightBit ? "8bit" : "7bit"}`,
  ];
  const chunks: Uint8Array[] = [
    encoder.encode(head.join(CRLF) + CRLF + CRLF + "This is a MIME-encapsulated message." + CRLF + CRLF),
  ];
  for (const part of parts) {
    // An empty body still needs its own line: the CRLF before the delimiter is not the body's.
    const body = part.body.length > 0 ? part.body : encoder.encode(CRLF);
    chunks.push(encoder.encode(`--${boundary}${CRLF}${part.headers.join(CRLF)}${CRLF}${CRLF}`), body);
  }
  chunks.push(encoder.encode(`--${boundary}--${CRLF}`));
  return concat(chunks);
}

interface MimePart {
  headers: string[];
  /** Ends with CRLF (the CRLF before the next delimiter belongs to the delimiter, RFC 2046 §5.1.1). */
  body: Uint8Array;
}

/** What the third part returns and why (for the explanation). */
interface Returned {
  part: MimePart;
  kind: "message" | "headers" | "headers-too-large" | "headers-unreturnable";
  eightBit: boolean;
}

function validate(input: DsnInput): void {
  const first = input.recipients[0];
  if (!first) throw new TypeError("Cannot build a DSN: no recipients");
  if (!input.to) throw new TypeError("Cannot build a DSN for the null sender");
  if (/\p{Cc}/u.test(input.to)) throw new TypeError(`Cannot build a DSN for "${input.to}": control character`);
  for (
    const [name, value] of [
      ["reportingMta", input.reportingMta],
      ["postmaster", input.postmaster],
      ["messageIdDomain", input.messageIdDomain],
    ] as const
  ) {
    if (!/^[\x21-\x7e]+$/.test(value) || value.length > 255) {
      throw new TypeError(`Cannot build a DSN: ${name} "${value}" is not printable ASCII`);
    }
  }
  for (const r of input.recipients) {
    if (r.action !== first.action) throw new TypeError("Cannot build a DSN: recipients mix failed and delayed");
    if (!STATUS.test(r.status)) {
      throw new TypeError(`Cannot build a DSN: status "${r.status}" of ${r.recipient} is not an RFC 3463 code`);
    }
    if (/[\r\n]/.test(r.recipient) || (r.orcpt !== undefined && /[\r\n]/.test(r.orcpt))) {
      throw new TypeError(`Cannot build a DSN: line break in recipient "${r.recipient}"`);
    }
  }
}

// --- the human-readable part ---------------------------------------------------------------------------------

function humanText(input: DsnInput, delayed: boolean, returned: Returned): string {
  const n = input.recipients.length;
  const whom = n === 1 ? "the recipient below" : `the ${n} recipients below`;
  const lines: string[] = [`This is the mail system at ${input.reportingMta}.`, ""];
  if (delayed) {
    const until = latest(input.recipients.map((r) => r.willRetryUntil));
    lines.push(
      ...wrap(
        `This is a warning only; you do not need to do anything. Your message has not yet been delivered to ` +
          `${whom}. The mail system will keep trying` +
          (until ? ` until ${rfc5322Date(until)}` : "") +
          `, and you will get another message if it still cannot be delivered by then.`,
      ),
    );
  } else {
    lines.push(
      ...wrap(`I'm sorry to have to inform you that your message could not be delivered to ${whom}.`),
      "",
      ...wrap(
        "For further assistance, please send mail to your postmaster. If you do so, please include this " +
          "problem report.",
      ),
    );
  }
  lines.push("", "                   The mail system");
  for (const r of input.recipients) {
    lines.push("", `<${r.recipient}>`);
    lines.push(...wrap(r.reason, 72, "    "));
    if (r.diagnostic) {
      lines.push(`    ${r.remoteMta ? `The mail server ${r.remoteMta}` : "The remote mail server"} replied:`);
      for (const l of replyLines(r.diagnostic)) lines.push(`        ${l}`);
    } else if (r.remoteMta) {
      lines.push(`    Last mail server tried: ${r.remoteMta}`);
    }
    if (r.lastAttempt) lines.push(`    Last attempt: ${rfc5322Date(r.lastAttempt)}`);
    if (delayed && r.willRetryUntil) lines.push(`    Will keep trying until: ${rfc5322Date(r.willRetryUntil)}`);
  }
  lines.push("");
  const note = returned.kind === "message"
    ? "Your message is attached below."
    : returned.kind === "headers"
    ? "The header of your message is attached below."
    : returned.kind === "headers-too-large"
    ? `Only the header of your message is attached below: the message is larger than ${
      size(input.maxOriginalBytes ?? DEFAULT_MAX_ORIGINAL)
    }.`
    : "Only the header of your message is attached below: its content cannot be returned unchanged.";
  lines.push(...wrap(note));
  return lines.join(CRLF) + CRLF;
}

function latest(dates: (Date | undefined)[]): Date | null {
  let best: Date | null = null;
  for (const d of dates) if (d && (!best || d.getTime() > best.getTime())) best = d;
  return best;
}

/** A reply's lines, without empty ones (the reply verbatim, split at CRLF or LF). */
function replyLines(reply: string): string[] {
  return reply.split(/\r?\n|\r/).filter((l) => l.length > 0);
}

/** Word-wraps one paragraph at `width` columns (a word longer than that gets a line of its own). */
function wrap(text: string, width = 72, indent = ""): string[] {
  const out: string[] = [];
  let line = "";
  for (const word of text.split(/\s+/).filter((w) => w.length > 0)) {
    if (line && indent.length + line.length + 1 + word.length > width) {
      out.push(indent + line);
      line = word;
    } else {
      line = line ? `${line} ${word}` : word;
    }
  }
  if (line) out.push(indent + line);
  return out;
}

function size(bytes: number): string {
  const unit = (n: number, u: string) => `${Number.isInteger(n) ? n : n.toFixed(1)} ${u}`;
  if (bytes >= 1024 * 1024) return unit(bytes / (1024 * 1024), "MiB");
  if (bytes >= 1024) return unit(bytes / 1024, "KiB");
  return `${bytes} bytes`;
}

/** RFC 2045 §6.7 quoted-printable of CRLF-delimited data: every encoded line ≤ 76 characters, all 7-bit. */
function quotedPrintable(data: Uint8Array): string {
  let out = "";
  let line = "";
  for (let i = 0; i < data.length; i++) {
    const b = data[i]!;
    if (b === CR && data[i + 1] === LF) { // a hard line break (rule 4)
      out += line + CRLF;
      line = "";
      i++;
      continue;
    }
    const atEnd = i + 1 === data.length || (data[i + 1] === CR && data[i + 2] === LF);
    // Rules 2 and 3: printable ASCII except "=" as itself; space and tab too, except at the end of a line.
    const literal = (b >= 0x21 && b <= 0x7e && b !== 0x3d) || ((b === 0x20 || b === 0x09) && !atEnd);
    const piece = literal ? String.fromCharCode(b) : `=${b.toString(16).toUpperCase().padStart(2, "0")}`;
    if (line.length + piece.length > 75) { // rule 5: a soft line break keeps lines ≤ 76 with its "="
      out += `${line}=${CRLF}`;
      line = "";
    }
    line += piece;
  }
  return line ? out + line + CRLF : out; // the body's last CRLF: the one before the delimiter is not its own
}

// --- the delivery-status part (RFC 3464 §2.1–2.3) -------------------------------------------------------------

function deliveryStatus(input: DsnInput): string {
  // RFC 3464 §2.2: per-message fields, in the order of the grammar.
  const perMessage: string[] = [];
  if (input.envid !== undefined) perMessage.push(fold("Original-Envelope-Id", envelopeId(input.envid))); // §2.2.1
  perMessage.push(fold("Reporting-MTA", `dns; ${input.reportingMta}`)); // §2.2.2
  perMessage.push(`Arrival-Date: ${rfc5322Date(input.arrivalDate)}`); // §2.2.5
  const blocks = [perMessage.join(CRLF) + CRLF];
  for (const r of input.recipients) {
    // RFC 3464 §2.3: per-recipient fields, each group separated by a blank line (§2.1).
    const f: string[] = [];
    if (r.orcpt !== undefined) f.push(fold("Original-Recipient", originalRecipient(r.orcpt))); // §2.3.1
    f.push(fold("Final-Recipient", typedAddress("rfc822", r.recipient))); // §2.3.2
    f.push(`Action: ${r.action}`); // §2.3.3
    f.push(`Status: ${r.status}`); // §2.3.4
    if (r.remoteMta) f.push(fold("Remote-MTA", `dns; ${ascii(r.remoteMta).replace(/\s+/g, "")}`)); // §2.3.5
    if (r.diagnostic) f.push(fold("Diagnostic-Code", `smtp; ${ascii(replyLines(r.diagnostic).join(" "))}`)); // §2.3.6
    if (r.lastAttempt) f.push(`Last-Attempt-Date: ${rfc5322Date(r.lastAttempt)}`); // §2.3.7
    if (r.action === "delayed" && r.willRetryUntil) f.push(`Will-Retry-Until: ${rfc5322Date(r.willRetryUntil)}`);
    blocks.push(f.join(CRLF) + CRLF);
  }
  return blocks.join(CRLF);
}

/** Printable ASCII only: message/delivery-status is 7-bit text (RFC 3464 §2.1); anything else becomes "?". */
function ascii(s: string): string {
  return s.replace(/[^\x20-\x7e]/g, "?");
}

/** RFC 3464 §2.2.1 envelope-id is text: printable as it is, otherwise xtext-encoded as it travelled in SMTP. */
function envelopeId(envid: string): string {
  return /^[\x21-\x7e]*$/.test(envid) ? envid : encodeXtext(envid);
}

/** ORCPT "type;address" (RFC 3461 §4.2, decoded) as an Original-Recipient value. */
function originalRecipient(orcpt: string): string {
  const semi = orcpt.indexOf(";");
  return semi < 0
    ? typedAddress("rfc822", orcpt.trim())
    : typedAddress(orcpt.slice(0, semi).trim(), orcpt.slice(semi + 1).trim());
}

/**
 * `address-type "; " generic-address` (RFC 3464 §2.3.2). A non-ASCII address (SMTPUTF8) is written as the
 * RFC 6533 §3 "utf-8" type in its 7-bit form, with `\x{HEX}` for each character outside QCHAR.
 */
function typedAddress(type: string, address: string): string {
  const t = type.toLowerCase();
  if (/^[\x21-\x7e]*$/.test(address) && t !== "utf-8") return `${t || "rfc822"}; ${address}`;
  let out = "";
  for (const ch of address) {
    const c = ch.codePointAt(0)!;
    // RFC 6533 §3 QCHAR: %x21-2a / %x2c-3c / %x3e-5b / %x5d-7e ("+", "=", "\" and the rest are escaped)
    out += c >= 0x21 && c <= 0x7e && c !== 0x2b && c !== 0x3d && c !== 0x5c
      ? ch
      : `\\x{${c.toString(16).toUpperCase()}}`;
  }
  return `utf-8; ${out}`;
}

// --- the returned original ------------------------------------------------------------------------------------

function chooseReturned(
  raw: Uint8Array,
  headerEnd: number,
  delayed: boolean,
  ret: DsnInput["ret"],
  limit: number,
): Returned {
  if (delayed) return headersPart(raw, headerEnd, limit, "headers", "Delayed Message Headers");
  const description = "Undelivered Message Headers";
  if (ret === "FULL") {
    const fit = raw.length <= limit;
    const shape = fit ? scan(raw) : null;
    // message/rfc822 allows only 7bit, 8bit or binary (RFC 2046 §5.2.1): lines must already be transportable.
    if (shape && shape.longest <= MAX_LINE && !shape.nul) {
      return {
        part: {
          headers: [
            "Content-Description: Undelivered Message",
            "Content-Type: message/rfc822",
            ...(shape.eightBit ? ["Content-Transfer-Encoding: 8bit"] : []),
          ],
          body: raw,
        },
        kind: "message",
        eightBit: shape.eightBit,
      };
    }
    return headersPart(raw, headerEnd, limit, fit ? "headers-unreturnable" : "headers-too-large", description);
  }
  return headersPart(raw, headerEnd, limit, "headers", description);
}

/**
 * The header section (up to the first empty line) as text/rfc822-headers (RFC 6522 §4). Broken headers (8-bit,
 * overlong lines) are quoted-printable, which RFC 6522 allows for this type.
 */
function headersPart(
  raw: Uint8Array,
  headerEnd: number,
  limit: number,
  kind: Returned["kind"],
  description: string,
): Returned {
  let header = raw.subarray(0, headerEnd);
  if (header.length > limit) header = header.subarray(0, header.lastIndexOf(LF, limit - 1) + 1);
  const shape = scan(header);
  const plain = !shape.eightBit && !shape.nul && shape.longest <= MAX_LINE;
  return {
    part: {
      headers: [
        `Content-Description: ${description}`,
        // RFC 6532 header fields are UTF-8; say so, so that readers decode them.
        `Content-Type: text/rfc822-headers${shape.eightBit ? "; charset=utf-8" : ""}`,
        ...(plain ? [] : ["Content-Transfer-Encoding: quoted-printable"]),
      ],
      body: plain ? header : encoder.encode(quotedPrintable(header)),
    },
    kind,
    eightBit: false,
  };
}

/** Normalises line ends to CRLF (a bare CR or LF becomes CRLF) and ends non-empty data with CRLF. */
function crlfLines(raw: Uint8Array): Uint8Array {
  let bare = 0;
  for (let i = 0; i < raw.length; i++) {
    const b = raw[i]!;
    if (b === CR && raw[i + 1] === LF) i++;
    else if (b === CR || b === LF) bare++;
  }
  const missingEnd = raw.length > 0 && raw[raw.length - 1] !== LF && raw[raw.length - 1] !== CR;
  if (bare === 0 && !missingEnd) return raw;
  const out = new Uint8Array(raw.length + bare + (missingEnd ? 2 : 0));
  let o = 0;
  for (let i = 0; i < raw.length; i++) {
    const b = raw[i]!;
    if (b === CR && raw[i + 1] === LF) {
      out[o++] = CR;
      out[o++] = LF;
      i++;
    } else if (b === CR || b === LF) {
      out[o++] = CR;
      out[o++] = LF;
    } else {
      out[o++] = b;
    }
  }
  if (missingEnd) {
    out[o++] = CR;
    out[o++] = LF;
  }
  return out;
}

/** Where the header section of CRLF data ends: at the empty line (excluded), or the end (RFC 5322 §2.1). */
function headerSectionEnd(raw: Uint8Array): number {
  let pos = 0;
  while (pos < raw.length) {
    if (raw[pos] === CR && raw[pos + 1] === LF) return pos;
    const lf = raw.indexOf(LF, pos);
    if (lf < 0) return raw.length;
    pos = lf + 1;
  }
  return raw.length;
}

/** The longest line (octets, without CRLF), and whether there are 8-bit octets or NULs. */
function scan(raw: Uint8Array): { longest: number; eightBit: boolean; nul: boolean } {
  let longest = 0;
  let start = 0;
  let eightBit = false;
  let nul = false;
  for (let i = 0; i < raw.length; i++) {
    const b = raw[i]!;
    if (b === LF) {
      longest = Math.max(longest, i - start - 1);
      start = i + 1;
    } else if (b >= 0x80) {
      eightBit = true;
    } else if (b === 0) {
      nul = true;
    }
  }
  return { longest: Math.max(longest, raw.length - start), eightBit, nul };
}

/** The original's Message-ID (`<…>`), for In-Reply-To and References (RFC 5322 §3.6.4), or null. */
function originalMessageId(header: Uint8Array): string | null {
  const text = new TextDecoder().decode(header);
  const field = /^message-id[ \t]*:((?:[^\r\n]|\r\n[ \t])*)/im.exec(text);
  const id = field ? /<[\x21-\x3b\x3d\x3f-\x7e]+>/.exec(field[1]!)?.[0] : undefined;
  return id && id.length <= MAX_LINE - 20 ? id : null;
}

// --- header fields and MIME plumbing ------------------------------------------------------------------------------

/**
 * `Name: value` folded at spaces (RFC 5322 §2.2.3) to lines of at most 78 characters where a space allows,
 * and 998 octets always (a longer run without spaces is split). Runs of white space become one space.
 */
function fold(name: string, value: string): string {
  const words = value.split(/\s+/).filter((w) => w.length > 0);
  const lines: string[] = [];
  let line = `${name}:`;
  for (let word of words) {
    if (line.length + 1 + word.length > FOLD_AT && line.trim() !== `${name}:`) {
      lines.push(line);
      line = "";
    }
    while (line.length + 1 + word.length > MAX_LINE) {
      const room = MAX_LINE - line.length - 1;
      lines.push(`${line} ${word.slice(0, room)}`);
      line = "";
      word = word.slice(room);
    }
    line += ` ${word}`;
  }
  lines.push(line);
  return lines.join(CRLF);
}

/** A boundary that occurs in none of the bodies (RFC 2046 §5.1.1). "=_" never occurs in quoted-printable. */
function chooseBoundary(bodies: Uint8Array[]): string {
  for (;;) {
    const boundary = `=_dsn_${randomHex(12)}`;
    const needle = encoder.encode(boundary);
    if (!bodies.some((b) => contains(b, needle))) return boundary;
  }
}

function contains(hay: Uint8Array, needle: Uint8Array): boolean {
  const first = needle[0]!;
  for (let i = hay.indexOf(first); i >= 0 && i + needle.length <= hay.length; i = hay.indexOf(first, i + 1)) {
    let j = 1;
    while (j < needle.length && hay[i + j] === needle[j]) j++;
    if (j === needle.length) return true;
  }
  return false;
}

function randomHex(bytes: number): string {
  return Array.from(crypto.getRandomValues(new Uint8Array(bytes)), (b) => b.toString(16).padStart(2, "0")).join("");
}
