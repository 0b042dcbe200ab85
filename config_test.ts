import assert from "node:assert/strict";
import { parse } from "smol-toml";
import { configDoc, ConfigError, envName, loadConfig, parseConfig } from "./config.ts";

Deno.test("parseConfig() fills every default from nothing", () => {
  const c = parseConfig({});
  assert.equal(c.hostname, "localhost");
  assert.equal(c.data_dir, "./data");
  assert.equal(c.database.url, "");
  assert.equal(c.smtp.mx.port, 2525);
  assert.equal(c.smtp.submission.port, 2587);
  assert.equal(c.smtp.submissions.port, 2465);
  assert.equal(c.imap.imap.port, 2143);
  assert.equal(c.imap.imaps.port, 2993);
  assert.equal(c.admin.http.port, 8443);
  assert.equal(c.smtp.mx.address, "127.0.0.1");
});

Deno.test("parseConfig() names the unknown or bad key", () => {
  assert.throws(() => parseConfig({ smtp: { mx: { prot: 1 } } }), /unknown key "smtp.mx.prot"/);
  assert.throws(() => parseConfig({ bogus: true }), /unknown key "bogus"/);
  assert.throws(() => parseConfig({ smtp: { mx: { port: 70000 } } }), /"smtp.mx.port"/);
  assert.throws(() => parseConfig({ log: { level: "loud" } }), /"log.level"/);
  assert.throws(() => parseConfig({ hostname: "bad host" }), ConfigError);
});

Deno.test("loadConfig() applies environment overrides with type coercion", async () => {
  const c = await loadConfig({
    env: {
      SILVERMAIL_DATA_DIR: "/srv/mail",
      SILVERMAIL_SMTP_MX_PORT: "25",
      SILVERMAIL_SMTP_MX_ENABLED: "false",
      SILVERMAIL_DATABASE_URL: "postgres://x@y/z",
    },
  });
  assert.equal(c.data_dir, "/srv/mail");
  assert.equal(c.smtp.mx.port, 25);
  assert.equal(c.smtp.mx.enabled, false);
  assert.equal(c.database.url, "postgres://x@y/z");
  await assert.rejects(loadConfig({ env: { SILVERMAIL_SMTP_MX_ENABLED: "maybe" } }), /SILVERMAIL_SMTP_MX_ENABLED/);
});

Deno.test("loadConfig() reads TOML from --config or SILVERMAIL_CONFIG; environment wins", async () => {
  const file = await Deno.makeTempFile({ suffix: ".toml" });
  try {
    await Deno.writeTextFile(file, 'hostname = "mail.example.org"\n[smtp.mx]\nport = 25\n');
    const c = await loadConfig({ env: { SILVERMAIL_CONFIG: file, SILVERMAIL_SMTP_MX_PORT: "2626" } });
    assert.equal(c.hostname, "mail.example.org");
    assert.equal(c.smtp.mx.port, 2626);
    await Deno.writeTextFile(file, "hostname = \n");
    await assert.rejects(loadConfig({ file }), /Cannot parse config file/);
  } finally {
    await Deno.remove(file);
  }
});

Deno.test("configDoc() is valid TOML that parses back to the defaults, with every env name", () => {
  const doc = configDoc();
  assert.deepEqual(parseConfig(parse(doc)), parseConfig({}));
  assert.match(doc, new RegExp(envName(["smtp", "mx", "port"])));
  assert.match(doc, /SILVERMAIL_DEV_ALLOW_PLAINTEXT_AUTH_ON_LOOPBACK/);
});
