/**
 * @module
 * SMTP command lines → typed commands (RFC 5321 §4.1, with the ESMTP parameters of RFC 1870, 3030, 3461,
 * 4954, 6152, 6531 and 8689). Pure: no I/O, no store. `parseCommand` throws a `CommandSyntaxError`, which is an
 * `SmtpReply` carrying the right 500/501/502/555 reply, so the session loop's single catch can send it.
 *
 * Deliberately lenient where real clients deviate (verbs and keywords in any case, trailing white space,
 * a space after "FROM:"/"TO:", several spaces between parameters, extra words after the EHLO domain) and
 * strict where ambiguity would be dangerous (angle brackets are required; control characters are refused).
 */
import { type Address, maxLocalPartOctets, normalizeDomain, parseAddress } from "../../mail/address.ts";
import { SmtpReply } from "./reply.ts";
import { REPLY_CODES, type ReplyName } from "./reply_codes.ts";

/** A parsed mailbox from a MAIL/RCPT path. `local`, `domain` and `address` are normalised (lower case, A-labels). */
export interface Mailbox extends Address {
  /** The mailbox exactly as sent (source route removed): keep it for relaying, where case may matter. */
  raw: string;
  /** True when the mailbox contains non-ASCII characters (needs SMTPUTF8, RFC 6531 §3.3). */
  utf8: boolean;
}

/** RFC 6152 / RFC 3030 §3: the BODY parameter of MAIL. */
export type BodyType = "7BIT" | "8BITMIME" | "BINARYMIME";

/** RFC 3461 §4.1: a NOTIFY value; "NEVER" only ever appears alone. */
export type DsnNotify = "NEVER" | "SUCCESS" | "FAILURE" | "DELAY";

/** The parameters of MAIL FROM (RFC 5321 §4.1.1.2 Mail-parameters). Absent ones are null/false. */
export interface MailParams {
  /** RFC 1870 §3: declared message size in octets. */
  size: number | null;
  /** RFC 6152 §3, RFC 3030 §3. */
  body: BodyType | null;
  /** RFC 6531 §3.4: the transaction may use UTF-8 addresses and headers. */
  smtputf8: boolean;
  /** RFC 3461 §4.3. */
  ret: "FULL" | "HDRS" | null;
  /** RFC 3461 §4.4: the envelope identifier, xtext-decoded. */
  envid: string | null;
  /** RFC 4954 §5: the AUTH= identity, xtext-decoded ("<>" or "<mailbox>"). */
  auth: string | null;
  /** RFC 8689 §4.1. */
  requireTls: boolean;
}

/** The parameters of RCPT TO (RFC 5321 §4.1.1.3 Rcpt-parameters). */
export interface RcptParams {
  /** RFC 3461 §4.1: ["NEVER"] or a subset of SUCCESS, FAILURE, DELAY. */
  notify: readonly DsnNotify[] | null;
  /** RFC 3461 §4.2: the original recipient; `address` is xtext-decoded, `addrType` lower case (e.g. "rfc822"). */
  orcpt: { addrType: string; address: string } | null;
}

/** EHLO or HELO (RFC 5321 §4.1.1.1). */
export interface HelloCommand {
  verb: "EHLO" | "HELO";
  /** The argument as sent: a domain or an address literal such as "[192.0.2.1]". */
  domain: string;
  /** The IP address when the argument is an IPv4/IPv6 address literal (normalised), else null. */
  ip: string | null;
}

/** MAIL FROM (RFC 5321 §4.1.1.2). `from` is null for the null reverse-path `<>`. */
export interface MailCommand {
  verb: "MAIL";
  from: Mailbox | null;
  params: MailParams;
  /** Non-ASCII appears in the path or parameters: the session requires SMTPUTF8 (RFC 6531 §3.5). */
  utf8: boolean;
}

/** RCPT TO (RFC 5321 §4.1.1.3). `"postmaster"` is the domain-less `<Postmaster>` (any case). */
export interface RcptCommand {
  verb: "RCPT";
  to: Mailbox | "postmaster";
  params: RcptParams;
  /** Non-ASCII appears in the path or parameters: the transaction must have SMTPUTF8 (RFC 6531 §3.5). */
  utf8: boolean;
}

/** BDAT chunk-size [LAST] (RFC 3030 §2). */
export interface BdatCommand {
  verb: "BDAT";
  size: number;
  last: boolean;
}

/** VRFY or EXPN (RFC 5321 §4.1.1.6, §4.1.1.7; the SMTPUTF8 flag is RFC 6531 §3.7.4.2). */
export interface VerifyCommand {
  verb: "VRFY" | "EXPN";
  argument: string;
  smtputf8: boolean;
}

/** HELP [topic] (RFC 5321 §4.1.1.8). */
export interface HelpCommand {
  verb: "HELP";
  topic: string | null;
}

/** AUTH mechanism [initial-response] (RFC 4954 §4). `mechanism` is upper case; "=" means an empty response. */
export interface AuthCommand {
  verb: "AUTH";
  mechanism: string;
  initialResponse: string | null;
}

/** A command without arguments (NOOP's optional string is ignored, RFC 5321 §4.1.1.9). */
export interface SimpleCommand {
  verb: "DATA" | "RSET" | "NOOP" | "QUIT" | "STARTTLS";
}

/** Every command the server understands: a union discriminated by `verb`. */
export type Command =
  | HelloCommand
  | MailCommand
  | RcptCommand
  | BdatCommand
  | VerifyCommand
  | HelpCommand
  | AuthCommand
  | SimpleCommand;

/** Why a line was refused; each kind maps to one reply in the table. */
export type CommandErrorKind =
  | "unknown-command"
  | "not-implemented"
  | "bad-character"
  | "syntax"
  | "bad-sender"
  | "bad-recipient"
  | "unknown-parameter"
  | "bad-parameter";

const KIND_REPLY: Record<CommandErrorKind, ReplyName> = {
  "unknown-command": "UNRECOGNIZED_COMMAND", // 500 5.5.2
  "not-implemented": "NOT_IMPLEMENTED", // 502 5.5.1
  "bad-character": "BAD_CHARACTER", // 500 5.5.2
  "syntax": "SYNTAX", // 501 5.5.4
  "bad-sender": "BAD_SENDER_SYNTAX", // 501 5.1.7
  "bad-recipient": "BAD_RECIPIENT_SYNTAX", // 501 5.1.3
  "unknown-parameter": "UNKNOWN_PARAMETER", // 555 5.5.4
  "bad-parameter": "SYNTAX", // 501 5.5.4
};

/** A command line that cannot be parsed. It is the reply to send; `kind` says why, `verb` what was tried. */
export class CommandSyntaxError extends SmtpReply {
  override name = "CommandSyntaxError";
  /** Why the line was refused. */
  readonly kind: CommandErrorKind;
  /** The verb, upper case, when it looked like one (e.g. "GET" for an HTTP request); else "". */
  readonly verb: string;

  constructor(kind: CommandErrorKind, verb: string, options: { detail?: string; reply?: ReplyName } = {}) {
    const [code, enhanced, text] = REPLY_CODES[options.reply ?? KIND_REPLY[kind]];
    super(code, enhanced, options.detail ? `${text}: ${options.detail}` : text);
    this.kind = kind;
    this.verb = verb;
  }
}

// RFC 5321 §4.1.2 Atom / Dot-string, atext from RFC 5322 §3.2.3 extended by RFC 6531 §3.3 (UTF8-non-ascii).
const DOT_STRING =
  /^[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~\u0080-\u{10FFFF}]+(?:\.[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~\u0080-\u{10FFFF}]+)*$/u;
// RFC 5321 §4.1.2 qtextSMTP (%d32-33 / %d35-91 / %d93-126) + RFC 6531 UTF8-non-ascii; quoted-pairSMTP %d92 %d32-126.
const QTEXT = /^[\x20\x21\x23-\x5b\x5d-\x7e\u0080-\u{10FFFF}]$/u;
const QPAIR = /^[\x20-\x7e]$/;
// Control characters, DEL, and U+FFFD (what the line reader makes of invalid UTF-8) are never valid.
// deno-lint-ignore no-control-regex
const BAD_CHAR = /[\x00-\x1f\x7f\uFFFD]/;
const IPV4 = /^(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?:\.(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
// Lenient EHLO/HELO domain: labels of letters, digits, "-" and "_" (Windows host names), optional final dot.
const HELO_DOMAIN = /^[\p{L}\p{N}\p{M}_-]+(?:\.[\p{L}\p{N}\p{M}_-]+)*\.?$/u;
// RFC 5321 §4.1.2 esmtp-keyword and esmtp-value (%d33-60 / %d62-126, + UTF8-non-ascii per RFC 6531 §3.3).
const ESMTP_KEYWORD = /^[A-Za-z0-9][A-Za-z0-9-]*$/;
const ESMTP_VALUE = /^[\x21-\x3c\x3e-\x7e\u0080-\u{10FFFF}]+$/u;
// RFC 4954 §4 / RFC 4422 §3.1: SASL mechanism names.
const SASL_MECH = /^[A-Za-z0-9_-]{1,20}$/;
const NON_ASCII = /[^\p{ASCII}]/u;

const encoder = new TextEncoder();
function octets(s: string): number {
  return encoder.encode(s).length;
}

/** Verbs defined by RFCs that this server does not implement: 502 rather than 500 (RFC 5321 §4.2.4). */
const NOT_IMPLEMENTED = new Set(["TURN", "ETRN", "ATRN", "SEND", "SOML", "SAML", "BURL", "XCLIENT", "XFORWARD"]);

type Parser = (verb: string, args: string | null) => Command;

/** The one dispatch map: verb → argument parser. */
const PARSERS: ReadonlyMap<string, Parser> = new Map<string, Parser>([
  ["EHLO", parseHello],
  ["HELO", parseHello],
  ["MAIL", parseMail],
  ["RCPT", parseRcpt],
  ["DATA", noArgs],
  ["RSET", noArgs],
  ["QUIT", noArgs],
  ["STARTTLS", noArgs],
  ["NOOP", () => ({ verb: "NOOP" })], // RFC 5321 §4.1.1.9: "NOOP" [ SP String ], the string is ignored
  ["BDAT", parseBdat],
  ["VRFY", parseVerify],
  ["EXPN", parseVerify],
  ["HELP", (_verb, args) => ({ verb: "HELP", topic: args && args.trim() ? args.trim() : null })],
  ["AUTH", parseAuth],
]);

/**
 * Parses one command line (without its CRLF). Throws `CommandSyntaxError` (an `SmtpReply`) when the line
 * cannot be understood. UTF-8 addresses are accepted syntactically; `utf8` on MAIL/RCPT tells the session to
 * require SMTPUTF8.
 */
export function parseCommand(line: string): Command {
  // RFC 5321 §4.1.1: "SMTP receivers SHOULD tolerate trailing white space before the terminating <CRLF>".
  const text = line.replace(/[ \t]+$/, "");
  const sp = text.indexOf(" ");
  const word = (sp < 0 ? text : text.slice(0, sp)).toUpperCase();
  const verb = /^[A-Z][A-Z0-9]{0,15}$/.test(word) ? word : "";
  if (BAD_CHAR.test(text)) throw new CommandSyntaxError("bad-character", verb);
  if (NOT_IMPLEMENTED.has(verb)) throw new CommandSyntaxError("not-implemented", verb);
  const parser = PARSERS.get(verb);
  if (!parser) throw new CommandSyntaxError("unknown-command", verb);
  return parser(verb, sp < 0 ? null : text.slice(sp + 1));
}

function syntax(verb: string, detail: string): CommandSyntaxError {
  return new CommandSyntaxError("syntax", verb, { detail });
}

function noArgs(verb: string, args: string | null): Command {
  if (args !== null) {
    // RFC 3207 §4: "501 Syntax error (no parameters allowed)".
    throw verb === "STARTTLS"
      ? new CommandSyntaxError("syntax", verb, { reply: "STARTTLS_SYNTAX" })
      : syntax(verb, "no parameters allowed");
  }
  return { verb } as SimpleCommand;
}

// RFC 5321 §4.1.1.1: ehlo = "EHLO" SP ( Domain / address-literal ) CRLF. Extra words are tolerated and ignored
// (RFC 5321 §4.1.4: a server MUST NOT refuse a message because the EHLO argument looks wrong).
function parseHello(verb: string, args: string | null): HelloCommand {
  const token = args?.split(" ").find((w) => w !== "");
  if (!token) throw syntax(verb, "domain name or address literal required");
  if (token.startsWith("[")) {
    const literal = parseAddressLiteral(token);
    if (!literal) throw syntax(verb, "invalid address literal");
    return { verb: verb as HelloCommand["verb"], domain: token, ip: literal.ip };
  }
  if (!HELO_DOMAIN.test(token) || octets(token) > 255) throw syntax(verb, "invalid domain name");
  return { verb: verb as HelloCommand["verb"], domain: token, ip: null };
}

/** RFC 5321 §4.1.3 address literals: `[IPv4]`, `[IPv6:…]`, `[tag:content]`. */
function parseAddressLiteral(text: string): { ip: string | null; normalized: string } | undefined {
  const m = /^\[(.+)\]$/.exec(text);
  if (!m) return undefined;
  const inner = m[1]!;
  if (IPV4.test(inner)) return { ip: inner, normalized: `[${inner}]` };
  const v6 = /^ipv6:(.+)$/i.exec(inner);
  if (v6) {
    const ip = normalizeIpv6(v6[1]!);
    return ip ? { ip, normalized: `[ipv6:${ip}]` } : undefined;
  }
  // General-address-literal = Standardized-tag ":" 1*dcontent; dcontent = %d33-90 / %d94-126.
  if (/^[A-Za-z0-9-]*[A-Za-z0-9]:[\x21-\x5a\x5e-\x7e]+$/.test(inner)) {
    return { ip: null, normalized: text.toLowerCase() };
  }
  return undefined;
}

function normalizeIpv6(s: string): string | undefined {
  if (!/^[0-9A-Fa-f:.]+$/.test(s) || !s.includes(":")) return undefined;
  try {
    return new URL(`http://[${s}]/`).hostname.slice(1, -1);
  } catch {
    return undefined;
  }
}

// RFC 5321 §4.1.1.2: mail = "MAIL FROM:" Reverse-path [SP Mail-parameters] CRLF.
function parseMail(verb: string, args: string | null): MailCommand {
  const m = args === null ? null : /^FROM: */i.exec(args);
  if (!m || args === null) throw syntax(verb, 'expected "MAIL FROM:<address>"');
  const { inner, rest } = scanPath(args, m[0].length, "bad-sender", verb);
  const from = inner === "" ? null : parseMailbox(stripSourceRoute(inner, "bad-sender", verb), "bad-sender", verb);
  const params: MailParams = {
    size: null,
    body: null,
    smtputf8: false,
    ret: null,
    envid: null,
    auth: null,
    requireTls: false,
  };
  for (const [key, value] of splitParams(rest, verb)) {
    switch (key) {
      case "SIZE": // RFC 1870 §3: size-value = 1*20DIGIT
        if (value === null || !/^\d{1,20}$/.test(value)) throw badParam(verb, "SIZE needs a number");
        params.size = Number(value);
        break;
      case "BODY": { // RFC 6152 §3 (8BITMIME), RFC 3030 §3 (BINARYMIME), RFC 1652 (7BIT)
        const body = value?.toUpperCase();
        if (body !== "7BIT" && body !== "8BITMIME" && body !== "BINARYMIME") {
          throw badParam(verb, "BODY must be 7BIT, 8BITMIME or BINARYMIME");
        }
        params.body = body;
        break;
      }
      case "SMTPUTF8": // RFC 6531 §3.4: "If this parameter is provided, it MUST not accept a value."
        if (value !== null) throw badParam(verb, "SMTPUTF8 takes no value");
        params.smtputf8 = true;
        break;
      case "RET": { // RFC 3461 §4.3
        const ret = value?.toUpperCase();
        if (ret !== "FULL" && ret !== "HDRS") throw badParam(verb, "RET must be FULL or HDRS");
        params.ret = ret;
        break;
      }
      case "ENVID": // RFC 3461 §4.4: xtext, at most 100 characters
        if (value === null || value.length > 100) throw badParam(verb, "invalid ENVID");
        params.envid = decodeParam(value, "ENVID", verb);
        break;
      case "AUTH": // RFC 4954 §5: AUTH=<mailbox> or AUTH=<>, xtext-encoded
        if (value === null) throw badParam(verb, "AUTH needs a value");
        params.auth = decodeParam(value, "AUTH", verb);
        break;
      case "REQUIRETLS": // RFC 8689 §4.1: no value
        if (value !== null) throw badParam(verb, "REQUIRETLS takes no value");
        params.requireTls = true;
        break;
      default:
        throw new CommandSyntaxError("unknown-parameter", verb, { detail: key });
    }
  }
  return { verb: "MAIL", from, params, utf8: NON_ASCII.test(args) };
}

// RFC 5321 §4.1.1.3: rcpt = "RCPT TO:" ( "<Postmaster@" Domain ">" / "<Postmaster>" / Forward-path )
// [SP Rcpt-parameters] CRLF. "<Postmaster>" is matched without regard to case (RFC 5321 §4.5.1).
function parseRcpt(verb: string, args: string | null): RcptCommand {
  const m = args === null ? null : /^TO: */i.exec(args);
  if (!m || args === null) throw syntax(verb, 'expected "RCPT TO:<address>"');
  const { inner, rest } = scanPath(args, m[0].length, "bad-recipient", verb);
  if (inner === "") throw new CommandSyntaxError("bad-recipient", verb, { detail: "empty forward-path" });
  const to = inner.toLowerCase() === "postmaster"
    ? "postmaster"
    : parseMailbox(stripSourceRoute(inner, "bad-recipient", verb), "bad-recipient", verb);
  const params: RcptParams = { notify: null, orcpt: null };
  for (const [key, value] of splitParams(rest, verb)) {
    switch (key) {
      case "NOTIFY": { // RFC 3461 §4.1: "NEVER" / 1#( "SUCCESS" / "FAILURE" / "DELAY" )
        const list = (value ?? "").toUpperCase().split(",");
        const ok = list.every((v) => v === "SUCCESS" || v === "FAILURE" || v === "DELAY") ||
          (list.length === 1 && list[0] === "NEVER");
        if (!value || !ok || new Set(list).size !== list.length) throw badParam(verb, "invalid NOTIFY");
        params.notify = list as DsnNotify[];
        break;
      }
      case "ORCPT": { // RFC 3461 §4.2: addr-type ";" xtext, at most 500 characters
        // TODO(rfc6533 §3): decode the "\x{HEX}" escapes of utf-8-addr-xtext for addr-type "utf-8".
        const o = value === null ? null : /^([A-Za-z0-9!#$%&'*+\-/=?^_`{|}~]+);(.+)$/.exec(value);
        if (!o || value === null || value.length > 500) throw badParam(verb, "invalid ORCPT");
        params.orcpt = { addrType: o[1]!.toLowerCase(), address: decodeParam(o[2]!, "ORCPT", verb) };
        break;
      }
      default:
        throw new CommandSyntaxError("unknown-parameter", verb, { detail: key });
    }
  }
  return { verb: "RCPT", to, params, utf8: NON_ASCII.test(args) };
}

/**
 * Finds `<…>` starting at `pos` (spaces before it were already skipped), honouring quoted strings and
 * address literals, and returns the text inside plus what follows. RFC 5321 §4.1.2: Path = "<" … ">".
 */
function scanPath(
  s: string,
  pos: number,
  kind: "bad-sender" | "bad-recipient",
  verb: string,
): { inner: string; rest: string } {
  if (s[pos] !== "<") throw new CommandSyntaxError(kind, verb, { detail: "address must be in angle brackets" });
  let quoted = false;
  let literal = false;
  for (let i = pos + 1; i < s.length; i++) {
    const c = s[i];
    if (quoted) {
      if (c === "\\") i++;
      else if (c === '"') quoted = false;
    } else if (literal) {
      if (c === "]") literal = false;
    } else if (c === '"') quoted = true;
    else if (c === "[") literal = true;
    else if (c === ">") {
      const inner = s.slice(pos + 1, i);
      // RFC 5321 §4.5.3.1.3: a path is at most 256 octets including the angle brackets.
      if (octets(inner) + 2 > 256) throw new CommandSyntaxError(kind, verb, { detail: "path too long" });
      const rest = s.slice(i + 1);
      if (rest !== "" && !rest.startsWith(" ")) throw syntax(verb, "expected a space after the address");
      return { inner, rest };
    }
  }
  throw new CommandSyntaxError(kind, verb, { detail: "unterminated address" });
}

// RFC 5321 §4.1.2: A-d-l = At-domain *( "," At-domain ); At-domain = "@" Domain. Accepted and ignored
// (RFC 5321 §3.3 and Appendix C: source routes SHOULD be ignored).
function stripSourceRoute(inner: string, kind: "bad-sender" | "bad-recipient", verb: string): string {
  if (!inner.startsWith("@")) return inner;
  const colon = inner.indexOf(":");
  const route = colon < 0 ? "" : inner.slice(0, colon);
  const ok = route.split(",").every((hop) =>
    hop.startsWith("@") && (normalizeDomain(hop.slice(1)) !== undefined ||
      parseAddressLiteral(hop.slice(1)) !== undefined)
  );
  if (colon < 0 || !ok) throw new CommandSyntaxError(kind, verb, { detail: "invalid source route" });
  return inner.slice(colon + 1);
}

/** RFC 5321 §4.1.2: Mailbox = Local-part "@" ( Domain / address-literal ); Local-part = Dot-string / Quoted-string. */
function parseMailbox(text: string, kind: "bad-sender" | "bad-recipient", verb: string): Mailbox {
  const fail = (detail: string) => new CommandSyntaxError(kind, verb, { detail });
  let at: number;
  let content: string | null = null; // the unescaped quoted-string content, when the local part is quoted
  if (text.startsWith('"')) {
    let i = 1;
    let out = "";
    for (; i < text.length; i++) {
      const c = text[i]!;
      if (c === '"') break;
      if (c === "\\") {
        const next = text[i + 1];
        if (next === undefined || !QPAIR.test(next)) throw fail("invalid quoted pair");
        out += next;
        i++;
      } else if (QTEXT.test(c) || /[\uD800-\uDFFF]/.test(c)) {
        out += c;
      } else {
        throw fail("invalid character in quoted local part");
      }
    }
    if (text[i] !== '"') throw fail("unterminated quoted local part");
    at = i + 1;
    if (text[at] !== "@") throw fail("expected @ after the local part");
    content = out;
  } else {
    at = text.lastIndexOf("@");
    if (at <= 0) throw fail("expected local@domain");
    if (!DOT_STRING.test(text.slice(0, at))) throw fail("invalid local part");
  }
  const localRaw = text.slice(0, at);
  const domainRaw = text.slice(at + 1);
  if (octets(localRaw) > maxLocalPartOctets(localRaw)) throw fail("local part too long");

  let domain: string | undefined;
  let literal = false;
  if (domainRaw.startsWith("[")) {
    domain = parseAddressLiteral(domainRaw)?.normalized;
    literal = true;
  } else if (!domainRaw.endsWith(".")) {
    domain = normalizeDomain(domainRaw); // lower case, IDNA A-labels, length ≤ 253 (RFC 5321 §4.5.3.1.2)
  }
  if (!domain) throw fail("invalid domain");

  // A quoted local part that would be a valid dot-string is the same mailbox unquoted (RFC 5321 §4.1.2).
  const plain = content === null ? localRaw : DOT_STRING.test(content) ? content : null;
  let local: string;
  let address: string;
  if (plain !== null && !literal) {
    const parsed = parseAddress(`${plain}@${domain}`);
    if (!parsed) throw fail("invalid address");
    ({ local, address } = parsed);
  } else if (plain !== null) {
    local = plain.normalize("NFC").toLowerCase();
    address = `${local}@${domain}`;
  } else {
    local = content!.normalize("NFC").toLowerCase();
    address = `"${local.replace(/[\\"]/g, "\\$&")}"@${domain}`;
  }
  return { local, domain, address, raw: text, utf8: NON_ASCII.test(text) };
}

/** Splits `SP key[=value] SP …` into upper-case keywords and raw values (RFC 5321 §4.1.2 esmtp-param). */
function splitParams(rest: string, verb: string): Map<string, string | null> {
  const out = new Map<string, string | null>();
  for (const item of rest.split(" ")) {
    if (item === "") continue;
    const eq = item.indexOf("=");
    const key = (eq < 0 ? item : item.slice(0, eq)).toUpperCase();
    const value = eq < 0 ? null : item.slice(eq + 1);
    if (!ESMTP_KEYWORD.test(key)) throw badParam(verb, "invalid parameter keyword");
    if (value !== null && !ESMTP_VALUE.test(value)) throw badParam(verb, `invalid value for ${key}`);
    // RFC 3461 §4, RFC 1870 §6 and others: a parameter appears at most once.
    if (out.has(key)) throw badParam(verb, `duplicate ${key}`);
    out.set(key, value);
  }
  return out;
}

function badParam(verb: string, detail: string): CommandSyntaxError {
  return new CommandSyntaxError("bad-parameter", verb, { detail });
}

function decodeParam(value: string, key: string, verb: string): string {
  try {
    return decodeXtext(value);
  } catch {
    throw badParam(verb, `invalid xtext in ${key}`);
  }
}

// RFC 3030 §2: bdat-cmd = "BDAT" SP chunk-size [ SP end-marker ] CRLF; chunk-size = 1*DIGIT; end-marker = "LAST".
function parseBdat(verb: string, args: string | null): BdatCommand {
  const m = args === null ? null : /^(\d{1,15})(?: +(LAST))?$/i.exec(args);
  if (!m) throw syntax(verb, "expected BDAT <size> [LAST]");
  return { verb: "BDAT", size: Number(m[1]), last: m[2] !== undefined };
}

// RFC 5321 §4.1.1.6/7: "VRFY" SP String; RFC 6531 §3.7.4.2 adds [ SP "SMTPUTF8" ].
function parseVerify(verb: string, args: string | null): VerifyCommand {
  if (!args || !args.trim()) throw syntax(verb, "argument required");
  const m = /^(.*?) +SMTPUTF8$/i.exec(args);
  const argument = (m ? m[1]! : args).trim();
  if (!argument) throw syntax(verb, "argument required");
  return { verb: verb as VerifyCommand["verb"], argument, smtputf8: m !== null };
}

// RFC 4954 §4: "AUTH" SP sasl-mech [SP initial-response]; initial-response = base64 / "=".
function parseAuth(verb: string, args: string | null): AuthCommand {
  const parts = (args ?? "").split(" ").filter((p) => p !== "");
  const [mech, initial] = parts;
  if (!mech || parts.length > 2 || !SASL_MECH.test(mech)) throw syntax(verb, "expected AUTH <mechanism> [response]");
  return { verb: "AUTH", mechanism: mech.toUpperCase(), initialResponse: initial ?? null };
}

/**
 * Decodes RFC 3461 §4 xtext: printable ASCII except "+" and "=", with "+XX" hex escapes. Lower-case hex is
 * accepted (Postel); escapes of control characters are refused, since decoded values end up in headers.
 * Throws `SyntaxError` on invalid input.
 */
export function decodeXtext(s: string): string {
  let out = "";
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c === "+") {
      const hex = s.slice(i + 1, i + 3);
      if (!/^[0-9A-Fa-f]{2}$/.test(hex)) throw new SyntaxError(`Cannot decode xtext "${s}": bad escape`);
      const code = parseInt(hex, 16);
      if (code < 0x20 || code === 0x7f || code > 0x7f) {
        throw new SyntaxError(`Cannot decode xtext "${s}": escape of a non-printable character`);
      }
      out += String.fromCharCode(code);
      i += 2;
    } else if (c === "=" || BAD_CHAR.test(c) || c === " ") {
      throw new SyntaxError(`Cannot decode xtext "${s}": invalid character`);
    } else {
      out += c; // xchar, or UTF-8 (RFC 6533 unitext) which the session only accepts with SMTPUTF8
    }
  }
  return out;
}

/** Encodes a string as RFC 3461 §4 xtext (for relaying ENVID/ORCPT): "+", "=", controls and non-ASCII as "+XX". */
export function encodeXtext(s: string): string {
  let out = "";
  for (const byte of encoder.encode(s)) {
    out += byte >= 0x21 && byte <= 0x7e && byte !== 0x2b && byte !== 0x3d
      ? String.fromCharCode(byte)
      : `+${byte.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out;
}
