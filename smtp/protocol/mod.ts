/**
 * @module
 * The pure SMTP protocol layer: reply table and formatting, command parsing, the command line splitter, DATA and
 * BDAT decoders, and SASL exchanges. No I/O, no store: `smtp/session.ts` drives these.
 */
export { REPLY_CODES, type ReplyCodeEntry, type ReplyName } from "./reply_codes.ts";
export { formatReply, reply, SmtpReply } from "./reply.ts";
export {
  type AuthCommand,
  type BdatCommand,
  type BodyType,
  type Command,
  type CommandErrorKind,
  CommandSyntaxError,
  decodeXtext,
  type DsnNotify,
  encodeXtext,
  type HelloCommand,
  type HelpCommand,
  type Mailbox,
  type MailCommand,
  type MailParams,
  parseCommand,
  type RcptCommand,
  type RcptParams,
  type SimpleCommand,
  type VerifyCommand,
} from "./parse.ts";
export { AUTH_LINE_MAX, DEFAULT_MAX_LINE, type LineEvent, LineReader, SMTP_COMMAND_LINE_MAX } from "./line_reader.ts";
export {
  type BdatChunkResult,
  BdatReader,
  type BdatReaderOptions,
  type DataError,
  DataReader,
  type DataReaderOptions,
  type DataResult,
} from "./data_reader.ts";
export {
  redactAuthLine,
  SASL_MECHANISMS,
  SaslCredentials,
  type SaslExchange,
  saslExchange,
  type SaslMechanism,
  type SaslStep,
} from "./sasl.ts";
