/**
 * @module
 * The IMAP listeners: 143 (STARTTLS, LOGINDISABLED before TLS) and 993 (implicit TLS), with connection limits
 * per client IP and in total, and logged-in sessions per account (net/service.ts).
 */
import { logger } from "../log.ts";
import { ConnectionService, SlotCounter } from "../net/service.ts";
import { isLoopback } from "../smtp/server.ts";
import { AuthThrottle } from "../spam/auth_throttle.ts";
import type { Store } from "../store/mod.ts";
import type { TlsContext } from "../tls/mod.ts";
import { replyLine } from "./protocol/mod.ts";
import { ImapSession, type ImapSessionLimits } from "./session.ts";

/** The two IMAP listeners. */
export type ImapListenerKind = "imap" | "imaps";

/** Settings of the IMAP service. */
export interface ImapServerOptions {
  hostname: string;
  store: Store;
  tls: TlsContext;
  limits: ImapSessionLimits;
  /** Connections per client IP; default 50 (a phone, a laptop and a desktop each open several). */
  maxConnectionsPerIp?: number;
  /** Connections in total; default 20,000. */
  maxConnections?: number;
  /** Logged-in sessions per account; default 100 (several devices, each with a few connections). */
  maxConnectionsPerAccount?: number;
  /** Development only: LOGIN without TLS from loopback. */
  allowPlaintextAuthOnLoopback?: boolean;
  /** Failed-login throttling, shared with SMTP AUTH. */
  authThrottle?: AuthThrottle;
}

const log = logger("imap");

/** The IMAP service. */
export class ImapServer {
  readonly #service: ConnectionService<ImapListenerKind>;

  constructor(o: ImapServerOptions) {
    const throttle = o.authThrottle ?? new AuthThrottle();
    // One account cannot take everyone's slots: a stolen password used from many addresses (which the per-IP
    // limit does not catch), a client stuck reconnecting.
    const accountSessions = new SlotCounter<number>(o.maxConnectionsPerAccount ?? 100);
    this.#service = new ConnectionService<ImapListenerKind>({
      tls: o.tls,
      log,
      maxConnectionsPerIp: o.maxConnectionsPerIp ?? 50,
      maxConnections: o.maxConnections ?? 20_000,
      refuse: (conn, reason) =>
        conn.write(replyLine(null, reason === "closing" ? "SHUTTING_DOWN" : "TOO_MANY_CONNECTIONS")),
      session: (conn, kind, id) =>
        new ImapSession(conn, {
          id,
          hostname: o.hostname,
          store: o.store,
          tls: o.tls,
          throttle,
          accountSessions,
          limits: o.limits,
          allowPlaintextAuth: !!o.allowPlaintextAuthOnLoopback && isLoopback(conn.remoteAddress),
          log: log.with({ cid: id, kind }),
        }),
    });
  }

  /** Starts a listener; resolves to the bound port. */
  listen(kind: ImapListenerKind, address: string, port: number): Promise<number> {
    return this.#service.listen(kind, address, port, kind === "imaps");
  }

  /** Stops accepting; idle sessions get `* BYE`, the rest finish their command (up to `graceMs`). */
  close(graceMs = 10_000): Promise<void> {
    return this.#service.close(graceMs);
  }
}
