import { promisify } from 'node:util';
import { hasUserIndex, SessConfigError, type SessionRecord, storeCapabilities } from '@sess/core';
import ConnectMongo from 'connect-mongo';
import type session from 'express-session';
import { MongoClient } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MongoStore, type MongoStoreOptions } from '../src/index.js';
import { mongoUrl, skipReason, TEST_DB, uniqueName } from './helpers.js';

const HOUR = 3_600_000;

/** A record as core writes it: `cookie.createdAt` is the creation stamp. */
const sessionOf = (
  data: Record<string, unknown>,
  {
    createdAt = Date.now(),
    lifetime = HOUR,
  }: { createdAt?: number | null; lifetime?: number } = {},
): SessionRecord => ({
  cookie: {
    originalMaxAge: lifetime,
    expires: new Date(Date.now() + lifetime).toISOString(),
    httpOnly: true,
    path: '/',
    ...(createdAt === null ? {} : { createdAt }),
  },
  ...data,
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('MongoStore users option (no server needed)', () => {
  it('is checked at startup', () => {
    const url = 'mongodb://127.0.0.1:1/';
    expect(() => new MongoStore({ mongoUrl: url, users: { user: '' } })).toThrow(SessConfigError);
    expect(
      () => new MongoStore({ mongoUrl: url, users: { user: 'userId', maxSessionsPerUser: 0 } }),
    ).toThrow(/mongo store: users.maxSessionsPerUser/);
    expect(
      () =>
        new MongoStore({
          mongoUrl: url,
          users: { user: 'userId', limit: 3 } as unknown as MongoStoreOptions['users'],
        }),
    ).toThrow(SessConfigError);
  });

  it('offers the four methods only with `users`', async () => {
    const url = 'mongodb://127.0.0.1:1/';
    const plain = new MongoStore({ mongoUrl: url });
    const indexed = new MongoStore({ mongoUrl: url, users: { user: 'passport.user' } });
    const methods = ['userOf', 'userSessions', 'countUserSessions', 'destroyUserSessions'];
    for (const name of methods) {
      expect(typeof (plain as unknown as Record<string, unknown>)[name]).toBe('undefined');
      expect(typeof (indexed as unknown as Record<string, unknown>)[name]).toBe('function');
    }
    expect(indexed.userOf?.(sessionOf({ passport: { user: 42 } }))).toBe('42');
    expect(indexed.userOf?.(sessionOf({}))).toBeNull();
    // core sees the capability only on the indexed store
    expect(hasUserIndex(indexed)).toBe(true);
    expect(hasUserIndex(plain)).toBe(false);
    expect(storeCapabilities(indexed).has('userSessions')).toBe(true);
    expect(storeCapabilities(plain).has('userSessions')).toBe(false);
    // as the README says: hasUserIndex narrows the optional methods to present ones (tsc checks this)
    if (!hasUserIndex(indexed)) throw new Error('no user index');
    const count: (user: string) => Promise<number> = indexed.countUserSessions;
    expect(typeof count).toBe('function');
    await plain.close();
    await indexed.close();
  });
});

describe.skipIf(skipReason)('MongoStore sessions by user', () => {
  let client: MongoClient;
  const opened: MongoStore[] = [];

  const storeWith = (options: Partial<MongoStoreOptions> = {}) => {
    const store = new MongoStore({
      client,
      dbName: TEST_DB,
      collectionName: uniqueName('u'),
      users: { user: 'userId', meta: ['userAgent'] },
      ...options,
    });
    opened.push(store);
    return store;
  };
  /** Another store object on the same collection (another process, or after a restart). */
  const twin = (store: MongoStore, options: Partial<MongoStoreOptions> = {}) =>
    storeWith({ collectionName: store.collection.collectionName, ...options });
  const idsOf = async (store: MongoStore, user: string) =>
    ((await store.userSessions?.(user)) ?? []).map(({ id }) => id);

  beforeAll(() => {
    client = new MongoClient(mongoUrl, { serverSelectionTimeoutMS: 5_000 });
  });

  afterAll(async () => {
    for (const store of opened) {
      await store.collection.drop().catch(() => undefined);
      await store.db
        .collection(`${store.collection.collectionName}_locks`)
        .drop()
        .catch(() => undefined);
      await store.close();
    }
    await client.close();
  });

  describe('without `users` nothing changes', () => {
    it('no user field, no user index, even for a record with the user key', async () => {
      const store = storeWith({ users: undefined });
      await store.set('plain', sessionOf({ userId: 'ada' }));
      await store.compareAndSet('plain2', null, sessionOf({ userId: 'ada' }));
      for (const id of ['plain', 'plain2']) {
        const doc = await store.collection.findOne({ _id: id });
        expect(Object.keys(doc ?? {}).sort()).toEqual(['_id', 'expires', 'session']);
      }
      const names = (await store.collection.indexes()).map((index) => index.name).sort();
      expect(names).toEqual(['_id_', 'expires_1']);
    });
  });

  describe('the index', () => {
    it('a top-level `user` field, written with the session, and an index on it', async () => {
      const store = storeWith();
      await store.set('a', sessionOf({ userId: 'ada' }));
      await store.set('anon', sessionOf({ cart: 1 }));
      expect((await store.collection.findOne({ _id: 'a' }))?.user).toBe('ada');
      const anon = await store.collection.findOne({ _id: 'anon' });
      expect(anon && 'user' in anon).toBe(false);
      const index = (await store.collection.indexes()).find((i) => i.name === 'user_1');
      expect(index?.key).toEqual({ user: 1 });
    });

    it('an index of the app on `user` is kept; a failed creation goes to onError and sessions keep working', async () => {
      const theirs = storeWith({ users: undefined, autoRemove: 'disabled' });
      await theirs.collection.createIndex({ user: 1 }, { name: 'by_user' });
      const errors: Error[] = [];
      const kept = twin(theirs, { onError: (error) => errors.push(error) });
      await kept.set('a', sessionOf({ userId: 'ada' }));
      expect(await idsOf(kept, 'ada')).toEqual(['a']);
      expect(errors).toEqual([]);

      // `user_1` already names an index on another key: ours cannot be created
      const clash = storeWith({ users: undefined, autoRemove: 'disabled' });
      await clash.collection.createIndex({ other: 1 }, { name: 'user_1' });
      const failed = twin(clash, { onError: (error) => errors.push(error) });
      await failed.set('b', sessionOf({ userId: 'bob' }));
      expect(await idsOf(failed, 'bob')).toEqual(['b']);
      expect(errors).toHaveLength(1);
      expect(errors[0]).toMatchObject({ operation: 'connect', code: 'SESS_STORE' });
      expect((errors[0] as Error).cause).toMatchObject({ code: 86 });
    });

    it('follows the record on every write: login, switch of user, logout', async () => {
      const store = storeWith();
      const anon = sessionOf({ cart: 1 });
      expect(await store.compareAndSet('s', null, anon)).toBe(true);
      expect(await store.countUserSessions?.('ada')).toBe(0);

      const ada = { ...anon, userId: 'ada' };
      expect(await store.compareAndSet('s', anon, ada)).toBe(true);
      expect(await idsOf(store, 'ada')).toEqual(['s']);
      expect((await store.collection.findOne({ _id: 's' }))?.user).toBe('ada');

      const bob = { ...ada, userId: 'bob' };
      expect(await store.compareAndSet('s', ada, bob)).toBe(true);
      expect(await idsOf(store, 'ada')).toEqual([]);
      expect(await idsOf(store, 'bob')).toEqual(['s']);

      const out = { ...bob, userId: undefined };
      expect(await store.compareAndSet('s', bob, out)).toBe(true);
      expect(await idsOf(store, 'bob')).toEqual([]);
      const doc = await store.collection.findOne({ _id: 's' });
      expect(doc && 'user' in doc).toBe(false);

      // a plain set that overwrites changes it too
      await store.set('s', sessionOf({ userId: 'cy' }));
      expect(await idsOf(store, 'cy')).toEqual(['s']);
      await store.set('s', sessionOf({ userId: 'dee' }));
      expect(await idsOf(store, 'cy')).toEqual([]);
      expect(await idsOf(store, 'dee')).toEqual(['s']);
    });

    it('a failed compareAndSet leaves the user as it was', async () => {
      const store = storeWith();
      const ada = sessionOf({ userId: 'ada', v: 1 });
      await store.set('s', ada);
      const stale = { ...ada, v: 0 };
      expect(await store.compareAndSet('s', stale, { ...ada, userId: 'bob' })).toBe(false);
      expect(await idsOf(store, 'ada')).toEqual(['s']);
      expect(await idsOf(store, 'bob')).toEqual([]);
    });

    it('works in both stringify modes, and numbers are indexed as their decimal string', async () => {
      for (const stringify of [true, false]) {
        const store = storeWith({ stringify, users: { user: 'passport.user' } });
        await store.set('n', sessionOf({ passport: { user: 7 } }));
        expect(await idsOf(store, '7')).toEqual(['n']);
        expect(await store.countUserSessions?.('7')).toBe(1);
      }
    });
  });

  describe('listing and counting', () => {
    it('reports id, created, last seen, expiry and meta, oldest first, never another user’s', async () => {
      const store = storeWith();
      const now = Date.now();
      await store.set(
        'second',
        sessionOf({ userId: 'ada', userAgent: 'phone' }, { createdAt: now - 1_000 }),
      );
      await store.set(
        'first',
        sessionOf({ userId: 'ada', userAgent: 'laptop', secret: 'x' }, { createdAt: now - 5_000 }),
      );
      await store.set('legacy', sessionOf({ userId: 'ada' }, { createdAt: null }));
      await store.set('other', sessionOf({ userId: 'bob' }));
      const listed = (await store.userSessions?.('ada')) ?? [];
      // no creation time counts as oldest, then by creation
      expect(listed.map(({ id }) => id)).toEqual(['legacy', 'first', 'second']);
      const first = listed[1];
      expect(first?.createdAt).toBe(now - 5_000);
      expect(first?.meta).toEqual({ userAgent: 'laptop' });
      const doc = await store.collection.findOne({ _id: 'first' });
      expect(first?.expiresAt).toBe(doc?.expires.getTime());
      expect(first?.lastSeenAt).toBe((doc?.expires.getTime() ?? 0) - HOUR);
      expect(listed[0]?.createdAt).toBeNull();
      expect(listed[0]?.meta).toEqual({});
      expect(await store.countUserSessions?.('ada')).toBe(3);
      expect(await idsOf(store, 'bob')).toEqual(['other']);
      expect(await idsOf(store, 'nobody')).toEqual([]);
    });

    it('last seen and expiry follow a touch (which moves only the document’s expiry)', async () => {
      const store = storeWith();
      const ada = sessionOf({ userId: 'ada' });
      await store.set('t', ada);
      const later = Date.now() + 2 * HOUR;
      await store.touch('t', {
        ...ada,
        cookie: { ...ada.cookie, expires: new Date(later).toISOString() },
      });
      const [info] = (await store.userSessions?.('ada')) ?? [];
      expect(info?.expiresAt).toBe(later);
      expect(info?.lastSeenAt).toBe(later - HOUR);
    });

    it('a browser-session cookie has no expiry to report, but is listed', async () => {
      const store = storeWith();
      const browser = sessionOf({ userId: 'ada' });
      browser.cookie.expires = null;
      await store.set('b', browser);
      const [info] = (await store.userSessions?.('ada')) ?? [];
      expect(info?.id).toBe('b');
      expect(info?.expiresAt).toBeNull();
      expect(info?.lastSeenAt).toBeNull();
    });

    it('never reports an expired session, even one the server has not removed (FerretDB v1 has no TTL)', async () => {
      const store = storeWith();
      await store.set('live', sessionOf({ userId: 'ada' }));
      await store.set('short', sessionOf({ userId: 'ada' }, { lifetime: 300 }));
      expect(await store.countUserSessions?.('ada')).toBe(2);
      await sleep(400);
      expect(await store.collection.findOne({ _id: 'short' })).not.toBeNull(); // still there
      expect(await idsOf(store, 'ada')).toEqual(['live']);
      expect(await store.countUserSessions?.('ada')).toBe(1);
      expect(await store.destroyUserSessions?.('ada')).toBe(1);
    });

    it('never reports a destroyed session, and touch never brings it back', async () => {
      const store = storeWith();
      const ada = sessionOf({ userId: 'ada' });
      await store.set('gone', ada);
      await store.set('kept', sessionOf({ userId: 'ada' }));
      await store.destroy('gone');
      await store.touch('gone', ada);
      expect(await idsOf(store, 'ada')).toEqual(['kept']);
    });

    it('a regenerate (destroy the old id, set the new one) moves the session in the listing', async () => {
      const store = storeWith();
      const ada = sessionOf({ userId: 'ada' });
      await store.set('old-id', ada);
      await Promise.all([store.destroy('old-id'), store.set('new-id', ada)]);
      expect(await idsOf(store, 'ada')).toEqual(['new-id']);
    });

    it('survives a restart of the store object, and is shared by stores on one collection', async () => {
      const store = storeWith();
      await store.set('a', sessionOf({ userId: 'ada' }));
      await store.close();
      const restarted = twin(store);
      expect(await idsOf(restarted, 'ada')).toEqual(['a']);
      await restarted.set('b', sessionOf({ userId: 'ada' }));
      expect(await twin(store).countUserSessions?.('ada')).toBe(2);
    });

    it('a user that is not a string never reaches the query (no operator injection)', async () => {
      const store = storeWith();
      await store.set('a', sessionOf({ userId: 'ada' }));
      await store.set('b', sessionOf({ userId: 'bob' }));
      const operator = { $ne: null } as unknown as string;
      expect(await store.userSessions?.(operator)).toEqual([]);
      expect(await store.countUserSessions?.(operator)).toBe(0);
      expect(await store.destroyUserSessions?.(operator)).toBe(0);
      expect(await store.countUserSessions?.('')).toBe(0);
      expect(await store.length()).toBe(2);
      // a number is the user's decimal string, as the index holds it
      const numeric = storeWith({ users: { user: 'uid' } });
      await numeric.set('n', sessionOf({ uid: 5 }));
      expect(await numeric.countUserSessions?.(5 as unknown as string)).toBe(1);
    });
  });

  describe('destroyUserSessions', () => {
    it('destroys all the user’s sessions, or all but one, and resolves how many', async () => {
      const store = storeWith();
      for (const id of ['a1', 'a2', 'a3']) await store.set(id, sessionOf({ userId: 'ada' }));
      await store.set('b1', sessionOf({ userId: 'bob' }));
      await store.set('anon', sessionOf({}));
      expect(await store.destroyUserSessions?.('ada', 'a2')).toBe(2);
      expect(await idsOf(store, 'ada')).toEqual(['a2']);
      expect(await store.get('a1')).toBeNull();
      expect(await store.get('a2')).not.toBeNull();
      expect(await store.destroyUserSessions?.('ada')).toBe(1);
      expect(await store.get('a2')).toBeNull();
      expect(await store.destroyUserSessions?.('ada')).toBe(0);
      expect((await store.ids()).sort()).toEqual(['anon', 'b1']);
    });
  });

  describe('maxSessionsPerUser', () => {
    const capped = (max: number, options: Partial<MongoStoreOptions> = {}) =>
      storeWith({ users: { user: 'userId', maxSessionsPerUser: max }, ...options });

    it('a new session beyond the cap destroys the oldest, by creation time', async () => {
      const store = capped(2);
      const now = Date.now();
      await store.set('s1', sessionOf({ userId: 'ada' }, { createdAt: now - 3_000 }));
      await store.set('s2', sessionOf({ userId: 'ada' }, { createdAt: now - 2_000 }));
      await store.set('b1', sessionOf({ userId: 'bob' }, { createdAt: now - 9_000 }));
      await store.set('s3', sessionOf({ userId: 'ada' }, { createdAt: now - 1_000 }));
      expect(await idsOf(store, 'ada')).toEqual(['s2', 's3']);
      expect(await store.get('s1')).toBeNull();
      expect(await idsOf(store, 'bob')).toEqual(['b1']); // another user's are not counted
    });

    it('a login on an existing session (compareAndSet giving it the user) is a new session for the cap', async () => {
      const store = capped(1);
      const now = Date.now();
      await store.set('old', sessionOf({ userId: 'ada' }, { createdAt: now - 2_000 }));
      const anon = sessionOf({}, { createdAt: now - 1_000 });
      await store.set('anon', anon);
      expect(await store.compareAndSet('anon', anon, { ...anon, userId: 'ada' })).toBe(true);
      expect(await idsOf(store, 'ada')).toEqual(['anon']);
      // rewriting a session that already is the user's destroys nothing
      const current = (await store.get('anon')) as SessionRecord;
      expect(await store.compareAndSet('anon', current, { ...current, v: 2 })).toBe(true);
      expect(await idsOf(store, 'ada')).toEqual(['anon']);
    });

    it('never destroys the session being written, even when it is the oldest', async () => {
      const store = capped(2);
      await store.set('old', sessionOf({}, { createdAt: 1 }));
      await store.set('mid', sessionOf({ userId: 'ada' }, { createdAt: 2 }));
      await store.set('new', sessionOf({ userId: 'ada' }, { createdAt: 3 }));
      const anon = (await store.get('old')) as SessionRecord;
      expect(await store.compareAndSet('old', anon, { ...anon, userId: 'ada' })).toBe(true);
      expect(await idsOf(store, 'ada')).toEqual(['old', 'new']);
      expect(await store.get('mid')).toBeNull();
    });

    it("trims of one user wait for each other's lock; a dead holder's lock is taken over", async () => {
      const store = capped(1);
      const locks = store.db.collection<{ _id: { user: string }; at: Date; token: string }>(
        `${store.collection.collectionName}_locks`,
      );
      await store.set('a', sessionOf({ userId: 'ada' }, { createdAt: 1 }));
      await locks.insertOne({ _id: { user: 'ada' }, at: new Date(), token: 'someone-else' });
      let done = false;
      const writing = store.set('b', sessionOf({ userId: 'ada' }, { createdAt: 2 })).then(() => {
        done = true;
      });
      await sleep(300);
      expect(done).toBe(false); // waiting for the lock
      expect(await store.collection.countDocuments({ user: 'ada' })).toBe(2); // written, not trimmed yet
      await locks.deleteOne({ _id: { user: 'ada' } });
      await writing;
      expect(await idsOf(store, 'ada')).toEqual(['b']);
      expect(await locks.countDocuments()).toBe(0); // released

      // a lock left by a crashed process (older than the 10 s lease) does not hold anything up
      await locks.insertOne({
        _id: { user: 'ada' },
        at: new Date(Date.now() - 60_000),
        token: 'dead',
      });
      const started = Date.now();
      await store.set('c', sessionOf({ userId: 'ada' }, { createdAt: 3 }));
      expect(Date.now() - started).toBeLessThan(1_000);
      expect(await idsOf(store, 'ada')).toEqual(['c']);
      expect(await locks.countDocuments()).toBe(0);
    });

    it('expired and foreign sessions do not count toward the cap', async () => {
      const store = capped(2);
      await store.set('short', sessionOf({ userId: 'ada' }, { lifetime: 200, createdAt: 1 }));
      await sleep(300);
      await store.set('a', sessionOf({ userId: 'ada' }, { createdAt: 2 }));
      await store.set('b', sessionOf({ userId: 'ada' }, { createdAt: 3 }));
      expect(await idsOf(store, 'ada')).toEqual(['a', 'b']);
    });

    for (const path of ['set', 'compareAndSet'] as const) {
      it(`parallel creation through ${path} from two store objects: exactly N live once the writes settle`, async () => {
        const max = 3;
        const store = capped(max);
        const other = twin(store, { users: { user: 'userId', maxSessionsPerUser: max } });
        const base = Date.now() - 60_000;
        for (let round = 0; round < 3; round++) {
          const user = `ada-${round}`;
          const sessions = Array.from({ length: 16 }, (_, i) => ({
            id: `r${round}-s${String(i).padStart(2, '0')}`,
            // two sessions share each creation time: ties are broken by id
            record: sessionOf({ userId: user }, { createdAt: base + Math.floor(i / 2) }),
          }));
          const results = await Promise.all(
            sessions.map(({ id, record }, i) => {
              const target = i % 2 === 0 ? store : other;
              return path === 'set'
                ? target.set(id, record).then(() => true)
                : target.compareAndSet(id, null, record);
            }),
          );
          expect(results.every(Boolean)).toBe(true);
          const readable = await Promise.all(sessions.map(({ id }) => store.get(id)));
          const live = sessions.filter((_, i) => readable[i] !== null).map(({ id }) => id);
          expect(live).toHaveLength(max);
          expect(await idsOf(store, user)).toEqual(live); // ids sort as their creation times
          expect(await store.countUserSessions?.(user)).toBe(max);
          // gone for real, not just unlisted
          const left = await store.collection.countDocuments({
            user,
            expires: { $gt: new Date() },
          });
          expect(left).toBe(max);
        }
      });
    }
  });

  describe('interop with connect-mongo', () => {
    const connectMongo = (store: MongoStore, stringify: boolean) => {
      const theirs = ConnectMongo.create({
        client,
        dbName: TEST_DB,
        collectionName: store.collection.collectionName,
        stringify,
        autoRemove: 'disabled',
      });
      return {
        get: promisify(theirs.get.bind(theirs)) as (sid: string) => Promise<unknown>,
        set: promisify(theirs.set.bind(theirs)) as (
          sid: string,
          s: session.SessionData,
        ) => Promise<void>,
      };
    };

    for (const stringify of [true, false]) {
      it(`stringify ${stringify}: connect-mongo reads indexed documents; its documents are listed once sess writes them; its rewrites never list a session under a user it left`, async () => {
        const store = storeWith({ stringify });
        const theirs = connectMongo(store, stringify);

        await store.set('ours', sessionOf({ userId: 'ada', v: 1 }));
        expect(await theirs.get('ours')).toMatchObject({ userId: 'ada', v: 1 });

        // written by connect-mongo: no user field, so not indexed yet
        await theirs.set('theirs', sessionOf({ userId: 'ada' }) as unknown as session.SessionData);
        expect(await idsOf(store, 'ada')).toEqual(['ours']);
        const current = (await store.get('theirs')) as SessionRecord;
        expect(await store.compareAndSet('theirs', current, { ...current, v: 2 })).toBe(true);
        expect((await idsOf(store, 'ada')).sort()).toEqual(['ours', 'theirs']);

        // connect-mongo rewrites ours for another user: it keeps the stale `user` field,
        // which the listing checks against the record itself
        await theirs.set('ours', sessionOf({ userId: 'bob' }) as unknown as session.SessionData);
        expect((await store.collection.findOne({ _id: 'ours' }))?.user).toBe('ada');
        expect(await idsOf(store, 'ada')).toEqual(['theirs']);
        expect(await store.destroyUserSessions?.('ada')).toBe(1);
        expect((await store.get('ours'))?.userId).toBe('bob');
      });
    }
  });
});
