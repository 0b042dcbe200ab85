import { deepEqual as assertEquals, ok as assert, throws as assertThrows } from "node:assert/strict";
import {
  type CommandErrorKind,
  CommandSyntaxError,
  decodeXtext,
  encodeXtext,
  type MailCommand,
  parseCommand,
  type RcptCommand,
} from "./parse.ts";
import { SmtpReply } from "./reply.ts";

const NO_MAIL_PARAMS = {
  size: null,
  body: null,
  smtputf8: false,
  ret: null,
  envid: null,
  auth: null,
  requireTls: false,
};

// Valid lines and (a subset of) what they parse to.
const VALID: [string, Record<string, unknown>][] = [
  ["EHLO mx.example.org", { verb: "EHLO", domain: "mx.example.org", ip: null }],
  ["ehlo mx.example.org", { verb: "EHLO", domain: "mx.example.org" }],
  ["EHLO localhost", { verb: "EHLO", domain: "localhost" }],
  ["EHLO DESKTOP_42", { verb: "EHLO", domain: "DESKTOP_42" }],
  ["EHLO [192.0.2.1]", { verb: "EHLO", domain: "[192.0.2.1]", ip: "192.0.2.1" }],
  ["EHLO [IPv6:2001:DB8::1]", { verb: "EHLO", ip: "2001:db8::1" }],
  ["EHLO [ipv6:::ffff:192.0.2.1]", { verb: "EHLO", ip: "::ffff:c000:201" }],
  ["HELO mx.example.org extra words", { verb: "HELO", domain: "mx.example.org" }],
  ["EHLO mx.example.org   ", { verb: "EHLO", domain: "mx.example.org" }],
  ["DATA", { verb: "DATA" }],
  ["data", { verb: "DATA" }],
  ["DATA \t ", { verb: "DATA" }],
  ["RSET", { verb: "RSET" }],
  ["QUIT", { verb: "QUIT" }],
  ["NOOP", { verb: "NOOP" }],
  ["NOOP anything at all", { verb: "NOOP" }],
  ["STARTTLS", { verb: "STARTTLS" }],
  ["HELP", { verb: "HELP", topic: null }],
  ["HELP MAIL", { verb: "HELP", topic: "MAIL" }],
  ["VRFY bob", { verb: "VRFY", argument: "bob", smtputf8: false }],
  ["EXPN staff SMTPUTF8", { verb: "EXPN", argument: "staff", smtputf8: true }],
  ["BDAT 0 LAST", { verb: "BDAT", size: 0, last: true }],
  ["BDAT 1000", { verb: "BDAT", size: 1000, last: false }],
  ["bdat 86 last", { verb: "BDAT", size: 86, last: true }],
  ["AUTH PLAIN", { verb: "AUTH", mechanism: "PLAIN", initialResponse: null }],
  ["AUTH plain AGJvYgBzZWNyZXQ=", { verb: "AUTH", mechanism: "PLAIN", initialResponse: "AGJvYgBzZWNyZXQ=" }],
  ["AUTH PLAIN =", { verb: "AUTH", mechanism: "PLAIN", initialResponse: "=" }],
  ["AUTH LOGIN", { verb: "AUTH", mechanism: "LOGIN", initialResponse: null }],
  ["AUTH SCRAM-SHA-256", { verb: "AUTH", mechanism: "SCRAM-SHA-256" }],
];

Deno.test("parseCommand() parses valid command lines", async (t) => {
  for (const [line, expected] of VALID) {
    await t.step(JSON.stringify(line), () => {
      const cmd = parseCommand(line) as unknown as Record<string, unknown>;
      for (const [k, v] of Object.entries(expected)) assertEquals(cmd[k], v, `${line}: ${k}`);
    });
  }
});

function mail(line: string): MailCommand {
  const cmd = parseCommand(line);
  assertEquals(cmd.verb, "MAIL");
  return cmd as MailCommand;
}

function rcpt(line: string): RcptCommand {
  const cmd = parseCommand(line);
  assertEquals(cmd.verb, "RCPT");
  return cmd as RcptCommand;
}

Deno.test("parseCommand() parses MAIL FROM paths", () => {
  const m = mail("MAIL FROM:<Alice@Example.ORG>");
  assertEquals(m.from, {
    local: "alice",
    domain: "example.org",
    address: "alice@example.org",
    raw: "Alice@Example.ORG",
    utf8: false,
  });
  assertEquals(m.params, NO_MAIL_PARAMS);
  assertEquals(m.utf8, false);
  // The null reverse-path (RFC 5321 §4.5.5).
  assertEquals(mail("MAIL FROM:<>").from, null);
  // Lenient: verb and keyword case, a space after the colon (common clients), trailing white space.
  assertEquals(mail("mail from: <bob@example.org>  ").from?.address, "bob@example.org");
  assertEquals(mail("MAIL FROM:   <>").from, null);
  // Source routes are accepted and ignored (RFC 5321 §4.1.2, Appendix C).
  assertEquals(mail("MAIL FROM:<@a.example,@b.example:joe@c.example>").from?.address, "joe@c.example");
  // Address literal domains.
  assertEquals(mail("MAIL FROM:<joe@[192.0.2.7]>").from?.domain, "[192.0.2.7]");
  assertEquals(mail("MAIL FROM:<joe@[IPv6:2001:db8::7]>").from?.domain, "[ipv6:2001:db8::7]");
  // Plus addressing and other atext.
  assertEquals(mail("MAIL FROM:<a.b+tag!#$%&'*/=?^_`{|}~-@example.org>").from?.local, "a.b+tag!#$%&'*/=?^_`{|}~-");
});

Deno.test("parseCommand() parses quoted local parts", () => {
  const q = mail('MAIL FROM:<"John Doe"@example.org>').from!;
  assertEquals([q.local, q.address, q.raw], ["john doe", '"john doe"@example.org', '"John Doe"@example.org']);
  // Escapes and a ">" or "@" inside quotes do not end the path.
  assertEquals(mail('MAIL FROM:<"a\\"b>c@d"@example.org> SIZE=10').from?.local, 'a"b>c@d');
  assertEquals(mail('MAIL FROM:<"a\\"b>c@d"@example.org> SIZE=10').params.size, 10);
  // A quoted local part that is a valid dot-string is the same mailbox unquoted.
  assertEquals(mail('MAIL FROM:<"bob"@example.org>').from?.address, "bob@example.org");
});

Deno.test("parseCommand() flags UTF-8 addresses for the SMTPUTF8 check", () => {
  const m = mail("MAIL FROM:<jösé@bücher.example> SMTPUTF8");
  assertEquals(m.utf8, true);
  assertEquals(m.params.smtputf8, true);
  assertEquals(m.from?.domain, "xn--bcher-kva.example");
  assertEquals(m.from?.local, "jösé");
  assertEquals(m.from?.utf8, true);
  // Without SMTPUTF8 it still parses; the session replies 550/553 5.6.7 (RFC 6531 §3.5).
  assertEquals(mail("MAIL FROM:<jösé@example.org>").params.smtputf8, false);
  assertEquals(rcpt("RCPT TO:<用户@例子.广告>").utf8, true);
  assertEquals(rcpt("RCPT TO:<bob@example.org>").utf8, false);
});

Deno.test("parseCommand() parses MAIL parameters", () => {
  assertEquals(
    mail(
      "MAIL FROM:<a@example.org> size=1000 BODY=8bitmime SMTPUTF8 RET=hdrs ENVID=QQ+2B123 AUTH=<a+40b.example> REQUIRETLS",
    )
      .params,
    {
      size: 1000,
      body: "8BITMIME",
      smtputf8: true,
      ret: "HDRS",
      envid: "QQ+123",
      auth: "<a@b.example>",
      requireTls: true,
    },
  );
  assertEquals(mail("MAIL FROM:<> AUTH=<>").params.auth, "<>");
  assertEquals(mail("MAIL FROM:<> BODY=BINARYMIME").params.body, "BINARYMIME");
  assertEquals(mail("MAIL FROM:<> BODY=7BIT").params.body, "7BIT");
  assertEquals(mail("MAIL FROM:<>   SIZE=5    BODY=7BIT").params.size, 5);
  assertEquals(mail("MAIL FROM:<> SIZE=99999999999999999999").params.size, 1e20);
});

Deno.test("parseCommand() parses RCPT TO and its DSN parameters", () => {
  assertEquals(rcpt("RCPT TO:<bob@example.org>").to, {
    local: "bob",
    domain: "example.org",
    address: "bob@example.org",
    raw: "bob@example.org",
    utf8: false,
  });
  assertEquals(rcpt("RCPT TO:<bob@example.org>").params, { notify: null, orcpt: null });
  // RFC 5321 §4.1.1.3 / §4.5.1: <Postmaster> without a domain, any case.
  assertEquals(rcpt("RCPT TO:<Postmaster>").to, "postmaster");
  assertEquals(rcpt("rcpt to:<POSTMASTER>").to, "postmaster");
  assertEquals((rcpt("RCPT TO:<postmaster@example.org>").to as { address: string }).address, "postmaster@example.org");
  assertEquals(rcpt("RCPT TO: <bob@example.org>").to !== "postmaster", true);
  const p = rcpt("RCPT TO:<bob@example.org> NOTIFY=success,delay ORCPT=rfc822;Bob+2Bx@example.org").params;
  assertEquals(p, { notify: ["SUCCESS", "DELAY"], orcpt: { addrType: "rfc822", address: "Bob+x@example.org" } });
  assertEquals(rcpt("RCPT TO:<bob@example.org> NOTIFY=NEVER").params.notify, ["NEVER"]);
});

// Invalid lines and the error kind (which fixes the reply).
const INVALID: [string, CommandErrorKind, number][] = [
  ["", "unknown-command", 500],
  ["   ", "unknown-command", 500],
  ["FOO", "unknown-command", 500],
  ["GET / HTTP/1.1", "unknown-command", 500],
  ["MAILFROM:<a@b.example>", "unknown-command", 500],
  ["TURN", "not-implemented", 502],
  ["ETRN example.org", "not-implemented", 502],
  ["NOOP \x00", "bad-character", 500],
  ["MAIL FROM:<a@b.example>\r", "bad-character", 500],
  ["RCPT TO:<a\x1b@b.example>", "bad-character", 500],
  ["MAIL FROM:<\uFFFD@b.example>", "bad-character", 500],
  ["\uFEFFEHLO x", "unknown-command", 500],
  ["EHLO", "syntax", 501],
  ["EHLO ", "syntax", 501],
  ["EHLO bad/name", "syntax", 501],
  ["EHLO [300.1.1.1]", "syntax", 501],
  ["EHLO [IPv6:zz::1]", "syntax", 501],
  ["EHLO [192.0.2.1", "syntax", 501],
  ["DATA now", "syntax", 501],
  ["RSET x", "syntax", 501],
  ["QUIT now", "syntax", 501],
  ["STARTTLS x", "syntax", 501],
  ["MAIL", "syntax", 501],
  ["MAIL TO:<a@b.example>", "syntax", 501],
  ["MAIL FROM <a@b.example>", "syntax", 501],
  ["MAIL FROM:a@b.example", "bad-sender", 501],
  ["MAIL FROM:<a@b.example", "bad-sender", 501],
  ["MAIL FROM:<a@b.example>SIZE=1", "syntax", 501],
  ["MAIL FROM:<a>", "bad-sender", 501],
  ["MAIL FROM:<@b.example>", "bad-sender", 501],
  ["MAIL FROM:<a@>", "bad-sender", 501],
  ["MAIL FROM:<a@b.example.>", "bad-sender", 501],
  ["MAIL FROM:<a@localhost>", "bad-sender", 501],
  ["MAIL FROM:<a..b@b.example>", "bad-sender", 501],
  ["MAIL FROM:<.a@b.example>", "bad-sender", 501],
  ["MAIL FROM:<a b@b.example>", "bad-sender", 501],
  ["MAIL FROM:<a@b@c.example>", "bad-sender", 501],
  ['MAIL FROM:<"unterminated@b.example>', "bad-sender", 501],
  ['MAIL FROM:<"a"b@c.example>', "bad-sender", 501],
  ["MAIL FROM:<a@[1.2.3]>", "bad-sender", 501],
  ["MAIL FROM:<@a.example:>", "bad-sender", 501],
  ["MAIL FROM:<@a.example,b.example:u@d.example>", "bad-sender", 501],
  ["MAIL FROM:<" + "a".repeat(65) + "@b.example>", "bad-sender", 501],
  [
    "MAIL FROM:<a@" + "b".repeat(63) + "." + "c".repeat(63) + "." + "d".repeat(63) + "." + "e".repeat(63) + ".example>",
    "bad-sender",
    501,
  ],
  ["MAIL FROM:<> SIZE", "bad-parameter", 501],
  ["MAIL FROM:<> SIZE=abc", "bad-parameter", 501],
  ["MAIL FROM:<> SIZE=1 SIZE=2", "bad-parameter", 501],
  ["MAIL FROM:<> SIZE=", "bad-parameter", 501],
  ["MAIL FROM:<> BODY=9BIT", "bad-parameter", 501],
  ["MAIL FROM:<> SMTPUTF8=yes", "bad-parameter", 501],
  ["MAIL FROM:<> RET=ALL", "bad-parameter", 501],
  ["MAIL FROM:<> ENVID=a+zz", "bad-parameter", 501],
  ["MAIL FROM:<> ENVID=a+0A", "bad-parameter", 501],
  ["MAIL FROM:<> ENVID=" + "x".repeat(101), "bad-parameter", 501],
  ["MAIL FROM:<> REQUIRETLS=1", "bad-parameter", 501],
  ["MAIL FROM:<> _X=1", "bad-parameter", 501],
  ["MAIL FROM:<> X==1", "bad-parameter", 501],
  ["MAIL FROM:<> XYZZY", "unknown-parameter", 555],
  ["MAIL FROM:<> NOTIFY=NEVER", "unknown-parameter", 555],
  ["RCPT", "syntax", 501],
  ["RCPT TO:", "bad-recipient", 501],
  ["RCPT TO:<>", "bad-recipient", 501],
  ["RCPT TO:bob@example.org", "bad-recipient", 501],
  ["RCPT TO:<bob>", "bad-recipient", 501],
  ["RCPT TO:<bob@example.org> NOTIFY=NEVER,SUCCESS", "bad-parameter", 501],
  ["RCPT TO:<bob@example.org> NOTIFY=SOMETIMES", "bad-parameter", 501],
  ["RCPT TO:<bob@example.org> NOTIFY=SUCCESS,SUCCESS", "bad-parameter", 501],
  ["RCPT TO:<bob@example.org> ORCPT=bob@example.org", "bad-parameter", 501],
  ["RCPT TO:<bob@example.org> SIZE=1", "unknown-parameter", 555],
  ["BDAT", "syntax", 501],
  ["BDAT -1", "syntax", 501],
  ["BDAT 10 NOTLAST", "syntax", 501],
  ["BDAT 1234567890123456", "syntax", 501],
  ["VRFY", "syntax", 501],
  ["AUTH", "syntax", 501],
  ["AUTH PLAIN a b", "syntax", 501],
  ["AUTH THIS-MECHANISM-NAME-IS-TOO-LONG", "syntax", 501],
  ["AUTH PL@IN", "syntax", 501],
];

Deno.test("parseCommand() refuses invalid lines with a typed reply", async (t) => {
  for (const [line, kind, code] of INVALID) {
    await t.step(JSON.stringify(line.length > 60 ? line.slice(0, 60) + "…" : line), () => {
      const err = assertThrowsSyntax(line);
      assertEquals(err.kind, kind, line);
      assertEquals(err.code, code, line);
    });
  }
});

function assertThrowsSyntax(line: string): CommandSyntaxError {
  try {
    const cmd = parseCommand(line);
    throw new Error(`parsed ${JSON.stringify(line)} as ${JSON.stringify(cmd)}`);
  } catch (e) {
    if (!(e instanceof CommandSyntaxError)) throw e;
    return e;
  }
}

Deno.test("CommandSyntaxError is an SmtpReply with the right enhanced codes and the verb", () => {
  const sender = assertThrowsSyntax("MAIL FROM:<a@>");
  assert(sender instanceof SmtpReply);
  assertEquals([sender.code, sender.enhanced, sender.verb], [501, "5.1.7", "MAIL"]);
  assertEquals(assertThrowsSyntax("RCPT TO:<b>").enhanced, "5.1.3");
  assertEquals(assertThrowsSyntax("MAIL FROM:<> FOO=1").enhanced, "5.5.4");
  assertEquals(assertThrowsSyntax("FROB").enhanced, "5.5.2");
  assertEquals(assertThrowsSyntax("GET / HTTP/1.0").verb, "GET");
  // RFC 3207 §4.
  assertEquals(assertThrowsSyntax("STARTTLS now").lines, ["Syntax error (no parameters allowed)"]);
});

Deno.test("decodeXtext() and encodeXtext() follow RFC 3461 §4", () => {
  assertEquals(decodeXtext("a+2Bb+3Dc"), "a+b=c");
  assertEquals(decodeXtext("a+2bb"), "a+b"); // lower-case hex tolerated
  assertEquals(decodeXtext(""), "");
  assertThrows(() => decodeXtext("a+2"), SyntaxError);
  assertThrows(() => decodeXtext("a=b"), SyntaxError);
  assertThrows(() => decodeXtext("a+0Db"), SyntaxError);
  assertThrows(() => decodeXtext("a b"), SyntaxError);
  assertEquals(encodeXtext("a+b=c d"), "a+2Bb+3Dc+20d");
  assertEquals(encodeXtext("é"), "+C3+A9");
  for (const s of ["plain", "x+y=z", "<a@b.example>", '~!"#']) assertEquals(decodeXtext(encodeXtext(s)), s);
});
