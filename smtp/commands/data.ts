/**
 * @module
 * DATA (RFC 5321 §4.1.1.4) and BDAT (RFC 3030). The body is read incrementally: dot-unstuffed, ended only by
 * `<CRLF>.<CRLF>`, refused whole when it holds a bare CR or LF (SMTP smuggling), and no longer kept once over
 * the size limit. The message is then parsed once and committed for every recipient; `250` is sent only after
 * the commit (DESIGN rule 3).
 */
import { MessageRefused, type Transaction } from "../deliver.ts";
import {
  type BdatCommand,
  BdatReader,
  type DataError,
  DataReader,
  reply,
  type SimpleCommand,
  type SmtpReply,
} from "../protocol/mod.ts";
import type { MailTransaction, SmtpContext } from "../session.ts";

function refusal(error: DataError): SmtpReply {
  return error === "too-big" ? reply("MESSAGE_TOO_BIG") : reply("BARE_LF");
}

/** DATA. */
export async function data(ctx: SmtpContext, _cmd: SimpleCommand): Promise<void> {
  const tx = ctx.state.tx;
  if (!tx) throw reply("MAIL_FIRST");
  if (!tx.recipients.length) throw reply("NO_VALID_RECIPIENTS"); // RFC 2920 §3.1
  if (tx.mode === "bdat") throw reply("DATA_BDAT_MIXED");
  if (tx.params.body === "BINARYMIME") throw reply("BINARYMIME_NEEDS_BDAT");
  tx.mode = "data";
  await ctx.send(reply("START_DATA"));
  const chunks: Uint8Array[] = [];
  const reader = new DataReader({
    maxSize: ctx.o.limits.maxMessageSize,
    // Views into the chunks read from the socket (fresh buffers, never reused): kept without copying.
    onData: (c) => chunks.push(c),
  });
  let result = reader.push(ctx.lines.takeBuffered());
  while (!result) {
    const chunk = await ctx.readBytes();
    if (!chunk) {
      ctx.o.log.info("client disconnected during DATA: nothing stored", { bytes: reader.size });
      ctx.state.tx = null;
      return ctx.end();
    }
    result = reader.push(chunk);
  }
  ctx.lines.push(result.rest);
  if (result.error) {
    ctx.state.tx = null;
    ctx.o.log.warn("message refused", { reason: result.error, size: result.size, mail_from: tx.mailFrom });
    throw refusal(result.error);
  }
  if (result.lineTooLong) ctx.o.log.info("message has lines over 998 octets (accepted)", { size: result.size });
  await finish(ctx, tx, chunks);
}

/** BDAT. The announced octets are always read, even when the command is refused (RFC 3030 §2). */
export async function bdat(ctx: SmtpContext, cmd: BdatCommand): Promise<void> {
  const tx = ctx.state.tx;
  const refuse = !tx
    ? reply("MAIL_FIRST")
    : !tx.recipients.length
    ? reply("NO_VALID_RECIPIENTS")
    : tx.mode === "data"
    ? reply("DATA_BDAT_MIXED")
    : undefined;
  let reader: BdatReader;
  if (refuse || !tx) reader = new BdatReader({ maxSize: Infinity, onData: () => {} });
  else {
    tx.mode = "bdat";
    tx.bdat ??= new BdatReader({
      maxSize: ctx.o.limits.maxMessageSize,
      rejectBareLineEndings: tx.params.body !== "BINARYMIME",
      onData: (c) => tx.chunks.push(c),
    });
    reader = tx.bdat;
  }
  reader.startChunk(cmd.size, cmd.last);
  let result = reader.push(ctx.lines.takeBuffered());
  while (!result) {
    const chunk = await ctx.readBytes();
    if (!chunk) {
      ctx.o.log.info("client disconnected during BDAT: nothing stored", { bytes: reader.size });
      ctx.state.tx = null;
      return ctx.end();
    }
    result = reader.push(chunk);
  }
  ctx.lines.push(result.rest);
  if (refuse || !tx) throw refuse;
  if (result.error) {
    ctx.state.tx = null; // RFC 3030 §2: a failed chunk fails the transaction
    ctx.o.log.warn("message refused", { reason: result.error, size: result.size, mail_from: tx.mailFrom });
    throw refusal(result.error);
  }
  if (!result.last) return await ctx.send(reply("CHUNK_ACCEPTED", `${cmd.size} octets received`));
  const body = tx.chunks;
  tx.chunks = [];
  await finish(ctx, tx, body);
}

async function finish(ctx: SmtpContext, tx: MailTransaction, body: Uint8Array[]): Promise<void> {
  const size = body.reduce((n, c) => n + c.length, 0);
  const { o, state } = ctx;
  state.tx = null;
  const t: Transaction = {
    kind: o.kind,
    mailFrom: tx.mailFrom,
    recipients: tx.recipients,
    helo: state.helo ?? "",
    clientIp: ctx.conn.remoteAddress,
    tls: ctx.conn.tls,
    smtputf8: tx.params.smtputf8,
    id: `${o.id}.${state.accepted + 1}`,
    ...(state.account ? { account: state.account } : {}),
    ...(tx.params.ret ? { ret: tx.params.ret } : {}),
    ...(tx.params.envid ? { envid: tx.params.envid } : {}),
    ...(tx.params.requireTls ? { requireTls: true } : {}),
  };
  let prepared;
  try {
    prepared = await o.delivery.prepare(t, body);
  } catch (e) {
    if (e instanceof MessageRefused) {
      o.log.warn("message refused", { id: t.id, reason: e.message, mail_from: t.mailFrom });
      throw reply("POLICY_REJECTED", e.message);
    }
    o.log.error("cannot prepare message", { error: e as Error });
    throw reply("TEMP_FAILURE");
  }
  if (state.account) {
    // RFC 6409 §8.1 allows the submission server to enforce the author: every From address must be the user's.
    const from = prepared.fromAddresses();
    const owned = await Promise.all(from.map((a) => o.delivery.owns(state.account!.id, a)));
    if (!from.length || owned.includes(false)) {
      o.log.warn("From header not owned", { user: state.account.address, from });
      throw reply("POLICY_REJECTED", "From: header address is not one of yours");
    }
  }
  try {
    await prepared.commit();
  } catch (e) {
    o.log.error("cannot store message", { error: e as Error, size });
    throw reply("STORAGE");
  }
  state.accepted++;
  o.log.info("message accepted", {
    id: t.id,
    size,
    mail_from: t.mailFrom,
    rcpts: t.recipients.length,
    user: state.account?.address,
  });
  await ctx.send(reply("MESSAGE_ACCEPTED", `Message accepted as ${t.id}`));
}
