/**
 * @module
 * A small IMAP test client over real sockets (Deno.connect / Deno.connectTls / Deno.startTls) for transcript
 * tests: `await tc.expect("OK", "a1 SELECT INBOX")` sends a tagged command, reads untagged responses (with their
 * literals) up to the tagged reply, and checks its status. Not a production client: it trusts the server to
 * frame responses and keeps literals as bytes next to a text rendering of each response.
 */

/** One response as read: its text (literals inline, decoded as UTF-8) and its literals as bytes. */
export interface ImapResponse {
  text: string;
  literals: Uint8Array[];
}

/** What a command got: the untagged responses before the tagged one, and the tagged one. */
export interface ImapReply {
  status: "OK" | "NO" | "BAD";
  /** The tagged line, e.g. `a1 OK [READ-WRITE] SELECT completed`. */
  tagged: string;
  untagged: ImapResponse[];
  /** The untagged responses' text, for regex checks. */
  text: string;
}

const enc = new TextEncoder();
const dec = new TextDecoder();

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/** One client connection. */
export class ImapTestClient {
  #conn: Deno.Conn;
  #buf: Uint8Array = new Uint8Array(0);
  #caCerts: string[];

  private constructor(conn: Deno.Conn, caCerts: string[]) {
    this.#conn = conn;
    this.#caCerts = caCerts;
  }

  /** Connects (implicit TLS with `tls: true`) and reads the greeting. `caCerts` are trusted for TLS. */
  static async connect(
    port: number,
    options: { tls?: boolean; caCerts?: string[] } = {},
  ): Promise<[ImapTestClient, string]> {
    const caCerts = options.caCerts ?? [];
    const conn = options.tls
      ? await Deno.connectTls({ hostname: "127.0.0.1", port, caCerts })
      : await Deno.connect({ hostname: "127.0.0.1", port });
    const c = new ImapTestClient(conn, caCerts);
    return [c, await c.readLine()];
  }

  async #fill(deadline: number): Promise<void> {
    const chunk = new Uint8Array(65536);
    const n = await Promise.race([
      this.#conn.read(chunk),
      new Promise<"timeout">((r) => setTimeout(() => r("timeout"), Math.max(1, deadline - Date.now()))),
    ]);
    if (n === "timeout") throw new Error(`timeout waiting for the server; buffered: ${dec.decode(this.#buf)}`);
    if (n === null) throw new Error(`connection closed; buffered: ${dec.decode(this.#buf)}`);
    this.#buf = concat(this.#buf, chunk.subarray(0, n));
  }

  /** Reads one line (without CRLF) as text. */
  async readLine(timeoutMs = 20_000): Promise<string> {
    return dec.decode(await this.#readLineBytes(Date.now() + timeoutMs));
  }

  async #readLineBytes(deadline: number): Promise<Uint8Array> {
    for (;;) {
      const nl = this.#buf.indexOf(0x0a);
      if (nl >= 0) {
        const end = nl > 0 && this.#buf[nl - 1] === 0x0d ? nl - 1 : nl;
        const line = this.#buf.slice(0, end);
        this.#buf = this.#buf.slice(nl + 1);
        return line;
      }
      await this.#fill(deadline);
    }
  }

  async #readBytes(n: number, deadline: number): Promise<Uint8Array> {
    while (this.#buf.length < n) await this.#fill(deadline);
    const out = this.#buf.slice(0, n);
    this.#buf = this.#buf.slice(n);
    return out;
  }

  /** Reads one whole response: a line, and for each `{n}` at its end the literal and the rest of the line. */
  async readResponse(timeoutMs = 20_000): Promise<ImapResponse> {
    const deadline = Date.now() + timeoutMs;
    let text = "";
    const literals: Uint8Array[] = [];
    for (;;) {
      const line = dec.decode(await this.#readLineBytes(deadline));
      text += line;
      const m = /~?\{(\d+)\}$/.exec(line);
      if (!m) return { text, literals };
      const lit = await this.#readBytes(Number(m[1]), deadline);
      literals.push(lit);
      text += "\r\n" + dec.decode(lit);
    }
  }

  /** Reads responses until one whose text matches `re` (e.g. `* 3 EXISTS` during IDLE); returns them all. */
  async waitFor(re: RegExp, timeoutMs = 10_000): Promise<ImapResponse[]> {
    const deadline = Date.now() + timeoutMs;
    const seen: ImapResponse[] = [];
    for (;;) {
      const r = await this.readResponse(Math.max(1, deadline - Date.now())).catch((e) => {
        throw new Error(`${(e as Error).message}; waiting for ${re}, got: ${seen.map((s) => s.text).join(" | ")}`);
      });
      seen.push(r);
      if (re.test(r.text)) return seen;
    }
  }

  /** Reads until the tagged reply for `tag`. */
  async readReply(tag: string, timeoutMs = 20_000): Promise<ImapReply> {
    const deadline = Date.now() + timeoutMs;
    const untagged: ImapResponse[] = [];
    for (;;) {
      const r = await this.readResponse(Math.max(1, deadline - Date.now()));
      if (r.text.startsWith(tag + " ")) {
        const status = r.text.slice(tag.length + 1).split(" ", 1)[0]!.toUpperCase();
        if (status !== "OK" && status !== "NO" && status !== "BAD") throw new Error(`bad tagged reply: ${r.text}`);
        return { status, tagged: r.text, untagged, text: untagged.map((u) => u.text).join("\n") };
      }
      untagged.push(r);
    }
  }

  /** Writes raw bytes or text. */
  async write(data: string | Uint8Array): Promise<void> {
    const bytes = typeof data === "string" ? enc.encode(data) : data;
    let at = 0;
    while (at < bytes.length) at += await this.#conn.write(bytes.subarray(at));
  }

  /** Sends a tagged command line (`a1 NOOP`) and reads up to its tagged reply. */
  async cmd(line: string): Promise<ImapReply> {
    await this.write(line + "\r\n");
    return await this.readReply(line.split(" ", 1)[0]!);
  }

  /** Sends a tagged command line and checks the tagged status; returns the reply. */
  async expect(status: "OK" | "NO" | "BAD", line: string): Promise<ImapReply> {
    const r = await this.cmd(line);
    if (r.status !== status) {
      throw new Error(`"${line.slice(0, 80)}": expected ${status}, got ${r.tagged}\n${r.text.slice(0, 2000)}`);
    }
    return r;
  }

  /**
   * Sends a command whose last argument is a literal: `prefix {n}` (synchronising: waits for `+`) or `prefix {n+}`
   * / `{n-}`-style non-synchronising with `nonSync`; `suffix` follows the literal on the same line.
   */
  async literal(
    status: "OK" | "NO" | "BAD",
    prefix: string,
    data: string | Uint8Array,
    options: { nonSync?: boolean; suffix?: string } = {},
  ): Promise<ImapReply> {
    const bytes = typeof data === "string" ? enc.encode(data) : data;
    const tag = prefix.split(" ", 1)[0]!;
    await this.write(`${prefix} {${bytes.length}${options.nonSync ? "+" : ""}}\r\n`);
    if (!options.nonSync) {
      const r = await this.readResponse();
      if (!r.text.startsWith("+")) {
        if (r.text.startsWith(tag + " ") && r.text.slice(tag.length + 1).startsWith(status)) {
          return { status, tagged: r.text, untagged: [], text: "" };
        }
        throw new Error(`"${prefix}": expected a continuation, got ${r.text}`);
      }
    }
    await this.write(concat(bytes, enc.encode((options.suffix ?? "") + "\r\n")));
    const r = await this.readReply(tag);
    if (r.status !== status) throw new Error(`"${prefix}": expected ${status}, got ${r.tagged}\n${r.text}`);
    return r;
  }

  /** STARTTLS and the handshake. */
  async startTls(tag = "tls"): Promise<void> {
    await this.expect("OK", `${tag} STARTTLS`);
    this.#conn = await Deno.startTls(this.#conn as Deno.TcpConn, { hostname: "127.0.0.1", caCerts: this.#caCerts });
  }

  /** Upgrades after a STARTTLS the caller sent and saw answered itself. */
  async handshake(): Promise<void> {
    this.#buf = new Uint8Array(0);
    this.#conn = await Deno.startTls(this.#conn as Deno.TcpConn, { hostname: "127.0.0.1", caCerts: this.#caCerts });
  }

  /** True when the server has closed the connection (reads EOF, possibly after a BYE, within the timeout). */
  async closedByServer(timeoutMs = 5000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    try {
      for (;;) {
        this.#buf = new Uint8Array(0);
        await this.#fill(deadline);
      }
    } catch (e) {
      return /connection closed|reset|Broken pipe|EOF/i.test((e as Error).message) ||
        !(e as Error).message.startsWith("timeout");
    }
  }

  /** Closes the socket. */
  close(): void {
    try {
      this.#conn.close();
    } catch { /* closed */ }
  }
}
