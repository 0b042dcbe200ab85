/**
 * @module
 * Mailbox commands (RFC 9051 §6.3): SELECT/EXAMINE (with CONDSTORE/QRESYNC, RFC 7162), CREATE (with USE,
 * RFC 6154), DELETE, RENAME, SUBSCRIBE, UNSUBSCRIBE, LIST (LIST-EXTENDED RFC 5258, LIST-STATUS RFC 5819,
 * SPECIAL-USE RFC 6154), LSUB, STATUS (STATUS=SIZE RFC 8438), and QUOTA (RFC 9208).
 */
import type { Mailbox, MailboxStatus } from "../../store/mod.ts";
import {
  type CreateCommand,
  existsResponse,
  flagList,
  flagsResponse,
  type GetQuotaCommand,
  imapError,
  type ListCommand,
  listResponse,
  type LsubCommand,
  type MailboxCommand,
  quotaResponse,
  quotaRootResponse,
  recentResponse,
  type RenameCommand,
  type SelectCommand,
  type SetQuotaCommand,
  type StatusCommand,
  type StatusItem,
  statusResponse,
  untaggedStatus,
  vanishedResponse,
} from "../protocol/mod.ts";
import { SelectedMailbox } from "../selected_mailbox.ts";
import type { HandlerResult, ImapContext } from "../session.ts";
import { account, mailboxByName, storeError, toRanges } from "./_util.ts";

const SYSTEM_FLAGS = ["\\Answered", "\\Flagged", "\\Deleted", "\\Seen", "\\Draft"];
/** Keywords announced in FLAGS (RFC 9051 §2.3.2, IANA registry); any other may be created (`\*`). */
const COMMON_KEYWORDS = ["$Forwarded", "$Junk", "$NotJunk", "$MDNSent", "$Phishing"];

/** The SELECT/EXAMINE responses that never change: FLAGS, and PERMANENTFLAGS for SELECT and for EXAMINE. */
const FLAGS_LINE = flagsResponse([...SYSTEM_FLAGS, ...COMMON_KEYWORDS]);
const PERMANENT_FLAGS_LINE = untaggedStatus("OK", "Flags permitted", {
  code: "PERMANENTFLAGS",
  flags: [...SYSTEM_FLAGS, ...COMMON_KEYWORDS, "\\*"],
});
const NO_PERMANENT_FLAGS_LINE = untaggedStatus("OK", "Flags permitted", { code: "PERMANENTFLAGS", flags: [] });

/** SELECT and EXAMINE. */
export async function select(ctx: ImapContext, cmd: SelectCommand): Promise<HandlerResult> {
  // RFC 9051 §6.3.2: a SELECT first deselects the current mailbox, even when the new one fails. Its state is
  // kept until the new mailbox is known: selecting the same one again takes it over.
  const previous = ctx.state.selected;
  ctx.state.selected = null;
  let sel: SelectedMailbox | undefined;
  const readOnly = cmd.name === "EXAMINE";
  try {
    if (previous && ctx.state.enabled.has("QRESYNC")) {
      await ctx.write(untaggedStatus("OK", "Previous mailbox closed", "CLOSED"));
    }
    if (cmd.qresync && !ctx.state.enabled.has("QRESYNC")) throw imapError("QRESYNC_NOT_ENABLED");
    if (cmd.condstore) ctx.state.enabled.add("CONDSTORE");
    const box = previous?.known(cmd.mailbox) ?? await mailboxByName(ctx, cmd.mailbox);
    if (previous && await previous.reselect(ctx.o.store, box, readOnly)) sel = previous;
    else sel = await SelectedMailbox.open(ctx.o.store, box, readOnly);
  } finally {
    if (previous && previous !== sel) previous.close();
  }
  try {
    return await describeSelected(ctx, cmd, sel, readOnly);
  } catch (e) {
    sel.close(); // not selected after all: stop watching (the client may have gone)
    throw e;
  }
}

/** The SELECT/EXAMINE responses for `sel`, which becomes the selected mailbox. */
async function describeSelected(
  ctx: ImapContext,
  cmd: SelectCommand,
  sel: SelectedMailbox,
  readOnly: boolean,
): Promise<HandlerResult> {
  const m = sel.mailbox;
  const lines = [FLAGS_LINE, existsResponse(sel.exists)];
  if (!ctx.state.enabled.has("IMAP4REV2")) lines.push(recentResponse(0));
  lines.push(
    readOnly ? NO_PERMANENT_FLAGS_LINE : PERMANENT_FLAGS_LINE,
    untaggedStatus("OK", "UIDs valid", { code: "UIDVALIDITY", value: m.uidValidity }),
    // A delivery that committed while a re-SELECT caught up is in EXISTS: UIDNEXT must be above it.
    untaggedStatus("OK", "Predicted next UID", {
      code: "UIDNEXT",
      value: Math.max(m.uidNext, (sel.uids.at(-1) ?? 0) + 1),
    }),
    // The session's own changes since the mailbox was read are above what it says.
    untaggedStatus("OK", "Highest", { code: "HIGHESTMODSEQ", value: Math.max(m.highestModseq, sel.modseq) }),
  );
  await ctx.write(lines.join(""));
  // RFC 7162 §3.2.5: QRESYNC — what vanished and what changed since the client's last known state.
  if (cmd.qresync && cmd.qresync.uidValidity === m.uidValidity) {
    const since = cmd.qresync.modseq;
    let vanished = await ctx.o.store.messages.expungedSince(m.id, since);
    if (cmd.qresync.knownUids) {
      const max = Math.max(m.uidNext, 1);
      vanished = vanished.filter((u) => cmd.qresync!.knownUids!.contains(u, max));
    }
    if (vanished.length) await ctx.write(vanishedResponse(vanished, true));
    const changed = await ctx.o.store.messages.meta(m.id, toRanges(sel.uids), { changedSince: since });
    const out = changed.map((c) =>
      `* ${sel.seqOf(c.uid)} FETCH (UID ${c.uid} FLAGS ${flagList(c.flags)} MODSEQ (${c.modseq}))\r\n`
    );
    if (out.length) await ctx.write(out.join(""));
  }
  ctx.state.selected = sel;
  ctx.state.saved = null;
  return readOnly ? { text: "EXAMINE completed", code: "READ-ONLY" } : { text: "SELECT completed", code: "READ-WRITE" };
}

/** CREATE. */
export async function create(ctx: ImapContext, cmd: CreateCommand): Promise<void> {
  const use = cmd.specialUse[0] ?? null;
  if (
    cmd.specialUse.length > 1 ||
    (use && !["\\Sent", "\\Drafts", "\\Trash", "\\Junk", "\\Archive", "\\All", "\\Flagged"].includes(use))
  ) {
    throw imapError("USEATTR");
  }
  try {
    await ctx.o.store.mailboxes.create(account(ctx).id, cmd.mailbox, { specialUse: use });
  } catch (e) {
    storeError(e);
  }
}

/** DELETE. */
export async function remove(ctx: ImapContext, cmd: MailboxCommand): Promise<void> {
  if (ctx.state.selected?.mailbox.name === cmd.mailbox) {
    ctx.state.selected.close();
    ctx.state.selected = null;
  }
  try {
    await ctx.o.store.mailboxes.remove(account(ctx).id, cmd.mailbox);
  } catch (e) {
    storeError(e);
  }
}

/** RENAME. */
export async function rename(ctx: ImapContext, cmd: RenameCommand): Promise<void> {
  try {
    await ctx.o.store.mailboxes.rename(account(ctx).id, cmd.from, cmd.to);
  } catch (e) {
    storeError(e);
  }
}

/** SUBSCRIBE and UNSUBSCRIBE. */
export async function subscribe(ctx: ImapContext, cmd: MailboxCommand): Promise<void> {
  try {
    await ctx.o.store.mailboxes.setSubscribed(account(ctx).id, cmd.mailbox, cmd.name === "SUBSCRIBE");
  } catch (e) {
    // RFC 9051 §6.3.8: UNSUBSCRIBE of a name that is not subscribed may succeed.
    if (cmd.name === "UNSUBSCRIBE") return;
    storeError(e);
  }
}

/** A LIST pattern as a regular expression: `*` any characters, `%` any but the separator (RFC 9051 §6.3.9). */
export function patternToRegExp(pattern: string): RegExp {
  const body = pattern.split("").map((c) =>
    c === "*" ? ".*" : c === "%" ? "[^/]*" : c.replace(/[.+?^${}()|[\]\\]/g, "\\$&")
  )
    .join("");
  // INBOX is case-insensitive, and so is an INBOX prefix of a pattern.
  return new RegExp(`^${body.replace(/^INBOX/i, "(?:INBOX|inbox|Inbox)")}$`, "u");
}

function matches(name: string, patterns: RegExp[]): boolean {
  return patterns.some((re) => re.test(name) || (name === "INBOX" && re.test("inbox")));
}

/** LIST (basic and extended). */
export async function list(ctx: ImapContext, cmd: ListCommand): Promise<void> {
  const opts = { utf8: ctx.utf8 };
  if (cmd.patterns.length === 1 && cmd.patterns[0] === "" && !cmd.extended) {
    // RFC 9051 §6.3.9: the hierarchy delimiter and root.
    await ctx.write(listResponse({ attributes: ["\\Noselect"], delimiter: "/", name: "" }, opts));
    return;
  }
  const boxes = await ctx.o.store.mailboxes.list(account(ctx).id);
  const res = cmd.patterns.map((p) => patternToRegExp(cmd.reference + p));
  const children = new Set(boxes.map((b) => b.name.includes("/") ? b.name.slice(0, b.name.lastIndexOf("/")) : ""));
  // RFC 5258 §3.5: CHILDINFO names a parent with a matching descendant at any depth, not only a direct child.
  const subscribedChildren = new Set<string>();
  for (const b of boxes) {
    if (!b.subscribed) continue;
    for (let i = b.name.indexOf("/"); i > 0; i = b.name.indexOf("/", i + 1)) subscribedChildren.add(b.name.slice(0, i));
  }
  const lines: string[] = [];
  const statusFor: Mailbox[] = [];
  for (const b of boxes) {
    if (!matches(b.name, res)) continue;
    const attrs: string[] = [];
    let childInfo: string[] | undefined;
    if (cmd.selection.subscribed && !b.subscribed) {
      if (!(cmd.selection.recursiveMatch && subscribedChildren.has(b.name))) continue;
      childInfo = ["SUBSCRIBED"];
    }
    if (cmd.selection.specialUse && !b.specialUse) continue;
    attrs.push(children.has(b.name) ? "\\HasChildren" : "\\HasNoChildren");
    if (b.subscribed && (cmd.returns.subscribed || cmd.selection.subscribed)) attrs.push("\\Subscribed");
    // RFC 6154 §2: special-use attributes in every LIST unless the client asked for other return options only.
    if (b.specialUse) attrs.push(b.specialUse); // RFC 6154 §2: servers may always include them
    lines.push(
      listResponse({ attributes: attrs, delimiter: "/", name: b.name, ...(childInfo ? { childInfo } : {}) }, opts),
    );
    statusFor.push(b);
  }
  if (cmd.returns.status && statusFor.length) {
    // RFC 5819: a STATUS line after each LIST line.
    const st = await ctx.o.store.mailboxes.status(statusFor.map((b) => b.id));
    const out: string[] = [];
    statusFor.forEach((b, i) => {
      out.push(lines[i]!);
      const s = st.get(b.id);
      if (s) out.push(statusResponse(b.name, statusItems(ctx, cmd.returns.status!, s), opts));
    });
    await ctx.write(out.join(""));
  } else if (lines.length) await ctx.write(lines.join(""));
}

/** LSUB (IMAP4rev1): subscribed mailboxes. */
export async function lsub(ctx: ImapContext, cmd: LsubCommand): Promise<void> {
  const boxes = await ctx.o.store.mailboxes.list(account(ctx).id);
  const re = [patternToRegExp(cmd.reference + cmd.pattern)];
  const lines = boxes.filter((b) => b.subscribed && matches(b.name, re)).map((b) =>
    listResponse({ attributes: [], delimiter: "/", name: b.name }, { utf8: ctx.utf8, lsub: true })
  );
  if (lines.length) await ctx.write(lines.join(""));
}

function statusItems(ctx: ImapContext, items: readonly StatusItem[], s: MailboxStatus): [string, number][] {
  const values: Record<StatusItem, number> = {
    MESSAGES: s.messages,
    UIDNEXT: s.uidNext,
    UIDVALIDITY: s.uidValidity,
    UNSEEN: s.unseen,
    DELETED: s.deleted,
    SIZE: s.size,
    RECENT: 0,
    HIGHESTMODSEQ: s.highestModseq,
    APPENDLIMIT: ctx.o.limits.maxMessageSize,
    "DELETED-STORAGE": 0,
  };
  return items.map((i) => [i, values[i]]);
}

/** STATUS. */
export async function status(ctx: ImapContext, cmd: StatusCommand): Promise<void> {
  const box = await mailboxByName(ctx, cmd.mailbox);
  const s = (await ctx.o.store.mailboxes.status([box.id])).get(box.id);
  if (!s) throw imapError("NONEXISTENT");
  await ctx.write(statusResponse(box.name, statusItems(ctx, cmd.items, s), { utf8: ctx.utf8 }));
}

/** The one quota root: the account (""), STORAGE in KiB (RFC 9208 §5.1). */
async function quotaLines(ctx: ImapContext): Promise<string> {
  const a = await ctx.o.store.accounts.get(account(ctx).address);
  if (!a?.quotaBytes) return "";
  return quotaResponse("", [["STORAGE", Math.ceil(a.usedBytes / 1024), Math.floor(a.quotaBytes / 1024)]]);
}

/** GETQUOTAROOT. */
export async function getQuotaRoot(ctx: ImapContext, cmd: MailboxCommand): Promise<void> {
  const box = await mailboxByName(ctx, cmd.mailbox);
  const q = await quotaLines(ctx);
  await ctx.write(quotaRootResponse(box.name, q ? [""] : [], { utf8: ctx.utf8 }) + q);
}

/** GETQUOTA. */
export async function getQuota(ctx: ImapContext, cmd: GetQuotaCommand): Promise<void> {
  const q = cmd.root === "" ? await quotaLines(ctx) : "";
  if (!q) throw imapError("NO_SUCH_QUOTA_ROOT");
  await ctx.write(q);
}

/** SETQUOTA: quotas are set by the administrator. */
export function setQuota(_ctx: ImapContext, _cmd: SetQuotaCommand): Promise<void> {
  throw imapError("SETQUOTA_DENIED");
}
