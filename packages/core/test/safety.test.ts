// Issue 13, sections 1 and 2, at the core level: bad cookie options fail at
// startup, lifetimes outside the Date range are clamped, damaged records are
// missing sessions, SameSite=None never goes out without Secure, error
// messages never carry a session id.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  Cookie,
  type CookieOptions,
  fromCallbackStore,
  MAX_COOKIE_EXPIRES,
  REDACTED_ID,
  redactSessionId,
  SessConfigError,
  SessionManager,
  type SessionOptions,
  type SessionRecord,
  type SessionStore,
  StoreError,
  signCookie,
} from '../src/index.js';
import { CountingStore, cookiePair, data, roundTrip, SECRET } from './helpers.js';

const manage = (store: SessionStore, options: Partial<SessionOptions> = {}) =>
  new SessionManager({ secret: SECRET, store, ...options });

const cookieFor = (id: string) => `connect.sid=${encodeURIComponent(signCookie(id, SECRET))}`;

let store: CountingStore;
beforeEach(() => {
  store = new CountingStore();
});
afterEach(async () => {
  vi.restoreAllMocks();
  await store.close();
});

/** A store whose `get` answers with whatever record the test hands it, unchecked. */
function storeReturning(record: unknown): SessionStore & { sets: SessionRecord[] } {
  const sets: SessionRecord[] = [];
  return {
    sets,
    get: async () => record as SessionRecord,
    set: async (_id, r) => {
      sets.push(r);
    },
    destroy: async () => {},
  };
}

const BAD_OPTIONS: [string, CookieOptions][] = [
  ["sameSite 'bogus'", { sameSite: 'bogus' as never }],
  ["priority 'urgent'", { priority: 'urgent' as never }],
  ['a domain with a trailing space', { domain: 'example.com ' }],
  ['a path with ;', { path: '/app;x' }],
  ['expires new Date(NaN)', { expires: new Date(Number.NaN) }],
  ['partitioned without secure', { partitioned: true }],
  ['a path that is not a string', { path: 42 as never }],
  ['secure that is not a boolean', { secure: 'yes' as never }],
];

describe('bad cookie options fail at startup with SessConfigError', () => {
  it.each(BAD_OPTIONS)('%s', (_label, cookie) => {
    expect(() => manage(store, { cookie })).toThrow(SessConfigError);
  });

  it('options that are not an object (null means the defaults, as in express-session)', () => {
    expect(() => manage(store, { cookie: null as never })).not.toThrow();
    for (const cookie of ['x', 5, [], true]) {
      expect(() => manage(store, { cookie: cookie as never })).toThrow(SessConfigError);
    }
  });

  it('prefixed names are matched in any case, as browsers match them', () => {
    expect(() => manage(store, { name: '__host-sid', cookie: {} })).toThrow(/__Host-/);
    expect(() =>
      manage(store, { name: '__HOST-sid', cookie: { secure: true, path: '/a' } }),
    ).toThrow(/__Host-/);
    expect(() => manage(store, { name: '__SECURE-sid' })).toThrow(/__Secure-/);
    expect(() => manage(store, { name: '__secure-sid', cookie: { secure: 'auto' } })).not.toThrow();
  });

  it('valid options still pass, including sameSite in any case', () => {
    for (const cookie of [
      { sameSite: 'Strict' },
      { sameSite: 'LAX', priority: 'High' },
      { sameSite: 'auto', secure: 'auto', partitioned: true },
      { domain: '.example.com', path: '/app', expires: new Date(Date.now() + 1000) },
      { maxAge: 0 },
    ] as CookieOptions[]) {
      expect(() => manage(store, { cookie }), JSON.stringify(cookie)).not.toThrow();
    }
  });

  it.each(BAD_OPTIONS)(
    'from a cookie() function (%s): a typed error per request',
    async (_l, bad) => {
      const manager = manage(store, { cookie: () => bad });
      await expect(
        manager.load({ request: {}, cookieHeader: undefined, secure: false }),
      ).rejects.toThrow(SessConfigError);
    },
  );

  it('a cookie() function that returns nothing or throws: a typed error or its own error, never a crash', async () => {
    const returnsNothing = manage(store, { cookie: (() => undefined) as never });
    await expect(
      returnsNothing.load({ request: {}, cookieHeader: undefined, secure: false }),
    ).rejects.toThrow(SessConfigError);
    const throws = manage(store, {
      cookie: () => {
        throw new Error('no tenant');
      },
    });
    await expect(
      throws.load({ request: {}, cookieHeader: undefined, secure: false }),
    ).rejects.toThrow('no tenant');
  });
});

describe('lifetimes outside the Date range', () => {
  it('maxAge Number.MAX_SAFE_INTEGER ("remember me forever") is clamped to 9999-12-31', async () => {
    const manager = manage(store, { cookie: { maxAge: Number.MAX_SAFE_INTEGER } });
    const { state, setCookie } = await roundTrip(manager, undefined);
    expect(setCookie).toContain('Expires=Fri, 31 Dec 9999 23:59:59 GMT');
    expect(state.session?.cookie.expires?.getTime()).toBe(MAX_COOKIE_EXPIRES);
    const saved = await store.inner.get(state.id);
    expect(saved?.cookie.expires).toBe('9999-12-31T23:59:59.000Z');
  });

  it('set in a handler (req.session.cookie.maxAge = MAX_SAFE_INTEGER): clamped, no throw', async () => {
    const { state, setCookie } = await roundTrip(manage(store), undefined, (s) => {
      if (s.session) s.session.cookie.maxAge = Number.MAX_SAFE_INTEGER;
    });
    expect(setCookie).toContain('Expires=Fri, 31 Dec 9999 23:59:59 GMT');
    expect(await store.inner.get(state.id)).not.toBeNull();
  });

  it('an invalid Date assigned in a handler throws there (a TypeError, the app sees it)', () => {
    const cookie = new Cookie();
    expect(() => {
      cookie.expires = new Date(Number.NaN);
    }).toThrow(TypeError);
  });

  it('a stored originalMaxAge of 1e300 is clamped, the request completes', async () => {
    const record = {
      cookie: { originalMaxAge: 1e300, expires: new Date(Date.now() + 60_000).toISOString() },
      user: 'ann',
    };
    const manager = manage(storeReturning(record), { rolling: true });
    const { state, setCookie } = await roundTrip(manager, cookieFor('big'));
    expect(data(state).user).toBe('ann');
    expect(setCookie).toContain('Expires=Fri, 31 Dec 9999 23:59:59 GMT');
  });

  it('a stored originalMaxAge that reads as Infinity (JSON 1e400) is a missing session', async () => {
    const record = JSON.parse('{"cookie":{"originalMaxAge":1e400},"user":"ann"}');
    const { state } = await roundTrip(manage(storeReturning(record)), cookieFor('inf'));
    expect(state.id).not.toBe('inf');
    expect(data(state).user).toBeUndefined();
  });

  it('a stored expiry past year 9999 is clamped', async () => {
    const record = { cookie: { originalMaxAge: 1, expires: '+100000-01-01T00:00:00.000Z' } };
    const { state } = await roundTrip(manage(storeReturning(record)), cookieFor('far'));
    expect(state.id).toBe('far');
    const restored = new Cookie(record.cookie);
    expect(restored.expires?.getTime()).toBe(MAX_COOKIE_EXPIRES);
    expect(restored.serialize('a', 'b')).toContain('Expires=Fri, 31 Dec 9999 23:59:59 GMT');
  });
});

describe('a stored record nested thousands of levels deep', () => {
  it('is corrupt, so a new session, never an error', async () => {
    let deep: Record<string, unknown> = {};
    const root = deep;
    for (let i = 0; i < 20_000; i++) {
      const next: Record<string, unknown> = {};
      deep.a = next;
      deep = next;
    }
    const record = { cookie: { originalMaxAge: null }, data: root };
    expect(() => JSON.stringify(record)).toThrow(RangeError); // the premise
    const manager = manage(storeReturning(record));
    const { state, setCookie } = await roundTrip(manager, cookieFor('deep'));
    expect(state.id).not.toBe('deep');
    expect(setCookie).toMatch(/^connect\.sid=s%3A/);
  });
});

describe('the cookie value', () => {
  it('in double quotes is accepted, as express-session accepts it', async () => {
    await store.inner.set('quoted', { cookie: { originalMaxAge: null }, user: 'ann' });
    const header = `connect.sid="${encodeURIComponent(signCookie('quoted', SECRET))}"`;
    const { state } = await roundTrip(manage(store), header);
    expect(state.id).toBe('quoted');
    expect(data(state).user).toBe('ann');
  });
});

describe('SameSite=None never without Secure, whatever the case', () => {
  beforeEach(() => {
    vi.spyOn(process, 'emitWarning').mockImplementation(() => {});
  });

  it.each(['None', 'NONE', 'none'])('configured as %s over HTTP: sent as Lax', async (sameSite) => {
    const manager = manage(store, { cookie: { sameSite: sameSite as 'none' } });
    const { setCookie } = await roundTrip(manager, undefined);
    expect(setCookie).toContain('SameSite=Lax');
    expect(setCookie).not.toMatch(/SameSite=None/i);
  });

  it('a stored record with sameSite "None" and no secure: sent as Lax', async () => {
    const record = { cookie: { originalMaxAge: null, sameSite: 'None' } };
    const { state, setCookie } = await roundTrip(
      manage(storeReturning(record), { rolling: true }),
      cookieFor('stored-none'),
    );
    expect(state.id).toBe('stored-none');
    expect(setCookie).toContain('SameSite=Lax');
  });

  it('the clear-cookie on destroy over HTTP: Lax, so the browser does not ignore the logout', async () => {
    const manager = manage(store, { cookie: { sameSite: 'None' as 'none' } });
    const first = await roundTrip(manager, undefined);
    const { setCookie } = await roundTrip(manager, cookiePair(first.setCookie), async (s) => {
      await s.session?.destroy({ clearCookie: true });
    });
    expect(setCookie).toContain('Expires=Thu, 01 Jan 1970 00:00:00 GMT');
    expect(setCookie).toContain('SameSite=Lax');
  });

  it('over HTTPS with Secure, None stays None', async () => {
    const manager = manage(store, { cookie: { sameSite: 'None' as 'none', secure: true } });
    const { setCookie } = await roundTrip(manager, undefined, () => {}, { secure: true });
    expect(setCookie).toContain('SameSite=None');
    expect(setCookie).toContain('Secure');
  });
});

describe('partitioned', () => {
  it('a stored partitioned cookie without secure goes out without Partitioned', async () => {
    const record = { cookie: { originalMaxAge: null, partitioned: true } };
    const { setCookie } = await roundTrip(
      manage(storeReturning(record), { rolling: true }),
      cookieFor('part'),
    );
    expect(setCookie).toMatch(/^connect\.sid=/);
    expect(setCookie).not.toContain('Partitioned');
  });

  it("secure 'auto' over HTTP: no Partitioned; over HTTPS: Partitioned", async () => {
    const manager = manage(store, { cookie: { partitioned: true, secure: 'auto' } });
    expect((await roundTrip(manager, undefined)).setCookie).not.toContain('Partitioned');
    expect((await roundTrip(manager, undefined, () => {}, { secure: true })).setCookie).toContain(
      'Partitioned',
    );
  });
});

describe('store errors never carry the session id in their message', () => {
  const id = 'Zq3J8wXUoP1a9Y0bCdEfGhIjKlMnOpQr';

  it('a driver error that quotes the key (a duplicate-key error): redacted, the driver error kept as cause', async () => {
    const driverError = new Error(`E11000 duplicate key error dup key: { _id: "${id}" }`);
    const failing: SessionStore = {
      get: async () => null,
      set: async () => {
        throw driverError;
      },
      destroy: async () => {},
    };
    const manager = manage(failing, { genid: () => id });
    const state = await manager.load({ request: {}, cookieHeader: undefined, secure: false });
    const error = (await state?.commit(state.session).catch((e: unknown) => e)) as StoreError;
    expect(error).toBeInstanceOf(StoreError);
    expect(error.message).not.toContain(id);
    expect(error.message).toContain(REDACTED_ID);
    expect(error.message).toContain('E11000 duplicate key error');
    expect(String(error.stack)).not.toContain(id);
    expect(error.cause).toBe(driverError);
  });

  it('an express-session store failing through the callback bridge: redacted too', async () => {
    const legacy = {
      get: (sid: string, cb: (err: unknown) => void) => cb(new Error(`cannot read sess:${sid}`)),
      set: (_sid: string, _s: object, cb?: (err?: unknown) => void) => cb?.(),
      destroy: (_sid: string, cb?: (err?: unknown) => void) => cb?.(),
    };
    const manager = manage(fromCallbackStore(legacy));
    const error = (await manager
      .load({ request: {}, cookieHeader: cookieFor(id), secure: false })
      .catch((e: unknown) => e)) as StoreError;
    expect(error).toBeInstanceOf(StoreError);
    expect(error.message).toBe(
      `Object store: get failed: cannot read sess:${REDACTED_ID}`.replace('Object', error.store),
    );
    expect(String(error.stack)).not.toContain(id);
  });
});

describe('a save that failed', () => {
  it('is not taken as saved: the end of the request writes again', async () => {
    let fail = true;
    const flaky: SessionStore = {
      get: async (i) => store.inner.get(i),
      set: async (i, r) => {
        if (fail) throw new Error('disk full');
        await store.inner.set(i, r);
      },
      destroy: async (i) => store.inner.destroy(i),
    };
    const manager = manage(flaky, { resave: false });
    const { state } = await roundTrip(manager, undefined, async (s) => {
      data(s).user = 'ann';
      await expect(s.session?.save()).rejects.toThrow(StoreError);
      fail = false;
    });
    expect((await store.inner.get(state.id))?.user).toBe('ann');
  });
});

describe('save() and destroy() without a callback', () => {
  it('an unobserved failure is no unhandled rejection; an awaited one still rejects', async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      const failing: SessionStore = {
        get: async () => null,
        set: async () => {
          throw new Error('down');
        },
        destroy: async () => {
          throw new Error('down');
        },
      };
      const manager = manage(failing);
      const state = await manager.load({ request: {}, cookieHeader: undefined, secure: false });
      const session = state?.session;
      if (!session) throw new Error('no session');
      void session.save(); // as socket.io's docs call it
      void session.reload();
      void session.regenerate();
      await expect(session.save()).rejects.toThrow(StoreError);
      const second = await manager.load({ request: {}, cookieHeader: undefined, secure: false });
      void second?.session?.destroy(); // req.session.destroy(); res.redirect('/')
      await new Promise((resolve) => setTimeout(resolve, 20));
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });
});

describe('prepareCommit / runCommit (the two halves of commit)', () => {
  it('says whether a write is pending, and runs it once', async () => {
    const manager = manage(store, { resave: false });
    const state = await manager.load({ request: {}, cookieHeader: undefined, secure: false });
    if (!state) throw new Error('no state');
    expect(state.prepareCommit(state.session)).toBe(true); // a new session is saved
    await state.runCommit();
    expect(store.calls.compareAndSet + store.calls.set).toBe(1);
    await state.runCommit(); // nothing left to run
    expect(store.calls.compareAndSet + store.calls.set).toBe(1);
    expect(state.prepareCommit(state.session)).toBe(false); // saved, unmodified
  });

  it('setCookieHeader(current): null when the app replaced or deleted req.session', async () => {
    const state = await manage(store).load({ request: {}, cookieHeader: undefined, secure: false });
    if (!state) throw new Error('no state');
    expect(state.setCookieHeader(null)).toBeNull();
    expect(state.setCookieHeader(state.session)).toMatch(/^connect\.sid=/);
  });
});

describe('redactSessionId', () => {
  it('cuts the id out of the detail only, so a short id never mangles the prefix', () => {
    const error = redactSessionId(new StoreError('redis', 'get', 'key sess:e expired'), 'e');
    expect(error.message).toBe(
      `redis store: get failed: k${REDACTED_ID}y s${REDACTED_ID}ss:${REDACTED_ID} ${REDACTED_ID}xpir${REDACTED_ID}d`,
    );
    expect(`redis store: get failed: ${error.detail}`).toBe(error.message);
    expect(String(error.stack).split('\n')[0]).toBe(`StoreError: ${error.message}`);
  });

  it('leaves a message without the id, and calls without an id, as they are', () => {
    const error = new StoreError('redis', 'set', 'connection refused');
    expect(redactSessionId(error, 'abcdefgh').message).toBe(
      'redis store: set failed: connection refused',
    );
    expect(redactSessionId(error, undefined)).toBe(error);
  });
});
