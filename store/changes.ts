/**
 * @module
 * Change notifications: every commit that changes a mailbox announces `mailboxId:modseq` pairs. IMAP sessions
 * watch their mailbox and then catch up from their last known MODSEQ: new messages and flag changes from
 * `messages.modseq`, expunges from the `mailbox_changes` log (store/messages.ts).
 *
 * Two paths, one per audience:
 * - **This process**: the store announces its own commits to its watchers itself (`committed`), as soon as the
 *   statement returns.
 * - **Other instances** on the same Postgres: a NOTIFY on one channel, sent only when another instance listens.
 *   A NOTIFY is not free: at each commit Postgres wakes every listening backend, which wakes its instance, so on
 *   a single instance (the usual set-up) each flag change cost a second backend and a second process a wake-up
 *   for nothing (≈ 7% of the IMAP mix's throughput on 2 cores). An instance that watches a mailbox registers in
 *   `change_listeners` (migration 009); the notifying statements check that table (`notifySql`).
 *
 * Registering without missing a change: the instance LISTENs first, then commits its row; a statement that
 * started before that commit may not have seen the row and so may commit without a NOTIFY, so registration then
 * waits until every Silvermail transaction older than the row has ended. Only then does the first watcher read
 * its mailbox. A row is kept fresh by a heartbeat and purged by others once stale (an instance that died); an
 * instance that finds its row gone, or whose LISTEN connection was re-established (notifications lost meanwhile),
 * registers again and has every watcher catch up. Every instance must connect as the same database role:
 * `pg_stat_activity` shows another role's transactions only to a role with `pg_read_all_stats`.
 */
import { Logger } from "../log.ts";
import type { Queryable, SqlExecutor } from "./sql/executor.ts";

/** The NOTIFY channel for mailbox changes. */
export const CHANGES_CHANNEL = "silvermail_changes";

/** A mailbox changed: everything up to `modseq` is committed (0: something changed, catch up anyway). */
export interface MailboxChanged {
  mailboxId: number;
  modseq: number;
}

/** How often a listening instance refreshes its `change_listeners` row. */
const HEARTBEAT_MS = 60_000;
/** A row not refreshed for this long is an instance that is gone; any instance may purge it. */
const STALE = "5 minutes";
/** Registration waits at most this long for older transactions (a longer one may have missed the row). */
const REGISTER_WAIT_MS = 10_000;

const log = new Logger("store");

/**
 * SQL for an expression that NOTIFYs the text `payload` on the changes channel when an instance other than this
 * one listens, and is NULL otherwise. `instanceParam` is the parameter (e.g. `$4`) that holds `Changes.instance`.
 */
export function notifySql(instanceParam: string, payload: string): string {
  return `CASE WHEN EXISTS (SELECT 1 FROM change_listeners WHERE instance <> ${instanceParam}::bigint)
            THEN pg_notify('${CHANGES_CHANNEL}', ${payload}) END`;
}

/**
 * NOTIFYs `mailboxId:modseq` pairs to other instances (`notifySql`; `instance` is this one's); delivered when the
 * transaction commits. The caller announces them to this process (`Changes.committed`) after the commit.
 */
export async function notifyChanges(
  tx: Queryable,
  instance: number,
  changes: readonly (readonly [number, number])[],
): Promise<void> {
  // NOTIFY payloads are limited to 8000 bytes: split long lists.
  const parts = changes.map(([m, s]) => `${m}:${s}`);
  for (let i = 0; i < parts.length; i += 400) {
    await tx.query(`SELECT ${notifySql("$1", "$2::text")}`, [instance, parts.slice(i, i + 400).join(",")]);
  }
}

/** Announces committed changes to this process's watchers and, through Postgres, to other instances. */
export class Changes {
  /** This instance's id in `change_listeners` (and the parameter `notifySql` compares with). */
  readonly instance: number;
  readonly #db: SqlExecutor;
  readonly #subscribers = new Set<(c: MailboxChanged) => void>();
  readonly #watchers = new Map<number, Set<(c: MailboxChanged) => void>>();
  #started: Promise<void> | undefined;
  #unlisten: (() => Promise<void>) | undefined;
  #heartbeat: ReturnType<typeof setInterval> | undefined;
  #listens = 0;
  #closed = false;

  constructor(db: SqlExecutor) {
    this.#db = db;
    // 48 random bits: unique among the instances sharing a database, and exact as a JS number.
    const [hi, lo] = crypto.getRandomValues(new Uint32Array(2));
    this.instance = (hi! & 0xffff) * 2 ** 32 + lo! + 1;
  }

  /** Calls `fn` for every committed mailbox change; returns a function that unsubscribes. */
  async subscribe(fn: (c: MailboxChanged) => void): Promise<() => void> {
    this.#subscribers.add(fn);
    return await this.#startOrUndo(() => void this.#subscribers.delete(fn));
  }

  /**
   * Calls `fn` when mailbox `mailboxId` changes (an IMAP session's selected mailbox); returns a function that
   * stops watching. Watchers are indexed by mailbox, so a change costs nothing for sessions elsewhere. Resolves
   * once every change committed from then on will be heard, from this instance or another.
   */
  async watch(mailboxId: number, fn: (c: MailboxChanged) => void): Promise<() => void> {
    let set = this.#watchers.get(mailboxId);
    if (!set) this.#watchers.set(mailboxId, set = new Set());
    set.add(fn);
    return await this.#startOrUndo(() => {
      set.delete(fn);
      if (!set.size && this.#watchers.get(mailboxId) === set) this.#watchers.delete(mailboxId);
    });
  }

  /** Announces changes this process has just committed to its own watchers (the store calls it). */
  committed(changes: Iterable<readonly [number, number]>): void {
    for (const [mailboxId, modseq] of changes) this.#announce({ mailboxId, modseq });
  }

  /** Stops listening and removes this instance's registration. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#subscribers.clear();
    this.#watchers.clear();
    const started = this.#started;
    this.#started = undefined;
    if (!started) return;
    await started.catch(() => {});
    clearInterval(this.#heartbeat);
    await this.#unlisten?.().catch(() => {});
    this.#unlisten = undefined;
    await this.#unregister();
  }

  /** Listens and registers, if not yet done; returns `stop`, or calls it when that fails (and rethrows). */
  async #startOrUndo(stop: () => void): Promise<() => void> {
    try {
      await this.#start();
    } catch (e) {
      stop();
      throw e;
    }
    return stop;
  }

  #start(): Promise<void> {
    if (this.#closed) return Promise.reject(new Error("change notifications are closed"));
    this.#started ??= this.#listenAndRegister();
    return this.#started;
  }

  async #listenAndRegister(): Promise<void> {
    let unlisten: (() => Promise<void>) | undefined;
    try {
      unlisten = await this.#db.listen(CHANGES_CHANNEL, (payload) => this.#dispatch(payload), () => {
        // Re-established after the connection dropped: notifications may have been lost meanwhile.
        if (this.#listens++ > 0) void this.#reregister("listen connection re-established");
      });
      await this.#register();
    } catch (e) {
      await unlisten?.().catch(() => {});
      if (!this.#closed) this.#started = undefined; // the next watcher tries again
      throw e;
    }
    this.#unlisten = unlisten;
    if (this.#closed) return; // close() is waiting for this, and stops listening
    this.#heartbeat = setInterval(() => void this.#beat(), HEARTBEAT_MS);
    Deno.unrefTimer(this.#heartbeat);
  }

  /**
   * Commits this instance's row, then waits until no Silvermail transaction older than it is left. Past
   * REGISTER_WAIT_MS it goes on without them, and has every watcher catch up once they have ended.
   */
  async #register(): Promise<void> {
    await this.#db.query(
      `WITH purge AS (DELETE FROM change_listeners WHERE seen_at < now() - interval '${STALE}')
       INSERT INTO change_listeners (instance) VALUES ($1) ON CONFLICT (instance) DO UPDATE SET seen_at = now()`,
      [this.instance],
    );
    // A later statement's start time (µs, kept as text: a Date would round it down to the millisecond).
    const [{ t }] = await this.#db.query<{ t: string }>("SELECT statement_timestamp()::text AS t") as [{ t: string }];
    if (await this.#olderEnded(t, Date.now() + REGISTER_WAIT_MS, 10)) return;
    log.warn("change notifications: older transactions still running; watchers catch up when they end");
    this.#olderEnded(t, Infinity, 1000).then(
      () => this.#catchUpAll(),
      (e) => log.warn("change notifications: waiting for older transactions failed", { error: String(e) }),
    );
  }

  /**
   * Polls every `everyMs` until no Silvermail transaction that started at or before `t` is left (true; also once
   * closed) or `until` (a `Date.now()`) has passed (false).
   */
  async #olderEnded(t: string, until: number, everyMs: number): Promise<boolean> {
    for (;;) {
      const [{ n }] = await this.#db.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM pg_stat_activity
          WHERE datname = current_database() AND application_name = 'silvermail' AND pid <> pg_backend_pid()
            AND xact_start <= $1::timestamptz`,
        [t],
      ) as [{ n: number }];
      if (n === 0 || this.#closed) return true;
      if (Date.now() > until) return false;
      await new Promise((resolve) => setTimeout(resolve, everyMs));
    }
  }

  /** Removes this instance's row (best effort: a stale row is purged by others later). */
  async #unregister(): Promise<void> {
    await this.#db.query("DELETE FROM change_listeners WHERE instance = $1", [this.instance]).catch(() => {});
  }

  /** Refreshes this instance's row; registers again (and catches every watcher up) when it was purged. */
  async #beat(): Promise<void> {
    try {
      const rows = await this.#db.query(
        "UPDATE change_listeners SET seen_at = now() WHERE instance = $1 RETURNING 1",
        [this.instance],
      );
      if (!rows.length) await this.#reregister("registration was purged");
    } catch (e) {
      log.warn("change notifications: heartbeat failed", { error: String(e) });
    }
  }

  async #reregister(why: string): Promise<void> {
    if (this.#closed) return;
    log.info("change notifications: registering again; every watcher catches up", { why });
    try {
      await this.#register();
    } catch (e) {
      log.warn("change notifications: registration failed", { error: String(e) });
    }
    if (this.#closed) {
      await this.#unregister(); // close() ran meanwhile: its DELETE may have come before this registration
      return;
    }
    this.#catchUpAll();
  }

  /** Every watcher catches up (MODSEQ 0: something may have changed). */
  #catchUpAll(): void {
    for (const mailboxId of [...this.#watchers.keys()]) this.#announce({ mailboxId, modseq: 0 });
  }

  #dispatch(payload: string): void {
    for (const part of payload.split(",")) {
      const [m, s] = part.split(":");
      const change = { mailboxId: Number(m), modseq: Number(s) };
      if (!Number.isFinite(change.mailboxId) || !Number.isFinite(change.modseq)) continue;
      this.#announce(change);
    }
  }

  #announce(change: MailboxChanged): void {
    const watchers = this.#watchers.get(change.mailboxId);
    for (const fn of watchers ? [...this.#subscribers, ...watchers] : this.#subscribers) {
      try {
        fn(change);
      } catch (e) {
        // A change is announced after its commit: a watcher's failure must not fail the write that made it.
        log.error("change notifications: a watcher failed", { error: String(e) });
      }
    }
  }
}
