import assert from "node:assert/strict";
import { createSocket } from "node:dgram";
import { startDns } from "../tests/dns_server.ts";
import { DnsTemporaryError, parseNameserver, Resolver } from "./resolver.ts";

Deno.test("resolver: answers from the configured server; missing names are null, not errors", async () => {
  const long = "v=DKIM1; k=rsa; p=" + "A".repeat(400);
  const dns = await startDns({
    mx: [["a.test", "mx1.a.test", 10], ["a.test", "mx2.a.test", 20]],
    a: [["mx1.a.test", "127.0.0.2"]],
    txt: [["a.test", "v=spf1 ip4:127.0.0.2 -all"], ["s1._domainkey.a.test", long]],
  });
  try {
    const r = new Resolver({ nameserver: dns.nameserver, cacheMs: 0 });
    const mx = await r.lookup("a.test", "MX");
    assert.deepEqual(mx?.sort((x, y) => x.priority - y.priority), [
      { exchange: "mx1.a.test", priority: 10 },
      { exchange: "mx2.a.test", priority: 20 },
    ]);
    assert.deepEqual(await r.lookup("mx1.a.test", "A"), ["127.0.0.2"]);
    assert.deepEqual(await r.txt("a.test"), ["v=spf1 ip4:127.0.0.2 -all"]);
    assert.deepEqual(await r.txt("s1._domainkey.a.test"), [long]);
    assert.deepEqual(await r.lookup("nothing.test", "MX"), null);
    assert.deepEqual(await r.lookup("mx1.a.test", "MX"), null);
    const err = await r.forMailauth()("nothing.test", "TXT").catch((e) => e);
    assert.deepEqual(err.code, "ENOTFOUND");
  } finally {
    await dns.stop();
  }
});

Deno.test("resolver: a server that does not answer is a temporary failure", async () => {
  // A UDP socket that reads queries and never answers.
  const silent = createSocket("udp4");
  await new Promise<void>((resolve) => silent.bind(0, "127.0.0.1", resolve));
  try {
    const r = new Resolver({ nameserver: `127.0.0.1:${silent.address().port}`, timeoutMs: 300 });
    await assert.rejects(() => r.lookup("a.test", "MX"), DnsTemporaryError);
  } finally {
    silent.close();
  }
});

Deno.test("resolver: nameserver setting forms", () => {
  assert.deepEqual(parseNameserver(""), undefined);
  assert.deepEqual(parseNameserver("127.0.0.1"), { ipAddr: "127.0.0.1", port: 53 });
  assert.deepEqual(parseNameserver("127.0.0.1:5353"), { ipAddr: "127.0.0.1", port: 5353 });
  assert.deepEqual(parseNameserver("[::1]:5353"), { ipAddr: "::1", port: 5353 });
  assert.deepEqual(parseNameserver("::1"), { ipAddr: "::1", port: 53 });
});
