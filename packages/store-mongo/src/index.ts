import { randomBytes } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import {
  CorruptRecordError,
  DEFAULT_TTL_MS,
  decodeRecord,
  encodeRecord,
  SessConfigError,
  type SessionRecord,
  type SessionStore,
  StoreClosedError,
  StoreError,
  type StoreOperation,
  StoreUnavailableError,
  sessionExpiresAt,
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
} from 'mongodb';

export interface MongoStoreOptions {
  /** A connected (or connectable) MongoClient. The store never closes a client it was given. */
  client?: MongoClient;
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
  /** Lifetime in ms of a record stored without `cookie.expires`. Default one day. */
  ttl?: number;
  /**
   * Lazy touch, in ms: a touch within this time of the last write of the document changes
   * nothing (the server is asked, but writes nothing). Default `0`: every touch writes.
   */
  touchAfter?: number;
  /**
   * How expired documents are removed (reads never see them either way):
   * `native` (default) creates a TTL index on `expires`, falling back to `interval` when the
   * server has no TTL indexes (FerretDB v1); `interval` deletes them every `pruneInterval`;
   * `disabled` creates no index and removes nothing.
   */
  autoRemove?: 'native' | 'interval' | 'disabled';
  /** How often `interval` removal runs, in ms. Default 10 minutes. */
  pruneInterval?: number;
}

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
}

const NAME = 'mongo';
/** A compareAndSet lock older than this was left by a crashed process and may be taken over. */
const LOCK_LEASE_MS = 10_000;

/**
 * Sessions in a MongoDB collection, one document per session, in connect-mongo's
 * layout: `{ _id: sid, session, expires: Date }`. Reads and listings filter on
 * `expires` themselves, so an expired document is never seen even before the TTL
 * monitor (or the prune timer) removes it.
 */
export class MongoStore implements SessionStore {
  /** The client the store talks through. */
  readonly client: MongoClient;
  readonly db: Db;
  readonly collection: Collection<SessionDocument>;
  readonly #locks: Collection<{ _id: string; at: Date; token: string }>;
  readonly #ownsClient: boolean;
  readonly #stringify: boolean;
  readonly #ttl: number;
  readonly #touchAfter: number;
  readonly #autoRemove: 'native' | 'interval' | 'disabled';
  readonly #pruneInterval: number;
  #prepared: Promise<void> | undefined;
  /**
   * FerretDB v1 applies an update as read-then-write without isolation (see #withLock),
   * and stores no nested arrays.
   */
  #ferretdb = false;
  #timer: NodeJS.Timeout | undefined;
  #closing: Promise<void> | undefined;

  constructor(options: MongoStoreOptions) {
    if (!options.client && !options.mongoUrl) {
      throw new SessConfigError('mongo store: give either `client` or `mongoUrl`');
    }
    this.#ownsClient = options.client === undefined;
    if (options.client) {
      this.client = options.client;
    } else {
      try {
        this.client = new MongoClient(options.mongoUrl as string, {
          ...DEFAULT_MONGO_OPTIONS,
          ...options.mongoOptions,
        });
      } catch (cause) {
        throw new SessConfigError(`mongo store: invalid connection string or options`, { cause });
      }
    }
    const collectionName = options.collectionName ?? 'sessions';
    this.db = this.client.db(options.dbName);
    this.collection = this.db.collection<SessionDocument>(collectionName);
    this.#locks = this.db.collection(`${collectionName}_locks`);
    this.#stringify = options.stringify ?? true;
    this.#ttl = options.ttl ?? DEFAULT_TTL_MS;
    this.#touchAfter = options.touchAfter ?? 0;
    this.#autoRemove = options.autoRemove ?? 'native';
    this.#pruneInterval = options.pruneInterval ?? 10 * 60_000;
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
      await upsert(this.collection, id, this.#fields(session, expires));
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
    return this.#run('compareAndSet', async () => {
      const expires = this.#expiresAt(next);
      if (this.#ferretdb) {
        return (await this.#withLock(id, () => this.#swap(id, expected, next, expires))) ?? false;
      }
      const now = new Date();
      if (expected === null) {
        if (expires.getTime() <= now.getTime()) return this.#swap(id, expected, next, expires);
        // Matches an expired document, or inserts; a live one makes the insert a duplicate key.
        try {
          await this.collection.updateOne(
            { _id: id, expires: { $lte: now } },
            { $set: this.#fields(next, expires) },
            { upsert: true },
          );
          return true;
        } catch (error) {
          if (!isDuplicateKey(error)) throw error;
        }
      } else if (expires.getTime() > now.getTime()) {
        const written = await this.collection.updateOne(
          { _id: id, expires: { $gt: now }, session: this.#stored(expected) },
          { $set: this.#fields(next, expires) },
        );
        if (written.matchedCount === 1) return true;
      }
      return this.#swap(id, expected, next, expires);
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
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    // Closing the client also ends a pending index creation (it rejects, and is ignored).
    this.#closing ??= this.#ownsClient ? this.client.close() : Promise.resolve();
    await this.#closing;
  }

  // --- internals ---------------------------------------------------------------

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
      try {
        await this.collection.insertOne({ _id: id, ...this.#fields(next, expires) });
        return true;
      } catch (error) {
        if (isDuplicateKey(error)) return false;
        throw error;
      }
    }
    // The document as read: its session in its own form, and its expiry.
    const unchanged = { _id: id, session: doc.session, expires: doc.expires };
    if (expires.getTime() <= Date.now()) {
      return (await this.collection.deleteOne(unchanged)).deletedCount === 1;
    }
    const written = await this.collection.updateOne(unchanged, {
      $set: this.#fields(next, expires),
    });
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
      await this.#locks.deleteOne({ _id: id, token });
    }
  }

  async #lock(id: string, token: string): Promise<boolean> {
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        await this.#locks.insertOne({ _id: id, at: new Date(), token });
        return true;
      } catch (error) {
        if (!isDuplicateKey(error)) throw error;
      }
      // Held: take it over only if its holder died (the lease ran out).
      const held = await this.#locks.findOne({ _id: id });
      if (held && held.at.getTime() > Date.now() - LOCK_LEASE_MS) return false;
      if (held) await this.#locks.deleteOne({ _id: id, token: held.token });
    }
    return false;
  }

  #fields(session: SessionRecord, expires: Date): Omit<SessionDocument, '_id'> {
    const fields: Omit<SessionDocument, '_id'> = { session: this.#stored(session), expires };
    if (this.#touchAfter > 0) fields.lastModified = new Date();
    return fields;
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
    const info = await this.db.admin().command({ buildInfo: 1 });
    this.#ferretdb = typeof info.ferretdbVersion === 'string';
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
    if (interval && this.#pruneInterval > 0 && !this.#closing) {
      this.#timer = setInterval(() => {
        // A failed prune (server down) is retried next time.
        this.prune().catch(() => undefined);
      }, this.#pruneInterval);
      this.#timer.unref();
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

/** Upsert by `_id`. Two first writes of one id may race to insert: the loser retries as an update. */
async function upsert(
  collection: Collection<SessionDocument>,
  id: string,
  fields: Omit<SessionDocument, '_id'>,
): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      await collection.updateOne({ _id: id }, { $set: fields }, { upsert: true });
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
