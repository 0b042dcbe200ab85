/**
 * @module
 * A small SMTP test client over real sockets (Deno.connect / Deno.connectTls / Deno.startTls) for transcript
 * tests: `await c.expect(250, "EHLO x")`. Not a production client.
 */

/** A reply as read. */
export interface Reply {
  code: number;
  lines: string[];
  text: string;
}

const enc = new TextEncoder();
const dec = new TextDecoder();

/** One client connection. */
export class SmtpTestClient {
  #conn: Deno.Conn;
  #buf = "";
  #caCerts: string[];

  private constructor(conn: Deno.Conn, caCerts: string[]) {
    this.#conn = conn;
    this.#caCerts = caCerts;
  }

  /** Connects (implicit TLS with `tls: true`) and reads the greeting. `caCerts` are trusted for TLS. */
  static async connect(
    port: number,
    options: { tls?: boolean; caCerts?: string[] } = {},
  ): Promise<[SmtpTestClient, Reply]> {
    const caCerts = options.caCerts ?? [];
    const conn = options.tls
      ? await Deno.connectTls({ hostname: "127.0.0.1", port, caCerts })
      : await Deno.connect({ hostname: "127.0.0.1", port });
    const c = new SmtpTestClient(conn, caCerts);
    return [c, await c.read()];
  }

  /** Reads one (possibly multi-line) reply; rejects when the server closes first. */
  async read(timeoutMs = 20_000): Promise<Reply> {
    const lines: string[] = [];
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const nl = this.#buf.indexOf("\r\n");
      if (nl >= 0) {
        const line = this.#buf.slice(0, nl);
        this.#buf = this.#buf.slice(nl + 2);
        lines.push(line);
        if (/^\d{3} /.test(line) || /^\d{3}$/.test(line)) {
          return { code: Number(line.slice(0, 3)), lines, text: lines.join("\n") };
        }
        continue;
      }
      const chunk = new Uint8Array(65536);
      const n = await Promise.race([
        this.#conn.read(chunk),
        new Promise<"timeout">((r) => setTimeout(() => r("timeout"), Math.max(1, deadline - Date.now()))),
      ]);
      if (n === "timeout") throw new Error(`timeout waiting for a reply; got: ${lines.join(" | ")}${this.#buf}`);
      if (n === null) throw new Error(`connection closed; got: ${lines.join(" | ")}${this.#buf}`);
      this.#buf += dec.decode(chunk.subarray(0, n));
    }
  }

  /** True when the server has closed the connection (reads EOF within the timeout). */
  async closedByServer(timeoutMs = 5000): Promise<boolean> {
    const chunk = new Uint8Array(1024);
    try {
      const n = await Promise.race([
        this.#conn.read(chunk),
        new Promise<"timeout">((r) => setTimeout(() => r("timeout"), timeoutMs)),
      ]);
      return n === null;
    } catch {
      return true;
    }
  }

  /** Writes raw bytes or text. */
  async write(data: string | Uint8Array): Promise<void> {
    const bytes = typeof data === "string" ? enc.encode(data) : data;
    let at = 0;
    while (at < bytes.length) at += await this.#conn.write(bytes.subarray(at));
  }

  /** Sends a command line and reads the reply. */
  async cmd(line: string): Promise<Reply> {
    await this.write(line + "\r\n");
    return await this.read();
  }

  /** Sends a command line and checks the reply code; returns the reply. */
  async expect(code: number, line: string): Promise<Reply> {
    const r = await this.cmd(line);
    if (r.code !== code) throw new Error(`"${line.slice(0, 60)}": expected ${code}, got ${r.text}`);
    return r;
  }

  /** STARTTLS and the handshake (the caller sends EHLO again). */
  async startTls(): Promise<void> {
    await this.expect(220, "STARTTLS");
    this.#conn = await Deno.startTls(this.#conn as Deno.TcpConn, { hostname: "127.0.0.1", caCerts: this.#caCerts });
  }

  /** AUTH PLAIN with an initial response. */
  async authPlain(user: string, password: string): Promise<Reply> {
    return await this.cmd(`AUTH PLAIN ${btoa(`\0${user}\0${password}`)}`);
  }

  /** Closes the socket. */
  close(): void {
    try {
      this.#conn.close();
    } catch { /* closed */ }
  }
}
