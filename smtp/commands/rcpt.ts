/**
 * @module
 * RCPT TO (RFC 5321 §4.1.1.3). MX: local recipients only (an account, alias or catch-all), never relay.
 * Submission: local recipients are delivered, others queued. DSN NOTIFY/ORCPT (RFC 3461) are kept.
 */
import { type RcptCommand, reply } from "../protocol/mod.ts";
import type { SmtpContext } from "../session.ts";

/** RCPT TO. */
export async function rcpt(ctx: SmtpContext, cmd: RcptCommand): Promise<void> {
  const { state, o } = ctx;
  const tx = state.tx;
  if (!tx) throw reply("MAIL_FIRST");
  if (tx.recipients.length >= o.limits.maxRecipients) throw reply("TOO_MANY_RECIPIENTS");
  if (cmd.utf8 && !tx.params.smtputf8) throw reply("UTF8_RECIPIENT_NOT_PERMITTED");
  // RFC 5321 §4.5.1: <Postmaster> without a domain must be accepted; it is the postmaster of our host name.
  const address = cmd.to === "postmaster" ? `postmaster@${o.hostname}` : cmd.to.address;
  if (tx.recipients.some((r) => r.address === address)) return await ctx.send(reply("RECIPIENT_OK"));
  const decision = await o.delivery.checkRecipient(o.kind, address);
  if (decision === "relay-denied") {
    o.log.warn("relay denied", { ip: ctx.conn.remoteAddress, mail_from: tx.mailFrom, rcpt: address });
    throw reply("RELAY_DENIED");
  }
  if (decision === "no-such-user") {
    o.log.info("unknown recipient", { rcpt: address });
    throw reply("NO_SUCH_USER");
  }
  if (decision === "bad-address") throw reply("BAD_RECIPIENT_SYNTAX");
  if (decision === "over-quota") {
    o.log.info("recipient over quota", { rcpt: address });
    throw reply("OVERQUOTA_TEMP"); // RFC 3463 X.2.2, temporary: 452
  }
  // SRS addresses take bounces (null sender) only: anything else would let whoever learned one relay through us.
  if (decision.srs && tx.mailFrom !== "") {
    o.log.warn("SRS address used by a non-bounce", { mail_from: tx.mailFrom, rcpt: address });
    throw reply("POLICY_REJECTED", "SRS addresses accept only bounces (an empty sender)");
  }
  if (cmd.params.notify || cmd.params.orcpt) {
    decision.dsn = {
      ...(cmd.params.notify ? { notify: [...cmd.params.notify] } : {}),
      ...(cmd.params.orcpt ? { orcpt: `${cmd.params.orcpt.addrType};${cmd.params.orcpt.address}` } : {}),
    };
  }
  tx.recipients.push(decision);
  await ctx.send(reply("RECIPIENT_OK"));
}
