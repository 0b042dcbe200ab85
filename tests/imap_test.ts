/**
 * IMAP end to end, as transcripts: the real server on real sockets with real TLS (tests/imap_harness.ts), driven
 * by the transcript client (tests/clients/imap.ts), on both store drivers. A second connection checks what the
 * first one changed.
 */
import assert from "node:assert/strict";
import { Store, type StoreOptions } from "../store/mod.ts";
import { ImapTestClient } from "./clients/imap.ts";
import { SmtpTestClient } from "./clients/smtp.ts";
import { createTestDatabase, postgresUnavailableReason, storeTest } from "./harness.ts";
import {
  appendRaw,
  deliverSmtp,
  login,
  message,
  PASSWORD,
  startTestImap,
  type TestImap,
  withImap,
} from "./imap_harness.ts";
import { type ServerProcess, startServerProcess } from "./server_process.ts";

const ATTACHMENTS = new URL("./testdata/attachments/", import.meta.url).pathname;

/** Delivers through an MX port (of a server process). */
async function deliverToPort(port: number, raw: string): Promise<void> {
  const [c] = await SmtpTestClient.connect(port);
  try {
    await c.expect(250, "EHLO remote.test");
    await c.expect(250, "MAIL FROM:<carol@remote.test>");
    await c.expect(250, "RCPT TO:<alice@example.test>");
    await c.expect(354, "DATA");
    await c.expect(250, raw + ".");
  } finally {
    c.close();
  }
}

function logged(s: TestImap, msg: string): boolean {
  return s.logs.some((l) => l.msg === msg);
}

/** The mailbox names of LIST/LSUB responses, unquoted. */
function names(r: { untagged: { text: string }[] }): string[] {
  return r.untagged.filter((u) => /^\* (LIST|LSUB) /.test(u.text)).map((u) => {
    const n = /"\/" (.*?)(?: \(".*)?$/.exec(u.text)![1]!;
    return n.startsWith('"') ? JSON.parse(n) : n;
  });
}

function plain(user: string, password: string): string {
  return btoa(String.fromCharCode(...new TextEncoder().encode(`\0${user}\0${password}`)));
}

storeTest(
  "imap: LOGINDISABLED before TLS, STARTTLS drops pipelined bytes, LOGIN, AUTHENTICATE PLAIN",
  async (_t, ts) => {
    await withImap(ts, async (s) => {
      const [c, greeting] = await ImapTestClient.connect(s.imap, { caCerts: s.caCerts });
      assert.match(greeting, /^\* OK \[CAPABILITY [^\]]*\bSTARTTLS\b[^\]]*\] /);
      assert.match(greeting, /LOGINDISABLED/);
      assert.doesNotMatch(greeting, /AUTH=PLAIN/, "no SASL mechanism before TLS");
      const cap = await c.expect("OK", "a1 CAPABILITY");
      assert.match(cap.text, /^\* CAPABILITY IMAP4rev1 IMAP4rev2 .*STARTTLS LOGINDISABLED/);
      // RFC 9051 §6.2.3: no password before TLS.
      const refused = await c.cmd(`a2 LOGIN alice@example.test "${PASSWORD}"`);
      assert.ok(
        /^a2 NO \[PRIVACYREQUIRED\]/.test(refused.tagged) || /^a2 BAD/.test(refused.tagged),
        refused.tagged,
      );
      await c.expect("NO", `a3 AUTHENTICATE PLAIN ${plain("alice@example.test", PASSWORD)}`);
      await c.expect("BAD", "a4 SELECT INBOX");
      // STARTTLS command injection (RFC 9051 §6.2.1): what follows STARTTLS in the same packet must not run.
      await c.write(`a5 STARTTLS\r\na6 LOGIN alice@example.test "${PASSWORD}"\r\n`);
      assert.match(await c.readLine(), /^a5 OK/);
      await c.handshake();
      const after = await c.expect("OK", "a7 CAPABILITY");
      assert.match(after.text, /AUTH=PLAIN/);
      assert.doesNotMatch(after.text, /STARTTLS|LOGINDISABLED/);
      assert.ok(logged(s, "dropped bytes pipelined after STARTTLS"));
      // Not logged in: the injected LOGIN never ran.
      await c.expect("BAD", "a8 SELECT INBOX");
      await c.expect("BAD", "a9 STARTTLS");
      await c.expect("NO", `b1 LOGIN alice@example.test wrong-password`);
      const ok = await c.expect("OK", `b2 LOGIN alice@example.test "${PASSWORD}"`);
      assert.match(ok.tagged, /^b2 OK \[CAPABILITY [^\]]*\bMOVE\b[^\]]*\] /);
      await c.expect("BAD", `b3 LOGIN alice@example.test "${PASSWORD}"`);
      const bye = await c.expect("OK", "b4 LOGOUT");
      assert.match(bye.text, /^\* BYE/);
      assert.ok(await c.closedByServer());

      // AUTHENTICATE PLAIN with SASL-IR (RFC 4959) on 993, and without it (continuation).
      const [d] = await ImapTestClient.connect(s.imaps, { tls: true, caCerts: s.caCerts });
      await d.expect("NO", `c1 AUTHENTICATE PLAIN ${plain("alice@example.test", "nope")}`);
      await d.expect("NO", "c2 AUTHENTICATE CRAM-MD5");
      await d.write("c3 AUTHENTICATE PLAIN\r\n");
      assert.match(await d.readLine(), /^\+/);
      await d.write("*\r\n");
      assert.match(await d.readLine(), /^c3 BAD/);
      const ir = await d.expect("OK", `c4 AUTHENTICATE PLAIN ${plain("alice@example.test", PASSWORD)}`);
      assert.match(ir.tagged, /\[CAPABILITY /);
      d.close();
      const [e] = await ImapTestClient.connect(s.imaps, { tls: true, caCerts: s.caCerts });
      await e.write("d1 AUTHENTICATE PLAIN\r\n");
      assert.match(await e.readLine(), /^\+/);
      await e.write(plain("bob@example.test", PASSWORD) + "\r\n");
      assert.match((await e.readReply("d1")).tagged, /^d1 OK/);
      await e.expect("OK", "d2 SELECT INBOX");
      e.close();
      assert.ok(s.logs.some((l) => l.msg === "login ok" && l.how === "AUTHENTICATE PLAIN"));
      assert.ok(!JSON.stringify(s.logs).includes(PASSWORD), "passwords are never logged");
    });
  },
);

storeTest("imap: ENABLE, ID, NAMESPACE, NOOP, CHECK, unknown commands", async (_t, ts) => {
  await withImap(ts, async (s) => {
    const c = await login(s);
    const en = await c.expect("OK", "a1 ENABLE CONDSTORE QRESYNC X-UNKNOWN");
    assert.match(en.text, /^\* ENABLED CONDSTORE QRESYNC$/);
    const again = await c.expect("OK", "a2 ENABLE CONDSTORE");
    assert.match(again.text, /^\* ENABLED$/);
    const id = await c.expect("OK", `a3 ID ("name" "test" "version" "1")`);
    assert.match(id.text, /^\* ID \("name" "Silvermail"/);
    await c.expect("OK", "a4 ID NIL");
    const ns = await c.expect("OK", "a5 NAMESPACE");
    assert.equal(ns.text, `* NAMESPACE (("" "/")) NIL NIL`);
    await c.expect("OK", "a6 NOOP");
    await c.expect("BAD", "a7 CHECK"); // not selected
    await c.expect("OK", "a8 SELECT INBOX");
    await c.expect("OK", "a9 CHECK");
    await c.expect("BAD", "b1 FROBNICATE");
    await c.expect("BAD", "b2 FETCH");
    c.close();
  });
});

storeTest("imap: CREATE, DELETE, RENAME (children, INBOX), SUBSCRIBE, LIST variants, LSUB", async (_t, ts) => {
  await withImap(ts, async (s) => {
    const c = await login(s);
    await c.expect("OK", "a1 CREATE Projects/2024/Q1");
    await c.expect("OK", "a2 CREATE Projects/2025/"); // trailing delimiter: a name that will have children
    await c.expect("NO", "a3 CREATE Projects/2024").then((r) => assert.match(r.tagged, /\[ALREADYEXISTS\]/));
    await c.expect("NO", "a4 CREATE inbox");
    await c.expect("OK", `a5 CREATE "Entwürfe &-"`.replace("Entwürfe", "Entw&APw-rfe"));
    await c.expect("OK", "a6 CREATE Important (USE (\\Flagged))");
    await c.expect("NO", "a7 CREATE Other (USE (\\Bogus))").then((r) => assert.match(r.tagged, /\[USEATTR\]/));

    const all = await c.expect("OK", `a8 LIST "" "*"`);
    assert.deepEqual(names(all), [
      "Archive",
      "Drafts",
      "Entw&APw-rfe &-",
      "INBOX",
      "Important",
      "Junk",
      "Projects",
      "Projects/2024",
      "Projects/2024/Q1",
      "Projects/2025",
      "Sent",
      "Trash",
    ]);
    assert.match(all.text, /^\* LIST \(\\HasChildren\) "\/" "Projects"$/m);
    assert.match(all.text, /^\* LIST \(\\HasNoChildren\) "\/" "Projects\/2024\/Q1"$/m);
    assert.match(all.text, /^\* LIST \(\\HasNoChildren \\Sent\) "\/" "Sent"$/m);
    assert.match(all.text, /^\* LIST \(\\HasNoChildren \\Flagged\) "\/" "Important"$/m);
    const top = await c.expect("OK", `a9 LIST "" "%"`);
    assert.equal(top.untagged.length, 9);
    const sub = await c.expect("OK", `b1 LIST "Projects/" "%"`);
    assert.deepEqual(names(sub), ["Projects/2024", "Projects/2025"]);
    const delim = await c.expect("OK", `b2 LIST "" ""`);
    assert.equal(delim.text, `* LIST (\\Noselect) "/" ""`);
    const inbox = await c.expect("OK", `b3 LIST "" "iNbOx"`);
    assert.match(inbox.text, /^\* LIST \(\\HasNoChildren\) "\/" "INBOX"$/);
    // UTF8=ACCEPT: names go out as UTF-8.
    await c.expect("OK", "b4 ENABLE UTF8=ACCEPT");
    const utf8 = await c.expect("OK", `b5 LIST "" "Entw*"`);
    assert.match(utf8.text, /"Entwürfe &"$/);

    // LIST-EXTENDED (RFC 5258), SPECIAL-USE (RFC 6154), LIST-STATUS (RFC 5819).
    // New mailboxes are subscribed; unsubscribe the parents and keep one child.
    for (const [i, n] of ["Projects", "Projects/2024", "Projects/2025"].entries()) {
      await c.expect("OK", `u${i} UNSUBSCRIBE ${n}`);
    }
    await c.expect("OK", "b7 SUBSCRIBE Projects/2024/Q1");
    await c.expect("NO", "b8 SUBSCRIBE NoSuchBox");
    const subscribed = await c.expect("OK", `b9 LIST (SUBSCRIBED) "" "Projects*"`);
    assert.deepEqual(subscribed.untagged.map((u) => u.text), [
      `* LIST (\\HasNoChildren \\Subscribed) "/" "Projects/2024/Q1"`,
    ]);
    const rec = await c.expect("OK", `c1 LIST (SUBSCRIBED RECURSIVEMATCH) "" "%"`);
    assert.match(rec.text, /^\* LIST \([^)]*\) "\/" "Projects" \("CHILDINFO" \("SUBSCRIBED"\)\)$/m);
    const special = await c.expect("OK", `c2 LIST (SPECIAL-USE) "" "*"`);
    assert.deepEqual(names(special), [
      "Archive",
      "Drafts",
      "Important",
      "Junk",
      "Sent",
      "Trash",
    ]);
    const ret = await c.expect("OK", `c3 LIST "" "*" RETURN (SPECIAL-USE SUBSCRIBED CHILDREN)`);
    assert.match(ret.text, /^\* LIST \(\\HasNoChildren \\Subscribed\) "\/" "INBOX"$/m);
    const multi = await c.expect("OK", `c4 LIST "" ("INBOX" "Sent")`);
    assert.equal(multi.untagged.length, 2);
    await appendRaw(ts, s.ids.alice, "INBOX", message({ subject: "one" }), { flags: ["\\Seen"] });
    await appendRaw(ts, s.ids.alice, "INBOX", message({ subject: "two" }));
    const st = await c.expect("OK", `c5 LIST "" "INBOX" RETURN (STATUS (MESSAGES UNSEEN UIDNEXT SIZE))`);
    assert.equal(st.untagged.length, 2);
    assert.match(st.untagged[1]!.text, /^\* STATUS "INBOX" \(MESSAGES 2 UNSEEN 1 UIDNEXT 3 SIZE \d+\)$/);
    const lsub = await c.expect("OK", `c6 LSUB "" "Projects*"`);
    assert.deepEqual(names(lsub), ["Projects/2024/Q1"]);
    await c.expect("OK", "c7 UNSUBSCRIBE Projects/2024/Q1");
    await c.expect("OK", "c8 UNSUBSCRIBE Projects/2024/Q1"); // RFC 9051 §6.3.8: may succeed
    assert.equal((await c.expect("OK", `c9 LSUB "" "Projects*"`)).untagged.length, 0);
    assert.equal((await c.expect("OK", `c0 LSUB "" "*"`)).untagged.length, 8);

    // RENAME with children; DELETE.
    await c.expect("OK", "d1 RENAME Projects Work");
    const renamed = await c.expect("OK", `d2 LIST "" "Work*"`);
    assert.deepEqual(names(renamed), [
      "Work",
      "Work/2024",
      "Work/2024/Q1",
      "Work/2025",
    ]);
    assert.equal((await c.expect("OK", `d3 LIST "" "Projects*"`)).untagged.length, 0);
    await c.expect("NO", "d4 RENAME Work Work/Sub");
    await c.expect("NO", "d5 RENAME Work Sent").then((r) => assert.match(r.tagged, /\[ALREADYEXISTS\]/));
    await c.expect("NO", "d6 RENAME NoSuchBox Other").then((r) => assert.match(r.tagged, /\[NONEXISTENT\]/));
    await c.expect("NO", "d7 DELETE Work/2024").then((r) => assert.match(r.tagged, /\[HASCHILDREN\]/));
    await c.expect("OK", "d8 DELETE Work/2024/Q1");
    await c.expect("OK", "d9 DELETE Work/2024");
    await c.expect("NO", "e1 DELETE INBOX");
    await c.expect("NO", "e2 DELETE NoSuchBox").then((r) => assert.match(r.tagged, /\[NONEXISTENT\]/));
    // Renaming INBOX moves its messages to the new mailbox and leaves INBOX empty (RFC 9051 §6.3.6).
    await c.expect("OK", "e3 RENAME INBOX Old-Inbox");
    const st2 = await c.expect("OK", "e4 STATUS Old-Inbox (MESSAGES)");
    assert.equal(st2.text, `* STATUS "Old-Inbox" (MESSAGES 2)`);
    assert.equal((await c.expect("OK", "e5 STATUS INBOX (MESSAGES)")).text, `* STATUS "INBOX" (MESSAGES 0)`);
    // DELETE of the selected mailbox deselects it.
    await c.expect("OK", "e6 SELECT Old-Inbox");
    await c.expect("OK", "e7 DELETE Old-Inbox");
    await c.expect("BAD", "e8 FETCH 1 FLAGS");
    c.close();
  });
});

storeTest("imap: STATUS, APPEND (literal, LITERAL-, APPENDUID, date and flags), SELECT and EXAMINE", async (_t, ts) => {
  await withImap(ts, async (s) => {
    const c = await login(s);
    const st0 = await c.expect("OK", "a1 STATUS INBOX (MESSAGES UIDNEXT UIDVALIDITY UNSEEN DELETED SIZE RECENT)");
    const uidValidity = Number(/UIDVALIDITY (\d+)/.exec(st0.text)![1]);
    assert.match(
      st0.text,
      /^\* STATUS "INBOX" \(MESSAGES 0 UIDNEXT 1 UIDVALIDITY \d+ UNSEEN 0 DELETED 0 SIZE 0 RECENT 0\)$/,
    );
    await c.expect("NO", "a2 STATUS NoSuchBox (MESSAGES)");
    await c.expect("BAD", "a3 STATUS INBOX (BOGUS)");
    const m1 = message({ subject: "first" });
    const r1 = await c.literal("OK", `a4 APPEND INBOX (\\Seen $Work) "14-Jul-2023 10:11:12 +0200"`, m1);
    assert.match(r1.tagged, new RegExp(`^a4 OK \\[APPENDUID ${uidValidity} 1\\]`));
    // LITERAL- (RFC 7888): a non-synchronising literal up to 4096 octets.
    const m2 = message({ subject: "second" });
    const r2 = await c.literal("OK", "a5 APPEND INBOX", m2, { nonSync: true });
    assert.match(r2.tagged, /\[APPENDUID \d+ 2\]/);
    await c.literal("NO", "a6 APPEND NoSuchBox", m2).then((r) => assert.match(r.tagged, /\[TRYCREATE\]/));
    const big = message({ subject: "big", body: "x".repeat(5000) });
    await c.literal("BAD", "a7 APPEND INBOX", big, { nonSync: true }).then((r) => assert.match(r.tagged, /\[TOOBIG\]/));
    await c.literal("OK", "a8 APPEND INBOX (\\Deleted)", big);
    const st = await c.expect("OK", "a9 STATUS INBOX (MESSAGES UNSEEN DELETED SIZE UIDNEXT)");
    const size = m1.length + m2.length + big.length;
    assert.equal(st.text, `* STATUS "INBOX" (MESSAGES 3 UNSEEN 2 DELETED 1 SIZE ${size} UIDNEXT 4)`);

    const sel = await c.expect("OK", "b1 SELECT INBOX");
    assert.match(sel.tagged, /^b1 OK \[READ-WRITE\]/);
    assert.match(sel.text, /^\* FLAGS \(\\Answered \\Flagged \\Deleted \\Seen \\Draft[^)]*\)$/m);
    assert.match(sel.text, /^\* 3 EXISTS$/m);
    assert.match(sel.text, /^\* OK \[PERMANENTFLAGS \([^)]*\\\*\)\]/m);
    assert.match(sel.text, new RegExp(`^\\* OK \\[UIDVALIDITY ${uidValidity}\\]`, "m"));
    assert.match(sel.text, /^\* OK \[UIDNEXT 4\]/m);
    const f = await c.expect("OK", "b2 FETCH 1 (FLAGS INTERNALDATE RFC822.SIZE)");
    assert.equal(
      f.text,
      `* 1 FETCH (FLAGS ($Work \\Seen) INTERNALDATE "14-Jul-2023 08:11:12 +0000" RFC822.SIZE ${m1.length})`,
    );
    // EXAMINE is read-only: STORE and EXPUNGE fail, FETCH BODY[] does not set \Seen.
    const ex = await c.expect("OK", "b3 EXAMINE INBOX");
    assert.match(ex.tagged, /^b3 OK \[READ-ONLY\]/);
    assert.match(ex.text, /^\* OK \[PERMANENTFLAGS \(\)\]/m);
    await c.expect("NO", "b4 STORE 2 +FLAGS (\\Seen)");
    await c.expect("NO", "b41 EXPUNGE");
    await c.expect("NO", "b42 MOVE 1 Trash");
    await c.expect("OK", "b43 COPY 1 Trash"); // copying out of a read-only mailbox is fine
    await c.expect("OK", "b5 FETCH 2 BODY[]");
    await c.expect("OK", "b6 STATUS INBOX (UNSEEN)").then((r) => assert.match(r.text, /UNSEEN 2/));
    await c.expect("NO", "b7 SELECT NoSuchBox");
    await c.expect("BAD", "b8 FETCH 1 FLAGS"); // a failed SELECT leaves no mailbox selected
    c.close();
  });
});

const MIME = new URL("./testdata/mime/", import.meta.url).pathname;

/** A message with a message/rfc822 part (BODY[2.HEADER], BODY[2.TEXT]). */
const FORWARD = [
  "From: Dave <dave@remote.test>",
  "To: alice@example.test",
  "Subject: Fwd: the plan",
  "Date: Tue, 4 Feb 2025 12:00:00 +0000",
  "Message-ID: <fwd.1@remote.test>",
  "MIME-Version: 1.0",
  `Content-Type: multipart/mixed; boundary="xx"`,
  "",
  "--xx",
  "Content-Type: text/plain",
  "",
  "See below.",
  "--xx",
  "Content-Type: message/rfc822",
  "",
  "From: Erin <erin@remote.test>",
  "Subject: the plan",
  "",
  "Step one.",
  "--xx--",
  "",
].join("\r\n");

storeTest(
  "imap: FETCH and UID FETCH items, sections, partials, BINARY, \\Seen, MODSEQ and CHANGEDSINCE",
  async (_t, ts) => {
    await withImap(ts, async (s) => {
      const simple = message({ subject: "Hello", body: "Hello there.\r\nSecond line." });
      const mixed = await Deno.readFile(`${MIME}alternative-in-mixed.eml`);
      await appendRaw(ts, s.ids.alice, "INBOX", simple, { internalDate: new Date("2024-03-01T10:00:00Z") });
      await appendRaw(ts, s.ids.alice, "INBOX", mixed);
      await appendRaw(ts, s.ids.alice, "INBOX", FORWARD, { flags: ["\\Flagged"] });
      const c = await login(s);
      await c.expect("OK", "a1 SELECT INBOX");
      const flags = await c.expect("OK", "a2 FETCH 1:* (UID FLAGS)");
      assert.deepEqual(flags.untagged.map((u) => u.text), [
        "* 1 FETCH (UID 1 FLAGS ())",
        "* 2 FETCH (UID 2 FLAGS ())",
        "* 3 FETCH (UID 3 FLAGS (\\Flagged))",
      ]);
      const fast = await c.expect("OK", "a3 FETCH 1 FAST");
      assert.equal(
        fast.text,
        `* 1 FETCH (FLAGS () INTERNALDATE "01-Mar-2024 10:00:00 +0000" RFC822.SIZE ${simple.length})`,
      );
      // ENVELOPE, BODYSTRUCTURE and BODY as Dovecot sends them (tests/testdata/mime/*.dovecot.txt).
      const dovecot = (await Deno.readTextFile(`${MIME}alternative-in-mixed.dovecot.txt`)).trim().split("\r\n");
      for (const [i, item] of ["ENVELOPE", "BODYSTRUCTURE", "BODY"].entries()) {
        const r = await c.expect("OK", `b${i} FETCH 2 ${item}`);
        assert.equal(r.text.replace(/^\* 2 /, "* 1 "), dovecot[i]);
      }
      const env = await c.expect("OK", "a4 FETCH 1 ENVELOPE");
      assert.match(
        env.text,
        /^\* 1 FETCH \(ENVELOPE \("Mon, 7 Feb 1994 11:52:25 -0800" "Hello" \(\("Carol" NIL "carol" "remote.test"\)\)/,
      );
      // Sections (RFC 9051 §6.4.5), all with PEEK so far.
      const lit = async (tag: string, spec: string, uid = 1) => {
        const r = await c.expect("OK", `${tag} UID FETCH ${uid} (${spec})`);
        assert.equal(r.untagged.length, 1, r.text);
        return r.untagged[0]!;
      };
      const text = (b: Uint8Array) => new TextDecoder().decode(b);
      const header = simple.slice(0, simple.indexOf("\r\n\r\n") + 4);
      assert.equal(text((await lit("c1", "BODY.PEEK[HEADER]")).literals[0]!), header);
      assert.equal(
        text((await lit("c2", "BODY.PEEK[HEADER.FIELDS (SUBJECT from)]")).literals[0]!),
        "From: Carol <carol@remote.test>\r\nSubject: Hello\r\n\r\n",
      );
      const not = text((await lit("c3", "BODY.PEEK[HEADER.FIELDS.NOT (Subject Message-ID Date)]")).literals[0]!);
      assert.equal(not, header.replace(/^(Subject|Message-ID|Date): .*\r\n/gm, ""));
      assert.equal(text((await lit("c4", "BODY.PEEK[TEXT]")).literals[0]!), "Hello there.\r\nSecond line.\r\n");
      const partial = await lit("c5", "BODY.PEEK[]<6.5>");
      assert.match(partial.text, /BODY\[\]<6> \{5\}/);
      assert.equal(text(partial.literals[0]!), "Carol");
      assert.equal(text((await lit("c6", "BODY.PEEK[]<100000.10>")).literals[0]!), "");
      assert.equal(text((await lit("c7", "BODY.PEEK[1]")).literals[0]!), "Hello there.\r\nSecond line.\r\n");
      assert.equal(text((await lit("c8", "RFC822.HEADER")).literals[0]!), header);
      // Multipart: part numbers, MIME headers, BINARY (RFC 3516) decodes the base64 attachment.
      assert.equal(
        text((await lit("d1", "BODY.PEEK[2.MIME]", 2)).literals[0]!),
        `Content-Type: application/pdf; name="report.pdf"\r\nContent-Disposition: attachment; filename="report.pdf"; size=575\r\nContent-Transfer-Encoding: base64\r\n\r\n`,
      );
      const b64 = text((await lit("d2", "BODY.PEEK[2]", 2)).literals[0]!);
      const fixturePdf = Uint8Array.from(atob(b64.replace(/\s+/g, "")), (ch) => ch.charCodeAt(0));
      const bin = await lit("d3", "BINARY.PEEK[2] BINARY.SIZE[2]", 2);
      assert.deepEqual(bin.literals[0], fixturePdf);
      assert.match(bin.text, new RegExp(`BINARY\\.SIZE\\[2\\] ${fixturePdf.length}`));
      assert.ok(fixturePdf.length > 400);
      const qp = await lit("d4", "BINARY.PEEK[1.1]", 2);
      assert.match(text(qp.literals[0]!), /Café au lait costs 3 €\.\r?\nA soft line break\./);
      await c.expect("NO", "d5 UID FETCH 2 BINARY.PEEK[1]").then((r) => assert.match(r.tagged, /UNKNOWN-CTE|NO/));
      assert.match((await lit("d6", "BODY.PEEK[9]", 2)).text, /BODY\[9\] (NIL|""|\{0\})/);
      // message/rfc822: n.HEADER and n.TEXT address the encapsulated message.
      assert.equal(
        text((await lit("e1", "BODY.PEEK[2.HEADER]", 3)).literals[0]!),
        "From: Erin <erin@remote.test>\r\nSubject: the plan\r\n\r\n",
      );
      assert.equal(text((await lit("e2", "BODY.PEEK[2.TEXT]", 3)).literals[0]!), "Step one.");
      assert.equal(text((await lit("e3", "BODY.PEEK[2.1]", 3)).literals[0]!), "Step one.");
      // Nothing so far set \Seen; BODY[] and RFC822.TEXT do, and report FLAGS (RFC 9051 §6.4.5).
      assert.equal((await c.expect("OK", "f1 SEARCH SEEN")).text, "* SEARCH");
      const seen = await c.expect("OK", "f2 FETCH 1 BODY[]");
      assert.match(seen.untagged[0]!.text, /FLAGS \(\\Seen\)/);
      assert.equal(text(seen.untagged[0]!.literals[0]!), simple);
      const rfc822 = await c.expect("OK", "f3 FETCH 2 RFC822.TEXT");
      assert.match(rfc822.text, /^\* 2 FETCH \(RFC822\.TEXT \{\d+\}/);
      assert.match(rfc822.text, /FLAGS \(\\Seen\)/);
      const whole = await c.expect("OK", "f4 UID FETCH 3 (RFC822.SIZE RFC822)");
      assert.equal(whole.untagged[0]!.literals[0]!.length, FORWARD.length);
      assert.match(whole.text, /^\* 3 FETCH \(UID 3 RFC822\.SIZE \d+ RFC822 \{/);
      assert.equal((await c.expect("OK", "f5 SEARCH SEEN")).text, "* SEARCH 1 2 3");

      // MODSEQ and CHANGEDSINCE (RFC 7162 §3.1.4).
      const ms = await c.expect("OK", "g1 FETCH 1:* (MODSEQ)");
      const modseqs = ms.untagged.map((u) => Number(/MODSEQ \((\d+)\)/.exec(u.text)![1]));
      assert.equal(modseqs.length, 3);
      const top = Math.max(...modseqs);
      await c.expect("OK", "g2 STORE 2 +FLAGS.SILENT (\\Answered)");
      const changed = await c.expect("OK", `g3 UID FETCH 1:* (FLAGS) (CHANGEDSINCE ${top})`);
      assert.equal(changed.untagged.length, 1);
      assert.match(changed.text, /^\* 2 FETCH \(UID 2 FLAGS \(\\Answered \\Seen\) MODSEQ \(\d+\)\)$/);
      await c.expect("BAD", `g4 UID FETCH 1:* (FLAGS) (CHANGEDSINCE ${top} VANISHED)`); // QRESYNC not enabled
      // Sequence numbers beyond EXISTS are an error; UIDs that do not exist are not.
      await c.expect("BAD", "h1 FETCH 4 FLAGS");
      assert.equal((await c.expect("OK", "h2 UID FETCH 4:100 FLAGS")).untagged.length, 0);
      assert.equal((await c.expect("OK", "h3 UID FETCH 100:* FLAGS")).untagged.length, 1); // RFC 9051 §6.4.8: n:* includes the last
      await c.expect("BAD", "h4 FETCH 1 (BODY[HEADER.FIELDS])");
      await c.expect("BAD", "h5 FETCH 1 BODY[1.2.X]");
      await c.expect("BAD", "h6 FETCH 1 (FLAGS");
      const all = await c.expect("OK", "h7 FETCH 1 ALL");
      assert.match(all.text, /FLAGS .* INTERNALDATE .* RFC822\.SIZE \d+ ENVELOPE \(/);
      const full = await c.expect("OK", "h8 FETCH 2 FULL");
      assert.match(full.text, /ENVELOPE \(.*BODY \(/);
      c.close();
    });
  },
);

storeTest("imap: SEARCH and UID SEARCH (keys, CHARSET UTF-8, ESEARCH RETURN, SAVE and $)", async (t, ts) => {
  await withImap(ts, async (s) => {
    const a = s.ids.alice;
    await appendRaw(ts, a, "INBOX", message({ subject: "Invoice 2024", body: "Amount due: 100 EUR." }), {
      flags: ["\\Seen"],
      internalDate: new Date("2024-01-10T12:00:00Z"),
    });
    await appendRaw(ts, a, "INBOX", message({ subject: "Grüße aus Köln", from: "Dieter <dieter@remote.test>" }), {
      internalDate: new Date("2024-02-10T12:00:00Z"),
    });
    await appendRaw(ts, a, "INBOX", message({ subject: "Big one", body: "z".repeat(3000), extra: "X-Priority: 1" }), {
      flags: ["\\Flagged", "$Work"],
      internalDate: new Date("2024-03-10T12:00:00Z"),
    });
    await appendRaw(ts, a, "INBOX", message({ subject: "Deleted", to: "bob@example.test" }), {
      flags: ["\\Deleted", "\\Seen"],
      internalDate: new Date("2024-04-10T12:00:00Z"),
    });
    const c = await login(s);
    await c.expect("OK", "a1 SELECT INBOX");
    const search = async (tag: string, q: string) => (await c.expect("OK", `${tag} ${q}`)).text;
    assert.equal(await search("s1", "SEARCH ALL"), "* SEARCH 1 2 3 4");
    assert.equal(await search("s2", "SEARCH SEEN"), "* SEARCH 1 4");
    assert.equal(await search("s3", "SEARCH UNSEEN"), "* SEARCH 2 3");
    assert.equal(await search("s4", "SEARCH FLAGGED KEYWORD $Work"), "* SEARCH 3");
    assert.equal(await search("s5", "SEARCH UNKEYWORD $Work DELETED"), "* SEARCH 4");
    assert.equal(await search("s6", "SEARCH OR FLAGGED DELETED"), "* SEARCH 3 4");
    assert.equal(await search("s7", "SEARCH NOT SEEN"), "* SEARCH 2 3");
    assert.equal(await search("s8", "SEARCH 2:3"), "* SEARCH 2 3");
    assert.equal(await search("s9", "SEARCH 2,4 SEEN"), "* SEARCH 4");
    assert.equal(await search("t1", "SEARCH *"), "* SEARCH 4");
    assert.equal(await search("t2", "SEARCH UID 2:3"), "* SEARCH 2 3");
    assert.equal(await search("t3", "UID SEARCH 1:2"), "* SEARCH 1 2");
    assert.equal(await search("t4", "SEARCH LARGER 2000"), "* SEARCH 3");
    assert.equal(await search("t5", "SEARCH SMALLER 2000"), "* SEARCH 1 2 4");
    assert.equal(await search("t6", "SEARCH BEFORE 10-Feb-2024"), "* SEARCH 1");
    assert.equal(await search("t7", "SEARCH ON 10-Feb-2024"), "* SEARCH 2");
    assert.equal(await search("t8", "SEARCH SINCE 10-Mar-2024"), "* SEARCH 3 4");
    assert.equal(await search("t9", "SEARCH SENTON 7-Feb-1994"), "* SEARCH 1 2 3 4");
    assert.equal(await search("u1", "SEARCH SENTSINCE 8-Feb-1994"), "* SEARCH");
    assert.equal(await search("u10", "SEARCH SENTBEFORE 7-Feb-1994"), "* SEARCH");
    await t.step({
      // RFC 9051 §6.4.4: 7 Feb at 21:52 -0800 is 8 Feb in UTC, but it was sent on 7 Feb.
      name: "SENTON compares the Date: header's own calendar day",
      fn: async () => {
        const late = message({ subject: "evening", date: "Mon, 7 Feb 1994 21:52:25 -0800" });
        await appendRaw(ts, a, "Drafts", late);
        await c.expect("OK", "k1 EXAMINE Drafts");
        assert.equal(await search("k2", "SEARCH SENTON 7-Feb-1994"), "* SEARCH 1");
        await c.expect("OK", "k3 SELECT INBOX");
      },
    });
    assert.equal(await search("u2", "SEARCH SUBJECT invoice"), "* SEARCH 1");
    assert.equal(await search("u3", "SEARCH FROM dieter"), "* SEARCH 2");
    assert.equal(await search("u4", "SEARCH TO bob@example.test"), "* SEARCH 4");
    assert.equal(await search("u5", "SEARCH HEADER X-Priority 1"), "* SEARCH 3");
    assert.equal(await search("u6", `SEARCH HEADER X-Priority ""`), "* SEARCH 3");
    assert.equal(await search("u7", "SEARCH BODY due"), "* SEARCH 1");
    assert.equal(await search("u8", "SEARCH TEXT invoice"), "* SEARCH 1");
    // CHARSET UTF-8 with a literal, matching the decoded (RFC 2047) subject.
    const grusse = await c.literal("OK", "u9 SEARCH CHARSET UTF-8 SUBJECT", "Grüße");
    assert.equal(grusse.text, "* SEARCH 2");
    assert.equal(await search("v1", `SEARCH CHARSET UTF-8 SUBJECT "Köln"`), "* SEARCH 2");
    const bad = await c.expect("NO", "v2 SEARCH CHARSET KOI8-X SUBJECT x");
    assert.match(bad.tagged, /\[BADCHARSET/);
    await c.expect("BAD", "v3 SEARCH FROBNICATE");
    await c.expect("BAD", "v4 SEARCH NOT");
    // ESEARCH (RFC 4731).
    assert.equal(
      await search("w1", "SEARCH RETURN (MIN MAX COUNT ALL) UNSEEN"),
      `* ESEARCH (TAG "w1") MIN 2 MAX 3 COUNT 2 ALL 2:3`,
    );
    assert.equal(
      await search("w2", "UID SEARCH RETURN (COUNT) SEEN"),
      `* ESEARCH (TAG "w2") UID COUNT 2`,
    );
    assert.equal(await search("w3", "SEARCH RETURN () 1:*"), `* ESEARCH (TAG "w3") ALL 1:4`);
    assert.equal(await search("w4", "SEARCH RETURN (MIN MAX) KEYWORD nothing"), `* ESEARCH (TAG "w4")`);
    // SEARCHRES (RFC 5182): SAVE, then $ in SEARCH, FETCH, STORE.
    await c.expect("NO", "x0 FETCH $ FLAGS").then((r) => assert.match(r.tagged, /NOTSAVED/));
    assert.equal(await search("x1", "SEARCH RETURN (SAVE) FLAGGED"), "");
    assert.equal(await search("x2", "SEARCH $"), "* SEARCH 3");
    assert.equal(await search("x3", "SEARCH OR $ 1"), "* SEARCH 1 3");
    const f = await c.expect("OK", "x4 FETCH $ (UID)");
    assert.equal(f.text, "* 3 FETCH (UID 3)");
    assert.equal(await search("x5", "UID SEARCH RETURN (SAVE MIN) SEEN"), `* ESEARCH (TAG "x5") UID MIN 1`);
    assert.equal(await search("x6", "UID SEARCH UID $"), "* SEARCH 1 4");
    // CONDSTORE MODSEQ search (RFC 7162 §3.1.5).
    const ms = await search("y1", "SEARCH MODSEQ 1");
    assert.match(ms, /^\* SEARCH 1 2 3 4 \(MODSEQ \d+\)$/);
    // A message delivered meanwhile is not in the result before EXISTS announced it.
    await deliverSmtp(s, "alice@example.test", message({ subject: "Invoice late" }));
    await new Promise((r) => setTimeout(r, 100)); // the change notification reaches the session
    const late = await c.expect("OK", "y2 SEARCH SUBJECT invoice");
    assert.match(late.text, /^\* SEARCH 1( 5)?$/m);
    assert.match(late.text, /^\* 5 EXISTS$/m);
    assert.equal(await search("y3", "SEARCH SUBJECT invoice"), "* SEARCH 1 5");
    c.close();
  });
});

storeTest("imap: flag-only SEARCH from the session's flags gives the store's answers", async (_t, ts) => {
  await withImap(ts, async (s) => {
    const flags = [["\\Seen"], [], ["\\Flagged", "$Work"], ["\\Seen", "\\Deleted"], ["$work"], ["\\Seen"]];
    for (const [i, f] of flags.entries()) {
      await appendRaw(ts, s.ids.alice, "INBOX", message({ subject: `m${i + 1}` }), { flags: f });
    }
    const c = await login(s);
    await c.expect("OK", "a1 SELECT INBOX");
    // UID 2 goes: sequence numbers and UIDs differ from there on.
    await c.expect("OK", "a2 UID STORE 2 +FLAGS.SILENT (\\Deleted)");
    await c.expect("OK", "a3 UID EXPUNGE 2");
    await c.expect("OK", "a4 UID STORE 4 -FLAGS.SILENT (\\Deleted)");
    const queries = [
      "SEARCH SEEN",
      "UID SEARCH SEEN",
      "SEARCH UNSEEN",
      "SEARCH KEYWORD $WORK", // keywords match case-insensitively
      "UID SEARCH UNKEYWORD $work",
      "SEARCH NOT SEEN",
      "SEARCH OR FLAGGED DELETED",
      "UID SEARCH OR FLAGGED SEEN UID 3:5",
      "SEARCH 2:4 SEEN",
      "UID SEARCH UID 4:* NOT FLAGGED",
      "SEARCH OLD",
      "SEARCH NEW",
      "SEARCH MODSEQ 1",
      "SEARCH RETURN (MIN MAX COUNT ALL) SEEN",
      "UID SEARCH RETURN (ALL) UNSEEN",
      "SEARCH ALL",
    ];
    // A flag-only search reads the session's copy of the flags (the first one reads it); the same search with a
    // SUBJECT every message matches goes to the store's SQL. Both must give the same answer.
    const messages = ts.store.messages;
    const storeSearch = messages.search.bind(messages);
    let storeSearches = 0;
    messages.search = (...args) => (storeSearches++, storeSearch(...args));
    const answers: string[] = [];
    for (const [i, q] of queries.entries()) {
      const memory = (await c.expect("OK", `s${i} ${q}`)).text;
      assert.equal(memory, (await c.expect("OK", `s${i} ${q} SUBJECT m`)).text, q);
      answers.push(memory);
    }
    assert.deepEqual(answers.slice(0, 12), [
      "* SEARCH 1 3 5",
      "* SEARCH 1 4 6",
      "* SEARCH 2 4",
      "* SEARCH 2 4",
      "* SEARCH 1 4 6",
      "* SEARCH 2 4",
      "* SEARCH 2",
      "* SEARCH 3 4",
      "* SEARCH 3",
      "* SEARCH 4 5 6",
      "* SEARCH 1 2 3 4 5",
      "* SEARCH",
    ]);
    assert.match(answers[12]!, /^\* SEARCH 1 2 3 4 5 \(MODSEQ \d+\)$/);
    assert.equal(answers[13], `* ESEARCH (TAG "s13") MIN 1 MAX 5 COUNT 3 ALL 1,3,5`);
    assert.equal(answers[14], `* ESEARCH (TAG "s14") UID ALL 3,5`);
    assert.equal(storeSearches, queries.length, "only the searches with SUBJECT went to the store");
    // The copy follows this session's STORE and another session's change.
    await c.expect("OK", "e1 STORE 2 +FLAGS.SILENT (\\Seen)");
    assert.equal((await c.expect("OK", "e2 SEARCH UNSEEN")).text, "* SEARCH 4");
    const other = await login(s);
    await other.expect("OK", "o1 SELECT INBOX");
    await other.expect("OK", "o2 UID STORE 5 +FLAGS.SILENT (\\Seen)");
    other.close();
    const after = await c.expect("OK", "e3 SEARCH UNSEEN");
    assert.match(after.text, /^\* SEARCH$/m);
    // MODSEQ too: SEARCH MODSEQ enabled CONDSTORE (RFC 7162 §3.1).
    assert.match(after.text, /^\* 4 FETCH \(UID 5 FLAGS \(\$work \\Seen\) MODSEQ \(\d+\)\)$/m);
    c.close();
  });
});

storeTest(
  "imap: STORE (+/-FLAGS, .SILENT, UNCHANGEDSINCE → MODIFIED), COPY/MOVE (COPYUID), EXPUNGE, CLOSE",
  async (_t, ts) => {
    await withImap(ts, async (s) => {
      for (let i = 1; i <= 5; i++) await appendRaw(ts, s.ids.alice, "INBOX", message({ subject: `m${i}` }));
      const c = await login(s);
      await c.expect("OK", "a1 SELECT INBOX");
      assert.equal(
        (await c.expect("OK", "a2 STORE 1 +FLAGS (\\Seen $Work)")).text,
        "* 1 FETCH (UID 1 FLAGS ($Work \\Seen))",
      );
      assert.equal((await c.expect("OK", "a3 STORE 1 -FLAGS ($Work)")).text, "* 1 FETCH (UID 1 FLAGS (\\Seen))");
      assert.equal((await c.expect("OK", "a4 STORE 1:2 FLAGS (\\Answered)")).untagged.length, 2);
      // Sequence ranges out of order and overlapping: each message once, in order.
      assert.deepEqual((await c.expect("OK", "a4b FETCH 4,*,2:3,3:1 (UID)")).untagged.map((u) => u.text), [
        "* 1 FETCH (UID 1)",
        "* 2 FETCH (UID 2)",
        "* 3 FETCH (UID 3)",
        "* 4 FETCH (UID 4)",
        "* 5 FETCH (UID 5)",
      ]);
      assert.equal((await c.expect("OK", "a5 STORE 2 +FLAGS.SILENT (\\Flagged)")).text, "");
      assert.equal((await c.expect("OK", "a6 UID STORE 2 -FLAGS.SILENT (\\Flagged)")).text, "");
      assert.equal((await c.expect("OK", "a7 UID STORE 3 +FLAGS (\\seen)")).text, "* 3 FETCH (UID 3 FLAGS (\\Seen))");
      await c.expect("OK", "a8 STORE 1 +FLAGS (\\Recent)"); // \Recent cannot be set: ignored
      await c.expect("BAD", "a9 STORE 1 +FLAGS (\\Bogus)");
      await c.expect("BAD", "b1 STORE 1 REPLACEFLAGS (\\Seen)");
      // UNCHANGEDSINCE (RFC 7162 §3.1.3).
      const ms = await c.expect("OK", "b2 FETCH 1:2 (MODSEQ)");
      const [m1, m2] = ms.untagged.map((u) => Number(/MODSEQ \((\d+)\)/.exec(u.text)![1]));
      assert.equal((await c.expect("OK", "b3 STORE 2 +FLAGS.SILENT (\\Draft)")).text, "", "nothing echoed");
      const cond = await c.expect("OK", `b4 STORE 1:2 (UNCHANGEDSINCE ${Math.max(m1!, m2!)}) +FLAGS (\\Flagged)`);
      assert.match(cond.tagged, /^b4 OK \[MODIFIED 2\]/);
      assert.match(cond.text, /^\* 1 FETCH \(UID 1 FLAGS \(\\Answered \\Flagged\) MODSEQ \(\d+\)\)$/);
      assert.equal(cond.untagged.length, 1, "own changes are reported once");
      const uidCond = await c.expect("OK", "b5 UID STORE 1:2 (UNCHANGEDSINCE 1) FLAGS (\\Seen)");
      assert.match(uidCond.tagged, /\[MODIFIED 1:2\]/);

      // COPY and MOVE (RFC 4315 COPYUID, RFC 6851).
      const trash = await c.expect("OK", "c1 STATUS Trash (UIDVALIDITY)");
      const tv = /UIDVALIDITY (\d+)/.exec(trash.text)![1];
      const cp = await c.expect("OK", "c2 COPY 1:2 Trash");
      assert.match(cp.tagged, new RegExp(`^c2 OK \\[COPYUID ${tv} 1:2 1:2\\]`));
      const ucp = await c.expect("OK", "c3 UID COPY 5,3 Trash");
      assert.match(ucp.tagged, new RegExp(`\\[COPYUID ${tv} 3,5 3:4\\]`));
      await c.expect("NO", "c4 COPY 1 NoSuchBox").then((r) => assert.match(r.tagged, /\[TRYCREATE\]/));
      assert.match((await c.expect("OK", "c5 UID COPY 99 Trash")).tagged, /^c5 OK/);
      const mv = await c.expect("OK", "c6 MOVE 2 Archive");
      assert.match(mv.text, /^\* OK \[COPYUID \d+ 2 1\]/m);
      assert.match(mv.text, /^\* 2 EXPUNGE$/m);
      const umv = await c.expect("OK", "c7 UID MOVE 4:5 Archive");
      assert.match(umv.text, /^\* OK \[COPYUID \d+ 4:5 2:3\]/m);
      assert.deepEqual(umv.untagged.filter((u) => /EXPUNGE/.test(u.text)).map((u) => u.text), [
        "* 4 EXPUNGE",
        "* 3 EXPUNGE",
      ]);
      const left = await c.expect("OK", "c8 FETCH 1:* (UID)");
      assert.deepEqual(left.untagged.map((u) => u.text), ["* 1 FETCH (UID 1)", "* 2 FETCH (UID 3)"]);
      // The copy keeps flags.
      const copyFlags = await c.expect("OK", "c9 STATUS Trash (MESSAGES UNSEEN)");
      assert.equal(copyFlags.text, `* STATUS "Trash" (MESSAGES 4 UNSEEN 3)`);

      // EXPUNGE and UID EXPUNGE (RFC 4315).
      await c.expect("OK", "d1 SELECT Trash");
      await c.expect("OK", "d2 STORE 1:* +FLAGS.SILENT (\\Deleted)");
      const ux = await c.expect("OK", "d3 UID EXPUNGE 2:3");
      assert.deepEqual(ux.untagged.map((u) => u.text), ["* 3 EXPUNGE", "* 2 EXPUNGE"]);
      const x = await c.expect("OK", "d4 EXPUNGE");
      assert.deepEqual(x.untagged.map((u) => u.text), ["* 2 EXPUNGE", "* 1 EXPUNGE"]);
      assert.equal((await c.expect("OK", "d5 NOOP")).text, "");
      // CLOSE expunges silently; UNSELECT does not (RFC 9051 §6.4.1, §6.4.2).
      await c.expect("OK", "e1 SELECT Archive");
      await c.expect("OK", "e2 STORE 1 +FLAGS.SILENT (\\Deleted)");
      await c.expect("OK", "e3 UNSELECT");
      await c.expect("BAD", "e4 FETCH 1 FLAGS");
      assert.match((await c.expect("OK", "e5 STATUS Archive (MESSAGES)")).text, /MESSAGES 3/);
      await c.expect("OK", "e6 SELECT Archive");
      const closed = await c.expect("OK", "e7 CLOSE");
      assert.equal(closed.text, "");
      assert.match((await c.expect("OK", "e8 STATUS Archive (MESSAGES)")).text, /MESSAGES 2/);
      // CLOSE after EXAMINE does not expunge.
      await c.expect("OK", "f1 SELECT INBOX");
      await c.expect("OK", "f2 STORE 1 +FLAGS.SILENT (\\Deleted)");
      await c.expect("OK", "f3 EXAMINE INBOX");
      await c.expect("OK", "f4 CLOSE");
      assert.match((await c.expect("OK", "f5 STATUS INBOX (MESSAGES)")).text, /MESSAGES 2/);
      c.close();
    });
  },
);

storeTest("imap: SELECT/EXAMINE with CONDSTORE and QRESYNC: VANISHED (EARLIER) and changed FLAGS", async (_t, ts) => {
  await withImap(ts, async (s) => {
    for (let i = 1; i <= 4; i++) await appendRaw(ts, s.ids.alice, "INBOX", message({ subject: `m${i}` }));
    const a = await login(s);
    const cs = await a.expect("OK", "a1 SELECT INBOX (CONDSTORE)");
    const uv = Number(/UIDVALIDITY (\d+)/.exec(cs.text)![1]);
    const h = Number(/HIGHESTMODSEQ (\d+)/.exec(cs.text)![1]);
    assert.ok(h > 0);
    assert.match(
      (await a.expect("OK", "a2 FETCH 1 (FLAGS MODSEQ)")).text,
      /^\* 1 FETCH \(FLAGS \(\) MODSEQ \(\d+\)\)$/,
    );
    // STORE with UNCHANGEDSINCE reports the new MODSEQ even with .SILENT (RFC 7162 §3.1.3).
    const silent = await a.expect("OK", `a3 STORE 2 (UNCHANGEDSINCE ${h}) +FLAGS.SILENT (\\Seen)`);
    assert.match(silent.text, /^\* 2 FETCH \(UID 2 MODSEQ \(\d+\)\)$/);
    await a.expect("OK", "a4 STORE 3 +FLAGS.SILENT (\\Deleted)");
    await a.expect("OK", "a5 EXPUNGE");
    await a.expect("OK", "a6 LOGOUT");
    a.close();

    const b = await login(s);
    await b.expect("BAD", `b0 SELECT INBOX (QRESYNC (${uv} ${h}))`); // not ENABLEd yet
    await b.expect("OK", "b1 ENABLE QRESYNC");
    const q = await b.expect("OK", `b2 SELECT INBOX (QRESYNC (${uv} ${h}))`);
    assert.match(q.text, /^\* 3 EXISTS$/m);
    assert.match(q.text, /^\* VANISHED \(EARLIER\) 3$/m);
    assert.match(q.text, /^\* 2 FETCH \(UID 2 FLAGS \(\\Seen\) MODSEQ \(\d+\)\)$/m);
    assert.equal(q.untagged.filter((u) => /FETCH/.test(u.text)).length, 1);
    const newH = Number(/HIGHESTMODSEQ (\d+)/.exec(q.text)![1]);
    assert.ok(newH > h);
    // Selecting again closes the previous mailbox ([CLOSED], RFC 7162 §3.2.11); known UIDs narrow VANISHED.
    const q2 = await b.expect("OK", `b3 EXAMINE INBOX (QRESYNC (${uv} ${h} 1:2))`);
    assert.match(q2.untagged[0]!.text, /^\* OK \[CLOSED\]/);
    assert.doesNotMatch(q2.text, /VANISHED/);
    assert.match(q2.tagged, /\[READ-ONLY\]/);
    // Up to date: nothing to report.
    const q3 = await b.expect("OK", `b4 SELECT INBOX (QRESYNC (${uv} ${newH}))`);
    assert.doesNotMatch(q3.text, /VANISHED|FETCH/);
    // Another UIDVALIDITY: the client must resync from scratch, the server reports no changes.
    const q4 = await b.expect("OK", `b5 SELECT INBOX (QRESYNC (${uv + 1} ${h}))`);
    assert.doesNotMatch(q4.text, /VANISHED|FETCH/);
    // UID FETCH … (CHANGEDSINCE … VANISHED) (RFC 7162 §3.2.6).
    const f = await b.expect("OK", `b6 UID FETCH 1:* (FLAGS) (CHANGEDSINCE ${h} VANISHED)`);
    assert.deepEqual(f.untagged.map((u) => u.text), [
      "* VANISHED (EARLIER) 3",
      `* 2 FETCH (UID 2 FLAGS (\\Seen) MODSEQ (${/MODSEQ \((\d+)\)/.exec(q.text)![1]}))`,
    ]);
    // With QRESYNC, expunges are reported as VANISHED.
    await b.expect("OK", "b7 STORE 1 +FLAGS.SILENT (\\Deleted)");
    assert.equal((await b.expect("OK", "b8 EXPUNGE")).text, "* VANISHED 1");
    await b.expect("OK", "b9 STATUS INBOX (HIGHESTMODSEQ)").then((r) => assert.match(r.text, /HIGHESTMODSEQ \d+/));
    b.close();
  });
});

storeTest(
  "imap: QUOTA: GETQUOTAROOT, GETQUOTA, OVERQUOTA on APPEND (small and large literal) and COPY",
  async (_t, ts) => {
    await withImap(ts, async (s) => {
      await ts.store.db.query("UPDATE accounts SET quota_bytes = $2 WHERE id = $1", [s.ids.alice, 4096]);
      const c = await login(s);
      const root = await c.expect("OK", "a1 GETQUOTAROOT INBOX");
      assert.deepEqual(root.untagged.map((u) => u.text), [`* QUOTAROOT "INBOX" ""`, `* QUOTA "" (STORAGE 0 4)`]);
      assert.equal((await c.expect("OK", `a2 GETQUOTA ""`)).text, `* QUOTA "" (STORAGE 0 4)`);
      await c.expect("NO", `a3 GETQUOTA "other"`);
      await c.expect("NO", `a4 SETQUOTA "" (STORAGE 100000)`);
      await c.expect("NO", "a5 GETQUOTAROOT NoSuchBox");
      const m = message({ subject: "fits", body: "y".repeat(2500) });
      await c.literal("OK", "b1 APPEND INBOX", m);
      assert.match((await c.expect("OK", `b2 GETQUOTA ""`)).text, /^\* QUOTA "" \(STORAGE 3 4\)$/);
      const over = await c.literal("NO", "b3 APPEND INBOX", message({ subject: "too much", body: "z".repeat(2000) }));
      assert.match(over.tagged, /\[OVERQUOTA\]/);
      // A large literal is refused before it is sent: no continuation (RFC 7888 §4, RFC 9208 §4.3).
      await c.write("b4 APPEND INBOX {200000}\r\n");
      assert.match(await c.readLine(), /^b4 NO \[OVERQUOTA\]/);
      await c.expect("OK", "b5 SELECT INBOX");
      assert.match((await c.expect("NO", "b6 COPY 1 Trash")).tagged, /\[OVERQUOTA\]/);
      await c.expect("OK", "b7 MOVE 1 Trash"); // a move does not grow the account
      assert.match((await c.expect("OK", "b8 STATUS Trash (MESSAGES)")).text, /MESSAGES 1/);
      c.close();
      // Without a quota there is no quota root.
      const bob = await login(s, "bob@example.test");
      assert.deepEqual((await bob.expect("OK", "c1 GETQUOTAROOT INBOX")).untagged.map((u) => u.text), [
        `* QUOTAROOT "INBOX"`,
      ]);
      bob.close();
    });
  },
);

storeTest(
  "imap: two sessions of one account observe each other (IDLE, EXISTS, FETCH FLAGS, EXPUNGE timing)",
  async (_t, ts) => {
    await withImap(ts, async (s) => {
      await appendRaw(ts, s.ids.alice, "INBOX", message({ subject: "first" }));
      const a = await login(s);
      const b = await login(s);
      await a.expect("OK", "a1 SELECT INBOX");
      await b.expect("OK", "b1 SELECT INBOX");
      // B idles; A appends, and SMTP delivers: B hears EXISTS during IDLE (RFC 9051 §6.3.13).
      await b.write("b2 IDLE\r\n");
      assert.match(await b.readLine(), /^\+ /);
      await a.literal("OK", "a2 APPEND INBOX", message({ subject: "second" }));
      await b.waitFor(/^\* 2 EXISTS$/);
      await deliverSmtp(s, "alice@example.test", message({ subject: "third" }));
      await b.waitFor(/^\* 3 EXISTS$/);
      // Flags set by A during B's IDLE arrive too.
      await a.expect("OK", "a3 STORE 1 +FLAGS (\\Answered)");
      await b.waitFor(/^\* 1 FETCH \(UID 1 FLAGS \(\\Answered\)\)$/);
      await b.write("DONE\r\n");
      const done = await b.readReply("b2");
      assert.equal(done.status, "OK");
      assert.equal(done.untagged.length, 0, done.text);
      // Outside IDLE, B hears of A's flag change at its next command.
      await a.expect("OK", "a4 STORE 2 +FLAGS (\\Flagged)");
      const noop = await b.expect("OK", "b3 NOOP");
      assert.equal(noop.text, "* 2 FETCH (UID 2 FLAGS (\\Flagged))");
      // A expunges message 2. B must not get EXPUNGE during FETCH, STORE or SEARCH by sequence number
      // (RFC 9051 §7.5.1): its sequence numbers stay valid until a command that allows it (NOOP).
      await a.expect("OK", "a5 STORE 2 +FLAGS.SILENT (\\Deleted)");
      assert.equal((await a.expect("OK", "a6 EXPUNGE")).text, "* 2 EXPUNGE");
      await new Promise((r) => setTimeout(r, 100)); // the change notification reaches B's session
      const fetch = await b.expect("OK", "b4 FETCH 1:* (UID)");
      assert.doesNotMatch(fetch.text, /EXPUNGE/);
      assert.match(fetch.text, /^\* 3 FETCH \(UID 3\)$/m, "sequence numbers are unchanged");
      const store = await b.expect("OK", "b5 STORE 3 +FLAGS (\\Seen)");
      assert.doesNotMatch(store.text, /EXPUNGE/);
      assert.match(store.text, /^\* 3 FETCH \(UID 3 FLAGS \(\\Seen\)\)$/m);
      const search = await b.expect("OK", "b6 SEARCH ALL");
      assert.doesNotMatch(search.text, /EXPUNGE/);
      assert.equal(search.untagged.length, 1);
      assert.match(search.text, /^\* SEARCH 1 3$/m, "the expunged message no longer matches");
      const later = await b.expect("OK", "b7 NOOP");
      assert.equal(later.text, "* 2 EXPUNGE");
      assert.equal((await b.expect("OK", "b8 FETCH 2 (UID)")).text, "* 2 FETCH (UID 3)");
      // A's flag change for B's STORE is reported to A.
      assert.match((await a.expect("OK", "a7 NOOP")).text, /^\* 2 FETCH \(UID 3 FLAGS \(\\Seen\)\)$/);
      // Expunges reach an IDLE session at once; UID commands may get them too.
      await b.write("b9 IDLE\r\n");
      assert.match(await b.readLine(), /^\+ /);
      await a.expect("OK", "a8 STORE 1 +FLAGS.SILENT (\\Deleted)");
      await a.expect("OK", "a9 EXPUNGE");
      await b.waitFor(/^\* 1 EXPUNGE$/);
      await b.write("DONE\r\n");
      assert.equal((await b.readReply("b9")).status, "OK");
      assert.equal((await b.expect("OK", "c1 FETCH 1 (UID)")).text, "* 1 FETCH (UID 3)");
      // New mail is announced before a command runs, so a UID SEARCH right after another client's APPEND finds it.
      await a.literal("OK", "a11 APPEND INBOX", message({ subject: "fresh" }));
      await new Promise((r) => setTimeout(r, 100));
      const fresh = await b.expect("OK", "c3 UID SEARCH SUBJECT fresh");
      assert.deepEqual(fresh.untagged.map((u) => u.text), ["* 2 EXISTS", "* SEARCH 4"]);
      // A flag change is reported once, even when an expunge held back during FETCH is reported later.
      await a.expect("OK", "a12 STORE 2 +FLAGS (\\Draft)");
      await a.expect("OK", "a13 STORE 1 +FLAGS.SILENT (\\Deleted)");
      await a.expect("OK", "a14 EXPUNGE");
      await new Promise((r) => setTimeout(r, 100));
      const f = await b.expect("OK", "c4 FETCH 1 (UID)");
      // (The expunged message 1 has no data left to return; its EXPUNGE waits for the next command that allows it.)
      assert.deepEqual(f.untagged.map((u) => u.text), ["* 2 FETCH (UID 4 FLAGS (\\Draft))"]);
      assert.equal((await b.expect("OK", "c5 NOOP")).text, "* 1 EXPUNGE");
      // Another mailbox of the account: its changes are not announced to B.
      await a.literal("OK", "a10 APPEND Drafts", message({ subject: "draft" }));
      assert.equal((await b.expect("OK", "c6 NOOP")).text, "");
      a.close();
      b.close();
    });
  },
);

storeTest(
  "imap: isolation: no other account's mailboxes by name tricks, no data by sequence tricks",
  async (_t, ts) => {
    await withImap(ts, async (s) => {
      await ts.store.mailboxes.create(s.ids.bob, "Secret");
      await appendRaw(ts, s.ids.bob, "Secret", message({ subject: "TOP-SECRET-BOB", to: "bob@example.test" }));
      await appendRaw(ts, s.ids.bob, "INBOX", message({ subject: "TOP-SECRET-BOB-INBOX", to: "bob@example.test" }));
      await appendRaw(ts, s.ids.alice, "INBOX", message({ subject: "alice's own" }));
      const c = await login(s);
      const transcript: string[] = [];
      const run = async (line: string) => {
        const r = await c.cmd(line);
        transcript.push(r.text, r.tagged);
        return r;
      };
      const names = [
        "../bob",
        "../bob/Secret",
        "bob@example.test/INBOX",
        "bob@example.test/Secret",
        "/bob/Secret",
        "~bob/Secret",
        "#shared/bob/Secret",
        "#user/bob/Secret",
        "Other Users/bob/Secret",
        "%",
        "*",
        "Secret",
        "Secre%",
        "INBOX/../../bob/Secret",
      ];
      for (const [i, n] of names.entries()) {
        for (const cmd of ["SELECT", "EXAMINE", "STATUS", "DELETE", "SUBSCRIBE", "GETQUOTAROOT"]) {
          const args = cmd === "STATUS" ? ` (MESSAGES)` : "";
          const r = await run(`n${i} ${cmd} ${JSON.stringify(n)}${args}`);
          assert.notEqual(r.status, "OK", `${cmd} ${n}: ${r.tagged}`);
        }
        assert.equal((await run(`r${i} RENAME ${JSON.stringify(n)} Mine${i}`)).status, "NO");
        const l = await run(`l${i} LIST "" ${JSON.stringify(n)}`);
        for (const name of l.untagged.map((u) => u.text)) assert.doesNotMatch(name, /bob|Secret/);
      }
      const refs = await run(`x1 LIST "../bob/" "*"`);
      assert.equal(refs.untagged.length, 0);
      assert.equal((await run(`x2 LIST "bob@example.test/" "*"`)).untagged.length, 0);
      // NUL and control characters are not mailbox names; nor are very long names.
      await c.write("x3 SELECT {6}\r\n");
      assert.match(await c.readLine(), /^\+/);
      await c.write("IN\0BOX\r\n");
      assert.match((await c.readReply("x3")).tagged, /^x3 (BAD|NO)/);
      assert.notEqual((await run(`x4 CREATE "a\\x01b"`)).status, "OK");
      assert.equal((await run(`x5 CREATE "${"x".repeat(1000)}"`)).status, "NO");
      assert.equal((await run(`x6 CREATE "${"a/".repeat(300)}b"`)).status, "NO");
      assert.equal((await run(`x7 CREATE "a//b"`)).status, "NO");
      // APPEND, COPY and MOVE into another account's mailbox: TRYCREATE at most, never bob's mailbox.
      await c.literal("NO", 'x8 APPEND "bob@example.test/INBOX"', message({ subject: "injected" }));
      await run("y1 SELECT INBOX");
      for (const [i, n] of names.slice(0, 9).entries()) {
        assert.equal((await run(`y2${i} COPY 1 ${JSON.stringify(n)}`)).status, "NO");
        assert.equal((await run(`y3${i} MOVE 1 ${JSON.stringify(n)}`)).status, "NO");
      }
      // Sequence tricks (RFC 9051 §9): never another message.
      assert.equal((await run("z1 FETCH *:1 (UID)")).text, "* 1 FETCH (UID 1)");
      for (
        const set of ["0", "4294967295", "4294967296", "1:4294967295", "2", "0:*", "-1", "1:0", "99999999999999999999"]
      ) {
        const r = await run(`z2 FETCH ${set} (UID BODY.PEEK[])`);
        assert.equal(r.status, "BAD", `FETCH ${set}: ${r.tagged}`);
        assert.equal(r.untagged.length, 0);
      }
      for (const set of ["4294967295", "2:4294967295", "100000"]) {
        const r = await run(`z3 UID FETCH ${set} (UID BODY.PEEK[])`);
        assert.ok(r.status === "OK" && r.untagged.length === 0, `UID FETCH ${set}: ${r.text} ${r.tagged}`);
      }
      assert.equal((await run("z4 UID FETCH 0 (UID)")).status, "BAD");
      assert.equal((await run("z5 UID FETCH 1:* (UID)")).text, "* 1 FETCH (UID 1)");
      assert.equal((await run("z6 SEARCH 4294967295")).status, "BAD");
      assert.equal((await run("z7 UID SEARCH UID 1:4294967295")).text, "* SEARCH 1");
      assert.equal((await run("z8 STORE 0 +FLAGS (\\Seen)")).status, "BAD");
      assert.equal((await run("z9 COPY 4294967295 Trash")).status, "BAD");
      // Empty mailbox: "*" names no message.
      await run("w1 SELECT Drafts");
      // RFC 9051 §9 says BAD (SHOULD); an empty OK is kinder to clients that FETCH 1:* on empty mailboxes.
      const star = await run("w2 FETCH * (UID)");
      assert.ok(star.status === "BAD" || (star.status === "OK" && !star.untagged.length), star.tagged);
      assert.equal((await run("w3 UID FETCH * (UID)")).untagged.length, 0);
      assert.equal((await run("w4 SEARCH ALL")).text, "* SEARCH");
      assert.doesNotMatch(transcript.join("\n"), /TOP-SECRET|SERVERBUG/);
      c.close();
      // Bob's mailboxes are untouched.
      const boxes = (await ts.store.mailboxes.list(s.ids.bob)).map((b) => `${b.name}:${b.messageCount}`);
      assert.deepEqual(boxes, ["Archive:0", "Drafts:0", "INBOX:1", "Junk:0", "Secret:1", "Sent:0", "Trash:0"]);
      assert.ok(!s.logs.some((l) => l.msg === "command failed"), "no internal error");
    });
  },
);

storeTest("imap: bounded input: huge literals, 1 MB lines, garbage, too many errors", async (_t, ts) => {
  await withImap(ts, async (s) => {
    // Before login, a literal is refused before it is sent.
    const [pre] = await ImapTestClient.connect(s.imaps, { tls: true, caCerts: s.caCerts });
    await pre.write("p1 LOGIN {999999999}\r\n");
    assert.match(await pre.readLine(), /^p1 (NO|BAD)/);
    await pre.expect("OK", "p2 NOOP");
    pre.close();
    const c = await login(s);
    // {999999999}: refused at once (no continuation), the session goes on.
    await c.write("a1 APPEND INBOX {999999999}\r\n");
    assert.match(await c.readLine(), /^a1 (NO \[TOOBIG\]|BAD)/);
    await c.expect("OK", "a2 NOOP");
    await c.write("a3 APPEND INBOX (\\Seen) {99999999999999999999}\r\n");
    assert.match(await c.readLine(), /^a3 (NO|BAD)/);
    await c.expect("OK", "a4 NOOP");
    // A 1 MB command line: BAD [TOOBIG], the rest of the line is skipped, the session goes on.
    await c.write(`a5 SEARCH SUBJECT "${"x".repeat(1024 * 1024)}"\r\n`);
    assert.match(await c.readLine(), /^(a5|\*) BAD \[TOOBIG\]/);
    await c.expect("OK", "a6 NOOP");
    // Garbage: BAD each time, never a crash.
    const garbage = new Uint8Array(4096);
    crypto.getRandomValues(garbage);
    for (let i = 0; i < garbage.length; i++) if (garbage[i] === 0x0a || garbage[i] === 0x7b) garbage[i] = 0x20;
    for (let i = 0; i < 8; i++) {
      await c.write(garbage.subarray(i * 512, i * 512 + 500));
      await c.write("\r\n");
      const line = await c.readLine();
      assert.match(line, /^\S+ BAD|^\* BAD/, line);
    }
    await c.write("\0\0\0 NOOP\r\n");
    assert.match(await c.readLine(), /BAD/);
    await c.expect("OK", "a7 NOOP");
    c.close();
    // Too many errors end the session (DESIGN rule 7).
    const d = await login(s);
    let bye = "";
    for (let i = 0; i < 40 && !bye; i++) {
      await d.write(`e${i} BOGUS\r\n`);
      const line = await d.readLine().catch(() => "");
      if (line.startsWith("* BYE") || !line) bye = line || "closed";
    }
    assert.ok(bye, "the server hangs up after too many errors");
    assert.ok(await d.closedByServer());
    d.close();
    // LOGIN without TLS stays refused even after garbage.
    const [p] = await ImapTestClient.connect(s.imap);
    await p.write("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n"); // a TLS ClientHello on the plaintext port
    assert.match(await p.readLine(), /BAD/);
    const r = await p.cmd(`f1 LOGIN alice@example.test "${PASSWORD}"`);
    assert.ok(/^f1 NO \[PRIVACYREQUIRED\]/.test(r.tagged) || r.status === "BAD", r.tagged);
    p.close();
    assert.ok(!s.logs.some((l) => l.msg === "command failed" || l.msg === "session failed"), "no internal error");
  });
});

storeTest(
  "imap: end to end: submission with an attachment arrives byte-identical; Sent keeps one copy",
  async (_t, ts) => {
    await withImap(ts, async (s) => {
      const pdf = await Deno.readFile(`${ATTACHMENTS}report.pdf`);
      const b64 = btoa(String.fromCharCode(...pdf)).replace(/.{76}/g, "$&\r\n");
      const messageId = `${crypto.randomUUID()}@example.test`;
      const raw = [
        "From: Alice <alice@example.test>",
        "To: Bob <bob@example.test>",
        "Subject: The report",
        "Date: Tue, 4 Feb 2025 12:00:00 +0000",
        `Message-ID: <${messageId}>`,
        "MIME-Version: 1.0",
        `Content-Type: multipart/mixed; boundary="b1"`,
        "",
        "--b1",
        "Content-Type: text/plain; charset=utf-8",
        "",
        "The report is attached.",
        "--b1",
        `Content-Type: application/pdf; name="report.pdf"`,
        `Content-Disposition: attachment; filename="report.pdf"`,
        "Content-Transfer-Encoding: base64",
        "",
        b64,
        "--b1--",
        "",
      ].join("\r\n");
      const [smtp] = await SmtpTestClient.connect(s.smtp.submission, { caCerts: s.caCerts });
      await smtp.expect(250, "EHLO client.example.test");
      await smtp.startTls();
      await smtp.expect(250, "EHLO client.example.test");
      assert.equal((await smtp.authPlain("alice@example.test", PASSWORD)).code, 235);
      await smtp.expect(250, "MAIL FROM:<alice@example.test>");
      await smtp.expect(250, "RCPT TO:<bob@example.test>");
      await smtp.expect(354, "DATA");
      await smtp.expect(250, raw + ".");
      await smtp.expect(221, "QUIT");
      smtp.close();

      const bob = await login(s, "bob@example.test");
      await bob.expect("OK", "a1 SELECT INBOX");
      const bs = await bob.expect("OK", "a2 FETCH 1 (BODYSTRUCTURE ENVELOPE)");
      assert.match(bs.text, /\("application" "pdf" \("name" "report\.pdf"\) NIL NIL "base64" \d+ NIL \("attachment"/);
      assert.match(bs.text, new RegExp(`"<${messageId}>"`));
      const bin = await bob.expect("OK", "a3 FETCH 1 (BINARY.PEEK[2] BINARY.SIZE[2])");
      assert.deepEqual(bin.untagged[0]!.literals[0], pdf);
      assert.match(bin.text, new RegExp(`BINARY\\.SIZE\\[2\\] ${pdf.length}\\b`));
      const body = await bob.expect("OK", "a4 FETCH 1 (BODY.PEEK[2])");
      const decoded = Uint8Array.from(
        atob(new TextDecoder().decode(body.untagged[0]!.literals[0]!).replace(/\s+/g, "")),
        (
          ch,
        ) => ch.charCodeAt(0),
      );
      assert.deepEqual(decoded, pdf);
      // The whole message is what was sent, after the trace headers the server added.
      const whole = new TextDecoder().decode(
        (await bob.expect("OK", "a5 FETCH 1 BODY.PEEK[]")).untagged[0]!.literals[0],
      );
      assert.ok(whole.endsWith(raw), "the submitted bytes arrive unchanged");
      bob.close();

      // Alice's Sent has the copy saved at submission; the client's own APPEND of it is not stored twice.
      const alice = await login(s);
      const st = await alice.expect("OK", "b1 STATUS Sent (MESSAGES UIDVALIDITY UIDNEXT)");
      assert.match(st.text, /MESSAGES 1 /);
      const uv = /UIDVALIDITY (\d+)/.exec(st.text)![1];
      const ap = await alice.literal("OK", "b2 APPEND Sent (\\Seen)", raw);
      assert.match(ap.tagged, new RegExp(`^b2 OK \\[APPENDUID ${uv} 1\\]`));
      assert.match((await alice.expect("OK", "b3 STATUS Sent (MESSAGES)")).text, /MESSAGES 1\)/);
      // Elsewhere, the same message is appended normally.
      const dr = await alice.literal("OK", "b4 APPEND Drafts", raw);
      assert.match(dr.tagged, /\[APPENDUID \d+ 1\]/);
      assert.match((await alice.expect("OK", "b5 STATUS Drafts (MESSAGES)")).text, /MESSAGES 1\)/);
      alice.close();
    });
  },
);

storeTest(
  "imap: edge cases: literals everywhere, large messages, own APPEND/COPY into the selected mailbox, expunge ordering",
  async (t, ts) => {
    await withImap(ts, async (s) => {
      // LOGIN with literals (a password with quotes and backslashes needs them or escapes).
      const odd = `pa"ss\\word {5} 1234`;
      await ts.store.accounts.setPassword("bob@example.test", odd);
      const [l] = await ImapTestClient.connect(s.imaps, { tls: true, caCerts: s.caCerts });
      await l.write(`a1 LOGIN {16}\r\n`);
      assert.match(await l.readLine(), /^\+/);
      await l.write(`bob@example.test {${odd.length}}\r\n`);
      assert.match(await l.readLine(), /^\+/);
      await l.write(`${odd}\r\n`);
      assert.match((await l.readReply("a1")).tagged, /^a1 OK/);
      l.close();
      const [q] = await ImapTestClient.connect(s.imaps, { tls: true, caCerts: s.caCerts });
      await q.expect("OK", `a0 LOGIN "bob@example.test" "pa\\"ss\\\\word {5} 1234"`); // quoted with escapes
      q.close();
      // AUTHENTICATE with an empty initial response ("=", RFC 4959) asks for the credentials.
      const [e] = await ImapTestClient.connect(s.imaps, { tls: true, caCerts: s.caCerts });
      await e.write("b1 AUTHENTICATE PLAIN =\r\n");
      const cont = await e.readLine();
      if (cont.startsWith("+")) {
        await e.write(btoa(`\0alice@example.test\0${PASSWORD}`) + "\r\n");
        assert.match((await e.readReply("b1")).tagged, /^b1 OK/);
      } else assert.match(cont, /^b1 (NO|BAD)/);
      e.close();

      const c = await login(s);
      // LITERAL- for short arguments, e.g. a mailbox name.
      await c.write("c1 SELECT {5+}\r\nINBOX\r\n");
      assert.match((await c.readReply("c1")).tagged, /^c1 OK \[READ-WRITE\]/);
      // A large APPEND (above the auto-accept size): continuation, then the exact bytes back, also in slices.
      const big = message({ subject: "large", body: ("0123456789abcdef".repeat(4) + "\r\n").repeat(4000) });
      const ap = await c.literal("OK", "c2 APPEND INBOX", big);
      assert.match(ap.text, /^\* 1 EXISTS$/m, "APPEND to the selected mailbox announces EXISTS");
      await t.step({
        name: "FETCH of a message over 256 KiB",
        fn: async () => {
          const whole = await c.expect("OK", "c3 FETCH 1 (RFC822.SIZE BODY.PEEK[])");
          assert.equal(new TextDecoder().decode(whole.untagged[0]!.literals[0]), big);
          assert.match(whole.text, new RegExp(`RFC822\\.SIZE ${big.length}`));
          const slice = await c.expect(
            "OK",
            "c4 FETCH 1 (BODY.PEEK[TEXT]<262140.10> BODY.PEEK[HEADER.FIELDS (SUBJECT)])",
          );
          const text = big.slice(big.indexOf("\r\n\r\n") + 4);
          assert.equal(new TextDecoder().decode(slice.untagged[0]!.literals[0]), text.slice(262140, 262150));
          assert.equal(new TextDecoder().decode(slice.untagged[0]!.literals[1]), "Subject: large\r\n\r\n");
          assert.match(slice.text, /BODY\[TEXT\]<262140> \{10\}/);
          const bin = await c.expect("OK", "c5 FETCH 1 (BINARY.PEEK[1]<0.16> BINARY.SIZE[1] ENVELOPE)");
          assert.equal(new TextDecoder().decode(bin.untagged[0]!.literals[0]), "0123456789abcdef");
        },
      });
      assert.equal(
        (await c.expect("OK", "c3x FETCH 1 (UID RFC822.SIZE)")).text,
        `* 1 FETCH (UID 1 RFC822.SIZE ${big.length})`,
      );
      await t.step({
        // A delivery with outbound queue rows takes the store's transaction path, with its own large-content
        // INSERT (on postgres.js its structure was once stored double-encoded: NO [SERVERBUG] on every FETCH).
        name: "a message over 256 KiB submitted to a local and an external recipient",
        fn: async () => {
          const [smtp] = await SmtpTestClient.connect(s.smtp.submissions, { tls: true, caCerts: s.caCerts });
          await smtp.expect(250, "EHLO client.example.test");
          assert.equal((await smtp.authPlain("alice@example.test", PASSWORD)).code, 235);
          await smtp.expect(250, "MAIL FROM:<alice@example.test>");
          await smtp.expect(250, "RCPT TO:<bob@example.test>");
          await smtp.expect(250, "RCPT TO:<friend@remote.test>");
          await smtp.expect(354, "DATA");
          const out = message({ from: "alice@example.test", subject: "large out", body: "z".repeat(300_000) });
          await smtp.expect(250, out + ".");
          smtp.close();
          const sent = await login(s); // the Sent copy was stored with the recipients' copies
          await sent.expect("OK", "s1 SELECT Sent");
          assert.match((await sent.expect("OK", "s2 FETCH 1 (ENVELOPE BODY.PEEK[HEADER])")).text, /"large out"/);
          sent.close();
        },
      });
      // COPY into the selected mailbox itself: EXISTS for the new message.
      const cp = await c.expect("OK", "c6 COPY 1 INBOX");
      assert.match(cp.text, /^\* 2 EXISTS$/m);
      await c.expect("OK", "c7 STATUS INBOX (MESSAGES)").then((r) => assert.match(r.text, /MESSAGES 2/));

      // Another session expunges message 1 while we mark message 2 \Deleted and EXPUNGE: we first hear about
      // theirs, then ours with the renumbered sequence number (RFC 9051 §7.5.1).
      for (let i = 0; i < 2; i++) await appendRaw(ts, s.ids.alice, "INBOX", message({ subject: `more ${i}` }));
      await c.expect("OK", "d1 NOOP").then((r) => assert.match(r.text, /^\* 4 EXISTS$/m));
      const other = await login(s);
      await other.expect("OK", "o1 SELECT INBOX");
      await other.expect("OK", "o2 STORE 1 +FLAGS.SILENT (\\Deleted)");
      await other.expect("OK", "o3 EXPUNGE");
      await new Promise((r) => setTimeout(r, 100));
      await c.expect("OK", "d2 STORE 3 +FLAGS.SILENT (\\Deleted)");
      const x = await c.expect("OK", "d3 EXPUNGE");
      assert.deepEqual(x.untagged.map((u) => u.text), ["* 1 EXPUNGE", "* 2 EXPUNGE"]);
      const left = await c.expect("OK", "d4 FETCH 1:* (UID)");
      assert.deepEqual(left.untagged.map((u) => u.text), ["* 1 FETCH (UID 2)", "* 2 FETCH (UID 4)"]);
      // The same with MOVE: their expunge first, then ours.
      await other.expect("OK", "o4 NOOP");
      await other.expect("OK", "o5 STORE 1 +FLAGS.SILENT (\\Deleted)");
      await other.expect("OK", "o6 EXPUNGE");
      await new Promise((r) => setTimeout(r, 100));
      const mv = await c.expect("OK", "d5 UID MOVE 4 Archive");
      const expunges = mv.untagged.filter((u) => /EXPUNGE/.test(u.text)).map((u) => u.text);
      assert.ok(
        JSON.stringify(expunges) === JSON.stringify(["* 1 EXPUNGE", "* 1 EXPUNGE"]) ||
          JSON.stringify(expunges) === JSON.stringify(["* 2 EXPUNGE", "* 1 EXPUNGE"]),
        mv.text,
      );
      assert.equal((await c.expect("OK", "d6 NOOP")).text, "");
      assert.equal((await c.expect("OK", "d7 SEARCH ALL")).text, "* SEARCH");
      other.close();

      // IMAP4rev2 (RFC 9051): SEARCH answers with ESEARCH, SELECT leaves out RECENT, names go out in UTF-8.
      await c.expect("OK", "e1 ENABLE IMAP4rev2");
      await c.expect("OK", `e2 CREATE "Bücher"`);
      assert.match((await c.expect("OK", `e3 LIST "" "B*"`)).text, /"Bücher"$/);
      const sel = await c.expect("OK", "e4 SELECT Archive");
      assert.doesNotMatch(sel.text, /RECENT/);
      assert.equal((await c.expect("OK", "e5 SEARCH ALL")).text, `* ESEARCH (TAG "e5") ALL 1`);
      // IDLE in the authenticated state is allowed and ends with DONE.
      await c.expect("OK", "e6 UNSELECT");
      await c.write("e7 IDLE\r\n");
      assert.match(await c.readLine(), /^\+ /);
      await c.write("DONE\r\n");
      assert.match((await c.readReply("e7")).tagged, /^e7 OK/);
      c.close();
      // Modified UTF-7 in, and a broken one refused.
      const d = await login(s);
      assert.match((await d.expect("OK", `f1 LIST "" "B*"`)).text, /"B&APw-cher"$/);
      await d.expect("OK", `f2 SELECT "B&APw-cher"`);
      assert.notEqual((await d.cmd(`f3 CREATE "bad&Jjo!"`)).status, "OK");
      assert.notEqual((await d.cmd(`f4 CREATE "&AGE-"`)).status, "OK"); // "a" must not be encoded (RFC 3501 §5.1.3)
      // Deep OR nesting is refused, not a crash.
      const deep = "OR ".repeat(2000) + "ALL ".repeat(2001);
      assert.equal((await d.cmd(`f5 SEARCH ${deep}`)).status, "BAD");
      d.close();
      assert.ok(!s.logs.some((l) => l.msg === "command failed" || l.msg === "session failed"), "no internal error");
    });
  },
);

storeTest("imap: idle timeouts end sessions with BYE, in and outside IDLE", async (_t, ts) => {
  await withImap(ts, async (s) => {
    const c = await login(s);
    assert.match(await c.readLine(3000), /^\* BYE /);
    assert.ok(await c.closedByServer());
    const d = await login(s);
    await d.expect("OK", "a1 SELECT INBOX");
    await d.write("a2 IDLE\r\n");
    assert.match(await d.readLine(), /^\+ /);
    assert.match(await d.readLine(3000), /^\* BYE /);
  }, { limits: { idleTimeoutMs: 400, idleCommandTimeoutMs: 800 } });
});

storeTest(
  "imap: shutdown: idle and IDLEing sessions get BYE [UNAVAILABLE], new connections are refused",
  async (_t, ts) => {
    const s = await startTestImap(ts);
    const idle = await login(s);
    const idling = await login(s);
    await idling.expect("OK", "b1 SELECT INBOX");
    await idling.write("b2 IDLE\r\n");
    assert.match(await idling.readLine(), /^\+ /);
    const closing = s.close();
    assert.match(await idle.readLine(), /^\* BYE \[UNAVAILABLE\]/);
    assert.match(await idling.readLine(), /^\* BYE \[UNAVAILABLE\]/);
    await closing;
    await assert.rejects(() => ImapTestClient.connect(s.imaps, { tls: true, caCerts: s.caCerts }));
  },
);

storeTest(
  "imap: 1,200 messages: FETCH, STORE, SEARCH and COPY across batch boundaries; more corner cases",
  async (_t, ts) => {
    await withImap(ts, async (s) => {
      const inbox = (await ts.store.mailboxes.get(s.ids.alice, "INBOX"))!;
      const { parseMessage } = await import("../mail/parse.ts");
      const enc = new TextEncoder();
      const deliveries = Array.from({ length: 1200 }, (_, i) => {
        const raw = enc.encode(message({ subject: `n${i + 1}`, body: `body ${i + 1}` }));
        return { raw, parsed: parseMessage(raw), targets: [{ mailboxId: inbox.id, flags: i % 3 ? [] : ["\\Seen"] }] };
      });
      await ts.store.messages.deliverAll(deliveries);
      const c = await login(s);
      assert.match((await c.expect("OK", "a1 SELECT INBOX")).text, /^\* 1200 EXISTS$/m);
      const flags = await c.expect("OK", "a2 FETCH 1:* (UID FLAGS)");
      assert.equal(flags.untagged.length, 1200);
      flags.untagged.forEach((u, i) => assert.match(u.text, new RegExp(`^\\* ${i + 1} FETCH \\(UID ${i + 1} FLAGS `)));
      const bodies = await c.expect("OK", "a3 FETCH 45:105 (BODY.PEEK[TEXT])");
      assert.equal(bodies.untagged.length, 61);
      bodies.untagged.forEach((u, i) => assert.equal(new TextDecoder().decode(u.literals[0]), `body ${i + 45}\r\n`));
      const env = await c.expect("OK", "a4 UID FETCH 990:1010 (ENVELOPE)");
      assert.equal(env.untagged.length, 21);
      assert.match(env.untagged[20]!.text, /"n1010"/);
      assert.equal(
        (await c.expect("OK", "a5 SEARCH RETURN (COUNT MIN MAX) SEEN")).text,
        `* ESEARCH (TAG "a5") MIN 1 MAX 1198 COUNT 400`,
      );
      const all = await c.expect("OK", "a6 UID SEARCH RETURN (ALL) UNSEEN");
      assert.match(all.text, /^\* ESEARCH \(TAG "a6"\) UID ALL 2:3,5:6,8:9,/);
      const st = await c.expect("OK", "a7 STORE 1:* +FLAGS.SILENT (\\Flagged)");
      assert.equal(st.text, "");
      assert.equal((await c.expect("OK", "a8 SEARCH RETURN (COUNT) FLAGGED")).text, `* ESEARCH (TAG "a8") COUNT 1200`);
      const cp = await c.expect("OK", "a9 COPY 1:* Archive");
      assert.match(cp.tagged, /\[COPYUID \d+ 1:1200 1:1200\]/);
      // STORE UNCHANGEDSINCE 0 always fails (RFC 7162 §3.1.3).
      assert.match(
        (await c.expect("OK", "b1 STORE 1:3 (UNCHANGEDSINCE 0) +FLAGS (\\Draft)")).tagged,
        /\[MODIFIED 1:3\]/,
      );
      // Empty partials and quoted header field names.
      await c.expect("BAD", "b2 FETCH 1 BODY.PEEK[]<0.0>"); // RFC 9051 §9: the length is an nz-number64
      assert.match((await c.expect("OK", "b21 FETCH 1 BODY.PEEK[]<99999.1>")).text, /BODY\[\]<99999> (\{0\}|"")/);
      const q = await c.expect("OK", `b3 FETCH 1 BODY.PEEK[HEADER.FIELDS ("Subject" "X-None")]`);
      assert.equal(new TextDecoder().decode(q.untagged[0]!.literals[0]), "Subject: n1\r\n\r\n");
      // Not before login, not without a mailbox.
      c.close();
      const [n] = await ImapTestClient.connect(s.imaps, { tls: true, caCerts: s.caCerts });
      for (const cmd of ["ENABLE CONDSTORE", "SELECT INBOX", 'LIST "" *', "APPEND INBOX {1+}\r\nx", "IDLE"]) {
        assert.equal((await n.cmd(`c1 ${cmd}`)).status, "BAD", cmd);
      }
      // The same answer for an unknown user and a wrong password (RFC 5530 AUTHENTICATIONFAILED, nothing more).
      const unknown = await n.cmd(`c2 LOGIN nobody@example.test "${PASSWORD}"`);
      const wrong = await n.cmd(`c3 LOGIN alice@example.test "not the password"`);
      assert.equal(unknown.tagged.replace("c2", "c3"), wrong.tagged);
      // A disabled account cannot log in.
      await ts.store.db.query("UPDATE accounts SET disabled = true WHERE id = $1", [s.ids.bob]);
      assert.equal((await n.cmd(`c4 LOGIN bob@example.test "${PASSWORD}"`)).status, "NO");
      n.close();
      assert.ok(!s.logs.some((l) => l.msg === "command failed" || l.msg === "session failed"), "no internal error");
    });
  },
);

storeTest("imap: odd APPENDs, IDLE with pipelined DONE, INBOX children, brute-force lockout", async (_t, ts) => {
  await withImap(ts, async (s) => {
    const c = await login(s);
    const sel = await c.expect("OK", "a1 SELECT inbox");
    assert.match(sel.text, /^\* 0 EXISTS$/m);
    // Odd APPENDs: empty, 8-bit, bare LF, NUL; a bad date, a bad flag. Never an internal error.
    const empty = await c.literal("OK", "a2 APPEND INBOX", "").catch(() => null);
    if (!empty) await c.expect("OK", "a2x NOOP");
    await c.literal("OK", "a3 APPEND INBOX", "Subject: Grüße\r\n\r\nKöln\r\n");
    await c.literal("OK", "a4 APPEND INBOX", "Subject: bare LF\n\nline\n");
    // NUL: not in a literal (RFC 9051 §9 CHAR8); in a literal8 (RFC 3516) it is stored (the parsed text keeps
    // U+FFFD where the header had NUL, since Postgres text cannot hold U+0000).
    const withNul = "Subject: \0\r\n\r\nx\r\n";
    await c.write(`a5 APPEND INBOX {${withNul.length}}\r\n`);
    assert.match(await c.readLine(), /^\+/);
    await c.write(withNul + "\r\n");
    assert.match((await c.readReply("a5")).tagged, /^a5 BAD/);
    await c.write(`a51 APPEND INBOX ~{${withNul.length}}\r\n`);
    assert.match(await c.readLine(), /^\+/);
    await c.write(withNul + "\r\n");
    assert.match((await c.readReply("a51")).tagged, /^a51 OK \[APPENDUID/);
    const binary = "Subject: binary\r\nContent-Type: application/octet-stream\r\n\r\n\0\x01\x02\r\n";
    await c.write(`a52 APPEND INBOX ~{${binary.length}}\r\n`);
    assert.match(await c.readLine(), /^\+/);
    await c.write(binary + "\r\n");
    assert.match((await c.readReply("a52")).tagged, /^a52 OK \[APPENDUID/);
    await c.expect("OK", "a6 NOOP");
    await c.literal("BAD", `a7 APPEND INBOX "31-Feb-2024 99:00:00 +0000"`, "Subject: x\r\n\r\ny\r\n").catch(
      async () => {
        await c.expect("OK", "a7x NOOP");
      },
    );
    await c.literal("BAD", "a8 APPEND INBOX (\\Bogus)", "Subject: x\r\n\r\ny\r\n").catch(async () => {
      await c.expect("OK", "a8x NOOP");
    });
    const fetched = await c.expect("OK", "a9 FETCH 1:* (BODY.PEEK[HEADER.FIELDS (SUBJECT)] ENVELOPE BODYSTRUCTURE)");
    assert.ok(fetched.untagged.length >= 2);
    // IDLE ended with DONE and the next command in the same packet.
    await c.write("b1 IDLE\r\n");
    assert.match(await c.readLine(), /^\+ /);
    await c.write("DONE\r\nb2 NOOP\r\n");
    assert.match((await c.readReply("b1")).tagged, /^b1 OK/);
    assert.match((await c.readReply("b2")).tagged, /^b2 OK/);
    // Something else than DONE ends IDLE with BAD.
    await c.write("b3 IDLE\r\n");
    assert.match(await c.readLine(), /^\+ /);
    await c.write("b4 NOOP\r\n");
    assert.match((await c.readReply("b3")).tagged, /^b3 BAD/);
    // Pipelined commands are answered in order.
    await c.write("p1 NOOP\r\np2 FETCH 1 (UID)\r\np3 STORE 1 +FLAGS (\\Seen)\r\np4 SEARCH SEEN\r\n");
    for (const tag of ["p1", "p2", "p3", "p4"]) assert.match((await c.readReply(tag)).tagged, new RegExp(`^${tag} OK`));
    // INBOX may have children; renaming INBOX leaves them where they are (RFC 9051 §6.3.6).
    await c.expect("OK", "c1 CREATE inbox/Sub");
    const list = await c.expect("OK", `c2 LIST "" "INBOX*"`);
    assert.deepEqual(list.untagged.map((u) => u.text), [
      `* LIST (\\HasChildren) "/" "INBOX"`,
      `* LIST (\\HasNoChildren) "/" "INBOX/Sub"`,
    ]);
    await c.expect("OK", "c3 UNSELECT");
    await c.expect("OK", "c4 RENAME INBOX Old");
    assert.match((await c.expect("OK", `c5 LIST "" "*"`)).text, /"INBOX\/Sub"$/m);
    c.close();
    assert.ok(!s.logs.some((l) => l.msg === "command failed" || l.msg === "session failed"), "no internal error");

    // Brute force from one address: after 10 failures the client is locked out, even with the right password.
    let closed = false;
    for (let i = 0; i < 12 && !closed; i++) {
      const [b] = await ImapTestClient.connect(s.imaps, { tls: true, caCerts: s.caCerts });
      const r = await b.cmd(`x${i} LOGIN alice@example.test "guess ${i}"`).catch(() => null);
      assert.ok(r === null || r.status === "NO");
      if (r && /UNAVAILABLE/.test(r.tagged)) closed = true;
      b.close();
    }
    const [g] = await ImapTestClient.connect(s.imaps, { tls: true, caCerts: s.caCerts });
    const locked = await g.cmd(`y1 LOGIN alice@example.test "${PASSWORD}"`);
    assert.match(locked.tagged, /^y1 NO \[UNAVAILABLE\]/);
    g.close();
    assert.ok(s.logs.some((l) => l.msg === "login refused: throttled"));
  });
});

storeTest(
  "imap: the selected mailbox deleted or renamed by another session: answers, never an internal error",
  async (_t, ts) => {
    await withImap(ts, async (s) => {
      for (const name of ["Work", "Play"]) {
        await ts.store.mailboxes.create(s.ids.alice, name);
        await appendRaw(ts, s.ids.alice, name, message({ subject: name }));
      }
      const a = await login(s);
      const b = await login(s);
      await a.expect("OK", "a1 SELECT Work");
      await b.expect("OK", "b1 DELETE Work");
      await new Promise((r) => setTimeout(r, 100));
      for (
        const [i, q] of [
          "NOOP",
          "FETCH 1 (FLAGS BODY.PEEK[])",
          "FETCH 1 BODY[]",
          "SEARCH ALL",
          "COPY 1 INBOX",
          "EXPUNGE",
        ].entries()
      ) {
        assert.equal((await a.cmd(`c${i} ${q}`)).status, "OK", q);
      }
      assert.match((await a.cmd("c9 STORE 1 +FLAGS (\\Seen)")).tagged, /^c9 (OK|NO \[NONEXISTENT\])/);
      // A renamed mailbox keeps its messages and stays selected under its new name.
      await a.expect("OK", "d1 SELECT Play");
      await b.expect("OK", "b2 RENAME Play Games");
      assert.equal((await a.expect("OK", "d2 FETCH 1 (UID)")).text, "* 1 FETCH (UID 1)");
      await a.expect("OK", "d3 STORE 1 +FLAGS (\\Seen)");
      assert.match((await b.expect("OK", "b3 STATUS Games (UNSEEN)")).text, /UNSEEN 0/);
      a.close();
      b.close();
      assert.ok(!s.logs.some((l) => l.msg === "command failed" || l.msg === "session failed"), "no internal error");
    });
  },
);

/** The `i`th literal of the first untagged response, as text. */
function lit(r: { untagged: { literals: Uint8Array[] }[] }, i = 0): string {
  return new TextDecoder().decode(r.untagged[0]?.literals[i]);
}

storeTest(
  "imap: SELECT of the mailbox already selected catches up with other sessions; FETCH from the message cache",
  async (_t, ts) => {
    await withImap(ts, async (s) => {
      const raws = [1, 2, 3].map((i) => message({ subject: `m${i}`, body: `body of message ${i}` }));
      for (const raw of raws) await appendRaw(ts, s.ids.alice, "INBOX", raw);
      const a = await login(s);
      const b = await login(s);
      await a.expect("OK", "a1 SELECT INBOX");
      await a.expect("OK", "a2 FETCH 1:* (UID FLAGS)");
      const first = await a.expect("OK", "a3 UID FETCH 2 BODY.PEEK[]"); // read once: now cached
      assert.equal(lit(first), raws[1]);
      // Another session changes flags, expunges and appends; `a` re-selects at once (no NOOP, no wait).
      await b.expect("OK", "b1 SELECT INBOX");
      await b.expect("OK", "b2 STORE 1 +FLAGS (\\Flagged)");
      await b.expect("OK", "b3 STORE 3 +FLAGS.SILENT (\\Deleted)");
      await b.expect("OK", "b4 EXPUNGE");
      const extra = message({ subject: "m4" });
      await b.expect("OK", `b5 APPEND INBOX {${extra.length}+}\r\n${extra}`);
      const again = await a.expect("OK", "a4 SELECT INBOX");
      assert.match(again.text, /^\* 3 EXISTS$/m);
      assert.match(again.text, /\[UIDNEXT 5\]/);
      assert.doesNotMatch(again.text, /EXPUNGE|FETCH/, "the SELECT describes the new state, nothing else");
      assert.deepEqual((await a.expect("OK", "a5 FETCH 1:* (UID FLAGS)")).untagged.map((u) => u.text), [
        "* 1 FETCH (UID 1 FLAGS (\\Flagged))",
        "* 2 FETCH (UID 2 FLAGS ())",
        "* 3 FETCH (UID 4 FLAGS ())",
      ]);
      // Re-selected read-only: no changes, not even \Seen from a body fetch.
      assert.match((await a.expect("OK", "a6 EXAMINE INBOX")).tagged, /\[READ-ONLY\]/);
      await a.expect("NO", "a7 STORE 1 +FLAGS (\\Seen)");
      assert.equal(lit(await a.expect("OK", "a8 UID FETCH 2 BODY[]")), raws[1]);
      const hits = ts.store.messages.cache.hits;
      const peek = await a.expect("OK", "a8b UID FETCH 2 (BODY.PEEK[HEADER.FIELDS (SUBJECT)] BODY.PEEK[] ENVELOPE)");
      assert.equal(ts.store.messages.cache.hits, hits + 1, "answered from the message cache");
      assert.deepEqual([lit(peek, 0), lit(peek, 1)], ["Subject: m2\r\n\r\n", raws[1]]);
      assert.match(peek.text, /ENVELOPE \(/);
      await a.expect("OK", "a9 SELECT INBOX");
      // From the cache: the same bytes, a header slice of them, and a non-PEEK fetch still sets \Seen.
      const cached = await a.expect("OK", "a10 UID FETCH 2 (BODY[HEADER.FIELDS (SUBJECT)] BODY[])");
      assert.match(cached.text, /FLAGS \(\\Seen\)/);
      assert.deepEqual([lit(cached, 0), lit(cached, 1)], ["Subject: m2\r\n\r\n", raws[1]]);
      assert.match((await b.expect("OK", "b6 UID FETCH 2 (FLAGS)")).text, /UID 2 FLAGS \(\\Seen\)/);
      a.close();
      b.close();
    });
  },
);

storeTest(
  "imap: a re-SELECT with nothing announced asks no query; a rename or another session's change makes it ask",
  async (_t, ts) => {
    await withImap(ts, async (s) => {
      for (const i of [1, 2]) await appendRaw(ts, s.ids.alice, "INBOX", message({ subject: `m${i}` }));
      const lookups = ts.store.mailboxes.get;
      let asked = 0;
      ts.store.mailboxes.get = (...args) => (asked++, lookups.apply(ts.store.mailboxes, args));
      try {
        const a = await login(s);
        const b = await login(s);
        const first = await a.expect("OK", "a1 SELECT INBOX (CONDSTORE)");
        const highest = Number(/HIGHESTMODSEQ (\d+)/.exec(first.text)?.[1]);
        // The session's own changes: a flag (its MODSEQ), an APPEND (EXISTS and UIDNEXT).
        const stored = await a.expect("OK", "a2 STORE 1 +FLAGS (\\Flagged)");
        const modseq = Number(/MODSEQ \((\d+)\)/.exec(stored.text)?.[1]);
        assert.ok(modseq > highest, stored.text);
        const extra = message({ subject: "m3" });
        await a.expect("OK", `a3 APPEND INBOX {${extra.length}+}\r\n${extra}`);
        asked = 0;
        const again = await a.expect("OK", "a4 SELECT inbox");
        assert.equal(asked, 0, "no lookup of the mailbox");
        assert.match(again.text, /^\* 3 EXISTS$/m);
        assert.match(again.text, /\[UIDNEXT 4\]/);
        assert.match(again.text, new RegExp(`\\[HIGHESTMODSEQ ${modseq + 1}\\]`), "above the APPEND's MODSEQ");
        // Another session's change is announced: the next re-SELECT reads the mailbox and sees it.
        await b.expect("OK", "b1 SELECT INBOX");
        await b.expect("OK", "b2 STORE 2 +FLAGS.SILENT (\\Deleted)");
        await b.expect("OK", "b3 EXPUNGE");
        asked = 0;
        const after = await a.expect("OK", "a5 SELECT INBOX");
        assert.equal(asked, 1, "the mailbox read again");
        assert.match(after.text, /^\* 2 EXISTS$/m);
        // A renamed mailbox is not found by its old name, even by the session that had it selected.
        await b.expect("OK", "b4 CREATE Work");
        await a.expect("OK", "a6 SELECT Work");
        await b.expect("OK", "b5 RENAME Work Play");
        await a.expect("NO", "a7 SELECT Work").then((r) => assert.match(r.tagged, /\[NONEXISTENT\]/));
        await a.expect("OK", "a8 SELECT Play");
        asked = 0;
        await a.expect("OK", "a9 EXAMINE Play");
        assert.equal(asked, 0, "no lookup once the session knows the new name");
        a.close();
        b.close();
      } finally {
        ts.store.mailboxes.get = lookups;
      }
    });
  },
);

/** Prepares a store for server processes: the domain and alice, then closes it. */
async function prepareStore(options: StoreOptions): Promise<void> {
  const store = await Store.open(options);
  try {
    await store.domains.add("example.test");
    await store.accounts.create("alice@example.test", PASSWORD);
  } finally {
    await store.close();
  }
}

/** Logs in over 993 of a server process (its self-signed certificate is in `<dataDir>/tls`). */
async function loginProcess(server: ServerProcess, dataDir: string): Promise<ImapTestClient> {
  const cert = await Deno.readTextFile(`${dataDir}/tls/self-signed.crt`);
  const [c, greeting] = await ImapTestClient.connect(server.ports["IMAPS"]!, { tls: true, caCerts: [cert] });
  assert.match(greeting, /^\* OK \[CAPABILITY /);
  await c.expect("OK", `l1 LOGIN alice@example.test "${PASSWORD}"`);
  return c;
}

Deno.test({
  name: "imap: the real server process (main.ts serve) serves 143 and 993; IDLE hears MX delivery [pglite]",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "silvermail-imap-process-" });
    try {
      await prepareStore({ location: { dataDir: dir } });
      const server = await startServerProcess({ SILVERMAIL_DATA_DIR: dir });
      try {
        assert.ok(server.ports["IMAP"] && server.ports["IMAPS"], JSON.stringify(server.ports));
        const [p, greeting] = await ImapTestClient.connect(server.ports["IMAP"]!);
        assert.match(greeting, /STARTTLS/);
        assert.match(greeting, /LOGINDISABLED/);
        p.close();
        const c = await loginProcess(server, dir);
        await c.expect("OK", "a1 SELECT INBOX");
        await c.write("a2 IDLE\r\n");
        assert.match(await c.readLine(), /^\+ /);
        await deliverToPort(server.ports["SMTP (MX)"]!, message({ subject: "through the process" }));
        await c.waitFor(/^\* 1 EXISTS$/);
        await c.write("DONE\r\n");
        await c.readReply("a2");
        assert.match((await c.expect("OK", "a3 FETCH 1 ENVELOPE")).text, /"through the process"/);
        c.close();
      } finally {
        assert.equal(await server.stop(), 0, server.stderr());
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "imap: two server processes on one Postgres: IDLE on one hears MX delivery to the other [postgres]",
  ignore: !!postgresUnavailableReason() && Deno.env.get("CI") !== "true",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const db = await createTestDatabase();
    const dirs = [await Deno.makeTempDir(), await Deno.makeTempDir()];
    try {
      await prepareStore({ location: { url: db.url } });
      const [one, two] = await Promise.all(
        dirs.map((d) => startServerProcess({ SILVERMAIL_DATA_DIR: d, SILVERMAIL_DATABASE_URL: db.url })),
      );
      try {
        const c = await loginProcess(one!, dirs[0]!);
        await c.expect("OK", "a1 SELECT INBOX");
        await c.write("a2 IDLE\r\n");
        assert.match(await c.readLine(), /^\+ /);
        await deliverToPort(two!.ports["SMTP (MX)"]!, message({ subject: "via the other instance" }));
        await c.waitFor(/^\* 1 EXISTS$/);
        await c.write("DONE\r\n");
        await c.readReply("a2");
        // A flag set through the second instance reaches the first one's session too.
        const d = await loginProcess(two!, dirs[1]!);
        await d.expect("OK", "b1 SELECT INBOX");
        await d.expect("OK", "b2 STORE 1 +FLAGS (\\Flagged)");
        await c.write("a3 IDLE\r\n");
        assert.match(await c.readLine(), /^\+ /);
        await d.expect("OK", "b3 STORE 1 +FLAGS (\\Seen)");
        await c.waitFor(/^\* 1 FETCH \(UID 1 FLAGS \(\\Flagged \\Seen\)\)$/);
        await c.write("DONE\r\n");
        await c.readReply("a3");
        c.close();
        d.close();
      } finally {
        await one!.stop();
        await two!.stop();
      }
    } finally {
      await db.drop();
      for (const d of dirs) await Deno.remove(d, { recursive: true });
    }
  },
});

storeTest("imap: connections per client address are limited: the next one gets BYE [UNAVAILABLE]", async (_t, ts) => {
  await withImap(ts, async (s) => {
    const open = [];
    for (let i = 0; i < 3; i++) {
      open.push((await ImapTestClient.connect(s.imaps, { tls: true, caCerts: s.caCerts }))[0]);
    }
    const [extra, greeting] = await ImapTestClient.connect(s.imaps, { tls: true, caCerts: s.caCerts });
    assert.match(greeting, /^\* BYE \[UNAVAILABLE\]/);
    assert.ok(await extra.closedByServer());
    open.pop()!.close();
    await new Promise((r) => setTimeout(r, 200));
    const [again, ok] = await ImapTestClient.connect(s.imap);
    assert.match(ok, /^\* OK /);
    again.close();
    for (const c of open) c.close();
  }, { maxConnectionsPerIp: 3 });
});

storeTest(
  "imap: logged-in sessions per account are limited: the next login gets NO [ALERT], other accounts are not affected",
  async (_t, ts) => {
    await withImap(ts, async (s) => {
      const open = [await login(s), await login(s)];
      // The password is right, but alice has her two sessions: LOGIN and AUTHENTICATE are refused alike.
      const [extra] = await ImapTestClient.connect(s.imaps, { tls: true, caCerts: s.caCerts });
      const no = await extra.expect("NO", `x1 LOGIN alice@example.test "${PASSWORD}"`);
      assert.match(no.tagged, /^x1 NO \[ALERT\] Too many connections to this account/);
      await extra.expect("NO", `x2 AUTHENTICATE PLAIN ${plain("alice@example.test", PASSWORD)}`);
      await extra.expect("BAD", "x3 SELECT INBOX"); // still not logged in
      assert.ok(s.logs.some((l) => l.msg === "login refused: too many sessions for this account"));
      (await login(s, "bob@example.test")).close();
      // A session that ends gives its slot back; a refused one never took one.
      open.pop()!.close();
      await new Promise((r) => setTimeout(r, 200));
      await extra.expect("OK", `x4 LOGIN alice@example.test "${PASSWORD}"`);
      await extra.expect("OK", "x5 SELECT INBOX");
      extra.close();
      for (const c of open) c.close();
    }, { maxConnectionsPerAccount: 2 });
  },
);
