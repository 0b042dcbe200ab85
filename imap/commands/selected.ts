/**
 * @module
 * CHECK, CLOSE, UNSELECT (RFC 9051 §6.4) and IDLE (RFC 2177, RFC 9051 §6.3.13): while idling, changes to the
 * selected mailbox are pushed as they are committed (by this process or, over LISTEN/NOTIFY, another one).
 */
import { continuation, imapError, type SimpleCommand } from "../protocol/mod.ts";
import type { HandlerResult, ImapContext } from "../session.ts";
import { selected } from "./_util.ts";

/** CHECK: nothing to flush (every change is committed when acknowledged). */
export function check(_ctx: ImapContext, _cmd: SimpleCommand): Promise<void> {
  return Promise.resolve();
}

/** CLOSE: expunge silently (read-write), then deselect. */
export async function close(ctx: ImapContext, _cmd: SimpleCommand): Promise<void> {
  const sel = selected(ctx);
  if (!sel.readOnly) await ctx.o.store.messages.expunge(sel.mailbox.id);
  sel.close();
  ctx.state.selected = null;
}

/** UNSELECT: deselect without expunging. */
export function unselect(ctx: ImapContext, _cmd: SimpleCommand): Promise<void> {
  selected(ctx).close();
  ctx.state.selected = null;
  return Promise.resolve();
}

/** IDLE until DONE; pushes EXISTS/EXPUNGE/FETCH as changes commit. */
export async function idle(ctx: ImapContext, _cmd: SimpleCommand): Promise<HandlerResult> {
  await ctx.write(continuation("idling"));
  const sel = ctx.state.selected;
  let pending: Promise<void> = Promise.resolve();
  const push = () => {
    pending = pending.then(() => ctx.flushUpdates(true)).then(() => ctx.flush()).catch((e) =>
      ctx.o.log.warn("IDLE update failed", { error: e })
    );
  };
  sel?.onChange(push);
  if (sel?.dirty) push();
  try {
    const line = await ctx.readLine(ctx.o.limits.idleCommandTimeoutMs);
    await pending;
    if (line === null) {
      ctx.end();
      return {};
    }
    if (line.trim().toUpperCase() !== "DONE") throw imapError("SYNTAX", "Expected DONE");
    return { text: "IDLE terminated" };
  } finally {
    sel?.onChange(undefined);
  }
}
