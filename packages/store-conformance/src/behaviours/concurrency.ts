import assert from 'node:assert/strict';
import type { Behaviour } from '../types.js';
import { assertSameRecord, record } from './helpers.js';

export const concurrency: Behaviour[] = [
  {
    group: 'concurrency',
    name: '200 parallel sets on distinct ids all land',
    run: async ({ store }) => {
      const ids = Array.from({ length: 200 }, (_, i) => `p-${i}`);
      await Promise.all(ids.map((id, i) => store.set(id, record({ i }))));
      const got = await Promise.all(ids.map((id) => store.get(id)));
      for (const [i, r] of got.entries()) {
        assert.equal(r?.i, i, `p-${i} is missing or wrong`);
      }
    },
  },
  {
    group: 'concurrency',
    name: 'parallel gets of one id all see the record',
    run: async ({ store }) => {
      await store.set('hot', record({ v: 'hot' }));
      const got = await Promise.all(Array.from({ length: 50 }, () => store.get('hot')));
      for (const r of got) assert.equal(r?.v, 'hot');
    },
  },
  {
    group: 'concurrency',
    name: 'parallel writes to one id end in one written value, never a torn mix',
    run: async ({ store }) => {
      const writes = Array.from({ length: 30 }, (_, i) =>
        record({ writer: i, a: i, b: i, payload: String(i).repeat(2000) }),
      );
      await Promise.all(writes.map((w) => store.set('contended', w)));
      const got = await store.get('contended');
      assert.ok(got, 'the record is missing');
      const w = got.writer as number;
      assert.ok(w >= 0 && w < 30);
      assert.equal(got.a, w);
      assert.equal(got.b, w);
      assert.equal(got.payload, String(w).repeat(2000));
    },
  },
  {
    group: 'concurrency',
    name: 'parallel set and destroy of one id leave nothing or a whole record',
    run: async ({ store }) => {
      const full = record({ a: 1, b: 2 });
      await Promise.all([
        store.set('race', full),
        store.destroy('race'),
        store.set('race', full),
        store.destroy('race'),
      ]);
      const got = await store.get('race');
      if (got !== null) assertSameRecord(got, full);
    },
  },
];
