/**
 * @module
 * Silvermail's entry point: the command line (`serve`, `user …`, `domain …`, `alias …`, `config doc`) and the
 * composition root of `serve`, which reads the configuration, opens the store, starts every listener and stops
 * them cleanly on SIGINT/SIGTERM. Nothing else reads the environment or config files.
 */
import { resolve } from "node:path";
import { parseArgs, UsageError } from "./cli/args.ts";
import { COMMANDS, dispatch, findCommand, usageOf, validateInput, VALUED_OPTIONS } from "./cli/commands.ts";
import { controlSocketPath, sendControlRequest, startControlServer } from "./cli/control.ts";
import { promptNewPassword, readPasswordFromStdin } from "./cli/prompt.ts";
import { type Config, configDoc, ConfigError, durationMs, loadConfig } from "./config.ts";
import { Resolver } from "./dns/resolver.ts";
import { startHttpServer } from "./admin/server.ts";
import { logger, setLogLevel } from "./log.ts";
import { DEFAULT_IMAP_LIMITS, ImapServer } from "./imap/mod.ts";
import { DEFAULT_LIMITS, type ListenerKind, SmtpServer } from "./smtp/mod.ts";
import { DeliveryWorker } from "./smtp/outbound/worker.ts";
import { Srs } from "./smtp/srs.ts";
import { AuthThrottle } from "./spam/auth_throttle.ts";
import { LockedError, Store, type StoreOptions } from "./store/mod.ts";
import { TlsContext } from "./tls/mod.ts";

/** The version printed by `silvermail version`. */
export const VERSION = "0.1.0";

const io = {
  out: (line: string) => console.log(line),
  err: (line: string) => console.error(line),
};

function generalHelp(): string {
  const lines = [
    "Silvermail — a self-hosted mail server in one program.",
    "",
    "usage: silvermail <command> [--config FILE] [options]",
    "",
    "Commands:",
    "  serve                     Run the mail server (SMTP, IMAP, admin) until SIGINT/SIGTERM",
    ...COMMANDS.map((c) => `  ${(c.words.join(" ") + " " + c.usage).trim().padEnd(40)}  ${c.summary}`),
    "  config doc                Print the annotated sample configuration (every key, its default and env name)",
    "  version                   Print the version",
    "",
    "Every command takes --help. The configuration file comes from --config FILE or SILVERMAIL_CONFIG; every key",
    "can also be set by environment (SILVERMAIL_DATA_DIR, SILVERMAIL_DATABASE_URL, …: see `config doc`).",
    "While `serve` runs, the other commands are sent to it over <data_dir>/control.sock.",
  ];
  return lines.join("\n");
}

/** Where the store is, from the configuration. */
export function storeOptions(config: Config): StoreOptions {
  const policy = {
    minPasswordLength: config.accounts.min_password_length,
    defaultQuotaBytes: config.accounts.default_quota_mb * 1048576,
  };
  return {
    location: config.database.url
      ? { url: config.database.url, poolSize: config.database.pool_size }
      : { dataDir: resolve(config.data_dir) },
    policy,
    messageCacheBytes: config.database.message_cache_mb * 1048576,
    durableFlagChanges: config.database.durable_flag_changes,
  };
}

async function configFrom(options: Map<string, string | true>): Promise<Config> {
  const file = options.get("config");
  if (file === true) throw new UsageError("--config needs a file");
  const config = await loadConfig({ file, env: Deno.env.toObject() });
  setLogLevel(config.log.level);
  return config;
}

/** A running part of the server (a listener, the control socket, …). */
interface Service {
  name: string;
  close(): Promise<void>;
}

async function serve(config: Config): Promise<number> {
  const log = logger("main");
  const dataDir = resolve(config.data_dir);
  await Deno.mkdir(dataDir, { recursive: true, mode: 0o700 });
  const store = await Store.open(storeOptions(config));
  const services: Service[] = [];
  const bound: { imap?: number; imaps?: number; submission?: number; submissions?: number; mx?: number } = {};
  const listening: string[] = [];
  try {
    const socket = controlSocketPath(dataDir);
    const control = await startControlServer(
      socket,
      (request, io) => dispatch({ store, config }, request.argv, request.password, io),
    );
    services.push({ name: "control socket", close: () => control.close() });
    listening.push(`  control socket       ${socket}`);
    const tls = await TlsContext.load({
      mode: config.tls.mode,
      certFile: config.tls.cert_file,
      keyFile: config.tls.key_file,
      dataDir,
      hostname: config.hostname,
    });
    // One failed-login throttle for SMTP AUTH and IMAP LOGIN: a guesser cannot double its budget.
    const authThrottle = new AuthThrottle();
    const resolver = new Resolver({
      nameserver: config.dns.nameserver,
      timeoutMs: durationMs(config.dns.timeout),
      cacheMs: durationMs(config.dns.cache),
    });
    // Domains without DKIM keys (added before keys existed, or straight into the store) get them now.
    const keyed = await store.dkim.ensureAll();
    if (keyed.length) log.info("created DKIM keys", { domains: keyed });
    // One SRS secret for every instance of the database (each must verify the others' addresses).
    const srs = config.outbound.srs
      ? new Srs(
        await store.settings.getOrCreate("srs_secret", () => encodeBase64(crypto.getRandomValues(new Uint8Array(32)))),
      )
      : undefined;
    const worker = config.outbound.enabled ? await deliveryWorker(config, store, resolver, srs) : undefined;
    const smtp = new SmtpServer({
      hostname: config.hostname,
      store,
      tls,
      limits: {
        ...DEFAULT_LIMITS,
        maxMessageSize: config.smtp.max_message_size,
        maxRecipients: config.smtp.max_recipients,
      },
      maxConnectionsPerIp: config.smtp.max_connections_per_ip,
      allowPlaintextAuthOnLoopback: config.dev.allow_plaintext_auth_on_loopback,
      authThrottle,
      delivery: {
        ...(config.mail_auth.enabled ? { inbound: { resolver, dmarcReject: config.mail_auth.dmarc_reject } } : {}),
        sign: true,
        ...(worker ? { onQueued: () => worker.wake() } : {}),
        ...(srs ? { srs } : {}),
      },
    });
    services.push({ name: "smtp", close: () => smtp.close() });
    const smtpListeners: [ListenerKind, { enabled: boolean; address: string; port: number }, string][] = [
      ["mx", config.smtp.mx, "SMTP (MX)            "],
      ["submission", config.smtp.submission, "SMTP submission      "],
      ["submissions", config.smtp.submissions, "SMTP submissions     "],
    ];
    for (const [kind, l, label] of smtpListeners) {
      if (!l.enabled) continue;
      const port = await smtp.listen(kind, l.address, l.port);
      bound[kind] = port;
      const how = kind === "submissions" ? "implicit TLS, AUTH" : kind === "mx" ? "STARTTLS" : "STARTTLS, AUTH";
      listening.push(`  ${label}${l.address}:${port}  (${how})`);
      log.info("listening", { service: `smtp-${kind}`, address: l.address, port });
    }
    const imap = new ImapServer({
      hostname: config.hostname,
      store,
      tls,
      limits: { ...DEFAULT_IMAP_LIMITS, maxMessageSize: config.smtp.max_message_size },
      maxConnectionsPerIp: config.imap.max_connections_per_ip,
      maxConnectionsPerAccount: config.imap.max_connections_per_account,
      allowPlaintextAuthOnLoopback: config.dev.allow_plaintext_auth_on_loopback,
      authThrottle,
    });
    services.push({ name: "imap", close: () => imap.close() });
    for (
      const [kind, l, label] of [["imap", config.imap.imap, "IMAP                 "], [
        "imaps",
        config.imap.imaps,
        "IMAPS                ",
      ]] as const
    ) {
      if (!l.enabled) continue;
      const port = await imap.listen(kind, l.address, l.port);
      bound[kind] = port;
      listening.push(`  ${label}${l.address}:${port}  (${kind === "imaps" ? "implicit TLS" : "STARTTLS"})`);
      log.info("listening", { service: kind, address: l.address, port });
    }
    if (config.admin.http.enabled) {
      // Clients are told the ports the listeners have (in production the standard ones).
      const http = startHttpServer({
        address: config.admin.http.address,
        port: config.admin.http.port,
        tls,
        store,
        endpoints: { hostname: config.hostname, ...bound },
      });
      services.push({ name: "https", close: () => http.close() });
      listening.push(`  HTTPS                ${config.admin.http.address}:${http.port}  (MTA-STS policy, autoconfig)`);
      log.info("listening", { service: "https", address: config.admin.http.address, port: http.port });
    }
    if (worker) {
      worker.start();
      services.push({ name: "outbound", close: () => worker.stop() });
      const via = config.outbound.smarthost.host
        ? `via ${config.outbound.smarthost.host}:${config.outbound.smarthost.port}`
        : `to MX port ${config.outbound.port}`;
      listening.push(`  outbound delivery    ${via}`);
    }
  } catch (e) {
    for (const s of services.reverse()) await s.close().catch(() => {});
    await store.close();
    throw e;
  }

  const stop = Promise.withResolvers<string>();
  const onSignal = (sig: Deno.Signal) => () => stop.resolve(sig);
  const handlers = (["SIGINT", "SIGTERM"] as const).map((sig) => {
    const h = onSignal(sig);
    Deno.addSignalListener(sig, h);
    return [sig, h] as const;
  });

  const where = store.driver === "pglite" ? `embedded PGlite in ${resolve(dataDir, "db")}` : "Postgres";
  console.log([
    `Silvermail ${VERSION} is running as ${config.hostname} (store: ${where})`,
    ...listening,
    "",
    "Add a domain and the first user (in another terminal, while this runs):",
    "  npx -y deno@2.9.6 task cli domain add example.com",
    "  npx -y deno@2.9.6 task cli user add alice@example.com",
    "Stop with Ctrl-C.",
  ].join("\n"));
  log.info("server started", { hostname: config.hostname, driver: store.driver, data_dir: dataDir });

  const signal = await stop.promise;
  log.info("shutting down", { signal });
  for (const [sig, h] of handlers) Deno.removeSignalListener(sig, h);
  // Stop listeners first (in-flight sessions finish), then the store.
  for (const s of services.reverse()) {
    try {
      await s.close();
    } catch (e) {
      log.error("error while stopping", { service: s.name, error: e as Error });
    }
  }
  await store.close();
  log.info("stopped");
  return 0;
}

function encodeBase64(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes));
}

/** The delivery worker, configured from `outbound.*`. */
async function deliveryWorker(
  config: Config,
  store: Store,
  resolver: Resolver,
  srs: Srs | undefined,
): Promise<DeliveryWorker> {
  const o = config.outbound;
  const ca = o.ca_file ? [await Deno.readTextFile(o.ca_file)] : [];
  return new DeliveryWorker({
    store,
    hostname: config.hostname,
    resolver,
    port: o.port,
    concurrency: o.concurrency,
    connectionsPerDomain: o.connections_per_domain,
    pollMs: durationMs(o.poll_interval),
    retryMinMs: durationMs(o.retry_min),
    retryMaxMs: durationMs(o.retry_max),
    maxAgeMs: durationMs(o.max_age),
    delayWarningMs: durationMs(o.delay_warning),
    timeoutMs: durationMs(o.timeout),
    mtaSts: o.mta_sts,
    ...(srs ? { srs } : {}),
    ...(o.source_address ? { sourceAddress: o.source_address } : {}),
    ...(ca.length ? { ca } : {}),
    ...(o.smarthost.host
      ? {
        smarthost: {
          host: o.smarthost.host,
          port: o.smarthost.port,
          tls: o.smarthost.tls,
          ...(o.smarthost.username ? { username: o.smarthost.username, password: o.smarthost.password } : {}),
        },
      }
      : {}),
  });
}

async function main(argv: string[]): Promise<number> {
  const { positional, options } = parseArgs(argv, VALUED_OPTIONS);
  const [first, second] = positional;
  if (!first || first === "help") {
    console.log(generalHelp());
    return first || options.has("help") ? 0 : 2;
  }
  if (first === "version") {
    console.log(VERSION);
    return 0;
  }
  if (first === "config" && second === "doc") {
    if (options.has("help")) {
      console.log("usage: silvermail config doc\nPrints the annotated sample configuration.");
      return 0;
    }
    console.log(configDoc());
    return 0;
  }
  if (first === "serve") {
    if (options.has("help")) {
      console.log("usage: silvermail serve [--config FILE]\nRuns the mail server until SIGINT or SIGTERM.");
      return 0;
    }
    if (positional.length > 1) throw new UsageError(`Unexpected argument "${positional[1]}"`);
    for (const k of options.keys()) if (k !== "config") throw new UsageError(`Unknown option --${k}`);
    return await serve(await configFrom(options));
  }
  const found = findCommand(positional);
  if (!found) {
    io.err(`error: unknown command "${positional.join(" ")}"\n`);
    io.err(generalHelp());
    return 2;
  }
  const { spec, rest } = found;
  if (options.has("help")) {
    console.log(`usage: ${usageOf(spec)}\n${spec.summary}.${spec.help ? "\n" + spec.help : ""}`);
    return 0;
  }
  try {
    validateInput(spec, { args: rest, options: Object.fromEntries(options) });
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    io.err(`error: ${e.message}\nusage: ${usageOf(spec)}`);
    return 2;
  }
  const config = await configFrom(options);
  let password: string | undefined;
  if (spec.password) {
    password = options.has("password-stdin") ? await readPasswordFromStdin() : await promptNewPassword();
  }

  // A server running on this data dir owns the store: send it the command.
  const forwarded = argv.filter((a, i) => a !== "--config" && argv[i - 1] !== "--config" && !a.startsWith("--config="));
  const remote = await sendControlRequest(
    controlSocketPath(resolve(config.data_dir)),
    password === undefined ? { argv: forwarded } : { argv: forwarded, password },
    io,
  );
  if (remote !== undefined) return remote;

  const store = await Store.open(storeOptions(config));
  try {
    return await dispatch({ store, config }, forwarded, password, io);
  } finally {
    await store.close();
  }
}

if (import.meta.main) {
  let code: number;
  try {
    code = await main(Deno.args);
  } catch (e) {
    if (e instanceof UsageError || e instanceof ConfigError || e instanceof LockedError) {
      console.error(`error: ${e.message}`);
      code = e instanceof LockedError ? 1 : 2;
    } else {
      console.error(`error: ${(e as Error).stack ?? e}`);
      code = 1;
    }
  }
  Deno.exit(code);
}
