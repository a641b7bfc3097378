import assert from 'node:assert/strict';
import type { Behaviour } from '../types.js';
import { assertDistinctIds, ID_ALPHABET, record, roundTrip } from './helpers.js';

export const ids: Behaviour[] = [
  {
    group: 'ids',
    name: 'ids using the whole uid-safe alphabet (A-Z a-z 0-9 - _) work',
    run: ({ store }) => roundTrip(store, ID_ALPHABET, { v: 1 }),
  },
  {
    group: 'ids',
    name: 'UUID-shaped ids work',
    run: ({ store }) => roundTrip(store, '123e4567-e89b-12d3-a456-426614174000', { v: 1 }),
  },
  {
    group: 'ids',
    name: 'ids with punctuation a custom genid may use (. : / % + = ~ ! @ *) work',
    run: ({ store }) => roundTrip(store, 'a.b:c/d%e+f=g~h!i@j*k', { v: 1 }),
  },
  {
    group: 'ids',
    name: 'a 256-character id works',
    run: ({ store }) => roundTrip(store, 'L'.repeat(256), { v: 1 }),
  },
  ...(
    [
      ['ids that differ only by case', ['CaseID', 'caseid', 'CASEID']],
      ['an id and its URL-encoded twin (aA, a%41, a%2541)', ['aA', 'a%41', 'a%2541']],
      [
        'ids that differ only by characters a sanitizer would strip (. / space + = \\)',
        [
          'sanitized',
          'sani.tized',
          'sani/tized',
          'sani tized',
          'sani+tized',
          'sani=tized',
          'sani\\tized',
        ],
      ],
      ['ids holding ? or : (q, q?x=1, q:x, q:, :q)', ['q', 'q?x=1', 'q:x', 'q:', ':q']],
      [
        'ids of 300 characters that share their first 299',
        ['P'.repeat(299) + '1', 'P'.repeat(299) + '2', 'P'.repeat(299)],
      ],
      [
        'an id with punctuation a custom genid may use (. : / % + = ~ ! @ *) and its letters alone',
        ['a.b:c/d%e+f=g~h!i@j*k', 'abcdefghijk'],
      ],
    ] as [string, string[]][]
  ).map(
    ([what, list]): Behaviour => ({
      group: 'ids',
      name: `${what} are distinct sessions through get, touch, destroy and listings`,
      run: ({ store }) => assertDistinctIds(store, list),
    }),
  ),
  {
    group: 'ids',
    name: 'an id that is a prefix of another is a distinct session',
    run: async ({ store }) => {
      await store.set('abc', record({ v: 'short' }));
      await store.set('abcdef', record({ v: 'long' }));
      await store.destroy('abc');
      assert.equal(await store.get('abc'), null);
      assert.equal((await store.get('abcdef'))?.v, 'long');
    },
  },
  {
    group: 'ids',
    name: 'wildcard characters in an id match nothing else (* ? [ ] %)',
    run: async ({ store }) => {
      await store.set('wild-one', record({ v: 1 }));
      assert.equal(await store.get('wild-*'), null);
      assert.equal(await store.get('wild-???'), null);
      assert.equal(await store.get('wild-%'), null);
      await store.destroy('wild-*');
      assert.equal((await store.get('wild-one'))?.v, 1);
    },
  },
];
