import assert from 'node:assert/strict';
import type { Behaviour } from '../types.js';
import { liveIds, record } from './helpers.js';

export const isolation: Behaviour[] = [
  {
    group: 'isolation',
    name: 'a store does not get a record of another namespace',
    run: async ({ store, other }) => {
      const second = await other();
      await second.set('shared-id', record({ owner: 'other' }));
      assert.equal(await store.get('shared-id'), null);
    },
  },
  {
    group: 'isolation',
    name: 'the same id in two namespaces holds two sessions',
    run: async ({ store, other }) => {
      const second = await other();
      await store.set('same', record({ owner: 'first' }));
      await second.set('same', record({ owner: 'second' }));
      assert.equal((await store.get('same'))?.owner, 'first');
      assert.equal((await second.get('same'))?.owner, 'second');
    },
  },
  {
    group: 'isolation',
    name: 'destroy in one namespace leaves the other namespace',
    run: async ({ store, other }) => {
      const second = await other();
      await store.set('both', record());
      await second.set('both', record());
      await store.destroy('both');
      assert.ok(await second.get('both'));
    },
  },
  {
    group: 'isolation',
    name: 'listings see only their own namespace',
    requires: ['ids'],
    run: async ({ store, other }) => {
      const second = await other();
      await store.set('mine', record());
      await second.set('theirs', record());
      assert.deepEqual(await liveIds(store), ['mine']);
    },
  },
  {
    group: 'isolation',
    name: 'length counts only its own namespace',
    requires: ['length'],
    run: async ({ store, other }) => {
      const second = await other();
      await store.set('mine', record());
      await second.set('theirs-1', record());
      await second.set('theirs-2', record());
      assert.equal(await store.length?.(), 1);
    },
  },
  {
    group: 'isolation',
    name: 'clear leaves other namespaces alone',
    requires: ['clear'],
    run: async ({ store, other }) => {
      const second = await other();
      await store.set('mine', record());
      await second.set('theirs', record({ v: 1 }));
      await store.clear?.();
      assert.equal((await second.get('theirs'))?.v, 1);
    },
  },
];
