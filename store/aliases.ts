/**
 * @module
 * Aliases: an address (or `@domain`, a catch-all) that delivers to other addresses, and recipient resolution
 * (address → accounts) used by SMTP delivery.
 */
import { parseAddress, parseAliasSource } from "../mail/address.ts";
import { ConflictError, InvalidInputError, NotFoundError } from "./errors.ts";
import type { SqlExecutor } from "./sql/executor.ts";

/** One alias row: mail to `address` goes to `target`. */
export interface Alias {
  address: string;
  target: string;
  createdAt: Date;
}

/** Where mail for an address goes: local accounts (with their INBOX) and external addresses. */
export interface Resolution {
  accountIds: number[];
  /** The INBOX mailbox id of each account in `accountIds`, in the same order. */
  inboxIds: number[];
  /** Accounts among `accountIds` whose quota is used up. */
  fullAccountIds: number[];
  external: string[];
}

/** How deep alias chains are followed (loops stop here too). */
const MAX_ALIAS_DEPTH = 8;

/** Alias operations. */
export class Aliases {
  readonly #db: SqlExecutor;

  constructor(db: SqlExecutor) {
    this.#db = db;
  }

  /** Adds `source → target`. The source must be in a local domain and must not be an account. */
  async add(sourceInput: string, targetInput: string): Promise<Alias> {
    const source = parseAliasSource(sourceInput);
    if (!source) throw new InvalidInputError(`Cannot add alias "${sourceInput}": not an address or @domain`);
    const target = parseAddress(targetInput);
    if (!target) throw new InvalidInputError(`Cannot add alias to "${targetInput}": not a valid address`);
    return await this.#db.transaction(async (tx) => {
      const d = await tx.query<{ id: number }>("SELECT id FROM domains WHERE name = $1 FOR SHARE", [source.domain]);
      if (!d[0]) {
        throw new NotFoundError(`Cannot add alias "${source.address}": "${source.domain}" is not a local domain`);
      }
      const acct = await tx.query("SELECT 1 FROM accounts WHERE address = $1", [source.address]);
      if (acct.length) throw new ConflictError(`Cannot add alias "${source.address}": it is a user's address`);
      const targetLocal = await tx.query("SELECT 1 FROM domains WHERE name = $1", [target.domain]);
      if (targetLocal.length) {
        const exists = await tx.query(
          "SELECT 1 FROM accounts WHERE address = $1 UNION ALL SELECT 1 FROM aliases WHERE address = $1 LIMIT 1",
          [target.address],
        );
        if (!exists.length) {
          throw new NotFoundError(`Cannot add alias to "${target.address}": no such user or alias`);
        }
      }
      const rows = await tx.query<{ created_at: Date }>(
        `INSERT INTO aliases (domain_id, address, target) VALUES ($1, $2, $3)
           ON CONFLICT (address, target) DO NOTHING RETURNING created_at`,
        [d[0].id, source.address, target.address],
      );
      if (!rows[0]) throw new ConflictError(`Alias "${source.address}" → "${target.address}" already exists`);
      return { address: source.address, target: target.address, createdAt: rows[0].created_at };
    });
  }

  /** Removes an alias: one target, or every target when `target` is omitted. */
  async remove(sourceInput: string, targetInput?: string): Promise<number> {
    const source = parseAliasSource(sourceInput)?.address ?? sourceInput;
    const target = targetInput === undefined ? null : parseAddress(targetInput)?.address ?? targetInput;
    const rows = await this.#db.query(
      "DELETE FROM aliases WHERE address = $1 AND ($2::text IS NULL OR target = $2) RETURNING id",
      [source, target],
    );
    if (!rows.length) throw new NotFoundError(`Cannot delete alias "${source}": no such alias`);
    return rows.length;
  }

  /** Every alias, optionally of one domain. */
  async list(options: { domain?: string } = {}): Promise<Alias[]> {
    const rows = await this.#db.query<{ address: string; target: string; created_at: Date }>(
      `SELECT l.address, l.target, l.created_at FROM aliases l JOIN domains d ON d.id = l.domain_id
        WHERE $1::text IS NULL OR d.name = $1 ORDER BY l.address, l.target`,
      [options.domain ?? null],
    );
    return rows.map((r) => ({ address: r.address, target: r.target, createdAt: r.created_at }));
  }

  /**
   * Resolves a recipient address: an account, an alias (followed through chains), or a catch-all of its
   * domain (unless `catchAll: false`, as for sender ownership). Returns undefined when the address is not
   * local or has no destination.
   */
  async resolve(input: string, options: { catchAll?: boolean } = {}): Promise<Resolution | undefined> {
    const catchAll = options.catchAll ?? true;
    const start = parseAddress(input);
    if (!start) return undefined;
    const accountIds = new Map<number, number>(); // account id → INBOX id
    const full = new Set<number>();
    const external = new Set<string>();
    const seen = new Set<string>();
    let frontier = [start.address];
    for (let depth = 0; depth < MAX_ALIAS_DEPTH && frontier.length; depth++) {
      frontier = frontier.filter((a) => !seen.has(a));
      frontier.forEach((a) => seen.add(a));
      if (!frontier.length) break;
      // One query per level: accounts, aliases, the catch-alls of their domains, and which domains are local.
      // One address (nearly always) goes in as scalar parameters: then Postgres keeps one generic plan instead of
      // planning the query again for every recipient (with array parameters every custom plan looks cheaper,
      // and planning cost four times what running it does).
      const one = frontier.length === 1;
      const is = (n: number) => (one ? `= $${n}::text` : `= ANY($${n}::text[])`);
      const arg = (values: string[]) => (one ? values[0]! : values);
      const rows = await this.#db.query<{ kind: string; address: string; id: number | null; target: string | null }>(
        `SELECT CASE WHEN a.quota_bytes > 0 AND a.used_bytes >= a.quota_bytes THEN 'full' ELSE 'account' END AS kind,
                a.address, a.id, mb.id::text AS target
           FROM accounts a JOIN mailboxes mb ON mb.account_id = a.id AND mb.name = 'INBOX'
           WHERE a.address ${is(1)} AND NOT a.disabled
         UNION ALL
         SELECT 'alias', address, NULL, target FROM aliases WHERE address ${is(1)}
         UNION ALL
         SELECT 'catchall', address, NULL, target FROM aliases WHERE address ${is(2)}
         UNION ALL
         SELECT 'domain', name, NULL, NULL FROM domains WHERE name ${is(3)}`,
        [arg(frontier), arg(frontier.map((a) => "@" + a.split("@")[1])), arg(frontier.map((a) => a.split("@")[1]!))],
      );
      const next: string[] = [];
      const localDomains = new Set(rows.filter((r) => r.kind === "domain").map((r) => r.address));
      for (const address of frontier) {
        const domain = address.split("@")[1]!;
        if (!localDomains.has(domain)) {
          if (depth > 0) external.add(address);
          continue;
        }
        const account = rows.find((r) => (r.kind === "account" || r.kind === "full") && r.address === address);
        if (account) {
          if (account.kind === "full") full.add(account.id!);
          accountIds.set(account.id!, Number(account.target));
          continue;
        }
        const targets = rows.filter((r) => r.kind === "alias" && r.address === address).map((r) => r.target!);
        if (targets.length) {
          next.push(...targets);
          continue;
        }
        if (catchAll) {
          next.push(...rows.filter((r) => r.kind === "catchall" && r.address === "@" + domain).map((r) => r.target!));
        }
      }
      frontier = next;
    }
    if (!accountIds.size && !external.size) return undefined;
    return {
      accountIds: [...accountIds.keys()],
      inboxIds: [...accountIds.values()],
      fullAccountIds: [...full],
      external: [...external],
    };
  }
}
