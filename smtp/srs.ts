/**
 * @module
 * Sender Rewriting Scheme for forwarded mail. A local alias that forwards to another provider would otherwise
 * send the message on with the original sender (`someone@example.org`), and the receiver's SPF check would find
 * our address is not example.org's: fail. So the envelope sender of forwarded mail becomes an address of ours
 * that encodes the original one:
 *
 *     SRS0=<hash>=<time>=example.org=someone@a.test
 *
 * SPF then checks a.test (ours: pass); DMARC still judges the From header through the original DKIM signature,
 * which forwarding leaves intact. A bounce sent back to that address is accepted at our MX only if the hash
 * (an HMAC with a secret shared by every instance, in the database) verifies and the time is at most 21 days
 * old — so the scheme is no open relay — and is forwarded to the original sender.
 *
 * The layout follows the SRS0 convention of libsrs2/postsrsd (hash and time, then the original domain and local
 * part); the hash is 6 base32 characters of an HMAC-SHA-256 (case-insensitive, as mail addresses may be).
 */
import { createHmac, timingSafeEqual } from "node:crypto";

const BASE32 = "abcdefghijklmnopqrstuvwxyz234567";
/** Days an SRS address stays valid (libsrs2's default). */
const MAX_AGE_DAYS = 21;
/** The time field counts days modulo 1024 (two base32 characters). */
const TIME_MODULO = 1024;

function base32(bytes: Uint8Array, chars: number): string {
  let out = "";
  let bits = 0;
  let value = 0;
  for (const b of bytes) {
    value = (value << 8) | b;
    bits += 8;
    while (bits >= 5 && out.length < chars) {
      out += BASE32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
    if (out.length >= chars) break;
  }
  return out;
}

function today(now: number): number {
  return Math.floor(now / 86_400_000) % TIME_MODULO;
}

function hash(secret: string, time: string, domain: string, local: string): string {
  const mac = createHmac("sha256", secret).update(`${time}=${domain.toLowerCase()}=${local.toLowerCase()}`).digest();
  return base32(mac, 6);
}

/** SRS encoding and decoding with one secret. */
export class Srs {
  readonly #secret: string;

  constructor(secret: string) {
    if (secret.length < 16) throw new Error("SRS secret too short");
    this.#secret = secret;
  }

  /**
   * The SRS address at `ourDomain` for the original sender `address` (`local@domain`); the address itself when it
   * cannot be rewritten (a quoted local part or an address literal, or a result over 256 octets).
   */
  forward(address: string, ourDomain: string, now = Date.now()): string {
    const at = address.lastIndexOf("@");
    const local = address.slice(0, at);
    const domain = address.slice(at + 1);
    if (!/^[^\s"=@]+$/.test(local) || !/^[a-z0-9.-]+$/i.test(domain) || local.length + domain.length > 230) {
      return address;
    }
    const t = today(now);
    const time = BASE32[t >> 5]! + BASE32[t & 31]!;
    return `SRS0=${hash(this.#secret, time, domain, local)}=${time}=${domain}=${local}@${ourDomain}`;
  }

  /**
   * The original sender an SRS address stands for; undefined when `localPart` is not SRS0, its hash does not
   * verify, or it is older than 21 days.
   */
  reverse(localPart: string, now = Date.now()): string | undefined {
    const m = /^srs0=([a-z2-7]{6})=([a-z2-7]{2})=([^=]+)=(.+)$/i.exec(localPart);
    if (!m) return undefined;
    const [, given, time, domain, local] = m as unknown as [string, string, string, string, string];
    const expected = hash(this.#secret, time.toLowerCase(), domain, local);
    const a = new TextEncoder().encode(given.toLowerCase());
    const b = new TextEncoder().encode(expected);
    if (a.length !== b.length || !timingSafeEqual(a, b)) return undefined;
    const t = BASE32.indexOf(time[0]!.toLowerCase()) * 32 + BASE32.indexOf(time[1]!.toLowerCase());
    const age = (today(now) - t + TIME_MODULO) % TIME_MODULO;
    if (age > MAX_AGE_DAYS) return undefined;
    return `${local}@${domain}`;
  }
}
