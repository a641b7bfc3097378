// The same options and cookie settings under express-session + connect-redis 9 and under
// @sess/express + this store, on the same keys: each writes, then each reads an unmodified
// session 2.5 s later; the key's expiry, the cookie's, and when the user is logged out must match
// (±1 s), whichever side wrote and whichever read.
import { randomBytes } from 'node:crypto';
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
import { resolveService } from '@sess/store-conformance/services';
import { RedisStore as ConnectRedisStore } from 'connect-redis';
import expressSession from 'express-session';
import { createClient } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisStore, type RedisStoreOptions } from '../src/index.js';

const service = await resolveService('redis');
const SECRET = 'a lifetimes secret of at least thirty-two characters';

/** Each connect-redis option next to its port to this store. */
const OPTION_PAIRS: {
  label: string;
  incumbent: Record<string, unknown>;
  sess: Omit<RedisStoreOptions, 'client' | 'prefix'>;
}[] = [
  { label: 'defaults', incumbent: {}, sess: {} },
  { label: 'ttl 2 h', incumbent: { ttl: 7200 }, sess: { ttl: '2h' } },
  // A function decides for every session, cookie expiry or not (seconds there, ms here).
  { label: 'ttl function', incumbent: { ttl: () => 7200 }, sess: { ttl: () => '2h' } },
  { label: 'disableTouch', incumbent: { disableTouch: true }, sess: { disableTouch: true } },
  {
    label: 'serializer',
    incumbent: { serializer: { stringify: JSON.stringify, parse: JSON.parse } },
    sess: { serializer: { stringify: JSON.stringify, parse: JSON.parse } },
  },
  { label: 'scanCount', incumbent: { scanCount: 10 }, sess: { scanCount: 10 } },
];

describe.skipIf(!service.available)(
  `lifetimes: connect-redis 9 and this store${service.available ? '' : ` (SKIPPED: ${service.reason})`}`,
  () => {
    const url = service.available ? service.url : '';
    const client = createClient({ url });

    beforeAll(async () => {
      await client.connect();
    });
    afterAll(async () => {
      await client.close();
    });

    const expiryOf = (prefix: string) => async (id: string) => {
      const pttl = await client.pTTL(`${prefix}${id}`);
      if (pttl === -2) return null;
      if (pttl === -1) return Number.POSITIVE_INFINITY;
      return Date.now() + pttl;
    };

    for (const pair of OPTION_PAIRS) {
      for (const kase of COOKIE_CASES) {
        it(`${pair.label}, ${kase.label}`, async () => {
          const prefix = `life_${randomBytes(4).toString('hex')}:`;
          const common = {
            secret: SECRET,
            resave: false,
            saveUninitialized: false,
            rolling: kase.rolling ?? false,
            cookie: kase.maxAge === undefined ? {} : { maxAge: kase.maxAge },
          };
          const legacy = new ConnectRedisStore({ client, prefix, ...pair.incumbent });
          const store = new RedisStore({ client, prefix, ...pair.sess });
          const apps: Served[] = [];
          try {
            apps.push(
              await serve(expressSession({ ...common, store: legacy }) as unknown as Middleware),
            );
            apps.push(await serve(sessSession({ ...common, store }) as unknown as Middleware));
            const runs = await crossRuns(
              { label: 'connect-redis', url: apps[0]?.url ?? '' },
              { label: 'sess', url: apps[1]?.url ?? '' },
              expiryOf(prefix),
            );
            expect(lifetimeDifferences(kase, runs)).toEqual([]);
          } finally {
            for (const app of apps) await app.close();
            await store.clear();
            await store.close();
          }
        });
      }
    }

    describe('a corrupt value under a session id is a missing session per request, never a 500', () => {
      for (const corrupt of CORRUPT_RECORDS) {
        it(corrupt.label, async () => {
          const prefix = `corrupt_${randomBytes(4).toString('hex')}:`;
          const store = new RedisStore({ client, prefix });
          const app = await serve(
            sessSession({
              secret: SECRET,
              store,
              resave: false,
              saveUninitialized: false,
            }) as unknown as Middleware,
          );
          try {
            await client.set(`${prefix}bad`, corrupt.raw, {
              expiration: { type: 'PX', value: 60_000 },
            });
            expect(await corruptRecordProblems(app.url, 'bad', SECRET)).toEqual([]);
          } finally {
            await app.close();
            await store.clear();
            await store.close();
          }
        });
      }
    });
  },
);
