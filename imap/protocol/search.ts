/**
 * @module
 * The SEARCH program (RFC 9051 §6.4.4, RFC 3501 §6.4.4) as a typed tree: search keys, CHARSET, the ESEARCH
 * result options (RFC 4731 §3.1), `$` (SEARCHRES, RFC 5182) and MODSEQ (CONDSTORE, RFC 7162 §3.1.5).
 *
 * The tree is normalised so that an evaluator has few cases: the flag keys (SEEN, UNSEEN, KEYWORD x, RECENT,
 * NEW, OLD, …) become `flag` nodes, FROM/TO/CC/BCC/SUBJECT become `header` nodes with a lower-case field name,
 * several keys in a row or in parentheses become `and`. Dates are ISO `YYYY-MM-DD` strings: RFC 9051 §6.4.4
 * compares dates "disregarding time and timezone", so the evaluator formats the message's date the same way
 * and compares strings.
 *
 * Called by `parseCommand` (parse.ts) with its reader positioned after `SEARCH `.
 */
import type { CommandReader } from "./parse.ts";
import type { SequenceSet } from "./sequence_set.ts";

/** RFC 4731 §3.1 / RFC 5182 §2: what an ESEARCH response returns (SAVE keeps the result for `$`). */
export type SearchReturnOption = "MIN" | "MAX" | "ALL" | "COUNT" | "SAVE";

/** RFC 9051 §6.4.4: the charsets a server must support; any other gets `NO [BADCHARSET (UTF-8 US-ASCII)]`. */
export const SEARCH_CHARSETS: readonly string[] = ["UTF-8", "US-ASCII"];

/** Nesting bound for NOT/OR/parentheses (DESIGN rule 7: a hostile client cannot exhaust the stack). */
export const MAX_SEARCH_DEPTH = 32;

/** RFC 7162 §3.1.5: the optional metadata item of a MODSEQ search key. */
export interface ModseqEntry {
  /** The entry name, e.g. `/flags/\draft`. */
  name: string;
  /** Which metadata: private, shared or both. */
  kind: "priv" | "shared" | "all";
}

/** One node of the search tree. */
export type SearchKey =
  /** ALL. */
  | { type: "all" }
  /**
   * A flag is set (`set: true`) or not: ANSWERED/UNANSWERED, DELETED, DRAFT, FLAGGED, SEEN (`\Seen`, …),
   * KEYWORD/UNKEYWORD x (case as sent; match case-insensitively), RECENT/OLD (`\Recent`).
   */
  | { type: "flag"; flag: string; set: boolean }
  /** HEADER field value, and FROM/TO/CC/BCC/SUBJECT: a case-insensitive substring of the field (RFC 9051 §6.4.4). */
  | { type: "header"; field: string; value: string }
  /** BODY: a substring of the body. */
  | { type: "body"; value: string }
  /** TEXT: a substring of the header or body. */
  | { type: "text"; value: string }
  /** BEFORE/ON/SINCE (internal date) and SENTBEFORE/SENTON/SENTSINCE (Date: header); `date` is `YYYY-MM-DD`. */
  | { type: "date"; field: "internal" | "sent"; op: "before" | "on" | "since"; date: string }
  /** LARGER/SMALLER than `size` octets (RFC822.SIZE). */
  | { type: "size"; op: "larger" | "smaller"; size: number }
  /** A message sequence set (`$` means the saved result). */
  | { type: "seq"; set: SequenceSet }
  /** UID set (`UID $` is the saved result). */
  | { type: "uid"; set: SequenceSet }
  /** MODSEQ: messages whose mod-sequence is ≥ `modseq` (RFC 7162 §3.1.5). */
  | { type: "modseq"; modseq: number; entry: ModseqEntry | null }
  /** NOT key. */
  | { type: "not"; key: SearchKey }
  /** OR key1 key2. */
  | { type: "or"; left: SearchKey; right: SearchKey }
  /** All of the keys (a parenthesised list, or the keys of the program in a row). */
  | { type: "and"; keys: SearchKey[] };

/** A parsed SEARCH: result options (null: a classic `* SEARCH` reply), charset and the criteria. */
export interface SearchProgram {
  /** RFC 4731 §3.1: the RETURN options; an empty `RETURN ()` means ALL. Null without RETURN. */
  returns: SearchReturnOption[] | null;
  /** The CHARSET given (upper case), or null. */
  charset: string | null;
  /** The criteria; several top-level keys become one `and`. */
  criteria: SearchKey;
}

const FLAG_KEYS: Record<string, readonly [string, boolean]> = {
  ANSWERED: ["\\Answered", true],
  DELETED: ["\\Deleted", true],
  DRAFT: ["\\Draft", true],
  FLAGGED: ["\\Flagged", true],
  SEEN: ["\\Seen", true],
  RECENT: ["\\Recent", true],
  OLD: ["\\Recent", false],
  UNANSWERED: ["\\Answered", false],
  UNDELETED: ["\\Deleted", false],
  UNDRAFT: ["\\Draft", false],
  UNFLAGGED: ["\\Flagged", false],
  UNSEEN: ["\\Seen", false],
};

const HEADER_KEYS: Record<string, string> = { BCC: "bcc", CC: "cc", FROM: "from", SUBJECT: "subject", TO: "to" };

const DATE_KEYS: Record<string, readonly ["internal" | "sent", "before" | "on" | "since"]> = {
  BEFORE: ["internal", "before"],
  ON: ["internal", "on"],
  SINCE: ["internal", "since"],
  SENTBEFORE: ["sent", "before"],
  SENTON: ["sent", "on"],
  SENTSINCE: ["sent", "since"],
};

const RETURN_OPTIONS = new Set<string>(["MIN", "MAX", "ALL", "COUNT", "SAVE"]);

/**
 * Parses `[RETURN (…)] [CHARSET x] key *(SP key)` (RFC 9051 §9 `search`, RFC 4731 §3.1). Throws `ImapBad`
 * (syntax) or `ImapNo [BADCHARSET (UTF-8 US-ASCII)]` (RFC 9051 §6.4.4).
 */
export function parseSearchProgram(r: CommandReader): SearchProgram {
  let returns: SearchReturnOption[] | null = null;
  if (r.tryKeyword("RETURN")) {
    r.sp();
    const opts = r.parenList(() => {
      const o = r.keyword("search return option");
      if (!RETURN_OPTIONS.has(o)) r.bad(`Unknown SEARCH RETURN option "${o}"`);
      return o as SearchReturnOption;
    });
    // RFC 4731 §3.1: "RETURN ()" is the same as "RETURN (ALL)".
    returns = opts.length ? [...new Set(opts)] : ["ALL"];
    r.sp();
  }
  let charset: string | null = null;
  if (r.tryKeyword("CHARSET")) {
    r.sp();
    charset = r.astringText("charset").toUpperCase();
    if (!SEARCH_CHARSETS.includes(charset)) {
      r.no(`Unsupported charset "${charset}"`, { code: "BADCHARSET", charsets: SEARCH_CHARSETS });
    }
    r.sp();
  }
  const keys = [searchKey(r, 0)];
  while (r.trySp()) {
    if (r.atEnd) break;
    keys.push(searchKey(r, 0));
  }
  return { returns, charset, criteria: keys.length === 1 ? keys[0]! : { type: "and", keys } };
}

function searchKey(r: CommandReader, depth: number): SearchKey {
  if (depth > MAX_SEARCH_DEPTH) r.bad("Search criteria nested too deeply");
  const c = r.peek();
  if (c === 0x28) {
    const keys = r.parenList(() => searchKey(r, depth + 1), { allowEmpty: false, what: "search key list" });
    return keys.length === 1 ? keys[0]! : { type: "and", keys };
  }
  // RFC 9051 §9: search-key =/ sequence-set; RFC 5182 §2: "$".
  if ((c >= 0x30 && c <= 0x39) || c === 0x2a || c === 0x24) return { type: "seq", set: r.sequenceSet() };
  const name = r.keyword("search key");
  const flag = FLAG_KEYS[name];
  if (flag) return { type: "flag", flag: flag[0], set: flag[1] };
  const header = HEADER_KEYS[name];
  if (header) {
    r.sp();
    return { type: "header", field: header, value: r.astringText("search string") };
  }
  const date = DATE_KEYS[name];
  if (date) {
    r.sp();
    return { type: "date", field: date[0], op: date[1], date: r.searchDate() };
  }
  switch (name) {
    case "ALL":
      return { type: "all" };
    case "NEW": // RFC 3501 §6.4.4: RECENT UNSEEN.
      return {
        type: "and",
        keys: [{ type: "flag", flag: "\\Recent", set: true }, { type: "flag", flag: "\\Seen", set: false }],
      };
    case "KEYWORD":
    case "UNKEYWORD":
      r.sp();
      return { type: "flag", flag: r.flagKeyword(), set: name === "KEYWORD" };
    case "BODY":
    case "TEXT":
      r.sp();
      return { type: name === "BODY" ? "body" : "text", value: r.astringText("search string") };
    case "HEADER": {
      r.sp();
      const field = r.astringText("header field name").toLowerCase();
      if (!/^[\x21-\x39\x3b-\x7e]+$/.test(field)) r.bad(`Invalid header field name "${field}"`);
      r.sp();
      return { type: "header", field, value: r.astringText("search string") };
    }
    case "LARGER":
    case "SMALLER":
      r.sp();
      return { type: "size", op: name === "LARGER" ? "larger" : "smaller", size: r.number64("size") };
    case "NOT":
      r.sp();
      return { type: "not", key: searchKey(r, depth + 1) };
    case "OR": {
      r.sp();
      const left = searchKey(r, depth + 1);
      r.sp();
      return { type: "or", left, right: searchKey(r, depth + 1) };
    }
    case "UID":
      r.sp();
      return { type: "uid", set: r.sequenceSet() };
    case "MODSEQ":
      return modseqKey(r);
  }
  return r.bad(`Unknown search key "${name}"`);
}

// RFC 7162 §3.1.5: "MODSEQ" [SP entry-name SP entry-type-req] SP mod-sequence-valzer.
function modseqKey(r: CommandReader): SearchKey {
  r.sp();
  let entry: ModseqEntry | null = null;
  if (r.peek() === 0x22 || r.peek() === 0x7b) {
    const name = r.stringText("MODSEQ entry name");
    r.sp();
    const kind = r.keyword("MODSEQ entry type").toLowerCase();
    if (kind !== "priv" && kind !== "shared" && kind !== "all") r.bad(`Invalid MODSEQ entry type "${kind}"`);
    entry = { name, kind: kind as ModseqEntry["kind"] };
    r.sp();
  }
  return { type: "modseq", modseq: r.number64("mod-sequence"), entry };
}

/** True when the tree uses MODSEQ: the search enables CONDSTORE and its result carries MODSEQ (RFC 7162 §3.1). */
export function searchUsesModseq(key: SearchKey): boolean {
  switch (key.type) {
    case "modseq":
      return true;
    case "not":
      return searchUsesModseq(key.key);
    case "or":
      return searchUsesModseq(key.left) || searchUsesModseq(key.right);
    case "and":
      return key.keys.some(searchUsesModseq);
    default:
      return false;
  }
}

/** True when the tree refers to `$` (RFC 5182 §2.1: the session answers `NO [NOTSAVED]` without a saved result). */
export function searchUsesSaved(key: SearchKey): boolean {
  switch (key.type) {
    case "seq":
    case "uid":
      return key.set.saved;
    case "not":
      return searchUsesSaved(key.key);
    case "or":
      return searchUsesSaved(key.left) || searchUsesSaved(key.right);
    case "and":
      return key.keys.some(searchUsesSaved);
    default:
      return false;
  }
}
