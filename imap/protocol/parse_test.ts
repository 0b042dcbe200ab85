import { deepEqual as assertEquals, ok as assert, throws as assertThrows } from "node:assert/strict";
import { CommandReceiver } from "./receiver.ts";
import {
  type Command,
  enablesCondstore,
  normalizeInbox,
  parseCommand,
  type ParseOptions,
  redactCommand,
} from "./parse.ts";
import { ImapBad, ImapError, ImapNo } from "./response.ts";
import { SequenceSet } from "./sequence_set.ts";

const dec = new TextDecoder();

/** The command as plain data: sets as their wire form, octets as text, dates as ISO strings. */
function plain(v: unknown): unknown {
  if (v instanceof SequenceSet) return v.toString();
  if (v instanceof Uint8Array) return dec.decode(v);
  if (v instanceof Date) return v.toISOString();
  if (Array.isArray(v)) return v.map(plain);
  if (v && typeof v === "object") return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]));
  return v;
}

function parse(input: string, options?: ParseOptions): Record<string, unknown> {
  return plain(parseCommand(input, options)) as Record<string, unknown>;
}

// [command as sent (literals inline), a subset of the parsed fields]. Real client traffic where noted.
const VALID: [string, Record<string, unknown>, ParseOptions?][] = [
  // ---- Any state, not authenticated ----
  ["1 capability", { name: "CAPABILITY", tag: "1" }], // Thunderbird (lower case)
  ["1.1 CAPABILITY", { name: "CAPABILITY", tag: "1.1" }], // Apple Mail
  ["A NOOP", { name: "NOOP" }],
  ["a1 logout", { name: "LOGOUT", tag: "a1" }],
  ["x]y STARTTLS", { name: "STARTTLS", tag: "x]y" }],
  ["A1 NOOP   ", { name: "NOOP" }],
  ['3 LOGIN "bob@example.org" "pa ss\\"wo\\\\rd"', {
    name: "LOGIN",
    username: "bob@example.org",
    password: 'pa ss"wo\\rd',
  }], // mbsync
  ["A1 LOGIN bob secret", { name: "LOGIN", username: "bob", password: "secret" }],
  ["A1 LOGIN {3}\r\nbob {6}\r\nsecret", { name: "LOGIN", username: "bob", password: "secret" }], // Thunderbird, special chars
  ['A1 LOGIN {3+}\r\nbob {8+}\r\n"{}()\r\n*', { name: "LOGIN", password: '"{}()\r\n*' }],
  ['A1 LOGIN "bob" ""', { name: "LOGIN", password: "" }],
  ['A1 LOGIN "jürgen" "pässwörd"', { name: "LOGIN", username: "jürgen", password: "pässwörd" }],
  ["A1 AUTHENTICATE PLAIN", { name: "AUTHENTICATE", mechanism: "PLAIN", initialResponse: null }],
  ["A1 authenticate plain AGJvYgBzZWNyZXQ=", { mechanism: "PLAIN", initialResponse: "AGJvYgBzZWNyZXQ=" }], // imapflow SASL-IR
  ["A1 AUTHENTICATE PLAIN =", { initialResponse: "" }],
  ["A1 AUTHENTICATE XOAUTH2 dXNlcj1ib2IBYXV0aD1CZWFyZXIgeHl6AQE=", { mechanism: "XOAUTH2" }],
  ["A1 AUTHENTICATE SCRAM-SHA-256", { mechanism: "SCRAM-SHA-256" }],
  // ---- Authenticated state ----
  ["A ENABLE CONDSTORE UTF8=ACCEPT", { name: "ENABLE", capabilities: ["CONDSTORE", "UTF8=ACCEPT"] }], // imapflow
  ["A ENABLE qresync", { capabilities: ["QRESYNC"] }],
  ['2 ID ("name" "Thunderbird" "version" "115.3.1")', {
    name: "ID",
    params: [["name", "Thunderbird"], ["version", "115.3.1"]],
  }],
  ['2.1 ID ("name" "Mac OS X Mail" "version" "16.0 (3731.500.231)" "os" "macOS" "vendor" NIL)', {
    params: [["name", "Mac OS X Mail"], ["version", "16.0 (3731.500.231)"], ["os", "macOS"], ["vendor", null]],
  }],
  ["A ID NIL", { params: null }],
  ["A ID ()", { params: [] }],
  ["A NAMESPACE", { name: "NAMESPACE" }],
  ['3 select "INBOX"', { name: "SELECT", mailbox: "INBOX", condstore: false, qresync: null }],
  ["A003 SELECT INBOX (CONDSTORE)", { name: "SELECT", mailbox: "INBOX", condstore: true }], // Thunderbird
  ["A SELECT inbox", { mailbox: "INBOX" }],
  ['A SELECT "Inbox/Sub"', { mailbox: "INBOX/Sub" }],
  ['A SELECT "Inboxes"', { mailbox: "Inboxes" }],
  ["A EXAMINE Archive", { name: "EXAMINE", mailbox: "Archive" }],
  ['A SELECT "Entw&APw-rfe"', { mailbox: "Entwürfe" }],
  ['A SELECT "~peter/mail/&U,BTFw-/&ZeVnLIqe-"', { mailbox: "~peter/mail/台北/日本語" }],
  ['A SELECT "Entwürfe"', { mailbox: "Entwürfe" }, { utf8: true }],
  ['A SELECT "Entw&APw-rfe"', { mailbox: "Entw&APw-rfe" }, { utf8: true }],
  ["A SELECT {9}\r\nEntwürfe", { mailbox: "Entwürfe" }, { utf8: true }],
  ["A SELECT foo]bar", { mailbox: "foo]bar" }],
  ["A SELECT INBOX (QRESYNC (67890007 90060115194045000))", {
    qresync: { uidValidity: 67890007, modseq: 90060115194045000, knownUids: null, seqMatch: null },
  }],
  // RFC 7162 §3.2.5.2's example.
  ["A02 SELECT INBOX (QRESYNC (67890007 20050715194045000 41,43:211,214:541))", {
    qresync: { uidValidity: 67890007, modseq: 20050715194045000, knownUids: "41,43:211,214:541", seqMatch: null },
  }],
  [
    "A SELECT INBOX (QRESYNC (67890007 90060115194045000 1:29997 (5000,7500,9000,9990:9999 15000,22500,27000,29970,29973,29976,29979,29982,29985,29988,29991,29994,29997)))",
    {
      qresync: {
        uidValidity: 67890007,
        modseq: 90060115194045000,
        knownUids: "1:29997",
        seqMatch: {
          seqs: "5000,7500,9000,9990:9999",
          uids: "15000,22500,27000,29970,29973,29976,29979,29982,29985,29988,29991,29994,29997",
        },
      },
    },
  ],
  ["A SELECT INBOX (QRESYNC (1 2 (1 3)))", {
    qresync: { uidValidity: 1, modseq: 2, knownUids: null, seqMatch: { seqs: "1", uids: "3" } },
  }],
  ["A SELECT INBOX (CONDSTORE QRESYNC (1 0))", { condstore: true, qresync: { uidValidity: 1, modseq: 0 } }],
  ["A CREATE Projects/2024", { name: "CREATE", mailbox: "Projects/2024", specialUse: [] }],
  ['A CREATE "Sent Items" (USE (\\sent))', { mailbox: "Sent Items", specialUse: ["\\Sent"] }],
  ['A CREATE "Mine" (USE (\\Drafts \\Frobnicate))', { specialUse: ["\\Drafts", "\\Frobnicate"] }],
  ['A DELETE "Old Stuff"', { name: "DELETE", mailbox: "Old Stuff" }],
  ['A RENAME "a" "b/c"', { name: "RENAME", from: "a", to: "b/c" }],
  ["A RENAME inbox Old-Inbox", { from: "INBOX", to: "Old-Inbox" }],
  ['A SUBSCRIBE "Lists/deno"', { name: "SUBSCRIBE", mailbox: "Lists/deno" }],
  ["A UNSUBSCRIBE Trash", { name: "UNSUBSCRIBE", mailbox: "Trash" }],
  ['3.1 LIST "" ""', { name: "LIST", reference: "", patterns: [""], extended: false }], // delimiter discovery
  ['A LIST "" "*"', {
    patterns: ["*"],
    selection: { subscribed: false, remote: false, recursiveMatch: false, specialUse: false },
    returns: { subscribed: false, children: false, specialUse: false, status: null },
    extended: false,
  }],
  ["A LIST ~/Mail/ %", { reference: "~/Mail/", patterns: ["%"] }],
  ['A LIST "" INBOX.*', { patterns: ["INBOX.*"] }],
  ['A LIST "" "*" RETURN (SPECIAL-USE SUBSCRIBED CHILDREN STATUS (MESSAGES UNSEEN))', {
    returns: { subscribed: true, children: true, specialUse: true, status: ["MESSAGES", "UNSEEN"] },
    extended: true,
  }],
  ['3 list (SUBSCRIBED) "" "*"', { selection: { subscribed: true }, returns: { subscribed: true }, extended: true }], // Thunderbird
  ['A LIST (SUBSCRIBED RECURSIVEMATCH) "" "%" RETURN (CHILDREN)', {
    selection: { subscribed: true, remote: false, recursiveMatch: true, specialUse: false },
    returns: { subscribed: true, children: true, specialUse: false, status: null },
  }],
  ['A LIST (SPECIAL-USE) "" "*"', { selection: { specialUse: true }, returns: { specialUse: true } }],
  ['A LIST () "" ("INBOX" "Lists/%" {4}\r\nSent)', { patterns: ["INBOX", "Lists/%", "Sent"], extended: true }],
  ['A LIST "" "*" RETURN ()', { extended: true }],
  ['A LIST "" "&AOk-*"', { patterns: ["é*"] }],
  ['A LSUB "" "*"', { name: "LSUB", reference: "", pattern: "*" }],
  ["8.1 STATUS INBOX (MESSAGES UIDNEXT UIDVALIDITY UNSEEN HIGHESTMODSEQ)", {
    name: "STATUS",
    items: ["MESSAGES", "UIDNEXT", "UIDVALIDITY", "UNSEEN", "HIGHESTMODSEQ"],
  }],
  ['A STATUS "Sent" (size deleted RECENT APPENDLIMIT MESSAGES messages)', {
    items: ["SIZE", "DELETED", "RECENT", "APPENDLIMIT", "MESSAGES"],
  }],
  ['20 append "Sent" (\\Seen) {5}\r\nHello', { // Thunderbird
    name: "APPEND",
    mailbox: "Sent",
    flags: ["\\Seen"],
    internalDate: null,
    message: "Hello",
    binary: false,
    utf8: false,
  }],
  ['8 APPEND "INBOX" (\\Seen \\flagged $Forwarded) "03-Mar-2024 10:11:12 +0100" {8+}\r\nA\r\n\r\nB\r\n', { // mbsync
    flags: ["\\Seen", "\\Flagged", "$Forwarded"],
    internalDate: "2024-03-03T09:11:12.000Z",
    message: "A\r\n\r\nB\r\n",
  }],
  ['A APPEND INBOX " 7-Jul-1996 02:44:25 -0700" {1}\r\nx', { flags: [], internalDate: "1996-07-07T09:44:25.000Z" }],
  ["A APPEND INBOX () {0}\r\n", { flags: [], message: "" }],
  ["A APPEND INBOX (\\Recent \\Seen \\SEEN) {1}\r\nx", { flags: ["\\Seen"] }],
  ["A APPEND INBOX ~{5+}\r\nhe\0lo", { message: "he\0lo", binary: true }],
  ["A APPEND INBOX UTF8 (~{2+}\r\nhi)", { message: "hi", utf8: true, binary: true }],
  ["A IDLE", { name: "IDLE" }],
  ["A GETQUOTAROOT INBOX", { name: "GETQUOTAROOT", mailbox: "INBOX" }],
  ['A GETQUOTA ""', { name: "GETQUOTA", root: "" }],
  ['A SETQUOTA "" (STORAGE 512 MESSAGE 1000)', {
    name: "SETQUOTA",
    root: "",
    limits: [["STORAGE", 512], ["MESSAGE", 1000]],
  }],
  ['A SETQUOTA "" ()', { limits: [] }],
  // ---- Selected state ----
  ["A CHECK", { name: "CHECK" }],
  ["A CLOSE", { name: "CLOSE" }],
  ["A UNSELECT", { name: "UNSELECT" }],
  ["16 expunge", { name: "EXPUNGE", uids: null }],
  ["A UID EXPUNGE 3000:3002,3005", { name: "EXPUNGE", uids: "3000:3002,3005" }],
  ["6.1 UID SEARCH 1:* NOT DELETED", { name: "SEARCH", uid: true, returns: null, charset: null }], // Apple Mail
  ["A UID SEARCH RETURN (ALL) UNDELETED SINCE 1-Jan-2024", {
    uid: true,
    returns: ["ALL"],
    criteria: {
      type: "and",
      keys: [
        { type: "flag", flag: "\\Deleted", set: false },
        { type: "date", field: "internal", op: "since", date: "2024-01-01" },
      ],
    },
  }],
  ["A SEARCH RETURN () ALL", { uid: false, returns: ["ALL"], criteria: { type: "all" } }],
  ["A SEARCH RETURN (MIN MAX COUNT SAVE MIN) FLAGGED", { returns: ["MIN", "MAX", "COUNT", "SAVE"] }],
  ["A SEARCH CHARSET UTF-8 SUBJECT {7}\r\nGrüße", {
    charset: "UTF-8",
    criteria: { type: "header", field: "subject", value: "Grüße" },
  }],
  ["A SEARCH charset us-ascii TEXT x", { charset: "US-ASCII" }],
  ["12 UID fetch 1:* (FLAGS) (CHANGEDSINCE 42)", { // Thunderbird CONDSTORE sync
    name: "FETCH",
    uid: true,
    set: "1:*",
    attributes: [{ type: "FLAGS" }],
    changedSince: 42,
    vanished: false,
  }],
  ["A UID FETCH 1:* (UID FLAGS) (CHANGEDSINCE 10 VANISHED)", { changedSince: 10, vanished: true }], // imapflow
  ["A FETCH 1:4 ALL", {
    uid: false,
    attributes: [{ type: "FLAGS" }, { type: "INTERNALDATE" }, { type: "RFC822.SIZE" }, { type: "ENVELOPE" }],
  }],
  ["6 UID FETCH 1:1000000000 (UID FLAGS)", { set: "1:1000000000" }], // mbsync
  ["A FETCH $ (FLAGS)", { set: "$" }],
  ["11 UID store 3 +FLAGS (\\Seen)", { // Thunderbird
    name: "STORE",
    uid: true,
    set: "3",
    unchangedSince: null,
    action: "add",
    silent: false,
    flags: ["\\Seen"],
  }],
  ["9 UID STORE 3 +FLAGS.SILENT (\\Deleted)", { action: "add", silent: true, flags: ["\\Deleted"] }], // mbsync
  ["A STORE 1:3 -flags \\Flagged $Junk", { action: "remove", flags: ["\\Flagged", "$Junk"] }],
  ["A STORE 2 FLAGS ()", { action: "set", flags: [] }],
  ["A STORE 7,5,9 (UNCHANGEDSINCE 320162338) +FLAGS.SILENT (\\Deleted)", { unchangedSince: 320162338, silent: true }],
  ['14 UID MOVE 5 "Trash"', { name: "MOVE", uid: true, set: "5", mailbox: "Trash" }],
  ['15 UID COPY 5:7 "Archives/2024"', { name: "COPY", uid: true, set: "5:7", mailbox: "Archives/2024" }],
  ["A COPY 2:4 MEETING", { name: "COPY", uid: false, mailbox: "MEETING" }],
  ["A MOVE * inbox", { name: "MOVE", set: "*", mailbox: "INBOX" }],
];

Deno.test("parseCommand() parses every command form", async (t) => {
  for (const [input, expected, options] of VALID) {
    await t.step(JSON.stringify(input.slice(0, 70)), () => {
      const cmd = parse(input, options);
      for (const [k, v] of Object.entries(expected)) {
        const got = cmd[k];
        if (v && typeof v === "object" && !Array.isArray(v) && got && typeof got === "object") {
          for (const [k2, v2] of Object.entries(v)) {
            assertEquals((got as Record<string, unknown>)[k2], v2, `${input}: ${k}.${k2}`);
          }
        } else assertEquals(got, v, `${input}: ${k}`);
      }
    });
  }
});

// [command, expected tag (null: "* BAD"), message pattern]
const INVALID: [string, string | null, RegExp, ParseOptions?][] = [
  ["* NOOP", null, /Invalid tag "\*"/],
  ["+ NOOP", null, /Invalid tag/],
  ["A+1 NOOP", null, /Invalid tag/],
  ['A"1 NOOP', null, /Invalid tag/],
  [" NOOP", null, /Missing tag/],
  ["A1", "A1", /Missing command name/],
  ["A1 FROBNICATE", "A1", /Unknown command "FROBNICATE"/],
  ["A1 UID NOOP", "A1", /Unknown command "UID NOOP"/],
  ["A1 UID", "A1", /Missing/],
  ["A1 NOOP extra", "A1", /Unexpected characters/],
  ["A1 LOGOUT now", "A1", /Unexpected characters/],
  ["A1 LOGIN bob", "A1", /Missing arguments/],
  ['A1 LOGIN "bob secret', "A1", /Unterminated quoted/],
  ['A1 LOGIN "bob" "se\0cret"', "A1", /NUL/],
  ["A1 LOGIN {3}\r\nb\0b x", "A1", /NUL/],
  ['A1 LOGIN "a\\b" x', "A1", /Invalid escape/],
  ["A1 LOGIN ~{3+}\r\nbob x", "A1", /literal8/],
  ["A1 APPEND INBOX {5+}\r\nhe\0lo", "A1", /NUL in a literal/],
  ["A1 LOGIN bob (x)", "A1", /Invalid password/],
  ["A1 AUTHENTICATE PLAIN abc", "A1", /not base64/],
  ["A1 AUTHENTICATE PLAIN a=bc", "A1", /not base64/],
  ["A1 ENABLE", "A1", /Missing arguments/],
  ['A1 ID ("name")', "A1", /pairs/],
  ['A1 ID (NIL "x")', "A1", /must not be NIL/],
  ['A1 ID "name"', "A1", /Expected "\("/],
  ["A1 SELECT", "A1", /Missing arguments/],
  ["A1 SELECT INBOX (FOO)", "A1", /Unknown SELECT parameter "FOO"/],
  ["A1 SELECT INBOX (CONDSTORE", "A1", /Unterminated/],
  ["A1 SELECT INBOX (QRESYNC (0 1))", "A1", /must not be zero/],
  ['A1 SELECT "a\tb"', "A1", /control character/],
  ['A1 SELECT "a&AAk-b"', "A1", /control character/],
  ['A1 SELECT "&AOk"', "A1", /modified UTF-7/],
  ['A1 SELECT "R&D"', "A1", /modified UTF-7/],
  ['A1 SELECT "Entwürfe"', "A1", /8-bit/],
  ['A1 SELECT "a\u0085b"', "A1", /control character/, { utf8: true }],
  ["A1 CREATE foo (USE (\\Sent) FOO)", "A1", /Unknown CREATE parameter "FOO"/],
  ["A1 CREATE foo (USE (Sent))", "A1", /Expected "\\"/],
  ["A1 RENAME a", "A1", /Missing arguments/],
  ['A1 LIST (RECURSIVEMATCH) "" "*"', "A1", /RECURSIVEMATCH/],
  ['A1 LIST (REMOTE RECURSIVEMATCH) "" "*"', "A1", /RECURSIVEMATCH/],
  ['A1 LIST (FOO) "" "*"', "A1", /Unknown LIST selection option "FOO"/],
  ['A1 LIST "" "*" RETURN (FOO)', "A1", /Unknown LIST return option/],
  ['A1 LIST "" "*" FOO', "A1", /after the LIST pattern/],
  ['A1 LIST "" ()', "A1", /Empty mailbox patterns/],
  ["A1 STATUS INBOX (FOO)", "A1", /Unknown status item "FOO"/],
  ["A1 STATUS INBOX ()", "A1", /Empty status item list/],
  ["A1 STATUS INBOX MESSAGES", "A1", /Expected "\("/],
  ['A1 APPEND INBOX "hello"', "A1", /Invalid date-time/],
  ["A1 APPEND INBOX hello", "A1", /needs the message as a literal/],
  ['A1 APPEND INBOX "31-Feb-2024 00:00:00 +0000" {1+}\r\nx', "A1", /Invalid date-time/],
  ['A1 APPEND INBOX "1-Jan-2024 24:00:00 +0000" {1+}\r\nx', "A1", /Invalid date-time/],
  ["A1 APPEND INBOX {1+}\r\nx {1+}\r\ny", "A1", /MULTIAPPEND/],
  ["A1 APPEND INBOX (\\Foo) {1+}\r\nx", "A1", /Unknown system flag/],
  ["A1 APPEND INBOX UTF8 {1+}\r\nx", "A1", /Expected "\("/],
  ["A1 EXPUNGE 1:3", "A1", /Unexpected characters/],
  ["A1 UID EXPUNGE", "A1", /Missing arguments/],
  ["A1 FETCH 1:* (FLAGS", "A1", /Unterminated/],
  ["A1 FETCH 1:* FLAGS)", "A1", /Unexpected characters/],
  ["A1 FETCH 0 FLAGS", "A1", /sequence set/],
  ["A1 FETCH 1,,2 FLAGS", "A1", /sequence set/],
  ["A1 FETCH 4294967296 FLAGS", "A1", /larger than 4294967295/],
  ["A1 FETCH 1 ALL (FLAGS)", "A1", /Unknown FETCH modifier "FLAGS"/],
  ["A1 UID FETCH 1 FLAGS (VANISHED)", "A1", /VANISHED needs/],
  ["A1 FETCH 1 FLAGS (CHANGEDSINCE 1 VANISHED)", "A1", /VANISHED needs/],
  ["A1 FETCH 1 FLAGS (CHANGEDSINCE 99999999999999999999)", "A1", /too large/],
  ["A1 STORE 1 FLAGS (\\Foo)", "A1", /Unknown system flag "\\Foo"/],
  ["A1 STORE 1 XFLAGS (\\Seen)", "A1", /Unknown STORE item "XFLAGS"/],
  ["A1 STORE 1 (UNCHANGEDSINCE) FLAGS (\\Seen)", "A1", /Missing arguments|Expected a space/],
  ["A1 STORE 1 (FOO 1) FLAGS (\\Seen)", "A1", /Unknown STORE modifier/],
  ["A1 STORE 1 +FLAGS", "A1", /Missing arguments/],
  ["A1 COPY 1:* ", "A1", /Missing mailbox name/],
  ["A1 MOVE 1", "A1", /Missing arguments/],
  ['A1 SETQUOTA "" (STORAGE)', "A1", /pairs/],
  ["A1 GETQUOTAROOT", "A1", /Missing arguments/],
];

Deno.test("parseCommand() refuses malformed commands with a tagged BAD", async (t) => {
  for (const [input, tag, message, options] of INVALID) {
    await t.step(JSON.stringify(input.slice(0, 60)), () => {
      assertThrows(
        () => parseCommand(input, options),
        (e: unknown) => {
          assert(e instanceof ImapBad, `not ImapBad: ${e}`);
          assertEquals(e.tag, tag);
          assert(message.test(e.text), `"${e.text}" does not match ${message}`);
          return true;
        },
      );
    });
  }
});

Deno.test("parseCommand() refuses huge literal sizes", () => {
  for (const input of ["A1 LOGIN {99999999999}\r\nx y", "A1 APPEND INBOX {99999999999999999999999+}\r\nx"]) {
    assertThrows(() => parseCommand(input), (e: unknown) => e instanceof ImapBad && e.code === "TOOBIG");
  }
  assertThrows(() => parseCommand("A1 LOGIN {10}\r\nabc"), (e: unknown) => e instanceof ImapBad);
});

Deno.test("ImapError.line() writes the tagged or untagged BAD", () => {
  const err = (input: string) => {
    try {
      parseCommand(input);
    } catch (e) {
      return e as ImapError;
    }
    throw new Error("parsed");
  };
  assertEquals(err("A1 FOO").line(), 'A1 BAD Unknown command "FOO"\r\n');
  assertEquals(err("* FOO").line(), '* BAD Invalid tag "*"\r\n');
});

Deno.test("parseCommand() reads a RawCommand from the receiver", () => {
  const r = new CommandReceiver();
  r.push(new TextEncoder().encode('A1 LIST "" ({5+}\r\nInbox "Sent")\r\n'));
  const ev = r.next();
  assert(ev?.kind === "command");
  const cmd = parseCommand(ev);
  assert(cmd.name === "LIST");
  assertEquals(cmd.patterns, ["Inbox", "Sent"]);
});

Deno.test("parseCommand() accepts octets and refuses invalid UTF-8 in strings", () => {
  const cmd = parseCommand(new TextEncoder().encode("A1 NOOP\r\n"));
  assertEquals(cmd, { name: "NOOP", tag: "A1" });
  for (const bytes of [[0x22, 0xff, 0x22], [0x7b, 0x32, 0x7d, 0x0d, 0x0a, 0xc3, 0x28]]) {
    const input = Uint8Array.from([...new TextEncoder().encode("A1 LOGIN x "), ...bytes]);
    assertThrows(() => parseCommand(input), (e: unknown) => e instanceof ImapBad && /not valid UTF-8/.test(e.text));
  }
});

Deno.test("normalizeInbox() only touches INBOX and its children", () => {
  assertEquals(normalizeInbox("inbox"), "INBOX");
  assertEquals(normalizeInbox("iNbOx/Sub/x"), "INBOX/Sub/x");
  assertEquals(normalizeInbox("inbox.Sub", "."), "INBOX.Sub");
  assertEquals(normalizeInbox("inbox.Sub"), "inbox.Sub");
  assertEquals(normalizeInbox("Inboxes"), "Inboxes");
  assertEquals(normalizeInbox("My inbox"), "My inbox");
});

Deno.test("enablesCondstore() recognises the CONDSTORE-enabling commands (RFC 7162 §3.1)", () => {
  const yes = [
    "A SELECT INBOX (CONDSTORE)",
    "A EXAMINE INBOX (QRESYNC (1 2))",
    "A STATUS INBOX (MESSAGES HIGHESTMODSEQ)",
    "A FETCH 1 (FLAGS MODSEQ)",
    "A FETCH 1 FLAGS (CHANGEDSINCE 5)",
    "A SEARCH OR SEEN (MODSEQ 5)",
    "A STORE 1 (UNCHANGEDSINCE 3) FLAGS (\\Seen)",
  ];
  const no = ["A SELECT INBOX", "A STATUS INBOX (MESSAGES)", "A FETCH 1 FLAGS", "A SEARCH SEEN", "A NOOP"];
  for (const c of yes) assert(enablesCondstore(parseCommand(c)), c);
  for (const c of no) assert(!enablesCondstore(parseCommand(c)), c);
});

Deno.test("redactCommand() hides credentials and literal contents", () => {
  const raw = (s: string) => {
    const r = new CommandReceiver();
    r.push(new TextEncoder().encode(s));
    let ev = r.next();
    while (ev?.kind === "need-continuation") ev = r.next();
    assert(ev?.kind === "command");
    return ev;
  };
  assertEquals(redactCommand(raw('A1 LOGIN bob "secret"\r\n')), "A1 LOGIN bob ***");
  assertEquals(redactCommand(raw("A1 LOGIN {3+}\r\nbob {6+}\r\nsecret\r\n")), "A1 LOGIN {3+} ***");
  assertEquals(redactCommand(raw("A1 AUTHENTICATE PLAIN AGJvYgBzZWNyZXQ=\r\n")), "A1 AUTHENTICATE PLAIN ***");
  assertEquals(redactCommand(raw("A1 AUTHENTICATE PLAIN\r\n")), "A1 AUTHENTICATE PLAIN");
  assertEquals(redactCommand(raw("A1 APPEND INBOX {5+}\r\nhello\r\n")), "A1 APPEND INBOX {5+}<5 octets>");
});

Deno.test("parseCommand() errors are ImapNo for BADCHARSET", () => {
  assertThrows(
    () => parseCommand("A1 SEARCH CHARSET ISO-8859-1 FROM x"),
    (e: unknown) =>
      e instanceof ImapNo && e.line() === 'A1 NO [BADCHARSET (UTF-8 US-ASCII)] Unsupported charset "ISO-8859-1"\r\n',
  );
});

// Keep the Command type exhaustive: a switch over every name compiles only if all are handled.
function _exhaustive(c: Command): string {
  switch (c.name) {
    case "CAPABILITY":
    case "NOOP":
    case "LOGOUT":
    case "STARTTLS":
    case "NAMESPACE":
    case "IDLE":
    case "CHECK":
    case "CLOSE":
    case "UNSELECT":
    case "LOGIN":
    case "AUTHENTICATE":
    case "ENABLE":
    case "ID":
    case "SELECT":
    case "EXAMINE":
    case "CREATE":
    case "DELETE":
    case "SUBSCRIBE":
    case "UNSUBSCRIBE":
    case "GETQUOTAROOT":
    case "RENAME":
    case "LIST":
    case "LSUB":
    case "STATUS":
    case "APPEND":
    case "EXPUNGE":
    case "SEARCH":
    case "FETCH":
    case "STORE":
    case "COPY":
    case "MOVE":
    case "GETQUOTA":
    case "SETQUOTA":
      return c.tag;
  }
}

Deno.test("parseCommand() only ever throws ImapError on mutated input", () => {
  // A small deterministic fuzz: flip, insert and delete octets of valid commands.
  let seed = 42;
  const rand = (n: number) => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  const alphabet = enc('(){}[]<>"\\ *%$:,.+-~0123456789AZaz\r\n\0\xff');
  const seeds = VALID.map(([input]) => enc(input));
  for (let i = 0; i < 3000; i++) {
    const bytes = [...seeds[rand(seeds.length)]!];
    for (let k = rand(4) + 1; k > 0; k--) {
      const at = rand(bytes.length + 1);
      const op = rand(3);
      if (op === 0) bytes.splice(at, 1);
      else if (op === 1) bytes.splice(at, 0, alphabet[rand(alphabet.length)]!);
      else bytes[at] = alphabet[rand(alphabet.length)]!;
    }
    try {
      parseCommand(Uint8Array.from(bytes));
    } catch (e) {
      assert(e instanceof ImapError, `${e} for ${JSON.stringify(dec.decode(Uint8Array.from(bytes)))}`);
    }
  }
});

function enc(s: string): Uint8Array {
  return Uint8Array.from(s, (c) => c.charCodeAt(0) & 0xff);
}
