/**
 * @module
 * `dns check`: looks up every record {@linkcode domainRecords} lists and says, record by record, what is wrong
 * and exactly how to fix it. Records are judged by what they mean, not by their text: an SPF record that
 * authorizes the server with `ip4:` is as good as our `mx`, a CNAME and an A record reaching the server are both
 * fine, a DKIM key matches whatever its whitespace.
 *
 * The MTA-STS policy is fetched (on request) with mailauth's `fetchPolicy`, the code outbound delivery uses too.
 * mailauth calls node:https itself and takes no CA option, so {@linkcode CheckOptions.ca} is added to node:tls's
 * process-wide default CA list for the duration of the fetch (one fetch with extra CAs at a time). Another way to
 * trust a private CA is `NODE_EXTRA_CA_CERTS` at process start; Deno's `--cert` does not reach node:https.
 */
import tls from "node:tls";
import { isIPv6 } from "node:net";
import { fetchPolicy, parsePolicy, validateMx } from "mailauth/lib/mta-sts.js";
import { DnsTemporaryError, type Resolver } from "./resolver.ts";
import {
  ADDRESS_PLACEHOLDER,
  addressBytes,
  bareName,
  type DnsRecord,
  type DomainDnsInput,
  domainRecords,
  mtaStsPolicy,
  reverseName,
} from "./records.ts";

/** `error`: the record could not be looked up (timeout, server failure); try again later. */
export type CheckStatus = "ok" | "missing" | "wrong" | "error" | "warning";

/** The verdict on one record. */
export interface CheckResult {
  /** The record as it should be. */
  record: DnsRecord;
  status: CheckStatus;
  /** What DNS (or the policy host) answered, as text. */
  found: string[];
  /** For `ok` a short confirmation; otherwise what is wrong and exactly how to fix it. */
  message: string;
}

/** Options for {@linkcode checkDomain}. */
export interface CheckOptions {
  /** Also fetch `https://mta-sts.<domain>/.well-known/mta-sts.txt` and check it (default false). */
  fetchMtaStsPolicy?: boolean;
  /**
   * PEM certificates to trust, besides the default ones, when fetching the MTA-STS policy. They are added to
   * the process-wide node:tls default CA list while the fetch runs: pass them only where that is acceptable (a
   * CLI process, tests), not in a serving process whose other TLS connections would trust them meanwhile.
   */
  ca?: string[];
}

/** How long the MTA-STS policy fetch may take. */
const POLICY_TIMEOUT_MS = 10_000;

type Outcome = Omit<CheckResult, "record">;

interface Context {
  domain: string;
  host: string;
  input: DomainDnsInput;
  /** The configured addresses, or else those `hostname` has in DNS. */
  addresses: string[];
  /** True when {@linkcode Context.addresses} came from DNS, not from the configuration. */
  discovered: boolean;
  /** Set when looking for those addresses failed: the records needing them cannot be checked now. */
  discoveryError?: DnsTemporaryError;
  resolver: Resolver;
  options: CheckOptions;
}

/** Looks up every record `input.domain` needs and judges each; results are in {@linkcode domainRecords} order. */
export async function checkDomain(
  input: DomainDnsInput,
  resolver: Resolver,
  options: CheckOptions = {},
): Promise<CheckResult[]> {
  const host = bareName(input.hostname);
  let addresses = input.addresses;
  let discoveryError: DnsTemporaryError | undefined;
  if (!addresses.length) {
    // Without configured addresses, check reverse DNS for the ones the host name has.
    addresses = await hostAddresses(resolver, host).catch((e) => {
      if (!(e instanceof DnsTemporaryError)) throw e;
      discoveryError = e;
      return [];
    });
  }
  const context: Context = {
    domain: bareName(input.domain),
    host,
    input,
    addresses,
    discovered: !input.addresses.length && addresses.length > 0,
    resolver,
    options,
    ...discoveryError ? { discoveryError } : {},
  };
  const records = domainRecords({ ...input, addresses });
  return await Promise.all(records.map(async (record): Promise<CheckResult> => {
    try {
      return { record, ...await checkerFor(record, context)(record, context) };
    } catch (e) {
      if (!(e instanceof DnsTemporaryError)) throw e;
      return { record, status: "error", found: [], message: `could not look it up (${e.message}); try again later` };
    }
  }));
}

/** One line per record: status, name, type, message. */
export function formatCheck(results: CheckResult[]): string {
  const labels: Record<CheckStatus, string> = {
    ok: "OK",
    missing: "MISSING",
    wrong: "WRONG",
    warning: "WARN",
    error: "ERROR",
  };
  const width = Math.max(0, ...results.map((r) => r.record.name.length));
  return results.map((r) =>
    `${labels[r.status].padEnd(7)} ${r.record.name.padEnd(width)} ${r.record.type.padEnd(5)} ${r.message}`
  ).join("\n") + "\n";
}

/** True when nothing is missing, wrong or unchecked (warnings are allowed). */
export function allOk(results: CheckResult[]): boolean {
  return results.every((r) => r.status === "ok" || r.status === "warning");
}

type Checker = (record: DnsRecord, context: Context) => Promise<Outcome>;

function checkerFor(record: DnsRecord, { domain, host }: Context): Checker {
  switch (record.type) {
    case "MX":
      return checkMx;
    case "TXT":
      if (record.name === domain) return checkSpf;
      // The server's own name: "a" and "mx" in its SPF record mean the host's, not the domain's.
      if (record.name === host && record.value.startsWith("v=spf1")) {
        return (r, c) => checkSpf(r, { ...c, domain: host });
      }
      if (record.name === `_dmarc.${domain}`) return checkDmarc;
      if (record.name === `_mta-sts.${domain}`) return checkMtaSts;
      if (record.name === `_smtp._tls.${domain}`) return checkTlsRpt;
      if (record.name.endsWith(`._domainkey.${domain}`)) return checkDkim;
      return checkReportConsent;
    case "CNAME":
      return checkAlias;
    case "SRV":
      return checkSrv;
    case "A":
    case "AAAA":
      return checkAddress;
    case "PTR":
      return checkPtr;
  }
}

const ok = (found: string[], message: string): Outcome => ({ status: "ok", found, message });
const missing = (found: string[], message: string): Outcome => ({ status: "missing", found, message });
const wrong = (found: string[], message: string): Outcome => ({ status: "wrong", found, message });
const warning = (found: string[], message: string): Outcome => ({ status: "warning", found, message });

/** The record as an instruction: `TXT "v=spf1 mx -all" at example.org`. */
function show(record: DnsRecord): string {
  const data = record.type === "TXT"
    ? `"${record.value}"`
    : record.priority === undefined
    ? record.value
    : `${record.priority} ${record.value}`;
  return `${record.type} ${data} at ${record.name}`;
}

/** `tag=value; …` (DKIM RFC 6376 §3.2, DMARC, MTA-STS, TLS-RPT): tag names lower-cased, values trimmed. */
function parseTags(text: string): Map<string, string> {
  const tags = new Map<string, string>();
  for (const part of text.split(";")) {
    const eq = part.indexOf("=");
    if (eq < 1) continue;
    const name = part.slice(0, eq).trim().toLowerCase();
    if (!tags.has(name)) tags.set(name, part.slice(eq + 1).trim());
  }
  return tags;
}

function sameAddress(a: string, b: string): boolean {
  try {
    const x = addressBytes(a), y = addressBytes(b);
    return x.length === y.length && x.every((v, i) => v === y[i]);
  } catch {
    return a === b;
  }
}

/** Whether `address` lies in `network/prefix` (prefix defaults to the whole address). */
function inNetwork(address: string, network: string, prefix?: number): boolean {
  let a: Uint8Array, n: Uint8Array;
  try {
    a = addressBytes(address);
    n = addressBytes(network);
  } catch {
    return false;
  }
  if (a.length !== n.length) return false;
  let bits = Math.min(prefix ?? a.length * 8, a.length * 8);
  for (let i = 0; bits > 0; i++, bits -= 8) {
    const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
    if ((a[i]! & mask) !== (n[i]! & mask)) return false;
  }
  return true;
}

async function hostAddresses(resolver: Resolver, name: string): Promise<string[]> {
  const [a, aaaa] = await Promise.all([resolver.lookup(name, "A"), resolver.lookup(name, "AAAA")]);
  return [...a ?? [], ...aaaa ?? []];
}

// RFC 5321 §5.1, RFC 7505.
async function checkMx(record: DnsRecord, { domain, host, resolver }: Context): Promise<Outcome> {
  const mx = await resolver.lookup(domain, "MX");
  if (!mx) {
    return missing([], `no MX record, so mail for ${domain} goes nowhere (or to its A record): add ${show(record)}`);
  }
  const found = mx.map((m) => `${m.priority} ${m.exchange || "."}`);
  if (mx.some((m) => m.exchange === "" || m.exchange === ".")) {
    return wrong(found, `a null MX (RFC 7505) says ${domain} takes no mail: replace it with ${show(record)}`);
  }
  const ours = mx.filter((m) => bareName(m.exchange) === host);
  const others = mx.filter((m) => bareName(m.exchange) !== host);
  if (!ours.length) {
    return wrong(
      found,
      `mail for ${domain} goes to ${found.join(", ")}, not ${host}: set ${show(record)} and remove the others`,
    );
  }
  if (others.length) {
    const names = others.map((m) => m.exchange).join(", ");
    const verb = others.length === 1 ? "receives" : "receive";
    return warning(
      found,
      `${names} also ${verb} mail for ${domain}, so mail may go there instead of ${host}: remove them unless ` +
        `they are backup MX hosts relaying to ${host}`,
    );
  }
  return ok(found, `mail goes to ${host}`);
}

type SpfVerdict = { result: "pass" | "fail" | "unknown"; term: string };

// RFC 7208: one record (§4.5), mechanisms tried left to right (§4.6.2), "all" ends the list (§5.1).
async function checkSpf(record: DnsRecord, context: Context): Promise<Outcome> {
  const { domain, host, addresses, resolver } = context;
  const spf = (await resolver.txt(domain) ?? []).filter((t) => /^v=spf1(\s|$)/i.test(t));
  if (!spf.length) return missing([], `no SPF record: add ${show(record)}`);
  if (spf.length > 1) {
    return wrong(
      spf,
      `${spf.length} SPF records: receivers reject them all (permerror, RFC 7208 §4.5); merge them into one, ` +
        `e.g. "${record.value}"`,
    );
  }
  const text = spf[0]!;
  const terms = text.split(/\s+/).slice(1).filter(Boolean);
  const allTerm = terms.find((t) => /^[+\-~?]?all$/i.test(t));
  const redirect = terms.find((t) => /^redirect=/i.test(t));
  const problems: string[] = [];
  if (allTerm && /^[+?]?all$/i.test(allTerm)) {
    problems.push(`"${allTerm}" lets any host on the internet send as ${domain}; end it with "-all"`);
  } else if (!allTerm && !redirect) {
    problems.push(`it does not end in "-all" (or "~all"), so other hosts are not refused; add "-all" at the end`);
  }
  const verdicts = await Promise.all(addresses.map((a) => spfVerdict(terms, a, context)));
  const failed = addresses.filter((_, i) => verdicts[i]!.result === "fail");
  if (failed.length) {
    const mechanisms = failed.map((a) => `${isIPv6(a) ? "ip6" : "ip4"}:${a}`).join(" ");
    const hasMx = terms.some((t) => /^\+?mx$/i.test(t));
    const add = hasMx ? `"${mechanisms}"` : `"mx" (or "${mechanisms}")`;
    problems.push(`it does not authorize ${failed.join(", ")} (${host}): add ${add} before the "all"`);
  }
  if (problems.length) return wrong([text], `SPF "${text}": ${problems.join("; ")}`);
  const unknown = verdicts.find((v) => v.result === "unknown");
  if (unknown) {
    return warning(
      [text],
      `cannot verify "${unknown.term}": make sure it authorizes ${addresses.join(", ")}, or use "${record.value}"`,
    );
  }
  if (!addresses.length) return warning([text], `cannot verify which hosts it authorizes: ${host} has no address`);
  return ok([text], `authorizes ${addresses.join(", ")}`);
}

/** What `terms` say about mail from `address`: pass, fail (anything else), or unknown (include, macros…). */
async function spfVerdict(terms: string[], address: string, { domain, resolver }: Context): Promise<SpfVerdict> {
  const v6 = isIPv6(address);
  for (const term of terms) {
    const qualifier = /^[+\-~?]/.test(term) ? term[0]! : "+";
    const body = qualifier === term[0] ? term.slice(1) : term;
    const parsed = /^([a-z0-9]+)(?::([^/]+))?(?:\/(\d+))?(?:\/\/(\d+))?$/i.exec(body);
    if (!parsed) {
      if (/^[a-z][a-z0-9_.-]*=/i.test(body)) continue; // a modifier (redirect is handled below)
      return { result: "unknown", term };
    }
    const name = parsed[1]!.toLowerCase();
    const arg = parsed[2];
    const cidr = (v6 ? parsed[4] : parsed[3]) ?? undefined;
    if (arg?.includes("%")) return { result: "unknown", term }; // macros (RFC 7208 §7)
    let matches: boolean;
    switch (name) {
      case "all":
        matches = true;
        break;
      case "ip4":
      case "ip6":
        matches = arg !== undefined && inNetwork(address, arg, parsed[3] ? Number(parsed[3]) : undefined);
        break;
      case "a":
        matches = (await hostAddresses(resolver, arg ?? domain)).some((a) => inNetwork(address, a, cidrOf(cidr)));
        break;
      case "mx": {
        // RFC 7208 §4.6.4: at most 10 MX names are looked up.
        const hosts = (await resolver.lookup(arg ?? domain, "MX") ?? []).slice(0, 10);
        const lists = await Promise.all(hosts.map((m) => hostAddresses(resolver, m.exchange)));
        matches = lists.flat().some((a) => inNetwork(address, a, cidrOf(cidr)));
        break;
      }
      default: // include, exists, ptr: depend on other records or the connecting host
        return { result: "unknown", term };
    }
    if (matches) return { result: qualifier === "+" ? "pass" : "fail", term };
  }
  const redirect = terms.find((t) => /^redirect=/i.test(t));
  if (redirect) return { result: "unknown", term: redirect };
  return { result: "fail", term: "" };
}

function cidrOf(value: string | undefined): number | undefined {
  return value === undefined ? undefined : Number(value);
}

// RFC 6376 §3.6.1 key record; RFC 8463 for ed25519.
async function checkDkim(record: DnsRecord, { resolver }: Context): Promise<Outcome> {
  const selector = record.name.slice(0, record.name.indexOf("._domainkey."));
  const txt = await resolver.txt(record.name);
  if (!txt) return missing([], `no DKIM key "${selector}", so receivers cannot verify signatures: add ${show(record)}`);
  const keys = txt.filter((t) => parseTags(t).has("p"));
  if (!keys.length) return wrong(txt, `the TXT record is not a DKIM key (no p=): replace it with ${show(record)}`);
  if (keys.length > 1) {
    return wrong(keys, `${keys.length} DKIM keys under one selector; receivers pick one: keep only ${show(record)}`);
  }
  const want = parseTags(record.value);
  const have = parseTags(keys[0]!);
  const wantKey = want.get("p")!.replace(/\s+/g, "");
  const haveKey = (have.get("p") ?? "").replace(/\s+/g, "");
  const version = have.get("v");
  if (version !== undefined && version !== "DKIM1") {
    return wrong(keys, `v=${version} is not DKIM1: replace the record with ${show(record)}`);
  }
  if (!haveKey) return wrong(keys, `the key is revoked (empty p=): replace the record with ${show(record)}`);
  if (haveKey !== wantKey) {
    return wrong(
      keys,
      `a different public key is published (…${haveKey.slice(-12)} instead of …${wantKey.slice(-12)}), so ` +
        `signatures fail: replace the record with ${show(record)}`,
    );
  }
  const algorithm = (have.get("k") ?? "rsa").toLowerCase(); // k= defaults to rsa (RFC 6376 §3.6.1)
  if (algorithm !== want.get("k")) {
    return wrong(keys, `k=${algorithm} but the key is ${want.get("k")}: replace the record with ${show(record)}`);
  }
  if ((have.get("t") ?? "").split(":").map((f) => f.trim()).includes("y")) {
    return warning(keys, `key matches, but t=y (testing) asks receivers to ignore failures: remove t=y`);
  }
  return ok(keys, `key "${selector}" matches`);
}

// RFC 7489 §6.3 record, §6.6.3 discovery.
async function checkDmarc(record: DnsRecord, { resolver }: Context): Promise<Outcome> {
  const txt = await resolver.txt(record.name) ?? [];
  const dmarc = txt.filter((t) => /^v=DMARC1\s*(;|$)/i.test(t.trim()));
  if (!dmarc.length) return missing(txt, `no DMARC record: add ${show(record)}`);
  if (dmarc.length > 1) {
    return wrong(
      dmarc,
      `${dmarc.length} DMARC records, so receivers apply none (RFC 7489 §6.6.3): keep one, e.g. ${show(record)}`,
    );
  }
  const tags = parseTags(dmarc[0]!);
  const policy = (tags.get("p") ?? "").toLowerCase();
  if (!["none", "quarantine", "reject"].includes(policy)) {
    return wrong(dmarc, `${policy ? `p=${policy} is not a policy` : "no p= policy"}: use ${show(record)}`);
  }
  const notes: string[] = [];
  if (policy === "none") {
    notes.push("p=none only monitors: forged mail from your domain is still delivered; use p=quarantine");
  }
  const pct = tags.get("pct");
  if (pct !== undefined && pct !== "100") notes.push(`pct=${pct} applies the policy to only ${pct}% of failing mail`);
  if (!tags.get("rua")) {
    notes.push(`no rua=, so you get no reports; add rua=mailto:${record.value.match(/mailto:([^;\s]+)/)?.[1]}`);
  }
  if (notes.length) return warning(dmarc, notes.join("; "));
  return ok(dmarc, `p=${policy}`);
}

// RFC 8461 §3.1 TXT record, §3.2/§3.3 policy.
async function checkMtaSts(record: DnsRecord, context: Context): Promise<Outcome> {
  const txt = await context.resolver.txt(record.name) ?? [];
  const sts = txt.filter((t) => /^v=STSv1\s*;/i.test(t.trim()));
  if (!sts.length) return missing(txt, `no MTA-STS record, so senders may deliver without TLS: add ${show(record)}`);
  if (sts.length > 1) {
    return wrong(sts, `${sts.length} MTA-STS records, so senders use none (RFC 8461 §3.1): keep only ${show(record)}`);
  }
  const id = parseTags(sts[0]!).get("id");
  if (!id || !/^[A-Za-z0-9]{1,32}$/.test(id)) {
    return wrong(
      sts,
      `${id ? `id=${id} is not 1-32 letters and digits` : "no id="} (RFC 8461 §3.1): use ${show(record)}`,
    );
  }
  const ourId = parseTags(record.value).get("id");
  const policy = context.options.fetchMtaStsPolicy ? await checkPolicy(context) : undefined;
  const found = policy ? [...sts, ...policy.found] : sts;
  if (policy && !policy.ok) {
    const then = id === ourId ? "" : `; then set ${show(record)} so that senders fetch it again`;
    return wrong(found, policy.message + then);
  }
  if (id !== ourId) {
    return warning(
      found,
      `id=${id} is not ours (${ourId}); senders fetch the policy again only when the id changes` +
        `${policy ? " (the policy served is right)" : ""}: set ${show(record)}`,
    );
  }
  return ok(found, `id=${id}${policy ? `; ${policy.message}` : ""}`);
}

/** Fetches the policy the way senders do and compares it with {@linkcode mtaStsPolicy}. */
async function checkPolicy(
  { domain, host, input, resolver, options }: Context,
): Promise<{ ok: boolean; found: string[]; message: string }> {
  const url = `https://mta-sts.${domain}/.well-known/mta-sts.txt`;
  const expected = mtaStsPolicy(input);
  const serve = `serve this over HTTPS with a certificate for mta-sts.${domain}: ${JSON.stringify(expected)}`;
  let policy: Awaited<ReturnType<typeof fetchPolicy>>;
  try {
    policy = await withExtraCa(options.ca, () =>
      fetchPolicy(domain, {
        resolver: resolver.forMailauth() as never,
        timeout: POLICY_TIMEOUT_MS,
      }));
  } catch (e) {
    if (e instanceof DnsTemporaryError) throw e;
    const err = e as Error & { code?: string };
    const code = err.code && !err.message.includes(err.code) ? ` (${err.code})` : "";
    return { ok: false, found: [], message: `the policy at ${url} cannot be used: ${err.message}${code}; ${serve}` };
  }
  if (!policy) {
    return { ok: false, found: [], message: `mta-sts.${domain} has no address, so there is no policy: ${serve}` };
  }
  const found = [`policy: mode ${policy.mode}, mx ${(policy.mx ?? []).join(" ")}, max_age ${policy.maxAge}`];
  const want = parsePolicy(expected);
  if (policy.mode !== want.mode) {
    return { ok: false, found, message: `the policy at ${url} has mode ${policy.mode}, not ${want.mode}: ${serve}` };
  }
  if (!validateMx(host, policy).valid) {
    return {
      ok: false,
      found,
      message: `the policy at ${url} does not list ${host} (mx ${(policy.mx ?? []).join(", ")}), so senders ` +
        `refuse to deliver to it: ${serve}`,
    };
  }
  return { ok: true, found, message: `policy served: mode ${policy.mode}, mx ${host}` };
}

/** Node 22.15's `tls.setDefaultCACertificates`: Deno 2.9 has it, its bundled node types do not yet. */
const tlsDefaults = tls as unknown as { setDefaultCACertificates?: (certs: string[]) => void };

let caQueue: Promise<unknown> = Promise.resolve();

/** Runs `fetch` with `ca` added to node:tls's default CAs, one such run at a time, and restores them. */
function withExtraCa<T>(ca: string[] | undefined, fetch: () => Promise<T>): Promise<T> {
  if (!ca?.length) return fetch();
  const setDefault = tlsDefaults.setDefaultCACertificates?.bind(tls);
  if (!setDefault) throw new TypeError("Cannot trust extra CAs: node:tls has no setDefaultCACertificates");
  const run = caQueue.then(async () => {
    const saved = tls.getCACertificates("default");
    setDefault([...saved, ...ca]);
    try {
      return await fetch();
    } finally {
      setDefault(saved);
    }
  });
  caQueue = run.catch(() => {});
  return run;
}

// RFC 8460 §3.
async function checkTlsRpt(record: DnsRecord, { resolver }: Context): Promise<Outcome> {
  const txt = await resolver.txt(record.name) ?? [];
  const rpt = txt.filter((t) => /^v=TLSRPTv1\s*;/i.test(t.trim()));
  if (!rpt.length) return missing(txt, `no TLS-RPT record, so you hear of no TLS failures: add ${show(record)}`);
  if (rpt.length > 1) {
    return wrong(
      rpt,
      `${rpt.length} TLS-RPT records, so senders report to none (RFC 8460 §3): keep only ${show(record)}`,
    );
  }
  const rua = parseTags(rpt[0]!).get("rua");
  if (!rua || !/^(mailto:|https:)/i.test(rua)) {
    return wrong(rpt, `no usable rua= (mailto: or https:): use ${show(record)}`);
  }
  return ok(rpt, `reports go to ${rua}`);
}

// RFC 7489 §7.1: the report address's domain consents to receive the reports.
async function checkReportConsent(record: DnsRecord, { domain, resolver }: Context): Promise<Outcome> {
  const txt = await resolver.txt(record.name) ?? [];
  if (txt.some((t) => /^v=DMARC1\s*(;|$)/i.test(t.trim()))) return ok(txt, "reports for this domain are accepted");
  const zone = record.name.slice(record.name.indexOf("._report._dmarc.") + "._report._dmarc.".length);
  return missing(
    txt,
    `receivers drop ${domain}'s DMARC reports until ${zone} consents: ask its owner to add ${show(record)}`,
  );
}

/** autoconfig, autodiscover, mta-sts: a CNAME to the host, or any name reaching the server's addresses. */
async function checkAlias(record: DnsRecord, { host, addresses, resolver }: Context): Promise<Outcome> {
  const cname = await resolver.lookup(record.name, "CNAME");
  if (cname?.some((c) => bareName(c) === host)) return ok(cname, `CNAME to ${host}`);
  const reached = await hostAddresses(resolver, record.name);
  const found = [...(cname ?? []).map((c) => `CNAME ${c}`), ...reached];
  const ours = reached.filter((a) => addresses.some((b) => sameAddress(a, b)));
  if (ours.length) return ok(found, `reaches this server (${ours.join(", ")})`);
  if (!found.length) return missing([], `add ${show(record)}`);
  const where = cname?.length ? `CNAME ${cname.join(", ")}` : reached.join(", ");
  return wrong(found, `${record.name} points to ${where}, not this server: replace it with ${show(record)}`);
}

// RFC 6186 §3, RFC 8314 §5.1.
async function checkSrv(record: DnsRecord, { host, resolver }: Context): Promise<Outcome> {
  const [, port] = record.value.split(" ").map(Number) as [number, number];
  const srv = await resolver.lookup(record.name, "SRV");
  if (!srv) return missing([], `add ${show(record)}`);
  const found = srv.map((s) => `${s.priority} ${s.weight} ${s.port} ${s.target || "."}`);
  if (srv.some((s) => s.target === "" || s.target === ".")) {
    return wrong(found, `target "." says the service is not offered: replace it with ${show(record)}`);
  }
  const match = srv.find((s) => bareName(s.target) === host && s.port === port);
  if (!match) return wrong(found, `clients are sent to ${found.join(", ")}: replace it with ${show(record)}`);
  if (srv.length > 1) {
    return warning(found, `other targets too; clients may pick them: keep only ${show(record)}`);
  }
  if (match.priority !== record.priority) {
    return warning(found, `priority ${match.priority}: use ${show(record)} so that clients prefer implicit TLS`);
  }
  return ok(found, `${host}:${port}`);
}

async function checkAddress(record: DnsRecord, context: Context): Promise<Outcome> {
  const { host, addresses, discovered, discoveryError, resolver } = context;
  if (record.value === ADDRESS_PLACEHOLDER) {
    if (discoveryError) throw discoveryError;
    return missing([], `${host} has no address: add ${show(record)} (and configure the server's addresses)`);
  }
  const found = await resolver.lookup(host, record.type as "A" | "AAAA") ?? [];
  if (!found.length) return missing([], `add ${show(record)}`);
  if (!found.some((a) => sameAddress(a, record.value))) {
    return wrong(found, `${host} resolves to ${found.join(", ")}, not ${record.value}: set ${show(record)}`);
  }
  const others = found.filter((a) => !addresses.some((b) => sameAddress(a, b)));
  if (others.length) {
    return warning(found, `${host} also resolves to ${others.join(", ")}, which is not this server: remove it`);
  }
  return ok(
    found,
    discovered ? `${record.value} (from DNS: configure the server's addresses to check them)` : record.value,
  );
}

/** Reverse DNS gives the host name, and the host name resolves back to the address (FCrDNS). */
async function checkPtr(record: DnsRecord, { host, addresses, discoveryError, resolver }: Context): Promise<Outcome> {
  const address = addresses.find((a) => reverseName(a) === record.name);
  if (!address) {
    if (discoveryError) throw discoveryError;
    return missing(
      [],
      `the server's address is unknown: add the A record of ${host}, then ask your hosting provider to set ` +
        `reverse DNS of that address to ${host}`,
    );
  }
  const fix = `ask your hosting provider to set reverse DNS of ${address} to ${host}`;
  const ptr = await resolver.lookup(record.name, "PTR");
  if (!ptr) return missing([], `${address} has no reverse DNS, and many receivers refuse its mail: ${fix}`);
  if (!ptr.some((n) => bareName(n) === host)) {
    return wrong(ptr, `reverse DNS of ${address} is ${ptr.join(", ")}, not ${host}: ${fix}`);
  }
  const type = isIPv6(address) ? "AAAA" : "A";
  const forward = await resolver.lookup(host, type) ?? [];
  if (!forward.some((a) => sameAddress(a, address))) {
    return wrong(
      ptr,
      `reverse DNS of ${address} is ${host}, but ${host} does not resolve back to ${address}: add ${type} ${address} ` +
        `at ${host}`,
    );
  }
  if (ptr.length > 1) return warning(ptr, `${address} has several reverse names (${ptr.join(", ")}): ${fix} only`);
  return ok(ptr, `${address} ↔ ${host}`);
}
