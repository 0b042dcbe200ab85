/**
 * @module
 * Store delivery benchmark: N messages of 4 KB (parsed beforehand) into 10 mailboxes through `store.messages.deliver`, with C
 * concurrent deliveries (so group commit can share transactions), on each driver. Prints messages/s.
 * Options: `--n 10000 --concurrency 50 --size 4096 --driver pglite|postgres|both`. Postgres: `BENCH_DATABASE_URL`,
 * else a throwaway cluster (PostgreSQL installed; fsync on, as in production).
 */
import process from "node:process";
import { parseArgs } from "../cli/args.ts";
import { Store, type StoreOptions } from "../store/mod.ts";
import { parseMessage } from "../mail/parse.ts";
import { postgresCpuSeconds } from "./_proc.ts";
import { createTestDatabase, postgresUnavailableReason } from "../tests/harness.ts";

function message(i: number, size: number): Uint8Array {
  const head =
    `From: Sender <sender@example.org>\r\nTo: user${i % 10}@bench.test\r\nSubject: Benchmark message ${i}\r\n` +
    `Message-ID: <bench-${i}-${crypto.randomUUID()}@example.org>\r\nDate: ${new Date().toUTCString()}\r\n` +
    `MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n`;
  const line = "The quick brown fox jumps over the lazy dog, again and again and again.\r\n";
  let body = "";
  while (head.length + body.length + line.length <= size) body += line;
  return new TextEncoder().encode(head + body);
}

async function runOne(label: string, options: StoreOptions, n: number, concurrency: number, size: number) {
  const store = await Store.open(options);
  try {
    await store.domains.add("bench.test");
    const inboxes: number[] = [];
    for (let u = 0; u < 10; u++) {
      const a = await store.accounts.create(`user${u}@bench.test`, "bench passphrase 1");
      inboxes.push((await store.mailboxes.inboxes([a.id])).get(a.id)!);
    }
    const messages = Array.from({ length: n }, (_, i) => message(i, size));
    const parsed = messages.map((raw) => parseMessage(raw)); // parsed before timing: this measures the store
    let next = 0;
    const latencies: number[] = [];
    const worker = async () => {
      while (next < n) {
        const i = next++;
        const t = performance.now();
        await store.messages.deliver({
          raw: messages[i]!,
          parsed: parsed[i]!,
          targets: [{ mailboxId: inboxes[i % 10]! }],
        });
        latencies.push(performance.now() - t);
      }
    };
    const cpu0 = process.cpuUsage();
    const pg0 = label === "postgres" ? postgresCpuSeconds() : 0;
    const t0 = performance.now();
    await Promise.all(Array.from({ length: concurrency }, worker));
    const seconds = (performance.now() - t0) / 1000;
    const cpu1 = process.cpuUsage();
    const pg = label === "postgres" ? postgresCpuSeconds() - pg0 : 0;
    const commits = (await store.db.query<{ n: number }>(
      "SELECT count(DISTINCT (mailbox_id, modseq))::int8 AS n FROM messages",
    ))[0]!.n;
    latencies.sort((a, b) => a - b);
    const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * p))]!.toFixed(1);
    const cpuMs = ((cpu1.user - cpu0.user) + (cpu1.system - cpu0.system)) / 1000;
    console.log(
      `${label.padEnd(9)} ${n} x ${size} B, ${concurrency} concurrent: ${(n / seconds).toFixed(0)} msg/s ` +
        `(${seconds.toFixed(2)} s; p50 ${pct(0.5)} ms, p99 ${pct(0.99)} ms; ${commits} mailbox commits; ` +
        `process CPU ${(cpuMs / n * 1000).toFixed(0)} ms per 1000 msgs` +
        (label === "postgres" ? `, Postgres ${(pg / n * 1000000).toFixed(0)} ms` : "") + ")",
    );
  } finally {
    await store.close();
  }
}

/** Runs the benchmark. */
export async function run(argv: string[]): Promise<void> {
  const { options } = parseArgs(argv, new Set(["n", "concurrency", "size", "driver"]));
  const n = Number(options.get("n") ?? 10000);
  const concurrency = Number(options.get("concurrency") ?? 50);
  const size = Number(options.get("size") ?? 4096);
  const driver = String(options.get("driver") ?? "both");
  if (driver !== "postgres") {
    const dir = await Deno.makeTempDir({ prefix: "silvermail-bench-" });
    try {
      await runOne("pglite", { location: { dataDir: dir } }, n, concurrency, size);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  }
  if (driver !== "pglite") {
    const url = Deno.env.get("BENCH_DATABASE_URL");
    if (url) await runOne("postgres", { location: { url, poolSize: 10 } }, n, concurrency, size);
    else if (postgresUnavailableReason()) console.log(`postgres  skipped: ${postgresUnavailableReason()}`);
    else {
      const db = await createTestDatabase();
      try {
        await runOne("postgres", { location: { url: db.url, poolSize: 10 } }, n, concurrency, size);
      } finally {
        await db.drop();
      }
    }
  }
}
