/**
 * @module
 * Group commit: concurrent callers' work is gathered into one transaction, so N deliveries arriving together
 * cost one commit (one fsync) instead of N. While a batch commits, the next one fills up.
 */

interface Waiting<T, R> {
  item: T;
  resolve: (r: R) => void;
  reject: (e: unknown) => void;
}

/** Runs `flush` over batches of submitted items; each caller gets its own result or error. */
export class GroupCommit<T, R> {
  readonly #flush: (items: T[]) => Promise<R[]>;
  readonly #maxBatch: number;
  #queue: Waiting<T, R>[] = [];
  #running = false;

  /** `flush` must return one result per item, in order, all committed together. */
  constructor(flush: (items: T[]) => Promise<R[]>, options: { maxBatch?: number } = {}) {
    this.#flush = flush;
    this.#maxBatch = options.maxBatch ?? 200;
  }

  /** Adds an item to the next batch; resolves once its batch has committed. */
  submit(item: T): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.#queue.push({ item, resolve, reject });
      if (!this.#running) this.#run();
    });
  }

  async #run(): Promise<void> {
    this.#running = true;
    try {
      while (this.#queue.length) {
        const batch = this.#queue.splice(0, this.#maxBatch);
        try {
          const results = await this.#flush(batch.map((w) => w.item));
          batch.forEach((w, i) => w.resolve(results[i]!));
        } catch (e) {
          if (batch.length === 1) {
            batch[0]!.reject(e);
            continue;
          }
          // One bad item must not fail the others: retry each on its own.
          for (const w of batch) {
            try {
              w.resolve((await this.#flush([w.item]))[0]!);
            } catch (e) {
              w.reject(e);
            }
          }
        }
      }
    } finally {
      this.#running = false;
    }
  }
}
