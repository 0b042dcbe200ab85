import { deepEqual as assertEquals, throws as assertThrows } from "node:assert/strict";
import { formatReply, reply, SmtpReply } from "./reply.ts";
import { REPLY_CODES, type ReplyName } from "./reply_codes.ts";

Deno.test("REPLY_CODES: every enhanced code matches its reply class (RFC 3463 §3.1)", () => {
  for (const [name, [code, enhanced, text]] of Object.entries(REPLY_CODES)) {
    assertEquals(code >= 200 && code <= 599, true, name);
    if (enhanced === null) {
      // RFC 2034 §3: only the greeting, EHLO/HELO and 3xx replies go without.
      assertEquals(["GREETING", "EHLO", "HELO", "NO_SERVICE"].includes(name) || code < 400 && code >= 300, true, name);
    } else {
      assertEquals(enhanced[0], String(code)[0], `${name}: ${code} ${enhanced}`);
    }
    assertEquals(/[\r\n]/.test(text), false, name);
  }
});

Deno.test("reply() builds from the table and formatReply() prefixes the enhanced code", () => {
  assertEquals(formatReply(reply("RELAY_DENIED")), "554 5.7.1 Relay access denied\r\n");
  assertEquals(
    formatReply(reply("NO_SUCH_USER", "No such user: bob@example.org")),
    "550 5.1.1 No such user: bob@example.org\r\n",
  );
  assertEquals(formatReply(reply("AUTH_FAILED")), "535 5.7.8 Authentication credentials invalid\r\n");
});

Deno.test("formatReply() writes multi-line replies with 250- and the enhanced code on every line", () => {
  const r = new SmtpReply(250, "2.0.0", ["first", "second", "last"]);
  assertEquals(formatReply(r), "250-2.0.0 first\r\n250-2.0.0 second\r\n250 2.0.0 last\r\n");
});

Deno.test("formatReply() leaves the enhanced code off the greeting and EHLO (RFC 2034 §3)", () => {
  assertEquals(
    formatReply(reply("GREETING", "mx.example.org ESMTP Silvermail")),
    "220 mx.example.org ESMTP Silvermail\r\n",
  );
  assertEquals(
    formatReply(reply("EHLO", ["mx.example.org", "PIPELINING", "8BITMIME"])),
    "250-mx.example.org\r\n250-PIPELINING\r\n250 8BITMIME\r\n",
  );
  assertEquals(formatReply(reply("START_DATA")), "354 End data with <CR><LF>.<CR><LF>\r\n");
});

Deno.test("formatReply() writes AUTH challenges as '334 <base64>' and an empty one as '334 '", () => {
  assertEquals(formatReply(reply("AUTH_CHALLENGE", "VXNlcm5hbWU6")), "334 VXNlcm5hbWU6\r\n");
  assertEquals(formatReply(reply("AUTH_CHALLENGE")), "334 \r\n");
});

Deno.test("formatReply() cannot be made to inject a line (CR, LF, control and non-ASCII characters)", () => {
  const out = formatReply(reply("NO_SUCH_USER", "x\r\n250 OK\nbad\x00é"));
  assertEquals(out, "550 5.1.1 x  250 OK bad??\r\n");
  assertEquals(out.split("\r\n").length, 2);
});

Deno.test("formatReply() cuts a line to 512 octets (RFC 5321 §4.5.3.1.5)", () => {
  const out = formatReply(reply("SYNTAX", "a".repeat(2000)));
  assertEquals(out.length, 512);
  assertEquals(out.endsWith("a\r\n"), true);
});

Deno.test("SmtpReply is an Error with class helpers and validates its codes", () => {
  const r = reply("TIMEOUT");
  assertEquals(r instanceof Error, true);
  assertEquals([r.code, r.enhanced, r.transient, r.positive, r.closesConnection], [421, "4.4.2", true, false, true]);
  assertEquals(reply("OK").positive, true);
  assertEquals(reply("BYE").closesConnection, true);
  assertThrows(() => new SmtpReply(99, null, "x"), RangeError);
  assertThrows(() => new SmtpReply(550, "5.1", "x"), RangeError);
});

Deno.test("the table has the refusals the session needs", () => {
  const expect: [ReplyName, number, string][] = [
    ["RELAY_DENIED", 554, "5.7.1"],
    ["NO_SUCH_USER", 550, "5.1.1"],
    ["MESSAGE_TOO_BIG", 552, "5.3.4"],
    ["TOO_MANY_RECIPIENTS", 452, "4.5.3"],
    ["AUTH_REQUIRED", 530, "5.7.0"],
    ["ENCRYPTION_REQUIRED", 538, "5.7.11"],
    ["AUTH_FAILED", 535, "5.7.8"],
    ["AUTH_THROTTLED", 454, "4.7.0"],
    ["SENDER_NOT_OWNED", 553, "5.7.1"],
    ["BARE_LF", 554, "5.6.0"],
    ["LINE_TOO_LONG", 500, "5.5.2"],
    ["BAD_SEQUENCE", 503, "5.5.1"],
    ["NOT_IMPLEMENTED", 502, "5.5.1"],
    ["VRFY", 252, "2.5.0"],
    ["TOO_MANY_ERRORS", 421, "4.7.0"],
    ["TIMEOUT", 421, "4.4.2"],
    ["TEMP_FAILURE", 451, "4.3.0"],
    ["OVERQUOTA", 552, "5.2.2"],
    ["OVERQUOTA_TEMP", 452, "4.2.2"],
    ["UNKNOWN_PARAMETER", 555, "5.5.4"],
  ];
  for (const [name, code, enhanced] of expect) {
    assertEquals([REPLY_CODES[name][0], REPLY_CODES[name][1]], [code, enhanced], name);
  }
});
