import { deepEqual as assertEquals, ok as assert, throws as assertThrows } from "node:assert/strict";
import { parseCommand, type ParseOptions, type SearchCommand } from "./parse.ts";
import { ImapBad, ImapNo } from "./response.ts";
import { MAX_SEARCH_DEPTH, searchUsesModseq, searchUsesSaved } from "./search.ts";
import { SequenceSet } from "./sequence_set.ts";

function plain(v: unknown): unknown {
  if (v instanceof SequenceSet) return v.toString();
  if (Array.isArray(v)) return v.map(plain);
  if (v && typeof v === "object") return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]));
  return v;
}

function search(program: string, options?: ParseOptions): SearchCommand {
  const cmd = parseCommand(`A1 SEARCH ${program}`, options);
  assert(cmd.name === "SEARCH");
  return cmd;
}

const flag = (f: string, set: boolean) => ({ type: "flag", flag: f, set });

// [search program, criteria tree]
const TREES: [string, unknown][] = [
  ["ALL", { type: "all" }],
  ["all", { type: "all" }],
  ["ANSWERED", flag("\\Answered", true)],
  ["DELETED", flag("\\Deleted", true)],
  ["DRAFT", flag("\\Draft", true)],
  ["FLAGGED", flag("\\Flagged", true)],
  ["SEEN", flag("\\Seen", true)],
  ["RECENT", flag("\\Recent", true)],
  ["OLD", flag("\\Recent", false)],
  ["NEW", { type: "and", keys: [flag("\\Recent", true), flag("\\Seen", false)] }],
  ["UNANSWERED", flag("\\Answered", false)],
  ["UNDELETED", flag("\\Deleted", false)],
  ["UNDRAFT", flag("\\Draft", false)],
  ["UNFLAGGED", flag("\\Flagged", false)],
  ["UNSEEN", flag("\\Seen", false)],
  ["KEYWORD $Forwarded", flag("$Forwarded", true)],
  ["UNKEYWORD $Junk", flag("$Junk", false)],
  ['FROM "Smith"', { type: "header", field: "from", value: "Smith" }],
  ["TO bob@example.org", { type: "header", field: "to", value: "bob@example.org" }],
  ['CC ""', { type: "header", field: "cc", value: "" }],
  ["BCC x", { type: "header", field: "bcc", value: "x" }],
  ["SUBJECT {7}\r\nGrüße", { type: "header", field: "subject", value: "Grüße" }],
  ['HEADER Message-ID "<abc@example.org>"', { type: "header", field: "message-id", value: "<abc@example.org>" }],
  ['HEADER X-Spam ""', { type: "header", field: "x-spam", value: "" }],
  ['BODY "hello world"', { type: "body", value: "hello world" }],
  ["TEXT needle", { type: "text", value: "needle" }],
  ["BEFORE 1-Feb-1994", { type: "date", field: "internal", op: "before", date: "1994-02-01" }],
  ['ON "29-feb-2024"', { type: "date", field: "internal", op: "on", date: "2024-02-29" }],
  ["SINCE 01-Jan-2024", { type: "date", field: "internal", op: "since", date: "2024-01-01" }],
  ["SENTBEFORE 31-Dec-1999", { type: "date", field: "sent", op: "before", date: "1999-12-31" }],
  ["SENTON 5-May-2005", { type: "date", field: "sent", op: "on", date: "2005-05-05" }],
  ["SENTSINCE 5-MAY-2005", { type: "date", field: "sent", op: "since", date: "2005-05-05" }],
  ["LARGER 10000", { type: "size", op: "larger", size: 10000 }],
  ["SMALLER 0", { type: "size", op: "smaller", size: 0 }],
  ["1:5,7", { type: "seq", set: "1:5,7" }],
  ["*", { type: "seq", set: "*" }],
  ["$", { type: "seq", set: "$" }],
  ["UID 1:*", { type: "uid", set: "1:*" }],
  ["UID $", { type: "uid", set: "$" }],
  ["NOT DELETED", { type: "not", key: flag("\\Deleted", true) }],
  ["NOT NOT SEEN", { type: "not", key: { type: "not", key: flag("\\Seen", true) } }],
  ["OR SEEN FLAGGED", { type: "or", left: flag("\\Seen", true), right: flag("\\Flagged", true) }],
  ['OR (FROM a TO b) NOT SUBJECT "c"', {
    type: "or",
    left: {
      type: "and",
      keys: [{ type: "header", field: "from", value: "a" }, { type: "header", field: "to", value: "b" }],
    },
    right: { type: "not", key: { type: "header", field: "subject", value: "c" } },
  }],
  ["(SEEN)", flag("\\Seen", true)],
  ["( SEEN  FLAGGED )", { type: "and", keys: [flag("\\Seen", true), flag("\\Flagged", true)] }],
  ["MODSEQ 620162338", { type: "modseq", modseq: 620162338, entry: null }],
  ['MODSEQ "/flags/\\\\draft" all 620162338', {
    type: "modseq",
    modseq: 620162338,
    entry: { name: "/flags/\\draft", kind: "all" },
  }],
  ["1:* NOT DELETED", {
    type: "and",
    keys: [{ type: "seq", set: "1:*" }, { type: "not", key: flag("\\Deleted", true) }],
  }], // Apple Mail
  ["SEEN  FLAGGED  ", { type: "and", keys: [flag("\\Seen", true), flag("\\Flagged", true)] }],
];

Deno.test("parseSearchProgram() builds the criteria tree", async (t) => {
  for (const [program, tree] of TREES) {
    await t.step(JSON.stringify(program), () => assertEquals(plain(search(program).criteria), tree));
  }
});

Deno.test("parseSearchProgram() reads RETURN and CHARSET", () => {
  const s = search("RETURN (COUNT MIN) CHARSET utf-8 TEXT x");
  assertEquals(s.returns, ["COUNT", "MIN"]);
  assertEquals(s.charset, "UTF-8");
  assertEquals(search("RETURN () ALL").returns, ["ALL"]);
  assertEquals(search("ALL").returns, null);
  assertEquals(search("CHARSET US-ASCII ALL").charset, "US-ASCII");
});

// [program, message pattern]
const INVALID: [string, RegExp][] = [
  ["", /Missing/],
  ["FOO", /Unknown search key "FOO"/],
  ["FROM", /Missing arguments/],
  ["BEFORE 30-Feb-2024", /Invalid date/],
  ["BEFORE 1-Foo-2024", /Invalid date/],
  ["BEFORE 2024-01-01", /Invalid date/],
  ['BEFORE "1-Jan-2024', /Missing/],
  ["LARGER x", /Invalid size/],
  ["LARGER 99999999999999999999", /too large/],
  ["UID 1:2:3", /sequence set/],
  ["0", /sequence set/],
  ["OR SEEN", /Missing arguments/],
  ["NOT", /Missing arguments/],
  ["(SEEN", /Unterminated/],
  ["()", /Empty search key list/],
  ["SEEN)", /Unexpected characters/],
  ["RETURN (FOO) ALL", /Unknown SEARCH RETURN option/],
  ["RETURN ALL", /Expected "\("/],
  ["MODSEQ", /Missing arguments/],
  ['MODSEQ "/flags/\\\\draft" some 5', /Invalid MODSEQ entry type/],
  ["HEADER a:b c", /Invalid header field name/],
  ["KEYWORD \\Seen", /Expected flag keyword/],
  ['SUBJECT "a\0b"', /NUL/],
  ["(".repeat(MAX_SEARCH_DEPTH + 2) + "SEEN" + ")".repeat(MAX_SEARCH_DEPTH + 2), /nested too deeply/],
  ["NOT ".repeat(5000) + "SEEN", /nested too deeply/],
];

Deno.test("parseSearchProgram() refuses malformed criteria", async (t) => {
  for (const [program, message] of INVALID) {
    await t.step(JSON.stringify(program.slice(0, 40)), () => {
      assertThrows(() => search(program), (e: unknown) => {
        assert(e instanceof ImapBad, String(e));
        assertEquals(e.tag, "A1");
        assert(message.test(e.text), `"${e.text}" does not match ${message}`);
        return true;
      });
    });
  }
});

Deno.test("parseSearchProgram() answers an unknown CHARSET with NO [BADCHARSET]", () => {
  for (const cs of ["ISO-8859-1", '"windows-1252"', "UTF8"]) {
    assertThrows(() => search(`CHARSET ${cs} TEXT x`), (e: unknown) => {
      assert(e instanceof ImapNo);
      assertEquals(e.code, { code: "BADCHARSET", charsets: ["UTF-8", "US-ASCII"] });
      return true;
    });
  }
});

Deno.test("searchUsesModseq() and searchUsesSaved() look through the tree", () => {
  assert(searchUsesModseq(search("OR SEEN NOT (FLAGGED MODSEQ 5)").criteria));
  assert(!searchUsesModseq(search("OR SEEN NOT (FLAGGED)").criteria));
  assert(searchUsesSaved(search("NOT UID $").criteria));
  assert(searchUsesSaved(search("OR 1:3 $").criteria));
  assert(!searchUsesSaved(search("UID 1:*").criteria));
});
