/**
 * @module
 * Incremental decoders for message content: `DataReader` for DATA (RFC 5321 §4.1.1.4 and §4.5.2: dot-unstuffing,
 * end on `<CRLF>.<CRLF>` only) and `BdatReader` for BDAT chunks (RFC 3030 §2: exact octet counts, no
 * stuffing). Pure: bytes in, unstuffed bytes out through an `onData` sink, so a message is never held twice.
 *
 * SMTP smuggling (CVE-2023-51766, CVE-2023-51764/5 class; SEC Consult, December 2023): servers disagreeing on
 * where DATA ends let an attacker hide a second message behind `<LF>.<LF>` or similar. Here:
 * - only `<CRLF>.<CRLF>` ends DATA: `<LF>.<LF>`, `<CR>.<CR>`, `<LF>.<CRLF>`, `<CRLF>.<LF>`, `<CRLF>.<CR>`, … are
 *   content;
 * - any bare LF (LF not after CR) or bare CR (CR not before LF) makes the message invalid (RFC 5321 §2.3.8): the
 *   reader keeps consuming up to the real terminator and reports `bare-lf`/`bare-cr`, so the session refuses
 *   the message (`BARE_LF`, 554 5.6.0), stores nothing, and stays in sync with the client.
 *
 * Bounded: past `maxSize` (or after a bare line ending) no more bytes go to the sink, but scanning continues
 * to the terminator, so memory is constant however much the client sends.
 */

/** Why a message must be refused. */
export type DataError = "bare-lf" | "bare-cr" | "too-big";

/** The outcome of a complete DATA body. */
export interface DataResult {
  /** Why the message must be refused (nothing stored), or null. Bare line endings win over `too-big`. */
  error: DataError | null;
  /** Unstuffed message octets, counted even past the limit (for the log). */
  size: number;
  /** A line exceeded `maxLineLength` (RFC 5322 §2.1.1: 998). Reported, not fatal: the session decides. */
  lineTooLong: boolean;
  /** Bytes of the last chunk after the terminator: the next (pipelined) commands. Push them to the LineReader. */
  rest: Uint8Array;
}

/** Options for `DataReader`. */
export interface DataReaderOptions {
  /** Largest message accepted, in unstuffed octets (RFC 1870 SIZE). Exactly `maxSize` is accepted. */
  maxSize: number;
  /** Longest line, in octets without CRLF, before `lineTooLong` is set. Default 998 (RFC 5322 §2.1.1). */
  maxLineLength?: number;
  /**
   * Receives the unstuffed message in order. Chunks are views into the pushed chunks: copy them if the
   * caller reuses its read buffer. Not called after an error; what it already got must then be discarded.
   */
  onData: (chunk: Uint8Array) => void;
}

const LF = 0x0a;
const CR = 0x0d;
const DOT = 0x2e;
const CR_BYTES = new Uint8Array([CR]);

// States of the DATA decoder. LINE_START is right after a CRLF (or at the start: the DATA line's CRLF).
const LINE_START = 0;
const BODY = 1; // inside a line
const AFTER_CR = 2; // a CR was emitted; LF makes it a CRLF, anything else makes it a bare CR
const AFTER_DOT = 3; // a "." at line start was held back: stuffing or the terminator's dot
const AFTER_DOT_CR = 4; // "<CRLF>." then CR held back: LF ends the message
const DONE = 5;

/** Decodes a DATA body incrementally. One reader per message; `push` until it returns a result. */
export class DataReader {
  readonly #maxSize: number;
  readonly #maxLine: number;
  readonly #onData: (chunk: Uint8Array) => void;
  #state = LINE_START;
  #lineLength = 0;
  #size = 0;
  #bareLf = false;
  #bareCr = false;
  #tooBig = false;
  #lineTooLong = false;

  constructor(options: DataReaderOptions) {
    this.#maxSize = options.maxSize;
    this.#maxLine = options.maxLineLength ?? 998;
    this.#onData = options.onData;
  }

  /** Unstuffed octets so far. */
  get size(): number {
    return this.#size;
  }

  /** Consumes a chunk: null while the terminator has not been seen, else the result (once). */
  push(chunk: Uint8Array): DataResult | null {
    if (this.#state === DONE) throw new Error("DataReader.push() after the end of data");
    const n = chunk.length;
    let state = this.#state;
    let lineLength = this.#lineLength;
    let runStart = 0; // start of the bytes not yet given to the sink
    let nextCr = -2; // cached chunk.indexOf(CR/LF, …) for the fast path through line content
    let nextLf = -2;
    for (let i = 0; i < n; i++) {
      const b = chunk[i]!;
      switch (state) {
        case LINE_START:
          if (b === DOT) {
            // RFC 5321 §4.5.2: hold the dot; it is dropped either way (stuffing or terminator).
            this.#emit(chunk, runStart, i);
            runStart = i + 1;
            state = AFTER_DOT;
            continue;
          }
          break;
        case AFTER_DOT:
          if (b === CR) {
            runStart = i + 1; // hold the CR: "<CRLF>.<CR>" may be the terminator
            state = AFTER_DOT_CR;
            continue;
          }
          break; // the dot was stuffing: b starts the line's content
        case AFTER_DOT_CR:
          if (b === LF) {
            // RFC 5321 §4.1.1.4: <CRLF>.<CRLF> ends the mail data.
            this.#state = DONE;
            return this.#result(chunk.subarray(i + 1));
          }
          // "<CRLF>.<CR>" then not LF: the held CR was a bare CR (a smuggling variant), and content.
          this.#bareCr = true;
          this.#emit(CR_BYTES, 0, 1);
          runStart = i;
          break;
        case AFTER_CR:
          if (b === LF) {
            state = LINE_START;
            lineLength = 0;
            continue;
          }
          this.#bareCr = true; // RFC 5321 §2.3.8: CR only as part of CRLF
          break;
      }
      // b is line content, or the start of a line ending.
      if (b === CR) {
        state = AFTER_CR;
      } else if (b === LF) {
        this.#bareLf = true; // LF not preceded by CR: "<LF>.<LF>" and friends never end the message
        state = BODY;
        lineLength = 0;
      } else {
        // Fast path: jump to the next CR or LF with native searches.
        if (nextCr < i && nextCr !== -1) nextCr = chunk.indexOf(CR, i);
        if (nextLf < i && nextLf !== -1) nextLf = chunk.indexOf(LF, i);
        let j = n;
        if (nextCr !== -1 && nextCr < j) j = nextCr;
        if (nextLf !== -1 && nextLf < j) j = nextLf;
        lineLength += j - i;
        if (lineLength > this.#maxLine) this.#lineTooLong = true;
        state = BODY;
        i = j - 1;
      }
    }
    this.#emit(chunk, runStart, n); // in AFTER_DOT/AFTER_DOT_CR, runStart === n: the held bytes stay held
    this.#state = state;
    this.#lineLength = lineLength;
    return null;
  }

  #emit(bytes: Uint8Array, from: number, to: number): void {
    if (to <= from) return;
    this.#size += to - from;
    if (this.#size > this.#maxSize) this.#tooBig = true;
    if (this.#tooBig || this.#bareLf || this.#bareCr) return;
    this.#onData(bytes.subarray(from, to));
  }

  #result(rest: Uint8Array): DataResult {
    const error = this.#bareLf ? "bare-lf" : this.#bareCr ? "bare-cr" : this.#tooBig ? "too-big" : null;
    return { error, size: this.#size, lineTooLong: this.#lineTooLong, rest };
  }
}

/** Options for `BdatReader`. */
export interface BdatReaderOptions {
  /** Largest message accepted, in octets, over all chunks. Exactly `maxSize` is accepted. */
  maxSize: number;
  /**
   * Refuse bare CR/LF in the content (default false). RFC 3030 content is binary-safe and cannot be smuggled
   * through (there is no terminator to confuse), but a 7BIT/8BITMIME message with bare line endings is still
   * malformed, and relaying it later over DATA would need conversion. Leave it off for BODY=BINARYMIME.
   */
  rejectBareLineEndings?: boolean;
  /** Receives the content in order (views into pushed chunks). Not called after an error. */
  onData: (chunk: Uint8Array) => void;
}

/** The outcome of one complete BDAT chunk. */
export interface BdatChunkResult {
  /** The chunk had LAST: the message is complete (if `error` is null). */
  last: boolean;
  /** Why the message must be refused, or null. Once set it stays set for the following chunks. */
  error: DataError | null;
  /** Octets of the message so far (all chunks). */
  size: number;
  /** Bytes after this chunk: the next commands. Push them to the LineReader. */
  rest: Uint8Array;
}

/**
 * Reads BDAT chunks of one message (RFC 3030 §2). For each BDAT command: `startChunk(size, last)`, then
 * `push(lineReader.takeBuffered())` (possibly empty) and further reads until a result comes back.
 * The session must read the announced octets even when it refuses the BDAT command (no RCPT, already failed):
 * use a throwaway `new BdatReader({ maxSize: Infinity, onData: () => {} })`; otherwise the content would be
 * read as commands.
 */
export class BdatReader {
  readonly #maxSize: number;
  readonly #checkEndings: boolean;
  readonly #onData: (chunk: Uint8Array) => void;
  #remaining = -1; // octets left in the current chunk; -1 when no chunk is open
  #last = false;
  #finished = false;
  #size = 0;
  #afterCr = false;
  #error: DataError | null = null;

  constructor(options: BdatReaderOptions) {
    this.#maxSize = options.maxSize;
    this.#checkEndings = options.rejectBareLineEndings ?? false;
    this.#onData = options.onData;
  }

  /** Octets of the message so far. */
  get size(): number {
    return this.#size;
  }

  /** Opens the next chunk announced by `BDAT size [LAST]`. */
  startChunk(size: number, last: boolean): void {
    if (this.#remaining >= 0) throw new Error("BdatReader.startChunk() while a chunk is still open");
    if (this.#finished) throw new Error("BdatReader.startChunk() after the LAST chunk");
    if (!Number.isSafeInteger(size) || size < 0) throw new RangeError(`Invalid BDAT chunk size ${size}`);
    this.#remaining = size;
    this.#last = last;
  }

  /** Consumes bytes of the open chunk: null until the chunk is complete, then its result. */
  push(chunk: Uint8Array): BdatChunkResult | null {
    if (this.#remaining < 0) throw new Error("BdatReader.push() without an open chunk");
    const take = Math.min(this.#remaining, chunk.length);
    const part = chunk.subarray(0, take);
    this.#remaining -= take;
    if (this.#checkEndings && this.#error === null) this.#scan(part);
    this.#size += take;
    if (this.#size > this.#maxSize && this.#error === null) this.#error = "too-big";
    if (this.#error === null && take > 0) this.#onData(part);
    if (this.#remaining > 0) return null;
    this.#remaining = -1;
    if (this.#last) {
      this.#finished = true;
      // A CR at the very end of the message is a bare CR.
      if (this.#checkEndings && this.#afterCr && this.#error === null) this.#error = "bare-cr";
    }
    return { last: this.#last, error: this.#error, size: this.#size, rest: chunk.subarray(take) };
  }

  #scan(part: Uint8Array): void {
    for (let i = 0; i < part.length; i++) {
      const b = part[i]!;
      if (this.#afterCr && b !== LF) {
        this.#error = "bare-cr";
        return;
      }
      if (b === LF && !this.#afterCr) {
        this.#error = "bare-lf";
        return;
      }
      this.#afterCr = b === CR;
    }
  }
}
