/**
 * @module
 * Settings the instances generate once and share through the database (unlike config.ts, which each instance
 * reads from its own file): e.g. the SRS secret, which every instance needs to verify the others' addresses.
 */
import type { SqlExecutor } from "./sql/executor.ts";

/** Shared settings. */
export class Settings {
  readonly #db: SqlExecutor;

  constructor(db: SqlExecutor) {
    this.#db = db;
  }

  /** The value of `key`; the first caller (of any instance) stores `make()`, everyone gets the same value. */
  async getOrCreate(key: string, make: () => string): Promise<string> {
    await this.#db.query("INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING", [
      key,
      make(),
    ]);
    const rows = await this.#db.query<{ value: string }>("SELECT value FROM settings WHERE key = $1", [key]);
    return rows[0]!.value;
  }
}
