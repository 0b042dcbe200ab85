/**
 * @module
 * Tests for mail/parse.ts. The MIME corpus in tests/testdata/mime/*.eml is compared with Dovecot 2.3.19's FETCH
 * ENVELOPE / BODYSTRUCTURE / BODY (fixtures made by tests/testdata/mime/make_fixtures.sh; Dovecot is not needed
 * to run the tests). Offsets, decoding, search text, header selection and robustness are checked separately.
 */
import assert from "node:assert/strict";
import { decodeBody, decodeWords, findPart, headerFields, parseMessage, type Part } from "./parse.ts";

const DIR = new URL("../tests/testdata/mime/", import.meta.url);
const enc = new TextEncoder();
const dec = new TextDecoder();

function corpus(): string[] {
  return [...Deno.readDirSync(DIR)].filter((e) => e.name.endsWith(".eml")).map((e) => e.name.slice(0, -4)).sort();
}

function load(name: string): Uint8Array {
  return Deno.readFileSync(new URL(`${name}.eml`, DIR));
}

function bytes(s: string): Uint8Array {
  return enc.encode(s);
}

function crlf(s: string): Uint8Array {
  return enc.encode(s.replace(/\r?\n/g, "\r\n"));
}

// --- a reader for IMAP values (RFC 3501 §9), so quoted strings and literals compare equal ---------------------

type Value = string | number | null | Value[];

function readValue(b: Uint8Array, pos: { i: number }): Value {
  const c = b[pos.i];
  if (c === 0x28) {
    pos.i++;
    const list: Value[] = [];
    while (b[pos.i] !== 0x29) {
      if (pos.i >= b.length) throw new SyntaxError("unterminated list");
      if (b[pos.i] === 0x20) pos.i++;
      else list.push(readValue(b, pos));
    }
    pos.i++;
    return list;
  }
  if (c === 0x22) {
    const out: number[] = [];
    for (pos.i++; b[pos.i] !== 0x22; pos.i++) {
      if (pos.i >= b.length) throw new SyntaxError("unterminated string");
      if (b[pos.i] === 0x5c) pos.i++;
      out.push(b[pos.i]!);
    }
    pos.i++;
    return dec.decode(new Uint8Array(out));
  }
  if (c === 0x7b) {
    const close = b.indexOf(0x7d, pos.i);
    const n = Number(dec.decode(b.subarray(pos.i + 1, close)));
    const start = close + 3; // "}\r\n"
    pos.i = start + n;
    return dec.decode(b.subarray(start, start + n));
  }
  let end = pos.i;
  while (end < b.length && b[end] !== 0x20 && b[end] !== 0x29 && b[end] !== 0x28 && b[end] !== 0x0d) end++;
  const atom = dec.decode(b.subarray(pos.i, end));
  pos.i = end;
  if (atom === "NIL") return null;
  return /^\d+$/.test(atom) ? Number(atom) : atom;
}

function imapValue(s: string | Uint8Array): Value {
  const b = typeof s === "string" ? enc.encode(s) : s;
  const pos = { i: 0 };
  const v = readValue(b, pos);
  assert.equal(pos.i, b.length, "trailing data after the value");
  return v;
}

/** Dovecot's three untagged responses `* 1 FETCH (ITEM value)` → {ENVELOPE, BODYSTRUCTURE, BODY}. */
function dovecot(name: string): Record<string, Value> | null {
  let b: Uint8Array;
  try {
    b = Deno.readFileSync(new URL(`${name}.dovecot.txt`, DIR));
  } catch {
    return null;
  }
  const out: Record<string, Value> = {};
  const pos = { i: 0 };
  const prefix = bytes("* 1 FETCH ");
  while (pos.i < b.length) {
    assert.deepEqual(b.subarray(pos.i, pos.i + prefix.length), prefix);
    pos.i += prefix.length;
    const [item, value] = readValue(b, pos) as [string, Value];
    out[item] = value;
    assert.equal(dec.decode(b.subarray(pos.i, pos.i + 2)), "\r\n");
    pos.i += 2;
  }
  return out;
}

// Where we differ from Dovecot on purpose: each entry changes Dovecot's value into ours, with the reason.
const DIFFERENCES: Record<string, { why: string; fix: (item: string, v: Value) => Value }> = {
  "bad-content-type": {
    why: 'Content-Type "text" has no subtype: RFC 2045 §5.2 says treat it as text/plain; Dovecot shows subtype "".',
    fix: (item, v) => item === "ENVELOPE" ? v : (v as Value[]).map((x, i) => (i === 1 ? "plain" : x)),
  },
  "bare-lf": {
    why: "Dovecot counts a bare LF as CRLF (its sizes are for CRLF output); BODY[n] here is the stored bytes, so " +
      "sizes are raw octets (SMTP delivers CRLF, so only APPENDed bare-LF messages see this).",
    fix: (item, v) =>
      item === "ENVELOPE" ? v : JSON.parse(JSON.stringify(v).replace('"7bit",18,1', '"7bit",17,1')) as Value,
  },
  "address-edge": {
    why: 'Dovecot stops at a group not followed by ","; we read on, so "Group Two" is not lost.',
    fix: (item, v) => {
      if (item !== "ENVELOPE") return v;
      const e = structuredClone(v) as Value[];
      (e[7] as Value[]).push(
        [null, null, "Group Two", null],
        [null, null, "g2", "example.com"],
        [null, null, "g3", "example.com"],
        [null, null, null, null],
      );
      return e;
    },
  },
};

for (const name of corpus()) {
  Deno.test(`parseMessage() matches Dovecot on ${name}.eml`, () => {
    const expected = dovecot(name);
    if (!expected) return; // e.g. a message Dovecot refuses to store
    const { structure } = parseMessage(load(name));
    const ours: Record<string, string> = {
      ENVELOPE: structure.imap.envelope,
      BODYSTRUCTURE: structure.imap.bodystructure,
      BODY: structure.imap.body,
    };
    for (const item of ["ENVELOPE", "BODYSTRUCTURE", "BODY"]) {
      let want: Value = expected[item]!;
      const diff = DIFFERENCES[name];
      if (diff) want = diff.fix(item, want);
      assert.deepEqual(imapValue(ours[item]!), want, `${item} of ${name}.eml`);
    }
  });
}

Deno.test("the Dovecot fixtures cover the whole corpus", () => {
  for (const name of corpus()) assert.ok(dovecot(name), `missing ${name}.dovecot.txt: run make_fixtures.sh`);
});

// --- offsets -----------------------------------------------------------------------------------------------

function walk(p: Part, visit: (p: Part) => void): void {
  visit(p);
  for (const c of p.parts ?? []) walk(c, visit);
  if (p.message) walk(p.message.root, visit);
}

function checkOffsets(raw: Uint8Array, root: Part): void {
  assert.equal(root.headerStart, 0);
  walk(root, (p) => {
    assert.ok(p.headerStart <= p.bodyStart && p.bodyStart <= p.bodyEnd && p.bodyEnd <= raw.length, p.part);
    assert.equal(p.size, p.bodyEnd - p.bodyStart);
    for (const c of p.parts ?? []) {
      assert.ok(c.headerStart >= p.bodyStart && c.bodyEnd <= p.bodyEnd, `${c.part} inside ${p.part}`);
      // RFC 2046 §5.1.1: a part starts after a boundary line and the CRLF before the next one is not its.
      const before = dec.decode(raw.subarray(Math.max(0, c.headerStart - 200), c.headerStart));
      const boundary = p.params.boundary!.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
      assert.match(before, new RegExp(`--${boundary}[^\\n]*${c.headerStart === raw.length ? "\\n?" : "\\n"}$`));
    }
    if (p.message) {
      assert.equal(p.message.root.headerStart, p.bodyStart);
      assert.equal(p.message.root.bodyEnd, p.bodyEnd);
    }
  });
}

Deno.test("parseMessage() offsets are consistent for the whole corpus", () => {
  for (const name of corpus()) {
    const raw = load(name);
    const { structure } = parseMessage(raw);
    checkOffsets(raw, structure.root);
    assert.equal(structure.size, raw.length);
    assert.equal(structure.root.bodyEnd, raw.length, name);
  }
});

const slice = (raw: Uint8Array, start: number, end: number) => dec.decode(raw.subarray(start, end));

Deno.test("parseMessage() offsets slice BODY[n], BODY[n.MIME], HEADER and TEXT exactly", () => {
  const raw = load("alternative-in-mixed");
  const { structure } = parseMessage(raw);
  const root = structure.root;
  assert.equal(root.part, "");
  assert.match(slice(raw, 0, root.bodyStart), /^Date: .*\r\n\r\n$/s);
  assert.match(slice(raw, root.bodyStart, raw.length), /^This is a multi-part message/);
  const plain = findPart(root, "1.1")!;
  assert.equal(plain.part, "1.1");
  assert.equal(
    slice(raw, plain.headerStart, plain.bodyStart),
    'Content-Type: text/plain; charset="utf-8"\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n',
  );
  assert.equal(
    slice(raw, plain.bodyStart, plain.bodyEnd),
    "Please find the report attached. Caf=C3=A9 au lait costs 3 =E2=82=AC.\r\nA soft=\r\n line break.\r\n",
  );
  const png = findPart(root, "3")!;
  assert.match(slice(raw, png.bodyStart, png.bodyEnd), /^iVBORw0KGgo.*CC$/s);
  assert.equal(findPart(root, "4"), null);
  assert.equal(findPart(root, "1.3"), null);
  assert.equal(findPart(root, "x"), null);

  const simple = load("simple");
  const s = parseMessage(simple).structure.root;
  assert.equal(s.part, "1");
  assert.equal(findPart(s, "1"), s);
  assert.equal(findPart(s, "2"), null);
  assert.match(
    slice(simple, s.bodyStart, s.bodyEnd),
    /^Hello Bob,\r\n\r\nthis is a simple message\.\r\n-- \r\nAlice\r\n$/,
  );
});

Deno.test("findPart() follows RFC 3501 §6.4.5 numbering into message/rfc822 parts", () => {
  const raw = load("rfc822-attachment");
  const root = parseMessage(raw).structure.root;
  const fwd = findPart(root, "2")!;
  assert.equal(`${fwd.type}/${fwd.subtype}`, "message/rfc822");
  assert.equal(fwd.message!.envelope.subject, "inner multipart");
  assert.equal(fwd.message!.root.part, "2"); // a multipart message root carries its message's number
  assert.match(slice(raw, fwd.message!.root.headerStart, fwd.message!.root.bodyStart), /^From: Inner One.*\r\n\r\n$/s);
  assert.equal(slice(raw, findPart(root, "2.1")!.bodyStart, findPart(root, "2.1")!.bodyEnd), "inner plain");
  assert.equal(findPart(root, "2.2")!.part, "2.2");
  const second = findPart(root, "3.1")!; // a non-multipart encapsulated message: its body is n.1
  assert.equal(second.part, "3.1");
  assert.equal(slice(raw, second.bodyStart, second.bodyEnd), "Just text\r\nin two lines.\r\n");
  assert.equal(findPart(root, "3")!.filename, "second.eml");
  assert.equal(findPart(root, "3.2"), null);
});

// --- fields ------------------------------------------------------------------------------------------------

Deno.test("parseMessage() decodes file names: RFC 2231 charsets and continuations, encoded words", () => {
  const r = parseMessage(load("rfc2231")).structure.root;
  const [, euro, plain] = r.parts!;
  assert.equal(euro!.filename, "€ very long file name.txt");
  assert.equal(euro!.params.name, "€ rates.txt");
  assert.deepEqual(euro!.disposition, { type: "attachment", params: { filename: "€ very long file name.txt" } });
  assert.equal(plain!.filename, "plain continued.txt");
  assert.equal(plain!.params.charset, "");
  assert.deepEqual(plain!.language, ["de", "en"]);
  assert.equal(plain!.location, "http://example.com/x.txt");
  assert.equal(plain!.md5, "Q2hlY2sgSW50ZWdyaXR5IQ==");

  const e = parseMessage(load("encoded-words")).structure.root;
  assert.equal(e.parts![1]!.filename, "Résumé.txt");
  assert.equal(e.parts![1]!.params.name, "äöü.txt");

  const m = parseMessage(load("mixed-case")).structure.root;
  assert.equal(m.parts![0]!.type, "text");
  assert.equal(m.parts![0]!.subtype, "plain");
  assert.deepEqual(m.parts![0]!.params, { charset: "UTF-8", format: "Flowed" });
  assert.equal(m.parts![0]!.encoding, "base64");
  assert.equal(m.parts![1]!.filename, "custom.bin");
  assert.equal(m.parts![1]!.encoding, "x-unknown");
});

Deno.test("parseMessage() envelope keeps raw values and defaults sender and reply-to to from", () => {
  const { structure, messageId } = parseMessage(load("encoded-words"));
  const env = structure.envelope;
  assert.equal(env.subject, "=?UTF-8?Q?Gr=C3=BC=C3=9Fe?= =?UTF-8?Q?_aus_M=C3=BCnchen?= and more");
  assert.deepEqual(env.from, [{
    name: "=?UTF-8?B?SsO8cmdlbiBNw7xsbGVy?=",
    adl: null,
    mailbox: "juergen",
    host: "example.de",
  }]);
  assert.deepEqual(env.sender, env.from);
  assert.deepEqual(env.replyTo, env.from);
  assert.equal(messageId, null);
  assert.equal(decodeWords(env.subject!), "Grüße aus München and more");

  const g = parseMessage(load("groups"));
  assert.equal(g.messageId, "groups.3@example.com");
  assert.deepEqual(g.structure.envelope.to, [
    { name: null, adl: null, mailbox: "undisclosed-recipients", host: null },
    { name: null, adl: null, mailbox: null, host: null },
  ]);
  const none = parseMessage(load("missing-date-from")).structure.envelope;
  assert.equal(none.date, null);
  assert.equal(none.from, null);
  assert.equal(none.sender, null);
});

Deno.test("parseMessage() writes 8-bit strings as literals counted in UTF-8 octets", () => {
  const { structure } = parseMessage(load("8bit-headers"));
  assert.ok(structure.imap.envelope.includes("{21}\r\nGrüße — raw UTF-8 "));
  assert.ok(structure.imap.envelope.includes("{15}\r\nJürgen Müller NIL"));
  assert.equal(structure.envelope.subject, "Grüße — raw UTF-8");
  const nul = parseMessage(load("nul-bytes")).structure;
  assert.equal(nul.envelope.subject, "nul\uFFFDbyte"); // as Dovecot; NUL is valid in neither IMAP nor jsonb
  assert.ok(!JSON.stringify(nul).includes("\\u0000"));
});

Deno.test("decodeWords() decodes RFC 2047 words", () => {
  const cases: [string, string][] = [
    ["plain", "plain"],
    ["=?ISO-8859-1?Q?Fran=E7ois?=", "François"],
    ["=?utf-8?b?w6TDtsO8?= =?utf-8?b?w58=?=", "äöüß"],
    ["=?UTF-8?B?4oK=?= =?UTF-8?B?rA==?=", "€"], // a character split across two words
    ["a =?utf-8?q?b?= c", "a b c"],
    ["=?utf-8*en?q?lang?=", "lang"], // RFC 2231 §5 language
    ["=?x-unknown?q?caf=E9?=", "café"], // unknown charset: UTF-8, else Latin-1
    ["=?utf-8?q?broken", "=?utf-8?q?broken"],
  ];
  for (const [input, want] of cases) assert.equal(decodeWords(input), want, input);
});

// --- bodies and search text --------------------------------------------------------------------------------

Deno.test("decodeBody() undoes base64 and quoted-printable and passes other encodings through", () => {
  const raw = load("alternative-in-mixed");
  const root = parseMessage(raw).structure.root;
  const pdf = decodeBody(raw, findPart(root, "2")!);
  assert.equal(pdf.length, 434);
  assert.equal(dec.decode(pdf.subarray(0, 8)), "%PDF-1.4");
  assert.ok(dec.decode(pdf).trimEnd().endsWith("%%EOF"));
  const png = decodeBody(raw, findPart(root, "3")!);
  assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  const qp = dec.decode(decodeBody(raw, findPart(root, "1.1")!));
  assert.equal(qp, "Please find the report attached. Café au lait costs 3 €.\r\nA soft line break.\r\n");
  const nul = load("nul-bytes");
  assert.deepEqual([...decodeBody(nul, findPart(parseMessage(nul).structure.root, "2")!)], [0, 0, 0, 1]);

  const part = (encoding: string, body: string) => {
    const raw = bytes(`Content-Transfer-Encoding: ${encoding}\r\n\r\n${body}`);
    return dec.decode(decodeBody(raw, parseMessage(raw).structure.root));
  };
  const cases: [string, string, string][] = [
    ["base64", "aGVs\r\nbG8=", "hello"],
    ["base64", "aGVsbG8", "hello"], // missing padding
    ["base64", "aGV!!sbG8=\r\n", "hello"], // junk skipped
    ["BASE64", "", ""],
    ["quoted-printable", "a=3Db=\r\nc=\nd", "a=bcd"],
    ["quoted-printable", "soft= \r\nbreak", "softbreak"], // whitespace before the line break
    ["quoted-printable", "bad =ZZ and =", "bad =ZZ and "],
    ["quoted-printable", "lower =c3=a9", "lower é"],
    ["7bit", "as is =41", "as is =41"],
    ["x-uuencode", "as is", "as is"],
  ];
  for (const [encoding, body, want] of cases) assert.equal(part(encoding, body), want, `${encoding}: ${body}`);
});

Deno.test("parseMessage() search text: decoded text and HTML parts, tags and entities removed", () => {
  const { searchText } = parseMessage(load("alternative-in-mixed"));
  assert.ok(searchText.includes("Café au lait costs 3 €.\r\nA soft line break."));
  assert.ok(searchText.includes("Please find the report attached. Café & crème <3> € A"));
  assert.ok(!searchText.includes("<b>"));
  assert.ok(!searchText.includes("alert"));
  assert.ok(!searchText.includes("color: red"));
  assert.ok(!searchText.includes("JVBER")); // the PDF is not text
  assert.ok(!searchText.includes("Epilogue"));

  const latin = parseMessage(load("encoded-words")).searchText;
  assert.equal(latin, "Grüße aus München");
  const nested = parseMessage(load("nested")).searchText;
  assert.ok(nested.includes("d1 café"), "ISO-8859-1 quoted-printable");
  assert.ok(!nested.includes("<bold>"), "text/enriched is not indexed");
  assert.ok(parseMessage(load("rfc822-attachment")).searchText.includes("inner html"));
  assert.equal(parseMessage(load("nul-bytes")).searchText, "ab");

  const long = parseMessage(bytes(`Subject: x\r\n\r\n${"word ".repeat(1000)}`), { maxSearchText: 100 });
  assert.equal(long.searchText.length, 100);
  const emoji = parseMessage(bytes(`\r\n${"😀".repeat(10)}`), { maxSearchText: 5 });
  assert.equal(emoji.searchText, "😀😀"); // not half a surrogate pair
});

// --- header fields -----------------------------------------------------------------------------------------

Deno.test("headerFields() selects fields with continuations and ends with the blank line", () => {
  const raw = load("simple");
  const { root } = parseMessage(raw).structure;
  const pick = (names: string[], not: boolean) => dec.decode(headerFields(raw, 0, root.bodyStart, names, not));
  assert.equal(
    pick(["subject", "FROM"], false),
    "From: Alice Example <alice@example.org>\r\nSubject: Hello,\r\n\tfolded world\r\n\r\n",
  );
  assert.equal(pick(["x-none"], false), "\r\n");
  const not = pick(["Received", "Return-Path", "Subject", "To", "Date", "Message-ID", "In-Reply-To"], true);
  assert.equal(
    not,
    "From: Alice Example <alice@example.org>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n" +
      "Content-Transfer-Encoding: 7bit\r\n\r\n",
  );
  // A part's MIME header (BODY[1.1.MIME]-style ranges) and a header without a final line break.
  const part = findPart(parseMessage(load("nested")).structure.root, "1.2")!;
  const nested = load("nested");
  assert.equal(
    dec.decode(headerFields(nested, part.headerStart, part.bodyStart, ["content-id"], false)),
    "Content-ID: <img1>\r\n\r\n",
  );
  const bare = bytes("Subject: cut");
  assert.equal(dec.decode(headerFields(bare, 0, bare.length, ["subject"], false)), "Subject: cut\r\n\r\n");
  const lf = bytes("A: 1\nB: 2\n two\n\nbody");
  assert.equal(dec.decode(headerFields(lf, 0, lf.length, ["b"], false)), "B: 2\n two\n\r\n");
});

// --- robustness --------------------------------------------------------------------------------------------

interface Shape {
  type?: string;
  parts?: number;
  size?: number;
  lines?: number | null;
  bodyStart?: number;
}

const BROKEN: [string, Uint8Array, Shape][] = [
  ["an empty message", bytes(""), { type: "text/plain", size: 0, bodyStart: 0, lines: 0 }],
  ["only a blank line", bytes("\r\n"), { type: "text/plain", size: 0, bodyStart: 2 }],
  ["no header/body separator", bytes("Subject: x\r\nFrom: a@b"), { type: "text/plain", size: 0, bodyStart: 21 }],
  ["body only (no header)", bytes("\r\nhello\r\n"), { type: "text/plain", size: 7, lines: 1 }],
  ["bare LF", bytes("Subject: x\n\nline\n"), { type: "text/plain", size: 5, bodyStart: 12, lines: 1 }],
  ["NUL bytes", bytes("Subject: a\0b\r\n\r\n\0\0\0"), { type: "text/plain", size: 3 }],
  [
    "8-bit Latin-1 header",
    Uint8Array.from([...bytes("Subject: caf"), 0xe9, ...bytes("\r\n\r\nx")]),
    { type: "text/plain", size: 1 },
  ],
  [
    "a 1 MB header line",
    bytes(`Subject: ${"x".repeat(1 << 20)}\r\n\r\nbody`),
    { type: "text/plain", size: 4 },
  ],
  [
    "multipart, boundary never appears",
    crlf("Content-Type: multipart/mixed; boundary=b\n\n--c\ntext\n"),
    { type: "multipart/mixed", parts: 0 },
  ],
  ["multipart without boundary", crlf("Content-Type: multipart/mixed\n\n--b\n\nx\n--b--\n"), { parts: 0 }],
  ["multipart with empty boundary", crlf('Content-Type: multipart/mixed; boundary=""\n\n--\n\nx\n'), { parts: 0 }],
  ["unterminated multipart", crlf("Content-Type: multipart/mixed; boundary=b\n\n--b\n\nx\n--b\n\ny"), { parts: 2 }],
  ["multipart ending in a boundary line without CRLF", bytes("Content-Type: multipart/x; boundary=b\r\n\r\n--b"), {
    parts: 1,
  }],
  ["boundary prefixed by a longer line", crlf("Content-Type: multipart/mixed; boundary=b\n\n--b\n\nx\n--bb\n"), {
    parts: 2,
  }],
  ["message/rfc822 cut short", crlf("Content-Type: message/rfc822\n\nSubject: inner"), {
    type: "message/rfc822",
    lines: 0,
  }],
  ["message/rfc822 empty", bytes("Content-Type: message/rfc822\r\n\r\n"), { type: "message/rfc822", size: 0 }],
  ["garbage Content-Type", crlf('Content-Type: ;;;=;"\n\nx'), { type: "text/plain", size: 1 }],
  ["unclosed quote in parameter", crlf('Content-Type: text/plain; charset="utf-8\n\nx'), { type: "text/plain" }],
  ["unclosed comment in address", crlf("From: a@b (unclosed\nTo: <x@y\n\nx"), { type: "text/plain" }],
];

for (const [label, raw, shape] of BROKEN) {
  Deno.test(`parseMessage() survives ${label}`, () => {
    const { structure, searchText } = parseMessage(raw);
    const root = structure.root;
    checkOffsets(raw, root);
    if (shape.type) assert.equal(`${root.type}/${root.subtype}`, shape.type);
    if (shape.parts !== undefined) assert.equal(root.parts?.length, shape.parts);
    if (shape.size !== undefined) assert.equal(root.size, shape.size);
    if (shape.lines !== undefined) assert.equal(root.lines, shape.lines);
    if (shape.bodyStart !== undefined) assert.equal(root.bodyStart, shape.bodyStart);
    imapValue(structure.imap.envelope);
    imapValue(structure.imap.bodystructure);
    imapValue(structure.imap.body);
    assert.ok(!searchText.includes("\0"));
    assert.deepEqual(JSON.parse(JSON.stringify(structure)), structure);
  });
}

Deno.test("parseMessage() caps nesting: deeper containers become opaque leaves", () => {
  const raw = load("deep"); // 60 nested multiparts
  const full = parseMessage(raw).structure.root;
  let depth = 0;
  for (let p: Part | undefined = full; p?.parts; p = p.parts[0]) depth++;
  assert.equal(depth, 60);

  const capped = parseMessage(raw, { maxDepth: 10 });
  let p: Part = capped.structure.root;
  for (let i = 0; i < 10; i++) p = p.parts![0]!;
  assert.equal(`${p.type}/${p.subtype}`, "application/octet-stream");
  assert.equal(p.part, "1.1.1.1.1.1.1.1.1.1");
  assert.match(slice(raw, p.bodyStart, p.bodyEnd), /^--lvl010\r\n.*innermost.*--lvl010--$/s);
  checkOffsets(raw, capped.structure.root);

  // Nested message/rfc822 parts count as levels too.
  let nestedMessages = "Subject: leaf\r\n\r\nbody\r\n";
  for (let i = 0; i < 200; i++) nestedMessages = `Content-Type: message/rfc822\r\n\r\n${nestedMessages}`;
  const m = parseMessage(bytes(nestedMessages));
  assert.ok(m.structure.imap.bodystructure.includes('"application" "octet-stream"'));
});

Deno.test("parseMessage() stays linear on lines that almost match a deep stack of boundaries", () => {
  // 100 nested multiparts whose boundaries share a 69-character prefix, then 2 MB of lines "--<prefix>ZZZ":
  // each line would be compared byte by byte with every boundary without the prefix hashes.
  const prefix = "----=_Part_" + "a".repeat(58);
  const b = (i: number) => prefix + String(i).padStart(3, "0");
  let m = `Content-Type: multipart/mixed; boundary="${b(0)}"\r\n\r\n`;
  for (let i = 1; i < 100; i++) m += `--${b(i - 1)}\r\nContent-Type: multipart/mixed; boundary="${b(i)}"\r\n\r\n`;
  m += `--${b(99)}\r\n\r\n${`--${prefix}ZZZ\r\n`.repeat(28000)}--${b(99)}--\r\n`;
  const t0 = performance.now();
  const { structure } = parseMessage(bytes(m));
  assert.ok(performance.now() - t0 < 1000, "took over a second");
  let p = structure.root;
  while (p.parts) p = p.parts[0]!;
  assert.equal(p.part, Array(100).fill("1").join("."));
  assert.equal(p.size, 28000 * 76 - 2);
});

Deno.test("parseMessage() caps the number of parts", () => {
  const raw = crlf(`Content-Type: multipart/mixed; boundary=b\n\n${"--b\n\nx\n".repeat(500)}--b--\n`);
  assert.equal(parseMessage(raw).structure.root.parts!.length, 500);
  const capped = parseMessage(raw, { maxParts: 100 }).structure.root;
  assert.equal(capped.parts!.length, 99); // the root counts as one
  checkOffsets(raw, capped);
});

Deno.test("parseMessage() never throws on truncated or mutated corpus messages", () => {
  let seed = 42;
  const random = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
  for (const name of corpus()) {
    const raw = load(name);
    for (let i = 0; i < 30; i++) {
      let m = raw.slice(0, Math.floor(random() * (raw.length + 1)));
      if (i % 2 === 1 && m.length > 0) {
        for (let k = 0; k < 8; k++) m[Math.floor(random() * m.length)] = [0x0a, 0x2d, 0x0d, 0x3a, 0, 0xff][k % 6]!;
      }
      if (i % 5 === 4) m = m.filter((b) => b !== 0x0d);
      const { structure } = parseMessage(m);
      checkOffsets(m, structure.root);
      imapValue(structure.imap.bodystructure);
      imapValue(structure.imap.envelope);
    }
  }
});

Deno.test("parseMessage() is fast enough for a typical message", () => {
  const raw = load("alternative-in-mixed");
  for (let i = 0; i < 200; i++) parseMessage(raw);
  const t0 = performance.now();
  for (let i = 0; i < 200; i++) parseMessage(raw);
  const ms = (performance.now() - t0) / 200;
  assert.ok(ms < 2, `${ms} ms per message`); // generous for slow CI machines; bench/mime.ts has the real figure
});
