import { deepEqual as assertEquals, ok as assert, strictEqual, throws as assertThrows } from "node:assert/strict";
import {
  astring,
  capabilityResponse,
  concatChunks,
  continuation,
  enabledResponse,
  esearchResponse,
  existsResponse,
  expungeResponse,
  fetchResponse,
  flagList,
  flagsResponse,
  formatInternalDate,
  formatResponseCode,
  idResponse,
  IMAP_REPLIES,
  ImapBad,
  imapError,
  ImapNo,
  imapString,
  listResponse,
  literal,
  literalPrefix,
  mailboxName,
  namespaceResponse,
  nstring,
  quotaResponse,
  quotaRootResponse,
  quoted,
  replyLine,
  type ResponseCode,
  safeText,
  searchResponse,
  statusResponse,
  tagged,
  untaggedStatus,
  vanishedResponse,
} from "./response.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

// [response code, wire form]
const CODES: [ResponseCode, string][] = [
  ["READ-WRITE", "[READ-WRITE]"],
  ["TRYCREATE", "[TRYCREATE]"],
  ["OVERQUOTA", "[OVERQUOTA]"],
  ["CLOSED", "[CLOSED]"],
  ["NOMODSEQ", "[NOMODSEQ]"],
  ["AUTHENTICATIONFAILED", "[AUTHENTICATIONFAILED]"],
  [{ code: "UIDVALIDITY", value: 3857529045 }, "[UIDVALIDITY 3857529045]"],
  [{ code: "UIDNEXT", value: 4392 }, "[UIDNEXT 4392]"],
  [{ code: "HIGHESTMODSEQ", value: 715194045007 }, "[HIGHESTMODSEQ 715194045007]"],
  [{ code: "UNSEEN", value: 12 }, "[UNSEEN 12]"],
  [{ code: "PERMANENTFLAGS", flags: ["\\Deleted", "\\Seen", "\\*"] }, "[PERMANENTFLAGS (\\Deleted \\Seen \\*)]"],
  [{ code: "BADCHARSET", charsets: ["UTF-8", "US-ASCII"] }, "[BADCHARSET (UTF-8 US-ASCII)]"],
  [{ code: "CAPABILITY", capabilities: ["IMAP4rev2", "IDLE"] }, "[CAPABILITY IMAP4rev2 IDLE]"],
  [{ code: "APPENDUID", uidValidity: 38505, uids: [3955] }, "[APPENDUID 38505 3955]"],
  // RFC 4315 §3's example.
  [
    { code: "COPYUID", uidValidity: 38505, source: [304, 319, 320], destination: [3956, 3957, 3958] },
    "[COPYUID 38505 304,319:320 3956:3958]",
  ],
  [{ code: "COPYUID", uidValidity: 1, source: "5:7", destination: "10:12" }, "[COPYUID 1 5:7 10:12]"],
  [{ code: "MODIFIED", set: [7, 9] }, "[MODIFIED 7,9]"],
];

Deno.test("formatResponseCode() writes every code", async (t) => {
  for (const [code, wire] of CODES) await t.step(wire, () => assertEquals(formatResponseCode(code), wire));
});

Deno.test("tagged() and untaggedStatus() write status responses", () => {
  assertEquals(tagged("A1", "OK", "SELECT completed", "READ-WRITE"), "A1 OK [READ-WRITE] SELECT completed\r\n");
  assertEquals(tagged("A2", "NO", "No such mailbox"), "A2 NO No such mailbox\r\n");
  assertEquals(
    untaggedStatus("OK", "UIDs valid", { code: "UIDVALIDITY", value: 1 }),
    "* OK [UIDVALIDITY 1] UIDs valid\r\n",
  );
  // Text cannot inject a line or pose as a response code.
  assertEquals(tagged("A3", "BAD", "bad\r\n* OK evil"), "A3 BAD bad  * OK evil\r\n");
  assertEquals(tagged("A4", "NO", "[ALERT] fake"), "A4 NO - [ALERT] fake\r\n");
  assertEquals(tagged("A5", "OK", ""), "A5 OK Completed\r\n");
  assertEquals(safeText("Grüße\u0085"), "Gr??e ");
  assertEquals(safeText("Grüße", { utf8: true }), "Grüße");
});

Deno.test("IMAP_REPLIES entries build wire lines and errors", () => {
  assertEquals(replyLine("A1", "NONEXISTENT"), "A1 NO [NONEXISTENT] No such mailbox\r\n");
  assertEquals(replyLine(null, "LOGOUT"), "* BYE Logging out\r\n");
  assertEquals(replyLine("A2", "OVER_QUOTA", "Mailbox is full"), "A2 NO [OVERQUOTA] Mailbox is full\r\n");
  const no = imapError("TRYCREATE");
  assert(no instanceof ImapNo);
  assertEquals(no.line("A9"), "A9 NO [TRYCREATE] No such mailbox\r\n");
  const bad = imapError("LITERAL_TOO_BIG");
  assert(bad instanceof ImapBad);
  assertEquals(bad.line(null), "* BAD [TOOBIG] Literal too big\r\n");
  assertThrows(() => imapError("OK"), TypeError);
  for (const [name, [status, , text]] of Object.entries(IMAP_REPLIES)) {
    assert(["OK", "NO", "BAD", "BYE", "PREAUTH"].includes(status), name);
    assert(text.length > 0 && !/[\r\n]/.test(text), name);
  }
});

Deno.test("ImapNo carries its tag over the session's", () => {
  assertEquals(new ImapNo("x", { tag: "T1", code: "CANNOT" }).line("T2"), "T1 NO [CANNOT] x\r\n");
  assertEquals(new ImapNo("x").line("T2"), "T2 NO x\r\n");
});

Deno.test("continuation() writes command continuation requests", () => {
  assertEquals(continuation(), "+ Ready for literal data\r\n");
  assertEquals(continuation("idling"), "+ idling\r\n");
  assertEquals(continuation(""), "+ \r\n");
});

// [value, astring, imapString]
const STRINGS: [string, string, string][] = [
  ["INBOX", "INBOX", '"INBOX"'],
  ["", '""', '""'],
  ["with space", '"with space"', '"with space"'],
  ['a"b\\c', '"a\\"b\\\\c"', '"a\\"b\\\\c"'],
  ["NIL", '"NIL"', '"NIL"'],
  ["nil", '"nil"', '"nil"'],
  ["foo]bar", "foo]bar", '"foo]bar"'],
  ["a(b", '"a(b"', '"a(b"'],
  ["50%", '"50%"', '"50%"'],
  ["line\r\nbreak", "{11}\r\nline\r\nbreak", "{11}\r\nline\r\nbreak"],
  ["Grüße", "{7}\r\nGrüße", "{7}\r\nGrüße"],
];

Deno.test("astring(), imapString() and nstring() choose atom, quoted or literal", async (t) => {
  for (const [value, a, s] of STRINGS) {
    await t.step(JSON.stringify(value), () => {
      assertEquals(astring(value), a);
      assertEquals(imapString(value), s);
      assertEquals(nstring(value), s);
    });
  }
  assertEquals(nstring(null), "NIL");
  assertEquals(imapString("Grüße", { utf8: true }), '"Grüße"');
  assertEquals(imapString("x".repeat(2000)).slice(0, 8), "{2000}\r\n");
  assertEquals(literal("日本"), "{6}\r\n日本");
  assertThrows(() => quoted("a\nb"), RangeError);
});

Deno.test("mailboxName() encodes modified UTF-7 unless UTF-8 is enabled", () => {
  assertEquals(mailboxName("INBOX"), '"INBOX"');
  assertEquals(mailboxName("Entwürfe"), '"Entw&APw-rfe"');
  assertEquals(mailboxName("R&D"), '"R&-D"');
  assertEquals(mailboxName("Entwürfe", { utf8: true }), '"Entwürfe"');
});

Deno.test("flagList() and formatInternalDate()", () => {
  assertEquals(flagList(["\\Seen", "$Forwarded"]), "(\\Seen $Forwarded)");
  assertEquals(flagList([]), "()");
  const d = new Date("1996-07-17T09:44:25Z");
  assertEquals(formatInternalDate(d, -420), '"17-Jul-1996 02:44:25 -0700"');
  assertEquals(formatInternalDate(d), '"17-Jul-1996 09:44:25 +0000"');
  assertEquals(formatInternalDate(new Date("2024-03-01T23:30:00Z"), 90), '"02-Mar-2024 01:00:00 +0130"');
});

Deno.test("untagged data responses", () => {
  assertEquals(capabilityResponse(["IMAP4rev2", "IDLE"]), "* CAPABILITY IMAP4rev2 IDLE\r\n");
  assertEquals(enabledResponse(["CONDSTORE"]), "* ENABLED CONDSTORE\r\n");
  assertEquals(enabledResponse([]), "* ENABLED\r\n");
  assertEquals(existsResponse(23), "* 23 EXISTS\r\n");
  assertEquals(expungeResponse(3), "* 3 EXPUNGE\r\n");
  assertEquals(flagsResponse(["\\Seen", "\\Deleted"]), "* FLAGS (\\Seen \\Deleted)\r\n");
  assertEquals(
    listResponse({ attributes: ["\\HasNoChildren", "\\Sent"], delimiter: "/", name: "Gesendete Objekte" }),
    '* LIST (\\HasNoChildren \\Sent) "/" "Gesendete Objekte"\r\n',
  );
  assertEquals(
    listResponse({ attributes: ["\\Subscribed"], delimiter: "/", name: "Entwürfe", childInfo: ["SUBSCRIBED"] }),
    '* LIST (\\Subscribed) "/" "Entw&APw-rfe" ("CHILDINFO" ("SUBSCRIBED"))\r\n',
  );
  assertEquals(
    listResponse({ attributes: [], delimiter: null, name: "x", oldName: "y" }, { lsub: true }),
    '* LSUB () NIL "x" ("OLDNAME" ("y"))\r\n',
  );
  assertEquals(
    statusResponse("INBOX", [["MESSAGES", 2], ["UNSEEN", 1]]),
    '* STATUS "INBOX" (MESSAGES 2 UNSEEN 1)\r\n',
  );
  assertEquals(searchResponse([2, 3, 6]), "* SEARCH 2 3 6\r\n");
  assertEquals(searchResponse([]), "* SEARCH\r\n");
  assertEquals(searchResponse([2, 5], 917162500), "* SEARCH 2 5 (MODSEQ 917162500)\r\n");
  assertEquals(idResponse([["name", "Silvermail"], ["version", null]]), '* ID ("name" "Silvermail" "version" NIL)\r\n');
  assertEquals(idResponse(null), "* ID NIL\r\n");
  assertEquals(namespaceResponse([["", "/"]]), '* NAMESPACE (("" "/")) NIL NIL\r\n');
  assertEquals(
    namespaceResponse([["", "/"]], [["Other Users/", "/"]], [["Öffentlich/", "/"]]),
    '* NAMESPACE (("" "/")) (("Other Users/" "/")) (("&ANY-ffentlich/" "/"))\r\n',
  );
  assertEquals(quotaResponse("", [["STORAGE", 10, 512]]), '* QUOTA "" (STORAGE 10 512)\r\n');
  assertEquals(quotaRootResponse("INBOX", [""]), '* QUOTAROOT "INBOX" ""\r\n');
  assertEquals(quotaRootResponse("INBOX", []), '* QUOTAROOT "INBOX"\r\n');
});

Deno.test("esearchResponse() and vanishedResponse() (RFC 4731, RFC 7162)", () => {
  assertEquals(
    esearchResponse({ tag: "A282", uid: true, min: 2, count: 3 }),
    '* ESEARCH (TAG "A282") UID MIN 2 COUNT 3\r\n',
  );
  assertEquals(
    esearchResponse({ tag: "A283", uid: false, all: [2, 10, 11] }),
    '* ESEARCH (TAG "A283") ALL 2,10:11\r\n',
  );
  assertEquals(esearchResponse({ tag: "A284", uid: false, count: 0, all: [] }), '* ESEARCH (TAG "A284") COUNT 0\r\n');
  assertEquals(
    esearchResponse({ tag: "A285", uid: true, max: 9, modseq: 1236 }),
    '* ESEARCH (TAG "A285") UID MAX 9 MODSEQ 1236\r\n',
  );
  assertEquals(vanishedResponse([41, 43, 44, 45, 116], true), "* VANISHED (EARLIER) 41,43:45,116\r\n");
  assertEquals(vanishedResponse("405,407", false), "* VANISHED 405,407\r\n");
});

Deno.test("fetchResponse() keeps bodies as their own chunks without copying", () => {
  const bodyBytes = enc.encode("Subject: hi\r\n\r\nHello\r\n");
  const chunks = fetchResponse(12, [
    ["UID", "5"],
    ["FLAGS", flagList(["\\Seen"])],
    ["BODY[]", { literal: bodyBytes }],
    ["RFC822.SIZE", String(bodyBytes.length)],
  ]);
  assertEquals(chunks.length, 3);
  strictEqual(chunks[1], bodyBytes);
  assertEquals(
    dec.decode(concatChunks(chunks)),
    `* 12 FETCH (UID 5 FLAGS (\\Seen) BODY[] {${bodyBytes.length}}\r\nSubject: hi\r\n\r\nHello\r\n RFC822.SIZE ${bodyBytes.length})\r\n`,
  );
  // Metadata only: one chunk.
  assertEquals(fetchResponse(1, [["UID", "9"]]).map((c) => dec.decode(c)), ["* 1 FETCH (UID 9)\r\n"]);
  // BINARY with NUL goes as literal8; without NUL as a plain literal; an empty body has no body chunk.
  assertEquals(
    dec.decode(
      concatChunks(fetchResponse(2, [["BINARY[1]", { literal: Uint8Array.of(0x61, 0, 0x62), binary: true }]])),
    ),
    "* 2 FETCH (BINARY[1] ~{3}\r\na\0b)\r\n",
  );
  assertEquals(
    dec.decode(concatChunks(fetchResponse(3, [["BINARY[1]", { literal: enc.encode("ab"), binary: true }]]))),
    "* 3 FETCH (BINARY[1] {2}\r\nab)\r\n",
  );
  assertEquals(fetchResponse(4, [["BODY[1]", { literal: new Uint8Array(0) }]]).length, 2);
  assertEquals(literalPrefix(42), "{42}\r\n");
  assertEquals(literalPrefix(42, true), "~{42}\r\n");
});
