/**
 * @module
 * Password hashing: argon2id with the OWASP parameters (m=19456 KiB, t=2, p=1), computed in a small pool of
 * Workers, stored as a PHC string, verified in constant time. {@linkcode verifyPassword} says when a stored hash
 * uses older parameters so the caller can upgrade it on a successful login. Never log a password or a hash.
 */

/** The parameters new hashes use. Changing them makes old hashes `needsRehash` on next login. */
export const ARGON2_PARAMS = { m: 19456, t: 2, p: 1, length: 32 } as const;

interface Pending {
  resolve: (hash: Uint8Array) => void;
  reject: (e: Error) => void;
}

class WorkerPool {
  readonly #workers: Worker[] = [];
  readonly #busy: number[] = [];
  readonly #pending = new Map<number, Pending>();
  #nextId = 1;
  #next = 0;

  constructor(size: number) {
    for (let i = 0; i < size; i++) {
      const w = new Worker(new URL("./password_worker.ts", import.meta.url).href, { type: "module" });
      w.onmessage = (e: MessageEvent<{ id: number; hash?: Uint8Array; error?: string }>) => {
        const p = this.#pending.get(e.data.id);
        if (!p) return;
        this.#pending.delete(e.data.id);
        this.#busy[i]!--;
        if (e.data.hash) p.resolve(e.data.hash);
        else p.reject(new Error(`argon2id failed: ${e.data.error}`));
      };
      this.#workers.push(w);
      this.#busy.push(0);
    }
  }

  run(password: string, salt: Uint8Array, params: { m: number; t: number; p: number; length: number }) {
    // Least busy worker; ties go round-robin.
    let best = this.#next++ % this.#workers.length;
    for (let i = 0; i < this.#workers.length; i++) if (this.#busy[i]! < this.#busy[best]!) best = i;
    const id = this.#nextId++;
    this.#busy[best]!++;
    return new Promise<Uint8Array>((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.#workers[best]!.postMessage({ id, password, salt, ...params });
    });
  }

  terminate(): void {
    for (const w of this.#workers) w.terminate();
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
  const actual = await workers().run(password, unb64(m[4]!), { ...params, length: expected.length });
  const ok = constantTimeEqual(actual, expected);
  const needsRehash = params.m !== ARGON2_PARAMS.m || params.t !== ARGON2_PARAMS.t || params.p !== ARGON2_PARAMS.p ||
    expected.length !== ARGON2_PARAMS.length;
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
