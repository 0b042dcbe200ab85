/**
 * @module
 * MAIL FROM (RFC 5321 §4.1.1.2) with SIZE (RFC 1870), BODY (RFC 6152, 3030), SMTPUTF8 (RFC 6531) and DSN
 * (RFC 3461) parameters. Submission requires AUTH, and the sender must be the user's address or an alias of
 * theirs (RFC 6409 §6.1).
 */
import { type MailCommand, reply } from "../protocol/mod.ts";
import type { SmtpContext } from "../session.ts";

/** MAIL FROM. */
export async function mail(ctx: SmtpContext, cmd: MailCommand): Promise<void> {
  const { state, o } = ctx;
  if (!state.helo) throw reply("HELO_FIRST");
  if (state.tx) throw reply("NESTED_MAIL");
  if (o.kind !== "mx" && !state.account) {
    throw reply(ctx.conn.tls || o.allowPlaintextAuth ? "AUTH_REQUIRED" : "TLS_REQUIRED");
  }
  if (cmd.params.size !== null && cmd.params.size > o.limits.maxMessageSize) throw reply("MESSAGE_TOO_BIG");
  if (cmd.utf8 && !cmd.params.smtputf8) throw reply("UTF8_SENDER_NOT_PERMITTED");
  if (cmd.params.requireTls && !ctx.conn.tls) throw reply("REQUIRETLS_NEEDS_TLS");
  const from = cmd.from?.address ?? "";
  if (state.account) {
    if (!from || !(await o.delivery.owns(state.account.id, from))) {
      o.log.warn("sender not owned", { user: state.account.address, mail_from: from });
      throw reply("SENDER_NOT_OWNED");
    }
  }
  state.tx = { mailFrom: from, params: cmd.params, recipients: [], chunks: [] };
  await ctx.send(reply("SENDER_OK"));
}
