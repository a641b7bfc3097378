import assert from 'node:assert/strict';
import type { Behaviour } from '../types.js';
import { record, roundTrip } from './helpers.js';

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
    name: 'listing many records (1,000) is complete',
    requires: ['ids'],
    run: async ({ store }) => {
      const ids = Array.from({ length: 1000 }, (_, i) => `many-${i}`);
      await Promise.all(ids.map((id) => store.set(id, record())));
      assert.equal((await store.ids?.())?.length, 1000);
    },
  },
];
