import { randomBytes } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import {
  backgroundErrorReporter,
  CorruptRecordError,
  checkStoreOptions,
  compareUserSessions,
  type Duration,
  decodeRecord,
  encodeRecord,
  intervalRule,
  lifetimeRule,
  MIN_PLAIN_LIFETIME_MS,
  optionalDuration,
  type Pruner,
  resolveUserIndex,
  SessConfigError,
  type SessionRecord,
  type SessionStore,
  StoreClosedError,
  StoreError,
  type StoreErrorHandler,
  type StoreOperation,
  StoreUnavailableError,
  sessionExpiresAt,
  sessionExpiry,
  startPruner,
  type UserIndex,
  type UserIndexOptions,
  type UserSessionInfo,
} from '@sess/core';
import {
  type Collection,
  type Db,
  MongoClient,
  type MongoClientOptions,
  MongoNetworkError,
  MongoServerError,
  MongoServerSelectionError,
  MongoTopologyClosedError,
  type UpdateFilter,
} from 'mongodb';

export interface MongoStoreOptions {
  /** A connected (or connectable) MongoClient. The store never closes a client it was given. */
  client?: MongoClient;
  /**
   * A promise of a MongoClient, as connect-mongo takes: operations wait for it. The store never
   * closes it. `client`, `db` and `collection` are available once `ready()` resolves.
   */
  clientPromise?: Promise<MongoClient>;
  /** A connection string, used when no `client` is given; the store then owns and closes its client. */
  mongoUrl?: string;
  /** Options for the client the store creates from `mongoUrl` (merged over the store's short timeouts). */
  mongoOptions?: MongoClientOptions;
  /** Database name. Default: the one in the connection string, else the driver's default (`test`). */
  dbName?: string;
  /** Collection name. Default `sessions`, as connect-mongo. */
  collectionName?: string;
  /**
   * Store the session as a JSON string (`true`, the default, as connect-mongo) or as a
   * sub-document (`false`). A record whose keys MongoDB cannot hold as field names
   * (a leading `$`, a `.`) is stored as a string even when `false`. Both are read either way.
   */
  stringify?: boolean;
  /**
   * Lifetime of a record stored without `cookie.expires`: milliseconds (a plain number below
   * one hour is refused: connect-mongo counts `ttl` in seconds) or a unit (`'14d'`).
   * Default 14 days, as connect-mongo.
   */
  ttl?: Duration;
  /**
   * Lazy touch: a touch within this time of the last write of the document changes nothing
   * (the server is asked, but writes nothing). Milliseconds (a plain number below one hour is
   * refused: connect-mongo counts seconds) or a unit (`'1d'`). Default `0`: every touch writes.
   */
  touchAfter?: Duration;
  /**
   * How expired documents are removed (reads never see them either way):
   * `native` (default) creates a TTL index on `expires`, falling back to `interval` when the
   * server has no TTL indexes (FerretDB v1); `interval` deletes them every `pruneInterval`;
   * `disabled` creates no index and removes nothing.
   */
  autoRemove?: 'native' | 'interval' | 'disabled';
  /**
   * How often `interval` removal runs: milliseconds (a plain number below a minute is refused)
   * or a unit (`'10m'`). Default 10 minutes, each delay spread over 50%–150%.
   */
  pruneInterval?: Duration;
  /**
   * As connect-mongo's option: documents get `createdAt` when inserted and `updatedAt` on every
   * write and touch by this store. Default `false`.
   */
  timestamps?: boolean;
  /** Receives background failures (a failed `interval` removal). Default: a process warning. */
  onError?: StoreErrorHandler;
  /** connect-mongo's `crypto` is refused, except `{ secret: false }` (its "off"). */
  crypto?: { secret: false };
  /**
   * Keep an index of sessions by user (a `user` field on each document, indexed), so
   * the store can list, count and destroy a user's sessions and cap how many a user
   * has. Without it the documents and every operation stay as they are.
   */
  users?: UserIndexOptions;
}

/** connect-mongo's default `ttl`: 14 days. */
export const DEFAULT_MONGO_TTL_MS = 14 * 24 * 60 * 60 * 1000;

const KNOWN_OPTIONS = [
  'client',
  'clientPromise',
  'mongoUrl',
  'mongoOptions',
  'dbName',
  'collectionName',
  'stringify',
  'ttl',
  'touchAfter',
  'autoRemove',
  'pruneInterval',
  'timestamps',
  'onError',
  'crypto',
  'users',
] as const;

const UNREADABLE =
  'every session it stored would be unreadable to sess (everyone logged out), and sess would store them in clear';
const INCUMBENT_OPTIONS = {
  cryptoAdapter: `not an option of the store: sessions encrypted by connect-mongo's createWebCryptoAdapter({ secret }) are read by readConnectMongoEncrypted(new MongoStore({ ... }), { webCrypto: { secret }, encryption }) and rewritten in sess's form (core's encryptStore with \`encryption\`) at their next write; with another adapter, ${UNREADABLE}`,
  transformId:
    'not supported: sess stores each session under its own id, so sessions stored under transformed ids would be unreadable (everyone logged out). Keep connect-mongo, or remove the option and accept that users sign in again',
  serialize:
    'not supported: sess stores the record as express-session gives it (a JSON string, or a sub-document with `stringify: false`); a custom serialize/unserialize pair would make stored sessions unreadable',
  unserialize:
    'not supported: sess reads JSON strings and sub-documents; a custom serialize/unserialize pair would make stored sessions unreadable',
  writeOperationOptions:
    'set the write concern on the client instead (e.g. mongoOptions: { writeConcern: { w: "majority" } }, or `?w=majority` in mongoUrl)',
  autoRemoveInterval:
    "connect-mongo counts it in minutes; sess's option is `pruneInterval`, in milliseconds or with a unit (autoRemoveInterval: 10 is pruneInterval: '10m')",
} as const;

/** The timeouts of a client the store creates: a down server fails operations within seconds. */
export const DEFAULT_MONGO_OPTIONS: Readonly<MongoClientOptions> = {
  serverSelectionTimeoutMS: 3_000,
  connectTimeoutMS: 3_000,
  socketTimeoutMS: 10_000,
};

/** The document layout, shared with connect-mongo. */
export interface SessionDocument {
  _id: string;
  /** The record as a JSON string, or as a sub-document when `stringify: false`. */
  session: string | Record<string, unknown>;
  expires: Date;
  /** Written when `touchAfter` is set: when the document was last written. */
  lastModified?: Date;
  /** With `timestamps`: when the document was inserted. */
  createdAt?: Date;
  /** With `timestamps`: the last write or touch. */
  updatedAt?: Date;
  /** With `users`: the user the session belongs to (absent when it belongs to nobody). */
  user?: string;
}

const NAME = 'mongo';
/** A compareAndSet lock older than this was left by a crashed process and may be taken over. */
const LOCK_LEASE_MS = 10_000;
/** How long a capped write waits for another trim of the same user before trimming anyway. */
const USER_LOCK_WAIT_MS = 3_000;

/**
 * Sessions in a MongoDB collection, one document per session, in connect-mongo's
 * layout: `{ _id: sid, session, expires: Date }`. Reads and listings filter on
 * `expires` themselves, so an expired document is never seen even before the TTL
 * monitor (or the prune timer) removes it.
 */
export class MongoStore implements SessionStore {
  #client: MongoClient | undefined;
  #db: Db | undefined;
  #collection: Collection<SessionDocument> | undefined;
  #locks: Collection<{ _id: string; at: Date; token: string }> | undefined;
  readonly #clientPromise: Promise<MongoClient> | undefined;
  readonly #dbName: string | undefined;
  readonly #collectionName: string;
  readonly #ownsClient: boolean;
  readonly #stringify: boolean;
  readonly #ttl: number;
  readonly #touchAfter: number;
  readonly #timestamps: boolean;
  readonly #autoRemove: 'native' | 'interval' | 'disabled';
  readonly #pruneInterval: number;
  readonly #report: StoreErrorHandler;
  readonly #users: UserIndex | undefined;
  #prepared: Promise<void> | undefined;
  /**
   * FerretDB v1 applies an update as read-then-write without isolation (see #withLock),
   * and stores no nested arrays.
   */
  #ferretdb = false;
  #pruner: Pruner | undefined;
  #closing: Promise<void> | undefined;

  // Sessions by user: defined only when the `users` option is given, so that
  // `storeCapabilities` reports them only then.
  declare userOf?: (session: SessionRecord) => string | null;
  declare userSessions?: (user: string) => Promise<UserSessionInfo[]>;
  declare countUserSessions?: (user: string) => Promise<number>;
  declare destroyUserSessions?: (user: string, exceptId?: string) => Promise<number>;

  constructor(options: MongoStoreOptions) {
    checkStoreOptions(options, {
      store: 'mongo store',
      known: KNOWN_OPTIONS,
      incumbent: INCUMBENT_OPTIONS,
    });
    if (options.crypto !== undefined && options.crypto?.secret !== false) {
      throw new SessConfigError(
        "mongo store: option `crypto` is not an option of the store: sessions connect-mongo encrypted with crypto: { secret } are read by readConnectMongoEncrypted(new MongoStore({ ... }), { kruptein: { secret }, encryption }) and rewritten in sess's form (core's encryptStore with `encryption`) at their next write",
      );
    }
    const sources = (['mongoUrl', 'clientPromise', 'client'] as const).filter(
      (name) => options[name] !== undefined,
    );
    if (sources.length !== 1) {
      throw new SessConfigError(
        sources.length === 0
          ? 'mongo store: give one of `mongoUrl`, `clientPromise` or `client`'
          : `mongo store: give one of \`mongoUrl\`, \`clientPromise\` or \`client\`, not ${sources.join(' and ')}`,
      );
    }
    if (options.clientPromise !== undefined && typeof options.clientPromise.then !== 'function') {
      throw new SessConfigError('mongo store: `clientPromise` must be a promise of a MongoClient');
    }
    if (options.client !== undefined && !isMongoClient(options.client)) {
      throw new SessConfigError('mongo store: `client` must be a MongoClient (mongodb 6 or 7)');
    }
    this.#ownsClient = options.mongoUrl !== undefined;
    this.#dbName = options.dbName;
    this.#collectionName = options.collectionName ?? 'sessions';
    if (options.mongoUrl !== undefined) {
      try {
        this.#use(
          new MongoClient(options.mongoUrl, { ...DEFAULT_MONGO_OPTIONS, ...options.mongoOptions }),
        );
      } catch (cause) {
        throw new SessConfigError(`mongo store: invalid connection string or options`, { cause });
      }
    } else if (options.client !== undefined) {
      this.#use(options.client);
    } else {
      this.#clientPromise = options.clientPromise;
      // Reported by the operations that wait for it; never an unhandled rejection.
      this.#clientPromise?.catch(() => undefined);
    }
    this.#stringify = options.stringify ?? true;
    this.#ttl = optionalDuration(
      options.ttl,
      lifetimeRule('mongo store: ttl', { unit: 'seconds', incumbent: 'connect-mongo' }),
      DEFAULT_MONGO_TTL_MS,
    );
    this.#touchAfter = optionalDuration(
      options.touchAfter,
      {
        label: 'mongo store: touchAfter',
        minPlain: MIN_PLAIN_LIFETIME_MS,
        incumbentUnit: { unit: 'seconds', incumbent: 'connect-mongo' },
        allowOff: true,
      },
      0,
    );
    this.#timestamps = options.timestamps ?? false;
    this.#autoRemove = options.autoRemove ?? 'native';
    if (!['native', 'interval', 'disabled'].includes(this.#autoRemove)) {
      throw new SessConfigError(
        `mongo store: autoRemove must be 'native', 'interval' or 'disabled', not ${JSON.stringify(this.#autoRemove)}`,
      );
    }
    this.#pruneInterval = optionalDuration(
      options.pruneInterval,
      intervalRule('mongo store: pruneInterval'),
      10 * 60_000,
    );
    this.#report = backgroundErrorReporter(options.onError);
    this.#users = resolveUserIndex(options.users, 'mongo store');
    const users = this.#users;
    if (users) {
      this.userOf = (session) => users.userOf(session);
      this.userSessions = (user) =>
        this.#run('userSessions', async () => (await this.#liveOf(user)).map(({ info }) => info));
      this.countUserSessions = (user) =>
        this.#run('countUserSessions', async () => (await this.#liveOf(user)).length);
      this.destroyUserSessions = (user, exceptId) =>
        this.#run('destroyUserSessions', () => this.#destroyOf(user, exceptId));
    }
  }

  /** The client the store talks through (with `clientPromise`: once `ready()` resolved). */
  get client(): MongoClient {
    return this.#resolved().client;
  }

  get db(): Db {
    return this.#resolved().db;
  }

  get collection(): Collection<SessionDocument> {
    return this.#resolved().collection;
  }

  #use(client: MongoClient): void {
    this.#client = client;
    this.#db = client.db(this.#dbName);
    this.#collection = this.#db.collection<SessionDocument>(this.#collectionName);
    this.#locks = this.#db.collection(`${this.#collectionName}_locks`);
  }

  #resolved(): {
    client: MongoClient;
    db: Db;
    collection: Collection<SessionDocument>;
    locks: Collection<{ _id: string; at: Date; token: string }>;
  } {
    if (!this.#client || !this.#db || !this.#collection || !this.#locks) {
      throw new StoreError(
        NAME,
        'connect',
        'the client from `clientPromise` has not resolved yet: await store.ready() first',
      );
    }
    return { client: this.#client, db: this.#db, collection: this.#collection, locks: this.#locks };
  }

  async get(id: string): Promise<SessionRecord | null> {
    return this.#run('get', async () => {
      const doc = await this.collection.findOne(
        { _id: id, expires: { $gt: new Date() } },
        { projection: { session: 1 } },
      );
      return doc ? decode(doc.session) : null;
    });
  }

  async set(id: string, session: SessionRecord): Promise<void> {
    await this.#run('set', async () => {
      const expires = this.#expiresAt(session);
      if (expires.getTime() <= Date.now()) {
        await this.collection.deleteOne({ _id: id });
        return;
      }
      // On FerretDB v1 an upsert, like every filtered command, first reads the collection
      // by a sequential scan (see #insertNew), while an insert only probes the unique `_id`
      // index. Core calls `set` for new sessions, whose id is not stored yet: insert, and
      // upsert only when the id exists. On MongoDB the upsert is one indexed operation.
      if (this.#ferretdb && (await this.#insertNew(id, session, expires))) {
        if (this.#users) await this.#capAfter(id, session, undefined);
        return;
      }
      await upsert(this.collection, id, this.#update(session, expires));
      // `set` does not know the user the document had: a capped user is checked on every set
      // (core uses `set` for new sessions only, which always need the check).
      if (this.#users) await this.#capAfter(id, session, undefined);
    });
  }

  async touch(id: string, session: SessionRecord): Promise<void> {
    await this.#run('touch', async () => {
      const now = new Date();
      const expires = this.#expiresAt(session);
      const live = { _id: id, expires: { $gt: now } };
      if (expires.getTime() <= now.getTime()) {
        await this.collection.deleteOne(live);
        return;
      }
      const update: Partial<SessionDocument> = { expires };
      const filter: Record<string, unknown> = { ...live };
      if (this.#timestamps) update.updatedAt = now;
      if (this.#touchAfter > 0) {
        update.lastModified = now;
        filter.$or = [
          { lastModified: { $exists: false } },
          { lastModified: { $lte: new Date(now.getTime() - this.#touchAfter) } },
        ];
      }
      if (!this.#ferretdb) {
        await this.collection.updateOne(filter, { $set: update });
        return;
      }
      // FerretDB rewrites the whole document: a touch racing a locked write could
      // undo it. When a compareAndSet holds the lock, it writes a fresh expiry anyway.
      await this.#withLock(id, async () => {
        await this.collection.updateOne(filter, { $set: update });
      });
    });
  }

  async destroy(id: string): Promise<void> {
    await this.#run('destroy', async () => {
      await this.collection.deleteOne({ _id: id });
    });
  }

  async ids(): Promise<string[]> {
    return this.#run('ids', async () => {
      const docs = await this.collection
        .find({ expires: { $gt: new Date() } }, { projection: { _id: 1 } })
        .toArray();
      return docs.map((doc) => String(doc._id));
    });
  }

  async all(): Promise<Record<string, SessionRecord>> {
    return this.#run('all', async () => {
      const out: Record<string, SessionRecord> = {};
      const cursor = this.collection.find(
        { expires: { $gt: new Date() } },
        { projection: { session: 1 } },
      );
      for await (const doc of cursor) {
        const record = decode(doc.session);
        if (record) out[String(doc._id)] = record;
      }
      return out;
    });
  }

  async length(): Promise<number> {
    return this.#run('length', () =>
      this.collection.countDocuments({ expires: { $gt: new Date() } }),
    );
  }

  async clear(): Promise<void> {
    await this.#run('clear', async () => {
      await this.collection.deleteMany({});
    });
  }

  /**
   * Write `next` only if the live record still equals `expected` (`null`: absent or
   * expired). On MongoDB this is one filtered update; a record stored in another
   * form (another stringify mode, connect-mongo's Dates) is compared as JSON on a
   * second read, so it never makes the swap fail forever.
   */
  async compareAndSet(
    id: string,
    expected: SessionRecord | null,
    next: SessionRecord,
  ): Promise<boolean> {
    if (!this.#users)
      return this.#run('compareAndSet', () => this.#compareAndSet(id, expected, next));
    return this.#run('compareAndSet', async () => {
      const written = await this.#compareAndSet(id, expected, next);
      if (written) await this.#capAfter(id, next, expected);
      return written;
    });
  }

  /** Delete every expired document now; returns how many went. Runs on the prune timer too. */
  async prune(): Promise<number> {
    return this.#run('clear', async () => {
      const result = await this.collection.deleteMany({ expires: { $lte: new Date() } });
      return result.deletedCount;
    });
  }

  /** Resolves once the index exists (operations wait for it themselves). */
  async ready(): Promise<void> {
    await this.#run('connect', async () => undefined);
  }

  async close(): Promise<void> {
    this.#pruner?.stop();
    this.#pruner = undefined;
    // Closing the client also ends a pending index creation (it rejects, and is ignored).
    // A client given as `client` or `clientPromise` stays open.
    this.#closing ??= this.#ownsClient && this.#client ? this.#client.close() : Promise.resolve();
    await this.#closing;
  }

  // --- internals ---------------------------------------------------------------

  async #compareAndSet(
    id: string,
    expected: SessionRecord | null,
    next: SessionRecord,
  ): Promise<boolean> {
    const expires = this.#expiresAt(next);
    const now = new Date();
    const live = expires.getTime() > now.getTime();
    if (this.#ferretdb) {
      // An absent session is created by a plain insert: it succeeds only if no document has
      // the id (the unique index decides, no lock needed, no collection scan). A document
      // there, even an expired one, is left to the locked path below.
      if (expected === null && live && (await this.#insertNew(id, next, expires))) return true;
      const written = await this.#withLock(id, async () => {
        // Under the lock no other compareAndSet or touch of this store writes the document,
        // so the filtered update is a compare-and-set here too. It is one read of the
        // collection (every filtered command on FerretDB v1 is a sequential scan), where
        // reading first and then updating would be two.
        if (
          expected !== null &&
          live &&
          (await this.#updateIfStored(id, expected, next, expires, now))
        ) {
          return true;
        }
        return this.#swap(id, expected, next, expires);
      });
      return written ?? false;
    }
    if (expected === null) {
      if (!live) return this.#swap(id, expected, next, expires);
      // Matches an expired document, or inserts; a live one makes the insert a duplicate key.
      try {
        await this.collection.updateOne(
          { _id: id, expires: { $lte: now } },
          this.#update(next, expires),
          { upsert: true },
        );
        return true;
      } catch (error) {
        if (!isDuplicateKey(error)) throw error;
      }
    } else if (live && (await this.#updateIfStored(id, expected, next, expires, now))) {
      return true;
    }
    return this.#swap(id, expected, next, expires);
  }

  /**
   * The fast compare-and-set: one update that matches only a live document whose
   * `session` is exactly what this store writes for `expected`. Not matching proves
   * nothing (another form of the same record), so the caller then compares on a read.
   */
  async #updateIfStored(
    id: string,
    expected: SessionRecord,
    next: SessionRecord,
    expires: Date,
    now: Date,
  ): Promise<boolean> {
    const written = await this.collection.updateOne(
      { _id: id, expires: { $gt: now }, session: this.#stored(expected) },
      this.#update(next, expires),
    );
    return written.matchedCount === 1;
  }

  /**
   * Insert the document of a session whose id is not stored: `false` when a document
   * (live or expired) already has the id. On FerretDB v1 it is the first try of `set` and
   * of compareAndSet from `null`, being the one write that does not read the collection
   * first: FerretDB turns the filter of every find, update, delete and findAndModify into
   * `_jsonb->'_id' @> $1`, which its btree index on `_jsonb->'_id'` cannot serve, so
   * PostgreSQL scans (and detoasts) every document; an insert only meets the unique index.
   * (On MongoDB, filters on `_id` use the index; there this serves the slow path only.)
   */
  async #insertNew(id: string, session: SessionRecord, expires: Date): Promise<boolean> {
    try {
      const created = this.#timestamps ? { createdAt: new Date() } : {};
      await this.collection.insertOne({ _id: id, ...this.#fields(session, expires), ...created });
      return true;
    } catch (error) {
      if (isDuplicateKey(error)) return false;
      throw error;
    }
  }

  /**
   * The live sessions of a user, oldest first (by `cookie.createdAt`, then id): the
   * documents the `user` index finds, each checked against its own record, so that a
   * document rewritten by a writer that keeps no index (connect-mongo during a rollout,
   * a store without `users`) is reported only if it still belongs to the user.
   */
  async #liveOf(user: unknown): Promise<{ id: string; info: UserSessionInfo }[]> {
    const users = this.#users;
    const key = userKey(user);
    if (!users || key === null) return [];
    const docs = await this.collection
      .find({ user: key, expires: { $gt: new Date() } }, { projection: { session: 1, expires: 1 } })
      .toArray();
    const live: { id: string; info: UserSessionInfo }[] = [];
    for (const doc of docs) {
      const record = decode(doc.session);
      if (record === null || users.userOf(record) !== key) continue;
      const id = String(doc._id);
      // A touch moves only the document's `expires`: that is the session's expiry,
      // except for a browser-session cookie, which has none.
      const expiresAt = sessionExpiry(record) === null ? null : doc.expires.getTime();
      live.push({ id, info: users.info(id, record, expiresAt) });
    }
    return live.sort((a, b) => compareUserSessions(a.info, b.info));
  }

  async #destroyOf(user: unknown, exceptId?: string): Promise<number> {
    const key = userKey(user);
    const ids = (await this.#liveOf(user)).map(({ id }) => id).filter((id) => id !== exceptId);
    if (key === null || ids.length === 0) return 0;
    // `user` in the filter: a session given to another user since the listing stays.
    const result = await this.collection.deleteMany({
      _id: { $in: ids },
      user: key,
      expires: { $gt: new Date() },
    });
    return result.deletedCount;
  }

  /**
   * After a write that may have given a user one more session: destroy the user's
   * oldest other sessions beyond `maxSessionsPerUser` (never the one just written).
   * The write itself is one update; the trims of one user are serialized by a lock
   * document, so each trim sees every write that finished before it, and once
   * parallel writes settle the user has exactly N live sessions or fewer when fewer
   * were written (see the README, "Sessions by user").
   * `previous` is the record the write replaced (`undefined`: unknown).
   */
  async #capAfter(
    id: string,
    next: SessionRecord,
    previous: SessionRecord | null | undefined,
  ): Promise<void> {
    const users = this.#users;
    if (!users || users.maxSessionsPerUser === Number.POSITIVE_INFINITY) return;
    const user = users.userOf(next);
    if (user === null) return;
    if (previous != null && users.userOf(previous) === user) return; // not a new session of the user
    if (this.#expiresAt(next).getTime() <= Date.now()) return; // deleted, not written
    // Under the cap (the usual case): nothing to destroy, no lock. A write that lands after
    // this read is followed by its own trim, which sees this session.
    if ((await this.#liveOf(user)).length <= users.maxSessionsPerUser) return;
    const locks = this.#userLocks();
    const token = randomBytes(12).toString('hex');
    const locked = await this.#lockUser(locks, user, token);
    try {
      const live = await this.#liveOf(user); // again: under the lock, after every earlier trim
      const excess = live.length - users.maxSessionsPerUser;
      if (excess <= 0) return;
      const ids = live
        .filter((session) => session.id !== id)
        .slice(0, excess)
        .map((session) => session.id);
      await this.collection.deleteMany({ _id: { $in: ids }, user });
    } finally {
      if (locked) await locks.deleteOne({ _id: { user }, token });
    }
  }

  /** The per-user trim locks: in `<collection>_locks` beside the session locks, keyed `{ user }`. */
  #userLocks(): Collection<{ _id: { user: string }; at: Date; token: string }> {
    return this.db.collection(`${this.#collectionName}_locks`);
  }

  /**
   * Take a user's trim lock, waiting for the holder (a trim is a few milliseconds).
   * A lock whose holder died is taken over after the lease. After USER_LOCK_WAIT_MS
   * the trim runs without it (`false`): a trim racing another can destroy one session
   * too many, but the write never fails for want of the lock.
   */
  async #lockUser(
    locks: Collection<{ _id: { user: string }; at: Date; token: string }>,
    user: string,
    token: string,
  ): Promise<boolean> {
    const deadline = Date.now() + USER_LOCK_WAIT_MS;
    let checkLeaseAt = 0;
    for (let wait = 1; !this.#closing; wait = Math.min(wait * 2, 16)) {
      try {
        await locks.insertOne({ _id: { user }, at: new Date(), token });
        return true;
      } catch (error) {
        if (!isDuplicateKey(error)) throw error;
      }
      // Whether the holder died: at the first refusal, then once a second while waiting.
      if (Date.now() >= checkLeaseAt) {
        checkLeaseAt = Date.now() + 1_000;
        const held = await locks.findOne({ _id: { user } });
        if (held && held.at.getTime() <= Date.now() - LOCK_LEASE_MS) {
          await locks.deleteOne({ _id: { user }, token: held.token });
          continue;
        }
      }
      if (Date.now() >= deadline) return false;
      await new Promise((resolve) => setTimeout(resolve, wait * (0.5 + Math.random())));
    }
    return false;
  }

  /**
   * The slow path of compareAndSet: read the document, compare as JSON, then write
   * only if the document is still exactly what was read.
   */
  async #swap(
    id: string,
    expected: SessionRecord | null,
    next: SessionRecord,
    expires: Date,
  ): Promise<boolean> {
    const doc = await this.collection.findOne({ _id: id });
    const live = doc !== null && doc.expires instanceof Date && doc.expires.getTime() > Date.now();
    const current = live ? decode(doc.session) : null;
    if (!sameRecord(current, expected)) return false;
    if (doc === null) {
      if (expires.getTime() <= Date.now()) return true;
      return this.#insertNew(id, next, expires);
    }
    // The document as read: its session in its own form, and its expiry.
    const unchanged = { _id: id, session: doc.session, expires: doc.expires };
    if (expires.getTime() <= Date.now()) {
      return (await this.collection.deleteOne(unchanged)).deletedCount === 1;
    }
    const written = await this.collection.updateOne(unchanged, this.#update(next, expires));
    return written.matchedCount === 1;
  }

  /**
   * FerretDB v1 has no atomic conditional update, but inserts are checked against
   * the unique `_id` index: a lock document per session serializes the writers that
   * take it. A held lock means another write is under way, so the caller gets `null`.
   */
  async #withLock<T>(id: string, work: () => Promise<T>): Promise<T | null> {
    const token = randomBytes(12).toString('hex');
    if (!(await this.#lock(id, token))) return null;
    try {
      return await work();
    } finally {
      await this.#resolved().locks.deleteOne({ _id: id, token });
    }
  }

  async #lock(id: string, token: string): Promise<boolean> {
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        await this.#resolved().locks.insertOne({ _id: id, at: new Date(), token });
        return true;
      } catch (error) {
        if (!isDuplicateKey(error)) throw error;
      }
      // Held: take it over only if its holder died (the lease ran out).
      const held = await this.#resolved().locks.findOne({ _id: id });
      if (held && held.at.getTime() > Date.now() - LOCK_LEASE_MS) return false;
      if (held) await this.#resolved().locks.deleteOne({ _id: id, token: held.token });
    }
    return false;
  }

  #fields(session: SessionRecord, expires: Date): Omit<SessionDocument, '_id'> {
    const fields: Omit<SessionDocument, '_id'> = { session: this.#stored(session), expires };
    if (this.#touchAfter > 0) fields.lastModified = new Date();
    if (this.#timestamps) fields.updatedAt = new Date();
    if (this.#users) {
      const user = this.#users.userOf(session);
      if (user !== null) fields.user = user;
    }
    return fields;
  }

  /**
   * A whole-record write; with `timestamps`, an upsert that inserts also sets `createdAt`.
   * With `users`, the `user` field follows the record in the same update: set, changed,
   * or removed when the session no longer belongs to anyone.
   */
  #update(session: SessionRecord, expires: Date): UpdateFilter<SessionDocument> {
    const fields = this.#fields(session, expires);
    const update: UpdateFilter<SessionDocument> = { $set: fields };
    if (this.#timestamps) update.$setOnInsert = { createdAt: new Date() };
    if (this.#users && fields.user === undefined) update.$unset = { user: '' };
    return update;
  }

  /** The session as the document holds it: JSON text, or JSON-shaped sub-document. */
  #stored(session: SessionRecord): string | Record<string, unknown> {
    const text = encodeRecord(session);
    if (this.#stringify) return text;
    const value = JSON.parse(text) as Record<string, unknown>;
    return storable(value, this.#ferretdb) ? value : text;
  }

  #expiresAt(session: SessionRecord): Date {
    return new Date(sessionExpiresAt(session, this.#ttl));
  }

  /**
   * Create the index and learn what the server can do: once, before the first
   * operation (which waits for it), and again after a failure. Nothing connects
   * before the first operation, as with the driver itself.
   */
  #prepare(): Promise<void> {
    this.#prepared ??= this.#createIndex().catch((error: unknown) => {
      this.#prepared = undefined;
      throw error;
    });
    return this.#prepared;
  }

  async #createIndex(): Promise<void> {
    if (!this.#client && this.#clientPromise) {
      const client = await this.#clientPromise;
      if (!isMongoClient(client)) {
        throw new SessConfigError(
          'mongo store: `clientPromise` resolved to something other than a MongoClient',
        );
      }
      if (this.#closing) throw new StoreClosedError(NAME, 'connect');
      this.#use(client);
    }
    const info = await this.db.admin().command({ buildInfo: 1 });
    this.#ferretdb = typeof info.ferretdbVersion === 'string';
    if (this.#users) await this.#createUserIndex();
    if (this.#autoRemove === 'disabled') return;
    let interval = this.#autoRemove === 'interval';
    try {
      if (interval) await this.collection.createIndex({ expires: 1 });
      else await this.collection.createIndex({ expires: 1 }, { expireAfterSeconds: 0 });
    } catch (error) {
      if (isCode(error, NOT_IMPLEMENTED) && !interval) {
        // No TTL indexes on this server (FerretDB v1): index for the reads, prune on a timer.
        interval = true;
        await this.collection.createIndex({ expires: 1 });
      } else if (
        !isCode(error, INDEX_OPTIONS_CONFLICT) &&
        !isCode(error, INDEX_KEY_SPECS_CONFLICT)
      ) {
        throw error;
      }
      // An index on `expires` with other options already exists (the user's): keep it.
    }
    if (interval && this.#pruneInterval > 0 && !this.#closing && !this.#pruner) {
      // A failed prune (server down) is reported, and retried next time.
      this.#pruner = startPruner({
        every: this.#pruneInterval,
        run: () => this.prune(),
        report: (error) => this.#report(storeError('clear', error)),
      });
    }
  }

  /**
   * The index behind the user listings. Sessions work without it (a listing then scans),
   * so a failure is reported to `onError` and does not fail the operation waiting here.
   * Sparse: sessions that belong to nobody are not in it.
   */
  async #createUserIndex(): Promise<void> {
    try {
      await this.collection.createIndex({ user: 1 }, { sparse: true });
    } catch (error) {
      // An index on `user` with another name or options already exists (the app's): keep it.
      // (`user_1` taken by an index on another key is reported: listings would scan.)
      if (isCode(error, INDEX_OPTIONS_CONFLICT)) return;
      if (this.#closing) return;
      this.#report(storeError('connect', error));
    }
  }

  async #run<T>(operation: StoreOperation, work: () => Promise<T>): Promise<T> {
    if (this.#closing) throw new StoreClosedError(NAME, operation);
    try {
      await this.#prepare();
      return await work();
    } catch (cause) {
      if (this.#closing && cause instanceof MongoTopologyClosedError) {
        throw new StoreClosedError(NAME, operation);
      }
      throw storeError(operation, cause);
    }
  }
}

const NOT_IMPLEMENTED = 238;
const INDEX_OPTIONS_CONFLICT = 85;
const INDEX_KEY_SPECS_CONFLICT = 86;
const DUPLICATE_KEY = 11000;

/** The user a listing asks for, as the index holds it (a string); `null` matches nobody. */
function userKey(user: unknown): string | null {
  if (typeof user === 'string') return user === '' ? null : user;
  // userOf indexes numbers as their decimal string; anything else (an object from a
  // request body: a query operator) must never reach the filter.
  if (typeof user === 'number' && Number.isFinite(user)) return String(user);
  if (typeof user === 'bigint') return String(user);
  return null;
}

/** Upsert by `_id`. Two first writes of one id may race to insert: the loser retries as an update. */
async function upsert(
  collection: Collection<SessionDocument>,
  id: string,
  update: UpdateFilter<SessionDocument>,
): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      await collection.updateOne({ _id: id }, update, { upsert: true });
      return;
    } catch (error) {
      if (!isDuplicateKey(error) || attempt >= 2) throw error;
    }
  }
}

/**
 * Read the stored session in either form. A sub-document goes through JSON so that
 * connect-mongo's Date values come back as ISO strings, as express-session stores them.
 * Anything undecodable reads as a missing session.
 */
function decode(stored: unknown): SessionRecord | null {
  try {
    if (typeof stored === 'string') return decodeRecord(stored, NAME);
    if (typeof stored !== 'object' || stored === null) return null;
    return decodeRecord(JSON.parse(JSON.stringify(stored)), NAME);
  } catch (error) {
    if (error instanceof CorruptRecordError) return null;
    throw error;
  }
}

function sameRecord(current: SessionRecord | null, expected: SessionRecord | null): boolean {
  if (current === null || expected === null) return current === expected;
  return isDeepStrictEqual(current, JSON.parse(encodeRecord(expected)));
}

/**
 * Whether the server stores the value as a sub-document as is: every key, at any
 * depth, is a plain field name, and (FerretDB v1) no array holds an array.
 */
function storable(value: unknown, noNestedArrays: boolean, inArray = false): boolean {
  if (Array.isArray(value)) {
    if (inArray && noNestedArrays) return false;
    return value.every((item) => storable(item, noNestedArrays, true));
  }
  if (typeof value !== 'object' || value === null) return true;
  for (const [key, inner] of Object.entries(value)) {
    if (key.startsWith('$') || key.includes('.') || key.includes('\0')) return false;
    if (!storable(inner, noNestedArrays)) return false;
  }
  return true;
}

/**
 * A MongoClient by shape rather than `instanceof`, so a client from another copy of the
 * driver (mongodb 6 and 7 side by side) is accepted.
 */
function isMongoClient(value: unknown): value is MongoClient {
  const client = value as Partial<MongoClient> | null;
  return (
    typeof client === 'object' &&
    client !== null &&
    typeof client.db === 'function' &&
    typeof client.connect === 'function' &&
    typeof client.close === 'function'
  );
}

function isCode(error: unknown, code: number): boolean {
  return error instanceof MongoServerError && error.code === code;
}

function isDuplicateKey(error: unknown): boolean {
  return isCode(error, DUPLICATE_KEY);
}

/**
 * Wrap a driver error. The message names the error class and code only: server
 * messages can quote the session id (a duplicate key does), the cause keeps them.
 */
function storeError(operation: StoreOperation, cause: unknown): StoreError {
  if (cause instanceof StoreError) return cause;
  if (
    cause instanceof MongoServerSelectionError ||
    cause instanceof MongoNetworkError ||
    cause instanceof MongoTopologyClosedError
  ) {
    return new StoreUnavailableError(NAME, operation, `the server is unreachable (${cause.name})`, {
      cause,
    });
  }
  const code = (cause as { code?: unknown })?.code;
  const name = cause instanceof Error ? cause.name : typeof cause;
  const detail = code === undefined ? name : `${name}, code ${String(code)}`;
  return new StoreError(NAME, operation, `the server refused the operation (${detail})`, { cause });
}

export {
  type ConnectMongoKrupteinOptions,
  type ConnectMongoMigrationOptions,
  type ConnectMongoWebCryptoOptions,
  readConnectMongoEncrypted,
} from './connect-mongo-crypto.js';
