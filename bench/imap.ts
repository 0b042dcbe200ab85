/**
 * @module
 * IMAP benchmark on a large mailbox: N messages (default 100,000 × ~2 KB) are stored through the store's
 * delivery API, then the real server (a subprocess) is timed over a socket: SELECT, `UID FETCH 1:* (UID FLAGS)`,
 * `UID SEARCH TEXT "word"`, and `UID FETCH BODY.PEEK[]` throughput in MB/s. Postgres by default (a throwaway
 * cluster, or BENCH_DATABASE_URL, whose mailbox is reused on the next run); `--driver pglite` for the embedded store.
 * Options: `--messages 100000 --driver postgres|pglite`.
 * Targets (issue): SELECT < 100 ms, FETCH FLAGS < 1 s, SEARCH TEXT < 300 ms on 100k messages.
 * The command mix and idle-connection memory are compared with Dovecot by ../shared/bench/imap-compare.sh.
 */
import { parseArgs } from "../cli/args.ts";
import { parseMessage } from "../mail/parse.ts";
import { type Delivery, Store, type StoreOptions } from "../store/mod.ts";
import { createTestDatabase } from "../tests/harness.ts";
import { startServerProcess } from "../tests/server_process.ts";

const PASSWORD = "bench passphrase 1";
const WORDS = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet", "kilo"];

function message(i: number): Uint8Array {
  const w = (k: number) => WORDS[(i * 7 + k * 13) % WORDS.length]!;
  const rare = i % 100 === 0 ? " zebra" : "";
  const body = Array.from(
    { length: 24 },
    (_, k) => `${w(k)} ${w(k + 1)} ${w(k + 2)} lorem ipsum dolor sit amet${k === 5 ? rare : ""}`,
  )
    .join("\r\n");
  return new TextEncoder().encode(
    `From: Sender ${i % 50} <s${i % 50}@example.org>\r\nTo: u@bench.test\r\nSubject: Message ${i} about ${w(3)}\r\n` +
      `Date: ${new Date(Date.UTC(2026, 0, 1) + i * 60_000).toUTCString()}\r\nMessage-ID: <m${i}@example.org>\r\n` +
      `MIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n${body}\r\n`,
  );
}

/** A minimal IMAP client: one command at a time, literals skipped correctly. */
class Client {
  #conn: Deno.Conn;
  #buf = new Uint8Array(0);
  #n = 0;
  /** Octets of literals read so far. */
  literalBytes = 0;
  constructor(conn: Deno.Conn) {
    this.#conn = conn;
  }
  async #fill(): Promise<void> {
    const chunk = new Uint8Array(1 << 20);
    const n = await this.#conn.read(chunk);
    if (n === null) throw new Error("server closed the connection");
    const b = new Uint8Array(this.#buf.length + n);
    b.set(this.#buf);
    b.set(chunk.subarray(0, n), this.#buf.length);
    this.#buf = b;
  }
  async #line(): Promise<string> {
    for (;;) {
      const nl = this.#buf.indexOf(10);
      if (nl >= 0) {
        const line = new TextDecoder().decode(this.#buf.subarray(0, nl + 1));
        this.#buf = this.#buf.subarray(nl + 1);
        const lit = /\{(\d+)\}\r\n$/.exec(line);
        if (lit) {
          const size = Number(lit[1]);
          while (this.#buf.length < size) await this.#fill();
          this.#buf = this.#buf.subarray(size);
          this.literalBytes += size;
          return line + (await this.#line());
        }
        return line;
      }
      await this.#fill();
    }
  }
  /** Sends a command; resolves with the untagged lines' count and total bytes when the tagged reply arrives. */
  async run(command: string): Promise<{ ms: number; lines: string[]; bytes: number }> {
    const tag = `b${++this.#n}`;
    const t0 = performance.now();
    await this.#conn.write(new TextEncoder().encode(`${tag} ${command}\r\n`));
    const lines: string[] = [];
    let bytes = 0;
    for (;;) {
      const line = await this.#line();
      bytes += line.length;
      if (line.startsWith(tag + " ")) {
        if (!line.startsWith(`${tag} OK`)) throw new Error(`${command}: ${line}`);
        return { ms: performance.now() - t0, lines, bytes };
      }
      lines.push(line);
    }
  }
  async greeting(): Promise<string> {
    return await this.#line();
  }
  close(): void {
    this.#conn.close();
  }
}

async function populate(options: StoreOptions, n: number): Promise<void> {
  const store = await Store.open(options);
  try {
    // A database given by BENCH_DATABASE_URL that already holds the mailbox is reused (quicker reruns).
    const existing = await store.accounts.get("u@bench.test");
    if (existing) {
      const inbox = (await store.mailboxes.inboxes([existing.id])).get(existing.id)!;
      const count = (await store.mailboxes.byId(inbox))?.messageCount ?? 0;
      if (count === n) return console.log(`reusing the ${n} stored messages`);
      throw new Error(`BENCH_DATABASE_URL holds ${count} bench messages, not ${n}: use an empty database`);
    }
    await store.domains.add("bench.test");
    const a = await store.accounts.create("u@bench.test", PASSWORD);
    const inbox = (await store.mailboxes.inboxes([a.id])).get(a.id)!;
    const t0 = performance.now();
    for (let i = 0; i < n; i += 500) {
      const batch: Delivery[] = [];
      for (let k = i; k < Math.min(n, i + 500); k++) {
        const raw = message(k);
        batch.push({ raw, parsed: parseMessage(raw), targets: [{ mailboxId: inbox, flags: k % 3 ? ["\\Seen"] : [] }] });
      }
      await store.messages.deliverAll(batch);
    }
    console.log(`stored ${n} messages in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    // Measure the steady state a server reaches once autovacuum has passed (visibility map set, hint bits
    // written), not the first reads of rows just written.
    await store.db.exec("VACUUM (ANALYZE) messages, blobs");
  } finally {
    await store.close();
  }
}

/** Runs the benchmark. */
export async function run(argv: string[]): Promise<void> {
  const { options } = parseArgs(argv, new Set(["messages", "driver"]));
  const n = Number(options.get("messages") ?? 100_000);
  const driver = String(options.get("driver") ?? "postgres");
  const dir = await Deno.makeTempDir({ prefix: "silvermail-bench-" });
  const db = driver === "postgres" && !Deno.env.get("BENCH_DATABASE_URL") ? await createTestDatabase() : undefined;
  const url = Deno.env.get("BENCH_DATABASE_URL") ?? db?.url;
  const env: Record<string, string> = {
    SILVERMAIL_DATA_DIR: dir,
    SILVERMAIL_LOG_LEVEL: "warn",
    SILVERMAIL_DEV_ALLOW_PLAINTEXT_AUTH_ON_LOOPBACK: "true",
    ...(driver === "postgres" ? { SILVERMAIL_DATABASE_URL: url! } : {}),
  };
  try {
    await populate(driver === "postgres" ? { location: { url: url! } } : { location: { dataDir: dir } }, n);
    const server = await startServerProcess(env);
    try {
      const c = new Client(await Deno.connect({ hostname: "127.0.0.1", port: server.ports["IMAP"]! }));
      await c.greeting();
      await c.run(`LOGIN u@bench.test "${PASSWORD}"`);
      await c.run("SELECT INBOX"); // warm the connection pool and caches once
      await c.run("UNSELECT");
      const report = (what: string, r: { ms: number }, extra = "") =>
        console.log(`${driver.padEnd(8)} ${n} msgs  ${what.padEnd(34)} ${r.ms.toFixed(0).padStart(6)} ms ${extra}`);
      for (let rep = 0; rep < 2; rep++) {
        const sel = await c.run("SELECT INBOX");
        report("SELECT INBOX", sel);
        const flags = await c.run("UID FETCH 1:* (UID FLAGS)");
        report("UID FETCH 1:* (UID FLAGS)", flags, `(${flags.lines.length} responses)`);
        const search = await c.run('UID SEARCH TEXT "zebra"');
        report('UID SEARCH TEXT "zebra"', search, `(${(search.lines[0] ?? "").split(" ").length - 2} hits)`);
        const before = c.literalBytes;
        const body = await c.run("UID FETCH 1:5000 BODY.PEEK[]");
        const mb = (c.literalBytes - before) / 1048576;
        report(
          "UID FETCH 1:5000 BODY.PEEK[]",
          body,
          `(${mb.toFixed(1)} MB, ${(mb / (body.ms / 1000)).toFixed(1)} MB/s)`,
        );
        await c.run("UNSELECT");
      }
      c.close();
    } finally {
      await server.stop();
    }
  } finally {
    await db?.drop();
    await Deno.remove(dir, { recursive: true });
  }
}
