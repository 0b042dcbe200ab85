/**
 * @module
 * The one DNS resolver everything uses: outbound MX lookups, SPF/DKIM/DMARC/ARC checks (through
 * {@linkcode Resolver.forMailauth}), MTA-STS discovery and `dns check`. It asks the configured server
 * (`dns.nameserver`, else the system's), bounds every query by a timeout, and caches answers briefly.
 *
 * Two kinds of failure are kept apart because mail treats them differently: a name that does not exist (or has
 * no records of the type) is an answer — {@linkcode Resolver.lookup} returns `null`; a timeout or server failure
 * throws {@linkcode DnsTemporaryError} and the caller retries later.
 */

/** A lookup that failed without an answer (timeout, SERVFAIL, unreachable server): try again later. */
export class DnsTemporaryError extends Error {
  override name = "DnsTemporaryError";
  /** node:dns style code, for mailauth: ETIMEOUT or ESERVFAIL. */
  readonly code: string;
  constructor(message: string, code: "ETIMEOUT" | "ESERVFAIL") {
    super(message);
    this.code = code;
  }
}

/** An MX record. */
export interface MxRecord {
  exchange: string;
  priority: number;
}

/** The record types used here, and the shape of their answers. */
export interface RecordTypes {
  A: string[];
  AAAA: string[];
  MX: MxRecord[];
  /** Each record's strings, unjoined (as node:dns returns them). */
  TXT: string[][];
  CNAME: string[];
  PTR: string[];
  SRV: { priority: number; weight: number; port: number; target: string }[];
  NS: string[];
}

/** Options for a {@linkcode Resolver}. */
export interface ResolverOptions {
  /** `IP`, `IP:PORT` or `[IPv6]:PORT`; empty: the system resolver. */
  nameserver?: string;
  timeoutMs?: number;
  /** How long answers (including "does not exist") are reused; 0 disables the cache. */
  cacheMs?: number;
}

/** Parses `dns.nameserver`. */
export function parseNameserver(value: string): { ipAddr: string; port: number } | undefined {
  if (!value) return undefined;
  const v6 = /^\[([0-9a-fA-F:.]+)\](?::(\d+))?$/.exec(value);
  if (v6) return { ipAddr: v6[1]!, port: Number(v6[2] ?? 53) };
  const v4 = /^([0-9.]+)(?::(\d+))?$/.exec(value);
  if (v4) return { ipAddr: v4[1]!, port: Number(v4[2] ?? 53) };
  if (/^[0-9a-fA-F:]+$/.test(value)) return { ipAddr: value, port: 53 };
  throw new Error(`dns.nameserver: "${value}" is not IP, IP:PORT or [IPv6]:PORT`);
}

const MAX_CACHE_ENTRIES = 10_000;

/** A DNS resolver with a configurable server, a timeout and a small cache. */
export class Resolver {
  readonly #server: { ipAddr: string; port: number } | undefined;
  readonly #timeoutMs: number;
  readonly #cacheMs: number;
  readonly #cache = new Map<string, { expires: number; value: unknown }>();

  constructor(options: ResolverOptions = {}) {
    this.#server = parseNameserver(options.nameserver ?? "");
    this.#timeoutMs = options.timeoutMs ?? 5000;
    this.#cacheMs = options.cacheMs ?? 60_000;
  }

  /**
   * Records of one type for a name; `null` when the name does not exist or has none of that type.
   * Throws {@linkcode DnsTemporaryError} when no answer came.
   */
  async lookup<T extends keyof RecordTypes>(name: string, type: T): Promise<RecordTypes[T] | null> {
    const key = `${type} ${name.toLowerCase()}`;
    const hit = this.#cache.get(key);
    if (hit && hit.expires > Date.now()) return hit.value as RecordTypes[T] | null;
    const value = await this.#query(name, type);
    if (this.#cacheMs > 0) {
      if (this.#cache.size >= MAX_CACHE_ENTRIES) this.#cache.clear();
      this.#cache.set(key, { expires: Date.now() + this.#cacheMs, value });
    }
    return value;
  }

  async #query<T extends keyof RecordTypes>(name: string, type: T): Promise<RecordTypes[T] | null> {
    const signal = AbortSignal.timeout(this.#timeoutMs);
    const options = this.#server ? { nameServer: this.#server, signal } : { signal };
    let answer: unknown[];
    try {
      // deno-lint-ignore no-explicit-any
      answer = await Deno.resolveDns(name.replace(/\.$/, ""), type as any, options) as unknown[];
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return null;
      if (signal.aborted) {
        throw new DnsTemporaryError(`DNS ${type} ${name}: no answer within ${this.#timeoutMs} ms`, "ETIMEOUT");
      }
      throw new DnsTemporaryError(`DNS ${type} ${name}: ${(e as Error).message}`, "ESERVFAIL");
    }
    if (!answer.length) return null;
    if (type === "MX") {
      return (answer as { preference: number; exchange: string }[]).map((r) => ({
        exchange: r.exchange.replace(/\.$/, ""),
        priority: r.preference,
      })) as RecordTypes[T];
    }
    if (type === "CNAME" || type === "PTR" || type === "NS") {
      return (answer as string[]).map((s) => s.replace(/\.$/, "")) as RecordTypes[T];
    }
    if (type === "SRV") {
      return (answer as { priority: number; weight: number; port: number; target: string }[]).map((r) => ({
        ...r,
        target: r.target.replace(/\.$/, ""),
      })) as RecordTypes[T];
    }
    return answer as RecordTypes[T];
  }

  /** TXT records with each record's strings joined (SPF, DMARC, DKIM, MTA-STS all read them that way). */
  async txt(name: string): Promise<string[] | null> {
    const records = await this.lookup(name, "TXT");
    return records ? records.map((parts) => parts.join("")) : null;
  }

  /**
   * A `resolver(name, rrtype)` in the shape mailauth expects (node:dns `resolve`): it throws errors with
   * `code` ENOTFOUND for names without records, ETIMEOUT/ESERVFAIL otherwise.
   */
  forMailauth(): (name: string, rrtype: string) => Promise<unknown[]> {
    return async (name, rrtype) => {
      const type = rrtype.toUpperCase() as keyof RecordTypes;
      const value = await this.lookup(name, type);
      if (value === null) {
        throw Object.assign(new Error(`${rrtype} ${name}: not found`), { code: "ENOTFOUND" });
      }
      return value;
    };
  }
}
