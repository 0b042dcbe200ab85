/**
 * @module
 * DKIM keys per domain. Every domain has an RSA-2048 and an Ed25519 key (RFC 8463: signing with both lets
 * verifiers that know Ed25519 use it while the rest use RSA). Selectors carry the year and a letter
 * (`s2026a` for RSA, `e2026a` for Ed25519), so a rotation gets new names and old signatures stay verifiable.
 *
 * A key's life is two overlapping windows: it is *published* (in `dns DOMAIN`) from creation until `retire_at`,
 * and it *signs* from `sign_from` until `sign_until`. {@linkcode DkimKeys.rotate} creates keys that sign only
 * after a grace period (time for DNS to publish them) and lets the old ones sign until then and stay
 * published one more grace period (time for mail in flight to be verified). Nothing runs on a timer: which key
 * signs is a question of the clock.
 */
import { generateKeyPair } from "node:crypto";
import { promisify } from "node:util";
import { normalizeDomain } from "../mail/address.ts";
import { NotFoundError } from "./errors.ts";
import type { SqlExecutor } from "./sql/executor.ts";

const generate = promisify(generateKeyPair);

/** First key of the advisory lock taken while adding keys to a domain (the domain id is the second). */
const DKIM_LOCK = 0x646b696d; // "dkim"

/** A DKIM key. */
export interface DkimKey {
  id: number;
  domain: string;
  selector: string;
  algorithm: "rsa" | "ed25519";
  /** PKCS#8 PEM. Never logged, never shown. */
  privateKey: string;
  /** Base64, the DNS `p=` value (SubjectPublicKeyInfo for RSA, the raw 32-byte key for Ed25519). */
  publicKey: string;
  createdAt: Date;
  signFrom: Date;
  signUntil: Date | null;
  retireAt: Date | null;
}

type KeyRow = {
  id: number;
  domain: string;
  selector: string;
  algorithm: "rsa" | "ed25519";
  private_key: string;
  public_key: string;
  created_at: Date;
  sign_from: Date;
  sign_until: Date | null;
  retire_at: Date | null;
};

function fromRow(r: KeyRow): DkimKey {
  return {
    id: r.id,
    domain: r.domain,
    selector: r.selector,
    algorithm: r.algorithm,
    privateKey: r.private_key,
    publicKey: r.public_key,
    createdAt: r.created_at,
    signFrom: r.sign_from,
    signUntil: r.sign_until,
    retireAt: r.retire_at,
  };
}

const COLUMNS = `k.id, d.name AS domain, k.selector, k.algorithm, k.private_key, k.public_key, k.created_at,
  k.sign_from, k.sign_until, k.retire_at`;

/** A new key pair in the forms the table keeps. */
async function newKeyPair(algorithm: "rsa" | "ed25519"): Promise<{ privateKey: string; publicKey: string }> {
  const pair = algorithm === "rsa" ? await generate("rsa", { modulusLength: 2048 }) : await generate("ed25519");
  const privateKey = pair.privateKey.export({ type: "pkcs8", format: "pem" }) as string;
  const spki = pair.publicKey.export({ type: "spki", format: "der" }) as Uint8Array;
  // RFC 8463 §4.2: an Ed25519 p= is the bare 32-byte key, the end of its SubjectPublicKeyInfo.
  const raw = algorithm === "rsa" ? spki : spki.subarray(spki.length - 32);
  return { privateKey, publicKey: btoa(String.fromCharCode(...raw)) };
}

/** `a`, `b`, … `z`, `ba`, … : the n-th selector letter(s). */
function letters(n: number): string {
  let s = "";
  do {
    s = String.fromCharCode(97 + (n % 26)) + s;
    n = Math.floor(n / 26);
  } while (n > 0);
  return s;
}

/** DKIM key operations. */
export class DkimKeys {
  readonly #db: SqlExecutor;

  constructor(db: SqlExecutor) {
    this.#db = db;
  }

  async #domainId(input: string): Promise<{ id: number; name: string }> {
    const name = normalizeDomain(input) ?? input.toLowerCase();
    const rows = await this.#db.query<{ id: number }>("SELECT id FROM domains WHERE name = $1", [name]);
    if (!rows[0]) throw new NotFoundError(`No such domain "${name}"`);
    return { id: rows[0].id, name };
  }

  /**
   * Adds a new RSA and Ed25519 key for a domain that signs from `signFrom` (default now). Selectors are the
   * year and the next unused letter. With `onlyIfNone`, adds nothing when the domain already has keys. Instances
   * sharing a database take turns (an advisory lock per domain), so two never pick the same selector.
   */
  async add(domain: string, signFrom?: Date, options: { onlyIfNone?: boolean } = {}): Promise<DkimKey[]> {
    const d = await this.#domainId(domain);
    const [rsa, ed] = await Promise.all([newKeyPair("rsa"), newKeyPair("ed25519")]);
    const year = new Date().getUTCFullYear();
    return await this.#db.transaction(async (tx) => {
      await tx.query("SELECT pg_advisory_xact_lock($1, $2)", [DKIM_LOCK, d.id]);
      if (options.onlyIfNone) {
        const any = await tx.query("SELECT 1 FROM dkim_keys WHERE domain_id = $1 LIMIT 1", [d.id]);
        if (any.length) return [];
      }
      const used = new Set(
        (await tx.query<{ selector: string }>("SELECT selector FROM dkim_keys WHERE domain_id = $1", [d.id]))
          .map((r) => r.selector),
      );
      let n = 0;
      while (used.has(`s${year}${letters(n)}`) || used.has(`e${year}${letters(n)}`)) n++;
      const rows = await tx.query<KeyRow>(
        `WITH ins AS (
           INSERT INTO dkim_keys (domain_id, selector, algorithm, private_key, public_key, sign_from)
           VALUES ($1, $2, 'rsa', $3, $4, coalesce($7, now())), ($1, $5, 'ed25519', $6, $8, coalesce($7, now()))
           RETURNING *)
         SELECT ${COLUMNS} FROM ins k JOIN domains d ON d.id = k.domain_id ORDER BY k.algorithm DESC`,
        [
          d.id,
          `s${year}${letters(n)}`,
          rsa.privateKey,
          rsa.publicKey,
          `e${year}${letters(n)}`,
          ed.privateKey,
          signFrom ?? null,
          ed.publicKey,
        ],
      );
      return rows.map(fromRow);
    });
  }

  /** Gives every domain without keys its first pair (domains added before DKIM existed, or through the store). */
  async ensureAll(): Promise<string[]> {
    const rows = await this.#db.query<{ name: string }>(
      "SELECT name FROM domains d WHERE NOT EXISTS (SELECT 1 FROM dkim_keys k WHERE k.domain_id = d.id) ORDER BY name",
    );
    const added: string[] = [];
    for (const r of rows) if ((await this.add(r.name, undefined, { onlyIfNone: true })).length) added.push(r.name);
    return added;
  }

  /** Keys to publish in DNS for a domain now: every key not yet retired, oldest first. */
  async published(domain: string, at: Date = new Date()): Promise<DkimKey[]> {
    const d = await this.#domainId(domain);
    const rows = await this.#db.query<KeyRow>(
      `SELECT ${COLUMNS} FROM dkim_keys k JOIN domains d ON d.id = k.domain_id
        WHERE k.domain_id = $1 AND (k.retire_at IS NULL OR k.retire_at > $2) ORDER BY k.id`,
      [d.id, at],
    );
    return rows.map(fromRow);
  }

  /** Every key of a domain, retired ones included, oldest first. */
  async list(domain: string): Promise<DkimKey[]> {
    const d = await this.#domainId(domain);
    const rows = await this.#db.query<KeyRow>(
      `SELECT ${COLUMNS} FROM dkim_keys k JOIN domains d ON d.id = k.domain_id WHERE k.domain_id = $1 ORDER BY k.id`,
      [d.id],
    );
    return rows.map(fromRow);
  }

  /** The keys that sign mail from a domain now (one per algorithm, the newest that is in its window). */
  async signing(domain: string, at: Date = new Date()): Promise<DkimKey[]> {
    const rows = await this.#db.query<KeyRow>(
      `SELECT DISTINCT ON (k.algorithm) ${COLUMNS} FROM dkim_keys k JOIN domains d ON d.id = k.domain_id
        WHERE d.name = $1 AND k.sign_from <= $2 AND (k.sign_until IS NULL OR k.sign_until > $2)
        ORDER BY k.algorithm, k.sign_from DESC, k.id DESC`,
      [domain.toLowerCase(), at],
    );
    return rows.map(fromRow);
  }

  /**
   * Starts a rotation: new keys that sign from now + grace; the keys signing now stop then and stay published
   * until now + 2 × grace. Returns the new keys and the ones being retired.
   */
  async rotate(domain: string, graceMs: number): Promise<{ added: DkimKey[]; retiring: DkimKey[] }> {
    const now = Date.now();
    const current = await this.signing(domain, new Date(now));
    const added = await this.add(domain, new Date(now + graceMs));
    const ids = current.map((k) => k.id);
    if (ids.length) {
      await this.#db.query(
        "UPDATE dkim_keys SET sign_until = $2, retire_at = $3 WHERE id = ANY($1::bigint[])",
        [ids, new Date(now + graceMs), new Date(now + 2 * graceMs)],
      );
    }
    return {
      added,
      retiring: current.map((k) => ({
        ...k,
        signUntil: new Date(now + graceMs),
        retireAt: new Date(now + 2 * graceMs),
      })),
    };
  }
}
