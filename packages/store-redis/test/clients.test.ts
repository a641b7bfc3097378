// The same store behaviour through each client (ioredis, node-redis v5) on one
// server and on the 3-master cluster: layout, listings on every master, CAS,
// the serializer (a promise-returning parse) and the ttl function's checks.
import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import {
  SessConfigError,
  type SessionRecord,
  StoreClosedError,
  StoreError,
  StoreUnavailableError,
} from '@sess/core';
import { resolveService } from '@sess/store-conformance/services';
import { Cluster, Redis } from 'ioredis';
import { createClient, createCluster, RESP_TYPES } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RedisClient, RedisStore, type RedisStoreOptions } from '../src/index.js';
import { monitor } from './monitor.js';

const single = await resolveService('redis');
const cluster = await resolveService('redis-cluster');

const record = (data: Record<string, unknown> = {}, ttlMs: number | null = 3_600_000) => ({
  cookie: {
    originalMaxAge: ttlMs,
    expires: ttlMs === null ? null : new Date(Date.now() + ttlMs).toISOString(),
  },
  ...data,
});
const newPrefix = () => `c_${randomBytes(4).toString('hex')}:`;

const clusterNodes = cluster.available
  ? cluster.url.split(',').map((entry) => {
      const [host = '', port = ''] = entry.trim().split(':');
      return { host, port: Number(port) };
    })
  : [];

interface Setup {
  name: string;
  available: boolean;
  /** A client of the kind under test, connected; and how to end it. */
  connect: () => Promise<{ client: RedisClient; end: () => Promise<void> }>;
  /** An ioredis client (or cluster) to look at what the store wrote. */
  raw: () => Redis | Cluster;
  clustered: boolean;
}

const setups: Setup[] = [
  {
    name: 'ioredis, single server',
    available: single.available,
    clustered: false,
    connect: async () => {
      const client = new Redis(single.available ? single.url : '');
      return { client, end: async () => void (await client.quit()) };
    },
    raw: () => new Redis(single.available ? single.url : ''),
  },
  {
    name: 'ioredis, cluster',
    available: cluster.available,
    clustered: true,
    connect: async () => {
      const client = new Cluster(clusterNodes);
      return { client, end: async () => void (await client.quit()) };
    },
    raw: () => new Cluster(clusterNodes),
  },
  {
    name: 'node-redis, single server',
    available: single.available,
    clustered: false,
    connect: async () => {
      const client = createClient({ url: single.available ? single.url : '' });
      await client.connect();
      return { client, end: () => client.close() };
    },
    raw: () => new Redis(single.available ? single.url : ''),
  },
  {
    name: 'node-redis, cluster',
    available: cluster.available,
    clustered: true,
    connect: async () => {
      const client = createCluster({
        rootNodes: clusterNodes.map((n) => ({ url: `redis://${n.host}:${n.port}` })),
      });
      await client.connect();
      return { client, end: () => client.close() };
    },
    raw: () => new Cluster(clusterNodes),
  },
];

for (const setup of setups) {
  describe.skipIf(!setup.available)(
    `RedisStore through ${setup.name}${setup.available ? '' : ' (SKIPPED: service not set)'}`,
    () => {
      let client: RedisClient;
      let end: () => Promise<void>;
      const raw = setup.raw();
      const stores: RedisStore[] = [];
      const open = (options: Omit<RedisStoreOptions, 'client'> = {}) => {
        const store = new RedisStore({ client, prefix: newPrefix(), ...options });
        stores.push(store);
        return store;
      };
      beforeAll(async () => {
        ({ client, end } = await setup.connect());
      });
      afterAll(async () => {
        for (const store of stores) await store.clear().catch(() => undefined);
        for (const store of stores) await store.close();
        await end();
        raw.disconnect();
      });

      it("writes connect-redis's layout: <prefix><id>, the record as JSON, a millisecond expiry", async () => {
        const store = open();
        const written = record({ user: 'ada' }, 90_000);
        const before = Date.now();
        await store.set('abc', written);
        const took = Date.now() - before;
        expect(await raw.type(`${store.prefix}abc`)).toBe('string');
        expect(JSON.parse((await raw.get(`${store.prefix}abc`)) ?? '')).toEqual(written);
        // PX is the expiry minus the store's clock; Redis adds its own clock when the
        // command arrives, so the key expires late by at most the time set() took
        // (a fixed 200 ms bound failed a loaded CI run at 316 ms).
        const pexpireAt = await raw.pexpiretime(`${store.prefix}abc`);
        const late = pexpireAt - Date.parse(written.cookie.expires as string);
        expect(late).toBeGreaterThanOrEqual(-2);
        expect(late).toBeLessThanOrEqual(took + 2);
        expect(await store.get('abc')).toEqual(written);
        // touch moves only the expiry; a past expiry at set time deletes
        await store.touch('abc', record({ ignored: true }, 7_200_000));
        expect(await raw.pttl(`${store.prefix}abc`)).toBeGreaterThan(7_100_000);
        expect(JSON.parse((await raw.get(`${store.prefix}abc`)) ?? '')).toEqual(written);
        await store.set('abc', record({}, -1_000));
        expect(await raw.exists(`${store.prefix}abc`)).toBe(0);
      });

      it('lists, counts and clears keys on every master; destroys many ids across slots', async () => {
        // Small SCAN pages on the (otherwise empty) cluster; the shared server holds many other keys.
        const store = open({ scanCount: setup.clustered ? 10 : 1_000 });
        const ids = Array.from({ length: 60 }, (_, i) => `k-${i}`);
        await Promise.all(ids.map((id) => store.set(id, record({ id }))));
        if (raw instanceof Cluster) {
          // The keys really are spread: every master holds some.
          const perMaster = await Promise.all(
            raw.nodes('master').map(async (m) => (await m.keys(`${store.prefix}*`)).length),
          );
          expect(perMaster).toHaveLength(3);
          expect(perMaster.every((n) => n > 0)).toBe(true);
        }
        expect((await store.ids()).sort()).toEqual([...ids].sort());
        expect(await store.length()).toBe(60);
        const all = await store.all();
        expect(Object.keys(all).length).toBe(60);
        expect(all['k-7']?.id).toBe('k-7');
        await store.destroy(['k-0', 'k-1', 'k-2', 'k-3', 'k-4']);
        expect(await store.length()).toBe(55);
        await store.clear();
        expect(await store.length()).toBe(0);
        expect(await raw.exists(`${store.prefix}k-9`)).toBe(0);
      }, 20_000);

      it('compareAndSet: swaps, refuses a stale expectation, and reloads its script after SCRIPT FLUSH', async () => {
        const store = open();
        expect(await store.compareAndSet('c', null, record({ v: 1 }))).toBe(true);
        const current = await store.get('c');
        expect(await store.compareAndSet('c', current, record({ v: 2 }))).toBe(true);
        expect(await store.compareAndSet('c', current, record({ v: 3 }))).toBe(false);
        expect((await store.get('c'))?.v).toBe(2);
        // Same JSON with other bytes (as another writer may store it) still swaps.
        const spaced = `{ "v": 2,\n "cookie": ${JSON.stringify(record().cookie)} }`;
        await raw.set(`${store.prefix}c`, spaced, 'EX', 60);
        expect(await store.compareAndSet('c', await store.get('c'), record({ v: 4 }))).toBe(true);
        expect((await store.get('c'))?.v).toBe(4);
        const masters = raw instanceof Cluster ? raw.nodes('master') : [raw];
        await Promise.all(masters.map((m) => m.script('FLUSH')));
        expect(await store.compareAndSet('c', await store.get('c'), record({ v: 5 }))).toBe(true);
        expect((await store.get('c'))?.v).toBe(5);
        expect(await raw.pttl(`${store.prefix}c`)).toBeGreaterThan(3_500_000);
      });

      it('compareAndSet with no record expected (SET … NX) and with a session that has ended (DEL)', async () => {
        const store = open();
        // Nothing expected, a session stored: refused, the session kept.
        await store.set('n', record({ v: 1 }));
        expect(await store.compareAndSet('n', null, record({ v: 2 }))).toBe(false);
        expect((await store.get('n'))?.v).toBe(1);
        // Nothing expected, a value that is no session: replaced (it counts as absent), exact bytes.
        await raw.set(`${store.prefix}junk`, Buffer.from([0xff, 0xfe, 0x7b]), 'EX', 60);
        expect(await store.compareAndSet('junk', null, record({ v: 3 }))).toBe(true);
        expect((await store.get('junk'))?.v).toBe(3);
        // Nothing expected and the new record already ended: nothing stored, nothing written.
        expect(await store.compareAndSet('gone', null, record({ v: 4 }, -1_000))).toBe(true);
        expect(await raw.exists(`${store.prefix}gone`)).toBe(0);
        expect(await store.compareAndSet('n', null, record({ v: 4 }, -1_000))).toBe(false);
        expect((await store.get('n'))?.v).toBe(1);
        // A record expected and the new one ended: deleted only if it is still the expected one.
        const current = await store.get('n');
        expect(await store.compareAndSet('n', record({ v: 9 }), record({ v: 5 }, -1_000))).toBe(
          false,
        );
        expect((await store.get('n'))?.v).toBe(1);
        expect(await store.compareAndSet('n', current, record({ v: 5 }, -1_000))).toBe(true);
        expect(await raw.exists(`${store.prefix}n`)).toBe(0);
        // Expected but absent: refused, nothing created.
        expect(await store.compareAndSet('n', current, record({ v: 6 }))).toBe(false);
        expect(await raw.exists(`${store.prefix}n`)).toBe(0);
      });

      it('awaits a serializer parse that returns a promise (get, all, compareAndSet); a rejected one reads as missing', async () => {
        const serializer = {
          stringify: (s: SessionRecord) => JSON.stringify(s),
          parse: async (text: string) => {
            await new Promise((r) => setTimeout(r, 1));
            if (text.includes('"reject"')) throw new Error('cannot parse');
            return JSON.parse(text) as unknown;
          },
        };
        const store = open({ serializer });
        const written = record({ user: 'grace' });
        await store.set('p', written);
        expect(await store.get('p')).toEqual(written);
        expect((await store.all()).p).toEqual(written);
        expect(await store.compareAndSet('p', written, record({ user: 'ada' }))).toBe(true);
        expect((await store.get('p'))?.user).toBe('ada');
        // The byte-different path of compareAndSet parses the stored value too.
        const spaced = `{ "user": "ada", "cookie": ${JSON.stringify(written.cookie)} }`;
        await raw.set(`${store.prefix}p`, spaced, 'EX', 60);
        const seen = await store.get('p');
        expect(seen?.user).toBe('ada');
        expect(await store.compareAndSet('p', seen, record({ user: 'lin' }))).toBe(true);
        await raw.set(`${store.prefix}bad`, JSON.stringify(record({ reject: 1 })), 'EX', 60);
        expect(await store.get('bad')).toBeNull();
        expect(Object.keys(await store.all()).sort()).toEqual(['p']);
      });

      it('a ttl function that returns NaN, Infinity or a non-number is a SessConfigError naming the fix, and nothing is written', async () => {
        const results: unknown[] = [Number.NaN, Number.POSITIVE_INFINITY, '', null, undefined];
        for (const result of results) {
          const store = open({ ttl: () => result as number });
          for (const [name, run] of [
            ['set', () => store.set('x', record())],
            ['touch', () => store.touch('x', record())],
            ['compareAndSet', () => store.compareAndSet('x', null, record())],
          ] as const) {
            const error = await run().then(
              () => new Error(`${name} resolved`),
              (e: unknown) => e,
            );
            expect(error, `${name} with ${String(result)}`).toBeInstanceOf(SessConfigError);
            expect((error as Error).message).toMatch(/ttl function returned/);
            expect((error as Error).message).toMatch(/finite number of milliseconds/);
            expect((error as Error).message).toMatch(/originalMaxAge/);
          }
          expect(await raw.exists(`${store.prefix}x`)).toBe(0);
        }
        // A ported connect-redis function reading cookie.maxAge (absent in a stored record):
        const ported = open({
          ttl: (s) => ((s.cookie as { maxAge?: number }).maxAge as number) / 1000,
        });
        await expect(ported.set('y', record())).rejects.toThrow(/returned NaN/);
        // A result follows the rule of a static ttl: a string with a unit is
        // trusted, a plain number must be at least one hour of milliseconds.
        const fine = open({ ttl: () => '1m' });
        await fine.set('z', record());
        expect(await raw.pttl(`${fine.prefix}z`)).toBeGreaterThan(59_000);
        expect(await raw.pttl(`${fine.prefix}z`)).toBeLessThanOrEqual(60_000);
        const hour = open({ ttl: () => 3_600_000.4 });
        await hour.set('h', record());
        expect(await raw.pttl(`${hour.prefix}h`)).toBeGreaterThan(3_590_000);
        // A plain number below one hour from a function that the startup probe
        // could not judge (it answers differently for the made-up session) is
        // refused on the write, naming seconds, and nothing is written.
        const guests = open({ ttl: (s) => (s.guest ? 600 : 3_600_000) });
        const error = await guests.set('g', record({ guest: true })).then(
          () => new Error('resolved'),
          (e: unknown) => e,
        );
        expect(error).toBeInstanceOf(SessConfigError);
        expect((error as Error).message).toMatch(/600 looks like seconds.*connect-redis.*600000/);
        expect(await raw.exists(`${guests.prefix}g`)).toBe(0);
      });

      it('a ttl function ported from connect-redis (seconds) fails at startup', () => {
        // connect-redis: `ttl: (sess) => seconds`. Read as milliseconds, every
        // session would end a thousand times sooner: refused when the store opens.
        for (const ttl of [
          () => 86_400,
          (s: SessionRecord) => (s.cookie.originalMaxAge ?? 0) / 1000,
          () => '3600',
        ]) {
          expect(() => open({ ttl }), String(ttl)).toThrow(SessConfigError);
          expect(() => open({ ttl })).toThrow(
            /looks like seconds \(connect-redis counts seconds\)/,
          );
        }
        // The same functions in milliseconds or with a unit are accepted.
        expect(() => open({ ttl: () => 86_400_000 })).not.toThrow();
        expect(() =>
          open({ ttl: (s: SessionRecord) => s.cookie.originalMaxAge ?? '1d' }),
        ).not.toThrow();
        // One that cannot answer for the made-up session is left to the write-time check.
        expect(() =>
          open({
            ttl: () => {
              throw new Error('needs a user');
            },
          }),
        ).not.toThrow();
      });

      it('a serializer whose stringify does not return a string is a SessConfigError', async () => {
        const store = open({
          serializer: {
            stringify: (s: SessionRecord) => Promise.resolve(JSON.stringify(s)) as never,
            parse: JSON.parse,
          },
        });
        await expect(store.set('s', record())).rejects.toBeInstanceOf(SessConfigError);
        expect(await raw.exists(`${store.prefix}s`)).toBe(0);
      });

      it('close() leaves the given client open; later calls reject with StoreClosedError', async () => {
        const store = new RedisStore({ client, prefix: newPrefix() });
        await store.set('x', record());
        await store.close();
        await store.close();
        await expect(store.get('x')).rejects.toBeInstanceOf(StoreClosedError);
        expect(await raw.exists(`${store.prefix}x`)).toBe(1);
        // The client still works for the application.
        const again = open({ prefix: store.prefix });
        expect(await again.get('x')).not.toBeNull();
      });
    },
  );
}

describe('RedisStore `client` checks', () => {
  it('refuses what is not an ioredis or node-redis v5 client, naming what it takes', () => {
    for (const client of [{}, { get: () => null }, 'redis://127.0.0.1']) {
      expect(() => new RedisStore({ client: client as never })).toThrow(SessConfigError);
      expect(() => new RedisStore({ client: client as never })).toThrow(
        /ioredis client .*node-redis v5 client/,
      );
    }
    // node-redis v4's shape: no withTypeMapping
    const v4 = { isOpen: true, sendCommand: async () => null };
    expect(() => new RedisStore({ client: v4 as never })).toThrow(/older than v5/);
    const legacy = createClient({ url: 'redis://127.0.0.1:1' }).legacy();
    expect(() => new RedisStore({ client: legacy as never })).toThrow(/legacy mode/);
    const prefixed = new Redis({ lazyConnect: true, keyPrefix: 'app:' });
    expect(() => new RedisStore({ client: prefixed })).toThrow(/keyPrefix/);
    prefixed.disconnect();
  });
});

describe.skipIf(!single.available)(
  `RedisStore on node-redis, one server${single.available ? '' : ' (SKIPPED: SESS_REDIS_URL not set)'}`,
  () => {
    const url = single.available ? single.url : '';
    const client = createClient({ url });
    const raw = new Redis(url, { lazyConnect: true });
    beforeAll(async () => {
      await client.connect();
      await raw.connect();
    });
    afterAll(async () => {
      await client.close();
      raw.disconnect();
    });

    it('set is one SET … PX, get one GET, touch one PEXPIRE, compareAndSet one EVALSHA, one with no record expected SET … NX (MONITOR)', async () => {
      const store = new RedisStore({ client, prefix: newPrefix() });
      await store.set('m', record({ v: 0 }));
      await store.compareAndSet('m', await store.get('m'), record({ v: 0 })); // loads the script
      const current = record({ v: 1 });
      const commands = await monitor(
        url,
        async () => {
          await store.set('m', current);
          await store.get('m');
          await store.touch('m', record({ v: 'ignored' }, 7_200_000));
          await store.compareAndSet('m', current, record({ v: 2 }));
          await store.compareAndSet('new', null, record({ v: 3 }));
        },
        { clientOnly: true },
      );
      const mine = commands.filter((line) => line.includes(store.prefix));
      expect(mine.map((line) => line.split(' ')[0])).toEqual([
        '"set"',
        '"get"',
        '"pexpire"',
        '"evalsha"',
        '"set"',
      ]);
      expect(mine[0]).toMatch(/"PX" "\d+"$/);
      expect(mine[4]).toMatch(/"PX" "\d+" "NX"$/);
      await store.clear();
    });

    it("works whatever the client's RESP version and type mapping (RESP3, bulk strings as Buffers)", async () => {
      const resp3 = createClient({ url, RESP: 3 });
      await resp3.connect();
      const buffers = resp3.withTypeMapping({ [RESP_TYPES.BLOB_STRING]: Buffer });
      try {
        const store = new RedisStore({ client: buffers, prefix: newPrefix() });
        const written = record({ user: 'ada' });
        await store.set('b', written);
        expect(await store.get('b')).toEqual(written);
        expect(await store.ids()).toEqual(['b']);
        expect(await store.all()).toEqual({ b: written });
        expect(await store.compareAndSet('b', written, record({ user: 'lin' }))).toBe(true);
        expect(await store.compareAndSet('b', written, record({ user: 'x' }))).toBe(false);
        expect((await store.get('b'))?.user).toBe('lin');
        await store.clear();
        expect(await store.length()).toBe(0);
      } finally {
        await resp3.close();
      }
    });

    it('a client that was never connected (or was closed) rejects with StoreUnavailableError', async () => {
      const idle = createClient({ url });
      const store = new RedisStore({ client: idle, prefix: newPrefix() });
      const error = await store.get('x').then(
        () => new Error('resolved'),
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(StoreUnavailableError);
      expect((error as StoreError).cause).toBeDefined();
      await expect(store.set('x', record())).rejects.toBeInstanceOf(StoreUnavailableError);
    });

    it('a server error reply is a StoreError (not "unavailable"), as with ioredis', async () => {
      const store = new RedisStore({ client, prefix: newPrefix() });
      await raw.hset(`${store.prefix}hash`, 'f', 'v');
      const error = await store.get('hash').then(
        () => new Error('resolved'),
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(StoreError);
      expect(error).not.toBeInstanceOf(StoreUnavailableError);
      expect((error as Error).message).toMatch(/WRONGTYPE/);
      await raw.del(`${store.prefix}hash`);
    });

    it('the client is the one given, typed as such', async () => {
      const store = new RedisStore({ client, prefix: newPrefix() });
      // store.client keeps node-redis's own type: its methods are callable without a cast.
      expect(await store.client.ping()).toBe('PONG');
      expect(store.client).toBe(client);
    });
  },
);

describe.skipIf(!single.available)(
  `the connection the store opens from \`url\` (ioredis)${single.available ? '' : ' (SKIPPED: SESS_REDIS_URL not set)'}`,
  () => {
    const url = single.available ? single.url : '';
    type Spied = Socket & {
      _write: (...args: unknown[]) => void;
      _writev: (...args: unknown[]) => void;
    };
    /** Count the socket's writes: one `_writev` for a corked batch, one `_write` per lone chunk. */
    function countWrites(stream: Spied) {
      const counts = { write: 0, writev: 0 };
      const write = stream._write;
      const writev = stream._writev;
      stream._write = function (this: Socket, ...args: unknown[]) {
        counts.write += 1;
        return write.apply(this, args);
      };
      stream._writev = function (this: Socket, ...args: unknown[]) {
        counts.writev += 1;
        return writev.apply(this, args);
      };
      return counts;
    }

    it('sends the commands of one event-loop turn in one socket write, each answered in order', async () => {
      const store = new RedisStore({ url, prefix: newPrefix() });
      try {
        await store.set('warm', record()); // connects
        const client = store.client as Redis;
        expect(client.options.enableAutoPipelining).toBe(false);
        const stream = (client as unknown as { stream: Spied }).stream;
        const counts = countWrites(stream);
        const writes = Array.from({ length: 50 }, (_, i) => store.set(`k${i}`, record({ i })));
        // Corked until the turn ends, then written at once.
        expect(stream.writableCorked).toBe(1);
        await Promise.all(writes);
        expect(stream.writableCorked).toBe(0);
        expect(counts).toEqual({ write: 0, writev: 1 });
        const reads = await Promise.all(Array.from({ length: 50 }, (_, i) => store.get(`k${i}`)));
        expect(reads.map((read) => read?.['i'])).toEqual(Array.from({ length: 50 }, (_, i) => i));
        expect(counts).toEqual({ write: 0, writev: 2 });
        expect(await store.compareAndSet('k0', reads[0] ?? null, record({ i: 'x' }))).toBe(true);
        expect((await store.get('k0'))?.['i']).toBe('x');
        await store.clear();
      } finally {
        await store.close();
      }
    });

    it('leaves the batching to ioredis when the `redis` options turn its auto-pipelining on', async () => {
      const store = new RedisStore({
        url,
        prefix: newPrefix(),
        redis: { enableAutoPipelining: true },
      });
      try {
        await store.set('warm', record());
        const client = store.client as Redis;
        expect(client.options.enableAutoPipelining).toBe(true);
        const stream = (client as unknown as { stream: Spied }).stream;
        const writes = Array.from({ length: 10 }, (_, i) => store.set(`k${i}`, record({ i })));
        expect(stream.writableCorked).toBe(0);
        await Promise.all(writes);
        expect((await store.get('k9'))?.['i']).toBe(9);
        await store.clear();
      } finally {
        await store.close();
      }
    });
  },
);
