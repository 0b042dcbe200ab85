/**
 * @module
 * Token buckets keyed by string: failed-AUTH throttling (SMTP, IMAP), connection and message rate limits.
 * Each key has up to `capacity` tokens, refilled continuously at `refillPerSecond`; an action takes tokens or
 * is refused with the time until enough have refilled.
 *
 * Memory is bounded: a bucket that has refilled to full is the same as no bucket and is dropped when space is
 * needed, and at most `maxKeys` keys are kept (least recently used evicted first). State is per process
 * (DESIGN rule 2: only a cache): with several instances each limits on its own.
 */

/** Options for `TokenBuckets`. */
export interface TokenBucketOptions {
  /** Tokens in a full bucket: the burst allowed. */
  capacity: number;
  /** Tokens added per second (may be fractional, e.g. 1/60 for one per minute). */
  refillPerSecond: number;
  /** Most keys kept at once (default 100 000). */
  maxKeys?: number;
  /** Clock in milliseconds (default `performance.now`, monotonic); tests inject a fake one. */
  now?: () => number;
}

/** The answer of `take`. */
export interface TakeResult {
  /** The tokens were taken. */
  ok: boolean;
  /** Tokens left after this call. */
  remaining: number;
  /** When refused: milliseconds until the request could succeed (Infinity if it never can); else 0. */
  retryAfterMs: number;
}

interface Bucket {
  tokens: number;
  at: number;
}

/** A set of token buckets, one per key, bounded in memory. */
export class TokenBuckets {
  readonly capacity: number;
  readonly refillPerSecond: number;
  readonly #maxKeys: number;
  readonly #now: () => number;
  #buckets = new Map<string, Bucket>(); // insertion order = least recently used first

  constructor(options: TokenBucketOptions) {
    const { capacity, refillPerSecond, maxKeys = 100_000 } = options;
    if (!(capacity > 0) || !Number.isFinite(capacity)) throw new RangeError(`Invalid capacity ${capacity}`);
    if (!(refillPerSecond >= 0) || !Number.isFinite(refillPerSecond)) {
      throw new RangeError(`Invalid refillPerSecond ${refillPerSecond}`);
    }
    if (!Number.isInteger(maxKeys) || maxKeys < 1) throw new RangeError(`Invalid maxKeys ${maxKeys}`);
    this.capacity = capacity;
    this.refillPerSecond = refillPerSecond;
    this.#maxKeys = maxKeys;
    this.#now = options.now ?? (() => performance.now());
  }

  /** Number of keys held. */
  get size(): number {
    return this.#buckets.size;
  }

  /** Takes `n` tokens from `key`'s bucket if it has them; otherwise takes nothing and says when to retry. */
  take(key: string, n = 1, now: number = this.#now()): TakeResult {
    const tokens = this.#level(key, now);
    if (tokens >= n) {
      this.#store(key, tokens - n, now);
      return { ok: true, remaining: tokens - n, retryAfterMs: 0 };
    }
    if (tokens < this.capacity) this.#store(key, tokens, now); // keep the refill point; refresh recency
    return { ok: false, remaining: tokens, retryAfterMs: this.#wait(n - tokens, n) };
  }

  /** Tokens `key` has now, without taking any (a missing key has a full bucket). */
  peek(key: string, now: number = this.#now()): number {
    return this.#level(key, now);
  }

  /** Milliseconds until `key` has `n` tokens (0 if it has them now). */
  retryAfter(key: string, n = 1, now: number = this.#now()): number {
    const tokens = this.#level(key, now);
    return tokens >= n ? 0 : this.#wait(n - tokens, n);
  }

  /** Refills `key` completely (forgets it). */
  reset(key: string): void {
    this.#buckets.delete(key);
  }

  /** Drops every bucket that has refilled to full; returns how many. A server may call it periodically. */
  prune(now: number = this.#now()): number {
    let removed = 0;
    for (const [key, b] of this.#buckets) {
      if (this.#refilled(b, now) >= this.capacity) {
        this.#buckets.delete(key);
        removed++;
      }
    }
    return removed;
  }

  #refilled(b: Bucket, now: number): number {
    const elapsed = Math.max(0, now - b.at); // a clock going backwards refills nothing
    return Math.min(this.capacity, b.tokens + (elapsed * this.refillPerSecond) / 1000);
  }

  #level(key: string, now: number): number {
    const b = this.#buckets.get(key);
    return b ? this.#refilled(b, now) : this.capacity;
  }

  #wait(missing: number, n: number): number {
    if (n > this.capacity || this.refillPerSecond === 0) return Infinity;
    return Math.ceil((missing * 1000) / this.refillPerSecond);
  }

  #store(key: string, tokens: number, now: number): void {
    this.#buckets.delete(key); // re-insert: most recently used last
    if (tokens >= this.capacity) return; // full = absent
    if (this.#buckets.size >= this.#maxKeys) this.#evict(now);
    this.#buckets.set(key, { tokens, at: now });
  }

  // Make room for at least 10% of maxKeys so that eviction (O(n)) runs at most once per maxKeys/10 inserts:
  // first buckets that are full anyway, then the least recently used.
  #evict(now: number): void {
    const target = Math.min(this.#maxKeys - 1, Math.floor(this.#maxKeys * 0.9));
    this.prune(now);
    for (const key of this.#buckets.keys()) {
      if (this.#buckets.size <= target) break;
      this.#buckets.delete(key);
    }
  }
}

/**
 * The key under which to limit a client address: IPv4 as is (also when IPv4-mapped, `::ffff:192.0.2.1`),
 * IPv6 by its /64 prefix, since one host or customer usually holds a whole /64.
 */
export function clientKey(ip: string): string {
  const s = ip.trim().toLowerCase().replace(/^\[|\]$/g, "").replace(/%.*$/, "");
  const mapped = /^(?:0{0,4}:){0,5}:?ffff:(\d{1,3}(?:\.\d{1,3}){3})$/.exec(s);
  if (mapped) return mapped[1]!;
  if (!s.includes(":")) return s;
  const groups = expandIpv6(s);
  return groups ? `${groups.slice(0, 4).join(":")}::/64` : s;
}

function expandIpv6(s: string): string[] | undefined {
  let text = s;
  const v4 = /(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (v4) {
    const [a, b, c, d] = v4.slice(1).map(Number) as [number, number, number, number];
    text = text.slice(0, v4.index) + `${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const halves = text.split("::");
  if (halves.length > 2) return undefined;
  const head = halves[0] ? halves[0].split(":") : [];
  const tail = halves.length === 2 && halves[1] ? halves[1].split(":") : [];
  const fill = 8 - head.length - tail.length;
  if (halves.length === 1 ? fill !== 0 : fill < 1) return undefined;
  const all = [...head, ...Array<string>(halves.length === 2 ? fill : 0).fill("0"), ...tail];
  if (!all.every((g) => /^[0-9a-f]{1,4}$/.test(g))) return undefined;
  return all.map((g) => parseInt(g, 16).toString(16));
}
