/**
 * @module
 * Listeners shared by SMTP and IMAP: plain TCP (STARTTLS later) or implicit TLS, connections bounded per client
 * IP and in total, each connection handed to a session. `close()` stops accepting, asks sessions to finish,
 * and drops the ones still there after a grace period.
 */
import { createServer as createTcpServer, type Server, type Socket } from "node:net";
import { createServer as createTlsServer, type TLSSocket } from "node:tls";
import type { Logger } from "../log.ts";
import { TLS_MIN_VERSION, type TlsContext } from "../tls/mod.ts";
import { Connection, tlsInfo } from "./connection.ts";

/** What a service runs per connection. */
export interface Session {
  run(): Promise<void>;
  /** Finish soon (an idle session says goodbye now). */
  shutdown(): void;
  /** Drop the connection now. */
  abort(): void;
}

/** Options of a {@linkcode ConnectionService}. */
export interface ServiceOptions<K extends string> {
  tls: TlsContext;
  log: Logger;
  /** Connections per client IP, all listeners of the service together. */
  maxConnectionsPerIp: number;
  /** Connections in total. */
  maxConnections: number;
  /** Writes the protocol's "too many connections" / "shutting down" greeting to a refused connection. */
  refuse(conn: Connection, reason: "busy" | "closing"): Promise<void>;
  /** Makes the session of an accepted connection. */
  session(conn: Connection, kind: K, id: string): Session;
}

/**
 * Slots per key, at most `max` each: connections per client IP, logged-in IMAP sessions per account. Counted per
 * process.
 */
export class SlotCounter<K> {
  readonly max: number;
  readonly #taken = new Map<K, number>();

  constructor(max: number) {
    this.max = max;
  }

  /** Takes a slot for `key`: the function that gives it back (once), or null when `key` has `max` already. */
  take(key: K): (() => void) | null {
    const n = this.#taken.get(key) ?? 0;
    if (n >= this.max) return null;
    this.#taken.set(key, n + 1);
    let held = true;
    return () => {
      if (!held) return;
      held = false;
      const left = (this.#taken.get(key) ?? 1) - 1;
      if (left > 0) this.#taken.set(key, left);
      else this.#taken.delete(key);
    };
  }
}

/** A set of listeners with shared limits. */
export class ConnectionService<K extends string> {
  readonly #o: ServiceOptions<K>;
  readonly #servers: Server[] = [];
  readonly #sessions = new Set<Session>();
  readonly #perIp: SlotCounter<string>;
  #nextId = 0;
  /** Random per process: session ids stay unique across instances and restarts. */
  readonly #instance = Array.from(crypto.getRandomValues(new Uint8Array(3)), (b) => b.toString(36).padStart(2, "0"))
    .join("");
  #closing = false;

  constructor(options: ServiceOptions<K>) {
    this.#o = options;
    this.#perIp = new SlotCounter(options.maxConnectionsPerIp);
  }

  /** Open connections. */
  get size(): number {
    return this.#sessions.size;
  }

  /** Starts a listener (`implicitTls` for 465/993); resolves to the bound port. */
  listen(kind: K, address: string, port: number, implicitTls: boolean): Promise<number> {
    const server = implicitTls
      ? createTlsServer(
        { SNICallback: (_name, cb) => cb(null, this.#o.tls.current), minVersion: TLS_MIN_VERSION },
        (s: TLSSocket) => this.#accept(kind, s, true),
      )
      : createTcpServer((s) => this.#accept(kind, s, false));
    if (implicitTls) {
      server.on(
        "tlsClientError",
        (e: Error, s: TLSSocket) =>
          this.#o.log.info("TLS handshake failed", { kind, ip: s.remoteAddress, error: e.message }),
      );
    }
    this.#servers.push(server);
    return new Promise((resolve, reject) => {
      server.once("error", reject);
      server.listen({ host: address, port }, () => {
        server.off("error", reject);
        server.on("error", (e) => this.#o.log.error("listener error", { kind, error: e }));
        const bound = server.address();
        resolve(typeof bound === "object" && bound ? bound.port : port);
      });
    });
  }

  #accept(kind: K, socket: Socket, secure: boolean): void {
    socket.setNoDelay(true);
    socket.on("error", () => {}); // reported through the session's reads
    const conn = new Connection(socket, secure ? tlsInfo(socket as TLSSocket) : null);
    const ip = conn.remoteAddress;
    // Unique across instances sharing a database (it names queued submissions): time, randomness, a counter.
    const id = `${Date.now().toString(36)}${this.#instance}${(this.#nextId++).toString(36)}`;
    const leave = this.#closing ? null : this.#perIp.take(ip);
    if (!leave || this.#sessions.size >= this.#o.maxConnections) {
      leave?.();
      const reason = this.#closing ? "shutting down" : leave ? "too many" : "too many from this IP";
      this.#o.log.warn("connection refused", { cid: id, kind, ip, reason });
      this.#o.refuse(conn, this.#closing ? "closing" : "busy").catch(() => {}).finally(() => conn.close());
      return;
    }
    const session = this.#o.session(conn, kind, id);
    this.#sessions.add(session);
    session.run().finally(() => {
      this.#sessions.delete(session);
      leave();
    });
  }

  /** Stops accepting; sessions finish (up to `graceMs`), then the rest are dropped. */
  async close(graceMs = 10_000): Promise<void> {
    this.#closing = true;
    for (const s of this.#servers) s.close(); // its callback would wait for every connection
    for (const s of this.#sessions) s.shutdown();
    const deadline = Date.now() + graceMs;
    while (this.#sessions.size && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    for (const s of this.#sessions) s.abort();
  }
}
