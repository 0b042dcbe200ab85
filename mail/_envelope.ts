/**
 * @module
 * The IMAP ENVELOPE of a message (RFC 3501 §7.4.2, RFC 9051 §7.5.2): raw header values (not RFC 2047-decoded, as
 * IMAP wants them) and address lists parsed per RFC 5322 §3.4 into (name adl mailbox host), group syntax
 * included. Broken addresses follow Dovecot: a missing local part or domain becomes MISSING_MAILBOX /
 * MISSING_DOMAIN, so a NIL host always means group syntax.
 */

/** One ENVELOPE address; a group is `{mailbox: name, host: null}` … `{all null}` (RFC 3501 §7.4.2). */
export interface EnvelopeAddress {
  /** Display name as written (quotes removed, encoded words kept), or the comment of a bare addr-spec. */
  name: string | null;
  /** Source route (`@a,@b`), obsolete. */
  adl: string | null;
  /** Local part, or the group name at a group start; null at a group end. */
  mailbox: string | null;
  /** Domain; null only at a group start or end. */
  host: string | null;
}

/** ENVELOPE fields, in RFC 3501 order; strings are the raw unfolded header values. */
export interface Envelope {
  date: string | null;
  subject: string | null;
  from: EnvelopeAddress[] | null;
  /** Defaults to `from` (RFC 3501 §7.4.2). */
  sender: EnvelopeAddress[] | null;
  /** Defaults to `from` (RFC 3501 §7.4.2). */
  replyTo: EnvelopeAddress[] | null;
  to: EnvelopeAddress[] | null;
  cc: EnvelopeAddress[] | null;
  bcc: EnvelopeAddress[] | null;
  inReplyTo: string | null;
  messageId: string | null;
}

/** The header fields an envelope is built from (lower case). */
export const ENVELOPE_FIELDS = [
  "date",
  "subject",
  "from",
  "sender",
  "reply-to",
  "to",
  "cc",
  "bcc",
  "in-reply-to",
  "message-id",
] as const;

const MISSING_MAILBOX = "MISSING_MAILBOX";
const MISSING_DOMAIN = "MISSING_DOMAIN";

type TokenKind = "atom" | "quoted" | "literal" | "comment" | "special";
interface Token {
  kind: TokenKind;
  text: string;
}

const SPECIALS = "<>@,;:";
// Characters that end an atom: whitespace, specials, and the openers of comments, quoted strings and literals.
const ATOM_END = new Uint8Array(128);
for (const c of ' \t\r\n()"[<>@,;:') ATOM_END[c.charCodeAt(0)] = 1;

function tokenize(s: string): Token[] {
  const out: Token[] = [];
  const n = s.length;
  let i = 0;
  while (i < n) {
    const c = s[i]!;
    if (c === " " || c === "\t" || c === "\r" || c === "\n") {
      i++;
    } else if (c === "(") {
      let depth = 0;
      let text = "";
      for (; i < n; i++) {
        const d = s[i]!;
        if (d === "\\" && i + 1 < n) text += s[++i];
        else if (d === "(") {
          if (depth++ > 0) text += d;
        } else if (d === ")") {
          if (--depth === 0) break;
          text += d;
        } else text += d;
      }
      i++;
      out.push({ kind: "comment", text: text.trim() });
    } else if (c === '"') {
      let text = "";
      for (i++; i < n; i++) {
        const d = s[i]!;
        if (d === "\\" && i + 1 < n) text += s[++i];
        else if (d === '"') break;
        else text += d;
      }
      i++;
      out.push({ kind: "quoted", text });
    } else if (c === "[") {
      const end = s.indexOf("]", i);
      const stop = end < 0 ? n : end + 1;
      out.push({ kind: "literal", text: s.slice(i, stop) });
      i = stop;
    } else if (SPECIALS.includes(c)) {
      out.push({ kind: "special", text: c });
      i++;
    } else {
      let j = i;
      for (; j < n; j++) {
        const code = s.charCodeAt(j);
        if (code < 128 && ATOM_END[code]) break;
      }
      if (j === i) j++; // a stray "]" or ")": one-character atom
      out.push({ kind: "atom", text: s.slice(i, j) });
      i = j;
    }
  }
  return out;
}

class AddressParser {
  readonly #t: Token[];
  #i = 0;
  #lastComment: string | null = null;

  constructor(tokens: Token[]) {
    this.#t = tokens;
  }

  #peek(): Token | undefined {
    return this.#t[this.#i];
  }

  #isSpecial(c: string): boolean {
    const t = this.#t[this.#i];
    return t !== undefined && t.kind === "special" && t.text === c;
  }

  /** Skips comments, remembering the last one (Dovecot uses it as the name of a bare addr-spec). */
  #skipComments(): void {
    for (let t = this.#peek(); t && t.kind === "comment"; t = this.#peek()) {
      if (t.text) this.#lastComment = t.text;
      this.#i++;
    }
  }

  /** address-list = address *("," address); lenient: also continues after a group without a comma. */
  list(): EnvelopeAddress[] {
    const out: EnvelopeAddress[] = [];
    while (this.#i < this.#t.length) {
      this.#skipComments();
      if (this.#i >= this.#t.length) break;
      if (this.#isSpecial(",")) {
        // An empty list element (RFC 5322 §4.4 obs-addr-list); Dovecot reports it as a missing address.
        out.push({ name: null, adl: null, mailbox: MISSING_MAILBOX, host: MISSING_DOMAIN });
        this.#i++;
        continue;
      }
      this.#address(out);
      this.#skipComments();
      if (this.#isSpecial(",")) this.#i++;
    }
    return out;
  }

  /** address = mailbox / group (RFC 5322 §3.4). */
  #address(out: EnvelopeAddress[]): void {
    const start = this.#i;
    const phrase = this.#phrase();
    if (this.#isSpecial(":")) {
      // RFC 3501 §7.4.2: group start (NIL NIL name NIL), members, group end (NIL NIL NIL NIL).
      this.#i++;
      out.push({ name: null, adl: null, mailbox: phrase.join(" "), host: null });
      while (this.#i < this.#t.length) {
        this.#skipComments();
        if (this.#isSpecial(";")) break;
        if (this.#isSpecial(",")) {
          this.#i++;
          continue;
        }
        const before = this.#i;
        this.#mailbox(out);
        this.#skipComments();
        if (this.#isSpecial(",")) this.#i++;
        else if (this.#i === before) this.#i++;
      }
      if (this.#isSpecial(";")) this.#i++;
      out.push({ name: null, adl: null, mailbox: null, host: null });
      return;
    }
    this.#i = start;
    this.#mailbox(out);
  }

  /** Words (atoms and quoted strings) up to the next special; comments are skipped. */
  #phrase(): string[] {
    const words: string[] = [];
    for (let t = this.#peek(); t && t.kind !== "special"; t = this.#peek()) {
      if (t.kind !== "comment") words.push(t.text);
      else if (t.text) this.#lastComment = t.text;
      this.#i++;
    }
    return words;
  }

  /** mailbox = name-addr / addr-spec, with Dovecot's handling of what is neither. */
  #mailbox(out: EnvelopeAddress[]): void {
    this.#lastComment = null;
    const start = this.#i;
    const phrase = this.#phrase();
    if (this.#isSpecial("<")) {
      this.#i++;
      const addr = this.#angle();
      out.push({ name: phrase.length > 0 ? phrase.join(" ") : null, ...addr });
      this.#skipToSeparator();
      return;
    }
    // addr-spec = local-part "@" domain
    this.#i = start;
    this.#lastComment = null;
    const localTokens: Token[] = [];
    for (let t = this.#peek(); t && t.kind !== "special"; t = this.#peek()) {
      if (t.kind === "comment") {
        if (t.text) this.#lastComment = t.text;
      } else localTokens.push(t);
      this.#i++;
    }
    if (this.#isSpecial("@")) {
      this.#i++;
      const domain = this.#domain([",", ";"]);
      this.#skipComments();
      out.push({
        name: this.#lastComment,
        adl: null,
        mailbox: localTokens.map((t) => t.text).join("") || MISSING_MAILBOX,
        host: domain || MISSING_DOMAIN,
      });
      this.#skipToSeparator();
      return;
    }
    const single = localTokens.length === 1 && localTokens[0]!.kind === "atom";
    if (localTokens.length === 0 || single) {
      out.push({
        name: this.#lastComment,
        adl: null,
        mailbox: single ? localTokens[0]!.text : MISSING_MAILBOX,
        host: MISSING_DOMAIN,
      });
    } else {
      // Words without "@" and without "<…>": a display name with no address.
      out.push({
        name: this.#lastComment ?? localTokens.map((t) => t.text).join(" "),
        adl: null,
        mailbox: MISSING_MAILBOX,
        host: MISSING_DOMAIN,
      });
    }
    this.#skipToSeparator();
  }

  /** angle-addr after "<": [obs-route] addr-spec ">" (RFC 5322 §3.4, §4.4). */
  #angle(): Omit<EnvelopeAddress, "name"> {
    let adl: string | null = null;
    this.#skipComments();
    if (this.#isSpecial("@")) {
      let route = "";
      while (this.#i < this.#t.length && !this.#isSpecial(":") && !this.#isSpecial(">")) {
        const t = this.#t[this.#i++]!;
        if (t.kind !== "comment") route += t.text;
      }
      if (this.#isSpecial(":")) {
        this.#i++;
        adl = route;
      }
    }
    let local = "";
    for (let t = this.#peek(); t && !(t.kind === "special" && (t.text === "@" || t.text === ">")); t = this.#peek()) {
      if (t.kind !== "comment") local += t.text;
      this.#i++;
    }
    let host = "";
    if (this.#isSpecial("@")) {
      this.#i++;
      host = this.#domain([">"]);
    }
    if (this.#isSpecial(">")) this.#i++;
    return { adl, mailbox: local || MISSING_MAILBOX, host: host || MISSING_DOMAIN };
  }

  #domain(stops: string[]): string {
    let domain = "";
    for (let t = this.#peek(); t; t = this.#peek()) {
      if (t.kind === "special" && (stops.includes(t.text) || t.text === "<")) break;
      if (t.kind === "comment") {
        if (t.text) this.#lastComment = t.text;
      } else domain += t.text;
      this.#i++;
    }
    return domain;
  }

  /** Skips anything left before the next "," (or ";" inside a group). */
  #skipToSeparator(): void {
    for (let t = this.#peek(); t; t = this.#peek()) {
      if (t.kind === "special" && (t.text === "," || t.text === ";")) return;
      if (t.kind === "comment" && t.text) this.#lastComment = t.text;
      this.#i++;
    }
  }
}

/** Parses an address-list header value into ENVELOPE addresses (RFC 5322 §3.4, RFC 3501 §7.4.2). */
export function parseAddressList(value: string): EnvelopeAddress[] {
  return new AddressParser(tokenize(value)).list();
}

/**
 * Builds the ENVELOPE from a message's header fields (lower-case name → values in order). Like Dovecot, a
 * repeated single-valued field takes its last value and repeated address fields are concatenated.
 */
export function buildEnvelope(fields: ReadonlyMap<string, readonly string[]>): Envelope {
  const text = (name: string): string | null => {
    const v = fields.get(name);
    return v && v.length > 0 ? v[v.length - 1]! : null;
  };
  const addresses = (name: string): EnvelopeAddress[] | null => {
    const v = fields.get(name);
    if (!v) return null;
    const all = v.flatMap(parseAddressList);
    return all.length > 0 ? all : null;
  };
  const from = addresses("from");
  return {
    date: text("date"),
    subject: text("subject"),
    from,
    sender: addresses("sender") ?? from,
    replyTo: addresses("reply-to") ?? from,
    to: addresses("to"),
    cc: addresses("cc"),
    bcc: addresses("bcc"),
    inReplyTo: text("in-reply-to"),
    messageId: text("message-id"),
  };
}
