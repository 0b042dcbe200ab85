/**
 * @module
 * The embedded SQL executor on PGlite: real PostgreSQL in WASM, in-process. Persistent in a directory (the
 * default, `<data_dir>/db`) or in memory (unit tests). One connection: PGlite serialises queries itself.
 * PGlite does not lock its directory; {@linkcode ../lock.ts} does.
 */
import { PGlite } from "@electric-sql/pglite";
import type { Queryable, Row, SqlExecutor } from "./executor.ts";

/** Options for {@linkcode openPglite}. */
export interface PgliteOptions {
  /** Start from a snapshot made by {@linkcode snapshotPglite} (tests: skips initdb and migrations). */
  snapshot?: Blob;
}

/** Opens PGlite in `dataDir`, or in memory when `dataDir` is undefined. */
export async function openPglite(dataDir?: string, options: PgliteOptions = {}): Promise<SqlExecutor> {
  const db = await PGlite.create({
    ...(dataDir === undefined ? {} : { dataDir }),
    ...(options.snapshot ? { loadDataDir: options.snapshot } : {}),
  });
  return new PgliteExecutor(db);
}

/** A snapshot of an in-memory PGlite database, to open copies of it quickly. */
export async function snapshotPglite(executor: SqlExecutor): Promise<Blob> {
  if (!(executor instanceof PgliteExecutor)) throw new TypeError("snapshotPglite() needs a PGlite executor");
  return await executor.dump();
}

interface PgliteLike {
  query<T>(sql: string, params?: unknown[]): Promise<{ rows: T[] }>;
  exec(sql: string): Promise<unknown>;
}

function queryable(db: PgliteLike): Queryable {
  return {
    async query<T extends Row>(text: string, params: readonly unknown[] = []): Promise<T[]> {
      return (await db.query<T>(text, params as unknown[])).rows;
    },
    async exec(text: string): Promise<void> {
      await db.exec(text);
    },
  };
}

class PgliteExecutor implements SqlExecutor {
  readonly driver = "pglite" as const;
  readonly #db: PGlite;
  readonly #q: Queryable;

  constructor(db: PGlite) {
    this.#db = db;
    this.#q = queryable(db);
  }

  query<T extends Row = Row>(text: string, params?: readonly unknown[]): Promise<T[]> {
    return this.#q.query<T>(text, params);
  }

  exec(text: string): Promise<void> {
    return this.#q.exec(text);
  }

  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
    return this.#db.transaction((tx) => fn(queryable(tx)));
  }

  async listen(
    channel: string,
    onPayload: (payload: string) => void,
    onListen?: () => void,
  ): Promise<() => Promise<void>> {
    const unlisten = await this.#db.listen(channel, onPayload);
    onListen?.(); // one in-process connection: never re-established
    return unlisten;
  }

  async close(): Promise<void> {
    await this.#db.close();
  }

  /** The data dir as a tarball. */
  async dump(): Promise<Blob> {
    return await this.#db.dumpDataDir("none");
  }
}
