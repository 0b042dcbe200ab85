/**
 * @module
 * Test harness: a throwaway PostgreSQL cluster (initdb + pg_ctl in a temp dir on a free port) when the server is
 * installed, or `TEST_DATABASE_URL` when set; a fresh database per test suite; and helpers that run a test on
 * both store drivers. Without PostgreSQL the Postgres variants are skipped loudly — and fail when `CI=true`.
 */
import { Store } from "../store/mod.ts";
import type { Queryable } from "../store/sql/executor.ts";
import postgres from "postgres";

/** A running throwaway cluster. */
export interface PgCluster {
  url: string;
  /** The directory of its Unix socket. */
  socketDir: string;
  stop(): void;
}

function findPgBin(): string | undefined {
  try {
    const versions = [...Deno.readDirSync("/usr/lib/postgresql")].map((e) => e.name).sort((a, b) =>
      Number(b) - Number(a)
    );
    for (const v of versions) {
      const dir = `/usr/lib/postgresql/${v}/bin`;
      try {
        Deno.statSync(`${dir}/initdb`);
        return dir;
      } catch { /* next */ }
    }
  } catch { /* not installed */ }
  return undefined;
}

/** A free TCP port on 127.0.0.1. */
export function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

function run(cmd: string, args: string[], asPostgres: boolean): void {
  const argv = asPostgres ? ["runuser", "-u", "postgres", "--", cmd, ...args] : [cmd, ...args];
  const out = new Deno.Command(argv[0]!, { args: argv.slice(1), stdout: "piped", stderr: "piped" }).outputSync();
  if (!out.success) {
    throw new Error(`${cmd} failed: ${new TextDecoder().decode(out.stderr)}${new TextDecoder().decode(out.stdout)}`);
  }
}

/** Why Postgres tests cannot run here, or undefined when they can. */
export function postgresUnavailableReason(): string | undefined {
  if (Deno.env.get("TEST_DATABASE_URL")) return undefined;
  if (!findPgBin()) {
    return "PostgreSQL server is not installed (apt-get install -y postgresql) and TEST_DATABASE_URL is unset";
  }
  return undefined;
}

/** Starts a throwaway cluster. The caller must `stop()` it. */
export function startCluster(): PgCluster {
  const bin = findPgBin();
  if (!bin) throw new Error(postgresUnavailableReason());
  const dir = Deno.makeTempDirSync({ prefix: "silvermail-pg-" });
  const asPostgres = Deno.uid() === 0;
  if (asPostgres) run("chown", ["-R", "postgres:postgres", dir], false);
  const port = freePort();
  run(`${bin}/initdb`, ["-D", `${dir}/data`, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"], asPostgres);
  run(`${bin}/pg_ctl`, [
    "-D",
    `${dir}/data`,
    "-o",
    `-k ${dir} -p ${port} -c listen_addresses=127.0.0.1 -c max_connections=300 -c fsync=on`,
    "-l",
    `${dir}/log`,
    "-w",
    "start",
  ], asPostgres);
  let stopped = false;
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    socketDir: dir,
    stop() {
      if (stopped) return;
      stopped = true;
      try {
        run(`${bin}/pg_ctl`, ["-D", `${dir}/data`, "-m", "immediate", "-w", "stop"], asPostgres);
      } finally {
        Deno.removeSync(dir, { recursive: true });
      }
    },
  };
}

let cluster: PgCluster | undefined;

/** The server URL for tests: `TEST_DATABASE_URL`, or a cluster started on first use and stopped at exit. */
export function testServerUrl(): string | undefined {
  const fromEnv = Deno.env.get("TEST_DATABASE_URL");
  if (fromEnv) return fromEnv;
  if (postgresUnavailableReason()) return undefined;
  if (!cluster) {
    cluster = startCluster();
    Deno.env.set("TEST_DATABASE_SOCKET_DIR", cluster.socketDir);
    globalThis.addEventListener("unload", () => cluster?.stop());
  }
  return cluster.url;
}

/** Creates an empty database on the test server and returns its URL and a function that drops it. */
export async function createTestDatabase(): Promise<{ url: string; drop: () => Promise<void> }> {
  const server = testServerUrl();
  if (!server) throw new Error(postgresUnavailableReason());
  const name = `sm_test_${crypto.randomUUID().replaceAll("-", "").slice(0, 16)}`;
  const admin = postgres(server, { max: 1, onnotice: () => {} });
  await admin.unsafe(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(server);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const a = postgres(server, { max: 1, onnotice: () => {} });
      await a.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await a.end();
    },
  };
}

/** Which driver a test runs on. */
export type Driver = "pglite" | "postgres";

/** A store opened for a test, with a function that closes it and removes its database. */
export interface TestStore {
  store: Store;
  driver: Driver;
  /** Connection URL (postgres only): for a second store on the same database. */
  url?: string;
  close(): Promise<void>;
}

let pgliteTemplate: Promise<Blob> | undefined;

/** A migrated, empty in-memory PGlite database, made once per process (initdb takes seconds, a copy < 1 s). */
function migratedPgliteSnapshot(): Promise<Blob> {
  pgliteTemplate ??= (async () => {
    const s = await Store.open({ location: { memory: true } });
    const blob = await s.snapshot();
    await s.close();
    return blob;
  })();
  return pgliteTemplate;
}

/** Test stores keep recently read messages as production does (`database.message_cache_mb`), so the cached paths run. */
const MESSAGE_CACHE_BYTES = 16 * 1048576;

/** Opens an empty, migrated store on `driver`. */
export async function openTestStore(driver: Driver, policy?: { minPasswordLength?: number }): Promise<TestStore> {
  if (driver === "pglite") {
    const snapshot = await migratedPgliteSnapshot();
    const store = await Store.open({
      location: { memory: true, snapshot },
      policy: policy ?? {},
      messageCacheBytes: MESSAGE_CACHE_BYTES,
    });
    return { store, driver, close: () => store.close() };
  }
  const db = await createTestDatabase();
  const store = await Store.open({
    location: { url: db.url, poolSize: 5 },
    policy: policy ?? {},
    messageCacheBytes: MESSAGE_CACHE_BYTES,
  });
  return {
    store,
    driver,
    url: db.url,
    async close() {
      await store.close();
      await db.drop();
    },
  };
}

/**
 * Registers `fn` once per driver, as `"<name> [pglite]"` and `"<name> [postgres]"`. The store is shared by the
 * steps of one registration; each driver gets a fresh one. Postgres runs are skipped (loudly) when no server
 * is available, and fail when `CI=true`.
 */
export function storeTest(name: string, fn: (t: Deno.TestContext, ts: TestStore) => Promise<void>): void {
  for (const driver of ["pglite", "postgres"] as const) {
    const reason = driver === "postgres" ? postgresUnavailableReason() : undefined;
    if (reason && Deno.env.get("CI") !== "true") {
      console.warn(`\n!!! SKIPPED "${name} [postgres]": ${reason}\n`);
      Deno.test({ name: `${name} [postgres]`, ignore: true, fn() {} });
      continue;
    }
    Deno.test({
      name: `${name} [${driver}]`,
      sanitizeResources: false,
      sanitizeOps: false,
      async fn(t) {
        if (reason) throw new Error(`CI=true but the Postgres suite cannot run: ${reason}`);
        const ts = await openTestStore(driver);
        try {
          await fn(t, ts);
        } finally {
          await ts.close();
        }
      },
    });
  }
}

/**
 * Runs `fn` in a transaction on a connection of its own and keeps the transaction open, its row locks held, until
 * `release()` (Postgres only: PGlite has one connection). Resolves once `fn` has run: to open a race window on purpose.
 */
export async function holdTransaction(
  store: Store,
  fn: (tx: Queryable) => Promise<void>,
): Promise<{ release(): void; done: Promise<void> }> {
  let release!: () => void;
  const gate = new Promise<void>((r) => release = r);
  let held!: () => void;
  const isHeld = new Promise<void>((r) => held = r);
  const done = store.db.transaction(async (tx) => {
    await fn(tx);
    held();
    await gate;
  });
  await Promise.race([isHeld, done]);
  return { release, done };
}
