/**
 * @module
 * The HTTPS listener (`admin.http`): today the well-known mail URLs (admin/well_known.ts); the admin panel of
 * roadmap step 6 joins them here. In production it listens on 443, where MTA-STS and autoconfig clients look.
 */
import { logger } from "../log.ts";
import type { Store } from "../store/mod.ts";
import type { TlsContext } from "../tls/mod.ts";
import { type MailEndpoints, wellKnownHandler } from "./well_known.ts";

const log = logger("http");

/** A running HTTPS listener. */
export interface HttpServer {
  port: number;
  close(): Promise<void>;
}

/** Starts the HTTPS listener on `address:port` (0: a free port). */
export function startHttpServer(
  o: { address: string; port: number; tls: TlsContext; store: Store; endpoints: MailEndpoints },
): HttpServer {
  const wellKnown = wellKnownHandler(o.store, o.endpoints);
  const abort = new AbortController();
  const server = Deno.serve({
    signal: abort.signal,
    hostname: o.address,
    port: o.port,
    cert: o.tls.certPem,
    key: o.tls.keyPem,
    onListen: () => {},
    onError: (e) => {
      log.error("request failed", { error: e as Error });
      return new Response("Internal error\n", { status: 500 });
    },
  }, async (req) => {
    return await wellKnown(req) ??
      new Response("Not found\n", { status: 404, headers: { "content-type": "text/plain" } });
  });
  return {
    port: (server.addr as Deno.NetAddr).port,
    // Requests under way get 5 s to finish; a client that never does cannot hold up the shutdown.
    async close() {
      const timer = setTimeout(() => abort.abort(), 5000);
      await Promise.race([server.shutdown(), server.finished]);
      clearTimeout(timer);
    },
  };
}
