/**
 * @module
 * Seeds the users the ../shared/bench tools log in as: u1..u50@perf.test with password "pass". That password is
 * below Silvermail's policy, so it is hashed and written directly (bench only; never do this for real users).
 * Uses SILVERMAIL_DATABASE_URL or SILVERMAIL_DATA_DIR like the server.
 */
import { resolve } from "node:path";
import { hashPassword } from "../store/passwords.ts";
import { Store } from "../store/mod.ts";

const url = Deno.env.get("SILVERMAIL_DATABASE_URL");
const store = await Store.open(
  url ? { location: { url } } : { location: { dataDir: resolve(Deno.env.get("SILVERMAIL_DATA_DIR") ?? "./data") } },
);
try {
  await store.domains.add("perf.test").catch(() => {});
  const hash = await hashPassword("pass");
  for (let i = 1; i <= 50; i++) {
    const address = `u${i}@perf.test`;
    if (!(await store.accounts.get(address))) await store.accounts.create(address, `bench passphrase ${i}`);
    await store.db.query("UPDATE accounts SET password_hash = $2 WHERE address = $1", [address, hash]);
  }
} finally {
  await store.close();
}
Deno.exit(0);
