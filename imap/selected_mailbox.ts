/**
 * @module
 * The state of a selected mailbox in one IMAP session: the sequence-number → UID map, the MODSEQ this session
 * is in sync with, and the catch-up with what other sessions and deliveries changed (EXISTS, EXPUNGE or
 * VANISHED, FETCH FLAGS). Expunges are held back while a command that must not see them runs (RFC 9051 §7.5.2:
 * no EXPUNGE during FETCH, STORE or SEARCH), so sequence numbers stay consistent.
 */
import { canonicalName, type FlagState, type Mailbox, type SearchCriteria, type Store } from "../store/mod.ts";
import { existsResponse, expungeResponse, flagList, vanishedResponse } from "./protocol/mod.ts";

/** Distinct sets of flags a session keeps shared (`#intern`); past this, it starts again. */
const MAX_FLAG_SETS = 1000;

/** MODSEQs remembered between two catch-ups; beyond this, changes are reported again (harmless, RFC 9051 §7.5.2). */
const MAX_REPORTED = 1000;

/**
 * Mailboxes up to this size keep their flags in the session once read (FETCH FLAGS, a flag SEARCH): ≈ 16 B each,
 * the arrays of flags shared (`#intern`).
 */
const FLAGS_CACHE_MAX = 20_000;

/** One selected (or examined) mailbox. */
export class SelectedMailbox {
  readonly mailbox: Mailbox;
  /** EXAMINE (or a SELECT of a mailbox the account may not change). */
  readOnly: boolean;
  /** UIDs by sequence number − 1, ascending. */
  uids: number[];
  /** Everything up to this MODSEQ has been reported to the client. */
  modseq: number;
  /** A catch-up is due for another reason than a notification (set true by whoever knows). */
  #forced = false;
  /** The highest MODSEQ a change notification announced. */
  #notified = 0;
  #stopWatching: (() => void) | undefined;
  #onChange: (() => void) | undefined;
  /** MODSEQs above `modseq` whose flag changes the client already has (its own, or reported by a partial catch-up). */
  readonly #reported = new Set<number>();
  /**
   * Flags of every message this session knows, by sequence number − 1 like `uids`, once read (null before); null
   * for a message gone from the store whose EXPUNGE is held back. FETCH (UID FLAGS) and SEARCH on flags are answered
   * from it without a query. Kept current by the catch-up (which reads every change above `modseq` anyway) and by
   * this session's own STORE, APPEND and EXPUNGE. Arrays in sequence order, not a map of objects: a SEARCH walks
   * them, and objects scattered over the heap made that walk slow (cache misses, 10× the time of a fresh copy).
   */
  #flags: (readonly string[] | null)[] | null = null;
  /** The MODSEQ of each message, like `#flags`. */
  #modseqs: number[] = [];
  /** One array per distinct set of flags, so that the messages share them. */
  readonly #sets = new Map<string, readonly string[]>();

  private constructor(mailbox: Mailbox, readOnly: boolean, uids: number[]) {
    this.mailbox = mailbox;
    this.readOnly = readOnly;
    this.uids = uids;
    this.modseq = mailbox.highestModseq;
  }

  /**
   * Selects: reads the mailbox state and the UID list, and starts watching for changes. The flags are read when
   * first needed (`flagsOf`): a connection that only waits in IDLE does not hold them.
   */
  static async open(store: Store, mailbox: Mailbox, readOnly: boolean): Promise<SelectedMailbox> {
    // Watch first, then read: a change between the two is seen either way.
    const selected = new SelectedMailbox(mailbox, readOnly, []);
    selected.#stopWatching = await store.changes.watch(mailbox.id, (c) => {
      // MODSEQs of one mailbox commit in order (the mailbox row lock allocates them), so a change at or below
      // what this session has caught up to — its own STORE or APPEND, above all — holds nothing new (`dirty`).
      if (c.modseq === 0) selected.#forced = true;
      else if (c.modseq > selected.#notified) selected.#notified = c.modseq;
      if (selected.dirty) selected.#onChange?.();
    });
    const now = await store.mailboxes.withUids(mailbox.id);
    const fresh = now?.mailbox ?? mailbox;
    selected.uids = now?.uids ?? [];
    selected.modseq = fresh.highestModseq;
    (selected as { mailbox: Mailbox }).mailbox = fresh;
    return selected;
  }

  /**
   * SELECT or EXAMINE of the mailbox this session had selected until now (`box`, just read by name): the state it
   * kept, watched all along and updated by the session's own changes, is brought up to date — usually there is
   * nothing to do — instead of reading the UID list and the flags again. Clients re-select often (to refresh,
   * or after working in another folder on another connection). False when it is not the same mailbox.
   */
  async reselect(store: Store, box: Mailbox, readOnly: boolean): Promise<boolean> {
    if (!this.#stopWatching || box.id !== this.mailbox.id || box.uidValidity !== this.mailbox.uidValidity) {
      return false;
    }
    this.readOnly = readOnly;
    this.#onChange = undefined;
    if (this.dirty || box.highestModseq > this.modseq) {
      // The responses of this catch-up are not sent: the SELECT's own describe the new state.
      await this.sync(store, { allowExpunge: true, qresync: false, condstore: false, force: true });
    } else (this as { mailbox: Mailbox }).mailbox = box;
    this.#reported.clear();
    return true;
  }

  /**
   * This mailbox as the session knows it, when `name` names it and nothing announced since could have changed it (a
   * change, a rename, a deletion: `dirty`): a SELECT of the mailbox already selected then needs no query. Another
   * instance's changes count from when their notification arrives, as for every other command.
   */
  known(name: string): Mailbox | null {
    return this.#stopWatching && !this.dirty && canonicalName(name) === this.mailbox.name ? this.mailbox : null;
  }

  /**
   * Whether a catch-up is due: a notification announced a MODSEQ beyond what the session has, or someone said so.
   * A notification of the session's own change often arrives before the change's own result; once the session has
   * taken that in (`ownChange`, `ownAppend`), nothing is due.
   */
  get dirty(): boolean {
    return this.#forced || this.#notified > this.modseq;
  }

  /** `true`: catch up at the next chance; `false` (a catch-up starts): only later notifications count. */
  set dirty(value: boolean) {
    this.#forced = value;
  }

  /** Calls `fn` on every change (IDLE wakes up with it); `undefined` stops. */
  onChange(fn: (() => void) | undefined): void {
    this.#onChange = fn;
  }

  /** Stops watching (UNSELECT, CLOSE, LOGOUT). */
  close(): void {
    this.#stopWatching?.();
    this.#stopWatching = undefined;
    this.#onChange = undefined;
  }

  /**
   * This session made a change with `modseq` and reported it itself (or was asked not to: `.SILENT`, RFC 9051
   * §6.4.6): the catch-up does not report it again. When nothing else happened in between, the session is simply
   * in sync up to it; otherwise (another session's change, or a MODSEQ the store used for a STORE that changed
   * nothing) it is remembered until the next catch-up, which skips messages whose MODSEQ is one of ours.
   */
  ownChange(modseq: number): void {
    if (modseq === this.modseq + 1) this.modseq = modseq;
    else if (modseq > this.modseq && this.#reported.size < MAX_REPORTED) this.#reported.add(modseq);
  }

  /**
   * This session appended `uid` with `modseq` to this mailbox. When nothing else happened since the last
   * catch-up, the session takes it in directly and returns the EXISTS to send; otherwise a catch-up will
   * (returns null).
   */
  ownAppend(uid: number, modseq: number, flags: string[]): string | null {
    if (modseq !== this.modseq + 1 || uid <= (this.uids[this.uids.length - 1] ?? 0)) {
      this.dirty = true;
      return null;
    }
    this.uids.push(uid);
    this.#pushFlags(flags, modseq);
    this.modseq = modseq;
    return existsResponse(this.uids.length);
  }

  /**
   * The flags of `uids` (known ones, ascending) from the session's copy, reading the whole mailbox's flags the first
   * time. Null when the mailbox is too large to keep them: the caller asks the store.
   */
  async flagsOf(store: Store, uids: readonly number[]): Promise<FlagState[] | null> {
    if (!await this.#loadFlags(store)) return null;
    return this.#collect(uids, false);
  }

  /** Reads the session's copy of the flags the first time; false when the mailbox is too large to keep them. */
  async #loadFlags(store: Store): Promise<boolean> {
    if (this.#flags) return true;
    if (this.uids.length > FLAGS_CACHE_MAX) return false;
    const rows = await store.messages.flags(this.mailbox.id);
    // Both ascending: the store's rows of the messages this session knows (newer ones come with the catch-up).
    const flags: (readonly string[] | null)[] = [];
    const modseqs: number[] = [];
    let j = 0;
    for (const uid of this.uids) {
      while (j < rows.length && rows[j]!.uid < uid) j++;
      const row = rows[j]?.uid === uid ? rows[j]! : null;
      flags.push(row && this.#intern(row.flags));
      modseqs.push(row?.modseq ?? 0);
    }
    this.#flags = flags;
    this.#modseqs = modseqs;
    return true;
  }

  /** The flags of `uids` from the session's copy when it has read them already; null otherwise (never reads). */
  knownFlagsOf(uids: readonly number[]): FlagState[] | null {
    return this.#flags && this.#collect(uids, true);
  }

  /**
   * The flags of `uids` from the session's copy, which is read: the ones it has, or (`all`) null unless it has every
   * one.
   */
  #collect(uids: readonly number[], all: boolean): FlagState[] | null {
    const flags = this.#flags!;
    const out: FlagState[] = [];
    let i = 0; // where the next UID is when they follow each other (a window): no search then
    for (const uid of uids) {
      if (this.uids[i] !== uid) i = this.seqOf(uid) - 1;
      const f = i >= 0 ? flags[i] : null;
      if (f) out.push({ uid, flags: f as string[], modseq: this.#modseqs[i]! });
      else if (all) return null;
      i = Math.max(i + 1, 0);
    }
    return out;
  }

  /** Records flags this session changed (STORE, FETCH setting \Seen). */
  noteFlags(updated: readonly FlagState[]): void {
    if (!this.#flags) return;
    for (const u of updated) this.#setFlags(this.seqOf(u.uid), u.flags, u.modseq);
  }

  /** Sets the flags of sequence number `seq` (0: not known, nothing to do). */
  #setFlags(seq: number, flags: readonly string[], modseq: number): void {
    if (!this.#flags || !seq) return;
    this.#flags[seq - 1] = this.#intern(flags);
    this.#modseqs[seq - 1] = modseq;
  }

  /** Adds the flags of a message that comes after every known one (its UID is pushed to `uids` too). */
  #pushFlags(flags: readonly string[], modseq: number): void {
    if (!this.#flags) return;
    this.#flags.push(this.#intern(flags));
    this.#modseqs.push(modseq);
  }

  /** The shared array equal to `flags` (which are in the store's order: sorted). */
  #intern(flags: readonly string[]): readonly string[] {
    const key = flags.join(" ");
    let shared = this.#sets.get(key);
    if (!shared) {
      if (this.#sets.size >= MAX_FLAG_SETS) this.#sets.clear();
      shared = Object.freeze([...flags]);
      this.#sets.set(key, shared);
    }
    return shared;
  }

  /** Forgets expunged messages (sequence numbers and flags). */
  forget(uids: readonly number[]): void {
    if (!uids.length) return;
    const drop = new Set(uids);
    const keep = this.uids.map((u) => !drop.has(u));
    this.uids = this.uids.filter((_, i) => keep[i]);
    if (this.#flags) {
      this.#flags = this.#flags.filter((_, i) => keep[i]);
      this.#modseqs = this.#modseqs.filter((_, i) => keep[i]);
    }
  }

  /**
   * Known messages matching `criteria` when it only looks at flags, UIDs and MODSEQs: their UIDs and sequence
   * numbers (ascending), from the session's copy of the flags, read now the first time as FETCH FLAGS does (clients
   * search flags again and again: UNSEEN, DELETED). Null when the criterion needs more or the mailbox is too large
   * to keep its flags: the store answers. Matches as the store's SQL does.
   */
  async searchFlags(
    store: Store,
    criteria: SearchCriteria,
  ): Promise<{ uids: number[]; seqs: number[]; highestModseq: number } | null> {
    const test = matcher(criteria);
    if (!test || !await this.#loadFlags(store)) return null;
    const flags = this.#flags!, modseqs = this.#modseqs;
    const uids: number[] = [];
    const seqs: number[] = [];
    let highestModseq = 0;
    // One object the test looks at, refilled per message.
    const f: FlagState = { uid: 0, flags: [], modseq: 0 };
    for (let i = 0; i < this.uids.length; i++) {
      const set = flags[i];
      if (!set) continue;
      f.uid = this.uids[i]!;
      f.flags = set as string[];
      f.modseq = modseqs[i]!;
      if (!test(f)) continue;
      uids.push(f.uid);
      seqs.push(i + 1);
      if (f.modseq > highestModseq) highestModseq = f.modseq;
    }
    return { uids, seqs, highestModseq };
  }

  /** Number of messages the client knows of. */
  get exists(): number {
    return this.uids.length;
  }

  /** Sequence number of a UID, or 0. */
  seqOf(uid: number): number {
    let lo = 0, hi = this.uids.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const v = this.uids[mid]!;
      if (v === uid) return mid + 1;
      if (v < uid) lo = mid + 1;
      else hi = mid - 1;
    }
    return 0;
  }

  /**
   * Catches up with changes after `this.modseq`. Returns the untagged responses to send. With `allowExpunge`
   * false, expunged messages stay in the map (and are reported later).
   */
  async sync(
    store: Store,
    options: { allowExpunge: boolean; qresync: boolean; condstore: boolean; force?: boolean },
  ): Promise<string[]> {
    if (!this.dirty && !options.force) return [];
    // A notification that arrives while this catch-up runs stays due if its MODSEQ is beyond what it reads.
    this.dirty = false;
    const out: string[] = [];
    const box = await store.mailboxes.byId(this.mailbox.id);
    if (!box) {
      this.#notified = 0; // deleted meanwhile: nothing more to report, now or later
      return out;
    }
    (this as { mailbox: Mailbox }).mailbox = box;
    const since = this.modseq;
    if (box.highestModseq <= since) return out;
    let complete = true;
    const expunged = await store.messages.expungedSince(this.mailbox.id, since);
    const gone = expunged.filter((u) => this.seqOf(u) > 0);
    // Gone from the store: no flags to return any more, even while its EXPUNGE is held back (as a query would).
    if (this.#flags) { for (const u of gone) this.#flags[this.seqOf(u) - 1] = null; }
    if (gone.length) {
      if (options.allowExpunge) {
        if (options.qresync) out.push(vanishedResponse(gone, false));
        else {
          // Highest sequence number first: each EXPUNGE is valid when it is read (RFC 9051 §7.5.1).
          const seqs = gone.map((u) => this.seqOf(u)).sort((a, b) => b - a);
          for (const s of seqs) out.push(expungeResponse(s));
        }
        this.forget(gone);
      } else complete = false;
    }
    const last = this.uids[this.uids.length - 1] ?? 0;
    const changed = await store.messages.flags(this.mailbox.id, since);
    const added: number[] = [];
    for (const m of changed) {
      if (m.uid > last) {
        added.push(m.uid);
        this.#pushFlags(m.flags, m.modseq);
      } else {
        const seq = this.seqOf(m.uid);
        this.#setFlags(seq, m.flags, m.modseq);
        if (!seq || this.#reported.has(m.modseq)) continue;
        const modseq = options.condstore ? ` MODSEQ (${m.modseq})` : "";
        out.push(`* ${seq} FETCH (UID ${m.uid} FLAGS ${flagList(m.flags)}${modseq})\r\n`);
        // A partial catch-up (expunges held back) starts from the same MODSEQ next time: do not repeat this one.
        if (!complete && this.#reported.size < MAX_REPORTED) this.#reported.add(m.modseq);
      }
    }
    if (added.length) {
      this.uids.push(...added);
      out.push(existsResponse(this.uids.length));
    }
    if (!complete) this.dirty = true; // expunges held back: catch up again at the next chance
    else {
      this.modseq = box.highestModseq;
      for (const m of this.#reported) if (m <= this.modseq) this.#reported.delete(m);
    }
    return out;
  }
}

/**
 * A criterion that looks only at what the session keeps in memory (flags, UIDs, MODSEQs) as a test of one message,
 * with the semantics of store/search.ts; null for any other criterion. Made once per SEARCH, not per message.
 */
function matcher(c: SearchCriteria): ((f: FlagState) => boolean) | null {
  switch (c.type) {
    case "all":
      return () => true;
    case "flag": {
      // \Recent is not kept (RFC 9051 removed it): RECENT/NEW match nothing, OLD everything.
      if (c.flag.toLowerCase() === "\\recent") return () => !c.set;
      const { flag, set } = c;
      if (flag.startsWith("\\")) return (f) => f.flags.includes(flag) === set;
      const lower = flag.toLowerCase();
      return (f) => f.flags.some((x) => x.toLowerCase() === lower) === set;
    }
    case "uids": {
      const ranges = c.ranges;
      return (f) => ranges.some(([lo, hi]) => f.uid >= lo && f.uid <= hi);
    }
    case "modseq": {
      const modseq = c.modseq;
      return (f) => f.modseq >= modseq;
    }
    case "not": {
      const key = matcher(c.key);
      return key && ((f) => !key(f));
    }
    case "or": {
      const left = matcher(c.left), right = matcher(c.right);
      return left && right && ((f) => left(f) || right(f));
    }
    case "and": {
      const keys = c.keys.map(matcher);
      if (keys.some((k) => !k)) return null;
      const all = keys as ((f: FlagState) => boolean)[];
      return (f) => all.every((k) => k(f));
    }
    default:
      return null;
  }
}
