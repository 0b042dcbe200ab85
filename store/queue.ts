/**
 * @module
 * The outbound queue as seen by administrators and tests. Rows are written by delivery (messages.ts, in the same
 * transaction as the local copies); the delivery worker that claims and sends them is roadmap step 4.
 */
import type { DsnParams } from "./messages.ts";
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
}

/** Queue queries. */
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
    }>(
      `SELECT q.id, q.submission_id, q.mail_from, q.recipient, q.dsn, q.attempts, q.next_attempt_at, q.last_error,
              q.created_at, b.size
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
}
