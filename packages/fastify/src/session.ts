import {
  type CookieOptions,
  type RegenerateOptions,
  RequestSession,
  SessError,
  Session,
  type SessionCallback,
  type SessionContext,
  type SessionData,
  type SessionRecord,
  sessionContext,
} from '@sess/core';
import { incumbentCookieOptions } from './cookie.js';

/** Where the plugin keeps each request's core state. */
export const STATE = Symbol.for('sess.fastify.state');

/**
 * `request.session` under @sess/fastify: @fastify/session's API (`get`/`set`,
 * `sessionId`, `options()`, `isModified()`, `isSaved()`, `regenerate([keep])`)
 * over core's Session (`save`, `reload`, `destroy`, `touch`, callbacks or
 * promises). Data lives in own properties, as in @fastify/session.
 */
export class FastifySession extends Session {
  constructor(context: SessionContext, id: string, record?: Partial<SessionRecord>) {
    super(context, id, record);
    // `id` is data here, as in @fastify/session (which has no `id` member;
    // its own docs store one): a stored `id` becomes an own data property; until
    // then the prototype's accessor (below the class) reads undefined and makes
    // an assignment one.
    if (record && Object.hasOwn(record, 'id')) defineData(this, record['id']);
  }

  /** The session id (unsigned). */
  get sessionId(): string {
    return sessionContextOf(this).id;
  }

  /** The signed id, as the cookie carries it (without `cookiePrefix`). */
  get encryptedSessionId(): string {
    throw new SessError('SESS_DETACHED', 'this session was not made by @sess/fastify');
  }

  /** A value from the session. */
  get<K extends keyof SessionData>(key: K): SessionData[K] | undefined {
    return (this as unknown as Partial<SessionData>)[key];
  }

  /** Set a value in the session. */
  set<K extends keyof SessionData>(key: K, value: SessionData[K]): void {
    (this as unknown as Partial<SessionData>)[key] = value;
  }

  /**
   * Cookie options for this response, laid over the plugin's (`maxAge` in
   * milliseconds, as everywhere else). Not a modification of the session.
   */
  options(opts: CookieOptions): void {
    if (opts && Object.keys(opts).length > 0) {
      sessionContextOf(this).setCookieOptions(incumbentCookieOptions(opts));
    }
  }

  /** Whether the data changed since it was loaded, created or last saved. */
  isModified(): boolean {
    return sessionContextOf(this).isModified();
  }

  /** Whether this request wrote the session to the store. */
  isSaved(): boolean {
    return sessionContextOf(this).isSaved();
  }

  /**
   * A new id and a fresh session; the old one is destroyed. `ignoreFields`
   * names the keys carried over (@fastify/session's array form), and core's
   * `{ keep }` works too.
   */
  override regenerate(): Promise<void>;
  override regenerate(callback: SessionCallback): this;
  override regenerate(options: RegenerateOptions | readonly string[]): Promise<void>;
  override regenerate(
    options: RegenerateOptions | readonly string[],
    callback: SessionCallback,
  ): this;
  override regenerate(
    first?: RegenerateOptions | readonly string[] | SessionCallback,
    callback?: SessionCallback,
  ): Promise<void> | this {
    const options: RegenerateOptions | SessionCallback | undefined = Array.isArray(first)
      ? { keep: first as readonly string[] }
      : (first as RegenerateOptions | SessionCallback | undefined);
    if (typeof options === 'function') return super.regenerate(options);
    if (callback) return super.regenerate(options ?? {}, callback);
    return super.regenerate(options ?? {});
  }
}

// Core's read-only `id` getter, shadowed once on the prototype rather than on
// every session (a per-instance accessor cost a defineProperty and two
// closures per request).
Object.defineProperty(FastifySession.prototype, 'id', {
  get: () => undefined,
  set(this: Session, value: unknown) {
    defineData(this, value);
  },
  enumerable: false,
  configurable: true,
});

function defineData(session: Session, value: unknown): void {
  Object.defineProperty(session, 'id', {
    value,
    writable: true,
    enumerable: true,
    configurable: true,
  });
}

function sessionContextOf(session: Session): RequestSession {
  const context = sessionContext(session);
  if (context instanceof RequestSession) return context;
  throw new SessError('SESS_DETACHED', 'this session does not belong to a request handled by sess');
}
