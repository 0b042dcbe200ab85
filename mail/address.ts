/**
 * @module
 * Mail addresses: parsing and normalising `local@domain` (RFC 5321 §4.1.2, RFC 6531 for UTF-8 local parts).
 * Domains are stored lower case as IDNA A-labels; local parts lower case (Silvermail treats them
 * case-insensitively, as every large provider does).
 */

/** A parsed, normalised address. */
export interface Address {
  local: string;
  domain: string;
  /** `local@domain`, normalised. */
  address: string;
}

// RFC 5321 §4.1.2 atext, plus any non-ASCII character (RFC 6531 §3.3 UTF8-non-ascii).
const ATEXT = /^[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~\u0080-\u{10FFFF}]+$/u;
const LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;

/** Normalises a domain name to lower-case A-labels, or returns undefined when it is not a valid host name. */
export function normalizeDomain(input: string): string | undefined {
  let d = input.trim().replace(/\.$/, "");
  if (!d || d.length > 253) return undefined;
  if (/[^\x21-\x7e]/.test(d)) {
    try {
      d = new URL(`http://${d}/`).hostname;
    } catch {
      return undefined;
    }
  }
  d = d.toLowerCase();
  const labels = d.split(".");
  if (labels.length < 2 || !labels.every((l) => LABEL.test(l))) return undefined;
  if (/^\d+$/.test(labels[labels.length - 1]!)) return undefined;
  return d;
}

/**
 * The longest local part accepted, in octets: 64 (RFC 5321 §4.5.3.1.1) — except SRS addresses (smtp/srs.ts), which
 * carry a whole original address and often exceed it (§4.5.3.1 asks receivers not to impose limits where they can).
 */
export function maxLocalPartOctets(local: string): number {
  return /^srs[01]=/i.test(local) ? 256 : 64;
}

/** Parses and normalises `local@domain`; undefined when invalid. A quoted local part is not accepted. */
export function parseAddress(input: string): Address | undefined {
  const s = input.trim();
  const at = s.lastIndexOf("@");
  if (at <= 0) return undefined;
  const local = s.slice(0, at);
  const domain = normalizeDomain(s.slice(at + 1));
  if (!domain) return undefined;
  if (new TextEncoder().encode(local).length > maxLocalPartOctets(local)) return undefined;
  const parts = local.split(".");
  if (!parts.every((p) => p.length > 0 && ATEXT.test(p))) return undefined;
  const l = local.normalize("NFC").toLowerCase();
  return { local: l, domain, address: `${l}@${domain}` };
}

/** Parses an alias source: a full address, or `@domain` for a catch-all. */
export function parseAliasSource(input: string): Address | undefined {
  const s = input.trim();
  if (s.startsWith("@")) {
    const domain = normalizeDomain(s.slice(1));
    return domain ? { local: "", domain, address: `@${domain}` } : undefined;
  }
  return parseAddress(s);
}
