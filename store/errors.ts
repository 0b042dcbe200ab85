/**
 * @module
 * The store's domain errors: the conditions callers catch and turn into a reply (CLI message, SMTP code,
 * IMAP NO). Anything else thrown by the store is a bug or an outage.
 */

/** Input that cannot be stored: an invalid address, a weak password, … */
export class InvalidInputError extends Error {
  override name = "InvalidInputError";
}

/** The thing named does not exist. */
export class NotFoundError extends Error {
  override name = "NotFoundError";
}

/** The thing already exists, or is still in use. */
export class ConflictError extends Error {
  override name = "ConflictError";
}

/** The data dir is already opened by another process. */
export class LockedError extends Error {
  override name = "LockedError";
}

/** Storing this would take the account over its quota. */
export class QuotaExceededError extends Error {
  override name = "QuotaExceededError";
}
