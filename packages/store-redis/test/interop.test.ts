// connect-redis 9 (on node-redis, as it requires) and this store on one Redis:
// each reads and continues the other's sessions, directly and through Express.
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { session as sessSession } from '@sess/express';
import { resolveService } from '@sess/store-conformance/services';
import { RedisStore as ConnectRedisStore } from 'connect-redis';
import express from 'express';
import expressSession from 'express-session';
import { createClient } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisStore } from '../src/index.js';

const service = await resolveService('redis');
const SECRET = 'an interop secret of at least thirty-two characters';

const record = (data: Record<string, unknown>, ttlMs = 3_600_000) => ({
  cookie: {
    originalMaxAge: ttlMs,
    expires: new Date(Date.now() + ttlMs).toISOString(),
    httpOnly: true,
    path: '/',
  },
  ...data,
});

describe.skipIf(!service.available)(
  `interop with connect-redis 9${service.available ? '' : ` (SKIPPED: ${service.reason})`}`,
  () => {
    const url = service.available ? service.url : '';
    const prefix = `interop_${randomBytes(4).toString('hex')}:`;
    const nodeRedis = createClient({ url });
    let legacy: ConnectRedisStore;
    let store: RedisStore;

    beforeAll(async () => {
      await nodeRedis.connect();
      legacy = new ConnectRedisStore({ client: nodeRedis, prefix });
      store = new RedisStore({ url, prefix });
    });
    afterAll(async () => {
      await store.clear();
      await store.close();
      await nodeRedis.quit();
    });

    it('uses the same defaults: prefix sess:, ttl one day', async () => {
      const defaults = new RedisStore();
      expect(defaults.prefix).toBe('sess:');
      expect(new ConnectRedisStore({ client: nodeRedis }).prefix).toBe('sess:');
      await defaults.close(); // never connected: the store connects on its first command
      // Without cookie.expires both keep a record for 86,400 seconds.
      const mine = new RedisStore({ url, prefix: `${prefix}ttl:` });
      await mine.set('a', { cookie: { originalMaxAge: null } });
      await legacy.set('b', { cookie: { originalMaxAge: null } } as never);
      const ttlMine = await nodeRedis.pTTL(`${prefix}ttl:a`);
      const ttlLegacy = await nodeRedis.pTTL(`${prefix}b`);
      expect(ttlMine).toBeGreaterThan(86_390_000);
      expect(ttlMine).toBeLessThanOrEqual(86_400_000);
      expect(ttlLegacy).toBeGreaterThan(86_390_000);
      await mine.clear();
      await mine.close();
    });

    it('a session written by connect-redis is read by this store, and the other way round', async () => {
      const written = record({ user: 'ada', roles: ['admin'] });
      await legacy.set('from-legacy', written as never);
      expect(await store.get('from-legacy')).toEqual(written);

      const mine = record({ user: 'grace', n: 2 });
      await store.set('from-sess', mine);
      expect(await legacy.get('from-sess')).toEqual(mine);

      // Listings agree too.
      expect((await store.ids()).sort()).toEqual((await legacy.ids()).sort());
      expect(await store.length()).toBe(await legacy.length());
    });

    it('Redis expiries written by either side agree with cookie.expires', async () => {
      const written = record({ v: 1 }, 120_000);
      await legacy.set('ttl-legacy', written as never);
      await store.set('ttl-sess', written);
      const expiresAt = Date.parse(written.cookie.expires);
      for (const key of ['ttl-legacy', 'ttl-sess']) {
        const pttl = await nodeRedis.pTTL(prefix + key);
        // connect-redis rounds up to whole seconds; this store keeps milliseconds.
        expect(Math.abs(Date.now() + pttl - expiresAt)).toBeLessThan(1_500);
      }
    });

    it('compareAndSet swaps a record connect-redis wrote, and a byte-different one with the same JSON', async () => {
      const written = record({ views: 1 });
      await legacy.set('cas-legacy', written as never);
      const current = await store.get('cas-legacy');
      expect(current).not.toBeNull();
      expect(await store.compareAndSet('cas-legacy', current, { ...written, views: 2 })).toBe(true);
      expect((await legacy.get('cas-legacy'))?.views).toBe(2);

      // Same JSON, other bytes (spacing, key order): must not make CAS fail forever.
      const reordered = `{ "views": 7,\n  "cookie": ${JSON.stringify(written.cookie)} }`;
      await nodeRedis.set(`${prefix}cas-spaced`, reordered, {
        expiration: { type: 'EX', value: 60 },
      });
      const seen = await store.get('cas-spaced');
      expect(seen?.views).toBe(7);
      expect(await store.compareAndSet('cas-spaced', seen, { ...written, views: 8 })).toBe(true);
      expect((await store.get('cas-spaced'))?.views).toBe(8);
    });

    it('touch from either side moves only the Redis expiry', async () => {
      const written = record({ v: 'kept' }, 60_000);
      await store.set('touched', written);
      const before = await nodeRedis.get(`${prefix}touched`);
      await legacy.touch('touched', record({ v: 'ignored' }, 600_000) as never);
      expect(await nodeRedis.pTTL(`${prefix}touched`)).toBeGreaterThan(500_000);
      await store.touch('touched', record({ v: 'ignored' }, 1_200_000));
      expect(await nodeRedis.pTTL(`${prefix}touched`)).toBeGreaterThan(1_100_000);
      expect(await nodeRedis.get(`${prefix}touched`)).toBe(before);
    });

    it('through Express: express-session + connect-redis and @sess/express + this store share sessions', async () => {
      const cookie = { maxAge: 60_000, sameSite: 'lax' as const };
      const counter = (middleware: express.RequestHandler) => {
        const app = express();
        app.use(middleware);
        app.get('/', (req, res) => {
          const s = req.session as unknown as { views?: number; by?: string[] };
          s.views = (s.views ?? 0) + 1;
          s.by = [...(s.by ?? []), String(req.query.by)];
          res.json({ views: s.views, by: s.by });
        });
        return app;
      };
      const legacyApp = counter(
        expressSession({
          secret: SECRET,
          store: legacy,
          resave: false,
          saveUninitialized: false,
          cookie,
        }),
      );
      const sessStore = new RedisStore({ url, prefix });
      const sessApp = counter(
        sessSession({
          secret: SECRET,
          store: sessStore,
          resave: false,
          saveUninitialized: false,
          cookie,
        }) as unknown as express.RequestHandler,
      );
      const [legacyUrl, stopLegacy] = await listen(legacyApp);
      const [sessUrl, stopSess] = await listen(sessApp);
      try {
        const first = await fetch(`${legacyUrl}/?by=express-session`);
        const setCookie = first.headers.get('set-cookie') ?? '';
        const pair = setCookie.split(';')[0] ?? '';
        expect(pair).toMatch(/^connect\.sid=s%3A/);
        await first.json();

        const second = await fetch(`${sessUrl}/?by=sess`, { headers: { cookie: pair } });
        expect(await second.json()).toEqual({ views: 2, by: ['express-session', 'sess'] });

        const third = await fetch(`${legacyUrl}/?by=express-session`, {
          headers: { cookie: pair },
        });
        expect(await third.json()).toEqual({
          views: 3,
          by: ['express-session', 'sess', 'express-session'],
        });

        // And a session started by sess is continued by express-session.
        const fresh = await fetch(`${sessUrl}/?by=sess`);
        const freshPair = (fresh.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
        await fresh.json();
        const continued = await fetch(`${legacyUrl}/?by=express-session`, {
          headers: { cookie: freshPair },
        });
        expect(await continued.json()).toEqual({ views: 2, by: ['sess', 'express-session'] });
      } finally {
        await stopLegacy();
        await stopSess();
        await sessStore.close();
      }
    });
  },
);

async function listen(app: express.Express): Promise<[string, () => Promise<void>]> {
  const server = app.listen(0, '127.0.0.1');
  await new Promise<void>((resolve) => server.once('listening', resolve));
  const { port } = server.address() as AddressInfo;
  const stop = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return [`http://127.0.0.1:${port}`, stop];
}
