/**
 * @module
 * Worker that computes argon2id (hash-wasm, WASM). argon2id blocks for ~70 ms, so it never runs on the main
 * event loop. Messages: `{ id, password, salt, m, t, p, length }` → `{ id, hash }` or `{ id, error }`.
 */
import { argon2id } from "hash-wasm";

interface Request {
  id: number;
  password: string;
  salt: Uint8Array;
  m: number;
  t: number;
  p: number;
  length: number;
}

// deno-lint-ignore no-explicit-any
const scope = self as any;
scope.onmessage = async (event: MessageEvent<Request>) => {
  const r = event.data;
  try {
    const hash = await argon2id({
      password: r.password,
      salt: r.salt,
      memorySize: r.m,
      iterations: r.t,
      parallelism: r.p,
      hashLength: r.length,
      outputType: "binary",
    });
    scope.postMessage({ id: r.id, hash });
  } catch (e) {
    scope.postMessage({ id: r.id, error: (e as Error).message });
  }
};
