/**
 * @module
 * Mailboxes (IMAP folders) of an account. Names are full paths separated by "/"; "INBOX" is matched
 * case-insensitively (RFC 9051 §5.1).
 */
import { ConflictError, InvalidInputError, NotFoundError } from "./errors.ts";
import { notifyChanges } from "./changes.ts";
import { type Messages, parseUidList, removeMessages, uidListSql } from "./messages.ts";
import type { Queryable, SqlExecutor } from "./sql/executor.ts";

/** The hierarchy separator of mailbox names. */
export const SEPARATOR = "/";

/** STATUS counts of a mailbox (RFC 9051 §6.3.11). */
export interface MailboxStatus {
  messages: number;
  unseen: number;
  deleted: number;
  size: number;
  uidNext: number;
  uidValidity: number;
  highestModseq: number;
}

/** Refuses names that are empty, have empty levels, NUL/control characters, or are too long. */
export function checkMailboxName(name: string): void {
  // deno-lint-ignore no-control-regex
  if (!name || name.length > 512 || /[\x00-\x1f\x7f]/.test(name)) {
    throw new InvalidInputError(`Invalid mailbox name "${name.slice(0, 50)}"`);
  }
  if (name.split(SEPARATOR).some((level) => level === "" || level.length > 255)) {
    throw new InvalidInputError(`Invalid mailbox name "${name.slice(0, 50)}": empty hierarchy level`);
  }
}

/** A mailbox name as stored: INBOX (the first level) in upper case, whatever case the client wrote it in. */
export function canonicalName(name: string): string {
  const [first, ...rest] = name.split(SEPARATOR);
  return first!.toUpperCase() === "INBOX" ? ["INBOX", ...rest].join(SEPARATOR) : name;
}

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

/** Creates the missing parents of `name` (RFC 9051 §6.3.4) in the caller's transaction; returns the parent id. */
async function ensureParents(tx: Queryable, accountId: number, name: string): Promise<number | null> {
  const levels = name.split(SEPARATOR);
  let parentId: number | null = null;
  for (let i = 1; i < levels.length; i++) {
    const path = levels.slice(0, i).join(SEPARATOR);
    const existing: { id: number }[] = await tx.query<{ id: number }>(
      "SELECT id FROM mailboxes WHERE account_id = $1 AND name = $2",
      [accountId, path],
    );
    parentId = existing[0]?.id ??
      (await tx.query<{ id: number }>(
        "INSERT INTO mailboxes (account_id, name, parent_id) VALUES ($1, $2, $3) RETURNING id",
        [accountId, path, parentId],
      ))[0]!.id;
  }
  return parentId;
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
  readonly #messages: Messages;

  constructor(db: SqlExecutor, messages: Messages) {
    this.#db = db;
    this.#messages = messages;
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
    const key = canonicalName(name);
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

  /**
   * Creates a mailbox, and its missing parents (RFC 9051 §6.3.4). Throws ConflictError when it exists,
   * InvalidInputError for a bad name.
   */
  async create(accountId: number, input: string, options: { specialUse?: string | null } = {}): Promise<Mailbox> {
    const name = canonicalName(input.replace(/\/+$/, ""));
    checkMailboxName(name);
    return await this.#db.transaction(async (tx) => {
      await tx.query("SELECT id FROM accounts WHERE id = $1 FOR UPDATE", [accountId]); // one creator at a time
      const parentId = await ensureParents(tx, accountId, name);
      const rows = await tx.query<MailboxRow>(
        `INSERT INTO mailboxes (account_id, name, parent_id, special_use) VALUES ($1, $2, $3, $4)
           ON CONFLICT (account_id, name) DO NOTHING RETURNING ${COLUMNS}`,
        [accountId, name, parentId, options.specialUse ?? null],
      );
      if (!rows[0]) throw new ConflictError(`Mailbox "${name}" already exists`);
      return toMailbox(rows[0]);
    });
  }

  /** Deletes a mailbox with its messages. INBOX cannot be deleted; a mailbox with children neither. */
  async remove(accountId: number, input: string): Promise<void> {
    const name = canonicalName(input);
    if (name === "INBOX") throw new InvalidInputError("INBOX cannot be deleted");
    const id = await this.#db.transaction(async (tx) => {
      const [box] = await tx.query<{ id: number; children: number }>(
        `SELECT id, (SELECT count(*) FROM mailboxes c WHERE c.parent_id = mb.id)::int8 AS children
           FROM mailboxes mb WHERE account_id = $1 AND name = $2 FOR UPDATE`,
        [accountId, name],
      );
      if (!box) throw new NotFoundError(`No mailbox "${name}"`);
      if (box.children > 0) throw new ConflictError(`Mailbox "${name}" has children: delete them first`);
      // The messages first, releasing their contents and quota (a cascaded delete would lower no counter).
      const instance = this.#messages.changes.instance;
      await removeMessages(tx, instance, box.id, { deletedOnly: false });
      await tx.query("DELETE FROM mailboxes WHERE id = $1", [box.id]);
      await notifyChanges(tx, instance, [[box.id, 0]]);
      return box.id;
    });
    this.#messages.changes.committed([[id, 0]]);
  }

  /**
   * Renames a mailbox and everything below it (RFC 9051 §6.3.6). Renaming INBOX moves its messages into a new
   * mailbox of that name and leaves INBOX empty.
   */
  async rename(accountId: number, fromInput: string, toInput: string): Promise<void> {
    const from = canonicalName(fromInput);
    const to = canonicalName(toInput.replace(/\/+$/, ""));
    checkMailboxName(to);
    if (to === "INBOX" || to.startsWith(from + SEPARATOR)) {
      throw new InvalidInputError(`Cannot rename "${from}" to "${to}"`);
    }
    if (from === "INBOX") {
      const source = await this.get(accountId, "INBOX");
      if (!source) throw new NotFoundError("No INBOX");
      const target = await this.create(accountId, to);
      await this.#messages.copy(source.id, await this.#messages.uids(source.id), target.id, { move: true });
      return;
    }
    const instance = this.#messages.changes.instance;
    const renamed = await this.#db.transaction(async (tx) => {
      await tx.query("SELECT id FROM accounts WHERE id = $1 FOR UPDATE", [accountId]);
      const [box] = await tx.query<{ id: number }>("SELECT id FROM mailboxes WHERE account_id = $1 AND name = $2", [
        accountId,
        from,
      ]);
      if (!box) throw new NotFoundError(`No mailbox "${from}"`);
      const clash = await tx.query("SELECT 1 FROM mailboxes WHERE account_id = $1 AND (name = $2 OR name LIKE $3)", [
        accountId,
        to,
        to.replace(/[\\%_]/g, "\\$&") + SEPARATOR + "%",
      ]);
      if (clash.length) throw new ConflictError(`Mailbox "${to}" already exists`);
      const parentId = await ensureParents(tx, accountId, to);
      const rows = await tx.query<{ id: number }>(
        `UPDATE mailboxes SET name = $3 || substr(name, length($2) + 1)
          WHERE account_id = $1 AND (name = $2 OR substr(name, 1, length($2) + 1) = $2 || '${SEPARATOR}')
          RETURNING id`,
        [accountId, from, to],
      );
      await tx.query("UPDATE mailboxes SET parent_id = $2 WHERE id = $1", [box.id, parentId]);
      // Sessions with one of them selected read its new name (a re-SELECT by the old name must not find it).
      const changes: [number, number][] = rows.map((r) => [r.id, 0]);
      await notifyChanges(tx, instance, changes);
      return changes;
    });
    this.#messages.changes.committed(renamed);
  }

  /** SUBSCRIBE / UNSUBSCRIBE. */
  async setSubscribed(accountId: number, input: string, subscribed: boolean): Promise<void> {
    const rows = await this.#db.query(
      "UPDATE mailboxes SET subscribed = $3 WHERE account_id = $1 AND name = $2 RETURNING id",
      [accountId, canonicalName(input), subscribed],
    );
    if (!rows.length) throw new NotFoundError(`No mailbox "${input}"`);
  }

  /** STATUS counts of mailboxes by id (one query). */
  async status(mailboxIds: readonly number[]): Promise<Map<number, MailboxStatus>> {
    const rows = await this.#db.query<{
      id: number;
      messages: number;
      unseen: number;
      deleted: number;
      size: number;
      uid_next: number;
      uid_validity: number;
      highest_modseq: number;
    }>(
      `SELECT mb.id, mb.message_count AS messages, mb.size_bytes AS size, mb.uid_next, mb.uid_validity,
              mb.highest_modseq,
              (SELECT count(*) FROM messages m WHERE m.mailbox_id = mb.id AND NOT '\\Seen' = ANY(m.flags))::int8 AS unseen,
              (SELECT count(*) FROM messages m WHERE m.mailbox_id = mb.id AND '\\Deleted' = ANY(m.flags))::int8 AS deleted
         FROM mailboxes mb WHERE mb.id = ANY($1::bigint[])`,
      [mailboxIds],
    );
    return new Map(rows.map((r) => [r.id, {
      messages: r.messages,
      unseen: r.unseen,
      deleted: r.deleted,
      size: r.size,
      uidNext: r.uid_next,
      uidValidity: r.uid_validity,
      highestModseq: r.highest_modseq,
    }]));
  }

  /**
   * A mailbox and all its UIDs, read together (one statement, one snapshot): what SELECT needs. Undefined when
   * the mailbox is gone.
   */
  async withUids(id: number): Promise<{ mailbox: Mailbox; uids: number[] } | undefined> {
    const rows = await this.#db.query<MailboxRow & { uids: string | null }>(
      `SELECT ${COLUMNS}, (${uidListSql}) AS uids FROM mailboxes WHERE id = $1`,
      [id],
    );
    return rows[0] && { mailbox: toMailbox(rows[0]), uids: parseUidList(rows[0].uids) };
  }

  /** A mailbox by id, or undefined (e.g. deleted meanwhile). */
  async byId(id: number): Promise<Mailbox | undefined> {
    const rows = await this.#db.query<MailboxRow>(`SELECT ${COLUMNS} FROM mailboxes WHERE id = $1`, [id]);
    return rows[0] && toMailbox(rows[0]);
  }
}
