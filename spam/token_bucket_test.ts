import { deepEqual as assertEquals, throws as assertThrows } from "node:assert/strict";
import { clientKey, TokenBuckets } from "./token_bucket.ts";

function clock(start = 1_000_000) {
  const c = { t: start, now: () => c.t };
  return c;
}

Deno.test("TokenBuckets allows a burst of `capacity`, then refuses with the time to wait", () => {
  const c = clock();
  const b = new TokenBuckets({ capacity: 3, refillPerSecond: 1, now: c.now });
  assertEquals([b.take("k").ok, b.take("k").ok, b.take("k").ok], [true, true, true]);
  assertEquals(b.take("k"), { ok: false, remaining: 0, retryAfterMs: 1000 });
  c.t += 400;
  assertEquals(b.take("k").retryAfterMs, 600);
  c.t += 600;
  assertEquals(b.take("k").ok, true);
  assertEquals(b.take("other").ok, true); // keys are independent
});

Deno.test("TokenBuckets refills continuously up to capacity only", () => {
  const c = clock();
  const b = new TokenBuckets({ capacity: 10, refillPerSecond: 1 / 60, now: c.now });
  for (let i = 0; i < 10; i++) b.take("ip");
  assertEquals(b.peek("ip"), 0);
  c.t += 90_000;
  assertEquals(b.peek("ip"), 1.5);
  c.t += 10 * 3600_000;
  assertEquals(b.peek("ip"), 10);
  assertEquals(b.take("ip", 4), { ok: true, remaining: 6, retryAfterMs: 0 });
});

Deno.test("TokenBuckets.take() with n tokens, n = 0, and n above capacity", () => {
  const c = clock();
  const b = new TokenBuckets({ capacity: 5, refillPerSecond: 2, now: c.now });
  assertEquals(b.take("k", 0).ok, true);
  assertEquals(b.take("k", 4).ok, true);
  assertEquals(b.take("k", 3), { ok: false, remaining: 1, retryAfterMs: 1000 }); // refused: nothing taken
  assertEquals(b.peek("k"), 1);
  assertEquals(b.take("k", 6).retryAfterMs, Infinity);
  assertEquals(b.retryAfter("k", 2), 500);
  // An explicit `now` overrides the clock.
  assertEquals(b.take("k", 5, c.t + 2000).ok, true);
});

Deno.test("TokenBuckets.reset() refills a key; a clock going backwards refills nothing", () => {
  const c = clock();
  const b = new TokenBuckets({ capacity: 2, refillPerSecond: 1, now: c.now });
  b.take("k", 2);
  c.t -= 5000;
  assertEquals(b.peek("k"), 0);
  b.reset("k");
  assertEquals(b.peek("k"), 2);
  assertEquals(b.size, 0);
});

Deno.test("TokenBuckets forgets full buckets and never holds more than maxKeys", () => {
  const c = clock();
  const b = new TokenBuckets({ capacity: 2, refillPerSecond: 1, maxKeys: 100, now: c.now });
  for (let i = 0; i < 100; i++) b.take(`old${i}`);
  c.t += 5000; // all old buckets are full again
  assertEquals(b.prune(), 100);
  for (let i = 0; i < 100; i++) b.take(`old${i}`);
  c.t += 5000;
  for (let i = 0; i < 1000; i++) {
    b.take(`new${i}`);
    assertEquals(b.size <= 100, true);
  }
  // Least recently used go first: a key in constant use survives the churn.
  const d = clock();
  const lru = new TokenBuckets({ capacity: 1000, refillPerSecond: 0, maxKeys: 10, now: d.now });
  for (let i = 0; i < 200; i++) {
    lru.take("hot");
    lru.take(`cold${i}`);
  }
  assertEquals(lru.peek("hot"), 800);
  assertEquals(lru.size <= 10, true);
});

Deno.test("TokenBuckets validates its options", () => {
  assertThrows(() => new TokenBuckets({ capacity: 0, refillPerSecond: 1 }), RangeError);
  assertThrows(() => new TokenBuckets({ capacity: 1, refillPerSecond: -1 }), RangeError);
  assertThrows(() => new TokenBuckets({ capacity: 1, refillPerSecond: 1, maxKeys: 0 }), RangeError);
});

Deno.test("clientKey() keys IPv4 by address and IPv6 by /64", () => {
  assertEquals(clientKey("192.0.2.7"), "192.0.2.7");
  assertEquals(clientKey("::ffff:192.0.2.7"), "192.0.2.7");
  assertEquals(clientKey("::FFFF:192.0.2.7"), "192.0.2.7");
  assertEquals(clientKey("2001:db8:1:2:3:4:5:6"), "2001:db8:1:2::/64");
  assertEquals(clientKey("2001:DB8:1:2::99"), "2001:db8:1:2::/64");
  assertEquals(clientKey("[2001:db8:0001:0002::1]"), "2001:db8:1:2::/64");
  assertEquals(clientKey("fe80::1%eth0"), "fe80:0:0:0::/64");
  assertEquals(clientKey("::1"), "0:0:0:0::/64");
  assertEquals(clientKey("64:ff9b::192.0.2.1"), "64:ff9b:0:0::/64");
  assertEquals(clientKey("2001:db8:1:2:3:4:5:6") === clientKey("2001:db8:1:2:ffff::1"), true);
  assertEquals(clientKey("2001:db8:1:3::1") === clientKey("2001:db8:1:2::1"), false);
});
