/**
 * @module
 * Messages read recently, kept in memory by (mailbox, UID): what never changes about a stored message — its
 * structure, size, dates, content hash and, when it was read, its bytes. A message is immutable under its UID
 * (UIDs are never reused in a mailbox, and mailbox ids never come back), so an entry can never be stale and
 * several instances sharing one database need no invalidation. Flags and MODSEQs change and are not kept here.
 *
 * Clients read the same messages again and again: a phone re-fetches what it no longer holds, a second device
 * fetches the mail the first one just opened. Each hit saves a round trip to Postgres, the largest part of a FETCH.
 * Bounded in bytes; least recently used entries go first.
 */

/** The immutable part of a stored message. */
export interface CachedMessage {
  uid: number;
  internalDate: Date;
  size: number;
  messageId: string | null;
  hash: string;
  structure: unknown;
  /** The raw message, when it was read and is small enough to keep. */
  content?: Uint8Array;
}

/** Bytes an entry is charged for beyond its content and structure: the entry object and the map entry. */
const OVERHEAD = 256;

/** Messages larger than this are not kept with their content (one would push out hundreds of others). */
const MAX_CONTENT = 256 * 1024;

/** A byte-bounded LRU of {@linkcode CachedMessage}s. */
export class MessageCache {
  readonly #maxBytes: number;
  /** In order of use, least recent first (a Map iterates in insertion order). */
  readonly #entries = new Map<string, CachedMessage>();
  /** What each entry was charged when it came in (its structure is measured once). */
  readonly #costs = new WeakMap<CachedMessage, number>();
  #bytes = 0;

  constructor(maxBytes: number) {
    this.#maxBytes = maxBytes;
  }

  /** Lookups answered and not answered since start (for tests and operations). */
  hits = 0;
  misses = 0;

  /** The entry of a message, marked as just used; undefined when it is not kept. */
  get(mailboxId: number, uid: number): CachedMessage | undefined {
    const key = `${mailboxId}:${uid}`;
    const e = this.#entries.get(key);
    if (e) {
      this.hits++;
      this.#entries.delete(key);
      this.#entries.set(key, e);
    } else this.misses++;
    return e;
  }

  /**
   * Keeps a message just read or stored (its content only when given and small enough). `structureJsonLength`,
   * when the caller has it, saves serializing the structure again to measure it.
   */
  set(mailboxId: number, message: CachedMessage, structureJsonLength?: number): void {
    if (this.#maxBytes <= 0) return;
    const key = `${mailboxId}:${message.uid}`;
    const old = this.#entries.get(key);
    let entry = message;
    if (entry.content && entry.content.byteLength > MAX_CONTENT) {
      const { content: _, ...rest } = entry;
      entry = rest;
    }
    if (old) {
      if (old.content && !entry.content) entry = { ...entry, content: old.content };
      this.#entries.delete(key);
      this.#bytes -= this.#costs.get(old) ?? 0;
    }
    this.#costs.set(entry, cost(entry, structureJsonLength));
    this.#entries.set(key, entry);
    this.#bytes += this.#costs.get(entry)!;
    for (const [k, e] of this.#entries) {
      if (this.#bytes <= this.#maxBytes) break;
      this.#entries.delete(k);
      this.#bytes -= this.#costs.get(e) ?? 0;
    }
  }

  /** Bytes held (approximately: content plus a fixed charge per entry). */
  get bytes(): number {
    return this.#bytes;
  }
}

/**
 * Bytes an entry holds: its content, and its parsed structure (envelope and body structure strings and the part
 * tree), estimated as twice its JSON length (strings of two-byte characters at worst, plus object headers).
 */
function cost(e: CachedMessage, structureJsonLength?: number): number {
  const json = structureJsonLength ?? JSON.stringify(e.structure ?? null)?.length ?? 0;
  return OVERHEAD + (e.content?.byteLength ?? 0) + 2 * json;
}
