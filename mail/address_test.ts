import assert from "node:assert/strict";
import { normalizeDomain, parseAddress, parseAliasSource } from "./address.ts";

Deno.test("parseAddress() normalises case and IDNA, and rejects malformed addresses", () => {
  assert.deepEqual(parseAddress("Alice@Example.ORG"), {
    local: "alice",
    domain: "example.org",
    address: "alice@example.org",
  });
  assert.equal(parseAddress("jörg@bücher.example")?.address, "jörg@xn--bcher-kva.example");
  assert.equal(parseAddress("first.last+tag@example.org")?.local, "first.last+tag");
  for (
    const bad of [
      "",
      "a",
      "@example.org",
      "a@",
      "a@b",
      "a..b@example.org",
      ".a@example.org",
      "a b@example.org",
      "a@exa mple.org",
      "a@-x.org",
      "a@1.2.3.4",
      "x".repeat(65) + "@example.org",
      "a@localhost",
    ]
  ) {
    assert.equal(parseAddress(bad), undefined, bad);
  }
});

Deno.test("normalizeDomain() and parseAliasSource() handle catch-alls and trailing dots", () => {
  assert.equal(normalizeDomain("Example.ORG."), "example.org");
  assert.equal(normalizeDomain("ex_ample.org"), undefined);
  assert.deepEqual(parseAliasSource("@Example.org"), { local: "", domain: "example.org", address: "@example.org" });
  assert.equal(parseAliasSource("@"), undefined);
});
