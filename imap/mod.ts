/**
 * @module
 * IMAP4rev1/IMAP4rev2 server: 143 (STARTTLS) and 993 (implicit TLS).
 */
export { type ImapListenerKind, ImapServer, type ImapServerOptions } from "./server.ts";
export { DEFAULT_IMAP_LIMITS, type ImapSessionLimits } from "./session.ts";
