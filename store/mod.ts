/**
 * @module
 * The store: everything Silvermail keeps, in Postgres (postgres.js when a URL is given, else embedded PGlite).
 * Protocols and the admin panel use only what this module exports — never raw SQL.
 */
import { join } from "node:path";
import { type AccountPolicy, Accounts } from "./accounts.ts";
import { Aliases } from "./aliases.ts";
import { Changes } from "./changes.ts";
import { DkimKeys } from "./dkim.ts";
import { Domains } from "./domains.ts";
import { type DataDirLock, lockDataDir } from "./lock.ts";
import { Mailboxes } from "./mailboxes.ts";
import { Settings } from "./settings.ts";
import { Messages, type MessagesOptions } from "./messages.ts";
import { migrate } from "./migrate.ts";
import { MtaStsPolicies, Queue } from "./queue.ts";
import { closePasswordWorkers } from "./passwords.ts";
import type { SqlExecutor } from "./sql/executor.ts";
import { openPglite, snapshotPglite } from "./sql/pglite.ts";
import { openPostgres } from "./sql/postgres.ts";

export type { Account, AccountPolicy } from "./accounts.ts";
export type { Alias, Resolution } from "./aliases.ts";
export type { MailboxChanged } from "./changes.ts";
export type { DkimKey } from "./dkim.ts";
export type { Domain } from "./domains.ts";
export type { Mailbox, MailboxStatus } from "./mailboxes.ts";
export { canonicalName, SEPARATOR } from "./mailboxes.ts";
export type { SearchCriteria } from "./search.ts";
export type { AttemptResult, ClaimedRecipient, DeliveryLogEntry, QueuedRecipient } from "./queue.ts";
export { hex } from "./queue.ts";
export { DEFAULT_MAILBOXES } from "./mailboxes.ts";
export { normalizeFlags } from "./messages.ts";
export type {
  Appended,
  Delivery,
  DeliveryTarget,
  DsnParams,
  FlagState,
  MessageMeta,
  MessagesOptions,
  MessageSummary,
  ParsedContent,
  QueueEntry,
} from "./messages.ts";
export { ConflictError, InvalidInputError, LockedError, NotFoundError, QuotaExceededError } from "./errors.ts";
export type { SqlExecutor } from "./sql/executor.ts";

/** Where the store lives. */
export type StoreLocation =
  /** Postgres at a URL (several instances may share it). */
  | { url: string; poolSize?: number }
  /** Embedded PGlite persisted in `<dataDir>/db`, locked against other processes. */
  | { dataDir: string }
  /** Embedded PGlite in memory (tests), optionally from a snapshot of a migrated database. */
  | { memory: true; snapshot?: Blob };

/** Options for {@linkcode Store.open}. */
export interface StoreOptions {
  location: StoreLocation;
  policy?: Partial<AccountPolicy>;
  /** Memory for recently read messages (`Messages.cache`); 0 or absent: none. */
  messageCacheBytes?: number;
  /** Flag changes commit durably before the reply (`MessagesOptions.durableFlagChanges`); default false. */
  durableFlagChanges?: boolean;
}

/** The opened store. */
export class Store {
  /** The SQL executor; for the store's own modules, tests and benchmarks. */
  readonly db: SqlExecutor;
  readonly domains: Domains;
  readonly accounts: Accounts;
  readonly aliases: Aliases;
  readonly mailboxes: Mailboxes;
  readonly messages: Messages;
  readonly changes: Changes;
  readonly queue: Queue;
  readonly dkim: DkimKeys;
  readonly mtaSts: MtaStsPolicies;
  readonly settings: Settings;
  readonly #lock: DataDirLock | undefined;

  private constructor(
    db: SqlExecutor,
    policy: AccountPolicy,
    lock: DataDirLock | undefined,
    messages: MessagesOptions,
  ) {
    this.db = db;
    this.#lock = lock;
    this.domains = new Domains(db);
    this.accounts = new Accounts(db, policy);
    this.aliases = new Aliases(db);
    this.changes = new Changes(db);
    this.messages = new Messages(db, this.changes, messages);
    this.mailboxes = new Mailboxes(db, this.messages);
    this.queue = new Queue(db);
    this.dkim = new DkimKeys(db);
    this.mtaSts = new MtaStsPolicies(db);
    this.settings = new Settings(db);
  }

  /** Opens the database (taking the data dir lock for embedded PGlite) and applies pending migrations. */
  static async open(options: StoreOptions): Promise<Store> {
    const policy: AccountPolicy = {
      minPasswordLength: options.policy?.minPasswordLength ?? 10,
      defaultQuotaBytes: options.policy?.defaultQuotaBytes ?? 0,
    };
    const loc = options.location;
    let lock: DataDirLock | undefined;
    let db: SqlExecutor;
    if ("url" in loc) {
      db = await openPostgres(loc.url, loc.poolSize === undefined ? {} : { poolSize: loc.poolSize });
    } else if ("dataDir" in loc) {
      lock = await lockDataDir(loc.dataDir);
      try {
        db = await openPglite(join(loc.dataDir, "db"));
      } catch (e) {
        lock.release();
        throw e;
      }
    } else {
      db = await openPglite(undefined, loc.snapshot ? { snapshot: loc.snapshot } : {});
    }
    try {
      await migrate(db);
    } catch (e) {
      await db.close();
      lock?.release();
      throw e;
    }
    return new Store(db, policy, lock, {
      cacheBytes: options.messageCacheBytes ?? 0,
      durableFlagChanges: options.durableFlagChanges ?? false,
    });
  }

  /** A snapshot of this in-memory store (tests open copies of a migrated database with it). */
  snapshot(): Promise<Blob> {
    return snapshotPglite(this.db);
  }

  /** Which driver is in use. */
  get driver(): "postgres" | "pglite" {
    return this.db.driver;
  }

  /** Closes the database, releases the data dir lock and stops the password workers. */
  async close(): Promise<void> {
    await this.changes.close();
    await this.db.close();
    this.#lock?.release();
    closePasswordWorkers();
  }
}
