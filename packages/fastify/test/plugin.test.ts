import { Signer } from '@fastify/cookie';
import fastifySessionIncumbent from '@fastify/session';
import {
  MemoryStore,
  SessConfigError,
  type SessionRecord,
  type SessionStore,
  StoreError,
  StoreUnavailableError,
  signCookie,
} from '@sess/core';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FastifySession, type FastifySessionOptions, fastifySession } from '../src/index.js';
import {
  app,
  CountingStore,
  data,
  SECRET,
  sessionCookie,
  sessionSetCookie,
  setCookies,
} from './helpers.js';

let store: CountingStore;
let fastify: FastifyInstance | undefined;
beforeEach(() => {
  store = new CountingStore();
});
afterEach(async () => {
  await fastify?.close();
  fastify = undefined;
  await store.close();
});

/** A counter route at `/`: `views` plus one per request. */
function counter(f: FastifyInstance) {
  f.get('/', async (request) => {
    const session = data(request.session);
    session['views'] = ((session['views'] as number | undefined) ?? 0) + 1;
    return { views: session['views'], id: request.session.sessionId };
  });
  f.get('/read', async (request) => ({
    views: data(request.session)['views'] ?? null,
    id: request.session.sessionId,
  }));
}

describe('registration and the cookie', () => {
  it('after @fastify/cookie: a counter persists through the cookie it sets', async () => {
    fastify = await app({ store }, counter);
    const first = await fastify.inject('/');
    expect(first.json().views).toBe(1);
    const cookie = sessionCookie(first) as string;
    expect(cookie).toMatch(/^sessionId=/);
    const second = await fastify.inject({ url: '/', headers: { cookie } });
    expect(second.json()).toEqual({ views: 2, id: first.json().id });
    expect((await store.inner.get(first.json().id))?.['views']).toBe(2);
  });

  it('the cookie value is @fastify/cookie’s signature of the id, no prefix (its format)', async () => {
    fastify = await app({ store }, counter);
    const response = await fastify.inject('/');
    const value = decodeURIComponent((sessionCookie(response) as string).split('=')[1] as string);
    expect(value).toBe(new Signer(SECRET).sign(response.json().id));
    expect(value).toBe(signCookie(response.json().id, SECRET, ''));
  });

  it('cookie defaults: Path=/, HttpOnly, no Expires without maxAge', async () => {
    fastify = await app({ store }, counter);
    const header = sessionSetCookie(await fastify.inject('/')) as string;
    expect(header).toContain('Path=/');
    expect(header).toContain('HttpOnly');
    expect(header).not.toContain('Expires');
  });

  it('works without @fastify/cookie registered (parses the Cookie header itself)', async () => {
    fastify = Fastify();
    await fastify.register(fastifySession, { secret: SECRET, store, cookie: { secure: false } });
    counter(fastify);
    const first = await fastify.inject('/');
    const second = await fastify.inject({ url: '/', headers: { cookie: sessionCookie(first) } });
    expect(second.json().views).toBe(2);
  });

  it('decorates request.sessionStore with the store it was given', async () => {
    const legacy = new fastifySessionIncumbent.MemoryStore();
    fastify = await app({ store: legacy }, (f) => {
      f.get('/', async (request) => ({ same: request.sessionStore === legacy }));
    });
    expect((await fastify.inject('/')).json().same).toBe(true);
  });
});

describe('option: secret', () => {
  it('a string shorter than 32 characters fails registration with SessConfigError', async () => {
    fastify = Fastify();
    await fastify.register((await import('@fastify/cookie')).default);
    fastify.register(fastifySession, { secret: 'short' });
    await expect(fastify.ready()).rejects.toBeInstanceOf(SessConfigError);
  });

  it.each([
    ['missing', undefined],
    ['an empty list', []],
    ['a custom signer object (unsupported)', { sign: () => '', unsign: () => ({}) }],
  ])('%s fails registration with SessConfigError', async (_label, secret) => {
    fastify = Fastify();
    fastify.register(fastifySession, { secret } as unknown as FastifySessionOptions);
    await expect(fastify.ready()).rejects.toBeInstanceOf(SessConfigError);
  });

  it('an algorithm other than sha256 fails registration', async () => {
    fastify = Fastify();
    fastify.register(fastifySession, {
      secret: SECRET,
      algorithm: 'sha512',
    } as unknown as FastifySessionOptions);
    await expect(fastify.ready()).rejects.toBeInstanceOf(SessConfigError);
  });

  it('a list rotates: the first signs, an older one still verifies and the cookie is re-signed', async () => {
    const old = 'the previous secret, also 32 characters or more';
    await store.inner.set('rotated', { cookie: { originalMaxAge: null }, views: 5 });
    fastify = await app({ store, secret: [SECRET, old], rolling: false }, counter);
    const cookie = `sessionId=${new Signer(old).sign('rotated')}`;
    const response = await fastify.inject({ url: '/read', headers: { cookie } });
    expect(response.json().views).toBe(5);
    expect(sessionCookie(response)).toBe(`sessionId=${new Signer(SECRET).sign('rotated')}`);
  });

  it('a forged or foreign-secret cookie gives a new session, no store read', async () => {
    await store.inner.set('known', { cookie: { originalMaxAge: null }, views: 5 });
    fastify = await app({ store }, counter);
    const forged = `sessionId=${new Signer('another secret of 32 characters.....').sign('known')}`;
    const response = await fastify.inject({ url: '/read', headers: { cookie: forged } });
    expect(response.json().views).toBeNull();
    expect(response.json().id).not.toBe('known');
    expect(store.count('get')).toBe(0);
  });
});

describe('options: cookieName, cookiePrefix', () => {
  it('cookieName names the cookie', async () => {
    fastify = await app({ store, cookieName: 'sid' }, counter);
    const first = await fastify.inject('/');
    const cookie = sessionCookie(first, 'sid');
    expect(cookie).toBeDefined();
    const second = await fastify.inject({ url: '/', headers: { cookie } });
    expect(second.json().views).toBe(2);
  });

  it('cookiePrefix "s:" writes and reads express-session’s format', async () => {
    await store.inner.set('from-express', { cookie: { originalMaxAge: null }, views: 7 });
    fastify = await app({ store, cookiePrefix: 's:', cookieName: 'connect.sid' }, counter);
    const cookie = `connect.sid=${signCookie('from-express', SECRET)}`;
    const response = await fastify.inject({ url: '/', headers: { cookie } });
    expect(response.json().views).toBe(8);
    expect(sessionCookie(response, 'connect.sid')).toBe(cookie);
  });

  it('with a prefix, a cookie without it is not accepted', async () => {
    await store.inner.set('plain', { cookie: { originalMaxAge: null }, views: 7 });
    fastify = await app({ store, cookiePrefix: 's:' }, counter);
    const cookie = `sessionId=${new Signer(SECRET).sign('plain')}`;
    const response = await fastify.inject({ url: '/read', headers: { cookie } });
    expect(response.json().views).toBeNull();
  });
});

describe('option: cookie', () => {
  it('secure defaults to true: over plain HTTP no cookie is sent and nothing is stored', async () => {
    fastify = Fastify();
    await fastify.register((await import('@fastify/cookie')).default);
    await fastify.register(fastifySession, { secret: SECRET, store });
    counter(fastify);
    const response = await fastify.inject('/');
    expect(response.statusCode).toBe(200);
    expect(setCookies(response)).toEqual([]);
    expect(store.writes).toBe(0);
  });

  it('secure true over HTTPS (trustProxy + X-Forwarded-Proto): Secure cookie, stored', async () => {
    fastify = Fastify({ trustProxy: true });
    await fastify.register((await import('@fastify/cookie')).default);
    await fastify.register(fastifySession, { secret: SECRET, store });
    counter(fastify);
    const response = await fastify.inject({ url: '/', headers: { 'x-forwarded-proto': 'https' } });
    expect(sessionSetCookie(response)).toContain('Secure');
    expect(store.writes).toBe(1);
  });

  it("secure 'auto': Secure over HTTPS only", async () => {
    fastify = await app({ store, cookie: { secure: 'auto' } }, counter, { trustProxy: true });
    const plain = await fastify.inject('/');
    expect(sessionSetCookie(plain)).not.toContain('Secure');
    const tls = await fastify.inject({ url: '/', headers: { 'x-forwarded-proto': 'https' } });
    expect(sessionSetCookie(tls)).toContain('Secure');
  });

  it('path, domain, httpOnly, sameSite, partitioned and maxAge become attributes', async () => {
    fastify = await app(
      {
        store,
        cookie: {
          secure: true,
          path: '/',
          domain: 'example.com',
          httpOnly: false,
          sameSite: 'strict',
          partitioned: true,
          maxAge: 60_000,
        },
      },
      counter,
      { trustProxy: true },
    );
    const header = sessionSetCookie(
      await fastify.inject({ url: '/', headers: { 'x-forwarded-proto': 'https' } }),
    ) as string;
    expect(header).toContain('Domain=example.com');
    expect(header).not.toContain('HttpOnly');
    expect(header).toContain('SameSite=Strict');
    expect(header).toContain('Partitioned');
    const expires = Date.parse(/Expires=([^;]+)/.exec(header)?.[1] ?? '');
    expect(expires - Date.now()).toBeGreaterThan(55_000);
    expect(expires - Date.now()).toBeLessThanOrEqual(61_000);
  });

  it('maxAge wins over expires when both are given (as @fastify/session)', async () => {
    fastify = await app(
      {
        store,
        cookie: { secure: false, maxAge: 60_000, expires: new Date(Date.now() + 3_600_000) },
      },
      counter,
    );
    const header = sessionSetCookie(await fastify.inject('/')) as string;
    const expires = Date.parse(/Expires=([^;]+)/.exec(header)?.[1] ?? '');
    expect(expires - Date.now()).toBeLessThanOrEqual(61_000);
  });

  it('a request outside cookie.path gets no session and no cookie', async () => {
    fastify = await app({ store, cookie: { secure: false, path: '/app' } }, (f) => {
      f.get('/app/x', async (request) => ({ id: request.session.sessionId ?? null }));
      f.get('/other', async (request) => ({ id: request.session.sessionId ?? null }));
      f.get('/application', async (request) => ({ id: request.session.sessionId ?? null }));
    });
    expect((await fastify.inject('/app/x')).json().id).toEqual(expect.any(String));
    const outside = await fastify.inject('/other');
    expect(outside.json().id).toBeNull();
    expect(setCookies(outside)).toEqual([]);
    // As @fastify/session (and browsers): a longer name is not under the path.
    const longer = await fastify.inject('/application');
    expect(longer.json().id).toBeNull();
    expect(setCookies(longer)).toEqual([]);
  });
});

describe('option: store', () => {
  it('a sess store is used as it is', async () => {
    fastify = await app({ store }, counter);
    await fastify.inject('/');
    expect(store.count('compareAndSet') + store.count('set')).toBe(1);
  });

  it('@fastify/session’s own MemoryStore (callbacks) works through core’s bridge', async () => {
    const legacy = new fastifySessionIncumbent.MemoryStore();
    fastify = await app({ store: legacy }, counter);
    const first = await fastify.inject('/');
    const second = await fastify.inject({ url: '/', headers: { cookie: sessionCookie(first) } });
    expect(second.json().views).toBe(2);
  });

  it('a callback store’s error reaches the app as a typed StoreError (500)', async () => {
    fastify = await app(
      {
        store: {
          get: (_id: string, cb: (err: unknown) => void) => cb(new Error('backend down')),
          set: (_id: string, _s: object, cb?: (err?: unknown) => void) => cb?.(),
          destroy: (_id: string, cb?: (err?: unknown) => void) => cb?.(),
        },
      },
      (f) => {
        f.get('/', async () => 'ok');
        f.setErrorHandler(async (error, _request, reply) => {
          reply
            .code(500)
            .send({ type: error instanceof StoreError, message: (error as Error).message });
        });
      },
    );
    const cookie = `sessionId=${new Signer(SECRET).sign('x')}`;
    const response = await fastify.inject({ url: '/', headers: { cookie } });
    expect(response.statusCode).toBe(500);
    expect(response.json().type).toBe(true);
    expect(response.json().message).toContain('backend down');
  });

  it('storeTimeout: a store that never answers fails within the bound with StoreUnavailableError', async () => {
    const hanging: SessionStore = {
      get: () => new Promise(() => {}),
      set: () => new Promise(() => {}),
      destroy: async () => {},
    };
    let seen: unknown;
    fastify = await app({ store: hanging, storeTimeout: 50 }, (f) => {
      f.get('/', async () => 'ok');
      f.setErrorHandler(async (error, _request, reply) => {
        seen = error;
        reply.code(503).send('unavailable');
      });
    });
    const started = Date.now();
    const response = await fastify.inject('/');
    expect(response.statusCode).toBe(503);
    expect(seen).toBeInstanceOf(StoreUnavailableError);
    expect(Date.now() - started).toBeLessThan(2_000);
  });
});

describe('options: saveUninitialized, rolling (store calls counted)', () => {
  async function existing(options: Partial<FastifySessionOptions>) {
    const id = 'existing-session';
    await store.inner.set(id, {
      cookie: {
        originalMaxAge: 60_000,
        expires: new Date(Date.now() + 60_000).toISOString(),
        path: '/',
        httpOnly: true,
      },
      views: 1,
    });
    store.reset();
    fastify = await app({ store, ...options }, counter);
    return `sessionId=${new Signer(SECRET).sign(id)}`;
  }

  it('saveUninitialized true (default): a new empty session is stored and its cookie sent', async () => {
    fastify = await app({ store }, counter);
    const response = await fastify.inject('/read');
    expect(sessionCookie(response)).toBeDefined();
    expect(store.writes).toBe(1);
  });

  it('saveUninitialized false: a new empty session is neither stored nor sent', async () => {
    fastify = await app({ store, saveUninitialized: false }, counter);
    const response = await fastify.inject('/read');
    expect(setCookies(response)).toEqual([]);
    expect(store.writes).toBe(0);
  });

  it('saveUninitialized false: a new session with data is stored and sent', async () => {
    fastify = await app({ store, saveUninitialized: false }, counter);
    const response = await fastify.inject('/');
    expect(sessionCookie(response)).toBeDefined();
    expect(store.writes).toBe(1);
  });

  it('rolling true (default): an unmodified session costs one read, a touch (no rewrite), and the cookie is re-sent', async () => {
    const cookie = await existing({ cookie: { secure: false, maxAge: 60_000 } });
    const response = await fastify!.inject({ url: '/read', headers: { cookie } });
    expect(response.json().views).toBe(1);
    expect(store.count('get')).toBe(1);
    expect(store.count('touch')).toBe(1);
    expect(store.count('set') + store.count('compareAndSet')).toBe(0);
    expect(sessionCookie(response)).toBe(cookie);
  });

  it('rolling false: an unmodified session costs one read, no write, no cookie', async () => {
    const cookie = await existing({ rolling: false });
    const response = await fastify!.inject({ url: '/read', headers: { cookie } });
    expect(store.count('get')).toBe(1);
    expect(store.writes).toBe(0);
    expect(setCookies(response)).toEqual([]);
  });

  it('rolling false: a modified session is written once', async () => {
    const cookie = await existing({ rolling: false });
    const response = await fastify!.inject({ url: '/', headers: { cookie } });
    expect(response.json().views).toBe(2);
    expect(store.count('get')).toBe(1);
    expect(store.count('set') + store.count('compareAndSet')).toBe(1);
  });
});

describe('option: idGenerator', () => {
  it('makes new ids, called with the request', async () => {
    let seen: unknown;
    fastify = await app(
      {
        store,
        idGenerator: (request) => {
          seen = request?.url;
          // As @fastify/session's example: reading request.session before it exists does not throw.
          return `custom-${data(request?.session)['returning'] ? 'again' : 'new'}-${Math.random()}`;
        },
      },
      counter,
    );
    const response = await fastify.inject('/');
    expect(response.json().id).toMatch(/^custom-new-/);
    expect(seen).toBe('/');
  });
});

describe('request.session API', () => {
  it('get / set, sessionId, encryptedSessionId', async () => {
    fastify = await app({ store }, (f) => {
      f.get('/', async (request) => {
        (request.session as unknown as { set(k: string, v: unknown): void }).set('user', 'ann');
        return {
          user: (request.session as unknown as { get(k: string): unknown }).get('user'),
          own: data(request.session)['user'],
          id: request.session.sessionId,
          encrypted: request.session.encryptedSessionId,
          isClass: request.session instanceof FastifySession,
        };
      });
    });
    const response = await fastify.inject('/');
    const body = response.json();
    expect(body.user).toBe('ann');
    expect(body.own).toBe('ann');
    expect(body.isClass).toBe(true);
    expect(body.encrypted).toBe(new Signer(SECRET).sign(body.id));
    expect(sessionCookie(response)).toBe(`sessionId=${body.encrypted}`);
  });

  it('`id` is free for data, as in @fastify/session', async () => {
    fastify = await app({ store }, (f) => {
      f.get('/set', async (request) => {
        data(request.session)['id'] = 42;
        return { id: data(request.session)['id'] };
      });
      f.get('/get', async (request) => ({ id: data(request.session)['id'] ?? null }));
    });
    const first = await fastify.inject('/set');
    expect(first.json().id).toBe(42);
    const second = await fastify.inject({ url: '/get', headers: { cookie: sessionCookie(first) } });
    expect(second.json().id).toBe(42);
  });

  it('regenerate(): a new id, the old record destroyed, data dropped', async () => {
    fastify = await app({ store }, (f) => {
      counter(f);
      f.get('/login', async (request) => {
        await request.session.regenerate();
        return { id: request.session.sessionId, views: data(request.session)['views'] ?? null };
      });
    });
    const first = await fastify.inject('/');
    const login = await fastify.inject({
      url: '/login',
      headers: { cookie: sessionCookie(first) },
    });
    expect(login.json().id).not.toBe(first.json().id);
    expect(login.json().views).toBeNull();
    expect(await store.inner.get(first.json().id)).toBeNull();
    expect(sessionCookie(login)).not.toBe(sessionCookie(first));
  });

  it('regenerate(ignoreFields, callback): the named fields are kept', async () => {
    fastify = await app({ store }, (f) => {
      f.get('/', async (request) => {
        data(request.session)['cart'] = ['book'];
        data(request.session)['secret'] = 'x';
        const before = request.session.sessionId;
        await new Promise<void>((resolve, reject) =>
          request.session.regenerate(['cart'], (err) => (err ? reject(err) : resolve())),
        );
        return {
          changed: request.session.sessionId !== before,
          cart: data(request.session)['cart'],
          secret: data(request.session)['secret'] ?? null,
        };
      });
    });
    expect((await fastify.inject('/')).json()).toEqual({
      changed: true,
      cart: ['book'],
      secret: null,
    });
  });

  it('destroy(): the record is gone and request.session is null', async () => {
    fastify = await app({ store }, (f) => {
      counter(f);
      f.get('/logout', async (request) => {
        const id = request.session.sessionId;
        await request.session.destroy();
        return { id, session: request.session };
      });
    });
    const first = await fastify.inject('/');
    store.reset();
    const out = await fastify.inject({ url: '/logout', headers: { cookie: sessionCookie(first) } });
    expect(out.json().session).toBeNull();
    expect(await store.inner.get(out.json().id)).toBeNull();
    expect(store.writes).toBe(0); // nothing written after the destroy
  });

  it('destroy(callback) calls back once', async () => {
    fastify = await app({ store }, (f) => {
      f.get('/', (request, reply) => {
        request.session.destroy((err) => {
          reply.send({ err: err ?? null, session: request.session });
        });
      });
    });
    expect((await fastify.inject('/')).json()).toEqual({ err: null, session: null });
  });

  it('reload(): the data the store holds now', async () => {
    fastify = await app({ store }, (f) => {
      counter(f);
      f.get('/reload', async (request) => {
        const id = request.session.sessionId;
        const record = (await store.inner.get(id)) as SessionRecord;
        await store.inner.set(id, { ...record, views: 100 });
        await request.session.reload();
        return { views: data(request.session)['views'] };
      });
    });
    const first = await fastify.inject('/');
    const reloaded = await fastify.inject({
      url: '/reload',
      headers: { cookie: sessionCookie(first) },
    });
    expect(reloaded.json().views).toBe(100);
  });

  it('save() writes now; isSaved() and isModified() follow it', async () => {
    fastify = await app({ store, rolling: false }, (f) => {
      f.get('/', async (request) => {
        const before = { modified: request.session.isModified(), saved: request.session.isSaved() };
        data(request.session)['n'] = 1;
        const changed = request.session.isModified();
        await request.session.save();
        const inStore = (await store.inner.get(request.session.sessionId))?.['n'] ?? null;
        return {
          before,
          changed,
          after: { modified: request.session.isModified(), saved: request.session.isSaved() },
          inStore,
        };
      });
    });
    const response = await fastify.inject('/');
    expect(response.json()).toEqual({
      before: { modified: false, saved: false },
      changed: true,
      after: { modified: false, saved: true },
      inStore: 1,
    });
    // Saved and unchanged since: the end of the request writes nothing more.
    expect(store.count('set') + store.count('compareAndSet')).toBe(1);
    expect(sessionCookie(response)).toBeDefined();
  });

  it('save(callback) calls back', async () => {
    fastify = await app({ store }, (f) => {
      f.get('/', (request, reply) => {
        data(request.session)['n'] = 1;
        request.session.save((err) => reply.send({ err: err ?? null }));
      });
    });
    expect((await fastify.inject('/')).json()).toEqual({ err: null });
  });

  it('touch() restarts the cookie’s lifetime from its original maxAge', async () => {
    await store.inner.set('aging', {
      cookie: { originalMaxAge: 60_000, expires: new Date(Date.now() + 10_000).toISOString() },
    });
    fastify = await app({ store, cookie: { secure: false, maxAge: 60_000 } }, (f) => {
      f.get('/', async (request) => {
        const before = request.session.cookie.maxAge as number;
        request.session.touch();
        return { before, after: request.session.cookie.maxAge };
      });
    });
    const cookie = `sessionId=${new Signer(SECRET).sign('aging')}`;
    const body = (await fastify.inject({ url: '/', headers: { cookie } })).json();
    expect(body.before).toBeLessThanOrEqual(10_000);
    expect(body.after).toBeGreaterThan(59_000);
  });

  it('options(): cookie options for this response only', async () => {
    fastify = await app({ store, cookie: { secure: false, maxAge: 60_000 } }, (f) => {
      f.get('/short', async (request) => {
        request.session.options({ maxAge: 5_000, domain: 'example.org' });
        return 'ok';
      });
      f.get('/', async () => 'ok');
    });
    const short = sessionSetCookie(await fastify.inject('/short')) as string;
    expect(short).toContain('Domain=example.org');
    const expires = Date.parse(/Expires=([^;]+)/.exec(short)?.[1] ?? '');
    expect(expires - Date.now()).toBeLessThanOrEqual(6_000);
    const plain = sessionSetCookie(await fastify.inject('/')) as string;
    expect(plain).not.toContain('Domain');
  });
});

describe('fastify.decryptSession', () => {
  it('loads the session a cookie value names onto any object', async () => {
    await store.inner.set('known', { cookie: { originalMaxAge: null }, views: 3 });
    fastify = await app({ store }, () => {});
    const request: { session?: unknown } = {};
    await new Promise<void>((resolve, reject) =>
      fastify!.decryptSession(new Signer(SECRET).sign('known'), request, (err) =>
        err ? reject(err) : resolve(),
      ),
    );
    expect(data(request.session)['views']).toBe(3);
    expect((request.session as FastifySession).sessionId).toBe('known');
  });

  it('a bad value gives a new session; cookie options apply to it', async () => {
    fastify = await app({ store }, () => {});
    const request: { session?: unknown } = {};
    await new Promise<void>((resolve, reject) =>
      fastify!.decryptSession('not-signed', request, { maxAge: 5_000 }, (err) =>
        err ? reject(err) : resolve(),
      ),
    );
    const session = request.session as FastifySession;
    expect(session.sessionId).toEqual(expect.any(String));
    expect(session.cookie.maxAge).toBeLessThanOrEqual(5_000);
  });

  it('a store error reaches the callback', async () => {
    fastify = await app(
      {
        store: {
          get: async () => {
            throw new Error('down');
          },
          set: async () => {},
          destroy: async () => {},
        },
      },
      () => {},
    );
    const err = await new Promise((resolve) =>
      fastify!.decryptSession(new Signer(SECRET).sign('x'), {}, resolve),
    );
    expect(err).toBeInstanceOf(StoreError);
  });
});

describe('guarantees', () => {
  it('one store read per request, whatever the handler does with the session', async () => {
    fastify = await app({ store }, counter);
    const first = await fastify.inject('/');
    store.reset();
    for (let i = 0; i < 5; i++) {
      await fastify.inject({ url: '/', headers: { cookie: sessionCookie(first) } });
    }
    expect(store.count('get')).toBe(5);
  });

  it('parallel requests changing different keys: nothing is lost', async () => {
    store.writeDelay = 5;
    fastify = await app({ store, rolling: false }, (f) => {
      f.get('/start', async (request) => {
        data(request.session)['start'] = true;
        return 'ok';
      });
      f.get('/k/:key', async (request) => {
        data(request.session)[(request.params as { key: string }).key] = 1;
        return 'ok';
      });
    });
    const start = await fastify.inject('/start');
    const cookie = sessionCookie(start) as string;
    const keys = Array.from({ length: 12 }, (_, i) => `k${i}`);
    await Promise.all(
      keys.map((key) => fastify!.inject({ url: `/k/${key}`, headers: { cookie } })),
    );
    const id = new Signer(SECRET).unsign(decodeURIComponent(cookie.split('=')[1] as string))
      .value as string;
    const record = (await store.inner.get(id)) as SessionRecord;
    for (const key of keys) expect(record[key]).toBe(1);
  });

  it('a destroy is not undone by a slower parallel request that changed the session', async () => {
    store.writeDelay = 20;
    fastify = await app({ store, rolling: false }, (f) => {
      counter(f);
      f.get('/logout', async (request) => {
        await request.session.destroy();
        return 'bye';
      });
      f.get('/slow', async (request) => {
        await new Promise((r) => setTimeout(r, 30));
        data(request.session)['late'] = true;
        return 'ok';
      });
    });
    const first = await fastify.inject('/');
    const cookie = sessionCookie(first) as string;
    store.writeDelay = 0;
    await Promise.all([
      fastify.inject({ url: '/slow', headers: { cookie } }),
      fastify.inject({ url: '/logout', headers: { cookie } }),
    ]);
    expect(await store.inner.get(first.json().id)).toBeNull();
  });

  it('a store write error at the end of the request: a 500 with the StoreError, once', async () => {
    const failing = new CountingStore();
    failing.compareAndSet = async () => {
      throw new Error('write refused');
    };
    failing.set = async () => {
      throw new Error('write refused');
    };
    let errors = 0;
    fastify = await app({ store: failing }, (f) => {
      counter(f);
      f.setErrorHandler(async (error, _request, reply) => {
        errors++;
        reply.code(500).send({ store: error instanceof StoreError });
      });
    });
    const response = await fastify.inject('/');
    expect(response.statusCode).toBe(500);
    expect(response.json()).toEqual({ store: true });
    expect(errors).toBe(1);
    expect(setCookies(response)).toEqual([]);
    await failing.close();
  });

  it('every sess store works unchanged (core MemoryStore with expiry)', async () => {
    const memory = new MemoryStore({ sweepInterval: 0 });
    fastify = await app({ store: memory, cookie: { secure: false, maxAge: 60_000 } }, counter);
    const first = await fastify.inject('/');
    const second = await fastify.inject({ url: '/', headers: { cookie: sessionCookie(first) } });
    expect(second.json().views).toBe(2);
    await memory.close();
  });
});

describe('absoluteTimeout (sess)', () => {
  it('ends a rolling session once older than the timeout, and caps the cookie expiry', async () => {
    fastify = await app(
      { store, absoluteTimeout: 400, cookie: { secure: false, maxAge: 60_000 } },
      counter,
    );
    const first = await fastify.inject('/');
    const cookie = sessionCookie(first) as string;
    const expires = /Expires=([^;]+)/.exec(sessionSetCookie(first) as string)?.[1];
    // The Expires attribute (second precision) is at most creation + 400 ms.
    expect(Date.parse(expires as string)).toBeLessThanOrEqual(Date.now() + 400);
    const second = await fastify.inject({ url: '/', headers: { cookie } });
    expect(second.json()).toEqual({ views: 2, id: first.json().id });
    await new Promise((resolve) => setTimeout(resolve, 450));
    const third = await fastify.inject({ url: '/', headers: { cookie } });
    expect(third.json().views).toBe(1);
    expect(third.json().id).not.toBe(first.json().id);
  });

  it('is a SessConfigError when not a positive number', async () => {
    await expect(app({ store, absoluteTimeout: -5 }, counter)).rejects.toBeInstanceOf(
      SessConfigError,
    );
  });
});
