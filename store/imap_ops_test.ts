import assert from "node:assert/strict";
import { parseMessage } from "../mail/parse.ts";
import { holdTransaction, storeTest } from "../tests/harness.ts";
import { type Account, ConflictError, type Mailbox, NotFoundError, QuotaExceededError, type Store } from "./mod.ts";

const PW = "correct horse battery";
const msg = (subject: string, body = "hello world", extra = "") =>
  new TextEncoder().encode(
    `From: A <a@example.test>\r\nTo: b@example.test\r\nSubject: ${subject}\r\nDate: Mon, 2 Feb 2026 10:00:00 +0000\r\n` +
      `Message-ID: <${subject.replace(/\W/g, "")}@x>\r\n${extra}\r\n${body}\r\n`,
  );

/** A domain, an account on it, and the account's INBOX. */
async function accountInbox(store: Store): Promise<{ a: Account; inbox: Mailbox }> {
  await store.domains.add("example.test");
  const a = await store.accounts.create("a@example.test", PW);
  return { a, inbox: (await store.mailboxes.get(a.id, "INBOX"))! };
}

storeTest(
  "imap ops: STORE adds, removes and sets flags; one that changes nothing moves no MODSEQ",
  async (_t, { store }) => {
    const { inbox } = await accountInbox(store);
    for (const s of ["one", "two"]) {
      const raw = msg(s);
      await store.messages.append(inbox.id, { raw, parsed: parseMessage(raw), flags: ["\\Seen"] });
    }
    const flagsOf = async () => (await store.messages.flags(inbox.id)).map((f) => f.flags);
    const highest = async () => (await store.mailboxes.byId(inbox.id))!.highestModseq;

    // Added in place (appended), read back sorted everywhere.
    const added = await store.messages.storeFlags(inbox.id, [1], "add", ["\\Answered", "\\Seen"]);
    assert.deepEqual(added.updated.map((u) => u.flags), [["\\Answered", "\\Seen"]]);
    assert.deepEqual(await flagsOf(), [["\\Answered", "\\Seen"], ["\\Seen"]]);
    assert.deepEqual((await store.messages.list(inbox.id))[0]!.flags, ["\\Answered", "\\Seen"]);
    assert.deepEqual((await store.messages.meta(inbox.id, [[1, 1]]))[0]!.flags, ["\\Answered", "\\Seen"]);

    const before = await highest();
    for (
      const [op, flags] of [["add", ["\\Seen"]], ["remove", ["\\Flagged"]], ["set", ["\\Seen", "\\Answered"]]] as const
    ) {
      const r = await store.messages.storeFlags(inbox.id, [1], op, flags);
      assert.deepEqual(r.updated, [], `${op} ${flags} changes nothing`);
    }
    assert.equal(await highest(), before, "no MODSEQ spent on a STORE that changes nothing");
    assert.deepEqual((await store.messages.storeFlags(inbox.id, [9], "add", ["\\Seen"])).updated, [], "gone: no-op");

    // Many flags at once take the other form (a subquery): same results.
    const many = Array.from({ length: 12 }, (_, i) => `$k${String(i).padStart(2, "0")}`);
    const r1 = await store.messages.storeFlags(inbox.id, [1, 2], "add", [...many, "\\Seen"]);
    assert.deepEqual(r1.updated.map((u) => u.flags), [
      [...many, "\\Answered", "\\Seen"],
      [...many, "\\Seen"],
    ]);
    assert.equal(new Set(r1.updated.map((u) => u.modseq)).size, 1, "one MODSEQ for the whole STORE");
    assert.equal(await highest(), r1.updated[0]!.modseq);
    const r2 = await store.messages.storeFlags(inbox.id, [1, 2], "remove", [...many.slice(1), "\\Answered", "$none"]);
    assert.deepEqual(r2.updated.map((u) => u.flags), [["$k00", "\\Seen"], ["$k00", "\\Seen"]]);
    const r3 = await store.messages.storeFlags(inbox.id, [1, 2], "set", []);
    assert.deepEqual(r3.updated.map((u) => u.flags), [[], []]);
    assert.deepEqual(await flagsOf(), [[], []]);
  },
);

storeTest(
  "imap ops: STORE on 1 to 8 UIDs (scalars) and on more (an array) changes exactly those",
  async (_t, { store }) => {
    const { inbox } = await accountInbox(store);
    for (let i = 1; i <= 20; i++) {
      const raw = msg(`m${i}`);
      await store.messages.append(inbox.id, { raw, parsed: parseMessage(raw), flags: [] });
    }
    const flagged = async () =>
      (await store.messages.flags(inbox.id)).filter((f) => f.flags.includes("\\Flagged")).map((f) => f.uid);
    const sets = [[4], [2, 9], [1, 5, 6], [3, 7, 8, 10, 11], [12, 13, 14, 15, 16, 17, 18, 19, 20]];
    const done: number[] = [];
    for (const uids of sets) {
      const r = await store.messages.storeFlags(inbox.id, uids, "add", ["\\Flagged"]);
      assert.deepEqual(r.updated.map((u) => u.uid), uids, `${uids.length} UIDs`);
      done.push(...uids);
      assert.deepEqual(await flagged(), done.toSorted((x, y) => x - y));
    }
    // With UNCHANGEDSINCE: 5 UIDs, of which the 2 changed since are MODIFIED and the 3 others change.
    const m = (await store.mailboxes.byId(inbox.id))!.highestModseq;
    await store.messages.storeFlags(inbox.id, [2, 9], "add", ["\\Seen"]);
    const r = await store.messages.storeFlags(inbox.id, [1, 2, 3, 9, 20], "remove", ["\\Flagged"], m);
    assert.deepEqual(r.modified, [2, 9]);
    assert.deepEqual(r.updated.map((u) => u.uid), [1, 3, 20]);
  },
);

// Row locks held across connections: Postgres only (PGlite has one connection, the test would wait on itself).
storeTest(
  "imap ops: a STORE UNCHANGEDSINCE that a concurrent flag change overtakes reports the message as MODIFIED",
  async (_t, ts) => {
    if (ts.driver === "pglite") return;
    const { store } = ts;
    const { inbox } = await accountInbox(store);
    const raw = msg("race");
    const { uid } = await store.messages.append(inbox.id, { raw, parsed: parseMessage(raw), flags: [] });
    const seen = (await store.mailboxes.byId(inbox.id))!.highestModseq;
    // Another session's STORE, as the store makes one: mailbox row first, then the message; it commits only once
    // our STORE has started (and waits for the mailbox row).
    const other = await holdTransaction(store, async (tx) => {
      const [box] = await tx.query<{ modseq: number }>(
        "UPDATE mailboxes SET highest_modseq = highest_modseq + 1 WHERE id = $1 RETURNING highest_modseq AS modseq",
        [inbox.id],
      );
      await tx.query("UPDATE messages SET flags = ARRAY[$4], modseq = $3 WHERE mailbox_id = $1 AND uid = $2", [
        inbox.id,
        uid,
        box!.modseq,
        "\\Flagged",
      ]);
    });
    const ours = store.messages.storeFlags(inbox.id, [uid], "add", ["\\Seen"], seen);
    await new Promise((r) => setTimeout(r, 300));
    other.release();
    await other.done;
    const r = await ours;
    assert.deepEqual(r, { updated: [], modified: [uid] }, "left alone, and said so");
    assert.deepEqual((await store.messages.flags(inbox.id)).map((f) => f.flags), [["\\Flagged"]]);
  },
);

storeTest("imap ops: append, flags with UNCHANGEDSINCE, search, expunge, copy and move", async (_t, { store }) => {
  const { a, inbox } = await accountInbox(store);
  const uids: number[] = [];
  for (const [i, s] of ["Lunch plans", "Invoice 42", "Grüße aus Köln"].entries()) {
    const raw = msg(s, i === 2 ? "schöne Grüße" : "hello world");
    uids.push(
      (await store.messages.append(inbox.id, { raw, parsed: parseMessage(raw), flags: i ? [] : ["\\Seen"] })).uid,
    );
  }
  assert.deepEqual(uids, [1, 2, 3]);
  assert.deepEqual(await store.messages.uids(inbox.id), [1, 2, 3]);
  const meta = await store.messages.meta(inbox.id, [[1, 3]], { structure: true });
  assert.equal(meta.length, 3);
  assert.ok((meta[0]!.structure as { imap: { envelope: string } }).imap.envelope.includes("Lunch plans"));

  const s1 = await store.messages.storeFlags(inbox.id, [1, 2], "add", ["\\Flagged", "$Work"]);
  assert.deepEqual(s1.updated.map((u) => u.flags), [["$Work", "\\Flagged", "\\Seen"], ["$Work", "\\Flagged"]]);
  const m1 = s1.updated[0]!.modseq;
  const s2 = await store.messages.storeFlags(inbox.id, [1, 2, 3], "remove", ["$Work"], m1 - 1);
  assert.deepEqual(s2.modified, [1, 2], "changed since UNCHANGEDSINCE");
  assert.deepEqual(s2.updated, []);
  const s3 = await store.messages.storeFlags(inbox.id, [3], "set", ["\\Answered"]);
  assert.deepEqual(s3.updated[0]!.flags, ["\\Answered"]);
  assert.deepEqual((await store.messages.meta(inbox.id, [[1, 3]], { changedSince: m1 })).map((m) => m.uid), [3]);

  const search = async (c: Parameters<typeof store.messages.search>[1]) =>
    (await store.messages.search(inbox.id, c)).uids;
  assert.deepEqual(await search({ type: "flag", flag: "\\Seen", set: false }), [2, 3]);
  assert.deepEqual(await search({ type: "flag", flag: "$work", set: true }), [1, 2]);
  assert.deepEqual(await search({ type: "header", field: "Subject", value: "invoice" }), [2]);
  assert.deepEqual(await search({ type: "header", field: "subject", value: "KÖLN" }), [3]);
  assert.deepEqual(await search({ type: "body", value: "GRÜSSE" }), []);
  assert.deepEqual(await search({ type: "body", value: "Grüße" }), [3]);
  assert.deepEqual(await search({ type: "body", value: "SCHÖNE" }), [3], "non-ASCII letters match in any case");
  assert.deepEqual(await search({ type: "header", field: "Sub_ect", value: "" }), [], "no LIKE wildcards in names");
  assert.deepEqual(await search({ type: "text", value: "lunch" }), [1]);
  assert.deepEqual(await search({ type: "date", field: "sent", op: "on", date: "2026-02-02" }), [1, 2, 3]);
  assert.deepEqual(await search({ type: "date", field: "internal", op: "before", date: "2000-01-01" }), []);
  assert.deepEqual(
    await search({
      type: "or",
      left: { type: "uids", ranges: [[1, 1]] },
      right: { type: "not", key: { type: "size", op: "larger", size: 1 } },
    }),
    [1],
  );
  assert.deepEqual(await search({ type: "and", keys: [{ type: "modseq", modseq: m1 }, { type: "all" }] }), [1, 2, 3]);

  await store.messages.storeFlags(inbox.id, [2], "add", ["\\Deleted"]);
  assert.deepEqual(
    await store.messages.expunge(inbox.id, [1]),
    { uids: [], modseq: null },
    "UID EXPUNGE only removes \\Deleted ones in the set",
  );
  const before = (await store.mailboxes.byId(inbox.id))!.highestModseq;
  assert.deepEqual(await store.messages.expunge(inbox.id), { uids: [2], modseq: before + 1 });
  assert.deepEqual(await store.messages.expungedSince(inbox.id, 0), [2]);

  const archive = (await store.mailboxes.get(a.id, "Archive"))!;
  assert.deepEqual(await store.messages.copy(inbox.id, [1, 3], archive.id), [[1, 1], [3, 2]]);
  assert.deepEqual(await store.messages.copy(inbox.id, [3], archive.id, { move: true }), [[3, 3]]);
  assert.deepEqual(await store.messages.uids(inbox.id), [1]);
  assert.deepEqual(await store.messages.uids(archive.id), [1, 2, 3]);
  assert.deepEqual((await store.messages.meta(archive.id, [[1, 1]]))[0]!.flags, ["$Work", "\\Flagged", "\\Seen"]);
  const blobs = await store.db.query<{ refcount: number }>("SELECT refcount FROM blobs ORDER BY refcount");
  assert.deepEqual(blobs.map((b) => b.refcount), [2, 2], "copies share content");
  const st = await store.mailboxes.status([inbox.id, archive.id]);
  assert.equal(st.get(archive.id)!.messages, 3);
  assert.equal(st.get(archive.id)!.unseen, 2);
  await assert.rejects(store.messages.copy(inbox.id, [1], archive.id, { quotaBytes: 10 }), QuotaExceededError);
});

storeTest("imap ops: Sent de-duplicates an APPEND of a message saved at submission", async (_t, { store }) => {
  await store.domains.add("example.test");
  const a = await store.accounts.create("a@example.test", PW);
  const sent = (await store.mailboxes.special(a.id, "\\Sent"))!;
  const raw = msg("Report");
  await store.messages.deliver({
    raw,
    parsed: parseMessage(raw),
    targets: [{ mailboxId: sent.id, flags: ["\\Seen"], keepMessageId: true }], // as submission saves it
  });
  const again = await store.messages.append(sent.id, { raw, parsed: parseMessage(raw), flags: ["\\Seen"] });
  assert.deepEqual(again, {
    mailbox: { id: sent.id, uidValidity: sent.uidValidity, specialUse: "\\Sent" },
    uid: 1,
    existing: true,
  });
  // By name (as IMAP APPEND does) the same; elsewhere a message with that Message-ID is stored again.
  const byName = await store.messages.append({ accountId: a.id, name: "Sent" }, {
    raw,
    parsed: parseMessage(raw),
    flags: [],
  });
  assert.equal(byName?.existing, true);
  const inbox = await store.messages.append({ accountId: a.id, name: "inbox" }, {
    raw,
    parsed: parseMessage(raw),
    flags: [],
  });
  assert.deepEqual([inbox?.uid, inbox?.existing], [1, false]);
  assert.equal(
    await store.messages.append({ accountId: a.id, name: "Nope" }, { raw, parsed: parseMessage(raw), flags: [] }),
    undefined,
  );
  assert.equal((await store.messages.uids(sent.id)).length, 1);
});

storeTest("imap ops: create with parents, rename with children, INBOX rename, delete", async (_t, { store }) => {
  await store.domains.add("example.test");
  const a = await store.accounts.create("a@example.test", PW);
  await store.mailboxes.create(a.id, "Projects/2026/Q1");
  await assert.rejects(store.mailboxes.create(a.id, "Projects"), ConflictError);
  await assert.rejects(store.mailboxes.create(a.id, "bad//name"), /empty hierarchy level/);
  await store.mailboxes.rename(a.id, "Projects", "Work/Projects");
  const names = (await store.mailboxes.list(a.id)).map((m) => m.name);
  assert.ok(names.includes("Work/Projects/2026/Q1") && names.includes("Work") && !names.includes("Projects"));
  const q1 = (await store.mailboxes.get(a.id, "Work/Projects/2026/Q1"))!;
  const parent = (await store.mailboxes.get(a.id, "Work/Projects/2026"))!;
  assert.equal(q1.parentId, parent.id);
  await assert.rejects(store.mailboxes.remove(a.id, "Work/Projects"), /has children/);
  await store.mailboxes.remove(a.id, "Work/Projects/2026/Q1");
  await assert.rejects(store.mailboxes.remove(a.id, "inbox"), /INBOX cannot be deleted/);
  await assert.rejects(store.mailboxes.remove(a.id, "Nope"), NotFoundError);
  const inbox = (await store.mailboxes.get(a.id, "INBOX"))!;
  const raw = msg("Old mail");
  await store.messages.deliver({ raw, parsed: parseMessage(raw), targets: [{ mailboxId: inbox.id }] });
  await store.mailboxes.rename(a.id, "INBOX", "Old Inbox");
  assert.deepEqual(await store.messages.uids(inbox.id), []);
  assert.deepEqual(await store.messages.uids((await store.mailboxes.get(a.id, "Old Inbox"))!.id), [1]);
  await store.mailboxes.setSubscribed(a.id, "Old Inbox", false);
  assert.equal((await store.mailboxes.get(a.id, "Old Inbox"))!.subscribed, false);
});

storeTest(
  "deliver: a target mailbox deleted meanwhile fails the whole delivery; nothing is half-stored",
  async (_t, { store }) => {
    const { a, inbox } = await accountInbox(store);
    const gone = await store.mailboxes.create(a.id, "Temp");
    await store.mailboxes.remove(a.id, "Temp");
    const raw = msg("Twice?");
    await assert.rejects(
      store.messages.deliver({
        raw,
        parsed: parseMessage(raw),
        targets: [{ mailboxId: inbox.id }, { mailboxId: gone.id }],
      }),
      NotFoundError,
    );
    assert.deepEqual(await store.messages.uids(inbox.id), [], "no partial commit");
    assert.equal((await store.db.query("SELECT 1 FROM blobs")).length, 0, "no orphan blob");
    // Concurrent good deliveries batched with the bad one are committed exactly once.
    const good = Array.from({ length: 5 }, (_, i) => msg(`ok ${i}`));
    const results = await Promise.allSettled([
      store.messages.deliver({
        raw,
        parsed: parseMessage(raw),
        targets: [{ mailboxId: inbox.id }, { mailboxId: gone.id }],
      }),
      ...good.map((g) =>
        store.messages.deliver({ raw: g, parsed: parseMessage(g), targets: [{ mailboxId: inbox.id }] })
      ),
    ]);
    assert.equal(results.filter((r) => r.status === "fulfilled").length, 5);
    assert.equal((await store.messages.uids(inbox.id)).length, 5);
  },
);

storeTest("search: a gappy UID set of 40,000 ranges stays one parameter", async (_t, { store }) => {
  const { inbox } = await accountInbox(store);
  for (let i = 0; i < 3; i++) {
    const raw = msg(`m${i}`);
    await store.messages.deliver({ raw, parsed: parseMessage(raw), targets: [{ mailboxId: inbox.id }] });
  }
  const ranges = Array.from({ length: 40_000 }, (_, i) => [2 * i + 1, 2 * i + 1] as const);
  assert.deepEqual((await store.messages.search(inbox.id, { type: "uids", ranges })).uids, [1, 3]);
  assert.deepEqual((await store.messages.meta(inbox.id, ranges)).map((m) => m.uid), [1, 3]);
});
