import { deepEqual as assertEquals, ok as assert, throws as assertThrows } from "node:assert/strict";
import { CommandReceiver, isValidTag, type ReceiverEvent, type ReceiverOptions } from "./receiver.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

/** A readable summary of an event: commands as their lines joined with their literals. */
function show(ev: ReceiverEvent): string {
  switch (ev.kind) {
    case "command": {
      let s = "";
      ev.lines.forEach((l, i) => {
        s += dec.decode(l);
        const lit = ev.literals[i];
        if (lit) s += `<${lit.binary ? "8" : ""}${lit.sync ? "" : "+"}${dec.decode(lit.bytes)}>`;
      });
      return `command ${ev.tag}: ${s}`;
    }
    case "need-continuation":
      return `continue ${ev.tag}`;
    case "literal":
      return `literal ${ev.tag} ${ev.command} ${ev.size}${ev.sync ? "" : "+"}`;
    case "too-long":
      return `too-long ${ev.tag}`;
    case "literal-too-big":
      return `literal-too-big ${ev.tag} ${ev.size}${ev.sync ? "" : "+"}`;
  }
}

function drain(r: CommandReceiver): string[] {
  const out: string[] = [];
  for (let ev = r.next(); ev; ev = r.next()) {
    out.push(show(ev));
    if (ev.kind === "literal") break;
  }
  return out;
}

function feed(chunks: (string | Uint8Array)[], options?: ReceiverOptions): string[] {
  const r = new CommandReceiver(options);
  const out: string[] = [];
  for (const c of chunks) {
    r.push(typeof c === "string" ? enc.encode(c) : c);
    out.push(...drain(r));
  }
  return out;
}

// [input, events] — the whole input pushed at once.
const CASES: [string, string[], ReceiverOptions?][] = [
  ["A1 NOOP\r\n", ["command A1: A1 NOOP"]],
  ["A1 NOOP\n", ["command A1: A1 NOOP"]],
  ["A1 NOOP\r\nA2 CAPABILITY\r\n", ["command A1: A1 NOOP", "command A2: A2 CAPABILITY"]],
  ["\r\n\r\nA1 NOOP\r\n", ["command A1: A1 NOOP"]],
  ["A1 NOOP", []],
  // Synchronising literals: the server must send "+ Ready for literal data" for each.
  ["A1 LOGIN {3}\r\nbob {6}\r\nsecret\r\n", [
    "continue A1",
    "continue A1",
    "command A1: A1 LOGIN {3}<bob> {6}<secret>",
  ]],
  // LITERAL+: no continuation.
  ["A1 LOGIN {3+}\r\nbob {6+}\r\nsecret\r\n", ["command A1: A1 LOGIN {3+}<+bob> {6+}<+secret>"]],
  // Literal data may contain CRLF and anything else; an empty literal is fine.
  ["A1 SEARCH TEXT {4+}\r\n\r\n\r\n SUBJECT {0+}\r\n\r\n", [
    "command A1: A1 SEARCH TEXT {4+}<+\r\n\r\n> SUBJECT {0+}<+>",
  ]],
  // literal8 (BINARY APPEND).
  ["A1 APPEND INBOX ~{3+}\r\na\0b\r\n", ["command A1: A1 APPEND INBOX ~{3+}<8+a\0b>"]],
  // A "{n}" inside an unterminated quoted string is not a literal: the command ends there.
  ['A1 LOGIN "bob {3}\r\n', ['command A1: A1 LOGIN "bob {3}']],
  ['A1 LOGIN "a\\"b {3}" {3+}\r\nxyz\r\n', ['command A1: A1 LOGIN "a\\"b {3}" {3+}<+xyz>']],
  // Not literal markers.
  ["A1 X {}\r\nA2 X {a}\r\nA3 X {1+2}\r\n", ["command A1: A1 X {}", "command A2: A2 X {a}", "command A3: A3 X {1+2}"]],
  // Invalid tags are reported as null (answer "* BAD").
  ["* NOOP\r\n+ NOOP\r\nA+1 NOOP\r\nA(1 NOOP\r\n", [
    "command null: * NOOP",
    "command null: + NOOP",
    "command null: A+1 NOOP",
    "command null: A(1 NOOP",
  ]],
  // LITERAL- (RFC 7888 §4): a non-synchronising literal over 4096 is refused and its octets skipped.
  [`A1 APPEND INBOX {5000+}\r\n${"x".repeat(5000)}\r\nA2 NOOP\r\n`, [
    "literal-too-big A1 5000+",
    "command A2: A2 NOOP",
  ]],
  // Absurd sizes are refused without allocating anything.
  ["A1 APPEND INBOX {99999999999}\r\nA2 NOOP\r\n", ["literal-too-big A1 99999999999", "command A2: A2 NOOP"]],
  ["A1 APPEND INBOX {999999999999999999999999}\r\nA2 NOOP\r\n", [
    "literal-too-big A1 1e+24",
    "command A2: A2 NOOP",
  ]],
];

Deno.test("CommandReceiver frames commands and literals", async (t) => {
  for (const [input, events, options] of CASES) {
    await t.step(JSON.stringify(input.slice(0, 60)), () => assertEquals(feed([input], options), events));
  }
});

Deno.test("CommandReceiver gives the same events for every split of the input", () => {
  const transcript = "A1 LOGIN {3}\r\nbob {6+}\r\nsecret\r\n" +
    'A2 APPEND "Sent Items" (\\Seen) ~{5}\r\nab\0\r\n\r\n' +
    "A3 UID FETCH 1:* (BODY.PEEK[HEADER.FIELDS ({4+}\r\nFrom To)])\n" +
    "\r\n" +
    'A4 LOGIN "x {2}" "y"\r\n' +
    `A5 APPEND INBOX {150+}\r\n${"y".repeat(150)}\r\n` +
    "A6 LOGOUT\r\n";
  const bytes = enc.encode(transcript);
  const opts = { maxNonSyncLiteral: 100 };
  const expected = feed([bytes], opts);
  assertEquals(expected, [
    "continue A1",
    "command A1: A1 LOGIN {3}<bob> {6+}<+secret>",
    "continue A2",
    'command A2: A2 APPEND "Sent Items" (\\Seen) ~{5}<8ab\0\r\n>',
    "command A3: A3 UID FETCH 1:* (BODY.PEEK[HEADER.FIELDS ({4+}<+From> To)])",
    'command A4: A4 LOGIN "x {2}" "y"',
    "literal-too-big A5 150+",
    "command A6: A6 LOGOUT",
  ]);
  for (let i = 0; i <= bytes.length; i++) {
    assertEquals(feed([bytes.subarray(0, i), bytes.subarray(i)], opts), expected, `split at ${i}`);
  }
  const single: Uint8Array[] = [];
  for (let i = 0; i < bytes.length; i++) single.push(bytes.subarray(i, i + 1));
  assertEquals(feed(single, opts), expected, "byte by byte");
});

Deno.test("CommandReceiver reports an over-long line once and skips it in bounded memory", () => {
  const r = new CommandReceiver({ maxLineLength: 100 });
  const events: string[] = [];
  r.push(enc.encode("A1 SEARCH "));
  for (let i = 0; i < 1000; i++) {
    r.push(enc.encode("x".repeat(50)));
    events.push(...drain(r));
    assert(r.buffered <= 150, `buffered ${r.buffered}`);
  }
  r.push(enc.encode("\r\nA2 NOOP\r\n"));
  events.push(...drain(r));
  assertEquals(events, ["too-long A1", "command A2: A2 NOOP"]);
});

Deno.test("CommandReceiver skips the {n+} literal that ends an over-long line", () => {
  const long = `A1 SEARCH TEXT ${"x".repeat(200)} {5+}\r\nhello\r\nA2 NOOP\r\n`;
  const expected = ["too-long A1", "command A2: A2 NOOP"];
  // Complete line in one chunk, and the same line arriving in pieces (detected before its LF).
  assertEquals(feed([long], { maxLineLength: 100 }), expected);
  const bytes = enc.encode(long);
  const pieces: Uint8Array[] = [];
  for (let i = 0; i < bytes.length; i += 7) pieces.push(bytes.subarray(i, i + 7));
  assertEquals(feed(pieces, { maxLineLength: 100 }), expected);
  // A synchronising literal after a too-long line: the client waits for "+", which never comes.
  assertEquals(feed([`A1 SEARCH ${"x".repeat(200)} {5}\r\nA2 NOOP\r\n`], { maxLineLength: 100 }), expected);
});

Deno.test("CommandReceiver bounds a command's total size", () => {
  const opts = { maxCommandSize: 100 };
  const lit = (n: number) => ` TEXT {${n}+}\r\n${"z".repeat(n)}`;
  // The third line pushes the command over 100 octets.
  assertEquals(feed([`A1 SEARCH${lit(30)}${lit(30)}${lit(30)}\r\nA2 NOOP\r\n`], opts), [
    "too-long A1",
    "command A2: A2 NOOP",
  ]);
  // The second literal would push it over: refused before it is read, and skipped.
  assertEquals(feed([`A1 SEARCH${lit(40)}${lit(40)}${lit(3)}\r\nA2 NOOP\r\n`], opts), [
    "literal-too-big A1 40+",
    "command A2: A2 NOOP",
  ]);
});

Deno.test("CommandReceiver lets the session accept or refuse a big literal before reading it", () => {
  const opts = { autoAcceptLiteral: 10, maxLiteralSize: 1000 };
  const r = new CommandReceiver(opts);
  r.push(enc.encode("A1 APPEND INBOX {20}\r\n"));
  assertEquals(drain(r), ["literal A1 APPEND 20"]);
  // Still pending until the session decides.
  assertEquals(show(r.next()!), "literal A1 APPEND 20");
  r.accept();
  assertEquals(drain(r), ["continue A1"]);
  r.push(enc.encode("0123456789".repeat(2) + "\r\n"));
  assertEquals(drain(r), ["command A1: A1 APPEND INBOX {20}<01234567890123456789>"]);

  // Refusing a synchronising literal: the client sends nothing more for that command.
  r.push(enc.encode("A2 APPEND INBOX {20}\r\nA3 NOOP\r\n"));
  assertEquals(drain(r), ["literal A2 APPEND 20"]);
  r.reject();
  assertEquals(drain(r), ["command A3: A3 NOOP"]);

  // Refusing a non-synchronising literal: its octets are skipped without buffering.
  r.push(enc.encode("A4 UID APPEND INBOX {500+}\r\n"));
  assertEquals(drain(r), ["literal A4 UID APPEND 500+"]);
  r.reject();
  for (let i = 0; i < 50; i++) {
    r.push(enc.encode("0123456789"));
    assertEquals(r.buffered, 0);
    assertEquals(drain(r), []);
  }
  r.push(enc.encode("\r\nA5 NOOP\r\n"));
  assertEquals(drain(r), ["command A5: A5 NOOP"]);
  assertThrows(() => r.accept(), Error);
  assertThrows(() => r.reject(), Error);
});

Deno.test("CommandReceiver refuses literals over maxLiteralSize itself", () => {
  const opts = { maxLiteralSize: 100, maxNonSyncLiteral: 1000 };
  assertEquals(feed(["A1 APPEND INBOX {200}\r\nA2 NOOP\r\n"], opts), ["literal-too-big A1 200", "command A2: A2 NOOP"]);
  assertEquals(
    feed([`A1 APPEND INBOX {200+}\r\n${"x".repeat(200)}\r\nA2 NOOP\r\n`], opts),
    ["literal-too-big A1 200+", "command A2: A2 NOOP"],
  );
  // The rest of a refused command may hold more {n+} literals: all are skipped.
  assertEquals(
    feed([`A1 X {200+}\r\n${"x".repeat(200)} {3+}\r\nabc\r\nA2 NOOP\r\n`], opts),
    ["literal-too-big A1 200+", "command A2: A2 NOOP"],
  );
});

Deno.test("CommandReceiver.discardBuffered() drops what was pipelined after STARTTLS", () => {
  const r = new CommandReceiver();
  r.push(enc.encode("A1 STARTTLS\r\nA2 LOGIN bob secret\r\nA3 NOOP"));
  assertEquals(show(r.next()!), "command A1: A1 STARTTLS");
  assertEquals(r.discardBuffered(), "A2 LOGIN bob secret\r\nA3 NOOP".length);
  assertEquals(r.next(), null);
  r.push(enc.encode("A4 NOOP\r\n"));
  assertEquals(drain(r), ["command A4: A4 NOOP"]);
});

Deno.test("CommandReceiver.takeBuffered() hands over the unread octets and resets", () => {
  const r = new CommandReceiver();
  r.push(enc.encode("A1 NOOP\r\nA2 LOGIN {3}\r\nabc NO"));
  assertEquals(drain(r), ["command A1: A1 NOOP", "continue A2"]);
  assert(r.midCommand);
  assertEquals(dec.decode(r.takeBuffered()), " NO");
  assert(!r.midCommand);
  assertEquals(r.buffered, 0);
});

Deno.test("CommandReceiver.nextLine() reads IDLE's DONE and SASL responses", () => {
  const r = new CommandReceiver({ maxRawLineLength: 20 });
  r.push(enc.encode("A1 IDLE\r\nDO"));
  assertEquals(show(r.next()!), "command A1: A1 IDLE");
  assertEquals(r.nextLine(), null);
  r.push(enc.encode("NE\r\nA2 NOOP\r\n"));
  assertEquals(r.nextLine(), { kind: "line", text: "DONE" });
  assertEquals(drain(r), ["command A2: A2 NOOP"]);
  // An over-long raw line is reported once, then skipped up to its LF.
  r.push(enc.encode("x".repeat(30)));
  assertEquals(r.nextLine(), { kind: "too-long" });
  r.push(enc.encode("y".repeat(30)));
  assertEquals(r.nextLine(), null);
  r.push(enc.encode("\nAGJvYgBzZWNyZXQ=\r\n"));
  assertEquals(r.nextLine(), { kind: "line", text: "AGJvYgBzZWNyZXQ=" });
  r.push(enc.encode("x".repeat(25) + "\r\n*\n"));
  assertEquals(r.nextLine(), { kind: "too-long" });
  assertEquals(r.nextLine(), { kind: "line", text: "*" });
  // Not in the middle of a command.
  r.push(enc.encode("A3 LOGIN {3}\r\n"));
  r.next();
  assertThrows(() => r.nextLine(), Error);
});

Deno.test("CommandReceiver copies pushed chunks", () => {
  const r = new CommandReceiver();
  const chunk = enc.encode("A1 NOOP\r\n");
  r.push(chunk);
  chunk.fill(0x41);
  assertEquals(drain(r), ["command A1: A1 NOOP"]);
});

Deno.test("CommandReceiver validates its limits", () => {
  assertThrows(() => new CommandReceiver({ maxLineLength: 1 }), RangeError);
  assertThrows(() => new CommandReceiver({ maxLiteralSize: -1 }), RangeError);
  assertThrows(() => new CommandReceiver({ autoAcceptLiteral: Number.NaN }), RangeError);
});

Deno.test("isValidTag() follows RFC 9051 §9", () => {
  for (const t of ["A1", "a", "0001", "x]y", "A.B-C_D", "~tag!"]) assert(isValidTag(t), t);
  for (const t of ["", "*", "+", "A+1", "A 1", "A(1", "A)1", "A{1", "A%1", 'A"1', "A\\1", "Aé", "A\t1"]) {
    assert(!isValidTag(t), t);
  }
});

Deno.test("CommandReceiver survives random input in bounded memory", () => {
  let seed = 7;
  const rand = (n: number) => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  const pieces = ["A1 ", "{5}", "{5+}", "~{3}", "{0}", "{99999}", '"', "\\", "\r\n", "\n", "x", " ", "NOOP", "{70+}"];
  const r = new CommandReceiver({ maxLineLength: 64, maxLiteralSize: 80, autoAcceptLiteral: 4, maxCommandSize: 200 });
  for (let i = 0; i < 5000; i++) {
    let s = "";
    for (let k = rand(8); k >= 0; k--) s += pieces[rand(pieces.length)];
    const chunk = enc.encode(s);
    r.push(chunk);
    for (let ev = r.next(); ev; ev = r.next()) {
      if (ev.kind === "literal") rand(2) ? r.accept() : r.reject();
    }
    assert(r.buffered < 64 + chunk.length, `buffered ${r.buffered}`);
  }
});
