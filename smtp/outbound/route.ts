/**
 * @module
 * Where mail for a domain goes (RFC 5321 §5.1): its MX hosts in preference order (equal preferences in random
 * order), or the domain itself when it has no MX but has an address (the implicit MX); nowhere when it
 * publishes a null MX (RFC 7505) or does not exist. With an MTA-STS policy in enforce mode (RFC 8461) only MX
 * hosts the policy lists are used, and only over TLS with a valid certificate.
 */
import { getPolicy, validateMx } from "mailauth/lib/mta-sts.js";
import { DnsTemporaryError, type Resolver } from "../../dns/resolver.ts";
import { logger } from "../../log.ts";

const log = logger("outbound");

/** A host to try, with its addresses (IPv4 first: this machine's usual route to the internet). */
export interface RouteHost {
  name: string;
  /** Resolved on demand by {@linkcode hostAddresses}; preset for IP literals and smarthosts given as IPs. */
  addresses?: string[];
}

/** Where to deliver, or why not. */
export type Route =
  | { kind: "deliver"; hosts: RouteHost[]; requireVerifiedTls: boolean; mtaSts?: "enforce" | "testing" }
  | { kind: "permanent"; status: string; reason: string }
  | { kind: "temporary"; reason: string };

type MtaStsPolicy = Parameters<typeof validateMx>[1];

/** Whether a domain has an MTA-STS policy cannot be known right now (its cache is unreadable). */
export class MtaStsUnknown extends Error {
  override name = "MtaStsUnknown";
}

/** Where MTA-STS policies are kept between fetches (the store's `mta_sts_policies`). */
export interface MtaStsStore {
  get(domain: string): Promise<Record<string, unknown> | undefined>;
  put(domain: string, policy: Record<string, unknown>, expiresAt: Date): Promise<void>;
}

/**
 * MTA-STS policies by domain. `getPolicy` is given the cached policy: it re-fetches only when the TXT id
 * changes, and applies the cached one while a fresh one cannot be had (RFC 8461 §5.1) — the cache is in the
 * database, so a restart or another instance does not forget an enforce policy.
 */
export class MtaStsCache {
  readonly #resolver: Resolver;
  readonly #store: MtaStsStore;

  constructor(resolver: Resolver, store: MtaStsStore) {
    this.#resolver = resolver;
    this.#store = store;
  }

  /**
   * The domain's policy, or undefined when it has none (or mode none). Throws {@linkcode MtaStsUnknown} when the
   * cache cannot be read: then nobody knows whether the domain enforces, and the mail must wait.
   */
  async policy(domain: string): Promise<MtaStsPolicy | undefined> {
    let known: MtaStsPolicy | null;
    try {
      known = (await this.#store.get(domain) ?? null) as MtaStsPolicy | null;
    } catch (e) {
      throw new MtaStsUnknown(`cannot read the cached MTA-STS policy of ${domain}: ${(e as Error).message}`);
    }
    const result = await getPolicy(domain, known, { resolver: this.#resolver.forMailauth() as never, timeout: 30_000 });
    const p = result.policy;
    // A fresh policy, or the placeholder that stops refetching a broken one for a while, is kept; a cached one
    // applied because the fetch failed is not (its expiry stays what it was).
    if (p?.expires && (result.status === "found" || (result.status === "errored" && p.mode === "none"))) {
      const { error: _error, ...kept } = p;
      // Not keeping it only means fetching it again next time; the policy applies now either way.
      await this.#store.put(domain, kept as Record<string, unknown>, new Date(p.expires))
        .catch((e) => log.warn("cannot cache an MTA-STS policy", { domain, error: e as Error }));
    }
    return p && p.mode !== "none" ? p : undefined;
  }
}

function shuffleEqual<T extends { priority: number }>(records: T[]): T[] {
  const shuffled = records.map((r) => ({ r, k: Math.random() }));
  shuffled.sort((a, b) => a.r.priority - b.r.priority || a.k - b.k);
  return shuffled.map((s) => s.r);
}

/** The route for one recipient domain. */
export async function resolveRoute(domain: string, resolver: Resolver, mtaSts?: MtaStsCache): Promise<Route> {
  try {
    const mx = await resolver.lookup(domain, "MX");
    let hosts: RouteHost[];
    if (mx?.length) {
      // RFC 7505 §3: a single MX with the root as exchange says the domain takes no mail.
      if (mx.some((r) => r.exchange === "" || r.exchange === ".")) {
        return { kind: "permanent", status: "5.1.10", reason: `${domain} does not accept mail (null MX)` };
      }
      hosts = shuffleEqual(mx).map((r) => ({ name: r.exchange.toLowerCase() }));
    } else {
      // RFC 5321 §5.1: no MX — the domain's own address is the implicit MX.
      const [a, aaaa] = await bothFamilies(domain, resolver);
      if (!a?.length && !aaaa?.length) {
        return { kind: "permanent", status: "5.1.2", reason: `${domain} has no mail server (no MX, A or AAAA record)` };
      }
      hosts = [{ name: domain, addresses: [...a ?? [], ...aaaa ?? []] }];
    }
    if (!mtaSts) return { kind: "deliver", hosts, requireVerifiedTls: false };
    let policy: MtaStsPolicy | undefined;
    try {
      policy = await mtaSts.policy(domain);
    } catch (e) {
      if (e instanceof MtaStsUnknown) return { kind: "temporary", reason: e.message };
      // RFC 8461 §5: no usable policy (and none cached) → deliver as without one
      log.warn("MTA-STS policy lookup failed", { domain, error: e as Error });
      policy = undefined;
    }
    if (!policy) return { kind: "deliver", hosts, requireVerifiedTls: false };
    if (policy.mode === "testing") return { kind: "deliver", hosts, requireVerifiedTls: false, mtaSts: "testing" };
    const allowed = hosts.filter((h) => validateMx(h.name, policy).valid);
    if (!allowed.length) {
      return { kind: "temporary", reason: `no MX host of ${domain} matches its MTA-STS policy (enforce)` };
    }
    return { kind: "deliver", hosts: allowed, requireVerifiedTls: true, mtaSts: "enforce" };
  } catch (e) {
    if (e instanceof DnsTemporaryError) return { kind: "temporary", reason: e.message };
    throw e;
  }
}

/** A host's addresses: IPv4 then IPv6. Empty when it has none (throws DnsTemporaryError when DNS fails). */
export async function hostAddresses(host: RouteHost, resolver: Resolver): Promise<string[]> {
  if (host.addresses) return host.addresses;
  if (/^[0-9.]+$/.test(host.name) || host.name.includes(":")) return [host.name];
  const [a, aaaa] = await bothFamilies(host.name, resolver);
  return [...a ?? [], ...aaaa ?? []];
}

/**
 * A and AAAA of a name. One family failing (a timeout on AAAA is common) does not lose the other's answer; only
 * when both fail is it a temporary error.
 */
async function bothFamilies(name: string, resolver: Resolver): Promise<[string[] | null, string[] | null]> {
  const [a, aaaa] = await Promise.allSettled([resolver.lookup(name, "A"), resolver.lookup(name, "AAAA")]);
  if (a.status === "rejected" && aaaa.status === "rejected") throw a.reason;
  const value = (r: PromiseSettledResult<string[] | null>) => (r.status === "fulfilled" ? r.value : null);
  if (a.status === "rejected" && !value(aaaa)?.length) throw a.reason;
  if (aaaa.status === "rejected" && !value(a)?.length) throw aaaa.reason;
  return [value(a), value(aaaa)];
}
