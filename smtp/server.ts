/**
 * @module
 * The SMTP listeners: MX (25), submission (587, STARTTLS) and submissions (465, implicit TLS). Each accepted
 * connection becomes an {@linkcode SmtpSession}; connections are bounded per client IP and in total. `close()`
 * stops accepting, lets sessions finish their current transaction, then says 421 to the rest.
 */
import { createServer as createTcpServer, type Server, type Socket } from "node:net";
import { createServer as createTlsServer, type TLSSocket } from "node:tls";
import { logger } from "../log.ts";
import type { Store } from "../store/mod.ts";
import type { TlsContext } from "../tls/mod.ts";
import { TLS_MIN_VERSION } from "../tls/mod.ts";
import { AuthThrottle } from "../spam/auth_throttle.ts";
import { Connection, tlsInfo } from "./connection.ts";
import { type ListenerKind, SmtpDelivery } from "./deliver.ts";
import { SmtpSession, type SmtpSessionLimits } from "./session.ts";

/** Settings of the SMTP service. */
export interface SmtpServerOptions {
  hostname: string;
  store: Store;
  tls: TlsContext;
  limits: SmtpSessionLimits;
  /** Connections per client IP (all SMTP listeners together). */
  maxConnectionsPerIp?: number;
  /** Connections in total. */
  maxConnections?: number;
  /** Development only: AUTH without TLS from loopback. */
  allowPlaintextAuthOnLoopback?: boolean;
  /** Failed-AUTH throttling (defaults: spam/auth_throttle.ts). Share one with IMAP to count failures together. */
  authThrottle?: AuthThrottle;
}

const log = logger("smtp");

/** The SMTP service: several listeners sharing limits, throttles and the store. */
export class SmtpServer {
  readonly #o: SmtpServerOptions;
  readonly #servers: Server[] = [];
  readonly #sessions = new Set<SmtpSession>();
  readonly #perIp = new Map<string, number>();
  readonly #delivery: SmtpDelivery;
  readonly #throttle: AuthThrottle;
  #nextId = 0;
  #closing = false;

  constructor(options: SmtpServerOptions) {
    this.#o = options;
    this.#delivery = new SmtpDelivery(options.store, options.hostname);
    this.#throttle = options.authThrottle ?? new AuthThrottle();
  }

  /** Starts a listener; resolves to the bound port. */
  listen(kind: ListenerKind, address: string, port: number): Promise<number> {
    const onSocket = (socket: Socket, secure: boolean) => this.#accept(kind, socket, secure);
    const server = kind === "submissions"
      ? createTlsServer(
        { SNICallback: (_name, cb) => cb(null, this.#o.tls.current), minVersion: TLS_MIN_VERSION },
        (s: TLSSocket) => onSocket(s, true),
      )
      : createTcpServer((s) => onSocket(s, false));
    server.on("error", (e) => log.error("listener error", { kind, error: e }));
    if (kind === "submissions") {
      // A TLS handshake that fails never becomes a session; say so in the log.
      server.on(
        "tlsClientError",
        (e: Error, s: TLSSocket) => log.info("TLS handshake failed", { kind, ip: s.remoteAddress, error: e.message }),
      );
    }
    this.#servers.push(server);
    return new Promise((resolve, reject) => {
      server.once("error", reject);
      server.listen({ host: address, port }, () => {
        const bound = server.address();
        resolve(typeof bound === "object" && bound ? bound.port : port);
      });
    });
  }

  #accept(kind: ListenerKind, socket: Socket, secure: boolean): void {
    socket.setNoDelay(true);
    const conn = new Connection(socket, secure ? tlsInfo(socket as TLSSocket) : null);
    const ip = conn.remoteAddress;
    const id = `${Date.now().toString(36)}${(this.#nextId++).toString(36)}`;
    const perIp = (this.#perIp.get(ip) ?? 0) + 1;
    const limitIp = this.#o.maxConnectionsPerIp ?? 20;
    const limitAll = this.#o.maxConnections ?? 1000;
    if (this.#closing || perIp > limitIp || this.#sessions.size >= limitAll) {
      const why = this.#closing
        ? "shutting down"
        : perIp > limitIp
        ? "too many connections from this IP"
        : "too many connections";
      log.warn("connection refused", { cid: id, kind, ip, reason: why });
      conn.write(
        `421 4.7.0 ${this.#o.hostname} ${
          this.#closing ? "Service shutting down" : "Too many connections, try again later"
        }\r\n`,
      )
        .then(() => conn.close());
      return;
    }
    this.#perIp.set(ip, perIp);
    const session = new SmtpSession(conn, {
      id,
      kind,
      hostname: this.#o.hostname,
      delivery: this.#delivery,
      store: this.#o.store,
      tls: this.#o.tls,
      limits: this.#o.limits,
      throttle: this.#throttle,
      allowPlaintextAuth: !!this.#o.allowPlaintextAuthOnLoopback && isLoopback(ip),
      log: log.with({ cid: id, kind }),
    });
    this.#sessions.add(session);
    session.run().finally(() => {
      this.#sessions.delete(session);
      const n = (this.#perIp.get(ip) ?? 1) - 1;
      if (n <= 0) this.#perIp.delete(ip);
      else this.#perIp.set(ip, n);
    });
  }

  /** Stops accepting; sessions finish their transaction (up to `graceMs`), the rest get 421. */
  async close(graceMs = 10_000): Promise<void> {
    this.#closing = true;
    for (const s of this.#servers) s.close(); // stop accepting; the callback would wait for every session
    const deadline = Date.now() + graceMs;
    for (const s of this.#sessions) s.shutdown();
    while (this.#sessions.size && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    for (const s of this.#sessions) s.abort();
  }
}

function isLoopback(ip: string): boolean {
  return ip === "::1" || ip.startsWith("127.");
}
