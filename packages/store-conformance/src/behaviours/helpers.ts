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

/** Every behaviour of the suite, in report order. */
