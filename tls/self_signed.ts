/**
 * @module
 * A self-signed certificate for development (`tls.mode = "self-signed"`): ECDSA P-256, SAN = the host name,
 * `localhost` and loopback addresses, valid for a year. Generated with WebCrypto (works in the compiled binary).
 */
import * as x509 from "@peculiar/x509";

/** PEM certificate and PKCS#8 private key. */
export interface PemPair {
  cert: string;
  key: string;
}

function pem(label: string, der: ArrayBuffer): string {
  const b64 = btoa(String.fromCharCode(...new Uint8Array(der)));
  return `-----BEGIN ${label}-----\n${b64.replace(/.{1,64}/g, "$&\n")}-----END ${label}-----\n`;
}

/** Generates a self-signed certificate for `hostname`. */
export async function generateSelfSigned(hostname: string, days = 365): Promise<PemPair> {
  x509.cryptoProvider.set(crypto);
  const alg = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" };
  const keys = await crypto.subtle.generateKey(alg, true, ["sign", "verify"]);
  const names = [...new Set([hostname, "localhost"])].map((value) => ({ type: "dns" as const, value }));
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: Array.from(crypto.getRandomValues(new Uint8Array(8)), (b) => b.toString(16).padStart(2, "0"))
      .join("").replace(/^[89a-f]/, "1"),
    name: `CN=${hostname}`,
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + days * 86_400_000),
    keys,
    signingAlgorithm: alg,
    extensions: [
      new x509.SubjectAlternativeNameExtension([...names, { type: "ip", value: "127.0.0.1" }, {
        type: "ip",
        value: "::1",
      }]),
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth], false),
    ],
  });
  return {
    cert: cert.toString("pem") + "\n",
    key: pem("PRIVATE KEY", await crypto.subtle.exportKey("pkcs8", keys.privateKey)),
  };
}

/** The certificate's subject CN and expiry, to decide whether a stored one can be reused. */
export function describeCertificate(certPem: string): { subject: string; notAfter: Date; dnsNames: string[] } {
  const cert = new x509.X509Certificate(certPem);
  const san = cert.getExtension(x509.SubjectAlternativeNameExtension);
  return {
    subject: cert.subject,
    notAfter: cert.notAfter,
    dnsNames: san?.names.items.filter((n) => n.type === "dns").map((n) => n.value) ?? [],
  };
}
