/**
 * @module
 * What mail clients and other mail servers fetch over HTTPS from this server, by the names `dns DOMAIN` tells the
 * operator to point here (CNAMEs to the host name):
 *
 * - `https://mta-sts.<domain>/.well-known/mta-sts.txt` — the MTA-STS policy (RFC 8461 §3.2), the same text
 *   `dns DOMAIN` prints (its TXT id is derived from it).
 * - `https://autoconfig.<domain>/mail/config-v1.1.xml` (and `/.well-known/autoconfig/…`) — Thunderbird's account
 *   autoconfiguration: IMAP and submission servers, ports and security, the address as user name.
 * - `https://autodiscover.<domain>/autodiscover/autodiscover.xml` — Outlook's POX Autodiscover (POST), the same
 *   settings.
 *
 * Only for local domains; anything else is 404. The handler is a plain `Request → Response` function, so the admin
 * panel's router (roadmap step 6) can mount it as it is.
 */
import { mtaStsPolicy } from "../dns/records.ts";
import { concatBytes } from "../mail/bytes.ts";
import type { Store } from "../store/mod.ts";

/** Where clients find the servers: the listeners as configured. */
export interface MailEndpoints {
  hostname: string;
  imaps?: number;
  imap?: number;
  submissions?: number;
  submission?: number;
}

function xml(s: string): string {
  return s.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** The domain a request is about: `mta-sts.example.org` → example.org, or the domain of an address. */
function domainOf(host: string, prefix: string): string | undefined {
  const name = host.replace(/:\d+$/, "").toLowerCase();
  return name.startsWith(prefix + ".") ? name.slice(prefix.length + 1) : undefined;
}

/** Thunderbird autoconfig (https://wiki.mozilla.org/Thunderbird:Autoconfiguration:ConfigFileFormat). */
export function autoconfigXml(domain: string, e: MailEndpoints): string {
  const server = (tag: string, type: string, port: number | undefined, socket: string) =>
    port === undefined ? "" : `    <${tag} type="${type}">
      <hostname>${xml(e.hostname)}</hostname>
      <port>${port}</port>
      <socketType>${socket}</socketType>
      <authentication>password-cleartext</authentication>
      <username>%EMAILADDRESS%</username>
    </${tag}>
`;
  return `<?xml version="1.0" encoding="UTF-8"?>
<clientConfig version="1.1">
  <emailProvider id="${xml(domain)}">
    <domain>${xml(domain)}</domain>
    <displayName>${xml(domain)}</displayName>
    <displayShortName>${xml(domain)}</displayShortName>
${server("incomingServer", "imap", e.imaps, "SSL")}${server("incomingServer", "imap", e.imap, "STARTTLS")}${
    server("outgoingServer", "smtp", e.submissions, "SSL")
  }${server("outgoingServer", "smtp", e.submission, "STARTTLS")}  </emailProvider>
</clientConfig>
`;
}

/** Outlook POX Autodiscover response (MS-OXDSCLI) for one address. */
export function autodiscoverXml(address: string, e: MailEndpoints): string {
  const protocol = (type: string, port: number | undefined, ssl: boolean, encryption?: string) =>
    port === undefined ? "" : `      <Protocol>
        <Type>${type}</Type>
        <Server>${xml(e.hostname)}</Server>
        <Port>${port}</Port>
        <LoginName>${xml(address)}</LoginName>
        <DomainRequired>off</DomainRequired>
        <SPA>off</SPA>
        <SSL>${ssl ? "on" : "off"}</SSL>
${encryption ? `        <Encryption>${encryption}</Encryption>\n` : ""}        <AuthRequired>on</AuthRequired>
      </Protocol>
`;
  const imap = e.imaps !== undefined ? protocol("IMAP", e.imaps, true) : protocol("IMAP", e.imap, true, "TLS");
  const smtp = e.submissions !== undefined
    ? protocol("SMTP", e.submissions, true)
    : protocol("SMTP", e.submission, true, "TLS");
  return `<?xml version="1.0" encoding="utf-8"?>
<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006">
  <Response xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a">
    <Account>
      <AccountType>email</AccountType>
      <Action>settings</Action>
${imap}${smtp}    </Account>
  </Response>
</Autodiscover>
`;
}

/** Largest request body read (an Autodiscover request is a few hundred bytes). */
const MAX_REQUEST_BYTES = 16_384;
/** How long a client may take to send that body. */
const BODY_TIMEOUT_MS = 10_000;

/** The body as text, or undefined when it is larger than `max` bytes (or not sent within the timeout). */
async function readLimited(req: Request, max: number): Promise<string | undefined> {
  if (Number(req.headers.get("content-length") ?? 0) > max) return undefined;
  if (!req.body) return "";
  const reader = req.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  const timer = setTimeout(() => reader.cancel().catch(() => {}), BODY_TIMEOUT_MS);
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      size += value.length;
      if (size > max) {
        await reader.cancel().catch(() => {});
        return undefined;
      }
      chunks.push(value);
    }
  } catch {
    return undefined;
  } finally {
    clearTimeout(timer);
  }
  return new TextDecoder().decode(concatBytes(chunks));
}

const NOT_FOUND = () => new Response("Not found\n", { status: 404, headers: { "content-type": "text/plain" } });

/** The handler for the well-known mail URLs; `undefined` for any other path (the caller answers it). */
export function wellKnownHandler(
  store: Store,
  endpoints: MailEndpoints,
): (req: Request) => Promise<Response | undefined> {
  const isLocal = async (domain: string | undefined) =>
    !!domain && /^[a-z0-9.-]+$/.test(domain) && await store.domains.idOf(domain) !== undefined;
  return async (req) => {
    const url = new URL(req.url);
    const host = req.headers.get("host") ?? url.host;
    const path = url.pathname;
    if (path === "/.well-known/mta-sts.txt") {
      if (!await isLocal(domainOf(host, "mta-sts"))) return NOT_FOUND();
      // RFC 8461 §3.3: text/plain, and no redirects.
      return new Response(mtaStsPolicy({ hostname: endpoints.hostname }), {
        headers: { "content-type": "text/plain; charset=utf-8", "cache-control": "max-age=3600" },
      });
    }
    if (path === "/mail/config-v1.1.xml" || path === "/.well-known/autoconfig/mail/config-v1.1.xml") {
      const address = url.searchParams.get("emailaddress") ?? "";
      const domain = address.includes("@")
        ? address.slice(address.lastIndexOf("@") + 1).toLowerCase()
        : domainOf(host, "autoconfig") ?? host.replace(/:\d+$/, "").toLowerCase();
      if (!await isLocal(domain)) return NOT_FOUND();
      return new Response(autoconfigXml(domain, endpoints), { headers: { "content-type": "application/xml" } });
    }
    if (/^\/autodiscover\/autodiscover\.xml$/i.test(path)) {
      const body = req.method === "POST" ? await readLimited(req, MAX_REQUEST_BYTES) : "";
      if (body === undefined) return new Response("Request too large\n", { status: 413 });
      // One "@", no "<" or spaces on either side: a linear match on whatever the client sent.
      const address = /<EMailAddress>\s*([^<\s@]+@[^<\s@]+)\s*<\/EMailAddress>/i.exec(body)?.[1]?.toLowerCase();
      if (!address || !await isLocal(address.slice(address.lastIndexOf("@") + 1))) return NOT_FOUND();
      return new Response(autodiscoverXml(address, endpoints), { headers: { "content-type": "application/xml" } });
    }
    return undefined;
  };
}
