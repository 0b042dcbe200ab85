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
