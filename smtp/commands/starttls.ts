/**
 * @module
 * STARTTLS (RFC 3207). After the handshake the session forgets everything learnt before it (§4.2): EHLO,
 * AUTH, the transaction — and bytes the client pipelined behind the command are dropped, never executed.
 */
import { formatReply, reply, type SimpleCommand } from "../protocol/mod.ts";
import type { TlsInfo } from "../../net/connection.ts";
import type { SmtpContext } from "../session.ts";

/** STARTTLS. */
export async function starttls(ctx: SmtpContext, _cmd: SimpleCommand): Promise<void> {
  if (ctx.conn.tls) throw reply("TLS_ALREADY_ACTIVE");
  await ctx.flush();
  const dropped = ctx.lines.discardBuffered();
  if (dropped) ctx.o.log.warn("dropped bytes pipelined after STARTTLS", { bytes: dropped });
  try {
    await ctx.conn.startTls(formatReply(reply("STARTTLS_READY")), ctx.o.tls.current);
  } catch (e) {
    ctx.o.log.info("TLS handshake failed", { error: (e as Error).message });
    ctx.end();
    return;
  }
  ctx.lines.discardBuffered();
  ctx.state.helo = null;
  ctx.state.esmtp = false;
  ctx.state.account = null;
  ctx.state.tx = null;
  const info = ctx.conn.tls as TlsInfo | null; // changed by startTls()
  ctx.o.log.info("TLS started", { version: info?.version, cipher: info?.cipher });
}
