import { SessConfigError, StoreClosedError, StoreError, StoreUnavailableError } from '@sess/core';
import { MongoClient, MongoServerSelectionError } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MongoStore, type SessionDocument } from '../src/index.js';
import {
  DOWN_URL,
  inAnHour,
  mongoUrl,
  record,
  skipReason,
  TEST_DB,
  uniqueName,
} from './helpers.js';

const minutesAgo = (n: number) => new Date(Date.now() - n * 60_000);

describe.skipIf(skipReason)(`MongoStore against ${mongoUrl || '(no server)'}`, () => {
  let client: MongoClient;
  let ferretdb = false;
  const opened: MongoStore[] = [];

  /** A store on the shared client, in a collection of its own. */
  const storeWith = (options: Partial<ConstructorParameters<typeof MongoStore>[0]> = {}) => {
    const store = new MongoStore({
      client,
      dbName: TEST_DB,
      collectionName: uniqueName('t'),
      ...options,
    });
    opened.push(store);
    return store;
  };
  const raw = (store: MongoStore) => store.collection;

  beforeAll(async () => {
    client = new MongoClient(mongoUrl, { serverSelectionTimeoutMS: 5_000 });
    const info = await client.db('admin').command({ buildInfo: 1 });
    ferretdb = typeof info.ferretdbVersion === 'string';
  });

  afterAll(async () => {
    for (const store of opened) {
      await store.collection.drop().catch(() => undefined);
      await store.close(); // stops an interval pruner before the shared client closes
    }
    await client
      .db(TEST_DB)
      .dropDatabase()
      .catch(() => undefined);
    await client.close();
  });

  describe('document layout (connect-mongo compatible)', () => {
    it('stringify (default): { _id: sid, session: JSON text, expires: Date }', async () => {
      const store = storeWith();
      const expires = inAnHour();
      const written = record({ user: 'ada', when: new Date('2024-01-02T03:04:05.000Z') }, expires);
      await store.set('abc', written);
      const doc = await raw(store).findOne({ _id: 'abc' });
      expect(doc).not.toBeNull();
      expect(Object.keys(doc ?? {}).sort()).toEqual(['_id', 'expires', 'session']);
      expect(typeof doc?.session).toBe('string');
      expect(JSON.parse(doc?.session as string)).toEqual(JSON.parse(JSON.stringify(written)));
      expect(doc?.expires).toBeInstanceOf(Date);
      expect(doc?.expires.toISOString()).toBe(expires);
    });

    it('stringify: false stores a sub-document, JSON-shaped (Dates as ISO strings)', async () => {
      const store = storeWith({ stringify: false });
      const written = record({ user: 'ada', nested: { list: [1, { a: 'b' }] } });
      await store.set('sub', written);
      const doc = await raw(store).findOne({ _id: 'sub' });
      expect(typeof doc?.session).toBe('object');
      expect(doc?.session).toEqual(JSON.parse(JSON.stringify(written)));
      expect(await store.get('sub')).toEqual(JSON.parse(JSON.stringify(written)));
    });

    it('stringify: false falls back to text for keys MongoDB cannot hold, and reads them back', async () => {
      const store = storeWith({ stringify: false });
      const written = record({ 'a.b': 1, deep: { $x: 2 } });
      await store.set('odd-keys', written);
      const doc = await raw(store).findOne({ _id: 'odd-keys' });
      expect(typeof doc?.session).toBe('string');
      expect(await store.get('odd-keys')).toEqual(written);
    });

    it('reads both forms whatever its own stringify setting', async () => {
      const text = storeWith({ stringify: true });
      const name = text.collection.collectionName;
      const sub = storeWith({ stringify: false, collectionName: name });
      await text.set('as-text', record({ v: 'text' }));
      await sub.set('as-sub', record({ v: 'sub' }));
      for (const store of [text, sub]) {
        expect((await store.get('as-text'))?.v).toBe('text');
        expect((await store.get('as-sub'))?.v).toBe('sub');
        expect(Object.keys(await store.all()).sort()).toEqual(['as-sub', 'as-text']);
      }
    });

    it('a record without cookie.expires lives for the ttl option (ms)', async () => {
      const store = storeWith({ ttl: '90s' });
      const before = Date.now();
      await store.set('browser', record({}, null));
      const doc = await raw(store).findOne({ _id: 'browser' });
      const ms = (doc?.expires.getTime() ?? 0) - before;
      expect(ms).toBeGreaterThanOrEqual(89_000);
      expect(ms).toBeLessThanOrEqual(91_000);
    });
  });

  describe('index and expiry', () => {
    it('creates the index on expires before the first operation, idempotently', async () => {
      const store = storeWith();
      await store.ready();
      const name = store.collection.collectionName;
      const again = storeWith({ collectionName: name });
      await again.ready(); // a second store on the same collection: no conflict
      const indexes = await store.collection.indexes();
      const expires = indexes.find((index) => index.name === 'expires_1');
      expect(expires?.key).toEqual({ expires: 1 });
      // MongoDB gets a TTL index; FerretDB v1 has none, so the store prunes on a timer instead.
      if (ferretdb) expect(expires?.expireAfterSeconds).toBeUndefined();
      else expect(expires?.expireAfterSeconds).toBe(0);
    });

    it('keeps an existing index on expires with other options (no error)', async () => {
      const store = storeWith();
      await store.collection
        .createIndex({ expires: 1 }, { name: 'expires_1' })
        .catch(() => undefined);
      const twin = storeWith({
        collectionName: store.collection.collectionName,
        autoRemove: 'native',
      });
      await twin.set('ok', record({ v: 1 }));
      expect((await twin.get('ok'))?.v).toBe(1);
    });

    it('autoRemove: disabled creates no index', async () => {
      const store = storeWith({ autoRemove: 'disabled' });
      await store.set('x', record());
      const names = (await store.collection.indexes()).map((index) => index.name);
      expect(names).toEqual(['_id_']);
    });

    it('hides expired documents the server has not removed from get, listings, touch and compareAndSet', async () => {
      const store = storeWith();
      await store.ready();
      // Written straight to the collection, as if the TTL monitor had not run yet (FerretDB never runs one).
      const expiredRecord = record({ v: 'old' }, minutesAgo(5).toISOString());
      await raw(store).insertMany([
        { _id: 'expired', session: JSON.stringify(expiredRecord), expires: minutesAgo(5) },
        {
          _id: 'live',
          session: JSON.stringify(record({ v: 'live' })),
          expires: new Date(Date.now() + 60_000),
        },
      ]);
      expect(await store.get('expired')).toBeNull();
      expect(await store.ids()).toEqual(['live']);
      expect(Object.keys(await store.all())).toEqual(['live']);
      expect(await store.length()).toBe(1);
      await store.touch('expired', record({ v: 'old' }));
      expect(await store.get('expired')).toBeNull();
      expect(await raw(store).findOne({ _id: 'expired' })).not.toBeNull(); // still there, still hidden
      // An expired document counts as absent: a new session may take the id.
      expect(await store.compareAndSet('expired', null, record({ v: 'new' }))).toBe(true);
      expect((await store.get('expired'))?.v).toBe('new');
    });

    it('prune deletes expired documents only', async () => {
      const store = storeWith({ autoRemove: 'interval' });
      await store.set('live', record());
      await raw(store).insertOne({ _id: 'old', session: '{"cookie":{}}', expires: minutesAgo(1) });
      expect(await store.prune()).toBe(1);
      expect(await raw(store).countDocuments()).toBe(1);
      expect(await store.get('live')).not.toBeNull();
    });

    it('prunes on its interval when it cannot use a TTL index', async () => {
      const store = storeWith({ autoRemove: 'interval', pruneInterval: '100ms' });
      await store.set('soon', record({}, new Date(Date.now() + 50).toISOString()));
      await new Promise((resolve) => setTimeout(resolve, 600));
      expect(await raw(store).countDocuments()).toBe(0);
    });

    it('does not write a session already expired at set time', async () => {
      const store = storeWith();
      await store.set('gone', record({}, minutesAgo(1).toISOString()));
      expect(await raw(store).countDocuments()).toBe(0);
    });
  });

  describe('corrupt documents', () => {
    it('read as missing sessions, never throw, and leave the others', async () => {
      const store = storeWith();
      await store.set('good', record({ v: 1 }));
      const expires = new Date(Date.now() + 60_000);
      const bad = [
        { _id: 'not-json', session: '{"cookie":', expires },
        { _id: 'no-cookie', session: '{"v":2}', expires },
        { _id: 'number', session: 42, expires },
        { _id: 'no-session', expires },
        { _id: 'array', session: [1, 2], expires },
      ];
      await raw(store).insertMany(bad as unknown as SessionDocument[]);
      for (const { _id } of bad) expect(await store.get(_id)).toBeNull();
      expect(Object.keys(await store.all())).toEqual(['good']);
      // compareAndSet treats a corrupt document as absent, as get does: it can be replaced.
      expect(await store.compareAndSet('not-json', null, record({ v: 3 }))).toBe(true);
      expect((await store.get('not-json'))?.v).toBe(3);
    });

    it('an oversized record is a typed StoreError, not a crash', async () => {
      const store = storeWith();
      const error = await store
        .set('huge-id-secret', record({ blob: 'x'.repeat(17 * 1024 * 1024) }))
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(StoreError);
      expect((error as Error).message).not.toContain('huge-id-secret');
      expect((error as Error).cause).toBeDefined();
      expect(await store.get('huge-id-secret')).toBeNull();
    });
  });

  describe('touch and touchAfter', () => {
    it('touch moves only expires', async () => {
      const store = storeWith();
      await store.set('t', record({ v: 'stored' }));
      const later = new Date(Date.now() + 7_200_000);
      await store.touch('t', record({ v: 'ignored' }, later.toISOString()));
      const doc = await raw(store).findOne({ _id: 't' });
      expect(doc?.expires.getTime()).toBe(later.getTime());
      expect(JSON.parse(doc?.session as string).v).toBe('stored');
    });

    it('touchAfter skips a touch soon after the last write, and applies one later', async () => {
      const store = storeWith({ touchAfter: '1m' });
      await store.set('lazy', record({ v: 1 }));
      const first = await raw(store).findOne({ _id: 'lazy' });
      expect(first?.lastModified).toBeInstanceOf(Date);
      const later = new Date(Date.now() + 7_200_000);
      await store.touch('lazy', record({ v: 1 }, later.toISOString()));
      const skipped = await raw(store).findOne({ _id: 'lazy' });
      expect(skipped?.expires.getTime()).toBe(first?.expires.getTime()); // too soon: unchanged

      await raw(store).updateOne({ _id: 'lazy' }, { $set: { lastModified: minutesAgo(2) } });
      await store.touch('lazy', record({ v: 1 }, later.toISOString()));
      const touched = await raw(store).findOne({ _id: 'lazy' });
      expect(touched?.expires.getTime()).toBe(later.getTime());
      expect(touched?.lastModified?.getTime()).toBeGreaterThan(Date.now() - 10_000);
      expect((await store.get('lazy'))?.lastModified).toBeUndefined(); // never leaks into the data
    });

    it('touchAfter still touches a document that has no lastModified (written by another store)', async () => {
      const plain = storeWith();
      await plain.set('old', record({ v: 1 }));
      const lazy = storeWith({
        touchAfter: '1m',
        collectionName: plain.collection.collectionName,
      });
      const later = new Date(Date.now() + 7_200_000);
      await lazy.touch('old', record({ v: 1 }, later.toISOString()));
      expect((await raw(plain).findOne({ _id: 'old' }))?.expires.getTime()).toBe(later.getTime());
    });
  });

  describe('FerretDB v1 lock path (its updates are not isolated)', () => {
    it("a held lock makes compareAndSet report a change and skips a touch; a crashed holder's lock is taken over", async (context) => {
      if (!ferretdb) context.skip(); // MongoDB uses filtered updates, no locks
      const store = storeWith();
      const locks = client
        .db(TEST_DB)
        .collection<{ _id: string; at: Date; token: string }>(
          `${store.collection.collectionName}_locks`,
        );
      await store.set('held', record({ v: 1 }, new Date(Date.now() + 60_000).toISOString()));
      const current = await store.get('held');
      expect(current).not.toBeNull();
      const before = (await raw(store).findOne({ _id: 'held' }))?.expires.getTime();

      await locks.insertOne({ _id: 'held', at: new Date(), token: 'someone-else' });
      expect(await store.compareAndSet('held', current, record({ v: 2 }))).toBe(false);
      await store.touch('held', record({ v: 1 }));
      expect((await raw(store).findOne({ _id: 'held' }))?.expires.getTime()).toBe(before);

      await locks.updateOne({ _id: 'held' }, { $set: { at: minutesAgo(1) } }); // its holder died
      expect(await store.compareAndSet('held', current, record({ v: 2 }))).toBe(true);
      expect((await store.get('held'))?.v).toBe(2);
      expect(await locks.countDocuments()).toBe(0); // released after the write
      await locks.drop();
    });
  });

  describe('commands per operation (what the server is asked)', () => {
    /**
     * The commands a store sends, as `name collection`, through a client of its own
     * that reports them. On FerretDB v1 every find, update and delete reads the whole
     * collection (its `_id` filter becomes a `@>` test its btree index cannot serve), an
     * insert does not: the per-request writes must not read more than they need to.
     */
    const monitored = async () => {
      const own = new MongoClient(mongoUrl, { monitorCommands: true });
      const sent: string[] = [];
      own.on('commandStarted', (event) => {
        const target = event.command[event.commandName];
        if (typeof target === 'string') sent.push(`${event.commandName} ${target}`);
      });
      const store = new MongoStore({
        client: own,
        dbName: TEST_DB,
        collectionName: uniqueName('cmd'),
      });
      await store.ready();
      const name = store.collection.collectionName;
      const take = () => {
        const out = sent.map((line) =>
          line.replace(`${name}_locks`, 'locks').replace(name, 'sessions'),
        );
        sent.length = 0;
        return out;
      };
      take();
      return {
        store,
        take,
        close: async () => {
          await store.collection.drop().catch(() => undefined);
          await own
            .db(TEST_DB)
            .collection(`${name}_locks`)
            .drop()
            .catch(() => undefined);
          await store.close();
          await own.close();
        },
      };
    };

    it('new session, read, changed session, new session by compareAndSet', async () => {
      const { store, take, close } = await monitored();
      try {
        await store.set('fresh', record({ n: 1 }));
        expect(take()).toEqual(ferretdb ? ['insert sessions'] : ['update sessions']);

        const current = await store.get('fresh');
        expect(current?.n).toBe(1);
        expect(take()).toEqual(['find sessions']);

        expect(await store.compareAndSet('fresh', current, record({ n: 2 }))).toBe(true);
        expect(take()).toEqual(
          ferretdb ? ['insert locks', 'update sessions', 'delete locks'] : ['update sessions'],
        );
        expect((await store.get('fresh'))?.n).toBe(2);
        take();

        expect(await store.compareAndSet('other', null, record({ n: 1 }))).toBe(true);
        expect(take()).toEqual(ferretdb ? ['insert sessions'] : ['update sessions']);
        expect((await store.get('other'))?.n).toBe(1);
      } finally {
        await close();
      }
    });

    it('on an id already stored, the insert gives way: set overwrites, compareAndSet from null compares', async () => {
      const { store, take, close } = await monitored();
      try {
        await store.set('taken', record({ n: 1 }));
        take();
        await store.set('taken', record({ n: 2 }));
        expect(take()).toEqual(
          ferretdb ? ['insert sessions', 'update sessions'] : ['update sessions'],
        );
        expect((await store.get('taken'))?.n).toBe(2);

        // A live session is not absent; an expired one is, and is replaced.
        expect(await store.compareAndSet('taken', null, record({ n: 3 }))).toBe(false);
        expect((await store.get('taken'))?.n).toBe(2);
        await store.collection.updateOne({ _id: 'taken' }, { $set: { expires: minutesAgo(1) } });
        expect(await store.compareAndSet('taken', null, record({ n: 4 }))).toBe(true);
        expect((await store.get('taken'))?.n).toBe(4);

        // A compareAndSet whose expected record is stored in another form (here a
        // sub-document) still succeeds, through the read-and-compare path.
        const current = await store.get('taken');
        await store.collection.updateOne(
          { _id: 'taken' },
          { $set: { session: JSON.parse(JSON.stringify(current)) } },
        );
        take();
        expect(await store.compareAndSet('taken', current, record({ n: 5 }))).toBe(true);
        expect(take()).toEqual(
          ferretdb
            ? [
                'insert locks',
                'update sessions',
                'find sessions',
                'update sessions',
                'delete locks',
              ]
            : ['update sessions', 'find sessions', 'update sessions'],
        );
        expect((await store.get('taken'))?.n).toBe(5);
        // And a stale expected record is refused.
        expect(await store.compareAndSet('taken', current, record({ n: 6 }))).toBe(false);
        expect((await store.get('taken'))?.n).toBe(5);
      } finally {
        await close();
      }
    });
  });

  describe('close', () => {
    it('leaves a client it was given open and usable', async () => {
      const store = storeWith();
      await store.set('a', record());
      await store.close();
      await store.close();
      await expect(store.get('a')).rejects.toBeInstanceOf(StoreClosedError);
      expect(
        await client.db(TEST_DB).collection(store.collection.collectionName).countDocuments(),
      ).toBe(1);
    });

    it('closes a client it created; then every operation rejects with StoreClosedError', async () => {
      const store = new MongoStore({
        mongoUrl,
        dbName: TEST_DB,
        collectionName: uniqueName('own'),
      });
      opened.push(store);
      await store.set('a', record());
      await Promise.all([store.close(), store.close()]);
      const ops = [
        store.get('a'),
        store.set('a', record()),
        store.touch('a', record()),
        store.destroy('a'),
        store.ids(),
        store.all(),
        store.length(),
        store.clear(),
        store.compareAndSet('a', null, record()),
      ];
      for (const result of await Promise.allSettled(ops)) {
        expect(result.status).toBe('rejected');
        expect((result as PromiseRejectedResult).reason).toBeInstanceOf(StoreClosedError);
      }
      // The driver refuses a closed client too: it really was closed.
      await expect(store.client.db('admin').command({ ping: 1 })).rejects.toThrow();
    });

    it('close before any operation resolves without connecting', async () => {
      const store = new MongoStore({ mongoUrl: DOWN_URL });
      const started = Date.now();
      await store.close();
      expect(Date.now() - started).toBeLessThan(500);
    });
  });
});

describe('MongoStore configuration and a down server (no server needed)', () => {
  it('needs a client or a connection string', () => {
    expect(() => new MongoStore({})).toThrow(SessConfigError);
    expect(() => new MongoStore({ mongoUrl: 'http://not-mongo' })).toThrow(SessConfigError);
  });

  it('fails within its default 3 s bound with a StoreUnavailableError carrying the cause', async () => {
    const store = new MongoStore({ mongoUrl: DOWN_URL });
    const started = Date.now();
    const error = await store.get('x').catch((e: unknown) => e);
    const took = Date.now() - started;
    expect(error).toBeInstanceOf(StoreUnavailableError);
    expect((error as StoreUnavailableError).code).toBe('SESS_STORE_UNAVAILABLE');
    expect((error as StoreUnavailableError).operation).toBe('get');
    expect((error as Error).cause).toBeInstanceOf(MongoServerSelectionError);
    expect(took).toBeGreaterThanOrEqual(2_500);
    expect(took).toBeLessThan(4_500);
    await store.close();
  });

  it('the bound is configurable through mongoOptions', async () => {
    const store = new MongoStore({
      mongoUrl: DOWN_URL,
      mongoOptions: { serverSelectionTimeoutMS: 300 },
    });
    const started = Date.now();
    await expect(store.compareAndSet('x', null, record())).rejects.toBeInstanceOf(
      StoreUnavailableError,
    );
    expect(Date.now() - started).toBeLessThan(1_500);
    // The next operation tries again (no poisoned state), and fails just as fast.
    await expect(store.set('x', record())).rejects.toBeInstanceOf(StoreUnavailableError);
    await store.close();
  });
});
