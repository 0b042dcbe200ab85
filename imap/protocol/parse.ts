/**
 * @module
 * IMAP commands → typed values (RFC 9051 §6 and §9, RFC 3501, and the extensions listed in mod.ts). Pure: no
 * I/O, no store. `parseCommand` takes a `RawCommand` from the receiver (or, in tests, the command's text) and
 * returns a `Command`, a discriminated union on `name`, or throws `ImapBad` (syntax; carries the tag, or null
 * when the tag itself is invalid: answer `* BAD`) or `ImapNo` (`[BADCHARSET]`). The session's single catch sends
 * `err.line(tag)`.
 *
 * `CommandReader` is the lexer over a raw command: atoms, quoted strings, literals, numbers, lists. The
 * SEARCH and FETCH grammars (search.ts, fetch.ts) use it.
 *
 * Mailbox names (RFC 9051 §5.1): astrings decoded from modified UTF-7 (RFC 3501 §5.1.3), or taken as UTF-8
 * once UTF8=ACCEPT/IMAP4rev2 is enabled (`utf8` option, RFC 6855 §3); control characters are refused;
 * `INBOX` (any case, also as the first level of a hierarchy) becomes `INBOX`.
 *
 * Deliberately lenient where real clients deviate (keywords in any case, several spaces between arguments,
 * trailing spaces, 8-bit UTF-8 in quoted strings before UTF8=ACCEPT) and strict where ambiguity would be
 * dangerous (tags, literal markers, NUL, invalid UTF-8 or modified UTF-7).
 */
import { CommandReceiver, isValidTag, type LiteralData, type RawCommand } from "./receiver.ts";
import { ImapBad, ImapNo, type ResponseCode } from "./response.ts";
import { SequenceSet } from "./sequence_set.ts";
import { decodeModifiedUtf7 } from "./utf7.ts";
import { parseSearchProgram, type SearchKey, type SearchReturnOption, searchUsesModseq } from "./search.ts";
import { type FetchAttribute, type FetchPlan, fetchPlan, fetchUsesModseq, parseFetchAttributes } from "./fetch.ts";

/** How to read a command: the session's current settings. */
export interface ParseOptions {
  /** UTF8=ACCEPT or IMAP4rev2 is enabled: mailbox names are UTF-8, not modified UTF-7 (RFC 6855 §3). */
  utf8?: boolean;
  /** The hierarchy delimiter, for normalising `inbox/…` to `INBOX/…`. Default "/". */
  delimiter?: string;
}

// ---- Command types ---------------------------------------------------------------------------------------

/** Commands without arguments (RFC 9051 §6.1, §6.2.1, §6.3.10, §6.3.13, §6.4.1, §6.4.2; RFC 3501 §6.4.1 CHECK). */
export type SimpleCommandName =
  | "CAPABILITY"
  | "NOOP"
  | "LOGOUT"
  | "STARTTLS"
  | "NAMESPACE"
  | "IDLE"
  | "CHECK"
  | "CLOSE"
  | "UNSELECT";

/** A command without arguments. */
export interface SimpleCommand {
  name: SimpleCommandName;
  tag: string;
}

/** RFC 9051 §6.2.3. */
export interface LoginCommand {
  name: "LOGIN";
  tag: string;
  username: string;
  password: string;
}

/** RFC 9051 §6.2.2, with SASL-IR (RFC 4959): `initialResponse` is base64, "" for `=`, or null when absent. */
export interface AuthenticateCommand {
  name: "AUTHENTICATE";
  tag: string;
  /** Upper case, e.g. "PLAIN". */
  mechanism: string;
  initialResponse: string | null;
}

/** RFC 5161 §3.1: capability names in upper case. */
export interface EnableCommand {
  name: "ENABLE";
  tag: string;
  capabilities: string[];
}

/** RFC 2971 §3.1: field/value pairs, or null for `ID NIL`. */
export interface IdCommand {
  name: "ID";
  tag: string;
  params: Array<[string, string | null]> | null;
}

/** RFC 7162 §3.2.5: the QRESYNC SELECT parameter. */
export interface QresyncParams {
  uidValidity: number;
  modseq: number;
  /** The UIDs the client knows (may be null). */
  knownUids: SequenceSet | null;
  /** Message sequence numbers and the UIDs they correspond to, to find expunged messages cheaply. */
  seqMatch: { seqs: SequenceSet; uids: SequenceSet } | null;
}

/** RFC 9051 §6.3.2 / §6.3.3, with CONDSTORE (RFC 7162 §3.1.8) and QRESYNC (RFC 7162 §3.2.5). */
export interface SelectCommand {
  name: "SELECT" | "EXAMINE";
  tag: string;
  mailbox: string;
  condstore: boolean;
  qresync: QresyncParams | null;
}

/** RFC 9051 §6.3.4, with `USE (\Sent …)` (RFC 6154 §3 CREATE-SPECIAL-USE). */
export interface CreateCommand {
  name: "CREATE";
  tag: string;
  mailbox: string;
  /** Special-use attributes, canonical case for the known ones (`\Sent`); unknown ones as sent (→ USEATTR). */
  specialUse: string[];
}

/** Commands taking one mailbox: RFC 9051 §6.3.5, §6.3.7, §6.3.8; RFC 9208 §4.2.2 GETQUOTAROOT. */
export interface MailboxCommand {
  name: "DELETE" | "SUBSCRIBE" | "UNSUBSCRIBE" | "GETQUOTAROOT";
  tag: string;
  mailbox: string;
}

/** RFC 9051 §6.3.6. */
export interface RenameCommand {
  name: "RENAME";
  tag: string;
  from: string;
  to: string;
}

/** RFC 5258 §3.1 selection options (and RFC 6154 §3 SPECIAL-USE). */
export interface ListSelection {
  subscribed: boolean;
  remote: boolean;
  recursiveMatch: boolean;
  specialUse: boolean;
}

/** RFC 5258 §3.2 return options, RFC 5819 STATUS, RFC 6154 §3 SPECIAL-USE. */
export interface ListReturn {
  /** Also implied by the SUBSCRIBED selection option (RFC 5258 §3.1). */
  subscribed: boolean;
  children: boolean;
  /** Also implied by the SPECIAL-USE selection option (RFC 6154 §3). */
  specialUse: boolean;
  /** RFC 5819: STATUS items to return for each listed mailbox, or null. */
  status: StatusItem[] | null;
}

/** RFC 9051 §6.3.9 LIST, basic or extended (RFC 5258). Patterns contain `*` and `%` wildcards. */
export interface ListCommand {
  name: "LIST";
  tag: string;
  /** The reference name (decoded, not INBOX-normalised). */
  reference: string;
  /** One or more patterns (decoded; match `INBOX` case-insensitively). */
  patterns: string[];
  selection: ListSelection;
  returns: ListReturn;
  /** Selection options, several patterns or RETURN were used: answer with LIST-EXTENDED semantics. */
  extended: boolean;
}

/** RFC 3501 §6.3.9 (IMAP4rev1 only). */
export interface LsubCommand {
  name: "LSUB";
  tag: string;
  reference: string;
  pattern: string;
}

/** RFC 9051 §6.3.11 status items, with SIZE (RFC 8438), HIGHESTMODSEQ (RFC 7162), APPENDLIMIT (RFC 7889), DELETED-STORAGE (RFC 9208). */
export type StatusItem =
  | "MESSAGES"
  | "UIDNEXT"
  | "UIDVALIDITY"
  | "UNSEEN"
  | "DELETED"
  | "SIZE"
  | "RECENT"
  | "HIGHESTMODSEQ"
  | "APPENDLIMIT"
  | "DELETED-STORAGE";

const STATUS_ITEMS = new Set<string>([
  "MESSAGES",
  "UIDNEXT",
  "UIDVALIDITY",
  "UNSEEN",
  "DELETED",
  "SIZE",
  "RECENT",
  "HIGHESTMODSEQ",
  "APPENDLIMIT",
  "DELETED-STORAGE",
]);

/** RFC 9051 §6.3.11: items in the order asked, without duplicates. */
export interface StatusCommand {
  name: "STATUS";
  tag: string;
  mailbox: string;
  items: StatusItem[];
}

/** RFC 9051 §6.3.12, with literal8 (RFC 3516 §4.4) and `UTF8 (…)` (RFC 6855 §4). One message (no MULTIAPPEND). */
export interface AppendCommand {
  name: "APPEND";
  tag: string;
  mailbox: string;
  /** Flags to set (canonical system flags; `\Recent` dropped). */
  flags: string[];
  /** The internal date to store, or null for now. */
  internalDate: Date | null;
  /** The message octets. */
  message: Uint8Array;
  /** Sent as literal8 `~{n}`: the message may contain NUL and 8-bit/binary parts (RFC 3516 §4.4). */
  binary: boolean;
  /** Sent as `UTF8 (~{n})`: an internationalised message (RFC 6855 §4). */
  utf8: boolean;
}

/** RFC 9051 §6.4.3 EXPUNGE, and UID EXPUNGE (RFC 4315 §2.1, RFC 9051 §6.4.9) with its set. */
export interface ExpungeCommand {
  name: "EXPUNGE";
  tag: string;
  /** UID EXPUNGE: only these UIDs; null for plain EXPUNGE. */
  uids: SequenceSet | null;
}

/** RFC 9051 §6.4.4 SEARCH / UID SEARCH, with ESEARCH RETURN (RFC 4731) and SAVE (RFC 5182). */
export interface SearchCommand {
  name: "SEARCH";
  tag: string;
  uid: boolean;
  returns: SearchReturnOption[] | null;
  charset: string | null;
  criteria: SearchKey;
}

/** RFC 9051 §6.4.5 FETCH / UID FETCH with CHANGEDSINCE/VANISHED (RFC 7162 §3.1.4.1, §3.2.6). */
export interface FetchCommand {
  name: "FETCH";
  tag: string;
  uid: boolean;
  set: SequenceSet;
  attributes: FetchAttribute[];
  /** What to load and whether \Seen gets set (UID and CHANGEDSINCE implications included). */
  plan: FetchPlan;
  changedSince: number | null;
  /** UID FETCH … (CHANGEDSINCE n VANISHED): also report expunged UIDs with VANISHED (EARLIER). */
  vanished: boolean;
}

/** RFC 9051 §6.4.6 STORE / UID STORE with UNCHANGEDSINCE (RFC 7162 §3.1.3). */
export interface StoreCommand {
  name: "STORE";
  tag: string;
  uid: boolean;
  set: SequenceSet;
  unchangedSince: number | null;
  /** FLAGS (replace), +FLAGS (add), -FLAGS (remove). */
  action: "set" | "add" | "remove";
  /** .SILENT: no untagged FETCH for the changes (except MODSEQ ones, RFC 7162 §3.1.3). */
  silent: boolean;
  flags: string[];
}

/** RFC 9051 §6.4.7 COPY, §6.4.8 MOVE (RFC 6851), and their UID forms. */
export interface CopyCommand {
  name: "COPY" | "MOVE";
  tag: string;
  uid: boolean;
  set: SequenceSet;
  mailbox: string;
}

/** RFC 9208 §4.2.1 GETQUOTA. */
export interface GetQuotaCommand {
  name: "GETQUOTA";
  tag: string;
  root: string;
}

/** RFC 9208 §4.2.3 SETQUOTA (parsed; users cannot set quotas). */
export interface SetQuotaCommand {
  name: "SETQUOTA";
  tag: string;
  root: string;
  /** Resource names (upper case) and limits. */
  limits: Array<[string, number]>;
}

/** Every command the server understands. */
export type Command =
  | SimpleCommand
  | LoginCommand
  | AuthenticateCommand
  | EnableCommand
  | IdCommand
  | SelectCommand
  | CreateCommand
  | MailboxCommand
  | RenameCommand
  | ListCommand
  | LsubCommand
  | StatusCommand
  | AppendCommand
  | ExpungeCommand
  | SearchCommand
  | FetchCommand
  | StoreCommand
  | CopyCommand
  | GetQuotaCommand
  | SetQuotaCommand;

// ---- The lexer -----------------------------------------------------------------------------------------

const SP = 0x20;
const DQUOTE = 0x22;
const encoder = new TextEncoder();
const utf8Decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const latin1 = new TextDecoder("latin1");

// RFC 9051 §9: ATOM-CHAR = any CHAR except atom-specials ( "(" ")" "{" SP CTL "%" "*" DQUOTE "\" "]" ).
const ATOM = new Uint8Array(256);
for (let c = 0x21; c < 0x7f; c++) ATOM[c] = 1;
for (const c of '(){%*"\\]') ATOM[c.charCodeAt(0)] = 0;
/** ASTRING-CHAR = ATOM-CHAR / resp-specials ("]"); leniently also 8-bit (validated as UTF-8 later). */
const ASTRING = ATOM.slice();
ASTRING[0x5d] = 1;
for (let c = 0x80; c < 0x100; c++) ASTRING[c] = 1;
/** list-char = ATOM-CHAR / list-wildcards / resp-specials. */
const LIST_CHAR = ASTRING.slice();
LIST_CHAR[0x25] = 1;
LIST_CHAR[0x2a] = 1;

/** Characters of FETCH names (`BODY.PEEK`, `RFC822.SIZE`, `HEADER.FIELDS.NOT`). */
const FETCH_NAME = charTable("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.-");
/** Characters of sequence sets. */
const SEQ_CHAR = charTable("0123456789:,*$");

function charTable(chars: string): Uint8Array {
  const t = new Uint8Array(256);
  for (const c of chars) t[c.charCodeAt(0)] = 1;
  return t;
}

/** RFC 9051 §9: number64 = 63-bit unsigned. */
const MAX_NUMBER64 = 9223372036854775807n;

const MONTHS = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"];

/** A lexer position, for one token of lookahead (`mark`/`reset`). */
export type ReaderMark = readonly [segment: number, offset: number];

/** Reads the tokens of one raw command; every error is an `ImapBad` carrying the command's tag. */
export class CommandReader {
  /** The command's tag, or null when it is not a valid tag. */
  readonly tag: string | null;
  /** UTF8=ACCEPT/IMAP4rev2 is enabled. */
  readonly utf8: boolean;
  readonly #delimiter: string;
  readonly #lines: readonly Uint8Array[];
  readonly #literals: readonly LiteralData[];
  #seg = 0;
  #pos = 0;

  constructor(raw: RawCommand, options: ParseOptions = {}) {
    this.#lines = raw.lines.length ? raw.lines : [new Uint8Array(0)];
    this.#literals = raw.literals;
    this.utf8 = options.utf8 ?? false;
    this.#delimiter = options.delimiter ?? "/";
    const first = this.#lines[0]!;
    const sp = first.indexOf(SP);
    const tag = latin1.decode(sp < 0 ? first : first.subarray(0, sp));
    this.tag = raw.tag ?? (isValidTag(tag) ? tag : null);
    this.#pos = sp < 0 ? first.length : sp + 1;
  }

  /** Throws `ImapBad` with the tag. */
  bad(message: string): never {
    throw new ImapBad(message, { tag: this.tag });
  }

  /** Throws `ImapNo` with the tag and a response code. */
  no(message: string, code: ResponseCode): never {
    throw new ImapNo(message, { tag: this.tag, code });
  }

  get #line(): Uint8Array {
    return this.#lines[this.#seg]!;
  }

  /** The next octet, or -1 at the end of a line. */
  peek(): number {
    return this.#line[this.#pos] ?? -1;
  }

  /** The octet `k` positions ahead, or -1. */
  peekAt(k: number): number {
    return this.#line[this.#pos + k] ?? -1;
  }

  /** True at the end of the command. */
  get atEnd(): boolean {
    return this.#seg === this.#lines.length - 1 && this.#pos >= this.#line.length;
  }

  /** The current position, to come back to with `reset`. */
  mark(): ReaderMark {
    return [this.#seg, this.#pos];
  }

  /** Returns to a position from `mark`. */
  reset(mark: ReaderMark): void {
    [this.#seg, this.#pos] = mark;
  }

  /** Requires the end of the command (trailing spaces are tolerated). */
  end(): void {
    while (this.peek() === SP) this.#pos++;
    if (!this.atEnd) this.bad(`Unexpected characters at the end of the command: "${this.#rest()}"`);
  }

  #rest(): string {
    const s = latin1.decode(this.#line.subarray(this.#pos, this.#pos + 30));
    return s.replace(/[^\x20-\x7e]/g, "?");
  }

  /** Requires one space (several are tolerated). */
  sp(): void {
    if (this.peek() !== SP) this.bad(this.atEnd ? "Missing arguments" : `Expected a space before "${this.#rest()}"`);
    while (this.peek() === SP) this.#pos++;
  }

  /** Skips spaces; false if there were none. */
  trySp(): boolean {
    if (this.peek() !== SP) return false;
    while (this.peek() === SP) this.#pos++;
    return true;
  }

  /** Consumes `ch` if it comes next. */
  tryChar(ch: string): boolean {
    if (this.peek() !== ch.charCodeAt(0)) return false;
    this.#pos++;
    return true;
  }

  /** Requires `ch`. */
  expect(ch: string): void {
    if (!this.tryChar(ch)) this.bad(this.atEnd ? `Missing "${ch}"` : `Expected "${ch}" before "${this.#rest()}"`);
  }

  #run(table: Uint8Array): Uint8Array {
    const line = this.#line;
    const start = this.#pos;
    while (this.#pos < line.length && table[line[this.#pos]!]) this.#pos++;
    return line.subarray(start, this.#pos);
  }

  /** An atom (RFC 9051 §9). */
  atom(what = "atom"): string {
    const bytes = this.#run(ATOM);
    if (!bytes.length) this.bad(this.atEnd ? `Missing ${what}` : `Expected ${what} before "${this.#rest()}"`);
    return latin1.decode(bytes);
  }

  /** An atom in upper case (command names, keywords, options). */
  keyword(what = "keyword"): string {
    return this.atom(what).toUpperCase();
  }

  /** Consumes the keyword `word` (any case) if it comes next as a whole atom. */
  tryKeyword(word: string): boolean {
    const line = this.#line;
    const end = this.#pos + word.length;
    if (end > line.length || ATOM[line[end] ?? 0]) return false;
    if (latin1.decode(line.subarray(this.#pos, end)).toUpperCase() !== word) return false;
    this.#pos = end;
    return true;
  }

  /** A FETCH name such as `BODY.PEEK`, `RFC822.SIZE`, `HEADER.FIELDS`, in upper case (stops at `[`, `<`). */
  fetchName(): string {
    const line = this.#line;
    const start = this.#pos;
    while (this.#pos < line.length && FETCH_NAME[line[this.#pos]!]) this.#pos++;
    if (this.#pos === start) {
      this.bad(this.atEnd ? "Missing fetch attribute" : `Invalid fetch attribute "${this.#rest()}"`);
    }
    return latin1.decode(line.subarray(start, this.#pos)).toUpperCase();
  }

  /** A quoted string or literal (RFC 9051 §9 `string`) as octets. */
  string(what = "string"): Uint8Array {
    const c = this.peek();
    if (c === DQUOTE) return this.#quoted(what);
    if (c === 0x7b || c === 0x7e) return this.literal(what).bytes;
    return this.bad(this.atEnd ? `Missing ${what}` : `Expected a quoted string or literal for ${what}`);
  }

  /** An astring (atom, quoted string or literal) as octets. */
  astring(what = "string"): Uint8Array {
    const c = this.peek();
    if (c === DQUOTE || c === 0x7b || (c === 0x7e && this.peekAt(1) === 0x7b)) return this.string(what);
    const bytes = this.#run(ASTRING);
    if (!bytes.length) this.bad(this.atEnd ? `Missing ${what}` : `Invalid ${what} before "${this.#rest()}"`);
    return bytes;
  }

  /** An astring as text: valid UTF-8 without NUL. */
  astringText(what = "string"): string {
    return this.text(this.astring(what), what);
  }

  /** A string as text: valid UTF-8 without NUL. */
  stringText(what = "string"): string {
    return this.text(this.string(what), what);
  }

  /** NIL or a string as text. */
  nstringText(what = "string"): string | null {
    if (this.tryKeyword("NIL")) return null;
    return this.stringText(what);
  }

  /** Decodes octets as UTF-8, refusing invalid UTF-8 and NUL. */
  text(bytes: Uint8Array, what = "string"): string {
    if (bytes.indexOf(0) >= 0) this.bad(`Invalid ${what}: contains NUL`);
    try {
      return utf8Decoder.decode(bytes);
    } catch {
      return this.bad(`Invalid ${what}: not valid UTF-8`);
    }
  }

  // RFC 9051 §4.3: quoted = DQUOTE *QUOTED-CHAR DQUOTE; only `"` and `\` may be escaped.
  #quoted(what: string): Uint8Array {
    const line = this.#line;
    let i = this.#pos + 1;
    const out: number[] = [];
    for (;;) {
      const c = line[i];
      if (c === undefined) this.bad(`Unterminated quoted ${what}`);
      if (c === DQUOTE) break;
      if (c === 0) this.bad(`Invalid ${what}: contains NUL`);
      if (c === 0x5c) {
        const n = line[i + 1];
        if (n !== DQUOTE && n !== 0x5c) this.bad(`Invalid escape in quoted ${what}`);
        out.push(n);
        i += 2;
        continue;
      }
      out.push(c!);
      i++;
    }
    this.#pos = i + 1;
    return Uint8Array.from(out);
  }

  /**
   * A literal `{n}`, `{n+}` or literal8 `~{n}` (RFC 9051 §4.3, RFC 7888, RFC 3516 §4.4): the marker must end the
   * line, and the receiver put the n octets after it. A literal8 is accepted only where `binary` allows.
   */
  literal(what = "literal", options: { binary?: boolean } = {}): LiteralData {
    const line = this.#line;
    const text = latin1.decode(line.subarray(this.#pos));
    const m = /^(~?)\{(\d+)(\+?)\}$/.exec(text);
    const lit = this.#literals[this.#seg];
    if (!m || !lit || this.#seg + 1 >= this.#lines.length) {
      return this.bad(`Invalid literal for ${what}`);
    }
    if (m[1] && !options.binary) this.bad(`A literal8 (~{n}) is not allowed for ${what}`);
    if (Number(m[2]) !== lit.bytes.length) this.bad(`Literal size mismatch for ${what}`);
    // RFC 9051 §9: a literal is CHAR8 (%x01-ff); only a literal8 may carry NUL (RFC 3516 §4.4).
    if (!m[1] && lit.bytes.indexOf(0) >= 0) this.bad(`Invalid ${what}: NUL in a literal (send it as ~{n})`);
    this.#seg++;
    this.#pos = 0;
    return lit;
  }

  /** A number (RFC 9051 §9: 32-bit unsigned). */
  number(what = "number"): number {
    return this.#digits(what, 4294967295n);
  }

  /** A non-zero number (RFC 9051 §9 `nz-number`). */
  nzNumber(what = "number"): number {
    const n = this.number(what);
    if (n === 0) this.bad(`Invalid ${what}: must not be zero`);
    return n;
  }

  /**
   * A number64 / mod-sequence value (RFC 9051 §9, RFC 7162 §7): up to 2^63 - 1. Values above 2^53 lose precision
   * as JS numbers, which is harmless here: the store's MODSEQs and sizes stay far below, so comparisons hold.
   */
  number64(what = "number"): number {
    return this.#digits(what, MAX_NUMBER64);
  }

  #digits(what: string, max: bigint): number {
    const line = this.#line;
    const start = this.#pos;
    while (this.#pos < line.length && line[this.#pos]! >= 0x30 && line[this.#pos]! <= 0x39) this.#pos++;
    if (this.#pos === start) this.bad(this.atEnd ? `Missing ${what}` : `Invalid ${what} "${this.#rest()}"`);
    const text = latin1.decode(line.subarray(start, this.#pos));
    if (this.#pos - start > 19 || BigInt(text) > max) this.bad(`Invalid ${what}: too large`);
    return Number(text);
  }

  /** A sequence set (RFC 9051 §9) or `$` (RFC 5182). */
  sequenceSet(): SequenceSet {
    const line = this.#line;
    const start = this.#pos;
    while (this.#pos < line.length && SEQ_CHAR[line[this.#pos]!]) this.#pos++;
    if (this.#pos === start) this.bad(this.atEnd ? "Missing sequence set" : `Invalid sequence set "${this.#rest()}"`);
    try {
      return SequenceSet.parse(latin1.decode(line.subarray(start, this.#pos)));
    } catch (e) {
      return this.bad((e as Error).message);
    }
  }

  /**
   * `"(" item *(SP item) ")"`. `allowEmpty` (default true) accepts `()`. Spaces inside the parentheses are
   * tolerated around items.
   */
  parenList<T>(item: () => T, options: { allowEmpty?: boolean; what?: string } = {}): T[] {
    const what = options.what ?? "list";
    this.expect("(");
    const out: T[] = [];
    this.trySp();
    if (!this.tryChar(")")) {
      for (;;) {
        out.push(item());
        if (this.tryChar(")")) break;
        if (this.peek() !== SP) this.bad(this.atEnd ? `Unterminated ${what}` : `Expected a space or ")" in ${what}`);
        this.trySp();
        if (this.tryChar(")")) break;
      }
    }
    if (!out.length && options.allowEmpty === false) this.bad(`Empty ${what}`);
    return out;
  }

  /** A mailbox name (RFC 9051 §9 `mailbox`): decoded, checked and INBOX-normalised. */
  mailbox(): string {
    return normalizeInbox(this.#mailboxText(this.astring("mailbox name"), "mailbox name"), this.#delimiter);
  }

  /** A LIST pattern (RFC 9051 §9 `list-mailbox`): atom-like with `%`/`*`, or a string; decoded, not normalised. */
  listMailbox(): string {
    const c = this.peek();
    if (c === DQUOTE || c === 0x7b) return this.#mailboxText(this.string("mailbox pattern"), "mailbox pattern");
    const bytes = this.#run(LIST_CHAR);
    if (!bytes.length) this.bad(this.atEnd ? "Missing mailbox pattern" : `Invalid mailbox pattern "${this.#rest()}"`);
    return this.#mailboxText(bytes, "mailbox pattern");
  }

  /** A mailbox name or pattern: UTF-8 (utf8) or modified UTF-7, with no control characters. */
  #mailboxText(bytes: Uint8Array, what: string): string {
    let name: string;
    if (this.utf8) {
      name = this.text(bytes, what);
    } else {
      if (bytes.some((b) => b >= 0x80)) {
        this.bad(`Invalid ${what}: 8-bit characters need ENABLE UTF8=ACCEPT (or modified UTF-7)`);
      }
      try {
        name = decodeModifiedUtf7(latin1.decode(bytes));
      } catch (e) {
        return this.bad((e as Error).message);
      }
    }
    if (/[^\x20-\x7e\u{a0}-\u{10ffff}]/u.test(name)) this.bad(`Invalid ${what}: contains a control character`);
    return name;
  }

  /** A flag for STORE/APPEND (RFC 9051 §9 `flag`): system flags in canonical case, keywords as sent. */
  flag(): string {
    if (this.tryChar("\\")) {
      const name = this.atom("flag name");
      const canonical = SYSTEM_FLAGS.get(name.toLowerCase());
      if (!canonical) this.bad(`Unknown system flag "\\${name}"`);
      return canonical;
    }
    return this.flagKeyword();
  }

  /** A keyword (RFC 9051 §9 `flag-keyword` = atom). */
  flagKeyword(): string {
    return this.atom("flag keyword");
  }

  /** A search date (RFC 9051 §9 `date`): `1-Feb-1994`, optionally quoted; returned as `1994-02-01`. */
  searchDate(): string {
    const quoted = this.tryChar('"');
    const line = this.#line;
    const start = this.#pos;
    while (this.#pos < line.length && /[0-9A-Za-z-]/.test(String.fromCharCode(line[this.#pos]!))) this.#pos++;
    const text = latin1.decode(line.subarray(start, this.#pos));
    if (quoted) this.expect('"');
    const m = /^(\d{1,2})-([A-Za-z]{3})-(\d{4})$/.exec(text);
    const date = m ? validDate(Number(m[3]), MONTHS.indexOf(m[2]!.toUpperCase()) + 1, Number(m[1])) : null;
    if (!date) this.bad(`Invalid date "${text}": expected e.g. 1-Feb-1994`);
    return date;
  }

  /** An APPEND date-time (RFC 9051 §9 `date-time`): `"17-Jul-1996 02:44:25 -0700"`. */
  dateTime(): Date {
    const text = latin1.decode(this.#quoted("date-time"));
    const m = /^( ?\d|\d\d)-([A-Za-z]{3})-(\d{4}) (\d\d):(\d\d):(\d\d) ([+-])(\d\d)(\d\d)$/.exec(text);
    if (!m) this.bad(`Invalid date-time "${text}": expected e.g. "17-Jul-1996 02:44:25 -0700"`);
    const [, d, mon, y, hh, mm, ss, sign, zh, zm] = m;
    const month = MONTHS.indexOf(mon!.toUpperCase()) + 1;
    const day = Number(d!.trim());
    if (!validDate(Number(y), month, day) || Number(hh) > 23 || Number(mm) > 59 || Number(ss) > 60 || Number(zm) > 59) {
      this.bad(`Invalid date-time "${text}"`);
    }
    const offset = (sign === "-" ? -1 : 1) * (Number(zh) * 60 + Number(zm));
    const utc = Date.UTC(Number(y), month - 1, day, Number(hh), Number(mm), Math.min(Number(ss), 59));
    return new Date(utc - offset * 60_000);
  }
}

const SYSTEM_FLAGS = new Map(
  ["\\Answered", "\\Flagged", "\\Deleted", "\\Seen", "\\Draft", "\\Recent"].map((f) => [f.slice(1).toLowerCase(), f]),
);

// RFC 6154 §2 (and RFC 8457 \Important): the special-use attributes, in canonical case.
const SPECIAL_USE = new Map(
  ["\\All", "\\Archive", "\\Drafts", "\\Flagged", "\\Junk", "\\Sent", "\\Trash", "\\Important"].map((
    f,
  ) => [f.toLowerCase(), f]),
);

function validDate(y: number, m: number, d: number): string | null {
  if (m < 1 || d < 1 || y < 1) return null;
  const t = new Date(Date.UTC(y, m - 1, d));
  if (t.getUTCMonth() !== m - 1 || t.getUTCDate() !== d) return null;
  return `${String(y).padStart(4, "0")}-${String(m).padStart(2, "0")}-${String(d).padStart(2, "0")}`;
}

/** RFC 9051 §5.1: INBOX is case-insensitive, also as the top level of a hierarchy (`inbox/x` → `INBOX/x`). */
export function normalizeInbox(name: string, delimiter = "/"): string {
  if (name.length < 5 || name.slice(0, 5).toUpperCase() !== "INBOX") return name;
  if (name.length === 5) return "INBOX";
  return name.startsWith(delimiter, 5) ? `INBOX${name.slice(5)}` : name;
}

// ---- Commands ------------------------------------------------------------------------------------------

type Parser = (r: CommandReader, tag: string, uid: boolean) => Command;

const SIMPLE: readonly SimpleCommandName[] = [
  "CAPABILITY",
  "NOOP",
  "LOGOUT",
  "STARTTLS",
  "NAMESPACE",
  "IDLE",
  "CHECK",
  "CLOSE",
  "UNSELECT",
];

/** The commands that may follow `UID` (RFC 9051 §6.4.9, RFC 4315 §2.1 UID EXPUNGE, RFC 6851 UID MOVE). */
const UID_COMMANDS = new Set(["COPY", "MOVE", "FETCH", "SEARCH", "STORE", "EXPUNGE"]);

/** One parser per command name (mox-style dispatch table). */
const PARSERS: Record<string, Parser> = {
  ...Object.fromEntries(SIMPLE.map((name) => [name, (_r: CommandReader, tag: string) => ({ name, tag })])),
  LOGIN: (r, tag) => {
    r.sp();
    const username = r.astringText("user name");
    r.sp();
    return { name: "LOGIN", tag, username, password: r.astringText("password") };
  },
  AUTHENTICATE: (r, tag) => {
    r.sp();
    const mechanism = r.keyword("SASL mechanism");
    let initialResponse: string | null = null;
    if (r.trySp() && !r.atEnd) {
      // RFC 4959 §3: initial-response = base64 / "=".
      const ir = r.atom("initial response");
      if (ir !== "=" && !/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(ir)) {
        r.bad("Invalid initial response: not base64");
      }
      initialResponse = ir === "=" ? "" : ir;
    }
    return { name: "AUTHENTICATE", tag, mechanism, initialResponse };
  },
  ENABLE: (r, tag) => {
    const capabilities: string[] = [];
    r.sp();
    do {
      if (r.atEnd) break;
      capabilities.push(r.keyword("capability"));
    } while (r.trySp());
    if (!capabilities.length) r.bad("ENABLE needs at least one capability");
    return { name: "ENABLE", tag, capabilities };
  },
  ID: (r, tag) => {
    r.sp();
    if (r.tryKeyword("NIL")) return { name: "ID", tag, params: null };
    const flat = r.parenList(() => r.nstringText("ID value"), { what: "ID parameter list" });
    // RFC 2971 §3.3: pairs; at most 30 of them.
    if (flat.length % 2) r.bad("ID parameters must be field/value pairs");
    if (flat.length > 60) r.bad("Too many ID parameters");
    const params: Array<[string, string | null]> = [];
    for (let i = 0; i < flat.length; i += 2) {
      const field = flat[i];
      if (field === null || field === undefined) return r.bad("ID field name must not be NIL");
      params.push([field, flat[i + 1] ?? null]);
    }
    return { name: "ID", tag, params };
  },
  SELECT: (r, tag) => parseSelect(r, tag, "SELECT"),
  EXAMINE: (r, tag) => parseSelect(r, tag, "EXAMINE"),
  CREATE: (r, tag) => {
    r.sp();
    const mailbox = r.mailbox();
    const specialUse: string[] = [];
    if (r.trySp() && !r.atEnd) {
      // RFC 6154 §3: create-param = "USE" SP "(" [use-attr *(SP use-attr)] ")".
      r.parenList(() => {
        const p = r.keyword("CREATE parameter");
        if (p !== "USE") r.bad(`Unknown CREATE parameter "${p}"`);
        r.sp();
        for (
          const attr of r.parenList(() => {
            r.expect("\\");
            return `\\${r.atom("special-use attribute")}`;
          })
        ) specialUse.push(SPECIAL_USE.get(attr.toLowerCase()) ?? attr);
        return p;
      }, { allowEmpty: false, what: "CREATE parameters" });
    }
    return { name: "CREATE", tag, mailbox, specialUse };
  },
  DELETE: (r, tag) => mailboxCommand(r, tag, "DELETE"),
  SUBSCRIBE: (r, tag) => mailboxCommand(r, tag, "SUBSCRIBE"),
  UNSUBSCRIBE: (r, tag) => mailboxCommand(r, tag, "UNSUBSCRIBE"),
  GETQUOTAROOT: (r, tag) => mailboxCommand(r, tag, "GETQUOTAROOT"),
  RENAME: (r, tag) => {
    r.sp();
    const from = r.mailbox();
    r.sp();
    return { name: "RENAME", tag, from, to: r.mailbox() };
  },
  LIST: parseList,
  LSUB: (r, tag) => {
    r.sp();
    const reference = r.listMailbox();
    r.sp();
    return { name: "LSUB", tag, reference, pattern: r.listMailbox() };
  },
  STATUS: (r, tag) => {
    r.sp();
    const mailbox = r.mailbox();
    r.sp();
    return { name: "STATUS", tag, mailbox, items: statusItems(r) };
  },
  APPEND: parseAppend,
  EXPUNGE: (r, tag, uid) => {
    if (!uid) return { name: "EXPUNGE", tag, uids: null };
    r.sp();
    return { name: "EXPUNGE", tag, uids: r.sequenceSet() };
  },
  SEARCH: (r, tag, uid) => {
    r.sp();
    return { name: "SEARCH", tag, uid, ...parseSearchProgram(r) };
  },
  FETCH: parseFetch,
  STORE: parseStore,
  COPY: (r, tag, uid) => copyCommand(r, tag, uid, "COPY"),
  MOVE: (r, tag, uid) => copyCommand(r, tag, uid, "MOVE"),
  GETQUOTA: (r, tag) => {
    r.sp();
    return { name: "GETQUOTA", tag, root: r.astringText("quota root") };
  },
  SETQUOTA: (r, tag) => {
    r.sp();
    const root = r.astringText("quota root");
    r.sp();
    const flat = r.parenList(
      () => (r.peek() >= 0x30 && r.peek() <= 0x39 ? r.number64("limit") : r.keyword("resource")),
    );
    if (flat.length % 2) r.bad("SETQUOTA needs resource/limit pairs");
    const limits: Array<[string, number]> = [];
    for (let i = 0; i < flat.length; i += 2) {
      const [name, value] = [flat[i], flat[i + 1]];
      if (typeof name !== "string" || typeof value !== "number") return r.bad("SETQUOTA needs resource/limit pairs");
      limits.push([name, value]);
    }
    return { name: "SETQUOTA", tag, root, limits };
  },
};

function mailboxCommand(r: CommandReader, tag: string, name: MailboxCommand["name"]): MailboxCommand {
  r.sp();
  return { name, tag, mailbox: r.mailbox() };
}

function copyCommand(r: CommandReader, tag: string, uid: boolean, name: "COPY" | "MOVE"): CopyCommand {
  r.sp();
  const set = r.sequenceSet();
  r.sp();
  return { name, tag, uid, set, mailbox: r.mailbox() };
}

// RFC 9051 §9 select-params; RFC 7162 §3.1.8 CONDSTORE, §3.2.5 QRESYNC.
function parseSelect(r: CommandReader, tag: string, name: "SELECT" | "EXAMINE"): SelectCommand {
  r.sp();
  const mailbox = r.mailbox();
  let condstore = false;
  let qresync: QresyncParams | null = null;
  if (r.trySp() && !r.atEnd) {
    r.parenList(() => {
      const p = r.keyword("SELECT parameter");
      if (p === "CONDSTORE") condstore = true;
      else if (p === "QRESYNC") {
        r.sp();
        r.expect("(");
        const uidValidity = r.nzNumber("UIDVALIDITY");
        r.sp();
        const modseq = r.number64("mod-sequence");
        let knownUids: SequenceSet | null = null;
        let seqMatch: QresyncParams["seqMatch"] = null;
        if (r.trySp() && r.peek() !== 0x28 && r.peek() !== 0x29) {
          knownUids = r.sequenceSet();
          r.trySp();
        }
        if (r.tryChar("(")) {
          const seqs = r.sequenceSet();
          r.sp();
          const uids = r.sequenceSet();
          r.expect(")");
          seqMatch = { seqs, uids };
        }
        r.trySp();
        r.expect(")");
        qresync = { uidValidity, modseq, knownUids, seqMatch };
      } else r.bad(`Unknown ${name} parameter "${p}"`);
      return p;
    }, { what: `${name} parameters` });
  }
  return { name, tag, mailbox, condstore, qresync };
}

function statusItems(r: CommandReader): StatusItem[] {
  const items = r.parenList(() => {
    const item = r.keyword("status item");
    if (!STATUS_ITEMS.has(item)) r.bad(`Unknown status item "${item}"`);
    return item as StatusItem;
  }, { allowEmpty: false, what: "status item list" });
  return [...new Set(items)];
}

// RFC 9051 §9 list (RFC 5258 §3, RFC 5819, RFC 6154 §3).
function parseList(r: CommandReader, tag: string): ListCommand {
  r.sp();
  const selection: ListSelection = { subscribed: false, remote: false, recursiveMatch: false, specialUse: false };
  let extended = false;
  if (r.peek() === 0x28) {
    extended = true;
    r.parenList(() => {
      const opt = r.keyword("LIST selection option");
      if (opt === "SUBSCRIBED") selection.subscribed = true;
      else if (opt === "REMOTE") selection.remote = true;
      else if (opt === "RECURSIVEMATCH") selection.recursiveMatch = true;
      else if (opt === "SPECIAL-USE") selection.specialUse = true;
      else r.bad(`Unknown LIST selection option "${opt}"`);
      return opt;
    }, { what: "LIST selection options" });
    // RFC 5258 §3.1: RECURSIVEMATCH needs another selection option (REMOTE does not count).
    if (selection.recursiveMatch && !selection.subscribed && !selection.specialUse) {
      r.bad("RECURSIVEMATCH needs another selection option");
    }
    r.sp();
  }
  const reference = r.listMailbox();
  r.sp();
  let patterns: string[];
  if (r.peek() === 0x28) {
    extended = true;
    patterns = r.parenList(() => r.listMailbox(), { allowEmpty: false, what: "mailbox patterns" });
  } else patterns = [r.listMailbox()];
  const returns: ListReturn = {
    subscribed: selection.subscribed,
    children: false,
    specialUse: selection.specialUse,
    status: null,
  };
  if (r.trySp() && !r.atEnd) {
    if (!r.tryKeyword("RETURN")) r.bad(`Unexpected "${r.atom("argument")}" after the LIST pattern`);
    extended = true;
    r.sp();
    r.parenList(() => {
      const opt = r.keyword("LIST return option");
      if (opt === "SUBSCRIBED") returns.subscribed = true;
      else if (opt === "CHILDREN") returns.children = true;
      else if (opt === "SPECIAL-USE") returns.specialUse = true;
      else if (opt === "STATUS") {
        r.sp();
        returns.status = statusItems(r);
      } else r.bad(`Unknown LIST return option "${opt}"`);
      return opt;
    }, { what: "LIST return options" });
  }
  return { name: "LIST", tag, reference, patterns, selection, returns, extended };
}

// RFC 9051 §9 append; RFC 3516 §4.4 literal8; RFC 6855 §4 `UTF8 (literal8)`.
function parseAppend(r: CommandReader, tag: string): AppendCommand {
  r.sp();
  const mailbox = r.mailbox();
  r.sp();
  let flags: string[] = [];
  if (r.peek() === 0x28) {
    flags = flagList(r);
    r.sp();
  }
  let internalDate: Date | null = null;
  if (r.peek() === DQUOTE) {
    internalDate = r.dateTime();
    r.sp();
  }
  let utf8 = false;
  let lit: LiteralData;
  if (r.tryKeyword("UTF8")) {
    utf8 = true;
    r.sp();
    r.expect("(");
    lit = r.literal("message", { binary: true });
    r.expect(")");
  } else {
    if (r.peek() !== 0x7b && r.peek() !== 0x7e) r.bad("APPEND needs the message as a literal");
    lit = r.literal("message", { binary: true });
  }
  if (r.trySp() && !r.atEnd) r.bad("Only one message per APPEND (MULTIAPPEND is not supported)");
  return { name: "APPEND", tag, mailbox, flags, internalDate, message: lit.bytes, binary: lit.binary, utf8 };
}

/** `(flag *(SP flag))` with `\Recent` dropped (a client cannot set it) and duplicates removed. */
function flagList(r: CommandReader): string[] {
  return dedupeFlags(r.parenList(() => r.flag(), { what: "flag list" }));
}

function dedupeFlags(flags: string[]): string[] {
  const seen = new Set<string>();
  const out: string[] = [];
  for (const f of flags) {
    const key = f.toLowerCase();
    if (f === "\\Recent" || seen.has(key)) continue;
    seen.add(key);
    out.push(f);
  }
  return out;
}

// RFC 9051 §9 fetch; RFC 7162 §3.1.4.1 CHANGEDSINCE, §3.2.6 VANISHED.
function parseFetch(r: CommandReader, tag: string, uid: boolean): FetchCommand {
  r.sp();
  const set = r.sequenceSet();
  r.sp();
  const attributes = parseFetchAttributes(r);
  let changedSince: number | null = null;
  let vanished = false;
  if (r.trySp() && !r.atEnd) {
    r.parenList(() => {
      const m = r.keyword("FETCH modifier");
      if (m === "CHANGEDSINCE") {
        r.sp();
        changedSince = r.number64("mod-sequence");
      } else if (m === "VANISHED") vanished = true;
      else r.bad(`Unknown FETCH modifier "${m}"`);
      return m;
    }, { allowEmpty: false, what: "FETCH modifiers" });
    // RFC 7162 §3.2.6: VANISHED only in UID FETCH, and only with CHANGEDSINCE.
    if (vanished && (!uid || changedSince === null)) r.bad("VANISHED needs UID FETCH with CHANGEDSINCE");
  }
  const plan = fetchPlan(attributes, { uid, changedSince: changedSince !== null });
  return { name: "FETCH", tag, uid, set, attributes, plan, changedSince, vanished };
}

// RFC 9051 §9 store; RFC 7162 §3.1.3 UNCHANGEDSINCE.
function parseStore(r: CommandReader, tag: string, uid: boolean): StoreCommand {
  r.sp();
  const set = r.sequenceSet();
  r.sp();
  let unchangedSince: number | null = null;
  if (r.peek() === 0x28) {
    r.parenList(() => {
      const m = r.keyword("STORE modifier");
      if (m !== "UNCHANGEDSINCE") r.bad(`Unknown STORE modifier "${m}"`);
      r.sp();
      unchangedSince = r.number64("mod-sequence");
      return m;
    }, { allowEmpty: false, what: "STORE modifiers" });
    r.sp();
  }
  const action = r.tryChar("+") ? "add" : r.tryChar("-") ? "remove" : "set";
  const item = r.keyword("FLAGS");
  if (item !== "FLAGS" && item !== "FLAGS.SILENT") r.bad(`Unknown STORE item "${item}"`);
  r.sp();
  let flags: string[];
  if (r.peek() === 0x28) flags = flagList(r);
  else {
    flags = [r.flag()];
    while (r.trySp() && !r.atEnd) flags.push(r.flag());
    flags = dedupeFlags(flags);
  }
  return { name: "STORE", tag, uid, set, unchangedSince, action, silent: item === "FLAGS.SILENT", flags };
}

/** Frames a command given as text or octets (tests, tools): literals inline, final CRLF optional. */
function frame(input: string | Uint8Array): RawCommand {
  const bytes = typeof input === "string" ? encoder.encode(input) : input;
  const receiver = new CommandReceiver({
    maxLineLength: bytes.length + 16,
    maxLiteralSize: bytes.length,
    maxNonSyncLiteral: bytes.length,
    autoAcceptLiteral: bytes.length,
    maxCommandSize: 2 * bytes.length + 16,
  });
  receiver.push(bytes);
  let ended = false;
  for (;;) {
    const ev = receiver.next();
    if (ev === null) {
      // The final CRLF is optional: add it once when the input stops short of a complete command.
      if (ended) throw new ImapBad("Incomplete command");
      receiver.push(encoder.encode("\r\n"));
      ended = true;
      continue;
    }
    if (ev.kind === "need-continuation") continue;
    if (ev.kind === "too-long") throw new ImapBad("Command too long", { tag: ev.tag, code: "TOOBIG" });
    if (ev.kind !== "command") throw new ImapBad("Literal too big", { tag: ev.tag, code: "TOOBIG" });
    if (receiver.buffered) throw new ImapBad("More than one command", { tag: ev.tag });
    return ev;
  }
}

/**
 * Parses one command: a `RawCommand` from `CommandReceiver` (or its text, for tests). Throws `ImapBad` (with
 * the tag, or tag null when the tag is invalid) or `ImapNo` (SEARCH BADCHARSET).
 */
export function parseCommand(input: RawCommand | string | Uint8Array, options: ParseOptions = {}): Command {
  const raw = typeof input === "string" || input instanceof Uint8Array ? frame(input) : input;
  const r = new CommandReader(raw, options);
  const tag = r.tag;
  if (tag === null) {
    const first = raw.lines[0] ?? new Uint8Array(0);
    const word = latin1.decode(first.subarray(0, Math.min(first.indexOf(SP) >>> 0, 40))).replace(/[^\x21-\x7e]/g, "?");
    throw new ImapBad(word ? `Invalid tag "${word}"` : "Missing tag");
  }
  if (r.atEnd) r.bad("Missing command name");
  let name = r.keyword("command name");
  let uid = false;
  if (name === "UID") {
    uid = true;
    r.sp();
    name = r.keyword("command name");
    if (!UID_COMMANDS.has(name)) r.bad(`Unknown command "UID ${name}"`);
  }
  const parser = Object.hasOwn(PARSERS, name) ? PARSERS[name] : undefined;
  if (!parser) return r.bad(`Unknown command "${name.slice(0, 40)}"`);
  const cmd = parser(r, tag, uid);
  r.end();
  return cmd;
}

/**
 * True when the command is CONDSTORE-enabling (RFC 7162 §3.1): SELECT/EXAMINE (CONDSTORE), STATUS
 * HIGHESTMODSEQ, FETCH MODSEQ or CHANGEDSINCE, SEARCH MODSEQ, STORE UNCHANGEDSINCE. The session then enables
 * CONDSTORE for the rest of the connection, as if the client had sent ENABLE CONDSTORE.
 */
export function enablesCondstore(cmd: Command): boolean {
  switch (cmd.name) {
    case "SELECT":
    case "EXAMINE":
      return cmd.condstore || cmd.qresync !== null;
    case "STATUS":
      return cmd.items.includes("HIGHESTMODSEQ");
    case "FETCH":
      return cmd.changedSince !== null || fetchUsesModseq(cmd.attributes);
    case "SEARCH":
      return searchUsesModseq(cmd.criteria);
    case "STORE":
      return cmd.unchangedSince !== null;
    default:
      return false;
  }
}

/**
 * The command as it may be logged at trace level: LOGIN's password and AUTHENTICATE's initial response are
 * replaced by `***`, literals by `{n bytes}`, and the text is cut to `max` characters.
 */
export function redactCommand(raw: RawCommand, max = 200): string {
  const first = latin1.decode(raw.lines[0] ?? new Uint8Array(0));
  const words = first.split(" ");
  const verb = (words[1] ?? "").toUpperCase();
  if (verb === "LOGIN") return `${words.slice(0, 3).join(" ")} ***`.slice(0, max);
  if (verb === "AUTHENTICATE") return `${words.slice(0, 3).join(" ")}${words.length > 3 ? " ***" : ""}`.slice(0, max);
  let out = "";
  raw.lines.forEach((line, i) => {
    out += latin1.decode(line.subarray(0, max));
    const lit = raw.literals[i];
    if (lit) out += `<${lit.bytes.length} octets>`;
  });
  return out.replace(/[^\x20-\x7e]/g, "?").slice(0, max);
}
