/**
 * @module
 * One map from verb to handler (STYLE: mox's dispatch table). Each handler sends its positive reply and throws
 * an `SmtpReply` to refuse; the session loop sends refusals.
 */
import type { Command } from "../protocol/mod.ts";
import type { SmtpContext } from "../session.ts";
import { auth } from "./auth.ts";
import { bdat, data } from "./data.ts";
import { hello } from "./hello.ts";
import { mail } from "./mail.ts";
import { expn, help, noop, quit, rset, vrfy } from "./misc.ts";
import { rcpt } from "./rcpt.ts";
import { starttls } from "./starttls.ts";

/** A command handler. */
export type Handler<C extends Command = Command> = (ctx: SmtpContext, cmd: C) => Promise<void>;

type ByVerb = { [V in Command["verb"]]: Handler<Extract<Command, { verb: V }>> };

/** Every verb's handler. */
export const HANDLERS: ByVerb = {
  EHLO: hello,
  HELO: hello,
  STARTTLS: starttls,
  AUTH: auth,
  MAIL: mail,
  RCPT: rcpt,
  DATA: data,
  BDAT: bdat,
  RSET: rset,
  NOOP: noop,
  QUIT: quit,
  VRFY: vrfy,
  EXPN: expn,
  HELP: help,
};
