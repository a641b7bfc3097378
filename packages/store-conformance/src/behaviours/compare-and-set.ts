import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Behaviour } from '../types.js';
import { assertSameRecord, record } from './helpers.js';

export const compareAndSet: Behaviour[] = [
  {
    group: 'compareAndSet',
    name: 'expected null on an absent id writes and resolves true',
    requires: ['compareAndSet'],
    run: async ({ store }) => {
      const next = record({ v: 1 });
      assert.equal(await store.compareAndSet?.('cas-new', null, next), true);
      assertSameRecord(await store.get('cas-new'), next);
    },
  },
  {
    group: 'compareAndSet',
    name: 'expected null on a present id resolves false and keeps the record',
    requires: ['compareAndSet'],
    run: async ({ store }) => {
      await store.set('cas-present', record({ v: 'kept' }));
      assert.equal(await store.compareAndSet?.('cas-present', null, record({ v: 'lost' })), false);
      assert.equal((await store.get('cas-present'))?.v, 'kept');
    },
  },
  {
    group: 'compareAndSet',
    name: 'a matching expected record writes and resolves true',
    requires: ['compareAndSet'],
    run: async ({ store }) => {
      await store.set('cas-match', record({ v: 1 }));
      const current = await store.get('cas-match');
      assert.ok(current);
      assert.equal(await store.compareAndSet?.('cas-match', current, record({ v: 2 })), true);
      assert.equal((await store.get('cas-match'))?.v, 2);
    },
  },
  {
    group: 'compareAndSet',
    name: 'a stale expected record resolves false and writes nothing',
    requires: ['compareAndSet'],
    run: async ({ store }) => {
      await store.set('cas-stale', record({ v: 1 }));
      const stale = await store.get('cas-stale');
      await store.set('cas-stale', record({ v: 2 }));
      assert.ok(stale);
      assert.equal(await store.compareAndSet?.('cas-stale', stale, record({ v: 3 })), false);
      assert.equal((await store.get('cas-stale'))?.v, 2);
    },
  },
  {
    group: 'compareAndSet',
    name: 'an expired record counts as absent',
    requires: ['compareAndSet'],
    run: async ({ store }) => {
      await store.set('cas-expired', record({ v: 'old' }, 400));
      await sleep(700);
      assert.equal(await store.compareAndSet?.('cas-expired', null, record({ v: 'new' })), true);
      assert.equal((await store.get('cas-expired'))?.v, 'new');
    },
  },
  {
    group: 'compareAndSet',
    name: 'a destroyed record is not written back by a stale compareAndSet',
    requires: ['compareAndSet'],
    run: async ({ store }) => {
      await store.set('cas-destroyed', record({ v: 1 }));
      const before = await store.get('cas-destroyed');
      await store.destroy('cas-destroyed');
      assert.ok(before);
      assert.equal(await store.compareAndSet?.('cas-destroyed', before, record({ v: 2 })), false);
      assert.equal(await store.get('cas-destroyed'), null);
    },
  },
  {
    group: 'compareAndSet',
    name: '20 parallel read-merge-write loops each adding a key: every key lands',
    requires: ['compareAndSet'],
    run: async ({ store }) => {
      await store.set('cas-merge', record({}));
      await Promise.all(
        Array.from({ length: 20 }, async (_, i) => {
          for (let attempt = 0; attempt < 200; attempt++) {
            const current = await store.get('cas-merge');
            assert.ok(current, 'the record vanished');
            if (await store.compareAndSet?.('cas-merge', current, { ...current, [`k${i}`]: i }))
              return;
          }
          throw new Error(`writer ${i} never got its write in`);
        }),
      );
      const got = await store.get('cas-merge');
      for (let i = 0; i < 20; i++) assert.equal(got?.[`k${i}`], i, `key k${i} was lost`);
    },
  },
  {
    group: 'compareAndSet',
    name: "a successful compareAndSet writes the new record's expiry, later or earlier",
    requires: ['compareAndSet'],
    run: async ({ store }) => {
      await store.set('cas-extend', record({ v: 1 }, 1_000));
      const short = await store.get('cas-extend');
      assert.ok(short);
      assert.equal(
        await store.compareAndSet?.('cas-extend', short, record({ v: 2 }, 60_000)),
        true,
      );
      await store.set('cas-shorten', record({ v: 1 }, 3_600_000));
      const long = await store.get('cas-shorten');
      assert.ok(long);
      assert.equal(await store.compareAndSet?.('cas-shorten', long, record({ v: 2 }, 1_000)), true);
      await sleep(1_300);
      assert.equal(
        (await store.get('cas-extend'))?.v,
        2,
        'compareAndSet kept the old, earlier expiry',
      );
      assert.equal(
        await store.get('cas-shorten'),
        null,
        'compareAndSet kept the old, later expiry',
      );
    },
  },
];
