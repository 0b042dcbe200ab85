/**
 * @module
 * SMTP: inbound (MX, port 25) and submission (587 STARTTLS, 465 implicit TLS).
 */
export { SmtpServer, type SmtpServerOptions } from "./server.ts";
export { DEFAULT_LIMITS, type SmtpSessionLimits } from "./session.ts";
export type { ListenerKind } from "./deliver.ts";
