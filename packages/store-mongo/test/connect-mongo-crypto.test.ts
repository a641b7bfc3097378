// Users of connect-mongo's encryption move to sess without logging anyone out
// (issue 17): sessions connect-mongo 6 wrote with its Web Crypto adapter are read
// by readConnectMongoEncrypted given the same secret, and rewritten in sess's
// own (encrypted) form at their next write.
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import {
  ENCRYPTED_KEY,
  SessConfigError,
  SessionManager,
  type SessionRecord,
  signCookie,
} from '@sess/core';
import ConnectMongo, { createWebCryptoAdapter } from 'connect-mongo';
import session from 'express-session';
import { afterAll, describe, expect, it } from 'vitest';
import { MongoStore, readConnectMongoEncrypted } from '../src/index.js';
import { mongoUrl, skipReason, TEST_DB, uniqueName } from './helpers.js';

const Cookie = session.Cookie as unknown as new (options?: session.CookieOptions) => session.Cookie;
const SECRET = 'the connect-mongo crypto secret of this app';
const keys = [{ id: 'k1', key: randomBytes(32) }];

describe.skipIf(skipReason)('sessions connect-mongo 6 encrypted (Web Crypto adapter)', () => {
  const opened: { close(): unknown }[] = [];
  afterAll(async () => {
    for (const store of opened) await store.close();
  });

  async function written(stringify: boolean, legacy: 'webCrypto' | 'kruptein' = 'webCrypto') {
    const collectionName = uniqueName('cm_crypto');
    const incumbent = ConnectMongo.create({
      mongoUrl,
      dbName: TEST_DB,
      collectionName,
      stringify,
      autoRemove: 'disabled',
      ...(legacy === 'webCrypto'
        ? { cryptoAdapter: createWebCryptoAdapter({ secret: SECRET }) }
        : { crypto: { secret: SECRET } }),
    });
    opened.push(incumbent);
    const set = promisify(incumbent.set.bind(incumbent)) as (
      sid: string,
      s: session.SessionData,
    ) => Promise<void>;
    const cookie = new Cookie({ maxAge: 3_600_000, httpOnly: true, path: '/' });
    await set('cm-1', { cookie, userId: 'ann', csrfSecret: 'q9' } as session.SessionData);
    const mongo = new MongoStore({ mongoUrl, dbName: TEST_DB, collectionName, stringify });
    opened.push(mongo);
    return { mongo, cookie };
  }

  for (const stringify of [true, false]) {
    it(`stringify ${stringify}: read with the same secret, rewritten under sess's key at the next write`, async () => {
      const { mongo } = await written(stringify);
      const raw = await mongo.collection.findOne({ _id: 'cm-1' });
      expect(typeof raw?.session).toBe('string');
      expect(String(raw?.session)).not.toContain('ann');
      // Plain sess cannot read it: the reason for this reader.
      expect(await mongo.get('cm-1')).toBe(null);

      const store = readConnectMongoEncrypted(mongo, {
        webCrypto: { secret: SECRET },
        encryption: { keys },
      });
      const got = await store.get('cm-1');
      expect(got).toMatchObject({ userId: 'ann', csrfSecret: 'q9' });
      // express-session's Cookie stores originalMaxAge as expires - now when maxAge is
      // set: 3599999 when a millisecond ticks in between (seen in a loaded CI run).
      expect(got?.cookie.originalMaxAge).toBeGreaterThanOrEqual(3_599_999);
      expect(got?.cookie.originalMaxAge).toBeLessThanOrEqual(3_600_000);

      expect(
        await store.compareAndSet?.('cm-1', got as SessionRecord, {
          ...(got as SessionRecord),
          n: 1,
        }),
      ).toBe(true);
      const after = await mongo.collection.findOne({ _id: 'cm-1' });
      expect(JSON.stringify(after)).toContain(ENCRYPTED_KEY);
      expect(JSON.stringify(after)).not.toContain('ann');
      expect(await store.get('cm-1')).toMatchObject({ userId: 'ann', n: 1 });
    });
  }

  for (const stringify of [true, false]) {
    it(`kruptein (connect-mongo's crypto option), stringify ${stringify}: read with the same secret, then rewritten`, async () => {
      const { mongo } = await written(stringify, 'kruptein');
      const raw = await mongo.collection.findOne({ _id: 'cm-1' });
      expect(typeof raw?.session).toBe('string');
      expect(String(raw?.session)).not.toContain('ann');
      expect(await mongo.get('cm-1')).toBe(null);
      const store = readConnectMongoEncrypted(mongo, {
        kruptein: { secret: SECRET },
        encryption: { keys },
      });
      const got = await store.get('cm-1');
      expect(got).toMatchObject({ userId: 'ann', csrfSecret: 'q9' });
      // The Web Crypto reader alone does not read it; both configured, it does.
      expect(
        await readConnectMongoEncrypted(mongo, { webCrypto: { secret: SECRET } }).get('cm-1'),
      ).toBe(null);
      const both = readConnectMongoEncrypted(mongo, {
        webCrypto: { secret: SECRET },
        kruptein: { secret: SECRET },
      });
      expect((await both.get('cm-1'))?.['userId']).toBe('ann');
      await store.set('cm-1', { ...(got as SessionRecord), n: 2 });
      expect(JSON.stringify(await mongo.collection.findOne({ _id: 'cm-1' }))).toContain(
        ENCRYPTED_KEY,
      );
      expect((await store.get('cm-1'))?.['n']).toBe(2);
    });
  }

  it('kruptein: another secret, or a tampered record, is a missing session', async () => {
    const { mongo } = await written(true, 'kruptein');
    expect(
      await readConnectMongoEncrypted(mongo, { kruptein: { secret: 'wrong secret' } }).get('cm-1'),
    ).toBe(null);
    const raw = await mongo.collection.findOne({ _id: 'cm-1' });
    const bytes = Buffer.from(String(raw?.session), 'base64');
    bytes[bytes.length - 40] = (bytes[bytes.length - 40] ?? 0) ^ 1;
    await mongo.collection.updateOne(
      { _id: 'cm-1' },
      { $set: { session: bytes.toString('base64') } },
    );
    expect(
      await readConnectMongoEncrypted(mongo, { kruptein: { secret: SECRET } }).get('cm-1'),
    ).toBe(null);
  });

  it('another secret, or a tampered record, is a missing session', async () => {
    const { mongo } = await written(true);
    const wrong = readConnectMongoEncrypted(mongo, { webCrypto: { secret: 'not the secret' } });
    expect(await wrong.get('cm-1')).toBe(null);
    const raw = await mongo.collection.findOne({ _id: 'cm-1' });
    const bytes = Buffer.from(String(raw?.session), 'base64');
    bytes[20] = (bytes[20] ?? 0) ^ 1;
    await mongo.collection.updateOne(
      { _id: 'cm-1' },
      { $set: { session: bytes.toString('base64') } },
    );
    const right = readConnectMongoEncrypted(mongo, { webCrypto: { secret: SECRET } });
    expect(await right.get('cm-1')).toBe(null);
  });

  it('through SessionManager: the connect-mongo user keeps the session, a stale merge is refused', async () => {
    const { mongo } = await written(true);
    const store = readConnectMongoEncrypted(mongo, {
      webCrypto: { secret: SECRET },
      encryption: { keys },
    });
    const manager = new SessionManager({
      secret: 'a cookie signing secret of 32+ characters',
      store,
      resave: false,
    });
    const cookieHeader = `connect.sid=${encodeURIComponent(signCookie('cm-1', 'a cookie signing secret of 32+ characters'))}`;
    const before = (await store.get('cm-1')) as SessionRecord;
    const state = await manager.load({ request: {}, cookieHeader, secure: false });
    if (!state) throw new Error('no session state');
    expect(state.id).toBe('cm-1');
    const data = state.session as unknown as Record<string, unknown>;
    expect(data['userId']).toBe('ann');
    data['visits'] = 1;
    await state.commit(state.session);
    expect(await store.get('cm-1')).toMatchObject({ userId: 'ann', visits: 1 });
    expect(await store.compareAndSet?.('cm-1', before, { ...before, userId: 'mallory' })).toBe(
      false,
    );
    expect((await store.get('cm-1'))?.['userId']).toBe('ann');
  });

  it('refuses a missing secret at startup', () => {
    const mongo = new MongoStore({ mongoUrl, dbName: TEST_DB, collectionName: uniqueName('x') });
    opened.push(mongo);
    expect(() => readConnectMongoEncrypted(mongo, {})).toThrow(SessConfigError);
    expect(() => readConnectMongoEncrypted(mongo, { kruptein: { secret: '' } })).toThrow(
      SessConfigError,
    );
    expect(() => readConnectMongoEncrypted(mongo, { webCrypto: { secret: '' } })).toThrow(
      SessConfigError,
    );
  });
});
