/**
 * The Authentication-Results stripper (RFC 8601 §5): every field claiming our authserv-id goes, however it is
 * written; fields of other servers and look-alike names stay. DKIM signing of both key types verifies with
 * mailauth against a real DNS server (dnsmasq).
 */
import assert from "node:assert/strict";
import { startDns } from "../tests/dns_server.ts";
import { Resolver } from "../dns/resolver.ts";
import type { DkimKey } from "../store/mod.ts";
import { authservIdOf, checkIncoming, signMessage, stripOurAuthResults } from "./mail_auth.ts";
import { Buffer } from "node:buffer";
import { generateKeyPairSync } from "node:crypto";
import { authenticate } from "mailauth";

const enc = new TextEncoder();
const dec = new TextDecoder();

Deno.test("authservIdOf reads the id after comments, folding, quotes and a version", () => {
  assert.equal(authservIdOf("Authentication-Results: mx.a.test; spf=pass"), "mx.a.test");
  assert.equal(authservIdOf("Authentication-Results: MX.A.TEST 1; dmarc=pass"), "mx.a.test");
  assert.equal(authservIdOf("Authentication-Results: (hi (nested)) mx.a.test; x"), "mx.a.test");
  assert.equal(authservIdOf('Authentication-Results: "mx.a.test"; x'), "mx.a.test");
  assert.equal(authservIdOf("Authentication-Results :\r\n\t mx.a.test (c);"), "mx.a.test");
  assert.equal(authservIdOf("Authentication-Results:" + " ".repeat(400) + "mx.a.test;"), "mx.a.test");
  assert.equal(authservIdOf("Authentication-Results-Original: mx.a.test;"), undefined);
  assert.equal(authservIdOf("X-Authentication-Results: mx.a.test;"), undefined);
});

Deno.test("stripOurAuthResults removes ours, keeps others, never touches the body", () => {
  const message = [
    "Authentication-Results: mx.a.test; dkim=pass",
    "Received: from x",
    'authentication-results: (forged)\r\n  "MX.a.test" 1;\r\n\tdmarc=pass',
    "Authentication-Results: mx.other.test; spf=fail",
    "Authentication-Results: mx.a.test.evil; spf=pass",
    "Subject: hi",
    "",
    "Authentication-Results: mx.a.test; in the body stays",
    "",
  ].join("\r\n");
  const out = dec.decode(stripOurAuthResults(enc.encode(message), "mx.a.test"));
  assert.equal(
    out,
    [
      "Received: from x",
      "Authentication-Results: mx.other.test; spf=fail",
      "Authentication-Results: mx.a.test.evil; spf=pass",
      "Subject: hi",
      "",
      "Authentication-Results: mx.a.test; in the body stays",
      "",
    ].join("\r\n"),
  );
  const clean = enc.encode("Subject: x\r\n\r\nbody\r\n");
  assert.equal(stripOurAuthResults(clean, "mx.a.test"), clean, "no copy when nothing is removed");
});

Deno.test("signMessage: RSA and Ed25519 signatures verify through DNS", async () => {
  const keys: DkimKey[] = (["rsa", "ed25519"] as const).map((algorithm, i) => {
    const pair = algorithm === "rsa"
      ? generateKeyPairSync("rsa", { modulusLength: 2048 })
      : generateKeyPairSync("ed25519");
    const spki = pair.publicKey.export({ type: "spki", format: "der" });
    const raw = algorithm === "rsa" ? spki : spki.subarray(spki.length - 32);
    return {
      id: i,
      domain: "a.test",
      selector: algorithm === "rsa" ? "s1" : "e1",
      algorithm,
      privateKey: pair.privateKey.export({ type: "pkcs8", format: "pem" }) as string,
      publicKey: raw.toString("base64"),
      createdAt: new Date(),
      signFrom: new Date(),
      signUntil: null,
      retireAt: null,
    };
  });
  const dns = await startDns({
    txt: [
      ["s1._domainkey.a.test", `v=DKIM1; k=rsa; p=${keys[0]!.publicKey}`],
      ["e1._domainkey.a.test", `v=DKIM1; k=ed25519; p=${keys[1]!.publicKey}`],
      ["a.test", "v=spf1 ip4:127.0.0.2 -all"],
      ["_dmarc.a.test", "v=DMARC1; p=reject"],
    ],
  });
  try {
    const { signed, errors } = await signMessage(
      enc.encode("From: alice@a.test\r\nTo: bob@b.test\r\nSubject: signed\r\n\r\nHello\r\n"),
      keys,
    );
    assert.deepEqual(errors, []);
    const resolver = new Resolver({ nameserver: dns.nameserver, cacheMs: 0 });
    const env = { ip: "127.0.0.9", helo: "elsewhere.test", mailFrom: "alice@a.test", hostname: "mx.b.test" };
    const v = await checkIncoming(signed, env, resolver);
    assert.equal(v.dkim, "pass");
    assert.equal(v.spf, "fail", "127.0.0.9 is not a.test's");
    assert.equal(v.dmarc, "pass", "the aligned DKIM signature carries DMARC");
    assert.equal(v.action, "accept");
    assert.match(v.headers, /header\.s=s1 header\.a=rsa-sha256/);
    assert.match(v.headers, /header\.s=e1 header\.a=ed25519-sha256/);
    // Unsigned, from the wrong IP: DMARC fails and p=reject asks to refuse (or quarantine, when configured).
    const forged = enc.encode("From: alice@a.test\r\nSubject: forged\r\n\r\nHello\r\n");
    assert.equal((await checkIncoming(forged, env, resolver)).action, "reject");
    assert.equal((await checkIncoming(forged, env, resolver, "quarantine")).action, "quarantine");
  } finally {
    await dns.stop();
  }
});

Deno.test("checkIncoming verifies an ARC chain sealed by a forwarder", async () => {
  const pair = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const publicKey = pair.publicKey.export({ type: "spki", format: "der" }).toString("base64");
  const dns = await startDns({
    txt: [
      ["arc._domainkey.fwd.test", `v=DKIM1; k=rsa; p=${publicKey}`],
      ["fwd.test", "v=spf1 ip4:127.0.0.5 -all"],
    ],
  });
  try {
    const resolver = new Resolver({ nameserver: dns.nameserver, cacheMs: 0 });
    const original = "From: someone@fwd.test\r\nTo: list@fwd.test\r\nSubject: via a list\r\n\r\nHello\r\n";
    // The forwarder (a mailing list) checks the message and seals its results: ARC-Seal, ARC-Message-Signature,
    // ARC-Authentication-Results (i=1).
    const sealed = await authenticate(Buffer.from(original), {
      ip: "127.0.0.5",
      helo: "mx.fwd.test",
      sender: "someone@fwd.test",
      mta: "mx.fwd.test",
      resolver: resolver.forMailauth() as never,
      seal: {
        signingDomain: "fwd.test",
        selector: "arc",
        privateKey: pair.privateKey.export({ type: "pkcs8", format: "pem" }) as string,
      },
    });
    assert.match(sealed.headers, /ARC-Seal: i=1;/);
    const forwarded = enc.encode(sealed.headers + original);
    const v = await checkIncoming(
      forwarded,
      { ip: "127.0.0.6", helo: "list.fwd.test", mailFrom: "bounces@fwd.test", hostname: "mx.b.test" },
      resolver,
    );
    assert.equal(v.arc, "pass");
    assert.match(v.headers, /arc=pass/);
    // A body changed after sealing breaks the chain.
    const tampered = enc.encode(sealed.headers + original.replace("Hello", "Hello!"));
    const t = await checkIncoming(
      tampered,
      { ip: "127.0.0.6", helo: "list.fwd.test", mailFrom: "bounces@fwd.test", hostname: "mx.b.test" },
      resolver,
    );
    assert.equal(t.arc, "fail");
  } finally {
    await dns.stop();
  }
});
