import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import {
  addressBytes,
  type DkimPublicKey,
  type DomainDnsInput,
  domainRecords,
  formatZone,
  mtaStsPolicy,
  reverseName,
} from "./records.ts";

/** A real RSA-2048 key (392 base64 characters: longer than one TXT string) and a real Ed25519 key. */
function testDkimKeys(): DkimPublicKey[] {
  const rsa = generateKeyPairSync("rsa", { modulusLength: 2048 }).publicKey.export({ type: "spki", format: "der" });
  const ed = generateKeyPairSync("ed25519").publicKey.export({ type: "spki", format: "der" });
  return [
    { selector: "r2024", algorithm: "rsa", publicKey: rsa.toString("base64") },
    { selector: "e2024", algorithm: "ed25519", publicKey: ed.subarray(-32).toString("base64") }, // RFC 8463 §4.2
  ];
}

const input = (dkim: DkimPublicKey[]): DomainDnsInput => ({
  domain: "Example.ORG.",
  hostname: "mail.example.org",
  addresses: ["192.0.2.10", "2001:db8::10"],
  dkim,
  reportAddress: "postmaster@example.org",
  mtaStsId: "20240101T000000",
});

Deno.test("domainRecords() lists every record of a domain with addresses and two DKIM keys", () => {
  const dkim = testDkimKeys();
  const records = domainRecords(input(dkim));
  const host = "mail.example.org";
  assert.deepEqual(records.map(({ name, type, value, priority }) => ({ name, type, value, priority })), [
    { name: "example.org", type: "MX", value: host, priority: 10 },
    { name: "example.org", type: "TXT", value: "v=spf1 mx -all", priority: undefined },
    { name: "mail.example.org", type: "TXT", value: "v=spf1 a -all", priority: undefined },
    {
      name: "r2024._domainkey.example.org",
      type: "TXT",
      value: `v=DKIM1; k=rsa; p=${dkim[0]!.publicKey}`,
      priority: undefined,
    },
    {
      name: "e2024._domainkey.example.org",
      type: "TXT",
      value: `v=DKIM1; k=ed25519; p=${dkim[1]!.publicKey}`,
      priority: undefined,
    },
    {
      name: "_dmarc.example.org",
      type: "TXT",
      value: "v=DMARC1; p=quarantine; rua=mailto:postmaster@example.org; adkim=r; aspf=r",
      priority: undefined,
    },
    { name: "_mta-sts.example.org", type: "TXT", value: "v=STSv1; id=20240101T000000", priority: undefined },
    { name: "mta-sts.example.org", type: "CNAME", value: host, priority: undefined },
    {
      name: "_smtp._tls.example.org",
      type: "TXT",
      value: "v=TLSRPTv1; rua=mailto:postmaster@example.org",
      priority: undefined,
    },
    { name: "autoconfig.example.org", type: "CNAME", value: host, priority: undefined },
    { name: "autodiscover.example.org", type: "CNAME", value: host, priority: undefined },
    { name: "_submissions._tcp.example.org", type: "SRV", value: `1 465 ${host}`, priority: 0 },
    { name: "_submission._tcp.example.org", type: "SRV", value: `1 587 ${host}`, priority: 10 },
    { name: "_imaps._tcp.example.org", type: "SRV", value: `1 993 ${host}`, priority: 0 },
    { name: "_imap._tcp.example.org", type: "SRV", value: `1 143 ${host}`, priority: 10 },
    { name: host, type: "A", value: "192.0.2.10", priority: undefined },
    { name: host, type: "AAAA", value: "2001:db8::10", priority: undefined },
    { name: "10.2.0.192.in-addr.arpa", type: "PTR", value: host, priority: undefined },
    {
      name: "0.1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa",
      type: "PTR",
      value: host,
      priority: undefined,
    },
  ]);
  for (const r of records) assert.match(r.purpose, /^[^\n]{10,140}$/, `purpose of ${r.name} ${r.type}`);
  const ptr = records.filter((r) => r.type === "PTR");
  for (const r of ptr) {
    assert.match(r.purpose, /hosting provider, not in example\.org's zone/);
    assert.ok(r.elsewhere);
  }
  assert.equal(records.filter((r) => r.elsewhere).length, ptr.length);
});

Deno.test("domainRecords() shows placeholders without addresses and asks for consent for reports elsewhere", () => {
  const records = domainRecords({ ...input([]), addresses: [], reportAddress: "dmarc@reports.example.net" });
  const a = records.filter((r) => r.type === "A" || r.type === "AAAA" || r.type === "PTR");
  assert.deepEqual(a.map((r) => [r.type, r.name, r.value]), [
    ["A", "mail.example.org", "<server IPv4 address>"],
    ["PTR", "<reversed server IPv4 address>.in-addr.arpa", "mail.example.org"],
  ]);
  const consent = records.find((r) => r.name === "example.org._report._dmarc.reports.example.net");
  assert.equal(consent?.value, "v=DMARC1");
  assert.match(consent?.elsewhere ?? "", /reports\.example\.net/);
  assert.equal(records.filter((r) => r.name.includes("_domainkey")).length, 0);
  assert.throws(() => domainRecords({ ...input([]), addresses: ["192.0.2.300"] }), TypeError);
});

Deno.test("formatZone() splits a long RSA key into 255-byte strings and writes names with trailing dots", () => {
  const records = domainRecords(input(testDkimKeys()));
  const zone = formatZone(records);
  const rsa = records.find((r) => r.name.startsWith("r2024."))!;
  assert.ok(rsa.value.length > 255);
  // The record spans lines inside parentheses; its quoted strings joined give the value back.
  const block = /^r2024\._domainkey\.example\.org\.\s+IN TXT\s+\(([^)]*)\)$/m.exec(zone);
  assert.ok(block, zone);
  const strings = [...block[1]!.matchAll(/"((?:[^"\\]|\\.)*)"/g)].map((m) => m[1]!);
  assert.ok(strings.length >= 2);
  for (const s of strings) assert.ok(s.length <= 255, `string of ${s.length} bytes`);
  assert.equal(strings.join(""), rsa.value);

  assert.match(zone, /^example\.org\.\s+IN MX\s+10 mail\.example\.org\.$/m);
  assert.match(zone, /^example\.org\.\s+IN TXT\s+"v=spf1 mx -all"$/m);
  assert.match(zone, /^_imaps\._tcp\.example\.org\.\s+IN SRV\s+0 1 993 mail\.example\.org\.$/m);
  assert.match(zone, /^autoconfig\.example\.org\.\s+IN CNAME mail\.example\.org\.$/m);
  assert.match(zone, /^mail\.example\.org\.\s+IN AAAA\s+2001:db8::10$/m);
  assert.match(zone, /^; DMARC: .*\n_dmarc\.example\.org\. /m);
  // Reverse DNS is not part of the domain's zone: commented out, after the zone's records.
  assert.match(zone, /^; 10\.2\.0\.192\.in-addr\.arpa\.\s+IN PTR\s+mail\.example\.org\.$/m);
  assert.doesNotMatch(zone, /^[^;].*\bPTR\b/m);
  // One comment for the A and AAAA records of the host, which share a purpose.
  assert.match(zone, /^; the address of mail\.example\.org\nmail\.example\.org\.\s+IN A .*\nmail\.example\.org\./m);
});

Deno.test("mtaStsPolicy() is the RFC 8461 policy file with CRLF lines", () => {
  assert.equal(
    mtaStsPolicy({ hostname: "mail.example.org." }),
    "version: STSv1\r\nmode: enforce\r\nmx: mail.example.org\r\nmax_age: 604800\r\n",
  );
  assert.match(mtaStsPolicy({ hostname: "mail.example.org", mtaStsMode: "testing" }), /\r\nmode: testing\r\n/);
});

Deno.test("reverseName() and addressBytes() handle IPv4, compressed IPv6 and IPv4-mapped IPv6", () => {
  assert.equal(reverseName("192.0.2.10"), "10.2.0.192.in-addr.arpa");
  assert.equal(
    reverseName("2001:db8::567:89ab"),
    "b.a.9.8.7.6.5.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa",
  );
  assert.deepEqual([...addressBytes("::ffff:192.0.2.1")], [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 255, 255, 192, 0, 2, 1]);
  assert.deepEqual([...addressBytes("::")], new Array(16).fill(0));
  assert.deepEqual([...addressBytes("1::")].slice(0, 2), [0, 1]);
  assert.throws(() => addressBytes("mail.example.org"), TypeError);
});
