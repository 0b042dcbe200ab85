/**
 * Two Silvermail instances for two domains, on their own loopback addresses, delivering to each other through a
 * real DNS server (dnsmasq) serving their MX, SPF, DKIM and DMARC records — the mail path of the internet on one
 * machine. Mail is submitted with nodemailer and read back with imapflow; odd senders speak through swaks.
 *
 * - alice@a.test → bob@b.test and back: Authentication-Results says spf=pass dkim=pass dmarc=pass; the delivery
 *   log says TLS was used.
 * - A forged From of a p=reject domain is refused at DATA; of a p=quarantine domain lands in Junk; a modified body
 *   fails DKIM.
 * - A remote that is down: retried, delivered when it comes back. A remote 550: one DSN in the sender's INBOX.
 *   A remote 4xx for good: a delay notice, then an expiry DSN (shortened schedule). A null-sender message that
 *   bounces is dropped.
 * - Instance a.test runs as two processes on one Postgres: every message leaves once.
 */
import assert from "node:assert/strict";
import { createTestDatabase, postgresUnavailableReason } from "./harness.ts";
import { type DnsZone, startDns } from "./dns_server.ts";
import {
  certificate,
  cli,
  commonFreePort,
  deferringServer,
  dkimRecords,
  header,
  type Instance,
  IP,
  PASSWORD,
  send,
  startInstance,
  swaks,
  waitForCli,
  waitForMail,
} from "./mail_world.ts";
import { runCli, startServerProcess } from "./server_process.ts";
import { Store } from "../store/mod.ts";

/** Submits with Python's smtplib and the REQUIRETLS MAIL parameter (RFC 8689). */
async function python(inst: Instance, user: string, to: string, subject: string): Promise<void> {
  const script = `
import smtplib, ssl, sys
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
s = smtplib.SMTP(sys.argv[1], int(sys.argv[2])); s.starttls(context=ctx); s.login(sys.argv[3], sys.argv[4])
msg = "From: %s\\r\\nTo: %s\\r\\nSubject: %s\\r\\n\\r\\nsecret\\r\\n" % (sys.argv[3], sys.argv[5], sys.argv[6])
s.sendmail(sys.argv[3], [sys.argv[5]], msg, mail_options=["REQUIRETLS"]); s.quit()
`;
  const out = await new Deno.Command("python3", {
    args: ["-c", script, inst.ip, String(inst.submission), user, PASSWORD, to, subject],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
}

const pgReason = postgresUnavailableReason();

Deno.test({
  name: "outbound: two instances, real DNS, delivery, authentication, retries and DSNs",
  ignore: !!pgReason && Deno.env.get("CI") !== "true",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    if (pgReason) throw new Error(`CI=true but Postgres is unavailable: ${pgReason}`);
    const port = commonFreePort();
    const base: DnsZone = {
      a: [["mx.a.test", IP.a], ["mx.b.test", IP.b], ["mx.c.test", IP.c], ["mx.d.test", IP.d]],
      mx: [["a.test", "mx.a.test", 10], ["b.test", "mx.b.test", 10], ["c.test", "mx.c.test", 10], [
        "d.test",
        "mx.d.test",
        10,
      ], ["nomail.test", ".", 0]],
      txt: [
        ["a.test", `v=spf1 ip4:${IP.a} -all`],
        ["b.test", `v=spf1 ip4:${IP.b} -all`],
        ["c.test", `v=spf1 ip4:${IP.c} -all`],
        ["_dmarc.a.test", "v=DMARC1; p=reject"],
        ["_dmarc.b.test", "v=DMARC1; p=quarantine"],
      ],
    };
    const dns = await startDns(base);
    const db = await createTestDatabase();
    // b.test's certificate (for its MX and its MTA-STS policy host), trusted by a.test: the CA a real
    // certificate would chain to.
    const pki = await certificate(["mx.b.test", "mta-sts.b.test"]);
    const [a, b, e] = await Promise.all([
      startInstance("a.test", IP.a, port, dns, {
        SILVERMAIL_DATABASE_URL: db.url,
        SILVERMAIL_OUTBOUND_CA_FILE: pki.cert,
        NODE_EXTRA_CA_CERTS: pki.cert, // the MTA-STS policy fetch (node:https inside mailauth)
      }),
      startInstance("b.test", IP.b, port, dns, {
        SILVERMAIL_TLS_MODE: "files",
        SILVERMAIL_TLS_CERT_FILE: pki.cert,
        SILVERMAIL_TLS_KEY_FILE: pki.key,
      }),
      // e.test gives up quickly (the expiry test); the others keep the default five days.
      startInstance("e.test", IP.e, port, dns, {
        SILVERMAIL_OUTBOUND_MAX_AGE: "4s",
        SILVERMAIL_OUTBOUND_DELAY_WARNING: "1500ms",
      }),
    ]);
    const deferring = deferringServer(IP.d, port);
    try {
      for (
        const [inst, users] of [[a, ["alice", "carol", "dave", "frank"]], [b, ["bob"]], [e, ["erin"]]] as const
      ) {
        await cli(inst, ["domain", "add", inst.name]);
        for (const u of users) await cli(inst, ["user", "add", `${u}@${inst.name}`, "--password-stdin"], PASSWORD);
      }
      await cli(a, ["alias", "add", "fwd@a.test", "ghost@b.test"]);
      await cli(a, ["alias", "add", "tobob@a.test", "bob@b.test"]);
      await cli(a, ["alias", "add", "tonobody@a.test", "nobody@b.test"]);
      const zone: DnsZone = {
        ...base,
        txt: [
          ...base.txt!,
          ...dkimRecords(await cli(a, ["dns", "a.test"])),
          ...dkimRecords(await cli(b, ["dns", "b.test"])),
        ],
      };
      assert.equal(zone.txt!.length, base.txt!.length + 4, "an RSA and an Ed25519 key per domain");
      await dns.reload(zone);

      await t.step("alice@a.test → bob@b.test: signed, over TLS, spf/dkim/dmarc pass", async () => {
        await send(a, "alice@a.test", { to: "bob@b.test", subject: "hello bob" });
        const [source] = await waitForMail(b, "bob@b.test", /Subject: hello bob/);
        const ar = header(source!, "Authentication-Results");
        assert.match(ar, /^Authentication-Results: mx\.b\.test;/m);
        assert.match(ar, /spf=pass/);
        assert.match(ar, /dkim=pass header\.i=@a\.test header\.s=s\d{4}a header\.a=rsa-sha256/);
        assert.match(ar, /dkim=pass header\.i=@a\.test header\.s=e\d{4}a header\.a=ed25519-sha256/);
        assert.match(ar, /dmarc=pass/);
        assert.equal(header(source!, "DKIM-Signature").split("\n").length, 2);
        const log = await cli(a, ["queue", "log", "bob@b.test"]);
        assert.match(log, /delivered\s+bob@b\.test\s+mx\.b\.test \[127\.0\.0\.3\]\s+TLSv1\.[23]/, log);
      });

      await t.step("bob@b.test → alice@a.test: and back", async () => {
        await send(b, "bob@b.test", { to: "alice@a.test", subject: "hello alice" });
        const [source] = await waitForMail(a, "alice@a.test", /Subject: hello alice/);
        const ar = header(source!, "Authentication-Results");
        assert.match(ar, /^Authentication-Results: mx\.a\.test;/m);
        assert.match(ar, /spf=pass/);
        assert.match(ar, /dkim=pass/);
        assert.match(ar, /dmarc=pass/);
      });

      await t.step("DKIM key rotation: every message verifies before, during and after", async () => {
        // The grace period counts from the moment the CLI rotates, somewhere between starting it and its return.
        // It must outlast what comes before the first message (two CLI runs, a process start each: seconds on a
        // busy machine), or that message is signed with the new keys; the waits count from the CLI's return.
        const GRACE_MS = 8000;
        const out = await cli(a, ["domain", "dkim", "rotate", "a.test", "--grace", `${GRACE_MS / 1000}s`]);
        const rotated = Date.now();
        assert.match(out, /New keys s\d{4}b, e\d{4}b/, out);
        // The operator publishes what `dns` prints now: four keys.
        const during = dkimRecords(await cli(a, ["dns", "a.test"]));
        assert.equal(during.length, 4);
        const others = zone.txt!.filter(([n]) => !n.endsWith("._domainkey.a.test"));
        await dns.reload({ ...zone, txt: [...others, ...during] });
        await send(a, "alice@a.test", { to: "bob@b.test", subject: "rotation old key" });
        const [early] = await waitForMail(b, "bob@b.test", /Subject: rotation old key/);
        assert.match(header(early!, "Authentication-Results"), /dkim=pass header\.i=@a\.test header\.s=s\d{4}a /);
        await new Promise((r) => setTimeout(r, Math.max(0, rotated + GRACE_MS + 200 - Date.now())));
        await send(a, "alice@a.test", { to: "bob@b.test", subject: "rotation new key" });
        const [late] = await waitForMail(b, "bob@b.test", /Subject: rotation new key/);
        const ar = header(late!, "Authentication-Results");
        assert.match(ar, /dkim=pass header\.i=@a\.test header\.s=s\d{4}b /);
        assert.match(ar, /dkim=pass header\.i=@a\.test header\.s=e\d{4}b /);
        assert.match(ar, /dmarc=pass/);
        // After the second grace period the old keys are retired: `dns` prints only the new ones.
        await new Promise((r) => setTimeout(r, Math.max(0, rotated + 2 * GRACE_MS + 200 - Date.now())));
        const after = dkimRecords(await cli(a, ["dns", "a.test"]));
        assert.deepEqual(after.map(([n]) => n.split(".")[0]!.replace(/\d{4}/, "")).sort(), ["eb", "sb"]);
        assert.match(await cli(a, ["domain", "dkim", "list", "a.test"]), /s\d{4}a\s+rsa\s+\S+\s+retired/);
        zone.txt = [...others, ...after];
        await dns.reload(zone);
      });

      await t.step("dns check: says what is right and what is wrong", async () => {
        const r = await runCli(b.env, ["dns", "check", "b.test", "--no-policy-fetch"]);
        assert.equal(r.code, 1, "records are missing (the test zone has no SRV, TLS-RPT, …)");
        assert.match(r.stdout, /^OK\s+b\.test\s+MX/m);
        assert.match(r.stdout, /^OK\s+s\d{4}a\._domainkey\.b\.test\s+TXT/m);
        assert.match(r.stdout, /^MISSING\s+_smtp\._tls\.b\.test\s+TXT/m);
      });

      await t.step("queue retry and delete", async () => {
        // Mail for c.test (down again) waits in the queue; retry makes it due now; delete removes it silently.
        await send(a, "carol@a.test", { to: "queued@c.test", subject: "to delete" });
        const list = await waitForCli(a, ["queue", "list"], /queued@c\.test/);
        const id = /^(\d+)\s.*queued@c\.test/m.exec(list)?.[1];
        assert.ok(id, list);
        // A delivery attempt in flight holds the entry (its lease) until it fails: retry skips it until then.
        assert.match(await waitForCli(a, ["queue", "retry", id], /1 queue entry/), /1 queue entry will be tried now/);
        assert.match(await cli(a, ["queue", "delete", id]), /Deleted 1 queue entry/);
        assert.doesNotMatch(await cli(a, ["queue", "list"]), /queued@c\.test/);
      });

      await t.step("forged From of a p=reject domain is refused at DATA; a forged AR is removed", async () => {
        const r = await swaks([
          "--server",
          `${IP.b}:${port}`,
          "--from",
          "someone@c.test",
          "--to",
          "bob@b.test",
          "--h-From",
          "alice@a.test",
          "--header",
          "Subject: forged",
        ]);
        assert.match(r.out, /<\*\* 550 5\.7\.1 .*DMARC/, r.out);
      });

      await t.step("forged From of a p=quarantine domain goes to Junk; our AR header cannot be faked", async () => {
        const r = await swaks([
          "--server",
          `${IP.a}:${port}`,
          "--from",
          "someone@c.test",
          "--to",
          "alice@a.test",
          "--h-From",
          "bob@b.test",
          "--header",
          "Subject: forged quarantine",
          "--add-header",
          "Authentication-Results: mx.a.test; spf=pass; dkim=pass; dmarc=pass",
        ]);
        assert.match(r.out, /<- {2}250 /, r.out);
        const [source] = await waitForMail(a, "alice@a.test", /Subject: forged quarantine/, { mailbox: "Junk" });
        const ar = header(source!, "Authentication-Results");
        assert.equal(ar.split("\n").length, 1, ar);
        assert.match(ar, /dmarc=fail/);
      });

      await t.step("a modified body fails DKIM", async () => {
        const [signed] = await waitForMail(b, "bob@b.test", /Subject: hello bob/);
        // What a.test sent, as it left (without b.test's trace and results), with one word changed.
        const sent = signed!.replace(
          /^(Return-Path|Authentication-Results|Received-SPF|Received):.*\r\n([ \t].*\r\n)*/gm,
          "",
        )
          .replace(/\r\n\r\nHi/, "\r\n\r\nHi there");
        const file = await Deno.makeTempFile();
        await Deno.writeTextFile(file, sent);
        const r = await swaks([
          "--server",
          `${IP.b}:${port}`,
          "--local-interface",
          IP.a,
          "--from",
          "alice@a.test",
          "--to",
          "bob@b.test",
          "--data",
          `@${file}`,
        ]);
        assert.match(r.out, /<- {2}250 /, r.out);
        const found = await waitForMail(b, "bob@b.test", /Hi there/);
        const ar = header(found[0]!, "Authentication-Results");
        // RFC 6376 §6.1.3: the body hash does not verify (mailauth's lax mode words it "neutral", strict "fail").
        assert.match(ar, /dkim=(fail|neutral) \(body hash did not verify\)/);
        assert.doesNotMatch(ar, /dkim=pass/);
        assert.match(ar, /spf=pass/, "SPF still passes: it came from a.test's address");
      });

      await t.step("remote down: retried, delivered when it comes back", async () => {
        await send(a, "carol@a.test", { to: "someone@c.test", subject: "retry me" });
        // Nothing listens on mx.c.test yet: wait for a failed attempt, then start Postfix's smtp-sink there.
        await waitForCli(a, ["queue", "log"], /deferred\s+someone@c\.test/, 80);
        const sink = new Deno.Command("smtp-sink", {
          args: ["-u", "nobody", `${IP.c}:${port}`, "10"],
          stdout: "null",
          stderr: "null",
        }).spawn();
        try {
          const log = await waitForCli(a, ["queue", "log", "someone@c.test"], /delivered\s+someone@c\.test/);
          assert.match(log, /delivered\s+someone@c\.test/, log);
          assert.match(log, /deferred\s+someone@c\.test/, log);
        } finally {
          sink.kill();
          await sink.status;
        }
      });

      await t.step("remote 550: one DSN in the sender's INBOX with the reason", async () => {
        await send(a, "dave@a.test", { to: "nobody@b.test", subject: "to nobody" });
        const [dsn] = await waitForMail(a, "dave@a.test", /Undelivered Mail Returned to Sender/);
        assert.match(dsn!, /multipart\/report; report-type=delivery-status/i);
        assert.match(dsn!, /Final-Recipient: rfc822; ?nobody@b\.test/);
        assert.match(dsn!, /Action: failed/);
        assert.match(dsn!, /Status: 5\.1\.1/);
        assert.match(dsn!, /Remote-MTA: dns; ?mx\.b\.test/);
        await new Promise((r) => setTimeout(r, 1500));
        const all = await waitForMail(a, "dave@a.test", /Undelivered Mail/);
        assert.equal(all.length, 1, "exactly one DSN");
      });

      await t.step("remote 4xx for good: a delay notice, then an expiry DSN", async () => {
        await send(e, "erin@e.test", { to: "someone@d.test", subject: "never arrives" });
        const [delay] = await waitForMail(e, "erin@e.test", /Delayed Mail/);
        assert.match(delay!, /Action: delayed/);
        const [expired] = await waitForMail(e, "erin@e.test", /Undelivered Mail Returned to Sender/, {
          timeoutMs: 30_000,
        });
        assert.match(expired!, /Action: failed/);
        assert.match(expired!, /451 4\.3\.2 Mailbox temporarily unavailable/);
        assert.doesNotMatch(await cli(e, ["queue", "list"]), /someone@d\.test/);
      });

      await t.step("an alias forwarding elsewhere rewrites the sender (SRS); a bounce finds its way back", async () => {
        // carol@c.test (sending from c.test's address) writes to an a.test alias that forwards to bob@b.test.
        const r = await swaks([
          "--server",
          `${IP.a}:${port}`,
          "--local-interface",
          IP.c,
          "--from",
          "carol@c.test",
          "--to",
          "tobob@a.test",
          "--h-From",
          "carol@c.test",
          "--header",
          "Subject: forwarded by an alias",
        ]);
        assert.match(r.out, /<- {2}250 /, r.out);
        const [source] = await waitForMail(b, "bob@b.test", /Subject: forwarded by an alias/);
        assert.match(source!, /^Return-Path: <SRS0=[a-z2-7]{6}=[a-z2-7]{2}=c\.test=carol@a\.test>/im);
        // SPF is checked for a.test, which sent it: pass (with the original sender it would fail).
        assert.match(header(source!, "Authentication-Results"), /spf=pass[^;]*smtp\.mailfrom="?srs0=\S*@a\.test/i);
        // A bounce goes to the SRS address; a.test's MX accepts it only because the hash verifies, and sends it on
        // to the original sender (c.test's MX is down now: it waits in the queue, with the null sender).
        const wall = await swaks([
          "--server",
          `${IP.a}:${port}`,
          "--local-interface",
          IP.c,
          "--from",
          "carol@c.test",
          "--to",
          "tonobody@a.test",
          "--h-From",
          "carol@c.test",
          "--header",
          "Subject: forwarded into a wall",
        ]);
        assert.match(wall.out, /<- {2}250 /, wall.out);
        const list = await waitForCli(a, ["queue", "list"], /<>\s+carol@c\.test/, 40);
        assert.match(list, /<>\s+carol@c\.test/, list + await cli(a, ["queue", "log"]));
        // A long original address makes an SRS local part over 64 octets: it still takes bounces, only bounces.
        const long = "notifications-noreply-automated-system@accounts.c.test";
        await swaks([
          "--server",
          `${IP.a}:${port}`,
          "--from",
          long,
          "--to",
          "tobob@a.test",
          "--header",
          "Subject: long",
        ]);
        const [longCopy] = await waitForMail(b, "bob@b.test", /Subject: long/);
        const srsAddress = /^Return-Path: <(srs0=[^>]+)>/im.exec(longCopy!)![1]!;
        assert.ok(srsAddress.split("@")[0]!.length > 64, srsAddress);
        const bounce = await swaks([
          "--server",
          `${IP.a}:${port}`,
          "--from",
          "<>",
          "--to",
          srsAddress,
          "--quit-after",
          "RCPT",
        ]);
        assert.match(bounce.out, /<- +250 /, bounce.out);
        const notBounce = await swaks([
          "--server",
          `${IP.a}:${port}`,
          "--from",
          "x@c.test",
          "--to",
          srsAddress,
          "--quit-after",
          "RCPT",
        ]);
        assert.match(notBounce.out, /<\*\* +550 5\.7\.1 SRS addresses accept only bounces/, notBounce.out);
        // A made-up SRS address is refused.
        for (const id of list.matchAll(/^(\d+)\s.*carol@c\.test/gm)) await cli(a, ["queue", "delete", id[1]!]);
        const forged = await swaks([
          "--server",
          `${IP.a}:${port}`,
          "--from",
          "<>",
          "--to",
          "SRS0=aaaaaa=aa=victim.test=someone@a.test",
          "--quit-after",
          "RCPT",
        ]);
        assert.match(forged.out, /<\*\* +550 5\.1\.1/, forged.out);
      });

      await t.step("a bounce of a null-sender message is dropped, never bounced", async () => {
        const r = await swaks([
          "--server",
          `${IP.a}:${port}`,
          "--from",
          "<>",
          "--to",
          "fwd@a.test",
          "--h-From",
          "MAILER-DAEMON@c.test",
          "--header",
          "Subject: a bounce",
        ]);
        assert.match(r.out, /<- {2}250 /, r.out);
        await waitForCli(a, ["queue", "log"], /bounced\s+ghost@b\.test/);
        assert.match(await cli(a, ["queue", "log", "ghost@b.test"]), /bounced\s+ghost@b\.test/);
        assert.match(await cli(a, ["queue", "list"]), /The queue is empty/);
      });

      await t.step("a null MX domain bounces at once", async () => {
        await send(a, "frank@a.test", { to: "x@nomail.test", subject: "to null mx" });
        const [dsn] = await waitForMail(a, "frank@a.test", /Undelivered Mail/);
        assert.match(dsn!, /Status: 5\.1\.10/);
      });

      await t.step({
        name: "MTA-STS enforce: verified TLS to listed MX only; REQUIRETLS honoured",
        ignore: Deno.uid() !== 0, // the policy host listens on port 443
        fn: async () => {
          let policy = "version: STSv1\r\nmode: enforce\r\nmx: mx.b.test\r\nmax_age: 86400\r\n";
          const https = Deno.serve(
            {
              hostname: IP.b,
              port: 443,
              cert: await Deno.readTextFile(pki.cert),
              key: await Deno.readTextFile(pki.key),
              onListen: () => {},
            },
            (req) =>
              new URL(req.url).pathname === "/.well-known/mta-sts.txt"
                ? new Response(policy, { headers: { "content-type": "text/plain" } })
                : new Response("not found", { status: 404 }),
          );
          const withPolicy = (id: string): DnsZone => ({
            ...zone,
            a: [...zone.a!, ["mta-sts.b.test", IP.b]],
            txt: [...zone.txt!, ["_mta-sts.b.test", `v=STSv1; id=${id}`]],
          });
          try {
            await dns.reload(withPolicy("1"));
            await send(a, "alice@a.test", { to: "bob@b.test", subject: "under mta-sts" });
            await waitForMail(b, "bob@b.test", /Subject: under mta-sts/);
            // The policy is kept in the database (a restart or a second instance still enforces it).
            const store = await Store.open({ location: { url: db.url } });
            try {
              const [row] = await store.db.query<{ policy: { mode: string; mx: string[] } }>(
                "SELECT policy FROM mta_sts_policies WHERE domain = 'b.test'",
              );
              assert.equal(row?.policy.mode, "enforce");
              assert.deepEqual(row?.policy.mx, ["mx.b.test"]);
            } finally {
              await store.close();
            }
            // REQUIRETLS (RFC 8689) with Python's smtplib: delivered, since b.test's MX is verified by MTA-STS …
            await python(a, "alice@a.test", "bob@b.test", "requiretls to b");
            await waitForMail(b, "bob@b.test", /Subject: requiretls to b/);
            // … but bounced to a domain whose MX cannot be verified.
            await python(a, "carol@a.test", "someone@c.test", "requiretls to c");
            const [dsn] = await waitForMail(a, "carol@a.test", /Status: 5\.7\.10/);
            assert.match(dsn!, /someone@c\.test/);
            // A policy that does not list the MX: the message waits (never goes over unverified paths).
            policy = policy.replace("mx: mx.b.test", "mx: other.b.test");
            await dns.reload(withPolicy("2"));
            await send(a, "alice@a.test", { to: "bob@b.test", subject: "mx not in policy" });
            const list = await waitForCli(a, ["queue", "list"], /bob@b\.test.*MTA-STS/);
            assert.match(list, /bob@b\.test.*matches its MTA-STS policy/, list);
            // The policy is fixed: the retry goes out.
            policy = policy.replace("mx: other.b.test", "mx: mx.b.test");
            await dns.reload(withPolicy("3"));
            await waitForMail(b, "bob@b.test", /Subject: mx not in policy/);
          } finally {
            await dns.reload(zone);
            await https.shutdown();
          }
        },
      });

      await t.step("two instances on one Postgres deliver every message once", async () => {
        const second = await startServerProcess({
          ...a.env,
          SILVERMAIL_SMTP_MX_PORT: "0",
          SILVERMAIL_DATA_DIR: await Deno.makeTempDir({ prefix: "silvermail-a2-" }),
        });
        a.procs.push(second);
        const n = 30;
        for (let i = 0; i < n; i += 10) {
          await Promise.all(
            Array.from(
              { length: 10 },
              (_, k) => send(a, "alice@a.test", { to: "bob@b.test", subject: `once ${i + k}` }),
            ),
          );
        }
        const got = await waitForMail(b, "bob@b.test", /Subject: once \d+/, { count: n, timeoutMs: 30_000 });
        await new Promise((r) => setTimeout(r, 1000));
        const again = await waitForMail(b, "bob@b.test", /Subject: once \d+/, { count: n });
        assert.equal(got.length, n);
        assert.equal(again.length, n, "no message arrived twice");
        const subjects = new Set(again.map((s) => /Subject: (once \d+)/.exec(s)![1]));
        assert.equal(subjects.size, n);
      });
    } finally {
      deferring.close();
      for (const inst of [a, b, e]) for (const p of inst.procs) await p.stop().catch(() => {});
      await dns.stop();
      await db.drop();
    }
  },
});
