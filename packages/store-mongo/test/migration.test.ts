// Migrating from connect-mongo 6 (its current release): its README's configurations, ported
// verbatim, either behave as they did there (same lifetimes, data readable both ways) or fail at
// startup naming the change.
import type { AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import { SessConfigError } from '@sess/core';
import { session as sessSession } from '@sess/express';
import ConnectMongo from 'connect-mongo';
import express from 'express';
import session from 'express-session';
import { MongoClient } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_MONGO_TTL_MS, MongoStore } from '../src/index.js';
import { mongoUrl, skipReason, TEST_DB, uniqueName } from './helpers.js';

const FOURTEEN_DAYS = 14 * 24 * 60 * 60 * 1000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const browserSession = (data: Record<string, unknown> = {}) => ({
  cookie: { originalMaxAge: null, expires: null, httpOnly: true, path: '/' },
  ...data,
});

describe('connect-mongo options that would change behaviour fail at startup', () => {
  const url = 'mongodb://127.0.0.1:1/test-app';

  it('ttl and touchAfter in seconds are refused, naming milliseconds and units', () => {
    // README: ttl: 14 * 24 * 60 * 60 // = 14 days. Default
    expect(() => new MongoStore({ mongoUrl: url, ttl: 14 * 24 * 60 * 60 })).toThrow(
      "mongo store: ttl: 1209600 looks like seconds (connect-mongo counts seconds); sess counts milliseconds: use 1209600000 or '14d'",
    );
    // README: touchAfter: 24 * 3600 // time period in seconds
    expect(() => new MongoStore({ mongoUrl: url, touchAfter: 24 * 3600 })).toThrow(
      /touchAfter: 86400 looks like seconds .* use 86400000 or '1d'/,
    );
  });

  it('autoRemoveInterval (minutes) is refused, naming pruneInterval', () => {
    // README: autoRemove: 'interval', autoRemoveInterval: 10 // In minutes. Default
    expect(
      () =>
        new MongoStore({
          mongoUrl: url,
          autoRemove: 'interval',
          autoRemoveInterval: 10,
        } as never),
    ).toThrow(/autoRemoveInterval: 10 is pruneInterval: '10m'/);
  });

  it('encryption (naming readConnectMongoEncrypted), transformId and custom serializers are refused', () => {
    const cases: Record<string, unknown>[] = [
      { crypto: { secret: 'squirrel' } },
      { cryptoAdapter: { encrypt: async (s: string) => s, decrypt: async (s: string) => s } },
      { transformId: (sid: string) => `x${sid}` },
      { serialize: (s: unknown) => s, unserialize: (s: unknown) => s },
    ];
    for (const extra of cases) {
      expect(() => new MongoStore({ mongoUrl: url, ...extra } as never)).toThrow(SessConfigError);
    }
    expect(() => new MongoStore({ mongoUrl: url, crypto: { secret: 'x' } } as never)).toThrow(
      /readConnectMongoEncrypted\(new MongoStore\(\{ \.\.\. \}\), \{ kruptein: \{ secret \}/,
    );
    // connect-mongo's "off" value is accepted
    void new MongoStore({ mongoUrl: url, crypto: { secret: false } }).close();
  });

  it('writeOperationOptions names the client-level write concern; unknown options are refused', () => {
    expect(
      () => new MongoStore({ mongoUrl: url, writeOperationOptions: { w: 1 } } as never),
    ).toThrow(/writeConcern/);
    expect(() => new MongoStore({ mongoUrl: url, colectionName: 'x' } as never)).toThrow(
      /unknown option `colectionName`/,
    );
  });

  it('one connection source at a time', () => {
    const client = new MongoClient(url);
    expect(() => new MongoStore({ mongoUrl: url, client })).toThrow(/not mongoUrl and client/);
    expect(() => new MongoStore({ client: {} as MongoClient })).toThrow(/must be a MongoClient/);
  });

  it('the default ttl is connect-mongo’s, 14 days', () => {
    expect(DEFAULT_MONGO_TTL_MS).toBe(FOURTEEN_DAYS);
  });
});

describe.skipIf(skipReason)('migrating from connect-mongo 6', () => {
  let client: MongoClient;
  beforeAll(() => {
    client = new MongoClient(mongoUrl, { serverSelectionTimeoutMS: 5_000 });
  });
  afterAll(async () => {
    await client.close();
  });

  /** connect-mongo on the same collection; without its TTL index, which FerretDB v1 refuses. */
  const incumbent = (options: Record<string, unknown>) => {
    const store = ConnectMongo.create({
      client,
      dbName: TEST_DB,
      autoRemove: 'disabled',
      ...options,
    });
    return {
      get: promisify(store.get.bind(store)) as (sid: string) => Promise<unknown>,
      set: promisify(store.set.bind(store)) as (
        sid: string,
        s: session.SessionData,
      ) => Promise<void>,
      touch: promisify(store.touch.bind(store)) as (
        sid: string,
        s: session.SessionData,
      ) => Promise<void>,
    };
  };

  it("the README's clientPromise configuration, ported verbatim: same lifetimes, both ways", async () => {
    const collectionName = uniqueName('migr_cp');
    const clientPromise = new MongoClient(mongoUrl).connect();
    // README: MongoStore.create({ clientPromise, dbName: 'test-app' })
    const store = new MongoStore({ clientPromise, dbName: TEST_DB, collectionName });
    const theirs = incumbent({ collectionName });
    try {
      await store.ready();
      expect(store.client).toBe(await clientPromise);
      await store.set('ours', browserSession({ user: 'ada' }));
      await theirs.set('theirs', browserSession({ user: 'bob' }) as never);
      expect(await theirs.get('ours')).toMatchObject({ user: 'ada' });
      expect((await store.get('theirs'))?.user).toBe('bob');
      // A browser-session cookie lives 14 days with both.
      const docs = await store.collection.find({}).toArray();
      const at = Object.fromEntries(docs.map((d) => [d._id, d.expires.getTime()]));
      expect(Math.abs((at['ours'] ?? 0) - (at['theirs'] ?? 0))).toBeLessThan(2_000);
      expect(Math.abs((at['ours'] ?? 0) - (Date.now() + FOURTEEN_DAYS))).toBeLessThan(2_000);
    } finally {
      await store.close();
      const given = await clientPromise;
      // the store never closes a client it was given
      await expect(given.db('admin').command({ ping: 1 })).resolves.toBeDefined();
      await given.close();
    }
  });

  it("the README's basic mongoUrl configuration, ported verbatim, works with the default ttl", async () => {
    const collectionName = uniqueName('migr_url');
    const store = new MongoStore({ mongoUrl, dbName: TEST_DB, collectionName });
    try {
      await store.set('a', browserSession({ n: 1 }));
      expect((await store.get('a'))?.n).toBe(1);
      const doc = await store.collection.findOne({ _id: 'a' });
      expect(Math.abs((doc?.expires.getTime() ?? 0) - (Date.now() + FOURTEEN_DAYS))).toBeLessThan(
        2_000,
      );
    } finally {
      await store.close();
    }
  });

  it('a clientPromise that rejects fails the operations, typed, and never goes unhandled', async () => {
    const store = new MongoStore({
      clientPromise: Promise.reject(new Error('no connection')),
      collectionName: uniqueName('migr_rej'),
    });
    await expect(store.get('x')).rejects.toMatchObject({ name: 'StoreError' });
    expect(() => store.collection).toThrow(/await store.ready\(\)/);
    await store.close();
  });

  it('timestamps: createdAt on insert, updatedAt moves on our writes and touches, as connect-mongo', async () => {
    const collectionName = uniqueName('migr_ts');
    const store = new MongoStore({ client, dbName: TEST_DB, collectionName, timestamps: true });
    const theirs = incumbent({ collectionName, timestamps: true });
    try {
      await theirs.set('s', browserSession({ v: 1 }) as never);
      const first = await store.collection.findOne({ _id: 's' });
      expect(first?.createdAt).toBeInstanceOf(Date);
      expect(first?.updatedAt).toBeInstanceOf(Date);
      await sleep(20);
      await store.set('s', browserSession({ v: 2 }));
      const second = await store.collection.findOne({ _id: 's' });
      expect(second?.createdAt?.getTime()).toBe(first?.createdAt?.getTime()); // kept
      expect(second?.updatedAt?.getTime()).toBeGreaterThan(first?.updatedAt?.getTime() ?? 0);
      await sleep(20);
      await store.touch('s', browserSession({ v: 2 }));
      const third = await store.collection.findOne({ _id: 's' });
      expect(third?.updatedAt?.getTime()).toBeGreaterThan(second?.updatedAt?.getTime() ?? 0);
      expect(await theirs.get('s')).toMatchObject({ v: 2 });

      await store.set('new', browserSession());
      const created = await store.collection.findOne({ _id: 'new' });
      expect(created?.createdAt).toBeInstanceOf(Date);
      expect(created?.updatedAt).toBeInstanceOf(Date);
      // compareAndSet writes keep it moving too
      await sleep(20);
      const current = await store.get('new');
      expect(await store.compareAndSet('new', current, browserSession({ w: 1 }))).toBe(true);
      const swapped = await store.collection.findOne({ _id: 'new' });
      expect(swapped?.updatedAt?.getTime()).toBeGreaterThan(created?.updatedAt?.getTime() ?? 0);
      expect(swapped?.createdAt?.getTime()).toBe(created?.createdAt?.getTime());
    } finally {
      await store.close();
    }
  });

  it('a failing interval removal reaches onError', async () => {
    const errors: Error[] = [];
    const down = new MongoStore({
      mongoUrl,
      dbName: TEST_DB,
      collectionName: uniqueName('migr_err'),
      autoRemove: 'interval',
      pruneInterval: '20ms',
      onError: (error) => errors.push(error),
    });
    await down.ready(); // the pruner starts once the index exists
    await down.client.close(); // every prune now fails
    await sleep(200);
    await down.close();
    expect(errors.length).toBeGreaterThan(0);
    expect(errors[0]).toMatchObject({ operation: 'clear' });
  });

  it('through Express: a visitor moves between express-session + connect-mongo and @sess/express without losing the session', async () => {
    const collectionName = uniqueName('migr_express');
    const legacy = ConnectMongo.create({
      client,
      dbName: TEST_DB,
      collectionName,
      autoRemove: 'disabled',
    });
    const store = new MongoStore({ client, dbName: TEST_DB, collectionName });
    const options = {
      secret: 'foo',
      resave: false,
      saveUninitialized: false,
      cookie: { maxAge: 600_000 },
    };
    const visits = (middleware: express.RequestHandler) =>
      express()
        .use(middleware)
        .get('/', (req, res) => {
          const data = req.session as unknown as { n?: number; via?: string[] };
          data.n = (data.n ?? 0) + 1;
          data.via = [...(data.via ?? []), String(req.query['via'])];
          res.json({ n: data.n, via: data.via });
        });
    const legacyApp = await serve(visits(session({ ...options, store: legacy })));
    const sessApp = await serve(
      visits(sessSession({ ...options, store }) as unknown as express.RequestHandler),
    );
    const visit = async (app: string, via: string, cookie?: string) => {
      const response = await fetch(`${app}/?via=${via}`, cookie ? { headers: { cookie } } : {});
      const set = response.headers.get('set-cookie')?.split(';')[0];
      return { body: await response.json(), cookie: set ?? cookie };
    };
    try {
      const a = await visit(legacyApp.url, 'old');
      const b = await visit(sessApp.url, 'new', a.cookie);
      expect(b.body).toEqual({ n: 2, via: ['old', 'new'] });
      const c = await visit(legacyApp.url, 'old', a.cookie);
      expect(c.body).toEqual({ n: 3, via: ['old', 'new', 'old'] });
      const started = await visit(sessApp.url, 'new');
      const continued = await visit(legacyApp.url, 'old', started.cookie);
      expect(continued.body).toEqual({ n: 2, via: ['new', 'old'] });
    } finally {
      await legacyApp.stop();
      await sessApp.stop();
      await store.close();
    }
  });
});

async function serve(app: express.Express) {
  const server = app.listen(0, '127.0.0.1');
  await new Promise<void>((resolve) => server.once('listening', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
