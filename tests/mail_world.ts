/**
 * @module
 * A small internet on loopback for tests: Silvermail instances (subprocesses) for their own domains on their own
 * 127.0.0.x addresses, all with the same MX port, resolving each other through a test DNS server
 * (tests/dns_server.ts); and the clients that use them: nodemailer for submission, imapflow for reading,
 * swaks for odd senders, the CLI over the control socket.
 */
import assert from "node:assert/strict";
import { ImapFlow } from "imapflow";
import nodemailer from "nodemailer";
import type { TestDns } from "./dns_server.ts";
import { runCli, type ServerProcess, startServerProcess } from "./server_process.ts";

export const PASSWORD = "outbound test passphrase";
export const IP = { a: "127.0.0.2", b: "127.0.0.3", c: "127.0.0.4", d: "127.0.0.5", e: "127.0.0.8" };

/** A port free on every address we use (the MX port is the same everywhere, like 25 on the internet). */
export function commonFreePort(): number {
  for (;;) {
    const l = Deno.listen({ hostname: IP.a, port: 0 });
    const port = (l.addr as Deno.NetAddr).port;
    l.close();
    try {
      for (const ip of Object.values(IP)) Deno.listen({ hostname: ip, port }).close();
      return port;
    } catch { /* taken somewhere: try another */ }
  }
}

export interface Instance {
  name: string;
  ip: string;
  env: Record<string, string>;
  procs: ServerProcess[];
  submission: number;
  imaps: number;
}

export async function cli(inst: Instance, args: string[], stdin?: string): Promise<string> {
  const r = await runCli(inst.env, args, stdin);
  assert.equal(r.code, 0, `${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
}

/**
 * Runs a CLI command every 100 ms until its output matches `pattern` (at most `tries` times); returns the last
 * output, matching or not, for the caller's assertion.
 */
export async function waitForCli(inst: Instance, args: string[], pattern: RegExp, tries = 100): Promise<string> {
  let out = "";
  for (let i = 0; i < tries && !pattern.test(out); i++) {
    if (i > 0) await new Promise((r) => setTimeout(r, 100));
    out = await cli(inst, args);
  }
  return out;
}

export async function startInstance(
  domain: string,
  ip: string,
  port: number,
  dns: TestDns,
  extra: Record<string, string> = {},
): Promise<Instance> {
  const dir = await Deno.makeTempDir({ prefix: `silvermail-${domain}-` });
  const env = {
    SILVERMAIL_HOSTNAME: `mx.${domain}`,
    SILVERMAIL_DATA_DIR: dir,
    SILVERMAIL_SMTP_MX_ADDRESS: ip,
    SILVERMAIL_SMTP_MX_PORT: String(port),
    SILVERMAIL_SMTP_SUBMISSION_ADDRESS: ip,
    SILVERMAIL_SMTP_SUBMISSIONS_ADDRESS: ip,
    SILVERMAIL_IMAP_IMAP_ADDRESS: ip,
    SILVERMAIL_IMAP_IMAPS_ADDRESS: ip,
    SILVERMAIL_DNS_NAMESERVER: dns.nameserver,
    SILVERMAIL_DNS_CACHE: "0s",
    SILVERMAIL_DNS_TIMEOUT: "2s",
    SILVERMAIL_MAIL_AUTH_ENABLED: "true",
    SILVERMAIL_OUTBOUND_ENABLED: "true",
    SILVERMAIL_OUTBOUND_PORT: String(port),
    SILVERMAIL_OUTBOUND_SOURCE_ADDRESS: ip,
    SILVERMAIL_OUTBOUND_POLL_INTERVAL: "300ms",
    SILVERMAIL_OUTBOUND_RETRY_MIN: "500ms",
    SILVERMAIL_OUTBOUND_RETRY_MAX: "1s",
    ...extra,
  };
  const proc = await startServerProcess(env);
  return {
    name: domain,
    ip,
    env,
    procs: [proc],
    submission: proc.ports["SMTP submission"]!,
    imaps: proc.ports["IMAPS"]!,
  };
}

/** The DKIM TXT records `silvermail dns DOMAIN` prints, as [name, text] (a long one spans lines in parentheses). */
export function dkimRecords(zone: string): [string, string][] {
  const out: [string, string][] = [];
  const joined = zone.replace(/\(([^)]*)\)/g, (_, inner: string) => inner.replace(/\s*\n\s*/g, " "));
  for (const line of joined.split("\n")) {
    const m = /^(\S+\._domainkey\.\S+?)\.?\s+(?:\d+\s+)?(?:IN\s+)?TXT\s+(.*)$/.exec(line.trim());
    if (m) out.push([m[1]!, [...m[2]!.matchAll(/"((?:[^"\\]|\\.)*)"/g)].map((q) => q[1]).join("")]);
  }
  return out;
}

export async function send(
  inst: Instance,
  user: string,
  mail: { from?: string; to: string; subject: string; text?: string },
): Promise<void> {
  const transport = nodemailer.createTransport({
    host: inst.ip,
    port: inst.submission,
    secure: false,
    requireTLS: true,
    tls: { rejectUnauthorized: false },
    auth: { user, pass: PASSWORD },
  });
  try {
    await transport.sendMail({ from: mail.from ?? user, to: mail.to, subject: mail.subject, text: mail.text ?? "Hi" });
  } finally {
    transport.close();
  }
}

/** Waits until `user` has a message in `mailbox` whose source matches; returns the sources that match. */
export async function waitForMail(
  inst: Instance,
  user: string,
  match: RegExp,
  options: { mailbox?: string; count?: number; timeoutMs?: number } = {},
): Promise<string[]> {
  const deadline = Date.now() + (options.timeoutMs ?? 20_000);
  const client = new ImapFlow({
    host: inst.ip,
    port: inst.imaps,
    secure: true,
    tls: { rejectUnauthorized: false },
    auth: { user, pass: PASSWORD },
    logger: false,
  });
  await client.connect();
  try {
    for (;;) {
      const lock = await client.getMailboxLock(options.mailbox ?? "INBOX");
      const found: string[] = [];
      try {
        await client.noop(); // learn about new mail (EXISTS) now, not at imapflow's next IDLE
        if ((client.mailbox as { exists: number }).exists > 0) {
          for await (const m of client.fetch("1:*", { source: true })) {
            const text = new TextDecoder().decode(m.source);
            if (match.test(text)) found.push(text);
          }
        }
      } finally {
        lock.release();
      }
      if (found.length >= (options.count ?? 1)) return found;
      if (Date.now() > deadline) {
        throw new Error(`${user}: ${found.length} message(s) matching ${match} in ${options.mailbox ?? "INBOX"}`);
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  } finally {
    await client.logout().catch(() => {});
  }
}

export function header(source: string, name: string): string {
  const head = source.split(/\r?\n\r?\n/)[0]!.replace(/\r?\n[ \t]+/g, " ");
  return head.split(/\r?\n/).filter((l) => l.toLowerCase().startsWith(name.toLowerCase() + ":")).join("\n");
}

export async function swaks(args: string[]): Promise<{ code: number; out: string }> {
  const out = await new Deno.Command("swaks", { args: ["--timeout", "20", ...args], stdout: "piped", stderr: "piped" })
    .output();
  const dec = new TextDecoder();
  return { code: out.code, out: dec.decode(out.stdout) + dec.decode(out.stderr) };
}

/** An SMTP server that answers every RCPT with 451: a remote that defers for good. */
export function deferringServer(ip: string, port: number): { close(): void } {
  const listener = Deno.listen({ hostname: ip, port });
  const conns = new Set<Deno.Conn>();
  (async () => {
    for await (const conn of listener) {
      conns.add(conn);
      (async () => {
        const enc = new TextEncoder();
        await conn.write(enc.encode("220 mx.d.test ESMTP\r\n"));
        const buf = new Uint8Array(4096);
        let pending = "";
        for (;;) {
          const n = await conn.read(buf);
          if (n === null) break;
          pending += new TextDecoder().decode(buf.subarray(0, n));
          let i;
          while ((i = pending.indexOf("\r\n")) >= 0) {
            const line = pending.slice(0, i).toUpperCase();
            pending = pending.slice(i + 2);
            const r = line.startsWith("EHLO") || line.startsWith("HELO")
              ? "250 mx.d.test\r\n"
              : line.startsWith("RCPT")
              ? "451 4.3.2 Mailbox temporarily unavailable, try later\r\n"
              : line.startsWith("QUIT")
              ? "221 bye\r\n"
              : line.startsWith("DATA")
              ? "554 5.5.1 No valid recipients\r\n"
              : "250 OK\r\n";
            await conn.write(enc.encode(r));
            if (r.startsWith("221")) return conn.close();
          }
        }
        conn.close();
      })().catch(() => {}).finally(() => conns.delete(conn));
    }
  })().catch(() => {});
  return {
    close() {
      listener.close();
      for (const c of conns) {
        try {
          c.close();
        } catch { /* closed */ }
      }
    },
  };
}

/** A self-signed certificate for `names` (its own trust anchor). */
export async function certificate(names: string[]): Promise<{ cert: string; key: string }> {
  const dir = await Deno.makeTempDir({ prefix: "silvermail-pki-" });
  const cert = `${dir}/cert.pem`;
  const key = `${dir}/key.pem`;
  const out = await new Deno.Command("openssl", {
    args: [
      "req",
      "-x509",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-days",
      "2",
      "-subj",
      `/CN=${names[0]}`,
      "-addext",
      `subjectAltName=${names.map((n) => `DNS:${n}`).join(",")}`,
      "-keyout",
      key,
      "-out",
      cert,
    ],
    stdout: "null",
    stderr: "piped",
  }).output();
  if (!out.success) throw new Error(new TextDecoder().decode(out.stderr));
  return { cert, key };
}
