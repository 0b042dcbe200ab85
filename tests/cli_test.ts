/**
 * The real CLI as a subprocess: add/list/del users, domains and aliases on both drivers, bad input → exit code
 * and message, and the same commands sent to a running server over its control socket.
 */
import assert from "node:assert/strict";
import { createTestDatabase, postgresUnavailableReason } from "./harness.ts";
import { runCli as cli } from "./server_process.ts";

const MAIN = new URL("../main.ts", import.meta.url).pathname;

async function ok(env: Record<string, string>, args: string[], stdin?: string): Promise<string> {
  const r = await cli(env, args, stdin);
  assert.equal(r.code, 0, `${args.join(" ")} failed: ${r.stderr}`);
  return r.stdout;
}

async function fails(env: Record<string, string>, args: string[], code: number, message: RegExp, stdin?: string) {
  const r = await cli(env, args, stdin);
  assert.equal(r.code, code, `${args.join(" ")}: expected exit ${code}, got ${r.code}: ${r.stderr}`);
  assert.match(r.stderr, message);
}

const PW = "a good passphrase\n";

async function userLifecycle(env: Record<string, string>) {
  assert.match(await ok(env, ["domain", "add", "example.test"]), /Added domain example.test/);
  assert.match(await ok(env, ["user", "add", "alice@example.test", "--password-stdin"], PW), /Created user/);
  assert.match(await ok(env, ["user", "add", "Bob@Example.test", "--password-stdin"], PW), /bob@example.test/);
  const list = await ok(env, ["user", "list"]);
  assert.match(list, /alice@example.test/);
  assert.match(list, /bob@example.test/);
  await fails(env, ["user", "add", "alice@example.test", "--password-stdin"], 1, /already exists/, PW);
  await fails(env, ["user", "add", "not-an-address", "--password-stdin"], 1, /not a valid address/, PW);
  await fails(env, ["user", "add", "x@unknown.test", "--password-stdin"], 1, /not a local domain/, PW);
  await fails(env, ["user", "add", "x@example.test", "--password-stdin"], 1, /empty/, "\n");
  await fails(env, ["user", "add", "x@example.test", "--password-stdin"], 1, /shorter/, "abc\n");
  await fails(env, ["user", "add", "x@example.test"], 2, /--password-stdin/);
  await fails(env, ["user", "add"], 2, /usage: silvermail user add/);
  await fails(env, ["user", "add", "a@example.test", "b", "--password-stdin"], 2, /Unexpected argument/);
  await fails(env, ["user", "frobnicate"], 2, /unknown command/);
  await fails(env, ["domain", "add", "-bad-.test"], 1, /not a valid domain/);
  assert.match(await ok(env, ["alias", "add", "info@example.test", "alice@example.test"]), /Added alias/);
  assert.match(await ok(env, ["alias", "add", "@example.test", "bob@example.test"]), /Added alias @example.test/);
  assert.match(await ok(env, ["alias", "list"]), /info@example.test\s+alice@example.test/);
  await fails(env, ["alias", "add", "bob@example.test", "alice@example.test"], 1, /user's address/);
  assert.match(
    await ok(env, ["user", "passwd", "alice@example.test", "--password-stdin"], "another passphrase\n"),
    /changed/,
  );
  assert.match(await ok(env, ["user", "del", "alice@example.test"]), /Deleted user/);
  await fails(env, ["user", "del", "alice@example.test"], 1, /no such user/);
  assert.doesNotMatch(await ok(env, ["alias", "list"]), /info@example.test/, "aliases to a deleted user go too");
  await fails(env, ["domain", "del", "example.test"], 1, /still has 1 account/);
  assert.match(await ok(env, ["user", "del", "bob@example.test"]), /Deleted/);
  assert.match(await ok(env, ["domain", "del", "example.test"]), /Deleted domain/);
  assert.match(await ok(env, ["user", "list"]), /No users/);
  assert.match(await ok(env, ["domain", "list"]), /No domains/);
}

Deno.test({
  name: "cli: users, domains and aliases on the embedded store, with bad input refused",
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "silvermail-cli-" });
    try {
      await userLifecycle({ SILVERMAIL_DATA_DIR: `${dir}/data` });
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "cli: users, domains and aliases on Postgres",
  ignore: !!postgresUnavailableReason() && Deno.env.get("CI") !== "true",
  sanitizeResources: false,
  async fn() {
    const db = await createTestDatabase();
    const dir = await Deno.makeTempDir({ prefix: "silvermail-cli-" });
    try {
      await userLifecycle({ SILVERMAIL_DATA_DIR: `${dir}/data`, SILVERMAIL_DATABASE_URL: db.url });
    } finally {
      await db.drop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("cli: help, config doc and bad configuration", async () => {
  const dir = await Deno.makeTempDir({ prefix: "silvermail-cli-" });
  const env = { SILVERMAIL_DATA_DIR: `${dir}/data` };
  try {
    assert.match(await ok(env, ["--help"]), /user add ADDRESS/);
    assert.match(await ok(env, ["user", "add", "--help"]), /usage: silvermail user add ADDRESS/);
    assert.match(await ok(env, ["serve", "--help"]), /usage: silvermail serve/);
    const doc = await ok(env, ["config", "doc"]);
    assert.match(doc, /SILVERMAIL_DATABASE_URL/);
    await Deno.writeTextFile(`${dir}/bad.toml`, "[smtp.mx]\nprot = 25\n");
    await fails(env, ["user", "list", "--config", `${dir}/bad.toml`], 2, /unknown key "smtp.mx.prot"/);
    await fails({ ...env, SILVERMAIL_SMTP_MX_PORT: "many" }, ["user", "list"], 2, /SILVERMAIL_SMTP_MX_PORT/);
    await fails(env, ["user", "list", "--config", `${dir}/missing.toml`], 2, /Cannot read config file/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

async function withServer(env: Record<string, string>, fn: () => Promise<void>) {
  const server = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", MAIN, "serve"],
    env: {
      ...env,
      NO_COLOR: "1",
      SILVERMAIL_SMTP_MX_PORT: "0",
      SILVERMAIL_SMTP_SUBMISSION_PORT: "0",
      SILVERMAIL_SMTP_SUBMISSIONS_PORT: "0",
      SILVERMAIL_IMAP_IMAP_PORT: "0",
      SILVERMAIL_IMAP_IMAPS_PORT: "0",
      SILVERMAIL_ADMIN_HTTP_PORT: "0",
    },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const reader = server.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let banner = "";
  while (!banner.includes("Stop with Ctrl-C")) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`server exited early: ${banner}`);
    banner += value;
  }
  try {
    await fn();
  } finally {
    server.kill("SIGTERM");
    const status = await server.status;
    reader.releaseLock();
    await server.stdout.cancel().catch(() => {});
    const err = await new Response(server.stderr).text();
    assert.equal(status.code, 0, `server did not stop cleanly: ${err}`);
    assert.match(err, /"msg":"stopped"/);
  }
}

Deno.test({
  name: "cli: commands reach a running server over the control socket (embedded store)",
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "silvermail-cli-" });
    const env = { SILVERMAIL_DATA_DIR: `${dir}/data` };
    try {
      await withServer(env, async () => {
        const info = await Deno.stat(`${dir}/data/control.sock`);
        assert.equal(info.mode! & 0o777, 0o600, "control socket is owner-only");
        // The server holds the PGlite lock: these can only succeed through the control socket.
        await userLifecycle(env);
        await fails(env, ["serve"], 1, /in use by process/);
      });
      // Stopped: the CLI opens the store itself again, and sees what the server stored.
      assert.match(await ok(env, ["domain", "add", "after.test"]), /Added/);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "cli: commands reach a running server over the control socket (Postgres)",
  ignore: !!postgresUnavailableReason() && Deno.env.get("CI") !== "true",
  sanitizeResources: false,
  async fn() {
    const db = await createTestDatabase();
    const dir = await Deno.makeTempDir({ prefix: "silvermail-cli-" });
    const env = { SILVERMAIL_DATA_DIR: `${dir}/data`, SILVERMAIL_DATABASE_URL: db.url };
    try {
      await withServer(env, () => userLifecycle(env));
    } finally {
      await db.drop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
