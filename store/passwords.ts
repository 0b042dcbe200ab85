/**
 * @module
 * Password hashing: argon2id with the OWASP parameters (m=19456 KiB, t=2, p=1), computed in a small pool of
 * Workers, stored as a PHC string, verified in constant time. {@linkcode verifyPassword} says when a stored hash
 * uses older parameters so the caller can upgrade it on a successful login. Never log a password or a hash.
 */
import { createHmac } from "node:crypto";

/** The parameters new hashes use. Changing them makes old hashes `needsRehash` on next login. */
export const ARGON2_PARAMS = { m: 19456, t: 2, p: 1, length: 32 } as const;

interface Pending {
  resolve: (hash: Uint8Array) => void;
  reject: (e: Error) => void;
}

/** How long an idle worker lives: its isolate, and the 19 MiB of WASM memory each hash leaves behind, then go. */
const WORKER_IDLE_MS = 2_000;

interface Slot {
  worker: Worker | undefined;
  busy: number;
  idleTimer: ReturnType<typeof setTimeout> | undefined;
}

class WorkerPool {
  readonly #slots: Slot[] = [];
  readonly #pending = new Map<number, Pending & { slot: Slot }>();
  #nextId = 1;
  #next = 0;

  constructor(size: number) {
    for (let i = 0; i < size; i++) this.#slots.push({ worker: undefined, busy: 0, idleTimer: undefined });
  }

  /** The slot's worker, started on first use (and again after it went idle). */
  #workerOf(slot: Slot): Worker {
    if (slot.idleTimer !== undefined) clearTimeout(slot.idleTimer);
    slot.idleTimer = undefined;
    if (slot.worker) return slot.worker;
    const w = new Worker(new URL("./password_worker.ts", import.meta.url).href, { type: "module" });
    w.onmessage = (e: MessageEvent<{ id: number; hash?: Uint8Array; error?: string }>) => {
      const p = this.#pending.get(e.data.id);
      if (!p) return;
      this.#pending.delete(e.data.id);
      if (--slot.busy === 0) {
        // hash-wasm instantiates its WASM module per hash; ending the isolate frees all of it at once.
        const timer = setTimeout(() => {
          slot.idleTimer = undefined;
          slot.worker?.terminate();
          slot.worker = undefined;
        }, WORKER_IDLE_MS);
        Deno.unrefTimer(timer);
        slot.idleTimer = timer;
      }
      if (e.data.hash) p.resolve(e.data.hash);
      else p.reject(new Error(`argon2id failed: ${e.data.error}`));
    };
    slot.worker = w;
    return w;
  }

  run(password: string, salt: Uint8Array, params: { m: number; t: number; p: number; length: number }) {
    // Least busy worker; ties go round-robin.
    let best = this.#slots[this.#next++ % this.#slots.length]!;
    for (const slot of this.#slots) if (slot.busy < best.busy) best = slot;
    const id = this.#nextId++;
    const worker = this.#workerOf(best);
    best.busy++;
    return new Promise<Uint8Array>((resolve, reject) => {
      this.#pending.set(id, { resolve, reject, slot: best });
      worker.postMessage({ id, password, salt, ...params });
    });
  }

  terminate(): void {
    for (const slot of this.#slots) {
      if (slot.idleTimer !== undefined) clearTimeout(slot.idleTimer);
      slot.worker?.terminate();
      slot.worker = undefined;
    }
    for (const p of this.#pending.values()) p.reject(new Error("password worker pool closed"));
    this.#pending.clear();
  }
}

let pool: WorkerPool | undefined;

function workers(): WorkerPool {
  pool ??= new WorkerPool(Math.max(1, Math.min(4, navigator.hardwareConcurrency || 2)));
  return pool;
}

/** Stops the worker pool (at shutdown; the next hash starts a new one). */
export function closePasswordWorkers(): void {
  pool?.terminate();
  pool = undefined;
}

function b64(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes)).replace(/=+$/, "");
}

function unb64(s: string): Uint8Array {
  const bin = atob(s + "=".repeat((4 - (s.length % 4)) % 4));
  return Uint8Array.from(bin, (c) => c.charCodeAt(0));
}

/** Hashes `password` with the current parameters into a PHC string. */
export async function hashPassword(password: string): Promise<string> {
  const salt = crypto.getRandomValues(new Uint8Array(16));
  const { m, t, p } = ARGON2_PARAMS;
  const hash = await workers().run(password, salt, ARGON2_PARAMS);
  return `$argon2id$v=19$m=${m},t=${t},p=${p}$${b64(salt)}$${b64(hash)}`;
}

/** Compares two byte strings in time that depends only on their lengths. */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  let diff = a.length ^ b.length;
  const n = Math.max(a.length, b.length);
  for (let i = 0; i < n; i++) diff |= (a[i] ?? 0) ^ (b[i] ?? 0);
  return diff === 0;
}

const PHC = /^\$argon2id\$v=19\$m=(\d+),t=(\d+),p=(\d+)\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)$/;

/** A verdict: `ok` when the password matches; `needsRehash` when the hash should be upgraded. */
export interface VerifyResult {
  ok: boolean;
  needsRehash: boolean;
}

/**
 * Recently verified logins, like Dovecot's auth cache: a client that opens several connections, or a phone that
 * reconnects all day, pays argon2 once per {@linkcode VERIFIED_TTL_MS}, not once per connection. An entry is an
 * HMAC of (stored hash, password) under a key made at start and never stored, so the cache holds no password and
 * nothing usable outside this process; a changed password is a different stored hash and misses. Only successes
 * are kept: a wrong password always costs a full argon2 run.
 */
const VERIFIED_TTL_MS = 15 * 60_000;
const VERIFIED_MAX = 10_000;
const verifiedKey = crypto.getRandomValues(new Uint8Array(32));
const verified = new Map<string, number>(); // HMAC → expiry (ms)

function verifiedEntry(password: string, encoded: string): string {
  return createHmac("sha256", verifiedKey).update(encoded).update("\0").update(password).digest("base64");
}

/** Verifies `password` against a PHC string in constant time. A malformed hash never matches. */
export async function verifyPassword(password: string, encoded: string): Promise<VerifyResult> {
  const m = PHC.exec(encoded);
  if (!m) {
    // Spend the same time as a real check, so a broken row does not stand out by timing.
    await workers().run(password, new Uint8Array(16), ARGON2_PARAMS);
    return { ok: false, needsRehash: false };
  }
  const params = { m: Number(m[1]), t: Number(m[2]), p: Number(m[3]) };
  const expected = unb64(m[5]!);
  const needsRehash = params.m !== ARGON2_PARAMS.m || params.t !== ARGON2_PARAMS.t || params.p !== ARGON2_PARAMS.p ||
    expected.length !== ARGON2_PARAMS.length;
  const entry = verifiedEntry(password, encoded);
  const now = Date.now();
  if ((verified.get(entry) ?? 0) > now) return { ok: true, needsRehash };
  const actual = await workers().run(password, unb64(m[4]!), { ...params, length: expected.length });
  const ok = constantTimeEqual(actual, expected);
  if (ok) {
    if (verified.size >= VERIFIED_MAX) verified.clear();
    verified.set(entry, now + VERIFIED_TTL_MS);
  }
  return { ok, needsRehash: ok && needsRehash };
}

/** A fixed hash of a random password, verified against when an account does not exist (equal timing). */
let dummyHash: Promise<string> | undefined;

/** Spends the time of one verification without any account (unknown user on login). Always false. */
export async function verifyAgainstNothing(password: string): Promise<false> {
  dummyHash ??= hashPassword(crypto.randomUUID());
  await verifyPassword(password, await dummyHash);
  return false;
}

const COMMON = new Set([
  "password",
  "password1",
  "password123",
  "123456789",
  "1234567890",
  "12345678",
  "qwertyuiop",
  "iloveyou",
  "letmein",
  "welcome",
  "admin",
  "changeme",
  "secret",
  "trustno1",
  "passw0rd",
  "qwerty123",
  "abc123456",
  "football",
  "baseball",
  "monkey",
  "dragon",
]);

/** Why `password` is too weak for `address`, or undefined when it is acceptable. */
export function passwordWeakness(password: string, address: string, minLength: number): string | undefined {
  if (password.length === 0) return "the password is empty";
  if ([...password].length < minLength) return `the password is shorter than ${minLength} characters`;
  const lower = password.toLowerCase();
  if (COMMON.has(lower)) return "the password is one of the most common passwords";
  if (new Set(lower).size < 4) return "the password uses fewer than 4 different characters";
  const local = address.split("@")[0]?.toLowerCase() ?? "";
  if (lower === address.toLowerCase() || (local.length >= 4 && lower.includes(local))) {
    return "the password contains the address";
  }
  return undefined;
}
