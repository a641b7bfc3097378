// What the conformance suite does not pin down: the connect-redis layout, the
// options, one-command writes, prefix safety, CAS robustness, close semantics, Cluster.
import { randomBytes } from 'node:crypto';
import { SessConfigError, type SessionRecord, StoreClosedError, StoreError } from '@sess/core';
import { resolveService } from '@sess/store-conformance/services';
import { Cluster, Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type IoredisClient, RedisStore } from '../src/index.js';
import { monitor } from './monitor.js';

/** The state of the ioredis connection a store opened itself. */
const status = (store: RedisStore) => (store.client as IoredisClient).status;

const single = await resolveService('redis');
const cluster = await resolveService('redis-cluster');

const record = (data: Record<string, unknown> = {}, ttlMs: number | null = 3_600_000) => ({
  cookie: {
    originalMaxAge: ttlMs,
    expires: ttlMs === null ? null : new Date(Date.now() + ttlMs).toISOString(),
  },
  ...data,
});
const newPrefix = () => `t_${randomBytes(4).toString('hex')}:`;

describe('RedisStore options', () => {
  it('rejects a client with a keyPrefix, and a bad ttl or timeout', async () => {
    const client = new Redis({ lazyConnect: true, keyPrefix: 'app:' });
    expect(() => new RedisStore({ client })).toThrow(SessConfigError);
    client.disconnect();
    expect(() => new RedisStore({ ttl: 0 })).toThrow(SessConfigError);
    expect(() => new RedisStore({ ttl: Number.NaN })).toThrow(SessConfigError);
    expect(() => new RedisStore({ timeout: -1 })).toThrow(SessConfigError);
  });
});

describe.skipIf(!single.available)(
  `RedisStore on one server${single.available ? '' : ` (SKIPPED: ${single.reason})`}`,
  () => {
    const url = single.available ? single.url : '';
    const raw = new Redis(url, { lazyConnect: true });
    const stores: RedisStore[] = [];
    const open = (options: ConstructorParameters<typeof RedisStore>[0] = {}) => {
      const store = new RedisStore({ url, prefix: newPrefix(), ...options });
      stores.push(store);
      return store;
    };
    beforeAll(() => raw.connect());
    afterAll(async () => {
      for (const store of stores) {
        await store.clear().catch(() => undefined);
        await store.close();
      }
      raw.disconnect();
    });

    it('stores <prefix><id> as a JSON string with a millisecond expiry from cookie.expires', async () => {
      const store = open();
      const written = record({ user: 'ada' }, 90_000);
      const before = Date.now();
      await store.set('abc', written);
      const took = Date.now() - before;
      expect(await raw.type(`${store.prefix}abc`)).toBe('string');
      expect(JSON.parse((await raw.get(`${store.prefix}abc`)) ?? '')).toEqual(written);
      // PX is relative (immune to clock skew): the instant lands within the round trip,
      // that is late by at most the time set() took (not a fixed bound: CI is loaded).
      const pexpireAt = await raw.pexpiretime(`${store.prefix}abc`);
      const late = pexpireAt - Date.parse(written.cookie.expires as string);
      expect(late).toBeGreaterThanOrEqual(-2);
      expect(late).toBeLessThanOrEqual(took + 2);
    });

    it('ttl: milliseconds for a cookie without expires (default one day), or a function for every session', async () => {
      const byDefault = open();
      await byDefault.set('d', record({}, null));
      expect(await raw.pttl(`${byDefault.prefix}d`)).toBeGreaterThan(86_399_000 - 5_000);

      const tenMinutes = open({ ttl: '10m' });
      await tenMinutes.set('n', record({}, null));
      const pttl = await raw.pttl(`${tenMinutes.prefix}n`);
      expect(pttl).toBeGreaterThan(595_000);
      expect(pttl).toBeLessThanOrEqual(600_000);
      // cookie.expires wins over a number ttl
      await tenMinutes.set('e', record({}, 30_000));
      expect(await raw.pttl(`${tenMinutes.prefix}e`)).toBeLessThanOrEqual(30_000);

      const seen: SessionRecord[] = [];
      const computed = open({
        ttl: (session) => {
          seen.push(session);
          return session.vip ? 7_200_000 : '1m';
        },
      });
      await computed.set('vip', record({ vip: true }, 30_000));
      await computed.set('guest', record({}, 30_000));
      expect(await raw.pttl(`${computed.prefix}vip`)).toBeGreaterThan(7_100_000);
      expect(await raw.pttl(`${computed.prefix}guest`)).toBeGreaterThan(55_000);
      // The first call is the startup probe (a made-up one-day session, no data).
      expect(seen.map((s) => Boolean(s.vip))).toEqual([false, true, false]);
      expect(seen[0]?.cookie.originalMaxAge).toBe(86_400_000);
      // A function returning zero or less ends the session.
      const ended = open({ ttl: () => 0 });
      await raw.set(`${ended.prefix}gone`, JSON.stringify(record()));
      await ended.set('gone', record());
      expect(await raw.exists(`${ended.prefix}gone`)).toBe(0);
    });

    it('a session already expired at set time is deleted, not written', async () => {
      const store = open();
      await store.set('old', record({ v: 1 }));
      await store.set('old', record({ v: 2 }, -5_000));
      expect(await raw.exists(`${store.prefix}old`)).toBe(0);
      await store.set('never', record({ v: 1 }, -5_000));
      expect(await raw.exists(`${store.prefix}never`)).toBe(0);
    });

    it('set is one SET … PX, get one GET, touch one PEXPIRE (MONITOR)', async () => {
      const store = open();
      const commands = await monitor(url, async () => {
        await store.set('m', record({ v: 1 }));
        await store.get('m');
        await store.touch('m', record({ v: 'ignored' }, 7_200_000));
      });
      const mine = commands.filter((line) => line.includes(store.prefix));
      expect(mine.map((line) => line.split(' ')[0])).toEqual(['"set"', '"get"', '"pexpire"']);
      expect(mine[0]).toMatch(/"PX" "\d+"$/);
    });

    it('touch never rewrites the data; disableTouch makes it a no-op', async () => {
      const store = open();
      await store.set('t', record({ v: 'stored' }, 60_000));
      const before = await raw.get(`${store.prefix}t`);
      await store.touch('t', record({ v: 'other' }, 3_600_000));
      expect(await raw.get(`${store.prefix}t`)).toBe(before);
      expect(await raw.pttl(`${store.prefix}t`)).toBeGreaterThan(3_500_000);

      const lazy = open({ disableTouch: true });
      await lazy.set('t', record({}, 60_000));
      await lazy.touch('t', record({}, 3_600_000));
      expect(await raw.pttl(`${lazy.prefix}t`)).toBeLessThanOrEqual(60_000);
    });

    it('destroy takes one id or many', async () => {
      const store = open();
      for (const id of ['a', 'b', 'c', 'd']) await store.set(id, record());
      await store.destroy(['a', 'b', 'c']);
      await store.destroy([]);
      expect(await store.ids()).toEqual(['d']);
    });

    it('listings and clear match the prefix literally, even one with glob characters', async () => {
      const base = `g_${randomBytes(4).toString('hex')}`;
      const star = open({ prefix: `${base}*:` });
      const plain = open({ prefix: `${base}x:` });
      const bracket = open({ prefix: `${base}[x]:` });
      await star.set('s', record());
      await plain.set('p', record());
      await bracket.set('b', record());
      await raw.set(`${base}*:not-a-session`, 'plain text', 'EX', 60);
      expect(await star.ids()).toEqual(expect.arrayContaining(['s', 'not-a-session']));
      expect(await star.length()).toBe(2);
      expect(Object.keys(await star.all())).toEqual(['s']); // unreadable values are skipped
      expect(await bracket.ids()).toEqual(['b']);
      await star.clear();
      expect(await plain.ids()).toEqual(['p']);
      expect(await bracket.ids()).toEqual(['b']);
    });

    it('scanCount pages through many keys', async () => {
      const store = open({ scanCount: 7 });
      await Promise.all(Array.from({ length: 120 }, (_, i) => store.set(`k${i}`, record({ i }))));
      expect((await store.ids()).length).toBe(120);
      expect(Object.keys(await store.all()).length).toBe(120);
      await store.clear();
      expect(await store.length()).toBe(0);
      // Small pages over a shared server that holds every other test's keys: many round trips.
    }, 30_000);

    it('a custom serializer is used both ways; what it cannot parse reads as missing', async () => {
      const serializer = {
        stringify: (s: SessionRecord) => `v1:${Buffer.from(JSON.stringify(s)).toString('base64')}`,
        parse: (text: string) => {
          if (!text.startsWith('v1:')) throw new Error('unknown format');
          return JSON.parse(Buffer.from(text.slice(3), 'base64').toString());
        },
      };
      const store = open({ serializer });
      const written = record({ secret: 'x' });
      await store.set('s', written);
      expect((await raw.get(`${store.prefix}s`))?.startsWith('v1:')).toBe(true);
      expect(await store.get('s')).toEqual(written);
      await raw.set(`${store.prefix}legacy`, JSON.stringify(written), 'EX', 60);
      expect(await store.get('legacy')).toBeNull();
      const current = await store.get('s');
      expect(await store.compareAndSet('s', current, record({ secret: 'y' }))).toBe(true);
    });

    it('corrupt values read as missing; compareAndSet treats them as absent', async () => {
      const store = open();
      for (const [id, text] of [
        ['not-json', '{"cookie":'],
        ['no-cookie', '{"v":1}'],
        ['array', '[1]'],
        ['bytes', '\u0000\uFFFD'],
      ] as const) {
        await raw.set(`${store.prefix}${id}`, text, 'EX', 60);
        expect(await store.get(id), id).toBeNull();
      }
      await raw.hset(`${store.prefix}hash`, 'f', 'v');
      await expect(store.get('hash')).rejects.toBeInstanceOf(StoreError);
      expect(await store.compareAndSet('not-json', null, record({ v: 3 }))).toBe(true);
      expect((await store.get('not-json'))?.v).toBe(3);
      // but a stale expectation against a corrupt value does not write
      await raw.set(`${store.prefix}array`, '[1]', 'EX', 60);
      expect(await store.compareAndSet('array', record({ v: 1 }), record({ v: 2 }))).toBe(false);
    });

    it('compareAndSet is one EVALSHA when the record is as this store wrote it', async () => {
      const store = open();
      await store.set('c', record({ v: 1 }));
      await store.compareAndSet('c', await store.get('c'), record({ v: 2 })); // loads the script
      const current = await store.get('c');
      const commands = await monitor(url, async () => {
        expect(await store.compareAndSet('c', current, record({ v: 3 }))).toBe(true);
      });
      expect(commands.filter((line) => /^"eval/.test(line))).toHaveLength(1);
      expect(commands.some((line) => line.startsWith('"evalsha"'))).toBe(true);
      expect(await raw.pttl(`${store.prefix}c`)).toBeGreaterThan(3_500_000);
    });

    it('compareAndSet survives SCRIPT FLUSH (reloads with EVAL)', async () => {
      const store = open();
      await store.set('f', record({ v: 1 }));
      await raw.script('FLUSH');
      expect(await store.compareAndSet('f', await store.get('f'), record({ v: 2 }))).toBe(true);
      expect((await store.get('f'))?.v).toBe(2);
    });

    it('close() ends the connection it opened and is idempotent; later calls reject typed', async () => {
      const store = new RedisStore({ url, prefix: newPrefix() });
      await store.set('x', record());
      await store.destroy('x');
      await store.close();
      await store.close();
      await new Promise((r) => setTimeout(r, 50));
      expect(status(store)).toBe('end');
      await expect(store.get('x')).rejects.toBeInstanceOf(StoreClosedError);
      await expect(store.set('x', record())).rejects.toBeInstanceOf(StoreClosedError);
    });

    it('close() leaves a client it was given open', async () => {
      const client = new Redis(url);
      const store = new RedisStore({ client, prefix: newPrefix() });
      await store.set('x', record());
      await store.close();
      await expect(store.get('x')).rejects.toBeInstanceOf(StoreClosedError);
      expect(client.status).toBe('ready');
      expect(await client.exists(`${store.prefix}x`)).toBe(1);
      await client.del(`${store.prefix}x`);
      await client.quit();
    });

    it('a store that is never used opens no connection', async () => {
      const store = new RedisStore({ url });
      expect(status(store)).toBe('wait');
      await store.close();
      expect(status(store)).toBe('end');
    });
  },
);

describe.skipIf(!cluster.available)(
  `RedisStore on a cluster${cluster.available ? '' : ` (SKIPPED: ${cluster.reason})`}`,
  () => {
    const nodes = cluster.available
      ? cluster.url.split(',').map((entry) => {
          const [host = '', port = ''] = entry.split(':');
          return { host, port: Number(port) };
        })
      : [];

    it('spreads keys over the masters and lists, counts and clears them all', async () => {
      const store = new RedisStore({ cluster: nodes, prefix: newPrefix(), scanCount: 10 });
      try {
        const ids = Array.from({ length: 60 }, (_, i) => `c-${i}`);
        await Promise.all(ids.map((id) => store.set(id, record({ id }))));
        const masters = (store.client as Cluster).nodes('master');
        expect(masters).toHaveLength(3);
        const perMaster = await Promise.all(
          masters.map(async (m) => (await m.keys(`${store.prefix}*`)).length),
        );
        expect(perMaster.filter((n) => n > 0).length).toBe(3);
        expect((await store.ids()).sort()).toEqual([...ids].sort());
        expect(await store.length()).toBe(60);
        expect((await store.all())['c-7']?.id).toBe('c-7');
        await store.destroy(['c-0', 'c-1', 'c-2', 'c-3']); // keys in different slots
        expect(await store.length()).toBe(56);
        await store.clear();
        expect(await store.length()).toBe(0);
      } finally {
        await store.close();
      }
    });

    it('close() leaves a given Cluster client open', async () => {
      const client = new Cluster(nodes);
      const store = new RedisStore({ client, prefix: newPrefix() });
      await store.set('x', record({ v: 1 }));
      expect(await store.compareAndSet('x', await store.get('x'), record({ v: 2 }))).toBe(true);
      await store.close();
      expect(client.status).toBe('ready');
      expect(await client.exists(`${store.prefix}x`)).toBe(1);
      await client.del(`${store.prefix}x`);
      await client.quit();
    });
  },
);
