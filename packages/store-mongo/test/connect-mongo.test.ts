import { promisify } from 'node:util';
import type { SessionRecord } from '@sess/core';
import ConnectMongo from 'connect-mongo';
import session from 'express-session';
import { MongoClient } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MongoStore } from '../src/index.js';
import { mongoUrl, skipReason, TEST_DB, uniqueName } from './helpers.js';

/** express-session's Cookie takes its options at runtime; its published types say otherwise. */
const Cookie = session.Cookie as unknown as new (options?: session.CookieOptions) => session.Cookie;

/** A session as express-session hands it to a store: data plus a Cookie instance. */
function expressSession(data: Record<string, unknown>): session.SessionData {
  const cookie = new Cookie({ maxAge: 3_600_000, httpOnly: true, path: '/' });
  return { cookie, ...data } as session.SessionData;
}

/** connect-mongo's callback API as promises. */
function promised(store: ConnectMongo) {
  return {
    get: promisify(store.get.bind(store)) as (sid: string) => Promise<session.SessionData | null>,
    set: promisify(store.set.bind(store)) as (sid: string, s: session.SessionData) => Promise<void>,
    touch: promisify(store.touch.bind(store)) as (
      sid: string,
      s: session.SessionData,
    ) => Promise<void>,
  };
}

const instant = (value: unknown) =>
  new Date(String(value instanceof Date ? value.toISOString() : value)).getTime();

describe.skipIf(skipReason)('interop with connect-mongo 6 (the incumbent, current release)', () => {
  let client: MongoClient;
  beforeAll(() => {
    client = new MongoClient(mongoUrl, { serverSelectionTimeoutMS: 5_000 });
  });
  afterAll(async () => {
    await client
      .db(TEST_DB)
      .dropDatabase()
      .catch(() => undefined);
    await client.close(); // connect-mongo's close() would close this shared client: it is closed here once
  });

  for (const stringify of [true, false]) {
    describe(`stringify: ${stringify}`, () => {
      /** Both stores on one collection; connect-mongo without its TTL index (FerretDB v1 refuses TTL indexes). */
      const pair = () => {
        const collectionName = uniqueName('interop');
        const theirs = ConnectMongo.create({
          client,
          dbName: TEST_DB,
          collectionName,
          stringify,
          autoRemove: 'disabled',
        });
        const ours = new MongoStore({ client, dbName: TEST_DB, collectionName, stringify });
        return { theirs: promised(theirs), ours };
      };

      it('a session written by connect-mongo is read by MongoStore', async () => {
        const { theirs, ours } = pair();
        const written = expressSession({ userId: 'u-1', cart: [{ sku: 'a', n: 2 }], admin: false });
        await theirs.set('from-connect-mongo', written);
        const got = await ours.get('from-connect-mongo');
        expect(got).not.toBeNull();
        const { cookie, ...data } = got as SessionRecord;
        expect(data).toEqual({ userId: 'u-1', cart: [{ sku: 'a', n: 2 }], admin: false });
        expect(instant(cookie.expires)).toBe(instant(written.cookie.expires));
        // express-session's Cookie stores originalMaxAge as expires - now when maxAge is
        // set: 3599999 when a millisecond ticks in between (seen in a loaded CI run).
        expect(cookie.originalMaxAge).toBeGreaterThanOrEqual(3_599_999);
        expect(cookie.originalMaxAge).toBeLessThanOrEqual(3_600_000);
        expect(cookie.httpOnly).toBe(true);
        expect(typeof cookie.expires).toBe('string'); // as express-session's JSON carries it
        expect((await ours.ids()).includes('from-connect-mongo')).toBe(true);
      });

      it('a session written by MongoStore is read by connect-mongo', async () => {
        const { theirs, ours } = pair();
        const expires = new Date(Date.now() + 3_600_000);
        await ours.set('from-sess', {
          cookie: {
            originalMaxAge: 3_600_000,
            expires: expires.toISOString(),
            httpOnly: true,
            path: '/',
          },
          userId: 'u-2',
          prefs: { theme: 'dark' },
        });
        const got = (await theirs.get('from-sess')) as unknown as SessionRecord | null;
        expect(got).not.toBeNull();
        const { cookie, ...data } = got as SessionRecord;
        expect(data).toEqual({ userId: 'u-2', prefs: { theme: 'dark' } });
        expect(instant(cookie.expires)).toBe(expires.getTime());
        // express-session rebuilds its Cookie from what connect-mongo returns.
        const rebuilt = new Cookie(cookie as session.CookieOptions);
        expect(rebuilt.httpOnly).toBe(true);
      });

      it('compareAndSet succeeds on a connect-mongo document, and connect-mongo reads the result', async () => {
        const { theirs, ours } = pair();
        await theirs.set('merge', expressSession({ views: 1 }));
        const current = await ours.get('merge');
        expect(current).not.toBeNull();
        const expected = JSON.parse(JSON.stringify(current)) as SessionRecord; // as core keeps it
        const next = { ...expected, views: 2 };
        expect(await ours.compareAndSet('merge', expected, next)).toBe(true);
        expect(((await theirs.get('merge')) as unknown as SessionRecord).views).toBe(2);
        // and a stale one still fails
        expect(await ours.compareAndSet('merge', expected, { ...expected, views: 3 })).toBe(false);
      });

      it('touches from either side move the same expires field', async () => {
        const { theirs, ours } = pair();
        await theirs.set('t', expressSession({ v: 1 }));
        const later = new Date(Date.now() + 7_200_000);
        const record = (await ours.get('t')) as SessionRecord;
        await ours.touch('t', {
          ...record,
          cookie: { ...record.cookie, expires: later.toISOString() },
        });
        const doc = await ours.collection.findOne({ _id: 't' });
        expect(doc?.expires.getTime()).toBe(later.getTime());
        const s = expressSession({ v: 1 });
        await theirs.touch('t', s);
        const after = await ours.collection.findOne({ _id: 't' });
        expect(after?.expires.getTime()).toBe(instant(s.cookie.expires));
        expect((await ours.get('t'))?.v).toBe(1);
      });
    });
  }
});
