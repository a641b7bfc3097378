import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import signature from 'cookie-signature';
import expressSession from 'express-session';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type CallbackStore,
  fromCallbackStore,
  MemoryStore,
  SessionManager,
  type SessionRecord,
  type SessionStore,
  StoreClosedError,
  StoreError,
  StoreUnavailableError,
  signCookie,
  storeCapabilities,
  toCallbackStore,
} from '../src/index.js';

const SECRET = 'a long secret shared by both libraries in these tests';

const live = (data: Record<string, unknown> = {}, ms = 60_000): SessionRecord => ({
  cookie: {
    originalMaxAge: ms,
    expires: new Date(Date.now() + ms).toISOString(),
    httpOnly: true,
    path: '/',
  },
  ...data,
});

describe('fromCallbackStore over express-session’s MemoryStore', () => {
  const make = () => {
    const legacy = new expressSession.MemoryStore();
    return { legacy, store: fromCallbackStore(legacy) };
  };

  it('gets, sets and destroys through callbacks', async () => {
    const { store } = make();
    const record = live({ user: 'ann' });
    await store.set('id1', record);
    expect(await store.get('id1')).toEqual(record);
    await store.destroy('id1');
    expect(await store.get('id1')).toBeNull();
    expect(await store.get('never-there')).toBeNull();
  });

  it('exposes exactly the capabilities the legacy store has', () => {
    const { store } = make();
    expect([...storeCapabilities(store)].sort()).toEqual([
      'all',
      'clear',
      'ids',
      'length',
      'touch',
    ]);
  });

  it('lists, counts and clears', async () => {
    const { store } = make();
    await store.set('a', live({ n: 1 }));
    await store.set('b', live({ n: 2 }));
    expect((await store.ids?.())?.sort()).toEqual(['a', 'b']);
    expect(await store.length?.()).toBe(2);
    expect((await store.all?.())?.b?.n).toBe(2);
    await store.clear?.();
    expect(await store.length?.()).toBe(0);
  });

  it('touch moves the expiry express-session’s store keeps', async () => {
    const { legacy, store } = make();
    await store.set('a', live({ n: 1 }, 1000));
    const later = live({ n: 1 }, 120_000);
    await store.touch?.('a', later);
    const raw = (legacy as unknown as { sessions: Record<string, string> }).sessions.a as string;
    expect(JSON.parse(raw).cookie.expires).toBe(later.cookie.expires);
  });

  it('trusts a legacy store that has touch on liveness, as express-session does', async () => {
    // connect-redis and connect-pg-simple move only their own expiry on touch,
    // so a live record may carry its first, past, cookie.expires.
    const legacy: CallbackStore = {
      get: (_sid, cb) => cb(null, live({ old: true }, -1000)),
      set: (_sid, _s, cb) => cb?.(),
      destroy: (_sid, cb) => cb?.(),
      touch: (_sid, _s, cb) => cb?.(),
      all: (cb) => cb(null, { a: live({}, -1000), b: live({ ok: 1 }) }),
    };
    const store = fromCallbackStore(legacy);
    expect((await store.get('x'))?.old).toBe(true);
    expect(Object.keys((await store.all?.()) ?? {}).sort()).toEqual(['a', 'b']);
    expect(await store.length?.()).toBe(2);
  });

  it('hides expired records a legacy store without touch returns (nothing else moves its expiry)', async () => {
    const legacy: CallbackStore = {
      get: (_sid, cb) => cb(null, live({ old: true }, -1000)),
      set: (_sid, _s, cb) => cb?.(),
      destroy: (_sid, cb) => cb?.(),
      all: (cb) => cb(null, { a: live({}, -1000), b: live({ ok: 1 }) }),
    };
    const store = fromCallbackStore(legacy);
    expect(await store.get('x')).toBeNull();
    expect(Object.keys((await store.all?.()) ?? {})).toEqual(['b']);
    expect(await store.length?.()).toBe(1);
  });

  it("removes an expired record a legacy store without touch returns; a failing removal is not the read's error", async () => {
    const destroyed: string[] = [];
    let fail = false;
    const legacy: CallbackStore = {
      get: (_sid, cb) => cb(null, live({ old: true }, -1000)),
      set: (_sid, _s, cb) => cb?.(),
      destroy: (sid, cb) => {
        destroyed.push(sid);
        cb?.(fail ? new Error('cannot remove') : null);
      },
    };
    const store = fromCallbackStore(legacy);
    expect(await store.get('gone')).toBeNull();
    expect(destroyed).toEqual(['gone']);
    fail = true;
    expect(await store.get('again')).toBeNull();
    expect(destroyed).toEqual(['gone', 'again']);
    // A record that is not expired, or no record: nothing removed.
    const kept: CallbackStore = { ...legacy, get: (_sid, cb) => cb(null, live({ ok: 1 })) };
    expect(await fromCallbackStore(kept).get('live')).not.toBeNull();
    expect(destroyed).toEqual(['gone', 'again']);
  });

  it("gives the records it writes express-session's cookie.maxAge (memorystore's TTL), not stored", async () => {
    const seen: { maxAge: unknown; json: string }[] = [];
    const store = fromCallbackStore({
      get: (_sid, cb) => cb(null, null),
      set: (_sid, s, cb) => {
        const cookie = (s as { cookie: { maxAge?: unknown } }).cookie;
        seen.push({ maxAge: cookie.maxAge, json: JSON.stringify(s) });
        cb?.();
      },
      destroy: (_sid, cb) => cb?.(),
      touch: (_sid, s, cb) => {
        const cookie = (s as { cookie: { maxAge?: unknown } }).cookie;
        seen.push({ maxAge: cookie.maxAge, json: JSON.stringify(s) });
        cb?.();
      },
    });
    await store.set('x', live({}, 60_000));
    await store.touch?.('x', live({}, 120_000));
    await store.set('y', { cookie: { originalMaxAge: null, expires: null } });
    const [set, touch, none] = seen;
    expect(set?.maxAge).toBeGreaterThan(59_000);
    expect(set?.maxAge).toBeLessThanOrEqual(60_000);
    expect(touch?.maxAge).toBeGreaterThan(119_000);
    expect(none?.maxAge).toBeNull();
    expect(set?.json).not.toContain('maxAge"');
  });

  it("exposes the legacy store's close (a promise, or memorystore's stopInterval), once; set after close rejects", async () => {
    let closes = 0;
    const promised = fromCallbackStore({
      get: (_sid, cb) => cb(null, null),
      set: (_sid, _s, cb) => cb?.(),
      destroy: (_sid, cb) => cb?.(),
      close: async () => {
        closes++;
        if (closes > 1) throw new Error('Called end on pool more than once');
      },
    });
    await promised.close?.();
    await promised.close?.();
    expect(closes).toBe(1);
    await expect(promised.set('x', live())).rejects.toMatchObject({ code: 'SESS_STORE_CLOSED' });

    let stopped = 0;
    const interval = fromCallbackStore({
      get: (_sid, cb) => cb(null, null),
      set: (_sid, _s, cb) => cb?.(),
      destroy: (_sid, cb) => cb?.(),
      stopInterval: () => {
        stopped++;
      },
    });
    await interval.close?.();
    expect(stopped).toBe(1);
    expect(
      fromCallbackStore({ get: () => {}, set: () => {}, destroy: () => {} }).close,
    ).toBeUndefined();
  });

  it('claims no listings once all() answers sessions without ids (connect-mongo)', async () => {
    const store = fromCallbackStore({
      get: (_sid, cb) => cb(null, null),
      set: (_sid, _s, cb) => cb?.(),
      destroy: (_sid, cb) => cb?.(),
      all: (cb) => cb(null, [live({ n: 1 }), live({ n: 2 })]),
      length: (cb) => cb(null, 2),
    });
    await expect(store.all?.()).rejects.toThrow(/without their ids/);
    expect(store.all).toBeUndefined();
    expect(store.ids).toBeUndefined();
    expect(await store.length?.()).toBe(2);
  });

  it('drops records that are not session records (corrupt → missing)', async () => {
    const answers: unknown[] = ['a string', 42, [], { noCookie: true }, { cookie: null }];
    for (const answer of answers) {
      const store = fromCallbackStore({
        get: (_sid, cb) => cb(null, answer),
        set: (_sid, _s, cb) => cb?.(),
        destroy: (_sid, cb) => cb?.(),
      });
      expect(await store.get('x'), JSON.stringify(answer)).toBeNull();
    }
  });

  it('reads an all() that answers with an array of records carrying id (connect-redis style)', async () => {
    const store = fromCallbackStore({
      get: (_sid, cb) => cb(null, null),
      set: (_sid, _s, cb) => cb?.(),
      destroy: (_sid, cb) => cb?.(),
      all: (cb) => cb(null, [{ id: 'a', ...live({ n: 1 }) }, { ...live() }, null]),
    });
    const all = await store.all?.();
    expect(Object.keys(all ?? {})).toEqual(['a']);
    expect(all?.a).not.toHaveProperty('id');
    expect(all?.a?.n).toBe(1);
  });

  it('uses length() when the legacy store has no all()', async () => {
    const store = fromCallbackStore({
      get: (_sid, cb) => cb(null, null),
      set: (_sid, _s, cb) => cb?.(),
      destroy: (_sid, cb) => cb?.(),
      length: (cb) => cb(null, 7),
    });
    expect(await store.length?.()).toBe(7);
    expect(store.ids).toBeUndefined();
    expect(store.all).toBeUndefined();
  });
});

describe('fromCallbackStore failures', () => {
  it('a store that never calls back rejects with StoreUnavailableError in bounded time', async () => {
    const silent: CallbackStore = {
      get: () => {},
      set: () => {},
      destroy: () => {},
      touch: () => {},
    };
    const store = fromCallbackStore(silent, { timeout: 100, name: 'silent' });
    const started = Date.now();
    const error = await store.get('x').then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(Date.now() - started).toBeLessThan(2000);
    expect(error).toBeInstanceOf(StoreUnavailableError);
    expect((error as StoreUnavailableError).operation).toBe('get');
    expect((error as StoreUnavailableError).store).toBe('silent');
    await expect(store.set('x', live())).rejects.toBeInstanceOf(StoreUnavailableError);
    await expect(store.destroy('x')).rejects.toBeInstanceOf(StoreUnavailableError);
    await expect(store.touch?.('x', live())).rejects.toBeInstanceOf(StoreUnavailableError);
  });

  it('a callback error becomes a StoreError carrying the cause and the operation', async () => {
    const cause = new Error('connection refused');
    const store = fromCallbackStore({
      get: (_sid, cb) => cb(cause),
      set: (_sid, _s, cb) => cb?.('a string error'),
      destroy: (_sid, cb) => cb?.(),
    });
    const error = (await store.get('x').catch((e: unknown) => e)) as StoreError;
    expect(error).toBeInstanceOf(StoreError);
    expect(error.cause).toBe(cause);
    expect(error.operation).toBe('get');
    expect(error.message).toContain('connection refused');
    const other = (await store.set('x', live()).catch((e: unknown) => e)) as StoreError;
    expect(other).toBeInstanceOf(StoreError);
    expect(other.operation).toBe('set');
  });

  it('names the store in errors: the option, else the class name, else "callback"', async () => {
    const failing = (err: Error) => ({
      get: (_sid: string, cb: (err: unknown) => void) => cb(err),
      set: (_sid: string, _s: object, cb?: (err?: unknown) => void) => cb?.(),
      destroy: (_sid: string, cb?: (err?: unknown) => void) => cb?.(),
    });
    const reason = new Error('down');
    const literal = await fromCallbackStore(failing(reason))
      .get('x')
      .catch((e: StoreError) => e);
    expect((literal as StoreError).store).toBe('callback');
    const named = await fromCallbackStore(failing(reason), { name: 'redis' })
      .get('x')
      .catch((e: StoreError) => e);
    expect((named as StoreError).store).toBe('redis');
    expect((named as StoreError).message).toBe('redis store: get failed: down');
    const legacy = new expressSession.MemoryStore();
    legacy.get = (_sid, cb) => cb(reason);
    const classed = await fromCallbackStore(legacy)
      .get('x')
      .catch((e: StoreError) => e);
    expect((classed as StoreError).store).toBe('MemoryStore');
  });

  it('a store that throws synchronously rejects instead of throwing', async () => {
    const store = fromCallbackStore({
      get: () => {
        throw new TypeError('boom');
      },
      set: (_sid, _s, cb) => cb?.(),
      destroy: (_sid, cb) => cb?.(),
    });
    const error = (await store.get('x').catch((e: unknown) => e)) as StoreError;
    expect(error).toBeInstanceOf(StoreError);
    expect(error.cause).toBeInstanceOf(TypeError);
  });

  it('a callback called twice does not change the first outcome', async () => {
    const store = fromCallbackStore({
      get: (_sid, cb) => {
        cb(null, live({ first: true }));
        cb(new Error('late'));
      },
      set: (_sid, _s, cb) => cb?.(),
      destroy: (_sid, cb) => cb?.(),
    });
    expect((await store.get('x'))?.first).toBe(true);
  });
});

describe('toCallbackStore: a sess store under real express-session', () => {
  let server: Server | undefined;
  afterEach(async () => {
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    server = undefined;
  });

  async function serve(store: MemoryStore, options: Partial<expressSession.SessionOptions> = {}) {
    const middleware = expressSession({
      secret: SECRET,
      store: toCallbackStore(store, expressSession.Store),
      resave: false,
      saveUninitialized: false,
      cookie: { maxAge: 60_000 },
      ...options,
    });
    server = createServer((req: IncomingMessage, res: ServerResponse) => {
      const request = req as IncomingMessage & {
        session: expressSession.Session & { views?: number };
      };
      middleware(request as never, res as never, (err?: unknown) => {
        if (err) {
          res.statusCode = 500;
          res.end(String(err));
          return;
        }
        if (req.url === '/destroy') {
          request.session.destroy(() => res.end('gone'));
          return;
        }
        if (req.url === '/view') {
          request.session.views = (request.session.views ?? 0) + 1;
        }
        res.end(String(request.session.views ?? 0));
      });
    });
    await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    return async (path: string, cookie?: string) => {
      const response = await fetch(`http://127.0.0.1:${port}${path}`, {
        headers: cookie ? { cookie } : {},
      });
      const setCookie = response.headers.get('set-cookie');
      return { body: await response.text(), setCookie, status: response.status };
    };
  }

  it('express-session saves into the sess store and reads it back', async () => {
    const store = new MemoryStore({ sweepInterval: 0 });
    const request = await serve(store);
    const first = await request('/view');
    expect(first.body).toBe('1');
    expect(first.setCookie).toMatch(/^connect\.sid=s%3A/);
    const cookie = (first.setCookie as string).split(';')[0] as string;
    const id = signature.unsign(
      decodeURIComponent(cookie.split('=')[1] as string).slice(2),
      SECRET,
    );
    expect(id).toBeTypeOf('string');
    const stored = await store.get(id as string);
    expect(stored?.views).toBe(1);
    expect(stored?.cookie.originalMaxAge).toBe(60_000);
    expect((await request('/view', cookie)).body).toBe('2');
    expect((await store.get(id as string))?.views).toBe(2);
    await store.close();
  });

  it('express-session reads a session the sess side wrote, with a sess-signed cookie', async () => {
    const store = new MemoryStore({ sweepInterval: 0 });
    await store.set('sess-made-id', live({ views: 41 }));
    const request = await serve(store);
    const cookie = `connect.sid=${encodeURIComponent(signCookie('sess-made-id', SECRET))}`;
    expect((await request('/view', cookie)).body).toBe('42');
    expect((await store.get('sess-made-id'))?.views).toBe(42);
    await store.close();
  });

  it('express-session destroy removes the record from the sess store', async () => {
    const store = new MemoryStore({ sweepInterval: 0 });
    await store.set('to-destroy', live({ views: 1 }));
    const request = await serve(store);
    const cookie = `connect.sid=${encodeURIComponent(signCookie('to-destroy', SECRET))}`;
    expect((await request('/destroy', cookie)).body).toBe('gone');
    expect(await store.get('to-destroy')).toBeNull();
    await store.close();
  });

  it('express-session touches (rolling) through the bridge without rewriting data', async () => {
    const store = new MemoryStore({ sweepInterval: 0 });
    const first = live({ views: 5 }, 10_000);
    await store.set('rolling-id', first);
    const request = await serve(store, { rolling: true });
    const cookie = `connect.sid=${encodeURIComponent(signCookie('rolling-id', SECRET))}`;
    expect((await request('/', cookie)).body).toBe('5');
    const after = await store.get('rolling-id');
    expect(after?.views).toBe(5);
    expect(Date.parse(after?.cookie.expires as string)).toBeGreaterThan(
      Date.parse(first.cookie.expires as string),
    );
    await store.close();
  });

  it('a failing sess store surfaces as an error through express-session, not a hang', async () => {
    const store = new MemoryStore({ sweepInterval: 0 });
    const request = await serve(store);
    await store.close(); // every call now rejects with StoreClosedError
    const cookie = `connect.sid=${encodeURIComponent(signCookie('anything', SECRET))}`;
    const response = await request('/view', cookie);
    expect(response.status).toBe(500);
    expect(response.body).toContain('closed');
  });

  it('the bridge instance is an express-session Store with only the methods the store has', () => {
    const minimal = {
      get: async () => null,
      set: async () => {},
      destroy: async () => {},
    };
    const bridged = toCallbackStore(minimal, expressSession.Store);
    expect(bridged).toBeInstanceOf(expressSession.Store);
    expect(typeof bridged.get).toBe('function');
    expect((bridged as { touch?: unknown }).touch).toBeUndefined();
    expect((bridged as { all?: unknown }).all).toBeUndefined();
    const full = toCallbackStore(new MemoryStore({ sweepInterval: 0 }), expressSession.Store);
    expect(typeof (full as { touch?: unknown }).touch).toBe('function');
    expect(typeof (full as { length?: unknown }).length).toBe('function');
  });
});

describe('toCallbackStore errors', () => {
  it('a session JSON cannot encode reaches the callback as an error, not a throw', async () => {
    const bridged = toCallbackStore(new MemoryStore({ sweepInterval: 0 }), expressSession.Store);
    const unencodable = { ...live(), big: 1n };
    const error = await new Promise((resolve) => {
      expect(() => bridged.set('x', unencodable, resolve)).not.toThrow();
    });
    expect(error).toBeInstanceOf(TypeError);
    const touched = await new Promise((resolve) => {
      expect(() => bridged.touch?.('x', unencodable, resolve)).not.toThrow();
    });
    expect(touched).toBeInstanceOf(TypeError);
  });

  it('a sess store that throws synchronously reports through the callback', async () => {
    const throwing: SessionStore = {
      get: () => {
        throw new Error('sync get');
      },
      set: () => {
        throw new Error('sync set');
      },
      destroy: () => {
        throw new Error('sync destroy');
      },
    };
    const bridged = toCallbackStore(throwing, expressSession.Store);
    const setError = await new Promise<unknown>((resolve) => bridged.set('x', live(), resolve));
    expect((setError as Error).message).toBe('sync set');
    const destroyError = await new Promise<unknown>((resolve) => bridged.destroy('x', resolve));
    expect((destroyError as Error).message).toBe('sync destroy');
    const getError = await new Promise<unknown>((resolve) =>
      bridged.get('x', (err) => resolve(err)),
    );
    expect((getError as Error).message).toBe('sync get');
  });

  it('a rejected get reaches the callback with the typed error', async () => {
    const store = new MemoryStore({ sweepInterval: 0 });
    const bridged = toCallbackStore(store, expressSession.Store);
    await store.close();
    const error = await new Promise<unknown>((resolve) => bridged.get('x', (err) => resolve(err)));
    expect(error).toBeInstanceOf(StoreClosedError);
  });

  it('calls reach the store in the order they were made', async () => {
    const store = new MemoryStore({ sweepInterval: 0 });
    const bridged = toCallbackStore(store, expressSession.Store);
    bridged.set('ordered', live({ n: 1 }));
    const got = await new Promise<unknown>((resolve) =>
      bridged.get('ordered', (_err, session) => resolve(session)),
    );
    expect(got).toMatchObject({ n: 1 });
    await store.close();
  });
});

describe('round trip: fromCallbackStore(toCallbackStore(store))', () => {
  it('a sess manager over a bridged-twice store sees the same records', async () => {
    const inner = new MemoryStore({ sweepInterval: 0 });
    const store = fromCallbackStore(toCallbackStore(inner, expressSession.Store));
    await inner.set('x', live({ n: 3 }));
    expect((await store.get('x'))?.n).toBe(3);
    expect(await store.length?.()).toBe(1);
    const manager = new SessionManager({ secret: SECRET, store });
    const state = await manager.load({
      request: {},
      cookieHeader: `connect.sid=${encodeURIComponent(signCookie('x', SECRET))}`,
      secure: false,
    });
    expect((state?.session as unknown as { n?: number } | null)?.n).toBe(3);
    await inner.close();
  });
});

describe('fromCallbackStore: stores as they behave (issue 13)', () => {
  it("a get error with code 'ENOENT' means no session; other codes stay errors", async () => {
    const enoent = Object.assign(new Error('ENOENT: no such file'), { code: 'ENOENT' });
    const eacces = Object.assign(new Error('EACCES: permission denied'), { code: 'EACCES' });
    let next: Error = enoent;
    const store = fromCallbackStore({
      get: (_sid, cb) => cb(next),
      set: (_sid, _s, cb) => cb?.(),
      destroy: (_sid, cb) => cb?.(),
    });
    expect(await store.get('x')).toBeNull();
    next = eacces;
    await expect(store.get('x')).rejects.toBeInstanceOf(StoreError);
  });

  it('methods are looked up at each call: a patched method is the one called', async () => {
    const legacy = new expressSession.MemoryStore();
    const store = fromCallbackStore(legacy);
    await store.set('x', live({ n: 1 }));
    legacy.get = (_sid, cb) => cb(new Error('patched'));
    await expect(store.get('x')).rejects.toThrow('patched');
    expect(store.touch).toBeTypeOf('function');
    (legacy as { touch?: unknown }).touch = undefined;
    expect(store.touch).toBeUndefined();
  });

  it('a callbackStoreClass instance: its sess store directly while unpatched, compareAndSet only then', async () => {
    const inner = new MemoryStore({ sweepInterval: 0 });
    const bridge = toCallbackStore(inner, expressSession.Store);
    const store = fromCallbackStore(bridge);
    expect(store.compareAndSet).toBeTypeOf('function');
    expect(await store.compareAndSet?.('x', null, live({ n: 1 }))).toBe(true);
    expect((await inner.get('x'))?.n).toBe(1);
    const original = bridge.set;
    bridge.set = (_sid, _s, cb) => cb?.(new Error('read-only'));
    expect(store.compareAndSet).toBeUndefined();
    await expect(store.set('x', live({ n: 2 }))).rejects.toThrow('read-only');
    bridge.set = original;
    expect(store.compareAndSet).toBeTypeOf('function');
    await store.set('x', live({ n: 3 }));
    expect((await inner.get('x'))?.n).toBe(3);
    await inner.close();
  });

  it('callback style: a returned promise that rejects first is the answer (an async method that threw)', async () => {
    const store = fromCallbackStore({
      get: async () => {
        throw new Error('async throw');
      },
      set: (_sid, _s, cb) => cb?.(),
      destroy: (_sid, cb) => cb?.(),
    } as CallbackStore);
    await expect(store.get('x')).rejects.toThrow('async throw');
  });

  it("answers: 'either' takes a returned promise when no callback comes", async () => {
    const data = new Map<string, SessionRecord>();
    const promiseOnly = {
      get: async (id: string) => data.get(id) ?? null,
      set: async (id: string, s: SessionRecord) => {
        data.set(id, s);
      },
      destroy: async (id: string) => {
        data.delete(id);
      },
    };
    const store = fromCallbackStore(promiseOnly as unknown as CallbackStore, {
      answers: 'either',
    });
    await store.set('x', live({ n: 5 }));
    expect((await store.get('x'))?.n).toBe(5);
    await store.destroy('x');
    expect(await store.get('x')).toBeNull();
    const callbackOnly = fromCallbackStore(promiseOnly as unknown as CallbackStore, {
      timeout: 100,
    });
    await expect(callbackOnly.get('x')).rejects.toBeInstanceOf(StoreUnavailableError);
  });
});
