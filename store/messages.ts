/**
 * @module
 * Messages: delivery (store the content once, append it to many mailboxes, atomically and group-committed),
 * listing and reading. Every append allocates UIDs and a MODSEQ from the mailbox row inside the transaction
 * (never from process memory) and NOTIFYs; expunges are logged (`mailbox_changes`) — so several instances can
 * share one database.
 */
import { Buffer } from "node:buffer";
import { createHash } from "node:crypto";
import { GroupCommit } from "./group_commit.ts";
import { NotFoundError, QuotaExceededError } from "./errors.ts";
import { MessageCache } from "./message_cache.ts";
import { needsBlob, type SearchCriteria, searchSql } from "./search.ts";
import type { Queryable, SqlExecutor } from "./sql/executor.ts";
import { type Changes, notifyChanges, notifySql } from "./changes.ts";
import { canonicalName } from "./mailboxes.ts";

/** What is parsed from a message's content once, at delivery (see mail/parse.ts). */
export interface ParsedContent {
  /** JSON: MIME tree with byte offsets, ENVELOPE, BODYSTRUCTURE, header fields. */
  structure: unknown;
  /** Decoded text for SEARCH BODY/TEXT. */
  searchText: string;
  /** Message-ID without angle brackets, when present. */
  messageId: string | null;
  /** Decoded, unfolded header lines for SEARCH HEADER/TEXT (default: none). */
  headerText?: string;
  /** The day the Date: header names (`YYYY-MM-DD`), for SEARCH SENT* (default: none). */
  sentDay?: string | null;
}

/** One mailbox a delivery goes into. */
export interface DeliveryTarget {
  mailboxId: number;
  flags?: readonly string[];
  /**
   * Keep the Message-ID with this copy, so that an IMAP APPEND of the same message to this mailbox finds it
   * (Sent de-duplication). Only Sent copies need it; other copies skip the index entry.
   */
  keepMessageId?: boolean;
}

/** RFC 3461 delivery status notification parameters, kept for the outbound worker. */
export interface DsnParams {
  ret?: "FULL" | "HDRS";
  envid?: string;
  notify?: string[];
  orcpt?: string;
  /** RFC 8689: the sender asked for TLS with a verified certificate at every hop (kept with the DSN parameters). */
  requiretls?: boolean;
  /** RFC 6531: submitted with SMTPUTF8 (the next hop must support it if the message really has UTF-8 headers). */
  smtputf8?: boolean;
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
  /** Other messages went into the same mailbox with the same MODSEQ (one group-committed batch). */
  sharedModseq: boolean;
}

/** A message for `Messages.append`. */
export interface AppendDelivery {
  raw: Uint8Array;
  parsed: ParsedContent;
  flags: readonly string[];
  internalDate?: Date;
}

/** Where an IMAP APPEND landed (`Messages.append`). */
export interface AppendResult {
  mailbox: { id: number; uidValidity: number; specialUse: string | null };
  uid: number;
  /** The message was in Sent already (saved at submission): `uid` is that copy's. */
  existing: boolean;
  /** The MODSEQ of the append (not set for an existing copy). */
  modseq?: number;
}

/** Per-message metadata for FETCH (no body). */
export interface MessageMeta {
  uid: number;
  modseq: number;
  flags: string[];
  internalDate: Date;
  size: number;
  messageId: string | null;
  /** Content hash (hex), to read the body or a slice of it. */
  hash: string;
  /** The parsed structure, when asked for. */
  structure?: unknown;
  /** The whole raw message, when asked for. */
  content?: Uint8Array;
}

type SearchRow = { uids: string | null; modseq: number | null };

interface MetaRow {
  uid: number;
  modseq: number;
  flags: string[];
  internal_date: Date;
  size: number;
  message_id: string | null;
  hash: string;
  /** The structure's JSON text: parsed here, its length is what the message cache charges for it. */
  structure_json?: string;
  [key: string]: unknown;
}

function toMeta(r: MetaRow): MessageMeta {
  const m: MessageMeta = {
    uid: r.uid,
    modseq: r.modseq,
    flags: r.flags.sort(),
    internalDate: r.internal_date,
    size: r.size,
    messageId: r.message_id,
    hash: r.hash,
  };
  if (r.structure_json !== undefined) m.structure = JSON.parse(r.structure_json);
  if (r.data !== undefined) m.content = r.data as Uint8Array;
  return m;
}

/** Flags and MODSEQ of one message (what an IMAP session keeps of a mailbox it has selected). */
export interface FlagState {
  uid: number;
  flags: string[];
  modseq: number;
}

/** A message as listed (no body). */
export interface MessageSummary {
  mailboxId: number;
  uid: number;
  modseq: number;
  flags: string[];
  internalDate: Date;
  size: number;
  messageId: string | null;
}

/**
 * A Message-ID as stored (for Sent de-duplication): `packable`, as a delivery batch sends it (so U+0000 and
 * U+001F, which no real Message-ID holds, become U+FFFD and a space); null when there is none.
 */
function storedMessageId(id: string | null): string | null {
  return id ? packable(id) : null;
}

/**
 * Flags as written: distinct and sorted. A STORE adds and removes them in place (`flagChange`), so the order of a
 * stored array is not kept: everything that reads flags back sorts them, and two flag sets compare as arrays.
 */
export function normalizeFlags(flags: readonly string[]): string[] {
  return [...new Set(flags)].sort();
}

/** Past this many flags in one STORE, the new flags are computed by a subquery instead of one call per flag. */
const INLINE_FLAG_CHANGES = 8;

/**
 * SQL for a STORE of `count` flags (parameter $3: the flags, space-separated) on a messages row `m`: `needed`, true
 * when the row does not have the result yet, and `value`, the new flags (distinct; in no particular order).
 * Written with array functions and operators only: a subquery (unnest, then array_agg) made Postgres set up
 * several plan nodes per execution, which cost it as much as running the whole statement did.
 */
function flagChange(op: "add" | "remove" | "set", count: number): { value: string; needed: string } {
  const list = "string_to_array($3::text, ' ')";
  const without = (from: string) =>
    count > INLINE_FLAG_CHANGES
      ? `ARRAY(SELECT f FROM unnest(${from}) f WHERE f <> ALL(${list}))`
      : Array.from({ length: count }, (_, i) => i + 1).reduce((a, i) => `array_remove(${a}, (${list})[${i}])`, from);
  switch (op) {
    case "add":
      return { value: `${without("m.flags")} || ${list}`, needed: `NOT m.flags @> ${list}` };
    case "remove":
      return { value: without("m.flags"), needed: `m.flags && ${list}` };
    case "set":
      return { value: list, needed: `NOT (m.flags @> ${list} AND m.flags <@ ${list})` };
  }
}

/** Up to this many UIDs, a flag change passes them as scalars (`Messages.storeFlags`). */
const SCALAR_UIDS = 8;

/** SHA-256 as hex (node:crypto: synchronous and fast for the sizes of mail). */
function sha256Hex(data: Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

interface Prepared extends Delivery {
  hash: string;
  internalDate: Date;
  /** `parsed.structure` as JSON, as stored. */
  structureJson: string;
  /** The texts the content's row is written with (`appendBatch`), made when the delivery is submitted. */
  stored: { content: string; search: string; header: string; structure: string };
}

/**
 * Everything `appendBatch` writes about a content that can be made before its batch: the work happens in the
 * delivering session, while an earlier batch commits, instead of between two batches (when Postgres waits).
 */
function prepare(d: Delivery, now: Date): Prepared {
  const structureJson = JSON.stringify(d.parsed.structure);
  return {
    ...d,
    hash: sha256Hex(d.raw),
    internalDate: d.internalDate ?? now,
    structureJson,
    stored: {
      // base64: postgres.js would send a bytea as hex, twice its size, for Postgres to decode.
      content: Buffer.from(d.raw.buffer, d.raw.byteOffset, d.raw.byteLength).toString("base64"),
      // Lower-cased here, like the search terms (store/search.ts): Postgres's lower() took 10% of its time per
      // delivery, and its result depends on the database's locale (C lowers ASCII only).
      search: packable(d.parsed.searchText.toLowerCase()),
      header: packable((d.parsed.headerText ?? "").toLowerCase()),
      structure: packable(structureJson),
    },
  };
}

/** A copy of `bytes` unless it already has its buffer to itself (a cached value must not pin a larger one). */
function ownBytes(bytes: Uint8Array): Uint8Array {
  return bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength ? bytes : bytes.slice();
}

/** Options of {@linkcode Messages}. */
export interface MessagesOptions {
  /** Memory for recently read messages (`Messages.cache`); 0 or absent: none. */
  cacheBytes?: number;
  /**
   * Flag changes wait for the disk before they are reported (default false: they commit asynchronously, see
   * `storeFlags`). Mail itself is always durable before it is acknowledged.
   */
  durableFlagChanges?: boolean;
}

/** Message operations. */
export class Messages {
  readonly #db: SqlExecutor;
  /** SQL that makes the transaction it runs in commit without waiting for the disk ("" when flags are durable). */
  readonly #flagCommit: string;
  /** Recently read messages (their immutable part): FETCH answers from it without a query. */
  readonly cache: MessageCache;
  readonly #group: GroupCommit<Prepared[], Appended[][]>;
  /** Where committed changes are announced (this process's watchers; other instances by NOTIFY). */
  readonly changes: Changes;

  constructor(db: SqlExecutor, changes: Changes, options: MessagesOptions = {}) {
    this.#db = db;
    this.changes = changes;
    this.cache = new MessageCache(options.cacheBytes ?? 0);
    this.#flagCommit = options.durableFlagChanges ? "" : ", set_config('synchronous_commit', 'off', true)";
    this.#group = new GroupCommit(async (units) => {
      const all = units.flat();
      const flat = all.some((d) => d.queue?.length)
        ? await this.#db.transaction((tx) => appendBatch(tx, all, changes.instance))
        : await appendBatch(this.#db, all, changes.instance); // one statement in autocommit: one round trip
      changes.committed(flat.flat().map((a) => [a.mailboxId, a.modseq]));
      let at = 0;
      return units.map((u) => flat.slice(at, at += u.length));
    });
  }

  /**
   * Puts just stored messages into the message cache: new mail is what clients fetch next (a phone told by IDLE,
   * the second device), and this process holds it already parsed.
   */
  #remember(batch: readonly Prepared[], landed: readonly Appended[][]): void {
    batch.forEach((d, i) => {
      const content = ownBytes(d.raw);
      d.targets.forEach((t, j) => {
        const at = landed[i]![j]!;
        this.cache.set(at.mailboxId, {
          uid: at.uid,
          internalDate: d.internalDate,
          size: d.raw.length,
          messageId: t.keepMessageId ? storedMessageId(d.parsed.messageId) : null,
          hash: d.hash,
          structure: d.parsed.structure,
          content,
        }, d.structureJson.length);
      });
    });
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
    const now = new Date();
    const prepared = units.map((d) => prepare(d, now));
    const results = await this.#group.submit(prepared);
    this.#remember(prepared, results); // here, not in the flush: the next batch does not wait for it
    let at = 0;
    return deliveries.map((d) => (d.targets.length || d.queue?.length ? results[at++]! : []));
  }

  /** The messages of a mailbox in UID order, without bodies. */
  async list(mailboxId: number): Promise<MessageSummary[]> {
    const rows = await this.#db.query<{
      mailbox_id: number;
      uid: number;
      modseq: number;
      flags: string[];
      internal_date: Date;
      size: number;
      message_id: string | null;
    }>(
      `SELECT mailbox_id, uid, modseq, flags, internal_date, size, message_id
         FROM messages WHERE mailbox_id = $1 ORDER BY uid`,
      [mailboxId],
    );
    return rows.map((r) => ({
      mailboxId: r.mailbox_id,
      uid: r.uid,
      modseq: r.modseq,
      flags: r.flags.sort(),
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

  /** Every UID of a mailbox, ascending (an IMAP session's sequence-number map). */
  async uids(mailboxId: number): Promise<number[]> {
    const [row] = await this.#db.query<{ uids: string | null }>(`SELECT (${uidListSql}) AS uids`, [mailboxId]);
    return parseUidList(row?.uids ?? null);
  }

  /**
   * Metadata of the messages whose UIDs fall in `ranges`, ascending; with `structure`, the parsed structure
   * too (one join, no body bytes); with `content`, the whole raw message as well (FETCH BODY[] of a batch: one
   * query, not two). `changedSince` keeps only messages with a greater MODSEQ (CONDSTORE).
   */
  async meta(
    mailboxId: number,
    ranges: readonly (readonly [number, number])[],
    options: { structure?: boolean; content?: boolean; changedSince?: number; flagsOnly?: boolean } = {},
  ): Promise<MessageMeta[]> {
    if (!ranges.length) return [];
    const params: unknown[] = [mailboxId];
    const where = searchSql({ type: "uids", ranges }, params);
    let changed = "";
    if (options.changedSince !== undefined) {
      params.push(options.changedSince);
      changed = ` AND m.modseq > $${params.length}`;
    }
    if (options.flagsOnly) return await this.#flagsMeta(`m.mailbox_id = $1 AND ${where}${changed}`, params);
    const columns =
      "m.uid, m.modseq, m.flags, m.internal_date, m.size, m.message_id, encode(m.blob_hash, 'hex') AS hash";
    const join = options.structure || options.content;
    const rows = await this.#db.query<MetaRow>(
      `SELECT ${columns} ${options.structure ? ", b.structure::text AS structure_json" : ""} ${
        options.content ? ", b.data" : ""
      }
         FROM messages m ${join ? "JOIN blobs b ON b.hash = m.blob_hash" : ""}
        WHERE m.mailbox_id = $1 AND ${where}${changed} ORDER BY m.uid`,
      params,
    );
    return rows.map((r) => {
      const m = toMeta(r);
      if (r.structure_json !== undefined) {
        this.cache.set(mailboxId, {
          uid: m.uid,
          internalDate: m.internalDate,
          size: m.size,
          messageId: m.messageId,
          hash: m.hash,
          structure: m.structure,
          ...(m.content ? { content: ownBytes(m.content) } : {}),
        }, r.structure_json.length);
      }
      return m;
    });
  }

  /**
   * What `meta` would return with `structure` (and `content`) for these messages, from the cache and the flags
   * the caller holds, without a query; null unless every one of them is cached (with its content, if asked).
   */
  fromCache(mailboxId: number, flags: readonly FlagState[], options: { content: boolean }): MessageMeta[] | null {
    const out: MessageMeta[] = [];
    for (const f of flags) {
      const c = this.cache.get(mailboxId, f.uid);
      if (!c || (options.content && !c.content)) return null;
      out.push({ ...c, flags: f.flags, modseq: f.modseq });
    }
    return out;
  }

  /**
   * UID, MODSEQ and flags of every message of a mailbox (with `changedSince`, of those with a greater MODSEQ),
   * ascending: what an IMAP session keeps, and its catch-up. One text value, parsed by `parseFlagLines`.
   */
  async flags(mailboxId: number, changedSince?: number): Promise<FlagState[]> {
    const where = changedSince === undefined ? "m.mailbox_id = $1" : "m.mailbox_id = $1 AND m.modseq > $2";
    const [row] = await this.#db.query<{ t: string | null }>(
      `SELECT (${flagLinesSql(where)}) AS t`,
      changedSince === undefined ? [mailboxId] : [mailboxId, changedSince],
    );
    return parseFlagLines(row?.t ?? null);
  }

  /** UID, MODSEQ and flags only (FETCH FLAGS/UID/MODSEQ) via `flagLinesSql`; the rest is empty. */
  async #flagsMeta(where: string, params: unknown[]): Promise<MessageMeta[]> {
    const [row] = await this.#db.query<{ t: string | null }>(`SELECT (${flagLinesSql(where)}) AS t`, params);
    const epoch = new Date(0);
    return parseFlagLines(row?.t ?? null).map((f) => ({
      ...f,
      internalDate: epoch,
      size: 0,
      messageId: null,
      hash: "",
    }));
  }

  /** The whole raw message by content hash (hex). */
  async content(hash: string): Promise<Uint8Array> {
    const rows = await this.#db.query<{ data: Uint8Array }>("SELECT data FROM blobs WHERE hash = decode($1, 'hex')", [
      hash,
    ]);
    if (!rows[0]) throw new NotFoundError(`no content ${hash}`);
    return rows[0].data;
  }

  /** Bytes `[start, start + length)` of a content, read without loading the rest (partial FETCH). */
  async slice(hash: string, start: number, length: number): Promise<Uint8Array> {
    const rows = await this.#db.query<{ data: Uint8Array }>(
      "SELECT substring(data FROM $2::int FOR $3::int) AS data FROM blobs WHERE hash = decode($1, 'hex')",
      [hash, start + 1, Math.max(0, length)],
    );
    return rows[0]?.data ?? new Uint8Array();
  }

  /** UIDs matching `criteria`, ascending, and the highest MODSEQ among them (SEARCH, RFC 7162 §3.1.5). */
  async search(mailboxId: number, criteria: SearchCriteria): Promise<{ uids: number[]; highestModseq: number }> {
    const params: unknown[] = [mailboxId];
    const where = searchSql(criteria, params);
    // One row, the UIDs as one text: a search that matches thousands of messages is not thousands of rows for
    // postgres.js to parse (≈ 1 µs each).
    const sql = `SELECT string_agg(m.uid::text, ',') AS uids, max(m.modseq) AS modseq FROM messages m ${
      needsBlob(criteria) ? "JOIN blobs b ON b.hash = m.blob_hash" : ""
    } WHERE m.mailbox_id = $1 AND ${where}`;
    // A text search reads every message's text. Postgres cannot estimate how few rows a substring test keeps
    // (it assumes a third), so it thinks a parallel scan would ship most of the table between processes and
    // runs it on one core; told that shipping rows is cheap, it splits the scan (SEARCH TEXT on 100,000 messages:
    // ~350 → ~210 ms on two cores). For this statement only; PGlite has no parallel workers and ignores it.
    const rows = needsBlob(criteria)
      ? await this.#db.transaction(async (tx) => {
        await tx.query(
          "SELECT set_config('parallel_tuple_cost', '0.001', true), set_config('parallel_setup_cost', '100', true)",
        );
        return await tx.query<SearchRow>(sql, params);
      })
      : await this.#db.query<SearchRow>(sql, params);
    const uids = rows[0]?.uids ? rows[0].uids.split(",").map(Number) : [];
    return { uids: uids.sort((a, b) => a - b), highestModseq: rows[0]?.modseq ?? 0 };
  }

  /**
   * Changes flags of the given UIDs (RFC 9051 §6.4.6) with one new MODSEQ. `unchangedSince` (RFC 7162 §3.1.3)
   * leaves messages modified after it alone and reports them in `modified`. A STORE of messages that are gone
   * (expunged, or their mailbox deleted) changes nothing, as RFC 9051 §6.4.6 has it for expunged messages.
   */
  async storeFlags(
    mailboxId: number,
    uids: readonly number[],
    op: "add" | "remove" | "set",
    flags: readonly string[],
    unchangedSince?: number,
  ): Promise<{ updated: { uid: number; flags: string[]; modseq: number }[]; modified: number[] }> {
    if (!uids.length) return { updated: [], modified: [] };
    const list = normalizeFlags(flags);
    const { value, needed } = flagChange(op, list.length);
    // One statement in autocommit (one round trip). The mailbox row is locked, and HIGHESTMODSEQ moved, first
    // (before any message row: the order every writer locks in, and what orders MODSEQs), and only when a message
    // needs the change: a STORE that changes nothing (the flag is already there) is a read, with nothing to commit
    // to disk. Should a concurrent STORE make the change first, the MODSEQ is spent on nothing — a gap RFC 7162
    // allows.
    // The commit does not wait for the disk (unless durableFlagChanges): the flush cost Postgres more than the
    // statement did, and the reply waited for it. Dovecot does not sync flag changes either. The change is atomic
    // and visible to every session at once; what a crash of Postgres or its host (not of Silvermail) can take back
    // is the last fraction of a second of flag changes, and with them the MODSEQs they were given: a
    // CONDSTORE/QRESYNC client told such a MODSEQ may miss the changes that get it again. Mail itself is never
    // committed this way (deliveries, APPEND, COPY, MOVE, EXPUNGE wait for the disk), and a later durable commit
    // flushes the flag changes before it.
    // A few UIDs (the usual STORE: one) as scalars: Postgres then keeps one generic plan per count; with an array
    // it plans the statement anew every call, which cost more than running it (one UID: 0.46 vs 0.17 ms; three,
    // flagged \Deleted before an EXPUNGE: 0.7 vs 0.57 ms), as it did for the RCPT lookup. Many go as one array.
    const scalars = uids.length <= SCALAR_UIDS;
    const params: unknown[] = [mailboxId, scalars ? uids[0] : uids, list.join(" "), this.changes.instance];
    let unchanged = "";
    if (unchangedSince !== undefined) {
      params.push(unchangedSince);
      unchanged = " AND m.modseq <= $5";
    }
    let uidIs = "= ANY($2::bigint[])";
    if (scalars) {
      // 1, 2, 4 or 8 of them (the last repeated): few statements to plan, per connection.
      const refs = ["$2::bigint"];
      for (let i = 1; i < uids.length || (refs.length & (refs.length - 1)) !== 0; i++) {
        refs.push(`$${params.push(uids[Math.min(i, uids.length - 1)])}::bigint`);
      }
      uidIs = refs.length === 1 ? "= $2::bigint" : `IN (${refs.join(", ")})`;
    }
    const target = `m.mailbox_id = $1 AND m.uid ${uidIs} AND ${needed}`;
    type Row = { k: string; uid: number; flags: string[] | null; modseq: number | null };
    const sql = `WITH box AS (
         UPDATE mailboxes SET highest_modseq = highest_modseq + 1
          WHERE id = $1 AND EXISTS (SELECT 1 FROM messages m WHERE ${target}${unchanged})
          RETURNING highest_modseq AS modseq, ${notifySql("$4", "id || ':' || highest_modseq")}${this.#flagCommit}),
       upd AS (
         UPDATE messages m SET flags = ${value}, modseq = box.modseq FROM box
          WHERE ${target}${unchanged}
          RETURNING m.uid, m.flags, m.modseq)
       ${
      unchangedSince === undefined
        ? "SELECT 'updated' AS k, uid, flags, modseq FROM upd"
        : `SELECT 'updated' AS k, uid, flags, modseq FROM upd
             UNION ALL SELECT 'modified', m.uid, NULL, NULL FROM messages m
              WHERE m.mailbox_id = $1 AND m.uid ${uidIs} AND m.modseq > $5`
    }`;
    // With UNCHANGEDSINCE, what the statement reports as modified must be what it left alone. Its reads see the
    // database as it was when it started; a concurrent STORE committing meanwhile would be left alone by the
    // update (which re-checks a row changed under it) and yet missing from "modified" (which does not): the client
    // would believe a change made that was not. So the mailbox row is locked first, in a statement of its own:
    // every flag change holds that lock, and the STORE's statement, started after it, sees all of them.
    const rows = unchangedSince === undefined
      ? await this.#db.query<Row>(sql, params)
      : await this.#db.transaction(async (tx) => {
        await tx.query("SELECT 1 FROM mailboxes WHERE id = $1 FOR UPDATE", [mailboxId]);
        return await tx.query<Row>(sql, params);
      });
    const updated = rows.filter((r) => r.k === "updated").map((r) => ({
      uid: r.uid,
      flags: r.flags!.sort(),
      modseq: r.modseq!,
    }));
    const modified = rows.filter((r) => r.k === "modified").map((r) => r.uid).sort((a, b) => a - b);
    updated.sort((a, b) => a.uid - b.uid);
    if (updated.length) this.changes.committed([[mailboxId, updated[0]!.modseq]]);
    return { updated, modified };
  }

  /**
   * Removes messages flagged `\Deleted` (all of them, or only those in `uids` for UID EXPUNGE) and records the
   * expunges in the change log. Returns the expunged UIDs, ascending, and the MODSEQ of the expunge (null when
   * nothing was expunged).
   */
  async expunge(mailboxId: number, uids?: readonly number[]): Promise<{ uids: number[]; modseq: number | null }> {
    const gone = await removeMessages(this.#db, this.changes.instance, mailboxId, {
      deletedOnly: true,
      ...(uids ? { uids } : {}),
    });
    if (gone.modseq !== null) this.changes.committed([[mailboxId, gone.modseq]]);
    return gone;
  }

  /**
   * Copies (or moves, RFC 6851) messages to another mailbox of the same account, keeping flags and internal
   * dates. Returns `[sourceUid, newUid]` pairs in source UID order (COPYUID, RFC 4315). Checks the quota.
   */
  async copy(
    fromMailboxId: number,
    uids: readonly number[],
    toMailboxId: number,
    options: { move?: boolean; quotaBytes?: number } = {},
  ): Promise<[number, number][]> {
    if (!uids.length) return [];
    const announce: [number, number][] = [];
    const pairs = await this.#db.transaction(async (tx) => {
      // Locks in the one order every writer uses — mailbox rows (by id), then contents, then the account — and
      // the mailboxes first of all, so the source cannot change (EXPUNGE, STORE lock it too) between reading it
      // and copying it: the counters and COPYUID match what was copied.
      const boxes = await tx.query<{ id: number }>(
        "SELECT id FROM mailboxes WHERE id = ANY($1::bigint[]) ORDER BY id FOR UPDATE",
        [[fromMailboxId, toMailboxId]],
      );
      if (!boxes.some((b) => b.id === toMailboxId)) throw new NotFoundError("target mailbox vanished");
      const source = await tx.query<{ uid: number; size: number }>(
        "SELECT uid, size FROM messages WHERE mailbox_id = $1 AND uid = ANY($2::bigint[]) ORDER BY uid",
        [fromMailboxId, uids],
      );
      if (!source.length) return [];
      const bytes = source.reduce((n, r) => n + r.size, 0);
      if (!options.move && options.quotaBytes) {
        const [acct] = await tx.query<{ used_bytes: number }>(
          "SELECT a.used_bytes FROM accounts a JOIN mailboxes mb ON mb.account_id = a.id WHERE mb.id = $1",
          [toMailboxId],
        );
        if ((acct?.used_bytes ?? 0) + bytes > options.quotaBytes) throw new QuotaExceededError("over quota");
      }
      const [dst] = await tx.query<{ first_uid: number; modseq: number; account_id: number }>(
        `UPDATE mailboxes SET uid_next = uid_next + $2, highest_modseq = highest_modseq + 1,
                              message_count = message_count + $2, size_bytes = size_bytes + $3
          WHERE id = $1
         RETURNING account_id, uid_next - $2 AS first_uid, highest_modseq AS modseq`,
        [toMailboxId, source.length, bytes],
      );
      const srcUids = source.map((r) => r.uid);
      const newUids = srcUids.map((_, i) => dst!.first_uid + i);
      // The copies share the content: its reference count goes up (the counters are kept here, migration 005);
      // then the account's usage.
      await tx.query(
        `WITH ins AS (
           INSERT INTO messages (mailbox_id, uid, modseq, flags, internal_date, size, blob_hash, message_id)
           SELECT $1, n.new_uid, $2, m.flags, m.internal_date, m.size, m.blob_hash, m.message_id
             FROM unnest($4::bigint[], $5::bigint[]) AS n(old_uid, new_uid)
             JOIN messages m ON m.mailbox_id = $3 AND m.uid = n.old_uid
           RETURNING blob_hash)
         UPDATE blobs b SET refcount = b.refcount + n.c
           FROM (SELECT blob_hash, count(*) AS c FROM ins GROUP BY blob_hash) n WHERE b.hash = n.blob_hash`,
        [toMailboxId, dst!.modseq, fromMailboxId, srcUids, newUids],
      );
      await tx.query("UPDATE accounts SET used_bytes = used_bytes + $2 WHERE id = $1", [dst!.account_id, bytes]);
      await notifyChanges(tx, this.changes.instance, [[toMailboxId, dst!.modseq]]);
      announce.push([toMailboxId, dst!.modseq]);
      if (options.move) {
        const gone = await removeMessages(tx, this.changes.instance, fromMailboxId, {
          deletedOnly: false,
          uids: srcUids,
        });
        if (gone.modseq !== null) announce.push([fromMailboxId, gone.modseq]);
      }
      return srcUids.map((u, i) => [u, newUids[i]!] as [number, number]);
    });
    this.changes.committed(announce);
    return pairs;
  }

  /**
   * IMAP APPEND: stores one message with flags and internal date in the mailbox `target` (an id, or an account's
   * mailbox by name), in one statement and one round trip: the mailbox is looked up and locked, the account's
   * quota checked, and the message stored. Appending to the account's Sent mailbox a message whose Message-ID is
   * already there (saved at submission) returns the existing UID instead of a duplicate. Undefined when there is
   * no such mailbox by that name (NotFoundError for an id); QuotaExceededError when the message does not fit.
   */
  async append(mailboxId: number, delivery: AppendDelivery): Promise<AppendResult>;
  async append(
    target: { accountId: number; name: string },
    delivery: AppendDelivery,
  ): Promise<AppendResult | undefined>;
  async append(
    target: number | { accountId: number; name: string },
    delivery: AppendDelivery,
  ): Promise<AppendResult | undefined> {
    const { raw, parsed, internalDate } = delivery;
    const d = prepare({ raw, parsed, targets: [], ...(internalDate ? { internalDate } : {}) }, new Date());
    const flags = normalizeFlags(delivery.flags);
    const byName = typeof target !== "number";
    const [row] = await this.#db.query<{
      id: number;
      uid_validity: number;
      special_use: string | null;
      dup_uid: number | null;
      uid: number | null;
      modseq: number | null;
    }>(byName ? APPEND_BY_NAME_SQL : APPEND_BY_ID_SQL, [
      ...(byName ? [target.accountId, canonicalName(target.name)] : [target, ""]),
      storedMessageId(d.parsed.messageId) ?? "",
      d.raw.length,
      d.hash,
      d.stored.content,
      d.stored.structure,
      d.stored.search,
      d.stored.header,
      d.parsed.sentDay ?? "",
      flags.join(" "), // flags are atoms: no spaces
      d.internalDate.toISOString(),
      this.changes.instance,
    ]);
    if (!row) {
      if (byName) return undefined;
      throw new NotFoundError("APPEND target mailbox vanished");
    }
    const mailbox = { id: row.id, uidValidity: row.uid_validity, specialUse: row.special_use };
    if (row.dup_uid !== null) return { mailbox, uid: row.dup_uid, existing: true };
    if (row.uid === null || row.modseq === null) throw new QuotaExceededError("over quota");
    this.changes.committed([[row.id, row.modseq]]);
    const landed = { mailboxId: row.id, uid: row.uid, modseq: row.modseq, sharedModseq: false };
    // Kept with its Message-ID where the statement kept it (Sent), as a delivery's copy would be.
    const stored = { ...d, targets: [{ mailboxId: row.id, flags, keepMessageId: row.special_use === "\\Sent" }] };
    this.#remember([stored], [[landed]]);
    return { mailbox, uid: row.uid, existing: false, modseq: row.modseq };
  }

  /** Expunged UIDs of a mailbox after `modseq` (QRESYNC VANISHED, RFC 7162 §3.2.5). */
  async expungedSince(mailboxId: number, modseq: number): Promise<number[]> {
    const rows = await this.#db.query<{ uid: number }>(
      "SELECT uid FROM mailbox_changes WHERE mailbox_id = $1 AND kind = 'expunge' AND modseq > $2 ORDER BY uid",
      [mailboxId, modseq],
    );
    return rows.map((r) => r.uid);
  }
}

/**
 * UID, MODSEQ and flags of the messages matching `where` (on `m`, a messages row), ascending, as one text value
 * of "uid modseq flag…" lines: 100,000 messages parse many times faster from one string than from 100,000 rows
 * (flags are atoms: no spaces or line breaks).
 */
function flagLinesSql(where: string): string {
  return `SELECT string_agg(m.uid || ' ' || m.modseq || rtrim(' ' || array_to_string(m.flags, ' ')), E'\\n')
            FROM (SELECT m.uid, m.modseq, m.flags FROM messages m WHERE ${where} ORDER BY m.uid) m`;
}

/**
 * Parses `flagLinesSql`'s text: ascending by UID (checked, not assumed). Messages with the same flags share one
 * frozen array (a mailbox has a handful of distinct flag sets): an IMAP session keeping a mailbox's flags then
 * holds ≈ 100 bytes per message instead of ≈ 260.
 */
function parseFlagLines(text: string | null): FlagState[] {
  if (!text) return [];
  const shared = new Map<string, string[]>();
  const out = text.split("\n").map((line) => {
    const a = line.indexOf(" ");
    const b = line.indexOf(" ", a + 1);
    const key = b < 0 ? "" : line.slice(b + 1);
    let flags = shared.get(key);
    if (!flags) {
      // Stored flags are in no particular order (`normalizeFlags`): one array per set, whatever the order.
      const sorted = key ? key.split(" ").sort() : [];
      const canonical = sorted.join(" ");
      flags = shared.get(canonical) ?? Object.freeze(sorted) as string[];
      shared.set(key, flags).set(canonical, flags);
    }
    return { uid: Number(line.slice(0, a)), modseq: Number(b < 0 ? line.slice(a + 1) : line.slice(a + 1, b)), flags };
  });
  for (let i = 1; i < out.length; i++) if (out[i - 1]!.uid > out[i]!.uid) return out.sort((a, b) => a.uid - b.uid);
  return out;
}

/** UIDs of a mailbox from `uidListSql`'s text: ascending (checked, not assumed). */
export function parseUidList(text: string | null): number[] {
  const uids = text ? text.split(",").map(Number) : [];
  for (let i = 1; i < uids.length; i++) if (uids[i - 1]! > uids[i]!) return uids.sort((a, b) => a - b);
  return uids;
}

/**
 * Every UID of the mailbox `$1` as one comma-separated text value. The order comes from the primary key's
 * index (an ORDER BY inside the aggregate would sort again, on disk past work_mem); 100,000 UIDs parse far
 * faster from one value than from 100,000 rows.
 */
export const uidListSql =
  "SELECT string_agg(uid::text, ',') FROM (SELECT uid FROM messages WHERE mailbox_id = $1 ORDER BY uid) u";

/**
 * `Messages.append` as one statement, for a mailbox found by `where` (on `m`, a mailboxes row; parameters $1, $2).
 * It writes what `appendBatch` writes for one message, and locks in the same order: the mailbox row, then the
 * content, then the account. The Sent de-duplication and the quota are decided on the locked mailbox row; the
 * quota on the account's usage as the statement sees it (two APPENDs at once may both fit where only one does, as
 * with deliveries). Nothing is written when the message is a duplicate or does not fit; the result row says which.
 * $3 Message-ID ("" for none), $4 size, $5 hash (hex), $6 content (base64), $7 structure (JSON), $8 search text,
 * $9 header text, $10 sent day ("" for none), $11 flags (space-separated), $12 internal date, $13 the instance
 * (`Changes.instance`, for `notifySql`).
 */
function appendOneSql(where: string): string {
  return `WITH
     box AS (
       SELECT m.id, m.uid_validity, m.special_use, a.quota_bytes, a.used_bytes
         FROM mailboxes m JOIN accounts a ON a.id = m.account_id WHERE ${where} FOR UPDATE OF m),
     dup AS (
       SELECT d.uid FROM messages d, box
        WHERE box.special_use = '\\Sent' AND d.mailbox_id = box.id AND d.message_id = nullif($3::text, '')
        ORDER BY d.uid LIMIT 1),
     fits AS (
       SELECT box.id FROM box
        WHERE NOT EXISTS (SELECT 1 FROM dup) AND (box.quota_bytes = 0 OR box.used_bytes + $4 <= box.quota_bytes)),
     b AS (
       INSERT INTO blobs (hash, data, size, structure, search_text, header_text, sent_on, refcount)
       SELECT decode($5, 'hex'), decode($6, 'base64'), $4, $7::text::json, $8, $9, nullif($10::text, '')::date, 1 FROM fits
       ON CONFLICT (hash) DO UPDATE SET refcount = blobs.refcount + 1
       RETURNING 1),
     alloc AS (
       UPDATE mailboxes m SET uid_next = m.uid_next + 1, highest_modseq = m.highest_modseq + 1,
                              message_count = m.message_count + 1, size_bytes = m.size_bytes + $4
         FROM fits WHERE m.id = fits.id AND (SELECT count(*) FROM b) >= 0 -- content locked before the account row
       RETURNING m.id, m.account_id, m.uid_next - 1 AS uid, m.highest_modseq AS modseq),
     used AS (UPDATE accounts a SET used_bytes = a.used_bytes + $4 FROM alloc WHERE a.id = alloc.account_id RETURNING 1),
     ins AS (
       INSERT INTO messages (mailbox_id, uid, modseq, flags, internal_date, size, blob_hash, message_id)
       SELECT alloc.id, alloc.uid, alloc.modseq, string_to_array($11::text, ' '), $12::text::timestamptz, $4,
              decode($5, 'hex'), CASE WHEN box.special_use = '\\Sent' THEN nullif($3::text, '') END
         FROM alloc, box
       RETURNING 1),
     note AS (SELECT ${notifySql("$13", "id || ':' || modseq")} AS n FROM alloc)
     SELECT box.id, box.uid_validity, box.special_use, (SELECT uid FROM dup) AS dup_uid, alloc.uid, alloc.modseq
       FROM box LEFT JOIN alloc ON true
      WHERE (SELECT count(*) FROM used) + (SELECT count(*) FROM ins) + (SELECT count(*) FROM note) >= 0`;
}

// By id, $2 is "" (unused, but typed: every parameter of a statement must be).
const APPEND_BY_ID_SQL = appendOneSql("m.id = $1 AND $2::text = ''");
const APPEND_BY_NAME_SQL = appendOneSql("m.account_id = $1 AND m.name = $2");

/**
 * Stores a batch of deliveries with one SQL statement (data-modifying CTEs): the contents (once per hash; an
 * existing row is locked by DO UPDATE so a concurrent delete of its last reference cannot remove it), UID/MODSEQ
 * allocation under row locks taken in mailbox-id order, message rows and NOTIFY; then the outbound
 * queue rows. Without queue rows it is atomic by itself and runs in autocommit; with them the caller wraps it
 * in a transaction. It keeps the counters (content reference counts, mailbox and account totals) itself; foreign
 * keys are checked at the end of the statement and see its rows.
 */
async function appendBatch(q: Queryable, batch: readonly Prepared[], instance: number): Promise<Appended[][]> {
  const unique = [...new Map(batch.map((d) => [d.hash, d])).values()].sort((a, b) => (a.hash < b.hash ? -1 : 1));
  const perMailbox = new Map<number, { n: number; bytes: number }>();
  const perBlob = new Map<string, number>(); // hash → message rows pointing at it
  const rows = {
    mb: [] as number[],
    flags: [] as string[],
    date: [] as string[],
    size: [] as number[],
    hash: [] as string[],
    mid: [] as string[],
  };
  for (const d of batch) {
    for (const t of d.targets) {
      const m = perMailbox.get(t.mailboxId) ?? { n: 0, bytes: 0 };
      m.n++;
      m.bytes += d.raw.length;
      perMailbox.set(t.mailboxId, m);
      perBlob.set(d.hash, (perBlob.get(d.hash) ?? 0) + 1);
      rows.mb.push(t.mailboxId);
      rows.flags.push(normalizeFlags(t.flags ?? []).join(" ")); // flags are atoms: no spaces
      rows.date.push(d.internalDate.toISOString());
      rows.size.push(d.raw.length);
      rows.hash.push(d.hash);
      // "" for none: a stored Message-ID is never empty.
      rows.mid.push((t.keepMessageId && storedMessageId(d.parsed.messageId)) || "");
    }
  }
  const ids = [...perMailbox.keys()].sort((a, b) => a - b);
  // The counters the delete trigger decrements are incremented here, in rows this statement writes anyway
  // (migration 005): blobs.refcount, mailboxes.message_count/size_bytes, accounts.used_bytes. Every list goes as
  // one text (packed, or comma-separated): postgres.js serializes an array parameter element by element.
  const result = await q.query<{ ord: number; uid: number; modseq: number; mb: number }>(
    `WITH
     locked AS (SELECT id FROM mailboxes WHERE id = ANY(${numbers("$8")}) ORDER BY id FOR UPDATE),
     b AS (
       INSERT INTO blobs (hash, data, size, structure, search_text, header_text, sent_on, refcount)
       SELECT decode(h, 'hex'), decode(c, 'base64'), l, s::json, t, ht, nullif(sd, '')::date, rc
         FROM unnest(string_to_array($2::text, ','), ${unpackTexts("$1")}, ${numbers("$3")}, ${unpackTexts("$4")},
                     ${unpackTexts("$5")}, ${unpackTexts("$6")}, ${unpackTexts("$7")}, ${numbers("$17")})
                AS r(h, c, l, s, t, ht, sd, rc)
        -- Mailbox rows first, contents after (the order every writer locks in): this one-time filter makes
        -- the "locked" CTE run before any content row is written or locked.
        WHERE (SELECT count(*) FROM locked) >= 0
       ON CONFLICT (hash) DO UPDATE SET refcount = blobs.refcount + excluded.refcount
       RETURNING 1),
     alloc AS (
       UPDATE mailboxes m SET uid_next = m.uid_next + u.n, highest_modseq = m.highest_modseq + 1,
                              message_count = m.message_count + u.n, size_bytes = m.size_bytes + u.bytes
         FROM unnest(${numbers("$8")}, ${numbers("$9")}, ${numbers("$18")}) AS u(id, n, bytes)
        -- By the primary key (= ANY), not a scan of every mailbox joined to the list; after "locked".
        WHERE m.id = ANY(${numbers("$8")}) AND m.id = u.id AND (SELECT count(*) FROM locked) >= 0
       RETURNING m.id, m.account_id, u.bytes, m.uid_next - u.n AS first_uid, m.highest_modseq AS modseq),
     used AS (
       UPDATE accounts a SET used_bytes = a.used_bytes + s.bytes
         FROM (SELECT account_id, sum(bytes) AS bytes FROM alloc GROUP BY account_id) s
        WHERE a.id = ANY(ARRAY(SELECT account_id FROM alloc)) AND a.id = s.account_id
       RETURNING 1),
     r AS (
       SELECT x.*, a.first_uid + row_number() OVER (PARTITION BY x.mb ORDER BY x.ord) - 1 AS uid, a.modseq
         FROM unnest(${numbers("$10")}, ${unpackTexts("$11")}, string_to_array($12::text, ','), ${numbers("$13")},
                     string_to_array($14::text, ','), ${
      unpackTexts("$15")
    }) WITH ORDINALITY AS x(mb, f, dt, sz, h, mid, ord)
         JOIN alloc a ON a.id = x.mb),
     ins AS (
       INSERT INTO messages (mailbox_id, uid, modseq, flags, internal_date, size, blob_hash, message_id)
       SELECT mb, uid, modseq, string_to_array(f, ' '), dt::timestamptz, sz, decode(h, 'hex'), nullif(mid, '')
         FROM r),
     -- A NOTIFY payload holds ≤ 8000 bytes: past 400 mailboxes the caller notifies in parts (below).
     note AS (
       SELECT ${
      notifySql(
        "$16",
        `(SELECT CASE WHEN count(*) <= 400 THEN coalesce(string_agg(id || ':' || modseq, ','), '') ELSE '' END
            FROM alloc)`,
      )
    } AS n),
     -- A target mailbox deleted meanwhile fails the whole statement (division by zero), so nothing commits:
     -- never a partial delivery that the caller then retries. It is a data-modifying CTE (matching no row)
     -- because those always run, whatever the main query reads.
     chk AS (
       DELETE FROM mailbox_changes
        WHERE id = -(SELECT 1 / (CASE WHEN count(*) = cardinality(${numbers("$8")}) THEN 1 ELSE 0 END) FROM alloc)
       RETURNING 1)
     SELECT r.ord - 1 AS ord, r.uid, r.modseq, r.mb FROM r, note, (SELECT count(*) FROM b) AS bc ORDER BY r.ord`,
    [
      packed(unique.map((d) => d.stored.content)),
      unique.map((d) => d.hash).join(","),
      unique.map((d) => d.raw.length).join(","),
      packed(unique.map((d) => d.stored.structure)),
      packed(unique.map((d) => d.stored.search)),
      packed(unique.map((d) => d.stored.header)),
      packed(unique.map((d) => d.parsed.sentDay ?? "")),
      ids.join(","),
      ids.map((id) => perMailbox.get(id)!.n).join(","),
      rows.mb.join(","),
      packed(rows.flags),
      rows.date.join(","),
      rows.size.join(","),
      rows.hash.join(","),
      packed(rows.mid),
      instance,
      unique.map((d) => perBlob.get(d.hash) ?? 0).join(","),
      ids.map((id) => perMailbox.get(id)!.bytes).join(","),
    ],
  ).catch((e) => {
    if (/division by zero/.test(String((e as Error).message))) {
      throw new NotFoundError("delivery target mailbox vanished");
    }
    throw e;
  });
  if (result.length !== rows.mb.length) throw new NotFoundError("delivery target mailbox vanished");
  if (ids.length > 400) {
    await notifyChanges(q, instance, [...new Map(result.map((r) => [r.mb, r.modseq])).entries()]);
  }
  await appendQueue(q, batch);
  const out: Appended[][] = [];
  let k = 0;
  for (const d of batch) {
    out.push(d.targets.map(() => {
      const row = result[k++]!;
      return { mailboxId: row.mb, uid: row.uid, modseq: row.modseq, sharedModseq: perMailbox.get(row.mb)!.n > 1 };
    }));
  }
  return out;
}

/**
 * A text as it can go into a packed list (`packed`): U+001F, the separator, becomes a space (it means nothing
 * to search, and JSON escapes it); NUL becomes U+FFFD (Postgres text cannot hold U+0000, which broken mail has).
 */
function packable(t: string): string {
  return t.includes("\x1f") || t.includes("\0") ? t.replaceAll("\x1f", " ").replaceAll("\0", "\uFFFD") : t;
}

/**
 * Texts made `packable`, as one text parameter, each preceded by U+001F, instead of a text[]: an array literal
 * makes postgres.js escape every text with two regular expressions and Postgres parse the escapes back (5% of the
 * server's CPU per delivered message).
 */
function packed(texts: readonly string[]): string {
  return SEP + texts.join(SEP);
}

const SEP = "\x1f";

/** SQL for `packed`'s parameter `param` as text[] (the leading separator makes an empty first element). */
function unpackTexts(param: string): string {
  return `(string_to_array(${param}::text, E'\\x1f'))[2:]`;
}

/** SQL for a comma-separated list of integers in the text parameter `param`, as bigint[]. */
function numbers(param: string): string {
  return `string_to_array(${param}::text, ',')::bigint[]`;
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

/**
 * Removes messages of a mailbox — those flagged `\Deleted` (EXPUNGE; only among `uids` for UID EXPUNGE), exactly
 * `uids` (MOVE), or all of them (`deletedOnly` false, no `uids`: the mailbox or its account is being deleted) — in
 * one statement that also lowers the counters (migration 007): the mailbox's count and size, the contents'
 * reference counts (freeing contents no longer referenced) and the account's usage. Locks in the order every writer
 * uses: the mailbox row, then the contents, then the account. The expunges are logged with a new MODSEQ and
 * announced. Returns the removed UIDs, ascending, and the MODSEQ (null: none removed).
 */
export async function removeMessages(
  q: Queryable,
  instance: number,
  mailboxId: number,
  which: { deletedOnly: boolean; uids?: readonly number[] },
): Promise<{ uids: number[]; modseq: number | null }> {
  const rows = await q.query<{ uid: number; modseq: number }>(
    `WITH box AS (SELECT id, account_id FROM mailboxes WHERE id = $1 FOR UPDATE),
     gone AS (
       DELETE FROM messages WHERE mailbox_id = (SELECT id FROM box)
         ${which.deletedOnly ? "AND '\\Deleted' = ANY (flags)" : ""} ${which.uids ? "AND uid = ANY($3::bigint[])" : ""}
       RETURNING uid, size, blob_hash),
     bump AS (
       UPDATE mailboxes SET highest_modseq = highest_modseq + 1,
                            message_count = message_count - (SELECT count(*) FROM gone),
                            size_bytes = size_bytes - (SELECT coalesce(sum(size), 0) FROM gone)
        WHERE id = (SELECT id FROM box) AND EXISTS (SELECT 1 FROM gone)
        RETURNING id, highest_modseq AS modseq, ${notifySql("$2", "id || ':' || highest_modseq")}),
     log AS (
       INSERT INTO mailbox_changes (mailbox_id, modseq, uid, kind)
       SELECT bump.id, bump.modseq, gone.uid, 'expunge' FROM bump, gone),
     ${RELEASE_CONTENTS_SQL},
     used AS (
       UPDATE accounts SET used_bytes = used_bytes - (SELECT sum(size) FROM gone)
        WHERE id = (SELECT account_id FROM box) AND EXISTS (SELECT 1 FROM gone)
          AND (SELECT count(*) FROM held) >= 0 -- contents locked before the account row
       RETURNING 1)
     SELECT gone.uid, bump.modseq FROM gone, bump ORDER BY gone.uid`,
    which.uids ? [mailboxId, instance, which.uids] : [mailboxId, instance],
  );
  return { uids: rows.map((r) => r.uid), modseq: rows[0]?.modseq ?? null };
}

/**
 * Removes every message of the given (locked) mailboxes in one statement, releasing their contents in one hash
 * order, for a deletion of their account (whose counters go with it). Per mailbox, contents would be locked in
 * several orders and could deadlock with an EXPUNGE elsewhere.
 */
export async function removeAllMessages(q: Queryable, mailboxIds: readonly number[]): Promise<void> {
  if (!mailboxIds.length) return;
  await q.query(
    `WITH gone AS (DELETE FROM messages WHERE mailbox_id = ANY($1::bigint[]) RETURNING blob_hash),
     ${RELEASE_CONTENTS_SQL}
     SELECT count(*) FROM gone`,
    [mailboxIds],
  );
}

/**
 * CTEs that release the contents of the message rows a CTE `gone` deleted (its `blob_hash` column): each
 * content's reference count goes down by its rows, and a content nobody references any more is deleted. The rows
 * are locked first (`held`, in hash order) and decided on their latest committed count, so a delivery of the same
 * content committing meanwhile is never lost nor leaks the content.
 */
const RELEASE_CONTENTS_SQL = `
     dropped AS (SELECT blob_hash AS hash, count(*) AS n FROM gone GROUP BY blob_hash),
     held AS (
       SELECT b.hash, b.refcount, d.n FROM blobs b JOIN dropped d ON d.hash = b.hash ORDER BY b.hash FOR UPDATE OF b),
     lowered AS (
       UPDATE blobs b SET refcount = h.refcount - h.n FROM held h WHERE b.hash = h.hash AND h.refcount > h.n
       RETURNING 1),
     freed AS (DELETE FROM blobs b USING held h WHERE b.hash = h.hash AND h.refcount <= h.n RETURNING 1)`;
