/**
 * @module
 * The configuration: one zod schema with a description on every key, read from a TOML file and overridden by
 * environment variables. `SILVERMAIL_` + the key path in upper case joined by `_` names each key, e.g.
 * `database.url` → `SILVERMAIL_DATABASE_URL`, `smtp.mx.port` → `SILVERMAIL_SMTP_MX_PORT`. Nothing else in the
 * program reads the environment or config files: `main.ts` calls {@linkcode loadConfig} and passes values down.
 */
import { z } from "zod";
import { parse as parseToml } from "smol-toml";

function listener(description: string, port: number, enabled = true) {
  return z.object({
    enabled: z.boolean().default(enabled).describe("Whether this listener is started."),
    address: z.string().min(1).default("127.0.0.1").describe(
      "Address to listen on: 127.0.0.1 for local only, 0.0.0.0 (or ::) for every interface.",
    ),
    port: z.number().int().min(0).max(65535).default(port).describe("TCP port. 0 picks a free port (tests)."),
  }).strict().default({}).describe(description);
}

const DURATION = /^(\d+)(ms|s|m|h|d)$/;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Milliseconds in a duration setting such as "300s", "4h" or "5d". */
export function durationMs(value: string): number {
  const m = DURATION.exec(value);
  if (!m) throw new ConfigError(`"${value}" is not a duration (e.g. 30s, 5m, 4h, 5d)`);
  return Number(m[1]) * UNIT_MS[m[2]!]!;
}

function duration(value: string) {
  return z.string().regex(DURATION, "must be a duration such as 30s, 5m, 4h or 5d").default(value);
}

/** The configuration schema. Defaults are the development defaults: loopback, unprivileged ports. */
export const ConfigSchema = z.object({
  hostname: z.string().min(1).regex(/^[A-Za-z0-9.-]+$/, "must be a host name").default("localhost").describe(
    "This server's public host name: used in SMTP greetings and EHLO, Received headers and the TLS certificate.",
  ),
  data_dir: z.string().min(1).default("./data").describe(
    "Directory for the embedded database, the control socket, the lock file and generated certificates.",
  ),
  database: z.object({
    url: z.string().default("").describe(
      "Postgres connection URL (postgres://user:pass@host:5432/db). Empty: the embedded PGlite store in <data_dir>/db.",
    ),
    pool_size: z.number().int().min(1).max(200).default(10).describe(
      "Connections per instance to Postgres for transactions and for statements the pipelined connection does " +
        "not take (each instance also opens one pipelined connection and one for LISTEN).",
    ),
    message_cache_mb: z.number().int().min(0).default(64).describe(
      "Memory for messages read recently (FETCH answers a repeated read without a query). 0: no cache.",
    ),
    durable_flag_changes: z.boolean().default(false).describe(
      "Wait for flag changes (STORE, \\Seen on reading) to reach the disk before replying. false: like Dovecot, " +
        "a crash of Postgres or its host may undo the last fraction of a second of flag changes; mail itself " +
        "(delivery, APPEND, COPY, MOVE, EXPUNGE) is always on disk before the reply.",
    ),
  }).strict().default({}).describe("Where mail, accounts and queues are stored."),
  log: z.object({
    level: z.enum(["trace", "debug", "info", "warn", "error"]).default("info").describe(
      "Lowest level logged. trace adds protocol transcripts (AUTH redacted).",
    ),
  }).strict().default({}).describe("Logging: JSON lines on standard error."),
  tls: z.object({
    mode: z.enum(["self-signed", "files"]).default("self-signed").describe(
      "self-signed: generate a certificate for hostname in <data_dir>/tls on first start (development). " +
        "files: read cert_file and key_file.",
    ),
    cert_file: z.string().default("").describe("PEM certificate chain (mode = files)."),
    key_file: z.string().default("").describe("PEM private key (mode = files)."),
  }).strict().default({}).describe("TLS for every listener. TLS 1.2 is the minimum."),
  smtp: z.object({
    mx: listener(
      "Inbound mail from the internet (production port 25): STARTTLS, no AUTH, local recipients only.",
      2525,
    ),
    submission: listener("Mail from users (production port 587): STARTTLS, then AUTH required.", 2587),
    submissions: listener("Mail from users over implicit TLS (production port 465, RFC 8314): AUTH required.", 2465),
    max_message_size: z.number().int().min(1024).default(35 * 1024 * 1024).describe(
      "Largest message accepted, in bytes (announced in EHLO SIZE).",
    ),
    max_recipients: z.number().int().min(1).max(10000).default(100).describe("Recipients per message."),
    max_connections_per_ip: z.number().int().min(1).default(20).describe(
      "Simultaneous SMTP connections from one client IP (all SMTP listeners together).",
    ),
  }).strict().default({}).describe("SMTP listeners and limits."),
  imap: z.object({
    imap: listener("IMAP (production port 143): STARTTLS, LOGIN only after TLS.", 2143),
    imaps: listener("IMAP over implicit TLS (production port 993).", 2993),
    max_connections_per_ip: z.number().int().min(1).default(50).describe(
      "Simultaneous IMAP connections from one client IP (a household behind one NAT has several devices).",
    ),
    max_connections_per_account: z.number().int().min(1).default(100).describe(
      "Logged-in IMAP sessions of one account (each device opens a few; a shared mailbox has several users).",
    ),
  }).strict().default({}).describe("IMAP listeners and limits."),
  admin: z.object({
    http: listener("Web admin panel and JSON API over HTTPS (production port 443).", 8443),
  }).strict().default({}).describe("The web admin panel."),
  accounts: z.object({
    default_quota_mb: z.number().int().min(0).default(0).describe("Quota for new accounts in MiB. 0: unlimited."),
    min_password_length: z.number().int().min(8).max(128).default(10).describe(
      "Shortest password accepted for a new or changed password.",
    ),
  }).strict().default({}).describe("Defaults for accounts."),
  dns: z.object({
    nameserver: z.string().regex(/^$|^\[?[0-9a-fA-F.:]+\]?$/, "must be IP or IP:PORT").default("").describe(
      "DNS server for MX, SPF, DKIM, DMARC and MTA-STS lookups, as IP or IP:PORT ([v6]:port for IPv6). " +
        "Empty: the system resolver. Tests and air-gapped sites point it at their own server.",
    ),
    timeout: duration("5s").describe("How long one DNS query may take before it counts as a temporary failure."),
    cache: duration("60s").describe("How long answers are reused. 0s: never cached."),
  }).strict().default({}).describe("DNS resolution."),
  outbound: z.object({
    enabled: z.boolean().default(true).describe(
      "Run the delivery worker in this instance. Several instances may run it against one database.",
    ),
    port: z.number().int().min(1).max(65535).default(25).describe(
      "Port of remote mail servers. Always 25 on the internet; tests point it elsewhere.",
    ),
    source_address: z.string().default("").describe(
      "Local IP address outbound connections come from (the one your SPF record and PTR name). Empty: the system's choice.",
    ),
    concurrency: z.number().int().min(1).max(1000).default(20).describe("Simultaneous outbound SMTP connections."),
    connections_per_domain: z.number().int().min(1).max(100).default(10).describe(
      "Simultaneous connections to one destination domain.",
    ),
    poll_interval: duration("2s").describe(
      "How often the queue is checked for due mail (mail submitted to this instance starts at once).",
    ),
    retry_min: duration("5m").describe("Wait after the first temporary failure; doubled after each attempt."),
    retry_max: duration("4000s").describe("Longest wait between two attempts."),
    max_age: duration("5d").describe("Give up (and send a failure notice to the sender) after this long in the queue."),
    delay_warning: duration("4h").describe("Tell the sender once when a message is still undelivered after this long."),
    timeout: duration("5m").describe("How long the remote server may take for one SMTP reply."),
    srs: z.boolean().default(true).describe(
      "Rewrite the sender of mail that aliases forward to other servers (SRS), so their SPF checks pass; " +
        "bounces to those addresses go back to the original sender.",
    ),
    mta_sts: z.boolean().default(true).describe(
      "Honour MTA-STS policies (RFC 8461): for a domain in enforce mode, deliver only over verified TLS to listed MX.",
    ),
    ca_file: z.string().default("").describe(
      "Extra PEM CA certificates trusted when verifying remote servers (MTA-STS, smarthost), e.g. a private CA.",
    ),
    smarthost: z.object({
      host: z.string().default("").describe(
        "Relay all outbound mail through this host. Empty: deliver directly to MX.",
      ),
      port: z.number().int().min(1).max(65535).default(587).describe("The relay's port."),
      tls: z.enum(["starttls", "implicit", "none"]).default("starttls").describe(
        "starttls (port 587), implicit (port 465) or none (a relay on a trusted network only).",
      ),
      username: z.string().default("").describe("AUTH user name at the relay. Empty: no AUTH."),
      password: z.string().default("").describe("AUTH password at the relay (prefer the environment variable)."),
    }).strict().default({}).describe(
      "A relay for operators whose provider blocks port 25 (e.g. AWS until port 25 is unblocked).",
    ),
  }).strict().default({}).describe("Delivery of mail to other servers: the queue worker."),
  mail_auth: z.object({
    enabled: z.boolean().default(true).describe(
      "Check SPF, DKIM, DMARC and ARC on mail from the internet and add an Authentication-Results header.",
    ),
    dmarc_reject: z.enum(["reject", "quarantine"]).default("reject").describe(
      "What to do with mail that fails DMARC when the sender's domain publishes p=reject: refuse it at DATA " +
        "(550 5.7.1), or deliver it to Junk.",
    ),
  }).strict().default({}).describe("Authentication of incoming mail."),
  dkim: z.object({
    rotation_grace: duration("7d").describe(
      "During a key rotation: how long new keys are published before they sign, and old keys stay published after.",
    ),
  }).strict().default({}).describe("DKIM signing of outgoing mail."),
  dev: z.object({
    allow_plaintext_auth_on_loopback: z.boolean().default(false).describe(
      "Development only: allow AUTH/LOGIN without TLS from 127.0.0.1/::1. Never enable in production.",
    ),
  }).strict().default({}).describe("Switches for development. Leave them off in production."),
}).strict();

/** The validated configuration. */
export type Config = z.infer<typeof ConfigSchema>;

/** A configuration problem; the message names the key. */
export class ConfigError extends Error {
  override name = "ConfigError";
}

/** Options for {@linkcode loadConfig}. */
export interface LoadConfigOptions {
  /** TOML file to read; when empty, `SILVERMAIL_CONFIG` from `env`, else no file. */
  file?: string | undefined;
  /** Environment to read overrides from. */
  env?: Record<string, string | undefined>;
}

/** Reads the TOML file (if any), applies environment overrides and validates. Throws {@linkcode ConfigError}. */
export async function loadConfig(options: LoadConfigOptions = {}): Promise<Config> {
  const env = options.env ?? {};
  const file = options.file || env.SILVERMAIL_CONFIG || "";
  let raw: Record<string, unknown> = {};
  if (file) {
    let text: string;
    try {
      text = await Deno.readTextFile(file);
    } catch (e) {
      throw new ConfigError(`Cannot read config file "${file}": ${(e as Error).message}`);
    }
    try {
      raw = parseToml(text) as Record<string, unknown>;
    } catch (e) {
      throw new ConfigError(`Cannot parse config file "${file}": ${(e as Error).message}`);
    }
  }
  applyEnvironment(raw, env);
  return parseConfig(raw);
}

/** Validates a plain object against the schema. Throws {@linkcode ConfigError} naming the first bad key. */
export function parseConfig(raw: unknown): Config {
  const result = ConfigSchema.safeParse(raw);
  if (result.success) return result.data;
  const messages = result.error.issues.map((issue) => {
    if (issue.code === "unrecognized_keys") {
      const at = issue.path.length ? issue.path.join(".") + "." : "";
      return `unknown key ${issue.keys.map((k) => `"${at}${k}"`).join(", ")}`;
    }
    return `"${issue.path.join(".")}": ${issue.message}`;
  });
  throw new ConfigError(`Invalid configuration: ${messages.join("; ")}`);
}

interface Leaf {
  path: string[];
  type: z.ZodTypeAny;
  description: string;
  defaultValue: unknown;
}

function unwrap(t: z.ZodTypeAny): { inner: z.ZodTypeAny; defaultValue: unknown } {
  let inner = t;
  let defaultValue: unknown = undefined;
  for (;;) {
    if (inner instanceof z.ZodDefault) {
      if (defaultValue === undefined) defaultValue = inner._def.defaultValue();
      inner = inner._def.innerType;
    } else if (inner instanceof z.ZodOptional || inner instanceof z.ZodNullable) {
      inner = inner._def.innerType;
    } else if (inner instanceof z.ZodEffects) {
      inner = inner._def.schema;
    } else return { inner, defaultValue };
  }
}

function leaves(schema: z.ZodTypeAny, path: string[] = []): Leaf[] {
  const { inner, defaultValue } = unwrap(schema);
  if (inner instanceof z.ZodObject) {
    // Scalars first, then sub-tables, so the generated TOML lists a table's own keys before its children.
    const entries = Object.entries(inner.shape as Record<string, z.ZodTypeAny>);
    const isTable = (t: z.ZodTypeAny) => unwrap(t).inner instanceof z.ZodObject;
    return [...entries.filter(([, v]) => !isTable(v)), ...entries.filter(([, v]) => isTable(v))]
      .flatMap(([k, v]) => leaves(v, [...path, k]));
  }
  return [{ path, type: inner, description: schema.description ?? "", defaultValue }];
}

/** The environment variable name for a key path. */
export function envName(path: string[]): string {
  return "SILVERMAIL_" + path.join("_").toUpperCase();
}

function coerce(leaf: Leaf, value: string): unknown {
  const t = leaf.type;
  if (t instanceof z.ZodNumber) {
    const n = Number(value);
    if (value.trim() === "" || !Number.isFinite(n)) {
      throw new ConfigError(`${envName(leaf.path)} ("${leaf.path.join(".")}"): "${value}" is not a number`);
    }
    return n;
  }
  if (t instanceof z.ZodBoolean) {
    if (/^(true|1|yes|on)$/i.test(value)) return true;
    if (/^(false|0|no|off)$/i.test(value)) return false;
    throw new ConfigError(`${envName(leaf.path)} ("${leaf.path.join(".")}"): "${value}" is not true or false`);
  }
  if (t instanceof z.ZodArray) return value.split(",").map((s) => s.trim()).filter(Boolean);
  return value;
}

function applyEnvironment(raw: Record<string, unknown>, env: Record<string, string | undefined>): void {
  for (const leaf of leaves(ConfigSchema)) {
    const value = env[envName(leaf.path)];
    if (value === undefined) continue;
    let node = raw;
    for (const key of leaf.path.slice(0, -1)) {
      const next = node[key];
      if (typeof next !== "object" || next === null || Array.isArray(next)) node[key] = {};
      node = node[key] as Record<string, unknown>;
    }
    node[leaf.path[leaf.path.length - 1]!] = coerce(leaf, value);
  }
}

function tomlValue(v: unknown): string {
  if (typeof v === "string") return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map(tomlValue).join(", ")}]`;
  return String(v);
}

function describeType(t: z.ZodTypeAny): string {
  if (t instanceof z.ZodEnum) return ` One of: ${(t.options as string[]).join(", ")}.`;
  return "";
}

/** The annotated sample configuration, generated from the schema (`silvermail config doc`). */
export function configDoc(): string {
  const out: string[] = [
    "# Silvermail configuration (TOML). Every key is optional; the values shown are the defaults.",
    "# Every key can also be set by an environment variable, named after its path:",
    "#   SILVERMAIL_<PATH_IN_UPPER_CASE_JOINED_BY_UNDERSCORES>, e.g. SILVERMAIL_DATABASE_URL, SILVERMAIL_SMTP_MX_PORT.",
    "# The file itself is named by --config FILE or SILVERMAIL_CONFIG.",
    "",
  ];
  let section = "";
  const sectionDescriptions = new Map<string, string>();
  const collect = (schema: z.ZodTypeAny, path: string[]) => {
    const { inner } = unwrap(schema);
    if (inner instanceof z.ZodObject) {
      if (path.length) sectionDescriptions.set(path.join("."), schema.description ?? "");
      for (const [k, v] of Object.entries(inner.shape as Record<string, z.ZodTypeAny>)) collect(v, [...path, k]);
    }
  };
  collect(ConfigSchema, []);
  for (const leaf of leaves(ConfigSchema)) {
    const parent = leaf.path.slice(0, -1).join(".");
    if (parent !== section) {
      section = parent;
      out.push("");
      const d = sectionDescriptions.get(parent);
      if (d) out.push(`# ${d}`);
      out.push(`[${parent}]`);
    }
    out.push(`# ${leaf.description}${describeType(leaf.type)} (env: ${envName(leaf.path)})`);
    out.push(`${leaf.path[leaf.path.length - 1]} = ${tomlValue(leaf.defaultValue)}`);
  }
  return out.join("\n") + "\n";
}
