/**
 * @module
 * AUTH PLAIN and LOGIN (RFC 4954), only on submission listeners and only over TLS. Failed attempts are throttled
 * per client IP and per account (spam/auth_throttle.ts): growing delays, then `454`/`421` for the offending
 * client, while the account's owner on a clean address can still log in.
 */
import { AUTH_LINE_MAX, type AuthCommand, reply, saslExchange } from "../protocol/mod.ts";
import type { SmtpContext } from "../session.ts";
import { authAllowed } from "./hello.ts";

/** AUTH. */
export async function auth(ctx: SmtpContext, cmd: AuthCommand): Promise<void> {
  const { state, o } = ctx;
  if (o.kind === "mx") throw reply("AUTH_NOT_ENABLED");
  if (!state.helo) throw reply("HELO_FIRST");
  if (state.account) throw reply("ALREADY_AUTHENTICATED");
  if (state.tx) throw reply("AUTH_IN_TRANSACTION");
  if (!authAllowed(ctx)) throw reply("ENCRYPTION_REQUIRED");
  const exchange = saslExchange(cmd.mechanism);
  if (!exchange) throw reply("AUTH_MECHANISM_UNSUPPORTED");
  const ip = ctx.conn.remoteAddress;
  const before = o.throttle.check(ip);
  if (!before.allowed) {
    o.log.warn("auth refused: client throttled", { ip, retry_after_ms: before.retryAfterMs });
    throw reply("AUTH_THROTTLED");
  }
  const max = ctx.lines.maxLineLength;
  ctx.lines.maxLineLength = AUTH_LINE_MAX;
  let step;
  try {
    step = exchange.start(cmd.initialResponse);
    while (!step.done) {
      await ctx.send(reply("AUTH_CHALLENGE", step.challenge));
      const line = await ctx.readLine();
      if (line === null) return ctx.end();
      step = exchange.respond(line);
    }
  } finally {
    ctx.lines.maxLineLength = max;
  }
  const { username, authzid, password } = step.credentials;
  const check = o.throttle.check(ip, username);
  if (!check.allowed) {
    o.log.warn("auth refused: throttled", { ip, user: username, reason: check.reason });
    throw reply("AUTH_THROTTLED");
  }
  const account = (authzid === "" || authzid.toLowerCase() === username.toLowerCase())
    ? await o.store.accounts.authenticate(username, password)
    : undefined;
  if (!account) {
    const f = o.throttle.failure(ip, username);
    o.log.warn("auth failed", { ip, user: username, delay_ms: f.delayMs, locked_out: f.lockedOut });
    if (f.delayMs) await new Promise((r) => setTimeout(r, f.delayMs));
    throw reply(f.lockedOut ? "AUTH_LOCKED_OUT" : "AUTH_FAILED");
  }
  o.throttle.success(ip, username);
  state.account = { id: account.id, address: account.address };
  o.log.info("auth ok", { ip, user: account.address, mechanism: exchange.mechanism });
  await ctx.send(reply("AUTH_SUCCESS"));
}
