import { type MemoryStore, type SessionRecord, type SessionStore, sessionExpiry } from '@sess/core';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { session } from '../src/index.js';
import {
  CountingStore,
  EXPRESS,
  hmac,
  idOf,
  makeApp,
  pair,
  SECRET,
  setCookie,
  signed,
} from './helpers.js';

declare module '@sess/core' {
  interface SessionData {
    views: number;
    user: string;
    cart: string[];
  }
}

/** Milliseconds until the Expires attribute of a Set-Cookie line (-Infinity without one). */
function expiresIn(line: string | undefined): number {
  const match = /Expires=([^;]+)/.exec(line ?? '');
  return match ? Date.parse(match[1] as string) - Date.now() : Number.NEGATIVE_INFINITY;
}

describe.each(EXPRESS)('%s', (_label, express) => {
  const counter = (options: Parameters<typeof makeApp>[1] = {}) =>
    makeApp(express, options, (app) => {
      app.get('/', (req, res) => {
        req.session.views = (req.session.views ?? 0) + 1;
        res.json({ views: req.session.views, id: req.sessionID });
      });
      app.get('/read', (req, res) => {
        res.json({ views: req.session.views ?? null, id: req.sessionID });
      });
    });

  describe('cookie and store basics', () => {
    it('sets a signed cookie in express-session format and keeps the session', async () => {
      const store = new CountingStore();
      const app = counter({ store });
      const first = await request(app).get('/');
      const line = setCookie(first.headers);
      expect(line).toMatch(
        /^connect\.sid=s%3A[A-Za-z0-9_-]{32}\.[A-Za-z0-9+/%]+; Path=\/; HttpOnly$/,
      );
      const id = idOf(line);
      expect(decodeURIComponent(pair(line).slice('connect.sid='.length))).toBe(signed(id));
      expect(first.body).toEqual({ views: 1, id });
      const second = await request(app).get('/').set('Cookie', pair(line));
      expect(second.body).toEqual({ views: 2, id });
      expect(setCookie(second.headers)).toBeUndefined(); // browser-session cookie: not re-sent
      expect((await store.inner.get(id))?.views).toBe(2);
    });

    it('name: the cookie name', async () => {
      const res = await request(counter({ name: 'app.sid' })).get('/');
      expect(setCookie(res.headers, 'app.sid')).toBeDefined();
      expect(setCookie(res.headers)).toBeUndefined();
    });

    it('reads exactly once per request with a cookie, writes only a changed session', async () => {
      const store = new CountingStore();
      const app = counter({ store, resave: false, cookie: { maxAge: 60_000 } });
      const cookie = pair(setCookie((await request(app).get('/')).headers));
      store.reset();
      await request(app).get('/read').set('Cookie', cookie);
      expect(store.calls).toEqual({ get: 1 }); // unmodified, fixed expiry: no write, no touch
      store.reset();
      await request(app).get('/').set('Cookie', cookie);
      expect(store.count('get')).toBe(1);
      expect(store.count('set') + store.count('compareAndSet')).toBe(1);
      expect(store.count('touch')).toBe(0);
    });

    it('an unmodified browser-session cookie is touched, as express-session does (the store TTL is its idle expiry)', async () => {
      const store = new CountingStore();
      const app = counter({ store, resave: false });
      const cookie = pair(setCookie((await request(app).get('/')).headers));
      store.reset();
      const res = await request(app).get('/read').set('Cookie', cookie);
      expect(store.calls).toEqual({ get: 1, touch: 1 });
      expect(setCookie(res.headers)).toBeUndefined();
    });

    it('resave (the express-session default) rewrites an unmodified session', async () => {
      const store = new CountingStore();
      const app = counter({ store }); // resave defaults to true
      const cookie = pair(setCookie((await request(app).get('/')).headers));
      store.reset();
      await request(app).get('/read').set('Cookie', cookie);
      expect(store.count('set') + store.count('compareAndSet')).toBe(1);
    });

    it('saveUninitialized: false stores nothing and sends no cookie until the session changes', async () => {
      const store = new CountingStore();
      const app = counter({ store, saveUninitialized: false });
      const res = await request(app).get('/read');
      expect(setCookie(res.headers)).toBeUndefined();
      expect(store.count('set')).toBe(0);
      const changed = await request(app).get('/');
      expect(setCookie(changed.headers)).toBeDefined();
      expect(await store.length()).toBe(1);
    });

    it('saveUninitialized: true (default) stores a new empty session', async () => {
      const store = new CountingStore();
      const res = await request(counter({ store })).get('/read');
      expect(setCookie(res.headers)).toBeDefined();
      expect(await store.length()).toBe(1);
    });

    it('rolling: the cookie is re-sent on every response, the expiry moves', async () => {
      const store = new CountingStore();
      const app = counter({ store, rolling: true, resave: false, cookie: { maxAge: 60_000 } });
      const cookie = pair(setCookie((await request(app).get('/')).headers));
      store.reset();
      const res = await request(app).get('/read').set('Cookie', cookie);
      expect(setCookie(res.headers)).toMatch(/Expires=/);
      expect(store.count('touch')).toBe(1);
      expect(store.count('set')).toBe(0);
    });

    it('rolling keeps a session alive past its first expiry on a store whose touch moves only its own expiry', async () => {
      // Like Redis PEXPIRE or an SQL expiry column: the stored cookie keeps its first `expires`.
      const rows = new Map<string, { json: string; until: number }>();
      const expiry = (r: SessionRecord) => sessionExpiry(r) ?? Number.POSITIVE_INFINITY;
      const store: SessionStore = {
        async get(id) {
          const row = rows.get(id);
          return row && row.until > Date.now() ? JSON.parse(row.json) : null;
        },
        async set(id, r) {
          rows.set(id, { json: JSON.stringify(r), until: expiry(r) });
        },
        async touch(id, r) {
          const row = rows.get(id);
          if (row && row.until > Date.now()) row.until = expiry(r);
        },
        async destroy(id) {
          rows.delete(id);
        },
      };
      const app = counter({ store, rolling: true, resave: false, cookie: { maxAge: 400 } });
      const first = await request(app).get('/');
      let cookie = pair(setCookie(first.headers));
      for (let i = 0; i < 4; i++) {
        await new Promise((r) => setTimeout(r, 200));
        const res = await request(app).get('/read').set('Cookie', cookie);
        expect(res.body, `read ${i} at ${200 * (i + 1)} ms`).toEqual({
          views: 1,
          id: first.body.id,
        });
        cookie = pair(setCookie(res.headers));
      }
    });

    it('without rolling, an unmodified fixed-expiry session is neither re-sent nor written', async () => {
      const store = new CountingStore();
      const app = counter({ store, resave: false, cookie: { maxAge: 60_000 } });
      const cookie = pair(setCookie((await request(app).get('/')).headers));
      store.reset();
      const res = await request(app).get('/read').set('Cookie', cookie);
      expect(setCookie(res.headers)).toBeUndefined();
      expect(store.calls).toEqual({ get: 1 });
    });

    it('genid makes the ids, given the request', async () => {
      let n = 0;
      const app = counter({ genid: (req) => `id-${req.url?.length}-${++n}` });
      const res = await request(app).get('/');
      expect(res.body.id).toBe('id-1-1');
      expect(idOf(setCookie(res.headers))).toBe('id-1-1');
    });

    it('store: a sess store is used as given', async () => {
      const store = new CountingStore();
      await request(counter({ store })).get('/');
      expect(store.count('set')).toBe(1);
    });
  });

  describe('cookie options', () => {
    it('maxAge, path, domain, httpOnly, secure, sameSite, partitioned, priority', async () => {
      const app = makeApp(
        express,
        {
          proxy: true,
          cookie: {
            maxAge: 90_000,
            path: '/app',
            domain: 'example.test',
            httpOnly: false,
            secure: true,
            sameSite: 'strict',
            partitioned: true,
            priority: 'high',
          },
        },
        (a) => a.get('/app/x', (req, res) => res.json({ maxAge: req.session.cookie.maxAge })),
      );
      const res = await request(app).get('/app/x').set('X-Forwarded-Proto', 'https');
      const line = setCookie(res.headers) ?? '';
      expect(line).toMatch(/; Domain=example\.test; Path=\/app; Expires=/);
      expect(expiresIn(line)).toBeGreaterThan(85_000);
      expect(expiresIn(line)).toBeLessThanOrEqual(90_000);
      expect(line).toMatch(/; Secure; Partitioned; Priority=High; SameSite=Strict$/);
      expect(line).not.toMatch(/HttpOnly/);
      expect(res.body.maxAge).toBeGreaterThan(89_000);
    });

    it('the cookie path scopes the middleware: outside it there is no session', async () => {
      const app = makeApp(express, { cookie: { path: '/app' } }, (a) =>
        a.get('/other', (req, res) => res.json({ has: req.session !== undefined })),
      );
      const res = await request(app).get('/other');
      expect(res.body.has).toBe(false);
      expect(setCookie(res.headers)).toBeUndefined();
    });

    it('cookie as a function of the request', async () => {
      const app = counter({
        cookie: (req) => ({ maxAge: req.headers['x-long'] ? 3_600_000 : 1_000, sameSite: 'lax' }),
      });
      const long = setCookie((await request(app).get('/').set('X-Long', '1')).headers);
      expect(long).toMatch(/SameSite=Lax$/);
      expect(expiresIn(long)).toBeGreaterThan(3_500_000);
      expect(expiresIn(setCookie((await request(app).get('/')).headers))).toBeLessThanOrEqual(
        1_000,
      );
    });

    it('secure: a Secure cookie is not sent over plain HTTP', async () => {
      const res = await request(counter({ cookie: { secure: true } })).get('/');
      expect(res.status).toBe(200);
      expect(setCookie(res.headers)).toBeUndefined();
    });

    it("secure: 'auto' follows the connection, sameSite: 'auto' follows secure", async () => {
      const app = counter({ proxy: true, cookie: { secure: 'auto', sameSite: 'auto' } });
      const plain = setCookie((await request(app).get('/')).headers) ?? '';
      expect(plain).not.toMatch(/Secure/);
      expect(plain).toMatch(/SameSite=Lax/);
      const tls = setCookie(
        (await request(app).get('/').set('X-Forwarded-Proto', 'https')).headers,
      );
      expect(tls).toMatch(/; Secure; SameSite=None$/);
    });

    it("'auto' works when cookie is a function too", async () => {
      const app = counter({ proxy: true, cookie: () => ({ secure: 'auto', sameSite: 'auto' }) });
      const tls = setCookie(
        (await request(app).get('/').set('X-Forwarded-Proto', 'https')).headers,
      );
      expect(tls).toMatch(/; Secure; SameSite=None$/);
      expect(setCookie((await request(app).get('/')).headers)).toMatch(/SameSite=Lax$/);
    });

    it('proxy: X-Forwarded-Proto is trusted only with proxy: true or trust proxy', async () => {
      const untrusted = counter({ cookie: { secure: true } });
      const ignored = await request(untrusted).get('/').set('X-Forwarded-Proto', 'https');
      expect(setCookie(ignored.headers)).toBeUndefined();
      const off = counter({ proxy: false, cookie: { secure: true } });
      off.set('trust proxy', true);
      expect(
        setCookie((await request(off).get('/').set('X-Forwarded-Proto', 'https')).headers),
      ).toBeUndefined();
      const trusted = counter({ cookie: { secure: true } });
      trusted.set('trust proxy', true);
      expect(
        setCookie((await request(trusted).get('/').set('X-Forwarded-Proto', 'https')).headers),
      ).toMatch(/Secure/);
    });

    it('never sends SameSite=None without Secure: it becomes Lax', async () => {
      const res = await request(counter({ cookie: { sameSite: 'none' } })).get('/');
      expect(setCookie(res.headers)).toMatch(/SameSite=Lax$/);
    });
  });

  describe('req.session methods, with callbacks and with promises', () => {
    const methods = (store: CountingStore | MemoryStore, style: 'callback' | 'promise') =>
      makeApp(express, { store, resave: false }, (app) => {
        const run = (
          call: (done: (err?: unknown) => void) => unknown,
          promise: () => Promise<unknown>,
        ) =>
          style === 'callback'
            ? new Promise<void>((resolve, reject) => {
                const returned = call((err) => (err ? reject(err) : resolve()));
                if (returned === undefined) reject(new Error('callback style must return'));
              })
            : promise().then(() => undefined);
        app.get('/set', (req, res) => {
          req.session.user = String(req.query.user ?? 'ada');
          res.json({ id: req.sessionID });
        });
        app.get('/get', (req, res) =>
          res.json({ user: req.session?.user ?? null, id: req.sessionID }),
        );
        app.get('/regenerate', async (req, res, next) => {
          const before = req.sessionID;
          req.session.cart = ['book'];
          try {
            await run(
              (done) => req.session.regenerate(done),
              () => req.session.regenerate(),
            );
            res.json({
              before,
              after: req.sessionID,
              same: req.session.id === req.sessionID,
              user: req.session.user ?? null,
            });
          } catch (err) {
            next(err);
          }
        });
        app.get('/regenerate-keep', async (req, res, next) => {
          try {
            await req.session.regenerate({ keep: ['cart'] });
            res.json({ cart: req.session.cart ?? null, user: req.session.user ?? null });
          } catch (err) {
            next(err);
          }
        });
        app.get('/destroy', async (req, res, next) => {
          try {
            await run(
              (done) => req.session.destroy(done),
              () => req.session.destroy(),
            );
            res.json({ session: req.session ?? null });
          } catch (err) {
            next(err);
          }
        });
        app.get('/destroy-clear', (req, res, next) => {
          req.session.destroy({ clearCookie: true }, (err) => (err ? next(err) : res.end('ok')));
        });
        app.get('/reload', async (req, res, next) => {
          req.session.user = 'changed-in-memory';
          try {
            await run(
              (done) => req.session.reload(done),
              () => req.session.reload(),
            );
            res.json({ user: req.session.user ?? null });
          } catch (err) {
            next(err);
          }
        });
        app.get('/save', async (req, res, next) => {
          req.session.user = 'saved';
          try {
            await run(
              (done) => req.session.save(done),
              () => req.session.save(),
            );
            res.json({ ok: true });
          } catch (err) {
            next(err);
          }
        });
        app.get('/touch', (req, res) => {
          const returned = req.session.touch();
          res.json({ chained: returned === req.session, maxAge: req.session.cookie.maxAge });
        });
        app.get('/cookie', (req, res) => {
          const c = req.session.cookie;
          const before = { maxAge: c.maxAge, original: c.originalMaxAge };
          c.maxAge = 5_000;
          const expires = c.expires?.getTime() ?? 0;
          res.json({
            before,
            after: {
              maxAge: c.maxAge,
              original: c.originalMaxAge,
              expiresIn: expires - Date.now(),
            },
            storeIsSame: (req.sessionStore as unknown) === store,
          });
        });
      });

    for (const style of ['callback', 'promise'] as const) {
      describe(style, () => {
        it('regenerate: a new id, the old session gone, data cleared', async () => {
          const store = new CountingStore();
          const app = methods(store, style);
          const set = await request(app).get('/set');
          const cookie = pair(setCookie(set.headers));
          const res = await request(app).get('/regenerate').set('Cookie', cookie);
          expect(res.body.after).not.toBe(res.body.before);
          expect(res.body.same).toBe(true);
          expect(res.body.user).toBeNull();
          expect(idOf(setCookie(res.headers))).toBe(res.body.after);
          expect(await store.inner.get(res.body.before)).toBeNull();
          expect(await store.inner.get(res.body.after)).not.toBeNull();
        });

        it('destroy: the stored session is deleted and no cookie is sent', async () => {
          const store = new CountingStore();
          const app = methods(store, style);
          const set = await request(app).get('/set');
          const res = await request(app)
            .get('/destroy')
            .set('Cookie', pair(setCookie(set.headers)));
          expect(res.body.session).toBeNull();
          expect(setCookie(res.headers)).toBeUndefined();
          expect(await store.length()).toBe(0);
        });

        it('reload: re-reads the stored session, dropping unsaved changes', async () => {
          const store = new CountingStore();
          const app = methods(store, style);
          const set = await request(app).get('/set?user=stored');
          const res = await request(app)
            .get('/reload')
            .set('Cookie', pair(setCookie(set.headers)));
          expect(res.body.user).toBe('stored');
        });

        it('save: writes now, and the end of the request does not write again', async () => {
          const store = new CountingStore();
          const app = methods(store, style);
          const set = await request(app).get('/set');
          store.reset();
          await request(app)
            .get('/save')
            .set('Cookie', pair(setCookie(set.headers)));
          expect(store.count('set') + store.count('compareAndSet')).toBe(1);
          expect((await store.inner.get(set.body.id))?.user).toBe('saved');
        });
      });
    }

    it('regenerate can keep chosen keys (a cart) while changing the id', async () => {
      const store = new CountingStore();
      const app = makeApp(express, { store }, (a) => {
        a.get('/fill', (req, res) => {
          req.session.cart = ['book', 'pen'];
          req.session.user = 'anon';
          res.end();
        });
        a.get('/login', async (req, res) => {
          await req.session.regenerate({ keep: ['cart'] });
          res.json({ cart: req.session.cart, user: req.session.user ?? null });
        });
      });
      const cookie = pair(setCookie((await request(app).get('/fill')).headers));
      const res = await request(app).get('/login').set('Cookie', cookie);
      expect(res.body).toEqual({ cart: ['book', 'pen'], user: null });
    });

    it('destroy({ clearCookie: true }) expires the cookie in the browser', async () => {
      const app = methods(new CountingStore(), 'callback');
      const cookie = pair(setCookie((await request(app).get('/set')).headers));
      const res = await request(app).get('/destroy-clear').set('Cookie', cookie);
      expect(setCookie(res.headers)).toMatch(
        /^connect\.sid=; Path=\/; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly$/,
      );
    });

    it('touch returns the session and resets maxAge; cookie.maxAge/expires/originalMaxAge', async () => {
      const store = new CountingStore();
      const app = makeApp(express, { store, cookie: { maxAge: 60_000 } }, () => undefined);
      app.get('/touch', (req, res) => {
        const returned = req.session.touch();
        res.json({ chained: returned === req.session, maxAge: req.session.cookie.maxAge });
      });
      app.get('/cookie', (req, res) => {
        const c = req.session.cookie;
        const before = { original: c.originalMaxAge };
        c.maxAge = 5_000;
        res.json({
          before,
          maxAge: c.maxAge,
          original: c.originalMaxAge,
          expiresIn: (c.expires?.getTime() ?? 0) - Date.now(),
          storeIsSame: (req.sessionStore as unknown) === store,
        });
      });
      const touched = await request(app).get('/touch');
      expect(touched.body.chained).toBe(true);
      expect(touched.body.maxAge).toBeGreaterThan(59_000);
      const cookie = await request(app).get('/cookie');
      expect(cookie.body.before.original).toBe(60_000);
      expect(cookie.body.maxAge).toBeLessThanOrEqual(5_000);
      // As express-session's setter, originalMaxAge is read back as expires - now
      // right after maxAge set expires: 4999 when a millisecond ticks in between
      // (it did in a loaded CI run).
      expect(cookie.body.original).toBeGreaterThanOrEqual(4_999);
      expect(cookie.body.original).toBeLessThanOrEqual(5_000);
      expect(cookie.body.expiresIn).toBeGreaterThan(4_000);
      expect(cookie.body.storeIsSame).toBe(true);
      expect(expiresIn(setCookie(cookie.headers))).toBeLessThanOrEqual(5_000);
    });

    it('unset: "destroy" deletes the stored session when req.session is deleted', async () => {
      for (const unset of ['destroy', 'keep'] as const) {
        const store = new CountingStore();
        const app = makeApp(express, { store, unset }, (a) => {
          a.get('/set', (req, res) => {
            req.session.user = 'x';
            res.end();
          });
          a.get('/unset', (req, res) => {
            delete (req as { session?: unknown }).session;
            res.end();
          });
        });
        const cookie = pair(setCookie((await request(app).get('/set')).headers));
        await request(app).get('/unset').set('Cookie', cookie);
        expect(await store.length()).toBe(unset === 'destroy' ? 0 : 1);
      }
    });
  });

  describe('secrets', () => {
    it('rotation: signs with the first secret, accepts any, re-signs old cookies', async () => {
      const store = new CountingStore();
      const old = counter({ store, secret: 'the old secret, 32 characters long' });
      const cookie = pair(setCookie((await request(old).get('/')).headers));
      const id = idOf(`${cookie};`);
      const rotated = counter({
        store,
        secret: ['the new secret, 32 characters long', 'the old secret, 32 characters long'],
      });
      const res = await request(rotated).get('/').set('Cookie', cookie);
      expect(res.body).toEqual({ views: 2, id });
      const resigned = setCookie(res.headers);
      expect(decodeURIComponent(pair(resigned).split('=')[1] as string)).toBe(
        `s:${id}.${hmac(id, 'the new secret, 32 characters long')}`,
      );
      // The new cookie works with the new secret alone.
      const only = counter({ store, secret: 'the new secret, 32 characters long' });
      expect((await request(only).get('/').set('Cookie', pair(resigned))).body.views).toBe(3);
    });

    it('forged, truncated, wrongly signed and garbage cookies start a new session, never a 500', async () => {
      const store = new CountingStore();
      const app = counter({ store });
      const id = idOf(setCookie((await request(app).get('/')).headers));
      const good = signed(id);
      const values = [
        signed(id, 'some other secret that is long enough'),
        good.slice(0, -3),
        good.replace(/^s:/, ''),
        `s:${id}`,
        `s:${id}.`,
        's:',
        's:.',
        `${good}.extra`,
        '%E0%A4%A',
        'x'.repeat(5000),
        encodeURIComponent(`s:${id}.${'A'.repeat(43)}`),
      ];
      for (const value of values) {
        const res = await request(app).get('/').set('Cookie', `connect.sid=${value}`);
        expect(res.status, value).toBe(200);
        expect(res.body.views, value).toBe(1);
        expect(res.body.id).not.toBe(id);
      }
      expect((await store.inner.get(id))?.views).toBe(1);
    });

    it('a corrupt stored record is a new session, not an error', async () => {
      const store = new CountingStore();
      store.get = async () => ({ not: 'a session' }) as never;
      const res = await request(counter({ store }))
        .get('/')
        .set('Cookie', `connect.sid=${encodeURIComponent(signed('abc'))}`);
      expect(res.status).toBe(200);
      expect(res.body.views).toBe(1);
      expect(res.body.id).not.toBe('abc');
    });

    it('a secret shorter than 32 characters warns at startup', async () => {
      const warnings: string[] = [];
      const onWarning = (w: Error) => warnings.push(w.message);
      process.on('warning', onWarning);
      try {
        counter({ secret: 'short' });
        await new Promise((r) => setImmediate(r));
      } finally {
        process.off('warning', onWarning);
      }
      expect(warnings.some((m) => /shorter than 32/.test(m))).toBe(true);
    });

    it('__Host- and __Secure- names are checked at startup', () => {
      expect(() => counter({ name: '__Host-sid' })).toThrow(/__Host- cookie needs cookie.secure/);
      expect(() => counter({ name: '__Host-sid', cookie: { secure: true, path: '/app' } })).toThrow(
        /path/,
      );
      expect(() =>
        counter({ name: '__Host-sid', cookie: { secure: true, domain: 'a.test' } }),
      ).toThrow(/domain/);
      expect(() => counter({ name: '__Secure-sid' })).toThrow(/__Secure-/);
      expect(() => counter({ name: '__Host-sid', cookie: { secure: 'auto' } })).not.toThrow();
    });
  });

  describe('saving before the response', () => {
    it('a redirect right after login never races the save', async () => {
      const store = new CountingStore();
      store.writeDelay = 150;
      const app = makeApp(express, { store, saveUninitialized: false }, (a) => {
        a.post('/login', (req, res) => {
          req.session.user = 'ada';
          res.redirect('/');
        });
      });
      const res = await request(app).post('/login');
      expect(res.status).toBe(302);
      // The response arrived: the write must already be in the store.
      expect((await store.inner.get(idOf(setCookie(res.headers))))?.user).toBe('ada');
    });
  });

  describe('a store that fails', () => {
    it('get failing surfaces through next(err) as a typed StoreError', async () => {
      const store = new CountingStore();
      store.get = () => Promise.reject(new Error('connection refused'));
      const res = await request(counter({ store }))
        .get('/')
        .set('Cookie', `connect.sid=${encodeURIComponent(signed('abc'))}`);
      expect(res.status).toBe(500);
      expect(res.body).toMatchObject({ error: 'StoreError', code: 'SESS_STORE' });
      expect(res.body.message).not.toContain('abc');
    });

    it('a store that never answers gives StoreUnavailableError within storeTimeout', async () => {
      const store = new CountingStore();
      store.get = () => new Promise(() => undefined);
      const started = Date.now();
      const res = await request(counter({ store, storeTimeout: 200 }))
        .get('/')
        .set('Cookie', `connect.sid=${encodeURIComponent(signed('abc'))}`);
      expect(Date.now() - started).toBeLessThan(2_000);
      expect(res.body).toMatchObject({
        error: 'StoreUnavailableError',
        code: 'SESS_STORE_UNAVAILABLE',
      });
    });

    it('set failing at the end of the request surfaces through next(err)', async () => {
      const store = new CountingStore();
      store.set = () => Promise.reject(new Error('disk full'));
      const res = await request(counter({ store })).get('/');
      expect(res.status).toBe(500);
      expect(res.body.code).toBe('SESS_STORE');
    });
  });

  describe('parallel requests on one session', () => {
    it('each changing its own key: every change persists', async () => {
      const store = new CountingStore();
      store.writeDelay = 5;
      const app = makeApp(express, { store, resave: false }, (a) => {
        a.get('/start', (req, res) => {
          req.session.views = 0;
          res.end();
        });
        a.get('/k/:n', (req, res) => {
          (req.session as unknown as Record<string, unknown>)[`k${req.params.n}`] = Number(
            req.params.n,
          );
          res.end();
        });
      });
      const start = await request(app).get('/start');
      const cookie = pair(setCookie(start.headers));
      const server = app.listen(0, '127.0.0.1');
      try {
        await new Promise((r) => server.once('listening', r));
        const responses = await Promise.all(
          Array.from({ length: 30 }, (_, n) =>
            request(server).get(`/k/${n}`).set('Cookie', cookie),
          ),
        );
        expect(responses.map((r) => r.status)).toEqual(Array(30).fill(200));
      } finally {
        server.close();
      }
      const record = await store.inner.get(idOf(setCookie(start.headers)));
      for (let n = 0; n < 30; n++) expect(record?.[`k${n}`], `k${n}`).toBe(n);
    });

    it('a request in flight when the session is destroyed never writes it back', async () => {
      const store = new CountingStore();
      let release: () => void = () => undefined;
      const gate = new Promise<void>((r) => {
        release = r;
      });
      const app = makeApp(express, { store, resave: false }, (a) => {
        a.get('/start', (req, res) => {
          req.session.user = 'ada';
          res.end();
        });
        a.get('/slow', async (req, res) => {
          await gate;
          req.session.views = 99;
          res.end();
        });
        a.get('/logout', (req, res, next) => {
          req.session.destroy((err) => (err ? next(err) : res.end()));
        });
      });
      const start = await request(app).get('/start');
      const cookie = pair(setCookie(start.headers));
      const slow = request(app)
        .get('/slow')
        .set('Cookie', cookie)
        .then((r) => r);
      await new Promise((r) => setTimeout(r, 50));
      await request(app).get('/logout').set('Cookie', cookie);
      release();
      await slow;
      expect(await store.inner.get(idOf(setCookie(start.headers)))).toBeNull();
    });

    it("conflicts: 'error' reports a same-key conflict to the app", async () => {
      const store = new CountingStore();
      const seen: string[][] = [];
      let release: () => void = () => undefined;
      const gate = new Promise<void>((r) => {
        release = r;
      });
      const app = makeApp(
        express,
        {
          store,
          resave: false,
          conflicts: 'error',
          onConflict: ({ keys }) => seen.push([...keys]),
        },
        (a) => {
          a.get('/start', (req, res) => {
            req.session.user = 'start';
            res.end();
          });
          a.get('/slow', async (req, res) => {
            await gate;
            req.session.user = 'slow';
            res.end();
          });
          a.get('/fast', (req, res) => {
            req.session.user = 'fast';
            res.end();
          });
        },
      );
      const start = await request(app).get('/start');
      const cookie = pair(setCookie(start.headers));
      const slow = request(app)
        .get('/slow')
        .set('Cookie', cookie)
        .then((r) => r);
      await new Promise((r) => setTimeout(r, 50));
      await request(app).get('/fast').set('Cookie', cookie);
      release();
      const res = await slow;
      expect(res.status).toBe(500);
      expect(res.body.code).toBe('SESS_CONFLICT');
      expect(seen).toEqual([['user']]);
      expect((await store.inner.get(idOf(setCookie(start.headers))))?.user).toBe('fast');
    });
  });
  describe('absoluteTimeout (sess)', () => {
    it('ends a rolling session once older than the timeout; regenerate({ keepCreatedAt }) keeps the deadline', async () => {
      const store = new CountingStore();
      const app = makeApp(
        express,
        { store, rolling: true, absoluteTimeout: 400, cookie: { maxAge: 60_000 } },
        (a) => {
          a.get('/', (req, res) => {
            req.session.views = (req.session.views ?? 0) + 1;
            res.json({ views: req.session.views, id: req.sessionID });
          });
          a.get('/login', (req, res, next) => {
            req.session.regenerate({ keepCreatedAt: true }, (err) => {
              if (err) return next(err);
              req.session.user = 'ann';
              res.json({ id: req.sessionID });
            });
          });
        },
      );
      const first = await request(app).get('/');
      const cookie = pair(setCookie(first.headers));
      expect(expiresIn(setCookie(first.headers))).toBeLessThanOrEqual(400);
      const id = first.body.id;
      expect((await store.inner.get(id))?.cookie.createdAt).toEqual(expect.any(Number));
      await new Promise((resolve) => setTimeout(resolve, 250));
      const login = await request(app).get('/login').set('Cookie', cookie);
      const loggedIn = pair(setCookie(login.headers));
      expect(login.body.id).not.toBe(id);
      // 250 + 200 ms after creation: past the deadline only because the login kept it.
      await new Promise((resolve) => setTimeout(resolve, 200));
      const after = await request(app).get('/').set('Cookie', loggedIn);
      expect(after.body.views).toBe(1);
      expect(after.body.id).not.toBe(login.body.id);
    });
  });

  describe('the switch of req and res to dictionary properties (performance only)', () => {
    const plain = { writable: true, enumerable: true, configurable: true };

    it('leaves req.res and res.req with their values and attributes', async () => {
      const app = makeApp(express, {}, (app) => {
        app.get('/', (req, res) => {
          res.json({
            reqRes: req.res === res,
            resReq: res.req === req,
            reqResDescriptor: { ...Object.getOwnPropertyDescriptor(req, 'res'), value: undefined },
            resReqDescriptor: { ...Object.getOwnPropertyDescriptor(res, 'req'), value: undefined },
            keys: Object.keys(req).includes('res') && Object.keys(res).includes('req'),
          });
        });
      });
      const res = await request(app).get('/');
      expect(res.body).toEqual({
        reqRes: true,
        resReq: true,
        reqResDescriptor: plain,
        resReqDescriptor: plain,
        keys: true,
      });
    });

    it('leaves a req.res that is not a plain value alone (an accessor stays an accessor)', async () => {
      const app = express();
      app.use((req, res, next) => {
        Object.defineProperty(req, 'res', {
          get: () => res,
          enumerable: false,
          configurable: true,
        });
        Object.defineProperty(res, 'req', { value: req, writable: false, configurable: true });
        next();
      });
      app.use(session({ secret: SECRET }));
      app.get('/', (req, res) => {
        const reqRes = Object.getOwnPropertyDescriptor(req, 'res');
        const resReq = Object.getOwnPropertyDescriptor(res, 'req');
        res.json({
          accessor: typeof reqRes?.get === 'function' && reqRes.enumerable === false,
          readOnly: resReq?.writable === false && resReq.value === req,
          session: typeof req.sessionID === 'string',
        });
      });
      const res = await request(app).get('/');
      expect(res.body).toEqual({ accessor: true, readOnly: true, session: true });
      expect(setCookie(res.headers)).toBeDefined();
    });
  });
});
