/**
 * @module
 * Local domains: the domains this server receives mail for.
 */
import { normalizeDomain } from "../mail/address.ts";
import { ConflictError, InvalidInputError, NotFoundError } from "./errors.ts";
import type { SqlExecutor } from "./sql/executor.ts";

/** A local domain with its counts. */
export interface Domain {
  id: number;
  name: string;
  accounts: number;
  aliases: number;
  createdAt: Date;
}

/** Domain operations. */
export class Domains {
  readonly #db: SqlExecutor;

  constructor(db: SqlExecutor) {
    this.#db = db;
  }

  /** Adds a domain. Throws InvalidInputError or ConflictError. */
  async add(input: string): Promise<Domain> {
    const name = normalizeDomain(input);
    if (!name) throw new InvalidInputError(`Cannot add domain "${input}": not a valid domain name`);
    const rows = await this.#db.query<{ id: number; created_at: Date }>(
      "INSERT INTO domains (name) VALUES ($1) ON CONFLICT (name) DO NOTHING RETURNING id, created_at",
      [name],
    );
    const row = rows[0];
    if (!row) throw new ConflictError(`Cannot add domain "${name}": it already exists`);
    return { id: row.id, name, accounts: 0, aliases: 0, createdAt: row.created_at };
  }

  /** Removes a domain that has no accounts left (its aliases go with it). */
  async remove(input: string): Promise<void> {
    const name = normalizeDomain(input) ?? input.toLowerCase();
    await this.#db.transaction(async (tx) => {
      const rows = await tx.query<{ id: number; n: number }>(
        `SELECT d.id, (SELECT count(*) FROM accounts a WHERE a.domain_id = d.id) AS n
           FROM domains d WHERE d.name = $1 FOR UPDATE`,
        [name],
      );
      const row = rows[0];
      if (!row) throw new NotFoundError(`Cannot delete domain "${name}": no such domain`);
      if (row.n > 0) {
        throw new ConflictError(`Cannot delete domain "${name}": it still has ${row.n} account(s); delete them first`);
      }
      await tx.query("DELETE FROM domains WHERE id = $1", [row.id]);
    });
  }

  /** Every domain, by name. */
  async list(): Promise<Domain[]> {
    const rows = await this.#db.query<
      { id: number; name: string; accounts: number; aliases: number; created_at: Date }
    >(
      `SELECT d.id, d.name, d.created_at,
              (SELECT count(*) FROM accounts a WHERE a.domain_id = d.id) AS accounts,
              (SELECT count(*) FROM aliases l WHERE l.domain_id = d.id) AS aliases
         FROM domains d ORDER BY d.name`,
    );
    return rows.map((r) => ({
      id: r.id,
      name: r.name,
      accounts: r.accounts,
      aliases: r.aliases,
      createdAt: r.created_at,
    }));
  }

  /** The id of a local domain, or undefined. */
  async idOf(name: string): Promise<number | undefined> {
    const rows = await this.#db.query<{ id: number }>("SELECT id FROM domains WHERE name = $1", [name]);
    return rows[0]?.id;
  }
}
