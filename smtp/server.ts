/**
 * @module
 * The SMTP listeners: MX (25), submission (587, STARTTLS) and submissions (465, implicit TLS), sharing
 * connection limits (net/service.ts), the failed-AUTH throttle and the store.
 */
import { logger } from "../log.ts";
import { ConnectionService } from "../net/service.ts";
import { AuthThrottle } from "../spam/auth_throttle.ts";
import type { Store } from "../store/mod.ts";
import type { TlsContext } from "../tls/mod.ts";
import { type DeliveryOptions, type ListenerKind, SmtpDelivery } from "./deliver.ts";
import { SmtpSession, type SmtpSessionLimits } from "./session.ts";

/** Settings of the SMTP service. */
export interface SmtpServerOptions {
  hostname: string;
  store: Store;
  tls: TlsContext;
  limits: SmtpSessionLimits;
  /** Connections per client IP (all SMTP listeners together); default 20. */
  maxConnectionsPerIp?: number;
  /** Connections in total; default 1000. */
  maxConnections?: number;
  /** Development only: AUTH without TLS from loopback. */
  allowPlaintextAuthOnLoopback?: boolean;
  /** Failed-AUTH throttling (defaults: spam/auth_throttle.ts). Share one with IMAP to count failures together. */
  authThrottle?: AuthThrottle;
  /** Mail authentication, DKIM signing and the worker wake-up (smtp/deliver.ts). */
  delivery?: DeliveryOptions;
}

const log = logger("smtp");

/** The SMTP service. */
export class SmtpServer {
  readonly #service: ConnectionService<ListenerKind>;

  constructor(o: SmtpServerOptions) {
    const delivery = new SmtpDelivery(o.store, o.hostname, o.delivery);
    const throttle = o.authThrottle ?? new AuthThrottle();
    this.#service = new ConnectionService<ListenerKind>({
      tls: o.tls,
      log,
      maxConnectionsPerIp: o.maxConnectionsPerIp ?? 20,
      maxConnections: o.maxConnections ?? 1000,
      refuse: (conn, reason) =>
        conn.write(
          reason === "closing"
            ? `421 4.3.2 ${o.hostname} Service shutting down\r\n`
            : `421 4.7.0 ${o.hostname} Too many connections, try again later\r\n`,
        ),
      session: (conn, kind, id) =>
        new SmtpSession(conn, {
          id,
          kind,
          hostname: o.hostname,
          delivery,
          store: o.store,
          tls: o.tls,
          limits: o.limits,
          throttle,
          allowPlaintextAuth: !!o.allowPlaintextAuthOnLoopback && isLoopback(conn.remoteAddress),
          log: log.with({ cid: id, kind }),
        }),
    });
  }

  /** Starts a listener; resolves to the bound port. */
  listen(kind: ListenerKind, address: string, port: number): Promise<number> {
    return this.#service.listen(kind, address, port, kind === "submissions");
  }

  /** Stops accepting; sessions finish their transaction (up to `graceMs`), the rest get 421. */
  close(graceMs = 10_000): Promise<void> {
    return this.#service.close(graceMs);
  }
}

/** True for 127.0.0.0/8 and ::1. */
export function isLoopback(ip: string): boolean {
  return ip === "::1" || ip.startsWith("127.");
}
