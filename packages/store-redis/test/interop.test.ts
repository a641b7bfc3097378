// connect-redis 9 (on node-redis, as it requires) and this store on one Redis,
// with this store on ioredis and on node-redis: each reads and continues the
// other's sessions, directly and through Express; and on the 3-master cluster.
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { session as sessSession } from '@sess/express';
import { resolveService } from '@sess/store-conformance/services';
import { RedisStore as ConnectRedisStore } from 'connect-redis';
import express from 'express';
import expressSession from 'express-session';
import { createClient, createCluster } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisStore, type RedisStoreOptions } from '../src/index.js';

const service = await resolveService('redis');
const cluster = await resolveService('redis-cluster');
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

for (const sessClient of ['ioredis', 'node-redis'] as const) {
  describe.skipIf(!service.available)(
    `interop with connect-redis 9, this store on ${sessClient}${service.available ? '' : ` (SKIPPED: ${service.reason})`}`,
    () => {
      const url = service.available ? service.url : '';
      const prefix = `interop_${randomBytes(4).toString('hex')}:`;
      // connect-redis's client, and (for node-redis) another one of this store's own.
      const nodeRedis = createClient({ url });
      const mineClient = createClient({ url });
      /** This store on the client under test: ioredis from `url`, or the node-redis client. */
      const open = (options: Omit<RedisStoreOptions, 'client' | 'url'> = {}) =>
        sessClient === 'ioredis'
          ? new RedisStore({ url, ...options })
          : new RedisStore({ client: mineClient, ...options });
      let legacy: ConnectRedisStore;
      let store: RedisStore;

      beforeAll(async () => {
        await nodeRedis.connect();
        await mineClient.connect();
        legacy = new ConnectRedisStore({ client: nodeRedis, prefix });
        store = open({ prefix });
      });
      afterAll(async () => {
        await store.clear();
        await store.close();
        await nodeRedis.close();
        await mineClient.close();
      });

      it('uses the same defaults: prefix sess:, ttl one day', async () => {
        const defaults = new RedisStore();
        expect(defaults.prefix).toBe('sess:');
        expect(new ConnectRedisStore({ client: nodeRedis }).prefix).toBe('sess:');
        await defaults.close(); // never connected: the store connects on its first command
        // Without cookie.expires both keep a record for 86,400 seconds.
        const mine = open({ prefix: `${prefix}ttl:` });
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
        expect(await store.compareAndSet('cas-legacy', current, { ...written, views: 2 })).toBe(
          true,
        );
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

      it("with the user index the session keys stay connect-redis's, and its writes and destroys are never misreported", async () => {
        const indexed = open({ prefix, users: { user: 'user' } });
        const mine = record({ user: 'ada' });
        await indexed.set('idx-1', mine);
        await indexed.set('idx-2', record({ user: 'ada' }));
        expect(await legacy.get('idx-1')).toEqual(mine);
        expect(await nodeRedis.get(`${prefix}idx-1`)).toBe(JSON.stringify(mine));
        // The index lives outside the prefix: listings on both sides see sessions only.
        expect((await indexed.ids()).sort()).toEqual((await legacy.ids()).sort());
        expect(await indexed.length()).toBe(await legacy.length());
        expect(await nodeRedis.keys(`${indexed.userIndexPrefix}*`)).not.toHaveLength(0);

        // connect-redis moves idx-1 to another user and destroys idx-2: neither is reported for ada.
        await legacy.set('idx-1', record({ user: 'bob' }) as never);
        await legacy.destroy('idx-2');
        expect(await indexed.userSessions?.('ada')).toEqual([]);
        expect(await indexed.countUserSessions?.('ada')).toBe(0);
        // A touch by connect-redis keeps the session listed, with its new expiry.
        await indexed.set('idx-3', record({ user: 'ada' }, 60_000));
        await legacy.touch('idx-3', record({ user: 'ada' }, 600_000) as never);
        const [listed] = (await indexed.userSessions?.('ada')) ?? [];
        expect(listed?.id).toBe('idx-3');
        expect((listed?.expiresAt ?? 0) - Date.now()).toBeGreaterThan(500_000);
        await indexed.destroy(['idx-1', 'idx-3']);
        await indexed.close();
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
        const sessStore = open({ prefix });
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
}

describe.skipIf(!cluster.available)(
  `interop with connect-redis 9 on the 3-master cluster${cluster.available ? '' : ` (SKIPPED: ${cluster.reason})`}`,
  () => {
    const nodes = cluster.available
      ? cluster.url.split(',').map((entry) => {
          const [host = '', port = ''] = entry.trim().split(':');
          return { host, port: Number(port) };
        })
      : [];
    const prefix = `interop_${randomBytes(4).toString('hex')}:`;
    const legacyCluster = createCluster({
      rootNodes: nodes.map((n) => ({ url: `redis://${n.host}:${n.port}` })),
    });
    const mineCluster = createCluster({
      rootNodes: nodes.map((n) => ({ url: `redis://${n.host}:${n.port}` })),
    });
    let legacy: ConnectRedisStore;
    let stores: RedisStore[];

    beforeAll(async () => {
      await legacyCluster.connect();
      await mineCluster.connect();
      legacy = new ConnectRedisStore({ client: legacyCluster, prefix });
      stores = [
        new RedisStore({ client: mineCluster, prefix }),
        new RedisStore({ cluster: nodes, prefix }),
      ];
    });
    afterAll(async () => {
      await stores[0]?.clear();
      for (const store of stores) await store.close();
      await legacyCluster.close();
      await mineCluster.close();
    });

    it('sessions on every master: written by connect-redis, read by this store (node-redis and ioredis), and back', async () => {
      const ids = Array.from({ length: 24 }, (_, i) => `legacy-${i}`);
      const written = record({ user: 'ada' });
      for (const id of ids) await legacy.set(id, written as never);
      for (const store of stores) {
        expect(await store.get('legacy-5')).toEqual(written);
        // Listings find the keys on all three masters, as connect-redis's own do.
        expect((await store.ids()).sort()).toEqual([...ids].sort());
        expect((await store.ids()).sort()).toEqual(((await legacy.ids()) as string[]).sort());
        expect(await store.length()).toBe(await legacy.length());
      }
      const [nodeStore, ioStore] = stores as [RedisStore, RedisStore];
      await nodeStore.set('from-node-redis', record({ by: 'node-redis' }));
      await ioStore.set('from-ioredis', record({ by: 'ioredis' }));
      expect((await legacy.get('from-node-redis'))?.by).toBe('node-redis');
      expect((await legacy.get('from-ioredis'))?.by).toBe('ioredis');
      // compareAndSet against what connect-redis wrote, then connect-redis reads the result.
      const current = await nodeStore.get('legacy-3');
      expect(await nodeStore.compareAndSet('legacy-3', current, record({ views: 2 }))).toBe(true);
      expect((await legacy.get('legacy-3'))?.views).toBe(2);
      await nodeStore.destroy(ids);
      expect(await legacy.get('legacy-0')).toBeNull();
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
