import { withDeadline } from './deadline.js';
import {
  SessError,
  StoreClosedError,
  StoreError,
  type StoreOperation,
  StoreUnavailableError,
} from './errors.js';
import { isExpired, isSessionRecord, type SessionStore, sessionExpiry } from './store.js';
import type { SessionRecord } from './types.js';
import type { UserSessionInfo } from './users.js';

type Callback<T = void> = (err?: unknown, value?: T) => void;

/**
 * An express-session style store: the callback API that connect-redis,
 * connect-mongo, connect-pg-simple and express-session's MemoryStore implement.
 */
/*
 * What a callback store hands back is `unknown` on purpose: stores are typed
 * against express-session's own types, or loosely, and the bridge validates
 * every record it receives anyway. Sessions given to a store are plain
 * records (`object`), so stores typed with express-session's SessionData fit.
 */
export interface CallbackStore {
  get(sid: string, callback: (err: unknown, session?: unknown) => void): void;
  set(sid: string, session: object, callback?: (err?: unknown) => void): void;
  destroy(sid: string, callback?: (err?: unknown) => void): void;
  touch?(sid: string, session: object, callback?: (err?: unknown) => void): void;
  all?(callback: (err: unknown, sessions?: unknown) => void): void;
  length?(callback: (err: unknown, length?: number) => void): void;
  clear?(callback?: (err?: unknown) => void): void;
  /**
   * Release the store's own timers and connections: connect-pg-simple and connect-mongo return a
   * promise; a callback is passed too.
   */
  close?(callback?: (err?: unknown) => void): unknown;
  /** memorystore's name for it: stops its prune timer. */
  stopInterval?(): void;
  /*
   * Sessions by user: sess-only, so a store has these when it is (or wraps) a
   * sess store with a user index. Each answers through the callback when one
   * is given, or the promise it returns.
   */
  userOf?(session: SessionRecord): string | null;
  userSessions?(user: string, callback?: (err: unknown, sessions?: unknown) => void): unknown;
  countUserSessions?(user: string, callback?: (err: unknown, count?: number) => void): unknown;
  destroyUserSessions?(
    user: string,
    exceptId?: string,
    callback?: (err: unknown, count?: number) => void,
  ): unknown;
}

export interface FromCallbackStoreOptions {
  /**
   * A call whose callback never comes rejects after this many ms. Default 5 s: the bound the
   * conformance suite allows a store whose backend is down.
   */
  timeout?: number;
  /** Name used in errors. Default: the store's class name. */
  name?: string;
  /**
   * How the store answers. `'callback'` (default): through the callback, as
   * express-session calls stores; a promise the method returns counts only
   * when it rejects before the callback came (an `async` method that threw).
   * `'either'`: the callback or a returned promise, whichever settles first,
   * for stores that support both styles and sess stores.
   */
  answers?: 'callback' | 'either';
}

type StoreMethod =
  | 'get'
  | 'set'
  | 'destroy'
  | 'touch'
  | 'all'
  | 'length'
  | 'clear'
  | 'close'
  | 'stopInterval'
  | 'userOf'
  | 'userSessions'
  | 'countUserSessions'
  | 'destroyUserSessions';

/** What `callbackStoreClass` instances were made with: the sess store and their own methods. */
interface Bridged {
  store: SessionStore;
  methods: Partial<Record<StoreMethod, unknown>>;
}

const BRIDGED = new WeakMap<object, Bridged>();

/**
 * Use an express-session store (connect-redis, connect-mongo...) as a sess
 * store. Callbacks become promises with a time bound; expired records the
 * legacy store still returns are hidden; an `ENOENT` error from `get` means
 * "no session", as express-session reads it (session-file-store reports a
 * reaped session this way).
 *
 * Methods are looked up on the store at each call, so a method an app patches
 * (a test simulating an outage) or a subclass overrides is the one called. A
 * `callbackStoreClass` instance whose method is still its own is served by
 * its sess store directly, which keeps `compareAndSet` (offered only while
 * `get` and `set` are both unpatched).
 */
export function fromCallbackStore(
  legacy: CallbackStore,
  options: FromCallbackStoreOptions = {},
): SessionStore {
  const name = options.name ?? className(legacy) ?? 'callback';
  const bound = options.timeout ?? 5_000;
  const either = options.answers === 'either';
  const bridged = BRIDGED.get(legacy);
  const methods = legacy as unknown as Record<StoreMethod, unknown>;
  /** The sess store behind `legacy` when `legacy[method]` is still the bridge's own. */
  const direct = (method: StoreMethod): SessionStore | undefined => {
    if (!bridged) return undefined;
    const own = bridged.methods[method];
    return own !== undefined && methods[method] === own ? bridged.store : undefined;
  };
  const optional = (method: StoreMethod) => {
    const fn = methods[method];
    return typeof fn === 'function' ? (fn as (...args: unknown[]) => unknown) : undefined;
  };

  function call<T>(
    operation: StoreOperation,
    start: (done: Callback<T>) => unknown,
    promiseAnswers = either,
  ): Promise<T | undefined> {
    const answer = new Promise<T | undefined>((resolve, reject) => {
      let settled = false;
      const done: Callback<T> = (err, value) => {
        if (settled) return;
        settled = true;
        if (err === undefined || err === null) resolve(value);
        else if (err instanceof SessError) reject(err);
        else reject(new StoreError(name, operation, describe(err), { cause: err }));
      };
      let returned: unknown;
      try {
        returned = start(done);
      } catch (err) {
        done(err);
        return;
      }
      if (isThenable(returned)) {
        // Observed either way, so a rejection never goes unhandled.
        returned.then(
          (value) => {
            if (promiseAnswers) done(null, value as T);
          },
          (err: unknown) => done(err ?? new Error('the store rejected without a reason')),
        );
      }
    });
    return withDeadline(
      answer,
      bound,
      () => new StoreUnavailableError(name, operation, `no answer within ${bound} ms`),
    );
  }

  /*
   * A record whose cookie has expired is hidden, unless the store has a
   * touch: a touch may move only the store's own expiry (connect-redis's
   * EXPIRE, connect-pg-simple's column), so a rolling session it still
   * returns is live by the store's clock, which is the one that counts.
   */
  const live = (record: unknown): SessionRecord | null =>
    isSessionRecord(record) && !(isExpired(record) && !optional('touch')) ? record : null;

  /** Set once the store's all() answered sessions without their ids (connect-mongo): no listings then. */
  let allWithoutIds = false;
  let closed: Promise<void> | undefined;
  const open = (operation: StoreOperation) => {
    if (closed) throw new StoreClosedError(name, operation);
  };

  const allLive = async (): Promise<Record<string, SessionRecord>> => {
    open('all');
    const inner = direct('all');
    if (inner?.all) return inner.all();
    const all = optional('all') as CallbackStore['all'];
    const found = await call<unknown>('all', (done) =>
      all?.call(legacy, (err, sessions) => done(err, sessions ?? null)),
    );
    const hasId = (record: unknown) => typeof (record as { id?: unknown } | null)?.id === 'string';
    if (Array.isArray(found) && found.some(isSessionRecord) && !found.some(hasId)) {
      allWithoutIds = true;
      throw new StoreError(
        name,
        'all',
        'the store answers all() with sessions without their ids: ids, all and length are not available through the bridge',
      );
    }
    return typeof found === 'object' && found !== null
      ? keyById(found as Record<string, unknown> | unknown[], live)
      : {};
  };
  const listable = () => Boolean(optional('all')) && !allWithoutIds;
  const userIndexed = () =>
    Boolean(
      optional('userOf') &&
        optional('userSessions') &&
        optional('countUserSessions') &&
        optional('destroyUserSessions'),
    );

  const store: SessionStore = {
    async get(id) {
      open('get');
      const inner = direct('get');
      if (inner) return inner.get(id);
      try {
        const record = await call<unknown>('get', (done) =>
          legacy.get(id, (err, session) => done(err, session ?? null)),
        );
        const kept = live(record);
        if (kept === null && isSessionRecord(record)) {
          // Expired by its cookie and the store keeps it (no TTL of its own):
          // removed, as @fastify/session and express-session's MemoryStore do.
          // Housekeeping, never the request's failure.
          store.destroy(id).catch(() => undefined);
        }
        return kept;
      } catch (error) {
        if (error instanceof StoreError && isNotFound(error.cause)) return null;
        throw error;
      }
    },
    async set(id, session) {
      open('set');
      const inner = direct('set');
      if (inner) return inner.set(id, session);
      await call('set', (done) => legacy.set(id, withMaxAge(session), done));
    },
    async destroy(id) {
      open('destroy');
      const inner = direct('destroy');
      if (inner) return inner.destroy(id);
      await call('destroy', (done) => legacy.destroy(id, done));
    },
  };
  // The optional methods exist exactly while the store has them (looked up at each read).
  Object.defineProperties(store, {
    name: { value: name, enumerable: false },
    touch: {
      enumerable: true,
      get() {
        const touch = optional('touch') as CallbackStore['touch'];
        if (!touch) return undefined;
        return async (id: string, session: SessionRecord) => {
          open('touch');
          const inner = direct('touch');
          if (inner?.touch) return inner.touch(id, session);
          await call('touch', (done) => touch.call(legacy, id, withMaxAge(session), done));
        };
      },
    },
    all: { enumerable: true, get: () => (listable() ? allLive : undefined) },
    ids: {
      enumerable: true,
      get: () => (listable() ? async () => Object.keys(await allLive()) : undefined),
    },
    length: {
      enumerable: true,
      get() {
        if (listable()) return async () => Object.keys(await allLive()).length;
        const length = optional('length') as CallbackStore['length'];
        if (!length) return undefined;
        return async () => {
          open('length');
          const inner = direct('length');
          if (inner?.length) return inner.length();
          return (
            (await call<number>('length', (done) =>
              length.call(legacy, (err, n) => done(err, n)),
            )) ?? 0
          );
        };
      },
    },
    clear: {
      enumerable: true,
      get() {
        const clear = optional('clear') as CallbackStore['clear'];
        if (!clear) return undefined;
        return async () => {
          open('clear');
          const inner = direct('clear');
          if (inner?.clear) return inner.clear();
          await call('clear', (done) => clear.call(legacy, done));
        };
      },
    },
    compareAndSet: {
      enumerable: true,
      get() {
        const inner = direct('get') && direct('set');
        const cas = inner?.compareAndSet;
        if (!inner || !cas) return undefined;
        return async (id: string, expected: SessionRecord | null, next: SessionRecord) => {
          open('compareAndSet');
          return cas.call(inner, id, expected, next);
        };
      },
    },
    // Sessions by user: forwarded while the store has all four (sess-only methods,
    // so a callback or the promise returned answers, whichever comes first).
    userOf: {
      enumerable: true,
      get() {
        if (!userIndexed()) return undefined;
        return (session: SessionRecord): string | null => {
          const inner = direct('userOf');
          if (inner?.userOf) return inner.userOf(session);
          const found = (optional('userOf') as (s: SessionRecord) => unknown).call(legacy, session);
          return typeof found === 'string' ? found : null;
        };
      },
    },
    userSessions: {
      enumerable: true,
      get() {
        if (!userIndexed()) return undefined;
        return async (user: string): Promise<UserSessionInfo[]> => {
          open('userSessions');
          const inner = direct('userSessions');
          if (inner?.userSessions) return inner.userSessions(user);
          const fn = optional('userSessions');
          const found = await call<unknown>(
            'userSessions',
            (done) => fn?.call(legacy, user, done),
            true,
          );
          return Array.isArray(found) ? (found as UserSessionInfo[]) : [];
        };
      },
    },
    countUserSessions: {
      enumerable: true,
      get() {
        if (!userIndexed()) return undefined;
        return async (user: string): Promise<number> => {
          open('countUserSessions');
          const inner = direct('countUserSessions');
          if (inner?.countUserSessions) return inner.countUserSessions(user);
          const fn = optional('countUserSessions');
          const n = await call<number>(
            'countUserSessions',
            (done) => fn?.call(legacy, user, done),
            true,
          );
          return typeof n === 'number' ? n : 0;
        };
      },
    },
    destroyUserSessions: {
      enumerable: true,
      get() {
        if (!userIndexed()) return undefined;
        return async (user: string, exceptId?: string): Promise<number> => {
          open('destroyUserSessions');
          const inner = direct('destroyUserSessions');
          if (inner?.destroyUserSessions) return inner.destroyUserSessions(user, exceptId);
          const fn = optional('destroyUserSessions');
          const n = await call<number>(
            'destroyUserSessions',
            (done) => fn?.call(legacy, user, exceptId, done),
            true,
          );
          return typeof n === 'number' ? n : 0;
        };
      },
    },
    close: {
      enumerable: true,
      get() {
        const close = optional('close') ?? optional('stopInterval');
        if (!close) return undefined;
        // Once, however often it is called: connect-pg-simple's second close throws.
        return () => {
          closed ??= call('close', (done) => {
            const returned = close.call(legacy, done);
            if (isThenable(returned)) returned.then(() => done(), done);
            // A close that takes no callback and returns nothing is done when it returns.
            else if (close.length === 0) done();
          }).then(() => undefined);
          return closed;
        };
      },
    },
  });
  return store;
}

/**
 * Core's view of any store an adapter is given, decided by how the store
 * behaves rather than by how many parameters its `get` declares:
 * - a facade made by `toCallbackStore` / `callbackStoreClass`: its sess store,
 *   used directly while the facade's methods are its own, and the facade's
 *   methods once an app patched them or a subclass overrode them;
 * - a callback store (`isCallbackStore`): behind `fromCallbackStore`;
 * - a store offering `compareAndSet` (a sess-only capability): as it is;
 * - anything else (a callback store whose `get(sid, cb = noop)` declares one
 *   parameter, a store supporting both styles, a sess store without
 *   compareAndSet): behind `fromCallbackStore` answering by callback or by a
 *   returned promise, whichever comes.
 */
export function toSessionStore(
  store: SessionStore | CallbackStore,
  options?: FromCallbackStoreOptions,
): SessionStore {
  if (BRIDGED.has(store) || isCallbackStore(store)) {
    return fromCallbackStore(store as CallbackStore, options);
  }
  if (typeof (store as SessionStore).compareAndSet === 'function') return store as SessionStore;
  return fromCallbackStore(store as CallbackStore, { ...options, answers: 'either' });
}

/**
 * A store that answers through callbacks for sure: one with express-session's
 * Store API (`load`, `createSession`, `regenerate`: connect-redis,
 * connect-mongo... extend that class), or whose `get(sid, callback)` declares
 * two parameters. Stores it cannot tell apart go to `toSessionStore`'s last case.
 */
export function isCallbackStore(store: SessionStore | CallbackStore): store is CallbackStore {
  const api = store as unknown as Partial<
    Record<'load' | 'createSession' | 'regenerate' | 'get', unknown>
  >;
  if (
    typeof api.load === 'function' &&
    typeof api.createSession === 'function' &&
    typeof api.regenerate === 'function'
  ) {
    return true;
  }
  return typeof api.get === 'function' && (api.get as () => unknown).length >= 2;
}

/**
 * The record a legacy store is given, its cookie with the `maxAge` getter
 * express-session's Cookie has (the ms left until `expires`, or `null`):
 * memorystore and better-sqlite3-session-store compute their TTL from it.
 * Not enumerable, so the JSON a store writes is the record's own.
 */
function withMaxAge(session: SessionRecord): SessionRecord {
  const cookie = { ...session.cookie };
  const expiry = sessionExpiry(session);
  Object.defineProperty(cookie, 'maxAge', {
    enumerable: false,
    get: () => (expiry === null ? null : expiry - Date.now()),
  });
  return { ...session, cookie };
}

/** express-session treats a `get` error with code ENOENT as "no session". */
function isNotFound(error: unknown): boolean {
  return (
    typeof error === 'object' && error !== null && (error as { code?: unknown }).code === 'ENOENT'
  );
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    (typeof value === 'object' || typeof value === 'function') &&
    value !== null &&
    typeof (value as { then?: unknown }).then === 'function'
  );
}

/** Legacy `all()` answers with an object keyed by id, or (connect-redis) an array with `id` inside. */
function keyById(
  found: Record<string, unknown> | unknown[],
  live: (record: unknown) => SessionRecord | null,
): Record<string, SessionRecord> {
  const out: Record<string, SessionRecord> = {};
  const entries: [string, unknown][] = Array.isArray(found)
    ? found.flatMap((record) => {
        const id = (record as { id?: unknown } | null)?.id;
        if (typeof id !== 'string') return [];
        const { id: _drop, ...rest } = record as SessionRecord & { id: string };
        return [[id, rest] as [string, unknown]];
      })
    : Object.entries(found);
  for (const [id, record] of entries) {
    const kept = live(record);
    if (kept) out[id] = kept;
  }
  return out;
}

/**
 * The base class a callback store must extend to be accepted by
 * express-session: pass `session.Store` from express-session (core itself
 * imports no framework).
 */
// biome-ignore lint/suspicious/noExplicitAny: TypeScript requires any[] for a mixin base.
export type CallbackStoreBase = new (...args: any[]) => object;
// biome-ignore lint/suspicious/noExplicitAny: as above, for bases declared abstract (express-session's Store).
export type AbstractCallbackStoreBase = abstract new (...args: any[]) => object;

/**
 * A class of callback stores over sess stores, extending `Base`. Each
 * instance forwards to the SessionStore given to its constructor and has
 * exactly the optional methods that store has (express-session checks for
 * `touch` before calling it).
 */
export function callbackStoreClass<Base extends CallbackStoreBase>(Base: Base) {
  return class CallbackBridge extends Base implements CallbackStore {
    readonly #store: SessionStore;

    // biome-ignore lint/suspicious/noExplicitAny: the mixin constructor signature TypeScript requires.
    constructor(...args: any[]) {
      const [store, ...rest] = args as [SessionStore, ...unknown[]];
      super(...rest);
      this.#store = store;
      const self = this as unknown as Record<string, unknown>;
      const { touch, all, length, clear } = store;
      // A subclass's own touch/all/length/clear win over the forwarding ones.
      const has = (method: string) => typeof self[method] === 'function';
      if (touch && !has('touch')) {
        self.touch = (sid: string, session: SessionRecord, callback?: (err?: unknown) => void) =>
          forward(() => touch.call(store, sid, plain(session)), callback);
      }
      if (all && !has('all')) {
        self.all = (callback: (err: unknown, sessions?: Record<string, SessionRecord>) => void) =>
          answer(() => all.call(store), callback);
      }
      if (length && !has('length')) {
        self.length = (callback: (err: unknown, n?: number) => void) =>
          answer(() => length.call(store), callback);
      }
      if (clear && !has('clear')) {
        self.clear = (callback?: (err?: unknown) => void) =>
          forward(() => clear.call(store), callback);
      }
      // Sessions by user, when the sess store keeps an index: a callback when given, else a promise.
      const { userOf, userSessions, countUserSessions, destroyUserSessions } = store;
      if (userOf && userSessions && countUserSessions && destroyUserSessions) {
        if (!has('userOf')) self.userOf = (session: SessionRecord) => userOf.call(store, session);
        if (!has('userSessions')) {
          self.userSessions = (user: string, callback?: (err: unknown, v?: unknown) => void) =>
            answerOrPromise(() => userSessions.call(store, user), callback);
        }
        if (!has('countUserSessions')) {
          self.countUserSessions = (user: string, callback?: (err: unknown, n?: number) => void) =>
            answerOrPromise(() => countUserSessions.call(store, user), callback);
        }
        if (!has('destroyUserSessions')) {
          self.destroyUserSessions = (
            user: string,
            exceptId?: string | ((err: unknown, n?: number) => void),
            callback?: (err: unknown, n?: number) => void,
          ) => {
            const except = typeof exceptId === 'string' ? exceptId : undefined;
            const done = typeof exceptId === 'function' ? exceptId : callback;
            return answerOrPromise(() => destroyUserSessions.call(store, user, except), done);
          };
        }
      }
      const own = CallbackBridge.prototype;
      BRIDGED.set(this, {
        store,
        methods: {
          get: own.get,
          set: own.set,
          destroy: own.destroy,
          touch: Object.hasOwn(self, 'touch') ? self.touch : undefined,
          all: Object.hasOwn(self, 'all') ? self.all : undefined,
          length: Object.hasOwn(self, 'length') ? self.length : undefined,
          clear: Object.hasOwn(self, 'clear') ? self.clear : undefined,
          userOf: Object.hasOwn(self, 'userOf') ? self.userOf : undefined,
          userSessions: Object.hasOwn(self, 'userSessions') ? self.userSessions : undefined,
          countUserSessions: Object.hasOwn(self, 'countUserSessions')
            ? self.countUserSessions
            : undefined,
          destroyUserSessions: Object.hasOwn(self, 'destroyUserSessions')
            ? self.destroyUserSessions
            : undefined,
        },
      });
    }

    /** The sess store behind this callback facade. */
    get sessStore(): SessionStore {
      return this.#store;
    }

    get(sid: string, callback: (err: unknown, session?: SessionRecord | null) => void): void {
      const store = this.#store;
      answer<SessionRecord | undefined>(async () => (await store.get(sid)) ?? undefined, callback);
    }

    set(sid: string, session: SessionRecord, callback?: (err?: unknown) => void): void {
      forward(() => this.#store.set(sid, plain(session)), callback);
    }

    destroy(sid: string, callback?: (err?: unknown) => void): void {
      forward(() => this.#store.destroy(sid), callback);
    }
  };
}

/**
 * Use a sess store under plain express-session:
 * `app.use(session({ store: toCallbackStore(new SqliteStore(...), session.Store) }))`.
 */
export function toCallbackStore<Base extends AbstractCallbackStoreBase>(
  store: SessionStore,
  Base: Base,
): InstanceType<Base> & CallbackStore {
  // express-session's Store is declared abstract in its types, but it is an ordinary constructor.
  const Bridge = callbackStoreClass(Base as unknown as CallbackStoreBase);
  return new Bridge(store) as unknown as InstanceType<Base> & CallbackStore;
}

/** express-session hands stores its Session object; stores want the plain JSON shape. */
function plain(session: SessionRecord): SessionRecord {
  return JSON.parse(JSON.stringify(session)) as SessionRecord;
}

/**
 * Run `work` and report to the callback. A synchronous throw (a session that
 * JSON cannot encode, a store that throws before returning its promise)
 * reaches the callback too, as an error, instead of the caller's stack.
 */
function forward(work: () => Promise<void>, callback?: (err?: unknown) => void): void {
  answer(work, (err) => callback?.(err ?? undefined));
}

/** As `forward`, for calls that answer with a value: `callback(null, value)` or `callback(err)`. */
function answer<T>(work: () => Promise<T>, callback: (err: unknown, value?: T) => void): void {
  let running: Promise<T>;
  try {
    running = work(); // started now, so calls reach the store in the order they were made
  } catch (err) {
    running = Promise.reject(err);
  }
  running.then(
    (value) => callback(null, value),
    (err: unknown) => callback(err),
  );
}

/** As `answer` when a callback is given; without one, the promise itself. */
function answerOrPromise<T>(
  work: () => Promise<T>,
  callback?: (err: unknown, value?: T) => void,
): Promise<T> | undefined {
  if (callback) {
    answer(work, callback);
    return undefined;
  }
  try {
    return work();
  } catch (err) {
    return Promise.reject(err);
  }
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** A store's class name for error messages; a plain object literal has none worth showing. */
function className(value: object): string | undefined {
  const name = value.constructor?.name;
  return name && name !== 'Object' ? name : undefined;
}
