// Encryption at rest (issue 17) on Redis: the whole conformance suite through
// core's encryptStore, and what Redis itself holds: no plaintext of the data,
// the TTL still from cookie.expires.
import { randomBytes } from 'node:crypto';
import { ENCRYPTED_KEY, encryptStore, type SessionRecord } from '@sess/core';
import { describeStoreConformance, withEncryption } from '@sess/store-conformance';
import { resolveService } from '@sess/store-conformance/services';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { RedisStore } from '../src/index.js';

const single = await resolveService('redis');
const url = single.available ? single.url : '';

describeStoreConformance(
  withEncryption({
    name: 'redis (ioredis, single server)',
    skip: single.available ? false : single.reason,
    create: ({ namespace, users }) =>
      new RedisStore({ url, prefix: `${namespace}:`, ttl: '3s', scanCount: 1_000, users }),
    unreachable: () =>
      new RedisStore({
        url: 'redis://127.0.0.1:1',
        timeout: 1_000,
        redis: { connectTimeout: 500 },
      }),
    failFastWithin: 2_000,
    defaultTtl: 3_000,
  }),
);

const MARKER = 'redis-at-rest-marker-6b2e';
const keys = [{ id: 'k1', key: randomBytes(32) }];

describe.skipIf(!single.available)('encrypted records as Redis holds them', () => {
  const raw = new Redis(url, { lazyConnect: true });
  const prefix = `enc-raw-${process.pid}-${Date.now()}:`;
  const inner = new RedisStore({ url, prefix, users: { user: 'userId' } });
  const store = encryptStore(inner, { keys, clear: ['userId'] });
  afterAll(async () => {
    // Not clear(): a SCAN of the whole shared server.
    await store.destroy('s1');
    await store.destroy('s2');
    await store.close?.();
    raw.disconnect();
  });

  it('GET shows the cookie and the sealed string, no data; PTTL follows cookie.expires', async () => {
    const written: SessionRecord = {
      cookie: {
        originalMaxAge: 600_000,
        expires: new Date(Date.now() + 600_000).toISOString(),
        httpOnly: true,
        path: '/',
      },
      userId: 'ann',
      oauth: { accessToken: MARKER, scope: 'email' },
    };
    await store.set('s1', written);
    const stored = await raw.get(`${prefix}s1`);
    expect(stored).toBeTypeOf('string');
    expect(stored).not.toContain(MARKER);
    expect(stored).not.toContain('accessToken');
    const envelope = JSON.parse(stored as string) as SessionRecord;
    expect(Object.keys(envelope).sort()).toEqual([ENCRYPTED_KEY, 'cookie', 'userId'].sort());
    expect(envelope.cookie.expires).toBe(written.cookie.expires);
    const pttl = await raw.pttl(`${prefix}s1`);
    expect(pttl).toBeGreaterThan(590_000);
    expect(pttl).toBeLessThanOrEqual(600_000);
    expect(await store.get('s1')).toEqual(written);
    // The user index, kept by the store from the clear user id.
    expect((await store.userSessions?.('ann'))?.map((s) => s.id)).toEqual(['s1']);
  });

  it('a value planted with redis-cli-like SET under another id is a missing session', async () => {
    await raw.set(`${prefix}s2`, (await raw.get(`${prefix}s1`)) as string, 'PX', 60_000);
    expect(await store.get('s2')).toBe(null);
  });
});
