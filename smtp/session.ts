/**
 * @module
 * The SMTP connection state machine: greeting, then one command at a time (pipelined commands are read in order)
 * dispatched to `commands/<verb>.ts`. Handlers throw {@linkcode SmtpReply} for refusals; the loop catches them
 * once, counts errors, and turns anything unexpected into `451 4.3.0` with the details only in the log.
 */
import type { Logger } from "../log.ts";
import type { Store } from "../store/mod.ts";
import type { AuthThrottle } from "../spam/auth_throttle.ts";
import type { TlsContext } from "../tls/mod.ts";
import { type Connection, TimeoutError } from "../net/connection.ts";
import type { AcceptedRecipient, ListenerKind, SmtpDelivery } from "./deliver.ts";
import {
  type BdatReader,
  CommandSyntaxError,
  formatReply,
  LineReader,
  type MailParams,
  parseCommand,
  redactAuthLine,
  reply,
  SmtpReply,
} from "./protocol/mod.ts";
import { HANDLERS } from "./commands/mod.ts";

/** Bounds of one session (DESIGN rule 7). */
export interface SmtpSessionLimits {
  /** Largest message, octets (EHLO SIZE). */
  maxMessageSize: number;
  /** Recipients per transaction. */
  maxRecipients: number;
  /** 5xx/4xx replies to commands before `421` and close. */
  maxErrors: number;
  /** Commands per session before `421`. */
  maxCommands: number;
  /** Waiting for a command (RFC 5321 §4.5.3.2.7: 5 minutes). */
  commandTimeoutMs: number;
  /** Waiting for the next DATA/BDAT block (RFC 5321 §4.5.3.2.5: 3 minutes). */
  dataTimeoutMs: number;
  /** Whole session. */
  sessionTimeoutMs: number;
}

/** Default limits, like Postfix's. */
export const DEFAULT_LIMITS: SmtpSessionLimits = {
  maxMessageSize: 35 * 1024 * 1024,
  maxRecipients: 100,
  maxErrors: 20,
  maxCommands: 10_000,
  commandTimeoutMs: 300_000,
  dataTimeoutMs: 180_000,
  sessionTimeoutMs: 3_600_000,
};

/** What a session needs from the server. */
export interface SessionOptions {
  id: string;
  kind: ListenerKind;
  hostname: string;
  delivery: SmtpDelivery;
  store: Store;
  tls: TlsContext;
  limits: SmtpSessionLimits;
  throttle: AuthThrottle;
  /** Development switch: AUTH without TLS (loopback only; decided by the server). */
  allowPlaintextAuth: boolean;
  log: Logger;
}

/** An open mail transaction (after MAIL FROM). */
export interface MailTransaction {
  /** Reverse-path, "" for `<>`. */
  mailFrom: string;
  params: MailParams;
  recipients: AcceptedRecipient[];
  /** BDAT in progress. */
  bdat?: BdatReader;
  /** The message as received so far (BDAT chunks). */
  chunks: Uint8Array[];
  /** DATA was used (no BDAT may follow) or BDAT was (no DATA). */
  mode?: "data" | "bdat";
}

/** The mutable state handlers read and change. */
export interface SessionState {
  /** EHLO/HELO argument; null before it, and again after STARTTLS (RFC 3207 §4.2). */
  helo: string | null;
  esmtp: boolean;
  account: { id: number; address: string } | null;
  tx: MailTransaction | null;
  /** Messages accepted in this session (for the log). */
  accepted: number;
}

/** A session as handlers see it. */
export interface SmtpContext {
  readonly o: SessionOptions;
  readonly conn: Connection;
  readonly lines: LineReader;
  readonly state: SessionState;
  /** Queues a reply (written before the session next waits for the client). */
  send(r: SmtpReply): Promise<void>;
  /** Writes queued replies now. */
  flush(): Promise<void>;
  /** The next command-level line (AUTH continuations), or null when the client went away. */
  readLine(): Promise<string | null>;
  /** The next chunk of raw bytes (DATA/BDAT), or null when the client went away. */
  readBytes(): Promise<Uint8Array | null>;
  /** Ends the session after the current reply. */
  end(): void;
}

/** One SMTP connection. */
export class SmtpSession implements SmtpContext {
  readonly o: SessionOptions;
  readonly conn: Connection;
  readonly lines = new LineReader();
  readonly state: SessionState = { helo: null, esmtp: false, account: null, tx: null, accepted: 0 };
  #ended = false;
  #closing = false;
  #out = "";
  #wake: (() => void) | undefined;
  #started = Date.now();

  constructor(conn: Connection, options: SessionOptions) {
    this.conn = conn;
    this.o = options;
  }

  /**
   * Queues a reply. Replies are written when the session is about to wait for the client (RFC 2920 §3.1: the
   * replies to a pipelined group may go out together), so pipelined commands cost one write, not one each.
   */
  send(r: SmtpReply): Promise<void> {
    const text = formatReply(r);
    if (this.o.log.enabled("trace")) this.o.log.trace("S", { line: text.trimEnd() });
    this.#out += text;
    return Promise.resolve();
  }

  /** Writes the queued replies. */
  async flush(): Promise<void> {
    if (!this.#out) return;
    const out = this.#out;
    this.#out = "";
    await this.conn.write(out);
  }

  end(): void {
    this.#ended = true;
  }

  /** Asks the session to finish: an idle session gets `421` now, a busy one after its current command. */
  shutdown(): void {
    this.#closing = true;
    this.#wake?.();
  }

  /** Drops the connection. */
  abort(): void {
    this.#ended = true;
    this.conn.destroy();
  }

  async readBytes(): Promise<Uint8Array | null> {
    await this.flush();
    // The per-block timeout, but never past the session's deadline (a client dripping a byte at a time).
    const remaining = this.#started + this.o.limits.sessionTimeoutMs - Date.now();
    return await this.conn.read(Math.max(1, Math.min(this.o.limits.dataTimeoutMs, remaining)));
  }

  async readLine(): Promise<string | null> {
    for (;;) {
      const ev = this.lines.next();
      if (ev) {
        if (ev.kind === "too-long") throw reply("AUTH_LINE_TOO_LONG");
        return ev.text;
      }
      await this.flush();
      const chunk = await this.conn.read(this.o.limits.commandTimeoutMs);
      if (!chunk) return null;
      this.lines.push(chunk);
    }
  }

  /** The next command event, null when the client has gone, "closing" on shutdown. */
  async #nextEvent(): Promise<ReturnType<LineReader["next"]> | "closing"> {
    for (;;) {
      const ev = this.lines.next();
      if (ev) return ev;
      if (this.#closing) return "closing";
      await this.flush();
      const closing = new Promise<"closing">((r) => this.#wake = () => r("closing"));
      const remaining = this.#started + this.o.limits.sessionTimeoutMs - Date.now();
      const chunk = await Promise.race([
        this.conn.read(Math.max(1, Math.min(this.o.limits.commandTimeoutMs, remaining))),
        closing,
      ]);
      this.#wake = undefined;
      if (chunk === "closing") return "closing";
      if (!chunk) return null;
      this.lines.push(chunk);
    }
  }

  /** Runs the session to its end. Never throws. */
  async run(): Promise<void> {
    const log = this.o.log;
    log.info("connect", { ip: this.conn.remoteAddress, tls: this.conn.tls?.version ?? null });
    let errors = 0;
    let commands = 0;
    try {
      await this.send(reply("GREETING", `${this.o.hostname} ESMTP Silvermail`));
      while (!this.#ended) {
        const ev = await this.#nextEvent();
        if (ev === null) {
          log.info("client disconnected", { in_transaction: this.state.tx !== null });
          break;
        }
        if (ev === "closing") {
          await this.send(reply("SHUTTING_DOWN"));
          break;
        }
        let r: SmtpReply | undefined;
        if (++commands > this.o.limits.maxCommands) {
          await this.send(reply("TOO_MANY_COMMANDS"));
          log.warn("too many commands");
          break;
        }
        if (ev.kind === "too-long") {
          r = reply("LINE_TOO_LONG");
          log.info("command line too long");
        } else {
          if (log.enabled("trace")) log.trace("C", { line: redactAuthLine(ev.text) });
          try {
            const cmd = parseCommand(ev.text);
            await HANDLERS[cmd.verb](this, cmd as never);
          } catch (e) {
            if (e instanceof CommandSyntaxError) {
              log.info("syntax error", { verb: e.verb, reply: e.code });
              r = e;
            } else if (e instanceof SmtpReply) r = e;
            else if (e instanceof TimeoutError) throw e;
            else {
              log.error("command failed", { error: e as Error });
              r = reply("TEMP_FAILURE");
            }
          }
        }
        if (r) {
          if (r.code >= 400) errors++;
          if (errors >= this.o.limits.maxErrors && !r.closesConnection) {
            await this.send(r);
            r = reply("TOO_MANY_ERRORS");
            log.warn("too many errors", { errors });
          }
          await this.send(r);
          if (r.closesConnection) break;
        }
        if (this.#closing && !this.#ended && this.state.tx === null) {
          await this.send(reply("SHUTTING_DOWN"));
          break;
        }
      }
    } catch (e) {
      if (e instanceof TimeoutError) {
        log.info("timeout", { in_transaction: this.state.tx !== null });
        await this.send(reply("TIMEOUT")).catch(() => {});
      } else log.error("session failed", { error: e as Error });
    } finally {
      await this.flush().catch(() => {});
      this.conn.close();
      log.info("disconnect", { accepted: this.state.accepted, seconds: (Date.now() - this.#started) / 1000 });
    }
  }
}
