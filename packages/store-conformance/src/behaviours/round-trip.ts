import assert from 'node:assert/strict';
import type { Behaviour } from '../types.js';
import { assertSameRecord, json, record, roundTrip } from './helpers.js';

export const roundTripBehaviours: Behaviour[] = [
  ...(
    [
      ['nested objects', { a: { b: { c: { d: 'deep' } } }, sibling: { x: 1 } }],
      ['arrays, nested and empty', { list: [1, 'two', [3, [4]], {}, []], empty: [] }],
      ['unicode text (CJK, right-to-left, combining marks)', { t: '日本語 עברית é ñ ü Ω' }],
      ['emoji outside the basic plane', { e: '🎉👩‍💻🏳️‍🌈 𝄞' }],
      [
        'numbers: integers, negatives, floats, zero, large safe integers',
        { n: [0, -1, 2.5e-3, 1e-7, 2 ** 53 - 1, -(2 ** 31)] },
      ],
      ['booleans', { yes: true, no: false }],
      ['null values', { nothing: null, list: [null] }],
      ['empty strings and empty objects', { s: '', o: {} }],
      ['quotes, backslashes and control characters', { s: 'say "hi" \\ \n\t\r\b\f / \u0001' }],
      [
        'keys with dots, dollars, spaces and unicode',
        { 'a.b': 1, $x: 2, 'with space': 3, ключ: 4 },
      ],
      [
        'keys named like Object.prototype members',
        { toString: 'x', constructor: 'y', hasOwnProperty: 'z' },
      ],
    ] as [string, Record<string, unknown>][]
  ).map(
    ([what, data], i): Behaviour => ({
      group: 'round trip',
      name: `${what} survive set/get`,
      run: ({ store }) => roundTrip(store, `rt-${i}`, data),
    }),
  ),
  {
    group: 'round trip',
    name: 'Dates come back as ISO strings, as JSON carries them',
    run: async ({ store }) => {
      const when = new Date('2024-02-29T12:34:56.789Z');
      await store.set('dates', record({ when }));
      assert.equal((await store.get('dates'))?.when, when.toISOString());
    },
  },
  {
    group: 'round trip',
    name: 'cookie metadata survives (originalMaxAge, path, domain, httpOnly, secure, sameSite)',
    run: async ({ store }) => {
      const written = record();
      written.cookie = {
        ...written.cookie,
        domain: 'example.test',
        secure: true,
        sameSite: 'strict',
        path: '/app',
      };
      await store.set('cookie-meta', written);
      assertSameRecord(await store.get('cookie-meta'), written);
    },
  },
  {
    group: 'round trip',
    name: 'cookie.expires given as a Date is stored as the same instant',
    run: async ({ store }) => {
      const at = new Date(Date.now() + 3_600_000);
      const written = record();
      written.cookie = { ...written.cookie, expires: at };
      await store.set('cookie-date', written);
      const got = await store.get('cookie-date');
      assert.equal(new Date(String(json(got?.cookie.expires))).getTime(), at.getTime());
    },
  },
  {
    group: 'round trip',
    name: 'a payload of 300 KB survives',
    run: ({ store }) => roundTrip(store, 'big', { blob: 'x'.repeat(300 * 1024) }),
  },
  {
    group: 'round trip',
    name: 'a record with 5,000 keys survives',
    run: ({ store }) => {
      const data: Record<string, number> = {};
      for (let i = 0; i < 5000; i++) data[`k${i}`] = i;
      return roundTrip(store, 'many-keys', data);
    },
  },
];
