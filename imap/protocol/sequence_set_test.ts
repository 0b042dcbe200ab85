import { deepEqual as assertEquals, ok as assert, throws as assertThrows } from "node:assert/strict";
import { formatSequenceSet, SequenceSet } from "./sequence_set.ts";

// [wire form, ranges as [from, to], saved]
const VALID: [string, [number | "*", number | "*"][], boolean][] = [
  ["1", [[1, 1]], false],
  ["*", [["*", "*"]], false],
  ["1:*", [[1, "*"]], false],
  ["*:5", [["*", 5]], false],
  ["5:2", [[5, 2]], false],
  ["1:3,7,9:12", [[1, 3], [7, 7], [9, 12]], false],
  ["$", [], true],
  ["1:*,5,7:9,$", [[1, "*"], [5, 5], [7, 9]], true],
  ["4294967295", [[4294967295, 4294967295]], false],
  ["1:4294967295", [[1, 4294967295]], false],
];

Deno.test("SequenceSet.parse() reads valid sets", async (t) => {
  for (const [text, ranges, saved] of VALID) {
    await t.step(text, () => {
      const set = SequenceSet.parse(text);
      assertEquals(set.ranges.map((r) => [r.from, r.to]), ranges);
      assertEquals(set.saved, saved);
      assertEquals(set.toString(), text);
    });
  }
});

const INVALID = [
  "",
  "0",
  "1:0",
  "0:5",
  "01",
  "1::2",
  "1,",
  ",1",
  "a",
  "4294967296",
  "99999999999",
  "1:2:3",
  "-1",
  " 1",
  "1 ",
  "**",
  "1:$",
];

Deno.test("SequenceSet.parse() refuses malformed sets", async (t) => {
  for (const text of INVALID) {
    await t.step(JSON.stringify(text), () => assertThrows(() => SequenceSet.parse(text), SyntaxError));
  }
});

// [set, max, resolved intervals]
const RESOLVE: [string, number, [number, number][]][] = [
  ["1:*", 10, [[1, 10]]],
  ["*", 10, [[10, 10]]],
  ["5:*", 3, [[3, 3]]], // RFC 9051 §9: 5:* with 3 messages includes 3
  ["*:2", 5, [[2, 5]]],
  ["3,1,2,7:9,8", 100, [[1, 3], [7, 9]]],
  ["1:4294967295", 5, [[1, 5]]],
  ["6:9", 5, []],
  ["1:*", 0, []],
  ["2,4,6", 5, [[2, 2], [4, 4]]],
  ["10:1,5", 20, [[1, 10]]],
];

Deno.test("SequenceSet.resolve() sorts, merges and clamps without expanding", async (t) => {
  for (const [text, max, out] of RESOLVE) {
    await t.step(`${text} / ${max}`, () => assertEquals(SequenceSet.parse(text).resolve(max), out));
  }
});

Deno.test("SequenceSet.contains(), count() and values() stay cheap on huge ranges", () => {
  const all = SequenceSet.parse("1:4294967295");
  assert(all.contains(4294967295, 4294967295));
  assert(!all.contains(11, 10));
  assert(!all.contains(0, 10));
  assertEquals(all.count(4294967295), 4294967295);
  assertEquals([...SequenceSet.parse("2:4,9").values(100)], [2, 3, 4, 9]);
  const star = SequenceSet.parse("5:*");
  assert(star.contains(3, 3));
  assert(!star.contains(2, 3));
  assert(star.hasStar);
  assertEquals(SequenceSet.parse("3:7,12").highestExplicit, 12);
  assertEquals(SequenceSet.parse("*").highestExplicit, 0);
});

Deno.test("SequenceSet.select() intersects with a sorted UID list", () => {
  const uids = [3, 5, 8, 13, 21, 34, 55, 4000000000];
  assertEquals(SequenceSet.parse("1:*").select(uids), uids);
  assertEquals(SequenceSet.parse("4:21").select(uids), [5, 8, 13, 21]);
  assertEquals(SequenceSet.parse("*").select(uids), [4000000000]);
  assertEquals(SequenceSet.parse("100:*,1:3").select(uids), [3, 4000000000]);
  assertEquals(SequenceSet.parse("6,7").select(uids), []);
  assertEquals(SequenceSet.parse("1:*").select([]), []);
  // RFC 9051 §6.4.9: UID 60:* with highest UID 55 still names 55.
  assertEquals(SequenceSet.parse("60:*").select([3, 55]), [55]);
});

Deno.test("SequenceSet.of() builds a set from intervals", () => {
  const set = SequenceSet.of([[1, 3], [7, 7]]);
  assertEquals(set.toString(), "1:3,7");
  assertThrows(() => SequenceSet.of([[0, 1]]), RangeError);
});

Deno.test("formatSequenceSet() compresses runs", () => {
  assertEquals(formatSequenceSet([1, 2, 3, 7, 9, 10, 11, 12]), "1:3,7,9:12");
  assertEquals(formatSequenceSet([]), "");
  assertEquals(formatSequenceSet([5]), "5");
  assertEquals(formatSequenceSet([4294967294, 4294967295]), "4294967294:4294967295");
  // COPYUID: order is kept so that source and destination sets correspond (RFC 4315 §3).
  assertEquals(formatSequenceSet([3, 1, 2]), "3,1:2");
  assertEquals(SequenceSet.parse(formatSequenceSet([1, 2, 4])).resolve(10), [[1, 2], [4, 4]]);
});
