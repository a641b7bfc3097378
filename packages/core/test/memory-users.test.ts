import expressSession from 'express-session';
import { describe, expect, it } from 'vitest';
import {
  type CallbackStore,
  fromCallbackStore,
  hasUserIndex,
  MemoryStore,
  SessConfigError,
  type SessionRecord,
  type SessionStore,
  StoreClosedError,
  storeCapabilities,
  toCallbackStore,
  toSessionStore,
  type UserSessionInfo,
} from '../src/index.js';

/*
 * MemoryStore's user index beyond the conformance group (which runs on it in
 * packages/store-conformance): sweeping, eviction, closing, bad options, and
 * the callback bridges forwarding the four methods.
 */

const rec = (data: Record<string, unknown>, ms = 60_000, createdAt?: number): SessionRecord => ({
  cookie: {
    originalMaxAge: ms,
    expires: new Date(Date.now() + ms).toISOString(),
    path: '/',
    ...(createdAt === undefined ? {} : { createdAt }),
  },
  ...data,
});

const ids = (list: UserSessionInfo[]) => list.map((info) => info.id);

describe('MemoryStore users option', () => {
  it('a sweep drops expired sessions from the index', async () => {
    const store = new MemoryStore({ sweepInterval: 0, users: { user: 'userId' } });
    await store.set('a', rec({ userId: 'ann' }, 1_000, 1));
    await store.set('b', rec({ userId: 'ann' }, 60_000, 2));
    store.sweep(Date.now() + 5_000);
    expect(ids((await store.userSessions?.('ann')) ?? [])).toEqual(['b']);
    expect(await store.countUserSessions?.('ann')).toBe(1);
    await store.close();
  });

  it('evicting the least recently written session (maxSessions) removes it from the index', async () => {
    const store = new MemoryStore({ sweepInterval: 0, maxSessions: 2, users: { user: 'userId' } });
    await store.set('a', rec({ userId: 'ann' }, 60_000, 1));
    await store.set('b', rec({ userId: 'ann' }, 60_000, 2));
    await store.set('c', rec({ userId: 'bob' }, 60_000, 3));
    expect(await store.get('a')).toBeNull();
    expect(ids((await store.userSessions?.('ann')) ?? [])).toEqual(['b']);
    await store.close();
  });

  it('a function selects the user; the cap counts per user', async () => {
    const store = new MemoryStore({
      sweepInterval: 0,
      users: { user: (s) => (s.account as { id?: number } | undefined)?.id, maxSessionsPerUser: 1 },
    });
    await store.set('a', rec({ account: { id: 5 } }, 60_000, 1));
    await store.set('b', rec({ account: { id: 5 } }, 60_000, 2));
    await store.set('c', rec({ account: { id: 6 } }, 60_000, 3));
    expect(ids((await store.userSessions?.('5')) ?? [])).toEqual(['b']);
    expect(ids((await store.userSessions?.('6')) ?? [])).toEqual(['c']);
    await store.close();
  });

  it('after close, the user methods reject with StoreClosedError', async () => {
    const store = new MemoryStore({ sweepInterval: 0, users: { user: 'userId' } });
    await store.close();
    await expect(store.userSessions?.('ann')).rejects.toBeInstanceOf(StoreClosedError);
    await expect(store.countUserSessions?.('ann')).rejects.toBeInstanceOf(StoreClosedError);
    await expect(store.destroyUserSessions?.('ann')).rejects.toBeInstanceOf(StoreClosedError);
  });

  it('a bad users option is a SessConfigError naming MemoryStore', () => {
    expect(() => new MemoryStore({ users: { user: '' } })).toThrow(SessConfigError);
    expect(() => new MemoryStore({ users: { user: 'userId', maxSessionsPerUser: 0 } })).toThrow(
      /MemoryStore: users\.maxSessionsPerUser/,
    );
  });

  it('without users, the store has none of the four methods', () => {
    const store = new MemoryStore({ sweepInterval: 0 });
    expect(store.userOf).toBeUndefined();
    expect(store.userSessions).toBeUndefined();
    expect(hasUserIndex(store)).toBe(false);
  });
});

describe('the callback bridges forward the user methods', () => {
  const indexed = () =>
    new MemoryStore({ sweepInterval: 0, users: { user: 'userId', meta: ['ua'] } });

  it('toCallbackStore: callback and promise forms', async () => {
    const inner = indexed();
    const facade = toCallbackStore(inner, expressSession.Store);
    await inner.set('a', rec({ userId: 'ann', ua: 'curl' }, 60_000, 1));
    await inner.set('b', rec({ userId: 'ann' }, 60_000, 2));
    expect(facade.userOf?.(rec({ userId: 'ann' }))).toBe('ann');
    const listed = await new Promise<unknown>((resolve, reject) =>
      facade.userSessions?.('ann', (err, list) => (err ? reject(err) : resolve(list))),
    );
    expect(ids(listed as UserSessionInfo[])).toEqual(['a', 'b']);
    expect((listed as UserSessionInfo[])[0]?.meta).toEqual({ ua: 'curl' });
    expect(await facade.countUserSessions?.('ann')).toBe(2);
    const destroyed = await new Promise<unknown>((resolve, reject) =>
      facade.destroyUserSessions?.('ann', 'b', (err, n) => (err ? reject(err) : resolve(n))),
    );
    expect(destroyed).toBe(1);
    expect(await facade.destroyUserSessions?.('ann')).toBe(1);
    await inner.close();
  });

  it('fromCallbackStore over such a facade reaches the sess store directly', async () => {
    const inner = indexed();
    const store = fromCallbackStore(toCallbackStore(inner, expressSession.Store));
    expect(hasUserIndex(store)).toBe(true);
    await store.set('a', rec({ userId: 'ann' }, 60_000, 1));
    expect(ids((await store.userSessions?.('ann')) ?? [])).toEqual(['a']);
    expect(await store.destroyUserSessions?.('ann')).toBe(1);
    expect(await inner.get('a')).toBeNull();
    await inner.close();
  });

  it('fromCallbackStore forwards a store’s own user methods answering by promise or callback', async () => {
    const inner = indexed();
    const legacy: CallbackStore = {
      get: (sid, cb) => void inner.get(sid).then((s) => cb(null, s), cb),
      set: (sid, s, cb) => void inner.set(sid, s as SessionRecord).then(() => cb?.(), cb),
      destroy: (sid, cb) => void inner.destroy(sid).then(() => cb?.(), cb),
      userOf: (s) => inner.userOf?.(s) ?? null,
      userSessions: (user) => inner.userSessions?.(user),
      countUserSessions: (user, cb) =>
        void inner.countUserSessions?.(user).then((n) => cb?.(null, n), cb),
      destroyUserSessions: (user, exceptId) => inner.destroyUserSessions?.(user, exceptId),
    };
    const store = fromCallbackStore(legacy);
    expect(storeCapabilities(store).has('userSessions')).toBe(true);
    await store.set('a', rec({ userId: 'ann' }, 60_000, 1));
    await store.set('b', rec({ userId: 'ann' }, 60_000, 2));
    expect(ids((await store.userSessions?.('ann')) ?? [])).toEqual(['a', 'b']);
    expect(await store.countUserSessions?.('ann')).toBe(2);
    expect(await store.destroyUserSessions?.('ann', 'a')).toBe(1);
    await inner.close();
  });

  it('a sess store without compareAndSet keeps its user methods through toSessionStore', async () => {
    const inner = indexed();
    const bare: SessionStore = {
      get: (id) => inner.get(id),
      set: (id, s) => inner.set(id, s),
      destroy: (id) => inner.destroy(id),
      userOf: (s) => inner.userOf?.(s) ?? null,
      userSessions: async (user) => (await inner.userSessions?.(user)) ?? [],
      countUserSessions: async (user) => (await inner.countUserSessions?.(user)) ?? 0,
      destroyUserSessions: async (user, except) =>
        (await inner.destroyUserSessions?.(user, except)) ?? 0,
    };
    const store = toSessionStore(bare);
    await store.set('a', rec({ userId: 'ann' }, 60_000, 1));
    expect(ids((await store.userSessions?.('ann')) ?? [])).toEqual(['a']);
    await inner.close();
  });

  it('a store with only some of the four gets none through the bridge', () => {
    const legacy: CallbackStore = {
      get: (_sid, cb) => cb(null, null),
      set: (_sid, _s, cb) => cb?.(),
      destroy: (_sid, cb) => cb?.(),
      userSessions: async () => [],
    };
    expect(hasUserIndex(fromCallbackStore(legacy))).toBe(false);
    expect(fromCallbackStore(legacy).userSessions).toBeUndefined();
  });
});
