/**
 * @module
 * A client connection over node:net / node:tls, read with a pull API (`read()` → next chunk) so a session is
 * written as straight-line code. Backpressure: the socket is paused while unread data exceeds a bound.
 * STARTTLS follows PLATFORM.md: wrap the raw socket synchronously right after the "220 Ready" is written, call
 * `_start()` (Deno does not start the server handshake by itself), and drop anything read before the handshake.
 */
import type { Socket } from "node:net";
import { type SecureContext, TLSSocket } from "node:tls";

/** What a session knows about the TLS layer. */
export interface TlsInfo {
  version: string;
  cipher: string;
}

const MAX_UNREAD = 256 * 1024;

/** One client connection. */
export class Connection {
  #socket: Socket;
  #chunks: Uint8Array[] = [];
  #unread = 0;
  #waiting: ((chunk: Uint8Array | null) => void) | undefined;
  #timedOut: ((e: Error) => void) | undefined;
  #deadline = Infinity;
  #timerAt = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #ended = false;
  #tls: TlsInfo | null;
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly localPort: number;

  constructor(socket: Socket, tls: TlsInfo | null = null) {
    this.#socket = socket;
    this.#tls = tls;
    this.remoteAddress = normalizeIp(socket.remoteAddress ?? "");
    this.remotePort = socket.remotePort ?? 0;
    this.localPort = socket.localPort ?? 0;
    this.#attach(socket);
  }

  #attach(socket: Socket): void {
    socket.on("data", (data: Uint8Array) => this.#push(data));
    socket.on("end", () => this.#finish());
    socket.on("close", () => this.#finish());
    socket.on("error", () => this.#finish());
  }

  #push(data: Uint8Array): void {
    if (this.#waiting) {
      const w = this.#waiting;
      this.#waiting = undefined;
      w(data);
      return;
    }
    this.#chunks.push(data);
    this.#unread += data.length;
    if (this.#unread > MAX_UNREAD) this.#socket.pause();
  }

  #finish(): void {
    this.#ended = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#waiting) {
      const w = this.#waiting;
      this.#waiting = undefined;
      w(null);
    }
  }

  /** The TLS version and cipher, or null on a plaintext connection. */
  get tls(): TlsInfo | null {
    return this.#tls;
  }

  /** The next chunk from the client, or null when it has gone. Rejects on timeout (ms) with TimeoutError. */
  read(timeoutMs?: number): Promise<Uint8Array | null> {
    const next = this.#chunks.shift();
    if (next) {
      this.#unread -= next.length;
      if (this.#unread <= MAX_UNREAD / 2) this.#socket.resume();
      return Promise.resolve(next);
    }
    if (this.#ended) return Promise.resolve(null);
    return new Promise((resolve, reject) => {
      this.#waiting = resolve;
      this.#timedOut = reject;
      this.#armDeadline(timeoutMs);
    });
  }

  /**
   * Read timeouts cost one timer per connection, not one per read: each read only moves the deadline, and the
   * timer, when it fires early, re-arms itself for what is left (a busy session reads thousands of times within
   * one timeout period).
   */
  #armDeadline(timeoutMs: number | undefined): void {
    this.#deadline = timeoutMs === undefined ? Infinity : Date.now() + timeoutMs;
    if (this.#timer !== undefined && this.#timerAt <= this.#deadline) return; // fires in time; re-arms if early
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (timeoutMs === undefined) return;
    this.#timerAt = this.#deadline;
    this.#timer = setTimeout(() => this.#checkDeadline(), timeoutMs);
  }

  #checkDeadline(): void {
    this.#timer = undefined;
    if (!this.#waiting || this.#ended || this.#deadline === Infinity) return; // the next read arms a new timer
    const left = this.#deadline - Date.now();
    if (left > 0) {
      this.#timerAt = this.#deadline;
      this.#timer = setTimeout(() => this.#checkDeadline(), left);
      return;
    }
    const reject = this.#timedOut!;
    this.#waiting = undefined;
    this.#timedOut = undefined;
    reject(new TimeoutError());
  }

  /** Writes and waits until the data is handed to the OS (backpressure). */
  write(data: string | Uint8Array): Promise<void> {
    const socket = this.#socket;
    if (socket.destroyed || socket.write(data)) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        socket.off("drain", done);
        socket.off("close", done);
        resolve();
      };
      socket.once("drain", done);
      socket.once("close", done);
    });
  }

  /**
   * Writes `reply` and switches to TLS (RFC 3207 §4.2): bytes the client sent before the handshake are
   * discarded. Resolves when the handshake is done; rejects when it fails.
   */
  startTls(reply: string, context: SecureContext, timeoutMs = 30_000): Promise<void> {
    this.#socket.write(reply);
    this.#chunks = []; // pipelined plaintext after STARTTLS: never processed
    this.#unread = 0;
    const raw = this.#socket;
    raw.removeAllListeners("data");
    raw.removeAllListeners("end");
    raw.removeAllListeners("close");
    raw.removeAllListeners("error");
    raw.on("error", () => {}); // reported below through the TLS socket or the timeout
    const secure = new TLSSocket(raw, { isServer: true, secureContext: context });
    // deno-lint-ignore no-explicit-any
    (secure as any)._start?.();
    this.#socket = secure;
    return new Promise((resolve, reject) => {
      let settled = false;
      const fail = (e: Error) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.#finish();
        secure.destroy();
        reject(e);
      };
      // A client that goes quiet, hangs up or resets during the handshake must not hold the slot forever.
      const timer = setTimeout(() => fail(new TimeoutError("TLS handshake timed out")), timeoutMs);
      secure.once("secure", () => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.#tls = tlsInfo(secure);
        this.#attach(secure);
        resolve();
      });
      secure.once("error", (e) => fail(e));
      secure.once("close", () => fail(new Error("connection closed during the TLS handshake")));
      secure.once("end", () => fail(new Error("connection ended during the TLS handshake")));
      raw.once("close", () => fail(new Error("connection closed during the TLS handshake")));
    });
  }

  /** Ends the connection after pending writes. */
  close(): void {
    this.#socket.end();
    setTimeout(() => this.#socket.destroy(), 2000).unref?.();
  }

  /** Drops the connection at once. */
  destroy(): void {
    this.#socket.destroy();
  }
}

/** The TLS details of a secured socket. */
export function tlsInfo(socket: TLSSocket): TlsInfo {
  return {
    version: socket.getProtocol() ?? "TLS",
    cipher: socket.getCipher()?.standardName ?? socket.getCipher()?.name ?? "",
  };
}

/** A read timed out. */
export class TimeoutError extends Error {
  override name = "TimeoutError";
}

/** `::ffff:1.2.3.4` → `1.2.3.4`. */
export function normalizeIp(ip: string): string {
  return ip.startsWith("::ffff:") && ip.includes(".") ? ip.slice(7) : ip;
}
