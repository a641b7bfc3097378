import { parse as parseCookieHeader, serialize as serializeCookie } from 'cookie';
import { Cookie, type CookieOptions, encodeCookieValue, isSameSiteNone } from './cookie.js';
import { withDeadline } from './deadline.js';
import { type EncryptionOptions, encryptStore } from './encryption.js';
import {
  CorruptRecordError,
  NoSessionUserError,
  redactSessionId,
  SessConfigError,
  SessError,
  SessionConflictError,
  StoreError,
  type StoreOperation,
  StoreUnavailableError,
  UserIndexUnavailableError,
} from './errors.js';
import { generateSessionId } from './id.js';
import { MemoryStore } from './memory-store.js';
import {
  type DestroyOptions,
  type ListedSession,
  type RegenerateOptions,
  refillSession,
  Session,
  type SessionClass,
  type SessionContext,
  sessionToRecord,
} from './session.js';
import {
  normalizeSecrets,
  type SecretKey,
  SIGNED_PREFIX,
  signCookie,
  unsignCookie,
} from './signing.js';
import { hasUserIndex, isSessionRecord, type SessionStore, sessionExpiry } from './store.js';
import type { SessionRecord, StoredCookie } from './types.js';
import { sessionCreatedAt } from './users.js';

/** What to do when two parallel requests changed the same session key. */
export type ConflictPolicy = 'last-write-wins' | 'error';

export interface ConflictInfo {
  /** Top-level keys this request and a parallel one both changed. */
  keys: readonly string[];
}

/** The options of express-session, plus a few of sess's own (marked). */
export interface SessionOptions<Req = unknown> {
  /**
   * Signs the cookie: a string or a Buffer. A list rotates secrets: sign with
   * the first, accept any.
   */
  secret: SecretKey | readonly SecretKey[];
  /** Default: a MemoryStore (fine for development, not for production). */
  store?: SessionStore;
  /** Cookie name. Default `connect.sid`. */
  name?: string;
  /** @deprecated express-session's old name for `name`; used when `name` is not given. */
  key?: string;
  /** Cookie options, or a function of the request that returns them. */
  cookie?: CookieOptions | ((request: Req) => CookieOptions);
  /** New session ids. Default: 24 random bytes from uid-safe. */
  genid?: (request: Req) => string;
  /** Re-send the cookie (and move the expiry) on every response. Default false. */
  rolling?: boolean;
  /** Write the session back even when unchanged. Default true, as express-session. */
  resave?: boolean;
  /** Store new sessions that hold no data yet. Default true, as express-session. */
  saveUninitialized?: boolean;
  /** `destroy`: deleting `req.session` destroys the stored session. Default `keep`. */
  unset?: 'destroy' | 'keep';
  /** sess: same-key changes by parallel requests. Default last write wins. */
  conflicts?: ConflictPolicy;
  /** sess: called on each same-key conflict (both policies). */
  onConflict?: (info: ConflictInfo) => void;
  /** sess: `session.destroy()` also expires the browser cookie. Default false. */
  clearCookieOnDestroy?: boolean;
  /** sess: a store call that takes longer rejects with StoreUnavailableError. Default 10 s. */
  storeTimeout?: number;
  /**
   * Written before the signed value in the cookie. Default `s:`, as
   * express-session; @fastify/session's default is none (`''`).
   */
  cookiePrefix?: string;
  /**
   * Save a new session whose cookie cannot be sent (a `Secure` cookie on a
   * plain-HTTP request), although no browser can come back to it. Default
   * true, as express-session; @fastify/session does not (false).
   */
  saveWithoutCookie?: boolean;
  /**
   * How the cookie value is encoded in `Set-Cookie`: `uri` (default, as
   * express-session: `encodeURIComponent`) or `minimal` (only characters a
   * cookie cannot hold, as @fastify/cookie). Both decode to the same value.
   */
  cookieEncoding?: 'uri' | 'minimal';
  /**
   * Which request paths have a session: `prefix` (default, as express-session:
   * the path starts with `cookie.path`) or `rfc6265` (the browser's own rule,
   * as @fastify/session: `/app` covers `/app` and `/app/x`, not `/application`).
   */
  cookiePathMatch?: 'prefix' | 'rfc6265';
  /** For adapters: the class of the sessions core creates (a subclass of core's Session). */
  sessionClass?: SessionClass;
  /**
   * sess: encrypt session records at rest (AES-256-GCM, a key ring for
   * rotation): the store is wrapped with `encryptStore(store, encryption)`.
   */
  encryption?: EncryptionOptions;
  /**
   * sess: the absolute timeout, in ms. A session older than this since its
   * creation (`cookie.createdAt`) is dead, whatever `rolling` and touches did:
   * the request gets a new session, and the old record is destroyed. The
   * cookie's expiry (and so the store's) never goes past creation + this.
   * `regenerate()` starts a new creation time unless called with
   * `{ keepCreatedAt: true }`. Default: none (only the idle expiry applies).
   */
  absoluteTimeout?: number;
}

/** What a framework adapter tells core about one request. */
export interface RequestInput<Req> {
  request: Req;
  /** The raw `Cookie` header. */
  cookieHeader: string | undefined;
  /**
   * The session cookie's value, URL-decoded, when the framework has parsed
   * the header already (@fastify/cookie). Used instead of `cookieHeader`
   * when the key is present.
   */
  cookieValue?: string | undefined;
  /** Whether the request came over TLS (after the adapter applied its proxy trust). */
  secure: boolean;
  /** The request path; sessions apply only under the cookie's `path`. */
  path?: string;
  /** Called whenever `session` is replaced (regenerate, reload) or removed (destroy). */
  onReplace?: (session: Session | null, id: string) => void;
}

/** Merge attempts before giving up; parallel writers each win one round, so this bounds the fan-in. */
const MAX_MERGE_ATTEMPTS = 100;
const MIN_SECRET_LENGTH = 32;

/**
 * Core's session engine. A framework adapter creates one per middleware and
 * calls `load()` for each request; the returned RequestSession runs the rest
 * of the request's flow (see DESIGN.md, "The flow of one request").
 */
export class SessionManager<Req = unknown> {
  readonly store: SessionStore;
  readonly name: string;
  readonly secrets: readonly SecretKey[];
  /** The options as given, with `cookie` normalized (see `normalizeOptions`). */
  readonly options: Readonly<SessionOptions<Req>>;
  /** Before the signed value in the cookie (`s:` unless configured). */
  readonly cookiePrefix: string;
  readonly sessionClass: SessionClass;
  /** The cookie value encoder `cookieEncoding` picked (`undefined`: the serializer's default). */
  readonly encodeCookieValue: ((value: string) => string) | undefined;
  readonly #storeName: string;
  #warnedSameSite = false;

  constructor(given: SessionOptions<Req>) {
    const options = normalizeOptions(given);
    this.options = options;
    this.secrets = normalizeSecrets(options.secret);
    // As express-session: an empty name falls back to `key`, then to the default.
    this.name = options.name || options.key || 'connect.sid';
    this.cookiePrefix = options.cookiePrefix ?? SIGNED_PREFIX;
    if (typeof this.cookiePrefix !== 'string') {
      throw new SessConfigError('`cookiePrefix` must be a string');
    }
    this.sessionClass = options.sessionClass ?? Session;
    const encoding = options.cookieEncoding ?? 'uri';
    if (encoding !== 'uri' && encoding !== 'minimal') {
      throw new SessConfigError('`cookieEncoding` must be "uri" or "minimal"');
    }
    this.encodeCookieValue = encoding === 'minimal' ? encodeCookieValue : undefined;
    const pathMatch = options.cookiePathMatch ?? 'prefix';
    if (pathMatch !== 'prefix' && pathMatch !== 'rfc6265') {
      throw new SessConfigError('`cookiePathMatch` must be "prefix" or "rfc6265"');
    }
    try {
      serializeCookie(this.name, 'x');
    } catch (cause) {
      throw new SessConfigError(`invalid cookie name ${JSON.stringify(this.name)}`, { cause });
    }
    if (typeof options.cookie !== 'function') checkCookieOptions(this.name, options.cookie ?? {});
    if (options.unset && options.unset !== 'destroy' && options.unset !== 'keep') {
      throw new SessConfigError('unset option must be "destroy" or "keep"');
    }
    if (options.store === undefined && process.env.NODE_ENV === 'production') {
      process.emitWarning(
        'sess: no store given, using a MemoryStore: sessions vanish on restart and are not shared between processes.',
        'SessWarning',
      );
    }
    if ((this.secrets[0] as SecretKey).length < MIN_SECRET_LENGTH) {
      process.emitWarning(
        `sess: the session secret is shorter than ${MIN_SECRET_LENGTH} characters; use a long random secret.`,
        'SessWarning',
      );
    }
    const store = options.store ?? new MemoryStore();
    this.store = options.encryption === undefined ? store : encryptStore(store, options.encryption);
    this.#storeName = storeName(this.store);
  }

  /**
   * Start a request: verify the cookie, read the session (one store read),
   * or make a new one. `null` when the path lies outside the cookie's path.
   */
  async load(input: RequestInput<Req>): Promise<RequestSession<Req> | null> {
    return this.begin(input);
  }

  /**
   * `load()` for adapters that run callbacks: the same outcome, but given
   * at once (no promise) when the request needs no store read (no cookie, a
   * forged one, a path out of scope), which is every new visitor. A
   * synchronous throw is what `load()` rejects with.
   */
  begin(input: RequestInput<Req>): RequestSession<Req> | null | Promise<RequestSession<Req>> {
    const cookieOptions = this.cookieOptionsFor(input.request);
    const scope = cookieOptions.path ?? '/';
    if (input.path !== undefined && !pathInScope(input.path, scope, this.options.cookiePathMatch)) {
      return null;
    }

    const raw =
      'cookieValue' in input
        ? input.cookieValue
        : input.cookieHeader
          ? parseCookieHeader(input.cookieHeader)[this.name]
          : undefined;
    const verified =
      typeof raw === 'string' ? unsignCookie(unquote(raw), this.secrets, this.cookiePrefix) : null;
    const state = new RequestSession<Req>(
      this,
      input,
      cookieOptions,
      verified?.id ?? null,
      // Signed with the current secret: the value to send back for this id, without signing it again.
      verified?.secretIndex === 0 ? unquote(raw as string) : undefined,
    );
    if (verified) return this.#read(state, verified.id, verified.secretIndex);
    state.generate();
    return state;
  }

  /** The store read of `begin()`: the stored session, or a new one when there is none to take. */
  async #read(
    state: RequestSession<Req>,
    id: string,
    secretIndex: number,
  ): Promise<RequestSession<Req>> {
    let record: SessionRecord | null;
    try {
      record = await this.call('get', () => this.store.get(id), id);
    } catch (error) {
      // A store that reports a record it cannot decode: a missing session.
      if (!(error instanceof CorruptRecordError)) throw error;
      record = null;
    }
    // The store decides what is live: a store whose touch moved only its own
    // expiry (Redis PEXPIRE, an SQL expiry column) still holds the cookie's
    // first `expires`, which the session's touch() replaces below.
    // A record adopt() cannot take (nested too deeply to serialize) is corrupt: a new session.
    if (usable(record)) {
      if (!this.pastAbsoluteTimeout(record)) {
        if (state.adopt(id, record, secretIndex)) return state;
      } else {
        // Dead by age: gone from the store too (and from its user listings). A
        // failure here is the store's to retry at expiry, never the request's.
        await this.call('destroy', () => this.store.destroy(id), id).catch(() => undefined);
      }
    }
    state.generate();
    return state;
  }

  /** Whether the record is older than `absoluteTimeout` since its creation (`cookie.createdAt`). */
  pastAbsoluteTimeout(record: SessionRecord, now: number = Date.now()): boolean {
    const limit = this.options.absoluteTimeout;
    if (limit === undefined) return false;
    const created = sessionCreatedAt(record);
    return created !== null && now >= created + limit;
  }

  /**
   * Cap the cookie's expiry at creation + `absoluteTimeout` (the store keeps
   * the record no longer either). A browser-session cookie keeps no expiry:
   * the server-side check in `load` ends it.
   */
  capExpiry(session: Session): void {
    const limit = this.options.absoluteTimeout;
    const created = session.cookie.createdAt;
    const expires = session.cookie.expires;
    if (limit === undefined || created === undefined || expires === null) return;
    const deadline = created + limit;
    if (expires.getTime() > deadline) session.cookie.expires = new Date(deadline);
  }

  /** Cookie options for this request, validated. */
  cookieOptionsFor(request: Req): CookieOptions {
    const option = this.options.cookie;
    if (typeof option !== 'function') return option ?? {};
    const options = option(request);
    checkCookieOptions(this.name, options);
    return options;
  }

  /**
   * Run a store call with the time bound, turning foreign errors into
   * StoreErrors. `id`, the session the call is about, is cut out of the
   * error's message and stack (a driver's message may quote the key); the
   * driver's own error stays untouched in `cause`.
   */
  call<T>(operation: StoreOperation, run: () => Promise<T>, id?: string): Promise<T> {
    const bound = this.options.storeTimeout ?? 10_000;
    // Not an async function: the bound, the error mapping and the result are
    // one promise (each async layer cost an extra promise and microtask turn).
    return withDeadline(
      started(run),
      bound,
      () => new StoreUnavailableError(this.#storeName, operation, `no answer within ${bound} ms`),
      (error) => {
        if (error instanceof SessError) return redactSessionId(error, id);
        return redactSessionId(
          new StoreError(this.#storeName, operation, errorMessage(error), { cause: error }),
          id,
        );
      },
    );
  }

  /** Warn once, then send `SameSite=Lax` in place of a `None` that lacks `Secure`. */
  warnSameSiteDowngrade(): void {
    if (this.#warnedSameSite) return;
    this.#warnedSameSite = true;
    process.emitWarning(
      'sess: SameSite=None needs Secure; the cookie was sent as SameSite=Lax instead.',
      'SessWarning',
    );
  }
}

/**
 * One request's session state: which id the browser sent, what was loaded,
 * and the save / touch / cookie decisions made when the response leaves.
 */
export class RequestSession<Req = unknown> implements SessionContext {
  /** The session the app sees (`req.session`); `null` once destroyed. */
  session: Session | null = null;
  /** The current session id (`req.sessionID`). */
  id = '';
  /** The id the browser's cookie carried, verified; `null` when none or forged. */
  readonly cookieId: string | null;

  readonly #manager: SessionManager<Req>;
  readonly #input: RequestInput<Req>;
  readonly #cookieOptions: CookieOptions;
  #originalId = '';
  #originalHash = '';
  #savedHash: string | undefined;
  /**
   * The record as last read from or written to the store, the merge base:
   * its cookie (a copy) and a JSON snapshot of its data, key by key. `null`
   * when the store holds nothing this request read (a new session).
   */
  #base: { cookie: StoredCookie; data: DataSnapshot } | null = null;
  /** The data snapshot prepareCommit() took, reused for the cookie and the save. */
  #committed: { session: Session; data: DataSnapshot } | null = null;
  #secretIndex = 0;
  /** The browser's cookie value, when it was signed with the current secret. */
  readonly #cookieValue: string | undefined;
  #touched = false;
  #clearCookie = false;
  /** Data JSON as last loaded, created or saved: what `isModified()` compares against. */
  #persistedJson = '{}';
  /** Whether this request wrote the current session to the store. */
  #saved = false;
  /** What the end of the request writes, decided by prepareCommit(). */
  #plan: CommitPlan = CommitPlan.Nothing;
  #planId = '';
  /**
   * The loaded record had no `cookie.createdAt` (written before sess, or by
   * express-session): creation counts from now, and with `absoluteTimeout`
   * the response writes it even when nothing else changed.
   */
  #stampPending = false;

  constructor(
    manager: SessionManager<Req>,
    input: RequestInput<Req>,
    cookieOptions: CookieOptions,
    cookieId: string | null,
    cookieValue?: string,
  ) {
    this.#manager = manager;
    this.#input = input;
    this.#cookieOptions = cookieOptions;
    this.cookieId = cookieId;
    this.#cookieValue = cookieValue;
  }

  /**
   * Take a stored record as this request's session. `false` (and nothing
   * changed) when the record cannot be taken: data nested too deeply to
   * serialize, or a cookie that cannot be restored. The caller then treats
   * it as corrupt, that is, missing.
   */
  adopt(id: string, record: SessionRecord, secretIndex: number): boolean {
    const manager = this.#manager;
    let session: Session;
    let data: DataSnapshot;
    try {
      session = new manager.sessionClass(this, id, record);
      // One JSON pass over the data: the change-detection hash, and the merge
      // base (the values as the session holds them before the handler runs).
      data = snapshotData(session);
    } catch {
      return false;
    }
    const hash = data.json;
    this.id = id;
    this.#secretIndex = secretIndex;
    this.session = session;
    this.#stampCreated(session);
    this.#originalId = id;
    this.#originalHash = hash;
    this.#persistedJson = hash;
    // express-session's default is resave: true (rewrite even when unchanged).
    if (manager.options.resave === false) this.#savedHash = hash;
    this.#base = { cookie: { ...record.cookie }, data };
    return true;
  }

  /** A brand-new session with a fresh id. */
  generate(keep?: Record<string, unknown>): void {
    const genid = this.#manager.options.genid;
    const id = genid ? genid(this.#input.request) : generateSessionId();
    if (typeof id !== 'string' || id.length === 0) {
      throw new SessConfigError('genid must return a non-empty string');
    }
    const cookie = this.#newCookie(this.#cookieOptions);
    cookie.createdAt = Date.now();
    // The session takes this Cookie as it is (no default one made and replaced).
    const session = new this.#manager.sessionClass(this, id, { ...keep, cookie });
    this.#stampPending = false;
    this.id = id;
    this.session = session;
    this.#base = null;
    this.#persistedJson = '{}';
    this.#saved = false;
    if (this.#originalId === '') {
      this.#originalId = id;
      // A session with nothing kept holds no data yet: its JSON is `{}`.
      this.#originalHash = keep === undefined ? '{}' : snapshotData(session).json;
    }
  }

  /** A cookie with `options`, `'auto'` settled for this request. */
  #newCookie(options: CookieOptions): Cookie {
    const cookie = new Cookie(options);
    const secure = this.#input.secure;
    if (options.secure === 'auto') cookie.secure = secure;
    if (options.sameSite === 'auto') cookie.sameSite = secure ? 'none' : 'lax';
    return cookie;
  }

  /**
   * Replace the session's cookie by one built from the middleware's cookie
   * options with `options` laid over them, for this response only
   * (@fastify/session's `session.options()`). Throws on invalid options.
   */
  setCookieOptions(options: CookieOptions): void {
    if (!this.session) return;
    const merged = { ...this.#cookieOptions, ...options };
    if (options.maxAge === undefined && options.expires === undefined) {
      // The session's own lifetime stays unless `options` names one: a
      // "remember me" maxAge set on it, or the one it was stored with, rather
      // than the configured default (@fastify/session carries it too).
      const current = this.session.cookie;
      if (current.originalMaxAge !== null) {
        merged.maxAge = current.originalMaxAge;
        delete merged.expires;
      } else {
        merged.maxAge = null;
        merged.expires = current.expires;
      }
    }
    checkCookieOptions(this.#manager.name, merged);
    const createdAt = this.session.cookie.createdAt;
    this.session.cookie = this.#newCookie(merged);
    this.session.cookie.createdAt = createdAt;
  }

  /**
   * Whether the session's data differs from what was last loaded, created or
   * saved in this request (@fastify/session's `isModified()`; a new id alone
   * does not count, the cookie never does).
   */
  isModified(): boolean {
    return this.session !== null && snapshotData(this.session).json !== this.#persistedJson;
  }

  /** Whether this request wrote the current session to the store (@fastify/session's `isSaved()`). */
  isSaved(): boolean {
    return this.#saved;
  }

  // --- what the Session's methods call ---------------------------------------

  async save(): Promise<void> {
    if (this.session) await this.#persist(this.session);
  }

  async reload(): Promise<void> {
    const id = this.id;
    const record = await this.#manager.call('get', () => this.#manager.store.get(id), id);
    if (!usable(record) || this.#manager.pastAbsoluteTimeout(record)) {
      throw new SessError('SESS_NOT_FOUND', 'failed to load session');
    }
    const fresh = new this.#manager.sessionClass(this, id, record);
    // The same object, refilled: see refillSession. `this.session` is always
    // this id's session; its `id` member is not asked (in @sess/fastify `id`
    // is plain data, undefined unless the app stores one).
    const current = this.session;
    const session = current !== null && refillSession(current, fresh) ? current : fresh;
    this.session = session;
    this.#stampCreated(session);
    const data = snapshotData(session);
    this.#persistedJson = data.json;
    this.#saved = false;
    this.#base = { cookie: { ...record.cookie }, data };
    this.#replaced();
  }

  async destroy(options: DestroyOptions): Promise<void> {
    const id = this.id;
    this.session = null;
    this.#base = null;
    this.#clearCookie = options.clearCookie ?? this.#manager.options.clearCookieOnDestroy ?? false;
    this.#replaced();
    await this.#manager.call('destroy', () => this.#manager.store.destroy(id), id);
  }

  async regenerate(options: RegenerateOptions): Promise<void> {
    const old = this.session;
    const keep: Record<string, unknown> = {};
    if (old && options.keep) {
      for (const key of options.keep) {
        if (key !== 'cookie' && Object.hasOwn(old, key)) {
          keep[key] = (old as unknown as Record<string, unknown>)[key];
        }
      }
    }
    const oldId = this.id;
    const createdAt = old?.cookie.createdAt;
    await this.#manager.call('destroy', () => this.#manager.store.destroy(oldId), oldId);
    this.#clearCookie = false;
    this.generate(keep);
    if (options.keepCreatedAt && createdAt !== undefined && this.session) {
      this.session.cookie.createdAt = createdAt;
    }
    this.#replaced();
  }

  // --- sessions by user (the store's `users` option) ----------------------------

  async userSessions(): Promise<ListedSession[]> {
    const { store, user } = this.#user();
    const id = this.id;
    const found = await this.#manager.call('userSessions', () => store.userSessions(user), id);
    return found.map((info) => ({ ...info, current: info.id === id }));
  }

  async countUserSessions(): Promise<number> {
    const { store, user } = this.#user();
    return this.#manager.call('countUserSessions', () => store.countUserSessions(user), this.id);
  }

  /**
   * Destroy the user's sessions: the others (`others: true`), or all of them,
   * this one included, which then ends as `destroy()` ends it.
   */
  async destroyUserSessions(options: DestroyOptions & { others: boolean }): Promise<number> {
    const { store, user } = this.#user();
    const id = this.id;
    const manager = this.#manager;
    const except = options.others ? id : undefined;
    const destroyed = await manager.call(
      'destroyUserSessions',
      () => store.destroyUserSessions(user, except),
      id,
    );
    if (!options.others && this.session) {
      // Already gone from the store: this request only lets go of it.
      this.session = null;
      this.#base = null;
      this.#clearCookie = options.clearCookie ?? manager.options.clearCookieOnDestroy ?? false;
      this.#replaced();
    }
    return destroyed;
  }

  /** The store's user index and this session's user, or the typed error saying which is missing. */
  #user() {
    const store = this.#manager.store;
    if (!hasUserIndex(store)) throw new UserIndexUnavailableError();
    const session = this.session;
    const user = session ? store.userOf(sessionToRecord(session)) : null;
    if (user === null) throw new NoSessionUserError();
    return { store, user };
  }

  // --- the end of the request -------------------------------------------------

  /**
   * Before the response is sent: save, touch or do nothing (at most one
   * write). `current` is what `req.session` holds now, so an app that
   * deleted it is honoured (`unset`). The same as `prepareCommit(current)`
   * followed, when it says so, by `runCommit()`.
   */
  async commit(current: Session | null | undefined): Promise<void> {
    if (this.prepareCommit(current)) await this.runCommit();
  }

  /**
   * The synchronous half of commit(): touch the session and decide what the
   * end of the request writes. `true` when there is a store write to run with
   * runCommit(); `false` when the response can go out at once. Throws only
   * when the session's data cannot be serialized (nested too deeply).
   */
  prepareCommit(current: Session | null | undefined): boolean {
    this.#plan = CommitPlan.Nothing;
    if (current === null || current === undefined || current !== this.session) {
      if (this.session && (current === null || current === undefined)) {
        this.#planId = this.id;
        this.session = null;
        if (this.#manager.options.unset === 'destroy') this.#plan = CommitPlan.Destroy;
      }
      return this.#plan !== CommitPlan.Nothing;
    }
    const session = current;
    if (!this.#touched) {
      session.touch();
      this.#touched = true;
    }
    this.#manager.capExpiry(session);
    // One JSON pass over the data for every decision from here on: save,
    // and the Set-Cookie decision when the headers go out.
    const data = snapshotData(session);
    this.#committed = { session, data };
    if (this.#shouldSave(data) && this.#canReturn(session)) this.#plan = CommitPlan.Save;
    else if (this.#shouldTouch(session) && this.#manager.store.touch) this.#plan = CommitPlan.Touch;
    this.#planId = this.id;
    return this.#plan !== CommitPlan.Nothing;
  }

  /** Run the write prepareCommit() decided on (once; nothing when there is none). */
  runCommit(): Promise<void> {
    const plan = this.#plan;
    this.#plan = CommitPlan.Nothing;
    const manager = this.#manager;
    const id = this.#planId;
    switch (plan) {
      case CommitPlan.Save:
        return this.session
          ? this.#persist(this.session, this.#snapshotOf(this.session))
          : Promise.resolve();
      case CommitPlan.Touch: {
        const session = this.session;
        const touch = manager.store.touch;
        if (!session || !touch) return Promise.resolve();
        return manager.call(
          'touch',
          () => touch.call(manager.store, id, sessionToRecord(session)),
          id,
        );
      }
      case CommitPlan.Destroy:
        return manager.call('destroy', () => manager.store.destroy(id), id);
      default:
        return Promise.resolve();
    }
  }

  /**
   * The `Set-Cookie` value to send, or `null`. Call it when the headers go
   * out: after `commit`, or before it (as the Express adapter does, from its
   * header hook), which is where a `rolling` cookie gets its new expiry.
   * `current` is what the app's `req.session` holds now (`null` when it
   * deleted it); omitted, the request's own session.
   */
  setCookieHeader(current?: Session | null): string | null {
    const manager = this.#manager;
    if (this.#clearCookie) {
      // Browsers replace a cookie only with one of the same name, path and
      // domain, and ignore a __Host-/__Secure- or partitioned one without
      // Secure (and Partitioned), and SameSite=None without Secure: keep
      // those attributes, and fall back to Lax where None would be ignored.
      const { path = '/', domain, partitioned, sameSite } = this.#cookieOptions;
      const secure =
        this.#cookieOptions.secure === 'auto' ? this.#input.secure : this.#cookieOptions.secure;
      let site = sameSite === 'auto' ? (this.#input.secure ? 'none' : 'lax') : sameSite;
      if (isSameSiteNone(site) && secure !== true) site = 'lax';
      return serializeCookie({
        name: manager.name,
        value: '',
        path,
        domain,
        expires: new Date(0),
        httpOnly: this.#cookieOptions.httpOnly ?? true,
        secure: secure === true,
        partitioned: partitioned === true && secure === true,
        sameSite: site,
      });
    }
    const session = this.session;
    if (!session || (current !== undefined && current !== session)) return null;
    if (!this.#shouldSetCookie(session, this.#snapshotOf(session) ?? snapshotData(session))) {
      return null;
    }
    const cookie = session.cookie;
    if (cookie.secure && !this.#input.secure) return null;
    if (!this.#touched) {
      // As express-session: the cookie that goes out carries the new expiry,
      // also when the headers leave before the end (streams, SSE).
      session.touch();
      this.#touched = true;
    }
    this.#manager.capExpiry(session);
    if (isSameSiteNone(cookie.sameSite) && cookie.secure !== true) {
      manager.warnSameSiteDowngrade();
      const original = cookie.sameSite;
      cookie.sameSite = 'lax';
      try {
        return cookie.serialize(manager.name, this.#signedValue(), manager.encodeCookieValue);
      } finally {
        cookie.sameSite = original;
      }
    }
    return cookie.serialize(manager.name, this.#signedValue(), manager.encodeCookieValue);
  }

  /**
   * The signed cookie value for the current id. The browser's own value when
   * it carries this id signed with the current secret (signing is
   * deterministic: the same string), so a re-sent cookie costs no HMAC.
   */
  #signedValue(): string {
    const manager = this.#manager;
    if (this.#cookieValue !== undefined && this.id === this.cookieId && this.#secretIndex === 0) {
      return this.#cookieValue;
    }
    return signCookie(this.id, manager.secrets[0] as SecretKey, manager.cookiePrefix);
  }

  // --- the decisions, as express-session makes them ----------------------------

  /** The snapshot prepareCommit() took of `session`, if it took one of it. */
  #snapshotOf(session: Session): DataSnapshot | undefined {
    const committed = this.#committed;
    return committed?.session === session ? committed.data : undefined;
  }

  #isModified(data: DataSnapshot): boolean {
    return this.#originalId !== this.id || this.#originalHash !== data.json;
  }

  #isSaved(data: DataSnapshot): boolean {
    return this.#originalId === this.id && this.#savedHash === data.json;
  }

  /** Whether a browser can come back to this session (see `saveWithoutCookie`). */
  #canReturn(session: Session): boolean {
    if (this.#manager.options.saveWithoutCookie ?? true) return true;
    return this.cookieId === this.id || !session.cookie.secure || this.#input.secure;
  }

  #shouldSave(data: DataSnapshot): boolean {
    const options = this.#manager.options;
    if (this.#stampPending && options.absoluteTimeout !== undefined) return true;
    const saveUninitialized = options.saveUninitialized ?? true;
    return !saveUninitialized && this.#savedHash === undefined && this.cookieId !== this.id
      ? this.#isModified(data)
      : !this.#isSaved(data);
  }

  /**
   * express-session touches every request it does not save. sess touches
   * with `rolling` (the browser's expiry moves on every response) and for a
   * browser-session cookie (no `expires`): there the store's TTL from the
   * last touch is the only idle expiry, as under express-session with
   * connect-redis, connect-mongo or connect-pg-simple; without the touch an
   * active user would be logged out one TTL after the last change. A
   * fixed-expiry cookie without `rolling` costs no write: its record was
   * stored with the expiry the browser holds, which a touch would not move.
   */
  #shouldTouch(session: Session): boolean {
    if (this.cookieId !== this.id) return false;
    return (this.#manager.options.rolling ?? false) || session.cookie.expires === null;
  }

  #shouldSetCookie(session: Session, data: DataSnapshot): boolean {
    const options = this.#manager.options;
    if (this.cookieId !== this.id) {
      return (options.saveUninitialized ?? true) || this.#isModified(data);
    }
    if (this.#secretIndex > 0) return true; // re-sign with the current secret
    return (
      (options.rolling ?? false) || (session.cookie.expires !== null && this.#isModified(data))
    );
  }

  // --- writing ------------------------------------------------------------------

  #persist(session: Session, taken?: DataSnapshot): Promise<void> {
    const previous = this.#savedHash;
    try {
      const data = taken ?? snapshotData(session);
      this.#savedHash = data.json;
      return this.#write(session, data, previous);
    } catch (error) {
      this.#savedHash = previous;
      return Promise.reject(error);
    }
  }

  /** Not saved: the end of the request tries again rather than taking it as saved. */
  #notSaved(error: unknown, previous: string | undefined): never {
    this.#savedHash = previous;
    throw error;
  }

  /**
   * Write `data` (this request's snapshot of `session`); on failure the
   * saved hash goes back to `previous`. Not an async function: a plain write
   * is the store's promise and one step after it.
   */
  #write(session: Session, data: DataSnapshot, previous: string | undefined): Promise<void> {
    const manager = this.#manager;
    const store = manager.store;
    manager.capExpiry(session);
    const record = sessionToRecord(session);
    const id = this.id;
    const cas = store.compareAndSet;
    const base = this.#base;
    if (!cas || base === null) {
      return manager
        .call('set', () => store.set(id, record), id)
        .then(
          () => {
            this.#base = { cookie: { ...record.cookie }, data };
            this.#wrote(data.json);
          },
          (error: unknown) => this.#notSaved(error, previous),
        );
    }
    return this.#merge(id, record, data, base, cas).then(undefined, (error: unknown) =>
      this.#notSaved(error, previous),
    );
  }

  async #merge(
    id: string,
    record: SessionRecord,
    data: DataSnapshot,
    base: { cookie: StoredCookie; data: DataSnapshot },
    cas: NonNullable<SessionStore['compareAndSet']>,
  ): Promise<void> {
    const manager = this.#manager;
    const store = manager.store;
    // Merge this request's changes into what the store holds now, so that a
    // parallel request's changes to other keys survive (see README, "Parallel requests").
    // The changed keys come from comparing the two snapshots' JSON, key by key.
    const changes = changedKeys(base.data, data);
    // What the store should still hold: the base. Its unchanged keys are
    // JSON-equal to this request's values, so those are used as they are;
    // only changed keys are decoded from the base snapshot.
    const expectedBase = baseRecord(base, changes, record);
    let current: SessionRecord | null = expectedBase; // optimistic: nobody wrote since we read
    for (let attempt = 0; attempt < MAX_MERGE_ATTEMPTS; attempt++) {
      if (current === null) {
        // Destroyed or regenerated by another request meanwhile: never resurrect it.
        this.#base = null;
        return;
      }
      const next = mergeChanges(current, record, changes);
      if (attempt > 0) this.#reportConflicts(base.data, current, changes);
      const expected = current;
      if (await manager.call('compareAndSet', () => cas.call(store, id, expected, next), id)) {
        // The new base: JSON of every key of `next`, taken from the snapshots
        // where the value came from one (all of them when nobody else wrote).
        const known = new Map<string, string>();
        if (expected === expectedBase) addParts(known, base.data);
        addParts(known, data, changes);
        this.#base = { cookie: { ...next.cookie }, data: snapshotRecord(next, known) };
        this.#wrote(data.json);
        return;
      }
      if (attempt >= 2) await backoff(attempt);
      const latest = await manager.call('get', () => store.get(id), id);
      current = usable(latest) ? latest : null;
    }
    throw new StoreError(
      storeName(store),
      'compareAndSet',
      `the session kept changing under ${MAX_MERGE_ATTEMPTS} merge attempts`,
      { code: 'SESS_CONTENTION' },
    );
  }

  #wrote(json: string): void {
    this.#persistedJson = json;
    this.#saved = true;
    this.#stampPending = false;
  }

  /** A session read without `cookie.createdAt`: created, as far as sess knows, now. */
  #stampCreated(session: Session): void {
    this.#stampPending = session.cookie.createdAt === undefined;
    if (this.#stampPending) session.cookie.createdAt = Date.now();
  }

  #reportConflicts(base: DataSnapshot, current: SessionRecord, changes: Set<string>): void {
    const keys = [...changes].filter((key) => base.parts.get(key) !== JSON.stringify(current[key]));
    if (keys.length === 0) return;
    this.#manager.options.onConflict?.({ keys });
    if (this.#manager.options.conflicts === 'error') throw new SessionConflictError(keys);
  }

  #replaced(): void {
    this.#input.onReplace?.(this.session, this.id);
  }
}

/** What the end of a request writes. */
const CommitPlan = { Nothing: 0, Save: 1, Touch: 2, Destroy: 3 } as const;
type CommitPlan = (typeof CommitPlan)[keyof typeof CommitPlan];

/**
 * A record core can build a session from: the session shape, a cookie
 * expiry that is absent or a real date, and a lifetime that is a finite
 * number (JSON's `1e400` reads as Infinity). Anything else marks a damaged
 * record; it is treated as missing. A finite lifetime too long for a date is
 * clamped by the Cookie.
 */
function usable(record: unknown): record is SessionRecord {
  if (!isSessionRecord(record) || sessionExpiry(record) === 0) return false;
  const lifetime = record.cookie.originalMaxAge;
  return typeof lifetime !== 'number' || Number.isFinite(lifetime);
}

/** A cookie value in double quotes, as express-session (cookie 0.x) accepts it. */
function unquote(value: string): string {
  return value.length > 1 &&
    value.charCodeAt(0) === 0x22 &&
    value.charCodeAt(value.length - 1) === 0x22
    ? value.slice(1, -1)
    : value;
}

/**
 * A session's data as JSON, key by key: `parts` maps each top-level key
 * (but `cookie`) to its value's JSON; keys whose value has no JSON
 * (`undefined`, a function) are left out, as JSON.stringify leaves them out.
 * `json` joins the parts into one string, the hash change detection compares
 * (the JSON express-session hashes).
 */
interface DataSnapshot {
  parts: Map<string, string>;
  json: string;
}

function snapshotData(session: Session): DataSnapshot {
  return snapshotKeys(session as unknown as Record<string, unknown>, Object.keys(session));
}

/** A record's data snapshot, reusing the JSON already `known` for a key. */
function snapshotRecord(record: SessionRecord, known: Map<string, string>): DataSnapshot {
  return snapshotKeys(record, Object.keys(record), known);
}

function snapshotKeys(
  source: Record<string, unknown>,
  keys: string[],
  known?: Map<string, string>,
): DataSnapshot {
  const parts = new Map<string, string>();
  let json = '{';
  for (const key of keys) {
    if (key === 'cookie') continue;
    const part = known?.get(key) ?? (JSON.stringify(source[key]) as string | undefined);
    if (part === undefined) continue;
    json += `${parts.size === 0 ? '' : ','}${JSON.stringify(key)}:${part}`;
    parts.set(key, part);
  }
  return { parts, json: `${json}}` };
}

/** Copy the parts of `from` into `into` (only those in `only`, when given). */
function addParts(into: Map<string, string>, from: DataSnapshot, only?: Set<string>): void {
  for (const [key, part] of from.parts) if (!only || only.has(key)) into.set(key, part);
}

/** Top-level data keys whose JSON differs between the base and this request's data. */
function changedKeys(base: DataSnapshot, mine: DataSnapshot): Set<string> {
  const keys = new Set<string>();
  if (base.json === mine.json) return keys;
  for (const [key, part] of mine.parts) if (base.parts.get(key) !== part) keys.add(key);
  for (const key of base.parts.keys()) if (!mine.parts.has(key)) keys.add(key);
  return keys;
}

/**
 * The base as a record: its cookie, the base JSON decoded for the keys this
 * request changed, and this request's own values for the others (JSON-equal
 * to the base's, so a store comparing JSON sees the record it holds).
 */
function baseRecord(
  base: { cookie: StoredCookie; data: DataSnapshot },
  changes: Set<string>,
  mine: SessionRecord,
): SessionRecord {
  const record: SessionRecord = { cookie: base.cookie };
  for (const [key, part] of base.data.parts) {
    record[key] = changes.has(key) ? JSON.parse(part) : mine[key];
  }
  return record;
}

/** The current record with this request's changed keys (and cookie) applied. */
function mergeChanges(
  current: SessionRecord,
  mine: SessionRecord,
  changes: Set<string>,
): SessionRecord {
  const next: SessionRecord = { ...current, cookie: mine.cookie };
  for (const key of changes) {
    if (Object.hasOwn(mine, key)) next[key] = mine[key];
    else delete next[key];
  }
  return next;
}

/** Whether a request path lies under the cookie's path (RFC 6265 section 5.1.4 path-match, or a prefix). */
function pathInScope(
  path: string,
  scope: string,
  match: 'prefix' | 'rfc6265' | undefined,
): boolean {
  if (!path.startsWith(scope)) return false;
  if (match !== 'rfc6265' || path.length === scope.length || scope.endsWith('/')) return true;
  return path[scope.length] === '/';
}

/** A short random pause so that many writers on one session stop colliding in lockstep. */
function backoff(attempt: number): Promise<void> {
  const ms = Math.random() * Math.min(50, 2 ** Math.min(attempt, 6));
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The longest delay a Node timer takes (a longer one fires at once). */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Check the options that are not cookie attributes, with express-session's
 * messages where it has one (as SessConfigError, at startup), and normalize
 * `cookie` as express-session reads it: a falsy value is no options, a
 * `maxAge` Date is a fixed expiry (deprecated there too).
 */
function normalizeOptions<Req>(given: SessionOptions<Req>): SessionOptions<Req> {
  if (typeof given !== 'object' || given === null) {
    throw new SessConfigError('secret option required for sessions');
  }
  const options: SessionOptions<Req> = { ...given };
  // As express-session: a falsy genid means the default, anything else must be a function.
  if (!options.genid) delete options.genid;
  else if (typeof options.genid !== 'function') {
    throw new SessConfigError('genid option must be a function');
  }
  for (const option of ['name', 'key'] as const) {
    const value = options[option];
    if (value !== undefined && value !== null && typeof value !== 'string') {
      throw new SessConfigError(`${option} option must be a string`);
    }
  }
  const timeout = options.storeTimeout;
  if (
    timeout !== undefined &&
    !(typeof timeout === 'number' && timeout >= 1 && timeout <= MAX_TIMER_MS)
  ) {
    throw new SessConfigError(
      `storeTimeout option must be a number of milliseconds from 1 to ${MAX_TIMER_MS}`,
    );
  }
  const absolute = options.absoluteTimeout;
  if (absolute === undefined || absolute === null) {
    delete options.absoluteTimeout;
  } else if (!(typeof absolute === 'number' && Number.isFinite(absolute) && absolute >= 1)) {
    throw new SessConfigError(
      'absoluteTimeout option must be a number of milliseconds, at least 1',
    );
  }
  const cookie = options.cookie;
  if (!cookie) {
    delete options.cookie;
  } else if (typeof cookie === 'function') {
    options.cookie = (request: Req) => normalizeCookieOptions(cookie(request));
  } else if (typeof cookie === 'object') {
    options.cookie = normalizeCookieOptions(cookie);
  } else {
    throw new SessConfigError('argument options must be a object');
  }
  return options;
}

let warnedMaxAgeDate = false;

/** express-session's `maxAge` rules: a number, a Date (a fixed expiry, deprecated), or falsy. */
function normalizeCookieOptions(options: CookieOptions): CookieOptions {
  if (typeof options !== 'object' || options === null) return options;
  const maxAge: unknown = options.maxAge;
  if (maxAge instanceof Date) {
    if (!warnedMaxAgeDate) {
      warnedMaxAgeDate = true;
      process.emitWarning(
        'sess: cookie.maxAge as a Date is deprecated (as in express-session); pass a number of milliseconds, or use cookie.expires.',
        'DeprecationWarning',
      );
    }
    const { maxAge: _date, ...rest } = options;
    return { ...rest, expires: maxAge };
  }
  if (maxAge && typeof maxAge !== 'number') {
    throw new SessConfigError('maxAge must be a number or Date');
  }
  return options;
}

/**
 * Cookie options as the first request would use them, checked at startup
 * (and per request for a `cookie()` function): anything the Set-Cookie
 * serializer would refuse later (a `sameSite` of "bogus", a `priority` of
 * "urgent", a domain with a space, a path with `;`, an invalid `expires`),
 * values of the wrong type, and the browser rules for prefixed names
 * (matched in any case, as browsers do) and for `partitioned`.
 */
function checkCookieOptions(name: string, options: CookieOptions): void {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new SessConfigError('cookie options must be an object');
  }
  const { path, domain, expires, secure, sameSite, partitioned, httpOnly } = options;
  if (path !== undefined && typeof path !== 'string') {
    throw new SessConfigError('cookie.path must be a string');
  }
  if (domain !== undefined && typeof domain !== 'string') {
    throw new SessConfigError('cookie.domain must be a string');
  }
  if (secure !== undefined && typeof secure !== 'boolean' && secure !== 'auto') {
    throw new SessConfigError('cookie.secure must be true, false or "auto"');
  }
  for (const [key, value] of [
    ['httpOnly', httpOnly],
    ['partitioned', partitioned],
  ] as const) {
    if (value !== undefined && typeof value !== 'boolean') {
      throw new SessConfigError(`cookie.${key} must be a boolean`);
    }
  }
  if (
    expires !== undefined &&
    expires !== null &&
    (expires as unknown) !== false &&
    !(expires instanceof Date && !Number.isNaN(expires.getTime()))
  ) {
    throw new SessConfigError('cookie.expires must be a valid Date');
  }
  try {
    // The serializer's own rules (sameSite, priority, domain, path, expires),
    // on the cookie the first request would send.
    const cookie = new Cookie(options);
    if (sameSite === 'auto') cookie.sameSite = 'none';
    cookie.serialize(name, 'x');
  } catch (cause) {
    throw new SessConfigError(`invalid cookie options: ${errorMessage(cause)}`, { cause });
  }
  const lower = name.toLowerCase();
  if (lower.startsWith('__host-')) {
    if (!secure) {
      throw new SessConfigError('a __Host- cookie needs cookie.secure (true or "auto")');
    }
    if ((path ?? '/') !== '/') {
      throw new SessConfigError('a __Host- cookie needs cookie.path "/"');
    }
    if (domain !== undefined) {
      throw new SessConfigError('a __Host- cookie must not set cookie.domain');
    }
  } else if (lower.startsWith('__secure-') && !secure) {
    throw new SessConfigError('a __Secure- cookie needs cookie.secure (true or "auto")');
  }
  if (partitioned === true && !secure) {
    throw new SessConfigError('a partitioned cookie needs cookie.secure (true or "auto")');
  }
}

/** `run()` as a promise: a synchronous throw becomes a rejection. */
function started<T>(run: () => Promise<T>): Promise<T> {
  try {
    return Promise.resolve(run());
  } catch (error) {
    return Promise.reject(error);
  }
}

function storeName(store: SessionStore): string {
  const named = (store as { name?: unknown }).name;
  if (typeof named === 'string' && named) return named;
  return store.constructor?.name ?? 'store';
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
