/**
 * IMAP with real clients against the in-process server (tests/imap_harness.ts), on both store drivers: imapflow
 * (npm), Python imaplib, mbsync (isync), offlineimap3, curl and openssl s_client. Each must work unchanged with
 * what a user would configure: host, port, TLS, user name and password.
 */
import assert from "node:assert/strict";
import { ImapFlow } from "imapflow";
import { storeTest } from "./harness.ts";
import { appendRaw, deliverSmtp, message, PASSWORD, type TestImap, withImap } from "./imap_harness.ts";
import { runClient } from "./smtp_harness.ts";

function imapflow(s: TestImap, o: { starttls?: boolean; user?: string } = {}): ImapFlow {
  return new ImapFlow({
    host: "127.0.0.1",
    port: o.starttls ? s.imap : s.imaps,
    secure: !o.starttls,
    ...(o.starttls ? { doSTARTTLS: true } : {}),
    auth: { user: o.user ?? "alice@example.test", pass: PASSWORD },
    tls: { rejectUnauthorized: false },
    logger: false,
  });
}

storeTest(
  "imap clients: imapflow over 993 and 143 STARTTLS: list, fetch, flag, search, move, IDLE wake-up",
  async (_t, ts) => {
    await withImap(ts, async (s) => {
      await appendRaw(ts, s.ids.alice, "INBOX", message({ subject: "First", body: "one" }));
      await appendRaw(ts, s.ids.alice, "INBOX", message({ subject: "Second", body: "two" }), { flags: ["\\Seen"] });
      const c = imapflow(s);
      await c.connect();
      try {
        const list = await c.list();
        assert.deepEqual(list.map((m) => m.path).sort(), ["Archive", "Drafts", "INBOX", "Junk", "Sent", "Trash"]);
        assert.equal(list.find((m) => m.path === "Sent")?.specialUse, "\\Sent");
        const box = await c.mailboxOpen("INBOX");
        assert.equal(box.exists, 2);
        const msgs = [];
        for await (
          const m of c.fetch("1:*", { uid: true, flags: true, envelope: true, bodyStructure: true, source: true })
        ) {
          msgs.push(m);
        }
        assert.deepEqual(msgs.map((m) => m.envelope?.subject), ["First", "Second"]);
        assert.equal(msgs[0]!.envelope?.from?.[0]?.address, "carol@remote.test");
        assert.equal(msgs[0]!.bodyStructure?.type, "text/plain");
        assert.match(new TextDecoder().decode(msgs[0]!.source), /\r\n\r\none\r\n$/);
        assert.ok(msgs[1]!.flags?.has("\\Seen"));
        assert.ok(await c.messageFlagsAdd("1", ["\\Flagged", "$Important"]));
        const flagged = await c.search({ flagged: true });
        assert.deepEqual(flagged, [1]);
        assert.deepEqual(await c.search({ seen: false }), [1]);
        assert.deepEqual(await c.search({ subject: "second" }, { uid: true }), [2]);
        const moved = await c.messageMove("2", "Archive");
        assert.ok(moved && moved.uidMap?.get(2) === 1, Deno.inspect(moved));
        assert.equal((await c.status("Archive", { messages: true })).messages, 1);
        // IDLE: mail delivered through the MX wakes the idling client with an EXISTS.
        const exists = new Promise<number>((resolve) => c.on("exists", (d: { count: number }) => resolve(d.count)));
        const idling = c.idle();
        await new Promise((r) => setTimeout(r, 200));
        await deliverSmtp(s, "alice@example.test", message({ subject: "Wake up" }));
        const count = await Promise.race([
          exists,
          new Promise<never>((_, rej) => setTimeout(() => rej(new Error("no EXISTS during IDLE")), 10_000)),
        ]);
        assert.equal(count, 2);
        const last = await c.fetchOne("*", { envelope: true });
        assert.equal(last && last.envelope?.subject, "Wake up");
        await idling.catch(() => {});
      } finally {
        await c.logout();
      }
      // 143 with STARTTLS.
      const p = imapflow(s, { starttls: true, user: "bob@example.test" });
      await p.connect();
      try {
        assert.ok((await p.list()).some((m) => m.path === "INBOX"));
        assert.equal((await p.status("INBOX", { messages: true })).messages, 0);
      } finally {
        await p.logout();
      }
      assert.ok(s.logs.some((l) => l.msg === "TLS started"));
    });
  },
);

storeTest("imap clients: Python imaplib: STARTTLS and 993, a full session", async (_t, ts) => {
  await withImap(ts, async (s) => {
    await appendRaw(ts, s.ids.alice, "INBOX", message({ subject: "From the store", body: "stored" }));
    const py = `
import imaplib, ssl, time, email, email.message, email.header
ctx = ssl.create_default_context(cafile=${JSON.stringify(s.certFile)})
ctx.check_hostname = False
def ok(r):
    typ, data = r
    assert typ == "OK", (typ, data)
    return data
p = imaplib.IMAP4("127.0.0.1", ${s.imap})
assert "LOGINDISABLED" in p.capabilities, p.capabilities
ok(p.starttls(ssl_context=ctx))
ok(p.login("alice@example.test", ${JSON.stringify(PASSWORD)}))
assert p.logout()[0] == "BYE"
c = imaplib.IMAP4_SSL("127.0.0.1", ${s.imaps}, ssl_context=ctx)
ok(c.login("alice@example.test", ${JSON.stringify(PASSWORD)}))
print("caps", " ".join(c.capabilities))
print("list", b"|".join(ok(c.list())).decode())
ok(c.create("Receipts/2025"))
msg = email.message.EmailMessage()
msg["From"] = "Alice <alice@example.test>"; msg["To"] = "bob@example.test"; msg["Subject"] = "Grüße from imaplib"
msg.set_content("Hällo, this is the body.")
typ, data = c.append("INBOX", r"(\\Flagged)", imaplib.Time2Internaldate(time.time()), msg.as_bytes())
assert typ == "OK", data
print("append", data[0].decode())
print("select", ok(c.select("INBOX"))[0].decode())
print("search", ok(c.search(None, "FLAGGED"))[0].decode())
print("search-utf8", ok(c.search("UTF-8", "SUBJECT", "Grüße".encode()))[0].decode())
data = ok(c.fetch("2", "(RFC822 FLAGS)"))
m = email.message_from_bytes(data[0][1])
print("subject", str(email.header.make_header(email.header.decode_header(m["Subject"]))))
print("body", m.get_payload(decode=True).decode().strip())
print("flags", data[1].decode() if isinstance(data[1], bytes) else data[0][0].decode())
print("header", ok(c.fetch("1", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])"))[0][1].decode().strip())
print("bodystructure", ok(c.fetch("2", "(BODYSTRUCTURE)"))[0].decode())
ok(c.store("1", "+FLAGS", r"(\\Seen)"))
typ, data = c.uid("COPY", "1", "Receipts/2025")
assert typ == "OK", data
print("copy", c.untagged_responses.get("COPYUID", [b"-"])[0] if "COPYUID" in c.untagged_responses else "ok")
typ, data = c.uid("MOVE", "2", "Archive")
assert typ == "OK", data
print("status", ok(c.status("Receipts/2025", "(MESSAGES UNSEEN)"))[0].decode())
ok(c.store("1", "+FLAGS", r"(\\Deleted)"))
print("expunge", ok(c.expunge()))
print("after", ok(c.select("INBOX"))[0].decode())
print("archive", ok(c.status("Archive", "(MESSAGES)"))[0].decode())
ok(c.close())
assert c.logout()[0] == "BYE"
print("done")
`;
    const r = await runClient("python3", ["-c", py]);
    assert.equal(r.code, 0, r.out);
    const line = (k: string) => new RegExp(`^${k} (.*)$`, "m").exec(r.out)?.[1] ?? "";
    assert.match(line("caps"), /IMAP4REV1|IMAP4rev1/i);
    assert.match(line("list"), /\(\\HasNoChildren \\Sent\) "\/" "Sent"/);
    assert.match(line("append"), /\[APPENDUID \d+ 2\]/);
    assert.equal(line("select"), "2");
    assert.equal(line("search"), "2");
    assert.equal(line("search-utf8"), "2");
    assert.equal(line("subject"), "Grüße from imaplib");
    assert.equal(line("body"), "Hällo, this is the body.");
    assert.equal(line("header"), "Subject: From the store");
    assert.match(line("bodystructure"), /\("text" "plain" \("charset" "utf-8"\)/);
    assert.equal(line("status"), `"Receipts/2025" (MESSAGES 1 UNSEEN 0)`);
    // imaplib collects every EXPUNGE since the last read: the MOVE's (message 2), then the EXPUNGE's (message 1).
    assert.equal(line("expunge"), "[b'2', b'1']");
    assert.equal(line("after"), "0");
    assert.equal(line("archive"), `"Archive" (MESSAGES 1)`);
    assert.match(r.out, /^done$/m);
  });
});

/** Every file under `dir` (relative path → content), to compare a Maildir before and after a sync. */
async function snapshot(dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const walk = async (d: string) => {
    for await (const e of Deno.readDir(d)) {
      const p = `${d}/${e.name}`;
      if (e.isDirectory) await walk(p);
      else out.set(p.slice(dir.length + 1), await Deno.readTextFile(p));
    }
  };
  await walk(dir);
  return out;
}

/** Maildir message files (cur/ and new/) of one folder, by name. */
async function maildirFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const sub of ["cur", "new"]) {
    try {
      for await (const e of Deno.readDir(`${dir}/${sub}`)) out.push(`${sub}/${e.name}`);
    } catch { /* none */ }
  }
  return out.sort();
}

storeTest("imap clients: mbsync syncs to a Maildir; a second run is a no-op; flags sync both ways", async (_t, ts) => {
  await withImap(ts, async (s) => {
    await appendRaw(ts, s.ids.alice, "INBOX", message({ subject: "one" }));
    await appendRaw(ts, s.ids.alice, "INBOX", message({ subject: "two" }), { flags: ["\\Seen"] });
    await appendRaw(ts, s.ids.alice, "Archive", message({ subject: "archived" }), { flags: ["\\Seen", "\\Answered"] });
    const dir = await Deno.makeTempDir({ prefix: "silvermail-mbsync-" });
    try {
      await Deno.mkdir(`${dir}/mail`);
      const conf = `${dir}/mbsyncrc`;
      await Deno.writeTextFile(
        conf,
        [
          "IMAPAccount test",
          "Host 127.0.0.1",
          `Port ${s.imaps}`,
          "User alice@example.test",
          `Pass "${PASSWORD}"`,
          "SSLType IMAPS",
          `CertificateFile ${s.certFile}`,
          "",
          "IMAPStore remote",
          "Account test",
          "",
          "MaildirStore local",
          `Path ${dir}/mail/`,
          `Inbox ${dir}/mail/INBOX`,
          "SubFolders Verbatim",
          "",
          "Channel sync",
          "Far :remote:",
          "Near :local:",
          "Patterns *",
          "Create Both",
          "Expunge Both",
          "SyncState *",
          "",
        ].join("\n"),
      );
      const mbsync = () => runClient("mbsync", ["-c", conf, "-Dn", "sync"]);
      const first = await mbsync();
      assert.equal(first.code, 0, first.out);
      assert.equal((await maildirFiles(`${dir}/mail/INBOX`)).length, 2, first.out);
      assert.equal((await maildirFiles(`${dir}/mail/Archive`)).length, 1);
      assert.ok((await maildirFiles(`${dir}/mail/Archive`))[0]!.endsWith(":2,RS"));
      const before = await snapshot(`${dir}/mail`);
      // The second run: nothing to do, nothing changes.
      const second = await mbsync();
      assert.equal(second.code, 0, second.out);
      // -Dn shows every IMAP command: only LIST, SELECT, UID FETCH (UID FLAGS), CLOSE — nothing transferred or changed.
      assert.doesNotMatch(
        second.out,
        /^>>> \d+ (UID STORE|STORE|APPEND|EXPUNGE|UID EXPUNGE|CREATE|UID FETCH \S+ \(.*BODY)/m,
      );
      assert.match(second.out, /^>>> \d+ UID FETCH 1:2 \(UID FLAGS\)$/m);
      assert.deepEqual(await snapshot(`${dir}/mail`), before, second.out);
      // Server → local: a flag set over IMAP shows up in the file name.
      const c = await (await import("./imap_harness.ts")).login(s);
      await c.expect("OK", "a1 SELECT INBOX");
      await c.expect("OK", "a2 STORE 1 +FLAGS (\\Flagged)");
      const third = await mbsync();
      assert.equal(third.code, 0, third.out);
      const files = await maildirFiles(`${dir}/mail/INBOX`);
      assert.ok(files.some((f) => /:2,F$/.test(f)), `${files}\n${third.out}`);
      // Local → server: mark the unread one read by renaming its file (the Maildir way).
      const unread = files.find((f) => /:2,F$/.test(f))!;
      await Deno.rename(
        `${dir}/mail/INBOX/${unread}`,
        `${dir}/mail/INBOX/cur/${unread.split("/")[1]!.replace(/:2,F$/, ":2,FS")}`,
      );
      const fourth = await mbsync();
      assert.equal(fourth.code, 0, fourth.out);
      assert.equal((await c.expect("OK", "a3 NOOP")).text, "* 1 FETCH (UID 1 FLAGS (\\Flagged \\Seen))");
      // A message appended locally is uploaded; a message deleted on the server disappears locally.
      await c.expect("OK", "a4 STORE 2 +FLAGS.SILENT (\\Deleted)");
      await c.expect("OK", "a5 EXPUNGE");
      const fifth = await mbsync();
      assert.equal(fifth.code, 0, fifth.out);
      assert.equal((await maildirFiles(`${dir}/mail/INBOX`)).length, 1, fifth.out);
      // Local → server: a new local message is APPENDed (APPENDUID), a new local folder CREATEd.
      const local = message({ subject: "written offline", messageId: "offline.1@example.test" });
      await Deno.writeTextFile(`${dir}/mail/INBOX/new/1700000000.1_1.host`, local.replaceAll("\r\n", "\n"));
      for (const sub of ["cur", "new", "tmp"]) await Deno.mkdir(`${dir}/mail/Notes/${sub}`, { recursive: true });
      await Deno.writeTextFile(`${dir}/mail/Notes/cur/1700000000.2_1.host:2,S`, message({ subject: "note" }));
      const upload = await mbsync();
      assert.equal(upload.code, 0, upload.out);
      assert.match(upload.out, /^>>> \d+ APPEND "INBOX"/m);
      assert.match(upload.out, /^\d+ OK \[APPENDUID \d+ 3\]/m);
      assert.match(upload.out, /^>>> \d+ CREATE "Notes"/m);
      const search = await c.expect("OK", `a6 UID SEARCH HEADER Message-ID "offline.1@example.test"`);
      assert.match(search.text, /^\* 2 EXISTS$/m);
      assert.match(search.text, /^\* SEARCH 3$/m);
      const notes = await c.expect("OK", "a7 STATUS Notes (MESSAGES UNSEEN)");
      assert.equal(notes.text, `* STATUS "Notes" (MESSAGES 1 UNSEEN 0)`);
      c.close();
      // And once more: clean.
      const sixthBefore = await snapshot(`${dir}/mail`);
      const sixth = await mbsync();
      assert.equal(sixth.code, 0, sixth.out);
      assert.deepEqual(await snapshot(`${dir}/mail`), sixthBefore, sixth.out);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
});

storeTest("imap clients: offlineimap3 syncs the account to a Maildir", async (_t, ts) => {
  await withImap(ts, async (s) => {
    await appendRaw(ts, s.ids.alice, "INBOX", message({ subject: "one" }));
    await appendRaw(ts, s.ids.alice, "INBOX", message({ subject: "two" }), { flags: ["\\Seen", "\\Flagged"] });
    await ts.store.mailboxes.create(s.ids.alice, "Lists/Deno");
    await appendRaw(ts, s.ids.alice, "Lists/Deno", message({ subject: "release" }), { flags: ["\\Seen"] });
    const dir = await Deno.makeTempDir({ prefix: "silvermail-offlineimap-" });
    try {
      const conf = `${dir}/offlineimaprc`;
      await Deno.writeTextFile(
        conf,
        [
          "[general]",
          "accounts = test",
          `metadata = ${dir}/meta`,
          "",
          "[Account test]",
          "localrepository = local",
          "remoterepository = remote",
          "",
          "[Repository local]",
          "type = Maildir",
          `localfolders = ${dir}/mail`,
          "",
          "[Repository remote]",
          "type = IMAP",
          "remotehost = localhost", // imaplib2 checks DNS names only, not the certificate's IP address
          `remoteport = ${s.imaps}`,
          "remoteuser = alice@example.test",
          `remotepass = ${PASSWORD}`,
          "ssl = yes",
          `sslcacertfile = ${s.certFile}`,
          "",
        ].join("\n"),
      );
      const r = await runClient("offlineimap", ["-c", conf, "-o", "-u", "basic"]);
      assert.equal(r.code, 0, r.out);
      assert.doesNotMatch(r.out, /ERROR|Traceback/, r.out);
      const inbox = await maildirFiles(`${dir}/mail/INBOX`);
      assert.equal(inbox.length, 2, r.out);
      assert.ok(inbox.some((f) => /,FS$/.test(f)), inbox.join(" "));
      assert.equal((await maildirFiles(`${dir}/mail/Lists.Deno`)).length, 1, r.out); // its local separator is "."
      for (const box of ["Archive", "Drafts", "Junk", "Sent", "Trash"]) await Deno.stat(`${dir}/mail/${box}/cur`);
      const text = await Deno.readTextFile(`${dir}/mail/INBOX/${inbox.find((f) => /,FS$/.test(f))}`);
      assert.match(text, /^Subject: two\r?$/m);
      // A second run copies nothing.
      const again = await runClient("offlineimap", ["-c", conf, "-o", "-u", "basic"]);
      assert.equal(again.code, 0, again.out);
      assert.doesNotMatch(again.out, /Copy message|Deleting|flag|ERROR/i, again.out);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
});

storeTest("imap clients: curl lists, searches and fetches by UID over imaps:// and STARTTLS", async (_t, ts) => {
  await withImap(ts, async (s) => {
    const raw = message({ subject: "For curl", body: "Fetched by curl." });
    await appendRaw(ts, s.ids.alice, "INBOX", message({ subject: "other" }));
    await appendRaw(ts, s.ids.alice, "INBOX", raw);
    const user = ["--user", `alice@example.test:${PASSWORD}`, "--cacert", s.certFile, "-sS"];
    const list = await runClient("curl", [...user, `imaps://127.0.0.1:${s.imaps}/`]);
    assert.equal(list.code, 0, list.out);
    assert.match(list.out, /^\* LIST \(\\HasNoChildren \\Sent\) "\/" "Sent"\r?$/m);
    const fetched = await runClient("curl", [...user, `imaps://127.0.0.1:${s.imaps}/INBOX;UID=2`]);
    assert.equal(fetched.code, 0, fetched.out);
    assert.equal(fetched.out, raw);
    const search = await runClient("curl", [...user, `imaps://127.0.0.1:${s.imaps}/INBOX?SUBJECT%20curl`]);
    assert.equal(search.code, 0, search.out);
    assert.match(search.out, /^\* SEARCH 2\r?$/m);
    const section = await runClient("curl", [
      ...user,
      `imaps://127.0.0.1:${s.imaps}/INBOX;UID=2;SECTION=HEADER.FIELDS%20(SUBJECT)`,
    ]);
    assert.equal(section.out.trim(), "Subject: For curl");
    // 143 with STARTTLS required.
    const tls = await runClient("curl", [...user, "--ssl-reqd", `imap://127.0.0.1:${s.imap}/INBOX;UID=2`]);
    assert.equal(tls.code, 0, tls.out);
    assert.equal(tls.out, raw);
    // Without TLS, curl cannot log in (LOGINDISABLED).
    const plain = await runClient("curl", [
      "--user",
      `alice@example.test:${PASSWORD}`,
      "-sS",
      `imap://127.0.0.1:${s.imap}/`,
    ]);
    assert.notEqual(plain.code, 0, plain.out);
    const wrong = await runClient("curl", [
      "--user",
      "alice@example.test:wrong password",
      "--cacert",
      s.certFile,
      "-sS",
      `imaps://127.0.0.1:${s.imaps}/`,
    ]);
    assert.notEqual(wrong.code, 0);
  });
});

storeTest(
  "imap clients: openssl s_client -starttls imap negotiates TLS ≥ 1.2; TLS 1.1 is refused on 993",
  async (_t, ts) => {
    await withImap(ts, async (s) => {
      // s_client quits at the end of its input: feed the commands slowly so their answers are read.
      const feed = `(sleep 0.5; printf 'a1 CAPABILITY\\r\\n'; sleep 0.3; printf 'a2 LOGOUT\\r\\n'; sleep 0.3)`;
      const r = await runClient("bash", [
        "-c",
        `${feed} | openssl s_client -connect 127.0.0.1:${s.imap} -starttls imap -brief`,
      ]);
      assert.match(r.out, /Protocol version: TLSv1\.[23]/, r.out);
      assert.match(r.out, /\* CAPABILITY .*AUTH=PLAIN/, r.out);
      assert.match(r.out, /a2 OK/, r.out);
      const implicit = await runClient(
        "openssl",
        ["s_client", "-connect", `127.0.0.1:${s.imaps}`, "-brief"],
        "a1 LOGOUT\r\n",
      );
      assert.match(implicit.out, /Protocol version: TLSv1\.3/, implicit.out);
      const old = await runClient("openssl", ["s_client", "-connect", `127.0.0.1:${s.imaps}`, "-tls1_1", "-brief"], "");
      assert.doesNotMatch(old.out, /Protocol version: TLSv1\.1/);
      const tls12 = await runClient(
        "openssl",
        ["s_client", "-connect", `127.0.0.1:${s.imaps}`, "-tls1_2", "-brief"],
        "",
      );
      assert.match(tls12.out, /Protocol version: TLSv1\.2/);
    });
  },
);

storeTest(
  "imap clients: imapflow: mailbox management, APPEND, attachment download, QRESYNC, flags from another client",
  async (_t, ts) => {
    await withImap(ts, async (s) => {
      const pdf = await Deno.readFile(new URL("./testdata/attachments/report.pdf", import.meta.url));
      const nodemailer = (await import("nodemailer")).default;
      // A MIME message built by nodemailer's composer, delivered through the MX.
      const composer = nodemailer.createTransport({ streamTransport: true, buffer: true });
      const built = await composer.sendMail({
        from: "carol@remote.test",
        to: "alice@example.test",
        subject: "Report attached",
        text: "See attachment.",
        attachments: [{ filename: "report.pdf", content: pdf, contentType: "application/pdf" }],
      });
      await deliverSmtp(s, "alice@example.test", new TextDecoder().decode(built.message as Uint8Array));
      const c = new ImapFlow({
        host: "127.0.0.1",
        port: s.imaps,
        secure: true,
        auth: { user: "alice@example.test", pass: PASSWORD },
        tls: { rejectUnauthorized: false },
        logger: false,
        qresync: true,
      });
      await c.connect();
      const other = imapflow(s);
      await other.connect();
      try {
        assert.ok(c.enabled.has("QRESYNC") || c.enabled.has("CONDSTORE"), [...c.enabled].join(" "));
        await c.mailboxCreate(["Projects", "Alpha"]);
        const renamed = await c.mailboxRename("Projects/Alpha", "Projects/Beta");
        assert.equal(renamed.newPath, "Projects/Beta");
        assert.ok((await c.list()).some((m) => m.path === "Projects/Beta"));
        await c.mailboxDelete("Projects/Beta");
        assert.ok(!(await c.list()).some((m) => m.path === "Projects/Beta"));
        const appended = await c.append("Drafts", "From: alice@example.test\r\nSubject: draft\r\n\r\nText\r\n", [
          "\\Draft",
        ]);
        assert.ok(appended && appended.uid === 1, Deno.inspect(appended));
        const box = await c.mailboxOpen("INBOX");
        assert.equal(box.exists, 1);
        const msg = await c.fetchOne("1", { bodyStructure: true, uid: true });
        assert.ok(msg);
        const part = msg.bodyStructure?.childNodes?.find((p: { type: string }) => p.type === "application/pdf");
        assert.ok(part, Deno.inspect(msg.bodyStructure, { depth: 5 }));
        const dl = await c.download("1", part.part);
        const chunks: Uint8Array[] = [];
        for await (const chunk of dl.content) chunks.push(chunk as Uint8Array);
        const got = new Uint8Array(chunks.reduce((n, b) => n + b.length, 0));
        let at = 0;
        for (const b of chunks) got.set(b, (at += b.length) - b.length);
        assert.deepEqual(got, pdf);
        assert.equal(dl.meta.filename, "report.pdf");
        // Another client flags the message: the first one hears of it (FETCH with MODSEQ under QRESYNC).
        const flagsSeen = new Promise<string[]>((resolve) =>
          c.on("flags", (d: { flags: Set<string> }) => resolve([...d.flags]))
        );
        await other.mailboxOpen("INBOX");
        await other.messageFlagsAdd("1", ["\\Flagged"]);
        await c.noop();
        const flags = await Promise.race([
          flagsSeen,
          new Promise<never>((_, rej) => setTimeout(() => rej(new Error("no FETCH FLAGS")), 10_000)),
        ]);
        assert.ok(flags.includes("\\Flagged"), flags.join(" "));
        // Another client deletes it: the first one hears VANISHED (as an expunge event).
        const expunged = new Promise<unknown>((resolve) => c.on("expunge", resolve));
        await other.messageDelete("1");
        await c.noop();
        const ev = await Promise.race([
          expunged,
          new Promise<never>((_, rej) => setTimeout(() => rej(new Error("no VANISHED")), 10_000)),
        ]);
        assert.ok(ev);
        assert.equal((await c.status("INBOX", { messages: true })).messages, 0);
      } finally {
        await other.logout();
        await c.logout();
      }
    });
  },
);
