/**
 * SMTP end to end: the real server on real sockets with real TLS, driven by real clients (swaks, Python smtplib,
 * nodemailer, openssl s_client) and by our transcript client, on both store drivers.
 */
import assert from "node:assert/strict";
import { decodeBody, parseMessage } from "../mail/parse.ts";
import { SmtpTestClient } from "./clients/smtp.ts";
import { storeTest, type TestStore } from "./harness.ts";
import { mailboxContents, PASSWORD, runClient, seedUsers, startTestSmtp, type TestSmtp } from "./smtp_harness.ts";

const ATTACHMENTS = new URL("./testdata/attachments/", import.meta.url).pathname;

async function withSmtp(ts: TestStore, fn: (s: TestSmtp, ids: { alice: number; bob: number }) => Promise<void>) {
  const ids = await seedUsers(ts);
  const s = await startTestSmtp(ts);
  try {
    await fn(s, ids);
  } finally {
    await s.close();
  }
}

function logged(s: TestSmtp, msg: string): boolean {
  return s.logs.some((l) => l.msg === msg);
}

async function totalMessages(ts: TestStore): Promise<number> {
  return (await ts.store.db.query<{ n: number }>("SELECT count(*)::int8 AS n FROM messages"))[0]!.n;
}

storeTest("smtp: swaks submits over 587 STARTTLS and 465 TLS with AUTH PLAIN/LOGIN and attachments", async (_t, ts) => {
  await withSmtp(ts, async (s, ids) => {
    const common = [
      "--server",
      "127.0.0.1",
      "--from",
      "alice@example.test",
      "--auth-user",
      "alice@example.test",
      "--auth-password",
      PASSWORD,
      "--h-From",
      "Alice <alice@example.test>",
    ];
    const r1 = await runClient("swaks", [
      ...common,
      "--port",
      String(s.submission),
      "--tls",
      "--auth",
      "PLAIN",
      "--to",
      "bob@example.test,info@example.test",
      "--h-Subject",
      "Report and photo",
      "--body",
      "See the attachments.",
      "--attach",
      `@${ATTACHMENTS}report.pdf`,
      "--attach",
      `@${ATTACHMENTS}photo.png`,
    ]);
    assert.equal(r1.code, 0, r1.out);
    assert.match(r1.out, /250 2\.0\.0 Message accepted/);
    const r2 = await runClient("swaks", [
      ...common,
      "--port",
      String(s.submissions),
      "--tlsc",
      "--auth",
      "LOGIN",
      "--to",
      "bob@example.test",
      "--h-Subject",
      "Over implicit TLS",
    ]);
    assert.equal(r2.code, 0, r2.out);
    const bob = await mailboxContents(ts, ids.bob);
    const alice = await mailboxContents(ts, ids.alice);
    assert.equal(bob.length, 2);
    assert.equal(alice.length, 1, "info@ is an alias of alice");
    assert.match(
      bob[0]!,
      /^Return-Path: <alice@example\.test>\r\nReceived: by mx\.example\.test \(Silvermail\) with ESMTPSA/,
    );
    assert.match(bob[0]!, /using TLSv1\.[23] with cipher/);
    assert.doesNotMatch(bob[0]!, /\[127\.0\.0\.1\]/, "submission Received header leaves out the client IP");
    // The attachments arrive byte-identical.
    const raw = new TextEncoder().encode(bob[0]!);
    const parsed = await parseMessage(raw);
    const parts = parsed.structure.root.parts ?? [];
    const pdf = parts.find((p) => p.filename === "report.pdf");
    const png = parts.find((p) => p.filename === "photo.png");
    assert.ok(
      pdf && png,
      `attachments not found in ${JSON.stringify(parts.map((p) => [p.type, p.subtype, p.filename]))}`,
    );
    assert.deepEqual(decodeBody(raw, pdf), await Deno.readFile(`${ATTACHMENTS}report.pdf`));
    assert.deepEqual(decodeBody(raw, png), await Deno.readFile(`${ATTACHMENTS}photo.png`));
    // One Sent copy per submission, marked \Seen, without Return-Path.
    const sentBox = (await ts.store.mailboxes.get(ids.alice, "Sent"))!;
    const sent = await ts.store.messages.list(sentBox.id);
    assert.equal(sent.length, 2);
    assert.deepEqual(sent[0]!.flags, ["\\Seen"]);
    assert.match((await mailboxContents(ts, ids.alice, "Sent"))[0]!, /^Received: /);
    assert.ok(logged(s, "auth ok"));
  });
});

storeTest("smtp: Python smtplib and nodemailer submit; external recipients are queued", async (_t, ts) => {
  await withSmtp(ts, async (s, ids) => {
    const py = `
import smtplib, ssl, sys
from email.message import EmailMessage
m = EmailMessage()
m["From"] = "Alice <alice@example.test>"; m["To"] = "bob@example.test, friend@remote.test"; m["Subject"] = "Grüße"
m.set_content("Hallo Bob, schöne Grüße.")
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
with smtplib.SMTP("127.0.0.1", ${s.submission}, timeout=20) as c:
    c.starttls(context=ctx); c.login("alice@example.test", "${PASSWORD}")
    refused = c.send_message(m)
    print("refused", refused)
`;
    const r = await runClient("python3", ["-c", py]);
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /refused \{\}/);
    const nodemailer = (await import("nodemailer")).default;
    const transport = nodemailer.createTransport({
      host: "127.0.0.1",
      port: s.submissions,
      secure: true,
      auth: { user: "alice@example.test", pass: PASSWORD },
      tls: { rejectUnauthorized: false },
    });
    const info = await transport.sendMail({
      from: "alice@example.test",
      to: "bob@example.test",
      subject: "From nodemailer",
      text: "Hello",
      attachments: [{ filename: "photo.png", path: `${ATTACHMENTS}photo.png` }],
    });
    transport.close();
    assert.deepEqual(info.accepted, ["bob@example.test"]);
    const bob = await mailboxContents(ts, ids.bob);
    assert.equal(bob.length, 2);
    assert.match(bob[0]!, /Subject: =\?utf-8\?/i);
    const queue = await ts.store.queue.list();
    assert.deepEqual(queue.map((q) => [q.mailFrom, q.recipient]), [["alice@example.test", "friend@remote.test"]]);
  });
});

storeTest("smtp: openssl s_client -starttls smtp; bytes pipelined after STARTTLS are dropped", async (_t, ts) => {
  await withSmtp(ts, async (s, ids) => {
    const r = await runClient(
      "openssl",
      ["s_client", "-connect", `127.0.0.1:${s.mx}`, "-starttls", "smtp", "-brief"],
      "QUIT\r\n",
    );
    assert.match(r.out, /Protocol version: TLSv1\.[23]/, r.out);
    // Plaintext TLS 1.1 is refused: TLS 1.2 is the minimum.
    const old = await runClient(
      "openssl",
      ["s_client", "-connect", `127.0.0.1:${s.submissions}`, "-tls1_1", "-brief"],
      "",
    );
    assert.doesNotMatch(old.out, /Protocol version: TLSv1\.1/);
    // STARTTLS command injection (RFC 3207 §4.2): what follows STARTTLS in the same packet must not run.
    const [c] = await SmtpTestClient.connect(s.mx, { caCerts: [s.tls.certPem] });
    await c.expect(250, "EHLO attacker.test");
    await c.write("STARTTLS\r\nMAIL FROM:<evil@attacker.test>\r\nRCPT TO:<bob@example.test>\r\n");
    assert.equal((await c.read()).code, 220);
    c.close();
    assert.ok(s.logs.some((l) => l.msg === "dropped bytes pipelined after STARTTLS"));
    assert.equal((await mailboxContents(ts, ids.bob)).length, 0);
  });
});

storeTest(
  "smtp: MX delivers to local users, aliases and catch-alls, refuses relay and unknown users",
  async (_t, ts) => {
    await withSmtp(ts, async (s, ids) => {
      await ts.store.aliases.add("@example.test", "bob@example.test");
      const [c, greeting] = await SmtpTestClient.connect(s.mx, { caCerts: [s.tls.certPem] });
      assert.match(greeting.text, /^220 mx\.example\.test ESMTP/);
      const ehlo = await c.expect(250, "EHLO sender.example.org");
      for (
        const ext of [
          "PIPELINING",
          "8BITMIME",
          "SMTPUTF8",
          "SIZE",
          "ENHANCEDSTATUSCODES",
          "CHUNKING",
          "DSN",
          "STARTTLS",
        ]
      ) {
        assert.match(ehlo.text, new RegExp(`250[- ]${ext}`));
      }
      assert.doesNotMatch(ehlo.text, /AUTH/, "no AUTH on port 25");
      assert.equal((await c.cmd("AUTH PLAIN AGFsaWNlAHg=")).code, 503);
      await c.startTls();
      await c.expect(250, "EHLO sender.example.org");
      await c.expect(250, "MAIL FROM:<someone@example.org>");
      assert.match((await c.cmd("RCPT TO:<friend@elsewhere.test>")).text, /^554 5\.7\.1/);
      await c.expect(250, "RCPT TO:<Alice@Example.test>");
      await c.expect(250, "RCPT TO:<whatever@example.test>");
      await c.expect(354, "DATA");
      const r = await c.cmd("From: someone@example.org\r\nSubject: hi\r\n\r\nHello.\r\n..leading dot\r\n.");
      assert.equal(r.code, 250, r.text);
      await c.expect(221, "QUIT");
      c.close();
      const alice = await mailboxContents(ts, ids.alice);
      assert.equal(alice.length, 1);
      assert.match(
        alice[0]!,
        /^Return-Path: <someone@example\.org>\r\nReceived: from sender\.example\.org \(\[127\.0\.0\.1\]\)\r\n\tby mx\.example\.test \(Silvermail\) with ESMTPS id /,
      );
      assert.match(alice[0]!, /\r\n\r\nHello\.\r\n\.leading dot\r\n$/);
      assert.equal((await mailboxContents(ts, ids.bob)).length, 1, "catch-all");
      assert.ok(logged(s, "relay denied"));
      // A domain with no catch-all: unknown users are refused.
      await ts.store.domains.add("other.test");
      const [c2] = await SmtpTestClient.connect(s.mx, { caCerts: [s.tls.certPem] });
      await c2.expect(250, "HELO sender.example.org");
      await c2.expect(250, "MAIL FROM:<>");
      assert.match((await c2.cmd("RCPT TO:<nobody@other.test>")).text, /^550 5\.1\.1/);
      assert.match((await c2.cmd("DATA")).text, /^554 /, "DATA without valid recipients");
      assert.equal((await c2.cmd("VRFY alice@example.test")).code, 252);
      c2.close();
    });
  },
);

storeTest(
  "smtp: submission refusals: no AUTH before TLS, wrong password, sender and From not owned",
  async (_t, ts) => {
    await withSmtp(ts, async (s, ids) => {
      const [c] = await SmtpTestClient.connect(s.submission, { caCerts: [s.tls.certPem] });
      const ehlo = await c.expect(250, "EHLO client");
      assert.doesNotMatch(ehlo.text, /AUTH/, "AUTH is not offered before TLS");
      assert.match((await c.authPlain("alice@example.test", PASSWORD)).text, /^538 5\.7\.11/);
      assert.match((await c.cmd("MAIL FROM:<alice@example.test>")).text, /^530 /);
      await c.startTls();
      assert.match((await c.expect(250, "EHLO client")).text, /AUTH PLAIN LOGIN/);
      assert.match((await c.authPlain("alice@example.test", "wrong password!")).text, /^535 5\.7\.8/);
      assert.equal((await c.authPlain("alice@example.test", PASSWORD)).code, 235);
      assert.match((await c.cmd("MAIL FROM:<bob@example.test>")).text, /^553 5\.7\.1/);
      await c.expect(250, "MAIL FROM:<info@example.test>"); // an alias of alice: hers to use
      await c.expect(250, "RCPT TO:<bob@example.test>");
      await c.expect(354, "DATA");
      const forged = await c.cmd("From: Bob <bob@example.test>\r\nSubject: forged\r\n\r\nx\r\n.");
      assert.match(forged.text, /^550 5\.7\.1/);
      await c.expect(250, "MAIL FROM:<alice@example.test>");
      await c.expect(250, "RCPT TO:<bob@example.test>");
      await c.expect(354, "DATA");
      await c.expect(250, "From: Alice <info@example.test>\r\nSubject: ok\r\n\r\nx\r\n.");
      c.close();
      assert.equal((await mailboxContents(ts, ids.bob)).length, 1);
      assert.ok(logged(s, "auth failed") && logged(s, "sender not owned") && logged(s, "From header not owned"));
    });
  },
);

storeTest("smtp: size and recipient limits; a client that stops mid-DATA stores nothing", async (_t, ts) => {
  await seedUsers(ts);
  const s = await startTestSmtp(ts, { maxMessageSize: 10_000, maxRecipients: 3, dataTimeoutMs: 500 });
  try {
    const [c] = await SmtpTestClient.connect(s.mx, { caCerts: [s.tls.certPem] });
    await c.expect(250, "EHLO client");
    assert.match((await c.cmd("MAIL FROM:<x@example.org> SIZE=20000")).text, /^552 5\.3\.4/);
    await c.expect(250, "MAIL FROM:<x@example.org> SIZE=5000");
    for (let i = 0; i < 3; i++) {
      await c.expect(250, `RCPT TO:<alice@example.test>`.replace("alice", ["alice", "bob", "info"][i]!));
    }
    assert.match((await c.cmd("RCPT TO:<postmaster@example.test>")).text, /^452 4\.5\.3/);
    await c.expect(354, "DATA");
    const line = "x".repeat(100) + "\r\n";
    const r = await c.cmd("Subject: big\r\n\r\n" + line.repeat(200) + ".");
    assert.match(r.text, /^552 5\.3\.4/);
    // The session stays usable after an oversize message.
    await c.expect(250, "RSET");
    await c.expect(250, "MAIL FROM:<x@example.org>");
    await c.expect(250, "RCPT TO:<bob@example.test>");
    await c.expect(354, "DATA");
    await c.write("Subject: cut\r\n\r\nhalf a mess");
    c.close(); // the client goes away mid-DATA
    await new Promise((r) => setTimeout(r, 300));
    const [c2] = await SmtpTestClient.connect(s.mx, { caCerts: [s.tls.certPem] });
    await c2.expect(250, "EHLO client");
    await c2.expect(250, "MAIL FROM:<x@example.org>");
    await c2.expect(250, "RCPT TO:<bob@example.test>");
    await c2.expect(354, "DATA");
    await c2.write("Subject: slow\r\n\r\nand then nothing");
    assert.match((await c2.read()).text, /^421 4\.4\.2/, "DATA timeout");
    c2.close();
    assert.equal(await totalMessages(ts), 0);
    assert.ok(logged(s, "client disconnected during DATA: nothing stored"));
    assert.ok(logged(s, "message refused"));
  } finally {
    await s.close();
  }
});

storeTest("smtp: SMTP smuggling — bare LF and <LF>.<LF> never deliver a second message", async (_t, ts) => {
  await withSmtp(ts, async (s, ids) => {
    for (const end of ["\n.\n", "\r.\r", "\r\n.\n", "\n.\r\n", "\r.\r\n", "\r\n.\r"]) {
      const [c] = await SmtpTestClient.connect(s.mx, { caCerts: [s.tls.certPem] });
      await c.expect(250, "EHLO attacker.test");
      await c.expect(250, "MAIL FROM:<a@attacker.test>");
      await c.expect(250, "RCPT TO:<alice@example.test>");
      await c.expect(354, "DATA");
      // The smuggled second message hides behind a fake end of data.
      const payload =
        `Subject: first\r\n\r\nfirst${end}MAIL FROM:<admin@example.test>\r\nRCPT TO:<bob@example.test>\r\n` +
        `DATA\r\nSubject: smuggled\r\n\r\nsmuggled\r\n.\r\n`;
      await c.write(payload);
      const r = await c.read();
      assert.match(r.text, /^554 5\.6\.0/, `end ${JSON.stringify(end)}: ${r.text}`);
      await c.expect(221, "QUIT");
      c.close();
    }
    assert.equal(await totalMessages(ts), 0, "neither the first nor the smuggled message is stored");
    assert.equal((await mailboxContents(ts, ids.bob)).length, 0);
  });
});

storeTest("smtp: garbage bytes and 1 MB lines get errors then 421; BDAT works", async (_t, ts) => {
  await withSmtp(ts, async (s, ids) => {
    const [c] = await SmtpTestClient.connect(s.mx, { caCerts: [s.tls.certPem] });
    await c.write(new Uint8Array(4096).map((_, i) => (i * 7919) % 256).filter((b) => b !== 10));
    await c.write("\r\n");
    assert.match((await c.read()).text, /^500 /);
    await c.write("A".repeat(1024 * 1024) + "\r\n");
    assert.match((await c.read()).text, /^500 5\.5\.2/);
    await c.expect(250, "NOOP");
    let closed = false;
    for (let i = 0; i < 30 && !closed; i++) {
      const r = await c.cmd("GET / HTTP/1.1");
      closed = r.code === 421;
    }
    assert.ok(closed, "too many errors → 421");
    c.close();
    // BDAT (RFC 3030), in two chunks.
    const [b] = await SmtpTestClient.connect(s.mx, { caCerts: [s.tls.certPem] });
    await b.expect(250, "EHLO client");
    await b.expect(250, "MAIL FROM:<x@example.org> BODY=BINARYMIME");
    await b.expect(250, "RCPT TO:<bob@example.test>");
    const part1 = "Subject: chunks\r\n\r\n";
    const part2 = "binary\0safe\r\n";
    await b.write(`BDAT ${part1.length}\r\n${part1}`);
    assert.equal((await b.read()).code, 250);
    await b.write(`BDAT ${part2.length} LAST\r\n${part2}`);
    assert.equal((await b.read()).code, 250);
    b.close();
    const bob = await mailboxContents(ts, ids.bob);
    assert.equal(bob.length, 1);
    assert.match(bob[0]!, /binary\0safe\r\n$/);
  });
});

storeTest("smtp: failed logins are throttled per IP while the owner on another IP still logs in", async (_t, ts) => {
  await withSmtp(ts, async (s) => {
    const attempt = async (ip: string, password: string) => {
      const r = await runClient("swaks", [
        "--server",
        "127.0.0.1",
        "--port",
        String(s.submissions),
        "--tlsc",
        "--local-interface",
        ip,
        "--auth",
        "PLAIN",
        "--auth-user",
        "alice@example.test",
        "--auth-password",
        password,
        "--quit-after",
        "AUTH",
      ]);
      return r.out;
    };
    let out = "";
    for (let i = 0; i < 12; i++) {
      out = await attempt("127.0.0.1", `wrong guess ${i}`);
      if (/454 4\.7\.0|421 4\.7\.0/.test(out)) break;
    }
    assert.match(out, /454 4\.7\.0|421 4\.7\.0/, "the attacking IP is throttled");
    assert.match(await attempt("127.0.0.1", PASSWORD), /454 4\.7\.0/, "…even with the right password");
    assert.match(await attempt("127.0.0.2", PASSWORD), /235 2\.7\.0/, "the owner on another IP gets in");
    assert.ok(s.logs.some((l) => l.msg === "auth refused: client throttled" || l.msg === "auth refused: throttled"));
  });
});

storeTest("smtp: a recipient whose quota is used up is refused temporarily (452 4.2.2)", async (_t, ts) => {
  await withSmtp(ts, async (s, ids) => {
    await ts.store.db.query("UPDATE accounts SET quota_bytes = 100, used_bytes = 100 WHERE id = $1", [ids.bob]);
    const [c] = await SmtpTestClient.connect(s.mx, { caCerts: [s.tls.certPem] });
    await c.expect(250, "EHLO client");
    await c.expect(250, "MAIL FROM:<x@example.org>");
    assert.match((await c.cmd("RCPT TO:<bob@example.test>")).text, /^452 4\.2\.2/);
    await c.expect(250, "RCPT TO:<alice@example.test>");
    c.close();
    assert.ok(logged(s, "recipient over quota"));
  });
});

storeTest("smtp: a message with NUL in a header is stored (not answered 451 forever)", async (_t, ts) => {
  await withSmtp(ts, async (s, ids) => {
    const [c] = await SmtpTestClient.connect(s.mx, { caCerts: [s.tls.certPem] });
    await c.expect(250, "EHLO client");
    await c.expect(250, "MAIL FROM:<x@example.org>");
    await c.expect(250, "RCPT TO:<bob@example.test>");
    await c.expect(354, "DATA");
    await c.expect(250, "Subject: a\0b\r\nMessage-ID: <n\0ul@x>\r\n\r\nbody\0text\r\n.");
    c.close();
    assert.equal((await mailboxContents(ts, ids.bob)).length, 1);
  });
});

storeTest("smtp: a client that hangs up during the STARTTLS handshake frees its connection", async (_t, ts) => {
  await withSmtp(ts, async (s) => {
    for (let i = 0; i < 3; i++) {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port: s.mx });
      const buf = new Uint8Array(1024);
      await conn.read(buf); // greeting
      await conn.write(new TextEncoder().encode("EHLO x\r\nSTARTTLS\r\n"));
      let got = "";
      while (!got.includes("220 2.0.0")) got += new TextDecoder().decode(buf.subarray(0, (await conn.read(buf)) ?? 0));
      conn.close(); // FIN in the middle of the handshake
    }
    const deadline = Date.now() + 5000;
    const ended = () => s.logs.filter((l) => l.msg === "disconnect").length;
    while (ended() < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.equal(ended(), 3, "every session ended");
  });
});
