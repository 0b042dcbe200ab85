/**
 * @module
 * `deno task bench <name>`: prints figures (never pass/fail). Names: store, smtp, imap, imap-idle, outbound.
 */
const BENCHES: Record<string, () => Promise<{ run(args: string[]): Promise<void> }>> = {
  store: () => import("./store.ts"),
  smtp: () => import("./smtp.ts"),
  imap: () => import("./imap.ts"),
  "imap-idle": () => import("./imap_idle.ts"),
  outbound: () => import("./outbound.ts"),
};

const [name, ...args] = Deno.args;
const load = name ? BENCHES[name] : undefined;
if (!load) {
  console.error(`usage: deno task bench <${Object.keys(BENCHES).join("|")}> [options]`);
  Deno.exit(2);
}
await (await load()).run(args);
Deno.exit(0);
