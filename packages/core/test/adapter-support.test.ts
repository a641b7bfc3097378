import { createHmac } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  type CallbackStore,
  encodeCookieValue,
  isCallbackStore,
  MemoryStore,
  type RequestSession,
  SessConfigError,
  Session,
  type SessionContext,
  SessionManager,
  type SessionOptions,
  type SessionRecord,
  sessionContext,
  signCookie,
  toCallbackStore,
  toSessionStore,
  unsignCookie,
} from '../src/index.js';
import { CountingStore, cookiePair, data, roundTrip, SECRET } from './helpers.js';

// What a second framework adapter (@sess/fastify) needs from core.

/** @fastify/cookie's signer, written out from its documented format: HMAC-SHA256, base64, no padding. */
const fastifySign = (value: string, secret: string) =>
  `${value}.${createHmac('sha256', secret).update(value).digest('base64').replace(/=+$/, '')}`;

let store: CountingStore;
beforeEach(() => {
  store = new CountingStore();
});
afterEach(async () => {
  await store.close();
});

const manage = (options: Partial<SessionOptions> = {}) =>
  new SessionManager({ secret: SECRET, store, ...options });

describe('cookie prefix', () => {
  it('signCookie / unsignCookie take a prefix; the empty one is @fastify/session’s format', () => {
    expect(signCookie('abc', SECRET, '')).toBe(fastifySign('abc', SECRET));
    expect(unsignCookie(fastifySign('abc', SECRET), [SECRET], '')).toEqual({
      id: 'abc',
      secretIndex: 0,
    });
    // Without the prefix argument the value must start with `s:`.
    expect(unsignCookie(fastifySign('abc', SECRET), [SECRET])).toBeNull();
    expect(unsignCookie(`x:${fastifySign('abc', SECRET)}`, [SECRET], 'x:')?.id).toBe('abc');
    expect(unsignCookie(`s:${fastifySign('abc', SECRET)}`, [SECRET], 'x:')).toBeNull();
  });

  it('the manager reads and writes cookies with its cookiePrefix', async () => {
    await store.inner.set('known', { cookie: { originalMaxAge: null }, n: 1 });
    const manager = manage({ cookiePrefix: '', rolling: true });
    const header = `connect.sid=${encodeURIComponent(fastifySign('known', SECRET))}`;
    const { state, setCookie } = await roundTrip(manager, header);
    expect(state.id).toBe('known');
    expect(cookiePair(setCookie)).toBe(header);
    // An express-session cookie (`s:`) does not verify under the empty prefix.
    const other = await roundTrip(
      manager,
      `connect.sid=${encodeURIComponent(signCookie('known', SECRET))}`,
    );
    expect(other.state.id).not.toBe('known');
  });

  it('rejects a prefix that is not a string', () => {
    expect(() => manage({ cookiePrefix: 1 as unknown as string })).toThrow(SessConfigError);
  });

  it('cookieValue: an already parsed cookie value is used instead of the header', async () => {
    await store.inner.set('known', { cookie: { originalMaxAge: null }, n: 1 });
    const manager = manage();
    const state = await manager.load({
      request: {},
      cookieHeader: 'connect.sid=ignored',
      cookieValue: signCookie('known', SECRET),
      secure: false,
    });
    expect(state?.id).toBe('known');
    const none = await manager.load({
      request: {},
      cookieHeader: `connect.sid=${encodeURIComponent(signCookie('known', SECRET))}`,
      cookieValue: undefined,
      secure: false,
    });
    expect(none?.id).not.toBe('known');
  });
});

describe('isModified / isSaved / setCookieOptions', () => {
  it('isModified follows the data since load or the last save; isSaved only after a write', async () => {
    await store.inner.set('known', { cookie: { originalMaxAge: null }, n: 1 });
    const manager = manage({ resave: false });
    const state = (await manager.load({
      request: {},
      cookieHeader: `connect.sid=${encodeURIComponent(signCookie('known', SECRET))}`,
      secure: false,
    })) as RequestSession;
    expect(state.isModified()).toBe(false);
    expect(state.isSaved()).toBe(false);
    state.session?.touch(); // the cookie never counts
    expect(state.isModified()).toBe(false);
    data(state)['n'] = 2;
    expect(state.isModified()).toBe(true);
    await state.save();
    expect(state.isModified()).toBe(false);
    expect(state.isSaved()).toBe(true);
    await state.regenerate({ keep: ['n'] });
    expect(state.isSaved()).toBe(false);
    expect(state.isModified()).toBe(true); // a kept key is new data for the new session
    await state.regenerate({});
    expect(state.isModified()).toBe(false);
  });

  it('a failed write leaves isSaved false', async () => {
    const failing = new CountingStore();
    failing.set = async () => {
      throw new Error('disk full');
    };
    failing.compareAndSet = undefined;
    const manager = new SessionManager({ secret: SECRET, store: failing });
    const state = (await manager.load({
      request: {},
      cookieHeader: undefined,
      secure: false,
    })) as RequestSession;
    data(state)['n'] = 1;
    await expect(state.save()).rejects.toThrow('disk full');
    expect(state.isSaved()).toBe(false);
    expect(state.isModified()).toBe(true);
    await failing.close();
  });

  it('setCookieOptions lays options over the configured ones for this response', async () => {
    const manager = manage({ cookie: { maxAge: 60_000, secure: 'auto', path: '/' } });
    const { setCookie } = await roundTrip(manager, undefined, (s) => {
      s.setCookieOptions({ maxAge: 5_000, domain: 'example.com' });
    });
    expect(setCookie).toContain('Domain=example.com');
    const expires = Date.parse(/Expires=([^;]+)/.exec(setCookie ?? '')?.[1] ?? '');
    expect(expires - Date.now()).toBeLessThanOrEqual(6_000);
    expect(setCookie).not.toContain('Secure'); // 'auto' settled for this plain-HTTP request
  });

  it("setCookieOptions keeps the session's own lifetime unless the options name one", async () => {
    const manager = manage({ rolling: true, cookie: { path: '/' } });
    const month = 30 * 86_400_000;
    const first = await roundTrip(manager, undefined, (s) => {
      data(s)['user'] = 'ada';
      if (s.session) s.session.cookie.maxAge = month; // "remember me"
    });
    const later = await roundTrip(manager, cookiePair(first.setCookie), (s) => {
      s.setCookieOptions({ sameSite: 'strict' });
    });
    expect(later.setCookie).toContain('SameSite=Strict');
    const expires = Date.parse(/Expires=([^;]+)/.exec(later.setCookie ?? '')?.[1] ?? '');
    expect(Math.abs(expires - (Date.now() + month))).toBeLessThan(5_000);
    const shorter = await roundTrip(manager, cookiePair(first.setCookie), (s) => {
      s.setCookieOptions({ maxAge: 60_000 });
    });
    const shortExpires = Date.parse(/Expires=([^;]+)/.exec(shorter.setCookie ?? '')?.[1] ?? '');
    expect(shortExpires - Date.now()).toBeLessThanOrEqual(61_000);
  });

  it('setCookieOptions refuses options that are invalid', async () => {
    const state = (await manage().load({
      request: {},
      cookieHeader: undefined,
      secure: false,
    })) as RequestSession;
    expect(() => state.setCookieOptions({ maxAge: Number.NaN })).toThrow(SessConfigError);
  });
});

describe('saveWithoutCookie', () => {
  it('false: a new session whose Secure cookie cannot go over HTTP is not written', async () => {
    const manager = manage({ saveWithoutCookie: false, cookie: { secure: true } });
    const { setCookie } = await roundTrip(manager, undefined, (s) => {
      data(s)['n'] = 1;
    });
    expect(setCookie).toBeNull();
    expect(store.writes).toBe(0);
  });

  it('false: over HTTPS the same session is written and sent', async () => {
    const manager = manage({ saveWithoutCookie: false, cookie: { secure: true } });
    const state = (await manager.load({
      request: {},
      cookieHeader: undefined,
      secure: true,
    })) as RequestSession;
    data(state)['n'] = 1;
    await state.commit(state.session);
    expect(state.setCookieHeader()).toContain('Secure');
    expect(store.writes).toBe(1);
  });

  it('default (true, as express-session): written although the cookie is not sent', async () => {
    const manager = manage({ cookie: { secure: true } });
    const { setCookie } = await roundTrip(manager, undefined, (s) => {
      data(s)['n'] = 1;
    });
    expect(setCookie).toBeNull();
    expect(store.writes).toBe(1);
  });
});

describe('sessionClass / sessionContext', () => {
  class TaggedSession extends Session {
    get tag(): string {
      return `tagged ${this.id}`;
    }
  }

  it('core creates the adapter’s class for new, loaded, regenerated and reloaded sessions', async () => {
    await store.inner.set('known', { cookie: { originalMaxAge: null }, n: 1 });
    const manager = manage({ sessionClass: TaggedSession });
    const fresh = (await manager.load({
      request: {},
      cookieHeader: undefined,
      secure: false,
    })) as RequestSession;
    expect(fresh.session).toBeInstanceOf(TaggedSession);
    const loaded = (await manager.load({
      request: {},
      cookieHeader: `connect.sid=${encodeURIComponent(signCookie('known', SECRET))}`,
      secure: false,
    })) as RequestSession;
    expect((loaded.session as TaggedSession).tag).toBe('tagged known');
    await loaded.reload();
    expect(loaded.session).toBeInstanceOf(TaggedSession);
    await loaded.regenerate({});
    expect(loaded.session).toBeInstanceOf(TaggedSession);
    expect(sessionContext(loaded.session as Session)).toBe(loaded);
  });

  it('a stored key that names a member of the class is not copied over it', async () => {
    await store.inner.set('known', { cookie: { originalMaxAge: null }, tag: 'evil' });
    const manager = manage({ sessionClass: TaggedSession });
    const loaded = (await manager.load({
      request: {},
      cookieHeader: `connect.sid=${encodeURIComponent(signCookie('known', SECRET))}`,
      secure: false,
    })) as RequestSession;
    expect((loaded.session as TaggedSession).tag).toBe('tagged known');
  });

  it('sessionContext of a session made by hand is the context it was given', () => {
    const context: SessionContext = {
      regenerate: async () => {},
      destroy: async () => {},
      reload: async () => {},
      save: async () => {},
    };
    expect(sessionContext(new Session(context, 'x'))).toBe(context);
  });
});

describe('toSessionStore / isCallbackStore', () => {
  const callbackStore = (): CallbackStore & { map: Map<string, unknown> } => {
    const map = new Map<string, unknown>();
    return {
      map,
      get(sid, callback) {
        callback(null, map.get(sid));
      },
      set(sid, session, callback) {
        map.set(sid, JSON.parse(JSON.stringify(session)));
        callback?.();
      },
      destroy(sid, callback) {
        map.delete(sid);
        callback?.();
      },
    };
  };

  it('a sess store is used as it is', () => {
    const memory = new MemoryStore({ sweepInterval: 0 });
    expect(isCallbackStore(memory)).toBe(false);
    expect(toSessionStore(memory)).toBe(memory);
  });

  it('a callback store goes behind the bridge', async () => {
    const legacy = callbackStore();
    expect(isCallbackStore(legacy)).toBe(true);
    const bridged = toSessionStore(legacy);
    expect(bridged).not.toBe(legacy);
    const record: SessionRecord = { cookie: { originalMaxAge: null }, n: 1 };
    await bridged.set('a', record);
    expect(legacy.map.get('a')).toEqual(record);
    expect(await bridged.get('a')).toEqual(record);
  });

  it('a toCallbackStore facade is served by the sess store inside while its methods are its own', async () => {
    const memory = new MemoryStore({ sweepInterval: 0 });
    const facade = toCallbackStore(memory, EventEmitter);
    const store = toSessionStore(facade);
    const record: SessionRecord = { cookie: { originalMaxAge: null }, n: 1 };
    expect(await store.compareAndSet?.('a', null, record)).toBe(true);
    expect(await memory.get('a')).toEqual(record);
    // Patched by an app (issue 13): the facade's method is the one called, and
    // compareAndSet, which would go around it, is no longer offered.
    facade.get = (_sid, callback) => callback(new Error('simulated outage'));
    await expect(store.get('a')).rejects.toThrow('simulated outage');
    expect(store.compareAndSet).toBeUndefined();
    await memory.close();
  });

  it('ENOENT from a callback store’s get means "no session", as in express-session', async () => {
    const legacy = callbackStore();
    legacy.get = (_sid, callback) => callback(Object.assign(new Error('gone'), { code: 'ENOENT' }));
    expect(await toSessionStore(legacy).get('a')).toBeNull();
    legacy.get = (_sid, callback) => callback(Object.assign(new Error('io'), { code: 'EIO' }));
    await expect(toSessionStore(legacy).get('a')).rejects.toThrow('io');
  });
});

describe('cookieEncoding', () => {
  it('encodeCookieValue leaves cookie octets alone and URL-encodes the rest', () => {
    expect(encodeCookieValue('s:abc.d/e+f')).toBe('s:abc.d/e+f');
    expect(encodeCookieValue('a b;c')).toBe(encodeURIComponent('a b;c'));
    expect(encodeCookieValue('100%')).toBe('100%25');
  });

  it("'minimal' writes the signed value as it is; the default URL-encodes it; both read back", async () => {
    const id = 'id-with/slash+plus';
    await store.inner.set(id, { cookie: { originalMaxAge: null }, n: 1 });
    const value = signCookie(id, SECRET);
    const minimal = manage({ cookieEncoding: 'minimal', rolling: true });
    const raw = await roundTrip(minimal, `connect.sid=${value}`);
    expect(raw.state.id).toBe(id);
    expect(cookiePair(raw.setCookie)).toBe(`connect.sid=${value}`);
    const uri = await roundTrip(manage({ rolling: true }), `connect.sid=${value}`);
    expect(cookiePair(uri.setCookie)).toBe(`connect.sid=${encodeURIComponent(value)}`);
  });

  it('rejects an unknown encoding', () => {
    expect(() => manage({ cookieEncoding: 'base64' as 'uri' })).toThrow(SessConfigError);
  });
});

describe('cookiePathMatch', () => {
  const at = (manager: SessionManager, path: string) =>
    manager.load({ request: {}, cookieHeader: undefined, secure: false, path });

  it("'rfc6265': the cookie path and what lies below it, not a longer name", async () => {
    const manager = manage({ cookiePathMatch: 'rfc6265', cookie: { path: '/app' } });
    expect(await at(manager, '/app')).not.toBeNull();
    expect(await at(manager, '/app/x')).not.toBeNull();
    expect(await at(manager, '/application')).toBeNull();
    expect(await at(manager, '/')).toBeNull();
    const slash = manage({ cookiePathMatch: 'rfc6265', cookie: { path: '/app/' } });
    expect(await at(slash, '/app/x')).not.toBeNull();
    expect(await at(slash, '/app')).toBeNull();
  });

  it("'prefix' (default, as express-session): any path that starts with it", async () => {
    const manager = manage({ cookie: { path: '/app' } });
    expect(await at(manager, '/application')).not.toBeNull();
    expect(await at(manager, '/other')).toBeNull();
  });

  it('rejects an unknown rule', () => {
    expect(() => manage({ cookiePathMatch: 'glob' as 'prefix' })).toThrow(SessConfigError);
  });
});
