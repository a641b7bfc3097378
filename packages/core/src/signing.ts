import { createHmac, timingSafeEqual } from 'node:crypto';
import { SessConfigError } from './errors.js';

/**
 * Cookie values as express-session writes them: `s:` + id + `.` + the
 * HMAC-SHA256 of the id, base64 without padding. The cookie library then
 * URL-encodes the whole value.
 */
export const SIGNED_PREFIX = 's:';

/** `value.signature`, signed with `secret`. */
export function sign(value: string, secret: string): string {
  return `${value}.${hmac(value, secret)}`;
}

/**
 * The value inside `signed` if its signature matches `secret`, else `false`.
 * The comparison is timing-safe.
 */
export function unsign(signed: string, secret: string): string | false {
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
  secrets: readonly string[],
  prefix: string = SIGNED_PREFIX,
): UnsignedCookie | null {
  if (!value.startsWith(prefix)) return null;
  const signed = value.slice(prefix.length);
  for (let index = 0; index < secrets.length; index++) {
    const id = unsign(signed, secrets[index] as string);
    if (id !== false) return { id, secretIndex: index };
  }
  return null;
}

/** The cookie value for a session id, signed with the current secret, after `prefix` (default `s:`). */
export function signCookie(id: string, secret: string, prefix: string = SIGNED_PREFIX): string {
  return prefix + sign(id, secret);
}

/** Accepts `secret` as express-session does (a string or a list) and checks it. */
export function normalizeSecrets(secret: string | readonly string[] | undefined): string[] {
  if (secret === undefined) throw new SessConfigError('the `secret` option is required');
  const list = typeof secret === 'string' ? [secret] : [...secret];
  if (list.length === 0) throw new SessConfigError('`secret` must not be an empty list');
  for (const item of list) {
    if (typeof item !== 'string' || item.length === 0) {
      throw new SessConfigError('every `secret` must be a non-empty string');
    }
  }
  return list;
}

function hmac(value: string, secret: string): string {
  return createHmac('sha256', secret).update(value).digest('base64').replace(/=+$/, '');
}
