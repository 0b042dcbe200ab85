/**
 * @module
 * Commands that change messages: STORE (RFC 9051 §6.4.6, UNCHANGEDSINCE RFC 7162 §3.1.3), COPY and MOVE
 * (§6.4.7, RFC 6851, COPYUID RFC 4315), EXPUNGE and UID EXPUNGE (§6.4.3, RFC 4315), APPEND (§6.3.12, APPENDUID,
 * Sent de-duplication), and SEARCH (§6.4.4, ESEARCH RFC 4731, SEARCHRES RFC 5182, CONDSTORE MODSEQ).
 */
import { parseMessage } from "../../mail/parse.ts";
import { normalizeFlags, type SearchCriteria } from "../../store/mod.ts";
import {
  type AppendCommand,
  type CopyCommand,
  esearchResponse,
  type ExpungeCommand,
  expungeResponse,
  flagList,
  imapError,
  type SearchCommand,
  type SearchKey,
  searchResponse,
  searchUsesModseq,
  type StoreCommand,
  untaggedStatus,
  vanishedResponse,
} from "../protocol/mod.ts";
import type { HandlerResult, ImapContext } from "../session.ts";
import {
  account,
  canonicalFlags,
  condstore,
  mailboxByName,
  resolveSet,
  selected,
  storeError,
  toRanges,
} from "./_util.ts";

/** STORE / UID STORE. */
export async function store(ctx: ImapContext, cmd: StoreCommand): Promise<HandlerResult> {
  const sel = selected(ctx);
  if (sel.readOnly) throw imapError("READ_ONLY");
  if (cmd.unchangedSince !== null) ctx.state.enabled.add("CONDSTORE");
  const uids = resolveSet(ctx, cmd.set, cmd.uid);
  // The selected mailbox may have been deleted by another session meanwhile: NO [NONEXISTENT], not SERVERBUG.
  const r = await ctx.o.store.messages.storeFlags(
    sel.mailbox.id,
    uids,
    cmd.action,
    canonicalFlags(cmd.flags),
    cmd.unchangedSince ?? undefined,
  ).catch(storeError);
  sel.noteFlags(r.updated);
  if (r.updated[0]) sel.ownChange(r.updated[0].modseq);
  const withModseq = condstore(ctx);
  // RFC 7162 §3.1.3: with UNCHANGEDSINCE, FETCH responses are sent even for .SILENT so the client learns MODSEQ.
  if (!cmd.silent || cmd.unchangedSince !== null) {
    const lines = r.updated.map((u) => {
      const seq = sel.seqOf(u.uid);
      const parts = [`UID ${u.uid}`];
      if (!cmd.silent) parts.push(`FLAGS ${flagList(u.flags)}`);
      if (withModseq) parts.push(`MODSEQ (${u.modseq})`);
      return `* ${seq} FETCH (${parts.join(" ")})\r\n`;
    });
    if (lines.length) await ctx.write(lines.join(""));
  }
  if (r.modified.length) {
    const set = cmd.uid ? r.modified : r.modified.map((u) => sel.seqOf(u)).sort((a, b) => a - b);
    return { code: { code: "MODIFIED", set }, text: "Conditional STORE failed" };
  }
  return {};
}

/** COPY / MOVE and their UID forms. */
export async function copy(ctx: ImapContext, cmd: CopyCommand): Promise<HandlerResult> {
  const sel = selected(ctx);
  const move = cmd.name === "MOVE";
  if (move && sel.readOnly) throw imapError("READ_ONLY");
  const uids = resolveSet(ctx, cmd.set, cmd.uid);
  const target = await mailboxByName(ctx, cmd.mailbox, "TRYCREATE");
  const acct = await ctx.o.store.accounts.get(account(ctx).address);
  let pairs: [number, number][];
  try {
    pairs = await ctx.o.store.messages.copy(sel.mailbox.id, uids, target.id, {
      move,
      ...(acct?.quotaBytes ? { quotaBytes: acct.quotaBytes } : {}),
    });
  } catch (e) {
    storeError(e);
  }
  if (!pairs.length) return { text: "No messages" };
  // Into the selected mailbox itself: report EXISTS now, not when the change notification happens to arrive.
  if (target.id === sel.mailbox.id) sel.dirty = true;
  const code = {
    code: "COPYUID" as const,
    uidValidity: target.uidValidity,
    source: pairs.map((p) => p[0]),
    destination: pairs.map((p) => p[1]),
  };
  if (!move) return { code };
  // RFC 6851 §4.3: COPYUID in an untagged OK, then the expunges, then the tagged OK.
  await ctx.write(untaggedStatus("OK", "Moved", code));
  await reportExpunged(ctx, pairs.map((p) => p[0]));
  return {};
}

async function reportExpunged(ctx: ImapContext, uids: number[]): Promise<void> {
  const sel = selected(ctx);
  if (!uids.length) return;
  if (ctx.state.enabled.has("QRESYNC")) await ctx.write(vanishedResponse(uids, false));
  else {
    const seqs = uids.map((u) => sel.seqOf(u)).filter((s) => s > 0).sort((a, b) => b - a);
    await ctx.write(seqs.map((s) => expungeResponse(s)).join(""));
  }
  sel.forget(uids);
}

/** EXPUNGE and UID EXPUNGE. */
export async function expunge(ctx: ImapContext, cmd: ExpungeCommand): Promise<void> {
  const sel = selected(ctx);
  if (sel.readOnly) throw imapError("READ_ONLY");
  // Report what others expunged first, so our sequence numbers are right.
  await ctx.flushUpdates(true);
  const only = cmd.uids ? resolveSet(ctx, cmd.uids, true) : undefined;
  const gone = await ctx.o.store.messages.expunge(sel.mailbox.id, only);
  await reportExpunged(ctx, gone.uids);
  if (gone.modseq !== null) sel.ownChange(gone.modseq);
}

/** APPEND: OK [APPENDUID]; to Sent, a message already saved at submission is not stored twice. */
export async function append(ctx: ImapContext, cmd: AppendCommand): Promise<HandlerResult> {
  if (cmd.message.length > ctx.o.limits.maxMessageSize) throw imapError("MESSAGE_TOO_BIG");
  const flags = canonicalFlags(cmd.flags);
  let r;
  try {
    r = await ctx.o.store.messages.append({ accountId: account(ctx).id, name: cmd.mailbox }, {
      raw: cmd.message,
      parsed: parseMessage(cmd.message),
      flags,
      ...(cmd.internalDate ? { internalDate: cmd.internalDate } : {}),
    });
  } catch (e) {
    storeError(e);
  }
  if (!r) throw imapError("TRYCREATE");
  if (r.existing) ctx.o.log.info("APPEND to Sent matched a submitted copy", { uid: r.uid });
  const sel = ctx.state.selected;
  if (sel?.mailbox.id === r.mailbox.id) {
    const exists = r.modseq === undefined ? null : sel.ownAppend(r.uid, r.modseq, normalizeFlags(flags));
    if (exists) await ctx.write(exists);
    else sel.dirty = true;
  }
  return { code: { code: "APPENDUID", uidValidity: r.mailbox.uidValidity, uids: [r.uid] }, text: "APPEND completed" };
}

/** Converts the parsed search keys to store criteria (sequence numbers become UIDs). */
function toCriteria(ctx: ImapContext, key: SearchKey): SearchCriteria {
  switch (key.type) {
    case "seq":
      return { type: "uids", ranges: toRanges(resolveSet(ctx, key.set, false)) };
    case "uid":
      return { type: "uids", ranges: toRanges(resolveSet(ctx, key.set, true)) };
    case "modseq":
      return { type: "modseq", modseq: key.modseq };
    case "not":
      return { type: "not", key: toCriteria(ctx, key.key) };
    case "or":
      return { type: "or", left: toCriteria(ctx, key.left), right: toCriteria(ctx, key.right) };
    case "and":
      return { type: "and", keys: key.keys.map((k) => toCriteria(ctx, k)) };
    case "flag":
      return { type: "flag", flag: canonicalFlags([key.flag])[0] ?? key.flag, set: key.set };
    default:
      return key;
  }
}

/** SEARCH / UID SEARCH. */
export async function search(ctx: ImapContext, cmd: SearchCommand): Promise<void> {
  const sel = selected(ctx);
  const usesModseq = searchUsesModseq(cmd.criteria);
  if (usesModseq) ctx.state.enabled.add("CONDSTORE");
  const criteria = toCriteria(ctx, cmd.criteria);
  // Flags, UIDs and MODSEQs only: answered from the session's flags, with the sequence numbers.
  const inMemory = await sel.searchFlags(ctx.o.store, criteria);
  let known: number[], numbers: number[], highestModseq: number;
  if (inMemory) {
    ({ uids: known, highestModseq } = inMemory);
    numbers = cmd.uid ? known : inMemory.seqs;
  } else {
    const found = await ctx.o.store.messages.search(sel.mailbox.id, criteria);
    highestModseq = found.highestModseq;
    // Only messages this session knows of (a message delivered meanwhile is reported by EXISTS first).
    known = found.uids.filter((u) => sel.seqOf(u) > 0);
    numbers = cmd.uid ? known : known.map((u) => sel.seqOf(u));
  }
  const returns = cmd.returns ?? (ctx.state.enabled.has("IMAP4REV2") ? ["ALL"] : null);
  const modseq = usesModseq && known.length ? highestModseq : undefined;
  if (returns === null) {
    await ctx.write(searchResponse(numbers, modseq));
    return;
  }
  const want = new Set(returns.length ? returns : ["ALL"]);
  if (want.has("SAVE")) {
    ctx.state.saved = known;
    want.delete("SAVE");
    if (!want.size && cmd.returns && cmd.returns.length === 1) return; // RFC 5182 §2.4: SAVE alone: no ESEARCH
  }
  await ctx.write(esearchResponse({
    tag: cmd.tag,
    uid: cmd.uid,
    ...(want.has("MIN") && numbers.length ? { min: numbers[0]! } : {}),
    ...(want.has("MAX") && numbers.length ? { max: numbers[numbers.length - 1]! } : {}),
    ...(want.has("COUNT") ? { count: numbers.length } : {}),
    ...(want.has("ALL") && numbers.length ? { all: numbers } : {}),
    ...(modseq !== undefined ? { modseq } : {}),
  }));
}
