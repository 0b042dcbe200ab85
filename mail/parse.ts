/**
 * @module
 * "Parse once": reads a raw message a single time at delivery and returns a JSON-serialisable structure — the MIME
 * tree with exact byte offsets, the ENVELOPE, and the finished IMAP ENVELOPE / BODY / BODYSTRUCTURE strings — from
 * which FETCH answers without parsing again (`BODY[1.2]` is `raw.subarray(part.bodyStart, part.bodyEnd)`).
 *
 * The parser is a synchronous scanner over the bytes (no string copy of the message): one pass over the lines
 * of multipart bodies looking for boundary lines, with a stack of the active boundaries (RFC 2046 §5.1.1). It
 * never throws on malformed input: every message gets a best-effort structure. Its behaviour on broken MIME
 * follows Dovecot 2.3 (the reference used by the tests).
 *
 * Part numbers (RFC 3501 §6.4.5): the children of a multipart are numbered 1, 2, …; a message whose root is not
 * multipart has its body as part "1"; a message/rfc822 part "n" holds a message whose parts are "n.1", "n.2", ….
 * `Part.part` is that number; a multipart message root carries the number of the message it belongs to ("" at
 * the top level, "n" for the message in part n).
 */
import {
  BoundaryStack,
  decodeCharset,
  decodeParams,
  decodeWords,
  eolBefore,
  type MimeValue,
  parseMimeValue,
  readHeader,
  scanToBoundary,
  selectHeaderFields,
  type Stop,
} from "./_header.ts";
import { buildEnvelope, type Envelope, ENVELOPE_FIELDS } from "./_envelope.ts";
import { bodyString, envelopeString, type ImapEntity } from "./_imap.ts";
import { decodeBase64, decodeQuotedPrintable, htmlToText } from "./_decode.ts";

export type { Envelope, EnvelopeAddress } from "./_envelope.ts";
export { decodeWords } from "./_header.ts";

/** A Content-Disposition (RFC 2183): lower-case type and decoded parameters. */
export interface Disposition {
  type: string;
  params: Record<string, string>;
}

/** One MIME entity with byte offsets into the raw message. */
export interface Part {
  /** IMAP part number (RFC 3501 §6.4.5); see the module doc for message roots. */
  part: string;
  /** Start of the MIME header (`BODY[n.MIME]` is raw[headerStart, bodyStart)). */
  headerStart: number;
  /** Start of the body (just after the blank line that ends the header). */
  bodyStart: number;
  /** End of the body; the line break before a boundary belongs to the boundary (RFC 2046 §5.1.1). */
  bodyEnd: number;
  /** Media type, lower case (RFC 2045 §5.1); text/plain when absent or invalid (RFC 2045 §5.2). */
  type: string;
  /** Media subtype, lower case. */
  subtype: string;
  /** Content-Type parameters: lower-case names, RFC 2231 continuations joined and charsets decoded. */
  params: Record<string, string>;
  /** Content-ID, as written. */
  id: string | null;
  /** Content-Description, as written (not decoded). */
  description: string | null;
  /** Content-Transfer-Encoding, lower case; "7bit" when absent (RFC 2045 §6.1). */
  encoding: string;
  /** Body size in octets. */
  size: number;
  /** Line count of the body, for text/* and message/rfc822; null otherwise. */
  lines: number | null;
  /** Content-MD5, as written (RFC 1864). */
  md5: string | null;
  /** Content-Disposition (RFC 2183), or null. */
  disposition: Disposition | null;
  /** Content-Language tags (RFC 3282), or null. */
  language: string[] | null;
  /** Content-Location (RFC 2557), or null. */
  location: string | null;
  /** File name, decoded: disposition `filename`, else Content-Type `name` (RFC 2231 or RFC 2047 words). */
  filename: string | null;
  /** Children of a multipart (RFC 2046 §5.1); empty when no boundary was found. */
  parts?: Part[];
  /** The encapsulated message of a message/rfc822 part (RFC 2046 §5.2.1). */
  message?: { envelope: Envelope; root: Part };
}

/** What is stored per message (`blobs.structure`): version 1. */
export interface MessageStructure {
  v: 1;
  /** Size of the raw message in octets (RFC822.SIZE). */
  size: number;
  envelope: Envelope;
  /** The message itself: headerStart 0; `BODY[HEADER]` is raw[0, root.bodyStart), `BODY[TEXT]` the rest. */
  root: Part;
  /** Text that follows `ENVELOPE `, `BODYSTRUCTURE ` and `BODY ` in a FETCH response; write it as UTF-8. */
  imap: { envelope: string; bodystructure: string; body: string };
}

/** The result of parsing: assignable to `ParsedContent` in store/messages.ts. */
export interface ParsedMessage {
  structure: MessageStructure;
  /** Decoded text of the text/plain and text/html parts (HTML tags removed), for SEARCH BODY/TEXT. */
  searchText: string;
  /** Message-ID without angle brackets, or null. */
  messageId: string | null;
  /** The top-level header, unfolded, encoded words decoded, one `Name: value` per line: SEARCH HEADER/TEXT. */
  headerText: string;
  /**
   * The calendar day the Date: header names, in its own time zone (`YYYY-MM-DD`), or null when absent or
   * unparseable: SEARCH SENTBEFORE/SENTON/SENTSINCE disregard time and timezone (RFC 9051 §6.4.4).
   */
  sentDay: string | null;
}

/** Limits for {@linkcode parseMessage}. */
export interface ParseOptions {
  /** Longest `searchText` in UTF-16 code units; default 1 MiB. */
  maxSearchText?: number;
  /** Deepest nesting of multiparts and messages; deeper containers become opaque leaves. Default 100. */
  maxDepth?: number;
  /** Most MIME entities per message; after that, the rest of a multipart is treated as epilogue. Default 10000. */
  maxParts?: number;
}

const PART_FIELDS = [
  "content-type",
  "content-transfer-encoding",
  "content-id",
  "content-description",
  "content-disposition",
  "content-language",
  "content-location",
  "content-md5",
];
const MIME_FIELDS: ReadonlySet<string> = new Set(PART_FIELDS);
const MESSAGE_FIELDS: ReadonlySet<string> = new Set([...PART_FIELDS, ...ENVELOPE_FIELDS]);

// RFC 2045 §5.1 token
const TOKEN = /^[!#$%&'*+\-.^_`{|}~0-9A-Za-z]+$/;

interface ContentType {
  type: string;
  subtype: string;
  raw: MimeValue & { type: string; subtype: string };
}

function contentType(value: string | undefined, digest: boolean): ContentType {
  if (value !== undefined) {
    const mv = parseMimeValue(value);
    const slash = mv.value.indexOf("/");
    const type = slash < 0 ? "" : mv.value.slice(0, slash).trim();
    const subtype = slash < 0 ? "" : mv.value.slice(slash + 1).trim();
    if (TOKEN.test(type) && TOKEN.test(subtype)) {
      return { type: type.toLowerCase(), subtype: subtype.toLowerCase(), raw: { ...mv, type, subtype } };
    }
    // RFC 2045 §5.2: an invalid Content-Type means text/plain (the parameters are kept).
    return { type: "text", subtype: "plain", raw: { ...mv, type: "text", subtype: "plain" } };
  }
  // RFC 2046 §5.1.5: in multipart/digest the default is message/rfc822.
  return digest
    ? { type: "message", subtype: "rfc822", raw: { value: "", params: [], type: "message", subtype: "rfc822" } }
    : { type: "text", subtype: "plain", raw: { value: "", params: [], type: "text", subtype: "plain" } };
}

function first(fields: Map<string, string[]>, name: string): string | null {
  const v = fields.get(name)?.[0]?.trim();
  return v === undefined ? null : v;
}

function countLines(raw: Uint8Array, start: number, end: number): number {
  const view = raw.subarray(start, end);
  let n = 0;
  for (let i = view.indexOf(0x0a); i >= 0; i = view.indexOf(0x0a, i + 1)) n++;
  return n;
}

function join(prefix: string, n: number): string {
  return prefix ? `${prefix}.${n}` : String(n);
}

interface Entity {
  part: Part;
  imap: ImapEntity;
  envelope: Envelope | null;
  stop: Stop | null;
}

const EMPTY_ENVELOPE: Envelope = buildEnvelope(new Map());

class Parser {
  readonly #raw: Uint8Array;
  readonly #maxDepth: number;
  readonly #maxParts: number;
  readonly #stack = new BoundaryStack();
  readonly #encoder = new TextEncoder();
  #count = 0;
  readonly texts: Part[] = [];

  constructor(raw: Uint8Array, options: ParseOptions) {
    this.#raw = raw;
    this.#maxDepth = options.maxDepth ?? 100;
    this.#maxParts = options.maxParts ?? 10000;
  }

  /**
   * Parses the entity whose header starts at `start`. `rootOf` is set for a message root (the number of the
   * message it belongs to); otherwise `number` is the part number given by the parent.
   */
  entity(start: number, depth: number, number: string, rootOf: string | null, digest: boolean): Entity {
    const raw = this.#raw;
    this.#count++;
    const header = readHeader(raw, start, this.#stack, rootOf !== null ? MESSAGE_FIELDS : MIME_FIELDS);
    const f = header.fields;
    const bodyStart = header.bodyStart;
    let ct = contentType(f.get("content-type")?.[0], digest);
    let kind = ct.type === "multipart"
      ? "multipart"
      : ct.type === "message" && ct.subtype === "rfc822"
      ? "message"
      : "leaf";
    if (kind !== "leaf" && (depth >= this.#maxDepth || (kind === "message" && this.#count >= this.#maxParts))) {
      // Too deep (or too many parts): an opaque leaf, as Dovecot does past its nesting limit.
      kind = "leaf";
      ct = {
        type: "application",
        subtype: "octet-stream",
        raw: { value: "", params: [], type: "application", subtype: "octet-stream" },
      };
    }
    if (rootOf !== null) number = kind === "multipart" ? rootOf : join(rootOf, 1);

    let stop = header.stop;
    let bodyEnd = bodyStart;
    let children: Entity[] | undefined;
    let embedded: Entity | undefined;
    const params = decodeParams(ct.raw.params);
    if (kind === "multipart") {
      children = [];
      const boundary = ct.raw.params.find(([k]) => k.toLowerCase() === "boundary")?.[1];
      if (!stop) {
        if (boundary) {
          const own = this.#stack.push(this.#encoder.encode(boundary));
          stop = scanToBoundary(raw, bodyStart, this.#stack);
          const childDigest = ct.subtype === "digest";
          while (stop && stop.boundary === own && !stop.close && this.#count < this.#maxParts) {
            const child = this.entity(stop.next, depth + 1, join(number, children.length + 1), null, childDigest);
            children.push(child);
            stop = child.stop;
          }
          this.#stack.pop();
          // After the close delimiter: the epilogue, up to an enclosing boundary.
          if (stop && stop.boundary === own) stop = scanToBoundary(raw, stop.next, this.#stack);
        } else {
          stop = scanToBoundary(raw, bodyStart, this.#stack);
        }
        bodyEnd = this.#end(bodyStart, stop);
      }
    } else if (kind === "message") {
      if (!stop) {
        embedded = this.entity(bodyStart, depth + 1, "", number, false);
        stop = embedded.stop;
        bodyEnd = embedded.part.bodyEnd;
      } else {
        embedded = this.#emptyMessage(bodyStart, number);
      }
    } else if (!stop) {
      stop = scanToBoundary(raw, bodyStart, this.#stack);
      bodyEnd = this.#end(bodyStart, stop);
    }

    const dispValue = first(f, "content-disposition");
    const disp = dispValue ? parseMimeValue(dispValue) : null;
    const dispParams = disp && disp.value ? decodeParams(disp.params) : null;
    const langValue = first(f, "content-language");
    const language = langValue
      ? langValue.replace(/\([^)]*\)/g, " ").split(/[\s,]+/).filter((l) => l.length > 0)
      : null;
    const encodingRaw = first(f, "content-transfer-encoding")?.split(/[\s;(]/)[0] || null;
    const isText = ct.type === "text";
    const lines = isText || kind === "message" ? countLines(raw, bodyStart, bodyEnd) : null;

    const part: Part = {
      part: number,
      headerStart: start,
      bodyStart,
      bodyEnd,
      type: ct.type,
      subtype: ct.subtype,
      params,
      id: first(f, "content-id"),
      description: first(f, "content-description"),
      encoding: encodingRaw?.toLowerCase() ?? "7bit",
      size: bodyEnd - bodyStart,
      lines,
      md5: first(f, "content-md5"),
      disposition: disp && disp.value && dispParams ? { type: disp.value.toLowerCase(), params: dispParams } : null,
      language: language && language.length > 0 ? language : null,
      location: first(f, "content-location"),
      filename: dispParams?.filename ?? params.name ?? null,
    };
    const imap: ImapEntity = {
      type: ct.raw.type,
      subtype: ct.raw.subtype,
      params: ct.raw.params,
      id: part.id,
      description: part.description,
      encoding: encodingRaw ?? "7bit",
      size: part.size,
      lines,
      md5: part.md5,
      disposition: disp && disp.value ? { type: disp.value, params: disp.params } : null,
      language: part.language,
      location: part.location,
    };
    if (children) {
      part.parts = children.map((c) => c.part);
      imap.children = children.map((c) => c.imap);
    }
    if (embedded) {
      const envelope = embedded.envelope ?? EMPTY_ENVELOPE;
      part.message = { envelope, root: embedded.part };
      imap.message = { envelope, root: embedded.imap };
    }
    if (kind === "leaf" && isText && (ct.subtype === "plain" || ct.subtype === "html")) this.texts.push(part);
    return { part, imap, envelope: rootOf !== null ? buildEnvelope(f) : null, stop };
  }

  /** Where a body ends: before the line break that precedes the boundary line, or at the end of the data. */
  #end(bodyStart: number, stop: Stop | null): number {
    return stop ? Math.max(bodyStart, stop.line - eolBefore(this.#raw, stop.line)) : this.#raw.length;
  }

  /** An empty message at `pos` (a message/rfc822 part whose header was cut short by a boundary). */
  #emptyMessage(pos: number, rootOf: string): Entity {
    this.#count++;
    const part: Part = {
      part: join(rootOf, 1),
      headerStart: pos,
      bodyStart: pos,
      bodyEnd: pos,
      type: "text",
      subtype: "plain",
      params: {},
      id: null,
      description: null,
      encoding: "7bit",
      size: 0,
      lines: 0,
      md5: null,
      disposition: null,
      language: null,
      location: null,
      filename: null,
    };
    const imap: ImapEntity = {
      type: "text",
      subtype: "plain",
      params: [],
      id: null,
      description: null,
      encoding: "7bit",
      size: 0,
      lines: 0,
      md5: null,
      disposition: null,
      language: null,
      location: null,
    };
    return { part, imap, envelope: EMPTY_ENVELOPE, stop: null };
  }
}

/** Content-transfer-decoded body of a part (RFC 2045 §6): for BINARY[] and attachments; may share `raw`'s memory. */
export function decodeBody(raw: Uint8Array, part: Part): Uint8Array {
  const body = raw.subarray(part.bodyStart, part.bodyEnd);
  if (part.encoding === "base64") return decodeBase64(body);
  if (part.encoding === "quoted-printable") return decodeQuotedPrintable(body);
  return body; // 7bit, 8bit, binary (RFC 2045 §6.2) and unknown encodings: as they are
}

/**
 * The header lines of raw[start, end) named (or with `not`, not named) in `names`, with their continuation lines
 * and the terminating blank line: `BODY[HEADER.FIELDS (…)]` and `.NOT` (RFC 3501 §6.4.5).
 */
export function headerFields(
  raw: Uint8Array,
  start: number,
  end: number,
  names: string[],
  not: boolean,
): Uint8Array {
  return selectHeaderFields(raw, start, end, names, not);
}

/**
 * Finds the part for an IMAP section part number ("1.2.3", RFC 3501 §6.4.5); "" gives the root. For a
 * message/rfc822 part the result is that part (its `message.root` has the encapsulated header for `n.HEADER`).
 */
export function findPart(root: Part, section: string): Part | null {
  if (section === "") return root;
  let container: Part = root;
  let topLevel = true;
  for (const s of section.split(".")) {
    if (!/^[1-9][0-9]*$/.test(s)) return null;
    const n = Number(s);
    // The numbers apply to the message itself at the top, to the encapsulated message of a message/rfc822
    // part, and to the children of a multipart; a leaf has no sub-parts.
    const entity = topLevel
      ? container
      : container.message
      ? container.message.root
      : container.parts
      ? container
      : null;
    if (!entity) return null;
    const next = entity.parts ? entity.parts[n - 1] : n === 1 ? entity : undefined;
    if (!next) return null;
    container = next;
    topLevel = false;
  }
  return container;
}

function searchText(raw: Uint8Array, parts: readonly Part[], max: number): string {
  let out = "";
  for (const p of parts) {
    const room = max - out.length;
    if (room <= 0) break;
    // Decode no more than can end up in the text: a character takes at most 9 octets of input (a 3-octet UTF-8
    // character in quoted-printable), plus markup for HTML.
    const html = p.subtype === "html";
    const limit = room * (html ? 24 : 9) + 16;
    const view = { ...p, bodyEnd: Math.min(p.bodyEnd, p.bodyStart + limit) };
    let text = decodeCharset(decodeBody(raw, view), p.params.charset);
    if (html) text = htmlToText(text);
    text = text.replaceAll("\0", "");
    if (!text) continue;
    out += (out ? "\n" : "") + text;
  }
  if (out.length <= max) return out;
  // Do not leave half of a surrogate pair at the end.
  const cut = out.charCodeAt(max - 1) >= 0xd800 && out.charCodeAt(max - 1) <= 0xdbff ? max - 1 : max;
  return out.slice(0, cut);
}

function bareMessageId(value: string | null): string | null {
  if (value === null) return null;
  const m = /<([^<>]*)>/.exec(value);
  const id = (m ? m[1]! : value).trim();
  return id || null;
}

/**
 * Parses a raw message once (synchronous). Never throws on malformed input; see the module doc for the part
 * numbering and {@linkcode ParseOptions} for the limits.
 */
export function parseMessage(raw: Uint8Array, options: ParseOptions = {}): ParsedMessage {
  const parser = new Parser(raw, options);
  const root = parser.entity(0, 0, "", "", false);
  const envelope = root.envelope ?? EMPTY_ENVELOPE;
  const structure: MessageStructure = {
    v: 1,
    size: raw.length,
    envelope,
    root: root.part,
    imap: {
      envelope: envelopeString(envelope),
      bodystructure: bodyString(root.imap, true),
      body: bodyString(root.imap, false),
    },
  };
  return {
    structure,
    searchText: searchText(raw, parser.texts, options.maxSearchText ?? 1024 * 1024),
    messageId: bareMessageId(envelope.messageId),
    headerText: headerSearchText(raw, root.part.bodyStart),
    sentDay: sentDay(envelope.date),
  };
}

const MAX_HEADER_TEXT = 64 * 1024;

/** The header block as searchable text: unfolded (RFC 5322 §2.2.3), encoded words decoded (RFC 2047). */
function headerSearchText(raw: Uint8Array, end: number): string {
  const text = new TextDecoder().decode(raw.subarray(0, Math.min(end, MAX_HEADER_TEXT * 2)));
  return text.replace(/\r?\n[ \t]+/g, " ").split(/\r?\n/).filter((l) => l.includes(":"))
    .map((l) => decodeWords(l)).join("\n").slice(0, MAX_HEADER_TEXT);
}

const MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];

/** RFC 5322 §3.3 `[day-of-week ","] day month year …` → the day as written, `YYYY-MM-DD`, or null. */
function sentDay(value: string | null): string | null {
  const m = value && /(\d{1,2})\s+([A-Za-z]{3})[A-Za-z]*\s+(\d{2,4})/.exec(value.replace(/\([^)]*\)/g, " "));
  if (!m) return null;
  const month = MONTHS.indexOf(m[2]!.toLowerCase());
  let year = Number(m[3]);
  if (month < 0) return null;
  if (m[3]!.length <= 2) year += year < 50 ? 2000 : 1900; // RFC 5322 §4.3 obsolete two-digit years
  const day = Number(m[1]);
  if (day < 1 || day > 31) return null;
  return `${String(year).padStart(4, "0")}-${String(month + 1).padStart(2, "0")}-${String(day).padStart(2, "0")}`;
}
