import { withDeadline } from './deadline.js';
import { SessError, StoreError, type StoreOperation, StoreUnavailableError } from './errors.js';
import { isSessionRecord, type SessionStore } from './store.js';
import type { SessionRecord } from './types.js';

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
}

export interface FromCallbackStoreOptions {
  /**
   * A call whose callback never comes rejects after this many ms. Default 5 s: the bound the
   * conformance suite allows a store whose backend is down.
   */
  timeout?: number;
  /** Name used in errors. Default: the store's class name. */
  name?: string;
}

/**
 * Use an express-session store (connect-redis, connect-mongo...) as a sess
 * store. Callbacks become promises with a time bound; expired records the
 * legacy store still returns are hidden.
 */
export function fromCallbackStore(
  legacy: CallbackStore,
  options: FromCallbackStoreOptions = {},
): SessionStore {
  const name = options.name ?? className(legacy) ?? 'callback';
  const bound = options.timeout ?? 5_000;

  function call<T>(
    operation: StoreOperation,
    start: (done: Callback<T>) => void,
  ): Promise<T | undefined> {
    const answer = new Promise<T | undefined>((resolve, reject) => {
      const done: Callback<T> = (err, value) => {
        if (err === undefined || err === null) resolve(value);
        else if (err instanceof SessError) reject(err);
        else reject(new StoreError(name, operation, describe(err), { cause: err }));
      };
      try {
        start(done);
      } catch (err) {
        done(err);
      }
    });
    return withDeadline(
      answer,
      bound,
      () => new StoreUnavailableError(name, operation, `no answer within ${bound} ms`),
    );
  }

  const live = (record: unknown): SessionRecord | null => (isSessionRecord(record) ? record : null);

  const store: SessionStore = {
    async get(id) {
      const record = await call<unknown>('get', (done) =>
        legacy.get(id, (err, session) =>
          // As express-session and @fastify/session: ENOENT (file stores) means "no such session".
          isNotFound(err) ? done(undefined, null) : done(err, session ?? null),
        ),
      );
      return live(record);
    },
    async set(id, session) {
      await call('set', (done) => legacy.set(id, session, done));
    },
    async destroy(id) {
      await call('destroy', (done) => legacy.destroy(id, done));
    },
  };
  const { touch, all, length, clear } = legacy;
  if (touch) {
    store.touch = async (id, session) => {
      await call('touch', (done) => touch.call(legacy, id, session, done));
    };
  }
  if (all) {
    const allLive = async (): Promise<Record<string, SessionRecord>> => {
      const found = await call<unknown>('all', (done) =>
        all.call(legacy, (err, sessions) => done(err, sessions ?? null)),
      );
      return typeof found === 'object' && found !== null
        ? keyById(found as Record<string, unknown> | unknown[], live)
        : {};
    };
    store.all = allLive;
    store.ids = async () => Object.keys(await allLive());
    store.length = async () => Object.keys(await allLive()).length;
  } else if (length) {
    store.length = async () =>
      (await call<number>('length', (done) => length.call(legacy, (err, n) => done(err, n)))) ?? 0;
  }
  if (clear) {
    store.clear = async () => {
      await call('clear', (done) => clear.call(legacy, done));
    };
  }
  return store;
}

/**
 * Core's view of any store an adapter is given: a sess store as it is, a
 * callback store (express-session's and @fastify/session's contract) behind
 * `fromCallbackStore`, and a facade made by `toCallbackStore` /
 * `callbackStoreClass` unwrapped to the sess store inside it.
 */
export function toSessionStore(
  store: SessionStore | CallbackStore,
  options?: FromCallbackStoreOptions,
): SessionStore {
  const inner = (store as { sessStore?: unknown }).sessStore;
  if (typeof inner === 'object' && inner !== null) return inner as SessionStore;
  if (isCallbackStore(store)) return fromCallbackStore(store, options);
  return store as SessionStore;
}

/** A callback store's `get(sid, callback)` declares two parameters; a sess store's `get(id)` one. */
export function isCallbackStore(store: SessionStore | CallbackStore): store is CallbackStore {
  return typeof store.get === 'function' && store.get.length >= 2;
}

function isNotFound(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === 'ENOENT';
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
      if (touch) {
        self.touch = (sid: string, session: SessionRecord, callback?: (err?: unknown) => void) =>
          forward(() => touch.call(store, sid, plain(session)), callback);
      }
      if (all) {
        self.all = (callback: (err: unknown, sessions?: Record<string, SessionRecord>) => void) =>
          answer(() => all.call(store), callback);
      }
      if (length) {
        self.length = (callback: (err: unknown, n?: number) => void) =>
          answer(() => length.call(store), callback);
      }
      if (clear) {
        self.clear = (callback?: (err?: unknown) => void) =>
          forward(() => clear.call(store), callback);
      }
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

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** A store's class name for error messages; a plain object literal has none worth showing. */
function className(value: object): string | undefined {
  const name = value.constructor?.name;
  return name && name !== 'Object' ? name : undefined;
}
