/**
 * @module
 * `deno task test`: starts one throwaway PostgreSQL cluster for the whole run (unless `TEST_DATABASE_URL` is
 * set), runs `deno test` with it, stops it, and exits with the tests' status. Extra arguments go to `deno test`
 * (e.g. `deno task test store/`).
 */
import { postgresUnavailableReason, startCluster } from "./harness.ts";

/** Debian packages of the real programs the tests drive, by the command each provides. */
const TOOLS: Record<string, string> = {
  "/usr/lib/postgresql": "postgresql",
  swaks: "swaks",
  "perl:Net::SSLeay": "libnet-ssleay-perl", // swaks's TLS (a Recommends of swaks, not installed with it here)
  openssl: "openssl",
  mbsync: "isync",
  offlineimap: "offlineimap3",
  curl: "curl",
  python3: "python3",
  dnsmasq: "dnsmasq-base",
  "/usr/sbin/postfix": "postfix",
};

function present(tool: string): boolean {
  if (tool.startsWith("perl:")) {
    const args = [`-M${tool.slice(5)}`, "-e", "1"];
    try {
      return new Deno.Command("perl", { args, stdout: "null", stderr: "null" }).outputSync().success;
    } catch {
      return false;
    }
  }
  if (tool.startsWith("/")) {
    try {
      Deno.statSync(tool);
      return true;
    } catch {
      return false;
    }
  }
  const r = new Deno.Command("sh", { args: ["-c", `command -v ${tool}`], stdout: "null", stderr: "null" }).outputSync();
  return r.success;
}

// A fresh machine (root, Debian): install the missing test programs, as .ci/run does.
const missing = Object.entries(TOOLS).filter(([tool]) => !present(tool)).map(([, pkg]) => pkg);
if (missing.length) {
  if (Deno.uid() === 0 && present("apt-get")) {
    console.error(`installing the programs the tests drive: apt-get install -y ${missing.join(" ")}`);
    const env = { DEBIAN_FRONTEND: "noninteractive" };
    new Deno.Command("apt-get", { args: ["update", "-qq"], env, stdout: "null" }).outputSync();
    new Deno.Command("apt-get", {
      args: ["install", "-y", "-qq", "--no-install-recommends", ...missing],
      env,
      stdout: "null",
    })
      .outputSync();
  } else {
    console.error(
      `\n!!! missing test programs (tests that drive them will fail): apt-get install -y ${missing.join(" ")}\n`,
    );
  }
}

const env: Record<string, string> = {};
let stop = () => {};
const reason = postgresUnavailableReason();
if (!Deno.env.get("TEST_DATABASE_URL") && !reason) {
  const cluster = startCluster();
  env.TEST_DATABASE_URL = cluster.url;
  env.TEST_DATABASE_SOCKET_DIR = cluster.socketDir;
  stop = () => cluster.stop();
  console.error(`test Postgres cluster: ${cluster.url}`);
} else if (reason) {
  console.error(
    `\n!!! Postgres store tests will be SKIPPED: ${reason}${
      Deno.env.get("CI") === "true" ? " (CI=true: they will FAIL)" : ""
    }\n`,
  );
}

let code = 1;
try {
  const args = ["test", "--allow-all", "--parallel", ...Deno.args];
  const child = new Deno.Command(Deno.execPath(), { args, env, stdin: "null", stdout: "inherit", stderr: "inherit" })
    .spawn();
  for (const sig of ["SIGINT", "SIGTERM"] as const) {
    Deno.addSignalListener(sig, () => child.kill(sig));
  }
  code = (await child.status).code;
} finally {
  stop();
}
Deno.exit(code);
