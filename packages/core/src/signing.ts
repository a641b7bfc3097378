import { createHmac, createSecretKey, type KeyObject, timingSafeEqual } from 'node:crypto';
import { SessConfigError } from './errors.js';

/**
 * Cookie values as express-session writes them: `s:` + id + `.` + the
 * HMAC-SHA256 of the id, base64 without padding. The cookie library then
 * URL-encodes the whole value.
 */
export const SIGNED_PREFIX = 's:';

/**
 * A signing secret: a string, or raw bytes (a Buffer), as express-session
 * (cookie-signature) accepts them.
 */
export type SecretKey = string | Uint8Array;

/** `value.signature`, signed with `secret`. */
export function sign(value: string, secret: SecretKey): string {
  return `${value}.${hmac(value, secret)}`;
}

/**
 * The value inside `signed` if its signature matches `secret`, else `false`.
 * The comparison is timing-safe.
 */
export function unsign(signed: string, secret: SecretKey): string | false {
  const dot = signed.lastIndexOf('.');
  if (dot <= 0) return false;
  const value = signed.slice(0, dot);
  const given = Buffer.from(signed.slice(dot + 1));
  const expected = Buffer.from(hmac(value, secret));
  if (given.length !== expected.length) return false;
  return timingSafeEqual(given, expected) ? value : false;
}

export interface UnsignedCookie {
  id: string;
  /** Index of the secret that verified it: 0 is the current one, more means rotated out. */
  secretIndex: number;
}

/**
 * Verify a cookie value (already URL-decoded) against every secret, newest
 * first. Anything that is not `prefix` + a valid signature gives `null`.
 * The prefix is express-session's `s:` by default; @fastify/session writes
 * the same signature (@fastify/cookie's signer: HMAC-SHA256, base64 without
 * padding) with no prefix unless its `cookiePrefix` option sets one.
 */
export function unsignCookie(
  value: string,
  secrets: readonly SecretKey[],
  prefix: string = SIGNED_PREFIX,
): UnsignedCookie | null {
  if (!value.startsWith(prefix)) return null;
  const signed = value.slice(prefix.length);
  for (let index = 0; index < secrets.length; index++) {
    const id = unsign(signed, secrets[index] as SecretKey);
    if (id !== false) return { id, secretIndex: index };
  }
  return null;
}

/** The cookie value for a session id, signed with the current secret, after `prefix` (default `s:`). */
export function signCookie(id: string, secret: SecretKey, prefix: string = SIGNED_PREFIX): string {
  return prefix + sign(id, secret);
}

/**
 * Accepts `secret` as express-session does (a string, a Buffer, or a list of
 * them) and checks it. The messages are express-session's where it has one.
 */
export function normalizeSecrets(
  secret: SecretKey | readonly SecretKey[] | undefined | null,
): SecretKey[] {
  if (secret === undefined || secret === null || secret === '') {
    throw new SessConfigError('secret option required for sessions');
  }
  const list: unknown[] = Array.isArray(secret) ? [...secret] : [secret];
  if (list.length === 0) {
    throw new SessConfigError('secret option array must contain one or more strings');
  }
  for (const item of list) {
    if (!(typeof item === 'string' || item instanceof Uint8Array) || item.length === 0) {
      throw new SessConfigError(
        'secret option must be a non-empty string or Buffer (or a list of them)',
      );
    }
  }
  return list as SecretKey[];
}

/**
 * HMAC keys made from string secrets, so that a request's HMAC does not turn
 * the secret into key material again. Bounded: an app has a few secrets; a
 * caller signing with many different ones just stops being cached.
 */
const KEYS = new Map<string, KeyObject>();
const MAX_CACHED_KEYS = 64;

function keyOf(secret: SecretKey): SecretKey | KeyObject {
  // Bytes are used as they are at each call (a Buffer can be changed in place).
  if (typeof secret !== 'string') return secret;
  let key = KEYS.get(secret);
  if (key === undefined && KEYS.size < MAX_CACHED_KEYS) {
    // The same bytes createHmac takes from a string key (UTF-8).
    key = createSecretKey(Buffer.from(secret, 'utf8'));
    KEYS.set(secret, key);
  }
  return key ?? secret;
}

function hmac(value: string, secret: SecretKey): string {
  const mac = createHmac('sha256', keyOf(secret)).update(value).digest('base64');
  // SHA-256 in base64 ends with one `=` of padding, which cookie-signature drops.
  let end = mac.length;
  while (end > 0 && mac.charCodeAt(end - 1) === 0x3d) end--;
  return end === mac.length ? mac : mac.slice(0, end);
}
