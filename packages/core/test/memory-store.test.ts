import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  MemoryStore,
  SessConfigError,
  type SessionRecord,
  StoreClosedError,
  StoreError,
} from '../src/index.js';

const run = promisify(execFile);
const NOW = Date.parse('2026-03-01T12:00:00.000Z');

const withExpiry = (ms: number | null, data: Record<string, unknown> = {}): SessionRecord => ({
  cookie: {
    originalMaxAge: ms,
    expires: ms === null ? null : new Date(Date.now() + ms).toISOString(),
    httpOnly: true,
    path: '/',
  },
  ...data,
});

let store: MemoryStore;
beforeEach(() => {
  store = new MemoryStore({ sweepInterval: 0 });
});
afterEach(async () => {
  vi.useRealTimers();
  await store.close();
});

describe('MemoryStore basics', () => {
  it('stores, reads and destroys a record', async () => {
    const record = withExpiry(60_000, { user: 'ann' });
    await store.set('id1', record);
    expect(await store.get('id1')).toEqual(record);
    await store.destroy('id1');
    expect(await store.get('id1')).toBeNull();
  });

  it('returns null for an unknown id and destroying it is fine', async () => {
    expect(await store.get('missing')).toBeNull();
    await expect(store.destroy('missing')).resolves.toBeUndefined();
  });

  it('shares no references with callers, either way', async () => {
    const record = withExpiry(60_000, { cart: ['a'] });
    await store.set('id', record);
    (record.cart as string[]).push('b');
    const first = (await store.get('id')) as SessionRecord;
    expect(first.cart).toEqual(['a']);
    (first.cart as string[]).push('c');
    first.cookie.path = '/changed';
    const second = (await store.get('id')) as SessionRecord;
    expect(second.cart).toEqual(['a']);
    expect(second.cookie.path).toBe('/');
    expect(second).not.toBe(first);
  });

  it('stores Dates as ISO strings, like JSON stores', async () => {
    await store.set('id', { cookie: { originalMaxAge: 1000, expires: new Date(NOW + 1e12) } });
    const got = await store.get('id');
    expect(typeof got?.cookie.expires).toBe('string');
  });

  it('lists ids, all, length and clears', async () => {
    await store.set('a', withExpiry(60_000, { n: 1 }));
    await store.set('b', withExpiry(null, { n: 2 }));
    expect((await store.ids()).sort()).toEqual(['a', 'b']);
    expect(await store.length()).toBe(2);
    const all = await store.all();
    expect(Object.keys(all).sort()).toEqual(['a', 'b']);
    expect(all.b?.n).toBe(2);
    await store.clear();
    expect(await store.length()).toBe(0);
    expect(await store.ids()).toEqual([]);
  });
});

describe('expiry', () => {
  beforeEach(() => {
    vi.useFakeTimers();
    vi.setSystemTime(NOW);
  });

  it('hides a record once cookie.expires has passed, on read and in listings', async () => {
    await store.set('short', withExpiry(1000));
    await store.set('long', withExpiry(60_000));
    expect(await store.get('short')).not.toBeNull();
    vi.setSystemTime(NOW + 1000);
    expect(await store.get('short')).toBeNull();
    expect(await store.ids()).toEqual(['long']);
    expect(await store.length()).toBe(1);
    expect(Object.keys(await store.all())).toEqual(['long']);
  });

  it('does not store a record that is already expired, and set removes the old one', async () => {
    await store.set('id', withExpiry(60_000, { v: 1 }));
    await store.set('id', withExpiry(-1, { v: 2 }));
    expect(await store.get('id')).toBeNull();
    expect(await store.length()).toBe(0);
  });

  it('keeps a record without expires for the ttl option', async () => {
    const short = new MemoryStore({ sweepInterval: 0, ttl: 5000 });
    await short.set('id', withExpiry(null));
    vi.setSystemTime(NOW + 4999);
    expect(await short.get('id')).not.toBeNull();
    vi.setSystemTime(NOW + 5000);
    expect(await short.get('id')).toBeNull();
    await short.close();
  });

  it('uses one day as the default ttl', async () => {
    await store.set('id', withExpiry(null));
    vi.setSystemTime(NOW + 86_400_000 - 1);
    expect(await store.get('id')).not.toBeNull();
    vi.setSystemTime(NOW + 86_400_000);
    expect(await store.get('id')).toBeNull();
  });

  it('an unparseable expires counts as expired and is never stored', async () => {
    await store.set('id', { cookie: { originalMaxAge: 1, expires: 'garbage' } });
    expect(await store.get('id')).toBeNull();
  });

  it('the sweep timer removes expired records', async () => {
    const swept = new MemoryStore({ sweepInterval: 1000 });
    await swept.set('a', withExpiry(500));
    await swept.set('b', withExpiry(60_000));
    const spy = vi.spyOn(swept, 'sweep');
    vi.advanceTimersByTime(1000);
    expect(spy).toHaveBeenCalledTimes(1); // the timer, not a read, ran the sweep
    expect(await swept.length()).toBe(1);
    spy.mockRestore();
    await swept.close();
    vi.advanceTimersByTime(5000);
  });

  it('sweep(now) drops exactly the records expired at now', async () => {
    await store.set('a', withExpiry(1000));
    await store.set('b', withExpiry(2000));
    store.sweep(NOW + 1500);
    expect(await store.ids()).toEqual(['b']);
  });

  it('close() stops the sweep timer', async () => {
    const timed = new MemoryStore({ sweepInterval: 1000 });
    expect(vi.getTimerCount()).toBe(1);
    await timed.close();
    expect(vi.getTimerCount()).toBe(0);
  });

  it('a sweepInterval beyond the 32-bit timer limit is clamped, and Infinity starts no timer', () => {
    const warn = vi.spyOn(process, 'emitWarning');
    const before = vi.getTimerCount();
    const never = new MemoryStore({ sweepInterval: Number.POSITIVE_INFINITY });
    expect(vi.getTimerCount()).toBe(before);
    const huge = new MemoryStore({ sweepInterval: 2 ** 40 });
    expect(vi.getTimerCount()).toBe(before + 1);
    const spy = vi.spyOn(huge, 'sweep');
    vi.advanceTimersByTime(1000);
    expect(spy).not.toHaveBeenCalled(); // not the 1 ms Node falls back to on overflow
    expect(warn).not.toHaveBeenCalled();
    void never.close();
    void huge.close();
  });

  it('sweepInterval 0 starts no timer', () => {
    const before = vi.getTimerCount();
    const untimed = new MemoryStore({ sweepInterval: 0 });
    expect(vi.getTimerCount()).toBe(before);
    void untimed.close();
  });
});

describe('options', () => {
  it.each([
    ['ttl', { ttl: 0 }],
    ['ttl', { ttl: -1 }],
    ['ttl', { ttl: Number.NaN }],
    ['maxSessions', { maxSessions: Number.NaN }],
    ['maxSessions', { maxSessions: -5 }],
    ['sweepInterval', { sweepInterval: -1 }],
    ['sweepInterval', { sweepInterval: '1000' as unknown as number }],
  ])('rejects a bad %s (%o) with SessConfigError', (name, options) => {
    expect(() => new MemoryStore(options)).toThrow(SessConfigError);
    expect(() => new MemoryStore(options)).toThrow(name);
  });

  it('accepts Infinity for maxSessions (unbounded)', async () => {
    const unbounded = new MemoryStore({ sweepInterval: 0, maxSessions: Number.POSITIVE_INFINITY });
    for (let i = 0; i < 10; i++) await unbounded.set(`id${i}`, withExpiry(60_000));
    expect(await unbounded.length()).toBe(10);
    await unbounded.close();
  });
});

describe('touch', () => {
  beforeEach(() => {
    vi.useFakeTimers();
    vi.setSystemTime(NOW);
  });

  it('moves the expiry and keeps the stored data', async () => {
    await store.set('id', withExpiry(1000, { user: 'ann' }));
    vi.setSystemTime(NOW + 900);
    await store.touch('id', withExpiry(1000, { user: 'someone else' }));
    vi.setSystemTime(NOW + 1500);
    const got = await store.get('id');
    expect(got?.user).toBe('ann');
    expect(got?.cookie.expires).toBe(new Date(NOW + 1900).toISOString());
  });

  it('never creates a record', async () => {
    await store.touch('ghost', withExpiry(60_000));
    expect(await store.get('ghost')).toBeNull();
    expect(await store.length()).toBe(0);
  });

  it('never resurrects an expired record', async () => {
    await store.set('id', withExpiry(1000));
    vi.setSystemTime(NOW + 1000);
    await store.touch('id', withExpiry(60_000));
    expect(await store.get('id')).toBeNull();
  });

  it('with an expiry in the past, removes the record', async () => {
    await store.set('id', withExpiry(60_000));
    await store.touch('id', withExpiry(-5));
    expect(await store.get('id')).toBeNull();
  });
});

describe('maxSessions', () => {
  it('evicts the least recently written record first', async () => {
    const bounded = new MemoryStore({ sweepInterval: 0, maxSessions: 3 });
    for (const id of ['a', 'b', 'c']) await bounded.set(id, withExpiry(60_000));
    await bounded.set('a', withExpiry(60_000, { again: true })); // a is now the newest
    await bounded.set('d', withExpiry(60_000));
    expect((await bounded.ids()).sort()).toEqual(['a', 'c', 'd']);
    await bounded.set('e', withExpiry(60_000));
    expect((await bounded.ids()).sort()).toEqual(['a', 'd', 'e']);
    expect(await bounded.length()).toBe(3);
    await bounded.close();
  });

  it('stays bounded under many writes', async () => {
    const bounded = new MemoryStore({ sweepInterval: 0, maxSessions: 100 });
    for (let i = 0; i < 1000; i++) await bounded.set(`id${i}`, withExpiry(60_000));
    expect(await bounded.length()).toBe(100);
    expect(await bounded.get('id999')).not.toBeNull();
    expect(await bounded.get('id899')).toBeNull();
    await bounded.close();
  });

  it('treats a bound below 1 as 1', async () => {
    const bounded = new MemoryStore({ sweepInterval: 0, maxSessions: 0 });
    await bounded.set('a', withExpiry(60_000));
    await bounded.set('b', withExpiry(60_000));
    expect(await bounded.ids()).toEqual(['b']);
    await bounded.close();
  });
});

describe('compareAndSet', () => {
  it('creates when expected is null and nothing is stored', async () => {
    expect(await store.compareAndSet('id', null, withExpiry(60_000, { v: 1 }))).toBe(true);
    expect((await store.get('id'))?.v).toBe(1);
  });

  it('refuses to create over an existing record', async () => {
    await store.set('id', withExpiry(60_000, { v: 1 }));
    expect(await store.compareAndSet('id', null, withExpiry(60_000, { v: 2 }))).toBe(false);
    expect((await store.get('id'))?.v).toBe(1);
  });

  it('writes when the stored record equals expected (what get returned)', async () => {
    await store.set('id', withExpiry(60_000, { v: 1 }));
    const current = await store.get('id');
    expect(await store.compareAndSet('id', current, withExpiry(60_000, { v: 2 }))).toBe(true);
    expect((await store.get('id'))?.v).toBe(2);
  });

  it('compares as JSON: a Date expires equals its ISO string', async () => {
    const expires = new Date(Date.now() + 60_000);
    await store.set('id', { cookie: { originalMaxAge: 1, expires }, v: 1 });
    const expected = { cookie: { originalMaxAge: 1, expires }, v: 1 };
    expect(await store.compareAndSet('id', expected, withExpiry(60_000, { v: 2 }))).toBe(true);
  });

  it('refuses when the record changed since it was read', async () => {
    await store.set('id', withExpiry(60_000, { v: 1 }));
    const read = await store.get('id');
    await store.set('id', withExpiry(60_000, { v: 'other' }));
    expect(await store.compareAndSet('id', read, withExpiry(60_000, { v: 2 }))).toBe(false);
    expect((await store.get('id'))?.v).toBe('other');
  });

  it('refuses when the record was destroyed (never resurrects)', async () => {
    await store.set('id', withExpiry(60_000, { v: 1 }));
    const read = await store.get('id');
    await store.destroy('id');
    expect(await store.compareAndSet('id', read, withExpiry(60_000, { v: 2 }))).toBe(false);
    expect(await store.get('id')).toBeNull();
  });

  it('treats an expired record as absent', async () => {
    vi.useFakeTimers();
    vi.setSystemTime(NOW);
    await store.set('id', withExpiry(1000, { v: 1 }));
    const read = await store.get('id');
    vi.setSystemTime(NOW + 2000);
    expect(await store.compareAndSet('id', read, withExpiry(60_000, { v: 2 }))).toBe(false);
    expect(await store.compareAndSet('id', null, withExpiry(60_000, { v: 3 }))).toBe(true);
    expect((await store.get('id'))?.v).toBe(3);
  });

  it('lets exactly one of two racing writers win', async () => {
    await store.set('id', withExpiry(60_000, { v: 0 }));
    const read = await store.get('id');
    const results = await Promise.all([
      store.compareAndSet('id', read, withExpiry(60_000, { v: 'a' })),
      store.compareAndSet('id', read, withExpiry(60_000, { v: 'b' })),
    ]);
    expect(results.filter(Boolean)).toHaveLength(1);
  });
});

describe('close', () => {
  it('makes every operation reject with StoreClosedError', async () => {
    await store.set('id', withExpiry(60_000));
    await store.close();
    const calls: [string, () => Promise<unknown>][] = [
      ['get', () => store.get('id')],
      ['set', () => store.set('id', withExpiry(60_000))],
      ['touch', () => store.touch('id', withExpiry(60_000))],
      ['destroy', () => store.destroy('id')],
      ['ids', () => store.ids()],
      ['all', () => store.all()],
      ['length', () => store.length()],
      ['clear', () => store.clear()],
      ['compareAndSet', () => store.compareAndSet('id', null, withExpiry(1))],
    ];
    for (const [operation, call] of calls) {
      const error = await call().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error, operation).toBeInstanceOf(StoreClosedError);
      expect(error, operation).toBeInstanceOf(StoreError);
      expect((error as StoreClosedError).operation).toBe(operation);
      expect((error as StoreClosedError).code).toBe('SESS_STORE_CLOSED');
    }
  });

  it('is idempotent', async () => {
    await store.close();
    await expect(store.close()).resolves.toBeUndefined();
  });
});

describe('process lifetime', () => {
  it('nothing core leaves open (sweep timer, pending bounded calls) keeps the process alive', async () => {
    const fixture = fileURLToPath(new URL('./fixtures/open-store.ts', import.meta.url));
    const started = Date.now();
    const { stdout } = await run(process.execPath, ['--import', 'tsx', fixture], {
      cwd: fileURLToPath(new URL('..', import.meta.url)),
      timeout: 15_000,
    });
    expect(JSON.parse(stdout)).toMatchObject({ n: 1 });
    // The child ends long before the one-minute bounds it left pending.
    expect(Date.now() - started).toBeLessThan(10_000);
  }, 20_000);
});
