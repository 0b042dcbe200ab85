/**
 * @module
 * TLS for every listener: the certificate source (generated self-signed, or PEM files) and the node:tls secure
 * context the SMTP and IMAP servers use, with TLS 1.2 as the minimum. `TlsContext.current` is read at each
 * handshake, so a reload (files changed, ACME renewal — later steps) applies to new connections without a restart.
 */
import { createSecureContext, type SecureContext } from "node:tls";
import { join } from "node:path";
import { logger } from "../log.ts";
import { describeCertificate, generateSelfSigned } from "./self_signed.ts";

/** Where the certificate comes from. */
export interface TlsOptions {
  mode: "self-signed" | "files";
  certFile: string;
  keyFile: string;
  dataDir: string;
  hostname: string;
}

/** The current certificate for handshakes. */
export class TlsContext {
  #context: SecureContext;
  #pem: { cert: string; key: string };
  readonly #options: TlsOptions;

  private constructor(options: TlsOptions, pem: { cert: string; key: string }) {
    this.#options = options;
    this.#pem = pem;
    this.#context = makeContext(pem);
  }

  /** Loads (or, for self-signed, creates) the certificate. */
  static async load(options: TlsOptions): Promise<TlsContext> {
    return new TlsContext(options, await readMaterial(options));
  }

  /** The secure context for a new handshake. */
  get current(): SecureContext {
    return this.#context;
  }

  /** The PEM certificate chain (tests trust it; `Deno.listenTls` needs it). */
  get certPem(): string {
    return this.#pem.cert;
  }

  /** The PEM key. */
  get keyPem(): string {
    return this.#pem.key;
  }

  /** Reads the certificate again; new connections use it. */
  async reload(): Promise<void> {
    const pem = await readMaterial(this.#options);
    this.#context = makeContext(pem);
    this.#pem = pem;
  }
}

/** Options every TLS socket uses: TLS 1.2 minimum. */
export const TLS_MIN_VERSION = "TLSv1.2" as const;

function makeContext(pem: { cert: string; key: string }): SecureContext {
  return createSecureContext({ cert: pem.cert, key: pem.key, minVersion: TLS_MIN_VERSION });
}

async function readMaterial(o: TlsOptions): Promise<{ cert: string; key: string }> {
  if (o.mode === "files") {
    if (!o.certFile || !o.keyFile) throw new Error('tls.mode = "files" needs tls.cert_file and tls.key_file');
    return { cert: await Deno.readTextFile(o.certFile), key: await Deno.readTextFile(o.keyFile) };
  }
  const dir = join(o.dataDir, "tls");
  const certPath = join(dir, "self-signed.crt");
  const keyPath = join(dir, "self-signed.key");
  try {
    const cert = await Deno.readTextFile(certPath);
    const key = await Deno.readTextFile(keyPath);
    const info = describeCertificate(cert);
    if (info.dnsNames.includes(o.hostname) && info.notAfter.getTime() > Date.now() + 7 * 86_400_000) {
      return { cert, key };
    }
  } catch { /* none yet, or unreadable: make a new one */ }
  const pair = await generateSelfSigned(o.hostname);
  await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
  await Deno.writeTextFile(keyPath, pair.key, { mode: 0o600 });
  await Deno.writeTextFile(certPath, pair.cert);
  logger("tls").info("generated a self-signed certificate", { hostname: o.hostname, file: certPath });
  return pair;
}
