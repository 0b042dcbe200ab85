/**
 * @module
 * An in-process SMTP server on a test store: real listeners on free ports, real TLS (a generated self-signed
 * certificate), the log captured for assertions.
 */
import { setLogLevel, setLogSink } from "../log.ts";
import { DEFAULT_LIMITS, SmtpServer, type SmtpSessionLimits } from "../smtp/mod.ts";
import { TlsContext } from "../tls/mod.ts";
import { AuthThrottle, type AuthThrottleOptions } from "../spam/auth_throttle.ts";
import type { TestStore } from "./harness.ts";
import { runProgram } from "./server_process.ts";

/** A running test server. */
export interface TestSmtp {
  mx: number;
  submission: number;
  submissions: number;
  tls: TlsContext;
  /** Log lines written since start, parsed. */
  logs: Record<string, unknown>[];
  close(): Promise<void>;
}

export const PASSWORD = "correct horse battery";

let sharedTls: Promise<TlsContext> | undefined;

/** One self-signed certificate for every test server of the process. */
function testTls(): Promise<TlsContext> {
  sharedTls ??= (async () => {
    const dir = await Deno.makeTempDir({ prefix: "silvermail-tls-" });
    return await TlsContext.load({
      mode: "self-signed",
      certFile: "",
      keyFile: "",
      dataDir: dir,
      hostname: "localhost",
    });
  })();
  return sharedTls;
}

/** Adds example.test with alice, bob and an alias info → alice. */
export async function seedUsers({ store }: TestStore): Promise<{ alice: number; bob: number }> {
  await store.domains.add("example.test");
  const alice = await store.accounts.create("alice@example.test", PASSWORD);
  const bob = await store.accounts.create("bob@example.test", PASSWORD);
  await store.aliases.add("info@example.test", "alice@example.test");
  return { alice: alice.id, bob: bob.id };
}

/** Starts MX, submission and submissions on free ports. */
export async function startTestSmtp(
  ts: TestStore,
  limits: Partial<SmtpSessionLimits> = {},
  throttle: AuthThrottleOptions = { baseDelayMs: 20, maxDelayMs: 100, underAttackDelayMs: 50 },
): Promise<TestSmtp> {
  const tls = await testTls();
  const logs: Record<string, unknown>[] = [];
  setLogLevel("info");
  const previous = setLogSink((line) => logs.push(JSON.parse(line)));
  const server = new SmtpServer({
    hostname: "mx.example.test",
    store: ts.store,
    tls,
    limits: { ...DEFAULT_LIMITS, ...limits },
    authThrottle: new AuthThrottle(throttle),
  });
  const mx = await server.listen("mx", "127.0.0.1", 0);
  const submission = await server.listen("submission", "127.0.0.1", 0);
  const submissions = await server.listen("submissions", "127.0.0.1", 0);
  return {
    mx,
    submission,
    submissions,
    tls,
    logs,
    async close() {
      await server.close(2000);
      setLogSink(previous);
    },
  };
}

/** Messages in an account's mailbox (default INBOX), with their raw text. */
export async function mailboxContents(ts: TestStore, accountId: number, mailbox = "INBOX"): Promise<string[]> {
  const box = await ts.store.mailboxes.get(accountId, mailbox);
  if (!box) throw new Error(`no mailbox ${mailbox}`);
  const list = await ts.store.messages.list(box.id);
  const out: string[] = [];
  for (const m of list) out.push(new TextDecoder().decode(await ts.store.messages.raw(box.id, m.uid)));
  return out;
}

/** Runs a command-line client; returns exit code and output. */
export async function runClient(cmd: string, args: string[], stdin?: string): Promise<{ code: number; out: string }> {
  const r = await runProgram(cmd, args, stdin === undefined ? {} : { stdin });
  return { code: r.code, out: r.stdout + r.stderr };
}
