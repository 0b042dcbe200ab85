/**
 * @module
 * Idle-connection memory: N IMAP clients over TLS (port 993) log in, SELECT INBOX and IDLE, and stay; the figure is
 * the server process's RSS before and after (each read 25 s after the last login, so the garbage of logging in —
 * argon2 hashing above all — is collected first) and the growth per connection. Postgres by default; the embedded
 * PGlite store adds its own few hundred MB to the base, not per connection.
 * Options: `--connections 2000 --driver postgres|pglite`. Target (issue 4): ≤ 50 KB per idle connection.
 */
import tls from "node:tls";
import { parseArgs } from "../cli/args.ts";
import { createTestDatabase } from "../tests/harness.ts";
import { runCli, startServerProcess } from "../tests/server_process.ts";

const PASSWORD = "idle bench passphrase";
const SETTLE_MS = 25_000;

function rssKiB(pid: number): number {
  return Number(/^Rss:\s+(\d+)/m.exec(Deno.readTextFileSync(`/proc/${pid}/smaps_rollup`))![1]);
}

/** One client: TLS, LOGIN, SELECT INBOX, IDLE; resolves when the server says it is idling. */
function idleClient(port: number): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: "127.0.0.1", port, rejectUnauthorized: false });
    let seen = "";
    let step = 0;
    const steps: [string, string | null][] = [
      ["* OK", `a LOGIN u@idle.test "${PASSWORD}"\r\n`],
      ["a OK", "b SELECT INBOX\r\n"],
      ["b OK", "c IDLE\r\n"],
      ["+ ", null],
    ];
    socket.on("data", (d) => {
      seen += d.toString("latin1");
      while (step < steps.length && seen.includes(steps[step]![0])) {
        const next = steps[step++]![1];
        seen = "";
        if (next) socket.write(next);
        else resolve(socket);
      }
    });
    socket.on("error", reject);
  });
}

export async function run(argv: string[]): Promise<void> {
  const { options } = parseArgs(argv, new Set(["connections", "driver"]));
  const n = Number(options.get("connections") ?? 2000);
  const driver = String(options.get("driver") ?? "postgres");
  const dir = await Deno.makeTempDir({ prefix: "silvermail-bench-idle-" });
  const db = driver === "postgres" ? await createTestDatabase() : undefined;
  const env = {
    SILVERMAIL_DATA_DIR: dir,
    SILVERMAIL_LOG_LEVEL: "warn",
    SILVERMAIL_IMAP_MAX_CONNECTIONS_PER_IP: String(n + 10),
    SILVERMAIL_IMAP_MAX_CONNECTIONS_PER_ACCOUNT: String(n + 10), // every connection is u@idle.test
    ...(db ? { SILVERMAIL_DATABASE_URL: db.url } : {}),
  };
  const server = await startServerProcess(env);
  const sockets: tls.TLSSocket[] = [];
  try {
    await runCli(env, ["domain", "add", "idle.test"]);
    await runCli(env, ["user", "add", "u@idle.test", "--password-stdin"], PASSWORD);
    const port = server.ports["IMAPS"]!;
    sockets.push(await idleClient(port)); // warm: one session of every kind of object
    await new Promise((r) => setTimeout(r, SETTLE_MS));
    const before = rssKiB(server.pid);
    for (let i = 0; i < n; i++) sockets.push(await idleClient(port));
    await new Promise((r) => setTimeout(r, SETTLE_MS));
    const after = rssKiB(server.pid);
    console.log(
      `${driver}: ${n} idle IMAPS connections in IDLE: server RSS ${(before / 1024).toFixed(0)} MB → ` +
        `${(after / 1024).toFixed(0)} MB, ${((after - before) / n).toFixed(0)} KB per connection`,
    );
  } finally {
    for (const s of sockets) s.destroy();
    await server.stop();
    await db?.drop();
    await Deno.remove(dir, { recursive: true });
  }
}
