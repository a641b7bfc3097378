import assert from 'node:assert/strict';
import type { SessionRecord, SessionStore } from '@sess/core';
import type { BehaviourContext } from '../types.js';

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
export function json(value: unknown): unknown {
  return JSON.parse(JSON.stringify(value));
}

/** A stored record equals what was written, as JSON (cookie.expires compared as an instant). */
export function assertSameRecord(
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

export async function roundTrip(
  store: SessionStore,
  id: string,
  data: Record<string, unknown>,
): Promise<void> {
  const written = record(data);
  await store.set(id, written);
  assertSameRecord(await store.get(id), written);
}

export async function liveIds(store: SessionStore): Promise<string[]> {
  if (store.ids) return (await store.ids()).sort();
  if (store.all) return Object.keys(await store.all()).sort();
  throw new Error('store has neither ids() nor all()');
}

/** Settles within `ms`, or fails the behaviour: a store must never hang. */
export async function within<T>(ms: number, what: string, work: Promise<T>): Promise<T> {
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

export async function assertRejectsFast(
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

export const ID_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/** An id as a failure message shows it: quoted, long ones shortened. */
export function show(id: string): string {
  return JSON.stringify(
    id.length > 40 ? `${id.slice(0, 18)}…${id.slice(-18)} (${id.length} chars)` : id,
  );
}

/** How a listing differs from the ids expected, in one line; `null` when it does not. */
function listingDiff(got: string[], expected: string[]): string | null {
  const want = new Set(expected);
  const seen = new Set<string>();
  const duplicated = new Set<string>();
  for (const id of got) {
    if (seen.has(id)) duplicated.add(id);
    seen.add(id);
  }
  const missing = expected.filter((id) => !seen.has(id));
  const extra = [...seen].filter((id) => !want.has(id));
  if (missing.length + extra.length + duplicated.size === 0) return null;
  const some = (ids: string[]) => ids.slice(0, 3).map(show).join(', ');
  return [
    missing.length ? `${missing.length} missing (${some(missing)})` : '',
    extra.length ? `${extra.length} unexpected (${some(extra)})` : '',
    duplicated.size ? `${duplicated.size} listed twice (${some([...duplicated])})` : '',
  ]
    .filter(Boolean)
    .join(', ');
}

/** Every listing the store has (ids, all, length) shows exactly `expected`, once each. */
export async function assertListed(
  store: SessionStore,
  expected: string[],
  when: string,
): Promise<void> {
  if (store.ids) {
    const diff = listingDiff(await store.ids(), expected);
    assert.ok(diff === null, `ids() ${when}: ${diff}`);
  }
  if (store.all) {
    const diff = listingDiff(Object.keys(await store.all()), expected);
    assert.ok(diff === null, `all() ${when}: ${diff}`);
  }
  if (store.length) {
    const n = await store.length();
    assert.equal(n, expected.length, `length() ${when}: ${n}, expected ${expected.length}`);
  }
}

/**
 * Ids a careless store would merge are distinct sessions through every
 * operation: set/get, listings, touch, destroy.
 */
export async function assertDistinctIds(store: SessionStore, ids: string[]): Promise<void> {
  for (const [i, id] of ids.entries()) await store.set(id, record({ who: i }));
  const check = async (live: number[], when: string) => {
    for (const i of live) {
      const got = await store.get(ids[i] as string);
      assert.equal(
        got?.who,
        i,
        `get(${show(ids[i] as string)}) ${when}: ${got ? `the record of ${show(ids[got.who as number] ?? '?')}` : 'null'}`,
      );
    }
  };
  const all = ids.map((_, i) => i);
  await check(all, 'after writing each id');
  await assertListed(store, ids, 'after writing each id');
  if (store.touch) {
    for (const [i, id] of ids.entries()) await store.touch(id, record({ who: i }, 7_200_000));
    await check(all, 'after touching each id');
  }
  const [first, ...rest] = ids as [string, ...string[]];
  await store.destroy(first);
  assert.equal(await store.get(first), null, `get(${show(first)}) after destroying it`);
  await check(all.slice(1), `after destroying ${show(first)}`);
  await assertListed(store, rest, `after destroying ${show(first)}`);
}
