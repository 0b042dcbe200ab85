/**
 * @module
 * An in-process IMAP server (143 STARTTLS and 993 implicit TLS on free ports) next to the in-process SMTP server
 * of tests/smtp_harness.ts, on one test store with alice, bob and an alias seeded; the log of both is captured.
 * Helpers deliver mail through the real MX or append it through the store, and log in with the transcript client.
 */
import { parseMessage } from "../mail/parse.ts";
import { DEFAULT_IMAP_LIMITS, ImapServer, type ImapSessionLimits } from "../imap/mod.ts";
import { AuthThrottle } from "../spam/auth_throttle.ts";
import { SmtpTestClient } from "./clients/smtp.ts";
import { ImapTestClient } from "./clients/imap.ts";
import type { TestStore } from "./harness.ts";
import { PASSWORD, seedUsers, startTestSmtp, type TestSmtp } from "./smtp_harness.ts";

export { PASSWORD } from "./smtp_harness.ts";

/** A running IMAP + SMTP pair on one store. */
export interface TestImap {
  /** 143: STARTTLS, LOGINDISABLED before it. */
  imap: number;
  /** 993: implicit TLS. */
  imaps: number;
  smtp: TestSmtp;
  ids: { alice: number; bob: number };
  /** The server certificate, to trust. */
  caCerts: string[];
  /** The certificate as a file (for command-line clients). */
  certFile: string;
  /** Log lines of both servers since start. */
  logs: Record<string, unknown>[];
  close(): Promise<void>;
}

/** Settings of the test IMAP server. */
export interface ImapTestOptions {
  limits?: Partial<ImapSessionLimits>;
  maxConnectionsPerIp?: number;
  maxConnectionsPerAccount?: number;
}

/** Starts SMTP and IMAP on `ts`, seeding alice@ and bob@example.test (password PASSWORD). */
export async function startTestImap(
  ts: TestStore,
  options: ImapTestOptions = {},
): Promise<TestImap> {
  const ids = await seedUsers(ts);
  const smtp = await startTestSmtp(ts);
  const server = new ImapServer({
    hostname: "imap.example.test",
    store: ts.store,
    tls: smtp.tls,
    limits: { ...DEFAULT_IMAP_LIMITS, ...options.limits },
    authThrottle: new AuthThrottle({ baseDelayMs: 20, maxDelayMs: 100, underAttackDelayMs: 50 }),
    ...(options.maxConnectionsPerIp ? { maxConnectionsPerIp: options.maxConnectionsPerIp } : {}),
    ...(options.maxConnectionsPerAccount ? { maxConnectionsPerAccount: options.maxConnectionsPerAccount } : {}),
  });
  let imap: number, imaps: number;
  try {
    imap = await server.listen("imap", "127.0.0.1", 0);
    imaps = await server.listen("imaps", "127.0.0.1", 0);
  } catch (e) {
    await smtp.close();
    throw e;
  }
  const certFile = await Deno.makeTempFile({ prefix: "silvermail-cert-", suffix: ".pem" });
  await Deno.writeTextFile(certFile, smtp.tls.certPem);
  return {
    imap,
    imaps,
    smtp,
    ids,
    caCerts: [smtp.tls.certPem],
    certFile,
    logs: smtp.logs,
    async close() {
      await server.close(2000);
      await smtp.close();
      await Deno.remove(certFile).catch(() => {});
    },
  };
}

/** Runs `fn` with servers started on `ts`, and stops them afterwards. */
export async function withImap(
  ts: TestStore,
  fn: (s: TestImap) => Promise<void>,
  options: ImapTestOptions = {},
): Promise<void> {
  const s = await startTestImap(ts, options);
  try {
    await fn(s);
  } finally {
    await s.close();
  }
}

/** A transcript client logged in over implicit TLS (default alice). */
export async function login(s: TestImap, user = "alice@example.test"): Promise<ImapTestClient> {
  const [c] = await ImapTestClient.connect(s.imaps, { tls: true, caCerts: s.caCerts });
  await c.expect("OK", `l1 LOGIN ${user} "${PASSWORD}"`);
  return c;
}

/** A simple message; `extra` headers go before Subject. */
export function message(
  o: {
    from?: string;
    to?: string;
    subject?: string;
    body?: string;
    messageId?: string;
    extra?: string;
    date?: string;
  } = {},
): string {
  return [
    `From: ${o.from ?? "Carol <carol@remote.test>"}`,
    `To: ${o.to ?? "alice@example.test"}`,
    ...(o.extra ? [o.extra] : []),
    `Subject: ${o.subject ?? "Hello"}`,
    `Date: ${o.date ?? "Mon, 7 Feb 1994 11:52:25 -0800"}`,
    `Message-ID: <${o.messageId ?? crypto.randomUUID() + "@remote.test"}>`,
    "MIME-Version: 1.0",
    "Content-Type: text/plain; charset=utf-8",
    "",
    o.body ?? "Hello there.",
    "",
  ].join("\r\n");
}

/** Delivers `raw` through the real MX to `to` (SMTP transcript); resolves when the server said 250. */
export async function deliverSmtp(s: TestImap, to: string, raw: string, from = "carol@remote.test"): Promise<void> {
  const [c] = await SmtpTestClient.connect(s.smtp.mx, { caCerts: s.caCerts });
  try {
    await c.expect(250, "EHLO remote.test");
    await c.expect(250, `MAIL FROM:<${from}>`);
    await c.expect(250, `RCPT TO:<${to}>`);
    await c.expect(354, "DATA");
    const dotted = raw.replace(/\r?\n/g, "\r\n").replace(/^\./gm, "..");
    await c.expect(250, `${dotted.endsWith("\r\n") ? dotted : dotted + "\r\n"}.`);
    await c.expect(221, "QUIT");
  } finally {
    c.close();
  }
}

/** Appends `raw` to a mailbox of an account through the store (fast seeding); returns the UID. */
export async function appendRaw(
  ts: TestStore,
  accountId: number,
  mailbox: string,
  raw: string | Uint8Array,
  options: { flags?: string[]; internalDate?: Date } = {},
): Promise<number> {
  const box = await ts.store.mailboxes.get(accountId, mailbox);
  if (!box) throw new Error(`no mailbox ${mailbox}`);
  const bytes = typeof raw === "string" ? new TextEncoder().encode(raw) : raw;
  const parsed = parseMessage(bytes);
  const r = await ts.store.messages.append(box.id, {
    raw: bytes,
    parsed,
    flags: options.flags ?? [],
    ...(options.internalDate ? { internalDate: options.internalDate } : {}),
  });
  return r.uid;
}
