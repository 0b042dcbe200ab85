/**
 * @module
 * The one table of every reply the SMTP server sends: basic code (RFC 5321 §4.2), enhanced status code
 * (RFC 3463, registry RFC 5248) and default text, with the RFC that defines each use.
 *
 * The enhanced code is `null` where RFC 2034 §3 says not to send one: the initial greeting (and a refusing
 * greeting), the replies to EHLO/HELO, and intermediate 3xx replies (only 2xx/4xx/5xx carry one).
 *
 * Wording follows maddy's rule: say what failed ("policy check failed"), never leak configuration.
 */

/** One entry: basic reply code, enhanced status code (or null, RFC 2034 §3), default text. */
export type ReplyCodeEntry = readonly [code: number, enhanced: string | null, text: string];

/** Every reply the server sends, by name. Use `reply(name, text?)` from `reply.ts` to build one. */
export const REPLY_CODES = {
  // ---- Positive and intermediate replies --------------------------------------------------------------
  /** RFC 5321 §4.2 / §3.1: "220 <domain> text"; RFC 2034 §3: no enhanced code on the greeting. */
  GREETING: [220, null, "ESMTP ready"],
  /** RFC 5321 §4.1.1.1: multi-line, first line the server's domain, then one extension per line; RFC 2034 §3. */
  EHLO: [250, null, "Hello"],
  /** RFC 5321 §4.1.1.1: HELO gets a single line; RFC 2034 §3. */
  HELO: [250, null, "Hello"],
  /** RFC 5321 §4.2.2: generic success. */
  OK: [250, "2.0.0", "OK"],
  /** RFC 5321 §4.1.1.2; RFC 3463 X.1.0 (other address status). */
  SENDER_OK: [250, "2.1.0", "Sender OK"],
  /** RFC 5321 §4.1.1.3; RFC 3463 X.1.5 (destination address valid). */
  RECIPIENT_OK: [250, "2.1.5", "Recipient OK"],
  /** RFC 5321 §4.1.1.4: intermediate 354; RFC 2034 §3: 3xx replies carry no enhanced code. */
  START_DATA: [354, null, "End data with <CR><LF>.<CR><LF>"],
  /** RFC 5321 §4.1.1.4 / DESIGN rule 3: sent only after the store transaction commits. */
  MESSAGE_ACCEPTED: [250, "2.0.0", "Message accepted"],
  /** RFC 3030 §2: each non-final BDAT chunk is acknowledged with 250. */
  CHUNK_ACCEPTED: [250, "2.0.0", "Chunk accepted"],
  /** RFC 5321 §4.1.1.5. */
  RESET: [250, "2.0.0", "Reset OK"],
  /** RFC 5321 §4.1.1.9. */
  NOOP: [250, "2.0.0", "OK"],
  /** RFC 5321 §4.1.1.8: 214 help message. */
  HELP: [214, "2.0.0", "See RFC 5321: https://www.rfc-editor.org/rfc/rfc5321"],
  /** RFC 5321 §4.1.1.10. */
  BYE: [221, "2.0.0", "Bye"],
  /** RFC 5321 §3.5.3 and §7.3: 252 so that VRFY never enumerates accounts; RFC 3463 X.5.0. */
  VRFY: [252, "2.5.0", "Cannot VRFY user, but will accept message and attempt delivery"],
  /** RFC 3207 §4: the server starts the TLS handshake right after this line. */
  STARTTLS_READY: [220, "2.0.0", "Ready to start TLS"],
  /** RFC 4954 §4: "334 " + base64 challenge; intermediate, so no enhanced code (RFC 2034 §3). */
  AUTH_CHALLENGE: [334, null, ""],
  /** RFC 4954 §6. */
  AUTH_SUCCESS: [235, "2.7.0", "Authentication successful"],

  // ---- Closing the connection (RFC 5321 §3.8: 421 and the server closes) ------------------------------
  /** RFC 5321 §3.8; RFC 3463 X.3.2 (system not accepting network messages, e.g. imminent shutdown). */
  SHUTTING_DOWN: [421, "4.3.2", "Service shutting down, try again later"],
  /** RFC 5321 §4.5.3.2 (timeouts) and §3.8; RFC 3463 X.4.2 (bad connection). */
  TIMEOUT: [421, "4.4.2", "Timeout, closing connection"],
  /** RFC 5321 §3.8; RFC 3463 X.7.0: a client that keeps sending bad commands is cut off. */
  TOO_MANY_ERRORS: [421, "4.7.0", "Too many errors, closing connection"],
  /** RFC 5321 §3.8; RFC 3463 X.7.0: per-session command bound (DESIGN rule 7). */
  TOO_MANY_COMMANDS: [421, "4.7.0", "Too many commands, closing connection"],
  /** RFC 5321 §3.8 (a 421 greeting); RFC 3463 X.7.0: connections per IP or in total. */
  TOO_MANY_CONNECTIONS: [421, "4.7.0", "Too many connections, try again later"],
  /** RFC 4954 §6 and RFC 5321 §3.8: after the failed-AUTH lockout the session closes. */
  AUTH_LOCKED_OUT: [421, "4.7.0", "Too many failed authentications, closing connection"],
  /** RFC 5321 §3.1: "554 No SMTP service here" instead of the greeting; RFC 2034 §3: no enhanced code. */
  NO_SERVICE: [554, null, "No SMTP service here"],

  // ---- Syntax and command sequence --------------------------------------------------------------------
  /** RFC 5321 §4.2.2 (500 includes "command line too long") and §4.5.3.1.4 (512 octets); RFC 3463 X.5.2. */
  LINE_TOO_LONG: [500, "5.5.2", "Line too long"],
  /** RFC 5321 §4.2.2 and §4.2.4: unknown verb; RFC 3463 X.5.2. */
  UNRECOGNIZED_COMMAND: [500, "5.5.2", "Syntax error, command unrecognized"],
  /** RFC 5321 §4.2.2 (500) and §2.3.8: control characters or invalid UTF-8 in a command line. */
  BAD_CHARACTER: [500, "5.5.2", "Syntax error, invalid character in command"],
  /** RFC 5321 §4.2.2: 501; RFC 3463 X.5.4 (invalid command arguments). */
  SYNTAX: [501, "5.5.4", "Syntax error in parameters or arguments"],
  /** RFC 5321 §4.1.1.2; RFC 3463 X.1.7 (bad sender's mailbox address syntax). */
  BAD_SENDER_SYNTAX: [501, "5.1.7", "Bad sender address syntax"],
  /** RFC 5321 §4.1.1.3; RFC 3463 X.1.3 (bad destination mailbox address syntax). */
  BAD_RECIPIENT_SYNTAX: [501, "5.1.3", "Bad recipient address syntax"],
  /** RFC 5321 §4.1.1.11 and §4.2.2: 555 for unknown MAIL/RCPT parameters; RFC 3463 X.5.4. */
  UNKNOWN_PARAMETER: [555, "5.5.4", "MAIL FROM/RCPT TO parameter not recognized or not implemented"],
  /** RFC 5321 §4.2.2: 504; RFC 3463 X.5.4. */
  PARAMETER_NOT_IMPLEMENTED: [504, "5.5.4", "Command parameter not implemented"],
  /** RFC 5321 §4.2.2 and §4.2.4: a known verb this server does not implement; RFC 3463 X.5.1. */
  NOT_IMPLEMENTED: [502, "5.5.1", "Command not implemented"],
  /** RFC 5321 §3.5.2 and §7.3: EXPN may be disabled for privacy; RFC 3463 X.5.1. */
  EXPN_DISABLED: [502, "5.5.1", "EXPN not available"],
  /** RFC 5321 §4.1.4 and §4.2.2; RFC 3463 X.5.1 (invalid command). */
  BAD_SEQUENCE: [503, "5.5.1", "Bad sequence of commands"],
  /** RFC 5321 §4.1.4: the server may require EHLO/HELO before a mail transaction. */
  HELO_FIRST: [503, "5.5.1", "Send EHLO first"],
  /** RFC 5321 §3.3: RCPT before MAIL. */
  MAIL_FIRST: [503, "5.5.1", "Need MAIL before RCPT"],
  /** RFC 5321 §3.3 and RFC 3030 §2: DATA/BDAT before any RCPT. */
  RCPT_FIRST: [503, "5.5.1", "Need RCPT before DATA"],
  /** RFC 5321 §4.1.4: MAIL while a transaction is open. */
  NESTED_MAIL: [503, "5.5.1", "Sender already specified"],
  /** RFC 5321 §3.3 ("554 No valid recipients") and RFC 2920 §3.1 (pipelined DATA after failed RCPTs). */
  NO_VALID_RECIPIENTS: [554, "5.5.1", "No valid recipients"],
  /** RFC 3030 §3: BODY=BINARYMIME requires BDAT; DATA then gets 503. */
  BINARYMIME_NEEDS_BDAT: [503, "5.5.1", "BODY=BINARYMIME requires BDAT"],
  /** RFC 3030 §2: DATA and BDAT must not be mixed in one transaction. */
  DATA_BDAT_MIXED: [503, "5.5.1", "DATA and BDAT cannot be mixed in one transaction"],
  /** RFC 5321 §4.5.3.1.10: "452 Too many recipients" (clients treat it as temporary); RFC 3463 X.5.3. */
  TOO_MANY_RECIPIENTS: [452, "4.5.3", "Too many recipients"],

  // ---- STARTTLS (RFC 3207) and REQUIRETLS (RFC 8689) --------------------------------------------------
  /** RFC 3207 §4: "501 Syntax error (no parameters allowed)". */
  STARTTLS_SYNTAX: [501, "5.5.4", "Syntax error (no parameters allowed)"],
  /** RFC 3207 §4: a client MUST NOT start TLS twice; 503 as for any out-of-sequence command. */
  TLS_ALREADY_ACTIVE: [503, "5.5.1", "TLS already active"],
  /** RFC 3207 §4: "454 TLS not available due to temporary reason"; RFC 3463 X.7.0. */
  TLS_UNAVAILABLE: [454, "4.7.0", "TLS not available due to temporary reason"],
  /** RFC 3207 §4: "530 Must issue a STARTTLS command first"; RFC 3463 X.7.0. */
  TLS_REQUIRED: [530, "5.7.0", "Must issue a STARTTLS command first"],
  /** RFC 8689 §4 (REQUIRETLS only over TLS); RFC 5248 X.7.10 (encryption needed). */
  REQUIRETLS_NEEDS_TLS: [530, "5.7.10", "REQUIRETLS needs a TLS session"],

  // ---- AUTH (RFC 4954) --------------------------------------------------------------------------------
  /** RFC 4954 §6: "530 5.7.0 Authentication required". */
  AUTH_REQUIRED: [530, "5.7.0", "Authentication required"],
  /** RFC 4954 §6: "538 5.7.11 Encryption required for requested authentication mechanism". */
  ENCRYPTION_REQUIRED: [538, "5.7.11", "Encryption required for requested authentication mechanism"],
  /** RFC 4954 §6: "535 5.7.8 Authentication credentials invalid". */
  AUTH_FAILED: [535, "5.7.8", "Authentication credentials invalid"],
  /** RFC 4954 §6: "534 5.7.9 Authentication mechanism is too weak". */
  AUTH_TOO_WEAK: [534, "5.7.9", "Authentication mechanism is too weak"],
  /** RFC 4954 §4: an unsupported mechanism gets 504; RFC 3463 X.5.4. */
  AUTH_MECHANISM_UNSUPPORTED: [504, "5.5.4", "Unrecognized authentication type"],
  /** RFC 4954 §3: AUTH on a listener that does not offer it (Postfix's wording and code). */
  AUTH_NOT_ENABLED: [503, "5.5.1", "Authentication not enabled"],
  /** RFC 4954 §4: "After a successful AUTH command completes, a server MUST reject any further AUTH". */
  ALREADY_AUTHENTICATED: [503, "5.5.1", "Already authenticated"],
  /** RFC 4954 §4: AUTH is not permitted during a mail transaction (503). */
  AUTH_IN_TRANSACTION: [503, "5.5.1", "AUTH not permitted during a mail transaction"],
  /** RFC 4954 §4: the client answered "*": the server MUST reject the AUTH command with 501. */
  AUTH_CANCELLED: [501, "5.7.0", "Authentication cancelled"],
  /** RFC 4954 §4: undecodable base64 → 501 with enhanced status code 5.5.2. */
  AUTH_BAD_BASE64: [501, "5.5.2", "Cannot decode base64 response"],
  /** RFC 4616 §2 (PLAIN message syntax) mapped like RFC 4954 §4's decoding error. */
  AUTH_MALFORMED: [501, "5.5.2", "Malformed authentication response"],
  /** RFC 4954 §4 and §6: "500 5.5.6 Authentication Exchange line is too long". */
  AUTH_LINE_TOO_LONG: [500, "5.5.6", "Authentication exchange line is too long"],
  /** RFC 4954 §6: "454 4.7.0 Temporary authentication failure" (e.g. the store is down). */
  AUTH_TEMP_FAILURE: [454, "4.7.0", "Temporary authentication failure"],
  /** RFC 4954 §6 (454 4.7.0): too many failures from this client or for this account; try later. */
  AUTH_THROTTLED: [454, "4.7.0", "Too many failed authentications, try again later"],
  /** RFC 6409 §6.1 (submission may check the sender); RFC 5321 §4.2.2 553; RFC 3463 X.7.1. */
  SENDER_NOT_OWNED: [553, "5.7.1", "Sender address not owned by the authenticated user"],

  // ---- Recipients, size, storage ----------------------------------------------------------------------
  /** RFC 5321 §4.2.2 (550 mailbox unavailable); RFC 3463 X.1.1 (bad destination mailbox address). */
  NO_SUCH_USER: [550, "5.1.1", "No such user here"],
  /** RFC 5321 §3.6 (relaying is a policy decision) and §4.2.2 (554); RFC 3463 X.7.1. Port 25 never relays. */
  RELAY_DENIED: [554, "5.7.1", "Relay access denied"],
  /** RFC 3463 X.2.1 (mailbox disabled, not accepting messages). */
  MAILBOX_DISABLED: [550, "5.2.1", "Mailbox disabled, not accepting messages"],
  /** RFC 5321 §4.2.2 (552 exceeded storage allocation); RFC 3463 X.2.2 (mailbox full). */
  OVERQUOTA: [552, "5.2.2", "Mailbox full"],
  /** RFC 5321 §4.2.2 (452); RFC 3463 X.2.2: the temporary form, e.g. at RCPT time. */
  OVERQUOTA_TEMP: [452, "4.2.2", "Mailbox full, try again later"],
  /** RFC 1870 §6.1 (SIZE over the limit → 552) and RFC 3030 §2; RFC 3463 X.3.4 (message too big for system). */
  MESSAGE_TOO_BIG: [552, "5.3.4", "Message size exceeds fixed maximum message size"],
  /** RFC 1870 §6.1 ("452 insufficient system storage"); RFC 3463 X.3.1 (mail system full). */
  INSUFFICIENT_STORAGE: [452, "4.3.1", "Insufficient system storage"],
  /** RFC 5321 §4.2.2 (451 local error); RFC 3463 X.3.0: the store could not commit. */
  STORAGE: [451, "4.3.0", "Temporary storage failure, try again later"],
  /** RFC 5321 §4.2.2 (451); RFC 3463 X.3.0: anything unexpected; details go to the log only (STYLE). */
  TEMP_FAILURE: [451, "4.3.0", "Local error in processing, try again later"],
  /** RFC 5321 §4.2.2 (451); RFC 3463 X.7.0: a message/connection rate limit (token bucket) was hit. */
  RATE_LIMITED: [451, "4.7.0", "Rate limit exceeded, try again later"],
  /** RFC 5321 §4.2.2 (450); RFC 3463 X.2.1: this recipient receives too fast. */
  RECIPIENT_RATE_LIMITED: [450, "4.2.1", "Recipient is receiving mail too fast, try again later"],

  // ---- Content and policy -----------------------------------------------------------------------------
  /**
   * RFC 5321 §2.3.8 and §4.1.1.4: CR and LF only as CRLF. SMTP smuggling (CVE-2023-51766 class): a bare CR or
   * LF in DATA makes the message invalid. 554 (transaction failed, the reply after end of data) with X.6.0
   * (RFC 3463: other media error: the content is malformed), permanent because resending the same bytes
   * cannot succeed. (Postfix answers "521 5.5.2" and disconnects; mox "500 5.6.0"; the meaning is the same.)
   */
  BARE_LF: [554, "5.6.0", "Message contains a bare CR or LF; lines must end with CRLF"],
  /** RFC 5322 §2.1.1 (998 characters) and RFC 5321 §4.5.3.1.6 (1000 with CRLF); RFC 3463 X.6.0. */
  DATA_LINE_TOO_LONG: [554, "5.6.0", "Message has a line longer than 998 characters"],
  /** RFC 5322; RFC 3463 X.6.0: the message cannot be parsed. */
  MESSAGE_MALFORMED: [554, "5.6.0", "Message content is malformed"],
  /** RFC 5321 §6.3 (loop detection by counting Received fields); RFC 3463 X.4.6. */
  LOOP_DETECTED: [554, "5.4.6", "Routing loop detected"],
  /** RFC 6531 §3.5: MAIL with a non-ASCII address and no SMTPUTF8 → 550 X.6.7. */
  UTF8_SENDER_NOT_PERMITTED: [550, "5.6.7", "Non-ASCII sender address requires SMTPUTF8"],
  /** RFC 6531 §3.5: RCPT with a non-ASCII address and no SMTPUTF8 → 553 X.6.7. */
  UTF8_RECIPIENT_NOT_PERMITTED: [553, "5.6.7", "Non-ASCII recipient address requires SMTPUTF8"],
  /** RFC 3463 X.7.1 (delivery not authorized): maddy's wording, no configuration leaked. */
  POLICY_REJECTED: [550, "5.7.1", "Message rejected: policy check failed"],
  /** RFC 5321 §4.2.2 (451); RFC 3463 X.7.1: a temporary policy refusal (e.g. a checker is unavailable). */
  POLICY_DEFERRED: [451, "4.7.1", "Try again later: policy check failed"],
  /** RFC 5321 §4.2.2 (554 transaction failed, after DATA); RFC 3463 X.7.1. */
  SPAM_REJECTED: [554, "5.7.1", "Message rejected as spam"],
  /** RFC 7372 §3.2; RFC 5248 registry X.7.23 (SPF validation failed). */
  SPF_FAILED: [550, "5.7.23", "SPF validation failed"],
  /** RFC 7372 §3.1; RFC 5248 registry X.7.20 (no passing DKIM signature found). */
  DKIM_FAILED: [550, "5.7.20", "No passing DKIM signature found"],
  /** RFC 7489 (DMARC p=reject); RFC 7372 X.7.26 (multiple authentication checks failed). */
  DMARC_REJECTED: [550, "5.7.26", "Rejected by the DMARC policy of the sender's domain"],
  /** RFC 7505 §4.2; RFC 5248 registry X.7.27 (sender address has null MX). */
  SENDER_NULL_MX: [550, "5.7.27", "Sender domain does not accept mail (null MX)"],
} as const satisfies Record<string, ReplyCodeEntry>;

/** The name of a reply in `REPLY_CODES`. */
export type ReplyName = keyof typeof REPLY_CODES;
