import assert from "node:assert/strict";
import { createTestDatabase, testServerUrl } from "../../tests/harness.ts";
import { openPostgres } from "./postgres.ts";

Deno.test({
  name: "postgres: a libpq-style ?host=/socket/dir connects over the Unix socket",
  // The socket directory is known when tests/run.ts (or the harness) started the cluster.
  ignore: !testServerUrl() || !Deno.env.get("TEST_DATABASE_SOCKET_DIR"),
  async fn() {
    const db = await createTestDatabase();
    const url = new URL(db.url);
    url.searchParams.set("host", Deno.env.get("TEST_DATABASE_SOCKET_DIR")!);
    const sql = await openPostgres(url.toString(), { poolSize: 2 });
    // libpq's form without a host, the port as a parameter.
    const bare = await openPostgres(
      `postgres://postgres:unused@/${url.pathname.slice(1)}?host=${url.searchParams.get("host")}&port=${url.port}`,
    );
    try {
      assert.equal((await bare.query<{ n: number }>("SELECT 2 AS n"))[0]?.n, 2);
      const [row] = await sql.query<{ addr: string | null; db: string }>(
        "SELECT client_addr::text AS addr, current_database() AS db FROM pg_stat_activity WHERE pid = pg_backend_pid()",
      );
      assert.equal(row?.addr, null, "no client address: a Unix socket");
      assert.equal(row?.db, url.pathname.slice(1));
      assert.equal(await sql.transaction(async (tx) => (await tx.query<{ n: number }>("SELECT 1 AS n"))[0]?.n), 1);
    } finally {
      await bare.close();
      await sql.close();
      await db.drop();
    }
  },
});

Deno.test({
  name: "postgres: statements share one pipelined backend, and a stalled pipeline sends the next ones to the pool",
  ignore: !testServerUrl(),
  async fn() {
    const db = await createTestDatabase();
    const sql = await openPostgres(db.url, { poolSize: 3 });
    try {
      // A burst of statements: each gets its own answer, and one backend answered them all.
      const answers = await Promise.all(
        Array.from(
          { length: 20 },
          (_, i) => sql.query<{ n: number; pid: number }>("SELECT $1::int AS n, pg_backend_pid() AS pid", [i]),
        ),
      );
      assert.deepEqual(answers.map((r) => r[0]?.n), Array.from({ length: 20 }, (_, i) => i));
      assert.equal(new Set(answers.map((r) => r[0]?.pid)).size, 1, "one pipelined connection");

      // A statement on the pipeline waits for a row lock a transaction holds; later statements must not wait
      // behind it (beyond the first few milliseconds), and bytea comes back as it went in.
      await sql.exec("CREATE TABLE t (id int PRIMARY KEY, v int, b bytea); INSERT INTO t VALUES (1, 0, NULL)");
      let release!: () => void;
      const held = new Promise<void>((r) => release = r);
      let locked!: () => void;
      const isLocked = new Promise<void>((r) => locked = r);
      const tx = sql.transaction(async (tx) => {
        await tx.query("SELECT 1 FROM t WHERE id = 1 FOR UPDATE");
        locked();
        await held;
      });
      await isLocked;
      const blocked = sql.query("UPDATE t SET v = 1 WHERE id = 1");
      await new Promise((r) => setTimeout(r, 50));
      const bytes = new Uint8Array([0, 1, 2, 0xfe, 0xff, 0x5c, 0x78]);
      let timer!: ReturnType<typeof setTimeout>;
      const [row] = await Promise.race([
        (async () => {
          await sql.query("INSERT INTO t VALUES (2, 0, $1)", [bytes]);
          return await sql.query<{ b: Uint8Array; pid: number }>(
            "SELECT b, pg_backend_pid() AS pid FROM t WHERE id = 2",
          );
        })(),
        new Promise<never>((_, reject) => timer = setTimeout(() => reject(new Error("stuck behind the lock")), 5000)),
      ]).finally(() => clearTimeout(timer));
      assert.deepEqual(row?.b, bytes);
      assert.notEqual(row?.pid, answers[0]![0]!.pid, "past the stalled pipeline");
      release();
      await tx;
      await blocked;
      assert.equal((await sql.query<{ v: number }>("SELECT v FROM t WHERE id = 1"))[0]?.v, 1);
    } finally {
      await sql.close();
      await db.drop();
    }
  },
});
