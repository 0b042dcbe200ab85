/**
 * @module
 * An incremental splitter of the SMTP command stream into lines. Pure: the session `push`es the bytes it read
 * and pulls events with `next()` until null.
 *
 * Line endings: CRLF is required by RFC 5321 §2.3.8, but a bare LF is tolerated *at command level* (reported as
 * `bareLf: true`), as Postfix and most servers do; message content is a different matter: DATA must never
 * accept a bare LF (see `data_reader.ts`, SMTP smuggling).
 *
 * Length: a line longer than `maxLineLength` (counted with its CRLF, RFC 5321 §4.5.3.1.4) is reported once as
 * `too-long` and then skipped up to the next LF without being buffered, so memory stays bounded by
 * `maxLineLength` plus the chunk being pushed.
 *
 * Mode switches: after a DATA (354 sent) or BDAT line, `takeBuffered()` hands the bytes already read to the data
 * reader; after STARTTLS, `discardBuffered()` drops whatever the client pipelined behind it (RFC 3207 §4.2:
 * command injection before the handshake).
 */

/** RFC 5321 §4.5.3.1.4: a command line is at most 512 octets including CRLF. */
export const SMTP_COMMAND_LINE_MAX = 512;
/** RFC 4954 §4: 12288 octets are "sufficient" for AUTH exchange lines (base64 of large tokens). */
export const AUTH_LINE_MAX = 12288;
/** The default limit: above 512 to tolerate long AUTH initial responses (XOAUTH2 tokens) on the AUTH line. */
export const DEFAULT_MAX_LINE = 4096;

/** What `next()` returns: a complete line (without its line ending) or a report that one was too long. */
export type LineEvent =
  | { kind: "line"; text: string; bareLf: boolean }
  | { kind: "too-long" };

const LF = 0x0a;
const CR = 0x0d;
const EMPTY = new Uint8Array(0);
// Invalid UTF-8 becomes U+FFFD, which parseCommand refuses; a leading BOM is kept (and refused) too.
const decoder = new TextDecoder("utf-8", { ignoreBOM: true });

/** Splits pushed bytes into command lines, bounding line length. */
export class LineReader {
  #buf: Uint8Array = EMPTY;
  #start = 0;
  #max: number;
  /** Skipping the rest of an over-long line up to (and including) the next LF. */
  #discarding = false;
  /** An over-long line was dropped in `push` and has not been reported yet. */
  #pendingTooLong = false;

  constructor(options: { maxLineLength?: number } = {}) {
    this.#max = checkMax(options.maxLineLength ?? DEFAULT_MAX_LINE);
  }

  /** The longest accepted line in octets, including CRLF. May be changed between lines (e.g. for AUTH). */
  get maxLineLength(): number {
    return this.#max;
  }

  set maxLineLength(n: number) {
    this.#max = checkMax(n);
  }

  /** Octets received and not yet returned as lines. A session may stop reading while this is large. */
  get buffered(): number {
    return this.#buf.length - this.#start;
  }

  /** Adds bytes read from the connection. The chunk is copied, so the caller may reuse its buffer. */
  push(chunk: Uint8Array): void {
    if (this.#discarding) {
      const lf = chunk.indexOf(LF);
      if (lf < 0) return;
      this.#discarding = false;
      chunk = chunk.subarray(lf + 1);
    }
    if (chunk.length === 0) return;
    const rest = this.#buf.length - this.#start;
    const buf = new Uint8Array(rest + chunk.length);
    buf.set(this.#buf.subarray(this.#start), 0);
    buf.set(chunk, rest);
    this.#buf = buf;
    this.#start = 0;
    // Only a partial line is buffered and it is already too long: drop it now rather than keep growing.
    if (buf.length >= this.#max && buf.indexOf(LF) < 0) {
      this.#clear();
      this.#discarding = true;
      this.#pendingTooLong = true;
    }
  }

  /** The next complete line or `too-long` event, or null when more bytes are needed. */
  next(): LineEvent | null {
    if (this.#pendingTooLong) {
      this.#pendingTooLong = false;
      return { kind: "too-long" };
    }
    const buf = this.#buf;
    const start = this.#start;
    const lf = buf.indexOf(LF, start);
    if (lf < 0) {
      // A partial line of `max` octets without LF can no longer fit (even as content + CR awaiting LF).
      if (buf.length - start >= this.#max) {
        this.#clear();
        this.#discarding = true;
        return { kind: "too-long" };
      }
      return null;
    }
    const crlf = lf > start && buf[lf - 1] === CR;
    const end = crlf ? lf - 1 : lf;
    this.#start = lf + 1;
    if (this.#start === buf.length) this.#clear();
    // RFC 5321 §4.5.3.1.4: the limit includes the CRLF, whichever ending the client used.
    if (end - start + 2 > this.#max) return { kind: "too-long" };
    return { kind: "line", text: decoder.decode(buf.subarray(start, end)), bareLf: !crlf };
  }

  /**
   * Removes and returns every buffered byte not yet returned as a line: call it right after the DATA (once
   * 354 is sent) or BDAT line and give the bytes to the data reader; its leftover comes back with `push`.
   */
  takeBuffered(): Uint8Array {
    const out = this.#buf.subarray(this.#start);
    this.#clear();
    this.#discarding = false;
    this.#pendingTooLong = false;
    return out;
  }

  /**
   * Drops every buffered byte and returns how many there were: call it right after the STARTTLS line
   * (RFC 3207 §4.2: nothing sent before the TLS handshake may be acted on after it). Log a non-zero count.
   */
  discardBuffered(): number {
    return this.takeBuffered().length;
  }

  #clear(): void {
    this.#buf = EMPTY;
    this.#start = 0;
  }
}

function checkMax(n: number): number {
  if (!Number.isInteger(n) || n < 3) throw new RangeError(`Invalid maximum line length ${n}: must be an integer ≥ 3`);
  return n;
}
