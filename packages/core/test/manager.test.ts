import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  generateSessionId,
  MemoryStore,
  type RequestSession,
  SessConfigError,
  SessionConflictError,
  SessionManager,
  type SessionOptions,
  type SessionRecord,
  type SessionStore,
  StoreError,
  StoreUnavailableError,
  signCookie,
  unsignCookie,
} from '../src/index.js';
import { CountingStore, cookiePair, data, roundTrip, SECRET } from './helpers.js';

const manage = (store: SessionStore, options: Partial<SessionOptions> = {}) =>
  new SessionManager({ secret: SECRET, store, ...options });

const cookieFor = (id: string, secret = SECRET) =>
  `connect.sid=${encodeURIComponent(signCookie(id, secret))}`;

const stored = (ms: number | null, extra: Record<string, unknown> = {}) => ({
  cookie: {
    originalMaxAge: ms,
    expires: ms === null ? null : new Date(Date.now() + ms).toISOString(),
    httpOnly: true,
    path: '/',
  },
  ...extra,
});

let store: CountingStore;
beforeEach(() => {
  store = new CountingStore();
});
afterEach(async () => {
  vi.restoreAllMocks();
  await store.close();
});

describe('load', () => {
  it('without a cookie: a new session, no store read', async () => {
    const state = await manage(store).load({ request: {}, cookieHeader: undefined, secure: false });
    expect(state?.cookieId).toBeNull();
    expect(state?.id).toMatch(/^[A-Za-z0-9_-]{32}$/);
    expect(state?.session?.id).toBe(state?.id);
    expect(store.calls.get).toBe(0);
  });

  it('with a valid cookie: the stored session, one read', async () => {
    await store.inner.set('known', stored(60_000, { user: 'ann' }));
    const state = await manage(store).load({
      request: {},
      cookieHeader: `other=1; ${cookieFor('known')}`,
      secure: false,
    });
    expect(state?.id).toBe('known');
    expect(state?.cookieId).toBe('known');
    expect(data(state as RequestSession)['user']).toBe('ann');
    expect(state?.session?.cookie.originalMaxAge).toBe(60_000);
    expect(store.calls.get).toBe(1);
  });

  it.each([
    [
      'a forged signature',
      `connect.sid=${encodeURIComponent('s:known.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA')}`,
    ],
    ['an unsigned id', 'connect.sid=known'],
    ['another secret', cookieFor('known', 'some other secret that is not ours at all')],
    ['a truncated value', cookieFor('known').slice(0, -5)],
    ['garbage', 'connect.sid=%%%; ;;=;'],
    ['a broken header', '=;=;connect.sid'],
  ])('with %s: a new session, never a store read or an error', async (_label, header) => {
    await store.inner.set('known', stored(60_000, { user: 'ann' }));
    const state = await manage(store).load({ request: {}, cookieHeader: header, secure: false });
    expect(state?.id).not.toBe('known');
    expect(state?.cookieId).toBeNull();
    expect(data(state as RequestSession)['user']).toBeUndefined();
    expect(store.calls.get).toBe(0);
  });

  it('a valid cookie for a missing record: a new session with a new id', async () => {
    const state = await manage(store).load({
      request: {},
      cookieHeader: cookieFor('gone'),
      secure: false,
    });
    expect(state?.cookieId).toBe('gone');
    expect(state?.id).not.toBe('gone');
    expect(store.calls.get).toBe(1);
  });

  it('the store decides liveness: a record it returns with a past cookie.expires is live, with a fresh expiry', async () => {
    // A store whose touch moved only its own expiry (Redis PEXPIRE, an SQL
    // expiry column) still holds the first cookie.expires; core must not drop it.
    const touchedElsewhere: SessionStore = {
      get: async () => {
        const record = stored(60_000, { user: 'ann' });
        record.cookie.expires = new Date(Date.now() - 1000).toISOString();
        return record;
      },
      set: async () => {},
      destroy: async () => {},
    };
    const state = (await manage(touchedElsewhere).load({
      request: {},
      cookieHeader: cookieFor('old'),
      secure: false,
    })) as RequestSession;
    expect(state.id).toBe('old');
    expect(data(state)['user']).toBe('ann');
    await state.commit(state.session);
    expect(state.session?.cookie.expires?.getTime()).toBeGreaterThan(Date.now());
  });

  it.each([
    ['a string', 'not a record'],
    ['an array', [1, 2]],
    ['a record without cookie', { user: 'ann' }],
    [
      'a cookie with an invalid expires',
      { cookie: { originalMaxAge: 1, expires: 'soon' }, user: 'x' },
    ],
  ])('a corrupt record (%s) is treated as missing', async (_label, record) => {
    const corrupt = {
      get: async () => record,
      set: async () => {},
      destroy: async () => {},
    } as unknown as SessionStore;
    const state = await manage(corrupt).load({
      request: {},
      cookieHeader: cookieFor('bad'),
      secure: false,
    });
    expect(state?.id).not.toBe('bad');
    expect(data(state as RequestSession)['user']).toBeUndefined();
  });

  it.each([
    ['sameSite', { sameSite: 'bogus' }],
    ['priority', { priority: 'urgent' }],
    ['path', { path: '/; Domain=evil.test' }],
    ['domain', { domain: 'a b' }],
  ])(
    'a stored cookie with an invalid %s is a new session, not a throwing Set-Cookie',
    async (_label, field) => {
      await store.inner.set('odd', stored(60_000, { user: 'ann' }));
      const odd = {
        get: async () => ({
          ...stored(60_000, { user: 'ann' }),
          cookie: { ...stored(60_000).cookie, ...field },
        }),
        set: async () => {},
        destroy: async () => {},
      } as unknown as SessionStore;
      const manager = manage(odd, { rolling: true });
      const { state, setCookie } = await roundTrip(manager, cookieFor('odd'));
      expect(state.id).not.toBe('odd');
      expect(data(state)['user']).toBeUndefined();
      expect(setCookie).toMatch(/^connect\.sid=s%3A/);
    },
  );

  it('a stored cookie with nulls for absent fields is read as express-session would', async () => {
    const nulls = {
      get: async () => ({
        cookie: {
          ...stored(60_000).cookie,
          domain: null,
          secure: null,
          sameSite: null,
          priority: null,
        },
        user: 'ann',
      }),
      set: async () => {},
      destroy: async () => {},
    } as unknown as SessionStore;
    const { state, setCookie } = await roundTrip(manage(nulls, { rolling: true }), cookieFor('n'));
    expect(state.id).toBe('n');
    expect(data(state)['user']).toBe('ann');
    expect(setCookie).toMatch(/^connect\.sid=s%3An\.[^;]+; Path=\/; Expires=[^;]+; HttpOnly$/);
  });

  it('a record express-session wrote after `cookie.expires = false` is read, not expired', async () => {
    await store.inner.set('es', {
      cookie: { originalMaxAge: false, expires: false, httpOnly: true, path: '/' },
      user: 'ann',
    } as unknown as SessionRecord);
    const { state, setCookie } = await roundTrip(
      manage(store, { resave: false }),
      cookieFor('es'),
      (s) => {
        data(s)['user'] = 'bob';
      },
    );
    expect(state.id).toBe('es');
    expect(setCookie).toBeNull(); // a browser-session cookie is not re-sent on change
    const saved = await store.inner.get('es');
    expect(saved?.['user']).toBe('bob');
    expect(saved?.cookie.expires ?? null).toBeNull();
  });

  it('cookie.expires = false in a handler gives a browser-session cookie that is still saved', async () => {
    const manager = manage(store, { cookie: { maxAge: 60_000 } });
    const { state, setCookie } = await roundTrip(manager, undefined, (s) => {
      (s.session as RequestSession['session'] & object).cookie.expires = false as unknown as null;
      data(s)['remember'] = false;
    });
    expect(setCookie).not.toContain('Expires');
    expect((await store.inner.get(state.id))?.['remember']).toBe(false);
  });

  it('a store error rejects with a StoreError carrying the cause', async () => {
    const cause = new Error('ECONNREFUSED');
    const failing: SessionStore = {
      get: async () => {
        throw cause;
      },
      set: async () => {},
      destroy: async () => {},
    };
    const error = await manage(failing)
      .load({ request: {}, cookieHeader: cookieFor('x'), secure: false })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StoreError);
    expect((error as StoreError).operation).toBe('get');
    expect((error as StoreError).cause).toBe(cause);
    expect((error as Error).message).not.toContain(SECRET);
  });

  it('storeTimeout: a store that never answers rejects with StoreUnavailableError', async () => {
    const silent: SessionStore = {
      get: () => new Promise(() => {}),
      set: () => new Promise(() => {}),
      destroy: () => new Promise(() => {}),
    };
    const started = Date.now();
    const manager = manage(silent, { storeTimeout: 100 });
    const error = await manager
      .load({ request: {}, cookieHeader: cookieFor('x'), secure: false })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StoreUnavailableError);
    expect((error as StoreUnavailableError).operation).toBe('get');
    expect(Date.now() - started).toBeLessThan(2000);
    // writes are bounded too
    const state = await manager.load({ request: {}, cookieHeader: undefined, secure: false });
    await expect(state?.commit(state.session)).rejects.toBeInstanceOf(StoreUnavailableError);
  });

  it('returns null when the request path is outside cookie.path', async () => {
    const manager = manage(store, { cookie: { path: '/app' } });
    const input = { request: {}, cookieHeader: undefined, secure: false };
    expect(await manager.load({ ...input, path: '/other' })).toBeNull();
    expect(await manager.load({ ...input, path: '/app/page' })).not.toBeNull();
  });

  it('uses genid for new ids, and rejects an empty one', async () => {
    const manager = manage(store, { genid: () => 'custom-id' });
    const { state } = await roundTrip(manager, undefined);
    expect(state.id).toBe('custom-id');
    const broken = manage(store, { genid: () => '' });
    await expect(
      broken.load({ request: {}, cookieHeader: undefined, secure: false }),
    ).rejects.toBeInstanceOf(SessConfigError);
  });
});

describe('save vs touch vs nothing (a counting store)', () => {
  async function existing(options: Partial<SessionOptions>, ms: number | null = 60_000) {
    const manager = manage(store, options);
    const id = generateSessionId();
    await store.inner.set(id, stored(ms, { views: 1 }));
    store.reset();
    return { manager, cookie: cookieFor(id), id };
  }

  it('resave false: an unmodified request performs one read and no write, sends no cookie', async () => {
    const { manager, cookie } = await existing({ resave: false, saveUninitialized: false });
    const { setCookie } = await roundTrip(manager, cookie);
    expect(store.calls.get).toBe(1);
    expect(store.writes).toBe(0);
    expect(setCookie).toBeNull();
  });

  it('resave true (the default): an unmodified session is rewritten once', async () => {
    const { manager, cookie } = await existing({});
    const { setCookie } = await roundTrip(manager, cookie);
    expect(store.calls.get).toBe(1);
    expect(store.writes).toBe(1);
    expect(store.calls.touch).toBe(0);
    expect(setCookie).toBeNull();
  });

  it('a modified session is saved once and, with an expiry, re-sent', async () => {
    const { manager, cookie, id } = await existing({ resave: false });
    const { setCookie } = await roundTrip(manager, cookie, (state) => {
      data(state)['views'] = 2;
    });
    expect(store.writes).toBe(1);
    expect(store.calls.touch).toBe(0);
    expect((await store.inner.get(id))?.['views']).toBe(2);
    expect(setCookie).toMatch(/^connect\.sid=s%3A/);
  });

  it('a change inside a nested value counts as a modification', async () => {
    const { manager, cookie, id } = await existing({ resave: false });
    await store.inner.set(id, stored(60_000, { cart: { items: ['a'] } }));
    await roundTrip(manager, cookie, (state) => {
      (data(state)['cart'] as { items: string[] }).items.push('b');
    });
    expect((await store.inner.get(id))?.['cart']).toEqual({ items: ['a', 'b'] });
  });

  it('a modified browser-session cookie is saved but the cookie is not re-sent', async () => {
    const { manager, cookie } = await existing({ resave: false }, null);
    const { setCookie } = await roundTrip(manager, cookie, (state) => {
      data(state)['views'] = 2;
    });
    expect(store.writes).toBe(1);
    expect(setCookie).toBeNull();
  });

  it('resave false: an unmodified browser-session cookie is touched (its only idle expiry is the store TTL), not re-sent', async () => {
    const { manager, cookie, id } = await existing(
      { resave: false, saveUninitialized: false },
      null,
    );
    const { setCookie } = await roundTrip(manager, cookie);
    expect(store.calls.touch).toBe(1);
    expect(store.calls.set).toBe(0);
    expect((await store.inner.get(id))?.['views']).toBe(1);
    expect(setCookie).toBeNull();
  });

  it('rolling + resave false: an unmodified session is touched (not rewritten) and re-sent', async () => {
    const { manager, cookie, id } = await existing({ resave: false, rolling: true });
    const before = (await store.inner.get(id))?.cookie.expires as string;
    store.reset();
    await new Promise((resolve) => setTimeout(resolve, 5));
    const { setCookie } = await roundTrip(manager, cookie);
    expect(store.calls.touch).toBe(1);
    expect(store.calls.set + store.calls.compareAndSet).toBe(0);
    expect(setCookie).toMatch(/^connect\.sid=/);
    expect(setCookie).toContain('Expires=');
    const after = (await store.inner.get(id))?.cookie.expires as string;
    expect(Date.parse(after)).toBeGreaterThan(Date.parse(before));
  });

  it('a re-sent cookie carries the id signed with the current secret, quoted or not, rotated or not', async () => {
    const OLD = 'the secret of last year, long enough to pass';
    const manager = manage(store, { resave: false, rolling: true, secret: [SECRET, OLD] });
    await store.inner.set('resent', stored(60_000, { user: 'ann' }));
    const value = (line: string | null) =>
      decodeURIComponent((line ?? '').split(';')[0]?.slice('connect.sid='.length) ?? '');
    // The browser's own value, as it sent it (the signature is deterministic).
    const plain = await roundTrip(manager, cookieFor('resent'));
    expect(value(plain.setCookie)).toBe(signCookie('resent', SECRET));
    // express-session accepts a value in double quotes: what goes back has none.
    const quoted = await roundTrip(
      manager,
      `connect.sid="${encodeURIComponent(signCookie('resent', SECRET))}"`,
    );
    expect(quoted.state.id).toBe('resent');
    expect(value(quoted.setCookie)).toBe(signCookie('resent', SECRET));
    // Signed with a rotated-out secret: re-signed with the current one.
    const rotated = await roundTrip(manager, cookieFor('resent', OLD));
    expect(rotated.state.id).toBe('resent');
    expect(value(rotated.setCookie)).toBe(signCookie('resent', SECRET));
    // A new id after regenerate is signed anew, never the browser's value.
    const regenerated = await roundTrip(manager, cookieFor('resent'), async (state) => {
      await state.session?.regenerate();
    });
    expect(regenerated.state.id).not.toBe('resent');
    expect(value(regenerated.setCookie)).toBe(signCookie(regenerated.state.id, SECRET));
  });

  it('rolling + resave true: saved once, never also touched', async () => {
    const { manager, cookie } = await existing({ rolling: true });
    const { setCookie } = await roundTrip(manager, cookie);
    expect(store.calls.set + store.calls.compareAndSet).toBe(1);
    expect(store.calls.touch).toBe(0);
    expect(setCookie).not.toBeNull();
  });

  it('rolling on a store without touch: no write at all', async () => {
    const noTouch: SessionStore = {
      get: (id) => store.get(id),
      set: (id, r) => store.set(id, r),
      destroy: (id) => store.destroy(id),
    };
    const manager = manage(noTouch, { resave: false, rolling: true });
    await store.inner.set('id', stored(60_000));
    store.reset();
    const { setCookie } = await roundTrip(manager, cookieFor('id'));
    expect(store.writes).toBe(0);
    expect(setCookie).not.toBeNull();
  });

  it('saveUninitialized true (default): a new empty session is saved and its cookie sent', async () => {
    const { state, setCookie } = await roundTrip(manage(store), undefined);
    expect(store.writes).toBe(1);
    expect(await store.inner.get(state.id)).not.toBeNull();
    expect(
      unsignCookie(decodeURIComponent(cookiePair(setCookie).split('=')[1] as string), [SECRET])?.id,
    ).toBe(state.id);
  });

  it('saveUninitialized false: a new empty session is neither saved nor sent', async () => {
    const { setCookie } = await roundTrip(manage(store, { saveUninitialized: false }), undefined);
    expect(store.writes).toBe(0);
    expect(setCookie).toBeNull();
  });

  it('saveUninitialized false: a new session with data is saved and sent', async () => {
    const { state, setCookie } = await roundTrip(
      manage(store, { saveUninitialized: false, resave: false }),
      undefined,
      (s) => {
        data(s)['user'] = 'ann';
      },
    );
    expect(store.writes).toBe(1);
    expect((await store.inner.get(state.id))?.['user']).toBe('ann');
    expect(setCookie).not.toBeNull();
  });

  it('a forged cookie with saveUninitialized false: nothing stored, no cookie', async () => {
    const { setCookie } = await roundTrip(
      manage(store, { saveUninitialized: false }),
      'connect.sid=s%3Aforged.nope',
    );
    expect(store.writes).toBe(0);
    expect(store.calls.get).toBe(0);
    expect(setCookie).toBeNull();
  });

  it('an explicit save() then an unmodified end: one write in total', async () => {
    const { manager, cookie } = await existing({ resave: false });
    await roundTrip(manager, cookie, async (state) => {
      data(state)['views'] = 5;
      await state.session?.save();
    });
    expect(store.writes).toBe(1);
  });

  it('works the same on a store without compareAndSet (plain set)', async () => {
    store = new CountingStore({ compareAndSet: false });
    const manager = manage(store, { resave: false, saveUninitialized: false });
    await store.inner.set('id', stored(60_000, { views: 1 }));
    store.reset();
    await roundTrip(manager, cookieFor('id'));
    expect(store.writes).toBe(0);
    await roundTrip(manager, cookieFor('id'), (s) => {
      data(s)['views'] = 2;
    });
    expect(store.calls.set).toBe(1);
    expect((await store.inner.get('id'))?.['views']).toBe(2);
  });
});

describe('a whole browser flow', () => {
  it('a counter survives requests through the cookie it was given', async () => {
    const manager = manage(store, {
      resave: false,
      saveUninitialized: false,
      cookie: { maxAge: 60_000 },
    });
    const first = await roundTrip(manager, undefined, (s) => {
      data(s)['views'] = 1;
    });
    const cookie = cookiePair(first.setCookie);
    for (let n = 2; n <= 4; n++) {
      const next = await roundTrip(manager, cookie, (s) => {
        data(s)['views'] = (data(s)['views'] as number) + 1;
      });
      expect(next.state.id).toBe(first.state.id);
      expect(data(next.state)['views']).toBe(n);
    }
    expect((await store.inner.get(first.state.id))?.['views']).toBe(4);
  });

  it('regenerate: a new id, the old record destroyed, chosen keys kept', async () => {
    const manager = manage(store, { resave: false, saveUninitialized: false });
    await store.inner.set('before', stored(60_000, { cart: ['x'], tmp: 1 }));
    const { state, setCookie } = await roundTrip(manager, cookieFor('before'), async (s) => {
      await s.session?.regenerate({ keep: ['cart'] });
      data(s)['user'] = 'ann';
    });
    expect(state.id).not.toBe('before');
    expect(await store.inner.get('before')).toBeNull();
    const saved = await store.inner.get(state.id);
    expect(saved?.['cart']).toEqual(['x']);
    expect(saved?.['tmp']).toBeUndefined();
    expect(saved?.['user']).toBe('ann');
    expect(setCookie).toContain(encodeURIComponent(signCookie(state.id, SECRET)));
  });

  it('destroy: removed from the store, nothing written after, no cookie', async () => {
    const manager = manage(store);
    await store.inner.set('d', stored(60_000));
    store.reset();
    const { setCookie } = await roundTrip(manager, cookieFor('d'), async (s) => {
      await s.session?.destroy();
    });
    expect(store.calls.destroy).toBe(1);
    expect(store.writes).toBe(0);
    expect(await store.inner.get('d')).toBeNull();
    expect(setCookie).toBeNull();
  });

  it('destroy with clearCookie: an expired Set-Cookie', async () => {
    const manager = manage(store, { cookie: { path: '/' } });
    await store.inner.set('d', stored(60_000));
    const { setCookie } = await roundTrip(manager, cookieFor('d'), async (s) => {
      await s.session?.destroy({ clearCookie: true });
    });
    expect(setCookie).toBe('connect.sid=; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly');
  });

  it('reload: replaces the data with what the store holds; fails once the record is gone', async () => {
    const manager = manage(store);
    await store.inner.set('r', stored(60_000, { v: 1 }));
    const state = (await manager.load({
      request: {},
      cookieHeader: cookieFor('r'),
      secure: false,
    })) as RequestSession;
    await store.inner.set('r', stored(60_000, { v: 2 }));
    await state.session?.reload();
    expect(data(state)['v']).toBe(2);
    await store.inner.destroy('r');
    await expect(state.session?.reload()).rejects.toMatchObject({ code: 'SESS_NOT_FOUND' });
  });

  it('reload refills the same session object, so a reference kept before it saves what it holds after', async () => {
    const manager = manage(store);
    await store.inner.set('k', stored(60_000, { v: 1, gone: true }));
    const state = (await manager.load({
      request: {},
      cookieHeader: cookieFor('k'),
      secure: false,
    })) as RequestSession;
    const kept = state.session as unknown as Record<string, unknown> & {
      reload(): Promise<void>;
      save(): Promise<void>;
    };
    await store.inner.set('k', stored(60_000, { v: 2, other: 'x' }));
    await kept.reload();
    expect(state.session).toBe(kept);
    expect(Object.keys(kept)).toEqual(['cookie', 'v', 'other']);
    expect(kept['gone']).toBeUndefined();
    kept['count'] = 1;
    await kept.save();
    const saved = (await store.inner.get('k')) as Record<string, unknown>;
    expect(saved).toMatchObject({ v: 2, other: 'x', count: 1 });
    expect(saved['gone']).toBeUndefined();
  });

  it('reload of a session the app sealed, or gave a non-configurable key: a new object, as express-session, no throw', async () => {
    for (const lock of [
      (s: object) => Object.seal(s),
      (s: object) => Object.defineProperty(s, 'pinned', { value: 1, enumerable: true }),
    ]) {
      const manager = manage(store);
      await store.inner.set('z', stored(60_000, { v: 1 }));
      const state = (await manager.load({
        request: {},
        cookieHeader: cookieFor('z'),
        secure: false,
      })) as RequestSession;
      const kept = state.session as unknown as { reload(): Promise<void> };
      lock(kept);
      await store.inner.set('z', stored(60_000, { v: 2 }));
      await kept.reload();
      expect(state.session).not.toBe(kept);
      expect(data(state)['v']).toBe(2);
    }
  });

  it("unset 'destroy': deleting req.session destroys the record; 'keep' leaves it", async () => {
    for (const unset of ['destroy', 'keep'] as const) {
      await store.inner.set('u', stored(60_000, { v: 1 }));
      const manager = manage(store, { unset });
      const state = await manager.load({
        request: {},
        cookieHeader: cookieFor('u'),
        secure: false,
      });
      await state?.commit(null);
      expect(state?.setCookieHeader()).toBeNull();
      expect(await store.inner.get('u'), unset).toEqual(
        unset === 'destroy' ? null : expect.anything(),
      );
    }
  });

  it('callback style: save(cb) returns the session and calls back once', async () => {
    const state = (await manage(store).load({
      request: {},
      cookieHeader: undefined,
      secure: false,
    })) as RequestSession;
    const done = vi.fn();
    const returned = await new Promise((resolve) => {
      const value = state.session?.save((err) => {
        done(err);
        resolve(value);
      });
    });
    expect(returned).toBe(state.session);
    expect(done).toHaveBeenCalledExactlyOnceWith(undefined);
  });
});

describe('setCookieHeader rules', () => {
  it('signs with the first secret and re-signs a cookie verified by a rotated-out secret', async () => {
    const old = 'last year secret, still accepted for a while';
    const manager = new SessionManager({ secret: [SECRET, old], store, resave: false });
    await store.inner.set('rot', stored(null));
    const { state, setCookie } = await roundTrip(manager, cookieFor('rot', old));
    expect(state.id).toBe('rot');
    expect(setCookie).toBe(
      `connect.sid=${encodeURIComponent(signCookie('rot', SECRET))}; Path=/; HttpOnly`,
    );
    // with the current secret nothing needs re-sending
    expect((await roundTrip(manager, cookieFor('rot'))).setCookie).toBeNull();
  });

  it('a Secure cookie is never sent over plain HTTP', async () => {
    const manager = manage(store, { cookie: { secure: true } });
    expect((await roundTrip(manager, undefined, () => {}, { secure: false })).setCookie).toBeNull();
    expect((await roundTrip(manager, undefined, () => {}, { secure: true })).setCookie).toContain(
      '; Secure',
    );
  });

  it("secure 'auto' follows the request; sameSite 'auto' gives None over HTTPS, Lax over HTTP", async () => {
    const manager = manage(store, { cookie: { secure: 'auto', sameSite: 'auto' } });
    const https = (await roundTrip(manager, undefined, () => {}, { secure: true })).setCookie;
    expect(https).toContain('; Secure');
    expect(https).toContain('; SameSite=None');
    const http = (await roundTrip(manager, undefined, () => {}, { secure: false })).setCookie;
    expect(http).not.toContain('Secure');
    expect(http).toContain('; SameSite=Lax');
  });

  it('SameSite=None without Secure is sent as Lax, with one warning', async () => {
    const warn = vi.spyOn(process, 'emitWarning').mockImplementation(() => {});
    const manager = manage(store, { cookie: { sameSite: 'none' } });
    const first = await roundTrip(manager, undefined);
    expect(first.setCookie).toContain('SameSite=Lax');
    expect(first.state.session?.cookie.sameSite).toBe('none'); // stored as configured
    await roundTrip(manager, undefined);
    expect(warn.mock.calls.filter(([m]) => String(m).includes('SameSite'))).toHaveLength(1);
  });

  it('cookie options as a function of the request', async () => {
    const manager = new SessionManager<{ host: string }>({
      secret: SECRET,
      store,
      cookie: (request) => ({ domain: request.host, maxAge: 1000 }),
    });
    const { setCookie } = await roundTrip(manager, undefined, () => {}, {
      request: { host: 'a.example' },
    });
    expect(setCookie).toContain('Domain=a.example');
    expect(setCookie).toContain('Expires=');
  });

  it('uses the configured name and writes partitioned / priority', async () => {
    const manager = manage(store, {
      name: 'sid',
      cookie: { secure: true, partitioned: true, priority: 'high', sameSite: 'none' },
    });
    const { setCookie } = await roundTrip(manager, undefined, () => {}, { secure: true });
    expect(setCookie).toMatch(/^sid=s%3A/);
    expect(setCookie).toContain('; Partitioned');
    expect(setCookie).toContain('; Priority=High');
    expect(setCookie).toContain('; SameSite=None');
  });
});

const PID = 'parallel-session-id-7f3a';

describe('parallel requests on one session (merge on write)', () => {
  async function two(options: Partial<SessionOptions> = {}) {
    const manager = manage(store, { resave: false, ...options });
    await store.inner.set(PID, stored(60_000, { a: 0, b: 0, shared: 0 }));
    const load = () =>
      manager.load({
        request: {},
        cookieHeader: cookieFor(PID),
        secure: false,
      }) as Promise<RequestSession>;
    return { manager, first: await load(), second: await load() };
  }

  it('two requests changing different keys both persist', async () => {
    const { first, second } = await two();
    data(first)['a'] = 1;
    data(second)['b'] = 2;
    await first.commit(first.session);
    await second.commit(second.session);
    expect(await store.inner.get(PID)).toMatchObject({ a: 1, b: 2, shared: 0 });
  });

  it('the same, committed concurrently', async () => {
    const { first, second } = await two();
    data(first)['a'] = 1;
    data(second)['b'] = 2;
    await Promise.all([first.commit(first.session), second.commit(second.session)]);
    expect(await store.inner.get(PID)).toMatchObject({ a: 1, b: 2 });
  });

  it('a key deleted by one request stays deleted while the other adds one', async () => {
    const { first, second } = await two();
    delete data(first)['a'];
    data(second)['c'] = 3;
    await first.commit(first.session);
    await second.commit(second.session);
    const final = await store.inner.get(PID);
    expect(final).not.toHaveProperty('a');
    expect(final?.['c']).toBe(3);
  });

  it('many parallel requests each adding a key: none is lost', async () => {
    const manager = manage(store, { resave: false });
    await store.inner.set('many', stored(60_000));
    const states = await Promise.all(
      Array.from({ length: 20 }, () =>
        manager.load({ request: {}, cookieHeader: cookieFor('many'), secure: false }),
      ),
    );
    states.forEach((state, i) => {
      data(state as RequestSession)[`k${i}`] = i;
    });
    await Promise.all(states.map((state) => state?.commit(state.session)));
    const final = await store.inner.get('many');
    for (let i = 0; i < 20; i++) expect(final?.[`k${i}`]).toBe(i);
  });

  it('a nested value changed in place is merged, next to a parallel change of another key', async () => {
    const manager = manage(store, { resave: false });
    await store.inner.set('nested', stored(60_000, { cart: { items: ['a'] }, n: 0 }));
    const load = () =>
      manager.load({
        request: {},
        cookieHeader: cookieFor('nested'),
        secure: false,
      }) as Promise<RequestSession>;
    const [first, second] = [await load(), await load()];
    (data(first)['cart'] as { items: string[] }).items.push('b');
    data(second)['n'] = 1;
    await second.commit(second.session);
    store.reset();
    await first.commit(first.session);
    expect(await store.inner.get('nested')).toMatchObject({ cart: { items: ['a', 'b'] }, n: 1 });
    // The first compareAndSet expected the record as read; the second, after one read, won.
    expect(store.calls.compareAndSet).toBe(2);
    expect(store.calls.get).toBe(1);
  });

  it('one changed key next to nested data: one compareAndSet, no extra read', async () => {
    const manager = manage(store, { resave: false, rolling: true });
    await store.inner.set(PID, stored(60_000, { a: { deep: [1, 2, 3] }, b: 'x' }));
    const state = (await manager.load({
      request: {},
      cookieHeader: cookieFor(PID),
      secure: false,
    })) as RequestSession;
    data(state)['b'] = 'y';
    store.reset();
    await state.commit(state.session);
    expect(store.calls.compareAndSet).toBe(1);
    expect(store.calls.get).toBe(0);
    expect(await store.inner.get(PID)).toMatchObject({ a: { deep: [1, 2, 3] }, b: 'y' });
  });

  it('save() mid-request, a parallel write, then more changes: nothing is lost', async () => {
    const { first, second } = await two();
    data(first)['a'] = 1;
    await first.session?.save();
    data(second)['b'] = 2;
    await second.commit(second.session);
    data(first)['shared'] = 'later';
    await first.commit(first.session);
    expect(await store.inner.get(PID)).toMatchObject({ a: 1, b: 2, shared: 'later' });
  });

  it('a stored key that names a Session member is kept when the session is merged', async () => {
    const manager = manage(store, { resave: false });
    await store.inner.set('member', stored(60_000, { save: 'stored data', n: 0 }));
    const state = (await manager.load({
      request: {},
      cookieHeader: cookieFor('member'),
      secure: false,
    })) as RequestSession;
    data(state)['n'] = 1;
    await state.commit(state.session);
    expect(await store.inner.get('member')).toMatchObject({ save: 'stored data', n: 1 });
  });

  it('a destroy in flight is not undone by the other request', async () => {
    const { first, second } = await two();
    await first.session?.destroy();
    data(second)['b'] = 2;
    await second.commit(second.session);
    expect(await store.inner.get(PID)).toBeNull();
  });

  it('same key: last write wins by default, and onConflict reports the key', async () => {
    const onConflict = vi.fn();
    const { first, second } = await two({ onConflict });
    data(first)['shared'] = 'first';
    data(second)['shared'] = 'second';
    await first.commit(first.session);
    await second.commit(second.session);
    expect((await store.inner.get(PID))?.['shared']).toBe('second');
    expect(onConflict).toHaveBeenCalledExactlyOnceWith({ keys: ['shared'] });
  });

  it("conflicts 'error': the second writer of a key gets SessionConflictError, the first write stays", async () => {
    const { first, second } = await two({ conflicts: 'error' });
    data(first)['shared'] = 'first';
    data(second)['shared'] = 'second';
    data(second)['b'] = 2;
    await first.commit(first.session);
    const error = await second.commit(second.session).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SessionConflictError);
    expect((error as SessionConflictError).keys).toEqual(['shared']);
    expect((error as SessionConflictError).message).not.toContain(PID);
    expect(await store.inner.get(PID)).toMatchObject({ shared: 'first', b: 0 });
  });
});

describe('configuration', () => {
  it('requires a secret', () => {
    expect(() => new SessionManager({ store } as unknown as SessionOptions)).toThrow(
      SessConfigError,
    );
  });

  it('warns when the secret is shorter than 32 characters, without printing it', () => {
    const warn = vi.spyOn(process, 'emitWarning').mockImplementation(() => {});
    manage(store, { secret: 'short-secret' });
    expect(warn).toHaveBeenCalledTimes(1);
    expect(String(warn.mock.calls[0]?.[0])).toContain('shorter than 32');
    expect(String(warn.mock.calls[0]?.[0])).not.toContain('short-secret');
    warn.mockClear();
    manage(store, { secret: 'x'.repeat(32) });
    expect(warn).not.toHaveBeenCalled();
  });

  it('rejects an invalid cookie name and an invalid unset', () => {
    expect(() => manage(store, { name: 'bad name;' })).toThrow(SessConfigError);
    expect(() => manage(store, { unset: 'drop' as 'keep' })).toThrow(SessConfigError);
  });

  it.each([
    ['__Host- without secure', '__Host-sid', {}],
    ['__Host- with a path', '__Host-sid', { secure: true, path: '/app' }],
    ['__Host- with a domain', '__Host-sid', { secure: true, domain: 'example.com' }],
    ['__Secure- without secure', '__Secure-sid', { secure: false }],
  ])('rejects %s', (_label, name, cookie) => {
    expect(() => manage(store, { name, cookie })).toThrow(SessConfigError);
  });

  it('accepts valid __Host- and __Secure- cookies, including secure "auto"', () => {
    expect(() => manage(store, { name: '__Host-sid', cookie: { secure: true } })).not.toThrow();
    expect(() => manage(store, { name: '__Host-sid', cookie: { secure: 'auto' } })).not.toThrow();
    expect(() =>
      manage(store, { name: '__Secure-sid', cookie: { secure: true, domain: 'example.com' } }),
    ).not.toThrow();
  });

  it('checks __Host- rules for cookie options given as a function, at load', async () => {
    const manager = manage(store, { name: '__Host-sid', cookie: () => ({ secure: false }) });
    await expect(
      manager.load({ request: {}, cookieHeader: undefined, secure: true }),
    ).rejects.toBeInstanceOf(SessConfigError);
  });

  it('defaults to a MemoryStore and warns about it in production', () => {
    const warn = vi.spyOn(process, 'emitWarning').mockImplementation(() => {});
    vi.stubEnv('NODE_ENV', 'production');
    try {
      const manager = new SessionManager({ secret: SECRET });
      expect(manager.store).toBeInstanceOf(MemoryStore);
      expect(warn.mock.calls.some(([m]) => String(m).includes('MemoryStore'))).toBe(true);
      void (manager.store as MemoryStore).close();
    } finally {
      vi.unstubAllEnvs();
    }
  });
});
