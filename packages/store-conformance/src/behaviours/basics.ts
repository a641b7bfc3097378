import assert from 'node:assert/strict';
import type { Behaviour } from '../types.js';
import { assertSameRecord, record, roundTrip } from './helpers.js';

export const basics: Behaviour[] = [
  {
    group: 'basics',
    name: 'get of an unknown id resolves null',
    run: async ({ store }) => assert.equal(await store.get('never-written'), null),
  },
  {
    group: 'basics',
    name: 'set then get returns the record',
    run: ({ store }) => roundTrip(store, 'basic-1', { user: 'ada' }),
  },
  {
    group: 'basics',
    name: 'get returns a copy: mutating it does not change the store',
    run: async ({ store }) => {
      await store.set('copy-1', record({ list: [1] }));
      const first = await store.get('copy-1');
      assert.ok(first, 'the record was not stored');
      (first.list as number[]).push(2);
      assert.deepEqual((await store.get('copy-1'))?.list, [1]);
    },
  },
  {
    group: 'basics',
    name: 'mutating a record after set does not change the store',
    run: async ({ store }) => {
      const written = record({ nested: { n: 1 } });
      await store.set('copy-2', written);
      (written.nested as { n: number }).n = 2;
      assert.deepEqual((await store.get('copy-2'))?.nested, { n: 1 });
    },
  },
  {
    group: 'basics',
    name: 'set overwrites an existing record',
    run: async ({ store }) => {
      await store.set('over-1', record({ v: 1 }));
      const second = record({ v: 2 });
      await store.set('over-1', second);
      assertSameRecord(await store.get('over-1'), second);
    },
  },
  {
    group: 'basics',
    name: 'an overwrite with fewer keys drops the old keys',
    run: async ({ store }) => {
      await store.set('over-2', record({ a: 1, b: 2 }));
      await store.set('over-2', record({ a: 1 }));
      const got = await store.get('over-2');
      assert.ok(got && !('b' in got), 'key b survived the overwrite');
    },
  },
  {
    group: 'basics',
    name: 'destroy removes the record',
    run: async ({ store }) => {
      await store.set('gone-1', record({ v: 1 }));
      await store.destroy('gone-1');
      assert.equal(await store.get('gone-1'), null);
    },
  },
  {
    group: 'basics',
    name: 'destroy of an absent id resolves',
    run: async ({ store }) => {
      await store.destroy('never-there');
    },
  },
  {
    group: 'basics',
    name: 'destroy twice resolves both times',
    run: async ({ store }) => {
      await store.set('twice', record());
      await store.destroy('twice');
      await store.destroy('twice');
      assert.equal(await store.get('twice'), null);
    },
  },
  {
    group: 'basics',
    name: 'destroy leaves other records alone',
    run: async ({ store }) => {
      await store.set('keep-a', record({ v: 'a' }));
      await store.set('keep-b', record({ v: 'b' }));
      await store.destroy('keep-a');
      assert.equal((await store.get('keep-b'))?.v, 'b');
    },
  },
  {
    group: 'basics',
    name: 'a record holding only the cookie round-trips',
    run: ({ store }) => roundTrip(store, 'empty', {}),
  },
];
