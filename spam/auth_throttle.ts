/**
 * @module
 * Brute-force protection for password logins (SMTP AUTH now, IMAP LOGIN/AUTHENTICATE later), built on
 * `TokenBuckets`. Two counters, with different powers:
 *
 * - **Per client** (IPv4 address or IPv6 /64): every failure takes a token. Failures beyond `freeFailures` are
 *   answered after a growing delay (1 s, 2 s, 4 s, … up to `maxDelayMs`); when the bucket is empty the client
 *   is locked out (`check` refuses with reason "ip") until it refills. A successful login resets it.
 * - **Per account**, from all clients together: it never locks the account. When it runs dry the account is
 *   "under attack", and then (1) failures for it get at least `underAttackDelayMs` of delay, and (2) only *clean*
 *   clients may try it: a client with no unexpired failure, or one that logged in to this account before
 *   (known good, kept `knownGoodTtlMs`). So each attacking address gets one guess per refill period instead
 *   of a burst, while the owner on a clean address, or on their usual one, still gets in.
 *
 * Session use: decode the credentials, then `check(ip, username)`; refused → `454 4.7.0` (AUTH_THROTTLED)
 * without verifying the password (a locked client must not be able to test passwords). Verify; on success
 * `success(ip, username)`; on failure `failure(ip, username)`, wait `delayMs`, then reply `535 5.7.8`, or
 * `421 4.7.0` (AUTH_LOCKED_OUT) and close when `lockedOut`. Record the failure *before* waiting, so that a
 * client hanging up early is still counted.
 */
import { clientKey, TokenBuckets } from "./token_bucket.ts";

/** Capacity and refill of one kind of bucket. */
export interface BucketShape {
  /** Failures allowed in a burst. */
  capacity: number;
  /** Failures forgiven per second. */
  refillPerSecond: number;
}

/** Options for `AuthThrottle`; every field has a default. */
export interface AuthThrottleOptions {
  /** Per client address: default 10 failures, one forgiven per minute. */
  perClient?: BucketShape;
  /** Per account, all clients together: default 20 failures, one forgiven every 30 s. */
  perAccount?: BucketShape;
  /** Failures per client answered without delay (default 2). */
  freeFailures?: number;
  /** Delay of the first delayed failure; it doubles each time (default 1000 ms). */
  baseDelayMs?: number;
  /** Upper bound of every delay (default 16 000 ms). */
  maxDelayMs?: number;
  /** Least delay of a failure for an account under attack (default 2000 ms). */
  underAttackDelayMs?: number;
  /** How long a successful (account, client) pair stays known good (default 30 days). */
  knownGoodTtlMs?: number;
  /** Most keys kept by each table (default 100 000). */
  maxKeys?: number;
  /** Clock in milliseconds (default `performance.now`). */
  now?: () => number;
}

/** The answer of `check`: may this attempt verify a password? */
export type AuthCheck =
  | { allowed: true }
  | { allowed: false; reason: "ip" | "account"; retryAfterMs: number };

/** The answer of `failure`. */
export interface AuthFailure {
  /** Wait this long before replying 535. */
  delayMs: number;
  /** The client has no failures left: reply 421 and close instead of 535. */
  lockedOut: boolean;
}

/** Failed-login throttling per client address and per account. */
export class AuthThrottle {
  readonly #clients: TokenBuckets;
  readonly #accounts: TokenBuckets;
  readonly #knownGood = new Map<string, number>(); // "account\nclient" → expiry; insertion order = LRU
  readonly #free: number;
  readonly #baseDelay: number;
  readonly #maxDelay: number;
  readonly #attackDelay: number;
  readonly #knownGoodTtl: number;
  readonly #maxKeys: number;
  readonly #now: () => number;

  constructor(options: AuthThrottleOptions = {}) {
    this.#now = options.now ?? (() => performance.now());
    this.#maxKeys = options.maxKeys ?? 100_000;
    const common = { maxKeys: this.#maxKeys, now: this.#now };
    this.#clients = new TokenBuckets({
      ...(options.perClient ?? { capacity: 10, refillPerSecond: 1 / 60 }),
      ...common,
    });
    this.#accounts = new TokenBuckets({
      ...(options.perAccount ?? { capacity: 20, refillPerSecond: 1 / 30 }),
      ...common,
    });
    this.#free = options.freeFailures ?? 2;
    this.#baseDelay = options.baseDelayMs ?? 1000;
    this.#maxDelay = options.maxDelayMs ?? 16_000;
    this.#attackDelay = Math.min(options.underAttackDelayMs ?? 2000, this.#maxDelay);
    this.#knownGoodTtl = options.knownGoodTtlMs ?? 30 * 24 * 3600 * 1000;
  }

  /** Before verifying a password: may `ip` try `account` now? (`account` may be unknown, e.g. before LOGIN.) */
  check(ip: string, account?: string | null): AuthCheck {
    const now = this.#now();
    const client = clientKey(ip);
    if (this.#clients.peek(client, now) < 1) {
      return { allowed: false, reason: "ip", retryAfterMs: this.#clients.retryAfter(client, 1, now) };
    }
    if (account) {
      const acct = accountKey(account);
      if (this.#accounts.peek(acct, now) < 1 && !this.#clean(client, now) && !this.#isKnownGood(acct, client, now)) {
        // Retry once this client is clean again.
        const retryAfterMs = this.#clients.retryAfter(client, this.#clients.capacity, now);
        return { allowed: false, reason: "account", retryAfterMs };
      }
    }
    return { allowed: true };
  }

  /** After a failed attempt: counts it and says how long to wait before answering. */
  failure(ip: string, account?: string | null): AuthFailure {
    const now = this.#now();
    const client = clientKey(ip);
    const taken = this.#clients.take(client, 1, now);
    const failures = Math.round(this.#clients.capacity - taken.remaining);
    let delayMs = failures <= this.#free ? 0 : this.#baseDelay * 2 ** (failures - this.#free - 1);
    if (account) {
      const acct = accountKey(account);
      const a = this.#accounts.take(acct, 1, now);
      if (!a.ok || a.remaining < 1) delayMs = Math.max(delayMs, this.#attackDelay);
    }
    return { delayMs: Math.min(delayMs, this.#maxDelay), lockedOut: !taken.ok || taken.remaining < 1 };
  }

  /** After a successful login: forgets the client's failures and remembers it as known good for `account`. */
  success(ip: string, account: string): void {
    const client = clientKey(ip);
    this.#clients.reset(client);
    const key = `${accountKey(account)}\n${client}`;
    this.#knownGood.delete(key);
    if (this.#knownGood.size >= this.#maxKeys) {
      const oldest = this.#knownGood.keys().next();
      if (!oldest.done) this.#knownGood.delete(oldest.value);
    }
    this.#knownGood.set(key, this.#now() + this.#knownGoodTtl);
  }

  // A client is clean when it has no unexpired failure (its bucket is full).
  #clean(client: string, now: number): boolean {
    return this.#clients.peek(client, now) >= this.#clients.capacity;
  }

  #isKnownGood(account: string, client: string, now: number): boolean {
    const key = `${account}\n${client}`;
    const expiry = this.#knownGood.get(key);
    if (expiry === undefined) return false;
    if (expiry > now) return true;
    this.#knownGood.delete(key);
    return false;
  }
}

function accountKey(account: string): string {
  return account.trim().toLowerCase();
}
