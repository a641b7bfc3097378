import * as crypto from 'node:crypto';
import {
  backgroundErrorReporter,
  checkStoreOptions,
  DEFAULT_TTL_MS,
  type Duration,
  decodeRecord,
  encodeRecord,
  lifetimeRule,
  parseDuration,
  resolveUserIndex,
  SessConfigError,
  type SessionRecord,
  type SessionStore,
  StoreClosedError,
  StoreError,
  type StoreErrorHandler,
  type StoreOperation,
  StoreUnavailableError,
  sessionTtl,
  type UserIndexOptions,
  type UserSessionInfo,
  withDeadline,
} from '@sess/core';
import {
  type Connection,
  connectionFor,
  type IoredisClient,
  isReplyError,
  type LuaScript,
  loadIoredis,
  type RedisClient,
  type ScanNode,
} from './clients.js';
import { RedisUserIndex } from './users.js';

export type {
  IoredisClient,
  NodeRedisClient,
  NodeRedisCluster,
  NodeRedisCommandOptions,
  RedisClient,
} from './clients.js';

/**
 * Turns a record into the stored string and back. connect-redis's default is
 * `JSON`. `parse` may return a promise (connect-redis allows it); it is awaited.
 */
export interface RedisSerializer {
  stringify(session: SessionRecord): string;
  parse(text: string): unknown | Promise<unknown>;
}

/** An ioredis cluster node: `'host:port'`, a port, or `{ host, port }`. */
export type IoredisClusterNode = string | number | { host?: string; port?: number };

export interface RedisStoreOptions<Client extends RedisClient = RedisClient> {
  /**
   * Your own client: an ioredis `Redis` (Sentinel included) or `Cluster`, or a
   * node-redis v5 client from `createClient()` or `createCluster()` (connect it
   * yourself, as for connect-redis). The store never closes a client it was
   * given. An ioredis client's `keyPrefix` option must be unset: use `prefix`.
   */
  client?: Client;
  /** A `redis://` or `rediss://` URL the store connects to (with ioredis) when no `client` is given. */
  url?: string;
  /**
   * ioredis `RedisOptions` for the connection the store opens (merged over the
   * store's fail-fast defaults). Pass `sentinels` and `name` here for Sentinel.
   */
  redis?: object;
  /**
   * Cluster nodes (e.g. `['127.0.0.1:7000']`) and ioredis `ClusterOptions`:
   * the store opens an ioredis `Cluster`.
   */
  cluster?: IoredisClusterNode[] | { nodes: IoredisClusterNode[]; options?: object };
  /** Key prefix. Default `sess:`, as connect-redis. */
  prefix?: string;
  /**
   * Lifetime of a session whose cookie has no `expires`, in **milliseconds**
   * (like every duration in sess; connect-redis counts seconds) or with a unit
   * (`'1d'`); default one day. A plain number below one hour is refused as a
   * value in seconds (`ttl: 86400` fails, naming `86400000` or `'1d'`). A
   * function decides the lifetime of every session by itself, as
   * connect-redis's does; it returns a duration under the same rule
   * (milliseconds, at least one hour as a plain number, or a string with a
   * unit; zero or less ends the session), so a function ported from
   * connect-redis, which returns seconds, fails instead of shortening every
   * session a thousandfold. The store calls it once at startup with a
   * one-day session to catch that mistake before the first request.
   */
  ttl?: Duration | ((session: SessionRecord) => Duration);
  /**
   * Receives background failures: the connection the store opened (from
   * `url`, `redis` or `cluster`) failing while no command waits, once per
   * outage. Default: a process warning. A `client` you give reports its own
   * `error` events to your listeners.
   */
  onError?: StoreErrorHandler;
  /**
   * connect-redis's `disableTTL` (keys without a Redis expiry) is not
   * supported: `true` is refused at startup, since sessions that never expired
   * would start expiring. `false` (its default) is accepted.
   */
  disableTTL?: false;
  /** How records become strings. Default `JSON`. */
  serializer?: RedisSerializer;
  /** Make `touch` a no-op, so rolling sessions do not extend the expiry. Default `false`. */
  disableTouch?: boolean;
  /** `COUNT` hint for each SCAN step of `ids`/`all`/`length`/`clear`. Default 100. */
  scanCount?: number;
  /**
   * Bound in ms for each command: past it the operation rejects with a
   * `StoreUnavailableError`, whatever the client's own retry settings. Default 5,000.
   */
  timeout?: number;
  /**
   * Keep an index of each user's sessions (core's `UserIndexOptions`), so
   * `userSessions`, `countUserSessions` and `destroyUserSessions` answer in
   * time proportional to that user's sessions, and `maxSessionsPerUser` caps
   * them. Without it the store keeps no index and writes exactly as before.
   */
  users?: UserIndexOptions;
  /**
   * Key prefix of the user index (the per-user sorted sets and the
   * per-session pointers). Default `users:` followed by `prefix` without
   * braces (`users:sess:`). It must not start with `prefix` (listings scan
   * `prefix*`), nor `prefix` with it, and has no `{` or `}`.
   */
  userIndexPrefix?: string;
}

const NAME = 'redis';

const KNOWN_OPTIONS = [
  'client',
  'url',
  'redis',
  'cluster',
  'prefix',
  'ttl',
  'disableTTL',
  'serializer',
  'disableTouch',
  'scanCount',
  'timeout',
  'onError',
  'users',
  'userIndexPrefix',
] as const;

/** Options of older connect-redis releases (3 and before opened their own connection). */
const CONNECTION_ADVICE =
  'give `url` (redis://:password@host:port/db) or `redis: { host, port, password, db }`, or your own `client`';
const INCUMBENT_OPTIONS = {
  host: CONNECTION_ADVICE,
  port: CONNECTION_ADVICE,
  socket: CONNECTION_ADVICE,
  pass: CONNECTION_ADVICE,
  password: CONNECTION_ADVICE,
  db: CONNECTION_ADVICE,
  logErrors:
    'connect-redis 3 logged client errors; sess stores reject the failing operation with a StoreError (express passes it to next(err))',
  unref:
    'a connection the store opens never keeps the process alive once close() is called; close() the store on shutdown',
  pingInterval:
    'set it on your client (ioredis: `keepAlive`; node-redis: `pingInterval`) and pass it as `client`',
} as const;

const DISABLE_TTL_ADVICE =
  'redis store: disableTTL is not supported: connect-redis then stored sessions with no Redis expiry, so they never ' +
  'expired; sess gives every key one (cookie.expires, else `ttl`). To keep sessions about as long as before, give ' +
  "the cookie a maxAge and/or set `ttl` long (e.g. ttl: '365d'), then remove disableTTL. Keys already stored " +
  'without an expiry stay readable, and get one on their next save.';

/**
 * Compare-and-set of a stored session in one round trip. ARGV: [1] the stored
 * bytes this write expects (the expected record as this store encodes it, or
 * the exact bytes a first attempt got back), [2] the new value, [3] its
 * lifetime in ms (> 0). Replies 1 when written, 0 when the key is absent, and
 * otherwise the stored bytes, so the caller can compare them as JSON.
 *
 * The bytes themselves, not their SHA-1: Redis compares two Lua strings for
 * less than `redis.sha1hex` costs (and Node skips hashing them); with no mode
 * flag and the lifetime handed to `SET` as it came (no `tonumber`), the script
 * costs Redis 7.0 about 5 µs per call against 7 µs for the hashed version with
 * a flag (`INFO commandstats`, a session of about 200 bytes; a plain SET is
 * about 1 µs). A session sends its expected bytes with every write (about
 * twice the bytes of a `SET`).
 */
const CAS_SET_SCRIPT = `
local current = redis.call('GET', KEYS[1])
if current ~= ARGV[1] then return current or 0 end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1
`;

/** The same comparison for a write whose session has already ended: DEL instead of SET. ARGV: [1] the expected bytes. */
const CAS_DELETE_SCRIPT = `
local current = redis.call('GET', KEYS[1])
if current ~= ARGV[1] then return current or 0 end
redis.call('DEL', KEYS[1])
return 1
`;

const CAS_SET = script(CAS_SET_SCRIPT);
const CAS_DELETE = script(CAS_DELETE_SCRIPT);

/** A script and its SHA-1, as EVALSHA needs it. */
function script(source: string): LuaScript {
  return { source, sha: crypto.createHash('sha1').update(source).digest('hex') };
}

/**
 * Sessions as Redis strings `<prefix><id>` holding the record as JSON, with a
 * Redis expiry taken from the cookie: the layout connect-redis uses, so both
 * read each other's sessions. Works through ioredis (one server, Sentinel,
 * Cluster) and node-redis v5 (`createClient`, `createCluster`): every command
 * touches one key; listings scan every master.
 */
export class RedisStore<Client extends RedisClient = RedisClient> implements SessionStore {
  /** The client the store talks through: the one it was given, or the ioredis client it opened. */
  readonly client: Client;
  readonly prefix: string;
  readonly #ownsClient: boolean;
  readonly #connection: Connection;
  readonly #ttl: number | ((session: SessionRecord) => Duration);
  readonly #serializer: RedisSerializer;
  readonly #disableTouch: boolean;
  readonly #scanCount: number;
  readonly #timeout: number;
  readonly #users: RedisUserIndex | undefined;
  /** Key prefix of the user index; `undefined` without `users`. */
  readonly userIndexPrefix: string | undefined;
  #closed = false;

  // The user capability exists only with the `users` option (set in the constructor).
  declare readonly userOf?: (session: SessionRecord) => string | null;
  declare readonly userSessions?: (user: string) => Promise<UserSessionInfo[]>;
  declare readonly countUserSessions?: (user: string) => Promise<number>;
  declare readonly destroyUserSessions?: (user: string, exceptId?: string) => Promise<number>;

  constructor(options: RedisStoreOptions<Client> = {}) {
    checkStoreOptions(options, {
      store: 'redis store',
      known: KNOWN_OPTIONS,
      incumbent: INCUMBENT_OPTIONS,
    });
    if (options.disableTTL !== undefined && options.disableTTL !== false) {
      throw new SessConfigError(DISABLE_TTL_ADVICE);
    }
    this.prefix = options.prefix ?? 'sess:';
    if (typeof options.ttl === 'function') probeTtlFunction(options.ttl);
    this.#ttl =
      typeof options.ttl === 'function'
        ? options.ttl
        : options.ttl === undefined
          ? DEFAULT_TTL_MS
          : parseDuration(
              options.ttl,
              lifetimeRule('redis store: ttl', { unit: 'seconds', incumbent: 'connect-redis' }),
            );
    this.#serializer = options.serializer ?? JSON;
    this.#disableTouch = options.disableTouch ?? false;
    this.#scanCount = options.scanCount ?? 100;
    this.#timeout = options.timeout ?? 5_000;
    if (!(this.#timeout > 0)) throw new SessConfigError('redis store: timeout must be positive');
    this.#ownsClient = options.client === undefined;
    const client = options.client ?? (openClient(options, this.#timeout) as Client);
    // A connection the store opened batches its writes itself, unless the
    // `redis` options turned ioredis's auto-pipelining on (which batches them).
    const batchWrites =
      this.#ownsClient &&
      (client as { options?: { enableAutoPipelining?: boolean } }).options?.enableAutoPipelining !==
        true;
    this.#connection = connectionFor(client, this.#timeout, batchWrites);
    this.client = client;
    const index = resolveUserIndex(options.users, 'redis store');
    if (index) {
      const indexPrefix = options.userIndexPrefix ?? `users:${this.prefix.replace(/[{}]/g, '')}`;
      checkIndexPrefix(indexPrefix, this.prefix);
      this.userIndexPrefix = indexPrefix;
      const users = new RedisUserIndex(
        {
          connection: this.#connection,
          prefix: this.prefix,
          indexPrefix,
          call: (operation, work) => this.#call(operation, work),
          decode: (text) => this.#decode(text),
        },
        index,
      );
      this.#users = users;
      Object.defineProperties(this, {
        userOf: { value: (session: SessionRecord) => users.userOf(session) },
        userSessions: { value: (user: string) => users.list('userSessions', user) },
        countUserSessions: {
          value: async (user: string) => (await users.list('countUserSessions', user)).length,
        },
        destroyUserSessions: {
          value: (user: string, exceptId?: string) => users.destroyAll(user, exceptId),
        },
      });
    } else if (options.userIndexPrefix !== undefined) {
      throw new SessConfigError('redis store: userIndexPrefix is given without `users`');
    }
    // An owned client reports connection errors as events (never unhandled:
    // that would crash the process). The failing commands reject with them
    // too; `onError` hears the first of each outage (again after `ready`),
    // not every reconnect attempt.
    const report = backgroundErrorReporter(options.onError);
    if (this.#ownsClient) {
      let reported = false;
      const events = client as unknown as NodeJS.EventEmitter;
      events.on('error', (cause: unknown) => {
        if (reported) return;
        reported = true;
        report(
          new StoreUnavailableError(NAME, 'connect', 'the connection to Redis failed', { cause }),
        );
      });
      events.on('ready', () => {
        reported = false;
      });
    }
  }

  /**
   * Redis's expiry decides what is live: the stored cookie keeps the
   * `expires` it was written with while `touch` moves the key's expiry.
   */
  async get(id: string): Promise<SessionRecord | null> {
    const text = await this.#call('get', () => this.#connection.get(this.#key(id)));
    return text === null ? null : this.#decode(text);
  }

  async set(id: string, session: SessionRecord): Promise<void> {
    const key = this.#key(id);
    const ttl = this.#lifetime(session);
    const text = this.#encode(session);
    if (this.#users) {
      this.#open('set');
      await this.#users.write('set', id, session, text, ttl);
      return;
    }
    // One command either way: SET with its expiry, or DEL for a session that already ended.
    if (ttl <= 0) await this.#call('set', () => this.#connection.del([key]));
    else await this.#call('set', () => this.#connection.setPx(key, text, ttl));
  }

  /** PEXPIRE only: the data is never rewritten; an absent key stays absent; a past expiry deletes. */
  async touch(id: string, session: SessionRecord): Promise<void> {
    if (this.#disableTouch) return;
    const ttl = this.#lifetime(session);
    if (this.#users) {
      this.#open('touch');
      if (ttl <= 0) await this.#users.destroy(id);
      else await this.#users.touch(id, session, ttl);
      return;
    }
    await this.#call('touch', () => this.#connection.pexpire(this.#key(id), Math.max(ttl, 0)));
  }

  /** Destroy one session, or many at once. */
  async destroy(id: string | readonly string[]): Promise<void> {
    if (this.#users) {
      const users = this.#users;
      this.#open('destroy');
      await Promise.all((typeof id === 'string' ? [id] : [...id]).map((one) => users.destroy(one)));
      return;
    }
    const keys = (typeof id === 'string' ? [id] : [...id]).map((one) => this.#key(one));
    if (keys.length === 0) return;
    await this.#call('destroy', () => this.#connection.del(keys));
  }

  async ids(): Promise<string[]> {
    const ids: string[] = [];
    await this.#scan('ids', async (_node, keys) => {
      for (const key of keys) ids.push(key.slice(this.prefix.length));
    });
    return ids;
  }

  async all(): Promise<Record<string, SessionRecord>> {
    const out: Record<string, SessionRecord> = {};
    await this.#scan('all', async (node, keys) => {
      const texts = await this.#call('all', () => node.getEach(keys));
      const records = await Promise.all(
        texts.map((text) => (typeof text === 'string' ? this.#decode(text) : null)),
      );
      keys.forEach((key, i) => {
        const record = records[i];
        if (record) out[key.slice(this.prefix.length)] = record;
      });
    });
    return out;
  }

  /** The number of keys under the prefix (Redis drops expired keys itself). */
  async length(): Promise<number> {
    let count = 0;
    await this.#scan('length', async (_node, keys) => {
      count += keys.length;
    });
    return count;
  }

  /** Deletes every key under this store's prefix, and nothing else. */
  async clear(): Promise<void> {
    await this.#scan('clear', async (node, keys) => {
      await this.#call('clear', () => node.delEach(keys));
    });
    // The index of the sessions just deleted goes too.
    if (this.userIndexPrefix !== undefined) {
      await this.#scan(
        'clear',
        async (node, keys) => {
          await this.#call('clear', () => node.delEach(keys));
        },
        this.userIndexPrefix,
      );
    }
  }

  async compareAndSet(
    id: string,
    expected: SessionRecord | null,
    next: SessionRecord,
  ): Promise<boolean> {
    const key = this.#key(id);
    const ttl = this.#lifetime(next);
    const text = this.#encode(next);
    if (this.#users) return this.#casIndexed(id, expected, next, text, ttl);
    if (expected === null) return this.#create(key, text, ttl);
    const reply = await this.#cas(key, this.#encode(expected), text, ttl);
    if (reply === 1) return true;
    if (reply === 0) return false;
    // The stored bytes differ from ours: another writer, or the same record
    // written differently (connect-redis, another serializer, a corrupt value).
    // Compare as JSON; when equal, swap against the exact bytes that are there.
    if (!(await this.#matches(reply, expected))) return false;
    return (await this.#cas(key, reply, text, ttl)) === 1;
  }

  /**
   * compareAndSet when no record is expected: `SET … NX PX`, no script. When
   * a value is there, it is read: a session means the write is refused; a
   * value that is not a session counts as absent, so it is replaced through
   * the compare-and-set script against its exact bytes.
   */
  async #create(key: string, text: string, ttl: number): Promise<boolean> {
    const connection = this.#connection;
    for (let attempt = 0; attempt < 3; attempt++) {
      if (
        ttl > 0 &&
        (await this.#call('compareAndSet', () => connection.setPxIfAbsent(key, text, ttl)))
      ) {
        return true;
      }
      const stored = await this.#call('compareAndSet', () => connection.getBuffer(key));
      if (stored === null) {
        // Nothing stored and nothing to store (the session already ended): done.
        if (ttl <= 0) return true;
        continue; // deleted or expired since the SET: try again
      }
      if (!(await this.#matches(stored, null))) return false;
      return (await this.#cas(key, stored, text, ttl)) === 1;
    }
    return false;
  }

  /** Whether stored bytes hold the expected record (as JSON), or, expecting none, no session at all. */
  async #matches(stored: Buffer, expected: SessionRecord | null): Promise<boolean> {
    const record = await this.#decode(stored.toString());
    if (expected === null) return record === null;
    return record !== null && encodeRecord(record) === encodeRecord(expected);
  }

  /** compareAndSet through the user index's script: the same comparison, the index kept with the write. */
  async #casIndexed(
    id: string,
    expected: SessionRecord | null,
    next: SessionRecord,
    text: string,
    ttl: number,
  ): Promise<boolean> {
    const users = this.#users as RedisUserIndex;
    this.#open('compareAndSet');
    const wanted = expected === null ? null : this.#encode(expected);
    const reply = await users.write('compareAndSet', id, next, text, ttl, { bytes: wanted });
    if (reply.written) return true;
    if (reply.stored === null) return false;
    if (!(await this.#matches(reply.stored, expected))) return false;
    const again = await users.write('compareAndSet', id, next, text, ttl, {
      bytes: reply.stored,
    });
    return again.written;
  }

  /** Rejects once the store is closed (the index's scripts run through #call, which checks too). */
  #open(operation: StoreOperation): void {
    if (this.#closed) throw new StoreClosedError(NAME, operation);
  }

  /** Ends a connection the store opened (a given client stays open). Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#ownsClient) await this.#connection.close(this.#timeout);
  }

  #key(id: string): string {
    return this.prefix + id;
  }

  /** Milliseconds to keep the record; zero or less means it has already ended. */
  #lifetime(session: SessionRecord): number {
    if (typeof this.#ttl !== 'function') return sessionTtl(session, this.#ttl);
    return ttlFunctionResult(this.#ttl(session));
  }

  #encode(session: SessionRecord): string {
    const text: unknown = this.#serializer.stringify(session);
    if (typeof text !== 'string') {
      throw new SessConfigError(
        `redis store: serializer.stringify returned ${describe(text)}; it must return a string synchronously`,
      );
    }
    return text;
  }

  /** A corrupt value reads as a missing session. */
  async #decode(text: string): Promise<SessionRecord | null> {
    try {
      return decodeRecord(await this.#serializer.parse(text), NAME);
    } catch {
      // Not JSON, not a session (CorruptRecordError), or a serializer that threw or rejected.
      return null;
    }
  }

  /** The CAS script against `wanted` bytes (EVALSHA, loaded with EVAL the first time a server has not seen it). */
  async #cas(
    key: string,
    wanted: string | Buffer,
    text: string,
    ttl: number,
  ): Promise<1 | 0 | Buffer> {
    const reply = await this.#call('compareAndSet', () =>
      ttl > 0
        ? this.#connection.evalScript(CAS_SET, [key], [wanted, text, String(ttl)])
        : this.#connection.evalScript(CAS_DELETE, [key], [wanted]),
    );
    if (reply === 1 || reply === 0) return reply;
    if (Buffer.isBuffer(reply)) return reply;
    throw new StoreError(NAME, 'compareAndSet', 'unexpected reply from the script');
  }

  /**
   * SCAN every master (one server: the server) for keys under the prefix,
   * handing each page of new keys to `page` with the node that holds them.
   */
  async #scan(
    operation: StoreOperation,
    page: (node: ScanNode, keys: string[]) => Promise<void>,
    prefix: string = this.prefix,
  ): Promise<void> {
    const pattern = `${escapeGlob(prefix)}*`;
    const seen = new Set<string>();
    const masters = await this.#call(operation, () => this.#connection.masters());
    if (masters.length === 0) {
      throw new StoreUnavailableError(NAME, operation, 'the cluster has no reachable master');
    }
    for (const node of masters) {
      let cursor = '0';
      do {
        const [nextCursor, keys] = await this.#call(operation, () =>
          node.scan(cursor, pattern, this.#scanCount),
        );
        cursor = nextCursor;
        // SCAN may return a key twice; report each once.
        const fresh = keys.filter((key) => !seen.has(key));
        for (const key of fresh) seen.add(key);
        if (fresh.length > 0) await page(node, fresh);
      } while (cursor !== '0');
    }
  }

  /** Runs one command within the store's time bound, wrapping every failure as a StoreError. */
  async #call<T>(operation: StoreOperation, work: () => Promise<T>): Promise<T> {
    if (this.#closed) throw new StoreClosedError(NAME, operation);
    try {
      return await withDeadline(
        work(),
        this.#timeout,
        () => new TimeoutError(`no answer within ${this.#timeout} ms`),
      );
    } catch (cause) {
      throw storeError(operation, cause, this.#timeout);
    }
  }
}

/** Fail-fast defaults for a connection the store opens: a down server is an error, not a wait. */
function openClient(options: RedisStoreOptions<RedisClient>, timeout: number): IoredisClient {
  const { Redis, Cluster } = loadIoredis();
  const backoff = (times: number) => Math.min(50 * 2 ** Math.min(times, 6), 2_000);
  const defaults = {
    connectTimeout: Math.min(timeout, 5_000),
    commandTimeout: timeout,
    // Commands waiting for a connection are failed after one reconnect attempt.
    maxRetriesPerRequest: 1,
    // Connect on the first command, so a store that is never used opens no socket.
    lazyConnect: true,
    // Keep reconnecting (capped backoff), so the store recovers when Redis is back.
    retryStrategy: backoff,
    // Off: the store batches the writes of this connection itself (the
    // commands of one event-loop turn in one socket write, see clients.ts),
    // at about half the CPU per command of ioredis's auto-pipelining.
    enableAutoPipelining: false,
  };
  if (options.cluster) {
    const { nodes, options: clusterOptions = {} } = Array.isArray(options.cluster)
      ? { nodes: options.cluster }
      : options.cluster;
    const { redisOptions, ...rest } = clusterOptions as { redisOptions?: object };
    return new Cluster(nodes, {
      clusterRetryStrategy: backoff,
      lazyConnect: true,
      enableAutoPipelining: true,
      ...rest,
      // A cluster keeps ioredis's auto-pipelining (per node, which the store's batching is not).
      redisOptions: { ...defaults, enableAutoPipelining: true, ...options.redis, ...redisOptions },
    });
  }
  const merged = { ...defaults, ...options.redis };
  return options.url ? new Redis(options.url, merged) : new Redis(merged);
}

/** The index keys must stay out of the sessions' `prefix*` and carry no hash-tag braces of their own. */
function checkIndexPrefix(indexPrefix: string, prefix: string): void {
  if (typeof indexPrefix !== 'string' || indexPrefix === '') {
    throw new SessConfigError('redis store: userIndexPrefix must be a non-empty string');
  }
  if (/[{}]/.test(indexPrefix)) {
    throw new SessConfigError(
      'redis store: userIndexPrefix must not contain { or } (the index places its own cluster hash tags)',
    );
  }
  if (indexPrefix.startsWith(prefix) || prefix.startsWith(indexPrefix)) {
    throw new SessConfigError(
      `redis store: userIndexPrefix ${JSON.stringify(indexPrefix)} and prefix ${JSON.stringify(prefix)} overlap (one starts with the other), so listings of sessions would see index keys; give a userIndexPrefix apart from prefix`,
    );
  }
}

/** SCAN MATCH treats * ? [ ] \ as pattern syntax: a prefix must match only itself. */
function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, '\\$&');
}

const TTL_RESULT_RULE = lifetimeRule("redis store: the ttl function's result", {
  unit: 'seconds',
  incumbent: 'connect-redis',
});

/**
 * Milliseconds from what a `ttl` function returned: zero or less ends the
 * session; otherwise the same rule as a static `ttl`, so a plain number below
 * one hour (a connect-redis function's seconds) is refused.
 */
function ttlFunctionResult(result: unknown): number {
  if (typeof result === 'number' && Number.isFinite(result) && result <= 0) return result;
  if (
    (typeof result !== 'number' || !Number.isFinite(result)) &&
    (typeof result !== 'string' || result.trim() === '')
  ) {
    throw new SessConfigError(
      `redis store: the ttl function returned ${describe(result)}; it must return the session's lifetime as a finite number of milliseconds or a string with a unit ('1d', '10m'); zero or less ends the session. A stored session has no cookie.maxAge: read cookie.originalMaxAge or cookie.expires instead`,
    );
  }
  return Math.ceil(parseDuration(result, TTL_RESULT_RULE));
}

/**
 * Call a `ttl` function once with a one-day session, so that a function ported
 * from connect-redis (seconds) fails at startup. A function that throws or
 * returns nothing usable for this made-up session is left to the per-write check.
 */
function probeTtlFunction(ttl: (session: SessionRecord) => Duration): void {
  const day = 24 * 60 * 60 * 1000;
  const probe: SessionRecord = {
    cookie: {
      originalMaxAge: day,
      expires: new Date(Date.now() + day).toISOString(),
      path: '/',
      httpOnly: true,
    },
  };
  let result: unknown;
  try {
    result = ttl(probe);
  } catch {
    return;
  }
  if (
    (typeof result === 'number' && Number.isFinite(result) && result > 0) ||
    (typeof result === 'string' && result.trim() !== '')
  ) {
    ttlFunctionResult(result);
  }
}

function describe(value: unknown): string {
  if (typeof value === 'number') return String(value);
  if (typeof value === 'string') return `the string ${JSON.stringify(value)}`;
  if (value instanceof Promise) return 'a promise';
  return value === null ? 'null' : typeof value;
}

class TimeoutError extends Error {}

/** Server replies that mean "not now" rather than "wrong". */
const TRANSIENT_REPLY = /^(LOADING|BUSY|CLUSTERDOWN|TRYAGAIN|MASTERDOWN|READONLY)\b/;

function storeError(operation: StoreOperation, cause: unknown, timeout: number): StoreError {
  if (cause instanceof StoreError) return cause;
  const message = cause instanceof Error ? cause.message : String(cause);
  // ioredis's commandTimeout says 'Command timed out'; node-redis's `timeout` is its own
  // TimeoutError, and a command its queue dropped when the store's bound ran out
  // (the abort signal of the node-redis connection, see clients.ts) an AbortError.
  const timedOut =
    cause instanceof TimeoutError ||
    message === 'Command timed out' ||
    (cause instanceof Error &&
      (cause.constructor.name === 'TimeoutError' || cause.constructor.name === 'AbortError'));
  if (timedOut) {
    return new StoreUnavailableError(NAME, operation, `no answer within ${timeout} ms`, { cause });
  }
  if (isReplyError(cause) && !TRANSIENT_REPLY.test(message)) {
    return new StoreError(NAME, operation, message, { cause });
  }
  // Connection refused or lost, retries exhausted, the cluster unreachable, a transient reply.
  return new StoreUnavailableError(NAME, operation, message, { cause });
}
