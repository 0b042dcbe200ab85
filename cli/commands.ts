/**
 * @module
 * The administration commands (`user …`, `domain …`, `alias …`): one table, each entry with its usage, help
 * and handler. The same handlers run in the CLI process (store opened directly) and inside a running server
 * (sent over the control socket, see control.ts), so both paths behave the same.
 */
import { type Config, durationMs } from "../config.ts";
import { checkDomain, formatCheck } from "../dns/check.ts";
import { type DomainDnsInput, domainRecords, formatZone, mtaStsPolicy } from "../dns/records.ts";
import { Resolver } from "../dns/resolver.ts";
import { ConflictError, InvalidInputError, LockedError, NotFoundError, type Store } from "../store/mod.ts";
import { parseArgs, UsageError } from "./args.ts";

/** Where a command writes. */
export interface CommandIO {
  out(line: string): void;
  err(line: string): void;
}

/** A command's arguments after parsing. */
export interface CommandInput {
  args: string[];
  options: Record<string, string | true>;
  /** The password read by the CLI for commands with `password: true`. */
  password?: string;
}

/** What a handler may use. */
export interface CommandContext {
  store: Store;
  config: Config;
}

/** One administration command. */
export interface CommandSpec {
  /** The words that name it, e.g. `["user", "add"]`. */
  words: string[];
  /** Arguments after the words, for the usage line. */
  usage: string;
  /** One line for the command list. */
  summary: string;
  /** More text for `--help`. */
  help?: string;
  /** How many positional arguments it takes. */
  args: [min: number, max: number];
  /** Options that take a value. */
  valued?: string[];
  /** Flags and options it accepts (besides --help and --config). */
  accepts?: string[];
  /** The CLI reads a new password (prompt, or --password-stdin) before running it. */
  password?: boolean;
  run(ctx: CommandContext, input: CommandInput, io: CommandIO): Promise<void>;
}

function table(rows: string[][]): string[] {
  if (!rows.length) return [];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join("  ").trimEnd());
}

function mib(bytes: number): string {
  return bytes === 0 ? "0" : (bytes / 1048576).toFixed(1);
}

function positiveInt(value: string | true | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value === true || !Number.isInteger(n) || n < 0) throw new UsageError(`--${name} needs a whole number`);
  return n;
}

function ids(args: readonly string[]): number[] {
  return args.map((a) => {
    if (!/^\d+$/.test(a)) throw new UsageError(`"${a}" is not a queue entry id`);
    return Number(a);
  });
}

/**
 * What the DNS records of a domain are made of: this server's name and public addresses (looked up through the
 * configured resolver), the domain's published DKIM keys, the reporting address, the MTA-STS policy id.
 */
async function dnsInput(
  { store, config }: CommandContext,
  domainArg: string,
): Promise<{ input: DomainDnsInput; resolver: Resolver }> {
  const domain = domainArg.toLowerCase();
  if (await store.domains.idOf(domain) === undefined) throw new NotFoundError(`No such domain "${domain}"`);
  const resolver = new Resolver({
    nameserver: config.dns.nameserver,
    timeoutMs: durationMs(config.dns.timeout),
    cacheMs: 0,
  });
  const addresses: string[] = [];
  for (const type of ["A", "AAAA"] as const) {
    addresses.push(...(await resolver.lookup(config.hostname, type).catch(() => null) ?? []));
  }
  const dkim = (await store.dkim.published(domain)).map((k) => ({
    selector: k.selector,
    algorithm: k.algorithm,
    publicKey: k.publicKey,
  }));
  const policy = mtaStsPolicy({ hostname: config.hostname });
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(policy)));
  const mtaStsId = Array.from(digest.subarray(0, 8), (b) => b.toString(16).padStart(2, "0")).join("");
  return {
    input: {
      domain,
      hostname: config.hostname,
      addresses,
      dkim,
      reportAddress: `postmaster@${domain}`,
      mtaStsId,
    },
    resolver,
  };
}

/** Every administration command. */
export const COMMANDS: readonly CommandSpec[] = [
  {
    words: ["user", "add"],
    usage: "ADDRESS [--password-stdin] [--quota-mb N]",
    summary: "Create a user with INBOX, Sent, Drafts, Trash, Junk and Archive",
    help: "The domain must exist (domain add). Without --password-stdin the password is asked twice on the terminal.",
    args: [1, 1],
    valued: ["quota-mb"],
    accepts: ["password-stdin", "quota-mb"],
    password: true,
    async run({ store }, { args, options, password }, io) {
      const quotaMb = positiveInt(options["quota-mb"], "quota-mb");
      const account = await store.accounts.create(
        args[0]!,
        password ?? "",
        quotaMb === undefined ? {} : { quotaBytes: quotaMb * 1048576 },
      );
      io.out(`Created user ${account.address}`);
    },
  },
  {
    words: ["user", "passwd"],
    usage: "ADDRESS [--password-stdin]",
    summary: "Set a user's password",
    args: [1, 1],
    accepts: ["password-stdin"],
    password: true,
    async run({ store }, { args, password }, io) {
      await store.accounts.setPassword(args[0]!, password ?? "");
      io.out(`Password changed for ${args[0]!.toLowerCase()}`);
    },
  },
  {
    words: ["user", "del"],
    usage: "ADDRESS",
    summary: "Delete a user with all their mailboxes and mail (cannot be undone)",
    args: [1, 1],
    async run({ store }, { args }, io) {
      await store.accounts.remove(args[0]!);
      io.out(`Deleted user ${args[0]!.toLowerCase()} and all their mail`);
    },
  },
  {
    words: ["user", "list"],
    usage: "[DOMAIN]",
    summary: "List users (of one domain)",
    args: [0, 1],
    async run({ store }, { args }, io) {
      const accounts = await store.accounts.list(args[0] ? { domain: args[0].toLowerCase() } : {});
      if (!accounts.length) return io.out("No users.");
      const rows = [["ADDRESS", "USED MiB", "QUOTA MiB", "STATUS", "CREATED"]];
      for (const a of accounts) {
        rows.push([
          a.address,
          mib(a.usedBytes),
          a.quotaBytes ? mib(a.quotaBytes) : "unlimited",
          a.disabled ? "disabled" : "active",
          a.createdAt.toISOString().slice(0, 10),
        ]);
      }
      table(rows).forEach((l) => io.out(l));
    },
  },
  {
    words: ["domain", "add"],
    usage: "DOMAIN",
    summary: "Add a domain this server receives mail for",
    args: [1, 1],
    async run({ store }, { args }, io) {
      const d = await store.domains.add(args[0]!);
      const keys = await store.dkim.add(d.name);
      io.out(`Added domain ${d.name} with DKIM keys ${keys.map((k) => k.selector).join(" and ")}`);
      io.out(`Publish its DNS records before sending mail: silvermail dns ${d.name}`);
    },
  },
  {
    words: ["domain", "del"],
    usage: "DOMAIN",
    summary: "Delete a domain that has no users left (its aliases go with it)",
    args: [1, 1],
    async run({ store }, { args }, io) {
      await store.domains.remove(args[0]!);
      io.out(`Deleted domain ${args[0]!.toLowerCase()}`);
    },
  },
  {
    words: ["domain", "list"],
    usage: "",
    summary: "List domains",
    args: [0, 0],
    async run({ store }, _input, io) {
      const domains = await store.domains.list();
      if (!domains.length) return io.out("No domains.");
      table([["DOMAIN", "USERS", "ALIASES"], ...domains.map((d) => [d.name, String(d.accounts), String(d.aliases)])])
        .forEach((l) => io.out(l));
    },
  },
  {
    words: ["domain", "dkim", "list"],
    usage: "DOMAIN",
    summary: "List a domain's DKIM keys and what each does now",
    args: [1, 1],
    async run({ store }, { args }, io) {
      const keys = await store.dkim.list(args[0]!);
      if (!keys.length) return io.out("No DKIM keys (they are created when the server starts).");
      const now = Date.now();
      const state = (k: (typeof keys)[number]) =>
        k.retireAt && k.retireAt.getTime() <= now
          ? "retired"
          : k.signFrom.getTime() > now
          ? `published, signs from ${k.signFrom.toISOString()}`
          : k.signUntil && k.signUntil.getTime() <= now
          ? `published until ${k.retireAt?.toISOString()}, no longer signs`
          : k.signUntil
          ? `signing until ${k.signUntil.toISOString()}`
          : "signing";
      table([
        ["SELECTOR", "ALGORITHM", "CREATED", "STATE"],
        ...keys.map((k) => [
          k.selector,
          k.algorithm,
          k.createdAt.toISOString().slice(0, 10),
          state(k),
        ]),
      ]).forEach((l) => io.out(l));
    },
  },
  {
    words: ["domain", "dkim", "rotate"],
    usage: "DOMAIN [--grace DURATION]",
    summary: "Start a DKIM key rotation: new keys are published now and sign after the grace period",
    help: "Publish the new selectors (silvermail dns DOMAIN) during the grace period (default dkim.rotation_grace). " +
      "The old keys keep signing until then and stay published for one more grace period, so mail in flight " +
      "still verifies; then remove their records.",
    args: [1, 1],
    valued: ["grace"],
    accepts: ["grace"],
    async run({ store, config }, { args, options }, io) {
      const grace = options.grace;
      if (grace === true) throw new UsageError("--grace needs a duration such as 2d");
      let graceMs: number;
      try {
        graceMs = durationMs(grace ?? config.dkim.rotation_grace);
      } catch (e) {
        throw new UsageError((e as Error).message);
      }
      const { added, retiring } = await store.dkim.rotate(args[0]!, graceMs);
      const at = new Date(Date.now() + graceMs).toISOString();
      io.out(`New keys ${added.map((k) => k.selector).join(", ")}: publish them now; they sign from ${at}.`);
      if (retiring.length) {
        io.out(
          `Old keys ${retiring.map((k) => k.selector).join(", ")} sign until ${at} and stay published until ` +
            `${retiring[0]!.retireAt?.toISOString()}.`,
        );
      }
      io.out(`The records to publish: silvermail dns ${args[0]!.toLowerCase()}`);
    },
  },
  {
    words: ["queue", "list"],
    usage: "",
    summary: "List the mail waiting for delivery to other servers",
    args: [0, 0],
    async run({ store }, _input, io) {
      const queued = await store.queue.list();
      if (!queued.length) return io.out("The queue is empty.");
      const rows = [["ID", "QUEUED", "ATTEMPTS", "NEXT ATTEMPT", "FROM", "TO", "LAST ERROR"]];
      for (const q of queued) {
        rows.push([
          String(q.id),
          q.createdAt.toISOString().slice(0, 19),
          String(q.attempts),
          q.sending ? "sending now" : q.nextAttemptAt.toISOString().slice(0, 19),
          q.mailFrom || "<>",
          q.recipient,
          (q.lastError ?? "").slice(0, 200),
        ]);
      }
      table(rows).forEach((l) => io.out(l));
    },
  },
  {
    words: ["queue", "retry"],
    usage: "[ID ...]",
    summary: "Try to deliver queued mail now (the given entries, else all)",
    args: [0, 1000],
    async run({ store }, { args }, io) {
      const n = await store.queue.retry(args.length ? ids(args) : undefined);
      io.out(`${n} queue entr${n === 1 ? "y" : "ies"} will be tried now`);
    },
  },
  {
    words: ["queue", "delete"],
    usage: "ID ...",
    summary: "Remove queued entries without delivering them or telling the sender",
    args: [1, 1000],
    async run({ store }, { args }, io) {
      const n = await store.queue.delete(ids(args));
      io.out(`Deleted ${n} queue entr${n === 1 ? "y" : "ies"}`);
    },
  },
  {
    words: ["queue", "log"],
    usage: "[RECIPIENT] [--limit N]",
    summary: "Show the newest delivery attempts (where, over what TLS, the remote reply)",
    args: [0, 1],
    valued: ["limit"],
    accepts: ["limit"],
    async run({ store }, { args, options }, io) {
      const limit = positiveInt(options.limit, "limit") ?? 50;
      const entries = await store.queue.log({ ...(args[0] ? { recipient: args[0].toLowerCase() } : {}), limit });
      if (!entries.length) return io.out("No delivery attempts logged.");
      const rows = [["TIME", "RESULT", "TO", "HOST", "TLS", "REPLY"]];
      for (const e of entries) {
        rows.push([
          e.at.toISOString().slice(0, 19),
          e.result,
          e.recipient,
          e.mxHost ? `${e.mxHost}${e.mxIp && e.mxIp !== e.mxHost ? ` [${e.mxIp}]` : ""}` : "-",
          e.tlsVersion ? `${e.tlsVersion} ${e.tlsCipher ?? ""}`.trim() : "none",
          (e.reply ?? "").slice(0, 120),
        ]);
      }
      table(rows).forEach((l) => io.out(l));
    },
  },
  {
    words: ["dns", "check"],
    usage: "DOMAIN [--no-policy-fetch]",
    summary: "Look up a domain's DNS records and say, for each, OK or what is wrong and how to fix it",
    help: "Uses the configured resolver (dns.nameserver). Exit status 1 when a record is missing or wrong.",
    args: [1, 1],
    accepts: ["no-policy-fetch"],
    async run(ctx, { args, options }, io) {
      const { input, resolver } = await dnsInput(ctx, args[0]!);
      const results = await checkDomain(input, resolver, { fetchMtaStsPolicy: !options["no-policy-fetch"] });
      formatCheck(results).split("\n").filter(Boolean).forEach((l) => io.out(l));
      const bad = results.filter((r) => r.status === "missing" || r.status === "wrong" || r.status === "error");
      if (bad.length) throw new InvalidInputError(`${bad.length} record(s) need attention`);
    },
  },
  {
    words: ["dns"],
    usage: "DOMAIN",
    summary: "Print every DNS record a domain needs (MX, SPF, DKIM, DMARC, MTA-STS, TLS-RPT, SRV, PTR)",
    args: [1, 1],
    async run(ctx, { args }, io) {
      const { input } = await dnsInput(ctx, args[0]!);
      formatZone(domainRecords(input)).split("\n").forEach((l) => io.out(l));
      io.out("");
      io.out(`; The MTA-STS policy, served as https://mta-sts.${input.domain}/.well-known/mta-sts.txt :`);
      mtaStsPolicy(input).split(/\r?\n/).filter(Boolean).forEach((l) => io.out(`;   ${l}`));
    },
  },
  {
    words: ["alias", "add"],
    usage: "ALIAS TARGET",
    summary: "Deliver mail for ALIAS (an address, or @domain for a catch-all) to TARGET",
    args: [2, 2],
    async run({ store }, { args }, io) {
      const a = await store.aliases.add(args[0]!, args[1]!);
      io.out(`Added alias ${a.address} -> ${a.target}`);
    },
  },
  {
    words: ["alias", "del"],
    usage: "ALIAS [TARGET]",
    summary: "Delete an alias (only the given target, else all its targets)",
    args: [1, 2],
    async run({ store }, { args }, io) {
      const n = await store.aliases.remove(args[0]!, args[1]);
      io.out(`Deleted ${n} alias entr${n === 1 ? "y" : "ies"} for ${args[0]!.toLowerCase()}`);
    },
  },
  {
    words: ["alias", "list"],
    usage: "[DOMAIN]",
    summary: "List aliases (of one domain)",
    args: [0, 1],
    async run({ store }, { args }, io) {
      const aliases = await store.aliases.list(args[0] ? { domain: args[0].toLowerCase() } : {});
      if (!aliases.length) return io.out("No aliases.");
      table([["ALIAS", "TARGET"], ...aliases.map((a) => [a.address, a.target])]).forEach((l) => io.out(l));
    },
  },
];

/** The command named by the leading words of `positional`, and the remaining arguments. */
export function findCommand(positional: readonly string[]): { spec: CommandSpec; rest: string[] } | undefined {
  for (const spec of COMMANDS) {
    if (spec.words.every((w, i) => positional[i] === w)) {
      return { spec, rest: positional.slice(spec.words.length) };
    }
  }
  return undefined;
}

/** The usage line of a command. */
export function usageOf(spec: CommandSpec): string {
  return `silvermail ${spec.words.join(" ")}${spec.usage ? " " + spec.usage : ""}`;
}

/** Checks arity and options; throws UsageError. */
export function validateInput(spec: CommandSpec, input: CommandInput): void {
  const [min, max] = spec.args;
  if (input.args.length < min || input.args.length > max) {
    throw new UsageError(
      input.args.length < min ? "Missing argument" : `Unexpected argument "${input.args[max]}"`,
    );
  }
  for (const name of Object.keys(input.options)) {
    if (name === "config" || name === "help") continue;
    if (!spec.accepts?.includes(name)) throw new UsageError(`Unknown option --${name}`);
  }
}

/**
 * Runs a command and maps the store's domain errors to messages. Returns the exit code: 0 done, 1 refused
 * (invalid input, not found, conflict, locked), 2 usage error. Other errors propagate (bugs, outages).
 */
export async function runCommand(
  spec: CommandSpec,
  ctx: CommandContext,
  input: CommandInput,
  io: CommandIO,
): Promise<number> {
  try {
    validateInput(spec, input);
    await spec.run(ctx, input, io);
    return 0;
  } catch (e) {
    if (e instanceof UsageError) {
      io.err(`error: ${e.message}`);
      io.err(`usage: ${usageOf(spec)}`);
      return 2;
    }
    if (
      e instanceof InvalidInputError || e instanceof NotFoundError || e instanceof ConflictError ||
      e instanceof LockedError
    ) {
      io.err(`error: ${e.message}`);
      return 1;
    }
    throw e;
  }
}

/** Options that take a value, across all commands (for argument splitting). */
export const VALUED_OPTIONS: ReadonlySet<string> = new Set(["config", ...COMMANDS.flatMap((c) => c.valued ?? [])]);

/** Parses `argv` and runs the administration command it names (used by both the CLI and the control socket). */
export async function dispatch(
  ctx: CommandContext,
  argv: readonly string[],
  password: string | undefined,
  io: CommandIO,
): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs(argv, VALUED_OPTIONS);
  } catch (e) {
    io.err(`error: ${(e as Error).message}`);
    return 2;
  }
  const found = findCommand(parsed.positional);
  if (!found) {
    io.err(`error: unknown command "${parsed.positional.join(" ")}" (see silvermail --help)`);
    return 2;
  }
  const input: CommandInput = { args: found.rest, options: Object.fromEntries(parsed.options) };
  if (password !== undefined) input.password = password;
  return await runCommand(found.spec, ctx, input, io);
}
