/**
 * @module
 * Command-line argument splitting: positional words and `--flag`, `--key value`, `--key=value` options.
 */

/** Parsed arguments. */
export interface ParsedArgs {
  positional: string[];
  options: Map<string, string | true>;
}

/** A usage error: printed with the command's usage, exit code 2. */
export class UsageError extends Error {
  override name = "UsageError";
}

/**
 * Splits `argv`. `valued` lists options that take a value (`--config FILE`); every other `--x` is a flag.
 * `--` ends options.
 */
export function parseArgs(argv: readonly string[], valued: ReadonlySet<string>): ParsedArgs {
  const positional: string[] = [];
  const options = new Map<string, string | true>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === "--") {
      positional.push(...argv.slice(i + 1));
      break;
    }
    if (a.startsWith("--") && a.length > 2) {
      const eq = a.indexOf("=");
      const name = eq > 0 ? a.slice(2, eq) : a.slice(2);
      if (eq > 0) options.set(name, a.slice(eq + 1));
      else if (valued.has(name)) {
        const v = argv[++i];
        if (v === undefined) throw new UsageError(`Option --${name} needs a value`);
        options.set(name, v);
      } else options.set(name, true);
    } else if (a === "-h") options.set("help", true);
    else positional.push(a);
  }
  return { positional, options };
}
