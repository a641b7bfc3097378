// The same options and cookie settings under express-session + connect-mongo 6 and under
// @sess/express + this store, on one collection: each writes, then each reads an unmodified
// session 2.5 s later; the document's `expires`, the cookie's, and when the user is logged out must
// match (±1 s), whichever side wrote and whichever read. connect-mongo 5 too, on the options it has.
import { session as sessSession } from '@sess/express';
import {
  COOKIE_CASES,
  CORRUPT_RECORDS,
  corruptRecordProblems,
  crossRuns,
  lifetimeDifferences,
  type Middleware,
  type Served,
  serve,
} from '@sess/store-conformance/lifetimes';
import ConnectMongo from 'connect-mongo';
import ConnectMongo5 from 'connect-mongo5';
import expressSession from 'express-session';
import { MongoClient } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MongoStore, type MongoStoreOptions } from '../src/index.js';
import { mongoUrl, skipReason, TEST_DB, uniqueName } from './helpers.js';

const SECRET = 'a lifetimes secret of at least thirty-two characters';

type Connection = 'client' | 'mongoUrl' | 'clientPromise';
/** Each connect-mongo option next to its port to this store. */
const OPTION_PAIRS: {
  label: string;
  incumbent: Record<string, unknown>;
  sess: Omit<MongoStoreOptions, 'client' | 'mongoUrl' | 'clientPromise' | 'collectionName'>;
  connection?: Connection;
}[] = [
  { label: 'defaults (ttl 14 days)', incumbent: {}, sess: {} },
  { label: 'ttl 2 h', incumbent: { ttl: 7200 }, sess: { ttl: '2h' } },
  // A touch within touchAfter of the last write is skipped by both.
  { label: 'touchAfter 1 h', incumbent: { touchAfter: 3600 }, sess: { touchAfter: '1h' } },
  { label: 'stringify false', incumbent: { stringify: false }, sess: { stringify: false } },
  { label: 'timestamps', incumbent: { timestamps: true }, sess: { timestamps: true } },
  {
    label: 'autoRemove interval',
    incumbent: { autoRemove: 'interval', autoRemoveInterval: 10 },
    sess: { autoRemove: 'interval', pruneInterval: '10m' },
  },
  {
    label: 'autoRemove disabled',
    incumbent: { autoRemove: 'disabled' },
    sess: { autoRemove: 'disabled' },
  },
  {
    label: 'crypto off',
    incumbent: { crypto: { secret: false } },
    sess: { crypto: { secret: false } },
  },
  {
    label: 'mongoUrl + mongoOptions',
    incumbent: { mongoOptions: {} },
    sess: { mongoOptions: {} },
    connection: 'mongoUrl',
  },
  { label: 'clientPromise', incumbent: {}, sess: {}, connection: 'clientPromise' },
];

/** Each release and the option sets it has (5 has no `timestamps`). */
const RELEASES = [
  { label: 'connect-mongo 6', create: ConnectMongo.create.bind(ConnectMongo), pairs: OPTION_PAIRS },
  {
    label: 'connect-mongo 5',
    create: ConnectMongo5.create.bind(ConnectMongo5),
    pairs: OPTION_PAIRS.filter((pair) =>
      [
        'defaults (ttl 14 days)',
        'ttl 2 h',
        'touchAfter 1 h',
        'stringify false',
        'mongoUrl + mongoOptions',
      ].includes(pair.label),
    ),
  },
];

describe.skipIf(skipReason)('lifetimes: connect-mongo 6 and 5, and this store', () => {
  let client: MongoClient;
  beforeAll(async () => {
    client = new MongoClient(mongoUrl, { serverSelectionTimeoutMS: 5_000 });
    await client.connect();
  });
  afterAll(async () => {
    await client.close();
  });

  const expiryOf = (collectionName: string) => async (id: string) => {
    const doc = await client
      .db(TEST_DB)
      .collection<{ _id: string; expires?: Date }>(collectionName)
      .findOne({ _id: id });
    if (!doc) return null;
    return doc.expires ? doc.expires.getTime() : Number.POSITIVE_INFINITY;
  };

  for (const release of RELEASES) {
    for (const pair of release.pairs) {
      for (const kase of COOKIE_CASES) {
        it(`${release.label}: ${pair.label}, ${kase.label}`, async () => {
          const collectionName = uniqueName('life');
          const connection = pair.connection ?? 'client';
          const connect = () =>
            connection === 'mongoUrl'
              ? { mongoUrl }
              : connection === 'clientPromise'
                ? { clientPromise: Promise.resolve(client) }
                : { client };
          const where = { dbName: TEST_DB, collectionName };
          const store = new MongoStore({
            ...connect(),
            ...where,
            ...pair.sess,
          } as MongoStoreOptions);
          // FerretDB has no TTL index (connect-mongo's 'native' fails there): expiry is read, not reaped.
          const legacy = release.create({
            ...connect(),
            ...where,
            autoRemove: 'disabled',
            ...pair.incumbent,
          });
          const common = {
            secret: SECRET,
            resave: false,
            saveUninitialized: false,
            rolling: kase.rolling ?? false,
            cookie: kase.maxAge === undefined ? {} : { maxAge: kase.maxAge },
          };
          const apps: Served[] = [];
          try {
            apps.push(
              await serve(expressSession({ ...common, store: legacy }) as unknown as Middleware),
            );
            apps.push(await serve(sessSession({ ...common, store }) as unknown as Middleware));
            const runs = await crossRuns(
              { label: release.label, url: apps[0]?.url ?? '' },
              { label: 'sess', url: apps[1]?.url ?? '' },
              expiryOf(collectionName),
            );
            expect(lifetimeDifferences(kase, runs)).toEqual([]);
          } finally {
            for (const app of apps) await app.close();
            await store.close();
            // connect-mongo's close() closes the client, even one it was given: only its own.
            if (connection === 'mongoUrl') await legacy.close();
            await client
              .db(TEST_DB)
              .collection(collectionName)
              .drop()
              .catch(() => undefined);
          }
        });
      }
    }
  }

  describe('a corrupt document is a missing session per request, never a 500', () => {
    // As connect-mongo stores it: `session` a JSON string (stringify: true), or the parsed value.
    for (const stringify of [true, false]) {
      for (const corrupt of CORRUPT_RECORDS.filter((c) => stringify || c.json)) {
        it(`${corrupt.label}${stringify ? '' : ', stringify false'}`, async () => {
          const collectionName = uniqueName('corrupt');
          const store = new MongoStore({ client, dbName: TEST_DB, collectionName, stringify });
          const app = await serve(
            sessSession({
              secret: SECRET,
              store,
              resave: false,
              saveUninitialized: false,
            }) as unknown as Middleware,
          );
          try {
            await client
              .db(TEST_DB)
              .collection<{ _id: string; session: unknown; expires: Date }>(collectionName)
              .insertOne({
                _id: 'bad',
                session: stringify ? corrupt.raw : JSON.parse(corrupt.raw),
                expires: new Date(Date.now() + 3_600_000),
              });
            expect(await corruptRecordProblems(app.url, 'bad', SECRET)).toEqual([]);
          } finally {
            await app.close();
            await store.close();
            await client
              .db(TEST_DB)
              .collection(collectionName)
              .drop()
              .catch(() => undefined);
          }
        });
      }
    }
  });
});
