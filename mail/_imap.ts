/**
 * @module
 * IMAP FETCH values: ENVELOPE, BODY and BODYSTRUCTURE text exactly as it follows the item name in a FETCH
 * response (RFC 3501 §7.4.2 / RFC 9051 §7.5.2, formal syntax RFC 3501 §9). Strings are quoted, or literals when
 * they hold 8-bit characters; the text is meant to be written as UTF-8 and literal lengths count UTF-8 octets.
 */
import type { Envelope, EnvelopeAddress } from "./_envelope.ts";

const encoder = new TextEncoder();

/** nstring: NIL, a quoted string, or a literal `{n}\r\n…` for CR, LF or non-ASCII text (RFC 3501 §4.3, §9). */
export function nstring(s: string | null): string {
  if (s === null) return "NIL";
  let escape = false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x80 || c === 0x0d || c === 0x0a || c === 0) return `{${encoder.encode(s).length}}\r\n${s}`;
    if (c === 0x22 || c === 0x5c) escape = true;
  }
  return escape ? `"${s.replace(/[\\"]/g, "\\$&")}"` : `"${s}"`;
}

function addressList(list: readonly EnvelopeAddress[] | null): string {
  if (!list || list.length === 0) return "NIL";
  let out = "(";
  for (const a of list) {
    out += `(${nstring(a.name)} ${nstring(a.adl)} ${nstring(a.mailbox)} ${nstring(a.host)})`;
  }
  return out + ")";
}

/** env-date SP env-subject SP env-from SP env-sender SP env-reply-to SP env-to … (RFC 3501 §9 envelope). */
export function envelopeString(e: Envelope): string {
  return `(${nstring(e.date)} ${nstring(e.subject)} ${addressList(e.from)} ${addressList(e.sender)} ${
    addressList(e.replyTo)
  } ${addressList(e.to)} ${addressList(e.cc)} ${addressList(e.bcc)} ${nstring(e.inReplyTo)} ${nstring(e.messageId)})`;
}

/** What BODY/BODYSTRUCTURE show for one MIME entity: header values with their original spelling. */
export interface ImapEntity {
  type: string;
  subtype: string;
  params: readonly [string, string][];
  id: string | null;
  description: string | null;
  encoding: string;
  size: number;
  lines: number | null;
  md5: string | null;
  disposition: { type: string; params: readonly [string, string][] } | null;
  language: readonly string[] | null;
  location: string | null;
  /** Children of a multipart (may be empty: then one empty text/plain is shown, as Dovecot does). */
  children?: ImapEntity[];
  /** An encapsulated message/rfc822. */
  message?: { envelope: Envelope; root: ImapEntity };
}

function params(list: readonly [string, string][], defaultCharset: boolean): string {
  const hasCharset = defaultCharset && list.some(([k]) => k.toLowerCase() === "charset");
  if (list.length === 0 && !defaultCharset) return "NIL";
  const items = list.map(([k, v]) => `${nstring(k)} ${nstring(v)}`);
  // RFC 2045 §5.2: text without a charset is us-ascii; show it, as Dovecot does.
  if (defaultCharset && !hasCharset) items.push('"charset" "us-ascii"');
  return `(${items.join(" ")})`;
}

function extension(e: ImapEntity): string {
  const disp = e.disposition ? `(${nstring(e.disposition.type)} ${params(e.disposition.params, false)})` : "NIL";
  const lang = e.language && e.language.length > 0 ? `(${e.language.map(nstring).join(" ")})` : "NIL";
  return `${disp} ${lang} ${nstring(e.location)}`;
}

// RFC 3501 §7.4.2: a multipart without parts is not allowed; show one empty text/plain part (as Dovecot does).
const EMPTY_BODY = '("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 0 0';

/** BODYSTRUCTURE (`extended`) or BODY text for an entity (RFC 3501 §9 body, body-type-1part, body-type-mpart). */
export function bodyString(e: ImapEntity, extended: boolean): string {
  if (e.children) {
    let out = "(";
    if (e.children.length === 0) out += EMPTY_BODY + (extended ? " NIL NIL NIL NIL)" : ")");
    for (const c of e.children) out += bodyString(c, extended);
    out += ` ${nstring(e.subtype)}`;
    // body-ext-mpart = body-fld-param [SP body-fld-dsp [SP body-fld-lang [SP body-fld-loc]]]
    if (extended) out += ` ${params(e.params, false)} ${extension(e)}`;
    return out + ")";
  }
  const text = e.type.toLowerCase() === "text";
  let out = `(${nstring(e.type)} ${nstring(e.subtype)} ${params(e.params, text)} ${nstring(e.id)} ${
    nstring(e.description)
  } ${nstring(e.encoding)} ${e.size}`;
  if (e.message) {
    // body-type-msg = media-message SP body-fields SP envelope SP body SP body-fld-lines
    out += ` ${envelopeString(e.message.envelope)} ${bodyString(e.message.root, extended)} ${e.lines ?? 0}`;
  } else if (text) {
    out += ` ${e.lines ?? 0}`; // body-type-text: body-fld-lines
  }
  // body-ext-1part = body-fld-md5 [SP body-fld-dsp [SP body-fld-lang [SP body-fld-loc]]]
  if (extended) out += ` ${nstring(e.md5)} ${extension(e)}`;
  return out + ")";
}
