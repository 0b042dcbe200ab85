import { deepEqual as assertEquals, throws as assertThrows } from "node:assert/strict";
import { type BdatChunkResult, BdatReader, DataReader, type DataResult } from "./data_reader.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();
const bytes = (s: string) => enc.encode(s);

interface Run {
  data: string;
  result: DataResult;
  rest: string;
}

/** Feeds `input` split at the given offsets; expects the result on the last chunk exactly. */
function run(input: string | Uint8Array, splits: number[] = [], options: { maxSize?: number } = {}): Run {
  const all = typeof input === "string" ? bytes(input) : input;
  const parts: Uint8Array[] = [];
  const r = new DataReader({ maxSize: options.maxSize ?? 1 << 30, onData: (c) => parts.push(c.slice()) });
  let result: DataResult | null = null;
  let at = 0;
  for (const end of [...splits, all.length]) {
    if (result) throw new Error("result before the last chunk");
    result = r.push(all.subarray(at, end));
    at = end;
  }
  if (!result) throw new Error("no result");
  const joined = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) joined.set(p, (o += p.length) - p.length);
  return { data: dec.decode(joined), result, rest: dec.decode(result.rest) };
}

Deno.test("DataReader returns the message up to and including the last CRLF, and what follows", () => {
  const { data, result, rest } = run("Subject: hi\r\n\r\nhello\r\n.\r\nQUIT\r\n");
  assertEquals(data, "Subject: hi\r\n\r\nhello\r\n");
  assertEquals([result.error, result.size, result.lineTooLong], [null, 22, false]);
  assertEquals(rest, "QUIT\r\n");
});

Deno.test("DataReader accepts an empty message", () => {
  const { data, result, rest } = run(".\r\n");
  assertEquals([data, result.error, result.size, rest], ["", null, 0, ""]);
});

Deno.test("DataReader removes dot-stuffing (RFC 5321 §4.5.2)", () => {
  assertEquals(run("..leading\r\n.\r\n").data, ".leading\r\n");
  assertEquals(run("a\r\n...\r\n..\r\n.x\r\n.\r\n").data, "a\r\n..\r\n.\r\nx\r\n");
  assertEquals(run("a.\r\n.b.\r\n. \r\n.\r\n").data, "a.\r\nb.\r\n \r\n");
});

Deno.test("DataReader finds the terminator split at every byte offset", () => {
  const input = "From: a@b.example\r\n\r\n..dots\r\nend\r\n.\r\nNOOP\r\n";
  const expected = "From: a@b.example\r\n\r\n.dots\r\nend\r\n";
  const end = input.indexOf("\r\n.\r\n") + 5;
  for (let i = 0; i < end; i++) {
    const { data, result, rest } = run(input.slice(0, end), [i]);
    assertEquals([data, result.error], [expected, null], `split at ${i}`);
    assertEquals(rest, "");
  }
  for (let i = 0; i < end; i++) {
    for (let j = i; j < end; j++) assertEquals(run(input.slice(0, end), [i, j]).data, expected, `split at ${i}, ${j}`);
  }
  // One byte at a time, with pipelined bytes after the terminator in the last chunk.
  const splits = Array.from({ length: end - 1 }, (_, k) => k + 1);
  const byByte = run(input, splits);
  assertEquals([byByte.data, byByte.rest], [expected, "NOOP\r\n"]);
});

// SEC Consult, "SMTP Smuggling" (2023): end-of-data sequences that some servers accept.
const SMUGGLING = ["\n.\n", "\r.\r", "\r\n.\r", "\n.\r\n", "\r.\r\n", "\r\n.\n", "\n.\r", "\r\n.\r\r\n"];

Deno.test("DataReader never ends on a smuggling sequence and refuses the message", async (t) => {
  for (const seq of SMUGGLING) {
    await t.step(JSON.stringify(seq), () => {
      const smuggled =
        "MAIL FROM:<admin@bank.example>\r\nRCPT TO:<victim@example.org>\r\nDATA\r\nFrom: admin@bank.example\r\n";
      const input = `From: a@b.example\r\n\r\nhello${seq}${smuggled}\r\n.\r\nQUIT\r\n`;
      for (const split of [0, 20, input.indexOf(seq) + 1, input.indexOf(seq) + 2, input.length - 8]) {
        const { result, rest } = run(input, split ? [split] : []);
        assertEquals(
          result.error === "bare-lf" || result.error === "bare-cr",
          true,
          `${JSON.stringify(seq)} @${split}`,
        );
        assertEquals(rest, "QUIT\r\n"); // the smuggled commands stayed inside the (refused) message
      }
    });
  }
});

Deno.test("DataReader reports bare LF and bare CR anywhere in the content", () => {
  assertEquals(run("a\nb\r\n.\r\n").result.error, "bare-lf");
  assertEquals(run("a\rb\r\n.\r\n").result.error, "bare-cr");
  assertEquals(run("a\r\r\n.\r\n").result.error, "bare-cr");
  assertEquals(run("\n.\r\n.\r\n").result.error, "bare-lf");
  assertEquals(run("a\r\n\n\r\n.\r\n").result.error, "bare-lf");
  assertEquals(run("ok\r\n\r\n.\r\n").result.error, null);
});

Deno.test("DataReader stops feeding the sink after a bare line ending but stays in sync", () => {
  const chunks: Uint8Array[] = [];
  const r = new DataReader({ maxSize: 1000, onData: (c) => chunks.push(c) });
  assertEquals(r.push(bytes("good line\r\n")), null);
  const seen = chunks.length;
  assertEquals(r.push(bytes("bad\nline\r\nmore\r\n")), null);
  const result = r.push(bytes(".\r\nRSET\r\n"));
  assertEquals(chunks.length, seen);
  assertEquals([result?.error, dec.decode(result?.rest)], ["bare-lf", "RSET\r\n"]);
});

Deno.test("DataReader accepts a message of exactly maxSize and refuses one octet more", () => {
  const body = "x".repeat(98) + "\r\n"; // 100 octets
  const at = run(body + ".\r\n", [], { maxSize: 100 });
  assertEquals([at.result.error, at.result.size, at.data.length], [null, 100, 100]);
  const over = run("y" + body + ".\r\nQUIT\r\n", [50], { maxSize: 100 });
  assertEquals([over.result.error, over.result.size, over.rest], ["too-big", 101, "QUIT\r\n"]);
});

Deno.test("DataReader keeps memory constant past maxSize while scanning for the terminator", () => {
  let kept = 0;
  const r = new DataReader({ maxSize: 1000, onData: (c) => (kept += c.length) });
  const line = bytes("z".repeat(78) + "\r\n");
  const chunk = new Uint8Array(line.length * 100);
  for (let i = 0; i < 100; i++) chunk.set(line, i * line.length);
  for (let i = 0; i < 100; i++) assertEquals(r.push(chunk), null);
  const result = r.push(bytes(".\r\n"));
  assertEquals([result?.error, result?.size], ["too-big", 800_000]);
  assertEquals(kept <= 1000, true);
});

Deno.test("DataReader flags lines over 998 octets (RFC 5322 §2.1.1), counted after unstuffing", () => {
  assertEquals(run("a".repeat(998) + "\r\n.\r\n").result.lineTooLong, false);
  assertEquals(run("." + ".".repeat(998) + "\r\n.\r\n").result.lineTooLong, false);
  assertEquals(run("a".repeat(999) + "\r\n.\r\n").result.lineTooLong, true);
  const r = new DataReader({ maxSize: 100, maxLineLength: 10, onData: () => {} });
  assertEquals(r.push(bytes("0123456789\r\n01234567890\r\n.\r\n"))?.lineTooLong, true);
});

Deno.test("DataReader streams a 1 MB line quickly and keeps it intact", () => {
  const big = "b".repeat(1 << 20);
  const splits = [1000, 65536, 500_000, 1_000_000];
  const t0 = performance.now();
  const { data, result } = run(big + "\r\n.\r\n", splits);
  assertEquals([data.length, result.error, result.lineTooLong], [big.length + 2, null, true]);
  assertEquals(performance.now() - t0 < 1000, true);
});

Deno.test("DataReader round-trips random dot-stuffed messages in random chunks", () => {
  let seed = 42;
  const rand = (n: number) => (seed = (seed * 1103515245 + 12345) % 2147483648) % n;
  const alphabet = [".", ".", "a", " ", "\u00e9"];
  for (let round = 0; round < 200; round++) {
    const lines = Array.from(
      { length: rand(8) },
      () => Array.from({ length: rand(6) }, () => alphabet[rand(5)]).join(""),
    );
    const message = lines.map((l) => l + "\r\n").join("");
    const wire = lines.map((l) => (l.startsWith(".") ? "." : "") + l + "\r\n").join("") + ".\r\nNEXT";
    const all = bytes(wire);
    const splits = [...new Set(Array.from({ length: rand(5) }, () => rand(all.length - 4)))].sort((a, b) => a - b);
    const { data, result, rest } = run(all, splits);
    assertEquals([data, result.error, rest], [message, null, "NEXT"], JSON.stringify(wire));
  }
});

Deno.test("DataReader.push() after the end is an error", () => {
  const r = new DataReader({ maxSize: 10, onData: () => {} });
  r.push(bytes(".\r\n"));
  assertThrows(() => r.push(bytes("x")), Error);
});

function bdat(
  chunks: [size: number, last: boolean, ...pushes: string[]][],
  options: { maxSize?: number; rejectBareLineEndings?: boolean } = {},
): { data: string; results: BdatChunkResult[] } {
  let data = "";
  const r = new BdatReader({
    maxSize: options.maxSize ?? 1000,
    rejectBareLineEndings: options.rejectBareLineEndings ?? false,
    onData: (c) => (data += dec.decode(c)),
  });
  const results: BdatChunkResult[] = [];
  for (const [size, last, ...pushes] of chunks) {
    r.startChunk(size, last);
    for (const p of pushes) {
      const res = r.push(bytes(p));
      if (res) results.push(res);
    }
  }
  return { data, results };
}

Deno.test("BdatReader reads exact octet counts without unstuffing and hands back the rest", () => {
  const { data, results } = bdat([[7, false, "Hi\r\n.\r", "\nBDAT"], [5, true, "\n.\n\r.QUIT\r\n"]]);
  assertEquals(data, "Hi\r\n.\r\n\n.\n\r.");
  assertEquals(results.map((r) => [r.last, r.error, r.size, dec.decode(r.rest)]), [
    [false, null, 7, "BDAT"],
    [true, null, 12, "QUIT\r\n"],
  ]);
});

Deno.test("BdatReader handles BDAT 0 LAST and chunks spread over many reads", () => {
  assertEquals(bdat([[0, true, ""]]).results[0]?.last, true);
  const { data, results } = bdat([[6, true, "ab", "", "cd", "efNOOP"]]);
  assertEquals([data, results.length, dec.decode(results[0]?.rest)], ["abcdef", 1, "NOOP"]);
});

Deno.test("BdatReader enforces the size over all chunks", () => {
  const { results } = bdat([[6, false, "123456"], [5, true, "78901"]], { maxSize: 10 });
  assertEquals(results.map((r) => r.error), [null, "too-big"]);
  assertEquals(bdat([[5, false, "12345"], [5, true, "67890"]], { maxSize: 10 }).results[1]?.error, null);
});

Deno.test("BdatReader is binary-safe by default and can refuse bare line endings", () => {
  assertEquals(bdat([[4, true, "a\nb\r"]]).results[0]?.error, null);
  assertEquals(bdat([[4, true, "a\nb\r"]], { rejectBareLineEndings: true }).results[0]?.error, "bare-lf");
  assertEquals(bdat([[3, true, "a\rb"]], { rejectBareLineEndings: true }).results[0]?.error, "bare-cr");
  // A CRLF split across chunks is fine; a CR ending the message is not.
  assertEquals(bdat([[2, false, "a\r"], [2, true, "\nb"]], { rejectBareLineEndings: true }).results[1]?.error, null);
  assertEquals(bdat([[2, true, "a\r"]], { rejectBareLineEndings: true }).results[0]?.error, "bare-cr");
});

Deno.test("BdatReader refuses misuse", () => {
  const r = new BdatReader({ maxSize: 10, onData: () => {} });
  assertThrows(() => r.push(bytes("x")), Error);
  assertThrows(() => r.startChunk(-1, false), RangeError);
  r.startChunk(1, true);
  assertThrows(() => r.startChunk(1, true), Error);
  r.push(bytes("x"));
  assertThrows(() => r.startChunk(1, true), Error);
});
