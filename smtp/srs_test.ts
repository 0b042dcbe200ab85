import assert from "node:assert/strict";
import { Srs } from "./srs.ts";

const srs = new Srs("a secret of sixteen+ characters");
const day = 86_400_000;

Deno.test("srs: forward and reverse; case-insensitive; 21 days; forged or other secrets refused", () => {
  const now = Date.UTC(2026, 10, 21);
  const address = srs.forward("Some.One@Example.org", "a.test", now);
  assert.match(address, /^SRS0=[a-z2-7]{6}=[a-z2-7]{2}=Example\.org=Some\.One@a\.test$/);
  const local = address.slice(0, address.lastIndexOf("@"));
  assert.equal(srs.reverse(local, now), "Some.One@Example.org");
  assert.equal(srs.reverse(local.toUpperCase(), now + day)?.toLowerCase(), "some.one@example.org");
  assert.equal(srs.reverse(local, now + 21 * day), "Some.One@Example.org");
  assert.equal(srs.reverse(local, now + 22 * day), undefined, "too old");
  assert.equal(srs.reverse(local.replace("Example.org", "victim.test"), now), undefined, "forged domain");
  assert.equal(new Srs("another secret, also long enough").reverse(local, now), undefined);
  assert.equal(srs.reverse("someone", now), undefined);
  assert.equal(srs.reverse("SRS0=abc=de=x.test=y", now), undefined);
});

Deno.test("srs: the time field wraps around (days modulo 1024)", () => {
  const now = 1023 * day;
  const local = srs.forward("x@y.test", "a.test", now).split("@")[0]!;
  assert.equal(srs.reverse(local, now + 5 * day), "x@y.test");
});
