import { createHash } from 'node:crypto';
import {
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
  sessionTtl,
  withDeadline,
} from '@sess/core';
import {
  Cluster,
  type ClusterNode,
  type ClusterOptions,
  Redis,
  type RedisOptions,
  ReplyError,
} from 'ioredis';

/** Turns a record into the stored string and back. connect-redis's default is `JSON`. */
export interface RedisSerializer {
  stringify(session: SessionRecord): string;
  parse(text: string): unknown;
}

export interface RedisStoreOptions {
  /**
   * An ioredis client (`Redis`, including one configured for Sentinel, or
   * `Cluster`). The store never closes a client it was given. Its `keyPrefix`
   * option must be unset: use `prefix` instead.
   */
  client?: Redis | Cluster;
  /** A `redis://` or `rediss://` URL to connect to when no `client` is given. */
  url?: string;
  /**
   * ioredis options for the connection the store opens (merged over the
   * store's fail-fast defaults). Pass `sentinels` and `name` here for Sentinel.
   */
  redis?: RedisOptions;
  /** Cluster nodes (e.g. `['127.0.0.1:7000']`) and options: the store opens an ioredis `Cluster`. */
  cluster?: ClusterNode[] | { nodes: ClusterNode[]; options?: ClusterOptions };
  /** Key prefix. Default `sess:`, as connect-redis. */
  prefix?: string;
  /**
   * Lifetime in **milliseconds** (like every duration in sess; connect-redis
   * counts seconds) of a session whose cookie has no `expires`; default one
   * day. A function returning milliseconds decides the lifetime of every
   * session by itself (as connect-redis's function does).
   */
  ttl?: number | ((session: SessionRecord) => number);
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
}

const NAME = 'redis';

/**
 * Compare-and-set in one round trip. ARGV: [1] '1' when a record is expected,
 * [2] the expected stored bytes, [3] the new value, [4] its lifetime in ms.
 * Replies 1 when written, 0 when the key is absent but a record was expected,
 * and otherwise the stored bytes, so the caller can compare them as JSON.
 */
const CAS_SCRIPT = `
local current = redis.call('GET', KEYS[1])
local wanted = false
if ARGV[1] == '1' then wanted = ARGV[2] end
if current ~= wanted then
  if current then return current end
  return 0
end
local ttl = tonumber(ARGV[4])
if ttl <= 0 then
  redis.call('DEL', KEYS[1])
else
  redis.call('SET', KEYS[1], ARGV[3], 'PX', ttl)
end
return 1
`;
const CAS_SHA = createHash('sha1').update(CAS_SCRIPT).digest('hex');

/**
 * Sessions as Redis strings `<prefix><id>` holding the record as JSON, with a
 * Redis expiry taken from the cookie: the layout connect-redis uses, so both
 * read each other's sessions. Works on one server, Sentinel and Cluster (every
 * command touches one key; listings scan every master).
 */
export class RedisStore implements SessionStore {
  /** The ioredis client the store talks through. */
  readonly client: Redis | Cluster;
  readonly prefix: string;
  readonly #ownsClient: boolean;
  readonly #ttl: number | ((session: SessionRecord) => number);
  readonly #serializer: RedisSerializer;
  readonly #disableTouch: boolean;
  readonly #scanCount: number;
  readonly #timeout: number;
  #closed = false;

  constructor(options: RedisStoreOptions = {}) {
    this.prefix = options.prefix ?? 'sess:';
    this.#ttl = options.ttl ?? DEFAULT_TTL_MS;
    this.#serializer = options.serializer ?? JSON;
    this.#disableTouch = options.disableTouch ?? false;
    this.#scanCount = options.scanCount ?? 100;
    this.#timeout = options.timeout ?? 5_000;
    if (typeof this.#ttl === 'number' && !(this.#ttl > 0)) {
      throw new SessConfigError('redis store: ttl must be a positive number of milliseconds');
    }
    if (!(this.#timeout > 0)) throw new SessConfigError('redis store: timeout must be positive');
    this.#ownsClient = options.client === undefined;
    this.client = options.client ?? openClient(options, this.#timeout);
    if (this.client.options.keyPrefix) {
      throw new SessConfigError(
        'redis store: the client has a keyPrefix; leave it unset and use the store `prefix` option',
      );
    }
    // An owned client reports connection errors as events; the failing
    // commands already reject with them, so the events need no second report.
    if (this.#ownsClient) this.client.on('error', () => undefined);
  }

  /**
   * Redis's expiry decides what is live: the stored cookie keeps the
   * `expires` it was written with while `touch` moves the key's expiry.
   */
  async get(id: string): Promise<SessionRecord | null> {
    const text = await this.#call('get', () => this.client.get(this.#key(id)));
    return text === null ? null : this.#decode(text);
  }

  async set(id: string, session: SessionRecord): Promise<void> {
    const key = this.#key(id);
    const ttl = this.#lifetime(session);
    const text = this.#encode(session);
    // One command either way: SET with its expiry, or DEL for a session that already ended.
    if (ttl <= 0) await this.#call('set', () => this.client.del(key));
    else await this.#call('set', () => this.client.set(key, text, 'PX', ttl));
  }

  /** PEXPIRE only: the data is never rewritten; an absent key stays absent; a past expiry deletes. */
  async touch(id: string, session: SessionRecord): Promise<void> {
    if (this.#disableTouch) return;
    const ttl = this.#lifetime(session);
    await this.#call('touch', () => this.client.pexpire(this.#key(id), Math.max(ttl, 0)));
  }

  /** Destroy one session, or many at once. */
  async destroy(id: string | readonly string[]): Promise<void> {
    const keys = (typeof id === 'string' ? [id] : [...id]).map((one) => this.#key(one));
    if (keys.length === 0) return;
    if (this.client instanceof Cluster) {
      // Keys of one DEL must share a hash slot in a cluster: delete them one by one.
      const cluster = this.client;
      await Promise.all(keys.map((key) => this.#call('destroy', () => cluster.del(key))));
    } else {
      const redis = this.client;
      await this.#call('destroy', () => redis.del(...keys));
    }
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
      const texts = await this.#call('all', () => getEach(node, keys));
      keys.forEach((key, i) => {
        const text = texts[i];
        const record = typeof text === 'string' ? this.#decode(text) : null;
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
      await this.#call('clear', () => deleteEach(node, keys));
    });
  }

  async compareAndSet(
    id: string,
    expected: SessionRecord | null,
    next: SessionRecord,
  ): Promise<boolean> {
    const key = this.#key(id);
    const ttl = this.#lifetime(next);
    const text = this.#encode(next);
    const wanted = expected === null ? null : this.#encode(expected);
    const reply = await this.#cas(key, wanted, text, ttl);
    if (reply === 1) return true;
    if (reply === 0) return false;
    // The stored bytes differ from ours: another writer, or the same record
    // written differently (connect-redis, another serializer, a corrupt value).
    // Compare as JSON; when equal, swap against the exact bytes that are there.
    const stored = this.#decode(reply.toString());
    const same =
      expected === null
        ? stored === null
        : stored !== null && encodeRecord(stored) === encodeRecord(expected);
    if (!same) return false;
    return (await this.#cas(key, reply, text, ttl)) === 1;
  }

  /** Ends a connection the store opened (a given client stays open). Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (!this.#ownsClient) return;
    const client = this.client;
    if (client.status === 'ready') {
      await withDeadline(client.quit(), this.#timeout, () => new TimeoutError('quit')).catch(
        () => undefined,
      );
    }
    client.disconnect();
  }

  #key(id: string): string {
    return this.prefix + id;
  }

  /** Milliseconds to keep the record; zero or less means it has already ended. */
  #lifetime(session: SessionRecord): number {
    if (typeof this.#ttl === 'function') return Math.ceil(this.#ttl(session));
    return sessionTtl(session, this.#ttl);
  }

  #encode(session: SessionRecord): string {
    return this.#serializer.stringify(session);
  }

  /** A corrupt value reads as a missing session. */
  #decode(text: string): SessionRecord | null {
    try {
      return decodeRecord(this.#serializer.parse(text), NAME);
    } catch {
      // Not JSON, not a session (CorruptRecordError), or a serializer that threw.
      return null;
    }
  }

  /** EVALSHA, loading the script with EVAL the first time a server has not seen it. */
  async #cas(
    key: string,
    wanted: string | Buffer | null,
    text: string,
    ttl: number,
  ): Promise<1 | 0 | Buffer> {
    const args = [wanted === null ? '0' : '1', wanted ?? '', text, String(ttl)] as const;
    const reply = await this.#call('compareAndSet', async () => {
      try {
        return await this.client.callBuffer('EVALSHA', CAS_SHA, 1, key, ...args);
      } catch (error) {
        if (!(error instanceof ReplyError) || !String(error).includes('NOSCRIPT')) throw error;
        return this.client.callBuffer('EVAL', CAS_SCRIPT, 1, key, ...args);
      }
    });
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
    page: (node: Redis, keys: string[]) => Promise<void>,
  ): Promise<void> {
    const pattern = `${escapeGlob(this.prefix)}*`;
    const seen = new Set<string>();
    for (const node of await this.#masters(operation)) {
      let cursor = '0';
      do {
        const [nextCursor, keys] = await this.#call(operation, () =>
          node.scan(cursor, 'MATCH', pattern, 'COUNT', this.#scanCount),
        );
        cursor = nextCursor;
        // SCAN may return a key twice; report each once.
        const fresh = keys.filter((key) => !seen.has(key));
        for (const key of fresh) seen.add(key);
        if (fresh.length > 0) await page(node, fresh);
      } while (cursor !== '0');
    }
  }

  async #masters(operation: StoreOperation): Promise<Redis[]> {
    const client = this.client;
    if (!(client instanceof Cluster)) return [client];
    if (client.status !== 'ready') {
      // The node list is known once the cluster is ready; a command waits for that.
      await this.#call(operation, () => client.ping());
    }
    const masters = client.nodes('master');
    if (masters.length === 0) {
      throw new StoreUnavailableError(NAME, operation, 'the cluster has no reachable master');
    }
    return masters;
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
function openClient(options: RedisStoreOptions, timeout: number): Redis | Cluster {
  const defaults: RedisOptions = {
    connectTimeout: Math.min(timeout, 5_000),
    commandTimeout: timeout,
    // Commands waiting for a connection are failed after one reconnect attempt.
    maxRetriesPerRequest: 1,
    // Connect on the first command, so a store that is never used opens no socket.
    lazyConnect: true,
    // Keep reconnecting (capped backoff), so the store recovers when Redis is back.
    retryStrategy: (times) => Math.min(50 * 2 ** Math.min(times, 6), 2_000),
  };
  if (options.cluster) {
    const { nodes, options: clusterOptions = {} } = Array.isArray(options.cluster)
      ? { nodes: options.cluster }
      : options.cluster;
    return new Cluster(nodes, {
      clusterRetryStrategy: (times) => Math.min(50 * 2 ** Math.min(times, 6), 2_000),
      lazyConnect: true,
      ...clusterOptions,
      redisOptions: { ...defaults, ...options.redis, ...clusterOptions.redisOptions },
    });
  }
  const merged = { ...defaults, ...options.redis };
  return options.url ? new Redis(options.url, merged) : new Redis(merged);
}

/** GET each key on the node that holds it (one pipeline: no cross-slot MGET in a cluster). */
async function getEach(node: Redis, keys: string[]): Promise<(string | null)[]> {
  const results = await node.pipeline(keys.map((key) => ['get', key])).exec();
  return (results ?? []).map(([error, value]) => {
    if (error) throw error;
    return typeof value === 'string' ? value : null;
  });
}

async function deleteEach(node: Redis, keys: string[]): Promise<void> {
  const results = await node.pipeline(keys.map((key) => ['del', key])).exec();
  for (const [error] of results ?? []) if (error) throw error;
}

/** SCAN MATCH treats * ? [ ] \ as pattern syntax: a prefix must match only itself. */
function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, '\\$&');
}

class TimeoutError extends Error {}

/** Server replies that mean "not now" rather than "wrong". */
const TRANSIENT_REPLY = /^(LOADING|BUSY|CLUSTERDOWN|TRYAGAIN|MASTERDOWN|READONLY)\b/;

function storeError(operation: StoreOperation, cause: unknown, timeout: number): StoreError {
  if (cause instanceof StoreError) return cause;
  const message = cause instanceof Error ? cause.message : String(cause);
  if (cause instanceof TimeoutError || message === 'Command timed out') {
    return new StoreUnavailableError(NAME, operation, `no answer within ${timeout} ms`, { cause });
  }
  if (cause instanceof ReplyError && !TRANSIENT_REPLY.test(message)) {
    return new StoreError(NAME, operation, message, { cause });
  }
  // Connection refused or lost, retries exhausted, the cluster unreachable, a transient reply.
  return new StoreUnavailableError(NAME, operation, message, { cause });
}
