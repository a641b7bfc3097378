// Sentinel: the store finds the master through a Sentinel (ioredis options in `redis`).
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { RedisStore } from '../src/index.js';
import { findRedisServer, freePort, start, stop } from './redis-server.js';

const binary = findRedisServer();
const record = (data: Record<string, unknown>) => ({
  cookie: { originalMaxAge: 60_000, expires: new Date(Date.now() + 60_000).toISOString() },
  ...data,
});

describe.skipIf(!binary)(
  `RedisStore through Sentinel${binary ? '' : ' (SKIPPED: redis-server is not on PATH)'}`,
  () => {
    const dir = mkdtempSync(join(tmpdir(), 'sess-sentinel-'));
    const children: ChildProcess[] = [];
    afterAll(async () => {
      for (const child of children) await stop(child);
      rmSync(dir, { recursive: true, force: true });
    });

    it('reads and writes through the master a Sentinel names', async () => {
      const masterPort = await freePort();
      children.push(await start(masterPort));
      const sentinelPort = await freePort();
      const config = join(dir, 'sentinel.conf');
      // Sentinel rewrites its config file, so it must be a writable file of its own.
      writeFileSync(config, `sentinel monitor sessmaster 127.0.0.1 ${masterPort} 1\n`);
      children.push(await start(sentinelPort, [config, '--sentinel'], 'Sentinel ID is'));

      const store = new RedisStore({
        redis: { sentinels: [{ host: '127.0.0.1', port: sentinelPort }], name: 'sessmaster' },
        prefix: 'sentinel:',
      });
      try {
        await store.set('s', record({ via: 'sentinel' }));
        expect((await store.get('s'))?.via).toBe('sentinel');
        expect(await store.compareAndSet('s', await store.get('s'), record({ via: 'cas' }))).toBe(
          true,
        );
        expect(await store.ids()).toEqual(['s']);
        // The data is on the private master, found through the Sentinel.
        const direct = new Redis(masterPort, '127.0.0.1');
        try {
          expect(JSON.parse((await direct.get('sentinel:s')) ?? '{}').via).toBe('cas');
        } finally {
          direct.disconnect();
        }
      } finally {
        await store.close();
      }
    }, 20_000);
  },
);
