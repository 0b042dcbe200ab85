/**
 * @module
 * Accounts: an address with a password and mailboxes. Creating one creates its default mailboxes in the same
 * transaction; deleting one removes its mailboxes, messages and (via reference counts) every blob only it
 * used, and the aliases that pointed at it.
 */
import { parseAddress } from "../mail/address.ts";
import { ConflictError, InvalidInputError, NotFoundError } from "./errors.ts";
import { createDefaultMailboxes } from "./mailboxes.ts";
import { removeAllMessages } from "./messages.ts";
import { hashPassword, passwordWeakness, verifyAgainstNothing, verifyPassword } from "./passwords.ts";
import type { SqlExecutor } from "./sql/executor.ts";

/** An account as listed (never its password hash). */
export interface Account {
  id: number;
  address: string;
  quotaBytes: number;
  usedBytes: number;
  disabled: boolean;
  createdAt: Date;
}

interface AccountRow {
  id: number;
  address: string;
  quota_bytes: number;
  used_bytes: number;
  disabled: boolean;
  created_at: Date;
  [key: string]: unknown;
}

function toAccount(r: AccountRow): Account {
  return {
    id: r.id,
    address: r.address,
    quotaBytes: r.quota_bytes,
    usedBytes: r.used_bytes,
    disabled: r.disabled,
    createdAt: r.created_at,
  };
}

/** Settings the account operations need. */
export interface AccountPolicy {
  minPasswordLength: number;
  defaultQuotaBytes: number;
}

/** Account operations. */
export class Accounts {
  readonly #db: SqlExecutor;
  readonly #policy: AccountPolicy;

  constructor(db: SqlExecutor, policy: AccountPolicy) {
    this.#db = db;
    this.#policy = policy;
  }

  #checkPassword(password: string, address: string): void {
    const weakness = passwordWeakness(password, address, this.#policy.minPasswordLength);
    if (weakness) throw new InvalidInputError(`Password refused: ${weakness}`);
  }

  /** Creates an account with its default mailboxes. Throws InvalidInputError, NotFoundError or ConflictError. */
  async create(input: string, password: string, options: { quotaBytes?: number } = {}): Promise<Account> {
    const parsed = parseAddress(input);
    if (!parsed) throw new InvalidInputError(`Cannot add user "${input}": not a valid address (expected local@domain)`);
    const { address, domain } = parsed;
    this.#checkPassword(password, address);
    const hash = await hashPassword(password);
    return await this.#db.transaction(async (tx) => {
      const d = await tx.query<{ id: number }>("SELECT id FROM domains WHERE name = $1 FOR SHARE", [domain]);
      if (!d[0]) {
        throw new NotFoundError(
          `Cannot add user "${address}": "${domain}" is not a local domain (domain add ${domain})`,
        );
      }
      const alias = await tx.query("SELECT 1 FROM aliases WHERE address = $1 LIMIT 1", [address]);
      if (alias.length) throw new ConflictError(`Cannot add user "${address}": it is already an alias`);
      const rows = await tx.query<AccountRow>(
        `INSERT INTO accounts (domain_id, address, password_hash, quota_bytes) VALUES ($1, $2, $3, $4)
           ON CONFLICT (address) DO NOTHING
           RETURNING id, address, quota_bytes, used_bytes, disabled, created_at`,
        [d[0].id, address, hash, options.quotaBytes ?? this.#policy.defaultQuotaBytes],
      );
      if (!rows[0]) throw new ConflictError(`Cannot add user "${address}": the user already exists`);
      await createDefaultMailboxes(tx, rows[0].id);
      return toAccount(rows[0]);
    });
  }

  /** Sets a new password. */
  async setPassword(input: string, password: string): Promise<void> {
    const address = parseAddress(input)?.address ?? input;
    this.#checkPassword(password, address);
    const hash = await hashPassword(password);
    const rows = await this.#db.query("UPDATE accounts SET password_hash = $2 WHERE address = $1 RETURNING id", [
      address,
      hash,
    ]);
    if (!rows.length) throw new NotFoundError(`Cannot change password of "${address}": no such user`);
  }

  /** Deletes an account with everything it holds. */
  async remove(input: string): Promise<void> {
    const address = parseAddress(input)?.address ?? input;
    await this.#db.transaction(async (tx) => {
      // KEY SHARE on the account first: no mailbox can be created meanwhile (creating one locks the account FOR
      // UPDATE), while deliveries still update its usage. Then every mailbox, and all their messages in one
      // statement that releases the contents (the cascade below would lower no counter).
      await tx.query("SELECT 1 FROM accounts WHERE address = $1 FOR KEY SHARE", [address]);
      const boxes = await tx.query<{ id: number }>(
        `SELECT m.id FROM mailboxes m JOIN accounts a ON a.id = m.account_id WHERE a.address = $1
          ORDER BY m.id FOR UPDATE OF m`,
        [address],
      );
      await removeAllMessages(tx, boxes.map((b) => b.id));
      const rows = await tx.query("DELETE FROM accounts WHERE address = $1 RETURNING id", [address]);
      if (!rows.length) throw new NotFoundError(`Cannot delete user "${address}": no such user`);
      await tx.query("DELETE FROM aliases WHERE target = $1", [address]);
    });
  }

  /** Every account, optionally of one domain, by address. */
  async list(options: { domain?: string } = {}): Promise<Account[]> {
    const rows = await this.#db.query<AccountRow>(
      `SELECT a.id, a.address, a.quota_bytes, a.used_bytes, a.disabled, a.created_at
         FROM accounts a JOIN domains d ON d.id = a.domain_id
        WHERE $1::text IS NULL OR d.name = $1 ORDER BY a.address`,
      [options.domain ?? null],
    );
    return rows.map(toAccount);
  }

  /** An account by address, or undefined. */
  async get(input: string): Promise<Account | undefined> {
    const address = parseAddress(input)?.address ?? input;
    const rows = await this.#db.query<AccountRow>(
      "SELECT id, address, quota_bytes, used_bytes, disabled, created_at FROM accounts WHERE address = $1",
      [address],
    );
    return rows[0] && toAccount(rows[0]);
  }

  /**
   * Checks a login. Returns the account when the password matches and the account is enabled, else undefined.
   * Unknown users cost the same time as known ones. Upgrades the stored hash when its parameters are old.
   */
  async authenticate(input: string, password: string): Promise<Account | undefined> {
    const address = parseAddress(input)?.address;
    const rows = address
      ? await this.#db.query<AccountRow & { password_hash: string }>(
        `SELECT id, address, quota_bytes, used_bytes, disabled, created_at, password_hash
           FROM accounts WHERE address = $1`,
        [address],
      )
      : [];
    const row = rows[0];
    if (!row) return await verifyAgainstNothing(password) || undefined;
    const result = await verifyPassword(password, row.password_hash);
    if (!result.ok || row.disabled) return undefined;
    if (result.needsRehash) {
      await this.#db.query("UPDATE accounts SET password_hash = $2 WHERE id = $1 AND password_hash = $3", [
        row.id,
        await hashPassword(password),
        row.password_hash,
      ]);
    }
    return toAccount(row);
  }
}
