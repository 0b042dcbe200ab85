/**
 * @module
 * EHLO and HELO (RFC 5321 §4.1.1.1): greet, reset the transaction, list the extensions.
 */
import { type HelloCommand, reply } from "../protocol/mod.ts";
import { SASL_MECHANISMS } from "../protocol/mod.ts";
import type { SmtpContext } from "../session.ts";

/** True when AUTH may be used now: submission listeners, over TLS (or the loopback dev switch). */
export function authAllowed(ctx: SmtpContext): boolean {
  return ctx.o.kind !== "mx" && (ctx.conn.tls !== null || ctx.o.allowPlaintextAuth);
}

/** EHLO / HELO. */
export async function hello(ctx: SmtpContext, cmd: HelloCommand): Promise<void> {
  ctx.state.helo = cmd.domain;
  ctx.state.esmtp = cmd.verb === "EHLO";
  ctx.state.tx = null; // RFC 5321 §4.1.4: EHLO resets the state like RSET
  if (cmd.verb === "HELO") {
    await ctx.send(reply("HELO", `${ctx.o.hostname} Hello ${cmd.domain}`));
    return;
  }
  const lines = [
    `${ctx.o.hostname} Hello ${cmd.domain} [${ctx.conn.remoteAddress}]`,
    "PIPELINING", // RFC 2920
    `SIZE ${ctx.o.limits.maxMessageSize}`, // RFC 1870
    "8BITMIME", // RFC 6152
    "SMTPUTF8", // RFC 6531
    "ENHANCEDSTATUSCODES", // RFC 2034
    "CHUNKING", // RFC 3030
    "DSN", // RFC 3461
  ];
  if (!ctx.conn.tls) lines.push("STARTTLS"); // RFC 3207
  else lines.push("REQUIRETLS"); // RFC 8689 §4: offered only in a TLS session
  if (authAllowed(ctx) && !ctx.state.account) lines.push(`AUTH ${SASL_MECHANISMS.join(" ")}`); // RFC 4954
  await ctx.send(reply("EHLO", lines));
}
