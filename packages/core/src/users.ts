import { SessConfigError } from './errors.js';
import { sessionExpiry } from './store.js';
import type { SessionRecord } from './types.js';

/**
 * Sessions by user: the contract a store implements to list, count and end a
 * user's sessions, and the option every store takes to know which user a
 * session belongs to.
 *
 * The store keeps its own index from user to session ids (a Redis set, an SQL
 * column, a Mongo field, a map in memory) and updates it in the same atomic
 * operation as the session write itself (`set`, `compareAndSet`, `destroy`,
 * expiry). Listing costs time in that user's sessions, never a scan of all
 * sessions, and never reports an expired or destroyed session.
 */

/** Which user a session belongs to: a key of the session data, or a function of the record. */
export type SessionUserSelector =
  | string
  | ((session: SessionRecord) => string | number | null | undefined);

/** The `users` option of every store that keeps a user index. */
export interface UserIndexOptions {
  /**
   * Which user a session belongs to: the session data key that holds the
   * user id (`'userId'`; a dotted path such as `'passport.user'` reaches into
   * an object), or a function of the stored record. A session whose user is
   * `undefined`, `null` or `''` belongs to nobody and is not indexed. Numbers
   * are indexed as their decimal string.
   */
  user: SessionUserSelector;
  /**
   * At most this many live sessions per user. When a write gives a user one
   * session too many, the oldest (by creation time) are destroyed in the same
   * atomic operation. Default: no limit.
   */
  maxSessionsPerUser?: number;
  /**
   * Session data keys reported in listings (`meta`), for example
   * `['userAgent', 'ip']`: what the app chose to keep to show "where you are
   * logged in". Default: none.
   */
  meta?: readonly string[];
}

/** One live session of a user, as `userSessions` reports it. */
export interface UserSessionInfo {
  id: string;
  /** When the session was created (epoch ms), or `null` for a record written without a creation time. */
  createdAt: number | null;
  /**
   * When the session was last written or touched (epoch ms): its expiry minus
   * its `cookie.originalMaxAge`; `null` when the cookie has no max age.
   */
  lastSeenAt: number | null;
  /** When the session expires (epoch ms), or `null` for a browser-session cookie. */
  expiresAt: number | null;
  /** The session data keys named by the `meta` option, those present. */
  meta: Record<string, unknown>;
}

/** The store methods of the user capability (all optional on `SessionStore`). */
export interface UserIndexMethods {
  /** The user a record belongs to under this store's `users` option, or `null`. Synchronous, no I/O. */
  userOf(session: SessionRecord): string | null;
  /** The user's live sessions, oldest first (by creation, then id). */
  userSessions(user: string): Promise<UserSessionInfo[]>;
  /** How many live sessions the user has. */
  countUserSessions(user: string): Promise<number>;
  /**
   * Destroy every session of the user, except `exceptId` when given.
   * Resolves the number of sessions destroyed.
   */
  destroyUserSessions(user: string, exceptId?: string): Promise<number>;
}

/** `users` resolved and checked, for a store's own use. */
export interface UserIndex {
  /** The user of a record, or `null` when it belongs to nobody. */
  userOf(session: SessionRecord): string | null;
  /** `Infinity` when there is no limit. */
  readonly maxSessionsPerUser: number;
  /** The `meta` keys of a record that are present. */
  metaOf(session: SessionRecord): Record<string, unknown>;
  /** The listing entry for a record; `expiresAt` overrides the record's own expiry (a store whose touch moves only its own). */
  info(id: string, session: SessionRecord, expiresAt?: number | null): UserSessionInfo;
}

/**
 * Where core keeps a session's creation time: `cookie.createdAt`, epoch
 * milliseconds. express-session and @fastify/session ignore unknown cookie
 * keys when they read a record, so records stay readable both ways.
 */
export function sessionCreatedAt(session: SessionRecord): number | null {
  const created: unknown = session.cookie?.createdAt;
  return typeof created === 'number' && Number.isFinite(created) ? created : null;
}

/**
 * Check a store's `users` option and resolve it. Throws `SessConfigError`
 * naming the store. `undefined` means the store keeps no user index.
 */
export function resolveUserIndex(options: unknown, store: string): UserIndex | undefined {
  if (options === undefined) return undefined;
  const label = `${store}: users`;
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new SessConfigError(`${label} must be an object such as { user: 'userId' }`);
  }
  const { user, maxSessionsPerUser, meta, ...rest } = options as Record<string, unknown>;
  const unknownKeys = Object.keys(rest).filter((key) => rest[key] !== undefined);
  if (unknownKeys.length > 0) {
    throw new SessConfigError(
      `${label}: unknown option ${unknownKeys.map((k) => `\`${k}\``).join(', ')} (it takes user, maxSessionsPerUser, meta)`,
    );
  }
  let select: (session: SessionRecord) => unknown;
  if (typeof user === 'string' && user !== '') {
    const path = user.split('.');
    if (path.some((part) => part === '')) {
      throw new SessConfigError(`${label}.user: \`${user}\` is not a key or dotted path`);
    }
    select = (session) => {
      let value: unknown = session;
      for (const part of path) {
        if (typeof value !== 'object' || value === null || !Object.hasOwn(value, part)) {
          return undefined;
        }
        value = (value as Record<string, unknown>)[part];
      }
      return value;
    };
  } else if (typeof user === 'function') {
    select = user as (session: SessionRecord) => unknown;
  } else {
    throw new SessConfigError(
      `${label}.user must be a session data key such as 'userId' or a function of the session`,
    );
  }
  let max = Number.POSITIVE_INFINITY;
  if (maxSessionsPerUser !== undefined) {
    if (
      typeof maxSessionsPerUser !== 'number' ||
      !Number.isInteger(maxSessionsPerUser) ||
      maxSessionsPerUser < 1
    ) {
      throw new SessConfigError(
        `${label}.maxSessionsPerUser must be a whole number of sessions, at least 1`,
      );
    }
    max = maxSessionsPerUser;
  }
  let metaKeys: readonly string[] = [];
  if (meta !== undefined) {
    if (!Array.isArray(meta) || meta.some((key) => typeof key !== 'string' || key === '')) {
      throw new SessConfigError(`${label}.meta must be a list of session data keys`);
    }
    metaKeys = [...(meta as string[])];
  }

  const userOf = (session: SessionRecord): string | null => {
    let value: unknown;
    try {
      value = select(session);
    } catch {
      // A selector that throws on an odd record must not fail the write: the
      // session belongs to nobody.
      return null;
    }
    if (typeof value === 'string') return value === '' ? null : value;
    if (typeof value === 'number' && Number.isFinite(value)) return String(value);
    if (typeof value === 'bigint') return String(value);
    return null;
  };
  const metaOf = (session: SessionRecord): Record<string, unknown> => {
    const found: Record<string, unknown> = {};
    for (const key of metaKeys) {
      if (Object.hasOwn(session, key)) found[key] = session[key];
    }
    return found;
  };
  return {
    userOf,
    maxSessionsPerUser: max,
    metaOf,
    info(id, session, expiresAt) {
      const expiry = expiresAt === undefined ? sessionExpiry(session) : expiresAt;
      const maxAge = session.cookie?.originalMaxAge;
      return {
        id,
        createdAt: sessionCreatedAt(session),
        lastSeenAt:
          expiry !== null && typeof maxAge === 'number' && Number.isFinite(maxAge)
            ? expiry - maxAge
            : null,
        expiresAt: expiry,
        meta: metaOf(session),
      };
    },
  };
}

/** Oldest first: by creation time (unknown counts as oldest), then id. */
export function compareUserSessions(a: UserSessionInfo, b: UserSessionInfo): number {
  const ca = a.createdAt ?? Number.NEGATIVE_INFINITY;
  const cb = b.createdAt ?? Number.NEGATIVE_INFINITY;
  if (ca !== cb) return ca < cb ? -1 : 1;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}
