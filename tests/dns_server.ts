/**
 * @module
 * A real DNS server for tests: Debian's `dnsmasq` on 127.0.0.1 and a free port, answering only the records a
 * test gives it (every other name is NXDOMAIN). Servers under test point `dns.nameserver` at
 * {@linkcode TestDns.nameserver}.
 */
import { createSocket } from "node:dgram";

/** Records to serve. Names without a trailing dot. */
export interface DnsZone {
  a?: [name: string, ip: string][];
  aaaa?: [name: string, ip: string][];
  mx?: [name: string, host: string, preference: number][];
  /** Long texts are split into 255-byte strings, as real zones do for DKIM keys. */
  txt?: [name: string, text: string][];
  cname?: [name: string, target: string][];
  srv?: [name: string, target: string, port: number, priority: number, weight: number][];
  ptr?: [name: string, target: string][];
}

/** A running dnsmasq. */
export interface TestDns {
  /** `127.0.0.1:PORT`, for `dns.nameserver`. */
  nameserver: string;
  /** Replaces the served records (restarts dnsmasq on the same port). */
  reload(zone: DnsZone): Promise<void>;
  stop(): Promise<void>;
}

/** A UDP port nobody uses now (and its TCP twin is free too: dnsmasq listens on both). */
async function freePort(): Promise<number> {
  for (;;) {
    const socket = createSocket("udp4");
    await new Promise<void>((resolve) => socket.bind(0, "127.0.0.1", resolve));
    const port = socket.address().port;
    await new Promise<void>((resolve) => socket.close(() => resolve()));
    try {
      Deno.listen({ hostname: "127.0.0.1", port }).close();
      return port;
    } catch { /* the TCP port is taken: try another */ }
  }
}

function quoteTxt(text: string): string {
  const parts: string[] = [];
  for (let i = 0; i < text.length; i += 255) parts.push(text.slice(i, i + 255));
  return parts.map((p) => `"${p.replace(/(["\\])/g, "\\$1")}"`).join(",");
}

function options(zone: DnsZone): string[] {
  const lines: string[] = [];
  for (const [n, ip] of [...zone.a ?? [], ...zone.aaaa ?? []]) lines.push(`host-record=${n},${ip}`);
  for (const [n, h, p] of zone.mx ?? []) lines.push(`mx-host=${n},${h},${p}`);
  for (const [n, t] of zone.txt ?? []) lines.push(`txt-record=${n},${quoteTxt(t)}`);
  for (const [n, t] of zone.cname ?? []) lines.push(`cname=${n},${t}`);
  for (const [n, t, port, prio, w] of zone.srv ?? []) lines.push(`srv-host=${n},${t},${port},${prio},${w}`);
  for (const [n, t] of zone.ptr ?? []) lines.push(`ptr-record=${n},${t}`);
  return lines;
}

/** Starts dnsmasq serving `zone` (on another port when the chosen one turns out to be taken). */
export async function startDns(zone: DnsZone): Promise<TestDns> {
  const dir = await Deno.makeTempDir({ prefix: "silvermail-dns-" });
  let port = 0;
  let child: Deno.ChildProcess | undefined;
  const stopChild = async () => {
    if (!child) return;
    try {
      child.kill("SIGTERM");
    } catch { /* already gone */ }
    await child.status;
    child = undefined;
  };
  /** Starts dnsmasq on `port`; false when it does not answer (e.g. the port was taken meanwhile). */
  const start = async (z: DnsZone): Promise<boolean> => {
    const conf = `${dir}/dnsmasq.conf`;
    await Deno.writeTextFile(conf, options(z).join("\n") + "\n");
    child = new Deno.Command("dnsmasq", {
      args: [
        "--keep-in-foreground",
        "--conf-file=" + conf,
        "--no-hosts",
        "--no-resolv",
        "--bind-interfaces",
        "--listen-address=127.0.0.1",
        `--port=${port}`,
        "--pid-file=",
        ...(Deno.uid() === 0 ? ["--user=root"] : []),
        "--address=/#/",
        "--log-facility=-",
        "--cache-size=0",
      ],
      stdout: "null",
      stderr: "null",
    }).spawn();
    // Ready when it answers: a name it does not know comes back NXDOMAIN. (Not a .invalid name: Deno's
    // resolver answers those itself without asking.)
    for (let i = 0; i < 40; i++) {
      try {
        await Deno.resolveDns("ready.silvermail-dns-probe", "A", {
          nameServer: { ipAddr: "127.0.0.1", port },
          signal: AbortSignal.timeout(200),
        });
        return true;
      } catch (e) {
        if (e instanceof Deno.errors.NotFound) return true;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    await stopChild();
    return false;
  };
  for (let attempt = 0;; attempt++) {
    port = await freePort();
    if (await start(zone)) break;
    if (attempt === 4) throw new Error("dnsmasq did not start");
  }
  return {
    nameserver: `127.0.0.1:${port}`,
    async reload(z) {
      await stopChild();
      if (!await start(z)) throw new Error("dnsmasq did not restart");
    },
    async stop() {
      await stopChild();
      await Deno.remove(dir, { recursive: true });
    },
  };
}
