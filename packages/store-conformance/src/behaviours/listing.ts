import assert from 'node:assert/strict';
import type { Behaviour } from '../types.js';
import { assertListed, assertSameRecord, record, roundTrip } from './helpers.js';

export const listing: Behaviour[] = [
  {
    group: 'listing',
    name: 'ids lists exactly the live ids',
    requires: ['ids'],
    run: async ({ store }) => {
      for (const id of ['l-1', 'l-2', 'l-3']) await store.set(id, record());
      assert.deepEqual((await store.ids?.())?.sort(), ['l-1', 'l-2', 'l-3']);
    },
  },
  {
    group: 'listing',
    name: 'all returns every live record keyed by id, with its data',
    requires: ['all'],
    run: async ({ store }) => {
      await store.set('a-1', record({ v: 1 }));
      await store.set('a-2', record({ v: 2 }));
      const all = (await store.all?.()) ?? {};
      assert.deepEqual(Object.keys(all).sort(), ['a-1', 'a-2']);
      assert.equal(all['a-2']?.v, 2);
    },
  },
  {
    group: 'listing',
    name: 'length counts the live records',
    requires: ['length'],
    run: async ({ store }) => {
      for (const id of ['n-1', 'n-2', 'n-3', 'n-4']) await store.set(id, record());
      await store.destroy('n-4');
      assert.equal(await store.length?.(), 3);
    },
  },
  {
    group: 'listing',
    name: 'an empty store lists nothing',
    requires: ['length'],
    run: async ({ store }) => {
      assert.equal(await store.length?.(), 0);
      if (store.ids) assert.deepEqual(await store.ids(), []);
      if (store.all) assert.deepEqual(await store.all(), {});
    },
  },
  {
    group: 'listing',
    name: 'clear removes every record',
    requires: ['clear'],
    run: async ({ store }) => {
      for (const id of ['c-1', 'c-2']) await store.set(id, record());
      await store.clear?.();
      assert.equal(await store.get('c-1'), null);
      assert.equal(await store.get('c-2'), null);
    },
  },
  {
    group: 'listing',
    name: 'clear of an empty store resolves',
    requires: ['clear'],
    run: async ({ store }) => {
      await store.clear?.();
    },
  },
  {
    group: 'listing',
    name: 'the store works again after clear',
    requires: ['clear'],
    run: async ({ store }) => {
      await store.set('again', record({ v: 1 }));
      await store.clear?.();
      await roundTrip(store, 'again', { v: 2 });
    },
  },
  {
    group: 'listing',
    name: 'all returns whole records: the cookie and every key as written',
    requires: ['all'],
    run: async ({ store }) => {
      const written = record({ v: 1, nested: { n: [1, 2] } });
      await store.set('whole', written);
      const got = (await store.all?.())?.whole ?? null;
      assertSameRecord(got, written, 'all() returned a different record than set wrote');
    },
  },
  {
    group: 'listing',
    name: 'a destroyed id is no longer listed (ids, all, length)',
    requires: ['listing'],
    run: async ({ store }) => {
      for (const id of ['d-1', 'd-2', 'd-3']) await store.set(id, record());
      await store.destroy('d-2');
      await assertListed(store, ['d-1', 'd-3'], 'after destroying d-2');
    },
  },
  {
    group: 'listing',
    name: 'an overwritten id is listed once (ids, all, length)',
    requires: ['listing'],
    run: async ({ store }) => {
      await store.set('o-1', record({ v: 1 }));
      await store.set('o-1', record({ v: 2 }, 7_200_000));
      await store.set('o-1', record({ v: 3 }, 600_000));
      await store.set('o-2', record());
      await assertListed(store, ['o-1', 'o-2'], 'after three writes of o-1');
    },
  },
  {
    group: 'listing',
    name: 'listing 2,345 records is complete, each id once (ids, all, length): no first page only',
    requires: ['listing'],
    run: async ({ store }) => {
      const ids = Array.from({ length: 2_345 }, (_, i) => `many-${i}`);
      for (let i = 0; i < ids.length; i += 100) {
        await Promise.all(ids.slice(i, i + 100).map((id) => store.set(id, record())));
      }
      await assertListed(store, ids, 'of 2,345 records');
    },
  },
];
