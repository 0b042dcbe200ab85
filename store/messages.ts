/**
 * @module
 * Messages: delivery (store the content once, append it to many mailboxes, atomically and group-committed),
 * listing and reading. Every append allocates UIDs and a MODSEQ from the mailbox row inside the transaction
 * (never from process memory), writes the change log and NOTIFYs — so several instances can share one database.
 */
import { GroupCommit } from "./group_commit.ts";
import type { Queryable, SqlExecutor } from "./sql/executor.ts";
import { CHANGES_CHANNEL } from "./changes.ts";

/** What is parsed from a message's content once, at delivery (see mail/parse.ts). */
export interface ParsedContent {
  /** JSON: MIME tree with byte offsets, ENVELOPE, BODYSTRUCTURE, header fields. */
  structure: unknown;
  /** Decoded text for SEARCH BODY/TEXT. */
  searchText: string;
  /** Message-ID without angle brackets, when present. */
  messageId: string | null;
}

/** One mailbox a delivery goes into. */
export interface DeliveryTarget {
  mailboxId: number;
  flags?: readonly string[];
}

/** RFC 3461 delivery status notification parameters, kept for the outbound worker. */
export interface DsnParams {
  ret?: "FULL" | "HDRS";
  envid?: string;
  notify?: string[];
  orcpt?: string;
}

/** One external recipient of a submitted message, for the outbound queue. */
export interface QueueEntry {
  /** Groups the recipients of one submission. */
  submissionId: string;
  mailFrom: string;
  recipient: string;
  accountId?: number;
  dsn?: DsnParams;
}

/** One message content into one or more mailboxes and/or the outbound queue. */
export interface Delivery {
  raw: Uint8Array;
  parsed: ParsedContent;
  targets: readonly DeliveryTarget[];
  /** External recipients of this content, queued for outbound delivery in the same transaction. */
  queue?: readonly QueueEntry[];
  /** IMAP INTERNALDATE; default: now. */
  internalDate?: Date;
}

/** Where one target's copy landed. */
export interface Appended {
  mailboxId: number;
  uid: number;
  modseq: number;
}

/** A message as listed (no body). */
export interface MessageSummary {
  id: number;
  mailboxId: number;
  uid: number;
  modseq: number;
  flags: string[];
  internalDate: Date;
  size: number;
  messageId: string | null;
}

/** Contents up to this size are inserted together in one statement per batch. */
const SMALL_BLOB = 256 * 1024;

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

async function sha256(data: Uint8Array): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", data as Uint8Array<ArrayBuffer>));
}

interface Prepared extends Delivery {
  hash: string;
}

/** Message operations. */
export class Messages {
  readonly #db: SqlExecutor;
  readonly #group: GroupCommit<Prepared[], Appended[][]>;

  constructor(db: SqlExecutor) {
    this.#db = db;
    this.#group = new GroupCommit((units) =>
      this.#db.transaction(async (tx) => {
        const flat = await appendBatch(tx, units.flat());
        let at = 0;
        return units.map((u) => flat.slice(at, at += u.length));
      })
    );
  }

  /**
   * Stores a message in every target mailbox (and queues it for its external recipients). Resolves only after
   * the transaction has committed, so the caller may acknowledge the message; concurrent deliveries share a
   * transaction.
   */
  async deliver(delivery: Delivery): Promise<Appended[]> {
    return (await this.deliverAll([delivery]))[0]!;
  }

  /** Stores several contents atomically: all of them are committed, or none. One result per delivery. */
  async deliverAll(deliveries: readonly Delivery[]): Promise<Appended[][]> {
    const units = deliveries.filter((d) => d.targets.length || d.queue?.length);
    if (!units.length) return deliveries.map(() => []);
    const prepared = await Promise.all(units.map(async (d) => ({ ...d, hash: hex(await sha256(d.raw)) })));
    const results = await this.#group.submit(prepared);
    let at = 0;
    return deliveries.map((d) => (d.targets.length || d.queue?.length ? results[at++]! : []));
  }

  /** The messages of a mailbox in UID order, without bodies. */
  async list(mailboxId: number): Promise<MessageSummary[]> {
    const rows = await this.#db.query<{
      id: number;
      mailbox_id: number;
      uid: number;
      modseq: number;
      flags: string[];
      internal_date: Date;
      size: number;
      message_id: string | null;
    }>(
      `SELECT id, mailbox_id, uid, modseq, flags, internal_date, size, message_id
         FROM messages WHERE mailbox_id = $1 ORDER BY uid`,
      [mailboxId],
    );
    return rows.map((r) => ({
      id: r.id,
      mailboxId: r.mailbox_id,
      uid: r.uid,
      modseq: r.modseq,
      flags: r.flags,
      internalDate: r.internal_date,
      size: r.size,
      messageId: r.message_id,
    }));
  }

  /** The raw bytes of a message, or undefined. */
  async raw(mailboxId: number, uid: number): Promise<Uint8Array | undefined> {
    const rows = await this.#db.query<{ data: Uint8Array }>(
      `SELECT b.data FROM messages m JOIN blobs b ON b.hash = m.blob_hash WHERE m.mailbox_id = $1 AND m.uid = $2`,
      [mailboxId, uid],
    );
    return rows[0]?.data;
  }
}

/** Appends a batch of deliveries in the caller's transaction. Exported for the store's own tests. */
export async function appendBatch(tx: Queryable, batch: readonly Prepared[]): Promise<Appended[][]> {
  // 1. Content, once per distinct hash. DO UPDATE (not NOTHING) locks an existing row, so a concurrent
  //    delete of its last reference cannot remove it before our messages point at it. Small contents go in one
  //    statement (concatenated into one parameter, cut apart by offsets); large ones one by one. Hash order
  //    keeps row locks in one order across concurrent batches.
  const unique = [...new Map(batch.map((d) => [d.hash, d])).values()].sort((a, b) => (a.hash < b.hash ? -1 : 1));
  const small = unique.filter((d) => d.raw.length <= SMALL_BLOB);
  for (const d of unique.filter((d) => d.raw.length > SMALL_BLOB)) {
    await tx.query(
      `INSERT INTO blobs (hash, data, size, structure, search_text)
         VALUES (decode($1, 'hex'), $2, $3, $4::jsonb, $5)
         ON CONFLICT (hash) DO UPDATE SET refcount = blobs.refcount`,
      [d.hash, d.raw, d.raw.length, JSON.stringify(d.parsed.structure), d.parsed.searchText],
    );
  }
  if (small.length) {
    const all = new Uint8Array(small.reduce((n, d) => n + d.raw.length, 0));
    const offsets: number[] = [];
    let at = 0;
    for (const d of small) {
      all.set(d.raw, at);
      offsets.push(at + 1); // substring() counts from 1
      at += d.raw.length;
    }
    await tx.query(
      `INSERT INTO blobs (hash, data, size, structure, search_text)
         SELECT decode(h, 'hex'), substring($2::bytea FROM o::int FOR l::int), l, s::jsonb, t
           FROM unnest($1::text[], $3::bigint[], $4::bigint[], $5::text[], $6::text[]) AS r(h, o, l, s, t)
         ON CONFLICT (hash) DO UPDATE SET refcount = blobs.refcount`,
      [
        small.map((d) => d.hash),
        all,
        offsets,
        small.map((d) => d.raw.length),
        small.map((d) => JSON.stringify(d.parsed.structure)),
        small.map((d) => d.parsed.searchText),
      ],
    );
  }

  // 2. UIDs and one MODSEQ per mailbox, locking mailbox rows in id order (no deadlock between batches).
  const perMailbox = new Map<number, number>();
  for (const d of batch) for (const t of d.targets) perMailbox.set(t.mailboxId, (perMailbox.get(t.mailboxId) ?? 0) + 1);
  const ids = [...perMailbox.keys()].sort((a, b) => a - b);
  await appendQueue(tx, batch);
  if (!ids.length) return batch.map(() => []);
  await tx.query("SELECT id FROM mailboxes WHERE id = ANY($1::bigint[]) ORDER BY id FOR UPDATE", [ids]);
  const allocated = await tx.query<{ id: number; first_uid: number; modseq: number }>(
    `UPDATE mailboxes m SET uid_next = m.uid_next + u.n, highest_modseq = m.highest_modseq + 1
       FROM unnest($1::bigint[], $2::bigint[]) AS u(id, n)
      WHERE m.id = u.id
      RETURNING m.id, m.uid_next - u.n AS first_uid, m.highest_modseq AS modseq`,
    [ids, ids.map((id) => perMailbox.get(id)!)],
  );
  if (allocated.length !== ids.length) throw new Error("delivery target mailbox vanished");
  const next = new Map(allocated.map((r) => [r.id, { uid: r.first_uid, modseq: r.modseq }]));

  // 3. Every message row in one statement.
  const results: Appended[][] = [];
  const cols = {
    mailbox: [] as number[],
    uid: [] as number[],
    modseq: [] as number[],
    flags: [] as string[],
    date: [] as string[],
    size: [] as number[],
    hash: [] as string[],
    messageId: [] as (string | null)[],
  };
  const now = new Date().toISOString();
  for (const d of batch) {
    const landed: Appended[] = [];
    for (const t of d.targets) {
      const slot = next.get(t.mailboxId)!;
      const uid = slot.uid++;
      landed.push({ mailboxId: t.mailboxId, uid, modseq: slot.modseq });
      cols.mailbox.push(t.mailboxId);
      cols.uid.push(uid);
      cols.modseq.push(slot.modseq);
      cols.flags.push(JSON.stringify(t.flags ?? []));
      cols.date.push(d.internalDate?.toISOString() ?? now);
      cols.size.push(d.raw.length);
      cols.hash.push(d.hash);
      cols.messageId.push(d.parsed.messageId);
    }
    results.push(landed);
  }
  await tx.query(
    `INSERT INTO messages (mailbox_id, uid, modseq, flags, internal_date, size, blob_hash, message_id)
       SELECT mb, u, ms, ARRAY(SELECT jsonb_array_elements_text(f::jsonb)), dt, sz, decode(h, 'hex'), mid
         FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::text[], $5::timestamptz[], $6::bigint[],
                     $7::text[], $8::text[]) AS r(mb, u, ms, f, dt, sz, h, mid)`,
    [cols.mailbox, cols.uid, cols.modseq, cols.flags, cols.date, cols.size, cols.hash, cols.messageId],
  );

  // 4. The change log and one notification per commit.
  await tx.query(
    `INSERT INTO mailbox_changes (mailbox_id, modseq, uid, kind)
       SELECT mb, ms, u, 'append' FROM unnest($1::bigint[], $2::bigint[], $3::bigint[]) AS r(mb, ms, u)`,
    [cols.mailbox, cols.modseq, cols.uid],
  );
  await notifyChanges(tx, allocated.map((r) => [r.id, r.modseq + 0] as const));
  return results;
}

async function appendQueue(tx: Queryable, batch: readonly Prepared[]): Promise<void> {
  const rows = batch.flatMap((d) => (d.queue ?? []).map((q) => ({ ...q, hash: d.hash })));
  if (!rows.length) return;
  await tx.query(
    `INSERT INTO outbound_queue (blob_hash, submission_id, account_id, mail_from, recipient, domain, dsn)
       SELECT decode(h, 'hex'), s, a, f, r, lower(split_part(r, '@', 2)), d::jsonb
         FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::text[], $6::text[]) AS q(h, s, a, f, r, d)`,
    [
      rows.map((r) => r.hash),
      rows.map((r) => r.submissionId),
      rows.map((r) => r.accountId ?? null),
      rows.map((r) => r.mailFrom),
      rows.map((r) => r.recipient),
      rows.map((r) => JSON.stringify(r.dsn ?? {})),
    ],
  );
}

/** NOTIFYs `mailboxId:modseq` pairs; delivered to listeners when the transaction commits. */
export async function notifyChanges(tx: Queryable, changes: readonly (readonly [number, number])[]): Promise<void> {
  // NOTIFY payloads are limited to 8000 bytes: split long lists.
  const parts = changes.map(([m, s]) => `${m}:${s}`);
  for (let i = 0; i < parts.length; i += 400) {
    await tx.query("SELECT pg_notify($1, $2)", [CHANGES_CHANNEL, parts.slice(i, i + 400).join(",")]);
  }
}
