/**
 * @module
 * Shared pieces of the command handlers: resolving message sets to UIDs, looking up mailboxes by name, and
 * mapping store errors to IMAP replies.
 */
import { ConflictError, InvalidInputError, type Mailbox, NotFoundError, QuotaExceededError } from "../../store/mod.ts";
import { imapError, ImapNo, type SequenceSet } from "../protocol/mod.ts";
import type { ImapContext } from "../session.ts";
import type { SelectedMailbox } from "../selected_mailbox.ts";

/** The selected mailbox (the state table guarantees one). */
export function selected(ctx: ImapContext): SelectedMailbox {
  const sel = ctx.state.selected;
  if (!sel) throw imapError("NO_MAILBOX_SELECTED");
  return sel;
}

/** The logged-in account (the state table guarantees one). */
export function account(ctx: ImapContext) {
  const a = ctx.state.account;
  if (!a) throw imapError("WRONG_STATE");
  return a;
}

/**
 * The UIDs a message set names, ascending, among the messages the client knows. Sequence numbers beyond the
 * mailbox are an error (RFC 9051 §9 "seq-number"); UIDs that do not exist are ignored.
 */
export function resolveSet(ctx: ImapContext, set: SequenceSet, uid: boolean): number[] {
  const sel = selected(ctx);
  const known = sel.uids;
  let out: number[];
  if (uid) {
    out = set.select(known, known.length ? known[known.length - 1]! : 0);
  } else {
    if (set.highestExplicit > known.length && !set.saved) throw imapError("BAD_SEQUENCE");
    // resolve() gives sorted, disjoint intervals and `known` is ascending: the slices are the UIDs in order, each
    // once (no set, no sort: `FETCH 1:*` of 100,000 messages is one copy).
    out = [];
    for (const [a, b] of set.resolve(known.length)) {
      for (let i = a; i <= b; i++) out.push(known[i - 1]!);
    }
  }
  if (set.saved) {
    const saved = ctx.state.saved;
    if (!saved) throw imapError("NOT_SAVED");
    const present = new Set(known);
    out = [...new Set([...out, ...saved.filter((u) => present.has(u))])].sort((x, y) => x - y);
  }
  return out;
}

/** UIDs as ranges `[from, to]` (for store queries). */
export function toRanges(uids: readonly number[]): [number, number][] {
  const out: [number, number][] = [];
  for (const u of uids) {
    const last = out[out.length - 1];
    if (last && u === last[1] + 1) last[1] = u;
    else out.push([u, u]);
  }
  return out;
}

/** A mailbox of the account by name; `NO [NONEXISTENT]` (or `[TRYCREATE]` for APPEND/COPY targets). */
export async function mailboxByName(
  ctx: ImapContext,
  name: string,
  missing: "NONEXISTENT" | "TRYCREATE" = "NONEXISTENT",
): Promise<Mailbox> {
  const box = await ctx.o.store.mailboxes.get(account(ctx).id, name);
  if (!box) throw imapError(missing);
  return box;
}

/** Turns the store's domain errors into IMAP replies; rethrows anything else. */
export function storeError(e: unknown): never {
  if (e instanceof QuotaExceededError) throw imapError("OVER_QUOTA");
  if (e instanceof ConflictError) {
    if (/children/.test(e.message)) throw imapError("HAS_CHILDREN");
    throw imapError("ALREADY_EXISTS");
  }
  if (e instanceof NotFoundError) throw imapError("NONEXISTENT");
  if (e instanceof InvalidInputError) {
    if (/INBOX cannot be deleted/.test(e.message)) throw imapError("CANNOT_DELETE_INBOX");
    throw new ImapNo(e.message, { code: "CANNOT" });
  }
  throw e;
}

/** System flags in their canonical case (RFC 9051 §2.3.2); keywords as given. */
export function canonicalFlags(flags: readonly string[]): string[] {
  const system: Record<string, string> = {
    "\\seen": "\\Seen",
    "\\answered": "\\Answered",
    "\\flagged": "\\Flagged",
    "\\deleted": "\\Deleted",
    "\\draft": "\\Draft",
  };
  return flags.filter((f) => f.toLowerCase() !== "\\recent").map((f) => system[f.toLowerCase()] ?? f);
}

/** CONDSTORE is on for this session (ENABLEd, or implied by a CONDSTORE-using command, RFC 7162 §3.1). */
export function condstore(ctx: ImapContext): boolean {
  return ctx.state.enabled.has("CONDSTORE") || ctx.state.enabled.has("QRESYNC");
}
