/**
 * @module
 * The control socket: a Unix socket `<data_dir>/control.sock` (mode 0600, owner only) on which a running server
 * accepts the administration commands, so an admin can add a user without stopping mail. One request per
 * connection: the client writes one JSON line `{ argv, password? }`; the server answers with JSON lines
 * `{ out }` / `{ err }` and a last `{ exit }`.
 */
import { join } from "node:path";
import { logger } from "../log.ts";

/** Where the control socket of a data dir is. */
export function controlSocketPath(dataDir: string): string {
  return join(dataDir, "control.sock");
}

/** A request from the CLI. */
export interface ControlRequest {
  argv: string[];
  password?: string;
}

/** The server side runs a request and writes its output through `out`/`err`; it returns the exit code. */
export type ControlHandler = (
  request: ControlRequest,
  io: { out(line: string): void; err(line: string): void },
) => Promise<number>;

const MAX_REQUEST = 64 * 1024;
const log = logger("control");

async function readLine(conn: Deno.Conn, limit: number, timeoutMs = 30_000): Promise<string | undefined> {
  const buf = new Uint8Array(4096);
  const chunks: Uint8Array[] = [];
  let size = 0;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    // A client that connects and sends nothing must not hold the server's shutdown forever.
    let timer: ReturnType<typeof setTimeout> | undefined;
    const n = await Promise.race([
      conn.read(buf),
      new Promise<null>((r) => timer = setTimeout(() => r(null), Math.max(1, deadline - Date.now()))),
    ]);
    clearTimeout(timer);
    if (n === null) break;
    const chunk = buf.slice(0, n);
    const nl = chunk.indexOf(10);
    chunks.push(nl >= 0 ? chunk.subarray(0, nl) : chunk);
    size += n;
    if (nl >= 0) break;
    if (size > limit) return undefined;
  }
  const all = new Uint8Array(chunks.reduce((s, c) => s + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    all.set(c, at);
    at += c.length;
  }
  return new TextDecoder().decode(all);
}

/** A running control server. */
export interface ControlServer {
  close(): Promise<void>;
}

/** True when a server answers on the socket. */
export async function controlServerRunning(path: string): Promise<boolean> {
  try {
    const c = await Deno.connect({ transport: "unix", path });
    c.close();
    return true;
  } catch {
    return false;
  }
}

/** Listens on the control socket. Refuses to start when another server already answers on it. */
export async function startControlServer(path: string, handler: ControlHandler): Promise<ControlServer> {
  if (await controlServerRunning(path)) {
    throw new Error(`Another Silvermail server already runs on this data dir (control socket ${path} answers)`);
  }
  try {
    await Deno.remove(path); // stale socket of a process that died
  } catch { /* none */ }
  const listener = Deno.listen({ transport: "unix", path });
  await Deno.chmod(path, 0o600);
  const inflight = new Set<Promise<void>>();
  const serve = async (conn: Deno.Conn) => {
    const enc = new TextEncoder();
    const write = async (obj: unknown) => {
      try {
        await conn.write(enc.encode(JSON.stringify(obj) + "\n"));
      } catch { /* client went away */ }
    };
    try {
      const line = await readLine(conn, MAX_REQUEST);
      let request: ControlRequest;
      try {
        request = JSON.parse(line ?? "");
        if (!Array.isArray(request.argv) || !request.argv.every((a) => typeof a === "string")) throw new Error();
      } catch {
        await write({ err: "error: malformed control request" });
        await write({ exit: 2 });
        return;
      }
      const pending: Promise<void>[] = [];
      const code = await handler(request, {
        out: (l) => void pending.push(write({ out: l })),
        err: (l) => void pending.push(write({ err: l })),
      });
      await Promise.all(pending);
      await write({ exit: code });
      log.info("control command", { command: request.argv.slice(0, 2).join(" "), exit: code });
    } catch (e) {
      log.error("control command failed", { error: e as Error });
      await write({ err: "error: the server could not run the command (see its log)" });
      await write({ exit: 1 });
    } finally {
      try {
        conn.close();
      } catch { /* closed */ }
    }
  };
  const accepting = (async () => {
    for await (const conn of listener) {
      const p = serve(conn).finally(() => inflight.delete(p));
      inflight.add(p);
    }
  })().catch(() => {});
  return {
    async close() {
      try {
        listener.close();
      } catch { /* closed */ }
      await accepting;
      await Promise.all(inflight);
      try {
        await Deno.remove(path);
      } catch { /* gone */ }
    },
  };
}

/**
 * Sends a command to the server on `path`. Returns its exit code, or undefined when no server answers (the
 * caller then opens the store itself). Output lines go to `io` as they arrive.
 */
export async function sendControlRequest(
  path: string,
  request: ControlRequest,
  io: { out(line: string): void; err(line: string): void },
): Promise<number | undefined> {
  let conn: Deno.Conn;
  try {
    conn = await Deno.connect({ transport: "unix", path });
  } catch (e) {
    if (e instanceof Deno.errors.NotFound || e instanceof Deno.errors.ConnectionRefused) return undefined;
    throw e;
  }
  try {
    await conn.write(new TextEncoder().encode(JSON.stringify(request) + "\n"));
    const decoder = new TextDecoder();
    let pending = "";
    const buf = new Uint8Array(16384);
    for (;;) {
      const n = await conn.read(buf);
      if (n === null) break;
      pending += decoder.decode(buf.subarray(0, n), { stream: true });
      let nl: number;
      while ((nl = pending.indexOf("\n")) >= 0) {
        const msg = JSON.parse(pending.slice(0, nl)) as { out?: string; err?: string; exit?: number };
        pending = pending.slice(nl + 1);
        if (msg.out !== undefined) io.out(msg.out);
        if (msg.err !== undefined) io.err(msg.err);
        if (msg.exit !== undefined) return msg.exit;
      }
    }
    io.err("error: the server closed the control connection without an answer");
    return 1;
  } finally {
    try {
      conn.close();
    } catch { /* closed */ }
  }
}
