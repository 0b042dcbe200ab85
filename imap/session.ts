/**
 * @module
 * The IMAP connection state machine (RFC 9051 §3): not authenticated → authenticated → selected → logout.
 * Commands are framed by the protocol receiver, parsed, checked against the state, and dispatched to
 * `commands/<name>.ts`. Handlers throw `ImapNo`/`ImapBad`; the loop sends them, and turns anything unexpected
 * into `NO [SERVERBUG]` with the details only in the log. Before each tagged reply in the selected state, the
 * session reports what changed meanwhile.
 */
import type { Logger } from "../log.ts";
import type { Account, Store } from "../store/mod.ts";
import type { AuthThrottle } from "../spam/auth_throttle.ts";
import type { TlsContext } from "../tls/mod.ts";
import { type Connection, TimeoutError } from "../net/connection.ts";
import type { SlotCounter } from "../net/service.ts";
import {
  type Command,
  CommandReceiver,
  continuation,
  ImapError,
  imapError,
  parseCommand,
  PROTOCOL_CAPABILITIES,
  redactCommand,
  replyLine,
  type ResponseCode,
  tagged,
  untaggedStatus,
} from "./protocol/mod.ts";
import { HANDLERS, STATES } from "./commands/mod.ts";
import type { SelectedMailbox } from "./selected_mailbox.ts";

/** Bounds of one IMAP session (DESIGN rule 7). */
export interface ImapSessionLimits {
  /** Idle time outside IDLE (RFC 9051 §5.4: at least 30 minutes). */
  idleTimeoutMs: number;
  /** Time in IDLE before the server ends it (clients re-IDLE every ≤ 29 minutes). */
  idleCommandTimeoutMs: number;
  /** Largest APPEND literal. */
  maxMessageSize: number;
  /** BAD replies before the connection is closed. */
  maxErrors: number;
}

/** Default limits. */
export const DEFAULT_IMAP_LIMITS: ImapSessionLimits = {
  idleTimeoutMs: 30 * 60_000,
  idleCommandTimeoutMs: 31 * 60_000,
  maxMessageSize: 35 * 1024 * 1024,
  maxErrors: 30,
};

/** What a session needs from the server. */
export interface ImapSessionOptions {
  id: string;
  hostname: string;
  store: Store;
  tls: TlsContext;
  throttle: AuthThrottle;
  /** Logged-in sessions per account, shared by the server's sessions. */
  accountSessions: SlotCounter<number>;
  limits: ImapSessionLimits;
  /** Development switch: LOGIN without TLS (loopback only; decided by the server). */
  allowPlaintextAuth: boolean;
  log: Logger;
}

/** The mutable session state handlers read and change. */
export interface ImapState {
  account: Account | null;
  selected: SelectedMailbox | null;
  /** ENABLEd extensions (CONDSTORE, QRESYNC, UTF8=ACCEPT, IMAP4rev2). */
  enabled: Set<string>;
  /** SEARCHRES (RFC 5182): the UIDs saved by `SEARCH RETURN (SAVE)`. */
  saved: number[] | null;
}

/** What a handler returns: the tagged OK's text and response code (defaults: "<NAME> completed"). */
export interface HandlerResult {
  text?: string;
  code?: ResponseCode;
}

const encoder = new TextEncoder();
/** Output is written when it reaches this size, or when the session waits for the client. */
const OUTPUT_CHUNK = 64 * 1024;

/** Thrown by a handler that has written its own tagged reply (STARTTLS answers before the handshake). */
export class AlreadyAnswered extends Error {
  override name = "AlreadyAnswered";
}

/** A session as handlers see it. */
export interface ImapContext {
  readonly o: ImapSessionOptions;
  readonly conn: Connection;
  readonly receiver: CommandReceiver;
  readonly state: ImapState;
  /** Writes untagged data (a string, bytes, or FETCH chunks). */
  write(data: string | Uint8Array | readonly Uint8Array[]): Promise<void>;
  /** Reads one line between commands (AUTHENTICATE responses, IDLE's DONE); null when the client has gone. */
  readLine(timeoutMs?: number): Promise<string | null>;
  /** True when UTF-8 mailbox names and strings may be sent (UTF8=ACCEPT or IMAP4rev2 enabled). */
  readonly utf8: boolean;
  /** Capabilities to announce now. */
  capabilities(): string[];
  /** Writes queued output now (before a TLS handshake; IDLE pushes). */
  flush(): Promise<void>;
  /** Reports changes of the selected mailbox (IDLE uses it). */
  flushUpdates(allowExpunge: boolean): Promise<void>;
  /** Ends the session after the current reply. */
  end(): void;
  /** Counts the session as one of the account's until it ends; false when the account has too many already. */
  admit(accountId: number): boolean;
}

/** One IMAP connection. */
export class ImapSession implements ImapContext {
  readonly o: ImapSessionOptions;
  readonly conn: Connection;
  readonly receiver: CommandReceiver;
  readonly state: ImapState = { account: null, selected: null, enabled: new Set(), saved: null };
  #ended = false;
  #closing = false;
  #out: Uint8Array[] = [];
  #outBytes = 0;
  #wake: (() => void) | undefined;
  /** Gives back the account's session slot (`admit`). */
  #leaveAccount: (() => void) | undefined;

  constructor(conn: Connection, options: ImapSessionOptions) {
    this.conn = conn;
    this.o = options;
    this.receiver = new CommandReceiver({ maxLiteralSize: options.limits.maxMessageSize });
  }

  get utf8(): boolean {
    return this.state.enabled.has("UTF8=ACCEPT") || this.state.enabled.has("IMAP4REV2");
  }

  capabilities(): string[] {
    const caps = [...PROTOCOL_CAPABILITIES, `APPENDLIMIT=${this.o.limits.maxMessageSize}`];
    if (this.state.account) return caps;
    const out = ["IMAP4rev1", "IMAP4rev2", "LITERAL-", "SASL-IR", "ENABLE", "ID"];
    if (!this.conn.tls) out.push("STARTTLS");
    if (!this.conn.tls && !this.o.allowPlaintextAuth) out.push("LOGINDISABLED");
    else out.push("AUTH=PLAIN");
    return out;
  }

  /**
   * Queues output; it goes out in one write when the session is about to wait for the client, or every 64 KiB.
   * A FETCH of 100,000 messages is then a few hundred writes, not 100,000. Large bodies are written as they are.
   */
  async write(data: string | Uint8Array | readonly Uint8Array[]): Promise<void> {
    if (typeof data === "string") {
      if (this.o.log.enabled("trace")) this.o.log.trace("S", { line: data.slice(0, 500) });
      this.#queue(encoder.encode(data));
    } else if (data instanceof Uint8Array) this.#queue(data);
    else for (const chunk of data) this.#queue(chunk);
    if (this.#outBytes >= OUTPUT_CHUNK) await this.flush();
  }

  #queue(chunk: Uint8Array): void {
    this.#out.push(chunk);
    this.#outBytes += chunk.length;
  }

  /** Writes queued output now. */
  async flush(): Promise<void> {
    if (!this.#out.length) return;
    const parts = this.#out;

    this.#out = [];
    this.#outBytes = 0;
    if (parts.length === 1) return await this.conn.write(parts[0]!);
    // Small pieces are joined into one write; a large body goes out as it is, without a copy.
    let pending: Uint8Array[] = [];
    let pendingBytes = 0;
    const writePending = async () => {
      if (!pending.length) return;
      const joined = new Uint8Array(pendingBytes);
      let at = 0;
      for (const p of pending) {
        joined.set(p, at);
        at += p.length;
      }
      pending = [];
      pendingBytes = 0;
      await this.conn.write(joined);
    };
    for (const p of parts) {
      if (p.length >= OUTPUT_CHUNK) {
        await writePending();
        await this.conn.write(p);
      } else {
        pending.push(p);
        pendingBytes += p.length;
      }
    }
    await writePending();
  }

  end(): void {
    this.#ended = true;
  }

  admit(accountId: number): boolean {
    this.#leaveAccount ??= this.o.accountSessions.take(accountId) ?? undefined;
    return this.#leaveAccount !== undefined;
  }

  /** Asks the session to end: an idle one gets `* BYE` now, a busy one after its command. */
  shutdown(): void {
    this.#closing = true;
    this.#wake?.();
  }

  /** Drops the connection. */
  abort(): void {
    this.#ended = true;
    this.conn.destroy();
  }

  async readLine(timeoutMs = this.o.limits.idleTimeoutMs): Promise<string | null> {
    for (;;) {
      const ev = this.receiver.nextLine();
      if (ev) {
        if (ev.kind === "too-long") throw imapError("LINE_TOO_LONG");
        return ev.text;
      }
      const chunk = await this.#read(timeoutMs);
      if (chunk === null || chunk === "closing") return null;
      this.receiver.push(chunk);
    }
  }

  async #read(timeoutMs: number): Promise<Uint8Array | null | "closing"> {
    await this.flush();
    if (this.#closing) return "closing";
    const closing = new Promise<"closing">((r) => this.#wake = () => r("closing"));
    const chunk = await Promise.race([this.conn.read(timeoutMs), closing]);
    this.#wake = undefined;
    return chunk;
  }

  async flushUpdates(allowExpunge: boolean): Promise<void> {
    const sel = this.state.selected;
    if (!sel) return;
    const lines = await sel.sync(this.o.store, {
      allowExpunge,
      qresync: this.state.enabled.has("QRESYNC"),
      condstore: this.state.enabled.has("CONDSTORE") || this.state.enabled.has("QRESYNC"),
    });
    if (lines.length) await this.write(lines.join(""));
  }

  /** Runs the session to its end. Never throws. */
  async run(greetingCode: "OK" | "BYE" = "OK"): Promise<void> {
    const log = this.o.log;
    log.info("connect", { ip: this.conn.remoteAddress, tls: this.conn.tls?.version ?? null });
    let errors = 0;
    try {
      if (greetingCode === "BYE") {
        await this.write(replyLine(null, "TOO_MANY_CONNECTIONS"));
        return;
      }
      await this.write(
        untaggedStatus("OK", `${this.o.hostname} Silvermail IMAP ready`, {
          code: "CAPABILITY",
          capabilities: this.capabilities(),
        }),
      );
      while (!this.#ended) {
        const ev = this.receiver.next();
        if (!ev) {
          const chunk = await this.#read(this.o.limits.idleTimeoutMs);
          if (chunk === "closing") {
            await this.write(replyLine(null, "SHUTTING_DOWN"));
            break;
          }
          if (chunk === null) {
            log.info("client disconnected");
            break;
          }
          this.receiver.push(chunk);
          continue;
        }
        if (ev.kind === "need-continuation") {
          await this.write(continuation());
          continue;
        }
        if (ev.kind === "literal") {
          const refusal = await this.#decideLiteral(ev.size);
          if (refusal) await this.write(imapError(refusal).line(ev.tag));
          continue;
        }
        if (ev.kind === "too-long" || ev.kind === "literal-too-big") {
          errors++;
          log.info("command too long", { kind: ev.kind });
          await this.write(imapError(ev.kind === "too-long" ? "LINE_TOO_LONG" : "LITERAL_TOO_BIG").line(ev.tag ?? "*"));
          continue;
        }
        const tag = ev.tag;
        let cmd: Command | undefined;
        try {
          if (tag === null) throw imapError("SYNTAX", "Invalid tag");
          cmd = parseCommand(ev, { utf8: this.utf8 });
          if (log.enabled("trace")) log.trace("C", { line: redactCommand(ev) });
          const allowed = STATES[cmd.name];
          const now = this.state.selected ? "selected" : this.state.account ? "authenticated" : "not-authenticated";
          if (!allowed.includes(now)) {
            throw imapError(
              now === "authenticated" && allowed.includes("selected") ? "NO_MAILBOX_SELECTED" : "WRONG_STATE",
            );
          }
          // New messages and flag changes are announced before the command runs, so that it sees them (a UID
          // SEARCH finds a message just appended by another client). Never EXPUNGE here: the command's sequence
          // numbers refer to the numbering the client has (RFC 9051 §7.5.1).
          if (this.state.selected?.dirty && allowed.includes("selected") && !NO_CATCH_UP_BEFORE.has(cmd.name)) {
            await this.flushUpdates(false);
          }
          const result = await (HANDLERS[cmd.name] as (c: ImapContext, x: Command) => Promise<HandlerResult | void>)(
            this,
            cmd,
          );
          if (this.#ended && cmd.name === "LOGOUT") {
            await this.write(tagged(tag, "OK", "LOGOUT completed"));
            break;
          }
          if (this.#ended) {
            // IDLE ended without DONE: the client went away, or the server is shutting down. No tagged OK for a
            // command the client has not finished; a BYE when we are the ones closing (RFC 9051 §7.1.5).
            if (this.#closing) await this.write(replyLine(null, "SHUTTING_DOWN"));
            break;
          }
          await this.flushUpdates(!noExpungeDuring(cmd));
          await this.write(tagged(tag, "OK", result?.text ?? `${cmd.name} completed`, result?.code ?? null));
        } catch (e) {
          if (e instanceof TimeoutError) throw e;
          if (e instanceof AlreadyAnswered) continue;
          let line: string;
          if (e instanceof ImapError) {
            if (e.status === "BAD") errors++;
            line = e.line(tag ?? "*");
            if (cmd && e.status === "NO") await this.flushUpdates(!noExpungeDuring(cmd)).catch(() => {});
          } else {
            log.error("command failed", { command: cmd?.name, error: e as Error });
            line = imapError("SERVER_BUG").line(tag ?? "*");
          }
          await this.write(line);
          if (errors >= this.o.limits.maxErrors) {
            await this.write(replyLine(null, "TOO_MANY_ERRORS"));
            log.warn("too many errors", { errors });
            break;
          }
        }
        if (this.#closing && !this.#ended) {
          await this.write(replyLine(null, "SHUTTING_DOWN"));
          break;
        }
      }
    } catch (e) {
      if (e instanceof TimeoutError) {
        log.info("timeout");
        await this.write(replyLine(null, "TIMEOUT")).catch(() => {});
      } else log.error("session failed", { error: e as Error });
    } finally {
      this.state.selected?.close();
      this.#leaveAccount?.();
      await this.flush().catch(() => {});
      this.conn.close();
      log.info("disconnect", { user: this.state.account?.address });
    }
  }

  /** A large literal is announced: accept it (size and quota allow) or refuse it before it is sent. */
  async #decideLiteral(size: number): Promise<"MESSAGE_TOO_BIG" | "OVER_QUOTA" | "WRONG_STATE" | undefined> {
    const account = this.state.account;
    const quota = account?.quotaBytes ?? 0;
    const refuse = (why: "MESSAGE_TOO_BIG" | "OVER_QUOTA" | "WRONG_STATE") => {
      this.receiver.reject();
      this.o.log.info("literal refused", { size, reason: why });
      return why;
    };
    if (!account) return refuse("WRONG_STATE");
    if (size > this.o.limits.maxMessageSize) return refuse("MESSAGE_TOO_BIG");
    if (quota) {
      const fresh = await this.o.store.accounts.get(account.address);
      if ((fresh?.usedBytes ?? 0) + size > quota) return refuse("OVER_QUOTA");
    }
    this.receiver.accept();
    return undefined;
  }
}

/** Commands with nothing to announce before them: they leave the mailbox, or report changes themselves. */
const NO_CATCH_UP_BEFORE = new Set<Command["name"]>([
  "SELECT",
  "EXAMINE",
  "CLOSE",
  "UNSELECT",
  "LOGOUT",
  "IDLE",
  "NOOP",
]);

/** RFC 9051 §7.5.1: no EXPUNGE responses while FETCH, STORE or SEARCH (by sequence number) run. */
function noExpungeDuring(cmd: Command): boolean {
  return (cmd.name === "FETCH" || cmd.name === "STORE" || cmd.name === "SEARCH") && !cmd.uid;
}
