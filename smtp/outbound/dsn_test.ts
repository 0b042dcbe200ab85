/**
 * @module
 * Tests for smtp/outbound/dsn.ts. Every DSN built here is read twice — by our own MIME parser (mail/parse.ts) and
 * by Python's standard `email` package with `policy.default` (which must report no defects) — and checked for
 * CRLF line ends and lines of at most 998 octets.
 */
import assert from "node:assert/strict";
import { decodeBody, parseMessage, type Part } from "../../mail/parse.ts";
import { buildDsn, type DsnInput, type DsnRecipient, statusFromReply } from "./dsn.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

/** Reads a DSN from stdin and prints what Python's email package makes of it, as JSON. */
const PYTHON = `
import email, email.policy, json, sys
msg = email.message_from_bytes(sys.stdin.buffer.read(), policy=email.policy.default)
defects = []
for part in msg.walk():
    defects += [type(d).__name__ for d in part.defects]
    for k, v in part.items():
        defects += [k + ": " + type(d).__name__ for d in getattr(v, "defects", ())]
parts = list(msg.iter_parts())
def opt(name):
    return None if msg[name] is None else str(msg[name])
out = {
    "type": msg.get_content_type(),
    "reportType": msg.get_param("report-type"),
    "subject": str(msg["subject"]),
    "from": msg["from"].addresses[0].addr_spec,
    "fromName": msg["from"].addresses[0].display_name,
    "to": msg["to"].addresses[0].addr_spec,
    "date": msg["date"].datetime.isoformat(),
    "messageId": str(msg["message-id"]),
    "inReplyTo": opt("in-reply-to"),
    "references": opt("references"),
    "autoSubmitted": opt("auto-submitted"),
    "mimeVersion": opt("mime-version"),
    "parts": [p.get_content_type() for p in parts],
    "defects": defects,
}
if len(parts) == 3:
    out["text"] = parts[0].get_content()
    blocks = parts[1].get_payload()
    out["perMessage"] = {k: str(v) for k, v in blocks[0].items()}
    out["perRecipient"] = [{k: str(v) for k, v in b.items()} for b in blocks[1:]]
    third = parts[2]
    if third.get_content_type() == "message/rfc822":
        inner = third.get_content()
        out["original"] = {
            "subject": str(inner["subject"]),
            "type": inner.get_content_type(),
            "parts": len(list(inner.iter_parts())) if inner.is_multipart() else 0,
        }
    else:
        out["original"] = {"headers": third.get_content()}
print(json.dumps(out))
`;

interface PythonView {
  type: string;
  reportType: string | null;
  subject: string;
  from: string;
  fromName: string;
  to: string;
  date: string;
  messageId: string;
  inReplyTo: string | null;
  references: string | null;
  autoSubmitted: string | null;
  mimeVersion: string | null;
  parts: string[];
  defects: string[];
  text: string;
  perMessage: Record<string, string>;
  perRecipient: Record<string, string>[];
  original: { subject?: string; type?: string; parts?: number; headers?: string };
}

async function python(raw: Uint8Array): Promise<PythonView> {
  const child = new Deno.Command("python3", { args: ["-c", PYTHON], stdin: "piped", stdout: "piped", stderr: "piped" })
    .spawn();
  const writer = child.stdin.getWriter();
  await writer.write(raw);
  await writer.close();
  const r = await child.output();
  assert.equal(r.code, 0, dec.decode(r.stderr));
  return JSON.parse(dec.decode(r.stdout));
}

/** Every line ends with CRLF (no bare CR or LF) and has at most 998 octets before it (RFC 5322 §2.1.1). */
function assertWellFormed(raw: Uint8Array): void {
  let start = 0;
  for (let i = 0; i < raw.length; i++) {
    if (raw[i] === 0x0d) assert.equal(raw[i + 1], 0x0a, `bare CR at ${i}`);
    if (raw[i] === 0x0a) {
      assert.equal(raw[i - 1], 0x0d, `bare LF at ${i}`);
      assert.ok(i - 1 - start <= 998, `line at ${start} has ${i - 1 - start} octets`);
      start = i + 1;
    }
  }
  assert.equal(start, raw.length, "the message ends with CRLF");
}

/** Builds, checks the shape, and returns our parse and Python's. */
async function build(input: DsnInput) {
  const raw = buildDsn(input);
  assertWellFormed(raw);
  const parsed = parseMessage(raw);
  const root = parsed.structure.root;
  assert.equal(`${root.type}/${root.subtype}`, "multipart/report");
  assert.equal(root.params["report-type"], "delivery-status");
  assert.equal(root.parts?.length, 3);
  const [text, status, original] = root.parts as [Part, Part, Part];
  assert.equal(`${text.type}/${text.subtype}`, "text/plain");
  assert.equal(text.params.charset, "utf-8");
  assert.equal(text.encoding, "quoted-printable");
  assert.equal(`${status.type}/${status.subtype}`, "message/delivery-status");
  const py = await python(raw);
  assert.deepEqual(py.defects, []);
  assert.equal(py.type, "multipart/report");
  assert.equal(py.reportType, "delivery-status");
  return {
    raw,
    header: dec.decode(raw.subarray(0, root.bodyStart)),
    text: dec.decode(decodeBody(raw, text)),
    status: dec.decode(decodeBody(raw, status)),
    original,
    parsed,
    py,
  };
}

/** Text with every run of white space as one space (the human part is word-wrapped). */
function flat(s: string): string {
  return s.replace(/\s+/g, " ");
}

function crlf(s: string): string {
  return s.replace(/\r?\n/g, "\r\n");
}

const ORIGINAL_HEADER = crlf(`Return-Path: <alice@a.test>
Received: from client (client [192.0.2.1])
\tby mail.a.test (Silvermail) with ESMTPSA id 1;
\tSun, 1 Jun 2025 10:00:00 +0000
From: Alice <alice@a.test>
To: Bob <bob@b.test>, Carol <carol@b.test>
Subject: Lunch on Friday?
Date: Sun, 1 Jun 2025 10:00:00 +0000
Message-ID: <lunch.1@a.test>
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: 8bit
`);
const ORIGINAL_BODY = crlf("Hi both,\n\nshall we meet at the café at noon?\n\nAlice\n");
const ORIGINAL = enc.encode(`${ORIGINAL_HEADER}\r\n${ORIGINAL_BODY}`);

const BOB: DsnRecipient = {
  recipient: "bob@b.test",
  orcpt: "rfc822;Bob+x@b.test",
  action: "failed",
  status: "5.1.1",
  remoteMta: "mx.b.test",
  diagnostic: "550 5.1.1 <bob@b.test>: Recipient address rejected: User unknown in virtual mailbox table",
  reason: "The mail server for b.test said the address does not exist.",
  lastAttempt: new Date("2025-06-01T10:00:05Z"),
};
const CAROL: DsnRecipient = {
  recipient: "carol@b.test",
  action: "failed",
  status: "5.7.1",
  remoteMta: "mx2.b.test",
  diagnostic: "554-5.7.1 Message refused by policy.\r\n554 5.7.1 See https://b.test/policy for the reason.",
  reason: "The mail server for b.test refused the message (see its reply; it says “policy”).",
  lastAttempt: new Date("2025-06-01T10:00:06Z"),
};

function input(overrides: Partial<DsnInput> = {}): DsnInput {
  return {
    reportingMta: "mail.a.test",
    postmaster: "MAILER-DAEMON@mail.a.test",
    to: "alice@a.test",
    arrivalDate: new Date("2025-06-01T10:00:00Z"),
    recipients: [BOB, CAROL],
    original: ORIGINAL,
    ret: "FULL",
    messageIdDomain: "mail.a.test",
    date: new Date("2025-06-01T10:00:07Z"),
    ...overrides,
  };
}

Deno.test("buildDsn() bounce with RET=FULL: a multipart/report our parser and Python read alike", async () => {
  const d = await build(input({ envid: "QQ314159" }));
  // The message header (RFC 3834 §5, RFC 6522 §3).
  assert.match(d.header, /^Subject: Undelivered Mail Returned to Sender\r$/m);
  assert.match(d.header, /^Auto-Submitted: auto-replied\r$/m);
  assert.match(d.header, /^MIME-Version: 1\.0\r$/m);
  assert.match(d.header, /^Date: Sun, 1 Jun 2025 10:00:07 \+0000\r$/m);
  assert.match(d.header, /^Message-ID: <[^@<>\s]+@mail\.a\.test>\r$/m);
  assert.equal(d.py.subject, "Undelivered Mail Returned to Sender");
  assert.equal(d.py.from, "MAILER-DAEMON@mail.a.test");
  assert.equal(d.py.fromName, "Mail Delivery System");
  assert.equal(d.py.to, "alice@a.test");
  assert.equal(d.py.date, "2025-06-01T10:00:07+00:00");
  assert.equal(d.py.autoSubmitted, "auto-replied");
  assert.equal(d.py.mimeVersion, "1.0");
  assert.equal(d.py.inReplyTo, "<lunch.1@a.test>");
  assert.equal(d.py.references, "<lunch.1@a.test>");
  assert.deepEqual(d.py.parts, ["text/plain", "message/delivery-status", "message/rfc822"]);

  // The human part: who, why, the remote reply quoted; UTF-8 survives quoted-printable.
  assert.equal(d.py.text.replace(/\r\n$/, ""), d.text.replace(/\r\n$/, ""));
  for (const r of [BOB, CAROL]) {
    assert.ok(d.text.includes(`<${r.recipient}>`));
    assert.ok(flat(d.text).includes(r.reason), r.reason);
    for (const line of r.diagnostic!.split("\r\n")) assert.ok(d.text.includes(line), line);
  }
  assert.ok(d.text.includes("mx.b.test"));
  assert.ok(d.text.includes("attached"));

  // The delivery-status fields (RFC 3464 §2.2, §2.3).
  assert.deepEqual(d.py.perMessage, {
    "Original-Envelope-Id": "QQ314159",
    "Reporting-MTA": "dns; mail.a.test",
    "Arrival-Date": "Sun, 1 Jun 2025 10:00:00 +0000",
  });
  assert.deepEqual(d.py.perRecipient, [
    {
      "Original-Recipient": "rfc822; Bob+x@b.test",
      "Final-Recipient": "rfc822; bob@b.test",
      "Action": "failed",
      "Status": "5.1.1",
      "Remote-MTA": "dns; mx.b.test",
      "Diagnostic-Code": `smtp; ${BOB.diagnostic}`,
      "Last-Attempt-Date": "Sun, 1 Jun 2025 10:00:05 +0000",
    },
    {
      "Final-Recipient": "rfc822; carol@b.test",
      "Action": "failed",
      "Status": "5.7.1",
      "Remote-MTA": "dns; mx2.b.test",
      "Diagnostic-Code":
        "smtp; 554-5.7.1 Message refused by policy. 554 5.7.1 See https://b.test/policy for the reason.",
      "Last-Attempt-Date": "Sun, 1 Jun 2025 10:00:06 +0000",
    },
  ]);
  assert.doesNotMatch(d.status, /Will-Retry-Until/);

  // The original, whole, as message/rfc822 (8-bit content: labelled 8bit, as is the multipart).
  assert.equal(`${d.original.type}/${d.original.subtype}`, "message/rfc822");
  assert.equal(d.original.encoding, "8bit");
  assert.match(d.header, /^Content-Transfer-Encoding: 8bit\r$/m);
  assert.equal(d.original.message?.envelope.subject, "Lunch on Friday?");
  assert.ok(dec.decode(d.raw.subarray(d.original.bodyStart, d.original.bodyEnd)).startsWith(ORIGINAL_HEADER));
  assert.deepEqual(d.py.original, { subject: "Lunch on Friday?", type: "text/plain", parts: 0 });
});

Deno.test("buildDsn() with RET=FULL returns only the header section when the original is too large", async () => {
  const big = enc.encode(`${ORIGINAL_HEADER}\r\n${"All work and no play makes Jack a dull boy.\r\n".repeat(30_000)}`);
  assert.ok(big.length > 1024 * 1024);
  for (
    const [original, maxOriginalBytes, limit] of [[big, undefined, "1 MiB"], [
      ORIGINAL,
      ORIGINAL.length - 1,
      `${ORIGINAL.length - 1} bytes`,
    ]] as const
  ) {
    const d = await build(input({ original, ...(maxOriginalBytes ? { maxOriginalBytes } : {}) }));
    assert.equal(`${d.original.type}/${d.original.subtype}`, "text/rfc822-headers");
    assert.equal(d.original.encoding, "7bit");
    assert.equal(dec.decode(d.raw.subarray(d.original.bodyStart, d.original.bodyEnd)) + "\r\n", ORIGINAL_HEADER);
    assert.equal(d.py.original.headers?.replace(/\r\n$/, ""), ORIGINAL_HEADER.replace(/\r\n$/, ""));
    assert.deepEqual(d.py.parts, ["text/plain", "message/delivery-status", "text/rfc822-headers"]);
    assert.ok(flat(d.text).includes(`larger than ${limit}.`), d.text);
    assert.ok(d.raw.length < 10_000);
    assert.match(d.header, /^Content-Transfer-Encoding: 7bit\r$/m);
  }
});

Deno.test("buildDsn() with RET=HDRS returns the header section only, up to the first empty line", async () => {
  const d = await build(input({ ret: "HDRS" }));
  assert.equal(`${d.original.type}/${d.original.subtype}`, "text/rfc822-headers");
  assert.equal(dec.decode(d.raw.subarray(d.original.bodyStart, d.original.bodyEnd)) + "\r\n", ORIGINAL_HEADER);
  assert.ok(!dec.decode(d.raw).includes("shall we meet"));
  assert.equal(d.py.original.headers?.replace(/\r\n$/, ""), ORIGINAL_HEADER.replace(/\r\n$/, ""));
  assert.ok(flat(d.text).includes("header of your message"));
  assert.match(d.header, /^Content-Transfer-Encoding: 7bit\r$/m);
});

Deno.test("buildDsn() delay warning: its subject, Will-Retry-Until, 'no action needed', the header only", async () => {
  const until = new Date("2025-06-06T10:00:00Z");
  const delayed: DsnRecipient = {
    recipient: "dave@slow.test",
    action: "delayed",
    status: "4.4.1",
    reason: "No mail server for slow.test could be reached for 4 hours.",
    lastAttempt: new Date("2025-06-01T14:00:00Z"),
    willRetryUntil: until,
  };
  const d = await build(input({ recipients: [delayed], ret: "FULL" }));
  assert.equal(d.py.subject, "Delayed Mail (still being retried)");
  assert.deepEqual(d.py.parts, ["text/plain", "message/delivery-status", "text/rfc822-headers"]);
  assert.deepEqual(d.py.perRecipient, [{
    "Final-Recipient": "rfc822; dave@slow.test",
    "Action": "delayed",
    "Status": "4.4.1",
    "Last-Attempt-Date": "Sun, 1 Jun 2025 14:00:00 +0000",
    "Will-Retry-Until": "Fri, 6 Jun 2025 10:00:00 +0000",
  }]);
  const text = flat(d.text);
  assert.ok(text.includes("you do not need to do anything"), text);
  assert.ok(text.includes("keep trying until Fri, 6 Jun 2025 10:00:00 +0000"), text);
  assert.ok(text.includes(delayed.reason));
  assert.ok(!dec.decode(d.raw).includes("shall we meet"));
});

Deno.test("buildDsn() writes ENVID and ORCPT, and non-ASCII addresses in the RFC 6533 utf-8 form", async () => {
  const d = await build(input({
    envid: "id with\u00e9",
    recipients: [{ ...BOB, recipient: "j\u00f6rg@b.test", orcpt: "utf-8;J\u00f6rg+1@b.test" }],
  }));
  assert.equal(d.py.perMessage["Original-Envelope-Id"], "id+20with+C3+A9");
  assert.equal(d.py.perRecipient[0]!["Original-Recipient"], "utf-8; J\\x{F6}rg\\x{2B}1@b.test");
  assert.equal(d.py.perRecipient[0]!["Final-Recipient"], "utf-8; j\\x{F6}rg@b.test");
  assert.ok(d.text.includes("<j\u00f6rg@b.test>"));
  // No ORCPT, no ENVID: no such fields.
  const plain = await build(input({ recipients: [CAROL] }));
  assert.doesNotMatch(plain.status, /Original-Envelope-Id|Original-Recipient/);
});

Deno.test("buildDsn() picks a boundary found nowhere in the content, so boundary lines in the original are harmless", async () => {
  // The original is itself multipart, and its delimiters look like ours.
  const nested = (boundary: string) =>
    enc.encode(crlf(`From: alice@a.test
Subject: nested
Message-ID: <nested@a.test>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="${boundary}"

--${boundary}
Content-Type: text/plain

one
--${boundary}
Content-Type: text/plain

two
--${boundary}--
`));
  const shape = async (original: Uint8Array) => {
    const d = await build(input({ original }));
    assert.equal(d.original.message?.root.parts?.length, 2);
    assert.deepEqual(d.py.original, { subject: "nested", type: "multipart/mixed", parts: 2 });
    return d.parsed.structure.root.params.boundary!;
  };
  await shape(nested("=_dsn_"));
  await shape(nested("=_dsn_0"));

  // Force a collision: with the first random values all zero, learn the boundary that gives, put it in the
  // original, and build again with the same first values: the boundary must change.
  const zeroBoundary = await withZeroRandom(Infinity, () => shape(nested("outer")));
  const boundary = await withZeroRandom(5, () => shape(nested(zeroBoundary)));
  assert.notEqual(boundary, zeroBoundary);
});

/** Runs `f` with crypto.getRandomValues filling zeros for its first `calls` calls. */
async function withZeroRandom<T>(calls: number, f: () => Promise<T>): Promise<T> {
  const real = crypto.getRandomValues.bind(crypto);
  let n = 0;
  Object.defineProperty(crypto, "getRandomValues", {
    value: (a: Uint8Array) => n++ < calls ? a.fill(0) : real(a),
    configurable: true,
    writable: true,
  });
  try {
    return await f();
  } finally {
    Reflect.deleteProperty(crypto, "getRandomValues");
  }
}

Deno.test("buildDsn() keeps CRLF and 998-octet lines whatever the original and the reply look like", async () => {
  const longHeader = `X-Long: ${"x".repeat(1500)}`;
  const messy = enc.encode(
    `From: alice@a.test\nSubject: bare LF\r\n${longHeader}\rX-8bit: gr\u00fc\u00dfe\n\nbody\nline`,
  );
  // RET=HDRS: the broken header section is returned quoted-printable (RFC 6522 allows it), intact once decoded.
  const hdrs = await build(input({ original: messy, ret: "HDRS" }));
  assert.equal(hdrs.original.encoding, "quoted-printable");
  assert.equal(
    hdrs.py.original.headers?.replace(/\r\n$/, ""),
    `From: alice@a.test\r\nSubject: bare LF\r\n${longHeader}\r\nX-8bit: gr\u00fc\u00dfe`,
  );
  // RET=FULL with a body line over 998 octets: message/rfc822 cannot carry it unchanged, so the header instead.
  const longBody = enc.encode(`${ORIGINAL_HEADER}\r\n${"y".repeat(2000)}\r\n`);
  const full = await build(input({ original: longBody }));
  assert.equal(`${full.original.type}/${full.original.subtype}`, "text/rfc822-headers");
  assert.ok(flat(full.text).includes("cannot be returned unchanged"));
  // A bare-LF original that is fine otherwise is returned whole, with CRLF.
  const lf = await build(input({ original: enc.encode("Subject: lf\nMessage-ID: <lf@a.test>\n\nhello\n") }));
  assert.equal(`${lf.original.type}/${lf.original.subtype}`, "message/rfc822");
  assert.equal(lf.original.encoding, "7bit");
  assert.equal(lf.py.inReplyTo, "<lf@a.test>");
  // A long reply is folded in Diagnostic-Code and comes back whole when unfolded; a long word is split.
  const words = Array.from({ length: 300 }, (_, i) => `word${i}`).join(" ");
  const diagnostic = `550 5.7.1 ${words} ${"z".repeat(1200)}`;
  const folded = await build(input({ recipients: [{ ...BOB, diagnostic }] }));
  const field = folded.py.perRecipient[0]!["Diagnostic-Code"]!;
  assert.ok(field.startsWith(`smtp; 550 5.7.1 ${words} z`), field.slice(0, 80));
  assert.equal(field.replace(/\s/g, "").length, `smtp;550 5.7.1 ${words}`.replace(/\s/g, "").length + 1200);
  assert.ok(folded.text.includes(`550 5.7.1 ${words}`)); // the human part quotes it verbatim (quoted-printable)
});

Deno.test("buildDsn() sets no In-Reply-To or References when the original has no Message-ID", async () => {
  const d = await build(input({ original: enc.encode("Subject: anonymous\r\n\r\nhi\r\n") }));
  assert.equal(d.py.inReplyTo, null);
  assert.equal(d.py.references, null);
  assert.doesNotMatch(d.header, /In-Reply-To|References/);
  const empty = await build(input({ original: new Uint8Array(0) }));
  assert.equal(empty.py.original.type, "text/plain");
});

Deno.test("buildDsn() refuses inconsistent input", () => {
  const cases: [Partial<DsnInput>, RegExp][] = [
    [{ recipients: [] }, /no recipients/],
    [{ recipients: [BOB, { ...BOB, action: "delayed" }] }, /mix failed and delayed/],
    [{ to: "" }, /null sender/],
    [{ to: "alice@a.test\r\nBcc: eve@e.test" }, /control character/],
    [{ recipients: [{ ...BOB, status: "550" }] }, /not an RFC 3463 code/],
    [{ reportingMta: "mail a.test" }, /reportingMta/],
  ];
  for (const [overrides, message] of cases) {
    assert.throws(() => buildDsn(input(overrides)), (e: unknown) => e instanceof TypeError && message.test(e.message));
  }
});

Deno.test("statusFromReply() takes the enhanced code when valid, else the reply's class", () => {
  const cases: [number, string | undefined, string][] = [
    [550, "5.1.1", "5.1.1"],
    [451, "4.7.1", "4.7.1"],
    [550, undefined, "5.0.0"],
    [421, undefined, "4.0.0"],
    [554, "bogus", "5.0.0"],
    [450, " 4.2.0 ", "4.2.0"],
    [550, "4.2.2", "5.2.2"], // RFC 3463 §2: the class follows the reply code
    [250, "2.0.0", "2.0.0"],
    [354, undefined, "5.0.0"],
  ];
  for (const [code, enhanced, want] of cases) {
    assert.equal(statusFromReply(code, enhanced), want, `${code} ${enhanced}`);
  }
});
