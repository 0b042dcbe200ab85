/**
 * @module
 * SMTP ingest benchmark: the real server as a subprocess, C concurrent sessions sending messages of a given size
 * to local users over port 25 (MX); prints accepted-and-stored messages/s (a 250 is sent only after the commit),
 * p50/p99 latency of the 250, and the server's CPU seconds per 1,000 messages (and Postgres' own, all its
 * processes) — on PGlite and on Postgres.
 * Options: `--sessions 1,10,50 --sizes 4096,102400 --count 2000 --driver both|pglite|postgres`, and `--mail-auth`
 * to run the SPF/DKIM/DMARC checks of incoming mail as in production (against a local dnsmasq publishing SPF and
 * DMARC for the sender's domain); without it they are off, as in the Postfix reference.
 * For the comparison with Postfix→Dovecot, see README ("Benchmarks") and ../shared/bench/smtp-compare.sh.
 */
import { parseArgs } from "../cli/args.ts";
import { cpuSeconds, postgresCpuSeconds } from "./_proc.ts";
import { Store, type StoreOptions } from "../store/mod.ts";
import { runLoad } from "../tests/clients/smtp_load.ts";
import { createTestDatabase, postgresUnavailableReason } from "../tests/harness.ts";
import { startDns, type TestDns } from "../tests/dns_server.ts";
import { startServerProcess } from "../tests/server_process.ts";

async function runDriver(label: string, env: Record<string, string>, store: StoreOptions, o: {
  sessions: number[];
  sizes: number[];
  count: number;
}) {
  const setup = await Store.open(store);
  await setup.domains.add("bench.test");
  for (let u = 0; u < 50; u++) await setup.accounts.create(`u${u}@bench.test`, "bench passphrase 1");
  await setup.close();
  const server = await startServerProcess({
    ...env,
    SILVERMAIL_LOG_LEVEL: "warn",
    SILVERMAIL_SMTP_MAX_CONNECTIONS_PER_IP: "500",
  });
  try {
    const port = server.ports["SMTP (MX)"]!;
    await runLoad({
      port,
      sessions: 4,
      count: 200,
      size: 4096,
      recipients: (i) => `u${i % 50}@bench.test`,
      prefix: "warm",
    });
    for (const size of o.sizes) {
      for (const sessions of o.sessions) {
        const count = size > 50_000 ? Math.ceil(o.count / 5) : o.count;
        const cpu0 = cpuSeconds(server.pid);
        const pg0 = postgresCpuSeconds();
        const r = await runLoad({
          port,
          sessions,
          count,
          size,
          recipients: (i) => `u${i % 50}@bench.test`,
          prefix: `b${size}-${sessions}-${Date.now()}`,
        });
        const cpu = cpuSeconds(server.pid) - cpu0;
        const pg = postgresCpuSeconds() - pg0;
        r.latencies.sort((a, b) => a - b);
        const pct = (p: number) => (r.latencies[Math.floor((r.latencies.length - 1) * p)] ?? NaN).toFixed(1);
        console.log(
          `${label.padEnd(8)} ${String(size).padStart(6)} B  ${String(sessions).padStart(2)} sessions: ` +
            `${(r.acked.length / r.seconds).toFixed(0).padStart(5)} msg/s stored  p50 ${pct(0.5)} ms  p99 ${
              pct(0.99)
            } ms  ` +
            `server CPU ${(cpu / r.acked.length * 1000).toFixed(2)} s/1000 msgs` +
            (label === "postgres" ? ` + Postgres ${(pg / r.acked.length * 1000).toFixed(2)} s` : "") +
            `  (${r.acked.length} acked, ${r.errors} errors)`,
        );
      }
    }
  } finally {
    await server.stop();
  }
}

/** Runs the benchmark. */
export async function run(argv: string[]): Promise<void> {
  const { options } = parseArgs(argv, new Set(["sessions", "sizes", "count", "driver"]));
  let dns: TestDns | undefined;
  const auth: Record<string, string> = {};
  if (options.has("mail-auth")) {
    dns = await startDns({
      txt: [["sender.test", "v=spf1 ip4:127.0.0.1 -all"], ["_dmarc.sender.test", "v=DMARC1; p=reject"]],
    });
    Object.assign(auth, { SILVERMAIL_MAIL_AUTH_ENABLED: "true", SILVERMAIL_DNS_NAMESERVER: dns.nameserver });
    console.log("mail authentication on (SPF, DKIM, DMARC, ARC for every message)");
  }
  try {
    await runDrivers(options, auth);
  } finally {
    await dns?.stop();
  }
}

async function runDrivers(options: Map<string, string | true>, auth: Record<string, string>): Promise<void> {
  const list = (k: string, d: string) => String(options.get(k) ?? d).split(",").map(Number);
  const o = {
    sessions: list("sessions", "1,10,50"),
    sizes: list("sizes", "4096,102400"),
    count: Number(options.get("count") ?? 2000),
  };
  const driver = String(options.get("driver") ?? "both");
  if (driver !== "postgres") {
    const dir = await Deno.makeTempDir({ prefix: "silvermail-bench-" });
    try {
      await runDriver("pglite", { ...auth, SILVERMAIL_DATA_DIR: dir }, { location: { dataDir: dir } }, o);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  }
  if (driver !== "pglite") {
    if (postgresUnavailableReason()) return console.log(`postgres skipped: ${postgresUnavailableReason()}`);
    const db = await createTestDatabase();
    const dir = await Deno.makeTempDir({ prefix: "silvermail-bench-" });
    try {
      await runDriver("postgres", { ...auth, SILVERMAIL_DATA_DIR: dir, SILVERMAIL_DATABASE_URL: db.url }, {
        location: { url: db.url },
      }, o);
    } finally {
      await db.drop();
      await Deno.remove(dir, { recursive: true });
    }
  }
}
