/**
 * @module
 * Modified UTF-7 (RFC 3501 §5.1.3), the IMAP4rev1 encoding of international mailbox names: printable US-ASCII
 * stands for itself, `&` is written `&-`, and any run of other characters is `&` + modified BASE64 (`,` for `/`,
 * no padding) of their UTF-16BE code units + `-`.
 *
 * The decoder is strict and accepts only the canonical form, so that one mailbox has exactly one wire name:
 * it refuses 8-bit and control characters, an unterminated `&`, characters outside the BASE64 alphabet,
 * non-zero padding bits, an odd number of octets, lone surrogates, printable ASCII that was encoded although it
 * can represent itself, and two adjacent encoded runs (which the encoder would have merged).
 *
 * Not used once the client enabled UTF8=ACCEPT or IMAP4rev2 (RFC 6855 §3, RFC 9051 §5.1): names are then UTF-8.
 */

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";
const VALUES: Int8Array = (() => {
  const t = new Int8Array(128).fill(-1);
  for (let i = 0; i < ALPHABET.length; i++) t[ALPHABET.charCodeAt(i)] = i;
  return t;
})();

function printable(c: number): boolean {
  return c >= 0x20 && c <= 0x7e;
}

/** Encodes a mailbox name into modified UTF-7 (RFC 3501 §5.1.3). Throws a TypeError on a lone surrogate. */
export function encodeModifiedUtf7(name: string): string {
  let out = "";
  let i = 0;
  while (i < name.length) {
    const c = name.charCodeAt(i);
    if (printable(c)) {
      out += c === 0x26 ? "&-" : name[i];
      i++;
      continue;
    }
    let j = i;
    const units: number[] = [];
    while (j < name.length && !printable(name.charCodeAt(j))) {
      const u = name.charCodeAt(j);
      if (u >= 0xd800 && u <= 0xdbff) {
        const low = name.charCodeAt(j + 1);
        if (!(low >= 0xdc00 && low <= 0xdfff)) throw new TypeError(`Cannot encode mailbox name: lone surrogate`);
        units.push(u, low);
        j += 2;
        continue;
      }
      if (u >= 0xdc00 && u <= 0xdfff) throw new TypeError(`Cannot encode mailbox name: lone surrogate`);
      units.push(u);
      j++;
    }
    out += "&" + base64(units) + "-";
    i = j;
  }
  return out;
}

function base64(units: readonly number[]): string {
  let out = "";
  let bits = 0;
  let acc = 0;
  for (const u of units) {
    acc = (acc << 16) | u;
    bits += 16;
    while (bits >= 6) {
      bits -= 6;
      out += ALPHABET[(acc >> bits) & 0x3f];
    }
    acc &= (1 << bits) - 1;
  }
  if (bits > 0) out += ALPHABET[(acc << (6 - bits)) & 0x3f];
  return out;
}

/** Decodes a modified UTF-7 mailbox name (RFC 3501 §5.1.3), accepting only the canonical form; else SyntaxError. */
export function decodeModifiedUtf7(wire: string): string {
  const fail = (why: string): never => {
    throw new SyntaxError(`Cannot decode mailbox name "${wire}" as modified UTF-7: ${why}`);
  };
  let out = "";
  let i = 0;
  let afterEncoded = false;
  while (i < wire.length) {
    const c = wire.charCodeAt(i);
    if (!printable(c)) fail(c > 0x7e ? "8-bit character" : "control character");
    if (c !== 0x26) {
      out += wire[i];
      i++;
      afterEncoded = false;
      continue;
    }
    const end = wire.indexOf("-", i + 1);
    if (end < 0) fail(`unterminated "&"`);
    if (end === i + 1) {
      out += "&";
      i += 2;
      afterEncoded = false;
      continue;
    }
    if (afterEncoded) fail("adjacent encoded sequences");
    out += decodeRun(wire.slice(i + 1, end), fail);
    i = end + 1;
    afterEncoded = true;
  }
  return out;
}

function decodeRun(run: string, fail: (why: string) => never): string {
  let acc = 0;
  let bits = 0;
  const units: number[] = [];
  let pending = -1;
  for (let k = 0; k < run.length; k++) {
    const code = run.charCodeAt(k);
    const v = code < 128 ? VALUES[code]! : -1;
    if (v < 0) fail(`invalid character "${run[k]}" in encoded sequence`);
    acc = ((acc << 6) | v) & 0xffffff;
    bits += 6;
    if (bits < 8) continue;
    bits -= 8;
    const byte = (acc >> bits) & 0xff;
    if (pending < 0) {
      pending = byte;
      continue;
    }
    units.push((pending << 8) | byte);
    pending = -1;
  }
  if (pending >= 0) fail("odd number of octets in encoded sequence");
  if (bits >= 6 || (acc & ((1 << bits) - 1)) !== 0) fail("non-zero or excess padding bits");
  let out = "";
  for (let k = 0; k < units.length; k++) {
    const u = units[k]!;
    if (printable(u)) fail("printable ASCII must not be encoded");
    if (u >= 0xd800 && u <= 0xdbff) {
      const low = units[k + 1];
      if (low === undefined || low < 0xdc00 || low > 0xdfff) fail("lone surrogate");
      out += String.fromCharCode(u, low!);
      k++;
      continue;
    }
    if (u >= 0xdc00 && u <= 0xdfff) fail("lone surrogate");
    out += String.fromCharCode(u);
  }
  return out;
}
