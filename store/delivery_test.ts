/**
 * The store side of outbound delivery: claiming queue rows (a lease, never the same row twice at once),
 * settling attempts with the delivery log, admin retry/delete; DKIM keys and their rotation windows.
 */
import assert from "node:assert/strict";
import { storeTest } from "../tests/harness.ts";
import type { ParsedContent, Store } from "./mod.ts";

const parsed: ParsedContent = { structure: { t: "text/plain" }, searchText: "", messageId: null };

async function queueThree(store: Store): Promise<void> {
  await store.messages.deliverAll([{
    raw: new TextEncoder().encode("Subject: q\r\n\r\nx\r\n"),
    parsed,
    targets: [],
    queue: ["r1@remote.test", "r2@remote.test", "r3@other.test"].map((recipient) => ({
      submissionId: "s1",
      mailFrom: "a@example.test",
      recipient,
    })),
  }]);
}

storeTest("queue: claim leases rows once; settle removes, defers and logs", async (_t, { store }) => {
  await queueThree(store);
  // Two workers claiming at once get disjoint rows.
  const [x, y] = await Promise.all([store.queue.claim(2, 60_000), store.queue.claim(2, 60_000)]);
  const ids = [...x, ...y].map((r) => r.id).sort();
  assert.equal(new Set(ids).size, 3);
  assert.equal(ids.length, 3);
  assert.deepEqual(await store.queue.claim(10, 60_000), [], "leased rows are not due");
  const all = [...x, ...y];
  assert.ok(all.every((r) => r.attempts === 1));
  const contents = await store.queue.contents([all[0]!.blobHash]);
  assert.equal(new TextDecoder().decode([...contents.values()][0]), "Subject: q\r\n\r\nx\r\n");
  const log = (r: (typeof all)[number], reply: string) => ({
    submissionId: r.submissionId,
    mailFrom: r.mailFrom,
    recipient: r.recipient,
    mxHost: "mx.remote.test",
    mxIp: "127.0.0.9",
    tls: { version: "TLSv1.3", cipher: "TLS_AES_256_GCM_SHA384" },
    reply,
    attempt: r.attempts,
  });
  const [d, b, w] = all.sort((p, q) => p.id - q.id);
  await store.queue.settle([
    { id: d!.id, lease: d!.lease, outcome: "delivered", log: log(d!, "250 ok") },
    { id: b!.id, lease: b!.lease, outcome: "bounced", log: log(b!, "550 5.1.1 no such user") },
    {
      id: w!.id,
      lease: w!.lease,
      outcome: "deferred",
      nextAttemptAt: new Date(Date.now() - 1000),
      log: log(w!, "451 later"),
    },
  ]);
  const left = await store.queue.list();
  assert.deepEqual(left.map((r) => [r.id, r.lastError]), [[w!.id, "451 later"]]);
  const again = await store.queue.claim(10, 60_000);
  assert.deepEqual(again.map((r) => [r.id, r.attempts, r.lastMx]), [[w!.id, 2, "mx.remote.test"]]);
  const settledAs = (r: (typeof all)[number]) => ({ id: r.id, lease: r.lease, log: log(r, "250 ok") });
  const entries = await store.queue.log();
  assert.deepEqual(entries.map((e) => e.result).sort(), ["bounced", "deferred", "delivered"]);
  assert.equal(entries.find((e) => e.result === "delivered")!.tlsVersion, "TLSv1.3");
  // A claim whose lease ran out and was claimed again cannot settle the row any more; the new claim can.
  assert.equal((await store.queue.list())[0]!.sending, true);
  await store.db.query("UPDATE outbound_queue SET next_attempt_at = now()");
  const newer = await store.queue.claim(10, 60_000);
  await store.queue.settle([{ ...settledAs(again[0]!), outcome: "delivered" }]);
  assert.equal((await store.queue.list()).length, 1, "the stale claim did not remove it");
  // Admin: retry leaves a row being delivered alone; release gives it back; retry and delete then work.
  assert.equal(await store.queue.retry(), 0);
  await store.queue.release(newer);
  assert.equal((await store.queue.list())[0]!.sending, false);
  assert.equal(await store.queue.retry(), 1);
  assert.deepEqual((await store.queue.claim(10, 60_000, ["other.test"])).length, 0, "skipped domain");
  assert.equal((await store.queue.claim(10, 60_000)).length, 1);
  assert.equal(await store.queue.delete([w!.id]), 1);
  assert.equal((await store.db.query("SELECT 1 FROM blobs")).length, 0);
});

storeTest("dkim: keys per domain, signing and published windows through a rotation", async (_t, { store }) => {
  await store.domains.add("example.test");
  const first = await store.dkim.add("example.test");
  const year = new Date().getUTCFullYear();
  assert.deepEqual(first.map((k) => [k.selector, k.algorithm]), [[`s${year}a`, "rsa"], [`e${year}a`, "ed25519"]]);
  assert.match(first[0]!.privateKey, /^-----BEGIN PRIVATE KEY-----/);
  assert.equal(atob(first[1]!.publicKey).length, 32, "Ed25519 p= is the raw key");
  assert.deepEqual((await store.dkim.signing("example.test")).map((k) => k.selector).sort(), [
    `e${year}a`,
    `s${year}a`,
  ]);
  const { added, retiring } = await store.dkim.rotate("example.test", 60_000);
  assert.deepEqual(added.map((k) => k.selector), [`s${year}b`, `e${year}b`]);
  assert.equal(retiring.length, 2);
  const now = Date.now();
  const at = (ms: number) => new Date(now + ms);
  const signingAt = async (ms: number) =>
    (await store.dkim.signing("example.test", at(ms))).map((k) => k.selector).sort();
  const publishedAt = async (ms: number) =>
    (await store.dkim.published("example.test", at(ms))).map((k) => k.selector).sort();
  // Before the grace period ends the old keys sign; all four are published.
  assert.deepEqual(await signingAt(1000), [`e${year}a`, `s${year}a`]);
  assert.equal((await publishedAt(1000)).length, 4);
  // After it the new keys sign while the old ones are still published; after two periods they are gone.
  assert.deepEqual(await signingAt(61_000), [`e${year}b`, `s${year}b`]);
  assert.equal((await publishedAt(61_000)).length, 4);
  assert.deepEqual(await publishedAt(121_000), [`e${year}b`, `s${year}b`]);
  // At every moment, every signing key is published.
  for (const ms of [0, 30_000, 59_999, 60_000, 60_001, 119_999, 120_001]) {
    const published = new Set(await publishedAt(ms));
    for (const s of await signingAt(ms)) assert.ok(published.has(s), `${s} signs at +${ms} ms but is not published`);
  }
  // A domain added without keys gets them from ensureAll; deleting the domain deletes its keys.
  await store.domains.add("other.test");
  assert.deepEqual(await store.dkim.ensureAll(), ["other.test"]);
  assert.deepEqual(await store.dkim.ensureAll(), []);
  await store.domains.remove("other.test");
  assert.equal((await store.db.query("SELECT 1 FROM dkim_keys")).length, 4);
});
