// Migrating from connect-redis 9 (its current release): its README's configurations, ported
// verbatim, either behave as they did there (same lifetimes, data readable both ways) or fail at
// startup naming the change.
import { randomBytes } from 'node:crypto';
import { SessConfigError } from '@sess/core';
import { resolveService } from '@sess/store-conformance/services';
import { RedisStore as ConnectRedisStore } from 'connect-redis';
import { createClient } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisStore } from '../src/index.js';

const service = await resolveService('redis');

describe('connect-redis options that would change behaviour fail at startup', () => {
  it('ttl in seconds is refused, naming the milliseconds and the unit form', () => {
    expect(() => new RedisStore({ ttl: 86400 })).toThrow(
      "redis store: ttl: 86400 looks like seconds (connect-redis counts seconds); sess counts milliseconds: use 86400000 or '1d'",
    );
    expect(() => new RedisStore({ ttl: 1209600 })).toThrow(/use 1209600000 or '14d'/);
  });

  it('ttl takes milliseconds or units', async () => {
    for (const ttl of [86_400_000, '1d', '14 days', '30m']) {
      const store = new RedisStore({ ttl });
      await store.close();
    }
  });

  it('disableTTL: true is refused (sessions that never expired would expire); false is accepted', async () => {
    expect(() => new RedisStore({ disableTTL: true } as never)).toThrow(SessConfigError);
    expect(() => new RedisStore({ disableTTL: true } as never)).toThrow(
      /disableTTL is not supported: .*never expired.*ttl: '365d'/,
    );
    const store = new RedisStore({ disableTTL: false });
    await store.close();
  });

  it('unknown options are refused; connection options of older connect-redis releases are named', () => {
    expect(() => new RedisStore({ prefx: 'a:' } as never)).toThrow(/unknown option `prefx`/);
    expect(() => new RedisStore({ host: 'localhost', port: 6379 } as never)).toThrow(
      /option `host` is not supported under that name: give `url`/,
    );
  });
});

describe('background failures', () => {
  it('a connection the store opened that fails reaches onError once per outage, not per retry', async () => {
    const errors: Error[] = [];
    const store = new RedisStore({
      url: 'redis://127.0.0.1:1',
      timeout: 500,
      onError: (error) => errors.push(error),
    });
    await expect(store.get('x')).rejects.toMatchObject({ name: 'StoreUnavailableError' });
    await new Promise((r) => setTimeout(r, 600)); // several reconnect attempts
    await store.close();
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ name: 'StoreUnavailableError', operation: 'connect' });
  });
});

describe.skipIf(!service.available)(
  `migrating from connect-redis 9${service.available ? '' : ` (SKIPPED: ${service.reason})`}`,
  () => {
    const url = service.available ? service.url : '';
    const nodeRedis = createClient({ url });
    const prefix = `migr_${randomBytes(4).toString('hex')}:`;

    beforeAll(async () => {
      await nodeRedis.connect();
    });
    afterAll(async () => {
      const keys = await nodeRedis.keys(`${prefix}*`);
      if (keys.length > 0) await nodeRedis.del(keys);
      await nodeRedis.quit();
    });

    it("its README's full setup, ported verbatim, reads and writes the same keys with the same lifetimes", async () => {
      // connect-redis README: `new RedisStore({ client: redisClient, prefix: "myapp:" })`
      const redisClient = createClient({ url });
      redisClient.connect().catch(console.error);
      const legacy = new ConnectRedisStore({ client: redisClient, prefix: `${prefix}myapp:` });
      const store = new RedisStore({ client: redisClient, prefix: `${prefix}myapp:` });
      try {
        const browserSession = { cookie: { originalMaxAge: null, path: '/', httpOnly: true } };
        await legacy.set('old', { ...browserSession, user: 'ada' } as never);
        await store.set('new', { ...browserSession, user: 'bob' });
        expect((await store.get('old'))?.user).toBe('ada');
        expect(
          await new Promise((resolve, reject) =>
            legacy.get('new', (err, value) => (err ? reject(err) : resolve(value))),
          ),
        ).toMatchObject({ user: 'bob' });
        // Same default lifetime for a browser-session cookie: one day.
        const pttlOld = await nodeRedis.pTTL(`${prefix}myapp:old`);
        const pttlNew = await nodeRedis.pTTL(`${prefix}myapp:new`);
        expect(Math.abs(pttlOld - pttlNew)).toBeLessThan(2_000);
        expect(pttlNew).toBeGreaterThan(86_390_000);
      } finally {
        await store.close();
        await redisClient.quit();
      }
    });

    it('a ttl carried over from connect-redis as milliseconds or a unit gives the same lifetime', async () => {
      const legacy = new ConnectRedisStore({ client: nodeRedis, prefix, ttl: 3600 });
      const store = new RedisStore({ client: nodeRedis, prefix, ttl: '1h' });
      try {
        await legacy.set('l', { cookie: { originalMaxAge: null } } as never);
        await store.set('s', { cookie: { originalMaxAge: null } });
        const l = await nodeRedis.pTTL(`${prefix}l`);
        const s = await nodeRedis.pTTL(`${prefix}s`);
        expect(Math.abs(l - s)).toBeLessThan(2_000);
        expect(s).toBeGreaterThan(3_590_000);
        expect(s).toBeLessThanOrEqual(3_600_000);
      } finally {
        await store.close();
      }
    });
  },
);
