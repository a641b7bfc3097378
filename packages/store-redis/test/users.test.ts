// The user index (`users` option) on the real services: one server and the
// 3-master cluster, through ioredis and node-redis. What the conformance
// suite's user group does not pin down: the cap under parallel creation,
// the keys' expiry, the cluster's order of steps, the one-script write.
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import {
  SessConfigError,
  type SessionRecord,
  StoreClosedError,
  StoreUnavailableError,
  storeCapabilities,
  USER_CAPABILITIES,
} from '@sess/core';
import { session as sessSession } from '@sess/express';
import { resolveService } from '@sess/store-conformance/services';
import express from 'express';
import { Cluster, Redis } from 'ioredis';
import { createClient, createCluster } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisStore, type RedisStoreOptions } from '../src/index.js';
import { monitor } from './monitor.js';

const single = await resolveService('redis');
const cluster = await resolveService('redis-cluster');

const record = (
  user: string | number | undefined,
  options: { ttl?: number; created?: number; data?: Record<string, unknown> } = {},
): SessionRecord => {
  const ttl = options.ttl ?? 3_600_000;
  return {
    cookie: {
      originalMaxAge: ttl,
      expires: new Date(Date.now() + ttl).toISOString(),
      createdAt: options.created ?? Date.now(),
    },
    ...(user === undefined ? {} : { userId: user }),
    ...options.data,
  };
};
const newPrefix = () => `tu_${randomBytes(4).toString('hex')}:`;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const ids = async (store: RedisStore, user: string) =>
  (await (store.userSessions as NonNullable<RedisStore['userSessions']>)(user)).map((s) => s.id);
const list = (store: RedisStore, user: string) =>
  (store.userSessions as NonNullable<RedisStore['userSessions']>)(user);
const count = (store: RedisStore, user: string) =>
  (store.countUserSessions as NonNullable<RedisStore['countUserSessions']>)(user);
const destroyAll = (store: RedisStore, user: string, except?: string) =>
  (store.destroyUserSessions as NonNullable<RedisStore['destroyUserSessions']>)(user, except);

describe('RedisStore users option', () => {
  it('is checked at startup', () => {
    expect(() => new RedisStore({ users: { user: '' } })).toThrow(SessConfigError);
    expect(() => new RedisStore({ users: { user: 'userId', maxSessionsPerUser: 0 } })).toThrow(
      SessConfigError,
    );
    expect(
      () => new RedisStore({ users: { user: 'userId' }, userIndexPrefix: 'sess:users:' }),
    ).toThrow(/overlap/);
    expect(() => new RedisStore({ users: { user: 'userId' }, userIndexPrefix: 'se' })).toThrow(
      /overlap/,
    );
    expect(() => new RedisStore({ users: { user: 'userId' }, userIndexPrefix: 'u{x}:' })).toThrow(
      SessConfigError,
    );
    expect(() => new RedisStore({ userIndexPrefix: 'users:' })).toThrow(/without `users`/);
  });

  it('offers the user methods only when given', async () => {
    const plain = new RedisStore();
    const indexed = new RedisStore({ users: { user: 'passport.user' } });
    for (const name of [
      'userOf',
      'userSessions',
      'countUserSessions',
      'destroyUserSessions',
    ] as const) {
      expect(typeof plain[name]).toBe('undefined');
      expect(typeof indexed[name]).toBe('function');
    }
    expect([...storeCapabilities(indexed)].sort()).toEqual(
      [...storeCapabilities(plain), ...USER_CAPABILITIES].sort(),
    );
    for (const name of USER_CAPABILITIES) expect(storeCapabilities(plain).has(name)).toBe(false);
    expect(indexed.userOf?.({ cookie: { originalMaxAge: null }, passport: { user: 42 } })).toBe(
      '42',
    );
    expect(indexed.userOf?.({ cookie: { originalMaxAge: null } })).toBeNull();
    expect(indexed.userIndexPrefix).toBe('users:sess:');
    expect(new RedisStore({ prefix: '{s}:', users: { user: 'u' } }).userIndexPrefix).toBe(
      'users:s:',
    );
    await plain.close();
    await indexed.close();
  });
});

describe('RedisStore user methods on failure', () => {
  it('reject with StoreClosedError after close, and StoreUnavailableError within the bound when Redis is down', async () => {
    const users = { user: 'userId' };
    const down = new RedisStore({
      url: 'redis://127.0.0.1:1',
      timeout: 1_000,
      redis: { connectTimeout: 500 },
      users,
      onError: () => undefined,
    });
    const started = Date.now();
    const calls = [
      down.set('x', record('ada')),
      down.touch('x', record('ada')),
      down.destroy('x'),
      down.compareAndSet('x', null, record('ada')),
      list(down, 'ada'),
      count(down, 'ada'),
      destroyAll(down, 'ada'),
    ];
    for (const call of calls) await expect(call).rejects.toBeInstanceOf(StoreUnavailableError);
    expect(Date.now() - started).toBeLessThan(3_000);
    await down.close();
    await expect(list(down, 'ada')).rejects.toBeInstanceOf(StoreClosedError);
    await expect(destroyAll(down, 'ada')).rejects.toBeInstanceOf(StoreClosedError);
    await expect(down.set('x', record('ada'))).rejects.toBeInstanceOf(StoreClosedError);
  });
});

interface Backend {
  name: string;
  available: boolean;
  isCluster: boolean;
  open(options: Omit<RedisStoreOptions, 'client' | 'url' | 'cluster'>): RedisStore;
  /** A raw ioredis client (or cluster) on the same service. */
  raw(): Redis | Cluster;
  close(): Promise<void>;
}

const clusterNodes = (url: string) =>
  url.split(',').map((node) => {
    const [host, port] = node.split(':');
    return { host: host as string, port: Number(port) };
  });

function backends(): Backend[] {
  const url = single.available ? single.url : '';
  const nodes = cluster.available ? clusterNodes(cluster.url) : [];
  const nodeClient = single.available ? createClient({ url }) : undefined;
  const nodeCluster = cluster.available
    ? createCluster({
        rootNodes: nodes.map((n) => ({ url: `redis://${n.host}:${n.port}` })),
      })
    : undefined;
  let connected: Promise<unknown> | undefined;
  const connect = () => {
    connected ??= Promise.all([nodeClient?.connect(), nodeCluster?.connect()]);
    return connected;
  };
  const stores: RedisStore[] = [];
  const track = (store: RedisStore) => {
    stores.push(store);
    return store;
  };
  const closeAll = async () => {
    for (const store of stores.splice(0)) {
      await store.clear().catch(() => undefined);
      await store.close();
    }
  };
  const list: Backend[] = [
    {
      name: 'ioredis, one server',
      available: single.available,
      isCluster: false,
      open: (options) => track(new RedisStore({ url, ...options })),
      raw: () => new Redis(url),
      close: closeAll,
    },
    {
      name: 'node-redis, one server',
      available: single.available,
      isCluster: false,
      open: (options) => {
        void connect();
        return track(new RedisStore({ client: nodeClient, ...options }));
      },
      raw: () => new Redis(url),
      close: async () => {
        await closeAll();
        if (nodeClient?.isOpen) await nodeClient.close();
      },
    },
    {
      name: 'ioredis, cluster of three masters',
      available: cluster.available,
      isCluster: true,
      open: (options) => track(new RedisStore({ cluster: nodes, ...options })),
      raw: () => new Cluster(nodes),
      close: closeAll,
    },
    {
      name: 'node-redis, cluster of three masters',
      available: cluster.available,
      isCluster: true,
      open: (options) => {
        void connect();
        return track(new RedisStore({ client: nodeCluster, ...options }));
      },
      raw: () => new Cluster(nodes),
      close: async () => {
        await closeAll();
        if (nodeCluster?.isOpen) await nodeCluster.close();
      },
    },
  ];
  return list.map((backend) => ({
    ...backend,
    // SCAN pages of 1000 on the shared server, which holds every other test's keys
    // (clear() scans the prefix and the index prefix: at COUNT 100 that outlasted 5 s under load).
    open: (options) => backend.open({ scanCount: 1_000, ...options }),
    // node-redis clients connect before the first store command.
    async close() {
      await connected;
      await backend.close();
    },
  }));
}

for (const backend of backends()) {
  describe.skipIf(!backend.available)(
    `RedisStore user index (${backend.name})${backend.available ? '' : ' (SKIPPED: service unavailable)'}`,
    () => {
      const raw = backend.raw();
      const open = (
        users: RedisStoreOptions['users'] = { user: 'userId' },
        options: Omit<RedisStoreOptions, 'client' | 'url' | 'cluster' | 'users'> = {},
      ) => backend.open({ prefix: newPrefix(), users, ...options });
      beforeAll(async () => {
        await raw.ping();
      });
      afterAll(async () => {
        await backend.close();
        raw.disconnect();
      });

      it("lists a user's sessions oldest first, with meta, never another user's", async () => {
        const store = open({ user: 'userId', meta: ['userAgent'] });
        const t = Date.now();
        await store.set('b', record('ada', { created: t - 1_000, data: { userAgent: 'Firefox' } }));
        await store.set('a', record('ada', { created: t - 2_000 }));
        await store.set('c', record('bob', { created: t - 3_000 }));
        await store.set('d', record(undefined));
        const listed = await list(store, 'ada');
        expect(listed.map((s) => s.id)).toEqual(['a', 'b']);
        expect(listed[1]).toMatchObject({
          id: 'b',
          createdAt: t - 1_000,
          meta: { userAgent: 'Firefox' },
        });
        expect(listed[0]?.meta).toEqual({});
        const expiresAt = listed[0]?.expiresAt as number;
        expect(Math.abs(expiresAt - (Date.now() + 3_600_000))).toBeLessThan(5_000);
        expect(listed[0]?.lastSeenAt).toBe(expiresAt - 3_600_000);
        expect(await ids(store, 'bob')).toEqual(['c']);
        expect(await count(store, 'ada')).toBe(2);
        expect(await count(store, 'nobody')).toBe(0);
        expect(await ids(store, '')).toEqual([]);
      });

      it('follows a user change on rewrite, destroy, a past expiry and compareAndSet', async () => {
        const store = open();
        await store.set('s1', record('ada'));
        await store.set('s2', record('ada'));
        await store.set('s1', record('bob'));
        expect(await ids(store, 'ada')).toEqual(['s2']);
        expect(await ids(store, 'bob')).toEqual(['s1']);
        // Logging out: the session stays, without a user.
        await store.set('s1', record(undefined));
        expect(await count(store, 'bob')).toBe(0);
        expect(await store.get('s1')).not.toBeNull();
        await store.destroy('s2');
        expect(await count(store, 'ada')).toBe(0);
        await store.set('s3', record('ada'));
        await store.set('s3', {
          ...record('ada'),
          cookie: { originalMaxAge: 1_000, expires: new Date(0).toISOString() },
        });
        expect(await store.get('s3')).toBeNull();
        expect(await count(store, 'ada')).toBe(0);
        // compareAndSet: a miss changes nothing, a hit moves the session.
        await store.set('s4', record('ada'));
        const current = await store.get('s4');
        expect(
          await store.compareAndSet('s4', record('ada', { data: { v: 1 } }), record('eve')),
        ).toBe(false);
        expect(await store.compareAndSet('s5', current, record('eve'))).toBe(false);
        expect(await ids(store, 'ada')).toEqual(['s4']);
        expect(await store.compareAndSet('s4', current, record('eve'))).toBe(true);
        expect(await ids(store, 'ada')).toEqual([]);
        expect(await ids(store, 'eve')).toEqual(['s4']);
        expect(await store.compareAndSet('s6', null, record('eve'))).toBe(true);
        expect(await store.compareAndSet('s6', null, record('eve'))).toBe(false);
        expect(await ids(store, 'eve')).toEqual(['s4', 's6']);
        // destroy of many at once.
        await store.destroy(['s4', 's6']);
        expect(await count(store, 'eve')).toBe(0);
      });

      it('never reports an expired session; touch moves its expiry in the index', async () => {
        const store = open();
        const t = Date.now();
        await store.set('short', record('ada', { ttl: 700, created: t }));
        await store.set('touched', record('ada', { ttl: 700, created: t + 1 }));
        await store.set('long', record('ada', { created: t + 2 }));
        await store.touch('touched', record('ada', { ttl: 60_000, created: t + 1 }));
        await sleep(900);
        expect(await ids(store, 'ada')).toEqual(['touched', 'long']);
        expect(await count(store, 'ada')).toBe(2);
        const touched = (await list(store, 'ada')).find((s) => s.id === 'touched');
        expect((touched?.expiresAt as number) - Date.now()).toBeGreaterThan(50_000);
        // A touch to a past expiry ends the session and its index entry.
        await store.touch('touched', {
          ...record('ada'),
          cookie: { originalMaxAge: 1_000, expires: new Date(0).toISOString() },
        });
        expect(await ids(store, 'ada')).toEqual(['long']);
      });

      it("keeps the user's keys as long as the longest member, and drops them with the last", async () => {
        const store = open();
        await store.set('x', record('ada', { ttl: 60_000 }));
        await store.set('y', record('ada', { ttl: 120_000 }));
        await store.set('z', record('ada', { ttl: 30_000 }));
        const userKey = `${store.userIndexPrefix}u:{ada}`;
        for (const key of [userKey, `${userKey}:exp`]) {
          const pttl = await raw.pttl(key);
          expect(pttl).toBeGreaterThan(110_000);
          expect(pttl).toBeLessThanOrEqual(120_000);
        }
        expect(await raw.pttl(`${store.userIndexPrefix}of:{${store.prefix}x}`)).toBeGreaterThan(
          50_000,
        );
        await store.touch('x', record('ada', { ttl: 600_000 }));
        expect(await raw.pttl(userKey)).toBeGreaterThan(590_000);
        await store.destroy(['x', 'y', 'z']);
        expect(await raw.exists(userKey, `${userKey}:exp`)).toBe(0);
        expect(await raw.exists(`${store.userIndexPrefix}of:{${store.prefix}x}`)).toBe(0);
      });

      it("destroys all of a user's sessions, or all but one, and nobody else's", async () => {
        const store = open();
        for (const id of ['a1', 'a2', 'a3']) await store.set(id, record('ada'));
        await store.set('b1', record('bob'));
        expect(await destroyAll(store, 'ada', 'a2')).toBe(2);
        expect(await ids(store, 'ada')).toEqual(['a2']);
        expect(await store.get('a1')).toBeNull();
        expect(await store.get('a2')).not.toBeNull();
        expect(await destroyAll(store, 'ada')).toBe(1);
        expect(await store.get('a2')).toBeNull();
        expect(await destroyAll(store, 'ada')).toBe(0);
        expect(await ids(store, 'bob')).toEqual(['b1']);
        expect(await store.get('b1')).not.toBeNull();
      });

      it('caps a user at maxSessionsPerUser, destroying the oldest, also under parallel creation', async () => {
        const store = open({ user: 'userId', maxSessionsPerUser: 3 });
        const t = Date.now();
        for (let i = 0; i < 4; i++) {
          await store.set(`s${i}`, record('ada', { created: t + i }));
        }
        expect(await ids(store, 'ada')).toEqual(['s1', 's2', 's3']);
        expect(await store.get('s0')).toBeNull();
        // A rewrite of a session already counted destroys nothing.
        await store.set('s1', record('ada', { created: t + 1, data: { v: 2 } }));
        expect(await count(store, 'ada')).toBe(3);
        // An expired member does not count: the cap ends no live session for it.
        await store.set('old', record('bob', { created: t - 10, ttl: 400 }));
        await store.set('b1', record('bob', { created: t }));
        await store.set('b2', record('bob', { created: t + 1 }));
        await sleep(600);
        await store.set('b3', record('bob', { created: t + 2 }));
        expect(await ids(store, 'bob')).toEqual(['b1', 'b2', 'b3']);

        // 24 parallel logins of one user, through 3 store objects.
        const peer = () =>
          backend.open({ prefix: store.prefix, users: { user: 'userId', maxSessionsPerUser: 3 } });
        const prefixStores = [store, peer(), peer()];
        const created = Array.from({ length: 24 }, (_, i) => `p${String(i).padStart(2, '0')}`);
        await Promise.all(
          created.map((id, i) =>
            (prefixStores[i % 3] as RedisStore).set(id, record('eve', { created: t + i })),
          ),
        );
        const live = (await Promise.all(created.map((id) => store.get(id)))).filter(Boolean);
        expect(live).toHaveLength(3);
        const listed = await ids(store, 'eve');
        expect(listed).toHaveLength(3);
        for (const id of listed) expect(await store.get(id)).not.toBeNull();
      });

      it('survives a new store object, and clear() removes the index', async () => {
        const store = open({ user: 'passport.user' });
        await store.set('k1', { ...record(undefined), passport: { user: 7 } });
        const again = backend.open({ prefix: store.prefix, users: { user: 'passport.user' } });
        expect(await ids(again, '7')).toEqual(['k1']);
        await again.clear();
        expect(await count(store, '7')).toBe(0);
        expect(await raw.exists(`${store.userIndexPrefix}u:{7}`)).toBe(0);
      }, 20_000);

      it('indexes user ids with braces and percent signs under their own keys', async () => {
        const store = open();
        await store.set('q1', record('{a}'));
        await store.set('q2', record('%7Ba%7D'));
        await store.set('q3', record('}x{'));
        expect(await ids(store, '{a}')).toEqual(['q1']);
        expect(await ids(store, '%7Ba%7D')).toEqual(['q2']);
        expect(await ids(store, '}x{')).toEqual(['q3']);
        expect(await destroyAll(store, '}x{')).toBe(1);
        expect(await ids(store, '}x{')).toEqual([]);
      });

      it('works with a hash-tagged prefix such as {sess}:', async () => {
        const store = backend.open({
          prefix: `{${newPrefix().slice(0, -1)}}:`,
          users: { user: 'userId', maxSessionsPerUser: 2 },
        });
        for (const id of ['h1', 'h2', 'h3']) await store.set(id, record('ada'));
        expect(await count(store, 'ada')).toBe(2);
        await store.destroy('h3');
        expect(await count(store, 'ada')).toBe(1);
        expect(await store.ids()).toHaveLength(1);
      });

      it('through @sess/express: logins listed on "your sessions", capped, and "log out everywhere else"', async () => {
        const store = open({ user: 'userId', maxSessionsPerUser: 3, meta: ['userAgent'] });
        const app = express()
          .use(
            sessSession({
              secret: 'a test secret that is long enough to pass the check',
              store,
              resave: false,
              saveUninitialized: false,
              cookie: { maxAge: 600_000 },
            }) as unknown as express.RequestHandler,
          )
          .get('/login', (req, res) => {
            const data = req.session as unknown as Record<string, unknown>;
            data['userId'] = 'ada';
            data['userAgent'] = req.get('user-agent');
            res.json({ id: req.sessionID });
          })
          .get('/devices', async (req, res) => {
            const listed = await req.session.userSessions();
            res.json(listed.map((s) => `${s.meta['userAgent']}${s.current ? ' (this one)' : ''}`));
          })
          .post('/logout-others', async (req, res) => {
            res.json({ destroyed: await req.session.destroyOtherSessions() });
          })
          .get('/me', (req, res) => {
            res.json({
              user: (req.session as unknown as Record<string, unknown>)['userId'] ?? null,
            });
          });
        const server = app.listen(0, '127.0.0.1');
        await once(server, 'listening');
        const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
        try {
          const cookies: string[] = [];
          for (const agent of ['one', 'two', 'three', 'four']) {
            const response = await fetch(`${base}/login`, { headers: { 'user-agent': agent } });
            cookies.push(response.headers.get('set-cookie')?.split(';')[0] ?? '');
          }
          const get = async (path: string, cookie: string, method = 'GET') =>
            (await fetch(`${base}${path}`, { method, headers: { cookie } })).json();
          expect(await get('/devices', cookies[3] ?? '')).toEqual([
            'two',
            'three',
            'four (this one)',
          ]);
          expect(await get('/me', cookies[0] ?? '')).toEqual({ user: null }); // ended by the cap
          expect(await get('/logout-others', cookies[2] ?? '', 'POST')).toEqual({ destroyed: 2 });
          expect(await get('/me', cookies[3] ?? '')).toEqual({ user: null });
          expect(await get('/devices', cookies[2] ?? '')).toEqual(['three (this one)']);
        } finally {
          server.closeAllConnections();
          await new Promise((resolve) => server.close(resolve));
        }
      });

      it('a session written without its index step (a write cut between the two) is indexed by its next touch', async () => {
        const store = open();
        // The session-slot half of a write only: the record and its pointer, no index entry.
        const plain = backend.open({ prefix: store.prefix });
        await plain.set('cut', record('ada', { ttl: 60_000 }));
        await raw.set(`${store.userIndexPrefix}of:{${store.prefix}cut}`, 'ada', 'PX', 60_000);
        expect(await ids(store, 'ada')).toEqual([]);
        await store.touch('cut', record('ada', { ttl: 60_000 }));
        expect(await ids(store, 'ada')).toEqual(['cut']);
        expect(await destroyAll(store, 'ada')).toBe(1);
        expect(await plain.get('cut')).toBeNull();
      });

      it('keeps every live session listed when writes, touches and destroys of it race', async () => {
        const store = open();
        const peer = backend.open({ prefix: store.prefix, users: { user: 'userId' } });
        for (let round = 0; round < 30; round++) {
          const id = `r${round}`;
          await store.set(id, record('ada'));
          const user = round % 2 === 0 ? 'ada' : 'bob';
          await Promise.all([
            peer.destroy(id),
            store.set(id, record(user)),
            peer.touch(id, record(user)),
            store.set(id, record('ada')),
          ]);
          const stored = await store.get(id);
          const owner = stored ? store.userOf?.(stored) : null;
          for (const who of ['ada', 'bob']) {
            expect((await ids(store, who)).includes(id)).toBe(owner === who);
          }
        }
      });

      if (!backend.isCluster) {
        it('writes a session and its index in one script; destroy and touch likewise', async () => {
          const store = open();
          // Each script once before, so none needs loading (EVAL) while monitored.
          await store.set('w', record('ada'));
          await store.touch('w', record('ada'));
          await store.destroy('w');
          await store.set('w', record('ada'));
          const commands = await monitor(
            single.available ? single.url : '',
            async () => {
              await store.set('w', record('bob'));
              await store.touch('w', record('bob'));
              await store.destroy('w');
            },
            { clientOnly: true },
          );
          const mine = commands.filter((line) => line.includes(store.prefix));
          expect(mine.map((line) => line.split(' ')[0])).toEqual([
            '"evalsha"',
            '"evalsha"',
            '"evalsha"',
          ]);
        });
      }
    },
  );
}
