/**
 * @module
 * Change notifications: every commit that changes a mailbox NOTIFYs `mailboxId:modseq` pairs on one channel.
 * On Postgres that reaches every instance (LISTEN/NOTIFY); on PGlite, listeners in this process. IMAP sessions
 * watch their mailbox and then catch up from their last known MODSEQ: new messages and flag changes from
 * `messages.modseq`, expunges from the `mailbox_changes` log (store/messages.ts).
 */
import type { SqlExecutor } from "./sql/executor.ts";

/** The NOTIFY channel for mailbox changes. */
export const CHANGES_CHANNEL = "silvermail_changes";

/** A mailbox changed: everything up to `modseq` is committed. */
export interface MailboxChanged {
  mailboxId: number;
  modseq: number;
}

/** Fans one LISTEN out to many in-process subscribers. */
export class Changes {
  readonly #db: SqlExecutor;
  readonly #subscribers = new Set<(c: MailboxChanged) => void>();
  readonly #watchers = new Map<number, Set<(c: MailboxChanged) => void>>();
  #unlisten: Promise<() => Promise<void>> | undefined;

  constructor(db: SqlExecutor) {
    this.#db = db;
  }

  /** Calls `fn` for every committed mailbox change; returns a function that unsubscribes. */
  async subscribe(fn: (c: MailboxChanged) => void): Promise<() => void> {
    this.#subscribers.add(fn);
    this.#unlisten ??= this.#db.listen(CHANGES_CHANNEL, (payload) => this.#dispatch(payload));
    await this.#unlisten;
    return () => this.#subscribers.delete(fn);
  }

  /**
   * Calls `fn` when mailbox `mailboxId` changes (an IMAP session's selected mailbox); returns a function that
   * stops watching. Watchers are indexed by mailbox, so a change costs nothing for sessions elsewhere.
   */
  async watch(mailboxId: number, fn: (c: MailboxChanged) => void): Promise<() => void> {
    let set = this.#watchers.get(mailboxId);
    if (!set) this.#watchers.set(mailboxId, set = new Set());
    set.add(fn);
    this.#unlisten ??= this.#db.listen(CHANGES_CHANNEL, (payload) => this.#dispatch(payload));
    await this.#unlisten;
    return () => {
      set.delete(fn);
      if (!set.size && this.#watchers.get(mailboxId) === set) this.#watchers.delete(mailboxId);
    };
  }

  #dispatch(payload: string): void {
    for (const part of payload.split(",")) {
      const [m, s] = part.split(":");
      const change = { mailboxId: Number(m), modseq: Number(s) };
      if (!Number.isFinite(change.mailboxId) || !Number.isFinite(change.modseq)) continue;
      for (const fn of this.#subscribers) fn(change);
      const watchers = this.#watchers.get(change.mailboxId);
      if (watchers) { for (const fn of [...watchers]) fn(change); }
    }
  }

  /** Stops listening. */
  async close(): Promise<void> {
    this.#subscribers.clear();
    this.#watchers.clear();
    const unlisten = this.#unlisten;
    this.#unlisten = undefined;
    if (unlisten) await (await unlisten)();
  }
}
