/**
 * @module
 * Outbound delivery benchmark: 10,000 messages (4 KB) queued for one remote domain, whose MX (served by a local
 * dnsmasq) is a counting SMTP sink with STARTTLS (bench/outbound_sink.py, Debian's python3-aiosmtpd). The real
 * server starts with the full queue; the figure is delivered messages/s from start until the queue is empty,
 * and the server's CPU seconds per 1,000 messages. Postgres only (the benchmark watches the queue in the
 * database while the server runs). Options: `--count 10000 --size 4096 --concurrency 20`.
 */
import { parseArgs } from "../cli/args.ts";
import { cpuSeconds } from "./_proc.ts";
import { parseMessage } from "../mail/parse.ts";
import { Store } from "../store/mod.ts";
import { startDns } from "../tests/dns_server.ts";
import { createTestDatabase, freePort, postgresUnavailableReason } from "../tests/harness.ts";
import { certificate } from "../tests/mail_world.ts";
import { startServerProcess } from "../tests/server_process.ts";

export async function run(argv: string[]): Promise<void> {
  const { options } = parseArgs(argv, new Set(["count", "size", "concurrency"]));
  const count = Number(options.get("count") ?? 10_000);
  const size = Number(options.get("size") ?? 4096);
  const concurrency = Number(options.get("concurrency") ?? 20);
  const reason = postgresUnavailableReason();
  if (reason) throw new Error(`bench outbound needs Postgres: ${reason}`);
  const python = "/usr/bin/python3";
  const probe = await new Deno.Command(python, { args: ["-c", "import aiosmtpd"], stderr: "null" }).output();
  if (!probe.success) throw new Error("needs Debian's python3-aiosmtpd: apt-get install -y python3-aiosmtpd");

  const dir = await Deno.makeTempDir({ prefix: "silvermail-bench-outbound-" });
  const { cert, key } = await certificate(["sink.bench.test"]);
  const port = freePort();
  const sink = new Deno.Command(python, {
    args: [new URL("./outbound_sink.py", import.meta.url).pathname, "127.0.0.1", String(port), cert, key],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const sinkOut = sink.stdout.pipeThrough(new TextDecoderStream()).getReader();
  await sinkOut.read(); // "ready"
  const dns = await startDns({
    mx: [["sink.bench.test", "mx.sink.bench.test", 10]],
    a: [["mx.sink.bench.test", "127.0.0.1"]],
  });
  const db = await createTestDatabase();
  try {
    // The queue, filled directly: distinct 4 KB messages, one recipient each.
    const store = await Store.open({ location: { url: db.url } });
    const filler = "x".repeat(76) + "\r\n";
    const batch = 500;
    for (let i = 0; i < count; i += batch) {
      const deliveries = [];
      for (let k = i; k < Math.min(count, i + batch); k++) {
        let raw = `From: sender@bench.test\r\nTo: r${k}@sink.bench.test\r\nSubject: bench ${k}\r\n` +
          `Message-ID: <${k}@bench.test>\r\n\r\n`;
        while (raw.length < size) raw += filler;
        const bytes = new TextEncoder().encode(raw);
        deliveries.push({
          raw: bytes,
          parsed: await parseMessage(bytes),
          targets: [],
          queue: [{ submissionId: `b${k}`, mailFrom: "sender@bench.test", recipient: `r${k}@sink.bench.test` }],
        });
      }
      await store.messages.deliverAll(deliveries);
    }
    await store.close();
    console.log(`queued ${count} messages of ${size} bytes; delivering with concurrency ${concurrency}`);

    const watch = await Store.open({ location: { url: db.url } });
    const t0 = performance.now();
    const server = await startServerProcess({
      SILVERMAIL_DATABASE_URL: db.url,
      SILVERMAIL_DATA_DIR: dir,
      SILVERMAIL_LOG_LEVEL: "warn",
      SILVERMAIL_HOSTNAME: "mx.bench.test",
      SILVERMAIL_DNS_NAMESERVER: dns.nameserver,
      SILVERMAIL_OUTBOUND_ENABLED: "true",
      SILVERMAIL_OUTBOUND_PORT: String(port),
      SILVERMAIL_OUTBOUND_CONCURRENCY: String(concurrency),
      SILVERMAIL_OUTBOUND_CONNECTIONS_PER_DOMAIN: String(concurrency),
      SILVERMAIL_OUTBOUND_MTA_STS: "false",
    });
    const cpu0 = cpuSeconds(server.pid);
    const sinkCpu0 = cpuSeconds(sink.pid);
    try {
      for (;;) {
        const [row] = await watch.db.query<{ n: number }>("SELECT count(*)::int AS n FROM outbound_queue");
        if (row!.n === 0) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      const seconds = (performance.now() - t0) / 1000;
      const cpu = cpuSeconds(server.pid) - cpu0;
      const sinkCpu = cpuSeconds(sink.pid) - sinkCpu0;
      const [log] = await watch.db.query<{ delivered: number; tls: number }>(
        `SELECT count(*) FILTER (WHERE result = 'delivered')::int AS delivered,
                count(*) FILTER (WHERE tls_version IS NOT NULL)::int AS tls FROM delivery_log`,
      );
      console.log(
        `delivered ${log!.delivered}/${count} (${log!.tls} over TLS) in ${seconds.toFixed(1)} s: ` +
          `${(log!.delivered / seconds).toFixed(0)} msg/s, CPU ${
            (cpu / (count / 1000)).toFixed(2)
          } s per 1,000 messages`,
      );
      console.log(
        `(the sink used ${(100 * sinkCpu / seconds).toFixed(0)}% of a core; near 100% means it set the pace)`,
      );
    } finally {
      await server.stop();
      await watch.close();
    }
  } finally {
    sink.kill("SIGTERM");
    let rest = "";
    for (let r = await sinkOut.read(); !r.done; r = await sinkOut.read()) rest += r.value;
    console.log(`the sink counted ${rest.trim()} messages`);
    await sink.status;
    await dns.stop();
    await db.drop();
  }
}
