/**
 * @module
 * Header fields over raw bytes: finding the end of a header block (RFC 5322 §2.1, §2.2.3), reading the few
 * fields the parser needs without converting the whole block to a string, MIME parameters (RFC 2045 §5.1) with
 * RFC 2231 continuations and charsets, and encoded words (RFC 2047).
 */

const LF = 0x0a;
const CR = 0x0d;
const SP = 0x20;
const TAB = 0x09;
const COLON = 0x3a;
const DASH = 0x2d;

/** Longest header value (in bytes) that is decoded; longer values are cut. Bounds memory, not correctness. */
export const MAX_HEADER_VALUE = 256 * 1024;

/** A boundary line that ended a scan: where it starts, where the next line starts, whose boundary, close or not. */
export interface Stop {
  line: number;
  next: number;
  boundary: number;
  close: boolean;
}

/** A header block: wanted fields (lower-case name → values in order), where the body starts, and a stop. */
export interface HeaderBlock {
  fields: Map<string, string[]>;
  bodyStart: number;
  stop: Stop | null;
}

/** The end of the line starting at `pos`: just after its LF, or the end of the data. */
export function lineEnd(raw: Uint8Array, pos: number): number {
  const i = raw.indexOf(LF, pos);
  return i < 0 ? raw.length : i + 1;
}

/** Length of the line break just before `pos` (2 for CRLF, 1 for a bare LF, 0 for none). */
export function eolBefore(raw: Uint8Array, pos: number): number {
  if (pos <= 0 || raw[pos - 1] !== LF) return 0;
  return pos >= 2 && raw[pos - 2] === CR ? 2 : 1;
}

/**
 * The boundaries of the multiparts being read, innermost last. A line matches when it is "--" followed by one of
 * them (RFC 2046 §5.1.1): the boundary need only be a prefix of the rest of the line ("an exact match of the
 * entire candidate line is not required"), so the longest matching one wins, innermost first, as in Dovecot.
 * Each candidate line is hashed once (prefix hashes) so that a deep stack costs one integer compare per
 * boundary, not a byte compare: lines of `--` + a shared boundary prefix stay linear.
 */
export class BoundaryStack {
  readonly #list: Uint8Array[] = [];
  readonly #hashes: number[] = [];
  #prefix = new Int32Array(80);

  /** Number of active boundaries. */
  get length(): number {
    return this.#list.length;
  }

  /** Adds the innermost boundary; returns its index. */
  push(boundary: Uint8Array): number {
    let h = 0;
    for (let i = 0; i < boundary.length; i++) h = (Math.imul(h, 31) + boundary[i]!) | 0;
    this.#list.push(boundary);
    this.#hashes.push(h);
    if (boundary.length + 1 > this.#prefix.length) this.#prefix = new Int32Array(boundary.length + 1);
    return this.#list.length - 1;
  }

  /** Removes the innermost boundary. */
  pop(): void {
    this.#list.pop();
    this.#hashes.pop();
  }

  /** Matches the line [ls, le): the boundary's index and whether it is a close delimiter, or null. */
  match(raw: Uint8Array, ls: number, le: number): { index: number; close: boolean } | null {
    const list = this.#list;
    if (list.length === 0 || le - ls < 3 || raw[ls] !== DASH || raw[ls + 1] !== DASH) return null;
    const avail = Math.min(le - ls - 2, this.#prefix.length - 1);
    const prefix = this.#prefix;
    let h = 0;
    for (let k = 0; k < avail; k++) {
      h = (Math.imul(h, 31) + raw[ls + 2 + k]!) | 0;
      prefix[k + 1] = h;
    }
    let best = -1;
    let bestLen = -1;
    for (let i = list.length - 1; i >= 0; i--) {
      const b = list[i]!;
      if (b.length > avail || b.length <= bestLen || prefix[b.length] !== this.#hashes[i]) continue;
      let j = 0;
      while (j < b.length && raw[ls + 2 + j] === b[j]) j++;
      if (j === b.length) {
        best = i;
        bestLen = b.length;
      }
    }
    if (best < 0) return null;
    const after = ls + 2 + bestLen;
    return { index: best, close: raw[after] === DASH && raw[after + 1] === DASH };
  }
}

/** Scans lines from `pos` until one is an active boundary; null when the data ends first. */
export function scanToBoundary(raw: Uint8Array, pos: number, stack: BoundaryStack): Stop | null {
  if (stack.length === 0) return null;
  const n = raw.length;
  while (pos < n) {
    const le = lineEnd(raw, pos);
    if (raw[pos] === DASH) {
      const m = stack.match(raw, pos, le);
      if (m) return { line: pos, next: le, boundary: m.index, close: m.close };
    }
    pos = le;
  }
  return null;
}

const utf8 = new TextDecoder("utf-8", { fatal: true });
const latin1 = new TextDecoder("windows-1252");
const ascii8 = new TextDecoder("utf-8");

/**
 * Header bytes as text: UTF-8 when valid (RFC 6532), else Latin-1; NUL becomes U+FFFD, as Dovecot does (a NUL
 * can be neither in an IMAP string nor in Postgres text).
 */
export function headerText(bytes: Uint8Array): string {
  let ascii = true;
  for (let i = 0; i < bytes.length; i++) {
    if (bytes[i]! >= 0x80) {
      ascii = false;
      break;
    }
  }
  let s: string;
  if (ascii) {
    s = ascii8.decode(bytes); // the fastest decoder for ASCII
  } else {
    try {
      s = utf8.decode(bytes);
    } catch {
      s = latin1.decode(bytes);
    }
  }
  return s.includes("\0") ? s.replaceAll("\0", "\uFFFD") : s;
}

/** Removes the line breaks of a folded value (RFC 5322 §2.2.3) and turns tabs into spaces, as Dovecot does. */
export function unfold(s: string): string {
  if (s.includes("\n") || s.includes("\r")) s = s.replace(/\r?\n|\r/g, "");
  return s.includes("\t") ? s.replaceAll("\t", " ") : s;
}

/**
 * Reads a header block from `start`: it ends after the first empty line (RFC 5322 §2.1), at the end of the
 * data, or before an active boundary line (a part whose header is cut short by the next boundary has an empty
 * body). Only fields named in `wanted` are decoded; lines without a colon are skipped.
 */
export function readHeader(
  raw: Uint8Array,
  start: number,
  stack: BoundaryStack,
  wanted: ReadonlySet<string>,
): HeaderBlock {
  const fields = new Map<string, string[]>();
  const n = raw.length;
  let pos = start;
  let fieldStart = -1;
  let fieldEnd = -1;
  const flush = () => {
    if (fieldStart >= 0) addField(raw, fieldStart, fieldEnd, wanted, fields);
    fieldStart = -1;
  };
  while (pos < n) {
    const le = lineEnd(raw, pos);
    const c = raw[pos];
    if (c === LF || (c === CR && (raw[pos + 1] === LF || pos + 1 === n))) {
      flush();
      return { fields, bodyStart: le, stop: null };
    }
    if (c === DASH && stack.length > 0) {
      const m = stack.match(raw, pos, le);
      if (m) {
        flush();
        const end = Math.max(start, pos - eolBefore(raw, pos));
        return { fields, bodyStart: end, stop: { line: pos, next: le, boundary: m.index, close: m.close } };
      }
    }
    if (c === SP || c === TAB) {
      if (fieldStart >= 0) fieldEnd = le;
    } else {
      flush();
      fieldStart = pos;
      fieldEnd = le;
    }
    pos = le;
  }
  flush();
  return { fields, bodyStart: n, stop: null };
}

const firstByteTables = new WeakMap<ReadonlySet<string>, Uint8Array>();

/** Which first bytes (either case) a wanted field name can start with. */
function firstBytes(wanted: ReadonlySet<string>): Uint8Array {
  let t = firstByteTables.get(wanted);
  if (!t) {
    t = new Uint8Array(256);
    for (const name of wanted) {
      t[name.toLowerCase().charCodeAt(0)] = 1;
      t[name.toUpperCase().charCodeAt(0)] = 1;
    }
    firstByteTables.set(wanted, t);
  }
  return t;
}

function addField(
  raw: Uint8Array,
  start: number,
  end: number,
  wanted: ReadonlySet<string>,
  fields: Map<string, string[]>,
): void {
  // Cheap filter first: most header lines (Received, DKIM-Signature, X-…) are not wanted.
  if (!firstBytes(wanted)[raw[start]!]) return;
  // Field names are short; the longest one wanted is "content-transfer-encoding" (25).
  const limit = Math.min(end, start + 32);
  let colon = -1;
  for (let i = start; i < limit; i++) {
    if (raw[i] === COLON) {
      colon = i;
      break;
    }
  }
  if (colon < 0) return;
  const name = String.fromCharCode.apply(null, raw.subarray(start, colon) as unknown as number[]).trimEnd()
    .toLowerCase();
  if (!wanted.has(name)) return;
  let vs = colon + 1;
  while (vs < end && (raw[vs] === SP || raw[vs] === TAB)) vs++;
  let ve = end;
  while (ve > vs && (raw[ve - 1] === LF || raw[ve - 1] === CR)) ve--;
  if (ve - vs > MAX_HEADER_VALUE) ve = vs + MAX_HEADER_VALUE;
  const value = unfold(headerText(raw.subarray(vs, ve)));
  const list = fields.get(name);
  if (list) list.push(value);
  else fields.set(name, [value]);
}

/**
 * Returns the header lines of [start, end) whose field names are (or with `not`, are not) in `names`, each with
 * its folded continuation lines, followed by the blank line (RFC 3501 §6.4.5 HEADER.FIELDS / .NOT).
 */
export function selectHeaderFields(
  raw: Uint8Array,
  start: number,
  end: number,
  names: readonly string[],
  not: boolean,
): Uint8Array {
  const set = new Set(names.map((n) => n.toLowerCase()));
  const chunks: Uint8Array[] = [];
  let size = 0;
  let pos = Math.max(0, start);
  end = Math.min(end, raw.length);
  let keep = false;
  const push = (s: number, e: number) => {
    const c = raw.subarray(s, e);
    chunks.push(c);
    size += c.length;
    if (raw[e - 1] !== LF) {
      chunks.push(CRLF);
      size += 2;
    }
  };
  while (pos < end) {
    let le = lineEnd(raw, pos);
    if (le > end) le = end;
    const c = raw[pos];
    if (c === LF || (c === CR && (raw[pos + 1] === LF || pos + 1 === end))) break;
    if (c === SP || c === TAB) {
      if (keep) push(pos, le);
    } else {
      let colon = -1;
      for (let i = pos; i < le; i++) {
        if (raw[i] === COLON) {
          colon = i;
          break;
        }
      }
      if (colon < 0) keep = false;
      else {
        const name = latin1.decode(raw.subarray(pos, colon)).trimEnd().toLowerCase();
        keep = set.has(name) !== not;
      }
      if (keep) push(pos, le);
    }
    pos = le;
  }
  const out = new Uint8Array(size + 2);
  let o = 0;
  for (const c of chunks) {
    out.set(c, o);
    o += c.length;
  }
  out.set(CRLF, o);
  return out;
}

const CRLF = new Uint8Array([CR, LF]);

/** A parsed Content-Type / Content-Disposition value: the leading token(s) and the raw parameter list. */
export interface MimeValue {
  /** Text before the first ";" (trimmed, comments removed), e.g. `text/plain` or `attachment`. */
  value: string;
  /** Parameters as written (names in their original case), after RFC 2231 continuations are joined. */
  params: [string, string][];
}

function skipCfws(s: string, i: number): number {
  for (;;) {
    while (i < s.length && (s[i] === " " || s[i] === "\t")) i++;
    if (s[i] !== "(") return i;
    let depth = 0;
    for (; i < s.length; i++) {
      const c = s[i];
      if (c === "\\") i++;
      else if (c === "(") depth++;
      else if (c === ")" && --depth === 0) {
        i++;
        break;
      }
    }
  }
}

function stripComments(s: string): string {
  if (!s.includes("(")) return s.trim();
  let out = "";
  let depth = 0;
  let quoted = false;
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (quoted) {
      out += c;
      if (c === "\\" && i + 1 < s.length) out += s[++i];
      else if (c === '"') quoted = false;
    } else if (c === '"' && depth === 0) {
      quoted = true;
      out += c;
    } else if (c === "(") depth++;
    else if (c === ")" && depth > 0) depth--;
    else if (depth === 0) out += c;
  }
  return out.trim();
}

/**
 * Parses `value *(";" attribute "=" value)` (RFC 2045 §5.1, RFC 2183 §2). Lenient: unquoted values run to the
 * next ";" (real mail has unquoted boundaries with "=" and file names with spaces), a missing closing quote ends
 * at the end of the field, parameters without "=" are dropped.
 */
export function parseMimeValue(s: string): MimeValue {
  let i = s.indexOf(";");
  const head = stripComments(i < 0 ? s : s.slice(0, i));
  const raw: [string, string][] = [];
  while (i >= 0 && i < s.length) {
    i = skipCfws(s, i + 1);
    const eq = s.indexOf("=", i);
    const semi = s.indexOf(";", i);
    if (eq < 0 || (semi >= 0 && semi < eq)) {
      i = semi;
      continue;
    }
    const name = stripComments(s.slice(i, eq));
    i = skipCfws(s, eq + 1);
    let value = "";
    if (s[i] === '"') {
      i++;
      for (; i < s.length; i++) {
        const c = s[i]!;
        if (c === "\\" && i + 1 < s.length) value += s[++i];
        else if (c === '"') break;
        else value += c;
      }
      i = s.indexOf(";", i);
    } else {
      const end = s.indexOf(";", i);
      value = stripComments(s.slice(i, end < 0 ? s.length : end));
      i = end;
    }
    if (name) raw.push([name, value]);
  }
  return { value: head, params: joinContinuations(raw) };
}

interface Section {
  name: string;
  index: number;
  extended: boolean;
  value: string;
}

/**
 * RFC 2231 §3-4: joins `name*0`, `name*1*`, … into one parameter. Plain parameters come first in their order,
 * then the joined ones sorted by name (as Dovecot does); a joined value with any extended section keeps its
 * `charset'language'` prefix and the name gets a trailing `*`, e.g. `filename*` = `utf-8''%E2%82%AC.txt` — that is
 * what IMAP BODYSTRUCTURE shows (RFC 3501 leaves decoding to the client). Incomplete sequences stay as written.
 */
function joinContinuations(params: [string, string][]): [string, string][] {
  const plain: [string, string][] = [];
  const sections: Section[] = [];
  for (const [name, value] of params) {
    const star = name.indexOf("*");
    if (star < 0) {
      plain.push([name, value]);
      continue;
    }
    const rest = name.slice(star + 1);
    const m = /^(\d{0,4})(\*?)$/.exec(rest);
    if (!m || (rest !== "" && m[1] === "")) {
      plain.push([name, value]);
      continue;
    }
    // "name*" alone is an extended value without continuations.
    const extended = rest === "" || m[2] === "*";
    sections.push({ name: name.slice(0, star), index: m[1] ? Number(m[1]) : 0, extended, value });
  }
  if (sections.length === 0) return plain;
  const key = (s: Section) => s.name.toLowerCase();
  sections.sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : a.index - b.index));
  for (let i = 0; i < sections.length;) {
    let j = i;
    let ok = true;
    let anyExtended = false;
    while (j < sections.length && key(sections[j]!) === key(sections[i]!)) {
      if (sections[j]!.index !== j - i) ok = false;
      if (sections[j]!.extended) anyExtended = true;
      j++;
    }
    const first = sections[i]!;
    if (ok) {
      let value = !first.extended && anyExtended ? "''" : "";
      for (let k = i; k < j; k++) value += sections[k]!.value;
      plain.push([first.name + (anyExtended ? "*" : ""), value]);
    } else {
      for (let k = i; k < j; k++) {
        const s = sections[k]!;
        plain.push([`${s.name}*${s.index}${s.extended ? "*" : ""}`, s.value]);
      }
    }
    i = j;
  }
  return plain;
}

/** Decodes bytes in a MIME charset with the WHATWG decoders; unknown charsets fall back to UTF-8, then Latin-1. */
export function decodeCharset(bytes: Uint8Array, charset: string | undefined): string {
  const label = (charset ?? "").trim().toLowerCase();
  if (label && label !== "us-ascii" && label !== "ascii" && !label.startsWith("utf-8") && label !== "utf8") {
    let dec: TextDecoder | undefined;
    try {
      dec = new TextDecoder(label);
    } catch { /* unknown label: fall through */ }
    if (dec) return dec.decode(bytes);
  }
  try {
    return utf8.decode(bytes);
  } catch {
    return label.startsWith("utf-8") || label === "utf8"
      ? new TextDecoder("utf-8").decode(bytes)
      : latin1.decode(bytes);
  }
}

function percentDecode(s: string): Uint8Array {
  const bytes = new TextEncoder().encode(s);
  const out = new Uint8Array(bytes.length);
  let o = 0;
  for (let i = 0; i < bytes.length; i++) {
    const c = bytes[i]!;
    if (c === 0x25 && i + 2 < bytes.length) {
      const h = parseInt(String.fromCharCode(bytes[i + 1]!, bytes[i + 2]!), 16);
      if (!Number.isNaN(h)) {
        out[o++] = h;
        i += 2;
        continue;
      }
    }
    out[o++] = c;
  }
  return out.subarray(0, o);
}

/**
 * Decoded parameters: lower-case names, RFC 2231 values (`name*`) decoded from their charset and preferred over a
 * plain parameter of the same name; `name` and `filename` also have RFC 2047 encoded words decoded (common,
 * though RFC 2047 §5 forbids them there).
 */
export function decodeParams(params: readonly [string, string][]): Record<string, string> {
  const out: Record<string, string> = {};
  const extended = new Set<string>();
  for (const [rawName, value] of params) {
    let name = rawName.toLowerCase();
    if (name.endsWith("*") && !/\*\d+\*?$/.test(name)) {
      name = name.slice(0, -1);
      const m = /^([^']*)'[^']*'(.*)$/s.exec(value);
      out[name] = m ? decodeCharset(percentDecode(m[2]!), m[1]) : value;
      extended.add(name);
      continue;
    }
    if (extended.has(name) || name in out) continue;
    out[name] = (name === "name" || name === "filename") && value.includes("=?") ? decodeWords(value) : value;
  }
  return out;
}

const ENCODED_WORD = /=\?([^?\s]+)\?([bBqQ])\?([^?\s]*)\?=/g;

function wordBytes(encoding: string, text: string): Uint8Array {
  if (encoding === "b" || encoding === "B") {
    try {
      const clean = text.replace(/[^A-Za-z0-9+/]/g, "");
      const bin = atob(clean + "===".slice((clean.length + 3) % 4));
      return Uint8Array.from(bin, (c) => c.charCodeAt(0));
    } catch {
      return new TextEncoder().encode(text);
    }
  }
  const out: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === "_") out.push(0x20);
    else if (c === "=" && /^[0-9A-Fa-f]{2}$/.test(text.slice(i + 1, i + 3))) {
      out.push(parseInt(text.slice(i + 1, i + 3), 16));
      i += 2;
    } else out.push(c.charCodeAt(0) & 0xff);
  }
  return Uint8Array.from(out);
}

/**
 * Decodes RFC 2047 encoded words in a header value. Whitespace between adjacent encoded words is dropped
 * (RFC 2047 §6.2) and adjacent words in one charset are joined before decoding, so a character split across
 * two words survives. The RFC 2231 §5 language suffix (`utf-8*en`) is ignored.
 */
export function decodeWords(value: string): string {
  if (!value.includes("=?")) return value;
  let out = "";
  let last = 0;
  let pending: { charset: string; bytes: Uint8Array[] } | null = null;
  const flush = () => {
    if (!pending) return;
    const total = pending.bytes.reduce((n, b) => n + b.length, 0);
    const all = new Uint8Array(total);
    let o = 0;
    for (const b of pending.bytes) {
      all.set(b, o);
      o += b.length;
    }
    out += decodeCharset(all, pending.charset);
    pending = null;
  };
  for (const m of value.matchAll(ENCODED_WORD)) {
    const gap = value.slice(last, m.index);
    const charset = m[1]!.split("*")[0]!.toLowerCase();
    const bytes = wordBytes(m[2]!, m[3]!);
    if (pending && /^[ \t\r\n]*$/.test(gap)) {
      if (pending.charset === charset) pending.bytes.push(bytes);
      else {
        flush();
        pending = { charset, bytes: [bytes] };
      }
    } else {
      flush();
      out += gap;
      pending = { charset, bytes: [bytes] };
    }
    last = m.index + m[0].length;
  }
  flush();
  return out + value.slice(last);
}
