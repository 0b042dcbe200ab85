/**
 * Crash test (DESIGN rule 3): while a load generator sends mail, `kill -9` the server; restart it; every message
 * that got a `250` is stored exactly once and readable, nothing is half-stored. Several rounds, both drivers.
 */
import assert from "node:assert/strict";
import { Store, type StoreOptions } from "../store/mod.ts";
import { loadMessage, runLoad } from "./clients/smtp_load.ts";
import { createTestDatabase, postgresUnavailableReason } from "./harness.ts";
import { startServerProcess } from "./server_process.ts";

const ROUNDS = 3;
const USERS = 5;

async function crashRounds(env: Record<string, string>, storeOptions: StoreOptions) {
  const setup = await Store.open(storeOptions);
  await setup.domains.add("crash.test");
  for (let u = 0; u < USERS; u++) await setup.accounts.create(`u${u}@crash.test`, "crash test passphrase");
  await setup.close();

  const acked: string[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const server = await startServerProcess(env);
    const controller = new AbortController();
    const load = runLoad({
      port: server.ports["SMTP (MX)"]!,
      sessions: 8,
      size: 2048,
      recipients: (i) => `u${i % USERS}@crash.test`,
      signal: controller.signal,
      prefix: `r${round}`,
    });
    // Let mail flow, then pull the plug at an arbitrary moment.
    await new Promise((r) => setTimeout(r, 1500 + Math.random() * 1500));
    await server.kill9();
    controller.abort();
    const result = await load;
    assert.ok(result.acked.length > 20, `round ${round}: only ${result.acked.length} messages acknowledged`);
    acked.push(...result.acked);
  }

  // Restart once more: the server must come up on the crashed store (recovery), then check the store directly.
  const server = await startServerProcess(env);
  assert.equal(await server.stop(), 0);
  const store = await Store.open(storeOptions);
  try {
    // The Message-ID as stored in the content (the message row keeps it only for Sent copies).
    const messageIdOf = `(regexp_match(encode(b.data, 'escape'), 'Message-ID: <([^>]+)>', 'i'))[1]`;
    const rows = await store.db.query<{ message_id: string; n: number }>(
      `SELECT ${messageIdOf} AS message_id, count(*)::int8 AS n
         FROM messages m JOIN blobs b ON b.hash = m.blob_hash GROUP BY 1`,
    );
    const stored = new Map(rows.map((r) => [r.message_id, r.n]));
    for (const id of acked) {
      assert.equal(stored.get(id), 1, `acknowledged message ${id} stored ${stored.get(id) ?? 0} times`);
    }
    for (const [id, n] of stored) assert.equal(n, 1, `message ${id} stored ${n} times`);
    // Readable and whole: every stored message is byte-identical to what was sent (after the trace headers).
    const sample = await store.db.query<{ message_id: string; data: Uint8Array }>(
      `SELECT ${messageIdOf} AS message_id, b.data FROM messages m JOIN blobs b ON b.hash = m.blob_hash`,
    );
    for (const { message_id, data } of sample) {
      const text = new TextDecoder().decode(data);
      const body = text.slice(text.indexOf("From: Load"));
      const to = /^To: <([^>]+)>/m.exec(body)?.[1] ?? "";
      assert.equal(body, loadMessage(message_id, to, 2048).replace(/^Date: .*$/m, /^Date: .*$/m.exec(body)![0]));
    }
    const bad = await store.db.query(
      `SELECT b.hash FROM blobs b
        WHERE b.refcount <> (SELECT count(*) FROM messages m WHERE m.blob_hash = b.hash)
                            + (SELECT count(*) FROM outbound_queue q WHERE q.blob_hash = b.hash)`,
    );
    assert.equal(bad.length, 0, "blob reference counts are exact");
    const counts = await store.db.query<{ n: number; c: number }>(
      `SELECT mb.message_count AS n, (SELECT count(*) FROM messages m WHERE m.mailbox_id = mb.id)::int8 AS c
         FROM mailboxes mb`,
    );
    for (const r of counts) assert.equal(r.n, r.c, "mailbox counters are exact");
  } finally {
    await store.close();
  }
}

Deno.test({
  name: "smtp crash: kill -9 under load loses no acknowledged message [pglite]",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "silvermail-crash-" });
    try {
      await crashRounds({ SILVERMAIL_DATA_DIR: dir }, { location: { dataDir: dir } });
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "smtp crash: kill -9 under load loses no acknowledged message [postgres]",
  ignore: !!postgresUnavailableReason() && Deno.env.get("CI") !== "true",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const db = await createTestDatabase();
    const dir = await Deno.makeTempDir({ prefix: "silvermail-crash-" });
    try {
      await crashRounds({ SILVERMAIL_DATA_DIR: dir, SILVERMAIL_DATABASE_URL: db.url }, { location: { url: db.url } });
    } finally {
      await db.drop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
