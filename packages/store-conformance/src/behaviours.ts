import assert from 'node:assert/strict';
import { createHook } from 'node:async_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import type { SessionRecord, SessionStore } from '@sess/core';
import type { Behaviour, BehaviourContext } from './types.js';

/** A session record as core writes it, expiring `ttlMs` from now (`null`: a browser-session cookie). */
export function record(
  data: Record<string, unknown> = {},
  ttlMs: number | null = 3_600_000,
): SessionRecord {
  const expires = ttlMs === null ? null : new Date(Date.now() + ttlMs).toISOString();
  return {
    cookie: { originalMaxAge: ttlMs, expires, httpOnly: true, path: '/' },
    ...data,
  };
}

/** The record's data as JSON would carry it, for comparisons. */
function json(value: unknown): unknown {
  return JSON.parse(JSON.stringify(value));
}

/** A stored record equals what was written, as JSON (cookie.expires compared as an instant). */
function assertSameRecord(
  actual: SessionRecord | null,
  expected: SessionRecord,
  message?: string,
): void {
  assert.ok(actual, message ?? 'expected a record, got null');
  const a = json(actual) as SessionRecord;
  const e = json(expected) as SessionRecord;
  const instant = (v: unknown) =>
    v === null || v === undefined ? v : new Date(String(v)).getTime();
  assert.equal(instant(a.cookie.expires), instant(e.cookie.expires), 'cookie.expires differs');
  a.cookie = { ...a.cookie, expires: null };
  e.cookie = { ...e.cookie, expires: null };
  assert.deepEqual(a, e, message);
}

async function roundTrip(
  store: SessionStore,
  id: string,
  data: Record<string, unknown>,
): Promise<void> {
  const written = record(data);
  await store.set(id, written);
  assertSameRecord(await store.get(id), written);
}

async function liveIds(store: SessionStore): Promise<string[]> {
  if (store.ids) return (await store.ids()).sort();
  if (store.all) return Object.keys(await store.all()).sort();
  throw new Error('store has neither ids() nor all()');
}

/** Settles within `ms`, or fails the behaviour: a store must never hang. */
async function within<T>(ms: number, what: string, work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not settle within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([work, bound]);
  } finally {
    clearTimeout(timer);
  }
}

async function assertRejectsFast(
  context: BehaviourContext,
  what: string,
  run: (s: SessionStore) => Promise<unknown>,
): Promise<void> {
  const store = await context.unreachable();
  const bound = context.options.failFastWithin ?? 5_000;
  try {
    const started = Date.now();
    const outcome = await within(
      bound + 500,
      what,
      run(store).then(
        () => 'resolved',
        (err: unknown) => err,
      ),
    );
    assert.notEqual(outcome, 'resolved', `${what} resolved although the backend is down`);
    assert.ok(Date.now() - started <= bound + 500, `${what} took longer than ${bound} ms to fail`);
  } finally {
    await store.close?.().catch(() => undefined);
  }
}

const ID_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/** Every behaviour of the suite, in report order. */
export const behaviours: Behaviour[] = [
  // --- basics ---------------------------------------------------------------
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

  // --- round trip -----------------------------------------------------------
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

  // --- ids ------------------------------------------------------------------
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
  {
    group: 'ids',
    name: 'ids that differ only by case are distinct sessions',
    run: async ({ store }) => {
      await store.set('CaseID', record({ v: 'upper' }));
      await store.set('caseid', record({ v: 'lower' }));
      assert.equal((await store.get('CaseID'))?.v, 'upper');
      assert.equal((await store.get('caseid'))?.v, 'lower');
    },
  },
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

  // --- expiry ---------------------------------------------------------------
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
      await store.set('soon', record({ v: 1 }, 1_200));
      assert.equal((await store.get('soon'))?.v, 1);
      await sleep(1_500);
      assert.equal(await store.get('soon'), null);
    },
  },
  {
    group: 'expiry',
    name: 'a record without cookie.expires lives on (the store default TTL)',
    run: async ({ store }) => {
      await store.set('browser-session', record({ v: 1 }, null));
      await sleep(1_100);
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

  // --- touch ----------------------------------------------------------------
  {
    group: 'touch',
    name: 'touch extends the expiry',
    requires: ['touch'],
    run: async ({ store }) => {
      const written = record({ v: 1 }, 1_000);
      await store.set('t-extend', written);
      await store.touch?.('t-extend', {
        ...written,
        cookie: { ...written.cookie, expires: new Date(Date.now() + 60_000).toISOString() },
      });
      await sleep(1_300);
      assert.equal((await store.get('t-extend'))?.v, 1);
    },
  },
  {
    group: 'touch',
    name: 'touch does not rewrite the data',
    requires: ['touch'],
    run: async ({ store }) => {
      await store.set('t-data', record({ v: 'stored' }));
      await store.touch?.('t-data', record({ v: 'from touch', extra: true }));
      const got = await store.get('t-data');
      assert.equal(got?.v, 'stored');
      assert.ok(got && !('extra' in got), 'touch wrote new keys');
    },
  },
  {
    group: 'touch',
    name: 'touch of an absent id does not create a record',
    requires: ['touch'],
    run: async ({ store }) => {
      await store.touch?.('t-absent', record({ v: 1 }));
      assert.equal(await store.get('t-absent'), null);
    },
  },
  {
    group: 'touch',
    name: 'touch never resurrects an expired record',
    requires: ['touch'],
    run: async ({ store }) => {
      await store.set('t-expired', record({ v: 1 }, 500));
      await sleep(800);
      await store.touch?.('t-expired', record({ v: 1 }, 60_000));
      assert.equal(await store.get('t-expired'), null);
    },
  },
  {
    group: 'touch',
    name: 'touch after destroy does not bring the record back',
    requires: ['touch'],
    run: async ({ store }) => {
      await store.set('t-destroyed', record({ v: 1 }));
      await store.destroy('t-destroyed');
      await store.touch?.('t-destroyed', record({ v: 1 }));
      assert.equal(await store.get('t-destroyed'), null);
    },
  },
  {
    group: 'touch',
    name: 'touch with a past expiry ends the session',
    requires: ['touch'],
    run: async ({ store }) => {
      await store.set('t-past', record({ v: 1 }));
      await store.touch?.('t-past', record({ v: 1 }, -1_000));
      assert.equal(await store.get('t-past'), null);
    },
  },
  {
    group: 'touch',
    name: 'the expiry a touch sets is the one get reports',
    requires: ['touch'],
    run: async ({ store }) => {
      await store.set('t-report', record({ v: 1 }, 60_000));
      const later = new Date(Date.now() + 7_200_000).toISOString();
      const touched = record({ v: 1 });
      touched.cookie = { ...touched.cookie, expires: later };
      await store.touch?.('t-report', touched);
      const got = await store.get('t-report');
      const reported = got?.cookie.expires;
      // A store may keep the stored cookie as written; if it reports an expiry, it is not earlier than the touch.
      if (reported) assert.ok(new Date(String(json(reported))).getTime() >= Date.now() + 50_000);
      assert.equal(got?.v, 1);
    },
  },

  // --- listing --------------------------------------------------------------
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

  // --- isolation ------------------------------------------------------------
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

  // --- concurrency ----------------------------------------------------------
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

  // --- compareAndSet --------------------------------------------------------
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

  // --- lifecycle ------------------------------------------------------------
  {
    group: 'lifecycle',
    name: 'close resolves',
    requires: ['close'],
    run: async ({ store }) => {
      await store.close?.();
    },
  },
  {
    group: 'lifecycle',
    name: 'close twice resolves both times',
    requires: ['close'],
    run: async ({ store }) => {
      await store.close?.();
      await store.close?.();
    },
  },
  {
    group: 'lifecycle',
    name: 'operations after close settle instead of hanging',
    requires: ['close'],
    run: async ({ store, options }) => {
      await store.close?.();
      const bound = options.failFastWithin ?? 5_000;
      await within(
        bound,
        'get after close',
        store.get('after-close').catch(() => null),
      );
      await within(
        bound,
        'set after close',
        store.set('after-close', record()).catch(() => null),
      );
    },
  },
  {
    group: 'lifecycle',
    name: 'close releases every handle the store opened, so the process can exit',
    requires: ['close', 'ownedResources'],
    run: async ({ options, reopen }) => {
      const namespace = `handles_${process.pid}_${Date.now()}`;
      const tracker = trackHandles();
      try {
        const store = await options.create({ namespace });
        await store.set('h', record());
        await store.get('h');
        await store.destroy('h');
        await store.close?.();
        // Sockets finish closing over the next turns of the event loop.
        let left = tracker.alive();
        for (let waited = 0; left.length > 0 && waited < 2_000; waited += 100) {
          await sleep(100);
          left = tracker.alive();
        }
        assert.deepEqual(
          left,
          [],
          `still keeping the process alive after close: ${left.join(', ')}`,
        );
      } finally {
        tracker.stop();
        // This store was closed by the behaviour; clean its namespace through a fresh one.
        await reopen(namespace);
      }
    },
  },

  // --- failure --------------------------------------------------------------
  {
    group: 'failure',
    name: 'get rejects within the time bound when the backend is down',
    requires: ['unreachable'],
    run: (context) => assertRejectsFast(context, 'get', (s) => s.get('x')),
  },
  {
    group: 'failure',
    name: 'set rejects within the time bound when the backend is down',
    requires: ['unreachable'],
    run: (context) => assertRejectsFast(context, 'set', (s) => s.set('x', record())),
  },
  {
    group: 'failure',
    name: 'destroy rejects within the time bound when the backend is down',
    requires: ['unreachable'],
    run: (context) => assertRejectsFast(context, 'destroy', (s) => s.destroy('x')),
  },
  {
    group: 'failure',
    name: 'the rejection is a typed StoreError (code SESS_*), with the cause kept',
    requires: ['unreachable'],
    run: async (context) => {
      const store = await context.unreachable();
      try {
        const err = await within(
          (context.options.failFastWithin ?? 5_000) + 500,
          'get',
          store.get('x').then(
            () => null,
            (e: unknown) => e,
          ),
        );
        assert.ok(err instanceof Error, 'rejected with a non-Error');
        const code = (err as { code?: unknown }).code;
        assert.ok(typeof code === 'string' && code.startsWith('SESS_'), `code is ${String(code)}`);
      } finally {
        await store.close?.().catch(() => undefined);
      }
    },
  },
];

/**
 * Follows the timers and sockets created from now on (async_hooks), so a
 * behaviour can tell which of them would still keep the process alive.
 */
function trackHandles(): { alive: () => string[]; stop: () => void } {
  type Handle = { hasRef?: () => boolean; _destroyed?: boolean };
  const watched = new Map<number, { type: string; resource: Handle }>();
  const hook = createHook({
    init(asyncId, type, _trigger, resource) {
      if (
        type === 'Timeout' ||
        type.startsWith('TCP') ||
        type === 'PIPEWRAP' ||
        type === 'UDPWRAP'
      ) {
        watched.set(asyncId, { type, resource: resource as Handle });
      }
    },
    destroy(asyncId) {
      watched.delete(asyncId);
    },
  });
  hook.enable();
  return {
    alive: () =>
      [...watched.values()]
        // A fired or cleared timer is `_destroyed` before its destroy hook runs.
        .filter(
          ({ type, resource }) =>
            type !== 'TCPCONNECTWRAP' && !resource._destroyed && resource.hasRef?.() !== false,
        )
        .map(({ type }) => type),
    stop: () => hook.disable(),
  };
}
