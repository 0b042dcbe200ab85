/**
 * The outbound SMTP client against real servers: Silvermail's own MX and submission listeners in-process (real
 * TLS with the harness's self-signed certificate), Postfix's `smtp-sink`, and small scripted TCP servers for what
 * a well-behaved server never does (hanging, hanging up, malformed replies).
 */
import assert from "node:assert/strict";
import { DEFAULT_LIMITS } from "../mod.ts";
import { freePort, openTestStore, type TestStore } from "../../tests/harness.ts";
import { mailboxContents, PASSWORD, seedUsers, startTestSmtp, type TestSmtp } from "../../tests/smtp_harness.ts";
import { type ClientOptions, dataPayload, type Envelope, SmtpClient, SmtpClientError } from "./client.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

/** A message from lines joined with CRLF (and a final CRLF unless `open`). */
function message(lines: string[], open = false): Uint8Array {
  return enc.encode(lines.join("\r\n") + (open ? "" : "\r\n"));
}

function envelope(mailFrom: string, to: string[], msg: Uint8Array, more: Partial<Envelope> = {}): Envelope {
  return {
    mailFrom,
    recipients: to.map((address) => ({ address })),
    size: msg.length,
    eightBit: false,
    smtputf8: false,
    ...more,
  };
}

/** Asserts that `promise` rejects with an SmtpClientError matching `expected`; returns it. */
async function rejectsWith(
  promise: Promise<unknown>,
  expected: { stage: SmtpClientError["stage"]; temporary: boolean; code?: number; enhanced?: string },
): Promise<SmtpClientError> {
  const error = await promise.then(() => null, (e) => e);
  assert.ok(error instanceof SmtpClientError, `expected an SmtpClientError, got ${error}`);
  assert.equal(error.stage, expected.stage, error.message);
  assert.equal(error.temporary, expected.temporary, error.message);
  if (expected.code !== undefined) assert.equal(error.reply?.code, expected.code, error.message);
  if (expected.enhanced !== undefined) assert.equal(error.reply?.enhanced, expected.enhanced, error.message);
  return error;
}

// ---- dataPayload: the dot-stuffing table ------------------------------------------------------------------------

Deno.test("dataPayload() dot-stuffs line starts, adds a missing CRLF and the end-of-data line", () => {
  const cases: [string, string][] = [
    ["a\r\nb\r\n", "a\r\nb\r\n.\r\n"],
    [".a\r\n", "..a\r\n.\r\n"],
    ["a\r\n.\r\nb\r\n..c\r\n", "a\r\n..\r\nb\r\n...c\r\n.\r\n"],
    ["a\r\n.", "a\r\n..\r\n.\r\n"],
    ["no newline", "no newline\r\n.\r\n"],
    ["", ".\r\n"],
    ["x.y\r\n", "x.y\r\n.\r\n"],
  ];
  for (const [input, expected] of cases) {
    const out = dataPayload(enc.encode(input));
    assert.equal(out.map((p) => dec.decode(p)).join(""), expected, JSON.stringify(input));
  }
  // Without a dot to add, the message itself is written: no copy.
  const plain = enc.encode("Subject: x\r\n\r\nbody\r\n");
  assert.equal(dataPayload(plain)[0], plain);
});

// ---- Silvermail's own server --------------------------------------------------------------------------------------

Deno.test("client → Silvermail MX, submission and submissions", async (t) => {
  const ts: TestStore = await openTestStore("pglite");
  const ids = await seedUsers(ts);
  const s: TestSmtp = await startTestSmtp(ts);
  const small: TestSmtp = await startTestSmtp(ts, { maxMessageSize: 2000 });
  const mx = (port = s.mx): ClientOptions => ({
    host: "127.0.0.1",
    port,
    servername: "mx.example.test",
    helo: "client.remote.test",
    tls: "starttls",
    timeoutMs: 20_000,
  });
  try {
    await t.step("STARTTLS to the MX: one accepted and one unknown recipient, dot lines intact", async () => {
      const client = await SmtpClient.connect(mx());
      try {
        assert.ok(client.tls, "TLS was offered and used");
        assert.equal(client.tls.authorized, false); // self-signed: accepted, but not verified
        assert.match(client.tls.version, /^TLSv1\.[23]$/);
        assert.ok(client.tls.cipher);
        assert.equal(client.remoteAddress, "127.0.0.1");
        assert.ok(client.extensions.has("PIPELINING"));
        assert.ok(!client.extensions.has("STARTTLS"), "extensions come from the EHLO after TLS");
        assert.equal(client.extensions.get("SIZE"), String(DEFAULT_LIMITS.maxMessageSize));
        const msg = message([
          "From: Carol <carol@remote.test>",
          "To: alice@example.test",
          "Subject: dots",
          "Message-ID: <dots@remote.test>",
          "",
          ".hidden",
          "..two dots",
          ".",
          "café, 8-bit",
          "last line without CRLF",
        ], true);
        const result = await client.send(
          envelope("carol@remote.test", ["alice@example.test", "nobody@example.test"], msg, { eightBit: true }),
          msg,
        );
        assert.equal(result.recipients.length, 2);
        assert.equal(result.recipients[0]!.code, 250);
        assert.equal(result.recipients[1]!.code, 550);
        assert.equal(result.recipients[1]!.enhanced, "5.1.1");
        assert.equal(result.data?.code, 250);
        assert.equal(result.data?.enhanced, "2.0.0");
        const inbox = await mailboxContents(ts, ids.alice);
        assert.equal(inbox.length, 1);
        assert.ok(inbox[0]!.endsWith(dec.decode(msg) + "\r\n"), inbox[0]); // stored as sent, CRLF added
        assert.match(inbox[0]!, /\r\n\.hidden\r\n\.\.two dots\r\n\.\r\ncafé/);
      } finally {
        await client.quit();
      }
    });

    await t.step("all recipients refused in one pipelined batch: no data reply, and the session goes on", async () => {
      const client = await SmtpClient.connect(mx());
      try {
        const msg = message(["Subject: nobody", "", "hi"]);
        const refused = await client.send(
          envelope("carol@remote.test", ["nobody@example.test", "ghost@example.test"], msg),
          msg,
        );
        assert.deepEqual(refused.recipients.map((r) => r.code), [550, 550]);
        assert.equal(refused.data, undefined);
        const next = await client.send(envelope("carol@remote.test", ["bob@example.test"], msg), msg);
        assert.equal(next.data?.code, 250);
        assert.equal((await mailboxContents(ts, ids.bob)).length, 1);
      } finally {
        await client.quit();
      }
    });

    await t.step("SIZE: a message over the announced limit is refused before MAIL (5.3.4)", async () => {
      const client = await SmtpClient.connect(mx(small.mx));
      try {
        assert.equal(client.extensions.get("SIZE"), "2000");
        const big = message(["Subject: big", "", "x".repeat(3000)]);
        const error = await rejectsWith(client.send(envelope("carol@remote.test", ["bob@example.test"], big), big), {
          stage: "mail",
          temporary: false,
          code: 552,
          enhanced: "5.3.4",
        });
        assert.match(error.message, /exceeds the 2000 octets/);
        const fits = message(["Subject: small", "", "fits"]);
        const ok = await client.send(envelope("carol@remote.test", ["bob@example.test"], fits), fits);
        assert.equal(ok.data?.code, 250, "the session is still usable");
      } finally {
        await client.quit();
      }
    });

    await t.step("SMTPUTF8 is offered: a UTF-8 sender is delivered", async () => {
      const client = await SmtpClient.connect(mx());
      try {
        const msg = message(["From: José <josé@remote.test>", "Subject: ñ", "", "olá"]);
        const r = await client.send(
          envelope("josé@remote.test", ["alice@example.test"], msg, { smtputf8: true, eightBit: true }),
          msg,
        );
        assert.equal(r.data?.code, 250);
      } finally {
        await client.quit();
      }
    });

    await t.step("smarthost: submission 587 with STARTTLS and AUTH, delivered to bob", async () => {
      const client = await SmtpClient.connect({
        ...mx(s.submission),
        auth: { username: "alice@example.test", password: PASSWORD },
      });
      try {
        assert.ok(client.tls);
        const msg = message([
          "From: Alice <alice@example.test>",
          "To: bob@example.test",
          "Subject: via 587",
          "Message-ID: <587@example.test>",
          "",
          "hello bob",
        ]);
        const r = await client.send(envelope("alice@example.test", ["bob@example.test"], msg), msg);
        assert.equal(r.data?.code, 250);
        assert.ok((await mailboxContents(ts, ids.bob)).some((m) => m.includes("Subject: via 587")));
      } finally {
        await client.quit();
      }
      await rejectsWith(
        SmtpClient.connect({ ...mx(s.submission), auth: { username: "alice@example.test", password: "wrong one!" } }),
        { stage: "auth", temporary: true, code: 535 },
      );
    });

    await t.step("implicit TLS to submissions 465 with AUTH", async () => {
      const client = await SmtpClient.connect({
        ...mx(s.submissions),
        tls: "implicit",
        auth: { username: "alice@example.test", password: PASSWORD },
      });
      try {
        assert.ok(client.tls);
        const msg = message([
          "From: alice@example.test",
          "Subject: via 465",
          "Message-ID: <465@example.test>",
          "",
          "hi",
        ]);
        const r = await client.send(envelope("alice@example.test", ["bob@example.test"], msg), msg);
        assert.equal(r.data?.code, 250);
        assert.ok((await mailboxContents(ts, ids.bob)).some((m) => m.includes("Subject: via 465")));
      } finally {
        await client.quit();
      }
    });

    await t.step("verifyCertificate: the harness certificate verifies for localhost only", async () => {
      const verified = await SmtpClient.connect({
        ...mx(),
        servername: "localhost",
        verifyCertificate: true,
        ca: [s.tls.certPem],
      });
      try {
        assert.equal(verified.tls?.authorized, true);
      } finally {
        await verified.quit();
      }
      const error = await rejectsWith(
        SmtpClient.connect({ ...mx(), verifyCertificate: true, ca: [s.tls.certPem] }),
        { stage: "starttls", temporary: true },
      );
      assert.match(error.message, /mx\.example\.test/);
      // Without the CA the self-signed certificate is untrusted, whatever the name.
      await rejectsWith(SmtpClient.connect({ ...mx(), servername: "localhost", verifyCertificate: true }), {
        stage: "starttls",
        temporary: true,
      });
      // Not verifying: the same name mismatch is accepted but reported.
      const lax = await SmtpClient.connect({ ...mx(), ca: [s.tls.certPem] });
      try {
        assert.equal(lax.tls?.authorized, false);
      } finally {
        await lax.quit();
      }
    });

    await t.step(
      "REQUIRETLS: refused before MAIL without a verified session (5.7.10); sent where verified and offered",
      async () => {
        const msg = message(["Subject: secret", "", "x"]);
        const unverified = await SmtpClient.connect(mx());
        try {
          await rejectsWith(
            unverified.send(envelope("carol@remote.test", ["alice@example.test"], msg, { requireTls: true }), msg),
            { stage: "mail", temporary: false, enhanced: "5.7.10" },
          );
        } finally {
          await unverified.quit();
        }
        const verified = await SmtpClient.connect({
          ...mx(),
          servername: "localhost",
          verifyCertificate: true,
          ca: [s.tls.certPem],
        });
        try {
          // Silvermail offers REQUIRETLS in TLS sessions (RFC 8689 §4).
          assert.ok(verified.extensions.has("REQUIRETLS"));
          const sent = await verified.send(
            envelope("carol@remote.test", ["alice@example.test"], msg, { requireTls: true }),
            msg,
          );
          assert.equal(sent.data?.code, 250);
          const r = await verified.send(envelope("carol@remote.test", ["alice@example.test"], msg), msg);
          assert.equal(r.data?.code, 250, "the session is still usable");
        } finally {
          await verified.quit();
        }
      },
    );

    await t.step("tls: none stays in the clear even though STARTTLS is offered", async () => {
      const client = await SmtpClient.connect({ ...mx(), tls: "none" });
      try {
        assert.equal(client.tls, null);
        assert.ok(client.extensions.has("STARTTLS"));
      } finally {
        await client.quit();
      }
    });
  } finally {
    await small.close();
    await s.close();
    await ts.close();
  }
});

// ---- Postfix smtp-sink ----------------------------------------------------------------------------------------------

const SMTP_SINK = "/usr/sbin/smtp-sink";

/** A running smtp-sink; each transaction is dumped to a file in `dir` (headers X-Mail-Args, X-Rcpt-Args, …). */
interface Sink {
  port: number;
  dir: string;
  /** The dump files' contents (in no particular order) once there are `count` of them that are complete. */
  dumps(count: number): Promise<string[]>;
  close(): Promise<void>;
}

async function startSink(flags: string[]): Promise<Sink> {
  const port = freePort();
  const dir = await Deno.makeTempDir({ prefix: "silvermail-sink-" });
  await Deno.chmod(dir, 0o777); // smtp-sink writes as "nobody" when started as root
  const args = [...flags, ...(Deno.uid() === 0 ? ["-u", "nobody"] : []), "-d", `${dir}/%H%M%S.`];
  const child = new Deno.Command(SMTP_SINK, {
    args: [...args, `127.0.0.1:${port}`, "16"],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  const close = async () => {
    try {
      child.kill("SIGTERM");
    } catch { /* already gone */ }
    await child.status;
    await Deno.remove(dir, { recursive: true });
  };
  // Ready when it accepts connections (it has no other signal).
  for (let attempt = 0;; attempt++) {
    try {
      (await Deno.connect({ hostname: "127.0.0.1", port })).close();
      break;
    } catch (e) {
      if (attempt > 200) {
        await close();
        throw e;
      }
      await new Promise((r) => setTimeout(r, 25));
    }
  }
  async function dumps(count: number): Promise<string[]> {
    // A dump is complete once it ends with the empty line smtp-sink appends after the message.
    const deadline = Date.now() + 10_000;
    for (;;) {
      const names = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
      const texts = names.map((n) => Deno.readTextFileSync(`${dir}/${n}`));
      if (texts.length >= count && texts.every((x) => x.endsWith("\n\n"))) return texts;
      if (Date.now() > deadline) throw new Error(`expected ${count} complete dumps, have ${texts.length}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }
  return { port, dir, dumps, close };
}

async function withSink(flags: string[], fn: (sink: Sink, options: ClientOptions) => Promise<void>): Promise<void> {
  const sink = await startSink(flags);
  try {
    await fn(sink, {
      host: "127.0.0.1",
      port: sink.port,
      servername: "sink.test",
      helo: "client.test",
      tls: "starttls",
      timeoutMs: 20_000,
    });
  } finally {
    await sink.close();
  }
}

/** The header lines smtp-sink wrote for a dump, by name. */
function dumpHeader(dump: string, name: string): string[] {
  return dump.split("\n").filter((l) => l.startsWith(`${name}: `)).map((l) => l.slice(name.length + 2));
}

/** The message as smtp-sink received it (dot-unstuffed, LF line ends). */
function dumpBody(dump: string): string {
  const received = dump.indexOf("Received: ");
  const start = dump.indexOf("\n", dump.indexOf("\n", dump.indexOf("\n", received) + 1) + 1) + 1;
  return dump.slice(start, -1); // without the empty line smtp-sink appends
}

Deno.test("client → smtp-sink with PIPELINING, 8BITMIME and DSN: parameters and body as sent", async () => {
  await withSink([], async (sink, options) => {
    const client = await SmtpClient.connect(options);
    try {
      assert.equal(client.tls, null, "smtp-sink offers no STARTTLS: opportunistic TLS goes on in the clear");
      assert.ok(client.extensions.has("PIPELINING") && client.extensions.has("DSN"));
      const msg = message(["Subject: dsn", "", ".leading dot", "8-bit: ü", "end"]);
      const r = await client.send({
        mailFrom: "sender@remote.test",
        recipients: [
          { address: "a@sink.test", notify: ["success", "failure"], orcpt: "rfc822;a+tag=x@sink.test" },
          { address: "b@sink.test", notify: ["NEVER"] },
        ],
        size: msg.length,
        eightBit: true,
        smtputf8: false,
        ret: "HDRS",
        envid: "queue id+1",
      }, msg);
      assert.deepEqual(r.recipients.map((x) => [x.code, x.enhanced]), [[250, "2.1.5"], [250, "2.1.5"]]);
      assert.equal(r.data?.code, 250);
      const second = message(["Subject: second", "", "again"]);
      assert.equal((await client.send(envelope("", ["c@sink.test"], second), second)).data?.code, 250);
      const dumps = await sink.dumps(2); // in no particular order (file names are time + random)
      const first = dumps.find((d) => dumpHeader(d, "X-Mail-Args")[0] !== "<>");
      const next = dumps.find((d) => dumpHeader(d, "X-Mail-Args")[0] === "<>");
      assert.deepEqual(dumpHeader(first!, "X-Mail-Args"), [
        "<sender@remote.test> BODY=8BITMIME RET=HDRS ENVID=queue+20id+2B1",
      ]);
      assert.deepEqual(dumpHeader(first!, "X-Rcpt-Args"), [
        "<a@sink.test> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;a+2Btag+3Dx@sink.test",
        "<b@sink.test> NOTIFY=NEVER",
      ]);
      assert.equal(dumpBody(first!), dec.decode(msg).replaceAll("\r\n", "\n"));
      assert.deepEqual(dumpHeader(next!, "X-Mail-Args"), ["<>"], "the null sender");
    } finally {
      await client.quit();
    }
  });
});

Deno.test("client → smtp-sink without PIPELINING, 8BITMIME and DSN: commands one by one, no parameters", async () => {
  await withSink(["-p", "-8", "-N"], async (sink, options) => {
    const client = await SmtpClient.connect(options);
    try {
      assert.ok(!client.extensions.has("PIPELINING"));
      const msg = message(["Subject: plain", "", "..", "ü"]);
      const r = await client.send(
        envelope("s@remote.test", ["a@sink.test", "b@sink.test"], msg, { eightBit: true, ret: "FULL" }),
        msg,
      );
      assert.equal(r.data?.code, 250);
      const [dump] = await sink.dumps(1);
      assert.deepEqual(dumpHeader(dump!, "X-Mail-Args"), ["<s@remote.test>"], "8-bit sent anyway, without BODY=");
      assert.deepEqual(dumpHeader(dump!, "X-Rcpt-Args"), ["<a@sink.test>", "<b@sink.test>"]);
      assert.equal(dumpBody(dump!), dec.decode(msg).replaceAll("\r\n", "\n"));
    } finally {
      await client.quit();
    }
  });
});

Deno.test("client → smtp-sink: a large message with many dot lines arrives intact (backpressure)", async () => {
  await withSink([], async (sink, options) => {
    const client = await SmtpClient.connect(options);
    try {
      const line = ".dot line, then some text to make the line a bit longer than average\r\n";
      const body = `Subject: big\r\n\r\n${line.repeat(Math.ceil(8_000_000 / line.length))}`;
      const msg = enc.encode(body);
      const r = await client.send(envelope("s@remote.test", ["a@sink.test"], msg), msg);
      assert.equal(r.data?.code, 250);
      const [dump] = await sink.dumps(1);
      assert.equal(dumpBody(dump!).length, body.length - body.split("\r\n").length + 1);
      assert.ok(dumpBody(dump!) === body.replaceAll("\r\n", "\n"));
    } finally {
      await client.quit();
    }
  });
});

Deno.test("client → smtp-sink: every RCPT refused (not pipelined) → replies, no data; the session goes on", async () => {
  await withSink(["-f", "rcpt"], async (_sink, options) => {
    const client = await SmtpClient.connect(options);
    try {
      const msg = message(["Subject: x", "", "x"]);
      for (let i = 0; i < 2; i++) {
        const r = await client.send(envelope("s@remote.test", ["a@sink.test", "b@sink.test"], msg), msg);
        assert.deepEqual(r.recipients.map((x) => [x.code, x.enhanced]), [[500, "5.3.0"], [500, "5.3.0"]]);
        assert.equal(r.recipients[0]!.text, "Error: command failed");
        assert.equal(r.data, undefined);
      }
    } finally {
      await client.quit();
    }
  });
});

Deno.test("client → smtp-sink: MAIL refused → temporary (4xx) or permanent (5xx) error at stage mail", async () => {
  for (const [flag, code, temporary] of [["-r", 450, true], ["-f", 500, false]] as const) {
    await withSink([flag, "mail"], async (_sink, options) => {
      const client = await SmtpClient.connect(options);
      try {
        const msg = message(["Subject: x", "", "x"]);
        await rejectsWith(client.send(envelope("s@remote.test", ["a@sink.test"], msg), msg), {
          stage: "mail",
          temporary,
          code,
        });
        // The session was reset and is still usable: the second refusal is again the server's.
        await rejectsWith(client.send(envelope("s@remote.test", ["a@sink.test"], msg), msg), {
          stage: "mail",
          temporary,
          code,
        });
      } finally {
        await client.quit();
      }
    });
  }
});

Deno.test("client → smtp-sink: 421 to RCPT ends the session with a temporary error", async () => {
  await withSink(["-Q", "rcpt"], async (_sink, options) => {
    const client = await SmtpClient.connect(options);
    try {
      const msg = message(["Subject: x", "", "x"]);
      await rejectsWith(client.send(envelope("s@remote.test", ["a@sink.test"], msg), msg), {
        stage: "rcpt",
        temporary: true,
        code: 421,
      });
      await rejectsWith(client.send(envelope("s@remote.test", ["a@sink.test"], msg), msg), {
        stage: "closed",
        temporary: true,
      });
    } finally {
      await client.quit();
    }
  });
});

Deno.test("client → smtp-sink: requireTls without STARTTLS, SMTPUTF8 not offered, AUTH in the clear", async () => {
  await withSink([], async (_sink, options) => {
    const error = await rejectsWith(SmtpClient.connect({ ...options, requireTls: true }), {
      stage: "starttls",
      temporary: true,
    });
    assert.match(error.message, /STARTTLS is not offered/);

    const client = await SmtpClient.connect(options);
    try {
      const msg = message(["Subject: ü", "", "x"]);
      await rejectsWith(client.send(envelope("ü@remote.test", ["a@sink.test"], msg, { smtputf8: true }), msg), {
        stage: "mail",
        temporary: false,
        enhanced: "5.6.7",
      });
    } finally {
      await client.quit();
    }

    // smtp-sink offers AUTH without TLS: credentials are kept unless TLS is explicitly "none".
    const auth = { username: "u", password: "p" };
    await rejectsWith(SmtpClient.connect({ ...options, auth }), { stage: "auth", temporary: true });
    const clear = await SmtpClient.connect({ ...options, tls: "none", auth });
    await clear.quit();
  });
});

// ---- Scripted servers ---------------------------------------------------------------------------------------------

/** The server side of one scripted connection: line reads and writes. */
class ScriptConn {
  #conn: Deno.Conn;
  #buf = "";
  constructor(conn: Deno.Conn) {
    this.#conn = conn;
  }

  /** Reads up to and including `terminator`; null when the client closed first. */
  async readUntil(terminator = "\r\n"): Promise<string | null> {
    for (;;) {
      const at = this.#buf.indexOf(terminator);
      if (at >= 0) {
        const text = this.#buf.slice(0, at + terminator.length);
        this.#buf = this.#buf.slice(at + terminator.length);
        return text;
      }
      const chunk = new Uint8Array(65536);
      const n = await this.#conn.read(chunk).catch(() => null);
      if (n === null) return null;
      this.#buf += dec.decode(chunk.subarray(0, n));
    }
  }

  async line(): Promise<string | null> {
    return (await this.readUntil())?.slice(0, -2) ?? null;
  }

  async send(text: string): Promise<void> {
    await this.#conn.write(enc.encode(text)).catch(() => 0);
  }

  /** Waits until the client closes the connection. */
  async drain(): Promise<void> {
    while ((await this.readUntil("\u0000never")) !== null) { /* discard */ }
  }
}

/** Runs `script` for one connection on a fresh port while `fn` drives the client. */
async function withScript(
  script: (c: ScriptConn) => Promise<void>,
  fn: (options: ClientOptions) => Promise<void>,
): Promise<void> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const served = (async () => {
    let conn: Deno.Conn;
    try {
      conn = await listener.accept();
    } catch {
      return; // the test ended without connecting
    }
    try {
      await script(new ScriptConn(conn));
    } finally {
      conn.close();
    }
  })().then(() => null, (e: unknown) => e); // a failed script assertion is reported after the client side
  try {
    await fn({
      host: "127.0.0.1",
      port: (listener.addr as Deno.NetAddr).port,
      servername: "scripted.test",
      helo: "client.test",
      tls: "starttls",
      timeoutMs: 5_000,
    });
  } catch (e) {
    listener.close();
    throw (await served) ?? e;
  }
  listener.close();
  const scriptError = await served;
  if (scriptError) throw scriptError;
}

/** Greeting and EHLO with the given extensions. */
async function greet(c: ScriptConn, extensions: string[]): Promise<void> {
  await c.send("220 scripted.test ESMTP\r\n");
  assert.equal(await c.line(), "EHLO client.test");
  const lines = ["scripted.test", ...extensions];
  await c.send(lines.map((l, i) => `250${i === lines.length - 1 ? " " : "-"}${l}\r\n`).join(""));
}

Deno.test("a server that greets and then hangs → timeout error", async () => {
  await withScript(async (c) => {
    await c.send("220 scripted.test ESMTP\r\n");
    await c.drain(); // never answers EHLO
  }, async (options) => {
    const error = await rejectsWith(SmtpClient.connect({ ...options, timeoutMs: 300 }), {
      stage: "timeout",
      temporary: true,
    });
    assert.match(error.message, /timed out after 300 ms/);
  });
});

Deno.test("a server that hangs after the end of data → timeout error from send()", async () => {
  await withScript(async (c) => {
    await greet(c, ["8BITMIME"]);
    assert.match((await c.line())!, /^MAIL FROM:<s@remote\.test>$/);
    await c.send("250 2.1.0 ok\r\n");
    await c.line();
    await c.send("250 2.1.5 ok\r\n");
    assert.equal(await c.line(), "DATA");
    await c.send("354 go\r\n");
    await c.readUntil("\r\n.\r\n");
    await c.drain(); // no reply to the end of data
  }, async (options) => {
    const client = await SmtpClient.connect({ ...options, timeoutMs: 500 });
    try {
      const msg = message(["Subject: x", "", "x"]);
      await rejectsWith(client.send(envelope("s@remote.test", ["a@remote.test"], msg), msg), {
        stage: "timeout",
        temporary: true,
      });
    } finally {
      await client.quit();
    }
  });
});

Deno.test("a server that hangs up after MAIL → temporary error, stage closed", async () => {
  for (const extensions of [[], ["PIPELINING"]]) {
    await withScript(async (c) => {
      await greet(c, extensions);
      assert.match((await c.line())!, /^MAIL FROM:/);
      // returning closes the connection
    }, async (options) => {
      const client = await SmtpClient.connect(options);
      try {
        const msg = message(["Subject: x", "", "x"]);
        await rejectsWith(client.send(envelope("s@remote.test", ["a@remote.test"], msg), msg), {
          stage: "closed",
          temporary: true,
        });
      } finally {
        await client.quit();
      }
    });
  }
});

Deno.test("PIPELINING: MAIL, every RCPT and DATA arrive before any reply; multi-line replies are parsed", async () => {
  await withScript(async (c) => {
    await greet(c, ["PIPELINING", "SIZE 10000", "8BITMIME", "ENHANCEDSTATUSCODES"]);
    // The script answers nothing until it has read the whole batch: a client that waits for the MAIL reply
    // first would hang here and time out.
    const batch = [await c.line(), await c.line(), await c.line(), await c.line()];
    assert.deepEqual(batch, [
      "MAIL FROM:<s@remote.test> SIZE=24 BODY=8BITMIME", /* RFC 1870 §4: before dot-stuffing */
      "RCPT TO:<a@remote.test>",
      "RCPT TO:<b@remote.test>",
      "DATA",
    ]);
    await c.send(
      "250 2.1.0 ok\r\n250 2.1.5 ok\r\n550-5.1.1 first line\r\n550 5.1.1 second line\r\n354 go ahead\r\n",
    );
    assert.equal(await c.readUntil("\r\n.\r\n"), "Subject: x\r\n\r\n..dot\r\nü\r\n.\r\n");
    await c.send("250-2.0.0 queued\r\n250 2.0.0 as 1234\r\n");
    assert.equal(await c.line(), "QUIT");
    await c.send("221 2.0.0 bye\r\n");
  }, async (options) => {
    const client = await SmtpClient.connect(options);
    try {
      assert.deepEqual([...client.extensions.keys()], ["PIPELINING", "SIZE", "8BITMIME", "ENHANCEDSTATUSCODES"]);
      const msg = message(["Subject: x", "", ".dot", "ü"]);
      const r = await client.send(
        envelope("s@remote.test", ["a@remote.test", "b@remote.test"], msg, { eightBit: true }),
        msg,
      );
      assert.deepEqual(r.recipients, [
        { code: 250, enhanced: "2.1.5", text: "ok" },
        { code: 550, enhanced: "5.1.1", text: "first line second line" },
      ]);
      assert.deepEqual(r.data, { code: 250, enhanced: "2.0.0", text: "queued as 1234" });
    } finally {
      await client.quit();
    }
  });
});

Deno.test("EHLO refused with 5xx → HELO, no extensions, commands one by one", async () => {
  await withScript(async (c) => {
    await c.send("220 old.test\r\n");
    assert.equal(await c.line(), "EHLO client.test");
    await c.send("502 command not implemented\r\n");
    assert.equal(await c.line(), "HELO client.test");
    await c.send("250 old.test\r\n");
    assert.equal(await c.line(), "MAIL FROM:<s@remote.test>");
    await c.send("250 ok\r\n");
    assert.equal(await c.line(), "RCPT TO:<a@remote.test>");
    await c.send("251 will forward\r\n");
    assert.equal(await c.line(), "DATA");
    await c.send("354 go\r\n");
    await c.readUntil("\r\n.\r\n");
    await c.send("250 ok\r\n");
    assert.equal(await c.line(), "QUIT");
    await c.send("221 bye\r\n");
  }, async (options) => {
    const client = await SmtpClient.connect(options);
    try {
      assert.equal(client.extensions.size, 0);
      const msg = message(["Subject: x", "", "x"]);
      const r = await client.send(envelope("s@remote.test", ["a@remote.test"], msg, { eightBit: true }), msg);
      assert.deepEqual(r.recipients, [{ code: 251, text: "will forward" }]);
      assert.deepEqual(r.data, { code: 250, text: "ok" });
    } finally {
      await client.quit();
    }
  });
});

Deno.test("malformed, over-long and endless replies are protocol errors (temporary)", async () => {
  const cases: [string, RegExp][] = [
    ["hello there\r\n", /malformed reply line/],
    [`250-${"x".repeat(5000)}\r\n`, /longer than 4096/],
    [`250-${"x".repeat(5000)}`, /longer than 4096/], // no line end at all
    ["250-x\r\n".repeat(100), /more than 64 lines/],
  ];
  for (const [ehloReply, pattern] of cases) {
    await withScript(async (c) => {
      await c.send("220 scripted.test\r\n");
      await c.line();
      await c.send(ehloReply);
      await c.drain();
    }, async (options) => {
      const error = await rejectsWith(SmtpClient.connect(options), { stage: "ehlo", temporary: true });
      assert.match(error.message, pattern);
    });
  }
});

Deno.test("greeting refusals: 554 is permanent, 421 temporary", async () => {
  for (const [greeting, temporary] of [["554 no service here", false], ["421 busy, try later", true]] as const) {
    await withScript(async (c) => {
      await c.send(`${greeting}\r\n`);
      const quit = await c.line();
      if (quit === "QUIT") await c.send("221 bye\r\n");
      await c.drain();
    }, async (options) => {
      await rejectsWith(SmtpClient.connect(options), { stage: "greeting", temporary });
    });
  }
});

Deno.test("STARTTLS: bytes after the 220 are refused (no response injection); requireTls with STARTTLS refused", async () => {
  await withScript(async (c) => {
    await greet(c, ["STARTTLS"]);
    assert.equal(await c.line(), "STARTTLS");
    await c.send("220 go ahead\r\n250 injected\r\n");
    await c.drain();
  }, async (options) => {
    const error = await rejectsWith(SmtpClient.connect(options), { stage: "starttls", temporary: true });
    assert.match(error.message, /after its STARTTLS reply/);
  });
  await withScript(async (c) => {
    await greet(c, ["STARTTLS"]);
    assert.equal(await c.line(), "STARTTLS");
    await c.send("454 4.7.0 TLS not available\r\n");
    const next = await c.line();
    if (next === "QUIT") await c.send("221 bye\r\n");
    await c.drain();
  }, async (options) => {
    await rejectsWith(SmtpClient.connect({ ...options, requireTls: true }), {
      stage: "starttls",
      temporary: true,
      code: 454,
    });
  });
});

Deno.test("connecting to a closed port → temporary error, stage connect", async () => {
  const port = freePort();
  await rejectsWith(
    SmtpClient.connect({ host: "127.0.0.1", port, servername: "x.test", helo: "client.test", tls: "starttls" }),
    { stage: "connect", temporary: true },
  );
});
