/**
 * @module
 * The production SQL executor on postgres.js, used when `database.url` is set.
 */
import postgres from "postgres";
import type { Queryable, Row, SqlExecutor } from "./executor.ts";

/** Options for {@linkcode openPostgres}. */
export interface PostgresOptions {
  /** Connections in the pool. */
  poolSize?: number;
}

/** Connects to Postgres at `url` (checked with one query before returning). */
export async function openPostgres(url: string, options: PostgresOptions = {}): Promise<SqlExecutor> {
  const { url: tcpUrl, path } = unixSocket(url);
  const connect = (max: number) =>
    postgres(tcpUrl, {
      ...(path ? { path } : {}),
      max,
      onnotice: () => {},
      // int8 as a JS number: ids, UIDs and MODSEQs stay far below 2^53.
      types: {
        bigint: { to: 20, from: [20], serialize: (x: unknown) => String(x), parse: (x: string) => Number(x) },
        // bytea as a plain Uint8Array (not a Buffer), as PGlite returns it. The native hex codecs: Buffer's hex
        // decoder costs about 70 µs for a 4 KB message read from the database, Uint8Array.fromHex about 8.
        bytea: {
          to: 17,
          from: [17],
          serialize: (x: Uint8Array) => "\\x" + x.toHex(),
          parse: (x: string) => Uint8Array.fromHex(x.slice(2)),
        },
      },
      connection: { application_name: "silvermail" },
    });
  const pool = connect(options.poolSize ?? 10);
  const pipe = connect(1);
  try {
    await pool.unsafe("SELECT 1");
  } catch (e) {
    await Promise.all([pool.end({ timeout: 0 }), pipe.end({ timeout: 0 })]);
    throw e;
  }
  return new PostgresExecutor(pool, pipe);
}

/**
 * A libpq-style `?host=/run/postgresql` names the directory of a Unix socket (postgres.js takes it as `path`).
 * On one machine that is the cheaper way to Postgres: each query is a write the kernel hands straight to the
 * server process, without the loopback TCP stack on both ends.
 */
function unixSocket(url: string): { url: string; path?: string } {
  let parsed: URL;
  try {
    // libpq allows an empty host (postgres://user@/db?host=/run/postgresql); URL does not with credentials.
    parsed = new URL(url.replace(/^(postgres(?:ql)?:\/\/(?:[^@/]*@)?)\//, "$1localhost/"));
  } catch {
    return { url };
  }
  const dir = parsed.searchParams.get("host");
  if (!dir?.startsWith("/")) return { url };
  const port = parsed.port || parsed.searchParams.get("port") || "5432";
  parsed.searchParams.delete("host");
  parsed.searchParams.delete("port");
  return { url: parsed.href, path: `${dir}/.s.PGSQL.${port}` };
}

// deno-lint-ignore no-explicit-any
type Sql = postgres.Sql<any>;
// deno-lint-ignore no-explicit-any
type Tx = postgres.TransactionSql<any>;

function queryable(sql: Sql | Tx): Queryable {
  return {
    async query<T extends Row>(text: string, params: readonly unknown[] = []): Promise<T[]> {
      // deno-lint-ignore no-explicit-any
      const rows = await sql.unsafe(text, params as any[], { prepare: true });
      return Array.from(rows) as unknown as T[];
    },
    async exec(text: string): Promise<void> {
      await sql.unsafe(text);
    },
  };
}

/**
 * A statement sent to the pipeline waits for the ones ahead of it. It goes to the pool instead once the oldest
 * statement in flight has waited this long (a slow search, a row lock held by a transaction), so one slow
 * statement delays only the few sent in its first milliseconds.
 */
const PIPELINE_STALL_MS = 5;
/** At most this many statements in flight on the pipeline. */
const PIPELINE_DEPTH = 32;
/** A statement with larger parameters (a big message) takes a pool connection: it would take long to send. */
const PIPELINE_MAX_PARAM_CHARS = 256 * 1024;

/**
 * Statements outside transactions go, while it keeps up, to one connection that pipelines them: one write to
 * Postgres carries the statements of several sessions, and one backend, its caches warm, works through them
 * without going to sleep and being woken for each. Spread over the pool, the same IMAP mix costs Postgres about a
 * fifth more CPU per command on this 2-core machine (README, "One pipelined connection"). A statement that commits
 * durably holds up the ones behind it for its WAL flush, and one can wait for a row lock; `PIPELINE_STALL_MS`
 * bounds that. Transactions use the pool.
 */
class Pipeline {
  readonly #q: Queryable;
  /** When each statement in flight was sent, oldest first: one connection answers in order. */
  readonly #sent: number[] = [];

  constructor(sql: Sql) {
    this.#q = queryable(sql);
  }

  /** Whether a statement with these parameters should be sent here now. */
  accepts(params: readonly unknown[]): boolean {
    const sent = this.#sent;
    if (sent.length && (sent.length >= PIPELINE_DEPTH || performance.now() - sent[0]! >= PIPELINE_STALL_MS)) {
      return false;
    }
    let chars = 0;
    for (const p of params) chars += typeof p === "string" ? p.length : p instanceof Uint8Array ? 2 * p.length : 0;
    return chars <= PIPELINE_MAX_PARAM_CHARS;
  }

  async query<T extends Row>(text: string, params: readonly unknown[]): Promise<T[]> {
    this.#sent.push(performance.now());
    try {
      return await this.#q.query<T>(text, params);
    } finally {
      this.#sent.shift();
    }
  }
}

class PostgresExecutor implements SqlExecutor {
  readonly driver = "postgres" as const;
  readonly #sql: Sql;
  readonly #pipeSql: Sql;
  readonly #q: Queryable;
  readonly #pipe: Pipeline;

  constructor(sql: Sql, pipe: Sql) {
    this.#sql = sql;
    this.#pipeSql = pipe;
    this.#q = queryable(sql);
    this.#pipe = new Pipeline(pipe);
  }

  query<T extends Row = Row>(text: string, params: readonly unknown[] = []): Promise<T[]> {
    return this.#pipe.accepts(params) ? this.#pipe.query<T>(text, params) : this.#q.query<T>(text, params);
  }

  exec(text: string): Promise<void> {
    return this.#q.exec(text);
  }

  async transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
    return await this.#sql.begin((tx) => fn(queryable(tx))) as T;
  }

  async listen(
    channel: string,
    onPayload: (payload: string) => void,
    onListen?: () => void,
  ): Promise<() => Promise<void>> {
    const sub = await this.#sql.listen(channel, onPayload, onListen);
    return () => sub.unlisten();
  }

  async close(): Promise<void> {
    await Promise.all([this.#sql.end({ timeout: 5 }), this.#pipeSql.end({ timeout: 5 })]);
  }
}
