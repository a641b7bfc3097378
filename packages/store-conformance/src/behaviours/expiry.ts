import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Behaviour } from '../types.js';
import { assertListed, record } from './helpers.js';

export const expiry: Behaviour[] = [
  {
    group: 'expiry',
    name: 'a record whose cookie.expires has passed is not returned by get',
    run: async ({ store }) => {
      await store.set('past', record({ v: 1 }, -1_000));
      assert.equal(await store.get('past'), null);
    },
  },
  {
    group: 'expiry',
    name: 'a record is returned until it expires and not after',
    run: async ({ store }) => {
      // A short life keeps the suite fast; on a machine so loaded that the write and
      // the read took most of it, the same check again with a longer one, so that
      // "returned until it expires" is never asserted after the expiry has passed.
      const lives = [1_200, 6_000];
      for (const life of lives) {
        const written = Date.now();
        await store.set('soon', record({ v: 1 }, life));
        const before = await store.get('soon');
        if (Date.now() - written > life * 0.6 && life !== lives.at(-1)) continue;
        assert.equal(before?.v, 1);
        await sleep(Math.max(0, written + life + 300 - Date.now()));
        assert.equal(await store.get('soon'), null);
        return;
      }
    },
  },
  {
    group: 'expiry',
    name: 'a record without cookie.expires lives on (the store default TTL)',
    run: async ({ store, options }) => {
      await store.set('browser-session', record({ v: 1 }, null));
      await sleep(Math.min(1_100, (options.defaultTtl ?? 2_200) / 2));
      assert.equal((await store.get('browser-session'))?.v, 1);
    },
  },
  {
    group: 'expiry',
    name: 'an overwrite with a later expiry extends the life',
    run: async ({ store }) => {
      await store.set('extend', record({ v: 1 }, 1_000));
      await store.set('extend', record({ v: 2 }, 60_000));
      await sleep(1_300);
      assert.equal((await store.get('extend'))?.v, 2);
    },
  },
  {
    group: 'expiry',
    name: 'an overwrite with a past expiry removes the record',
    run: async ({ store }) => {
      await store.set('expire-now', record({ v: 1 }));
      await store.set('expire-now', record({ v: 2 }, -1_000));
      assert.equal(await store.get('expire-now'), null);
    },
  },
  {
    group: 'expiry',
    name: 'ids never lists an expired record',
    requires: ['ids'],
    run: async ({ store }) => {
      await store.set('live', record());
      await store.set('dead', record({}, -1_000));
      await store.set('dying', record({}, 1_000));
      await sleep(1_300);
      assert.deepEqual(await store.ids?.(), ['live']);
    },
  },
  {
    group: 'expiry',
    name: 'all never returns an expired record',
    requires: ['all'],
    run: async ({ store }) => {
      await store.set('live', record({ v: 1 }));
      await store.set('dead', record({}, -1_000));
      await store.set('dying', record({}, 1_000));
      await sleep(1_300);
      assert.deepEqual(Object.keys((await store.all?.()) ?? {}), ['live']);
    },
  },
  {
    group: 'expiry',
    name: 'length never counts an expired record',
    requires: ['length'],
    run: async ({ store }) => {
      await store.set('live', record());
      await store.set('dead', record({}, -1_000));
      await store.set('dying', record({}, 1_000));
      await sleep(1_300);
      assert.equal(await store.length?.(), 1);
    },
  },
  {
    group: 'expiry',
    name: 'an unparseable cookie.expires never makes a record immortal',
    run: async ({ store }) => {
      const broken = record({ v: 1 });
      broken.cookie = { ...broken.cookie, expires: 'not a date' };
      await store.set('bad-date', broken).catch(() => undefined);
      assert.equal(await store.get('bad-date'), null);
    },
  },
  {
    group: 'expiry',
    name: 'a record with cookie.expires false (express-session writes them) lives like one without expiry',
    run: async ({ store, options }) => {
      const noExpiry = record({ v: 1 }, null);
      noExpiry.cookie = { ...noExpiry.cookie, expires: false as unknown as null };
      await store.set('expires-false', noExpiry);
      const got = await store.get('expires-false');
      assert.equal(got?.v, 1, 'a record with cookie.expires false was dropped at once');
      const reported: unknown = got?.cookie.expires;
      assert.ok(
        reported === false || reported === null || reported === undefined,
        `cookie.expires false came back as ${JSON.stringify(reported)}`,
      );
      if (store.touch) {
        await store.touch('expires-false', noExpiry);
        assert.equal(
          (await store.get('expires-false'))?.v,
          1,
          'a touch with cookie.expires false ended it',
        );
      }
      const wait = Math.min(1_100, (options.defaultTtl ?? 2_200) / 2);
      await sleep(wait);
      assert.equal((await store.get('expires-false'))?.v, 1, `it died within ${wait} ms`);
      if (store.ids || store.all || store.length)
        await assertListed(store, ['expires-false'], 'with a cookie.expires false record');
    },
  },
  {
    group: 'expiry',
    name: 'a record without cookie.expires lives for the declared default TTL, and no longer',
    requires: ['defaultTtl'],
    run: async ({ store, options }) => {
      const ttl = options.defaultTtl ?? 0;
      const margin = Math.max(300, ttl * 0.2);
      const started = Date.now();
      await store.set('default-ttl', record({ v: 1 }, null));
      await sleep(Math.max(0, ttl - margin - (Date.now() - started)));
      assert.equal(
        (await store.get('default-ttl'))?.v,
        1,
        `gone before the declared default TTL (${ttl} ms)`,
      );
      await sleep(Math.max(0, ttl + margin - (Date.now() - started)));
      assert.equal(
        await store.get('default-ttl'),
        null,
        `still returned ${Date.now() - started} ms after set: the declared default TTL (${ttl} ms) is not honoured`,
      );
    },
  },
];
