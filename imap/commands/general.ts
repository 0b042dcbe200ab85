/**
 * @module
 * Commands valid in any state (RFC 9051 §6.1) and the session-wide ones: CAPABILITY, NOOP, LOGOUT, ID
 * (RFC 2971), ENABLE (RFC 5161), NAMESPACE (RFC 2342).
 */
import {
  capabilityResponse,
  type EnableCommand,
  enabledResponse,
  type IdCommand,
  idResponse,
  namespaceResponse,
  replyLine,
  type SimpleCommand,
} from "../protocol/mod.ts";
import type { HandlerResult, ImapContext } from "../session.ts";

/** CAPABILITY. */
export async function capability(ctx: ImapContext, _cmd: SimpleCommand): Promise<void> {
  await ctx.write(capabilityResponse(ctx.capabilities()));
}

/** NOOP: the session loop reports pending changes before the OK. */
export function noop(ctx: ImapContext, _cmd: SimpleCommand): Promise<void> {
  if (ctx.state.selected) ctx.state.selected.dirty = true;
  return Promise.resolve();
}

/** LOGOUT. */
export async function logout(ctx: ImapContext, _cmd: SimpleCommand): Promise<void> {
  await ctx.write(replyLine(null, "LOGOUT"));
  ctx.end();
}

/** ID: log what the client says, answer with our name. */
export async function id(ctx: ImapContext, cmd: IdCommand): Promise<void> {
  if (cmd.params) ctx.o.log.info("client id", Object.fromEntries(cmd.params.slice(0, 10)));
  await ctx.write(idResponse([["name", "Silvermail"], ["vendor", "Silvermail"], ["support-url", null]]));
}

const ENABLEABLE = new Set(["CONDSTORE", "QRESYNC", "UTF8=ACCEPT", "IMAP4REV2"]);

/** ENABLE. */
export async function enable(ctx: ImapContext, cmd: EnableCommand): Promise<HandlerResult> {
  const now: string[] = [];
  for (const c of cmd.capabilities) {
    const up = c.toUpperCase();
    if (!ENABLEABLE.has(up) || ctx.state.enabled.has(up)) continue;
    ctx.state.enabled.add(up);
    if (up === "QRESYNC") ctx.state.enabled.add("CONDSTORE"); // RFC 7162 §3.2.3
    now.push(up === "IMAP4REV2" ? "IMAP4rev2" : up);
  }
  await ctx.write(enabledResponse(now));
  return {};
}

/** NAMESPACE: one personal namespace, "/" separated. */
export async function namespace(ctx: ImapContext, _cmd: SimpleCommand): Promise<void> {
  await ctx.write(namespaceResponse([["", "/"]], null, null));
}
