/**
 * @module
 * An SMTP load generator for the crash test and `deno task bench smtp`: S sessions each sending messages in a
 * loop over plain MX (one message per MAIL/RCPT/DATA, PIPELINING of MAIL+RCPT+DATA), recording which
 * Message-IDs got a `250` and how long each took.
 */
import { SmtpTestClient } from "./smtp.ts";

/** Options for {@linkcode runLoad}. */
export interface LoadOptions {
  port: number;
  sessions: number;
  /** Messages in total (across sessions); unbounded when undefined (stop with `signal`). */
  count?: number;
  size: number;
  recipients: (i: number) => string;
  signal?: AbortSignal;
  /** Message-ID prefix (unique per run). */
  prefix: string;
}

/** What happened. */
export interface LoadResult {
  /** Message-IDs acknowledged with 250. */
  acked: string[];
  /** Latency of each 250, ms (MAIL FROM written → 250 after the final dot). */
  latencies: number[];
  errors: number;
  seconds: number;
}

/** Builds a message of about `size` bytes with the given Message-ID. */
export function loadMessage(id: string, to: string, size: number): string {
  const head = `From: Load <load@sender.test>\r\nTo: <${to}>\r\nSubject: load ${id}\r\nMessage-ID: <${id}>\r\n` +
    `Date: ${new Date().toUTCString()}\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n`;
  const line = "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor.\r\n";
  const lines = Math.max(1, Math.floor((size - head.length) / line.length));
  return head + line.repeat(lines);
}

/** Sends until `count` messages are acknowledged or `signal` aborts. */
export async function runLoad(o: LoadOptions): Promise<LoadResult> {
  const acked: string[] = [];
  const latencies: number[] = [];
  let errors = 0;
  let next = 0;
  const t0 = performance.now();
  const session = async (s: number) => {
    let client: SmtpTestClient | undefined;
    try {
      [client] = await SmtpTestClient.connect(o.port);
      await client.expect(250, `EHLO load${s}.test`);
      while (!o.signal?.aborted && (o.count === undefined || next < o.count)) {
        const i = next++;
        const id = `${o.prefix}-${i}@load.test`;
        const to = o.recipients(i);
        const start = performance.now();
        await client.write(`MAIL FROM:<load@sender.test>\r\nRCPT TO:<${to}>\r\nDATA\r\n`);
        const r1 = await client.read();
        const r2 = await client.read();
        const r3 = await client.read();
        if (r1.code !== 250 || r2.code !== 250 || r3.code !== 354) {
          errors++;
          if (r3.code === 354) await client.cmd(".");
          await client.cmd("RSET");
          continue;
        }
        const r = await client.cmd(loadMessage(id, to, o.size) + ".");
        if (r.code === 250) {
          acked.push(id);
          latencies.push(performance.now() - start);
        } else errors++;
      }
      await client.cmd("QUIT").catch(() => {});
    } catch {
      errors++;
    } finally {
      client?.close();
    }
  };
  await Promise.all(Array.from({ length: o.sessions }, (_, s) => session(s)));
  return { acked, latencies, errors, seconds: (performance.now() - t0) / 1000 };
}
