/**
 * @module
 * FETCH attributes (RFC 9051 §6.4.5, RFC 3501 §6.4.5, BINARY RFC 3516 §4, MODSEQ RFC 7162 §3.1.4) as typed
 * values, the response label of each (`fetchItemName`), and a `FetchPlan` saying what the session must load:
 * metadata only (FLAGS, UID, … and the precomputed ENVELOPE/BODYSTRUCTURE: DESIGN rule 4), the top-level header,
 * or the full message, and whether the fetch sets `\Seen`.
 *
 * Called by `parseCommand` (parse.ts) with its reader positioned after `FETCH set `.
 */
import type { CommandReader } from "./parse.ts";
import { astring } from "./response.ts";

/** RFC 9051 §9 `section-msgtext` / `section-text`. */
export type SectionText = "HEADER" | "HEADER.FIELDS" | "HEADER.FIELDS.NOT" | "TEXT" | "MIME";

/** A body section (RFC 9051 §6.4.5): `[]` is `{ part: [], text: null }`, `[1.2.MIME]` is `{ part: [1, 2], … }`. */
export interface Section {
  /** Part numbers; empty for the whole message. */
  part: number[];
  /** HEADER, HEADER.FIELDS(.NOT), TEXT or MIME after the part (MIME needs a part), or null. */
  text: SectionText | null;
  /** The header field names of HEADER.FIELDS(.NOT), as sent (match case-insensitively); else empty. */
  fields: string[];
}

/** A partial fetch `<offset.length>` (RFC 9051 §6.4.5): octets `offset` to `offset + length - 1`. */
export interface ByteRange {
  offset: number;
  length: number;
}

/** The fetch attributes without arguments. */
export type SimpleFetchAttribute =
  | "FLAGS"
  | "UID"
  | "INTERNALDATE"
  | "RFC822.SIZE"
  | "ENVELOPE"
  | "BODYSTRUCTURE"
  /** BODY without a section: the non-extensible BODYSTRUCTURE (RFC 9051 §6.4.5). */
  | "BODY"
  /** RFC 7162 §3.1.4. */
  | "MODSEQ"
  /** Deprecated by RFC 9051: BODY[] (sets \Seen). */
  | "RFC822"
  /** Deprecated by RFC 9051: BODY.PEEK[HEADER]. */
  | "RFC822.HEADER"
  /** Deprecated by RFC 9051: BODY[TEXT] (sets \Seen). */
  | "RFC822.TEXT";

/** One requested fetch attribute. */
export type FetchAttribute =
  | { type: SimpleFetchAttribute }
  /** BODY[section]<partial> and BODY.PEEK[…] (peek: does not set \Seen). */
  | { type: "BODY[]"; peek: boolean; section: Section; partial: ByteRange | null }
  /** RFC 3516 §4.2: BINARY[part]<partial> and BINARY.PEEK[…]: the part with its transfer encoding removed. */
  | { type: "BINARY[]"; peek: boolean; part: number[]; partial: ByteRange | null }
  /** RFC 3516 §4.2: BINARY.SIZE[part]: the size of the decoded part. */
  | { type: "BINARY.SIZE"; part: number[] };

/** What the session must load to answer a FETCH, and its side effect. */
export interface FetchPlan {
  /** "none": metadata only; "header": the top-level header only; "full": the message bytes. */
  content: "none" | "header" | "full";
  /** A non-PEEK BODY[…]/BINARY[…], RFC822 or RFC822.TEXT: set \Seen (in a read-write mailbox) and send FLAGS. */
  setsSeen: boolean;
  flags: boolean;
  /** UID FETCH always returns UID (RFC 9051 §6.4.9). */
  uid: boolean;
  internalDate: boolean;
  size: boolean;
  envelope: boolean;
  /** BODYSTRUCTURE (extensible) requested. */
  bodyStructure: boolean;
  /** BODY (non-extensible structure) requested. */
  body: boolean;
  /** MODSEQ requested, or implied by CHANGEDSINCE (RFC 7162 §3.1.4.1). */
  modseq: boolean;
}

// RFC 9051 §6.4.5: the macros, valid only on their own (not inside parentheses).
const MACROS: Record<string, readonly SimpleFetchAttribute[]> = {
  ALL: ["FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE"],
  FAST: ["FLAGS", "INTERNALDATE", "RFC822.SIZE"],
  FULL: ["FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE", "BODY"],
};

const SIMPLE = new Set<string>([
  "FLAGS",
  "UID",
  "INTERNALDATE",
  "RFC822.SIZE",
  "ENVELOPE",
  "BODYSTRUCTURE",
  "BODY",
  "MODSEQ",
  "RFC822",
  "RFC822.HEADER",
  "RFC822.TEXT",
]);

/** Parses `ALL` / `FAST` / `FULL` / fetch-att / `(` fetch-att *(SP fetch-att) `)` (RFC 9051 §9 `fetch`). */
export function parseFetchAttributes(r: CommandReader): FetchAttribute[] {
  if (r.peek() === 0x28) {
    return r.parenList(() => fetchAttribute(r), { allowEmpty: false, what: "fetch attribute list" });
  }
  const save = r.mark();
  const word = r.fetchName();
  const macro = MACROS[word];
  if (macro && r.peek() !== 0x5b) return macro.map((type) => ({ type }));
  r.reset(save);
  return [fetchAttribute(r)];
}

function fetchAttribute(r: CommandReader): FetchAttribute {
  const name = r.fetchName();
  const bracket = r.peek() === 0x5b;
  switch (name) {
    case "BODY":
    case "BODY.PEEK": {
      if (!bracket) {
        if (name === "BODY.PEEK") r.bad("BODY.PEEK needs a section");
        return { type: "BODY" };
      }
      const section = parseSection(r);
      return { type: "BODY[]", peek: name === "BODY.PEEK", section, partial: parsePartial(r) };
    }
    case "BINARY":
    case "BINARY.PEEK": {
      if (!bracket) r.bad(`${name} needs a section`);
      const part = parseBinarySection(r);
      return { type: "BINARY[]", peek: name === "BINARY.PEEK", part, partial: parsePartial(r) };
    }
    case "BINARY.SIZE":
      if (!bracket) r.bad("BINARY.SIZE needs a section");
      return { type: "BINARY.SIZE", part: parseBinarySection(r) };
  }
  if (bracket || !SIMPLE.has(name)) r.bad(`Unknown fetch attribute "${name}"`);
  return { type: name as SimpleFetchAttribute };
}

// RFC 9051 §9: section = "[" [section-spec] "]".
function parseSection(r: CommandReader): Section {
  r.expect("[");
  const section: Section = { part: [], text: null, fields: [] };
  if (r.tryChar("]")) return section;
  if (isDigit(r.peek())) {
    section.part = parsePart(r);
    if (r.tryChar("]")) return section;
    r.expect(".");
  }
  const word = r.fetchName();
  switch (word) {
    case "HEADER":
    case "TEXT":
      section.text = word;
      break;
    case "MIME":
      if (!section.part.length) r.bad("MIME needs a part number");
      section.text = word;
      break;
    case "HEADER.FIELDS":
    case "HEADER.FIELDS.NOT":
      section.text = word;
      r.sp();
      section.fields = r.parenList(() => {
        const f = r.astringText("header field name");
        if (!/^[\x21-\x39\x3b-\x7e]+$/.test(f)) r.bad(`Invalid header field name "${f}"`);
        return f;
      }, { allowEmpty: false, what: "header field list" });
      break;
    default:
      r.bad(`Invalid section "${word}"`);
  }
  r.expect("]");
  return section;
}

// RFC 3516 §7: section-binary = "[" [section-part] "]".
function parseBinarySection(r: CommandReader): number[] {
  r.expect("[");
  if (r.tryChar("]")) return [];
  const part = parsePart(r);
  r.expect("]");
  return part;
}

// RFC 9051 §9: section-part = nz-number *("." nz-number).
function parsePart(r: CommandReader): number[] {
  const part = [r.nzNumber("part number")];
  while (r.peek() === 0x2e && isDigit(r.peekAt(1))) {
    r.expect(".");
    part.push(r.nzNumber("part number"));
  }
  if (part.length > 64) r.bad("Part number nested too deeply");
  return part;
}

// RFC 9051 §9: partial = "<" number64 "." nz-number64 ">".
function parsePartial(r: CommandReader): ByteRange | null {
  if (!r.tryChar("<")) return null;
  const offset = r.number64("partial offset");
  r.expect(".");
  const length = r.number64("partial length");
  if (length === 0) r.bad("Partial length must not be zero");
  r.expect(">");
  return { offset, length };
}

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

function sectionSpec(s: Section): string {
  let spec = s.part.join(".");
  if (s.text) spec += (spec ? "." : "") + s.text;
  if (s.fields.length) spec += ` (${s.fields.map((f) => astring(f)).join(" ")})`;
  return spec;
}

/**
 * The label of an attribute in the FETCH response (RFC 9051 §7.5.2): `BODY.PEEK[HEADER]` answers as
 * `BODY[HEADER]`, a partial fetch as `BODY[]<0>` (origin only), `BINARY.PEEK[1]` as `BINARY[1]`.
 */
export function fetchItemName(att: FetchAttribute): string {
  switch (att.type) {
    case "BODY[]":
      return `BODY[${sectionSpec(att.section)}]${att.partial ? `<${att.partial.offset}>` : ""}`;
    case "BINARY[]":
      return `BINARY[${att.part.join(".")}]${att.partial ? `<${att.partial.offset}>` : ""}`;
    case "BINARY.SIZE":
      return `BINARY.SIZE[${att.part.join(".")}]`;
    default:
      return att.type;
  }
}

/**
 * What the session must load for these attributes. `uid`: a UID FETCH (UID is always returned);
 * `changedSince`: a CHANGEDSINCE modifier (MODSEQ is always returned, RFC 7162 §3.1.4.1).
 */
export function fetchPlan(
  attributes: readonly FetchAttribute[],
  options: { uid?: boolean; changedSince?: boolean } = {},
): FetchPlan {
  const plan: FetchPlan = {
    content: "none",
    setsSeen: false,
    flags: false,
    uid: options.uid ?? false,
    internalDate: false,
    size: false,
    envelope: false,
    bodyStructure: false,
    body: false,
    modseq: options.changedSince ?? false,
  };
  const need = (c: "header" | "full") => {
    if (plan.content !== "full") plan.content = c;
  };
  for (const att of attributes) {
    switch (att.type) {
      case "FLAGS":
        plan.flags = true;
        break;
      case "UID":
        plan.uid = true;
        break;
      case "INTERNALDATE":
        plan.internalDate = true;
        break;
      case "RFC822.SIZE":
        plan.size = true;
        break;
      case "ENVELOPE":
        plan.envelope = true;
        break;
      case "BODYSTRUCTURE":
        plan.bodyStructure = true;
        break;
      case "BODY":
        plan.body = true;
        break;
      case "MODSEQ":
        plan.modseq = true;
        break;
      case "RFC822.HEADER":
        need("header");
        break;
      case "RFC822":
      case "RFC822.TEXT":
        need("full");
        plan.setsSeen = true;
        break;
      case "BODY[]": {
        const { part, text } = att.section;
        const headerOnly = part.length === 0 && text !== null && text.startsWith("HEADER");
        need(headerOnly ? "header" : "full");
        if (!att.peek) plan.setsSeen = true;
        break;
      }
      case "BINARY[]":
        need("full");
        if (!att.peek) plan.setsSeen = true;
        break;
      case "BINARY.SIZE":
        need("full");
        break;
    }
  }
  return plan;
}

/** True when the attributes name MODSEQ: the FETCH enables CONDSTORE (RFC 7162 §3.1). */
export function fetchUsesModseq(attributes: readonly FetchAttribute[]): boolean {
  return attributes.some((a) => a.type === "MODSEQ");
}
