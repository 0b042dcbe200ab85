/**
 * @module
 * The delivery worker: takes due recipients from the persistent queue (store/queue.ts, claimed under
 * `FOR UPDATE SKIP LOCKED` with a lease, so several instances share one queue and each message leaves once),
 * groups them by destination, and delivers each group over one SMTP connection (smtp/outbound/client.ts) to the
 * domain's MX hosts (smtp/outbound/route.ts) or the configured smarthost.
 *
 * Each recipient ends in one of four ways, logged in the delivery log: delivered; bounced (a 5xx, or a domain
 * that takes no mail); deferred (4xx, no connection, DNS failure) and retried with exponential backoff; or
 * expired after `max_age`. A bounce or expiry sends the sender a DSN (RFC 3464) — into their INBOX when they are
 * local, else queued to them with the null sender — and mail from the null sender is never bounced (RFC 5321
 * §4.5.5). A sender waiting longer than `delay_warning` hears once that their message is delayed.
 *
 * Order of effects, so nothing is lost and little repeats: each message's attempt is recorded (queue rows and
 * delivery log, one transaction) as soon as it ends, so a crash repeats at most the messages in flight; its DSN is
 * committed before its rows go, so a crash in between repeats a DSN rather than losing one. Rows carry the claim's
 * lease token: a worker that outlived its lease cannot touch rows claimed again since, and long jobs renew it.
 */
import { logger } from "../../log.ts";
import { parseMessage } from "../../mail/parse.ts";
import type { Resolver } from "../../dns/resolver.ts";
import { type AttemptResult, type ClaimedRecipient, type Delivery, hex, type Store } from "../../store/mod.ts";
import { type ClientOptions, type Reply, SmtpClient, SmtpClientError } from "./client.ts";
import { buildDsn, type DsnRecipient, statusFromReply } from "./dsn.ts";
import { signMessage } from "../mail_auth.ts";
import type { Srs } from "../srs.ts";
import { hostAddresses, MtaStsCache, resolveRoute, type Route, type RouteHost } from "./route.ts";

const log = logger("outbound");

/** A relay that takes all outbound mail. */
export interface Smarthost {
  host: string;
  port: number;
  tls: "starttls" | "implicit" | "none";
  username?: string;
  password?: string;
}

/** Settings of the worker (config `outbound.*`, durations in ms). */
export interface WorkerOptions {
  store: Store;
  hostname: string;
  resolver: Resolver;
  /** Port of remote MX servers (25). */
  port: number;
  concurrency: number;
  connectionsPerDomain: number;
  pollMs: number;
  retryMinMs: number;
  retryMaxMs: number;
  maxAgeMs: number;
  delayWarningMs: number;
  timeoutMs: number;
  mtaSts: boolean;
  /** Local address to connect from. */
  sourceAddress?: string;
  ca?: string[];
  smarthost?: Smarthost;
  /** To send notices about forwarded mail straight to the original sender behind our SRS address. */
  srs?: Srs;
}

/** One message to one domain: a content, its envelope and the recipients there. */
interface OutMessage {
  hash: Uint8Array;
  /** Loaded just before it is sent (or reported) and dropped after: memory holds only messages in flight. */
  content?: Uint8Array;
  recipients: ClaimedRecipient[];
  /** Its outcome is recorded (or its rows were given back). */
  done?: boolean;
}

/** The messages one connection delivers. */
interface Job {
  /** Domain (or "smarthost"): the per-destination connection limit applies to it. */
  route: string;
  domain: string;
  messages: OutMessage[];
  /** When its lease was taken or last renewed: past half the lease, the job gives the rest back. */
  claimedAt: number;
}

/** Messages claimed per connection slot in one claim. */
const MESSAGES_PER_SLOT = 20;
/** How long stop() waits for deliveries under way; their rows come back after the lease if cut off. */
const STOP_GRACE_MS = 10_000;

/** The delivery worker of one instance. */
export class DeliveryWorker {
  readonly #o: WorkerOptions;
  readonly #mtaSts: MtaStsCache | undefined;
  readonly #pending: Job[] = [];
  readonly #perRoute = new Map<string, number>();
  readonly #running = new Set<Promise<void>>();
  #active = 0;
  #stopped = true;
  #loop: Promise<void> | undefined;
  #wake: (() => void) | undefined;
  #woken = false;
  readonly #leaseMs: number;

  constructor(options: WorkerOptions) {
    this.#o = options;
    // Longer than any one job should take (a job stops starting messages at half of it).
    this.#leaseMs = Math.max(30 * 60_000, 4 * options.timeoutMs);
    this.#mtaSts = options.mtaSts && !options.smarthost
      ? new MtaStsCache(options.resolver, options.store.mtaSts)
      : undefined;
  }

  /** Starts claiming and delivering. */
  start(): void {
    if (!this.#stopped) return;
    this.#stopped = false;
    this.#loop = this.#run();
  }

  /** New mail was queued: look now instead of at the next poll. */
  wake(): void {
    this.#woken = true;
    this.#wake?.();
  }

  /**
   * Stops claiming, gives back what was claimed but not started, and waits (up to 10 s) for the connections under
   * way; rows of deliveries cut off by the exit come back when their lease runs out.
   */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    this.wake();
    await this.#loop;
    const left = this.#pending.splice(0).flatMap((j) => j.messages.flatMap((m) => m.recipients));
    await this.#o.store.queue.release(left).catch((e) => log.error("cannot release claims", { error: e as Error }));
    let timer: ReturnType<typeof setTimeout> | undefined;
    const grace = new Promise<"timeout">((resolve) => timer = setTimeout(() => resolve("timeout"), STOP_GRACE_MS));
    if (await Promise.race([Promise.all(this.#running), grace]) === "timeout") {
      log.warn("stopping with deliveries under way; they are retried after their lease", {
        connections: this.#running.size,
      });
    }
    clearTimeout(timer);
  }

  async #run(): Promise<void> {
    while (!this.#stopped) {
      this.#pump();
      let claimed = 0;
      const free = this.#o.concurrency - this.#active;
      // Claim while there are free connections that no pending job can use (a slow domain at its own limit must not
      // hold up the others: its domain is skipped), up to a bounded backlog.
      const backlog = this.#pending.reduce((n, j) => n + j.messages.length, 0);
      const saturated = [...this.#perRoute].filter(([, n]) => n >= this.#o.connectionsPerDomain).map(([r]) => r);
      const blocked = this.#o.smarthost && saturated.length > 0;
      if (free > 0 && !this.#startable() && backlog < this.#o.concurrency * MESSAGES_PER_SLOT && !blocked) {
        let rows: ClaimedRecipient[] = [];
        try {
          rows = await this.#o.store.queue.claim(free * MESSAGES_PER_SLOT, this.#leaseMs, saturated);
          claimed = rows.length;
          this.#plan(rows);
        } catch (e) {
          log.error("cannot claim from the queue", { error: e as Error });
          await this.#o.store.queue.release(rows).catch(() => {});
        }
      }
      if (this.#stopped) break;
      this.#pump();
      // Sleep until woken (new mail, a connection finished) or the next poll; a full claim looks again at once.
      if (claimed && this.#active < this.#o.concurrency) continue;
      await this.#sleep(this.#o.pollMs);
    }
  }

  /** True when a pending job could start now. */
  #startable(): boolean {
    return this.#active < this.#o.concurrency &&
      this.#pending.some((j) => (this.#perRoute.get(j.route) ?? 0) < this.#o.connectionsPerDomain);
  }

  #sleep(ms: number): Promise<void> {
    if (this.#woken) {
      this.#woken = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#wake = undefined;
        this.#woken = false;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.#wake = done;
    });
  }

  /** Groups claimed rows into jobs: per destination, per message, split over up to N connections. */
  #plan(rows: ClaimedRecipient[]): void {
    const claimedAt = Date.now();
    const byRoute = new Map<string, Map<string, OutMessage>>();
    for (const r of rows) {
      const route = this.#o.smarthost ? "smarthost" : r.domain;
      let messages = byRoute.get(route);
      if (!messages) byRoute.set(route, messages = new Map());
      const key = `${r.submissionId}\0${hex(r.blobHash)}\0${r.mailFrom}\0${r.dsn.ret ?? ""}\0${r.dsn.envid ?? ""}` +
        `\0${!!r.dsn.requiretls}` +
        (this.#o.smarthost ? "" : `\0${r.domain}`);
      const m = messages.get(key);
      if (m) m.recipients.push(r);
      else messages.set(key, { hash: r.blobHash, recipients: [r] });
    }
    for (const [route, messages] of byRoute) {
      const list = [...messages.values()];
      const connections = Math.min(this.#o.connectionsPerDomain, Math.ceil(list.length / 5), list.length);
      for (let i = 0; i < connections; i++) {
        const part = list.filter((_, k) => k % connections === i);
        this.#pending.push({ route, domain: part[0]!.recipients[0]!.domain, messages: part, claimedAt });
      }
    }
  }

  /** Starts pending jobs while there are free connection slots. */
  #pump(): void {
    if (this.#stopped) return;
    for (let i = 0; i < this.#pending.length && this.#active < this.#o.concurrency;) {
      const job = this.#pending[i]!;
      if ((this.#perRoute.get(job.route) ?? 0) >= this.#o.connectionsPerDomain) {
        i++;
        continue;
      }
      this.#pending.splice(i, 1);
      this.#active++;
      this.#perRoute.set(job.route, (this.#perRoute.get(job.route) ?? 0) + 1);
      const p = this.#deliverJob(job)
        .catch((e) => log.error("delivery job failed", { error: e as Error, domain: job.domain }))
        .finally(() => {
          this.#active--;
          this.#perRoute.set(job.route, this.#perRoute.get(job.route)! - 1);
          this.#running.delete(p);
          this.wake();
        });
      this.#running.add(p);
    }
  }

  async #route(domain: string): Promise<Route> {
    const s = this.#o.smarthost;
    if (s) return { kind: "deliver", hosts: [{ name: s.host }], requireVerifiedTls: s.tls !== "none" };
    return await resolveRoute(domain, this.#o.resolver, this.#mtaSts);
  }

  /**
   * Delivers one job over one connection (reopened if it breaks), settling each message as soon as it is done —
   * so a crash repeats at most the message in flight.
   */
  async #deliverJob(job: Job): Promise<void> {
    try {
      await this.#deliverMessages(job);
    } catch (e) {
      // Whatever went wrong (a store error, a bug): the messages not yet recorded are given back, due now,
      // rather than sitting leased until the lease runs out.
      log.error("delivery job failed; its unrecorded messages are given back", {
        error: e as Error,
        domain: job.domain,
      });
      const open = job.messages.filter((m) => !m.done).flatMap((m) => m.recipients);
      await this.#o.store.queue.release(open).catch(() => {});
    }
  }

  async #deliverMessages(job: Job): Promise<void> {
    const route = await this.#route(job.domain);
    if (route.kind !== "deliver") {
      for (const m of job.messages) {
        await this.#settle(
          m.recipients.map((r): Outcome =>
            route.kind === "permanent"
              ? { r, m, kind: "bounced", status: route.status, reply: route.reason, reason: route.reason }
              : { r, m, kind: "deferred", status: "4.4.3", reply: route.reason, reason: route.reason }
          ),
        );
      }
      return;
    }
    let client: SmtpClient | undefined;
    let host: RouteHost | undefined;
    let failure: ConnectFailure = { text: "no mail server could be reached" };
    try {
      for (const [index, m] of job.messages.entries()) {
        if (!await this.#keepLease(job, index)) return;
        // RFC 8689 §4.2.1: REQUIRETLS also needs the MX hosts themselves verified — by MTA-STS here (DNSSEC is not
        // validated), or a configured smarthost. Without that the message must not go out: it bounces.
        if (m.recipients[0]!.dsn.requiretls && route.mtaSts !== "enforce" && !this.#o.smarthost) {
          const reason = `REQUIRETLS: the mail servers of ${job.domain} cannot be verified (no MTA-STS policy)`;
          await this.#settle(
            m.recipients.map((r): Outcome => ({ r, m, kind: "bounced", status: "5.7.10", reply: reason, reason })),
          );
          continue;
        }
        if (!client) {
          const c = await this.#connect(route, (f) => (failure = f));
          if (!c) {
            // Nobody answered: this message and the rest of the job wait for the next attempt.
            for (const rest of job.messages.slice(index)) {
              await this.#settle(rest.recipients.map((r) => deferredBy(failure, r, rest)));
            }
            return;
          }
          ({ client, host } = c);
          if (!await this.#keepLease(job, index)) return; // connecting took very long
        }
        const at = { host: host!.name, ip: client.remoteAddress, tls: client.tls };
        let outcomes: Outcome[];
        try {
          outcomes = await this.#send(client, m, at);
        } catch (e) {
          // The connection broke: this message is deferred; the next one gets a new connection.
          const text = e instanceof SmtpClientError ? e.message : String(e);
          outcomes = m.recipients.map((r) => ({
            r,
            m,
            kind: "deferred",
            status: "4.4.2",
            reply: text,
            reason: text,
            ...at,
          }));
          client.close();
          client = undefined;
        }
        // A 421 ends the session (the client has closed it): reconnect for the next message.
        if (client && outcomes.some((o) => o.remoteReply?.startsWith("421 "))) {
          client.close();
          client = undefined;
        }
        await this.#settle(outcomes);
      }
    } finally {
      await client?.quit();
    }
  }

  /**
   * Keeps the job's claim on messages `index…`: past half the lease (a connect or send that took very long, or
   * stopping) they are given back — another claim may have them already — and false is returned; past a quarter
   * the lease is renewed, so a long job is not claimed again meanwhile.
   */
  async #keepLease(job: Job, index: number): Promise<boolean> {
    const rest = job.messages.slice(index);
    const held = Date.now() - job.claimedAt;
    if (this.#stopped || held > this.#leaseMs / 2) {
      await this.#o.store.queue.release(rest.flatMap((x) => x.recipients));
      rest.forEach((x) => x.done = true);
      return false;
    }
    if (held > this.#leaseMs / 4) {
      await this.#o.store.queue.renew(rest.flatMap((x) => x.recipients), this.#leaseMs);
      job.claimedAt = Date.now();
    }
    return true;
  }

  /** The message's bytes, loaded on first use. */
  async #content(m: OutMessage): Promise<Uint8Array> {
    if (!m.content) {
      const found = (await this.#o.store.queue.contents([m.hash])).get(hex(m.hash));
      if (!found) throw new Error("queued content is missing"); // the queue rows reference it: cannot happen
      m.content = found;
    }
    return m.content;
  }

  /** Connects to the first host that answers, in route order. */
  async #connect(
    route: Extract<Route, { kind: "deliver" }>,
    onError: (failure: ConnectFailure) => void,
  ): Promise<{ client: SmtpClient; host: RouteHost } | undefined> {
    const s = this.#o.smarthost;
    for (const host of route.hosts) {
      let addresses: string[];
      try {
        addresses = await hostAddresses(host, this.#o.resolver);
      } catch (e) {
        onError({ text: (e as Error).message, host: host.name });
        continue;
      }
      if (!addresses.length) onError({ text: `${host.name} has no address`, host: host.name });
      for (const ip of addresses) {
        const base: ClientOptions = {
          host: ip,
          port: s ? s.port : this.#o.port,
          servername: host.name,
          helo: this.#o.hostname,
          tls: s ? s.tls : "starttls",
          requireTls: route.requireVerifiedTls,
          verifyCertificate: route.requireVerifiedTls,
          timeoutMs: this.#o.timeoutMs,
          ...(this.#o.sourceAddress ? { localAddress: this.#o.sourceAddress } : {}),
          ...(this.#o.ca?.length ? { ca: this.#o.ca } : {}),
          ...(s?.username ? { auth: { username: s.username, password: s.password ?? "" } } : {}),
        };
        try {
          return { client: await SmtpClient.connect(base), host };
        } catch (e) {
          onError(connectFailure(e, host.name, ip));
          // Opportunistic TLS that fails its handshake: like Postfix, try again in plain text (never when TLS
          // is required by MTA-STS or for a smarthost).
          if (e instanceof SmtpClientError && e.stage === "starttls" && !route.requireVerifiedTls && !s) {
            try {
              return { client: await SmtpClient.connect({ ...base, tls: "none" }), host };
            } catch (e2) {
              onError(connectFailure(e2, host.name, ip));
            }
          }
          log.info("connection failed", { host: host.name, ip, error: (e as Error).message });
        }
      }
    }
    return undefined;
  }

  /** One SMTP transaction: a message to its recipients at this destination. */
  async #send(
    client: SmtpClient,
    m: OutMessage,
    at: { host: string; ip: string; tls: SmtpClient["tls"] },
  ): Promise<Outcome[]> {
    const first = m.recipients[0]!;
    const content = await this.#content(m);
    // RFC 6531 §3.2: SMTPUTF8 is needed for UTF-8 addresses, and for UTF-8 headers of a message submitted as such
    // (a server without it must not get them; the message bounces rather than being mangled).
    const smtputf8 = [first.mailFrom, ...m.recipients.map((r) => r.recipient)].some((a) => /[^\x20-\x7e]/.test(a)) ||
      (!!first.dsn.smtputf8 && headerHas8Bit(content));
    let result;
    try {
      result = await client.send({
        mailFrom: first.mailFrom,
        recipients: m.recipients.map((r) => ({
          address: r.recipient,
          ...(r.dsn.notify ? { notify: r.dsn.notify } : {}),
          ...(r.dsn.orcpt ? { orcpt: r.dsn.orcpt } : {}),
        })),
        size: content.length,
        eightBit: content.some((b) => b > 127),
        smtputf8,
        ...(first.dsn.ret ? { ret: first.dsn.ret } : {}),
        ...(first.dsn.envid ? { envid: first.dsn.envid } : {}),
        ...(first.dsn.requiretls ? { requireTls: true } : {}),
      }, content);
    } catch (e) {
      // MAIL refused (or the message refused before it: SIZE, SMTPUTF8): the same answer for every recipient.
      // Anything else means the connection broke: the caller defers the message and reconnects.
      if (!(e instanceof SmtpClientError) || e.stage !== "mail") throw e;
      const reply = e.reply ?? { code: e.temporary ? 451 : 554, text: e.message };
      return m.recipients.map((r) => outcomeOf(r, m, reply, at));
    }
    return m.recipients.map((r, i) => {
      const rcpt = result.recipients[i]!;
      return outcomeOf(r, m, rcpt.code >= 300 || !result.data ? rcpt : result.data, at);
    });
  }

  /**
   * Retry times, expiry, DSNs, then one transaction for the queue and the delivery log (retried a few times: if it
   * still fails, the rows come back after their lease and are tried again).
   */
  async #settle(outcomes: Outcome[]): Promise<void> {
    const now = Date.now();
    const settled: AttemptResult[] = [];
    const notices: { kind: "failed" | "delayed"; m: OutMessage; list: Outcome[] }[] = [];
    const noticeFor = (kind: "failed" | "delayed", o: Outcome) => {
      let n = notices.find((x) => x.kind === kind && x.m === o.m);
      if (!n) notices.push(n = { kind, m: o.m, list: [] });
      n.list.push(o);
    };
    for (const o of outcomes) {
      const age = now - o.r.createdAt.getTime();
      if (o.kind === "deferred" && age >= this.#o.maxAgeMs) {
        o.kind = "expired";
        o.reason = `It could not be delivered for ${Math.round(age / 3_600_000)} hours. Last error: ${o.reason}`;
        o.status = o.status.replace(/^4/, "5");
      }
      const wantsFailure = !o.r.dsn.notify || o.r.dsn.notify.includes("FAILURE");
      const wantsDelay = !o.r.dsn.notify || o.r.dsn.notify.includes("DELAY");
      let delayNotified = false;
      if (o.r.mailFrom !== "") {
        if ((o.kind === "bounced" || o.kind === "expired") && wantsFailure) noticeFor("failed", o);
        if (o.kind === "deferred" && !o.r.delayNotified && age >= this.#o.delayWarningMs && wantsDelay) {
          noticeFor("delayed", o);
          delayNotified = true;
        }
      }
      const backoff = Math.min(this.#o.retryMaxMs, this.#o.retryMinMs * 2 ** Math.min(30, o.r.attempts - 1));
      settled.push({
        id: o.r.id,
        lease: o.r.lease,
        outcome: o.kind,
        ...(o.kind === "deferred"
          ? { nextAttemptAt: new Date(now + backoff * (0.9 + Math.random() * 0.2)), delayNotified }
          : {}),
        log: {
          submissionId: o.r.submissionId,
          mailFrom: o.r.mailFrom,
          recipient: o.r.recipient,
          mxHost: o.host ?? null,
          mxIp: o.ip ?? null,
          tls: o.tls ? { version: o.tls.version, cipher: o.tls.cipher } : null,
          reply: o.reply,
          attempt: o.r.attempts,
        },
      });
      log.info("delivery", {
        id: o.r.submissionId,
        rcpt: o.r.recipient,
        result: o.kind,
        mx: o.host,
        tls: o.tls?.version,
        reply: o.reply.slice(0, 200),
      });
    }
    for (const n of notices) {
      try {
        await this.#notify(n.kind, n.m, n.list);
      } catch (e) {
        // The recipients stay queued (as deferred) so the notice is tried again with them.
        log.error("cannot send delivery notice", { error: e as Error, to: n.m.recipients[0]!.mailFrom });
        for (const o of n.list) {
          const s = settled.find((x) => x.id === o.r.id)!;
          s.outcome = "deferred";
          s.nextAttemptAt = new Date(now + this.#o.retryMinMs);
          s.delayNotified = false;
        }
      }
    }
    for (const o of outcomes) {
      o.m.done = true;
      delete o.m.content; // recorded: the bytes are no longer needed
    }
    for (let attempt = 1;; attempt++) {
      try {
        return await this.#o.store.queue.settle(settled);
      } catch (e) {
        if (attempt === 4) {
          return log.error("cannot record delivery results; the rows are retried after their lease", {
            error: e as Error,
            rcpts: settled.length,
          });
        }
        await new Promise((r) => setTimeout(r, 500 * 2 ** attempt));
      }
    }
  }

  /**
   * DKIM-signs a notice that leaves (From: MAILER-DAEMON@hostname) with the keys of the host name's domain — the
   * host name itself or its nearest parent that is one of ours — so it passes DMARC at the receiver.
   */
  async #signNotice(raw: Uint8Array): Promise<Uint8Array> {
    const labels = this.#o.hostname.toLowerCase().split(".");
    try {
      for (let i = 0; i < labels.length - 1; i++) {
        const keys = await this.#o.store.dkim.signing(labels.slice(i).join("."));
        if (keys.length) return (await signMessage(raw, keys)).signed;
      }
    } catch (e) {
      log.error("cannot DKIM-sign a delivery notice; it goes unsigned", { error: e as Error });
    }
    return raw;
  }

  /** Builds a DSN and delivers it: into the sender's INBOX when local, else queued with the null sender. */
  async #notify(kind: "failed" | "delayed", m: OutMessage, list: Outcome[]): Promise<void> {
    const first = m.recipients[0]!;
    const sender = first.mailFrom;
    const recipients: DsnRecipient[] = list.map((o) => ({
      recipient: o.r.recipient,
      ...(o.r.dsn.orcpt ? { orcpt: o.r.dsn.orcpt } : {}),
      action: kind,
      status: o.status,
      ...(o.host ? { remoteMta: o.host } : {}),
      ...(o.remoteReply ? { diagnostic: o.remoteReply } : {}),
      reason: o.reason,
      lastAttempt: new Date(),
      ...(kind === "delayed" ? { willRetryUntil: new Date(o.r.createdAt.getTime() + this.#o.maxAgeMs) } : {}),
    }));
    // RFC 8689 §5: a notice about a REQUIRETLS message carries no content and keeps the requirement.
    const requireTls = !!first.dsn.requiretls;
    const raw = buildDsn({
      reportingMta: this.#o.hostname,
      postmaster: `MAILER-DAEMON@${this.#o.hostname}`,
      to: sender,
      arrivalDate: first.createdAt,
      ...(first.dsn.envid ? { envid: first.dsn.envid } : {}),
      recipients,
      original: await this.#content(m),
      ret: requireTls ? "HDRS" : first.dsn.ret ?? "FULL",
      messageIdDomain: this.#o.hostname,
    });
    const store = this.#o.store;
    // Forwarded mail has our SRS address as sender: the notice goes straight to the original sender behind it.
    const at = sender.lastIndexOf("@");
    const original =
      /^srs0=/i.test(sender) && await store.domains.idOf(sender.slice(at + 1).toLowerCase()) !== undefined
        ? this.#o.srs?.reverse(sender.slice(0, at))
        : undefined;
    const local = original ? undefined : await store.aliases.resolve(sender, { catchAll: false });
    const outgoing = local?.inboxIds.length ? undefined : await this.#signNotice(raw);
    const delivery: Delivery = !outgoing
      ? { raw, parsed: await parseMessage(raw), targets: local!.inboxIds.map((mailboxId) => ({ mailboxId })) }
      : {
        raw: outgoing,
        parsed: await parseMessage(outgoing),
        targets: [],
        queue: [{
          submissionId: `dsn.${first.submissionId}`,
          mailFrom: "",
          recipient: original ?? sender,
          ...(requireTls ? { dsn: { requiretls: true } } : {}),
        }],
      };
    await store.messages.deliverAll([delivery]);
    log.info("delivery notice sent", { kind, to: sender, local: !!local?.inboxIds.length, rcpts: list.length });
  }
}

/** What happened to one recipient in one attempt. */
interface Outcome {
  r: ClaimedRecipient;
  m: OutMessage;
  kind: "delivered" | "bounced" | "deferred" | "expired";
  status: string;
  /** For the delivery log: the remote reply, or our reason. */
  reply: string;
  /** For the DSN's human part. */
  reason: string;
  /** The remote server's reply verbatim, when there was one (DSN Diagnostic-Code). */
  remoteReply?: string;
  host?: string;
  ip?: string;
  tls?: SmtpClient["tls"];
}

/** Why no session came about: the last host's error, and its reply when it gave one (a 4xx/5xx greeting, AUTH). */
interface ConnectFailure {
  text: string;
  host?: string;
  ip?: string;
  reply?: Reply;
}

function connectFailure(e: unknown, host: string, ip: string): ConnectFailure {
  const message = (e as Error).message;
  // The client names the peer in its messages once a connection exists; a failed connect does not know the name.
  const text = e instanceof SmtpClientError && e.stage !== "connect" ? message : `${host}: ${message}`;
  return { text, host, ip, ...(e instanceof SmtpClientError && e.reply ? { reply: e.reply } : {}) };
}

/** A recipient deferred because no session could be had. */
function deferredBy(f: ConnectFailure, r: ClaimedRecipient, m: OutMessage): Outcome {
  return {
    r,
    m,
    kind: "deferred",
    // 4.4.1: no answer from host (RFC 3463); a reply's own code when there was one (kept temporary).
    status: f.reply ? statusFromReply(f.reply.code, f.reply.enhanced).replace(/^5/, "4") : "4.4.1",
    reply: f.text,
    reason: f.text,
    ...(f.reply ? { remoteReply: replyText(f.reply) } : {}),
    ...(f.host ? { host: f.host } : {}),
    ...(f.ip ? { ip: f.ip } : {}),
  };
}

/** True when the header section has a byte above 127. */
function headerHas8Bit(message: Uint8Array): boolean {
  for (let i = 0; i < message.length; i++) {
    const b = message[i]!;
    if (b > 127) return true;
    if (b === 10 && (message[i + 1] === 10 || (message[i + 1] === 13 && message[i + 2] === 10))) return false;
  }
  return false;
}

function replyText(reply: Reply): string {
  return `${reply.code} ${reply.enhanced ? reply.enhanced + " " : ""}${reply.text}`;
}

function outcomeOf(
  r: ClaimedRecipient,
  m: OutMessage,
  reply: Reply,
  at: { host: string; ip: string; tls: SmtpClient["tls"] },
): Outcome {
  const text = replyText(reply);
  const kind = reply.code < 300 ? "delivered" : reply.code >= 500 ? "bounced" : "deferred";
  return {
    r,
    m,
    kind,
    status: statusFromReply(reply.code, reply.enhanced),
    reply: text,
    reason: kind === "bounced"
      ? `The mail server ${at.host} refused it permanently.`
      : `The mail server ${at.host} asked to try again later.`,
    remoteReply: text,
    host: at.host,
    ip: at.ip,
    tls: at.tls,
  };
}
