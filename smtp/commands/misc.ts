/**
 * @module
 * RSET, NOOP, QUIT, VRFY, EXPN and HELP (RFC 5321 §4.1.1.5–§4.1.1.10). VRFY never confirms or denies a user
 * (252), EXPN is disabled: no account enumeration.
 */
import { type HelpCommand, reply, type SimpleCommand, type VerifyCommand } from "../protocol/mod.ts";
import type { SmtpContext } from "../session.ts";

/** RSET. */
export async function rset(ctx: SmtpContext, _cmd: SimpleCommand): Promise<void> {
  ctx.state.tx = null;
  await ctx.send(reply("RESET"));
}

/** NOOP. */
export async function noop(ctx: SmtpContext, _cmd: SimpleCommand): Promise<void> {
  await ctx.send(reply("NOOP"));
}

/** QUIT. */
export async function quit(ctx: SmtpContext, _cmd: SimpleCommand): Promise<void> {
  await ctx.send(reply("BYE", `${ctx.o.hostname} closing connection`));
  ctx.end();
}

/** VRFY: 252, whatever the argument. */
export async function vrfy(ctx: SmtpContext, _cmd: VerifyCommand): Promise<void> {
  await ctx.send(reply("VRFY"));
}

/** EXPN: disabled. */
export function expn(_ctx: SmtpContext, _cmd: VerifyCommand): Promise<void> {
  throw reply("EXPN_DISABLED");
}

/** HELP. */
export async function help(ctx: SmtpContext, _cmd: HelpCommand): Promise<void> {
  await ctx.send(reply("HELP"));
}
