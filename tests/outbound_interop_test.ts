/**
 * Silvermail next to a mail server nobody here wrote, and behind a smarthost — on loopback, with real DNS
 * (dnsmasq) for Silvermail and a private Debian Postfix 3.7 instance (its own main.cf/master.cf in a temp dir;
 * /etc/postfix is never touched).
 *
 * - Silvermail → Postfix (the MX of p.test on 127.0.0.7): over STARTTLS, the message lands intact in Postfix's
 *   Maildir with Silvermail's DKIM signatures, which still verify there.
 * - Postfix → Silvermail: Postfix relays (from 127.0.0.7, over STARTTLS) to a.test; spf=pass, and the Received
 *   chain shows Postfix.
 * - A recipient Postfix refuses (550 5.1.1, unknown in its virtual mailbox table): a DSN quoting that reply; the
 *   other recipient of the same message still gets it.
 * - Smarthost: instance "relay" (b.test, 127.0.0.6) sends all mail through instance B's submission port (AUTH as
 *   bob over STARTTLS verified with B's own certificate as the CA), and B delivers to a.test. With a wrong
 *   password the message stays queued (deferred with the 535), it does not bounce.
 */
import assert from "node:assert/strict";
import { type DnsZone, startDns } from "./dns_server.ts";
import {
  cli,
  commonFreePort,
  dkimRecords,
  header,
  type Instance,
  IP,
  PASSWORD,
  send,
  startInstance,
  swaks,
  waitForMail,
} from "./mail_world.ts";
import { startServerProcess } from "./server_process.ts";
import { Resolver } from "../dns/resolver.ts";
import { checkIncoming } from "../smtp/mail_auth.ts";

/** Postfix, the MX of p.test. */
const POSTFIX_IP = "127.0.0.7";
/** The instance that relays through a smarthost. */
const RELAY_IP = "127.0.0.6";

/** A port free on IP.* (commonFreePort) and on `extra` too. */
function freePortAlso(extra: string[]): number {
  for (;;) {
    const port = commonFreePort();
    try {
      for (const ip of extra) Deno.listen({ hostname: ip, port }).close();
      return port;
    } catch { /* taken there: try another */ }
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls `check` every 100 ms until it returns a value (not undefined) or `timeoutMs` passes. */
async function poll<T>(what: string, timeoutMs: number, check: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

// ---- A private Postfix instance ------------------------------------------------------------------------------

function postfixUnavailable(): string | undefined {
  if (Deno.build.os !== "linux") return "Postfix interop runs on Linux only";
  if (Deno.uid() !== 0) return "a private Postfix instance needs root (its master runs as root)";
  for (const f of ["/usr/sbin/postfix", "/usr/lib/postfix/sbin/master", "/usr/lib/postfix/sbin/virtual"]) {
    try {
      Deno.statSync(f);
    } catch {
      return `${f} is missing (apt-get install postfix)`;
    }
  }
  return undefined;
}

async function run(cmd: string, args: string[]): Promise<string> {
  const out = await new Deno.Command(cmd, { args, stdin: "null", stdout: "piped", stderr: "piped" }).output();
  const dec = new TextDecoder();
  const text = dec.decode(out.stdout) + dec.decode(out.stderr);
  if (!out.success) throw new Error(`${cmd} ${args.join(" ")} failed (${out.code}):\n${text}`);
  return text;
}

/** PIDs of processes whose environment says MAIL_CONFIG=`etc`: the master and every daemon of one instance. */
function postfixPids(etc: string): number[] {
  const pids: number[] = [];
  const wanted = `MAIL_CONFIG=${etc}`;
  for (const e of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    try {
      const env = Deno.readTextFileSync(`/proc/${e.name}/environ`).split("\0");
      if (env.includes(wanted)) pids.push(Number(e.name));
    } catch { /* gone, or not ours to read */ }
  }
  return pids;
}

interface Postfix {
  /** The Maildir `new/` of a p.test user. */
  newMail(user: string): Promise<string[]>;
  /** Postfix's own log (maillog_file), for assertion messages. */
  log(): string;
  stop(): Promise<void>;
}

/**
 * Starts Postfix as the MX of p.test on POSTFIX_IP:`port`: `virtual` delivery into Maildirs for `users`, STARTTLS
 * with a self-signed certificate, and mail for a.test relayed to `[IP.a]:port` from POSTFIX_IP (Postfix uses the
 * libc resolver, so it cannot ask our dnsmasq; transport_maps routes without DNS).
 */
async function startPostfix(port: number, users: string[]): Promise<Postfix> {
  // Postfix's daemons (user postfix, and `virtual` as the mailbox owner) must traverse every parent directory.
  const dir = await Deno.makeTempDir({ dir: "/var/tmp", prefix: "silvermail-postfix-" });
  await Deno.chmod(dir, 0o755);
  const etc = `${dir}/etc`;
  for (const d of ["etc", "spool", "data", "mail"]) await Deno.mkdir(`${dir}/${d}`, { mode: 0o755 });
  const postfixUser = Number((await run("id", ["-u", "postfix"])).trim());
  await Deno.chown(`${dir}/data`, postfixUser, null);
  // Mail is stored as nobody (virtual_minimum_uid is 100; nobody is 65534).
  const nobody = Number((await run("id", ["-u", "nobody"])).trim());
  const nogroup = Number((await run("id", ["-g", "nobody"])).trim());
  await Deno.chown(`${dir}/mail`, nobody, nogroup);
  await run("openssl", [
    "req",
    "-x509",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:prime256v1",
    "-nodes",
    "-days",
    "30",
    "-subj",
    "/CN=mx.p.test",
    "-addext",
    "subjectAltName=DNS:mx.p.test",
    "-keyout",
    `${etc}/key.pem`,
    "-out",
    `${etc}/cert.pem`,
  ]);
  await Deno.chmod(`${etc}/key.pem`, 0o600);
  await Deno.writeTextFile(
    `${etc}/main.cf`,
    `# A private instance for tests/outbound_interop_test.ts. Start: postfix -c ${etc} start
compatibility_level = 3.6
config_directory = ${etc}
queue_directory = ${dir}/spool
data_directory = ${dir}/data
mail_owner = postfix
setgid_group = postdrop
maillog_file = ${dir}/maillog
# Postfix refuses an inet_interfaces address no interface has (lo has only 127.0.0.1/8); the listener's own
# address in master.cf and smtp_bind_address may be any address of 127/8.
inet_interfaces = loopback-only
inet_protocols = ipv4
myhostname = mx.p.test
mydomain = p.test
myorigin = $mydomain
mydestination =
# swaks submits from 127.0.0.1 (relay allowed); Silvermail connects from ${IP.a} (an outsider: p.test only)
mynetworks = 127.0.0.1/32
relayhost =
alias_maps =
alias_database =
local_recipient_maps =
biff = no
smtpd_peername_lookup = no
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
# The receiving side: p.test's mailboxes (unknown users get 550 5.1.1 at RCPT)
virtual_mailbox_domains = p.test
virtual_mailbox_maps = texthash:${etc}/vmailbox
virtual_mailbox_base = ${dir}/mail
virtual_uid_maps = static:${nobody}
virtual_gid_maps = static:${nogroup}
smtpd_tls_security_level = may
smtpd_tls_cert_file = ${etc}/cert.pem
smtpd_tls_key_file = ${etc}/key.pem
smtpd_tls_received_header = yes
smtpd_tls_loglevel = 1
# The sending side: a.test without DNS, from ${POSTFIX_IP} (what p.test's SPF allows), STARTTLS when offered
transport_maps = texthash:${etc}/transport
smtp_bind_address = ${POSTFIX_IP}
smtp_tls_security_level = may
smtp_tls_loglevel = 1
# Retry quickly (a test run is short)
queue_run_delay = 1s
minimal_backoff_time = 1s
maximal_backoff_time = 2s
`,
  );
  await Deno.writeTextFile(
    `${etc}/master.cf`,
    `# service type  private unpriv  chroot  wakeup  maxproc command + args
${POSTFIX_IP}:${port} inet n - n - - smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
virtual   unix  -       n       n       -       -       virtual
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
`,
  );
  await Deno.writeTextFile(`${etc}/vmailbox`, users.map((u) => `${u}@p.test p.test/${u}/\n`).join(""));
  await Deno.writeTextFile(`${etc}/transport`, `a.test smtp:[${IP.a}]:${port}\n`);
  const log = () => {
    try {
      return Deno.readTextFileSync(`${dir}/maillog`);
    } catch {
      return "(no maillog)";
    }
  };
  const stop = async () => {
    // `postfix stop` ends the master, which ends its daemons; abort and SIGKILL (by PID) only if one lingers.
    await run("postfix", ["-c", etc, "stop"]).catch(() => {});
    for (let i = 0; i < 50 && postfixPids(etc).length; i++) await sleep(100);
    if (postfixPids(etc).length) {
      await run("postfix", ["-c", etc, "abort"]).catch(() => {});
      await sleep(500);
      for (const pid of postfixPids(etc)) {
        try {
          Deno.kill(pid, "SIGKILL");
        } catch { /* gone */ }
      }
      await sleep(200);
    }
    const left = postfixPids(etc);
    if (left.length) throw new Error(`Postfix processes still running after stop: ${left.join(", ")}`);
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  };
  try {
    await run("postfix", ["-c", etc, "check"]);
    // The master keeps whatever stdout/stderr it gets: give it a file, never our pipe.
    await run("sh", ["-c", `exec postfix -c "$1" start </dev/null >"$2" 2>&1`, "sh", etc, `${dir}/start.log`]);
    await poll("Postfix to listen", 10_000, async () => {
      try {
        (await Deno.connect({ hostname: POSTFIX_IP, port })).close();
        return true;
      } catch {
        return undefined;
      }
    });
  } catch (e) {
    const started = await Deno.readTextFile(`${dir}/start.log`).catch(() => "");
    await stop().catch(() => {});
    throw new Error(`Postfix did not start: ${(e as Error).message}\n${started}\n${log()}`);
  }
  return {
    async newMail(user) {
      const box = `${dir}/mail/p.test/${user}/new`;
      const out: string[] = [];
      try {
        for await (const e of Deno.readDir(box)) out.push(await Deno.readTextFile(`${box}/${e.name}`));
      } catch (e) {
        if (!(e instanceof Deno.errors.NotFound)) throw e;
      }
      return out;
    },
    log,
    stop,
  };
}

/** Stops an instance's processes and removes its data dir. */
async function stopInstance(inst: Instance): Promise<void> {
  for (const p of inst.procs) await p.stop().catch(() => {});
  await Deno.remove(inst.env.SILVERMAIL_DATA_DIR!, { recursive: true }).catch(() => {});
}

// ---- The tests -----------------------------------------------------------------------------------------------

/** Every DKIM-Signature header field, unfolded. */
function dkimSignatures(source: string): string[] {
  return header(source, "DKIM-Signature").split("\n").filter(Boolean);
}

const postfixReason = postfixUnavailable();

Deno.test({
  name: "interop: Silvermail and Debian's Postfix deliver to each other, over TLS, with DKIM, SPF and DSNs",
  // CI installs Postfix (.ci/run): there a missing one is a failure, not a skip.
  ignore: !!postfixReason && Deno.env.get("CI") !== "true",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    if (postfixReason) throw new Error(`CI=true but Postfix cannot run: ${postfixReason}`);
    const port = freePortAlso([POSTFIX_IP]);
    const base: DnsZone = {
      a: [["mx.a.test", IP.a], ["mx.p.test", POSTFIX_IP]],
      mx: [["a.test", "mx.a.test", 10], ["p.test", "mx.p.test", 10]],
      txt: [
        ["a.test", `v=spf1 ip4:${IP.a} -all`],
        ["_dmarc.a.test", "v=DMARC1; p=reject"],
        ["p.test", `v=spf1 ip4:${POSTFIX_IP} -all`],
      ],
    };
    const dns = await startDns(base);
    const [startedA, startedPostfix] = await Promise.allSettled([
      startInstance("a.test", IP.a, port, dns),
      startPostfix(port, ["carol"]),
    ]);
    try {
      if (startedA.status === "rejected") throw startedA.reason;
      if (startedPostfix.status === "rejected") throw startedPostfix.reason;
      const a = startedA.value;
      const postfix = startedPostfix.value;
      await cli(a, ["domain", "add", "a.test"]);
      await cli(a, ["user", "add", "alice@a.test", "--password-stdin"], PASSWORD);
      await dns.reload({ ...base, txt: [...base.txt!, ...dkimRecords(await cli(a, ["dns", "a.test"]))] });

      await t.step("Silvermail → Postfix: over STARTTLS, stored intact, DKIM signatures verify there", async () => {
        const text = "Hello Carol,\n.a line that starts with a dot\n..and one with two\n\nBye.\n";
        await send(a, "alice@a.test", { to: "carol@p.test", subject: "to postfix", text });
        const stored = await poll("the message in carol's Maildir", 20_000, async () => {
          return (await postfix.newMail("carol")).find((m) => /^Subject: to postfix$/m.test(m));
        }).catch((e) => {
          throw new Error(`${e.message}\n${postfix.log()}`);
        });
        const body = stored.slice(stored.indexOf("\n\n") + 2);
        assert.equal(body, text, "the body arrives byte for byte (dot-stuffing undone by Postfix)");
        assert.match(stored, /^Delivered-To: carol@p\.test$/m);
        assert.match(stored, /^From: alice@a\.test$/m);
        // Postfix's trace: it took the message from Silvermail's address, over TLS.
        const received = header(stored, "Received").split("\n")[0]!;
        assert.match(received, /from mx\.a\.test \(unknown \[127\.0\.0\.2\]\)/, received);
        assert.match(received, /\(using TLSv1\.[23] with cipher /, received);
        assert.match(received, /by mx\.p\.test \(Postfix\) with ESMTPS/, received);
        const signatures = dkimSignatures(stored);
        assert.equal(signatures.length, 2, "an RSA and an Ed25519 signature");
        for (const s of signatures) assert.match(s, /d=a\.test/);
        // The copy Postfix stored (LF line ends in the Maildir) still verifies: nothing in between changed it.
        const verdict = await checkIncoming(
          new TextEncoder().encode(stored.replace(/\r?\n/g, "\r\n")),
          { ip: IP.a, helo: "mx.a.test", mailFrom: "alice@a.test", hostname: "mx.p.test" },
          new Resolver({ nameserver: dns.nameserver, cacheMs: 0 }),
        );
        assert.equal(verdict.dkim, "pass", verdict.headers);
        assert.doesNotMatch(verdict.headers, /dkim=(fail|neutral|temperror|permerror)/, verdict.headers);
        assert.equal(verdict.spf, "pass", verdict.headers);
        assert.equal(verdict.dmarc, "pass", verdict.headers);
        const log = await cli(a, ["queue", "log", "carol@p.test"]);
        assert.match(log, /delivered\s+carol@p\.test\s+mx\.p\.test \[127\.0\.0\.7\]\s+TLSv1\.[23]\s+\S+\s+250 /, log);
      });

      await t.step(
        "Postfix → Silvermail: relayed from 127.0.0.7 over TLS, spf=pass, Postfix in the chain",
        async () => {
          const r = await swaks([
            "--server",
            `${POSTFIX_IP}:${port}`,
            "--local-interface",
            "127.0.0.1",
            "--from",
            "carol@p.test",
            "--to",
            "alice@a.test",
            "--header",
            "Subject: from postfix",
            "--body",
            "Hello Alice, this came through Postfix.",
          ]);
          assert.match(r.out, /<- {2}250 2\.0\.0 Ok: queued/, r.out);
          const [source] = await waitForMail(a, "alice@a.test", /Subject: from postfix/).catch((e) => {
            throw new Error(`${e.message}\n${postfix.log()}`);
          });
          const ar = header(source!, "Authentication-Results");
          assert.match(ar, /^Authentication-Results: mx\.a\.test;/m, ar);
          assert.match(ar, /spf=pass[^;]*smtp\.mailfrom=(carol@)?p\.test/, ar);
          assert.match(ar, /dkim=none/, ar);
          const received = header(source!, "Received").split("\n");
          // Newest first: Silvermail took it from Postfix (over TLS), Postfix took it from swaks.
          assert.match(received[0]!, /^Received: from mx\.p\.test \(\[127\.0\.0\.7\]\) by mx\.a\.test \(Silvermail\)/);
          assert.match(received[0]!, /with ESMTPS .*\(using TLSv1\.[23] with cipher /, received[0]);
          assert.match(received[1]!, /by mx\.p\.test \(Postfix\) with E?SMTP/, received[1]);
          assert.match(source!, /Hello Alice, this came through Postfix\./);
        },
      );

      await t.step(
        "a recipient Postfix refuses: a DSN quoting its 550; the other recipient gets the message",
        async () => {
          await send(a, "alice@a.test", { to: "carol@p.test, nobody@p.test", subject: "one of two" });
          const [dsn] = await waitForMail(a, "alice@a.test", /Undelivered Mail Returned to Sender/);
          const unfolded = dsn!.replace(/\r\n[ \t]+/g, " ");
          assert.match(unfolded, /Final-Recipient: rfc822; ?nobody@p\.test/);
          assert.doesNotMatch(unfolded, /Final-Recipient: rfc822; ?carol@p\.test/);
          assert.match(unfolded, /Action: failed/);
          assert.match(unfolded, /Status: 5\.1\.1/);
          assert.match(unfolded, /Remote-MTA: dns; ?mx\.p\.test/);
          assert.match(
            unfolded,
            /Diagnostic-Code: smtp; ?550 5\.1\.1 <nobody@p\.test>: Recipient address rejected: User unknown in virtual mailbox table/,
            unfolded,
          );
          await poll("carol's copy", 10_000, async () => {
            return (await postfix.newMail("carol")).find((m) => /^Subject: one of two$/m.test(m));
          });
          const log = await cli(a, ["queue", "log"]);
          assert.match(
            log,
            /bounced\s+nobody@p\.test\s+mx\.p\.test \[127\.0\.0\.7\]\s+TLSv1\.[23]\s+\S+\s+550 5\.1\.1/,
            log,
          );
          assert.match(await cli(a, ["queue", "list"]), /The queue is empty/);
        },
      );
    } finally {
      if (startedA.status === "fulfilled") await stopInstance(startedA.value);
      await dns.stop();
      // Last: it throws when a Postfix process outlives the test.
      if (startedPostfix.status === "fulfilled") await startedPostfix.value.stop();
    }
  },
});

Deno.test({
  name: "smarthost: relay → B (AUTH over verified TLS) → A; a wrong password keeps the mail queued",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const port = freePortAlso([RELAY_IP]);
    const base: DnsZone = {
      a: [["mx.a.test", IP.a], ["mx.b.test", IP.b], ["relay.b.test", RELAY_IP]],
      mx: [["a.test", "mx.a.test", 10], ["b.test", "mx.b.test", 10]],
      txt: [
        ["a.test", `v=spf1 ip4:${IP.a} -all`],
        // Only B sends to the internet for b.test; the relay instance never does.
        ["b.test", `v=spf1 ip4:${IP.b} -all`],
        ["_dmarc.b.test", "v=DMARC1; p=reject"],
      ],
    };
    const dns = await startDns(base);
    const started = await Promise.allSettled([
      startInstance("a.test", IP.a, port, dns),
      startInstance("b.test", IP.b, port, dns),
    ]);
    const instances = started.flatMap((s) => s.status === "fulfilled" ? [s.value] : []);
    try {
      for (const s of started) if (s.status === "rejected") throw s.reason;
      const [a, b] = instances as [Instance, Instance];
      const relayEnv = {
        SILVERMAIL_HOSTNAME: "relay.b.test",
        SILVERMAIL_OUTBOUND_SMARTHOST_HOST: "mx.b.test",
        SILVERMAIL_OUTBOUND_SMARTHOST_PORT: String(b.submission),
        SILVERMAIL_OUTBOUND_SMARTHOST_TLS: "starttls",
        SILVERMAIL_OUTBOUND_SMARTHOST_USERNAME: "bob@b.test",
        SILVERMAIL_OUTBOUND_SMARTHOST_PASSWORD: PASSWORD,
        // B's certificate is self-signed for mx.b.test: trusting it is what lets the relay verify B.
        SILVERMAIL_OUTBOUND_CA_FILE: `${b.env.SILVERMAIL_DATA_DIR}/tls/self-signed.crt`,
      };
      const addUser = async (inst: Instance, user: string) => {
        await cli(inst, ["domain", "add", inst.name]);
        await cli(inst, ["user", "add", user, "--password-stdin"], PASSWORD);
      };
      // The relay (it needed B's port and certificate) starts while A and B get their users and B's keys go to DNS.
      const [relayStarted, ...prepared] = await Promise.allSettled([
        startInstance("b.test", RELAY_IP, port, dns, relayEnv).then(async (r) => {
          instances.push(r);
          await addUser(r, "bob@b.test");
          return r;
        }),
        addUser(a, "alice@a.test"),
        addUser(b, "bob@b.test").then(async () => {
          await dns.reload({ ...base, txt: [...base.txt!, ...dkimRecords(await cli(b, ["dns", "b.test"]))] });
        }),
      ]);
      for (const s of [relayStarted, ...prepared]) if (s.status === "rejected") throw s.reason;
      const relay = (relayStarted as PromiseFulfilledResult<Instance>).value;

      await t.step("bob on relay → alice@a.test, through B", async () => {
        await send(relay, "bob@b.test", { to: "alice@a.test", subject: "via the smarthost" });
        const [source] = await waitForMail(a, "alice@a.test", /Subject: via the smarthost/);
        const received = header(source!, "Received").split("\n");
        assert.match(received[0]!, /^Received: from mx\.b\.test \(\[127\.0\.0\.3\]\) by mx\.a\.test \(Silvermail\)/);
        assert.match(
          received[1]!,
          /by mx\.b\.test \(Silvermail\) with ESMTPSA/,
          "B took it by authenticated submission",
        );
        assert.match(received[2]!, /by relay\.b\.test \(Silvermail\) with ESMTPSA/, "bob submitted it to the relay");
        const ar = header(source!, "Authentication-Results");
        assert.match(ar, /spf=pass/, "it left from B's address");
        // B signed it with the keys published for b.test. The relay signed it too, with its own keys under the
        // same selector names (both instances name them by year), so those fail: only one key per name can be
        // published. A real smarthost signs with its own domain or selectors.
        assert.match(ar, /dkim=pass header\.i=@b\.test header\.s=s\d{4}a header\.a=rsa-sha256/, ar);
        assert.match(ar, /dmarc=pass/, ar);
        const log = await cli(relay, ["queue", "log", "alice@a.test"]);
        assert.match(log, /delivered\s+alice@a\.test\s+mx\.b\.test \[127\.0\.0\.3\]\s+TLSv1\.[23]/, log);
        assert.match(await cli(b, ["queue", "log", "alice@a.test"]), /delivered\s+alice@a\.test\s+mx\.a\.test/);
      });

      await t.step("a wrong smarthost password: deferred with the 535, not bounced", async () => {
        await relay.procs[0]!.stop();
        relay.procs.length = 0;
        const env = {
          ...relay.env,
          SILVERMAIL_OUTBOUND_SMARTHOST_PASSWORD: "not the right passphrase",
          // One attempt in this test: later ones may meet B's throttling of failed logins instead.
          SILVERMAIL_OUTBOUND_RETRY_MIN: "10m",
          SILVERMAIL_OUTBOUND_RETRY_MAX: "10m",
        };
        const proc = await startServerProcess(env);
        relay.procs.push(proc);
        const restarted: Instance = {
          ...relay,
          env,
          submission: proc.ports["SMTP submission"]!,
          imaps: proc.ports["IMAPS"]!,
        };
        await send(restarted, "bob@b.test", { to: "alice@a.test", subject: "wrong password" });
        const list = await poll("the 535 in the queue", 15_000, async () => {
          const out = await cli(restarted, ["queue", "list"]);
          return /535/.test(out) ? out : undefined;
        });
        assert.match(list, /bob@b\.test\s+alice@a\.test\s+.*mx\.b\.test.*535 5\.7\.8/, list);
        const log = await cli(restarted, ["queue", "log", "alice@a.test"]);
        assert.match(log, /deferred\s+alice@a\.test/, log);
        assert.doesNotMatch(log, /bounced/, log);
        await sleep(500);
        assert.equal((await waitForMail(restarted, "bob@b.test", /Undelivered|Delayed/, { count: 0 })).length, 0);
        assert.match(await cli(restarted, ["queue", "list"]), /alice@a\.test/, "still queued");
      });
    } finally {
      for (const inst of instances) await stopInstance(inst);
      await dns.stop();
    }
  },
});
