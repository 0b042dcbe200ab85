/**
 * @module
 * The production SQL executor on postgres.js, used when `database.url` is set.
 */
import { Buffer } from "node:buffer";
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
  const sql = postgres(tcpUrl, {
    ...(path ? { path } : {}),
    max: options.poolSize ?? 10,
    onnotice: () => {},
    // int8 as a JS number: ids, UIDs and MODSEQs stay far below 2^53.
    types: {
      bigint: { to: 20, from: [20], serialize: (x: unknown) => String(x), parse: (x: string) => Number(x) },
      // bytea as a plain Uint8Array (not a Buffer), as PGlite returns it.
      bytea: {
        to: 17,
        from: [17],
        serialize: (x: Uint8Array) => "\\x" + Buffer.from(x.buffer, x.byteOffset, x.byteLength).toString("hex"),
        parse: (x: string) => {
          const b = Buffer.from(x.slice(2), "hex");
          return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
        },
      },
    },
    connection: { application_name: "silvermail" },
  });
  await sql.unsafe("SELECT 1");
  return new PostgresExecutor(sql);
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

class PostgresExecutor implements SqlExecutor {
  readonly driver = "postgres" as const;
  readonly #sql: Sql;
  readonly #q: Queryable;

  constructor(sql: Sql) {
    this.#sql = sql;
    this.#q = queryable(sql);
  }

  query<T extends Row = Row>(text: string, params?: readonly unknown[]): Promise<T[]> {
    return this.#q.query<T>(text, params);
  }

  exec(text: string): Promise<void> {
    return this.#q.exec(text);
  }

  async transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
    return await this.#sql.begin((tx) => fn(queryable(tx))) as T;
  }

  async listen(channel: string, onPayload: (payload: string) => void): Promise<() => Promise<void>> {
    const sub = await this.#sql.listen(channel, onPayload);
    return () => sub.unlisten();
  }

  async close(): Promise<void> {
    await this.#sql.end({ timeout: 5 });
  }
}
