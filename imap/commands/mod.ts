/**
 * @module
 * One table from command name to handler and the states it is valid in (RFC 9051 §6: any state,
 * not authenticated, authenticated, selected).
 */
import type { Command } from "../protocol/mod.ts";
import type { HandlerResult, ImapContext } from "../session.ts";
import { authenticate, loginCommand, starttls } from "./auth.ts";
import { fetch } from "./fetch.ts";
import { capability, enable, id, logout, namespace, noop } from "./general.ts";
import {
  create,
  getQuota,
  getQuotaRoot,
  list,
  lsub,
  remove,
  rename,
  select,
  setQuota,
  status,
  subscribe,
} from "./mailbox.ts";
import { append, copy, expunge, search, store } from "./message.ts";
import { check, close, idle, unselect } from "./selected.ts";

/** A session state. */
export type ImapStateName = "not-authenticated" | "authenticated" | "selected";

type Handler<C extends Command> = (ctx: ImapContext, cmd: C) => Promise<HandlerResult | void>;
type ByName = { [N in Command["name"]]: Handler<Extract<Command, { name: N }>> };

/** Every command's handler. */
export const HANDLERS: ByName = {
  CAPABILITY: capability,
  NOOP: noop,
  LOGOUT: logout,
  ID: id,
  STARTTLS: starttls,
  LOGIN: loginCommand,
  AUTHENTICATE: authenticate,
  ENABLE: enable,
  NAMESPACE: namespace,
  SELECT: select,
  EXAMINE: select,
  CREATE: create,
  DELETE: remove,
  RENAME: rename,
  SUBSCRIBE: subscribe,
  UNSUBSCRIBE: subscribe,
  LIST: list,
  LSUB: lsub,
  STATUS: status,
  APPEND: append,
  IDLE: idle,
  GETQUOTA: getQuota,
  GETQUOTAROOT: getQuotaRoot,
  SETQUOTA: setQuota,
  CHECK: check,
  CLOSE: close,
  UNSELECT: unselect,
  EXPUNGE: expunge,
  SEARCH: search,
  FETCH: fetch,
  STORE: store,
  COPY: copy,
  MOVE: copy,
};

const ANY: ImapStateName[] = ["not-authenticated", "authenticated", "selected"];
const AUTH: ImapStateName[] = ["authenticated", "selected"];
const SELECTED: ImapStateName[] = ["selected"];

/** The states each command is valid in. */
export const STATES: Record<Command["name"], readonly ImapStateName[]> = {
  CAPABILITY: ANY,
  NOOP: ANY,
  LOGOUT: ANY,
  ID: ANY,
  STARTTLS: ["not-authenticated"],
  LOGIN: ["not-authenticated"],
  AUTHENTICATE: ["not-authenticated"],
  ENABLE: AUTH,
  NAMESPACE: AUTH,
  SELECT: AUTH,
  EXAMINE: AUTH,
  CREATE: AUTH,
  DELETE: AUTH,
  RENAME: AUTH,
  SUBSCRIBE: AUTH,
  UNSUBSCRIBE: AUTH,
  LIST: AUTH,
  LSUB: AUTH,
  STATUS: AUTH,
  APPEND: AUTH,
  IDLE: AUTH,
  GETQUOTA: AUTH,
  GETQUOTAROOT: AUTH,
  SETQUOTA: AUTH,
  CHECK: SELECTED,
  CLOSE: SELECTED,
  UNSELECT: SELECTED,
  EXPUNGE: SELECTED,
  SEARCH: SELECTED,
  FETCH: SELECTED,
  STORE: SELECTED,
  COPY: SELECTED,
  MOVE: SELECTED,
};
