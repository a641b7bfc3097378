// Issue 13, sections 1 and 2, in process on Express 4 and 5: what the client
// gets after everyday mistakes (double responses, throws after the
// response), the response path (writeHead's Set-Cookie, rolling with early
// headers, the held end), and the cookie rules. The crash cases also run in a
// child process (crash.test.ts), which shows the process survives them.
import { once } from 'node:events';
import { type AddressInfo, connect } from 'node:net';
import {
  MemoryStore,
  SessConfigError,
  type SessionRecord,
  type SessionStore,
  signCookie,
} from '@sess/core';
import type express5 from 'express';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { session } from '../src/index.js';
import { CountingStore, EXPRESS, idOf, type makeApp, pair, SECRET, setCookie } from './helpers.js';

declare module '@sess/core' {
  interface SessionData {
    user: string;
    n: number;
  }
}

type Seen = { code?: string; message?: string }[];

/** An app whose error handler records what reached it. */
function appWith(
  express: (typeof EXPRESS)[number][1],
  options: Parameters<typeof makeApp>[1],
  routes: (app: express5.Express) => void,
  seen: Seen = [],
) {
  const app = express();
  app.use(session({ secret: SECRET, ...options }));
  routes(app);
  app.use(
    (
      err: Error & { code?: string },
      _req: express5.Request,
      res: express5.Response,
      next: express5.NextFunction,
    ) => {
      seen.push({ code: err.code, message: err.message });
      if (res.headersSent) return next(err);
      res.status(500).json({ error: err.name, code: err.code, message: err.message });
    },
  );
  return app;
}

describe.each(EXPRESS)('%s', (label, express) => {
  describe('a second response (the classic missing return)', () => {
    it('redirect then send: the client gets the redirect, never the page; the error reaches the handler', async () => {
      const seen: Seen = [];
      const app = appWith(
        express,
        {},
        (a) =>
          a.get('/secret', (req, res) => {
            if (!req.session.user) res.redirect('/login');
            res.send('TOP SECRET PAGE');
          }),
        seen,
      );
      const res = await request(app).get('/secret');
      expect(res.status).toBe(302);
      expect(res.headers.location).toBe('/login');
      expect(res.text).not.toContain('TOP SECRET');
      expect(setCookie(res.headers)).toBeDefined();
      expect(seen.map((e) => e.code)).toContain('ERR_HTTP_HEADERS_SENT');
    });

    it("res.send('a'); res.send('b'): 'a', and ERR_HTTP_HEADERS_SENT to the handler", async () => {
      const seen: Seen = [];
      const app = appWith(
        express,
        {},
        (a) =>
          a.get('/', (_req, res) => {
            res.send('a');
            res.send('b');
          }),
        seen,
      );
      const res = await request(app).get('/');
      expect(res.text).toBe('a');
      expect(seen.map((e) => e.code)).toEqual(['ERR_HTTP_HEADERS_SENT']);
    });

    it('res.end(x); res.end(): x, once', async () => {
      const app = appWith(express, {}, (a) =>
        a.get('/', (_req, res) => {
          res.end('x');
          res.end();
          res.end('y');
        }),
      );
      const res = await request(app).get('/');
      expect(res.status).toBe(200);
      expect(res.text).toBe('x');
    });

    it('a write after end is dropped, and its callback gets the error', async () => {
      let writeError: unknown;
      const app = appWith(express, {}, (a) =>
        a.get('/', (_req, res) => {
          res.end('x');
          res.write('late', (err) => {
            writeError = err;
          });
        }),
      );
      const res = await request(app).get('/');
      expect(res.text).toBe('x');
      await new Promise((r) => setImmediate(r));
      expect((writeError as { code?: string } | undefined)?.code).toBe(
        'ERR_STREAM_WRITE_AFTER_END',
      );
    });

    it('an error thrown after the response: the client keeps its 200', async () => {
      const seen: Seen = [];
      const app = appWith(
        express,
        {},
        (a) =>
          a.get('/', (_req, res) => {
            res.send('ok');
            throw new Error('after');
          }),
        seen,
      );
      const res = await request(app).get('/');
      expect(res.status).toBe(200);
      expect(res.text).toBe('ok');
      expect(seen.map((e) => e.message)).toContain('after');
    });

    if (label === 'Express 5') {
      it('an awaited rejection after the response (async handler): the client keeps its 200', async () => {
        const app = appWith(express, {}, (a) =>
          a.get('/', async (_req, res) => {
            res.send('ok');
            await Promise.resolve();
            throw new Error('after');
          }),
        );
        const res = await request(app).get('/');
        expect(res.status).toBe(200);
        expect(res.text).toBe('ok');
      });
    }

    if (label === 'Express 4') {
      it('res.status(undefined).send(): a 500 from the error handler', async () => {
        const seen: Seen = [];
        const app = appWith(
          express,
          {},
          (a) =>
            a.get('/', (_req, res) => {
              res.status(undefined as unknown as number).send();
            }),
          seen,
        );
        const res = await request(app).get('/');
        expect(res.status).toBe(500);
        expect(seen.map((e) => e.code)).toEqual(['ERR_HTTP_INVALID_STATUS_CODE']);
      });
    }
  });

  describe('the response path', () => {
    it("res.writeHead(status, { 'Set-Cookie' }) keeps both cookies", async () => {
      const app = appWith(express, {}, (a) =>
        a.get('/', (_req, res) => {
          res.writeHead(200, { 'Set-Cookie': 'io=abc; Path=/', 'Content-Type': 'text/plain' });
          res.end('hi');
        }),
      );
      const res = await request(app).get('/');
      const cookies = res.headers['set-cookie'] as unknown as string[];
      expect(cookies).toHaveLength(2);
      expect(cookies[0]).toBe('io=abc; Path=/');
      expect(setCookie(res.headers)).toMatch(/^connect\.sid=s%3A/);
      expect(res.headers['content-type']).toBe('text/plain');
    });

    it('res.writeHead(status, [flat list]) with two Set-Cookie lines keeps all three', async () => {
      const app = appWith(express, {}, (a) =>
        a.get('/', (_req, res) => {
          res.writeHead(200, ['Set-Cookie', 'a=1', 'Set-Cookie', 'b=2']);
          res.end();
        }),
      );
      const res = await request(app).get('/');
      const cookies = res.headers['set-cookie'] as unknown as string[];
      expect(cookies.slice(0, 2)).toEqual(['a=1', 'b=2']);
      expect(cookies[2]).toMatch(/^connect\.sid=/);
    });

    it('res.cookie() and the session cookie both go out', async () => {
      const app = appWith(express, {}, (a) =>
        a.get('/', (_req, res) => {
          res.cookie('theme', 'dark');
          res.send('ok');
        }),
      );
      const res = await request(app).get('/');
      const cookies = res.headers['set-cookie'] as unknown as string[];
      expect(cookies.some((c) => c.startsWith('theme=dark'))).toBe(true);
      expect(setCookie(res.headers)).toBeDefined();
    });

    it('rolling with headers sent before the end (res.write): the cookie carries the new expiry', async () => {
      const store = new CountingStore();
      const app = appWith(
        express,
        { store, rolling: true, resave: false, cookie: { maxAge: 60_000 } },
        (a) => {
          a.get('/start', (req, res) => {
            req.session.n = 1;
            res.send('ok');
          });
          a.get('/stream', (_req, res) => {
            res.write('part one, ');
            setTimeout(() => res.end('part two'), 20);
          });
        },
      );
      const first = await request(app).get('/start');
      const firstExpiry = Date.parse(
        /Expires=([^;]+)/.exec(setCookie(first.headers) ?? '')?.[1] ?? '',
      );
      await new Promise((r) => setTimeout(r, 1100)); // Expires has a one-second resolution
      store.reset();
      const res = await request(app)
        .get('/stream')
        .set('Cookie', pair(setCookie(first.headers)));
      expect(res.text).toBe('part one, part two');
      const line = setCookie(res.headers);
      const expiry = Date.parse(/Expires=([^;]+)/.exec(line ?? '')?.[1] ?? '');
      expect(expiry).toBeGreaterThan(firstExpiry);
      expect(store.count('touch')).toBe(1);
      const stored = await store.inner.get(idOf(setCookie(first.headers)));
      // Expires has a one-second resolution; the store keeps milliseconds.
      const storedExpiry = Date.parse(String(stored?.cookie.expires));
      expect(Math.floor(storedExpiry / 1000) * 1000).toBe(expiry);
    });

    it('a redirect after login waits for its save (the store is slow)', async () => {
      const store = new CountingStore();
      store.writeDelay = 100;
      const app = appWith(express, { store, saveUninitialized: false }, (a) =>
        a.post('/login', (req, res) => {
          req.session.user = 'ada';
          res.redirect('/');
        }),
      );
      const res = await request(app).post('/login');
      expect(res.status).toBe(302);
      expect((await store.inner.get(idOf(setCookie(res.headers))))?.user).toBe('ada');
    });

    it('a failed save: a 500 from the error handler, with no Set-Cookie for the session never stored', async () => {
      const store = new CountingStore();
      store.set = () => Promise.reject(new Error('disk full'));
      store.compareAndSet = () => Promise.reject(new Error('disk full'));
      const seen: Seen = [];
      const app = appWith(
        express,
        { store },
        (a) =>
          a.get('/', (req, res) => {
            req.session.user = 'ann';
            res.redirect('/home');
          }),
        seen,
      );
      const res = await request(app).get('/');
      expect(res.status).toBe(500);
      expect(res.body.code).toBe('SESS_STORE');
      expect(res.headers['set-cookie']).toBeUndefined();
      expect(res.headers.location).toBeUndefined(); // nothing of the response given up
      expect(seen).toHaveLength(1);
    });

    it('a failed explicit save reported by the app: its 500 carries no cookie unless the end saves', async () => {
      let failures = 1;
      const inner = new MemoryStore({ sweepInterval: 0 });
      const store: SessionStore = {
        get: (id) => inner.get(id),
        set: async (id, r) => {
          if (failures-- > 0) throw new Error('down');
          await inner.set(id, r);
        },
        destroy: (id) => inner.destroy(id),
      };
      const app = appWith(express, { store }, (a) =>
        a.get('/', (req, res, next) => {
          req.session.user = 'ann';
          req.session.save((err) => (err ? next(err) : res.send('saved')));
        }),
      );
      const res = await request(app).get('/');
      expect(res.status).toBe(500);
      // The end of the request saved the session after all: the cookie names a stored session.
      const line = setCookie(res.headers);
      expect(line).toBeDefined();
      expect((await inner.get(idOf(line)))?.user).toBe('ann');
      await inner.close();
    });

    it('a streamed response whose end-of-request save fails is cut off, never completed as a success', async () => {
      const store = new CountingStore();
      store.set = () => Promise.reject(new Error('disk full'));
      store.compareAndSet = () => Promise.reject(new Error('disk full'));
      const seen: Seen = [];
      const app = appWith(
        express,
        { store },
        (a) =>
          a.get('/', (req, res) => {
            req.session.user = 'ann';
            res.write('partial');
            res.end('rest');
          }),
        seen,
      );
      const error = await request(app)
        .get('/')
        .then(
          () => null,
          (err: Error) => err,
        );
      expect(error).not.toBeNull();
      expect(seen.map((e) => e.code)).toEqual(['SESS_STORE']);
    });
  });

  describe('save() and destroy() without a callback', () => {
    it('req.session.destroy(); res.redirect(): the redirect, despite a failing store', async () => {
      const store = new CountingStore();
      const app = appWith(express, { store }, (a) => {
        a.get('/in', (req, res) => {
          req.session.user = 'ann';
          res.send('in');
        });
        a.get('/out', (req, res) => {
          store.destroy = () => Promise.reject(new Error('down'));
          void req.session.destroy();
          res.redirect('/');
        });
      });
      const cookie = pair(setCookie((await request(app).get('/in')).headers));
      const res = await request(app).get('/out').set('Cookie', cookie);
      expect(res.status).toBe(302);
    });
  });

  describe('the request target and the cookie value', () => {
    it('an absolute-form target (GET http://host/path) gets a session, scoped by its path', async () => {
      const app = appWith(express, { cookie: { path: '/app' } }, (a) => {
        a.get('/app/x', (req, res) => res.json({ has: req.session !== undefined }));
        a.get('/other', (req, res) => res.json({ has: req.session !== undefined }));
      });
      const server = app.listen(0, '127.0.0.1');
      await once(server, 'listening');
      try {
        const port = (server.address() as AddressInfo).port;
        const inside = await raw(port, `GET http://127.0.0.1:${port}/app/x?q=1 HTTP/1.1`);
        expect(inside).toContain('{"has":true}');
        expect(inside).toMatch(/Set-Cookie: connect\.sid=/i);
        const outside = await raw(port, `GET http://127.0.0.1:${port}/other HTTP/1.1`);
        expect(outside).toContain('{"has":false}');
      } finally {
        server.close();
      }
    });

    it('a cookie value in double quotes is accepted, as express-session accepts it', async () => {
      const store = new CountingStore();
      const app = appWith(express, { store }, (a) =>
        a.get('/', (req, res) => {
          req.session.n = (req.session.n ?? 0) + 1;
          res.json({ n: req.session.n, id: req.sessionID });
        }),
      );
      const first = await request(app).get('/');
      const value = pair(setCookie(first.headers)).split('=')[1];
      const second = await request(app).get('/').set('Cookie', `connect.sid="${value}"`);
      expect(second.body).toEqual({ n: 2, id: first.body.id });
    });
  });

  describe('bad cookie options', () => {
    const bad: [string, object][] = [
      ["sameSite 'bogus'", { sameSite: 'bogus' }],
      ["priority 'urgent'", { priority: 'urgent' }],
      ['a domain with a trailing space', { domain: 'example.com ' }],
      ['a path with ;', { path: '/a;b' }],
      ['expires new Date(NaN)', { expires: new Date(Number.NaN) }],
    ];

    it.each(bad)('%s: SessConfigError at startup', (_label, cookie) => {
      expect(() => session({ secret: SECRET, cookie: cookie as never })).toThrow(SessConfigError);
    });

    it.each(bad)(
      '%s from a cookie() function: a typed 500 per request, never a hang',
      async (_l, cookie) => {
        const app = appWith(express, { cookie: () => cookie as never }, (a) =>
          a.get('/', (req, res) => res.send(String(req.session !== undefined))),
        );
        const res = await request(app).get('/').timeout(10_000);
        expect(res.status).toBe(500);
        expect(res.body).toMatchObject({ error: 'SessConfigError', code: 'SESS_CONFIG' });
        expect(res.headers['set-cookie']).toBeUndefined();
      },
    );

    it('a cookie attribute set to something unserializable in a handler: no cookie, no crash', async () => {
      const seen: Seen = [];
      const app = appWith(
        express,
        {},
        (a) =>
          a.get('/', (req, res) => {
            (req.session.cookie as { sameSite: unknown }).sameSite = 'bogus';
            res.send('ok');
          }),
        seen,
      );
      const res = await request(app).get('/').timeout(10_000);
      expect(res.text).toBe('ok');
      expect(setCookie(res.headers)).toBeUndefined();
      await new Promise((r) => setTimeout(r, 20));
      expect(seen.map((e) => e.message).join()).toMatch(/sameSite/);
    });

    it("sameSite: 'None' (any case) over HTTP goes out as Lax", async () => {
      const app = appWith(express, { cookie: { sameSite: 'NONE' as 'none' } }, (a) =>
        a.get('/', (_req, res) => res.send('ok')),
      );
      const line = setCookie((await request(app).get('/')).headers);
      expect(line).toContain('SameSite=Lax');
      expect(line).not.toMatch(/SameSite=None/i);
    });

    it('a stored record with sameSite "None" and no secure, and the clearing cookie over HTTP: Lax', async () => {
      const store = recordStore({
        cookie: { originalMaxAge: null, sameSite: 'None' },
        user: 'ann',
      });
      const app = appWith(
        express,
        { store, rolling: true, cookie: { sameSite: 'None' as 'none' } },
        (a) => {
          a.get('/', (_req, res) => res.send('ok'));
          a.get('/logout', (req, res, next) => {
            req.session.destroy({ clearCookie: true }, (err) =>
              err ? next(err) : res.send('bye'),
            );
          });
        },
      );
      const stored = setCookie(
        (await request(app).get('/').set('Cookie', cookieFor('none'))).headers,
      );
      expect(stored).toContain('SameSite=Lax');
      const clearing = setCookie(
        (await request(app).get('/logout').set('Cookie', cookieFor('none'))).headers,
      );
      expect(clearing).toContain('Expires=Thu, 01 Jan 1970 00:00:00 GMT');
      expect(clearing).toContain('SameSite=Lax');
    });

    it("partitioned with secure 'auto' over HTTP: sent without Partitioned; partitioned with secure false: refused", async () => {
      const app = appWith(express, { cookie: { partitioned: true, secure: 'auto' } }, (a) =>
        a.get('/', (_req, res) => res.send('ok')),
      );
      const line = setCookie((await request(app).get('/')).headers);
      expect(line).toMatch(/^connect\.sid=/);
      expect(line).not.toContain('Partitioned');
      expect(() =>
        session({ secret: SECRET, cookie: { partitioned: true, secure: false } }),
      ).toThrow(SessConfigError);
    });

    it('__host- and __SECURE- case variants are checked at startup', () => {
      expect(() => session({ secret: SECRET, name: '__host-sid' })).toThrow(SessConfigError);
      expect(() => session({ secret: SECRET, name: '__SECURE-sid' })).toThrow(SessConfigError);
    });
  });

  describe('lifetimes outside the Date range', () => {
    it('maxAge: Number.MAX_SAFE_INTEGER: clamped to 9999-12-31, the session works', async () => {
      const store = new CountingStore();
      const app = appWith(express, { store, cookie: { maxAge: Number.MAX_SAFE_INTEGER } }, (a) =>
        a.get('/', (req, res) => {
          req.session.n = (req.session.n ?? 0) + 1;
          res.json({ n: req.session.n });
        }),
      );
      const first = await request(app).get('/');
      expect(first.status).toBe(200);
      expect(setCookie(first.headers)).toContain('Expires=Fri, 31 Dec 9999 23:59:59 GMT');
      const second = await request(app)
        .get('/')
        .set('Cookie', pair(setCookie(first.headers)));
      expect(second.body).toEqual({ n: 2 });
    });

    it('a stored originalMaxAge of 1e300: the request completes (clamped)', async () => {
      const store = recordStore({
        cookie: { originalMaxAge: 1e300, expires: new Date(Date.now() + 60_000).toISOString() },
        user: 'ann',
      });
      const app = appWith(express, { store }, (a) =>
        a.get('/', (req, res) => res.json({ user: req.session.user ?? null })),
      );
      const res = await request(app).get('/').set('Cookie', cookieFor('big')).timeout(10_000);
      expect(res.body).toEqual({ user: 'ann' });
    });
  });

  describe('damaged stored records', () => {
    it('a record nested thousands of levels deep is a new session, not a permanent 500', async () => {
      let deep: Record<string, unknown> = {};
      const root = deep;
      for (let i = 0; i < 20_000; i++) {
        deep.a = {};
        deep = deep.a as Record<string, unknown>;
      }
      const store = recordStore({ cookie: { originalMaxAge: null }, root });
      const app = appWith(express, { store }, (a) =>
        a.get('/', (req, res) => res.json({ id: req.sessionID })),
      );
      for (let i = 0; i < 2; i++) {
        const res = await request(app).get('/').set('Cookie', cookieFor('deep'));
        expect(res.status).toBe(200);
        expect(res.body.id).not.toBe('deep');
      }
    });

    it('session data made too deep in a handler: a 500 from the error handler, without a cookie', async () => {
      const seen: Seen = [];
      const app = appWith(
        express,
        {},
        (a) =>
          a.get('/', (req, res) => {
            let deep: Record<string, unknown> = {};
            (req.session as unknown as Record<string, unknown>).deep = deep;
            for (let i = 0; i < 20_000; i++) {
              deep.a = {};
              deep = deep.a as Record<string, unknown>;
            }
            res.send('ok');
          }),
        seen,
      );
      const res = await request(app).get('/').timeout(10_000);
      expect(res.status).toBe(500);
      expect(res.headers['set-cookie']).toBeUndefined();
      expect(seen).toHaveLength(1);
    });

    it('the same in a streamed response, with an error handler that swallows errors: cut off, never hung', async () => {
      const swallowed: unknown[] = [];
      const app = express();
      app.use(session({ secret: SECRET, store: new CountingStore() }));
      app.get('/', (req, res) => {
        res.write('started');
        let deep: Record<string, unknown> = {};
        (req.session as unknown as Record<string, unknown>).deep = deep;
        for (let i = 0; i < 20_000; i++) {
          deep.a = {};
          deep = deep.a as Record<string, unknown>;
        }
        res.end('done');
      });
      app.use(
        (
          err: unknown,
          _req: express5.Request,
          _res: express5.Response,
          _next: express5.NextFunction,
        ) => {
          swallowed.push(err); // neither answers nor passes it on
        },
      );
      const outcome = await request(app)
        .get('/')
        .timeout(10_000)
        .then(
          () => 'completed',
          (err: Error & { timeout?: number }) => (err.timeout ? 'hung' : 'cut off'),
        );
      expect(outcome).toBe('cut off');
      expect(swallowed).toHaveLength(1);
    });
  });

  describe('store errors', () => {
    it('a driver message quoting the session id reaches the handler without it', async () => {
      const id = 'AbCdEfGhIjKlMnOpQrStUvWxYz012345';
      const store: SessionStore = {
        get: async (sid) => {
          throw new Error(`E11000 duplicate key error dup key: { _id: "${sid}" }`);
        },
        set: async () => {},
        destroy: async () => {},
      };
      const app = appWith(express, { store }, (a) => a.get('/', (_req, res) => res.send('x')));
      const res = await request(app).get('/').set('Cookie', cookieFor(id));
      expect(res.status).toBe(500);
      expect(res.body.code).toBe('SESS_STORE');
      expect(res.body.message).toContain('E11000');
      expect(res.body.message).not.toContain(id);
    });
  });
});

function cookieFor(id: string): string {
  return `connect.sid=${encodeURIComponent(signCookie(id, SECRET))}`;
}

/** A store that answers every get with `record`, as a damaged backend might. */
function recordStore(record: unknown): SessionStore {
  return {
    get: async () => record as SessionRecord,
    set: async () => {},
    destroy: async () => {},
  };
}

/** One raw HTTP/1.1 request (for request targets supertest cannot send); the raw response. */
async function raw(port: number, requestLine: string): Promise<string> {
  const socket = connect(port, '127.0.0.1');
  await once(socket, 'connect');
  socket.end(`${requestLine}\r\nHost: 127.0.0.1:${port}\r\nConnection: close\r\n\r\n`);
  let text = '';
  socket.setEncoding('utf8');
  for await (const chunk of socket) text += chunk;
  return text;
}
