// The contenders: one session middleware (express-session or @sess/express)
// over one store, each store opened on the same backend for both libraries;
// and on Fastify, one session plugin (@fastify/session or @sess/fastify).
// Every store is wrapped so that its operations are counted where they
// happen, at the store.

import { randomBytes } from 'node:crypto';
import fastifySessionIncumbent from '@fastify/session';
import { MemoryStore as CoreMemoryStore, encryptStore } from '@sess/core';
import sessSession from '@sess/express';
import { fastifySession as sessFastifySession } from '@sess/fastify';
import { MongoStore as SessMongoStore } from '@sess/store-mongo';
import { PostgresStore } from '@sess/store-postgres';
import { RedisStore as SessRedisStore } from '@sess/store-redis';
import { SqliteStore as SessSqliteStore } from '@sess/store-sqlite';
import Database from 'better-sqlite3';
import sqliteStoreFactory from 'better-sqlite3-session-store';
import ConnectMongo from 'connect-mongo';
import connectPgSimple from 'connect-pg-simple';
import { RedisStore as ConnectRedisStore } from 'connect-redis';
import expressSession from 'express-session';
import pg from 'pg';
import { createClient } from 'redis';
import { indexIdsOnFerretDB } from './ferretdb.mjs';

export const SECRET = 'benchmark secret, the same for both libraries';
// `redis-node`: the same Redis, with @sess/store-redis on a node-redis client
// (the client connect-redis uses) instead of the ioredis connection it opens
// from a URL; express-session's side is connect-redis on both lines.
export const STORES = ['memory', 'sqlite', 'redis', 'redis-node', 'postgres', 'mongo'];
export const LIBRARIES = ['express-session', 'sess'];
/**
 * Variants of a store with a sess feature on (issues 16 and 17): `<store>+users`
 * opens the sess store with a user index (`users: { user: 'user' }`; every
 * bench session has a `user`), `<store>+encryption` wraps it in core's
 * `encryptStore` (AES-256-GCM, a fresh key per run). express-session's side is
 * the plain incumbent store, so the ratio is what the feature leaves of sess's
 * lead; compare the row with the plain store's (and its cpu µs/req) for the cost.
 * The stress test runs on the plain stores only.
 */
export const VARIANT_STORES = [
  'memory+encryption',
  'redis+encryption',
  'postgres+users',
  'redis+users',
];
const FEATURES = new Set(['users', 'encryption']);

/** `redis+users` → `{ base: 'redis', feature: 'users' }`. */
export function splitStore(store) {
  const [base, feature, ...rest] = String(store).split('+');
  if (rest.length > 0 || (feature !== undefined && !FEATURES.has(feature))) {
    throw new Error(`unknown store variant ${store}`);
  }
  return { base, feature };
}
/**
 * Fastify: @fastify/session (incumbent) and @sess/fastify, on the stores the
 * issue names. @fastify/session takes express-session's stores (its README:
 * "Compatible with stores from express-session"), so its Redis and PostgreSQL
 * stores are connect-redis and connect-pg-simple, as on the Express lines;
 * on memory it has a MemoryStore of its own.
 */
export const FASTIFY_STORES = ['memory', 'redis', 'postgres'];
export const FASTIFY_LIBRARIES = ['@fastify/session', '@sess/fastify'];

/** Which backend each store needs, and the variable that says where it is. */
export const SERVICE_ENV = {
  redis: 'SESS_REDIS_URL',
  'redis-node': 'SESS_REDIS_URL',
  postgres: 'SESS_POSTGRES_URL',
  mongo: 'SESS_MONGO_URL',
};

/** Why a store cannot run here, or null when it can. */
export function unavailable(store) {
  const variable = SERVICE_ENV[splitStore(store).base];
  return variable && !process.env[variable] ? `${variable} is not set` : null;
}

/** The backend address of `store` from the environment (undefined for memory and SQLite). */
export function serviceUrl(store) {
  const variable = SERVICE_ENV[splitStore(store).base];
  return variable ? process.env[variable] : undefined;
}

/**
 * CPU time this process has used so far (user + system, µs). Per request
 * served, it is the cost of a contender that a busy shared machine does not
 * distort the way req/s is (the store's own server is not in it).
 */
export function cpuMicros() {
  const { user, system } = process.cpuUsage();
  return user + system;
}

/** The operations a store performed, by kind. */
export function newCounters() {
  return { get: 0, set: 0, touch: 0, destroy: 0, compareAndSet: 0 };
}

const COUNTED = new Set(['get', 'set', 'touch', 'destroy', 'compareAndSet']);

/**
 * Count calls of the store's session methods. A Proxy keeps everything else
 * (EventEmitter methods, `instanceof Store`, capability checks) as it was.
 * `pending` tracks calls not yet answered (a promise or a callback), so a
 * server can let them finish before closing the store.
 */
export function counted(store, counters) {
  const pending = { count: 0 };
  const proxy = new Proxy(store, {
    get(target, key, receiver) {
      const value = Reflect.get(target, key, receiver);
      if (typeof value !== 'function' || !COUNTED.has(key)) return value;
      return function countedCall(...args) {
        counters[key] += 1;
        pending.count += 1;
        let settled = false;
        const settle = () => {
          if (!settled) pending.count -= 1;
          settled = true;
        };
        const last = args.length - 1;
        if (typeof args[last] === 'function') {
          const callback = args[last];
          args[last] = (...results) => {
            settle();
            return callback(...results);
          };
        }
        try {
          const result = value.apply(target, args);
          if (result && typeof result.then === 'function') result.then(settle, settle);
          return result;
        } catch (error) {
          settle();
          throw error;
        }
      };
    },
  });
  return { store: proxy, pending };
}

/**
 * Open `store` for `library` on the backend at `url`. `namespace` keeps runs
 * apart on a shared backend (a key prefix, a table, a collection). Resolves
 * the store and a function that closes everything it opened.
 */
export async function openStore(library, store, namespace, url = serviceUrl(store)) {
  const { base, feature } = splitStore(store);
  if (library !== 'sess') return openPlainStore(library, base, namespace, url, {});
  const opened = await openPlainStore(
    library,
    base,
    namespace,
    url,
    feature === 'users' ? { users: { user: 'user' } } : {},
  );
  if (feature !== 'encryption') return opened;
  return {
    store: encryptStore(opened.store, { keys: [{ id: 'bench', key: randomBytes(32) }] }),
    close: opened.close,
  };
}

/**
 * Delete every key of a run's namespace on the Redis at `url` (the sessions
 * under `<ns>:` and a user index under `users:<ns>:`): the Redis server is
 * shared with the test suites, whose listings and scans slow down under the
 * hundreds of thousands of keys a few bench runs would otherwise leave for a
 * day. A connection of its own, SCAN with a large COUNT and one UNLINK per
 * page (the key is freed off Redis's main thread). Not the stores' `clear()`:
 * connect-redis 9's collects every key and sends them in one DEL, which with
 * 150,000 keys throws `RangeError: Maximum call stack size exceeded` in
 * node-redis's argument parser (the keys are spread into one call), so a full
 * run's keys were never deleted; sess's scans 100 keys a step. Resolves the
 * number of keys deleted.
 */
export async function deleteNamespace(url, ns) {
  const client = createClient({ url });
  client.on('error', () => undefined);
  await client.connect();
  let deleted = 0;
  try {
    for (const pattern of [`${ns}:*`, `users:${ns}:*`]) {
      for await (const keys of client.scanIterator({ MATCH: pattern, COUNT: 1000 })) {
        if (keys.length > 0) deleted += await client.unlink(keys);
      }
    }
  } finally {
    await client.quit().catch(() => undefined);
  }
  return deleted;
}

/** Close what a Redis contender opened, then delete its namespace (a failure is reported, not thrown). */
async function closeThenDelete(url, ns, close) {
  await close().catch(() => undefined);
  await deleteNamespace(url, ns).catch((error) => {
    console.error(
      `bench: could not delete the keys of ${ns} on ${url}: ${error?.message ?? error}`,
    );
  });
}

/** A store of `library` without variants; `more` goes into a sess store's options. */
async function openPlainStore(library, store, namespace, url, more) {
  const ns = namespace.replace(/[^A-Za-z0-9_]/g, '_');
  if (library === 'sess') {
    switch (store) {
      case 'memory': {
        const s = new CoreMemoryStore(more);
        return { store: s, close: () => s.close() };
      }
      case 'sqlite': {
        const s = new SessSqliteStore({ filename: ':memory:', table: `s_${ns}`, ...more });
        return { store: s, close: () => s.close() };
      }
      case 'redis': {
        // The store's connection batches its writes (one socket write per
        // event-loop turn); SESS_BENCH_REDIS_AUTOPIPELINING=1 measures ioredis's
        // auto-pipelining doing it instead.
        const redis =
          process.env.SESS_BENCH_REDIS_AUTOPIPELINING === '1'
            ? { enableAutoPipelining: true }
            : undefined;
        const s = new SessRedisStore({ url: url, prefix: `${ns}:sess:`, redis, ...more });
        return { store: s, close: () => closeThenDelete(url, ns, () => s.close()) };
      }
      case 'redis-node': {
        const client = createClient({ url: url });
        client.on('error', () => undefined);
        await client.connect();
        const s = new SessRedisStore({ client, prefix: `${ns}:sess:`, ...more });
        return {
          store: s,
          close: () =>
            closeThenDelete(url, ns, async () => {
              await s.close();
              await client.quit();
            }),
        };
      }
      case 'postgres': {
        const s = new PostgresStore({
          connectionString: url,
          tableName: `sess_${ns}`,
          createTableIfMissing: true,
          poolOptions: { max: 10 },
          ...more,
        });
        return {
          store: s,
          close: async () => {
            await s.pool.query(`DROP TABLE IF EXISTS ${s.table}`).catch(() => undefined);
            await s.close();
          },
        };
      }
      case 'mongo': {
        const collectionName = `sess_${ns}`;
        // The store's sessions and its FerretDB lock documents (`<collection>_locks`).
        await indexIdsOnFerretDB(url, 'sess_bench', [collectionName, `${collectionName}_locks`]);
        const s = new SessMongoStore({
          mongoUrl: url,
          dbName: 'sess_bench',
          collectionName,
          ...more,
        });
        return {
          store: s,
          close: async () => {
            for (const name of [collectionName, `${collectionName}_locks`]) {
              await Promise.resolve()
                .then(() => s.db.dropCollection(name))
                .catch(() => undefined);
            }
            await s.close();
          },
        };
      }
    }
  } else {
    switch (store) {
      case 'memory': {
        const s = new expressSession.MemoryStore();
        return { store: s, close: async () => undefined };
      }
      case 'sqlite': {
        const SqliteStore = sqliteStoreFactory(expressSession);
        const db = new Database(':memory:');
        const s = new SqliteStore({ client: db, expired: { clear: true, intervalMs: 900_000 } });
        return {
          store: s,
          close: async () => {
            // better-sqlite3-session-store keeps an interval with no way to stop it.
            db.close();
          },
        };
      }
      case 'redis':
      case 'redis-node': {
        const client = createClient({ url: url });
        client.on('error', () => undefined);
        await client.connect();
        const s = new ConnectRedisStore({ client, prefix: `${ns}:es:` });
        return {
          store: s,
          close: () => closeThenDelete(url, ns, () => client.quit()),
        };
      }
      case 'postgres': {
        const pool = new pg.Pool({ connectionString: url, max: 10 });
        const PgStore = connectPgSimple(expressSession);
        const tableName = `es_${ns}`;
        // The table as connect-pg-simple's table.sql makes it, but with the primary key
        // named after the table: its createTableIfMissing names every table's key
        // "session_pkey", so two servers starting at once (the servers and stress tests
        // run in parallel) failed with 'relation "session_pkey" already exists'.
        const table = pg.escapeIdentifier(tableName);
        await pool.query(
          `CREATE TABLE IF NOT EXISTS ${table} (sid varchar NOT NULL COLLATE "default", sess json NOT NULL, expire timestamp(6) NOT NULL, CONSTRAINT ${pg.escapeIdentifier(`${tableName.slice(0, 55)}_pkey`)} PRIMARY KEY (sid));
           CREATE INDEX IF NOT EXISTS ${pg.escapeIdentifier(`${tableName.slice(0, 50)}_expire`)} ON ${table} (expire)`,
        );
        const s = new PgStore({ pool, tableName });
        return {
          store: s,
          close: async () => {
            s.close();
            await pool.query(`DROP TABLE IF EXISTS "${tableName}"`).catch(() => undefined);
            await pool.end();
          },
        };
      }
      case 'mongo': {
        // FerretDB has no TTL indexes; connect-mongo's 'native' removal needs one.
        await indexIdsOnFerretDB(url, 'sess_bench', [`es_${ns}`]);
        const s = ConnectMongo.create({
          mongoUrl: url,
          dbName: 'sess_bench',
          collectionName: `es_${ns}`,
          autoRemove: 'disabled',
        });
        return {
          store: s,
          close: async () => {
            const client = await s.clientP;
            await client
              .db('sess_bench')
              .dropCollection(`es_${ns}`)
              .catch(() => undefined);
            await s.close();
          },
        };
      }
    }
  }
  throw new Error(`unknown contender ${library}/${store}`);
}

/** The session middleware of `library`, with the same options on both sides. */
export function middleware(library, store, overrides = {}) {
  const options = {
    secret: SECRET,
    store,
    resave: false,
    saveUninitialized: false,
    cookie: { maxAge: 3_600_000 },
    ...overrides,
  };
  return library === 'sess' ? sessSession(options) : expressSession(options);
}

/**
 * Open `store` for the Fastify plugin `library` ('@fastify/session' or
 * '@sess/fastify'): @sess/fastify gets the same sess stores as @sess/express;
 * @fastify/session its own MemoryStore, and express-session's stores elsewhere.
 */
export async function openFastifyStore(library, store, namespace, url = serviceUrl(store)) {
  if (library === '@fastify/session' && store === 'memory') {
    const s = new fastifySessionIncumbent.MemoryStore();
    return { store: s, close: async () => undefined };
  }
  return openStore(library === '@sess/fastify' ? 'sess' : 'express-session', store, namespace, url);
}

/**
 * The Fastify session plugin of `library` and its options, the same on both
 * sides and the same as the Express lines': no store write for an unmodified
 * session (`rolling: false`; both plugins default to true, which writes or
 * touches on every request), none for an empty new one (`saveUninitialized:
 * false`), `cookie.maxAge` one hour, `secure: false` (the bench speaks HTTP;
 * @fastify/session's default `secure: true` would store nothing over it).
 */
export function fastifyPlugin(library, store, overrides = {}) {
  const options = {
    secret: SECRET,
    store,
    rolling: false,
    saveUninitialized: false,
    cookie: { secure: false, maxAge: 3_600_000 },
    ...overrides,
  };
  const plugin = library === '@sess/fastify' ? sessFastifySession : fastifySessionIncumbent;
  return { plugin, options };
}
