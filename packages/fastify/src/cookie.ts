import type { CookieOptions } from '@sess/core';

/**
 * Cookie options read as @fastify/session reads them, so a configuration that
 * works there means the same here: an empty `path` is `/` (without it the
 * browser would scope the cookie to the page's directory), a `maxAge` of 0 is
 * no maxAge (a browser-session cookie, not one that is already expired), an
 * `expires` given as a date string or epoch milliseconds is that date, and
 * `secure: 'true'` (a string) is `true`. Anything else is left for core to
 * accept or refuse with SessConfigError.
 */
export function incumbentCookieOptions(given: CookieOptions): CookieOptions {
  const cookie: CookieOptions = { ...given };
  if (cookie.path === '') cookie.path = '/';
  if (cookie.maxAge === 0) cookie.maxAge = null;
  const expires: unknown = cookie.expires;
  if (typeof expires === 'string' || typeof expires === 'number') {
    const date = new Date(expires);
    if (!Number.isNaN(date.getTime())) cookie.expires = date;
  }
  if ((cookie.secure as unknown) === 'true') cookie.secure = true;
  return cookie;
}
