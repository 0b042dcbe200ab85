/**
 * @module
 * An exclusive lock on the data dir (`<data_dir>/silvermail.lock`, flock), held for as long as a process has
 * the embedded store open: PGlite does not lock its directory, and two processes on one would corrupt it.
 * The OS releases the lock when the process dies, even by `kill -9`.
 */
import { join } from "node:path";
import { LockedError } from "./errors.ts";

/** A held lock; `release()` gives it back. */
export interface DataDirLock {
  release(): void;
}

/** Takes the data dir lock, or throws {@linkcode LockedError} naming the process that holds it. */
export async function lockDataDir(dataDir: string): Promise<DataDirLock> {
  await Deno.mkdir(dataDir, { recursive: true, mode: 0o700 });
  const path = join(dataDir, "silvermail.lock");
  const file = await Deno.open(path, { read: true, write: true, create: true, mode: 0o600 });
  // Deno has no non-blocking flock: wait briefly, then report the holder. The blocked call ends with the process.
  let gaveUp = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const locked = await Promise.race([
    file.lock(true).then(() => {
      if (gaveUp) file.close(); // granted after we reported the holder: give it straight back
      return true;
    }),
    new Promise<false>((r) => timer = setTimeout(() => r(false), 300)),
  ]);
  clearTimeout(timer);
  if (!locked) {
    gaveUp = true;
    let holder = "another process";
    try {
      const pid = (await Deno.readTextFile(path)).trim();
      if (pid) holder = `process ${pid}`;
    } catch { /* unreadable: keep the generic name */ }
    throw new LockedError(
      `The data dir "${dataDir}" is in use by ${holder} (lock file ${path}). ` +
        "Stop that process, or run commands through it (they go over its control socket when it serves).",
    );
  }
  await file.truncate(0);
  await file.write(new TextEncoder().encode(`${Deno.pid}\n`));
  return {
    release() {
      try {
        file.unlockSync();
        file.close();
      } catch { /* already closed */ }
    },
  };
}
