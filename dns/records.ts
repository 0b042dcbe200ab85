/**
 * @module
 * Every DNS record a mail domain served by Silvermail needs, ready to paste into a DNS provider's form
 * ({@linkcode domainRecords}) or a zone file ({@linkcode formatZone}), and the MTA-STS policy file the server
 * serves ({@linkcode mtaStsPolicy}). `dns/check.ts` looks the same records up and says what is wrong.
 *
 * Choices made here, so that a domain is safe from the first day:
 * - SPF `v=spf1 mx -all`: the MX is this server, so `mx` authorizes exactly the host that also sends, and follows
 *   an address change without editing SPF (ip4:/ip6: would have to be kept in step by hand). It costs receivers
 *   one more lookup of the 10 allowed (RFC 7208 §4.6.4). `-all`: nothing else sends for the domain, and DMARC
 *   decides what happens to failures anyway.
 * - DMARC `p=quarantine`: every message this server sends is DKIM-signed and aligned, so a forgery fails DMARC
 *   and goes to spam; `reject` would also drop the rare legitimate message a forwarder or mailing list broke.
 *   Once the aggregate reports (rua) show only your own mail passing, `p=reject` is the next step. No `ruf`:
 *   few receivers send failure reports, and those that do send copies of other people's (possibly forged) mail.
 * - SRV records (RFC 6186, RFC 8314 §5.1) give implicit TLS (465, 993) priority 0 and STARTTLS (587, 143)
 *   priority 10, so clients that read them prefer implicit TLS.
 */
import { isIPv4, isIPv6 } from "node:net";

/** A DKIM public key to publish. */
export interface DkimPublicKey {
  selector: string;
  algorithm: "rsa" | "ed25519";
  /** Base64, the value of `p=` (RSA: SubjectPublicKeyInfo DER; Ed25519: the raw 32-byte key, RFC 8463 §4.2). */
  publicKey: string;
}

/** What the records of one mail domain depend on. */
export interface DomainDnsInput {
  /** The mail domain, e.g. `example.org`. */
  domain: string;
  /** This server's public name, e.g. `mail.example.org`: MX target, SRV targets, autoconfig, reverse DNS. */
  hostname: string;
  /** The server's public IPv4/IPv6 addresses; empty: records needing them show a placeholder. */
  addresses: string[];
  /** Keys to publish (during a rotation, old and new: up to 4). */
  dkim: DkimPublicKey[];
  /** Where DMARC aggregate reports and TLS reports go, e.g. `postmaster@example.org`. */
  reportAddress: string;
  /** The `id=` of the `_mta-sts` TXT record; senders fetch the policy again when it changes. */
  mtaStsId: string;
  /** The MTA-STS policy mode; default `enforce`. */
  mtaStsMode?: "enforce" | "testing";
}

/** One DNS record. */
export interface DnsRecord {
  /** Fully qualified, without the trailing dot. */
  name: string;
  type: "MX" | "TXT" | "CNAME" | "SRV" | "A" | "AAAA" | "PTR";
  /**
   * The record data as a DNS provider's form wants it: TXT the full unquoted text; MX, CNAME and PTR the target;
   * SRV `weight port target`. Host names carry no trailing dot ({@linkcode formatZone} adds it).
   */
  value: string;
  /** MX preference or SRV priority. */
  priority?: number;
  /** One short line: what the record is for. */
  purpose: string;
  /** Set when the record is not published in the mail domain's zone: where it is set instead. */
  elsewhere?: string;
}

/** Placeholder shown instead of an address when none is configured. */
export const ADDRESS_PLACEHOLDER = "<server IPv4 address>";

/** The RFC 8461 §3.2 `max_age` we publish: one week. */
const MTA_STS_MAX_AGE = 604800;

/** The SRV records of RFC 6186 and RFC 8314 §5.1: implicit TLS first (lower priority number). */
const SRV_SERVICES = [
  { service: "_submissions._tcp", port: 465, priority: 0, what: "mail submission, implicit TLS (RFC 8314)" },
  { service: "_submission._tcp", port: 587, priority: 10, what: "mail submission, STARTTLS (RFC 6186)" },
  { service: "_imaps._tcp", port: 993, priority: 0, what: "IMAP, implicit TLS (RFC 8314)" },
  { service: "_imap._tcp", port: 143, priority: 10, what: "IMAP, STARTTLS (RFC 6186)" },
] as const;

/** The SRV weight we publish (one target per service, RFC 2782). */
const SRV_WEIGHT = 1;

/** Every record `input.domain` needs, in the order a person would add them. */
export function domainRecords(input: DomainDnsInput): DnsRecord[] {
  const domain = bareName(input.domain);
  const host = bareName(input.hostname);
  for (const address of input.addresses) addressBytes(address); // throws on a malformed address
  const records: DnsRecord[] = [];
  const add = (record: DnsRecord) => records.push(record);

  add({ name: domain, type: "MX", value: host, priority: 10, purpose: `mail for ${domain} is delivered to ${host}` });
  add({ name: domain, type: "TXT", value: "v=spf1 mx -all", purpose: "SPF: only the MX host sends mail" });
  if (host !== domain) {
    // Bounces and delay notices have an empty envelope sender: receivers check SPF (and DMARC aligns it) for
    // the name in HELO, the server's own.
    add({
      name: host,
      type: "TXT",
      value: "v=spf1 a -all",
      purpose: `SPF for the server's own name: its bounces and notices (empty sender) are checked against ${host}`,
    });
  }
  for (const key of input.dkim) {
    add({
      name: `${key.selector}._domainkey.${domain}`,
      type: "TXT",
      value: `v=DKIM1; k=${key.algorithm}; p=${key.publicKey.replace(/\s+/g, "")}`,
      purpose: `DKIM public key "${key.selector}" (${key.algorithm}) that receivers verify signatures with`,
    });
  }
  const report = input.reportAddress;
  add({
    name: `_dmarc.${domain}`,
    type: "TXT",
    value: `v=DMARC1; p=quarantine; rua=mailto:${report}; adkim=r; aspf=r`,
    purpose: "DMARC: mail failing SPF and DKIM goes to spam; daily reports to " + report,
  });
  const reportDomain = bareName(report.slice(report.lastIndexOf("@") + 1));
  if (reportDomain !== domain && !reportDomain.endsWith(`.${domain}`)) {
    // RFC 7489 §7.1: reports to another domain need that domain's consent, else receivers drop them.
    add({
      name: `${domain}._report._dmarc.${reportDomain}`,
      type: "TXT",
      value: "v=DMARC1",
      purpose: `in ${reportDomain}'s zone: lets receivers send ${domain}'s DMARC reports there (RFC 7489 §7.1)`,
      elsewhere: `the zone of ${reportDomain}`,
    });
  }
  add({
    name: `_mta-sts.${domain}`,
    type: "TXT",
    value: `v=STSv1; id=${input.mtaStsId}`,
    purpose: "MTA-STS: senders must use verified TLS; change id= when the policy changes",
  });
  add({
    name: `mta-sts.${domain}`,
    type: "CNAME",
    value: host,
    purpose: `the host serving https://mta-sts.${domain}/.well-known/mta-sts.txt (its certificate must cover it)`,
  });
  add({
    name: `_smtp._tls.${domain}`,
    type: "TXT",
    value: `v=TLSRPTv1; rua=mailto:${report}`,
    purpose: "TLS-RPT: senders report TLS failures to " + report,
  });
  for (const prefix of ["autoconfig", "autodiscover"]) {
    add({
      name: `${prefix}.${domain}`,
      type: "CNAME",
      value: host,
      purpose: prefix === "autoconfig"
        ? "Thunderbird-style account autoconfiguration"
        : "Outlook-style account autodiscovery",
    });
  }
  for (const srv of SRV_SERVICES) {
    add({
      name: `${srv.service}.${domain}`,
      type: "SRV",
      value: `${SRV_WEIGHT} ${srv.port} ${host}`,
      priority: srv.priority,
      purpose: `lets mail clients find ${srv.what}`,
    });
  }
  const addresses = input.addresses.length ? input.addresses : [ADDRESS_PLACEHOLDER];
  for (const address of addresses) {
    add({
      name: host,
      type: isIPv6(address) ? "AAAA" : "A",
      value: address,
      purpose: `the address of ${host}`,
    });
  }
  for (const address of addresses) {
    const placeholder = address === ADDRESS_PLACEHOLDER;
    add({
      name: placeholder ? `<reversed server IPv4 address>.in-addr.arpa` : reverseName(address),
      type: "PTR",
      value: host,
      purpose: `reverse DNS of ${address}: set at your hosting provider, not in ${domain}'s zone; ` +
        "receivers reject mail from addresses without it",
      elsewhere: "your hosting provider (reverse DNS of the address)",
    });
  }
  return records;
}

/** The RFC 8461 §3.2 policy file served at `https://mta-sts.<domain>/.well-known/mta-sts.txt` (CRLF lines). */
export function mtaStsPolicy(input: Pick<DomainDnsInput, "hostname" | "mtaStsMode">): string {
  return [
    "version: STSv1",
    `mode: ${input.mtaStsMode ?? "enforce"}`,
    `mx: ${bareName(input.hostname)}`,
    `max_age: ${MTA_STS_MAX_AGE}`,
  ].map((line) => line + "\r\n").join("");
}

/**
 * Zone-file lines for `records`, grouped under `; purpose` comments. Names and targets get their trailing dot;
 * TXT data is split into quoted strings of at most 255 bytes (RFC 1035 §3.3.14). Records published elsewhere
 * (reverse DNS, another domain's consent) come last, commented out, with where they belong.
 */
export function formatZone(records: DnsRecord[]): string {
  const section = (list: DnsRecord[], prefix: string) => {
    const width = Math.max(0, ...list.map((r) => r.name.length + 1));
    const out: string[] = [];
    let purpose = "";
    for (const r of list) {
      if (r.purpose !== purpose) out.push(`; ${r.purpose}`);
      purpose = r.purpose;
      const line = `${(r.name + ".").padEnd(width)} IN ${r.type.padEnd(5)} ${zoneData(r)}`;
      out.push(...line.split("\n").map((l) => prefix + l));
    }
    return out;
  };
  const out = section(records.filter((r) => !r.elsewhere), "");
  const there = records.filter((r) => r.elsewhere);
  if (there.length) out.push("", ";; Not in this zone (see each comment for where):", ...section(there, "; "));
  return out.join("\n") + "\n";
}

/** The record data as a zone file writes it. */
function zoneData(record: DnsRecord): string {
  switch (record.type) {
    case "TXT": {
      const parts = splitTxt(record.value).map((p) => `"${p.replace(/(["\\])/g, "\\$1")}"`);
      return parts.length === 1 ? parts[0]! : `( ${parts.join("\n    ")} )`;
    }
    case "MX":
      return `${record.priority ?? 10} ${record.value}.`;
    case "SRV":
      return `${record.priority ?? 0} ${record.value}.`;
    case "CNAME":
    case "PTR":
      return record.value + ".";
    default:
      return record.value;
  }
}

/** Splits TXT data into character-strings of at most 255 bytes, never inside a UTF-8 sequence. */
function splitTxt(text: string): string[] {
  const parts: string[] = [];
  let current = "";
  let bytes = 0;
  const encoder = new TextEncoder();
  for (const char of text) {
    const size = encoder.encode(char).length;
    if (bytes + size > 255) {
      parts.push(current);
      current = "";
      bytes = 0;
    }
    current += char;
    bytes += size;
  }
  parts.push(current);
  return parts;
}

/** The reverse-DNS name of an address: `10.2.0.192.in-addr.arpa`, or 32 nibbles `….ip6.arpa` (RFC 3596 §2.5). */
export function reverseName(address: string): string {
  const bytes = addressBytes(address);
  if (bytes.length === 4) return [...bytes].reverse().join(".") + ".in-addr.arpa";
  const nibbles = [...bytes].flatMap((b) => [b >> 4, b & 15]).map((n) => n.toString(16));
  return nibbles.reverse().join(".") + ".ip6.arpa";
}

/** An IPv4 (4 bytes) or IPv6 (16 bytes) address as bytes; throws a TypeError for anything else. */
export function addressBytes(address: string): Uint8Array {
  if (isIPv4(address)) return new Uint8Array(address.split(".").map(Number));
  if (!isIPv6(address)) throw new TypeError(`Cannot use address "${address}": not an IPv4 or IPv6 address`);
  let text = address.replace(/%.*$/, ""); // zone index (fe80::1%eth0)
  const tail: number[] = [];
  const v4 = /:(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4) {
    tail.push(...v4[1]!.split(".").map(Number));
    text = text.slice(0, v4.index + 1) + "0:0"; // stands in for the two groups, replaced below
  }
  const [head, rest] = text.split("::") as [string, string | undefined];
  const groups = (s: string) => (s ? s.split(":").map((g) => parseInt(g, 16)) : []);
  const left = groups(head);
  const right = rest === undefined ? [] : groups(rest);
  const words = [...left, ...new Array(8 - left.length - right.length).fill(0), ...right];
  const bytes = new Uint8Array(16);
  words.forEach((w, i) => {
    bytes[2 * i] = w >> 8;
    bytes[2 * i + 1] = w & 255;
  });
  if (tail.length) bytes.set(tail, 12);
  return bytes;
}

/** A host name in the form used everywhere here: lower case, no trailing dot. */
export function bareName(name: string): string {
  return name.trim().toLowerCase().replace(/\.$/, "");
}
