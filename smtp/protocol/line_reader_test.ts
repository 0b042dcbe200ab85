import { deepEqual as assertEquals, throws as assertThrows } from "node:assert/strict";
import { type LineEvent, LineReader } from "./line_reader.ts";

const enc = new TextEncoder();
const bytes = (s: string) => enc.encode(s);

function drain(r: LineReader): LineEvent[] {
  const out: LineEvent[] = [];
  for (let e = r.next(); e; e = r.next()) out.push(e);
  return out;
}

function line(text: string, bareLf = false): LineEvent {
  return { kind: "line", text, bareLf };
}

Deno.test("LineReader splits CRLF lines whatever the chunk boundaries", () => {
  const input = "EHLO a.example\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nDATA\r\n";
  const expected = [
    line("EHLO a.example"),
    line("MAIL FROM:<a@b.example>"),
    line("RCPT TO:<c@d.example>"),
    line("DATA"),
  ];
  for (let split = 0; split <= input.length; split++) {
    const r = new LineReader();
    r.push(bytes(input.slice(0, split)));
    const events = drain(r);
    r.push(bytes(input.slice(split)));
    events.push(...drain(r));
    assertEquals(events, expected, `split at ${split}`);
  }
  // Byte by byte.
  const r = new LineReader();
  const events: LineEvent[] = [];
  for (const b of bytes(input)) {
    r.push(new Uint8Array([b]));
    events.push(...drain(r));
  }
  assertEquals(events, expected);
});

Deno.test("LineReader tolerates a bare LF at command level and says so", () => {
  const r = new LineReader();
  r.push(bytes("NOOP\nQUIT\r\n\r\n"));
  assertEquals(drain(r), [line("NOOP", true), line("QUIT"), line("")]);
});

Deno.test("LineReader keeps a bare CR inside the line (the parser refuses it)", () => {
  const r = new LineReader();
  r.push(bytes("NOOP\rQUIT\r\n"));
  assertEquals(drain(r), [line("NOOP\rQUIT")]);
});

Deno.test("LineReader accepts a line of exactly the limit with its CRLF, and refuses one more octet", () => {
  const r = new LineReader({ maxLineLength: 512 });
  r.push(bytes("A".repeat(510) + "\r\n" + "B".repeat(511) + "\r\n" + "C".repeat(510) + "\n"));
  assertEquals(drain(r), [line("A".repeat(510)), { kind: "too-long" }, line("C".repeat(510), true)]);
});

Deno.test("LineReader reports an over-long line once and discards it up to the next LF", () => {
  const r = new LineReader({ maxLineLength: 100 });
  r.push(bytes("X".repeat(150)));
  assertEquals(r.buffered, 0); // not kept
  r.push(bytes("Y".repeat(500)));
  r.push(bytes("Z".repeat(10) + "\r\nNOOP\r\n"));
  assertEquals(drain(r), [{ kind: "too-long" }, line("NOOP")]);
});

Deno.test("LineReader keeps memory bounded while a client streams a 1 MB line", () => {
  const r = new LineReader({ maxLineLength: 512 });
  const chunk = new Uint8Array(65536).fill(0x41);
  const events: LineEvent[] = [];
  let most = 0;
  for (let i = 0; i < 16; i++) {
    r.push(chunk);
    most = Math.max(most, r.buffered);
    events.push(...drain(r));
  }
  r.push(bytes("\r\nQUIT\r\n"));
  events.push(...drain(r));
  assertEquals(events, [{ kind: "too-long" }, line("QUIT")]);
  assertEquals(most, 0);
});

Deno.test("LineReader delivers pipelined lines before reporting a long partial line", () => {
  const r = new LineReader({ maxLineLength: 64 });
  r.push(bytes("NOOP\r\nRSET\r\n" + "x".repeat(200)));
  assertEquals(drain(r), [line("NOOP"), line("RSET"), { kind: "too-long" }]);
  assertEquals(r.buffered, 0);
  r.push(bytes("more\r\nQUIT\r\n"));
  assertEquals(drain(r), [line("QUIT")]);
});

Deno.test("LineReader.takeBuffered() hands pipelined bytes to the data reader after DATA or BDAT", () => {
  const r = new LineReader();
  r.push(bytes("BDAT 5 LAST\r\nhelloQUIT\r\n"));
  assertEquals(r.next(), line("BDAT 5 LAST"));
  const rest = r.takeBuffered();
  assertEquals(new TextDecoder().decode(rest), "helloQUIT\r\n");
  assertEquals(r.next(), null);
  // The data reader's leftover comes back with push().
  r.push(rest.subarray(5));
  assertEquals(drain(r), [line("QUIT")]);
});

Deno.test("LineReader.discardBuffered() drops commands pipelined behind STARTTLS (RFC 3207 §4.2)", () => {
  const r = new LineReader();
  r.push(bytes("STARTTLS\r\nMAIL FROM:<evil@example.org>\r\nRCPT TO:<x@example.org>\r\n"));
  assertEquals(r.next(), line("STARTTLS"));
  assertEquals(r.discardBuffered(), 55);
  assertEquals(r.next(), null);
  r.push(bytes("EHLO after.tls\r\n"));
  assertEquals(drain(r), [line("EHLO after.tls")]);
});

Deno.test("LineReader turns invalid UTF-8 into U+FFFD and keeps a BOM, so the parser can refuse them", () => {
  const r = new LineReader();
  r.push(new Uint8Array([0x4e, 0xff, 0x0d, 0x0a, 0xef, 0xbb, 0xbf, 0x51, 0x0d, 0x0a]));
  assertEquals(drain(r), [line("N\uFFFD"), line("\uFEFFQ")]);
});

Deno.test("LineReader.maxLineLength can be raised for an AUTH exchange and must be sane", () => {
  const r = new LineReader({ maxLineLength: 512 });
  r.maxLineLength = 12288;
  r.push(bytes("A".repeat(8000) + "\r\n"));
  assertEquals(drain(r), [line("A".repeat(8000))]);
  assertThrows(() => (r.maxLineLength = 2), RangeError);
  assertThrows(() => new LineReader({ maxLineLength: 1.5 }), RangeError);
});

Deno.test("LineReader copies pushed chunks, so the caller may reuse its read buffer", () => {
  const r = new LineReader();
  const buf = bytes("NOOP\r\nQU");
  r.push(buf);
  buf.fill(0x58);
  r.push(bytes("IT\r\n"));
  assertEquals(drain(r), [line("NOOP"), line("QUIT")]);
});
