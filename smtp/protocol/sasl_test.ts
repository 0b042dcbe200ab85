import { deepEqual as assertEquals, ok as assert } from "node:assert/strict";
import { SmtpReply } from "./reply.ts";
import { redactAuthLine, SaslCredentials, saslExchange, type SaslStep } from "./sasl.ts";

const b64 = (s: string) => btoa(String.fromCharCode(...new TextEncoder().encode(s)));

function creds(step: SaslStep): [string, string, string] {
  if (!step.done) throw new Error(`expected credentials, got challenge ${step.challenge}`);
  return [step.credentials.authzid, step.credentials.username, step.credentials.password];
}

function replyOf(fn: () => unknown): [number, string | null] {
  try {
    fn();
  } catch (e) {
    if (e instanceof SmtpReply) return [e.code, e.enhanced];
    throw e;
  }
  throw new Error("no reply thrown");
}

Deno.test("PLAIN decodes an initial response (RFC 4616 §2)", () => {
  assertEquals(creds(saslExchange("PLAIN")!.start(b64("\0bob@example.org\0s3cret"))), [
    "",
    "bob@example.org",
    "s3cret",
  ]);
  assertEquals(creds(saslExchange("plain")!.start(b64("admin\0bob\0pässwörd"))), ["admin", "bob", "pässwörd"]);
  // Unpadded base64 is tolerated.
  assertEquals(creds(saslExchange("PLAIN")!.start(b64("\0bob\0pw").replace(/=+$/, ""))), ["", "bob", "pw"]);
});

Deno.test("PLAIN without an initial response sends an empty challenge first (RFC 4954 §4)", () => {
  const x = saslExchange("PLAIN")!;
  assertEquals(x.start(null), { done: false, challenge: "" });
  assertEquals(creds(x.respond(b64("\0bob\0pw"))), ["", "bob", "pw"]);
});

Deno.test("PLAIN refuses '=' (empty), malformed messages, '*' and bad base64 with 501", () => {
  assertEquals(replyOf(() => saslExchange("PLAIN")!.start("=")), [501, "5.5.2"]);
  assertEquals(replyOf(() => saslExchange("PLAIN")!.start(b64("bob\0pw"))), [501, "5.5.2"]);
  assertEquals(replyOf(() => saslExchange("PLAIN")!.start(b64("\0\0pw"))), [501, "5.5.2"]);
  assertEquals(replyOf(() => saslExchange("PLAIN")!.start(b64("\0bob\0"))), [501, "5.5.2"]);
  assertEquals(replyOf(() => saslExchange("PLAIN")!.start(b64("a\0b\0c\0d"))), [501, "5.5.2"]);
  const x = saslExchange("PLAIN")!;
  x.start(null);
  assertEquals(replyOf(() => x.respond("*")), [501, "5.7.0"]); // RFC 4954 §4: cancelled
  for (const bad of ["not base64!", "Q", "QQ=", "QQ=Q", "====", "QUJD=", "Y\uFFFD=="]) {
    assertEquals(replyOf(() => saslExchange("PLAIN")!.start(bad)), [501, "5.5.2"], bad);
  }
  // Invalid UTF-8 inside valid base64.
  assertEquals(replyOf(() => saslExchange("PLAIN")!.start(btoa("\0bob\0\xff"))), [501, "5.5.2"]);
});

Deno.test("LOGIN asks for the username and the password", () => {
  const x = saslExchange("LOGIN")!;
  assertEquals(x.start(null), { done: false, challenge: "VXNlcm5hbWU6" });
  assertEquals(x.respond(b64("bob@example.org")), { done: false, challenge: "UGFzc3dvcmQ6" });
  assertEquals(creds(x.respond(b64("s3cret"))), ["", "bob@example.org", "s3cret"]);
  assertEquals(atob("VXNlcm5hbWU6"), "Username:");
  assertEquals(atob("UGFzc3dvcmQ6"), "Password:");
});

Deno.test("LOGIN takes the username as initial response", () => {
  const x = saslExchange("LOGIN")!;
  assertEquals(x.start(b64("bob")), { done: false, challenge: "UGFzc3dvcmQ6" });
  assertEquals(creds(x.respond(b64("pw"))), ["", "bob", "pw"]);
});

Deno.test("LOGIN can be cancelled at either step and refuses empty or undecodable answers", () => {
  const a = saslExchange("LOGIN")!;
  a.start(null);
  assertEquals(replyOf(() => a.respond("*")), [501, "5.7.0"]);
  const b = saslExchange("LOGIN")!;
  b.start(b64("bob"));
  assertEquals(replyOf(() => b.respond(" * ")), [501, "5.7.0"]);
  assertEquals(replyOf(() => saslExchange("LOGIN")!.start("=")), [501, "5.5.2"]);
  const c = saslExchange("LOGIN")!;
  c.start(null);
  assertEquals(replyOf(() => c.respond("%%%")), [501, "5.5.2"]);
  assertEquals(replyOf(() => c.respond("")), [501, "5.5.2"]);
});

Deno.test("saslExchange() returns null for mechanisms not implemented (session: 504 5.5.4)", () => {
  assertEquals(saslExchange("CRAM-MD5"), null);
  assertEquals(saslExchange("GSSAPI"), null);
});

Deno.test("SaslCredentials never shows the password in JSON or inspection", () => {
  const c = new SaslCredentials("", "bob", "hunter2");
  assertEquals(c.password, "hunter2");
  assert(!JSON.stringify(c).includes("hunter2"));
  assert(!JSON.stringify({ nested: [c] }).includes("hunter2"));
  assert(!Deno.inspect(c).includes("hunter2"));
  assert(!Deno.inspect({ c }, { depth: 5, showHidden: true }).includes("hunter2"));
  assert(!String(Object.keys(c)).includes("password"));
});

Deno.test("redactAuthLine() hides the initial response only", () => {
  assertEquals(redactAuthLine("AUTH PLAIN AGJvYgBodW50ZXIy"), "AUTH PLAIN [redacted]");
  assertEquals(redactAuthLine("auth login Ym9i"), "auth login [redacted]");
  assertEquals(redactAuthLine("AUTH PLAIN"), "AUTH PLAIN");
  assertEquals(redactAuthLine("MAIL FROM:<a@b.example>"), "MAIL FROM:<a@b.example>");
});
