/**
 * @module
 * Mailboxes (IMAP folders) of an account. Names are full paths separated by "/"; "INBOX" is matched
 * case-insensitively (RFC 9051 §5.1).
 */
import type { Queryable, SqlExecutor } from "./sql/executor.ts";

/** The mailboxes every new account gets, with their RFC 6154 special-use attributes. */
export const DEFAULT_MAILBOXES: readonly { name: string; specialUse: string | null }[] = [
  { name: "INBOX", specialUse: null },
  { name: "Sent", specialUse: "\\Sent" },
  { name: "Drafts", specialUse: "\\Drafts" },
  { name: "Trash", specialUse: "\\Trash" },
  { name: "Junk", specialUse: "\\Junk" },
  { name: "Archive", specialUse: "\\Archive" },
];

/** A mailbox and its IMAP state. */
export interface Mailbox {
  id: number;
  accountId: number;
  name: string;
  parentId: number | null;
  specialUse: string | null;
  subscribed: boolean;
  uidValidity: number;
  uidNext: number;
  highestModseq: number;
  messageCount: number;
  sizeBytes: number;
}

interface MailboxRow {
  id: number;
  account_id: number;
  name: string;
  parent_id: number | null;
  special_use: string | null;
  subscribed: boolean;
  uid_validity: number;
  uid_next: number;
  highest_modseq: number;
  message_count: number;
  size_bytes: number;
  [key: string]: unknown;
}

const COLUMNS =
  "id, account_id, name, parent_id, special_use, subscribed, uid_validity, uid_next, highest_modseq, message_count, size_bytes";

function toMailbox(r: MailboxRow): Mailbox {
  return {
    id: r.id,
    accountId: r.account_id,
    name: r.name,
    parentId: r.parent_id,
    specialUse: r.special_use,
    subscribed: r.subscribed,
    uidValidity: r.uid_validity,
    uidNext: r.uid_next,
    highestModseq: r.highest_modseq,
    messageCount: r.message_count,
    sizeBytes: r.size_bytes,
  };
}

/** Creates the default mailboxes of a new account inside the caller's transaction. */
export async function createDefaultMailboxes(tx: Queryable, accountId: number): Promise<void> {
  await tx.query(
    `INSERT INTO mailboxes (account_id, name, special_use)
       SELECT $1, n, s FROM unnest($2::text[], $3::text[]) AS d(n, s)`,
    [accountId, DEFAULT_MAILBOXES.map((m) => m.name), DEFAULT_MAILBOXES.map((m) => m.specialUse)],
  );
}

/** Mailbox queries. */
export class Mailboxes {
  readonly #db: SqlExecutor;

  constructor(db: SqlExecutor) {
    this.#db = db;
  }

  /** Every mailbox of an account, by name. */
  async list(accountId: number): Promise<Mailbox[]> {
    const rows = await this.#db.query<MailboxRow>(
      `SELECT ${COLUMNS} FROM mailboxes WHERE account_id = $1 ORDER BY name`,
      [accountId],
    );
    return rows.map(toMailbox);
  }

  /** A mailbox by name (INBOX in any case), or undefined. */
  async get(accountId: number, name: string): Promise<Mailbox | undefined> {
    const key = name.toUpperCase() === "INBOX" ? "INBOX" : name;
    const rows = await this.#db.query<MailboxRow>(
      `SELECT ${COLUMNS} FROM mailboxes WHERE account_id = $1 AND name = $2`,
      [accountId, key],
    );
    return rows[0] && toMailbox(rows[0]);
  }

  /** The mailbox with a special-use attribute (e.g. `\Sent`), or undefined. */
  async special(accountId: number, specialUse: string): Promise<Mailbox | undefined> {
    const rows = await this.#db.query<MailboxRow>(
      `SELECT ${COLUMNS} FROM mailboxes WHERE account_id = $1 AND special_use = $2 ORDER BY id LIMIT 1`,
      [accountId, specialUse],
    );
    return rows[0] && toMailbox(rows[0]);
  }

  /** The INBOX of each account, by account id (one query for many recipients). */
  async inboxes(accountIds: readonly number[]): Promise<Map<number, number>> {
    const rows = await this.#db.query<{ id: number; account_id: number }>(
      "SELECT id, account_id FROM mailboxes WHERE account_id = ANY($1::bigint[]) AND name = 'INBOX'",
      [accountIds],
    );
    return new Map(rows.map((r) => [r.account_id, r.id]));
  }
}
