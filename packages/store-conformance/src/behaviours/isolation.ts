import assert from 'node:assert/strict';
import type { Behaviour } from '../types.js';
import { assertListed, assertSameRecord, liveIds, record } from './helpers.js';

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
  {
    group: 'isolation',
    name: 'all sees only its own namespace, whole records included (even when ids exists)',
    requires: ['all'],
    run: async ({ store, other }) => {
      const second = await other();
      const mine = record({ owner: 'mine' });
      await store.set('mine', mine);
      await second.set('theirs', record({ owner: 'theirs' }));
      await second.set('mine', record({ owner: 'theirs' }));
      const all = (await store.all?.()) ?? {};
      assert.deepEqual(Object.keys(all).sort(), ['mine'], 'all() lists ids of another namespace');
      assertSameRecord(all.mine ?? null, mine, "all() returned another namespace's record");
    },
  },
  {
    group: 'isolation',
    name: 'a namespace that extends another (ns, nsx) shares nothing: get, listings, clear',
    run: async ({ store, namespace, reopen }) => {
      const longer = await reopen(`${namespace}x`);
      await store.set('short-ns', record({ owner: 'ns' }));
      await longer.set('long-ns', record({ owner: 'nsx' }));
      assert.equal(await store.get('long-ns'), null, 'ns gets a record of nsx');
      assert.equal(await longer.get('short-ns'), null, 'nsx gets a record of ns');
      await assertListed(store, ['short-ns'], 'of ns');
      await assertListed(longer, ['long-ns'], 'of nsx');
      if (store.clear) {
        await store.clear();
        assert.equal(
          (await longer.get('long-ns'))?.owner,
          'nsx',
          "clear() of ns removed nsx's record",
        );
        await store.set('short-ns', record({ owner: 'ns' }));
        await longer.clear?.();
        assert.equal(
          (await store.get('short-ns'))?.owner,
          'ns',
          "clear() of nsx removed ns's record",
        );
      }
    },
  },
  {
    group: 'isolation',
    name: 'several instances on one namespace (several app servers) see each write and destroy at once',
    requires: ['sharedInstances'],
    run: async ({ store, namespace, reopen }) => {
      const second = await reopen(namespace);
      await store.set('shared', record({ v: 1 }));
      assert.equal(
        (await second.get('shared'))?.v,
        1,
        'a second instance on the same namespace does not see the record: if each instance is its own backend (in memory), declare isolatedInstances',
      );
      await store.set('shared', record({ v: 2 }));
      assert.equal(
        (await second.get('shared'))?.v,
        2,
        'an overwrite through one instance is not seen by the other',
      );
      await store.destroy('shared');
      assert.equal(
        await second.get('shared'),
        null,
        'a destroy (a logout) through one instance is not seen by the other',
      );
    },
  },
];
