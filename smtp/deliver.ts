/**
 * @module
 * What happens to an accepted SMTP transaction: recipient checks at RCPT time, the trace headers
 * (`Return-Path`, `Received`), parsing the message once, and one atomic store transaction for every local
 * recipient, the sender's Sent copy and the outbound queue. The caller sends `250` only after
 * {@linkcode SmtpDelivery.deliver} resolves (DESIGN rule 3).
 */
import { parseAddress } from "../mail/address.ts";
import { concatBytes as concat } from "../mail/bytes.ts";
import { rfc5322Date } from "../mail/date.ts";
import { type ParsedMessage, parseMessage } from "../mail/parse.ts";
import type { Resolver } from "../dns/resolver.ts";
import { logger } from "../log.ts";
import type { Delivery, DsnParams, Resolution, Store } from "../store/mod.ts";
import { type AuthVerdict, checkIncoming, signMessage, stripOurAuthResults } from "./mail_auth.ts";
import type { Srs } from "./srs.ts";

/** The listener a session came in on. */
export type ListenerKind = "mx" | "submission" | "submissions";

/** A recipient accepted at RCPT time. */
export interface AcceptedRecipient {
  /** As given by the client (after normalisation). */
  address: string;
  /** Local accounts it resolves to. */
  accountIds: number[];
  /** Their INBOX mailbox ids, in the same order. */
  inboxIds: number[];
  /** External addresses it goes to (submission to the internet, or a local alias that forwards). */
  external: string[];
  /** It is an SRS address of ours: the message goes back to the original sender, whose address `external` is. */
  srs?: boolean;
  dsn?: DsnParams;
}

/** Why a recipient is refused, for the session to map to a reply. */
export type RecipientRefusal = "relay-denied" | "no-such-user" | "bad-address" | "over-quota";

/** Everything about the transaction the trace headers and the store need. */
export interface Transaction {
  kind: ListenerKind;
  /** Reverse-path, "" for the null sender. */
  mailFrom: string;
  recipients: AcceptedRecipient[];
  /** The authenticated account (submission). */
  account?: { id: number; address: string };
  helo: string;
  clientIp: string;
  tls: { version: string; cipher: string } | null;
  smtputf8: boolean;
  /** The session id, also used as the Received id. */
  id: string;
  ret?: "FULL" | "HDRS";
  envid?: string;
  /** RFC 8689 REQUIRETLS was given on MAIL. */
  requireTls?: boolean;
}

const enc = new TextEncoder();

/** RFC 3848 §2: the "with" protocol name. */
function withProtocol(t: Transaction): string {
  const base = t.smtputf8 ? "UTF8SMTP" : "ESMTP";
  return base + (t.tls ? "S" : "") + (t.account ? "A" : "");
}

function sanitize(s: string): string {
  return s.replace(/[^\x21-\x7e]/g, "?").slice(0, 255);
}

/**
 * RFC 5321 §4.4 trace header. For submission the client's IP is left out (users' locations are private);
 * the authenticated protocol ("ESMTPSA") still shows. "for" names the recipient only when there is one.
 */
export function receivedHeader(t: Transaction, hostname: string, date = new Date()): string {
  const from = t.kind === "mx" ? `from ${sanitize(t.helo || "unknown")} ([${t.clientIp}])\r\n\t` : "";
  const tls = t.tls ? `\r\n\t(using ${t.tls.version} with cipher ${sanitize(t.tls.cipher)})` : "";
  const only = t.recipients.length === 1 ? `\r\n\tfor <${t.recipients[0]!.address}>` : "";
  return `Received: ${from}by ${hostname} (Silvermail) with ${withProtocol(t)} id ${t.id}${tls}${only};\r\n` +
    `\t${rfc5322Date(date)}\r\n`;
}

/** What delivery does besides storing. */
export interface DeliveryOptions {
  /** Check SPF/DKIM/DMARC/ARC of mail arriving on the MX listener. Absent: no checks. */
  inbound?: { resolver: Resolver; dmarcReject: "reject" | "quarantine" };
  /** Sign submitted mail with the DKIM keys of its From domain. */
  sign?: boolean;
  /** Called after a commit that queued mail for other servers (wakes the delivery worker). */
  onQueued?: () => void;
  /** Rewrites the sender of mail forwarded to other servers, and accepts bounces to those addresses (smtp/srs.ts). */
  srs?: Srs;
}

/** The message is refused for a policy reason (DMARC reject): 550 5.7.1 with this text. */
export class MessageRefused extends Error {
  override name = "MessageRefused";
}

const log = logger("smtp");

/**
 * Recent recipient resolutions, for a few seconds: a server receiving a stream of mail for the same people asks
 * the database once per address per interval instead of once per RCPT (Postfix keeps such lookups in its
 * proxymap/verify caches too). Only deliverable local results are kept, never refusals, so a new account or alias
 * works at once; a deleted one, or a mailbox that just filled up, is noticed within `ttlMs`.
 */
class RecipientCache {
  readonly #entries = new Map<string, { until: number; resolution: Resolution }>();
  readonly #ttlMs: number;
  readonly #max: number;

  constructor(ttlMs = 2_000, max = 10_000) {
    this.#ttlMs = ttlMs;
    this.#max = max;
  }

  async get(address: string, load: () => Promise<Resolution | undefined>): Promise<Resolution | undefined> {
    const now = Date.now();
    const hit = this.#entries.get(address);
    if (hit && hit.until > now) return hit.resolution;
    const resolution = await load();
    if (resolution && !resolution.fullAccountIds.length && this.#ttlMs > 0) {
      if (this.#entries.size >= this.#max) this.#entries.clear();
      this.#entries.set(address, { until: now + this.#ttlMs, resolution });
    }
    return resolution;
  }
}

/** The store-facing side of an SMTP session. */
export class SmtpDelivery {
  readonly #store: Store;
  readonly #hostname: string;
  readonly #options: DeliveryOptions;
  readonly #recipients = new RecipientCache();

  constructor(store: Store, hostname: string, options: DeliveryOptions = {}) {
    this.#store = store;
    this.#hostname = hostname;
    this.#options = options;
  }

  /**
   * Decides a RCPT. MX: only local recipients (an account, alias or catch-all of a local domain). Submission:
   * local ones resolve the same way; any other domain goes to the outbound queue.
   */
  async checkRecipient(kind: ListenerKind, input: string): Promise<AcceptedRecipient | RecipientRefusal> {
    const parsed = parseAddress(input);
    if (!parsed) return "bad-address";
    // The common case (a local recipient) costs one query; only a miss asks whether the domain is ours. An SRS
    // address is tried before the domain's catch-all (which would otherwise swallow the bounces).
    const srsOriginal = /^srs0=/i.test(parsed.local) ? this.#options.srs?.reverse(parsed.local) : undefined;
    const r = srsOriginal
      ? await this.#store.aliases.resolve(parsed.address, { catchAll: false })
      : await this.#recipients.get(parsed.address, () => this.#store.aliases.resolve(parsed.address));
    // A full mailbox refuses temporarily (the sender retries; the owner may make room meanwhile).
    if (r?.fullAccountIds.length) return "over-quota";
    if (r) return { address: parsed.address, accountIds: r.accountIds, inboxIds: r.inboxIds, external: r.external };
    if (await this.#store.domains.idOf(parsed.domain) !== undefined) {
      // A reply (a bounce) to an address SRS made for forwarded mail goes on to the original sender.
      if (srsOriginal) {
        return { address: parsed.address, accountIds: [], inboxIds: [], external: [srsOriginal], srs: true };
      }
      return "no-such-user";
    }
    if (kind === "mx") return "relay-denied"; // RFC 5321 §3.6.2: an MX never relays
    return { address: parsed.address, accountIds: [], inboxIds: [], external: [parsed.address] };
  }

  /** True when `account` may use `address` as its sender: its own address, or an alias that reaches it. */
  async owns(accountId: number, address: string): Promise<boolean> {
    const parsed = parseAddress(address);
    if (!parsed) return false;
    const r = await this.#store.aliases.resolve(parsed.address, { catchAll: false });
    return !!r?.accountIds.includes(accountId);
  }

  /**
   * Builds the stored contents of a received message (`body`: the chunks as the client sent them): for local
   * recipients with `Return-Path` + `Received`; for the Sent copy and the outbound queue with `Received` only
   * (a relay must not add Return-Path). Each content is assembled once from the chunks (no intermediate copies
   * of a large message) and parsed once. Nothing is stored until `commit()`.
   */
  async prepare(t: Transaction, chunks: readonly Uint8Array[]): Promise<PreparedMessage> {
    const received = enc.encode(receivedHeader(t, this.#hostname));
    // RFC 8601 §5: nobody else may speak for our authserv-id — on any listener, checks on or off.
    const message = stripOurAuthResults(concat(chunks), this.#hostname);
    const body = [message];
    let verdict: AuthVerdict | undefined;
    const inbound = this.#options.inbound;
    if (t.kind === "mx" && inbound) {
      verdict = await checkIncoming(
        message,
        { ip: t.clientIp, helo: t.helo, mailFrom: t.mailFrom, hostname: this.#hostname },
        inbound.resolver,
        inbound.dmarcReject,
      );
      log.info("mail authentication", {
        id: t.id,
        spf: verdict.spf,
        dkim: verdict.dkim,
        dmarc: verdict.dmarc,
        arc: verdict.arc,
        action: verdict.action,
      });
      if (verdict.action === "reject") {
        throw new MessageRefused("Message rejected: the sender's domain DMARC policy says to refuse it");
      }
    }
    const deliveries: Delivery[] = [];
    const inboxes = [...new Set(t.recipients.flatMap((r) => r.inboxIds))];
    if (inboxes.length) {
      // RFC 5321 §4.4: the delivering server adds Return-Path with the reverse-path.
      const raw = concat([
        enc.encode(`Return-Path: <${t.mailFrom}>\r\n${verdict?.headers ?? ""}`),
        received,
        ...body,
      ]);
      // DMARC p=quarantine (or p=reject when configured to quarantine): into each recipient's Junk.
      const targets = verdict?.action === "quarantine" ? await this.#junkOf(t) : inboxes;
      deliveries.push({
        raw,
        parsed: await parseMessage(raw),
        targets: targets.map((mailboxId) => ({ mailboxId })),
      });
    }
    const external = t.recipients.flatMap((r) => r.external.map((address) => ({ address, dsn: r.dsn, r })));
    const forwardedFrom = await this.#forwardingSender(t);
    const sent = t.account ? await this.#store.mailboxes.special(t.account.id, "\\Sent") : undefined;
    if (external.length || sent) {
      let traced = concat([received, ...body]);
      let parsed = await parseMessage(traced);
      if (t.account && this.#options.sign) {
        const signed = await this.#sign(parsed, body);
        if (signed) {
          traced = concat([received, signed]);
          parsed = await parseMessage(traced);
        }
      }
      const dsnBase: DsnParams = {};
      if (t.ret) dsnBase.ret = t.ret;
      if (t.envid) dsnBase.envid = t.envid;
      if (t.requireTls) dsnBase.requiretls = true;
      if (t.smtputf8) dsnBase.smtputf8 = true;
      deliveries.push({
        raw: traced,
        parsed,
        targets: sent ? [{ mailboxId: sent.id, flags: ["\\Seen"], keepMessageId: true }] : [],
        queue: external.map((e) => ({
          submissionId: t.id,
          // Forwarded by an alias: the sender becomes an SRS address at the alias's domain (SPF passes there).
          mailFrom: forwardedFrom && !e.r.srs
            ? this.#options.srs!.forward(forwardedFrom, e.r.address.slice(e.r.address.lastIndexOf("@") + 1))
            : t.mailFrom,
          recipient: e.address,
          ...(t.account ? { accountId: t.account.id } : {}),
          dsn: { ...dsnBase, ...e.dsn },
        })),
      });
    }
    return new PreparedMessage(deliveries, this.#store, this.#options.onQueued, verdict);
  }

  /**
   * The sender to SRS-rewrite when this message is forwarded: one from another domain, arriving at the MX (a
   * user's own submission keeps their address, which SPF covers); undefined when nothing is to be rewritten.
   */
  async #forwardingSender(t: Transaction): Promise<string | undefined> {
    if (!this.#options.srs || t.kind !== "mx" || !t.mailFrom) return undefined;
    if (!t.recipients.some((r) => r.external.length && !r.srs)) return undefined;
    const domain = t.mailFrom.slice(t.mailFrom.lastIndexOf("@") + 1).toLowerCase();
    return await this.#store.domains.idOf(domain) === undefined ? t.mailFrom : undefined;
  }

  /** The Junk mailbox of every local recipient (their INBOX when they have none). */
  async #junkOf(t: Transaction): Promise<number[]> {
    const out = new Set<number>();
    for (const r of t.recipients) {
      for (let i = 0; i < r.accountIds.length; i++) {
        const junk = await this.#store.mailboxes.special(r.accountIds[i]!, "\\Junk");
        out.add(junk?.id ?? r.inboxIds[i]!);
      }
    }
    return [...out];
  }

  /** DKIM-signs the submitted body with the keys of its From domain; undefined when it has none. */
  async #sign(parsed: ParsedMessage, body: readonly Uint8Array[]): Promise<Uint8Array | undefined> {
    const from = parsed.structure.envelope.from?.[0]?.host?.toLowerCase();
    if (!from) return undefined;
    const keys = await this.#store.dkim.signing(from);
    if (!keys.length) return undefined;
    try {
      const { signed, errors } = await signMessage(concat(body), keys);
      if (errors.length) log.error("DKIM signing failed", { domain: from, errors });
      return signed;
    } catch (e) {
      // A broken key must not stop a domain's mail: it leaves unsigned (and the log says why).
      log.error("DKIM signing failed", { domain: from, error: e as Error });
      return undefined;
    }
  }
}

/** A received message, parsed, ready to be committed. */
export class PreparedMessage {
  readonly #deliveries: Delivery[];
  readonly #store: Store;
  readonly #onQueued: (() => void) | undefined;
  /** What SPF/DKIM/DMARC/ARC found (MX with checks on), for the spam scoring that decides before commit(). */
  readonly auth: AuthVerdict | undefined;

  constructor(deliveries: Delivery[], store: Store, onQueued?: () => void, auth?: AuthVerdict) {
    this.#deliveries = deliveries;
    this.#store = store;
    this.#onQueued = onQueued;
    this.auth = auth;
  }

  /** The addresses in the From header (`local@domain`), for the submission sender check. */
  fromAddresses(): string[] {
    const parsed = this.#deliveries[0]?.parsed as ParsedMessage | undefined;
    return (parsed?.structure.envelope.from ?? []).flatMap((a) =>
      a.mailbox !== null && a.host !== null ? [`${a.mailbox}@${a.host}`] : []
    );
  }

  /** Commits every content in one transaction. Resolves after the commit: then, and only then, say 250. */
  async commit(): Promise<void> {
    await this.#store.messages.deliverAll(this.#deliveries);
    if (this.#deliveries.some((d) => d.queue?.length)) this.#onQueued?.();
  }
}
