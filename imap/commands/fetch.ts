/**
 * @module
 * FETCH and UID FETCH (RFC 9051 §6.4.5), with CHANGEDSINCE/VANISHED (RFC 7162) and BINARY (RFC 3516).
 * Everything comes from what was parsed at delivery: ENVELOPE and BODYSTRUCTURE are precomputed strings, and a
 * section is a slice of the stored bytes at the part's offsets. FLAGS/UID fetches never read bodies; header
 * fetches read only the header bytes. Messages go out in batches, each body as its own chunk (no copies).
 */
import { decodeBody, findPart, headerFields, type MessageStructure, type Part } from "../../mail/parse.ts";
import type { MessageMeta } from "../../store/mod.ts";
import {
  type FetchAttribute,
  type FetchCommand,
  type FetchItem,
  fetchItemName,
  fetchResponse,
  fetchResponseText,
  flagList,
  formatInternalDate,
  imapError,
  type Section,
  vanishedResponse,
} from "../protocol/mod.ts";
import type { FlagState } from "../../store/mod.ts";
import type { SelectedMailbox } from "../selected_mailbox.ts";
import type { ImapContext } from "../session.ts";
import { condstore, resolveSet, selected, storeError, toRanges } from "./_util.ts";

const META_BATCH = 1000;
const FLAGS_BATCH = 10_000;
const CONTENT_BATCH = 50;

/** FETCH / UID FETCH. */
export async function fetch(ctx: ImapContext, cmd: FetchCommand): Promise<void> {
  const sel = selected(ctx);
  if (cmd.vanished && !ctx.state.enabled.has("QRESYNC")) throw imapError("QRESYNC_NOT_ENABLED");
  if (cmd.changedSince !== null || cmd.plan.modseq) ctx.state.enabled.add("CONDSTORE"); // RFC 7162 §3.1
  const uids = resolveSet(ctx, cmd.set, cmd.uid);
  const store = ctx.o.store;
  if (cmd.vanished && cmd.changedSince !== null) {
    const max = sel.mailbox.uidNext;
    const gone = (await store.messages.expungedSince(sel.mailbox.id, cmd.changedSince)).filter((u) =>
      cmd.set.contains(u, max)
    );
    if (gone.length) await ctx.write(vanishedResponse(gone, true));
  }
  const plan = cmd.plan;
  const needsStructure = plan.envelope || plan.bodyStructure || plan.body || plan.content !== "none";
  const flagsOnly = !needsStructure && !plan.internalDate && !plan.size;
  const batch = plan.content === "full" ? CONTENT_BATCH : flagsOnly ? FLAGS_BATCH : META_BATCH;
  const withModseq = plan.modseq || condstore(ctx) && cmd.changedSince !== null;
  const names = cmd.attributes.map(fetchItemName); // once per command, not per message
  for (let i = 0; i < uids.length; i += batch) {
    const part = uids.slice(i, i + batch);
    // FETCH (UID FLAGS [MODSEQ]) is answered from the session's copy of the flags when it keeps one; a fetch of
    // messages read recently, from that copy (if already read: a single fetch does not load a mailbox's flags)
    // and the store's message cache. Not a fetch that sets \Seen: it decides on the stored flags.
    const cached = flagsOnly && !plan.setsSeen ? await sel.flagsOf(store, part) : null;
    if (cached) {
      const text = flagLines(sel, cmd, cached, withModseq);
      if (text) await ctx.write(text);
      continue;
    }
    const known = !flagsOnly && !plan.setsSeen && cmd.changedSince === null ? sel.knownFlagsOf(part) : null;
    const metas = (known && store.messages.fromCache(sel.mailbox.id, known, { content: plan.content === "full" })) ||
      await store.messages.meta(sel.mailbox.id, toRanges(part), {
        structure: needsStructure,
        content: plan.content === "full", // bodies of the whole batch in the same query
        flagsOnly,
        ...(cmd.changedSince !== null ? { changedSince: cmd.changedSince } : {}),
      });
    let flagsChanged = new Set<number>();
    if (plan.setsSeen && !sel.readOnly) flagsChanged = await markSeen(ctx, metas);
    let text = ""; // responses without literals, written together
    for (const m of metas) {
      const seq = sel.seqOf(m.uid);
      if (!seq) continue;
      const items = plan.content === "none"
        ? metaItems(cmd, names, m, flagsChanged.has(m.uid), withModseq)
        : await buildItems(ctx, cmd, names, m, flagsChanged.has(m.uid), withModseq, m.content);
      const line = fetchResponseText(seq, items);
      if (line !== null) {
        text += line;
        continue;
      }
      if (text) await ctx.write(text);
      text = "";
      await ctx.write(fetchResponse(seq, items));
    }
    if (text) await ctx.write(text);
  }
}

/**
 * The responses to a FETCH of only UID, FLAGS and MODSEQ (what clients poll with, over windows of many messages),
 * from the session's copy of the flags: one line per message, written straight into one text, the items in the
 * order `metaItems` and `finishItems` give them.
 */
function flagLines(sel: SelectedMailbox, cmd: FetchCommand, flags: readonly FlagState[], withModseq: boolean): string {
  const order: ("UID" | "FLAGS")[] = [];
  for (const att of cmd.attributes) if (att.type === "UID" || att.type === "FLAGS") order.push(att.type);
  if (cmd.plan.uid && !order.includes("UID")) order.unshift("UID");
  let text = "";
  for (const f of flags) {
    if (cmd.changedSince !== null && f.modseq <= cmd.changedSince) continue;
    const seq = sel.seqOf(f.uid);
    if (!seq) continue;
    text += `* ${seq} FETCH (`;
    for (let i = 0; i < order.length; i++) {
      if (i) text += " ";
      text += order[i] === "UID" ? `UID ${f.uid}` : `FLAGS ${flagList(f.flags)}`;
    }
    text += withModseq ? `${order.length ? " " : ""}MODSEQ (${f.modseq}))\r\n` : ")\r\n";
  }
  return text;
}

/** Sets \Seen on the messages a non-PEEK body fetch reads (RFC 9051 §6.4.5); returns the UIDs changed. */
async function markSeen(ctx: ImapContext, metas: MessageMeta[]): Promise<Set<number>> {
  const sel = selected(ctx);
  const unseen = metas.filter((m) => !m.flags.includes("\\Seen")).map((m) => m.uid);
  if (!unseen.length) return new Set();
  const r = await ctx.o.store.messages.storeFlags(sel.mailbox.id, unseen, "add", ["\\Seen"]).catch(storeError);
  const byUid = new Map(r.updated.map((u) => [u.uid, u]));
  sel.noteFlags(r.updated);
  if (r.updated[0]) sel.ownChange(r.updated[0].modseq);
  for (const m of metas) {
    const u = byUid.get(m.uid);
    if (u) {
      m.flags = u.flags;
      m.modseq = u.modseq;
    }
  }
  return new Set(byUid.keys());
}

/** The item of an attribute that needs no message bytes; null for the others (sections, RFC822, BINARY). */
function metaItem(att: FetchAttribute, name: string, m: MessageMeta): FetchItem | null {
  const st = m.structure as MessageStructure | undefined;
  switch (att.type) {
    case "UID":
      return [name, String(m.uid)];
    case "FLAGS":
      return [name, flagList(m.flags)];
    case "INTERNALDATE":
      return [name, formatInternalDate(m.internalDate)];
    case "RFC822.SIZE":
      return [name, String(m.size)];
    case "ENVELOPE":
      return [name, st!.imap.envelope];
    case "BODYSTRUCTURE":
      return [name, st!.imap.bodystructure];
    case "BODY":
      return [name, st!.imap.body];
    default:
      return null;
  }
}

/** The items of a fetch that reads no message bytes (FLAGS, ENVELOPE, …): no awaits, no closures per message. */
function metaItems(
  cmd: FetchCommand,
  names: readonly string[],
  m: MessageMeta,
  seenChanged: boolean,
  withModseq: boolean,
): FetchItem[] {
  const items: FetchItem[] = [];
  cmd.attributes.forEach((att, i) => {
    const item = metaItem(att, names[i]!, m);
    if (item) items.push(item);
  });
  return finishItems(cmd, m, items, seenChanged, withModseq);
}

/** RFC 9051 §6.4.5: UID FETCH always returns UID; a fetch that set \Seen returns FLAGS; RFC 7162: MODSEQ. */
function finishItems(
  cmd: FetchCommand,
  m: MessageMeta,
  items: FetchItem[],
  seenChanged: boolean,
  withModseq: boolean,
): FetchItem[] {
  if (cmd.plan.uid && !items.some(([n]) => n === "UID")) items.unshift(["UID", String(m.uid)]);
  if (seenChanged && !items.some(([n]) => n === "FLAGS")) items.push(["FLAGS", flagList(m.flags)]);
  if (withModseq) items.push(["MODSEQ", `(${m.modseq})`]);
  return items;
}

async function buildItems(
  ctx: ImapContext,
  cmd: FetchCommand,
  names: readonly string[],
  m: MessageMeta,
  seenChanged: boolean,
  withModseq: boolean,
  preloaded?: Uint8Array,
): Promise<FetchItem[]> {
  const items: FetchItem[] = [];
  const st = m.structure as MessageStructure | undefined;
  let raw: Uint8Array | undefined = preloaded;
  let header: Uint8Array | undefined;
  const content = async () => raw ??= await ctx.o.store.messages.content(m.hash);
  const headerBytes = async () =>
    header ??= raw
      ? raw.subarray(0, st!.root.bodyStart)
      : await ctx.o.store.messages.slice(m.hash, 0, st!.root.bodyStart);
  for (const [i, att] of cmd.attributes.entries()) {
    const name = names[i]!;
    const simple = metaItem(att, name, m);
    if (simple) {
      items.push(simple);
      continue;
    }
    switch (att.type) {
      case "RFC822":
        items.push([name, { literal: await content() }]);
        break;
      case "RFC822.HEADER":
        items.push([name, { literal: await headerBytes() }]);
        break;
      case "RFC822.TEXT":
        items.push([name, { literal: (await content()).subarray(st!.root.bodyStart) }]);
        break;
      case "BODY[]": {
        const bytes = await sectionBytes(att.section, st!, m.size, content, headerBytes);
        items.push([name, bytes === null ? "NIL" : { literal: partial(bytes, att.partial) }]);
        break;
      }
      case "BINARY[]":
      case "BINARY.SIZE": {
        const raw = await content();
        const part = att.part.length ? findPart(st!.root, att.part.join(".")) : null;
        if (att.part.length && (!part || part.parts)) throw imapError("UNKNOWN_CTE", "No such leaf part");
        const decoded = part ? decodeBody(raw, part) : raw;
        if (att.type === "BINARY.SIZE") items.push([name, String(decoded.length)]);
        else items.push([name, { literal: partial(decoded, att.partial), binary: true }]);
        break;
      }
    }
  }
  return finishItems(cmd, m, items, seenChanged, withModseq);
}

function partial(bytes: Uint8Array, range: { offset: number; length: number } | null): Uint8Array {
  if (!range) return bytes;
  return bytes.subarray(Math.min(range.offset, bytes.length), Math.min(range.offset + range.length, bytes.length));
}

/** The bytes of a BODY[section] (RFC 9051 §6.4.5), or null when the part does not exist. */
async function sectionBytes(
  section: Section,
  st: MessageStructure,
  size: number,
  content: () => Promise<Uint8Array>,
  headerBytes: () => Promise<Uint8Array>,
): Promise<Uint8Array | null> {
  const fieldsOf = (raw: Uint8Array, start: number, end: number) =>
    headerFields(raw, start, end, section.fields, section.text === "HEADER.FIELDS.NOT");
  if (!section.part.length) {
    switch (section.text) {
      case "HEADER":
        return await headerBytes();
      case "HEADER.FIELDS":
      case "HEADER.FIELDS.NOT": {
        const h = await headerBytes();
        return fieldsOf(h, 0, h.length);
      }
      case "TEXT":
        return (await content()).subarray(st.root.bodyStart, size);
      default:
        return await content();
    }
  }
  const part: Part | null = findPart(st.root, section.part.join("."));
  if (!part) return null;
  const raw = await content();
  switch (section.text) {
    case "MIME":
      return raw.subarray(part.headerStart, part.bodyStart);
    case "HEADER":
    case "HEADER.FIELDS":
    case "HEADER.FIELDS.NOT":
    case "TEXT": {
      // n.HEADER / n.TEXT address the message encapsulated in a message/rfc822 part.
      const inner = part.message?.root;
      if (!inner) return null;
      if (section.text === "TEXT") return raw.subarray(inner.bodyStart, part.bodyEnd);
      if (section.text === "HEADER") return raw.subarray(inner.headerStart, inner.bodyStart);
      return fieldsOf(raw, inner.headerStart, inner.bodyStart);
    }
    default:
      return raw.subarray(part.bodyStart, part.bodyEnd);
  }
}
