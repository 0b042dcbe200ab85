/**
 * @module
 * `deno task test`: starts one throwaway PostgreSQL cluster for the whole run (unless `TEST_DATABASE_URL` is
 * set), runs `deno test` with it, stops it, and exits with the tests' status. Extra arguments go to `deno test`
 * (e.g. `deno task test store/`).
 */
import { postgresUnavailableReason, startCluster } from "./harness.ts";

const env: Record<string, string> = {};
let stop = () => {};
const reason = postgresUnavailableReason();
if (!Deno.env.get("TEST_DATABASE_URL") && !reason) {
  const cluster = startCluster();
  env.TEST_DATABASE_URL = cluster.url;
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
