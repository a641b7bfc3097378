import { CorruptRecordError } from './errors.js';
import type { SessionRecord } from './types.js';
import type { UserIndexMethods } from './users.js';

/**
 * The store contract. Promise-based and small: `get`, `set` and `destroy` are
 * required; the rest are capabilities a store declares by implementing them.
 *
 * Rules every store follows (the conformance suite checks each one):
 * - `get` returns `null` for a missing, expired or undecodable record. Expired
 *   means past the expiry the store keeps: `cookie.expires` as of the last
 *   `set`, or the later one a `touch` gave. Core trusts the store on this: a
 *   store whose `touch` moves only its own expiry (Redis PEXPIRE, an SQL
 *   column) may return a live record whose `cookie.expires` is older.
 * - `set` writes the whole record with its expiry in one operation; a record
 *   without `cookie.expires` lives for the store's default TTL.
 * - `touch` moves only the expiry of an existing record: it never rewrites the
 *   data, and never creates or resurrects a record.
 * - listings (`ids`, `all`, `length`) and `clear` see only live records of this
 *   store (its own prefix, table or collection).
 * - failures reject with a `StoreError` (see errors.ts) within a bounded time.
 */
export interface SessionStore extends Partial<UserIndexMethods> {
  get(id: string): Promise<SessionRecord | null>;
  set(id: string, session: SessionRecord): Promise<void>;
  destroy(id: string): Promise<void>;

  /** Extend the expiry to `session.cookie.expires` without rewriting data. */
  touch?(id: string, session: SessionRecord): Promise<void>;
  /** Ids of all live sessions. */
  ids?(): Promise<string[]>;
  /** All live sessions, keyed by id. */
  all?(): Promise<Record<string, SessionRecord>>;
  /** Number of live sessions. */
  length?(): Promise<number>;
  /** Remove every session of this store (and only of this store). */
  clear?(): Promise<void>;
  /** Release timers and connections the store opened itself. Idempotent. */
  close?(): Promise<void>;
  /**
   * Atomic conditional write: store `next` only if the stored record still
   * equals `expected` (compared as JSON; `null` means "no live record").
   * Resolves `true` when written, `false` when the record had changed.
   * Lets core merge parallel requests without lost updates.
   */
  compareAndSet?(id: string, expected: SessionRecord | null, next: SessionRecord): Promise<boolean>;
  // Sessions by user: the four optional methods of `UserIndexMethods` (users.ts),
  // inherited above. A store configured with a `users` option keeps an index from
  // user to sessions, updated atomically with the writes, and has all four or none.
}

export type StoreCapability =
  | 'touch'
  | 'ids'
  | 'all'
  | 'length'
  | 'clear'
  | 'close'
  | 'compareAndSet'
  | UserCapability;

/** The four methods of the sessions-by-user capability: a store has all of them or none. */
export type UserCapability = keyof UserIndexMethods;

/** The methods of the sessions-by-user capability, in the order `STORE_CAPABILITIES` lists them. */
export const USER_CAPABILITIES: readonly UserCapability[] = [
  'userOf',
  'userSessions',
  'countUserSessions',
  'destroyUserSessions',
];

export const STORE_CAPABILITIES: readonly StoreCapability[] = [
  'touch',
  'ids',
  'all',
  'length',
  'clear',
  'close',
  'compareAndSet',
  ...USER_CAPABILITIES,
];

/**
 * Which optional methods a store implements. The four user methods are
 * reported only together (a store offering some of them but not all has no
 * usable user index, so none is reported).
 */
export function storeCapabilities(store: SessionStore): Set<StoreCapability> {
  const found = new Set<StoreCapability>();
  for (const name of STORE_CAPABILITIES) {
    if (typeof store[name] === 'function') found.add(name);
  }
  if (!hasUserIndex(store)) for (const name of USER_CAPABILITIES) found.delete(name);
  return found;
}

/** Whether the store keeps a user index: it has all four user methods. */
export function hasUserIndex(
  store: SessionStore,
): store is SessionStore & Required<Pick<SessionStore, UserCapability>> {
  return USER_CAPABILITIES.every((name) => typeof store[name] === 'function');
}

/** One day: the default lifetime of a record stored without `cookie.expires`. */
export const DEFAULT_TTL_MS = 24 * 60 * 60 * 1000;

/**
 * When the record expires, in epoch milliseconds, or `null` when its cookie
 * has no expiry (a browser-session cookie). An unparseable date counts as
 * already expired, so a damaged record is never kept alive.
 */
export function sessionExpiry(session: SessionRecord): number | null {
  const expires: unknown = session.cookie?.expires;
  // `false` is how express-session stores `cookie.expires = false`: no expiry.
  if (expires === undefined || expires === null || expires === false) return null;
  const ms = expires instanceof Date ? expires.getTime() : Date.parse(String(expires));
  return Number.isNaN(ms) ? 0 : ms;
}

/**
 * Milliseconds the store should keep the record: until `cookie.expires`, or
 * `defaultTtlMs` when there is none. Zero or less means "already expired".
 */
export function sessionTtl(
  session: SessionRecord,
  defaultTtlMs: number = DEFAULT_TTL_MS,
  now: number = Date.now(),
): number {
  return sessionExpiresAt(session, defaultTtlMs, now) - now;
}

/**
 * When the store should drop the record, in epoch milliseconds: its
 * `cookie.expires`, or `defaultTtlMs` from `now` when it has none.
 */
export function sessionExpiresAt(
  session: SessionRecord,
  defaultTtlMs: number = DEFAULT_TTL_MS,
  now: number = Date.now(),
): number {
  return sessionExpiry(session) ?? now + defaultTtlMs;
}

/** Whether the record's cookie has expired at `now`. */
export function isExpired(session: SessionRecord, now: number = Date.now()): boolean {
  const expiry = sessionExpiry(session);
  return expiry !== null && expiry <= now;
}

/** Serialize a record as express-session does (Dates become ISO strings). */
export function encodeRecord(session: SessionRecord): string {
  const cookie = session.cookie;
  const expires: unknown = cookie?.expires;
  // The same JSON, faster: JSON.stringify leaves its fast path for a Date
  // (it calls toJSON), which cost more than the rest of a small record. A
  // valid plain Date's toJSON is its toISOString; anything else (an invalid
  // date, a Date with a toJSON of its own, a cookie that is not a plain
  // object) is left to JSON.stringify.
  if (
    expires instanceof Date &&
    Object.getPrototypeOf(cookie) === Object.prototype &&
    !Object.hasOwn(cookie, 'toJSON') &&
    Object.getPrototypeOf(expires) === Date.prototype &&
    !Object.hasOwn(expires, 'toJSON') &&
    Date.prototype.toJSON === dateToJSON &&
    Number.isFinite(expires.getTime())
  ) {
    const copy: SessionRecord = { ...session };
    copy.cookie = { ...cookie, expires: expires.toISOString() };
    return JSON.stringify(copy);
  }
  return JSON.stringify(session);
}

const dateToJSON = Date.prototype.toJSON;

/**
 * Parse and validate a stored record. Throws `CorruptRecordError` for anything
 * that is not a JSON object with a `cookie` object, so a store can turn it
 * into "missing" in one place.
 */
export function decodeRecord(raw: string | Buffer | unknown, storeName = 'unknown'): SessionRecord {
  let value: unknown = raw;
  if (typeof raw === 'string' || Buffer.isBuffer(raw)) {
    try {
      value = JSON.parse(raw.toString());
    } catch (cause) {
      throw new CorruptRecordError(storeName, { cause });
    }
  }
  if (!isSessionRecord(value)) throw new CorruptRecordError(storeName);
  return value;
}

/**
 * A structural check: a plain object whose `cookie` is an object holding
 * only values a cookie can carry. A record whose cookie would make the
 * `Set-Cookie` header throw (a `sameSite` of "bogus", a path with a `;`)
 * fails here, so it is treated as missing rather than failing the request.
 * `null` is accepted for every optional field: some stores write `undefined`
 * back as `null`.
 */
export function isSessionRecord(value: unknown): value is SessionRecord {
  if (!isPlainObject(value)) return false;
  const cookie = value['cookie'];
  return isPlainObject(cookie) && isStoredCookie(cookie);
}

function isStoredCookie(cookie: Record<string, unknown>): boolean {
  const { originalMaxAge, expires, path, domain, httpOnly, secure, partitioned } = cookie;
  // `false` for both: express-session's record after `cookie.expires = false`.
  if (!optional(originalMaxAge, 'number') && originalMaxAge !== false) return false;
  if (!(optional(expires, 'string') || expires instanceof Date || expires === false)) return false;
  if (!optional(path, 'string') || !optional(domain, 'string')) return false;
  if (![httpOnly, secure, partitioned].every((flag) => optional(flag, 'boolean'))) return false;
  if (!optionalOf(cookie['sameSite'], SAME_SITE) && !optional(cookie['sameSite'], 'boolean')) {
    return false;
  }
  if (!optionalOf(cookie['priority'], PRIORITY)) return false;
  // Path and domain must be what a Set-Cookie header accepts (the rules the
  // `cookie` serializer applies), checked here without building a header.
  if (typeof path === 'string' && !COOKIE_PATH.test(path)) return false;
  if (typeof domain === 'string' && !COOKIE_DOMAIN.test(domain)) return false;
  return true;
}

/** Printable ASCII except `;` (RFC 6265 path-value). */
const COOKIE_PATH = /^[\u0020-\u003A\u003D-\u007E]*$/;
/** Dot-separated labels of letters, digits and inner hyphens, an optional leading dot. */
const COOKIE_DOMAIN =
  /^([.]?[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)([.][a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/i;

const SAME_SITE = new Set(['lax', 'strict', 'none']);
const PRIORITY = new Set(['low', 'medium', 'high']);

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function optional(value: unknown, type: 'number' | 'string' | 'boolean'): boolean {
  return value === undefined || value === null || typeof value === type;
}

/** Absent, or a string from `allowed` in any case (the serializer lowercases). */
function optionalOf(value: unknown, allowed: ReadonlySet<string>): boolean {
  if (value === undefined || value === null) return true;
  return typeof value === 'string' && allowed.has(value.toLowerCase());
}
