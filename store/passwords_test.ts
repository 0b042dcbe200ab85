import assert from "node:assert/strict";
import { closePasswordWorkers, hashPassword, verifyPassword } from "./passwords.ts";

Deno.test("passwords: a remembered login never lets a different password or a changed hash through", async () => {
  try {
    const first = await hashPassword("correct horse battery staple");
    assert.deepEqual(await verifyPassword("correct horse battery staple", first), { ok: true, needsRehash: false });
    // Remembered now; the same pair is still accepted, anything else is checked in full and refused.
    assert.equal((await verifyPassword("correct horse battery staple", first)).ok, true);
    assert.equal((await verifyPassword("correct horse battery stapl", first)).ok, false);
    assert.equal((await verifyPassword("Correct horse battery staple", first)).ok, false);
    // A password change: the old password against the new hash fails, the new one passes.
    const second = await hashPassword("a brand new passphrase");
    assert.equal((await verifyPassword("correct horse battery staple", second)).ok, false);
    assert.equal((await verifyPassword("a brand new passphrase", second)).ok, true);
    // The same password against a hash whose parameters were altered is computed afresh: no match.
    const old = first.replace("m=19456", "m=19455");
    assert.equal(
      (await verifyPassword("correct horse battery staple", old)).ok,
      false,
      "a tampered hash never matches",
    );
  } finally {
    closePasswordWorkers();
  }
});
