/**
 * @module
 * The narrow SQL executor the store talks to. Two implementations: postgres.js ({@linkcode openPostgres}) and
 * PGlite ({@linkcode openPglite}). SQL is written once, for PostgreSQL 15 and 18 alike, with `$1` placeholders.
 * Values: int8 → number, bytea → Uint8Array, timestamptz → Date, jsonb → parsed value, text[] → string[].
 */

/** A result row. */
export type Row = Record<string, unknown>;

/** Something that runs SQL: the executor itself or an open transaction. */
export interface Queryable {
  /** Runs one statement with `$n` parameters and returns its rows. */
  query<T extends Row = Row>(sql: string, params?: readonly unknown[]): Promise<T[]>;
  /** Runs several statements without parameters (migrations). */
  exec(sql: string): Promise<void>;
}

/** The executor: a connection pool (postgres.js) or the one in-process connection (PGlite). */
export interface SqlExecutor extends Queryable {
  /** Which driver is behind it. */
  readonly driver: "postgres" | "pglite";
  /**
   * Runs `fn` in a transaction: committed when it resolves, rolled back when it throws. Inside `fn`, run SQL
   * only through `tx`: a statement on another connection can wait for a lock the transaction holds.
   */
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
  /**
   * Calls `onPayload` for each NOTIFY on `channel`, and `onListen` each time the LISTEN takes effect: once, and
   * again whenever it is re-established after its connection dropped (notifications meanwhile are lost).
   * Resolves to a function that stops listening.
   */
  listen(
    channel: string,
    onPayload: (payload: string) => void,
    onListen?: () => void,
  ): Promise<() => Promise<void>>;
  /** Closes every connection. */
  close(): Promise<void>;
}
