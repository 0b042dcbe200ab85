/**
 * @module
 * The one logger: JSON lines on stderr with `level`, `time`, `msg`, `component` and, for protocol sessions,
 * `cid` (connection id). Never pass passwords, hashes or message bodies in fields.
 */

/** Severity, lowest first. `trace` carries protocol transcripts (AUTH redacted). */
export type LogLevel = "trace" | "debug" | "info" | "warn" | "error";

const ORDER: Record<LogLevel, number> = { trace: 0, debug: 1, info: 2, warn: 3, error: 4 };

/** Field names whose values are never written, whatever a caller passes. */
const SECRET_KEYS = new Set(["password", "pass", "secret", "hash", "password_hash", "passwordHash", "token"]);

let threshold: number = ORDER.info;
let sink: (line: string) => void = (line) => {
  try {
    Deno.stderr.writeSync(encoder.encode(line + "\n"));
  } catch {
    // stderr closed: nothing sensible to do.
  }
};
const encoder = new TextEncoder();

/** Sets the lowest level written. */
export function setLogLevel(level: LogLevel): void {
  threshold = ORDER[level];
}

/** Replaces where lines go (tests capture them). Returns the previous sink. */
export function setLogSink(fn: (line: string) => void): (line: string) => void {
  const previous = sink;
  sink = fn;
  return previous;
}

/** A logger bound to a component and optional fixed fields such as `cid`. */
export class Logger {
  readonly #fields: Record<string, unknown>;

  constructor(component: string, fields: Record<string, unknown> = {}) {
    this.#fields = { component, ...fields };
  }

  /** A logger with more fixed fields (e.g. `{ cid }` for a connection). */
  with(fields: Record<string, unknown>): Logger {
    const { component, ...rest } = this.#fields;
    return new Logger(String(component), { ...rest, ...fields });
  }

  /** True when `level` would be written: guards building expensive fields. */
  enabled(level: LogLevel): boolean {
    return ORDER[level] >= threshold;
  }

  trace(msg: string, fields?: Record<string, unknown>): void {
    this.#write("trace", msg, fields);
  }
  debug(msg: string, fields?: Record<string, unknown>): void {
    this.#write("debug", msg, fields);
  }
  info(msg: string, fields?: Record<string, unknown>): void {
    this.#write("info", msg, fields);
  }
  warn(msg: string, fields?: Record<string, unknown>): void {
    this.#write("warn", msg, fields);
  }
  error(msg: string, fields?: Record<string, unknown>): void {
    this.#write("error", msg, fields);
  }

  #write(level: LogLevel, msg: string, fields?: Record<string, unknown>): void {
    if (ORDER[level] < threshold) return;
    const record: Record<string, unknown> = { level, time: new Date().toISOString(), msg, ...this.#fields };
    if (fields) {
      for (const [k, v] of Object.entries(fields)) {
        record[k] = SECRET_KEYS.has(k) ? "[redacted]" : v instanceof Error ? errorFields(v) : v;
      }
    }
    sink(JSON.stringify(record));
  }
}

function errorFields(e: Error): Record<string, unknown> {
  return { name: e.name, message: e.message, stack: e.stack };
}

/** A logger for a component, e.g. `logger("store")`. */
export function logger(component: string, fields?: Record<string, unknown>): Logger {
  return new Logger(component, fields);
}
