import { deepEqual as assertEquals, ok as assert, throws as assertThrows } from "node:assert/strict";
import { type FetchCommand, parseCommand } from "./parse.ts";
import { type FetchAttribute, fetchItemName, fetchPlan } from "./fetch.ts";
import { ImapBad } from "./response.ts";

function fetch(atts: string, uid = false): FetchCommand {
  const cmd = parseCommand(`A1 ${uid ? "UID " : ""}FETCH 1:* ${atts}`);
  assert(cmd.name === "FETCH");
  return cmd;
}

const body = (section: Partial<{ part: number[]; text: string | null; fields: string[] }> = {}, peek = false) => ({
  type: "BODY[]",
  peek,
  section: { part: [], text: null, fields: [], ...section },
  partial: null,
});

// [attributes as sent, parsed attributes, response labels]
const ATTRIBUTES: [string, unknown[], string[]][] = [
  ["FLAGS", [{ type: "FLAGS" }], ["FLAGS"]],
  ["(UID FLAGS)", [{ type: "UID" }, { type: "FLAGS" }], ["UID", "FLAGS"]],
  ["FAST", [{ type: "FLAGS" }, { type: "INTERNALDATE" }, { type: "RFC822.SIZE" }], [
    "FLAGS",
    "INTERNALDATE",
    "RFC822.SIZE",
  ]],
  ["full", [{ type: "FLAGS" }, { type: "INTERNALDATE" }, { type: "RFC822.SIZE" }, { type: "ENVELOPE" }, {
    type: "BODY",
  }], [
    "FLAGS",
    "INTERNALDATE",
    "RFC822.SIZE",
    "ENVELOPE",
    "BODY",
  ]],
  ["(envelope bodystructure modseq)", [{ type: "ENVELOPE" }, { type: "BODYSTRUCTURE" }, { type: "MODSEQ" }], [
    "ENVELOPE",
    "BODYSTRUCTURE",
    "MODSEQ",
  ]],
  ["(RFC822 RFC822.HEADER RFC822.TEXT)", [{ type: "RFC822" }, { type: "RFC822.HEADER" }, { type: "RFC822.TEXT" }], [
    "RFC822",
    "RFC822.HEADER",
    "RFC822.TEXT",
  ]],
  ["BODY[]", [body()], ["BODY[]"]],
  ["BODY.PEEK[]", [body({}, true)], ["BODY[]"]],
  ["body.peek[header]", [body({ text: "HEADER" }, true)], ["BODY[HEADER]"]],
  ["BODY[TEXT]", [body({ text: "TEXT" })], ["BODY[TEXT]"]],
  ["BODY[1]", [body({ part: [1] })], ["BODY[1]"]],
  ["BODY[1.2.3]", [body({ part: [1, 2, 3] })], ["BODY[1.2.3]"]],
  ["BODY[4.2.MIME]", [body({ part: [4, 2], text: "MIME" })], ["BODY[4.2.MIME]"]],
  ["BODY[2.HEADER]", [body({ part: [2], text: "HEADER" })], ["BODY[2.HEADER]"]],
  ["BODY[3.TEXT]", [body({ part: [3], text: "TEXT" })], ["BODY[3.TEXT]"]],
  ["BODY[HEADER.FIELDS (DATE FROM)]", [body({ text: "HEADER.FIELDS", fields: ["DATE", "FROM"] })], [
    "BODY[HEADER.FIELDS (DATE FROM)]",
  ]],
  ['BODY.PEEK[HEADER.FIELDS.NOT ("Received" {4}\r\nX-Is)]', [
    body({ text: "HEADER.FIELDS.NOT", fields: ["Received", "X-Is"] }, true),
  ], ["BODY[HEADER.FIELDS.NOT (Received X-Is)]"]],
  ["BODY[1.HEADER.FIELDS (Subject)]", [body({ part: [1], text: "HEADER.FIELDS", fields: ["Subject"] })], [
    "BODY[1.HEADER.FIELDS (Subject)]",
  ]],
  ["BODY[]<0.2048>", [{ ...body(), partial: { offset: 0, length: 2048 } }], ["BODY[]<0>"]],
  ["BODY.PEEK[1.2]<100.50>", [{ ...body({ part: [1, 2] }, true), partial: { offset: 100, length: 50 } }], [
    "BODY[1.2]<100>",
  ]],
  ["BINARY[1]", [{ type: "BINARY[]", peek: false, part: [1], partial: null }], ["BINARY[1]"]],
  ["BINARY.PEEK[]<0.10>", [{ type: "BINARY[]", peek: true, part: [], partial: { offset: 0, length: 10 } }], [
    "BINARY[]<0>",
  ]],
  ["BINARY.SIZE[2.1]", [{ type: "BINARY.SIZE", part: [2, 1] }], ["BINARY.SIZE[2.1]"]],
  // Thunderbird's header fetch when opening a folder.
  [
    "(UID RFC822.SIZE FLAGS BODY.PEEK[HEADER.FIELDS (From To Cc Bcc Subject Date Message-ID Priority X-Priority References Newsgroups In-Reply-To Content-Type Reply-To)])",
    [
      { type: "UID" },
      { type: "RFC822.SIZE" },
      { type: "FLAGS" },
      body({
        text: "HEADER.FIELDS",
        fields:
          "From To Cc Bcc Subject Date Message-ID Priority X-Priority References Newsgroups In-Reply-To Content-Type Reply-To"
            .split(" "),
      }, true),
    ],
    [
      "UID",
      "RFC822.SIZE",
      "FLAGS",
      "BODY[HEADER.FIELDS (From To Cc Bcc Subject Date Message-ID Priority X-Priority References Newsgroups In-Reply-To Content-Type Reply-To)]",
    ],
  ],
];

Deno.test("parseFetchAttributes() reads every attribute form, and fetchItemName() labels the responses", async (t) => {
  for (const [atts, parsed, labels] of ATTRIBUTES) {
    await t.step(atts.slice(0, 60), () => {
      const cmd = fetch(atts);
      assertEquals(cmd.attributes, parsed);
      assertEquals(cmd.attributes.map(fetchItemName), labels);
    });
  }
});

const INVALID: [string, RegExp][] = [
  ["(ALL)", /Unknown fetch attribute "ALL"/],
  ["FOO", /Unknown fetch attribute "FOO"/],
  ["FLAGS[]", /Unknown fetch attribute/],
  ["BODY.PEEK", /needs a section/],
  ["BINARY", /needs a section/],
  ["BINARY.SIZE", /needs a section/],
  ["BINARY[TEXT]", /Expected "\]"|Invalid part number/],
  ["BODY[MIME]", /MIME needs a part number/],
  ["BODY[1.FOO]", /Invalid section "FOO"/],
  ["BODY[0]", /must not be zero/],
  ["BODY[1..2]", /Invalid fetch attribute|Invalid section/],
  ["BODY[HEADER.FIELDS ()]", /Empty header field list/],
  ["BODY[HEADER.FIELDS]", /Expected a space/],
  ["BODY[HEADER.FIELDS (a:b)]", /Invalid header field name/],
  ["BODY[TEXT", /Missing "\]"/],
  ["BODY[]<0.0>", /must not be zero/],
  ["BODY[]<5>", /Expected "\."/],
  ["BODY[]<1.2", /Missing ">"/],
  ["()", /Empty fetch attribute list/],
  ["(FLAGS", /Unterminated/],
];

Deno.test("parseFetchAttributes() refuses malformed attributes", async (t) => {
  for (const [atts, message] of INVALID) {
    await t.step(atts, () => {
      assertThrows(() => fetch(atts), (e: unknown) => {
        assert(e instanceof ImapBad, String(e));
        assert(message.test(e.text), `"${e.text}" does not match ${message}`);
        return true;
      });
    });
  }
});

// [attributes, content, setsSeen]
const PLANS: [string, "none" | "header" | "full", boolean][] = [
  ["(UID FLAGS)", "none", false],
  ["(FLAGS INTERNALDATE RFC822.SIZE ENVELOPE BODYSTRUCTURE MODSEQ)", "none", false],
  ["BODY", "none", false],
  ["BODY.PEEK[HEADER]", "header", false],
  ["BODY.PEEK[HEADER.FIELDS (From)]", "header", false],
  ["BODY[HEADER]", "header", true],
  ["RFC822.HEADER", "header", false],
  ["BODY.PEEK[1.HEADER]", "full", false],
  ["BODY.PEEK[1.MIME]", "full", false],
  ["BODY.PEEK[]", "full", false],
  ["BODY[]", "full", true],
  ["BODY[TEXT]<0.100>", "full", true],
  ["RFC822", "full", true],
  ["RFC822.TEXT", "full", true],
  ["BINARY[1]", "full", true],
  ["BINARY.PEEK[1]", "full", false],
  ["BINARY.SIZE[1]", "full", false],
  ["(BODY.PEEK[HEADER] BODY.PEEK[TEXT])", "full", false],
];

Deno.test("fetchPlan() says what to load and whether \\Seen is set", async (t) => {
  for (const [atts, content, setsSeen] of PLANS) {
    await t.step(atts, () => {
      const { plan } = fetch(atts);
      assertEquals([plan.content, plan.setsSeen], [content, setsSeen]);
    });
  }
});

Deno.test("fetchPlan() adds UID for UID FETCH and MODSEQ for CHANGEDSINCE", () => {
  assertEquals(fetch("FLAGS", true).plan.uid, true);
  assertEquals(fetch("FLAGS").plan.uid, false);
  const cmd = parseCommand("A1 UID FETCH 1:* (FLAGS) (CHANGEDSINCE 12345)");
  assert(cmd.name === "FETCH");
  assertEquals([cmd.plan.uid, cmd.plan.modseq, cmd.plan.flags], [true, true, true]);
  const atts: FetchAttribute[] = [{ type: "ENVELOPE" }, { type: "BODY" }];
  const plan = fetchPlan(atts);
  assertEquals([plan.envelope, plan.body, plan.bodyStructure, plan.uid, plan.modseq], [
    true,
    true,
    false,
    false,
    false,
  ]);
});
