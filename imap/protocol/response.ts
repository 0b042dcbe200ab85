/**
 * @module
 * The wire form of everything the IMAP server sends (RFC 9051 §7, RFC 3501 §7): status responses with response
 * codes, the one table of tagged replies (`IMAP_REPLIES`), the typed errors handlers throw (`ImapNo`, `ImapBad`,
 * caught once by the session loop), value encoders (quoted/literal/astring/nstring, flag lists, dates, mailbox
 * names) and builders for untagged data (LIST, STATUS, ESEARCH, VANISHED, QUOTA, FETCH, …).
 *
 * Text is built as JS strings and sent as UTF-8. Literal lengths count UTF-8 octets. Message bodies never pass
 * through a string: `fetchResponse` returns `Uint8Array` chunks with the body as its own chunk (not copied).
 *
 * `utf8` options mean the client enabled UTF8=ACCEPT or IMAP4rev2 (RFC 6855 §3, RFC 9051 §5.1): quoted strings
 * may then carry UTF-8 and mailbox names are sent as UTF-8 instead of modified UTF-7.
 */
import { formatSequenceSet } from "./sequence_set.ts";
import { encodeModifiedUtf7 } from "./utf7.ts";

/** What a status response says (RFC 9051 §7.1). */
export type ImapStatus = "OK" | "NO" | "BAD" | "BYE" | "PREAUTH";

/**
 * Response codes without arguments (RFC 9051 §7.1 unless noted), with where each is defined. Clients act on
 * them: TRYCREATE makes them offer to create the mailbox, OVERQUOTA tells the user, etc.
 */
export const SIMPLE_RESPONSE_CODES = {
  ALERT: "RFC 9051 §7.1: text the client must show to the user",
  ALREADYEXISTS: "RFC 5530 §3: CREATE/RENAME target exists",
  AUTHENTICATIONFAILED: "RFC 5530 §3: bad credentials (say nothing more)",
  AUTHORIZATIONFAILED: "RFC 5530 §3: authenticated but may not act as that user",
  CANNOT: "RFC 5530 §3: the operation violates a server rule (e.g. delete INBOX)",
  CLIENTBUG: "RFC 5530 §3: the command succeeded but the client did something odd",
  CLOSED: "RFC 7162 §3.2.11: the previous mailbox was closed (QRESYNC)",
  CONTACTADMIN: "RFC 5530 §3: the user should contact the administrator",
  CORRUPTION: "RFC 5530 §3: the server found corrupted data",
  EXPIRED: "RFC 5530 §3: the credentials or account expired",
  EXPUNGEISSUED: "RFC 5530 §3: some requested messages were expunged meanwhile",
  HASCHILDREN: "RFC 9051 §7.1: DELETE of a mailbox with children is refused",
  INUSE: "RFC 5530 §3: the resource is locked by another operation",
  LIMIT: "RFC 5530 §3: a server limit was reached (e.g. too many mailboxes)",
  NOMODSEQ: "RFC 7162 §3.1.2.2: the mailbox does not keep MODSEQs",
  NONEXISTENT: "RFC 5530 §3: the mailbox does not exist",
  NOPERM: "RFC 5530 §3: no permission",
  NOTSAVED: "RFC 5182 §2.4: `$` refers to a search result that was not saved",
  OVERQUOTA: "RFC 9208 §4.3 / RFC 5530 §3: the operation would exceed a quota",
  PARSE: "RFC 9051 §7.1: a message could not be parsed",
  PRIVACYREQUIRED: "RFC 5530 §3: TLS is required first",
  "READ-ONLY": "RFC 9051 §7.1: the mailbox is selected read-only (EXAMINE)",
  "READ-WRITE": "RFC 9051 §7.1: the mailbox is selected read-write",
  SERVERBUG: "RFC 5530 §3: an internal error (details go to the log only)",
  TOOBIG: "RFC 7888 §4 / RFC 4469 §5: a literal or message is too big",
  TRYCREATE: "RFC 9051 §7.1: APPEND/COPY/MOVE to a mailbox that does not exist",
  UIDNOTSTICKY: "RFC 4315 §3: the mailbox does not keep UIDs",
  UNAVAILABLE: "RFC 5530 §3: a temporary failure; try again later",
  "UNKNOWN-CTE": "RFC 3516 §4.3: BINARY of a part with an unknown Content-Transfer-Encoding",
  USEATTR: "RFC 6154 §6: CREATE with a special-use attribute the server refuses",
} as const;

/** The name of a response code without arguments. */
export type SimpleResponseCode = keyof typeof SIMPLE_RESPONSE_CODES;

/** A response code (the bracketed part of a status response, RFC 9051 §7.1). */
export type ResponseCode =
  | SimpleResponseCode
  /** RFC 9051 §7.1 UIDVALIDITY/UIDNEXT, RFC 3501 §7.1 UNSEEN (IMAP4rev1 only), RFC 7162 §3.1.2.1 HIGHESTMODSEQ. */
  | { code: "UIDVALIDITY" | "UIDNEXT" | "UNSEEN" | "HIGHESTMODSEQ"; value: number }
  /** RFC 9051 §7.1: flags the client can change permanently; `\*` means it may create keywords. */
  | { code: "PERMANENTFLAGS"; flags: readonly string[] }
  /** RFC 9051 §7.1: SEARCH with an unsupported CHARSET (tagged NO). */
  | { code: "BADCHARSET"; charsets: readonly string[] }
  /** RFC 9051 §7.1: the capability list, e.g. in the greeting or the LOGIN OK. */
  | { code: "CAPABILITY"; capabilities: readonly string[] }
  /** RFC 4315 §3: APPEND's new UID(s). `uids` is a list of numbers or a formatted set. */
  | { code: "APPENDUID"; uidValidity: number; uids: readonly number[] | string }
  /** RFC 4315 §3: COPY/MOVE: source UIDs and the new UIDs in the same order. */
  | {
    code: "COPYUID";
    uidValidity: number;
    source: readonly number[] | string;
    destination: readonly number[] | string;
  }
  /** RFC 7162 §3.1.3: messages that failed the UNCHANGEDSINCE test. */
  | { code: "MODIFIED"; set: readonly number[] | string };

function uidSet(v: readonly number[] | string): string {
  return typeof v === "string" ? v : formatSequenceSet(v);
}

/** The bracketed wire form of a response code, e.g. `[COPYUID 38505 304,319:320 3956:3958]`. */
export function formatResponseCode(code: ResponseCode): string {
  if (typeof code === "string") return `[${code}]`;
  switch (code.code) {
    case "UIDVALIDITY":
    case "UIDNEXT":
    case "UNSEEN":
    case "HIGHESTMODSEQ":
      return `[${code.code} ${code.value}]`;
    case "PERMANENTFLAGS":
      return `[PERMANENTFLAGS ${flagList(code.flags)}]`;
    case "BADCHARSET":
      return `[BADCHARSET (${code.charsets.map((c) => astring(c)).join(" ")})]`;
    case "CAPABILITY":
      return `[CAPABILITY ${code.capabilities.join(" ")}]`;
    case "APPENDUID":
      return `[APPENDUID ${code.uidValidity} ${uidSet(code.uids)}]`;
    case "COPYUID":
      return `[COPYUID ${code.uidValidity} ${uidSet(code.source)} ${uidSet(code.destination)}]`;
    case "MODIFIED":
      return `[MODIFIED ${uidSet(code.set)}]`;
  }
}

/** One entry of the reply table: status, response code (or null) and default text. */
export type ImapReplyEntry = readonly [status: ImapStatus, code: SimpleResponseCode | null, text: string];

/**
 * The one table of the fixed replies the server sends, by name, with the RFC behind each (mox-style). Use
 * `replyLine(tag, name)` for the wire form or `imapError(name)` to throw a NO/BAD. Replies with arguments
 * (APPENDUID, COPYUID, BADCHARSET, …) are built with `tagged()` and a `ResponseCode` value.
 */
export const IMAP_REPLIES = {
  // ---- Greetings and goodbyes (RFC 9051 §7.1.1, §7.1.5) -------------------------------------------------
  /** RFC 9051 §7.1.1: the greeting; the session adds `[CAPABILITY …]` with `tagged`/`untaggedStatus`. */
  GREETING: ["OK", null, "Silvermail IMAP ready"],
  /** RFC 9051 §6.1.3: `* BYE` before the tagged OK of LOGOUT. */
  LOGOUT: ["BYE", null, "Logging out"],
  /** RFC 9051 §7.1.5: the server closes the connection after an autologout timer expired. */
  TIMEOUT: ["BYE", null, "Autologout; idle for too long"],
  /** RFC 9051 §7.1.5: shutting down. */
  SHUTTING_DOWN: ["BYE", "UNAVAILABLE", "Server shutting down"],
  /** RFC 9051 §7.1.5 (DESIGN rule 7): too many bad commands in one session. */
  TOO_MANY_ERRORS: ["BYE", null, "Too many errors, closing connection"],
  /** RFC 9051 §7.1.5: connections per IP or in total. */
  TOO_MANY_CONNECTIONS: ["BYE", "UNAVAILABLE", "Too many connections, try again later"],

  // ---- Success --------------------------------------------------------------------------------------
  /** RFC 9051 §7.1.1: generic success. */
  OK: ["OK", null, "Completed"],
  /** RFC 9051 §6.2.1: the TLS handshake starts right after this line. */
  STARTTLS: ["OK", null, "Begin TLS negotiation now"],
  /** RFC 9051 §6.2.2 / §6.2.3: the session adds `[CAPABILITY …]` (RFC 9051 §7.1). */
  LOGGED_IN: ["OK", null, "Logged in"],
  /** RFC 9051 §6.3.2: the session adds `[READ-WRITE]`/`[READ-ONLY]`. */
  SELECTED: ["OK", "READ-WRITE", "SELECT completed"],
  /** RFC 9051 §6.3.3. */
  EXAMINED: ["OK", "READ-ONLY", "EXAMINE completed"],
  /** RFC 9051 §6.3.13: IDLE ended by DONE. */
  IDLE_DONE: ["OK", null, "IDLE terminated"],

  // ---- Authentication (RFC 9051 §6.2, RFC 5530) -------------------------------------------------------
  /** RFC 5530 §3: wrong user name or password; never say which. */
  AUTH_FAILED: ["NO", "AUTHENTICATIONFAILED", "Authentication failed"],
  /** RFC 9051 §6.2.3 (LOGINDISABLED) / RFC 5530 §3: plaintext login before TLS. */
  PRIVACY_REQUIRED: ["NO", "PRIVACYREQUIRED", "TLS required before authentication"],
  /** RFC 9051 §6.2.2: the client cancelled the exchange with `*`. */
  AUTH_CANCELLED: ["BAD", null, "Authentication cancelled"],
  /** RFC 9051 §6.2.2: an unsupported SASL mechanism. */
  AUTH_MECHANISM: ["NO", "CANNOT", "Unsupported authentication mechanism"],
  /** RFC 5530 §3 UNAVAILABLE: too many failures from this client or for this account (spam/auth_throttle). */
  AUTH_THROTTLED: ["NO", "UNAVAILABLE", "Too many failed attempts, try again later"],
  /**
   * RFC 9051 §7.1 ALERT (the client shows the text to its user; Gmail answers the same way): the password was
   * right, but the account has as many logged-in sessions as it may have (`imap.max_connections_per_account`).
   */
  ACCOUNT_BUSY: ["NO", "ALERT", "Too many connections to this account; close some mail apps or try again later"],
  /** RFC 9051 §6.2.1: STARTTLS when TLS is already active or not offered. */
  TLS_ACTIVE: ["BAD", null, "TLS already active"],

  // ---- Command syntax and state (RFC 9051 §7.1.3) -----------------------------------------------------
  /** RFC 9051 §7.1.3: an unknown command. */
  UNKNOWN_COMMAND: ["BAD", null, "Unknown command"],
  /** RFC 9051 §7.1.3: syntax error in the arguments (parseCommand gives a precise text). */
  SYNTAX: ["BAD", null, "Syntax error in arguments"],
  /** RFC 9051 §7.1.3 / RFC 7888 §4: a command line over the limit; the rest of the command is skipped. */
  LINE_TOO_LONG: ["BAD", "TOOBIG", "Command line too long"],
  /** RFC 7888 §4 (LITERAL-): a non-synchronizing literal over 4096 octets, or any literal over the limit. */
  LITERAL_TOO_BIG: ["BAD", "TOOBIG", "Literal too big"],
  /** RFC 7889 §3 / RFC 4469 §5: APPEND of a message over the APPENDLIMIT, refused before reading it. */
  MESSAGE_TOO_BIG: ["NO", "TOOBIG", "Message too big"],
  /** RFC 9051 §6: a command not valid in the current state (before LOGIN, or without a selected mailbox). */
  WRONG_STATE: ["BAD", null, "Command not valid in this state"],
  /** RFC 9051 §6.4: a command that needs a selected mailbox. */
  NO_MAILBOX_SELECTED: ["BAD", null, "No mailbox selected"],
  /** RFC 9051 §9 `seq-number`: a message sequence number beyond EXISTS. */
  BAD_SEQUENCE: ["BAD", null, "Invalid message sequence number"],
  /** RFC 7162 §3.2.3 / RFC 5161 §3.1: QRESYNC/VANISHED used without ENABLE QRESYNC. */
  QRESYNC_NOT_ENABLED: ["BAD", null, "QRESYNC is not enabled"],
  /** RFC 5182 §2.1: `$` with no saved search result. */
  NOT_SAVED: ["NO", "NOTSAVED", "No saved search result"],

  // ---- Mailboxes (RFC 9051 §6.3, RFC 5530) ------------------------------------------------------------
  /** RFC 5530 §3 / RFC 9051 §6.3.2. */
  NONEXISTENT: ["NO", "NONEXISTENT", "No such mailbox"],
  /** RFC 9051 §6.3.12 / §6.4.7 / §6.4.8: APPEND/COPY/MOVE target does not exist. */
  TRYCREATE: ["NO", "TRYCREATE", "No such mailbox"],
  /** RFC 5530 §3 / RFC 9051 §6.3.4. */
  ALREADY_EXISTS: ["NO", "ALREADYEXISTS", "Mailbox already exists"],
  /** RFC 9051 §6.3.5: INBOX cannot be deleted. */
  CANNOT_DELETE_INBOX: ["NO", "CANNOT", "INBOX cannot be deleted"],
  /** RFC 9051 §6.3.5: a mailbox with children and \Noselect cannot be deleted. */
  HAS_CHILDREN: ["NO", "HASCHILDREN", "Mailbox has children"],
  /** RFC 6154 §3 / §5.3: CREATE (USE …) with an attribute the server does not support. */
  USEATTR: ["NO", "USEATTR", "Special-use attribute not supported"],
  /** RFC 5530 §3: too many mailboxes, nesting too deep, name too long. */
  LIMIT: ["NO", "LIMIT", "Limit reached"],
  /** RFC 9051 §5.1: a mailbox name the server refuses (e.g. with the hierarchy delimiter doubled). */
  BAD_MAILBOX_NAME: ["NO", "CANNOT", "Invalid mailbox name"],

  // ---- Messages ---------------------------------------------------------------------------------------
  /** RFC 9208 §4.3 / RFC 5530 §3: APPEND/COPY/MOVE over quota. */
  OVER_QUOTA: ["NO", "OVERQUOTA", "Quota exceeded"],
  /** RFC 9051 §6.3.3: STORE, EXPUNGE or MOVE in a mailbox opened with EXAMINE (valid syntax, so NO, not BAD). */
  READ_ONLY: ["NO", null, "Mailbox is read-only"],
  /** RFC 5530 §3: a message vanished while the command ran. */
  EXPUNGE_ISSUED: ["NO", "EXPUNGEISSUED", "Some messages were expunged"],
  /** RFC 9208 §4.2.3: SETQUOTA by a user (only admins set quotas). */
  SETQUOTA_DENIED: ["NO", "NOPERM", "Quotas are set by the administrator"],
  /** RFC 9208 §4.2.1: GETQUOTA of an unknown root. */
  NO_SUCH_QUOTA_ROOT: ["NO", "NONEXISTENT", "No such quota root"],
  /** RFC 7162 §3.1.2.2: CONDSTORE in a mailbox without MODSEQs (not used by Silvermail: all keep them). */
  NOMODSEQ: ["NO", "NOMODSEQ", "No MODSEQ in this mailbox"],
  /** RFC 3516 §4.3: BINARY of a part whose encoding is unknown. */
  UNKNOWN_CTE: ["NO", "UNKNOWN-CTE", "Unknown Content-Transfer-Encoding"],
  /** RFC 9051 §6.4.5: a message could not be parsed. */
  PARSE: ["NO", "PARSE", "Message could not be parsed"],

  // ---- Failures -------------------------------------------------------------------------------------
  /** RFC 5530 §3 / STYLE: anything unexpected; the detail goes to the log only. */
  SERVER_BUG: ["NO", "SERVERBUG", "Internal error, try again later"],
  /** RFC 5530 §3: a temporary failure (e.g. the database is unreachable). */
  UNAVAILABLE: ["NO", "UNAVAILABLE", "Temporarily unavailable, try again later"],
} as const satisfies Record<string, ImapReplyEntry>;

/** The name of an entry of `IMAP_REPLIES`. */
export type ImapReplyName = keyof typeof IMAP_REPLIES;

/** A NO or BAD to send: thrown by parsers and handlers, caught once by the session loop, written with `line()`. */
export class ImapError extends Error {
  override name = "ImapError";
  /** NO: the command failed; BAD: the command was invalid (syntax, state). */
  readonly status: "NO" | "BAD";
  /** The response code, if any. */
  readonly code: ResponseCode | null;
  /** The human-readable text. */
  readonly text: string;
  /** The tag of the command, when known (the parser knows it; handlers leave it to the session). */
  readonly tag: string | null;

  constructor(status: "NO" | "BAD", text: string, options: { tag?: string | null; code?: ResponseCode | null } = {}) {
    super(text);
    this.status = status;
    this.text = text;
    this.code = options.code ?? null;
    this.tag = options.tag ?? null;
  }

  /** The tagged wire line; `tag` is used when the error has none, and `*` when neither is known. */
  line(tag?: string | null): string {
    return tagged(this.tag ?? tag ?? "*", this.status, this.text, this.code);
  }
}

/** A tagged NO (RFC 9051 §7.1.2): the command was valid but failed. */
export class ImapNo extends ImapError {
  override name = "ImapNo";
  constructor(text: string, options: { tag?: string | null; code?: ResponseCode | null } = {}) {
    super("NO", text, options);
  }
}

/** A tagged BAD (RFC 9051 §7.1.3): the command was invalid; `tag` null sends an untagged `* BAD`. */
export class ImapBad extends ImapError {
  override name = "ImapBad";
  constructor(text: string, options: { tag?: string | null; code?: ResponseCode | null } = {}) {
    super("BAD", text, options);
  }
}

/** The NO/BAD of the named table entry, to throw; `text` replaces the default text. */
export function imapError(name: ImapReplyName, text?: string): ImapError {
  const [status, code, defaultText] = IMAP_REPLIES[name] as ImapReplyEntry;
  if (status === "NO") return new ImapNo(text ?? defaultText, { code });
  if (status === "BAD") return new ImapBad(text ?? defaultText, { code });
  throw new TypeError(`IMAP reply ${name} is ${status}, not an error`);
}

/** The named table entry as a wire line: tagged, or untagged (`*`) for a null tag (BYE, greeting). */
export function replyLine(tag: string | null, name: ImapReplyName, text?: string): string {
  const [status, code, defaultText] = IMAP_REPLIES[name] as ImapReplyEntry;
  return tagged(tag ?? "*", status, text ?? defaultText, code);
}

/**
 * Human-readable text made safe for one response line: CR, LF and other controls become spaces, non-ASCII
 * becomes `?` unless `utf8` (RFC 9051 §9 `text` allows UTF-8), a leading `[` cannot pose as a response code,
 * and an empty text becomes "Completed" (RFC 3501 §9 requires one character).
 */
export function safeText(text: string, options: { utf8?: boolean } = {}): string {
  let t = text.replace(/[^\x20-\x7e\u00a0-\uffff]/g, " ");
  if (!options.utf8) t = t.replace(/[^\x20-\x7e]/g, "?");
  if (t.startsWith("[")) t = `- ${t}`;
  if (t.length > 1000) t = t.slice(0, 1000);
  return t.trim() === "" ? "Completed" : t;
}

/** A tagged status response, e.g. `A1 OK [READ-WRITE] SELECT completed\r\n` (RFC 9051 §7.1). */
export function tagged(tag: string, status: ImapStatus, text: string, code?: ResponseCode | null): string {
  const c = code ? `${formatResponseCode(code)} ` : "";
  return `${tag} ${status} ${c}${safeText(text)}\r\n`;
}

/** An untagged status response, e.g. `* OK [UIDVALIDITY 3857529045] UIDs valid\r\n` (RFC 9051 §7.1). */
export function untaggedStatus(status: ImapStatus, text: string, code?: ResponseCode | null): string {
  return tagged("*", status, text, code);
}

/** Untagged data: `* ` + data + CRLF (the caller encodes the values with the encoders here). */
export function untagged(data: string): string {
  return `* ${data}\r\n`;
}

/**
 * A command continuation request (RFC 9051 §7.6): `+ Ready for literal data`, `+ idling`, or a base64 SASL
 * challenge (`+ ` followed by nothing for an empty one, RFC 9051 §6.2.2).
 */
export function continuation(text = "Ready for literal data"): string {
  return text === "" ? "+ \r\n" : `+ ${text.replace(/[\r\n]/g, " ")}\r\n`;
}

// ---- Value encoders (RFC 9051 §4.3, §9) ----------------------------------------------------------------

/** Encoding options: `utf8` when UTF8=ACCEPT or IMAP4rev2 is enabled. */
export interface EncodeOptions {
  utf8?: boolean;
}

const encoder = new TextEncoder();
/** Longer strings go as literals even when they could be quoted. */
const MAX_QUOTED = 1024;

function quotable(s: string, utf8: boolean): boolean {
  if (s.length > MAX_QUOTED) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0 || c === 0x0a || c === 0x0d) return false;
    if (c > 0x7f && !utf8) return false;
  }
  return true;
}

/** A quoted string (RFC 9051 §4.3): `"a \"b\""`. Throws a RangeError on CR, LF or NUL (use `imapString`). */
export function quoted(s: string): string {
  if (/[\r\n\0]/.test(s)) throw new RangeError("Cannot quote a string with CR, LF or NUL");
  return `"${s.replace(/[\\"]/g, "\\$&")}"`;
}

/** A literal (RFC 9051 §4.3): `{n}\r\n` + the text, `n` counting its UTF-8 octets. */
export function literal(s: string): string {
  return `{${encoder.encode(s).length}}\r\n${s}`;
}

/** A string (RFC 9051 §9 `string`): quoted when it is short and safe, else a literal (CR, LF, 8-bit in rev1). */
export function imapString(s: string, options: EncodeOptions = {}): string {
  return quotable(s, options.utf8 ?? false) ? quoted(s) : literal(s);
}

/** `nstring`: NIL for null, else `imapString`. */
export function nstring(s: string | null, options: EncodeOptions = {}): string {
  return s === null ? "NIL" : imapString(s, options);
}

const ATOM_SAFE = /^[\x21\x23\x24\x26-\x27\x2b-\x5b\x5d-\x7a\x7c\x7e]+$/;

/** `astring`: a bare atom when possible (never `NIL`, which reads as nil elsewhere), else `imapString`. */
export function astring(s: string, options: EncodeOptions = {}): string {
  return ATOM_SAFE.test(s) && s.toUpperCase() !== "NIL" ? s : imapString(s, options);
}

/**
 * A mailbox name for LIST/STATUS/… (RFC 9051 §9 `mailbox`): modified UTF-7 unless `utf8` (RFC 3501 §5.1.3,
 * RFC 6855 §3), always quoted (or a literal), as Dovecot and most servers do.
 */
export function mailboxName(name: string, options: EncodeOptions = {}): string {
  return imapString(options.utf8 ? name : encodeModifiedUtf7(name), options);
}

/** A flag list: `(\Seen $Forwarded)`. */
export function flagList(flags: Iterable<string>): string {
  return `(${(Array.isArray(flags) ? flags : [...flags]).join(" ")})`; // an array (the usual) without a copy
}

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"] as const;

function pad(n: number, width = 2): string {
  return String(n).padStart(width, "0");
}

/**
 * An INTERNALDATE value (RFC 9051 §9 `date-time`), quoted: `"17-Jul-1996 02:44:25 -0700"`. The instant is shown
 * in the zone `offsetMinutes` east of UTC (default UTC, `+0000`).
 */
export function formatInternalDate(date: Date, offsetMinutes = 0): string {
  const t = new Date(date.getTime() + offsetMinutes * 60_000);
  const sign = offsetMinutes < 0 ? "-" : "+";
  const off = Math.abs(offsetMinutes);
  return `"${pad(t.getUTCDate())}-${MONTHS[t.getUTCMonth()]}-${pad(t.getUTCFullYear(), 4)} ${pad(t.getUTCHours())}:${
    pad(t.getUTCMinutes())
  }:${pad(t.getUTCSeconds())} ${sign}${pad(Math.floor(off / 60))}${pad(off % 60)}"`;
}

// ---- Untagged data (RFC 9051 §7.2–§7.5) ---------------------------------------------------------------

/** `* CAPABILITY IMAP4rev2 …` (RFC 9051 §7.2.2). */
export function capabilityResponse(capabilities: readonly string[]): string {
  return untagged(`CAPABILITY ${capabilities.join(" ")}`);
}

/** `* ENABLED CONDSTORE` (RFC 5161 §3.2): only the capabilities that were newly enabled. */
export function enabledResponse(capabilities: readonly string[]): string {
  return untagged(capabilities.length ? `ENABLED ${capabilities.join(" ")}` : "ENABLED");
}

/** `* 23 EXISTS` (RFC 9051 §7.4.1). */
export function existsResponse(count: number): string {
  return untagged(`${count} EXISTS`);
}

/** `* 5 RECENT` (RFC 3501 §7.3.2, IMAP4rev1 only). */
export function recentResponse(count: number): string {
  return untagged(`${count} RECENT`);
}

/** `* 44 EXPUNGE` (RFC 9051 §7.5.1), for clients that did not enable QRESYNC. */
export function expungeResponse(seq: number): string {
  return untagged(`${seq} EXPUNGE`);
}

/** `* FLAGS (\Answered …)` (RFC 9051 §7.3.5). */
export function flagsResponse(flags: Iterable<string>): string {
  return untagged(`FLAGS ${flagList(flags)}`);
}

/** One LIST reply (RFC 9051 §7.3.1, RFC 5258 §3.5 extended data). */
export interface ListItem {
  /** Name attributes: `\HasNoChildren`, `\Subscribed`, `\Sent`, `\NonExistent`, … */
  attributes: readonly string[];
  /** The hierarchy delimiter, or null for a flat name space. */
  delimiter: string | null;
  /** The mailbox name in Unicode (encoded here). */
  name: string;
  /** RFC 5258 §4: CHILDINFO, e.g. ["SUBSCRIBED"] for RECURSIVEMATCH. */
  childInfo?: readonly string[];
  /** RFC 9051 §6.3.9 / RFC 5465: OLDNAME after a RENAME. */
  oldName?: string;
}

/** `* LIST (\HasNoChildren) "/" "INBOX"` (or LSUB with `lsub: true`). */
export function listResponse(item: ListItem, options: EncodeOptions & { lsub?: boolean } = {}): string {
  const delim = item.delimiter === null ? "NIL" : quoted(item.delimiter);
  let ext = "";
  if (item.childInfo?.length) ext += ` ("CHILDINFO" (${item.childInfo.map((c) => quoted(c)).join(" ")}))`;
  if (item.oldName !== undefined) ext += ` ("OLDNAME" (${mailboxName(item.oldName, options)}))`;
  const verb = options.lsub ? "LSUB" : "LIST";
  return untagged(`${verb} ${flagList(item.attributes)} ${delim} ${mailboxName(item.name, options)}${ext}`);
}

/** `* STATUS "INBOX" (MESSAGES 2 UIDNEXT 5)` (RFC 9051 §7.3.3); items in the order the client asked. */
export function statusResponse(
  mailbox: string,
  items: Iterable<readonly [string, number]>,
  options: EncodeOptions = {},
): string {
  const list = [...items].map(([k, v]) => `${k} ${v}`).join(" ");
  return untagged(`STATUS ${mailboxName(mailbox, options)} (${list})`);
}

/** `* SEARCH 2 3 6` (RFC 3501 §7.2.5, IMAP4rev1), with `(MODSEQ n)` when the search used MODSEQ (RFC 7162 §3.1.5). */
export function searchResponse(list: readonly number[], highestModseq?: number): string {
  let s = list.length ? `SEARCH ${list.join(" ")}` : "SEARCH";
  if (highestModseq !== undefined && list.length) s += ` (MODSEQ ${highestModseq})`;
  return untagged(s);
}

/** The result parts of an ESEARCH response (RFC 4731 §3.1, RFC 9051 §7.3.4); absent parts are omitted. */
export interface EsearchResult {
  /** The tag of the SEARCH command (the search correlator). */
  tag: string;
  /** UID SEARCH: the numbers are UIDs. */
  uid: boolean;
  min?: number;
  max?: number;
  count?: number;
  /** ALL: the matching numbers, sorted (formatted compactly here), or an already formatted set. */
  all?: readonly number[] | string;
  /** RFC 7162 §3.1.5: the highest MODSEQ of the matches, when the search used MODSEQ. */
  modseq?: number;
}

/** `* ESEARCH (TAG "A282") UID MIN 2 COUNT 3 ALL 2,10:11` (RFC 4731 §3.1). Empty results omit MIN/MAX/ALL. */
export function esearchResponse(r: EsearchResult): string {
  let s = `ESEARCH (TAG ${quoted(r.tag)})`;
  if (r.uid) s += " UID";
  if (r.min !== undefined) s += ` MIN ${r.min}`;
  if (r.max !== undefined) s += ` MAX ${r.max}`;
  if (r.count !== undefined) s += ` COUNT ${r.count}`;
  if (r.all !== undefined) {
    const set = uidSet(r.all);
    if (set) s += ` ALL ${set}`;
  }
  if (r.modseq !== undefined) s += ` MODSEQ ${r.modseq}`;
  return untagged(s);
}

/** `* VANISHED (EARLIER) 41,43:116` (RFC 7162 §3.2.10); sorted UIDs or a formatted set. */
export function vanishedResponse(uids: readonly number[] | string, earlier: boolean): string {
  return untagged(`VANISHED ${earlier ? "(EARLIER) " : ""}${uidSet(uids)}`);
}

/** `* ID ("name" "Silvermail")` or `* ID NIL` (RFC 2971 §3.2). */
export function idResponse(params: Iterable<readonly [string, string | null]> | null): string {
  if (params === null) return untagged("ID NIL");
  const list = [...params].map(([k, v]) => `${quoted(k)} ${nstring(v)}`).join(" ");
  return untagged(list ? `ID (${list})` : "ID NIL");
}

/** A namespace: prefix and delimiter (RFC 9051 §7.3.2). */
export type Namespace = readonly [prefix: string, delimiter: string | null];

/** `* NAMESPACE (("" "/")) NIL NIL` (RFC 9051 §7.3.2): personal, other users', shared namespaces. */
export function namespaceResponse(
  personal: readonly Namespace[] | null,
  other: readonly Namespace[] | null = null,
  shared: readonly Namespace[] | null = null,
  options: EncodeOptions = {},
): string {
  const one = (list: readonly Namespace[] | null) =>
    list && list.length
      ? `(${
        list.map(([p, d]) =>
          `(${imapString(options.utf8 ? p : encodeModifiedUtf7(p), options)} ${d === null ? "NIL" : quoted(d)})`
        ).join("")
      })`
      : "NIL";
  return untagged(`NAMESPACE ${one(personal)} ${one(other)} ${one(shared)}`);
}

/** One quota resource: name (STORAGE in KiB, MESSAGE, …), usage and limit (RFC 9208 §5). */
export type QuotaResource = readonly [name: string, usage: number, limit: number];

/** `* QUOTA "" (STORAGE 10 512)` (RFC 9208 §5.1). */
export function quotaResponse(root: string, resources: readonly QuotaResource[]): string {
  return untagged(`QUOTA ${astring(root)} (${resources.map(([n, u, l]) => `${n} ${u} ${l}`).join(" ")})`);
}

/** `* QUOTAROOT INBOX ""` (RFC 9208 §5.2). */
export function quotaRootResponse(mailbox: string, roots: readonly string[], options: EncodeOptions = {}): string {
  return untagged(`QUOTAROOT ${mailboxName(mailbox, options)}${roots.map((r) => ` ${imapString(r)}`).join("")}`);
}

// ---- FETCH (RFC 9051 §7.5.2) ----------------------------------------------------------------------------

/** A body sent as a literal without copying it; `binary` for BINARY[] (literal8 `~{n}` when it holds NUL). */
export interface FetchLiteral {
  literal: Uint8Array;
  binary?: boolean;
}

/**
 * One FETCH data item: the label (`UID`, `BODY[HEADER]<0>`, see `fetchItemName` in fetch.ts) and either an
 * encoded value (`"17"`, `flagList(…)`, `formatInternalDate(…)`, a precomputed ENVELOPE, `"NIL"`) or a body.
 */
export type FetchItem = readonly [name: string, value: string | FetchLiteral];

/** The literal announcement `{n}\r\n`, or `~{n}\r\n` (RFC 3516 §4.3 literal8) — for streaming a body yourself. */
export function literalPrefix(size: number, binary = false): string {
  return `${binary ? "~" : ""}{${size}}\r\n`;
}

/**
 * `* 12 FETCH (UID 5 FLAGS (\Seen) BODY[] {342}\r\n…)\r\n` as chunks to write in order: text is encoded,
 * each body literal is its own chunk (the caller's array, not a copy), so a large body is never duplicated.
 */
export function fetchResponse(seq: number, items: readonly FetchItem[]): Uint8Array[] {
  const out: Uint8Array[] = [];
  let text = `* ${seq} FETCH (`;
  items.forEach(([name, value], i) => {
    if (i > 0) text += " ";
    if (typeof value === "string") {
      text += `${name} ${value}`;
      return;
    }
    const bytes = value.literal;
    const binary = value.binary === true && bytes.indexOf(0) >= 0;
    text += `${name} ${literalPrefix(bytes.length, binary)}`;
    out.push(encoder.encode(text));
    if (bytes.length) out.push(bytes);
    text = "";
  });
  out.push(encoder.encode(`${text})\r\n`));
  return out;
}

/**
 * The FETCH response as text when no item is a literal (FLAGS, UID, MODSEQ, ENVELOPE, …), else null: such
 * responses are gathered into one string per batch and encoded once (`FETCH 1:* (FLAGS)` on a large mailbox).
 */
export function fetchResponseText(seq: number, items: readonly FetchItem[]): string | null {
  let text = `* ${seq} FETCH (`;
  for (let i = 0; i < items.length; i++) {
    const [name, value] = items[i]!;
    if (typeof value !== "string") return null;
    text += i > 0 ? ` ${name} ${value}` : `${name} ${value}`;
  }
  return text + ")\r\n";
}

/** Concatenates chunks (for tests and small responses; the session should write the chunks as they are). */
export function concatChunks(chunks: readonly Uint8Array[]): Uint8Array {
  let n = 0;
  for (const c of chunks) n += c.length;
  const out = new Uint8Array(n);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

/**
 * The capabilities the server announces after login (the session adds APPENDLIMIT=n; before login it announces
 * its own short list with STARTTLS, LOGINDISABLED or AUTH=PLAIN). LITERAL- matches the receiver's default
 * `maxNonSyncLiteral` of 4096 (RFC 7888 §5, implied by IMAP4rev2); to offer LITERAL+ instead, raise
 * `maxNonSyncLiteral` to `maxLiteralSize` — then clients upload big APPENDs without waiting for a decision.
 */
export const PROTOCOL_CAPABILITIES: readonly string[] = [
  "IMAP4rev1",
  "IMAP4rev2",
  "LITERAL-",
  "SASL-IR",
  "ENABLE",
  "ID",
  "NAMESPACE",
  "UIDPLUS",
  "MOVE",
  "IDLE",
  "UNSELECT",
  "CHILDREN",
  "CONDSTORE",
  "QRESYNC",
  "LIST-EXTENDED",
  "LIST-STATUS",
  "SPECIAL-USE",
  "ESEARCH",
  "SEARCHRES",
  "BINARY",
  "STATUS=SIZE",
  "QUOTA",
  "QUOTA=RES-STORAGE",
  "UTF8=ACCEPT",
];
