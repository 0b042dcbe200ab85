/**
 * @module
 * The administration commands (`user …`, `domain …`, `alias …`): one table, each entry with its usage, help
 * and handler. The same handlers run in the CLI process (store opened directly) and inside a running server
 * (sent over the control socket, see control.ts), so both paths behave the same.
 */
import type { Config } from "../config.ts";
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
      io.out(`Added domain ${d.name}`);
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
