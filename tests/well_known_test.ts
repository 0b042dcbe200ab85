/**
 * The HTTPS listener's well-known mail URLs, fetched with curl (real TLS, the names `dns DOMAIN` points here) and
 * read with Python's XML parser: the MTA-STS policy, Thunderbird autoconfig, Outlook autodiscover; other domains 404.
 */
import assert from "node:assert/strict";
import { runCli, runProgram, startServerProcess } from "./server_process.ts";

async function curl(
  port: number,
  host: string,
  path: string,
  extra: string[] = [],
): Promise<{ status: string; body: string }> {
  const r = await runProgram("curl", [
    "-sk",
    "--resolve",
    `${host}:${port}:127.0.0.1`,
    "-w",
    "\n%{http_code}",
    ...extra,
    `https://${host}:${port}${path}`,
  ]);
  const at = r.stdout.lastIndexOf("\n");
  return { body: r.stdout.slice(0, at), status: r.stdout.slice(at + 1) };
}

/** What Python's ElementTree makes of an XML document: the text of the elements asked for. */
async function xmlValues(doc: string, paths: string[]): Promise<string[][]> {
  const script = `
import json, sys, xml.etree.ElementTree as ET
root = ET.fromstring(sys.stdin.read())
def strip(e):
    for x in e.iter():
        x.tag = x.tag.split('}')[-1]
strip(root)
print(json.dumps([[x.text for x in root.findall(p)] for p in sys.argv[1:]]))
`;
  const r = await runProgram("python3", ["-c", script, ...paths], { stdin: doc });
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout);
}

Deno.test({
  name: "https: MTA-STS policy, Thunderbird autoconfig and Outlook autodiscover for local domains only",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "silvermail-https-" });
    const env = { SILVERMAIL_DATA_DIR: dir, SILVERMAIL_HOSTNAME: "mail.example.test" };
    const server = await startServerProcess(env);
    try {
      assert.equal((await runCli(env, ["domain", "add", "example.test"])).code, 0);
      const port = server.ports["HTTPS"]!;
      const policy = await curl(port, "mta-sts.example.test", "/.well-known/mta-sts.txt");
      assert.equal(policy.status, "200");
      assert.equal(policy.body, "version: STSv1\r\nmode: enforce\r\nmx: mail.example.test\r\nmax_age: 604800\r\n");
      // What `dns` prints is what is served.
      const zone = (await runCli(env, ["dns", "example.test"])).stdout;
      assert.match(zone, /;\s+mx: mail\.example\.test/);
      assert.equal((await curl(port, "mta-sts.other.test", "/.well-known/mta-sts.txt")).status, "404");

      const config = await curl(
        port,
        "autoconfig.example.test",
        "/mail/config-v1.1.xml?emailaddress=alice%40example.test",
      );
      assert.equal(config.status, "200");
      const [hosts, ports, sockets, users] = await xmlValues(config.body, [
        ".//incomingServer/hostname",
        ".//incomingServer/port",
        ".//incomingServer/socketType",
        ".//outgoingServer/username",
      ]);
      assert.deepEqual(hosts, ["mail.example.test", "mail.example.test"]);
      assert.deepEqual(ports, [String(server.ports["IMAPS"]), String(server.ports["IMAP"])]);
      assert.deepEqual(sockets, ["SSL", "STARTTLS"]);
      assert.deepEqual(users, ["%EMAILADDRESS%", "%EMAILADDRESS%"]);
      assert.equal((await curl(port, "autoconfig.other.test", "/mail/config-v1.1.xml")).status, "404");

      const request = `<?xml version="1.0" encoding="utf-8"?>
<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006">
  <Request><EMailAddress>alice@example.test</EMailAddress>
  <AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a</AcceptableResponseSchema>
  </Request></Autodiscover>`;
      const discovered = await curl(port, "autodiscover.example.test", "/autodiscover/autodiscover.xml", [
        "-X",
        "POST",
        "-H",
        "content-type: text/xml",
        "--data-binary",
        request,
      ]);
      assert.equal(discovered.status, "200");
      const [types, logins, dports] = await xmlValues(discovered.body, [
        ".//Protocol/Type",
        ".//Protocol/LoginName",
        ".//Protocol/Port",
      ]);
      assert.deepEqual(types, ["IMAP", "SMTP"]);
      assert.deepEqual(logins, ["alice@example.test", "alice@example.test"]);
      assert.deepEqual(dports, [String(server.ports["IMAPS"]), String(server.ports["SMTP submissions"])]);
      assert.equal((await curl(port, "mail.example.test", "/admin")).status, "404");
      // Hostile requests: an oversized body is refused unread; a pathological one is answered at once.
      const file = await Deno.makeTempFile();
      await Deno.writeTextFile(file, "<EMailAddress>" + "x".repeat(20_000));
      const big = await curl(port, "autodiscover.example.test", "/autodiscover/autodiscover.xml", [
        "-X",
        "POST",
        "--data-binary",
        `@${file}`,
      ]);
      // 413, or the connection closed while curl was still sending what the server would not read.
      assert.match(big.status, /^(413|000)$/);
      await Deno.writeTextFile(file, "<EMailAddress>" + "@".repeat(16_000));
      const started = Date.now();
      const odd = await curl(port, "autodiscover.example.test", "/autodiscover/autodiscover.xml", [
        "-X",
        "POST",
        "--data-binary",
        `@${file}`,
      ]);
      assert.equal(odd.status, "404");
      assert.ok(Date.now() - started < 2000, "no catastrophic backtracking");
      await Deno.remove(file);
    } finally {
      await server.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
