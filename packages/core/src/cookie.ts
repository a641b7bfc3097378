import { serialize } from 'cookie';
import type { CookiePriority, SameSiteOption, StoredCookie } from './types.js';

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
      this.expires = expires instanceof Date ? expires : new Date(expires);
    } else if (typeof maxAge === 'number') {
      this.maxAge = maxAge;
    }
    // A stored cookie keeps the lifetime it started with.
    if (typeof originalMaxAge === 'number' || originalMaxAge === null) {
      this.originalMaxAge = originalMaxAge;
    }
  }

  get expires(): Date | null {
    return this.#expires;
  }

  /** A Date, or `null` for a browser-session cookie (`false`, as express-session users write it, too). */
  set expires(date: Date | null) {
    this.#expires = date instanceof Date ? date : null;
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
    this.expires = typeof ms === 'number' ? new Date(Date.now() + ms) : null;
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
    };
  }

  toJSON(): StoredCookie {
    return this.data;
  }

  /** `Set-Cookie` value for `name=value` with these options. */
  serialize(name: string, value: string): string {
    return serialize(name, value, {
      expires: this.#expires ?? undefined,
      path: this.path,
      domain: this.domain,
      httpOnly: this.httpOnly,
      secure: this.secure,
      sameSite: this.sameSite,
      partitioned: this.partitioned,
      priority: this.priority,
    });
  }
}
