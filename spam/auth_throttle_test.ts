import { deepEqual as assertEquals } from "node:assert/strict";
import { AuthThrottle } from "./auth_throttle.ts";

function setup(options: ConstructorParameters<typeof AuthThrottle>[0] = {}) {
  const c = { t: 5_000_000 };
  const throttle = new AuthThrottle({ ...options, now: () => c.t });
  return { c, throttle };
}

Deno.test("AuthThrottle delays failures from one client: 0, 0, 1 s, 2 s, 4 s … capped, then locks it out", () => {
  const { throttle } = setup({ perClient: { capacity: 10, refillPerSecond: 1 / 60 }, maxDelayMs: 16_000 });
  const delays: number[] = [];
  const locked: boolean[] = [];
  for (let i = 0; i < 10; i++) {
    assertEquals(throttle.check("198.51.100.9", `user${i}@example.org`), { allowed: true });
    const f = throttle.failure("198.51.100.9", `user${i}@example.org`);
    delays.push(f.delayMs);
    locked.push(f.lockedOut);
  }
  assertEquals(delays, [0, 0, 1000, 2000, 4000, 8000, 16000, 16000, 16000, 16000]);
  assertEquals(locked, [false, false, false, false, false, false, false, false, false, true]);
  assertEquals(throttle.check("198.51.100.9", "anyone@example.org"), {
    allowed: false,
    reason: "ip",
    retryAfterMs: 60_000,
  });
  // Another client is not affected.
  assertEquals(throttle.check("198.51.100.10", "anyone@example.org"), { allowed: true });
});

Deno.test("AuthThrottle lets a locked-out client try again after refill, one attempt at a time", () => {
  const { c, throttle } = setup();
  for (let i = 0; i < 10; i++) throttle.failure("198.51.100.9");
  assertEquals(throttle.check("198.51.100.9").allowed, false);
  c.t += 30_000;
  assertEquals(throttle.check("198.51.100.9"), { allowed: false, reason: "ip", retryAfterMs: 30_000 });
  c.t += 30_000;
  assertEquals(throttle.check("198.51.100.9").allowed, true);
  assertEquals(throttle.failure("198.51.100.9").lockedOut, true);
});

Deno.test("AuthThrottle counts an IPv6 /64 as one client", () => {
  const { throttle } = setup({ perClient: { capacity: 3, refillPerSecond: 0.001 } });
  throttle.failure("2001:db8:1:2::1");
  throttle.failure("2001:db8:1:2::2");
  assertEquals(throttle.failure("2001:db8:1:2:ffff::3").lockedOut, true);
  assertEquals(throttle.check("2001:db8:1:2::99").allowed, false);
  assertEquals(throttle.check("2001:db8:1:3::1").allowed, true);
});

Deno.test("AuthThrottle: a successful login resets the client's counter", () => {
  const { throttle } = setup();
  for (let i = 0; i < 5; i++) throttle.failure("192.0.2.1", "bob@example.org");
  throttle.success("192.0.2.1", "bob@example.org");
  assertEquals(throttle.failure("192.0.2.1", "bob@example.org").delayMs, 0);
});

Deno.test("AuthThrottle: brute force from one IP never locks the owner out from another", () => {
  const { throttle } = setup();
  for (let i = 0; i < 10; i++) throttle.failure("203.0.113.66", "alice@example.org");
  assertEquals(throttle.check("203.0.113.66", "alice@example.org").allowed, false);
  assertEquals(throttle.check("192.0.2.10", "alice@example.org"), { allowed: true });
  throttle.success("192.0.2.10", "alice@example.org");
});

Deno.test("AuthThrottle: a distributed attack gets one guess per address; the owner still logs in", () => {
  const { c, throttle } = setup({ perAccount: { capacity: 20, refillPerSecond: 1 / 30 }, underAttackDelayMs: 2000 });
  // The owner logged in from home last week.
  throttle.success("192.0.2.10", "alice@example.org");
  c.t += 7 * 24 * 3600_000;
  // 30 bots, one guess each: the account runs dry and is under attack.
  for (let i = 0; i < 30; i++) {
    const bot = `203.0.113.${i}`;
    assertEquals(throttle.check(bot, "alice@example.org").allowed, true, bot);
    throttle.failure(bot, "alice@example.org");
  }
  // Each bot has a failure on record: no second guess at alice while the attack lasts.
  assertEquals(throttle.check("203.0.113.1", "alice@example.org"), {
    allowed: false,
    reason: "account",
    retryAfterMs: 60_000,
  });
  // …though other accounts are only limited per client.
  assertEquals(throttle.check("203.0.113.1", "bob@example.org").allowed, true);
  // A new (clean) bot gets one guess, answered slowly.
  assertEquals(throttle.check("198.51.100.200", "alice@example.org").allowed, true);
  assertEquals(throttle.failure("198.51.100.200", "alice@example.org").delayMs, 2000);
  // The owner, on a clean address, is allowed.
  assertEquals(throttle.check("198.51.100.77", "ALICE@example.org").allowed, true);
  // The owner at home mistypes once: the address is known good for alice, so the next try is allowed.
  throttle.failure("192.0.2.10", "alice@example.org");
  assertEquals(throttle.check("192.0.2.10", "alice@example.org").allowed, true);
  throttle.success("192.0.2.10", "alice@example.org");
  // A minute later the bots are clean again and the account has refilled a little: one more guess each.
  c.t += 60_000;
  assertEquals(throttle.check("203.0.113.1", "alice@example.org").allowed, true);
});

Deno.test("AuthThrottle: known-good addresses expire", () => {
  const { c, throttle } = setup({ knownGoodTtlMs: 1000, perAccount: { capacity: 1, refillPerSecond: 0.0001 } });
  throttle.success("192.0.2.10", "alice@example.org");
  throttle.failure("203.0.113.1", "alice@example.org"); // account under attack
  throttle.failure("192.0.2.10", "alice@example.org"); // home address now has a failure
  assertEquals(throttle.check("192.0.2.10", "alice@example.org").allowed, true);
  c.t += 2000;
  assertEquals(throttle.check("192.0.2.10", "alice@example.org").allowed, false);
});

Deno.test("AuthThrottle: every delay is bounded", () => {
  const { throttle } = setup({
    perClient: { capacity: 100, refillPerSecond: 1 },
    perAccount: { capacity: 1, refillPerSecond: 0.0001 },
    maxDelayMs: 5000,
    underAttackDelayMs: 60_000,
  });
  for (let i = 0; i < 50; i++) {
    const { delayMs } = throttle.failure("192.0.2.1", "carol@example.org");
    assertEquals(delayMs <= 5000, true);
  }
});
