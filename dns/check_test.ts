import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import { createSocket } from "node:dgram";
import { type DnsZone, startDns } from "../tests/dns_server.ts";
import { generateSelfSigned } from "../tls/self_signed.ts";
import { allOk, checkDomain, type CheckResult, formatCheck } from "./check.ts";
import { type DkimPublicKey, type DnsRecord, type DomainDnsInput, domainRecords, mtaStsPolicy } from "./records.ts";
import { Resolver } from "./resolver.ts";

function rsaKey(): string {
  const der = generateKeyPairSync("rsa", { modulusLength: 2048 }).publicKey.export({ type: "spki", format: "der" });
  return der.toString("base64");
}

const DKIM: DkimPublicKey[] = [
  { selector: "r2024", algorithm: "rsa", publicKey: rsaKey() },
  {
    selector: "e2024",
    algorithm: "ed25519",
    publicKey: generateKeyPairSync("ed25519").publicKey.export({ type: "spki", format: "der" }).subarray(-32)
      .toString("base64"),
  },
];

const INPUT: DomainDnsInput = {
  domain: "example.org",
  hostname: "mail.example.org",
  addresses: ["192.0.2.10", "2001:db8::10"],
  dkim: DKIM,
  reportAddress: "postmaster@example.org",
  mtaStsId: "20240101",
};

/** The dnsmasq zone serving exactly `records` (host-record also answers the reverse name). */
function zoneOf(records: DnsRecord[]): Required<DnsZone> {
  const zone: Required<DnsZone> = { a: [], aaaa: [], mx: [], txt: [], cname: [], srv: [], ptr: [] };
  for (const r of records) {
    if (r.type === "MX") zone.mx.push([r.name, r.value, r.priority!]);
    if (r.type === "TXT") zone.txt.push([r.name, r.value]);
    if (r.type === "CNAME") zone.cname.push([r.name, r.value]);
    if (r.type === "A") zone.a.push([r.name, r.value]);
    if (r.type === "AAAA") zone.aaaa.push([r.name, r.value]);
    if (r.type === "PTR") zone.ptr.push([r.name, r.value]);
    if (r.type === "SRV") {
      const [weight, port, target] = r.value.split(" ");
      zone.srv.push([r.name, target!, Number(port), r.priority!, Number(weight)]);
    }
  }
  return zone;
}

/** A zone with exactly the records the input needs, then changed by `edit`. */
function zoneFor(input: DomainDnsInput, edit: (zone: Required<DnsZone>) => void = () => {}): Required<DnsZone> {
  const zone = zoneOf(domainRecords(input));
  edit(zone);
  return zone;
}

/** Checks `input` against a dnsmasq serving `zone`; results by "name TYPE". */
async function check(
  zone: DnsZone,
  input: DomainDnsInput = INPUT,
  options: Parameters<typeof checkDomain>[2] = {},
): Promise<{ results: CheckResult[]; by: (name: string, type: string) => CheckResult }> {
  const dns = await startDns(zone);
  try {
    const results = await checkDomain(input, new Resolver({ nameserver: dns.nameserver, timeoutMs: 2000 }), options);
    const by = (name: string, type: string) => {
      const found = results.filter((r) => r.record.name === name && r.record.type === type);
      assert.equal(found.length, 1, `one result for ${name} ${type}\n${formatCheck(results)}`);
      return found[0]!;
    };
    return { results, by };
  } finally {
    await dns.stop();
  }
}

/**
 * Every result is ok except the ones named, which have the given status and a message matching. `type` may be
 * `TYPE value` to pick one of several records of a name and type.
 */
function expect(results: CheckResult[], exceptions: [name: string, type: string, status: string, message: RegExp][]) {
  const report = formatCheck(results);
  const is = (r: CheckResult, name: string, type: string) =>
    r.record.name === name && (r.record.type === type || `${r.record.type} ${r.record.value}` === type);
  for (const r of results) {
    const e = exceptions.find(([name, type]) => is(r, name, type));
    assert.equal(r.status, e?.[2] ?? "ok", `${r.record.name} ${r.record.type}\n${report}`);
    if (e) assert.match(r.message, e[3], report);
  }
  for (const [name, type] of exceptions) {
    assert.ok(results.some((r) => is(r, name, type)), `${name} ${type}\n${report}`);
  }
}

Deno.test("checkDomain() finds nothing wrong when DNS serves exactly domainRecords()", async () => {
  const { results } = await check(zoneFor(INPUT));
  expect(results, []);
  assert.equal(results.length, domainRecords(INPUT).length);
  assert.ok(allOk(results));
  const text = formatCheck(results);
  assert.match(text, /^OK +example\.org +MX +mail goes to mail\.example\.org$/m);
  assert.match(text, /^OK +10\.2\.0\.192\.in-addr\.arpa +PTR +192\.0\.2\.10 ↔ mail\.example\.org$/m);
  assert.equal(text.trimEnd().split("\n").length, results.length);
});

Deno.test("checkDomain() compares meaning, not text: other SPF forms, key whitespace, A instead of CNAME", async () => {
  const zone = zoneFor(INPUT, (z) => {
    z.txt = z.txt.map(([name, text]) => {
      if (name === "example.org") return [name, "v=spf1 ip4:192.0.2.0/24 a:mail.example.org ~all"];
      if (name.startsWith("r2024.")) return [name, text.replace(/(p=.{40})/, "$1 \t").replace("v=DKIM1; ", "")];
      return [name, text];
    });
    z.cname = z.cname.filter(([name]) => name !== "autoconfig.example.org");
    z.a.push(["autoconfig.example.org", "192.0.2.10"]);
  });
  const { results, by } = await check(zone);
  expect(results, []);
  assert.match(by("autoconfig.example.org", "CNAME").message, /reaches this server \(192\.0\.2\.10\)/);
});

Deno.test("checkDomain() reports a missing DKIM key and a different key with the record to publish", async () => {
  const other = rsaKey();
  const zone = zoneFor(INPUT, (z) => {
    z.txt = z.txt.filter(([name]) => !name.startsWith("e2024."));
    z.txt = z.txt.map(([name, text]) =>
      name.startsWith("r2024.") ? [name, `v=DKIM1; k=rsa; p=${other}`] : [name, text]
    );
  });
  const { results, by } = await check(zone);
  expect(results, [
    ["e2024._domainkey.example.org", "TXT", "missing", /^no DKIM key "e2024".*: add TXT "v=DKIM1; k=ed25519; p=/],
    ["r2024._domainkey.example.org", "TXT", "wrong", /a different public key is published/],
  ]);
  const wrongKey = by("r2024._domainkey.example.org", "TXT");
  assert.ok(wrongKey.message.endsWith(`TXT "v=DKIM1; k=rsa; p=${DKIM[0]!.publicKey}" at r2024._domainkey.example.org`));
  assert.deepEqual(wrongKey.found, [`v=DKIM1; k=rsa; p=${other}`]);
  assert.equal(allOk(results), false);
});

Deno.test("checkDomain() wants exactly one SPF record that refuses other hosts and authorizes the server", async () => {
  const spf = async (...texts: string[]) => {
    const zone = zoneFor(INPUT, (z) => {
      z.txt = [
        ...z.txt.filter(([name]) => name !== "example.org"),
        ...texts.map((t) => ["example.org", t] as [string, string]),
      ];
    });
    return (await check(zone)).by("example.org", "TXT");
  };
  const two = await spf("v=spf1 mx -all", "v=spf1 ip4:192.0.2.10 -all");
  assert.equal(two.status, "wrong");
  assert.match(two.message, /^2 SPF records: .*merge them into one, e\.g\. "v=spf1 mx -all"$/);
  const plusAll = await spf("v=spf1 mx +all");
  assert.equal(plusAll.status, "wrong");
  assert.match(plusAll.message, /"\+all" lets any host on the internet send as example\.org/);
  const elsewhere = await spf("v=spf1 ip4:198.51.100.1 -all");
  assert.equal(elsewhere.status, "wrong");
  assert.match(
    elsewhere.message,
    /does not authorize 192\.0\.2\.10, 2001:db8::10 \(mail\.example\.org\): add "mx" \(or "ip4:192\.0\.2\.10 ip6:2001:db8::10"\)/,
  );
  const include = await spf("v=spf1 include:_spf.provider.example -all");
  assert.equal(include.status, "warning");
  assert.match(include.message, /cannot verify "include:_spf\.provider\.example"/);
  const none = await spf();
  assert.equal(none.status, "missing");
  assert.equal(none.message, 'no SPF record: add TXT "v=spf1 mx -all" at example.org');
});

Deno.test("checkDomain() reports a missing MX and warns of other MX hosts", async () => {
  const { results } = await check(zoneFor(INPUT, (z) => z.mx = []));
  // The SPF "mx" mechanism no longer covers the server either.
  expect(results, [
    ["example.org", "MX", "missing", /add MX 10 mail\.example\.org at example\.org$/],
    ["example.org", "TXT", "wrong", /does not authorize/],
  ]);
  const { by } = await check(zoneFor(INPUT, (z) => z.mx.push(["example.org", "backup.example.net", 5])));
  const mx = by("example.org", "MX");
  assert.equal(mx.status, "warning");
  assert.match(mx.message, /^backup\.example\.net also receives mail for example\.org, so mail may go there/);
});

Deno.test("checkDomain() wants reverse DNS to give the host name and the host name to give the address", async () => {
  const zone = zoneFor(INPUT, (z) => z.ptr = z.ptr.map(([name]) => [name, "vps-1234.hosting.example"]));
  const { results } = await check(zone);
  const fix = (ip: string) =>
    new RegExp(`ask your hosting provider to set reverse DNS of ${ip} to mail\\.example\\.org$`);
  expect(results, [
    ["10.2.0.192.in-addr.arpa", "PTR", "wrong", fix("192\\.0\\.2\\.10")],
    ["0.1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa", "PTR", "wrong", fix("2001:db8::10")],
  ]);
  // Forward-confirmed: 192.0.2.11 reverses to the host name, but the host name has only 192.0.2.10.
  const two = { ...INPUT, addresses: ["192.0.2.10", "192.0.2.11"] };
  const fcrdns = await check(zoneFor(INPUT, (z) => z.ptr.push(["11.2.0.192.in-addr.arpa", "mail.example.org"])), two);
  expect(fcrdns.results, [
    ["example.org", "TXT", "wrong", /does not authorize 192\.0\.2\.11 \(mail\.example\.org\): add "ip4:192\.0\.2\.11"/],
    ["mail.example.org", "TXT", "wrong", /"v=spf1 a -all": it does not authorize 192\.0\.2\.11/],
    ["mail.example.org", "A 192.0.2.11", "wrong", /resolves to 192\.0\.2\.10, not 192\.0\.2\.11/],
    ["11.2.0.192.in-addr.arpa", "PTR", "wrong", /does not resolve back to 192\.0\.2\.11: add A 192\.0\.2\.11 at mail/],
  ]);
});

Deno.test("checkDomain() warns of DMARC p=none, of an MTA-STS id that is not ours, and of extra addresses", async () => {
  const zone = zoneFor(INPUT, (z) => {
    z.txt = z.txt.map((
      [name, text],
    ) => [name, text.replace("p=quarantine", "p=none").replace("id=20240101", "id=old1")]);
    z.a.push(["mail.example.org", "198.51.100.7"]);
  });
  const { results } = await check(zone);
  expect(results, [
    ["_dmarc.example.org", "TXT", "warning", /^p=none only monitors: forged mail from your domain is still delivered/],
    ["_mta-sts.example.org", "TXT", "warning", /^id=old1 is not ours \(20240101\).*set TXT "v=STSv1; id=20240101"/],
    ["mail.example.org", "A", "warning", /also resolves to 198\.51\.100\.7, which is not this server/],
  ]);
  assert.ok(allOk(results));
});

Deno.test("checkDomain() without configured addresses checks the ones the host name has", async () => {
  const { results, by } = await check(zoneFor(INPUT), { ...INPUT, addresses: [] });
  expect(results, []);
  assert.match(by("mail.example.org", "A").message, /192\.0\.2\.10 \(from DNS: configure/);
  assert.equal(by("10.2.0.192.in-addr.arpa", "PTR").status, "ok");
  const nothing = await check({ mx: [["example.org", "mail.example.org", 10]] }, { ...INPUT, addresses: [] });
  assert.equal(nothing.by("mail.example.org", "A").status, "missing");
  assert.match(
    nothing.by("<reversed server IPv4 address>.in-addr.arpa", "PTR").message,
    /address is unknown: add the A record of mail\.example\.org, then ask your hosting provider/,
  );
});

Deno.test("checkDomain() marks every record as error when the nameserver does not answer", async () => {
  const silent = createSocket("udp4");
  await new Promise<void>((resolve) => silent.bind(0, "127.0.0.1", resolve));
  try {
    const resolver = new Resolver({ nameserver: `127.0.0.1:${silent.address().port}`, timeoutMs: 300 });
    const results = await checkDomain(INPUT, resolver);
    assert.equal(results.length, domainRecords(INPUT).length);
    for (const r of results) {
      assert.equal(r.status, "error", formatCheck(results));
      assert.match(r.message, /^could not look it up \(DNS .* no answer within 300 ms\); try again later$/);
    }
    assert.equal(allOk(results), false);
    assert.match(formatCheck(results), /^ERROR +example\.org +MX /m);
    // Without configured addresses the placeholders cannot be judged either.
    const unconfigured = await checkDomain({ ...INPUT, addresses: [] }, resolver);
    assert.deepEqual(new Set(unconfigured.map((r) => r.status)), new Set(["error"]));
  } finally {
    silent.close();
  }
});

/** Port 443 is fixed in mailauth's policy fetch (RFC 8461 §3.3); the test needs it on 127.0.0.1. */
function port443Free(): boolean {
  try {
    Deno.listen({ hostname: "127.0.0.1", port: 443 }).close();
    return true;
  } catch {
    return false;
  }
}

Deno.test({
  name: "checkDomain() fetches the MTA-STS policy over HTTPS and checks its mode and mx (needs 127.0.0.1:443)",
  ignore: !port443Free(),
  async fn() {
    const input: DomainDnsInput = { ...INPUT, addresses: ["127.0.0.1"] };
    const { cert, key } = await generateSelfSigned("mta-sts.example.org");
    let policy = mtaStsPolicy(input);
    const server = Deno.serve(
      { hostname: "127.0.0.1", port: 443, cert, key, onListen() {} },
      (req) =>
        new URL(req.url).pathname === "/.well-known/mta-sts.txt"
          ? new Response(policy, { headers: { "content-type": "text/plain" } })
          : new Response("not found", { status: 404 }),
    );
    const dns = await startDns(zoneFor(input));
    try {
      const sts = async (ca?: string[]) => {
        const resolver = new Resolver({ nameserver: dns.nameserver, timeoutMs: 2000 });
        const results = await checkDomain(
          input,
          resolver,
          ca ? { fetchMtaStsPolicy: true, ca } : { fetchMtaStsPolicy: true },
        );
        return results.find((r) => r.record.name === "_mta-sts.example.org")!;
      };
      const untrusted = await sts();
      assert.equal(untrusted.status, "wrong");
      assert.match(
        untrusted.message,
        /^the policy at https:\/\/mta-sts\.example\.org\/\.well-known\/mta-sts\.txt cannot be used: self-signed certificate/,
      );
      assert.match(
        untrusted.message,
        /serve this over HTTPS with a certificate for mta-sts\.example\.org: "version: STSv1\\r\\n/,
      );

      const trusted = await sts([cert]);
      assert.equal(trusted.status, "ok", trusted.message);
      assert.equal(trusted.message, "id=20240101; policy served: mode enforce, mx mail.example.org");
      assert.deepEqual(trusted.found, [
        "v=STSv1; id=20240101",
        "policy: mode enforce, mx mail.example.org, max_age 604800",
      ]);
      // The extra CA was trusted for that check only.
      assert.equal((await sts()).status, "wrong");

      policy = policy.replace("mx: mail.example.org", "mx: *.other.example");
      const otherMx = await sts([cert]);
      assert.equal(otherMx.status, "wrong");
      assert.match(otherMx.message, /does not list mail\.example\.org \(mx \*\.other\.example\), so senders refuse/);

      policy = mtaStsPolicy({ ...input, mtaStsMode: "testing" });
      const testing = await sts([cert]);
      assert.equal(testing.status, "wrong");
      assert.match(testing.message, /has mode testing, not enforce/);
    } finally {
      await dns.stop();
      await server.shutdown();
    }
  },
});
