/**
 * @module
 * Versioned SQL migrations, applied at start-up in one transaction under a Postgres advisory lock, so several
 * instances starting at once apply each migration exactly once.
 */
import type { SqlExecutor } from "./sql/executor.ts";
import init from "./migrations/001_init.sql" with { type: "text" };
import outboundQueue from "./migrations/002_outbound_queue.sql" with { type: "text" };
import search from "./migrations/003_search.sql" with { type: "text" };
import delivery from "./migrations/004_delivery.sql" with { type: "text" };
import ingest from "./migrations/005_ingest.sql" with { type: "text" };
import searchLayout from "./migrations/006_search_layout.sql" with { type: "text" };
import deleteCounters from "./migrations/007_delete_counters.sql" with { type: "text" };
import deletedIndex from "./migrations/008_deleted_index.sql" with { type: "text" };
import changeListeners from "./migrations/009_change_listeners.sql" with { type: "text" };

/** A migration: applied once, in version order. */
export interface Migration {
  version: number;
  name: string;
  sql: string;
}

/** Every migration, oldest first. Append only: never edit one that has shipped. */
export const MIGRATIONS: readonly Migration[] = [
  { version: 1, name: "init", sql: init },
  { version: 2, name: "outbound_queue", sql: outboundQueue },
  { version: 3, name: "search", sql: search },
  { version: 4, name: "delivery", sql: delivery },
  { version: 5, name: "ingest", sql: ingest },
  { version: 6, name: "search_layout", sql: searchLayout },
  { version: 7, name: "delete_counters", sql: deleteCounters },
  { version: 8, name: "deleted_index", sql: deletedIndex },
  { version: 9, name: "change_listeners", sql: changeListeners },
];

/** Advisory lock key held while migrating ("silvermail" in ASCII, truncated to int8). */
const MIGRATION_LOCK = 0x73696c7665726d;

/** Applies the migrations not yet applied. Returns the versions applied by this call. */
export async function migrate(db: SqlExecutor): Promise<number[]> {
  return await db.transaction(async (tx) => {
    await tx.query("SELECT pg_advisory_xact_lock($1)", [MIGRATION_LOCK]);
    await tx.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
      version integer PRIMARY KEY,
      name text NOT NULL,
      applied_at timestamptz NOT NULL DEFAULT now()
    )`);
    const done = new Set(
      (await tx.query<{ version: number }>("SELECT version FROM schema_migrations")).map((r) => r.version),
    );
    const applied: number[] = [];
    for (const m of MIGRATIONS) {
      if (done.has(m.version)) continue;
      await tx.exec(m.sql);
      await tx.query("INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", [m.version, m.name]);
      applied.push(m.version);
    }
    return applied;
  });
}
