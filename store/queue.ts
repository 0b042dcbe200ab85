/**
 * @module
 * The outbound queue: one row per external recipient, written by delivery (messages.ts, in the same transaction
 * as the local copies), claimed and settled by the delivery worker (smtp/outbound/worker.ts), listed and
 * nudged by administrators (`queue list|retry|delete`). Every attempt leaves a row in the delivery log.
 *
 * Claiming is a lease: {@linkcode Queue.claim} moves the claimed rows' `next_attempt_at` past the lease, under
 * `FOR UPDATE SKIP LOCKED`, so several instances never claim the same row, and rows of an instance that died
 * mid-delivery become due again when the lease runs out.
 */
import type { DsnParams } from "./messages.ts";
import type { Queryable } from "./sql/executor.ts";
import type { SqlExecutor } from "./sql/executor.ts";

/** One queued recipient. */
export interface QueuedRecipient {
  id: number;
  submissionId: string;
  mailFrom: string;
  recipient: string;
  dsn: DsnParams;
  attempts: number;
  nextAttemptAt: Date;
  lastError: string | null;
  createdAt: Date;
  size: number;
  /** A worker is delivering it right now. */
  sending: boolean;
}

/** Queue operations: administration, and the worker's claim and settle. */
export class Queue {
  readonly #db: SqlExecutor;

  constructor(db: SqlExecutor) {
    this.#db = db;
  }

  /** Every queued recipient, oldest first. */
  async list(): Promise<QueuedRecipient[]> {
    const rows = await this.#db.query<{
      id: number;
      submission_id: string;
      mail_from: string;
      recipient: string;
      dsn: DsnParams;
      attempts: number;
      next_attempt_at: Date;
      last_error: string | null;
      created_at: Date;
      size: number;
      sending: boolean;
    }>(
      `SELECT q.id, q.submission_id, q.mail_from, q.recipient, q.dsn, q.attempts, q.next_attempt_at, q.last_error,
              q.created_at, b.size, (q.lease IS NOT NULL AND q.next_attempt_at > now()) AS sending
         FROM outbound_queue q JOIN blobs b ON b.hash = q.blob_hash ORDER BY q.id`,
    );
    return rows.map((r) => ({
      id: r.id,
      submissionId: r.submission_id,
      mailFrom: r.mail_from,
      recipient: r.recipient,
      dsn: r.dsn,
      attempts: r.attempts,
      nextAttemptAt: r.next_attempt_at,
      lastError: r.last_error,
      createdAt: r.created_at,
      size: r.size,
      sending: r.sending,
    }));
  }

  /** The raw message queued for a recipient row. */
  async raw(id: number): Promise<Uint8Array | undefined> {
    const rows = await this.#db.query<{ data: Uint8Array }>(
      "SELECT b.data FROM outbound_queue q JOIN blobs b ON b.hash = q.blob_hash WHERE q.id = $1",
      [id],
    );
    return rows[0]?.data;
  }

  /**
   * Claims up to `limit` due rows for `leaseMs` (oldest due first, none for the `skipDomains`), each counted as an
   * attempt, under one new lease token.
   */
  async claim(limit: number, leaseMs: number, skipDomains: readonly string[] = []): Promise<ClaimedRecipient[]> {
    const lease = crypto.randomUUID();
    const rows = await this.#db.query<{
      id: number;
      blob_hash: Uint8Array;
      submission_id: string;
      account_id: number | null;
      mail_from: string;
      recipient: string;
      domain: string;
      dsn: DsnParams;
      attempts: number;
      created_at: Date;
      delay_notified: boolean;
      last_mx: string | null;
      last_error: string | null;
    }>(
      `WITH due AS (
         SELECT id FROM outbound_queue WHERE next_attempt_at <= now() AND domain <> ALL($3::text[])
          ORDER BY next_attempt_at LIMIT $1 FOR UPDATE SKIP LOCKED)
       UPDATE outbound_queue q
          SET next_attempt_at = now() + make_interval(secs => $2), attempts = q.attempts + 1,
              last_attempt_at = now(), lease = $4
         FROM due WHERE q.id = due.id
       RETURNING q.id, q.blob_hash, q.submission_id, q.account_id, q.mail_from, q.recipient, q.domain, q.dsn,
                 q.attempts, q.created_at, q.delay_notified, q.last_mx, q.last_error`,
      [limit, leaseMs / 1000, skipDomains, lease],
    );
    return rows.map((r) => ({
      id: r.id,
      blobHash: r.blob_hash,
      submissionId: r.submission_id,
      accountId: r.account_id,
      mailFrom: r.mail_from,
      recipient: r.recipient,
      domain: r.domain,
      dsn: r.dsn,
      attempts: r.attempts,
      createdAt: r.created_at,
      delayNotified: r.delay_notified,
      lastMx: r.last_mx,
      lastError: r.last_error,
      lease,
    }));
  }

  /** The queued contents by hash (hex of the hash → bytes). */
  async contents(hashes: readonly Uint8Array[]): Promise<Map<string, Uint8Array>> {
    const rows = await this.#db.query<{ hash: Uint8Array; data: Uint8Array }>(
      "SELECT hash, data FROM blobs WHERE hash IN (SELECT decode(h, 'hex') FROM unnest($1::text[]) h)",
      [hashes.map(hex)],
    );
    return new Map(rows.map((r) => [hex(r.hash), r.data]));
  }

  /**
   * Settles attempts in one transaction: finished rows go, deferred rows wait (and are no longer leased), every
   * attempt is logged. A row whose lease has passed to another claim is left to that claim.
   */
  async settle(results: readonly AttemptResult[]): Promise<void> {
    if (!results.length) return;
    await this.#db.transaction(async (tx) => {
      const done = results.filter((r) => r.outcome !== "deferred");
      if (done.length) {
        await tx.query(
          `DELETE FROM outbound_queue q USING unnest($1::bigint[], $2::text[]) AS t(id, lease)
            WHERE q.id = t.id AND q.lease = t.lease`,
          [done.map((r) => r.id), done.map((r) => r.lease)],
        );
      }
      const deferred = results.filter((r) => r.outcome === "deferred");
      if (deferred.length) {
        await tx.query(
          `UPDATE outbound_queue q SET next_attempt_at = u.next, last_error = u.error, last_mx = u.mx,
                  delay_notified = q.delay_notified OR u.notified, lease = NULL
             FROM (SELECT id, next::timestamptz, error, mx, notified::boolean, lease
                     FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[])
                       AS t(id, next, error, mx, notified, lease)) u
            WHERE q.id = u.id AND q.lease = u.lease`,
          [
            deferred.map((r) => r.id),
            deferred.map((r) => (r.nextAttemptAt ?? new Date()).toISOString()),
            deferred.map((r) => r.log.reply),
            deferred.map((r) => r.log.mxHost),
            deferred.map((r) => String(!!r.delayNotified)),
            deferred.map((r) => r.lease),
          ],
        );
      }
      // One delay notice per message: its rows for other destinations count as notified too.
      const notified = [...new Set(deferred.filter((r) => r.delayNotified).map((r) => r.log.submissionId))];
      if (notified.length) {
        await tx.query(
          "UPDATE outbound_queue SET delay_notified = true WHERE submission_id = ANY($1::text[]) AND NOT delay_notified",
          [notified],
        );
      }
      await insertLog(tx, results);
    });
  }

  /**
   * Makes waiting rows due now: the given ids, or every row. Rows being delivered right now (leased) are left
   * alone — retrying them would send them twice. Returns how many.
   */
  async retry(ids?: readonly number[]): Promise<number> {
    const rows = await this.#db.query<{ id: number }>(
      `UPDATE outbound_queue SET next_attempt_at = now(), lease = NULL
        WHERE ($1::bigint[] IS NULL OR id = ANY($1::bigint[])) AND (lease IS NULL OR next_attempt_at <= now())
        RETURNING id`,
      [ids ?? null],
    );
    return rows.length;
  }

  /** Extends the lease of rows still being delivered (a long job keeps them from being claimed again). */
  async renew(rows: readonly { id: number; lease: string }[], leaseMs: number): Promise<void> {
    if (!rows.length) return;
    await this.#db.query(
      `UPDATE outbound_queue q SET next_attempt_at = now() + make_interval(secs => $3)
         FROM unnest($1::bigint[], $2::text[]) AS t(id, lease) WHERE q.id = t.id AND q.lease = t.lease`,
      [rows.map((r) => r.id), rows.map((r) => r.lease), leaseMs / 1000],
    );
  }

  /** Gives claimed rows back, due now (a worker stopping, or not getting to them within its lease). */
  async release(rows: readonly { id: number; lease: string }[]): Promise<void> {
    if (!rows.length) return;
    await this.#db.query(
      `UPDATE outbound_queue q SET next_attempt_at = now(), lease = NULL
         FROM unnest($1::bigint[], $2::text[]) AS t(id, lease) WHERE q.id = t.id AND q.lease = t.lease`,
      [rows.map((r) => r.id), rows.map((r) => r.lease)],
    );
  }

  /** Removes rows without delivering or bouncing them. Returns how many. */
  async delete(ids: readonly number[]): Promise<number> {
    const rows = await this.#db.query<{ id: number }>(
      "DELETE FROM outbound_queue WHERE id = ANY($1::bigint[]) RETURNING id",
      [ids],
    );
    return rows.length;
  }

  /** The newest delivery log rows (optionally of one recipient), newest first. */
  async log(options: { recipient?: string; limit?: number } = {}): Promise<DeliveryLogEntry[]> {
    const rows = await this.#db.query<{
      id: number;
      at: Date;
      submission_id: string;
      mail_from: string;
      recipient: string;
      result: DeliveryLogEntry["result"];
      mx_host: string | null;
      mx_ip: string | null;
      tls_version: string | null;
      tls_cipher: string | null;
      reply: string | null;
      attempt: number;
    }>(
      `SELECT * FROM delivery_log WHERE ($1::text IS NULL OR recipient = $1) ORDER BY id DESC LIMIT $2`,
      [options.recipient ?? null, options.limit ?? 100],
    );
    return rows.map((r) => ({
      id: r.id,
      at: r.at,
      submissionId: r.submission_id,
      mailFrom: r.mail_from,
      recipient: r.recipient,
      result: r.result,
      mxHost: r.mx_host,
      mxIp: r.mx_ip,
      tlsVersion: r.tls_version,
      tlsCipher: r.tls_cipher,
      reply: r.reply,
      attempt: r.attempt,
    }));
  }
}

/** A queue row claimed by the worker. */
export interface ClaimedRecipient {
  id: number;
  blobHash: Uint8Array;
  submissionId: string;
  accountId: number | null;
  mailFrom: string;
  recipient: string;
  domain: string;
  dsn: DsnParams;
  /** Attempts including this one. */
  attempts: number;
  createdAt: Date;
  delayNotified: boolean;
  lastMx: string | null;
  lastError: string | null;
  /** The claim's token: settling and releasing the row require it. */
  lease: string;
}

/** What one attempt did for one recipient. */
export interface AttemptResult {
  id: number;
  /** The token of the claim the attempt ran under. */
  lease: string;
  /** delivered / bounced / expired remove the row; deferred keeps it for `nextAttemptAt`. */
  outcome: "delivered" | "bounced" | "expired" | "deferred";
  nextAttemptAt?: Date;
  /** The delay notice was sent with this attempt. */
  delayNotified?: boolean;
  log: {
    submissionId: string;
    mailFrom: string;
    recipient: string;
    mxHost: string | null;
    mxIp: string | null;
    tls: { version: string; cipher: string } | null;
    reply: string;
    attempt: number;
  };
}

/** A delivery log row. */
export interface DeliveryLogEntry {
  id: number;
  at: Date;
  submissionId: string;
  mailFrom: string;
  recipient: string;
  result: "delivered" | "deferred" | "bounced" | "expired";
  mxHost: string | null;
  mxIp: string | null;
  tlsVersion: string | null;
  tlsCipher: string | null;
  reply: string | null;
  attempt: number;
}

/** Cached MTA-STS policies (smtp/outbound/route.ts). */
export class MtaStsPolicies {
  readonly #db: SqlExecutor;

  constructor(db: SqlExecutor) {
    this.#db = db;
  }

  /** The cached policy of a domain (also an expired one: the caller decides what an old policy is still worth). */
  async get(domain: string): Promise<Record<string, unknown> | undefined> {
    const rows = await this.#db.query<{ policy: Record<string, unknown> }>(
      "SELECT policy FROM mta_sts_policies WHERE domain = $1",
      [domain],
    );
    return rows[0]?.policy;
  }

  /** Stores (or replaces) a domain's policy until `expiresAt`; policies expired for a month go. */
  async put(domain: string, policy: Record<string, unknown>, expiresAt: Date): Promise<void> {
    await this.#db.query(
      `WITH gone AS (DELETE FROM mta_sts_policies WHERE expires_at <= now() - interval '30 days' AND domain <> $1)
       INSERT INTO mta_sts_policies (domain, policy, expires_at) VALUES ($1, $2::text::jsonb, $3)
       ON CONFLICT (domain) DO UPDATE SET policy = excluded.policy, expires_at = excluded.expires_at`,
      [domain, JSON.stringify(policy), expiresAt],
    );
  }
}

async function insertLog(tx: Queryable, results: readonly AttemptResult[]): Promise<void> {
  await tx.query(
    `INSERT INTO delivery_log (submission_id, mail_from, recipient, result, mx_host, mx_ip, tls_version, tls_cipher,
                               reply, attempt)
     SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
                          $8::text[], $9::text[], $10::int[])`,
    [
      results.map((r) => r.log.submissionId),
      results.map((r) => r.log.mailFrom),
      results.map((r) => r.log.recipient),
      results.map((r) => r.outcome),
      results.map((r) => r.log.mxHost),
      results.map((r) => r.log.mxIp),
      results.map((r) => r.log.tls?.version ?? null),
      results.map((r) => r.log.tls?.cipher ?? null),
      results.map((r) => r.log.reply),
      results.map((r) => r.log.attempt),
    ],
  );
}

/** Lower-case hex of a hash, the key of {@linkcode Queue.contents}. */
export function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}
