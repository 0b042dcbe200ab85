import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import postgres from "postgres";
import { holdTransaction, storeTest } from "../tests/harness.ts";
import { migrate, MIGRATIONS } from "./migrate.ts";
import { ConflictError, InvalidInputError, NotFoundError, type ParsedContent, Store } from "./mod.ts";

const PW = "correct horse battery";
const parsed = (messageId: string | null = null): ParsedContent => ({
  structure: { t: "text/plain" },
  searchText: "",
  messageId,
});
const bytes = (s: string) => new TextEncoder().encode(s);
/** Delivers `text` into one mailbox; where it landed. */
const deliverTo = async (store: Store, mailboxId: number, text: string) =>
  (await store.messages.deliver({ raw: bytes(text), parsed: parsed(), targets: [{ mailboxId }] }))[0]!;

/** Rows whose kept counters (blob references, mailbox counts and sizes, account usage) differ from the rows. */
async function countersWrong(store: Store): Promise<number> {
  const [bad] = await store.db.query<{ n: number }>(
    `SELECT ((SELECT count(*) FROM blobs b WHERE b.refcount <> (SELECT count(*) FROM messages m WHERE m.blob_hash = b.hash))
          + (SELECT count(*) FROM mailboxes mb WHERE mb.message_count <> (SELECT count(*) FROM messages m WHERE m.mailbox_id = mb.id)
               OR mb.size_bytes <> (SELECT coalesce(sum(size), 0) FROM messages m WHERE m.mailbox_id = mb.id))
          + (SELECT count(*) FROM accounts a WHERE a.used_bytes <> (SELECT coalesce(sum(m.size), 0) FROM messages m
               JOIN mailboxes mb ON mb.id = m.mailbox_id WHERE mb.account_id = a.id)))::int AS n`,
  );
  return Number(bad!.n);
}

storeTest("migrations are applied once, also when run again", async (_t, { store }) => {
  assert.deepEqual(await migrate(store.db), []);
  const rows = await store.db.query<{ version: number }>("SELECT version FROM schema_migrations");
  assert.deepEqual(rows.map((r) => r.version).sort((a, b) => a - b), MIGRATIONS.map((m) => m.version));
});

storeTest("domains: add, refuse duplicates and bad names, list, delete", async (_t, { store }) => {
  const d = await store.domains.add("Example.TEST");
  assert.equal(d.name, "example.test");
  await assert.rejects(store.domains.add("example.test"), ConflictError);
  await assert.rejects(store.domains.add("not a domain"), InvalidInputError);
  await assert.rejects(store.domains.add("localhost"), InvalidInputError);
  await store.domains.add("b.test");
  assert.deepEqual((await store.domains.list()).map((x) => x.name), ["b.test", "example.test"]);
  await store.accounts.create("u@example.test", PW);
  await assert.rejects(store.domains.remove("example.test"), /still has 1 account/);
  await store.domains.remove("b.test");
  await assert.rejects(store.domains.remove("b.test"), NotFoundError);
});

storeTest("accounts: create makes the six default mailboxes with special-use", async (_t, { store }) => {
  await store.domains.add("example.test");
  const a = await store.accounts.create("Alice@Example.test", PW);
  assert.equal(a.address, "alice@example.test");
  const boxes = await store.mailboxes.list(a.id);
  assert.deepEqual(
    boxes.map((b) => [b.name, b.specialUse]).sort(),
    [["Archive", "\\Archive"], ["Drafts", "\\Drafts"], ["INBOX", null], ["Junk", "\\Junk"], ["Sent", "\\Sent"], [
      "Trash",
      "\\Trash",
    ]],
  );
  for (const b of boxes) {
    assert.equal(b.uidNext, 1);
    assert.ok(b.uidValidity > 1_700_000_000);
  }
  assert.equal((await store.mailboxes.get(a.id, "inbox"))?.name, "INBOX");
});

storeTest("accounts: refuse invalid, duplicate, unknown domain and weak passwords", async (_t, { store }) => {
  await store.domains.add("example.test");
  await assert.rejects(store.accounts.create("no-at-sign", PW), InvalidInputError);
  await assert.rejects(store.accounts.create("a@@example.test", PW), InvalidInputError);
  await assert.rejects(store.accounts.create("bob@elsewhere.test", PW), /not a local domain/);
  await assert.rejects(store.accounts.create("bob@example.test", ""), /empty/);
  await assert.rejects(store.accounts.create("bob@example.test", "short"), /shorter/);
  await assert.rejects(store.accounts.create("bob@example.test", "password123"), /common|shorter/);
  await assert.rejects(store.accounts.create("bob@example.test", "aaaaaaaaaaaa"), /different characters/);
  await store.accounts.create("bob@example.test", PW);
  await assert.rejects(store.accounts.create("BOB@example.test", PW), ConflictError);
});

storeTest("accounts: authenticate checks the password and upgrades old hashes", async (_t, { store }) => {
  await store.domains.add("example.test");
  await store.accounts.create("carol@example.test", PW);
  assert.equal((await store.accounts.authenticate("carol@example.test", PW))?.address, "carol@example.test");
  assert.equal(await store.accounts.authenticate("carol@example.test", PW + "x"), undefined);
  assert.equal(await store.accounts.authenticate("nobody@example.test", PW), undefined);
  assert.equal(await store.accounts.authenticate("garbage", PW), undefined);
  // A hash with weaker (older) parameters still verifies, and is replaced by one with the current parameters.
  const { argon2id } = await import("hash-wasm");
  const salt = new Uint8Array(16).fill(7);
  const old = await argon2id({
    password: PW,
    salt,
    memorySize: 1024,
    iterations: 1,
    parallelism: 1,
    hashLength: 32,
    outputType: "encoded",
  });
  await store.db.query("UPDATE accounts SET password_hash = $1 WHERE address = 'carol@example.test'", [old]);
  assert.ok(await store.accounts.authenticate("carol@example.test", PW));
  const [row] = await store.db.query<{ password_hash: string }>(
    "SELECT password_hash FROM accounts WHERE address = 'carol@example.test'",
  );
  assert.match(row!.password_hash, /^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
  await store.accounts.setPassword("carol@example.test", "another good passphrase");
  assert.equal(await store.accounts.authenticate("carol@example.test", PW), undefined);
  assert.ok(await store.accounts.authenticate("carol@example.test", "another good passphrase"));
});

storeTest("deliver: one blob for many recipients, UIDs and MODSEQs from the mailbox row", async (_t, { store }) => {
  await store.domains.add("example.test");
  const a = await store.accounts.create("a@example.test", PW);
  const b = await store.accounts.create("b@example.test", PW);
  const inboxes = await store.mailboxes.inboxes([a.id, b.id]);
  const raw = bytes("Subject: hi\r\n\r\nhello\r\n");
  const landed = await store.messages.deliver({
    raw,
    parsed: parsed("m1@x"),
    targets: [{ mailboxId: inboxes.get(a.id)! }, {
      mailboxId: inboxes.get(b.id)!,
      flags: ["\\Seen", "$Work"],
      keepMessageId: true,
    }],
  });
  assert.deepEqual(landed.map((l) => l.uid), [1, 1]);
  const again = await store.messages.deliver({ raw, parsed: parsed(), targets: [{ mailboxId: inboxes.get(a.id)! }] });
  assert.equal(again[0]!.uid, 2);
  assert.ok(again[0]!.modseq > landed[0]!.modseq);
  const blobs = await store.db.query<{ refcount: number }>("SELECT refcount FROM blobs");
  assert.deepEqual(blobs.map((r) => r.refcount), [3]);
  const listed = await store.messages.list(inboxes.get(b.id)!);
  assert.deepEqual(listed[0]!.flags, ["$Work", "\\Seen"]);
  assert.equal(listed[0]!.messageId, "m1@x", "kept where asked (Sent copies)");
  assert.equal((await store.messages.list(inboxes.get(a.id)!))[0]!.messageId, null, "not kept elsewhere");
  assert.deepEqual(await store.messages.raw(inboxes.get(b.id)!, 1), raw);
  const box = await store.mailboxes.get(a.id, "INBOX");
  assert.equal(box!.messageCount, 2);
  assert.equal(box!.uidNext, 3);
  assert.equal(box!.sizeBytes, raw.length * 2);
  assert.equal((await store.accounts.get("a@example.test"))!.usedBytes, raw.length * 2);
});

storeTest("deliver: concurrent deliveries are group-committed with distinct UIDs", async (_t, { store }) => {
  await store.domains.add("example.test");
  const a = await store.accounts.create("a@example.test", PW);
  const inbox = (await store.mailboxes.inboxes([a.id])).get(a.id)!;
  const n = 300;
  const results = await Promise.all(
    Array.from(
      { length: n },
      (_, i) =>
        store.messages.deliver({
          raw: bytes(`Subject: ${i}\r\n\r\n${i}\r\n`),
          parsed: parsed(),
          targets: [{ mailboxId: inbox }],
        }),
    ),
  );
  const uids = results.map((r) => r[0]!.uid).sort((x, y) => x - y);
  assert.deepEqual(uids, Array.from({ length: n }, (_, i) => i + 1));
  const commits = new Set(results.map((r) => r[0]!.modseq));
  assert.ok(commits.size < n / 2, `expected batching, got ${commits.size} commits for ${n} deliveries`);
  assert.equal((await store.messages.list(inbox)).length, n);
});

storeTest("deliver: subscribers hear of committed changes", async (_t, { store }) => {
  await store.domains.add("example.test");
  const a = await store.accounts.create("a@example.test", PW);
  const inbox = (await store.mailboxes.inboxes([a.id])).get(a.id)!;
  const heard = Promise.withResolvers<{ mailboxId: number; modseq: number }>();
  const unsubscribe = await store.changes.subscribe((c) => heard.resolve(c));
  const [landed] = await store.messages.deliver({
    raw: bytes("x\r\n"),
    parsed: parsed(),
    targets: [{ mailboxId: inbox }],
  });
  const c = await heard.promise;
  unsubscribe();
  assert.deepEqual(c, { mailboxId: inbox, modseq: landed!.modseq });
  const changed = await store.messages.meta(inbox, [[1, 10]], { changedSince: 0, flagsOnly: true });
  assert.deepEqual(changed.map((m) => [m.uid, m.modseq]), [[1, landed!.modseq]]);
});

storeTest("accounts: delete leaves no rows behind (mailboxes, messages, blobs, aliases)", async (_t, { store }) => {
  await store.domains.add("example.test");
  const a = await store.accounts.create("a@example.test", PW);
  const b = await store.accounts.create("b@example.test", PW);
  await store.aliases.add("info@example.test", "a@example.test");
  const inboxes = await store.mailboxes.inboxes([a.id, b.id]);
  await store.messages.deliver({
    raw: bytes("only a\r\n"),
    parsed: parsed(),
    targets: [{ mailboxId: inboxes.get(a.id)! }],
  });
  await store.messages.deliver({
    raw: bytes("shared\r\n"),
    parsed: parsed(),
    targets: [{ mailboxId: inboxes.get(a.id)! }, { mailboxId: inboxes.get(b.id)! }],
  });
  await store.accounts.remove("a@example.test");
  await assert.rejects(store.accounts.remove("a@example.test"), NotFoundError);
  const count = async (sql: string) => (await store.db.query<{ n: number }>(sql))[0]!.n;
  assert.equal(await count(`SELECT count(*)::int8 AS n FROM mailboxes WHERE account_id = ${a.id}`), 0);
  assert.equal(await count("SELECT count(*)::int8 AS n FROM messages"), 1);
  assert.equal(await count("SELECT count(*)::int8 AS n FROM blobs"), 1, "the shared blob stays, a's own blob goes");
  assert.equal(await count("SELECT count(*)::int8 AS n FROM aliases"), 0);
  await store.accounts.remove("b@example.test");
  for (const table of ["accounts", "mailboxes", "messages", "blobs", "mailbox_changes"]) {
    assert.equal(await count(`SELECT count(*)::int8 AS n FROM ${table}`), 0, table);
  }
});

storeTest("aliases: chains, catch-all, external targets and removal", async (_t, { store }) => {
  await store.domains.add("example.test");
  const a = await store.accounts.create("a@example.test", PW);
  const b = await store.accounts.create("b@example.test", PW);
  await store.aliases.add("team@example.test", "a@example.test");
  await store.aliases.add("team@example.test", "b@example.test");
  await store.aliases.add("sales@example.test", "team@example.test");
  await store.aliases.add("fwd@example.test", "someone@elsewhere.test");
  await store.aliases.add("@example.test", "b@example.test");
  await assert.rejects(store.aliases.add("a@example.test", "b@example.test"), /user's address/);
  await assert.rejects(store.aliases.add("x@nowhere.test", "b@example.test"), /not a local domain/);
  await assert.rejects(store.aliases.add("y@example.test", "ghost@example.test"), /no such user or alias/);
  await assert.rejects(store.aliases.add("team@example.test", "a@example.test"), ConflictError);
  assert.deepEqual((await store.aliases.resolve("SALES@example.test"))!.accountIds.sort(), [a.id, b.id].sort());
  const inboxOf = async (id: number) => (await store.mailboxes.inboxes([id])).get(id)!;
  assert.deepEqual(await store.aliases.resolve("fwd@example.test"), {
    accountIds: [],
    inboxIds: [],
    fullAccountIds: [],
    external: ["someone@elsewhere.test"],
  });
  assert.deepEqual(await store.aliases.resolve("anything@example.test"), {
    accountIds: [b.id],
    inboxIds: [await inboxOf(b.id)],
    fullAccountIds: [],
    external: [],
  });
  assert.deepEqual(await store.aliases.resolve("a@example.test"), {
    accountIds: [a.id],
    inboxIds: [await inboxOf(a.id)],
    fullAccountIds: [],
    external: [],
  });
  assert.equal(await store.aliases.resolve("a@elsewhere.test"), undefined);
  assert.equal((await store.aliases.list()).length, 5);
  assert.equal(await store.aliases.remove("team@example.test"), 2);
  await store.aliases.remove("@example.test", "b@example.test");
  assert.equal(await store.aliases.resolve("anything@example.test"), undefined);
});

storeTest("aliases: a loop ends", async (_t, { store }) => {
  await store.domains.add("example.test");
  await store.accounts.create("a@example.test", PW);
  await store.aliases.add("x@example.test", "a@example.test");
  await store.aliases.add("y@example.test", "x@example.test");
  await store.aliases.add("x@example.test", "y@example.test");
  assert.equal((await store.aliases.resolve("y@example.test"))!.accountIds.length, 1);
});

storeTest("a second store on the same database sees the first one's notifications", async (_t, ts) => {
  if (ts.driver !== "postgres") return; // PGlite is one process: the data dir lock forbids a second opener.
  const { store } = ts;
  const other = await Store.open({ location: { url: ts.url! } });
  try {
    await store.domains.add("example.test");
    const a = await store.accounts.create("a@example.test", PW);
    const inbox = (await store.mailboxes.inboxes([a.id])).get(a.id)!;
    const heard = Promise.withResolvers<number>();
    await other.changes.subscribe((c) => heard.resolve(c.mailboxId));
    await deliverTo(store, inbox, "x\r\n");
    assert.equal(await heard.promise, inbox);
  } finally {
    await other.close();
  }
});

storeTest(
  "an instance alone sends no NOTIFY; one that watches too hears every change, until it closes",
  async (_t, ts) => {
    if (ts.driver !== "postgres") return; // PGlite is one process: there is never another instance
    const { store } = ts;
    await store.domains.add("example.test");
    const a = await store.accounts.create("a@example.test", PW);
    const inbox = (await store.mailboxes.inboxes([a.id])).get(a.id)!;
    // A bare LISTEN (not an instance: not registered) sees exactly the NOTIFYs sent.
    const raw = postgres(ts.url!, { max: 1, onnotice: () => {} });
    const notified: string[] = [];
    await raw.listen("silvermail_changes", (p) => notified.push(p));
    const settle = () => new Promise((r) => setTimeout(r, 300));
    try {
      const local: number[] = [];
      await store.changes.subscribe((c) => local.push(c.modseq));
      const first = await deliverTo(store, inbox, "x\r\n");
      const flagged = await store.messages.storeFlags(inbox, [first.uid], "add", ["\\Deleted"]);
      const expunged = await store.messages.expunge(inbox);
      await settle();
      assert.deepEqual(notified, [], "no NOTIFY without another instance");
      assert.deepEqual(local, [first.modseq, flagged.updated[0]!.modseq, expunged.modseq], "heard in-process");

      const other = await Store.open({ location: { url: ts.url! } });
      const heard: number[] = [];
      try {
        await other.changes.subscribe((c) => heard.push(c.modseq));
        const second = await deliverTo(store, inbox, "y\r\n");
        const seen = await store.messages.storeFlags(inbox, [second.uid], "add", ["\\Seen"]);
        await settle();
        assert.deepEqual(heard, [second.modseq, seen.updated[0]!.modseq]);
        assert.deepEqual(notified, [`${inbox}:${second.modseq}`, `${inbox}:${seen.updated[0]!.modseq}`]);
      } finally {
        await other.close();
      }
      notified.length = 0;
      await store.messages.storeFlags(inbox, [2], "remove", ["\\Seen"]);
      await settle();
      assert.deepEqual(notified, [], "the closed instance took its registration with it");
    } finally {
      await raw.end({ timeout: 1 });
    }
  },
);

storeTest(
  "an instance starts watching only after transactions that could have missed it have ended",
  async (_t, ts) => {
    if (ts.driver !== "postgres") return;
    const { store } = ts;
    // A transaction of this instance, begun before the other registers: a change it makes would not NOTIFY.
    const held = await holdTransaction(store, async (tx) => void await tx.query("SELECT 1"));
    const other = await Store.open({ location: { url: ts.url! } });
    try {
      let watching = false;
      const watch = other.changes.watch(1, () => {}).then((stop) => (watching = true, stop));
      await new Promise((r) => setTimeout(r, 500));
      assert.equal(watching, false, "registration waits for the older transaction");
      held.release();
      await held.done;
      (await watch)();
    } finally {
      held.release();
      await other.close();
    }
  },
);

storeTest("when the LISTEN connection is lost and re-established, every watcher catches up", async (_t, ts) => {
  if (ts.driver !== "postgres") return;
  const { store } = ts;
  const caughtUp = Promise.withResolvers<number>();
  const stop = await store.changes.watch(7, (c) => caughtUp.resolve(c.modseq));
  try {
    const [listener] = await store.db.query<{ pid: number }>(
      `SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND query ILIKE 'listen %'`,
    );
    assert.ok(listener, "the LISTEN connection");
    await store.db.query("SELECT pg_terminate_backend($1)", [listener.pid]);
    const timeout = new Promise<never>((_, reject) => setTimeout(() => reject(new Error("no catch-up")), 10_000));
    assert.equal(await Promise.race([caughtUp.promise, timeout]), 0, "a forced catch-up (MODSEQ 0)");
  } finally {
    stop();
  }
});

storeTest(
  "flag changes commit without waiting for the disk, unless durableFlagChanges; mail always waits",
  async (_t, ts) => {
    if (ts.driver !== "postgres") return; // PGlite has one in-process writer and no WAL writer to observe
    const { store } = ts;
    const durable = await Store.open({ location: { url: ts.url! }, durableFlagChanges: true });
    try {
      await store.domains.add("example.test");
      const a = await store.accounts.create("flags@example.test", PW);
      const inbox = (await store.mailboxes.get(a.id, "INBOX"))!;
      const lsn = async () =>
        (await store.db.query<{ insert: string; ahead: boolean }>(
          `SELECT pg_current_wal_insert_lsn()::text AS insert,
                  pg_current_wal_insert_lsn() > pg_current_wal_flush_lsn() AS ahead`,
        ))[0]!;
      const behind = async (than: string) =>
        (await store.db.query<{ b: boolean }>("SELECT pg_current_wal_flush_lsn() <= $1::pg_lsn AS b", [than]))[0]!.b;
      // Mail: the reply comes after the commit record is on disk.
      let before = (await lsn()).insert;
      const [landed] = await store.messages.deliver({
        raw: bytes("x\r\n"),
        parsed: parsed(),
        targets: [{ mailboxId: inbox.id }],
      });
      assert.equal(await behind(before), false, "a delivery is flushed before it returns");
      // A flag change through the durable store: flushed before it returns.
      before = (await lsn()).insert;
      await durable.messages.storeFlags(inbox.id, [landed!.uid], "add", ["\\Flagged"]);
      assert.equal(await behind(before), false, "a durable flag change is flushed before it returns");
      // A flag change through the default store: committed (another store sees it at once), not yet flushed. The WAL
      // writer flushes every 200 ms, so one try in a few could see it flushed already.
      let unflushed = false;
      for (let i = 0; i < 5 && !unflushed; i++) {
        const r = await store.messages.storeFlags(inbox.id, [landed!.uid], i % 2 ? "remove" : "add", ["\\Seen"]);
        unflushed = (await lsn()).ahead;
        assert.equal(r.updated.length, 1);
        const [seen] = await durable.messages.meta(inbox.id, [[landed!.uid, landed!.uid]], { flagsOnly: true });
        assert.equal(seen!.flags.includes("\\Seen"), i % 2 === 0, "committed and visible to another store");
      }
      assert.ok(unflushed, "a flag change returns before its commit is flushed");
    } finally {
      await durable.close();
    }
  },
);

storeTest("deliverAll: local copies and outbound queue rows commit together", async (_t, { store }) => {
  await store.domains.add("example.test");
  const a = await store.accounts.create("a@example.test", PW);
  const inbox = (await store.mailboxes.inboxes([a.id])).get(a.id)!;
  const sent = (await store.mailboxes.special(a.id, "\\Sent"))!.id;
  const [local, outbound] = await store.messages.deliverAll([
    { raw: bytes("Return-Path: <a@example.test>\r\nx\r\n"), parsed: parsed(), targets: [{ mailboxId: inbox }] },
    {
      raw: bytes("x\r\n"),
      parsed: parsed("id@x"),
      targets: [{ mailboxId: sent, flags: ["\\Seen"] }],
      queue: [
        { submissionId: "s1", mailFrom: "a@example.test", recipient: "r1@Remote.test", accountId: a.id },
        { submissionId: "s1", mailFrom: "a@example.test", recipient: "r2@remote.test", dsn: { notify: ["FAILURE"] } },
      ],
    },
  ]);
  assert.equal(local!.length, 1);
  assert.equal(outbound!.length, 1);
  const q = await store.queue.list();
  assert.deepEqual(q.map((r) => [r.recipient, r.size]), [["r1@Remote.test", 3], ["r2@remote.test", 3]]);
  assert.deepEqual(q[1]!.dsn, { notify: ["FAILURE"] });
  assert.deepEqual(await store.queue.raw(q[0]!.id), bytes("x\r\n"));
  const blobs = await store.db.query<{ refcount: number; size: number }>(
    "SELECT refcount, size FROM blobs ORDER BY size",
  );
  assert.deepEqual(blobs.map((b) => b.refcount), [3, 1], "Sent copy + 2 queue rows share one blob");
  // Deleting the account keeps queued mail (it still has to leave), and its blob.
  await store.accounts.remove("a@example.test");
  assert.equal((await store.queue.list()).length, 2);
  assert.equal((await store.db.query("SELECT 1 FROM blobs")).length, 1);
  await store.db.query("DELETE FROM outbound_queue");
  assert.equal((await store.db.query("SELECT 1 FROM blobs")).length, 0);
});

storeTest(
  "message counters stay exact through delivery, copy, move, expunge and mailbox deletion",
  async (_t, { store }) => {
    await store.domains.add("example.test");
    const acct = await store.accounts.create("count@example.test", PW);
    const inbox = (await store.mailboxes.get(acct.id, "INBOX"))!;
    const other = await store.mailboxes.create(acct.id, "Other");
    const raw = (s: string) => bytes(`Subject: ${s}\r\n\r\nbody ${s}\r\n`);
    for (const s of ["a", "b", "a"]) {
      await store.messages.deliver({
        raw: raw(s),
        parsed: parsed(),
        targets: [{ mailboxId: inbox.id }],
      });
    }
    await store.messages.copy(inbox.id, [1, 2], other.id);
    await store.messages.copy(inbox.id, [3], other.id, { move: true });
    const check = async (when: string) => assert.equal(await countersWrong(store), 0, `counters wrong after ${when}`);
    await check("delivery, copy and move");
    assert.equal((await store.mailboxes.get(acct.id, "Other"))!.messageCount, 3);
    await store.mailboxes.remove(acct.id, "Other");
    await check("deleting a mailbox");
    assert.equal((await store.db.query("SELECT 1 FROM blobs")).length, 2, "content 'a' is stored once, 'b' still used");
    // EXPUNGE of one of two messages sharing a content keeps it; of the last one frees it.
    const blobCount = async () => (await store.db.query("SELECT 1 FROM blobs")).length;
    for (let i = 0; i < 2; i++) {
      await store.messages.deliver({ raw: raw("c"), parsed: parsed(), targets: [{ mailboxId: inbox.id }] });
    }
    const [first, second] = (await store.messages.uids(inbox.id)).slice(-2);
    await store.messages.storeFlags(inbox.id, [first!], "add", ["\\Deleted"]);
    assert.deepEqual((await store.messages.expunge(inbox.id)).uids, [first]);
    await check("expunging one of two copies");
    assert.equal(await blobCount(), 3);
    await store.messages.storeFlags(inbox.id, [second!], "add", ["\\Deleted"]);
    await store.messages.expunge(inbox.id);
    await check("expunging the last copy");
    assert.equal(await blobCount(), 2);
    await store.accounts.remove("count@example.test");
    await check("deleting the account");
    assert.equal(await blobCount(), 0);
  },
);

storeTest(
  "concurrent appends: a MODSEQ is reported as an append's own only when no other message shares it",
  async (_t, { store }) => {
    await store.domains.add("example.test");
    const acct = await store.accounts.create("share@example.test", PW);
    const inbox = (await store.mailboxes.get(acct.id, "INBOX"))!;
    const results = await Promise.all(
      ["a", "b", "c", "d", "e"].map((s) =>
        store.messages.append(inbox.id, { raw: bytes(`Subject: ${s}\r\n\r\n${s}\r\n`), parsed: parsed(), flags: [] })
      ),
    );
    const all = await store.messages.list(inbox.id);
    for (const r of results) {
      if (r.modseq === undefined) continue;
      assert.deepEqual(
        all.filter((m) => m.modseq === r.modseq).map((m) => m.uid),
        [r.uid],
        "an own MODSEQ is not shared",
      );
    }
  },
);

storeTest("COPY and MOVE racing EXPUNGE and STORE keep the counters exact", async (_t, { store }) => {
  await store.domains.add("example.test");
  const acct = await store.accounts.create("race@example.test", PW);
  const inbox = (await store.mailboxes.get(acct.id, "INBOX"))!;
  const other = await store.mailboxes.create(acct.id, "Other");
  for (let round = 0; round < 5; round++) {
    await store.messages.deliverAll(
      [0, 1, 2, 3].map((i) => ({
        raw: bytes(`Subject: r${round}m${i % 2}\r\n\r\nsame content ${i % 2}\r\n`),
        parsed: parsed(),
        targets: [{ mailboxId: inbox.id }],
      })),
    );
    const uids = await store.messages.uids(inbox.id);
    await store.messages.storeFlags(inbox.id, uids.slice(0, 2), "add", ["\\Deleted"]);
    await Promise.all([
      store.messages.copy(inbox.id, uids, other.id),
      store.messages.expunge(inbox.id),
      store.messages.copy(inbox.id, uids.slice(2), other.id, { move: true }),
      store.messages.storeFlags(inbox.id, uids, "add", ["\\Seen"]),
    ].map((p) => p.catch((e) => assert.fail(`a concurrent write failed: ${e}`))));
  }
  assert.equal(await countersWrong(store), 0, "counters match the rows");
});

storeTest(
  "EXPUNGE racing a delivery of the same content neither frees it too early nor leaks it",
  async (_t, { store }) => {
    await store.domains.add("example.test");
    const a = await store.accounts.create("one@example.test", PW);
    const b = await store.accounts.create("two@example.test", PW);
    const boxA = (await store.mailboxes.get(a.id, "INBOX"))!;
    const boxB = (await store.mailboxes.get(b.id, "INBOX"))!;
    for (let round = 0; round < 8; round++) {
      const raw = bytes(`Subject: shared ${round}\r\n\r\nthe same newsletter ${round}\r\n`);
      await store.messages.deliver({ raw, parsed: parsed(), targets: [{ mailboxId: boxA.id }] });
      const uids = await store.messages.uids(boxA.id);
      await store.messages.storeFlags(boxA.id, uids, "add", ["\\Deleted"]);
      await Promise.all([
        store.messages.expunge(boxA.id),
        store.messages.deliver({ raw, parsed: parsed(), targets: [{ mailboxId: boxB.id }] }),
      ]);
      assert.equal(await countersWrong(store), 0, `counters match the rows (round ${round})`);
      const orphans = await store.db.query(
        "SELECT 1 FROM blobs b WHERE NOT EXISTS (SELECT 1 FROM messages m WHERE m.blob_hash = b.hash)",
      );
      assert.equal(orphans.length, 0, "no content left without a message");
    }
    assert.equal((await store.messages.uids(boxB.id)).length, 8, "every delivered copy is readable");
    for (const m of await store.messages.meta(boxB.id, [[1, 100]], { content: true })) assert.ok(m.content?.length);
  },
);

storeTest(
  "a delivery batch keeps each message's structure and texts with it, also empty or with odd characters",
  async (_t, { store }) => {
    await store.domains.add("example.test");
    const acct = await store.accounts.create("texts@example.test", PW);
    const inbox = (await store.mailboxes.get(acct.id, "INBOX"))!;
    const texts = [
      { search: "", header: "", structure: { n: 0 } },
      { search: "unit\x1fsep and nul\0 here", header: "subject: \x1f", structure: { n: 1, s: 'a\x1fb"c\\' } },
      { search: "plain words", header: "from: x", structure: { n: 2 } },
    ];
    await store.messages.deliverAll(texts.map((t, i) => ({
      raw: bytes(`Subject: ${i}\r\n\r\nbody ${i}\r\n`),
      parsed: { structure: t.structure, searchText: t.search, headerText: t.header, messageId: null },
      targets: [{ mailboxId: inbox.id }],
    })));
    const rows = await store.db.query<{ structure: unknown; search_text: string; header_text: string }>(
      `SELECT b.structure, b.search_text, b.header_text FROM messages m JOIN blobs b ON b.hash = m.blob_hash
      WHERE m.mailbox_id = $1 ORDER BY m.uid`,
      [inbox.id],
    );
    const json = (v: unknown) => typeof v === "string" ? JSON.parse(v) : v;
    assert.deepEqual(rows.map((r) => json(r.structure)), texts.map((t) => t.structure));
    assert.deepEqual(rows.map((r) => r.search_text), ["", "unit sep and nul\uFFFD here", "plain words"]);
    assert.deepEqual(rows.map((r) => r.header_text), ["", "subject:  ", "from: x"]);

    // A Message-ID with such characters is kept for Sent de-duplication, and an APPEND of the message finds it.
    const sent = (await store.mailboxes.get(acct.id, "Sent"))!;
    const raw = bytes("Subject: odd id\r\n\r\nbody\r\n");
    const parsed = { structure: {}, searchText: "", messageId: "odd\0id\x1f@x" };
    const [copy] = await store.messages.deliver({
      raw,
      parsed,
      targets: [{ mailboxId: sent.id, keepMessageId: true }],
    });
    const again = await store.messages.append(sent.id, { raw, parsed, flags: [] });
    assert.deepEqual([again.uid, again.existing], [copy!.uid, true]);
  },
);

/** Holds a content row locked (another connection) until released: to open a race window on purpose. */
function holdContent(store: Store, raw: Uint8Array): Promise<{ release(): void; done: Promise<void> }> {
  return holdTransaction(store, async (tx) => {
    await tx.query("SELECT 1 FROM blobs WHERE hash = decode($1, 'hex') FOR UPDATE", [sha256(raw)]);
  });
}

const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

// Row locks held across connections: Postgres only (PGlite has one connection, the test would wait on itself).
storeTest(
  "deleting an account races neither an EXPUNGE elsewhere (deadlock) nor a new mailbox (leak)",
  async (_t, ts) => {
    if (ts.driver === "pglite") return;
    const { store } = ts;
    await store.domains.add("example.test");
    const a = await store.accounts.create("gone@example.test", PW);
    const c = await store.accounts.create("stays@example.test", PW);
    const box = async (id: number, name: string) => (await store.mailboxes.get(id, name))!.id;
    const [aIn, aDrafts, aArchive, cIn] = [
      await box(a.id, "INBOX"),
      await box(a.id, "Drafts"),
      await box(a.id, "Archive"),
      await box(c.id, "INBOX"),
    ];
    const [p, q] = [bytes("Subject: p\r\n\r\np\r\n"), bytes("Subject: q\r\n\r\nq\r\n")];
    const [low, high] = sha256(p) < sha256(q) ? [p, q] : [q, p];
    const held = bytes("Subject: w\r\n\r\nw\r\n");
    // The account's mailboxes hold the high content first and the low one last; the other user holds both.
    await store.messages.deliver({ raw: high, parsed: parsed(), targets: [{ mailboxId: aIn }, { mailboxId: cIn }] });
    await store.messages.deliver({ raw: held, parsed: parsed(), targets: [{ mailboxId: aDrafts }] });
    await store.messages.deliver({
      raw: low,
      parsed: parsed(),
      targets: [{ mailboxId: aArchive }, { mailboxId: cIn }],
    });
    await store.messages.storeFlags(cIn, await store.messages.uids(cIn), "add", ["\\Deleted"]);
    const lock = await holdContent(store, held);
    const removal = store.accounts.remove("gone@example.test").then(() => "ok", (e) => `removal: ${e.message}`);
    await pause(300);
    const expunge = store.messages.expunge(cIn).then(() => "ok", (e) => `expunge: ${e.message}`);
    // Meanwhile a mailbox is created for the account being deleted and mail arrives in it.
    const late = (async () => {
      try {
        const nb = await store.mailboxes.create(a.id, "Late");
        await store.messages.deliver({
          raw: bytes("Subject: z\r\n\r\nz\r\n"),
          parsed: parsed(),
          targets: [{ mailboxId: nb.id }],
        });
      } catch {
        // refused once the account is gone: fine
      }
    })();
    await pause(300);
    lock.release();
    await lock.done;
    assert.deepEqual(await Promise.all([removal, expunge]), ["ok", "ok"]);
    await late;
    const orphans = await store.db.query(
      "SELECT 1 FROM blobs b WHERE NOT EXISTS (SELECT 1 FROM messages m WHERE m.blob_hash = b.hash)",
    );
    assert.equal(orphans.length, 0, "no content left without a message");
    assert.equal(await countersWrong(store), 0);
  },
);
