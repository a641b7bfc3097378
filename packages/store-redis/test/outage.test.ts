// Redis stops mid-run: operations fail fast with a typed error, nothing is
// left unhandled, and the same store works again once Redis is back.
import type { ChildProcess } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { StoreUnavailableError } from '@sess/core';
import { createClient } from 'redis';
import { afterAll, describe, expect, it } from 'vitest';
import { RedisStore } from '../src/index.js';
import { findRedisServer, freePort, start, stop } from './redis-server.js';

const redisServer = findRedisServer();
const record = (data: Record<string, unknown> = {}) => ({
  cookie: { originalMaxAge: 60_000, expires: new Date(Date.now() + 60_000).toISOString() },
  ...data,
});

describe.skipIf(!redisServer)(
  `Redis stops mid-run${redisServer ? '' : ' (SKIPPED: redis-server is not on PATH)'}`,
  () => {
    let child: ChildProcess | undefined;
    afterAll(async () => {
      await stop(child);
    });

    it('typed error within the bound while down, recovery after restart, no unhandled rejection', async () => {
      const unhandled: unknown[] = [];
      const onUnhandled = (reason: unknown) => unhandled.push(reason);
      process.on('unhandledRejection', onUnhandled);
      const port = await freePort();
      child = await start(port);
      const store = new RedisStore({ url: `redis://127.0.0.1:${port}`, timeout: 1_000 });
      try {
        await store.set('alive', record({ v: 1 }));
        expect((await store.get('alive'))?.v).toBe(1);

        await stop(child);
        child = undefined;

        // Every kind of operation rejects with StoreUnavailableError, each within the bound.
        const operations: [string, () => Promise<unknown>][] = [
          ['get', () => store.get('alive')],
          ['set', () => store.set('other', record())],
          ['touch', () => store.touch('alive', record())],
          ['destroy', () => store.destroy('alive')],
          ['compareAndSet', () => store.compareAndSet('alive', null, record())],
          ['ids', () => store.ids()],
        ];
        for (const [name, run] of operations) {
          const started = Date.now();
          const error = await run().then(
            () => new Error(`${name} resolved while Redis was down`),
            (e: unknown) => e,
          );
          expect(error, name).toBeInstanceOf(StoreUnavailableError);
          expect((error as StoreUnavailableError).operation).toBe(name);
          expect((error as StoreUnavailableError).cause, name).toBeDefined();
          expect(Date.now() - started, `${name} took too long`).toBeLessThan(2_000);
        }

        // Many requests in parallel while down: all settle, all typed.
        const burst = await Promise.allSettled(
          Array.from({ length: 50 }, (_, i) => store.get(`burst-${i}`)),
        );
        for (const outcome of burst) {
          expect(outcome.status).toBe('rejected');
          if (outcome.status === 'rejected') {
            expect(outcome.reason).toBeInstanceOf(StoreUnavailableError);
          }
        }

        child = await start(port);
        // The store reconnects by itself (capped backoff); the data was not persisted.
        const deadline = Date.now() + 10_000;
        let recovered = false;
        while (!recovered && Date.now() < deadline) {
          recovered = await store.set('back', record({ v: 2 })).then(
            () => true,
            () => false,
          );
          if (!recovered) await sleep(100);
        }
        expect(recovered, 'the store did not recover within 10 s').toBe(true);
        expect((await store.get('back'))?.v).toBe(2);
        expect(await store.compareAndSet('back', await store.get('back'), record({ v: 3 }))).toBe(
          true,
        );
        expect((await store.get('back'))?.v).toBe(3);

        await sleep(50); // give a stray rejection the chance to surface
        expect(unhandled).toEqual([]);
      } finally {
        process.off('unhandledRejection', onUnhandled);
        await store.close();
        await stop(child);
        child = undefined;
      }
    }, 30_000);

    it('a store created while Redis is down fails fast, then works once Redis starts', async () => {
      const port = await freePort();
      const store = new RedisStore({ url: `redis://127.0.0.1:${port}`, timeout: 800 });
      try {
        const started = Date.now();
        await expect(store.get('x')).rejects.toBeInstanceOf(StoreUnavailableError);
        expect(Date.now() - started).toBeLessThan(1_500);
        child = await start(port);
        let value: unknown = 'not yet';
        const deadline = Date.now() + 10_000;
        while (value === 'not yet' && Date.now() < deadline) {
          value = await store.get('x').catch(() => 'not yet');
          if (value === 'not yet') await sleep(100);
        }
        expect(value).toBeNull();
      } finally {
        await store.close();
        await stop(child);
        child = undefined;
      }
    }, 20_000);
  },
);

describe.skipIf(!redisServer)(
  `Redis stops mid-run under a node-redis client${redisServer ? '' : ' (SKIPPED: redis-server is not on PATH)'}`,
  () => {
    let child: ChildProcess | undefined;
    afterAll(async () => {
      await stop(child);
    });

    it('typed errors within the bound while down; a write that failed is not applied on reconnect; recovery', async () => {
      const unhandled: unknown[] = [];
      const onUnhandled = (reason: unknown) => unhandled.push(reason);
      process.on('unhandledRejection', onUnhandled);
      const port = await freePort();
      child = await start(port);
      // The application's client, with node-redis's defaults: it reconnects and
      // queues commands while offline. Its error events are the application's.
      const client = createClient({
        url: `redis://127.0.0.1:${port}`,
        socket: { reconnectStrategy: 100 },
      });
      client.on('error', () => undefined);
      await client.connect();
      const store = new RedisStore({ client, timeout: 1_000 });
      try {
        await store.set('alive', record({ v: 1 }));
        expect((await store.get('alive'))?.v).toBe(1);

        await stop(child);
        child = undefined;

        const operations: [string, () => Promise<unknown>][] = [
          ['get', () => store.get('alive')],
          ['set', () => store.set('written-while-down', record({ v: 'lost' }))],
          ['touch', () => store.touch('alive', record())],
          ['destroy', () => store.destroy('alive')],
          ['compareAndSet', () => store.compareAndSet('cas-while-down', null, record())],
          ['ids', () => store.ids()],
        ];
        for (const [name, run] of operations) {
          const started = Date.now();
          const error = await run().then(
            () => new Error(`${name} resolved while Redis was down`),
            (e: unknown) => e,
          );
          expect(error, name).toBeInstanceOf(StoreUnavailableError);
          expect((error as StoreUnavailableError).operation).toBe(name);
          expect(Date.now() - started, `${name} took too long`).toBeLessThan(2_000);
        }
        // Queued while the client is offline, a command waits for a reconnect
        // until the store's bound (1 s) has nearly passed, not less: the
        // commands of one 62 ms window share one abort signal, aborted 1 s
        // after the window opened.
        while (client.isReady) await sleep(10);
        const queued = Date.now();
        await expect(store.set('queued-while-down', record())).rejects.toBeInstanceOf(
          StoreUnavailableError,
        );
        expect(Date.now() - queued).toBeGreaterThanOrEqual(900);
        expect(Date.now() - queued).toBeLessThan(2_000);

        child = await start(port);
        const deadline = Date.now() + 10_000;
        let recovered = false;
        while (!recovered && Date.now() < deadline) {
          recovered = await store.set('back', record({ v: 2 })).then(
            () => true,
            () => false,
          );
          if (!recovered) await sleep(100);
        }
        expect(recovered, 'the store did not recover within 10 s').toBe(true);
        expect((await store.get('back'))?.v).toBe(2);
        // The writes that were reported as failed were dropped from the client's
        // offline queue, not sent to the new server once it reconnected.
        expect(await store.get('written-while-down')).toBeNull();
        expect(await store.get('queued-while-down')).toBeNull();
        expect(await store.get('cas-while-down')).toBeNull();
        expect(await store.compareAndSet('back', await store.get('back'), record({ v: 3 }))).toBe(
          true,
        );
        await sleep(50);
        expect(unhandled).toEqual([]);
      } finally {
        process.off('unhandledRejection', onUnhandled);
        await store.close();
        client.destroy();
        await stop(child);
        child = undefined;
      }
    }, 30_000);
  },
);
