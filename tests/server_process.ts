/**
 * @module
 * The real server as a subprocess (`main.ts serve`) on free ports, for tests that need a separate process:
 * crash tests (kill -9), control-socket tests, two instances delivering to each other, benchmarks; and the CLI
 * as a subprocess.
 *
 * Unless a test sets them, the delivery worker and the checks of incoming mail are off: they need DNS, and a
 * test that wants them starts its own DNS server (tests/dns_server.ts).
 */

const MAIN = new URL("../main.ts", import.meta.url).pathname;

/** A running server process. */
export interface ServerProcess {
  pid: number;
  ports: Record<string, number>;
  /** SIGTERM and wait; resolves to the exit code. */
  stop(): Promise<number>;
  /** kill -9. */
  kill9(): Promise<void>;
  /** What it wrote to stderr so far (JSON log lines). */
  stderr(): string;
}

/** Starts `serve` with `env` (SILVERMAIL_* settings) and every listener on a free port. */
export async function startServerProcess(env: Record<string, string>): Promise<ServerProcess> {
  const child = new Deno.Command(Deno.execPath(), {
    // SILVERMAIL_TEST_DENO_FLAGS: extra `deno run` flags for the server, e.g. "--v8-flags=--prof" to profile a bench.
    args: [
      "run",
      "--allow-all",
      ...(Deno.env.get("SILVERMAIL_TEST_DENO_FLAGS")?.split(" ").filter(Boolean) ?? []),
      MAIN,
      "serve",
    ],
    env: {
      NO_COLOR: "1",
      SILVERMAIL_SMTP_MX_PORT: "0",
      SILVERMAIL_SMTP_SUBMISSION_PORT: "0",
      SILVERMAIL_SMTP_SUBMISSIONS_PORT: "0",
      SILVERMAIL_IMAP_IMAP_PORT: "0",
      SILVERMAIL_IMAP_IMAPS_PORT: "0",
      SILVERMAIL_ADMIN_HTTP_PORT: "0",
      SILVERMAIL_OUTBOUND_ENABLED: "false",
      SILVERMAIL_MAIL_AUTH_ENABLED: "false",
      ...env,
    },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let err = "";
  (async () => {
    for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) err += chunk;
  })().catch(() => {});
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let banner = "";
  while (!banner.includes("Stop with Ctrl-C")) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`server exited early:\n${banner}\n${err}`);
    banner += value;
  }
  (async () => {
    while (!(await reader.read()).done) { /* drain */ }
  })().catch(() => {});
  const ports: Record<string, number> = {};
  for (const m of banner.matchAll(/^ {2}(.+?)\s+[\d.:]+:(\d+)\s/gm)) ports[m[1]!.trim()] = Number(m[2]);
  return {
    pid: child.pid,
    ports,
    async stop() {
      child.kill("SIGTERM");
      return (await child.status).code;
    },
    async kill9() {
      child.kill("SIGKILL");
      await child.status;
    },
    stderr: () => err,
  };
}

/** What a CLI run printed. */
export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a program to its end (with `stdin` piped in when given) and returns what it printed. */
export async function runProgram(
  cmd: string,
  args: string[],
  options: { env?: Record<string, string>; stdin?: string } = {},
): Promise<CliResult> {
  const child = new Deno.Command(cmd, {
    args,
    ...(options.env ? { env: options.env } : {}),
    stdin: options.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (options.stdin !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(options.stdin));
    await w.close();
  }
  const out = await child.output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** Runs `main.ts ARGS` with `env` (and `stdin` piped in when given). */
export function runCli(env: Record<string, string>, args: string[], stdin?: string): Promise<CliResult> {
  return runProgram(Deno.execPath(), ["run", "--allow-all", MAIN, ...args], {
    env: { ...env, NO_COLOR: "1" },
    ...(stdin === undefined ? {} : { stdin }),
  });
}
