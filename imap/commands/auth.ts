/**
 * @module
 * STARTTLS (RFC 9051 §6.2.1), LOGIN (§6.2.3) and AUTHENTICATE PLAIN with SASL-IR (§6.2.2, RFC 4959, RFC 4616).
 * No password before TLS (LOGINDISABLED, `[PRIVACYREQUIRED]`); failed logins are throttled per client IP and
 * per account, shared with SMTP AUTH; an account has a bounded number of logged-in sessions.
 */
import {
  type AuthenticateCommand,
  continuation,
  imapError,
  type LoginCommand,
  type SimpleCommand,
  tagged,
} from "../protocol/mod.ts";
import { AlreadyAnswered, type HandlerResult, type ImapContext } from "../session.ts";

/** STARTTLS: the OK goes out, then the handshake; what the client pipelined before it is dropped. */
export async function starttls(ctx: ImapContext, cmd: SimpleCommand): Promise<HandlerResult> {
  if (ctx.conn.tls) throw imapError("TLS_ACTIVE");
  await ctx.flush();
  const dropped = ctx.receiver.discardBuffered();
  if (dropped) ctx.o.log.warn("dropped bytes pipelined after STARTTLS", { bytes: dropped });
  try {
    await ctx.conn.startTls(tagged(cmd.tag, "OK", "Begin TLS negotiation now"), ctx.o.tls.current);
  } catch (e) {
    ctx.o.log.info("TLS handshake failed", { error: (e as Error).message });
    ctx.end();
    throw imapError("SERVER_BUG"); // not sent: the connection is gone
  }
  ctx.receiver.discardBuffered();
  ctx.o.log.info("TLS started", { version: (ctx.conn.tls as { version: string } | null)?.version });
  // The tagged OK was already sent before the handshake; tell the loop not to send another.
  throw new AlreadyAnswered();
}

async function login(ctx: ImapContext, username: string, password: string, how: string): Promise<HandlerResult> {
  const ip = ctx.conn.remoteAddress;
  const check = ctx.o.throttle.check(ip, username);
  if (!check.allowed) {
    ctx.o.log.warn("login refused: throttled", { ip, user: username, reason: check.reason });
    throw imapError("AUTH_THROTTLED");
  }
  const account = await ctx.o.store.accounts.authenticate(username, password);
  if (!account) {
    const f = ctx.o.throttle.failure(ip, username);
    ctx.o.log.warn("login failed", { ip, user: username, delay_ms: f.delayMs, locked_out: f.lockedOut });
    if (f.delayMs) await new Promise((r) => setTimeout(r, f.delayMs));
    if (f.lockedOut) ctx.end();
    throw imapError("AUTH_FAILED");
  }
  ctx.o.throttle.success(ip, username);
  if (!ctx.admit(account.id)) {
    ctx.o.log.warn("login refused: too many sessions for this account", {
      ip,
      user: account.address,
      max: ctx.o.accountSessions.max,
    });
    throw imapError("ACCOUNT_BUSY");
  }
  ctx.state.account = account;
  ctx.o.log.info("login ok", { ip, user: account.address, how });
  return { text: "Logged in", code: { code: "CAPABILITY", capabilities: ctx.capabilities() } };
}

function requireTls(ctx: ImapContext): void {
  if (!ctx.conn.tls && !ctx.o.allowPlaintextAuth) throw imapError("PRIVACY_REQUIRED");
}

/** LOGIN. */
export async function loginCommand(ctx: ImapContext, cmd: LoginCommand): Promise<HandlerResult> {
  requireTls(ctx);
  return await login(ctx, cmd.username, cmd.password, "LOGIN");
}

/** AUTHENTICATE PLAIN, with or without an initial response. */
export async function authenticate(ctx: ImapContext, cmd: AuthenticateCommand): Promise<HandlerResult> {
  requireTls(ctx);
  if (cmd.mechanism.toUpperCase() !== "PLAIN") throw imapError("AUTH_MECHANISM");
  let response = cmd.initialResponse;
  if (response === null) {
    await ctx.write(continuation(""));
    response = await ctx.readLine();
    if (response === null) {
      ctx.end();
      throw imapError("AUTH_CANCELLED");
    }
  }
  if (response.trim() === "*") throw imapError("AUTH_CANCELLED");
  let decoded: string;
  try {
    decoded = new TextDecoder("utf-8", { fatal: true }).decode(
      Uint8Array.from(atob(response.trim()), (c) => c.charCodeAt(0)),
    );
  } catch {
    throw imapError("SYNTAX", "Invalid base64");
  }
  const [authzid, authcid, password] = decoded.split("\0");
  if (authcid === undefined || password === undefined) throw imapError("SYNTAX", "Malformed PLAIN response");
  if (authzid && authzid.toLowerCase() !== authcid.toLowerCase()) throw imapError("AUTH_FAILED");
  return await login(ctx, authcid, password, "AUTHENTICATE PLAIN");
}
