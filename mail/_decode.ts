/**
 * @module
 * Content-transfer decoding over bytes (RFC 2045 §6.7 quoted-printable, §6.8 base64) and HTML to plain text for
 * the search index. Decoders are lenient: invalid input never throws, it is kept or skipped.
 */

const B64 = new Int16Array(256).fill(-1);
for (let i = 0; i < 64; i++) {
  B64["ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".charCodeAt(i)] = i;
}
// RFC 4648 §5 base64url letters are accepted too; some senders use them.
B64[0x2d] = 62;
B64[0x5f] = 63;

/** RFC 2045 §6.8: decodes base64, skipping characters outside the alphabet and stopping at padding. */
export function decodeBase64(src: Uint8Array): Uint8Array {
  const out = new Uint8Array(Math.floor((src.length * 3) / 4) + 3);
  let o = 0;
  let acc = 0;
  let bits = 0;
  for (let i = 0; i < src.length; i++) {
    const c = src[i]!;
    if (c === 0x3d) {
      // "=": padding ends this quantum; a later one may follow (concatenated encodings).
      acc = 0;
      bits = 0;
      continue;
    }
    const v = B64[c]!;
    if (v < 0) continue;
    acc = (acc << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (acc >> bits) & 0xff;
    }
  }
  return out.subarray(0, o);
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  return -1;
}

/**
 * RFC 2045 §6.7: decodes quoted-printable. `=XX` becomes a byte (lower-case hex accepted), `=` followed by
 * optional whitespace and a line break is a soft line break, any other `=` is kept as is.
 */
export function decodeQuotedPrintable(src: Uint8Array): Uint8Array {
  const out = new Uint8Array(src.length);
  let o = 0;
  const n = src.length;
  for (let i = 0; i < n; i++) {
    const c = src[i]!;
    if (c !== 0x3d) {
      out[o++] = c;
      continue;
    }
    const h = i + 1 < n ? hexValue(src[i + 1]!) : -1;
    const l = i + 2 < n ? hexValue(src[i + 2]!) : -1;
    if (h >= 0 && l >= 0) {
      out[o++] = (h << 4) | l;
      i += 2;
      continue;
    }
    let j = i + 1;
    while (j < n && (src[j] === 0x20 || src[j] === 0x09)) j++;
    if (j < n && src[j] === 0x0d && src[j + 1] === 0x0a) i = j + 1;
    else if (j < n && src[j] === 0x0a) i = j;
    else if (j === n) i = j;
    else out[o++] = c;
  }
  return out.subarray(0, o);
}

const ENTITIES: Record<string, string> = {
  amp: "&",
  lt: "<",
  gt: ">",
  quot: '"',
  apos: "'",
  nbsp: " ",
  shy: "",
  copy: "©",
  reg: "®",
  trade: "™",
  euro: "€",
  pound: "£",
  yen: "¥",
  cent: "¢",
  sect: "§",
  deg: "°",
  middot: "·",
  bull: "•",
  hellip: "…",
  ndash: "–",
  mdash: "—",
  lsquo: "‘",
  rsquo: "’",
  ldquo: "“",
  rdquo: "”",
  laquo: "«",
  raquo: "»",
  times: "×",
  divide: "÷",
  zwnj: "",
  zwj: "",
};

// Latin-1 letters with accents (&eacute; &Uuml; &ccedil; …), composed once at load.
const ACCENTS: Record<string, string> = {
  grave: "\u0300",
  acute: "\u0301",
  circ: "\u0302",
  tilde: "\u0303",
  uml: "\u0308",
  ring: "\u030a",
  cedil: "\u0327",
};
ENTITIES.szlig = "ß";
for (const letter of "AEIOUYNCaeiouync") {
  for (const [name, mark] of Object.entries(ACCENTS)) {
    const c = (letter + mark).normalize("NFC");
    if (c.length === 1) ENTITIES[letter + name] = c;
  }
}

function entity(name: string): string | undefined {
  return ENTITIES[name] ?? ENTITIES[name.toLowerCase()];
}

const REFERENCE = /&(#[xX][0-9a-fA-F]{1,6}|#[0-9]{1,7}|[A-Za-z][A-Za-z0-9]{1,31});?/y;

function reference(ref: string): string | undefined {
  if (ref[0] !== "#") return entity(ref);
  const code = ref[1] === "x" || ref[1] === "X" ? parseInt(ref.slice(2), 16) : parseInt(ref.slice(1), 10);
  return code > 0 && code <= 0x10ffff && (code < 0xd800 || code > 0xdfff) ? String.fromCodePoint(code) : "";
}

/** Decodes HTML character references: named (common ones), decimal and hexadecimal. */
export function decodeEntities(s: string): string {
  let out = "";
  let last = 0;
  // A loop rather than replace() with a callback, which is several times slower here.
  for (let i = s.indexOf("&"); i >= 0; i = s.indexOf("&", i + 1)) {
    REFERENCE.lastIndex = i;
    const m = REFERENCE.exec(s);
    const text = m ? reference(m[1]!) : undefined;
    if (text === undefined) continue;
    out += s.slice(last, i) + text;
    last = REFERENCE.lastIndex;
    i = last - 1;
  }
  return last === 0 ? s : out + s.slice(last);
}

const BLOCK_TAG =
  /<\/?(?:p|div|br|tr|li|ul|ol|table|h[1-6]|blockquote|pre|hr|section|article|header|footer|title)\b[^>]*>/gi;

/** HTML to text for search: drops comments, script and style, turns block tags into line breaks. */
export function htmlToText(html: string): string {
  const stripped = html
    .replace(/<!--[\s\S]*?(?:-->|$)/g, " ")
    .replace(/<(script|style|head)\b[^>]*>[\s\S]*?(?:<\/\1\s*>|$)/gi, " ")
    .replace(BLOCK_TAG, "\n")
    .replace(/<\/?[A-Za-z][^>]*>/g, "")
    .replace(/<[!?][^>]*>/g, "");
  return decodeEntities(stripped)
    .replace(/[ \t\u00a0]+/g, " ")
    .replace(/ ?\n[\s]*\n\s*/g, "\n\n")
    .replace(/ ?\n ?/g, "\n")
    .trim();
}
