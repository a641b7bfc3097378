import { Cookie } from './cookie.js';
import { SessError } from './errors.js';
import type { SessionData, SessionRecord } from './types.js';
import type { UserSessionInfo } from './users.js';

export type SessionCallback = (err?: unknown) => void;

export interface RegenerateOptions {
  /** Top-level session keys carried over to the new session (a cart, a locale...). */
  keep?: readonly string[];
  /**
   * sess: the new session keeps the old one's creation time
   * (`cookie.createdAt`), so `absoluteTimeout` still counts from the first
   * login. Default false: a regenerated session is a new session.
   */
  keepCreatedAt?: boolean;
}

export interface DestroyOptions {
  /** Also expire the cookie in the browser. Default: the middleware's `clearCookieOnDestroy`. */
  clearCookie?: boolean;
}

/**
 * What a Session asks of the request it belongs to. Core's RequestSession
 * implements it; a framework adapter never needs to.
 */
export interface SessionContext {
  regenerate(options: RegenerateOptions): Promise<void>;
  destroy(options: DestroyOptions): Promise<void>;
  reload(): Promise<void>;
  save(): Promise<void>;
  /** Sessions by user (core's RequestSession has them; a session outside a request does not). */
  userSessions?(): Promise<ListedSession[]>;
  countUserSessions?(): Promise<number>;
  destroyUserSessions?(options: DestroyOptions & { others: boolean }): Promise<number>;
}

/** One of the user's sessions as `req.session.userSessions()` lists it. */
export interface ListedSession extends UserSessionInfo {
  /** This request's own session. */
  current: boolean;
}

export type SessionValueCallback<T> = (err: unknown, value?: T) => void;

/** A Session class an adapter may give core (`SessionOptions.sessionClass`) to add its framework's methods. */
export type SessionClass = new (
  context: SessionContext,
  id: string,
  record?: Partial<SessionRecord>,
) => Session;

const CONTEXT = Symbol('sess.context');
const ID = Symbol('sess.id');

/**
 * `req.session`: the user's data as own properties, plus `cookie`, plus the
 * methods express-session users call. Every method takes a node-style
 * callback (and then returns the session, as express-session does) or,
 * called without one, returns a promise.
 */
export class Session {
  declare cookie: Cookie;
  declare readonly [CONTEXT]: SessionContext;
  declare readonly [ID]: string;

  constructor(context: SessionContext, id: string, record?: Partial<SessionRecord>) {
    Object.defineProperty(this, CONTEXT, { value: context });
    Object.defineProperty(this, ID, { value: id });
    // `cookie` is the first own key, so JSON comes out as express-session's.
    // A Cookie given in the record (core's new sessions) is taken as it is.
    const cookie = record?.cookie;
    this.cookie = cookie instanceof Cookie ? cookie : new Cookie(cookie ?? {});
    if (record) {
      // As express-session: a stored key that names a Session member (`id`,
      // `save`, `__proto__`...) is skipped, so data can never replace behaviour.
      for (const key of Object.keys(record)) {
        if (key !== 'cookie' && !(key in this))
          (this as Record<string, unknown>)[key] = record[key];
      }
    }
  }

  /** The session id (also `req.sessionID`). Not enumerable, never stored. */
  get id(): string {
    return this[ID];
  }

  /** Restart the cookie's lifetime from now. Nothing is written until the response. */
  touch(): this {
    this.cookie.resetMaxAge();
    return this;
  }

  resetMaxAge(): this {
    this.cookie.resetMaxAge();
    return this;
  }

  /** Write the session to the store now rather than at the end of the response. */
  save(): Promise<void>;
  save(callback: SessionCallback): this;
  save(callback?: SessionCallback): Promise<void> | this {
    return settle(this, this[CONTEXT].save(), callback);
  }

  /** Replace the data with what the store holds now. */
  reload(): Promise<void>;
  reload(callback: SessionCallback): this;
  reload(callback?: SessionCallback): Promise<void> | this {
    return settle(this, this[CONTEXT].reload(), callback);
  }

  /** Delete the session from the store; `req.session` is gone afterwards. */
  destroy(): Promise<void>;
  destroy(callback: SessionCallback): this;
  destroy(options: DestroyOptions): Promise<void>;
  destroy(options: DestroyOptions, callback: SessionCallback): this;
  destroy(
    optionsOrCallback?: DestroyOptions | SessionCallback,
    callback?: SessionCallback,
  ): Promise<void> | this {
    const [options, done] = splitArgs(optionsOrCallback, callback);
    return settle(this, this[CONTEXT].destroy(options), done);
  }

  /**
   * A new id and a fresh session (against session fixation: call it at login).
   * The old session is destroyed; `options.keep` carries chosen keys over.
   */
  regenerate(): Promise<void>;
  regenerate(callback: SessionCallback): this;
  regenerate(options: RegenerateOptions): Promise<void>;
  regenerate(options: RegenerateOptions, callback: SessionCallback): this;
  regenerate(
    optionsOrCallback?: RegenerateOptions | SessionCallback,
    callback?: SessionCallback,
  ): Promise<void> | this {
    const [options, done] = splitArgs(optionsOrCallback, callback);
    return settle(this, this[CONTEXT].regenerate(options), done);
  }

  /**
   * Sessions by user (the store's `users` option): this user's live sessions,
   * oldest first, the current one marked (`current: true`), for a "where you
   * are logged in" page. Rejects with `UserIndexUnavailableError` when the
   * store keeps no user index, `NoSessionUserError` when the session belongs
   * to no user.
   */
  userSessions(): Promise<ListedSession[]>;
  userSessions(callback: SessionValueCallback<ListedSession[]>): this;
  userSessions(callback?: SessionValueCallback<ListedSession[]>): Promise<ListedSession[]> | this {
    const context = this[CONTEXT];
    return settleValue(
      this,
      run(() => context.userSessions?.(), 'userSessions'),
      callback,
    );
  }

  /** How many live sessions this user has (errors as `userSessions`). */
  countUserSessions(): Promise<number>;
  countUserSessions(callback: SessionValueCallback<number>): this;
  countUserSessions(callback?: SessionValueCallback<number>): Promise<number> | this {
    const context = this[CONTEXT];
    return settleValue(
      this,
      run(() => context.countUserSessions?.(), 'countUserSessions'),
      callback,
    );
  }

  /** "Log out everywhere else": destroy this user's other sessions; resolves how many. */
  destroyOtherSessions(): Promise<number>;
  destroyOtherSessions(callback: SessionValueCallback<number>): this;
  destroyOtherSessions(callback?: SessionValueCallback<number>): Promise<number> | this {
    const context = this[CONTEXT];
    return settleValue(
      this,
      run(() => context.destroyUserSessions?.({ others: true }), 'destroyOtherSessions'),
      callback,
    );
  }

  /**
   * "Log out everywhere": destroy every session of this user, this one
   * included (which then ends as with `destroy()`, `clearCookie` too);
   * resolves how many the store destroyed.
   */
  destroyUserSessions(): Promise<number>;
  destroyUserSessions(callback: SessionValueCallback<number>): this;
  destroyUserSessions(options: DestroyOptions): Promise<number>;
  destroyUserSessions(options: DestroyOptions, callback: SessionValueCallback<number>): this;
  destroyUserSessions(
    first?: DestroyOptions | SessionValueCallback<number>,
    second?: SessionValueCallback<number>,
  ): Promise<number> | this {
    const context = this[CONTEXT];
    const options = typeof first === 'function' ? {} : (first ?? {});
    const callback = typeof first === 'function' ? first : second;
    return settleValue(
      this,
      run(
        () => context.destroyUserSessions?.({ ...options, others: false }),
        'destroyUserSessions',
      ),
      callback,
    );
  }
}

/** The context's method's promise, or a rejection when this session's context has none. */
function run<T>(call: () => Promise<T> | undefined, name: string): Promise<T> {
  try {
    const running = call();
    if (running) return running;
  } catch (error) {
    return Promise.reject(error);
  }
  return Promise.reject(
    new SessError(
      'SESS_DETACHED',
      `${name}() needs the request: this session does not belong to a request handled by sess`,
    ),
  );
}

function settleValue<S, T>(
  self: S,
  work: Promise<T>,
  callback?: SessionValueCallback<T>,
): Promise<T> | S {
  if (!callback) {
    // As settle(): not awaited, a failure is ignored rather than ending the process.
    work.catch(ignore);
    return work;
  }
  work.then(
    (value) => queueMicrotask(() => callback(null, value)),
    (err: unknown) => queueMicrotask(() => callback(err)),
  );
  return self;
}

/**
 * The request state a Session belongs to (core's RequestSession for every
 * session core creates). For adapters whose session API asks more of the
 * request than the four methods above (@sess/fastify's `isModified()`).
 */
export function sessionContext(session: Session): SessionContext {
  return session[CONTEXT];
}

/** `req.session` as the app sees it: the Session plus the user's typed data. */
export type SessionWithData = Session & Partial<SessionData>;

/** The user's data of a session, without `cookie` (what change detection compares). */
export function sessionDataJson(session: Session): string {
  const data: Record<string, unknown> = {};
  for (const key of Object.keys(session)) {
    if (key !== 'cookie') data[key] = (session as unknown as Record<string, unknown>)[key];
  }
  return JSON.stringify(data);
}

/**
 * Make `target` hold what `source` holds (the cookie and the data, own
 * properties only), keeping `target` the same object. `reload()` uses it so
 * that a reference an app kept (socket.io's documented
 * `const session = socket.request.session; session.reload(() => {
 * session.count++; session.save(); })`) is the reloaded session: in
 * express-session, where `reload` makes a new object, that pattern still
 * works because the old object saves itself whole.
 */
export function refillSession(target: Session, source: Session): boolean {
  // An object the app froze, sealed or gave a non-configurable property cannot
  // be refilled whole: the caller then takes `source` instead, as express-session does.
  if (!Object.isExtensible(target)) return false;
  const own = Object.getOwnPropertyNames(target);
  if (own.some((key) => Object.getOwnPropertyDescriptor(target, key)?.configurable === false)) {
    return false;
  }
  for (const key of own) delete (target as unknown as Record<string, unknown>)[key];
  for (const key of Object.getOwnPropertyNames(source)) {
    Object.defineProperty(
      target,
      key,
      Object.getOwnPropertyDescriptor(source, key) as PropertyDescriptor,
    );
  }
  return true;
}

/** A plain record for the store: `{ cookie, ...data }`, no class instances at the top. */
export function sessionToRecord(session: Session): SessionRecord {
  const record: SessionRecord = { cookie: session.cookie.stored() };
  for (const key of Object.keys(session)) {
    if (key !== 'cookie') record[key] = (session as unknown as Record<string, unknown>)[key];
  }
  return record;
}

function splitArgs<T extends object>(
  first: T | SessionCallback | undefined,
  second: SessionCallback | undefined,
): [T, SessionCallback | undefined] {
  if (typeof first === 'function') return [{} as T, first];
  return [first ?? ({} as T), second];
}

function settle<S>(self: S, work: Promise<void>, callback?: SessionCallback): Promise<void> | S {
  if (!callback) {
    // `req.session.save()` / `destroy()` called without a callback and not
    // awaited: as express-session, a failure is ignored rather than an
    // unhandled rejection that ends the process. Awaiting `work` still rejects.
    work.catch(ignore);
    return work;
  }
  // The callback runs outside the promise chain: if it throws, that is the
  // app's exception (as with express-session), not an unhandled rejection.
  work.then(
    () => queueMicrotask(() => callback()),
    (err: unknown) => queueMicrotask(() => callback(err)),
  );
  return self;
}

function ignore(): void {}
