import { parse, serialize } from 'cookie';
import type { CookiePriority, SameSiteOption, StoredCookie } from './types.js';

/**
 * The latest expiry a cookie carries: 9999-12-31T23:59:59.000Z. A later date
 * has a year of more than four digits, which browsers cannot parse in
 * `Expires` (RFC 6265 5.1.1), and past 275760 there is no Date at all. A
 * lifetime that reaches further ("remember me forever") is clamped to it.
 */
export const MAX_COOKIE_EXPIRES = Date.UTC(9999, 11, 31, 23, 59, 59);

/** `SameSite=None`, however it is spelled (the serializer lowercases it). */
export function isSameSiteNone(sameSite: unknown): boolean {
  return typeof sameSite === 'string' && sameSite.toLowerCase() === 'none';
}

/** Cookie options as express-session takes them. */
export interface CookieOptions {
  /** Lifetime in ms; `null`/absent makes a browser-session cookie. */
  maxAge?: number | null;
  /** An absolute expiry; `maxAge` is usually the better choice. */
  expires?: Date | null;
  path?: string;
  domain?: string;
  httpOnly?: boolean;
  /** `'auto'` follows the request: Secure over HTTPS only. */
  secure?: boolean | 'auto';
  /** `'auto'`: `None` over HTTPS, `Lax` over HTTP. */
  sameSite?: SameSiteOption | 'auto';
  partitioned?: boolean;
  priority?: CookiePriority;
}

/**
 * The session cookie: its options plus the expiry bookkeeping express-session
 * users rely on (`maxAge` counts down, `originalMaxAge` remembers the start).
 * Serialized into the stored record as `cookie`.
 */
export class Cookie {
  path = '/';
  httpOnly = true;
  domain: string | undefined;
  secure: boolean | undefined;
  sameSite: SameSiteOption | undefined;
  partitioned: boolean | undefined;
  priority: CookiePriority | undefined;
  originalMaxAge: number | null = null;
  /**
   * sess: when the session was created, epoch ms (stored as `cookie.createdAt`;
   * express-session and @fastify/session ignore it). Not a cookie attribute:
   * never sent to the browser. `undefined` for a record written without it.
   */
  createdAt: number | undefined;
  #expires: Date | null = null;

  constructor(options: CookieOptions | StoredCookie = {}) {
    if (typeof options !== 'object' || options === null) {
      throw new TypeError('cookie options must be an object');
    }
    const { maxAge, expires, originalMaxAge, secure, sameSite, ...rest } = options as Omit<
      CookieOptions,
      'expires'
    > & { expires?: Date | string | null; originalMaxAge?: number | null };
    // `?? undefined`: a stored record may carry `null` where express-session had `undefined`.
    if (rest.path !== undefined && rest.path !== null) this.path = rest.path;
    if (rest.httpOnly !== undefined && rest.httpOnly !== null) this.httpOnly = rest.httpOnly;
    this.domain = rest.domain ?? undefined;
    this.partitioned = rest.partitioned ?? undefined;
    this.priority = rest.priority ?? undefined;
    this.secure = secure === 'auto' ? undefined : (secure ?? undefined);
    this.sameSite = sameSite === 'auto' ? undefined : (sameSite ?? undefined);
    // `expires: false` is what express-session stores after the common
    // `req.session.cookie.expires = false` (a browser-session cookie).
    if (expires !== undefined && expires !== null && (expires as unknown) !== false) {
      // A stored string that is not a date (a damaged record): no expiry, rather
      // than a cookie that cannot be serialized. An invalid Date option throws.
      const date = expires instanceof Date ? expires : new Date(expires);
      this.expires = expires instanceof Date || !Number.isNaN(date.getTime()) ? date : null;
    } else if (typeof maxAge === 'number') {
      this.maxAge = maxAge;
    }
    // A stored cookie keeps the lifetime it started with.
    if (typeof originalMaxAge === 'number' || originalMaxAge === null) {
      this.originalMaxAge = originalMaxAge;
    }
    const createdAt: unknown = (rest as { createdAt?: unknown }).createdAt;
    if (typeof createdAt === 'number' && Number.isFinite(createdAt)) this.createdAt = createdAt;
  }

  get expires(): Date | null {
    return this.#expires;
  }

  /**
   * A Date, or `null` for a browser-session cookie (`false`, as express-session
   * users write it, too). A date past {@link MAX_COOKIE_EXPIRES} is clamped to
   * it, one before 1970 to 1970; an invalid Date throws a TypeError.
   */
  set expires(date: Date | null) {
    if (date instanceof Date) {
      const ms = date.getTime();
      if (Number.isNaN(ms)) throw new TypeError('expires must be a valid Date');
      this.#expires = ms > MAX_COOKIE_EXPIRES || ms < 0 ? new Date(clampExpiry(ms)) : date;
    } else {
      this.#expires = null;
    }
    this.originalMaxAge = this.maxAge;
  }

  /** Milliseconds left, or `null` for a browser-session cookie. Setting it moves `expires`. */
  get maxAge(): number | null {
    return this.#expires ? this.#expires.getTime() - Date.now() : null;
  }

  set maxAge(ms: number | null) {
    // express-session accepts any falsy value as "no expiry"; keep that.
    if (ms !== null && ms !== undefined && (ms as unknown) !== false && typeof ms !== 'number') {
      throw new TypeError('maxAge must be a number or null');
    }
    // NaN or Infinity would make an invalid date that breaks Set-Cookie later, far from the cause.
    if (typeof ms === 'number' && !Number.isFinite(ms)) {
      throw new TypeError('maxAge must be a finite number of milliseconds');
    }
    // A lifetime beyond the last cookie date is clamped to it (never an invalid Date).
    this.expires = typeof ms === 'number' ? new Date(clampExpiry(Date.now() + ms)) : null;
  }

  /** Restart the lifetime from now (what express-session's `touch()` does). */
  resetMaxAge(): void {
    this.maxAge = this.originalMaxAge;
  }

  /** The stored shape, field for field what express-session stores. */
  get data(): StoredCookie {
    return {
      originalMaxAge: this.originalMaxAge,
      partitioned: this.partitioned,
      priority: this.priority,
      expires: this.#expires,
      secure: this.secure,
      httpOnly: this.httpOnly,
      domain: this.domain,
      path: this.path,
      sameSite: this.sameSite,
      createdAt: this.createdAt,
    };
  }

  toJSON(): StoredCookie {
    return this.data;
  }

  /**
   * The stored shape without its `undefined` fields (what a store keeps):
   * `data`'s keys in `data`'s order, built directly (no intermediate
   * object to filter, on every write).
   */
  stored(): StoredCookie {
    const stored: StoredCookie = { originalMaxAge: this.originalMaxAge };
    if (this.partitioned !== undefined) stored.partitioned = this.partitioned;
    if (this.priority !== undefined) stored.priority = this.priority;
    stored.expires = this.#expires;
    if (this.secure !== undefined) stored.secure = this.secure;
    if (this.httpOnly !== undefined) stored.httpOnly = this.httpOnly;
    if (this.domain !== undefined) stored.domain = this.domain;
    if (this.path !== undefined) stored.path = this.path;
    if (this.sameSite !== undefined) stored.sameSite = this.sameSite;
    if (this.createdAt !== undefined) stored.createdAt = this.createdAt;
    return stored;
  }

  /**
   * `Set-Cookie` value for `name=value` with these options. `Partitioned` is
   * written only with `Secure`: browsers drop a partitioned cookie without it.
   * `encode` turns the value into cookie octets; default `encodeURIComponent`,
   * as express-session (see `encodeCookieValue` for @fastify/cookie's rule).
   */
  serialize(name: string, value: string, encode?: (value: string) => string): string {
    // The serializer's object form: its `(name, value, options)` form copies
    // the options with an object spread, about ten times the cost of the rest.
    return serialize(
      {
        name,
        value,
        expires: this.#expires ?? undefined,
        path: this.path,
        domain: this.domain,
        httpOnly: this.httpOnly,
        secure: this.secure,
        sameSite: this.sameSite,
        partitioned: this.partitioned === true && this.secure === true,
        priority: this.priority,
      },
      encode ? { encode } : undefined,
    );
  }
}

/** An expiry in epoch ms, within what a cookie (and a Date) can carry. */
function clampExpiry(ms: number): number {
  return Math.max(0, Math.min(MAX_COOKIE_EXPIRES, ms));
}

/** RFC 6265 cookie-octets, without `%` so that decoding round-trips: what goes out unencoded. */
const COOKIE_OCTETS = /^[\u0021\u0023\u0024\u0026-\u002B\u002D-\u003A\u003C-\u005B\u005D-\u007E]*$/;

/**
 * URL-encode a cookie value only when it holds a character a cookie value
 * cannot (the rule of @fastify/cookie and cookie v2): a signed session value
 * goes out as it is, `s:`, `/` and `+` included. Any decoder reads both.
 */
export function encodeCookieValue(value: string): string {
  return COOKIE_OCTETS.test(value) ? value : encodeURIComponent(value);
}

/** The value of the cookie `name` in a `Cookie` request header, as the middleware reads it. */
export function readCookie(header: string | undefined, name: string): string | undefined {
  return header ? parse(header)[name] : undefined;
}
