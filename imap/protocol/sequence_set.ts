/**
 * @module
 * Sequence sets (RFC 9051 §9 `sequence-set`): `1:*,5,7:9`, and `$`, the result saved by `SEARCH RETURN (SAVE)`
 * (RFC 5182 §2). A set is kept as the ranges the client sent; `*` and `$` only get a meaning against a mailbox,
 * so every query takes `max` (the number of messages, or the highest UID) and the session substitutes `$`.
 *
 * Nothing here expands a range into an array: `1:4294967295` costs two numbers. `resolve` clamps to `1..max`
 * and merges, `select` intersects with a sorted UID list by binary search, and `values` iterates lazily.
 * `formatSequenceSet` is the other direction: a compact `1:3,7,9:12` for COPYUID, APPENDUID, VANISHED and
 * ESEARCH ALL.
 */

/** The largest message sequence number or UID (RFC 9051 §9: nz-number is a 32-bit unsigned integer). */
export const MAX_SEQUENCE_NUMBER = 4294967295;

/** One endpoint of a range: a number, or `*`, the largest number in use (RFC 9051 §9 `seq-number`). */
export type SeqNumber = number | "*";

/** One element of a set as sent: `5` is `{ from: 5, to: 5 }`; `7:*` and `*:7` are the same range. */
export interface SequenceRange {
  readonly from: SeqNumber;
  readonly to: SeqNumber;
}

const SEQ_CHARS = /^[0-9:,*$]+$/;

/** A parsed sequence set (message numbers or UIDs; the command says which). */
export class SequenceSet {
  /** The ranges as sent (not sorted, not merged; `$` is not among them). */
  readonly ranges: readonly SequenceRange[];
  /** The set includes `$` (RFC 5182): the session adds the saved search result. */
  readonly saved: boolean;

  private constructor(ranges: readonly SequenceRange[], saved: boolean) {
    this.ranges = ranges;
    this.saved = saved;
  }

  /** Parses `1:*,5,7:9` or `$` (RFC 9051 §9, RFC 5182 §2). Throws a SyntaxError naming the problem. */
  static parse(text: string): SequenceSet {
    if (!SEQ_CHARS.test(text)) throw new SyntaxError(`Cannot parse sequence set "${clip(text)}": invalid character`);
    const ranges: SequenceRange[] = [];
    let saved = false;
    for (const item of text.split(",")) {
      if (item === "$") {
        saved = true;
        continue;
      }
      const parts = item.split(":");
      if (parts.length > 2) throw new SyntaxError(`Cannot parse sequence set "${clip(text)}": "${clip(item)}"`);
      const from = seqNumber(parts[0]!, text);
      const to = parts.length === 2 ? seqNumber(parts[1]!, text) : from;
      ranges.push({ from, to });
    }
    return new SequenceSet(ranges, saved);
  }

  /** A set of the given ranges (e.g. a saved search result turned into a set). */
  static of(ranges: Iterable<readonly [number, number]>, saved = false): SequenceSet {
    const list: SequenceRange[] = [];
    for (const [a, b] of ranges) list.push({ from: check(a), to: check(b) });
    return new SequenceSet(list, saved);
  }

  /** True when the set names `*` anywhere (then its meaning depends on the mailbox). */
  get hasStar(): boolean {
    return this.ranges.some((r) => r.from === "*" || r.to === "*");
  }

  /** The largest number written explicitly (ignoring `*` and `$`), or 0: compare with EXISTS to refuse bad numbers. */
  get highestExplicit(): number {
    let m = 0;
    for (const r of this.ranges) {
      if (r.from !== "*" && r.from > m) m = r.from;
      if (r.to !== "*" && r.to > m) m = r.to;
    }
    return m;
  }

  /**
   * The set as sorted, merged, inclusive intervals within `1..max`, with `*` meaning `max` (RFC 9051 §9: `5:*`
   * with max 3 is `3:5`, so it still names 3). `$` is not included: the session adds the saved result.
   */
  resolve(max: number): Array<[number, number]> {
    const list: Array<[number, number]> = [];
    for (const r of this.ranges) {
      let a = r.from === "*" ? max : r.from;
      let b = r.to === "*" ? max : r.to;
      if (a > b) [a, b] = [b, a];
      if (a < 1) a = 1;
      if (b > max) b = max;
      if (a <= b) list.push([a, b]);
    }
    list.sort((x, y) => x[0] - y[0]);
    const out: Array<[number, number]> = [];
    for (const iv of list) {
      const last = out[out.length - 1];
      if (last && iv[0] <= last[1] + 1) {
        if (iv[1] > last[1]) last[1] = iv[1];
      } else out.push([iv[0], iv[1]]);
    }
    return out;
  }

  /** True when `n` is in the set, `*` meaning `max` (`$` not considered). */
  contains(n: number, max: number): boolean {
    for (const r of this.ranges) {
      let a = r.from === "*" ? max : r.from;
      let b = r.to === "*" ? max : r.to;
      if (a > b) [a, b] = [b, a];
      if (n >= a && n <= b && n >= 1 && n <= max) return true;
    }
    return false;
  }

  /** Every number of the set within `1..max`, ascending, lazily. */
  *values(max: number): Generator<number> {
    for (const [a, b] of this.resolve(max)) for (let n = a; n <= b; n++) yield n;
  }

  /** How many numbers of `1..max` the set names (without expanding it). */
  count(max: number): number {
    let n = 0;
    for (const [a, b] of this.resolve(max)) n += b - a + 1;
    return n;
  }

  /**
   * The members of `sorted` (ascending, e.g. the UIDs of a mailbox) that the set names; `*` is `max`, by default
   * the last element (RFC 9051 §6.4.9: `*` is the highest UID in use). Costs O(ranges · log n + result).
   */
  select(sorted: ArrayLike<number>, max: number = sorted.length ? sorted[sorted.length - 1]! : 0): number[] {
    const out: number[] = [];
    for (const [a, b] of this.resolve(max)) {
      let lo = 0;
      let hi = sorted.length;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (sorted[mid]! < a) lo = mid + 1;
        else hi = mid;
      }
      for (let i = lo; i < sorted.length && sorted[i]! <= b; i++) out.push(sorted[i]!);
    }
    return out;
  }

  /** The set in wire form, as sent (ranges in their order, `$` last). */
  toString(): string {
    const items = this.ranges.map((r) => (r.from === r.to ? String(r.from) : `${r.from}:${r.to}`));
    if (this.saved) items.push("$");
    return items.join(",");
  }
}

function seqNumber(s: string, text: string): SeqNumber {
  if (s === "*") return "*";
  // RFC 9051 §9: nz-number = digit-nz *DIGIT (no leading zero, no zero).
  if (!/^[1-9][0-9]{0,9}$/.test(s)) {
    throw new SyntaxError(
      `Cannot parse sequence set "${clip(text)}": "${clip(s)}" is not a number from 1 to 4294967295`,
    );
  }
  const n = Number(s);
  if (n > MAX_SEQUENCE_NUMBER) {
    throw new SyntaxError(`Cannot parse sequence set "${clip(text)}": ${s} is larger than 4294967295`);
  }
  return n;
}

function check(n: number): number {
  if (!Number.isInteger(n) || n < 1 || n > MAX_SEQUENCE_NUMBER) throw new RangeError(`Invalid sequence number ${n}`);
  return n;
}

function clip(s: string): string {
  return s.length > 40 ? `${s.slice(0, 40)}…` : s;
}

/**
 * A compact wire form of a list of numbers: runs of consecutive ascending numbers become `a:b` (`1,2,3,7` →
 * `1:3,7`). Give it sorted UIDs for VANISHED/ESEARCH ALL; for COPYUID give source and destination UIDs in
 * matching order (RFC 4315 §3), and each is compressed without reordering. Returns "" for an empty list.
 */
export function formatSequenceSet(values: Iterable<number>): string {
  const out: string[] = [];
  let start = -1;
  let prev = -1;
  for (const v of values) {
    if (start >= 0 && v === prev + 1) {
      prev = v;
      continue;
    }
    if (start >= 0) out.push(start === prev ? String(start) : `${start}:${prev}`);
    start = prev = v;
  }
  if (start >= 0) out.push(start === prev ? String(start) : `${start}:${prev}`);
  return out.join(",");
}
