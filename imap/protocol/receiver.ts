/**
 * @module
 * The incremental IMAP command receiver (Stalwart-style): the session `push`es the bytes it read and pulls
 * events with `next()` until null. A command is one or more lines joined by literals (RFC 9051 §4.3): every line
 * that ends with `{n}`, `{n+}` (LITERAL+, RFC 7888) or `~{n}` (literal8, RFC 3516 §4.4) is followed by n octets.
 * The receiver frames; `parseCommand` (parse.ts) reads the grammar from the `RawCommand` it produces.
 *
 * Literal flow. A synchronising literal `{n}` needs `+ Ready for literal data` before the client sends it: the
 * receiver says so with a `need-continuation` event. Literals up to `autoAcceptLiteral` are read without asking.
 * A bigger one (an APPEND) is announced with a `literal` event and the receiver waits for the session's
 * `accept()` (after checking APPENDLIMIT/quota; then `need-continuation` follows for `{n}`) or `reject()` (the
 * session sends `tag NO [TOOBIG]`/`[OVERQUOTA]`). Over `maxLiteralSize`, or a non-synchronising literal over
 * `maxNonSyncLiteral` (4096 with LITERAL-, RFC 7888 §4), the receiver refuses by itself (`literal-too-big`:
 * send `tag BAD [TOOBIG]`).
 *
 * Refusals are memory-safe: for a refused `{n}` the client sends nothing more; for a refused `{n+}` the client
 * sends the n octets anyway, and the receiver counts them off without buffering, then skips the rest of the
 * command (including further `{n+}` literals). An over-long line is reported once (`too-long`) and skipped the
 * same way. CRLF ends a line; a bare LF is tolerated.
 *
 * Mode switches: `nextLine()` reads one raw line for IDLE (`DONE`, RFC 9051 §6.3.13) and AUTHENTICATE
 * continuation responses (RFC 9051 §6.2.2); `discardBuffered()` drops what a client pipelined after STARTTLS
 * (RFC 9051 §6.2.1, command injection); `takeBuffered()` hands the unread bytes over.
 */

/** The default longest command line, without literals and counted with its CRLF. */
export const DEFAULT_MAX_LINE = 64 * 1024;
/** The default hard limit for one literal (a message in APPEND). The session sets its own from the config. */
export const DEFAULT_MAX_LITERAL = 64 * 1024 * 1024;
/** RFC 7888 §4 (LITERAL-) and RFC 9051 §4.3: non-synchronising literals of at most 4096 octets. */
export const LITERAL_MINUS_MAX = 4096;
/** The default size up to which a literal is read without asking the session. */
export const DEFAULT_AUTO_ACCEPT_LITERAL = 64 * 1024;
/** The default bound on one command's lines plus the literals read without asking. */
export const DEFAULT_MAX_COMMAND = 1024 * 1024;
/** The default longest line for `nextLine()` (SASL responses carry base64 tokens; RFC 4954 uses 12288). */
export const DEFAULT_MAX_RAW_LINE = 16 * 1024;

/** Limits of a receiver (all in octets). */
export interface ReceiverOptions {
  /** Longest line of a command, excluding literal data, including CRLF. Default 64 KiB. */
  maxLineLength?: number;
  /** Largest literal accepted at all. Default 64 MiB. */
  maxLiteralSize?: number;
  /** Largest non-synchronising literal `{n+}`. Default 4096 (LITERAL-); raise it to advertise LITERAL+. */
  maxNonSyncLiteral?: number;
  /** Literals up to this size are read without a `literal` event. Default 64 KiB. */
  autoAcceptLiteral?: number;
  /** Bound on one command's lines plus its automatically accepted literals. Default 1 MiB. */
  maxCommandSize?: number;
  /** Longest line for `nextLine()`. Default 16 KiB. */
  maxRawLineLength?: number;
}

/** One literal of a command, as received. */
export interface LiteralData {
  /** The literal's octets. */
  bytes: Uint8Array;
  /** `{n}` (true) or `{n+}` (false). */
  sync: boolean;
  /** `~{n}`: a literal8, which may contain NUL (RFC 3516 §4.4). */
  binary: boolean;
}

/**
 * A framed command: the lines (without CRLF; each but the last ends with its literal's `{n}` marker) and the
 * literals between them. `tag` is the first word when it is a valid tag, else null (answer with `* BAD`).
 */
export interface RawCommand {
  tag: string | null;
  lines: Uint8Array[];
  literals: LiteralData[];
}

/** What `next()` reports. */
export type ReceiverEvent =
  /** A complete command: hand it to `parseCommand`. */
  | ({ kind: "command" } & RawCommand)
  /** Send `+ Ready for literal data` (RFC 9051 §7.6): the client waits for it before sending the literal. */
  | { kind: "need-continuation"; tag: string | null }
  /**
   * A literal above `autoAcceptLiteral`: call `accept()` or `reject()` (and then send the tagged NO).
   * `command` is the command name in upper case (`APPEND`, `UID SEARCH`, …) to base the decision on.
   */
  | { kind: "literal"; tag: string | null; command: string; size: number; sync: boolean; binary: boolean }
  /** A line or the command was too long: send `tag BAD [TOOBIG]`; the rest of the command is skipped. */
  | { kind: "too-long"; tag: string | null }
  /** A literal was refused by the limits: send `tag BAD [TOOBIG]`; its octets (if `{n+}`) are skipped. */
  | { kind: "literal-too-big"; tag: string | null; size: number; sync: boolean };

/** What `nextLine()` returns: a raw line without its line ending, or a report that one was too long. */
export type RawLineEvent = { kind: "line"; text: string } | { kind: "too-long" };

const LF = 0x0a;
const CR = 0x0d;
const SP = 0x20;
const EMPTY = new Uint8Array(0);
/** Long enough to hold `~{` + 20 digits + `+}` + CR. */
const TAIL = 32;
const lineDecoder = new TextDecoder("utf-8", { ignoreBOM: true });

interface Marker {
  size: number;
  sync: boolean;
  binary: boolean;
}

interface Pending {
  tag: string | null;
  command: string;
  lines: Uint8Array[];
  literals: LiteralData[];
  size: number;
}

type Mode =
  | { m: "line" }
  | { m: "skip-line" }
  | { m: "skip-literal"; remaining: number }
  | { m: "literal"; data: Uint8Array; got: number; sync: boolean; binary: boolean }
  | { m: "decide"; event: ReceiverEvent & { kind: "literal" } };

/** Frames pushed bytes into IMAP commands with their literals, within bounded memory. */
export class CommandReceiver {
  #buf: Uint8Array = EMPTY;
  #start = 0;
  #end = 0;
  /** Offset from #start up to which the current line was searched for LF. */
  #scanned = 0;
  /** Last octets of a line being skipped, to see whether it ends with a literal marker. */
  #tail: Uint8Array = EMPTY;
  #mode: Mode = { m: "line" };
  #cmd: Pending | null = null;
  #queued: ReceiverEvent | null = null;
  /** nextLine() is skipping an over-long raw line. */
  #rawSkip = false;
  readonly #maxLine: number;
  readonly #maxLiteral: number;
  readonly #maxNonSync: number;
  readonly #autoAccept: number;
  readonly #maxCommand: number;
  readonly #maxRawLine: number;

  constructor(options: ReceiverOptions = {}) {
    this.#maxLine = limit("maxLineLength", options.maxLineLength ?? DEFAULT_MAX_LINE, 16);
    this.#maxLiteral = limit("maxLiteralSize", options.maxLiteralSize ?? DEFAULT_MAX_LITERAL, 0);
    this.#maxNonSync = limit("maxNonSyncLiteral", options.maxNonSyncLiteral ?? LITERAL_MINUS_MAX, 0);
    this.#autoAccept = limit("autoAcceptLiteral", options.autoAcceptLiteral ?? DEFAULT_AUTO_ACCEPT_LITERAL, 0);
    this.#maxCommand = limit("maxCommandSize", options.maxCommandSize ?? DEFAULT_MAX_COMMAND, 16);
    this.#maxRawLine = limit("maxRawLineLength", options.maxRawLineLength ?? DEFAULT_MAX_RAW_LINE, 3);
  }

  /** Octets received and not yet consumed. Stop reading the socket while a `literal` decision is pending. */
  get buffered(): number {
    return this.#end - this.#start;
  }

  /** True between the first line of a command and its end (or while skipping a refused one). */
  get midCommand(): boolean {
    return this.#cmd !== null || this.#mode.m !== "line";
  }

  /** Adds bytes read from the connection. The chunk is copied (or counted off), so the caller may reuse it. */
  push(chunk: Uint8Array): void {
    if (this.#start === this.#end) {
      // Nothing buffered: literal data goes straight to its destination, refused literal data nowhere.
      const mode = this.#mode;
      if (mode.m === "literal") {
        const n = Math.min(mode.data.length - mode.got, chunk.length);
        mode.data.set(chunk.subarray(0, n), mode.got);
        mode.got += n;
        chunk = chunk.subarray(n);
      } else if (mode.m === "skip-literal") {
        const n = Math.min(mode.remaining, chunk.length);
        mode.remaining -= n;
        chunk = chunk.subarray(n);
      }
    }
    if (chunk.length) this.#append(chunk);
  }

  /** The next event, or null when more bytes are needed (or a `literal` decision is still pending: see above). */
  next(): ReceiverEvent | null {
    if (this.#queued) {
      const q = this.#queued;
      this.#queued = null;
      return q;
    }
    if (!this.#skipRawLine()) return null;
    for (;;) {
      const mode = this.#mode;
      switch (mode.m) {
        case "decide":
          return mode.event;
        case "literal": {
          const n = Math.min(mode.data.length - mode.got, this.#end - this.#start);
          mode.data.set(this.#buf.subarray(this.#start, this.#start + n), mode.got);
          mode.got += n;
          this.#consume(n);
          if (mode.got < mode.data.length) return null;
          this.#cmd!.literals.push({ bytes: mode.data, sync: mode.sync, binary: mode.binary });
          this.#mode = { m: "line" };
          continue;
        }
        case "skip-literal": {
          const n = Math.min(mode.remaining, this.#end - this.#start);
          mode.remaining -= n;
          this.#consume(n);
          if (mode.remaining > 0) return null;
          this.#mode = { m: "skip-line" };
          continue;
        }
        case "skip-line": {
          const lf = this.#findLf();
          if (lf < 0) {
            this.#keepTail(this.#end);
            this.#consume(this.#end - this.#start);
            return null;
          }
          const seg = this.#segment(lf);
          const tail = concat(this.#tail, seg.length > TAIL ? seg.subarray(seg.length - TAIL) : seg);
          this.#tail = EMPTY;
          this.#consume(lf + 1 - this.#start);
          const marker = literalMarker(tail);
          this.#mode = marker && !marker.sync ? { m: "skip-literal", remaining: marker.size } : { m: "line" };
          continue;
        }
        case "line": {
          const ev = this.#line();
          if (ev === undefined) continue;
          return ev;
        }
      }
    }
  }

  /** Accepts the literal of a pending `literal` event: it is read next (after `need-continuation` for `{n}`). */
  accept(): void {
    const mode = this.#mode;
    if (mode.m !== "decide") throw new Error("accept() called without a pending literal");
    const { size, sync, binary, tag } = mode.event;
    this.#mode = { m: "literal", data: new Uint8Array(size), got: 0, sync, binary };
    if (sync) this.#queued = { kind: "need-continuation", tag };
  }

  /** Refuses the literal of a pending `literal` event; the command is dropped (its `{n+}` octets are skipped). */
  reject(): void {
    const mode = this.#mode;
    if (mode.m !== "decide") throw new Error("reject() called without a pending literal");
    this.#cmd = null;
    this.#mode = mode.event.sync ? { m: "line" } : { m: "skip-literal", remaining: mode.event.size };
  }

  /**
   * The next raw line (no literal processing), for IDLE's `DONE` and AUTHENTICATE responses, or null when more
   * bytes are needed. An over-long line is reported once and skipped. Only valid between commands.
   */
  nextLine(): RawLineEvent | null {
    if (this.midCommand) throw new Error("nextLine() called in the middle of a command");
    if (!this.#skipRawLine()) return null;
    const lf = this.#findLf();
    if (lf < 0) {
      if (this.#end - this.#start >= this.#maxRawLine) {
        this.#consume(this.#end - this.#start);
        this.#rawSkip = true;
        return { kind: "too-long" };
      }
      return null;
    }
    const seg = this.#segment(lf);
    this.#consume(lf + 1 - this.#start);
    if (seg.length + 2 > this.#maxRawLine) return { kind: "too-long" };
    return { kind: "line", text: lineDecoder.decode(seg) };
  }

  /**
   * Removes and returns every unread octet and forgets any partial command: after `STARTTLS` (drop them: see
   * `discardBuffered`) or to hand the stream to another reader.
   */
  takeBuffered(): Uint8Array {
    const out = this.#buf.slice(this.#start, this.#end);
    this.#buf = EMPTY;
    this.#start = this.#end = this.#scanned = 0;
    this.#tail = EMPTY;
    this.#mode = { m: "line" };
    this.#cmd = null;
    this.#queued = null;
    this.#rawSkip = false;
    return out;
  }

  /**
   * Drops every unread octet and returns how many there were: call it right after writing the STARTTLS OK
   * (RFC 9051 §6.2.1 / RFC 3207 §4.2: nothing sent before the handshake may be acted on). Log a non-zero count.
   */
  discardBuffered(): number {
    return this.takeBuffered().length;
  }

  /** Finishes skipping an over-long raw line; false while its LF has not arrived. */
  #skipRawLine(): boolean {
    if (!this.#rawSkip) return true;
    const lf = this.#findLf();
    if (lf < 0) {
      this.#consume(this.#end - this.#start);
      return false;
    }
    this.#consume(lf + 1 - this.#start);
    this.#rawSkip = false;
    return true;
  }

  /** Handles the line state: an event, null (need more), or undefined (state changed, loop again). */
  #line(): ReceiverEvent | null | undefined {
    const lf = this.#findLf();
    if (lf < 0) {
      if (this.#end - this.#start < this.#maxLine) return null;
      // The line can no longer fit: report it now and skip the rest without buffering.
      const tag = this.#cmd?.tag ?? tagOf(this.#buf.subarray(this.#start, this.#end));
      this.#cmd = null;
      this.#mode = { m: "skip-line" };
      this.#keepTail(this.#end);
      this.#consume(this.#end - this.#start);
      return { kind: "too-long", tag };
    }
    const seg = this.#segment(lf);
    this.#consume(lf + 1 - this.#start);
    if (this.#cmd === null) {
      if (seg.length === 0) return undefined; // Blank lines between commands are ignored.
      this.#cmd = { tag: tagOf(seg), command: commandOf(seg), lines: [], literals: [], size: 0 };
    }
    const cmd = this.#cmd;
    const marker = literalMarker(seg);
    const len = seg.length + 2;
    cmd.size += len;
    if (len > this.#maxLine || cmd.size > this.#maxCommand) {
      return this.#abandon({ kind: "too-long", tag: cmd.tag }, marker);
    }
    cmd.lines.push(seg.slice());
    if (!marker) {
      this.#cmd = null;
      return { kind: "command", tag: cmd.tag, lines: cmd.lines, literals: cmd.literals };
    }
    const { size, sync, binary } = marker;
    if (size > this.#maxLiteral || (!sync && size > this.#maxNonSync)) {
      return this.#abandon({ kind: "literal-too-big", tag: cmd.tag, size, sync }, marker);
    }
    if (size <= this.#autoAccept) {
      cmd.size += size;
      if (cmd.size > this.#maxCommand) {
        return this.#abandon({ kind: "literal-too-big", tag: cmd.tag, size, sync }, marker);
      }
      this.#mode = { m: "literal", data: new Uint8Array(size), got: 0, sync, binary };
      return sync ? { kind: "need-continuation", tag: cmd.tag } : undefined;
    }
    const event = { kind: "literal" as const, tag: cmd.tag, command: cmd.command, size, sync, binary };
    this.#mode = { m: "decide", event };
    return event;
  }

  /** Drops the current command after an error; a pending `{n+}` literal and the lines after it are skipped. */
  #abandon(event: ReceiverEvent, marker: Marker | null): ReceiverEvent {
    this.#cmd = null;
    this.#mode = marker && !marker.sync ? { m: "skip-literal", remaining: marker.size } : { m: "line" };
    return event;
  }

  /** The absolute index of the next LF of the current line, or -1 (remembering how far it searched). */
  #findLf(): number {
    const from = this.#start + this.#scanned;
    const i = this.#buf.subarray(from, this.#end).indexOf(LF);
    if (i < 0) {
      this.#scanned = this.#end - this.#start;
      return -1;
    }
    return from + i;
  }

  /** The line from #start to the LF at `lf`, without CR (a view into the buffer: copy it to keep it). */
  #segment(lf: number): Uint8Array {
    const end = lf > this.#start && this.#buf[lf - 1] === CR ? lf - 1 : lf;
    return this.#buf.subarray(this.#start, end);
  }

  #keepTail(end: number): void {
    const from = Math.max(this.#start, end - TAIL);
    this.#tail = concat(this.#tail, this.#buf.subarray(from, end));
    if (this.#tail.length > TAIL) this.#tail = this.#tail.slice(this.#tail.length - TAIL);
  }

  #consume(n: number): void {
    this.#start += n;
    this.#scanned = 0;
    if (this.#start === this.#end) {
      // Everything read: give the buffer back (an idle connection — thousands of them in IDLE — holds none;
      // the next command allocates a small one again).
      this.#start = this.#end = 0;
      this.#buf = EMPTY;
    }
  }

  #append(chunk: Uint8Array): void {
    const len = this.#end - this.#start;
    if (this.#end + chunk.length > this.#buf.length) {
      if (len + chunk.length <= this.#buf.length) {
        this.#buf.copyWithin(0, this.#start, this.#end);
      } else {
        const grown = new Uint8Array(Math.max(len + chunk.length, this.#buf.length * 2, 4096));
        grown.set(this.#buf.subarray(this.#start, this.#end));
        this.#buf = grown;
      }
      this.#start = 0;
      this.#end = len;
    }
    this.#buf.set(chunk, this.#end);
    this.#end += chunk.length;
  }
}

function limit(name: string, n: number, min: number): number {
  if (!(n >= min) || (Number.isFinite(n) && !Number.isInteger(n))) {
    throw new RangeError(`Invalid receiver limit ${name} = ${n}: must be an integer ≥ ${min}`);
  }
  return n;
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  if (a.length === 0) return b.slice();
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/**
 * The literal announced at the end of a line (RFC 9051 §9 `literal`, RFC 7888 §8 `literal-nonsync`, RFC 3516
 * §7 `literal8`), or null. A `{n}` inside an unterminated quoted string is not a marker: the line is complete.
 */
function literalMarker(seg: Uint8Array): Marker | null {
  let i = seg.length - 1;
  if (i < 2 || seg[i] !== 0x7d) return null;
  i--;
  let sync = true;
  if (seg[i] === 0x2b) {
    sync = false;
    i--;
  }
  const last = i;
  while (i >= 0 && seg[i]! >= 0x30 && seg[i]! <= 0x39) i--;
  if (i === last || i < 0 || seg[i] !== 0x7b) return null;
  if (endsInQuote(seg, i)) return null;
  const size = Number(latin1.decode(seg.subarray(i + 1, last + 1)));
  return { size, sync, binary: i > 0 && seg[i - 1] === 0x7e };
}

/** True when position `at` of a line is inside a quoted string (RFC 9051 §4.3: `\` escapes `"` and `\`). */
function endsInQuote(seg: Uint8Array, at: number): boolean {
  let quoted = false;
  for (let k = 0; k < at; k++) {
    const c = seg[k];
    if (quoted && c === 0x5c) k++;
    else if (c === 0x22) quoted = !quoted;
  }
  return quoted;
}

/** RFC 9051 §9: tag = 1*<any ASTRING-CHAR except "+">. */
export function isValidTag(tag: string): boolean {
  if (tag.length === 0) return false;
  for (let i = 0; i < tag.length; i++) {
    const c = tag.charCodeAt(i);
    if (c <= 0x20 || c >= 0x7f) return false;
    // atom-specials: ( ) { % * " \ ; and "+" (resp-specials "]" is allowed in ASTRING-CHAR).
    if (c === 0x28 || c === 0x29 || c === 0x7b || c === 0x25 || c === 0x2a || c === 0x22 || c === 0x5c) return false;
    if (c === 0x2b) return false;
  }
  return true;
}

const latin1 = new TextDecoder("latin1");

function tagOf(line: Uint8Array): string | null {
  const sp = line.subarray(0, 1024).indexOf(SP);
  if (sp < 0 && line.length > 1024) return null;
  const tag = latin1.decode(sp < 0 ? line : line.subarray(0, sp));
  return isValidTag(tag) ? tag : null;
}

function commandOf(line: Uint8Array): string {
  const words = latin1.decode(line.subarray(0, 64)).split(" ");
  const name = (words[1] ?? "").toUpperCase();
  return name === "UID" ? `UID ${(words[2] ?? "").toUpperCase()}` : name;
}
