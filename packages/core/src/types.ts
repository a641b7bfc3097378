/**
 * Your session data. Augment it to type `req.session`:
 *
 * ```ts
 * declare module '@sess/core' {
 *   interface SessionData { userId: string; views: number }
 * }
 * ```
 */
// biome-ignore lint/suspicious/noEmptyInterface: an empty interface is the point: users augment it.
export interface SessionData {}

/** `SameSite` as express-session accepts it: `true` means `Strict`. */
export type SameSiteOption = boolean | 'lax' | 'strict' | 'none';

export type CookiePriority = 'low' | 'medium' | 'high';

/**
 * Cookie metadata as it is stored beside the session data. This is the JSON
 * express-session writes, so records move between the two libraries as they are.
 * `expires` is an ISO string once serialized and a Date before.
 */
export interface StoredCookie {
  originalMaxAge: number | null;
  expires?: string | Date | null;
  path?: string;
  domain?: string;
  httpOnly?: boolean;
  secure?: boolean;
  sameSite?: SameSiteOption;
  partitioned?: boolean;
  priority?: CookiePriority;
  /**
   * sess only: when the session was created, epoch ms (see `sessionCreatedAt`
   * in users.ts). express-session and @fastify/session ignore it.
   */
  createdAt?: number;
}

/**
 * One stored session: `{ cookie, ...data }`. Stores persist it as JSON
 * (or in a shape that round-trips through JSON) and read nothing from it but
 * the expiry, which they get from `sessionExpiry()`.
 */
export type SessionRecord = { cookie: StoredCookie } & Partial<SessionData> & {
    [key: string]: unknown;
  };
