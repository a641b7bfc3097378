// The behaviours express-session's own test suite checks (test/session.js,
// test/cookie.js), each run once on express-session and once on
// @sess/express, on Express 5 and 4, with the same app and the same
// assertions. Where sess deliberately differs, the test asserts sess's
// documented behaviour and names the item of the README's list of
// differences. The stores here are small callback stores of the test's own
// (express-session's Store API), so both libraries call them the same way.
import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, request as httpRequest, type IncomingMessage, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import express5 from 'express';
import expressSession from 'express-session';
import express4 from 'express4';
import request from 'supertest';
import { afterEach, describe, expect, it } from 'vitest';
import { session } from '../src/index.js';
import {
  type ExpressFactory,
  hmac,
  idOf,
  LIBRARIES,
  type LibraryOptions,
  pair,
  SECRET,
  setCookie,
} from './helpers.js';

type Middleware = express5.RequestHandler;
type Req = express5.Request;
type Res = express5.Response;
/** The options of these tests: LibraryOptions plus any other express-session option. */
type Options = Partial<LibraryOptions> & Record<string, unknown>;
type Bag = Record<string, unknown>;
const bag = (req: Req) => req.session as unknown as Bag;

const FRAMEWORKS: [string, ExpressFactory][] = [
  ['Express 5', express5],
  ['Express 4', express4 as unknown as ExpressFactory],
];
const CASES = LIBRARIES.flatMap(([name, library]) =>
  FRAMEWORKS.map(([label, framework]) => [`${name}, ${label}`, name, library, framework] as const),
);
/** Each library's module: its classes (MemoryStore, Store, Session, Cookie). */
const MODULES: Record<string, typeof expressSession> = {
  'express-session': expressSession,
  '@sess/express': session as unknown as typeof expressSession,
};

type Callback = (err?: unknown, value?: unknown) => void;

/**
 * A callback store (express-session's Store API) over a Map of JSON strings,
 * as express-session's MemoryStore keeps them, with hooks: calls counted, a
 * method that fails with 'boom!', a delayed set, synchronous callbacks.
 */
class HookStore extends expressSession.Store {
  readonly data = new Map<string, string>();
  readonly calls: Record<string, number> = { get: 0, set: 0, touch: 0, destroy: 0 };
  fail = new Set<string>();
  failCode: string | undefined;
  setDelay = 0;
  sync = false;

  #answer(method: string, callback: Callback | undefined, value?: unknown): void {
    if (!callback) return;
    const err = this.fail.has(method)
      ? Object.assign(new Error('boom!'), this.failCode ? { code: this.failCode } : {})
      : undefined;
    const run = () => (err ? callback(err) : callback(undefined, value));
    if (this.sync) run();
    else if (method === 'set' && this.setDelay > 0) setTimeout(run, this.setDelay);
    else setImmediate(run);
  }
  override get(
    sid: string,
    callback: (err: unknown, session?: expressSession.SessionData | null) => void,
  ): void {
    this.calls.get = (this.calls.get ?? 0) + 1;
    const raw = this.data.get(sid);
    this.#answer('get', callback as Callback, raw === undefined ? undefined : JSON.parse(raw));
  }
  override set(sid: string, record: object, callback?: Callback): void {
    this.calls.set = (this.calls.set ?? 0) + 1;
    if (!this.fail.has('set')) {
      const json = JSON.stringify(record);
      if (this.setDelay > 0 && !this.sync)
        setTimeout(() => this.data.set(sid, json), this.setDelay);
      else this.data.set(sid, json);
    }
    this.#answer('set', callback);
  }
  override touch(sid: string, record: object, callback?: Callback): void {
    this.calls.touch = (this.calls.touch ?? 0) + 1;
    const raw = this.data.get(sid);
    if (raw !== undefined && !this.fail.has('touch')) {
      const stored = JSON.parse(raw) as Bag;
      stored.cookie = (record as Bag).cookie;
      this.data.set(sid, JSON.stringify(stored));
    }
    this.#answer('touch', callback);
  }
  override destroy(sid: string, callback?: Callback): void {
    this.calls.destroy = (this.calls.destroy ?? 0) + 1;
    if (!this.fail.has('destroy')) this.data.delete(sid);
    this.#answer('destroy', callback);
  }
  override length(callback: (err: unknown, length?: number) => void): void {
    callback(null, this.data.size);
  }
  override clear(callback?: Callback): void {
    this.data.clear();
    callback?.();
  }
  /** The stored cookie.expires, in epoch ms. */
  expiry(sid: string): number {
    return Date.parse((this.record(sid)?.cookie as Bag | undefined)?.expires as string);
  }
  record(sid: string): Bag | undefined {
    const raw = this.data.get(sid);
    return raw === undefined ? undefined : (JSON.parse(raw) as Bag);
  }
}

/** An app: the session middleware, the routes, an error handler that records every error. */
function build(
  framework: ExpressFactory,
  library: (o: LibraryOptions) => Middleware,
  options: Options,
  routes: (app: express5.Express) => void,
  before?: (app: express5.Express) => void,
) {
  const errors: string[] = [];
  const app = framework();
  before?.(app);
  app.use(library({ resave: false, saveUninitialized: true, ...options } as LibraryOptions));
  routes(app);
  app.use((err: Error & { status?: number }, _req: Req, res: Res, _next: express5.NextFunction) => {
    errors.push(err.message);
    if (res.headersSent) return;
    res.status(err.status ?? 500).send(err.message);
  });
  return { app, errors };
}

const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Until `check` holds (errors that surface after the response), at most a second. */
async function until(check: () => boolean): Promise<void> {
  for (let i = 0; i < 100 && !check(); i++) await wait(10);
}

function expiresOf(line: string | undefined): number {
  const match = /; Expires=([^;]+)/i.exec(line ?? '');
  if (!match) throw new Error(`no Expires in ${line}`);
  return Date.parse(match[1] as string);
}

const servers: Server[] = [];
afterEach(() => {
  for (const server of servers.splice(0)) server.close();
});

/** A raw GET with any request target (absolute form included), on a listening server. */
async function rawGet(
  handler: (req: IncomingMessage, res: import('node:http').ServerResponse) => void,
  path: string,
): Promise<{ status: number; headers: Record<string, unknown> }> {
  const server = createServer(handler);
  servers.push(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path }, (res) => {
      res.resume();
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers as Record<string, unknown> }),
      );
    });
    req.on('error', reject);
    req.end();
  });
}

describe('the module', () => {
  it.each(Object.entries(MODULES))('%s exports Session, Store and MemoryStore', (_name, mod) => {
    expect(typeof mod.Session).toBe('function');
    expect(typeof mod.Store).toBe('function');
    expect(typeof mod.MemoryStore).toBe('function');
    expect(new mod.MemoryStore()).toBeInstanceOf(mod.Store);
  });
});

describe.each(CASES)(
  'express-session’s own behaviours, on %s',
  (_label, name, library, framework) => {
    const sess = name === '@sess/express';
    const mod = MODULES[name] as typeof expressSession;
    const make = (
      options: Options,
      routes: (app: express5.Express) => void,
      before?: (app: express5.Express) => void,
    ) => build(framework, library, options, routes, before);

    describe('top level', () => {
      it('a req.session set by earlier code: the middleware does nothing', async () => {
        const store = new HookStore();
        const { app } = make(
          { store },
          (a) => a.get('/', (req, res) => res.json(req.session)),
          (a) =>
            a.use((req, _res, next) => {
              (req as unknown as Bag).session = { preset: true };
              next();
            }),
        );
        const res = await request(app).get('/');
        expect(res.body).toEqual({ preset: true });
        expect(res.headers['set-cookie']).toBeUndefined();
        expect(store.calls).toEqual({ get: 0, set: 0, touch: 0, destroy: 0 });
      });

      it('a new session is stored and its cookie set; the cookie brings it back', async () => {
        const store = new HookStore();
        const { app } = make({ store }, (a) =>
          a.get('/', (req, res) => {
            bag(req).n = ((bag(req).n as number) ?? 0) + 1;
            res.json({ n: bag(req).n, id: req.sessionID });
          }),
        );
        const first = await request(app).get('/');
        expect(store.data.size).toBe(1);
        const line = setCookie(first.headers);
        expect(line).toMatch(/^connect\.sid=s%3A/);
        const second = await request(app).get('/').set('Cookie', pair(line));
        expect(second.body).toEqual({ n: 2, id: idOf(line) });
      });

      it('store.get fails: the error reaches the error handler; ENOENT: a new session', async () => {
        const store = new HookStore();
        const { app } = make({ store }, (a) => a.get('/', (req, res) => res.send(req.sessionID)));
        const line = setCookie((await request(app).get('/')).headers);
        store.fail.add('get');
        const failed = await request(app).get('/').set('Cookie', pair(line));
        expect(failed.status).toBe(500);
        // express-session passes the store's error on; sess wraps it in a typed StoreError (README item 7).
        if (sess) expect(failed.text).toMatch(/boom!/);
        else expect(failed.text).toBe('boom!');
        store.failCode = 'ENOENT';
        const missing = await request(app).get('/').set('Cookie', pair(line));
        expect(missing.status).toBe(200);
        expect(missing.text).not.toBe(idOf(line));
        expect(idOf(setCookie(missing.headers))).toBe(missing.text);
      });

      it('two parallel first requests make two sessions', async () => {
        const store = new HookStore();
        const { app } = make({ store }, (a) => a.get('/', (_req, res) => res.send('ok')));
        const [a, b] = await Promise.all([request(app).get('/'), request(app).get('/')]);
        expect(idOf(setCookie(a.headers))).not.toBe(idOf(setCookie(b.headers)));
        expect(store.data.size).toBe(2);
      });

      it('res.end twice keeps the first body; res.end(null) answers 200 and nothing', async () => {
        const { app } = make({}, (a) => {
          a.get('/twice', (_req, res) => {
            res.end('first');
            res.end('second');
          });
          a.get('/null', (_req, res) => res.end(null));
        });
        const twice = await request(app).get('/twice');
        expect(twice.status).toBe(200);
        expect(twice.text).toBe('first');
        const none = await request(app).get('/null');
        expect(none.status).toBe(200);
        expect(none.text).toBe('');
      });

      it('a stored record with a reserved name (save: "nope") loads, and the session still saves', async () => {
        const store = new HookStore();
        const { app } = make({ store }, (a) =>
          a.get('/', (req, res) => {
            bag(req).n = ((bag(req).n as number) ?? 0) + 1;
            res.json({ n: bag(req).n, save: typeof bag(req).save });
          }),
        );
        const line = setCookie((await request(app).get('/')).headers);
        const id = idOf(line);
        store.data.set(id, JSON.stringify({ ...store.record(id), save: 'nope' }));
        const res = await request(app).get('/').set('Cookie', pair(line));
        expect(res.body).toEqual({ n: 2, save: 'function' });
        expect(store.record(id)?.n).toBe(2);
      });

      it('Object.keys and for..in over req.session: the data keys and cookie only', async () => {
        const { app } = make({}, (a) =>
          a.get('/', (req, res) => {
            bag(req).user = 'ada';
            const inLoop: string[] = [];
            for (const key in req.session) inLoop.push(key);
            res.json({ keys: Object.keys(req.session).sort(), inLoop: inLoop.sort() });
          }),
        );
        const res = await request(app).get('/');
        expect(res.body).toEqual({ keys: ['cookie', 'user'], inLoop: ['cookie', 'user'] });
      });

      it('req.sessionID replaced by a non-string', async () => {
        const store = new HookStore();
        const { app } = make({ store }, (a) =>
          a.get('/', (req, res) => {
            bag(req).user = 'ada';
            (req as unknown as Bag).sessionID = () => 'x';
            res.send('ok');
          }),
        );
        const res = await request(app).get('/');
        expect(res.status).toBe(200);
        if (sess) {
          // README item 13: the id saved and sent is the session's own.
          expect(store.data.size).toBe(1);
          expect(idOf(setCookie(res.headers))).toBe([...store.data.keys()][0]);
        } else {
          expect(store.data.size).toBe(0);
          expect(res.headers['set-cookie']).toBeUndefined();
        }
      });

      it('rolling and a slow response: the next request gets a later expiry', async () => {
        const { app } = make({ rolling: true, cookie: { maxAge: 60_000 } }, (a) =>
          a.get('/', (_req, res) => {
            res.setHeader('Content-Type', 'text/plain');
            res.write('hello, ');
            setTimeout(() => res.end('world'), 200);
          }),
        );
        const first = await request(app).get('/');
        expect(first.text).toBe('hello, world');
        await wait(1100);
        const second = await request(app)
          .get('/')
          .set('Cookie', pair(setCookie(first.headers)));
        expect(second.text).toBe('hello, world');
        expect(expiresOf(setCookie(second.headers))).toBeGreaterThan(
          expiresOf(setCookie(first.headers)),
        );
      });
    });

    describe('the secret', () => {
      it('no secret option and no req.secret: each request fails, the app still starts', async () => {
        const app = framework();
        app.use(
          sess
            ? (session({} as never) as unknown as Middleware)
            : (expressSession({} as never) as unknown as Middleware),
        );
        app.get('/', (_req, res) => res.send('ok'));
        const res = await request(app).get('/');
        expect(res.status).toBe(500);
        expect(res.text).toMatch(/secret option required for sessions/);
      });

      it('no secret option: the secret cookie-parser puts in req.secret signs the cookie', async () => {
        const app = framework();
        app.use((req, _res, next) => {
          // What cookie-parser('…') does.
          (req as unknown as Bag).secret = SECRET;
          next();
        });
        app.use(
          name === '@sess/express'
            ? (session({
                resave: false,
                saveUninitialized: true,
              } as never) as unknown as Middleware)
            : (expressSession({
                resave: false,
                saveUninitialized: true,
              } as never) as unknown as Middleware),
        );
        app.get('/', (req, res) => {
          bag(req).n = ((bag(req).n as number) ?? 0) + 1;
          res.json({ n: bag(req).n });
        });
        const first = await request(app).get('/');
        expect(first.status).toBe(200);
        const line = setCookie(first.headers);
        const id = idOf(line);
        expect(pair(line)).toBe(`connect.sid=${encodeURIComponent(`s:${id}.${hmac(id, SECRET)}`)}`);
        expect((await request(app).get('/').set('Cookie', pair(line))).body).toEqual({ n: 2 });
      });

      it('an empty secret list throws at setup; a Buffer secret signs and reads back', async () => {
        expect(() =>
          sess ? session({ secret: [] } as never) : expressSession({ secret: [] }),
        ).toThrow(/secret option array/);
        const app = framework();
        const buffer = Buffer.from(SECRET);
        app.use(
          sess
            ? (session({
                secret: buffer,
                resave: false,
                saveUninitialized: true,
              } as never) as unknown as Middleware)
            : (expressSession({
                secret: buffer as unknown as string,
                resave: false,
                saveUninitialized: true,
              }) as unknown as Middleware),
        );
        app.get('/', (req, res) => {
          bag(req).n = ((bag(req).n as number) ?? 0) + 1;
          res.json({ n: bag(req).n });
        });
        const line = setCookie((await request(app).get('/')).headers);
        expect((await request(app).get('/').set('Cookie', pair(line))).body).toEqual({ n: 2 });
      });

      it('a secret list: signs with the first, reads with any', async () => {
        const store = new HookStore();
        const appWith = (secret: string[]) => {
          const app = framework();
          app.use(library({ secret, store, resave: false, saveUninitialized: true } as never));
          app.get('/', (req, res) => {
            bag(req).n = ((bag(req).n as number) ?? 0) + 1;
            res.json({ n: bag(req).n });
          });
          return app;
        };
        const line = setCookie((await request(appWith(['one', 'two'])).get('/')).headers);
        const id = idOf(line);
        expect(pair(line)).toBe(`connect.sid=${encodeURIComponent(`s:${id}.${hmac(id, 'one')}`)}`);
        const onlySecond = await request(appWith(['two']))
          .get('/')
          .set('Cookie', pair(line));
        expect(onlySecond.body).toEqual({ n: 1 });
        const signedBySecond = `connect.sid=${encodeURIComponent(`s:${id}.${hmac(id, 'two')}`)}`;
        const both = await request(appWith(['one', 'two']))
          .get('/')
          .set('Cookie', signedBySecond);
        expect(both.body).toEqual({ n: 2 });
      });
    });

    describe('when the response ends', () => {
      const shapes: [string, (res: Res) => void][] = [
        ['a body', (res) => res.end('hello')],
        [
          'no body, Content-Length 0',
          (res) => {
            res.setHeader('Content-Length', '0');
            res.end();
          },
        ],
        [
          'writes with Content-Length',
          (res) => {
            res.setHeader('Content-Length', '10');
            res.write('hello');
            res.end('world');
          },
        ],
        [
          'not chunked, Content-Length',
          (res) => {
            res.setHeader('Content-Length', '5');
            res.end('hello');
          },
        ],
      ];
      it.each(shapes)(
        'a store.set that takes 200 ms: %s, the response completes, set once',
        async (_s, send) => {
          const store = new HookStore();
          store.setDelay = 200;
          const { app } = make({ store }, (a) =>
            a.get('/', (req, res) => {
              bag(req).user = 'ada';
              send(res);
            }),
          );
          const res = await request(app).get('/');
          expect(res.status).toBe(200);
          expect(store.calls.set).toBe(1);
          expect(store.data.size).toBe(1);
        },
      );

      it('the stored expiry is the Set-Cookie Expires; the next request moves it', async () => {
        const store = new HookStore();
        const { app } = make({ store, resave: true, cookie: { maxAge: 60_000 } }, (a) =>
          a.get('/', (_req, res) => res.send('ok')),
        );
        const first = await request(app).get('/');
        const line = setCookie(first.headers);
        const id = idOf(line);
        const stored = Date.parse(((store.record(id) as Bag).cookie as Bag).expires as string);
        expect(Math.floor(stored / 1000)).toBe(expiresOf(line) / 1000);
        await wait(1100);
        await request(app).get('/').set('Cookie', pair(line));
        const after = Date.parse(((store.record(id) as Bag).cookie as Bag).expires as string);
        expect(after).toBeGreaterThan(stored);
      });
    });

    describe('the session id', () => {
      it('a sid the store does not have: a new session with a new sid', async () => {
        const store = new HookStore();
        const { app } = make({ store }, (a) => a.get('/', (req, res) => res.send(req.sessionID)));
        const line = setCookie((await request(app).get('/')).headers);
        store.data.clear();
        const res = await request(app).get('/').set('Cookie', pair(line));
        expect(res.text).not.toBe(idOf(line));
        expect(idOf(setCookie(res.headers))).toBe(res.text);
      });

      it('a badly signed sid: a new session, and the store is not asked', async () => {
        const store = new HookStore();
        const { app } = make({ store }, (a) => a.get('/', (req, res) => res.send(req.sessionID)));
        const line = setCookie((await request(app).get('/')).headers);
        const id = idOf(line);
        const gets = store.calls.get;
        const forged = `connect.sid=${encodeURIComponent(`s:${id}.${hmac(id, 'another secret')}`)}`;
        const res = await request(app).get('/').set('Cookie', forged);
        expect(res.text).not.toBe(id);
        expect(store.calls.get).toBe(gets);
      });

      it('an expired session: a new sid, and the library’s MemoryStore drops the old one', async () => {
        const store = new mod.MemoryStore();
        const { app } = make({ store, cookie: { maxAge: 5 } }, (a) =>
          a.get('/', (req, res) => res.send(req.sessionID)),
        );
        const line = setCookie((await request(app).get('/')).headers);
        await wait(20);
        const res = await request(app).get('/').set('Cookie', pair(line));
        expect(res.text).not.toBe(idOf(line));
        const old = await new Promise((resolve) => store.get(idOf(line), (_e, s) => resolve(s)));
        expect(old ?? undefined).toBeUndefined();
      });

      it('a stored record without a cookie', async () => {
        const store = new HookStore();
        const { app } = make({ store }, (a) => a.get('/', (req, res) => res.send(req.sessionID)));
        const line = setCookie((await request(app).get('/')).headers);
        const id = idOf(line);
        store.data.set(id, JSON.stringify({ user: 'ada' }));
        const res = await request(app).get('/').set('Cookie', pair(line));
        if (sess) {
          // README item 25: a record that is not a session is no session (a new one).
          expect(res.status).toBe(200);
          expect(res.text).not.toBe(id);
        } else {
          expect(res.status).toBe(500);
          expect(res.text).toMatch(/Cannot read prop/);
        }
      });
    });

    describe('the proxy option', () => {
      const secureApp = (proxy: boolean | undefined, secureReq?: boolean) =>
        make(
          { proxy, cookie: { secure: true } },
          (a) => a.get('/', (_req, res) => res.send('ok')),
          (a) =>
            a.use((req, _res, next) => {
              if (secureReq) Object.defineProperty(req, 'secure', { value: true });
              next();
            }),
        ).app;

      it('proxy true: the first X-Forwarded-Proto value counts', async () => {
        const app = secureApp(true);
        expect(
          setCookie((await request(app).get('/').set('X-Forwarded-Proto', 'https')).headers),
        ).toBeDefined();
        expect(
          setCookie((await request(app).get('/').set('X-Forwarded-Proto', 'https,http')).headers),
        ).toBeDefined();
        expect(
          setCookie((await request(app).get('/').set('X-Forwarded-Proto', 'http,https')).headers),
        ).toBeUndefined();
        expect(setCookie((await request(app).get('/')).headers)).toBeUndefined();
      });

      it('proxy false: neither X-Forwarded-Proto nor req.secure counts', async () => {
        expect(
          setCookie(
            (await request(secureApp(false)).get('/').set('X-Forwarded-Proto', 'https')).headers,
          ),
        ).toBeUndefined();
        expect(setCookie((await request(secureApp(false, true)).get('/')).headers)).toBeUndefined();
      });

      it('proxy unset: X-Forwarded-Proto alone does not count, req.secure does', async () => {
        expect(
          setCookie(
            (await request(secureApp(undefined)).get('/').set('X-Forwarded-Proto', 'https'))
              .headers,
          ),
        ).toBeUndefined();
        expect(
          setCookie((await request(secureApp(undefined, true)).get('/')).headers),
        ).toBeDefined();
      });

      it("secure 'auto' follows the same trust", async () => {
        const autoApp = (proxy: boolean | undefined, secureReq?: boolean) =>
          make(
            { proxy, cookie: { secure: 'auto' } },
            (a) => a.get('/', (_req, res) => res.send('ok')),
            (a) =>
              a.use((req, _res, next) => {
                if (secureReq) Object.defineProperty(req, 'secure', { value: true });
                next();
              }),
          ).app;
        const xfp = async (app: express5.Express) =>
          setCookie((await request(app).get('/').set('X-Forwarded-Proto', 'https')).headers);
        expect(await xfp(autoApp(true))).toMatch(/; Secure/);
        expect(await xfp(autoApp(false))).not.toMatch(/; Secure/);
        expect(await xfp(autoApp(undefined))).not.toMatch(/; Secure/);
        expect(setCookie((await request(autoApp(undefined, true)).get('/')).headers)).toMatch(
          /; Secure/,
        );
      });
    });

    describe('the cookie option', () => {
      it("path '/foo/bar': a cookie under it only", async () => {
        const { app } = make({ cookie: { path: '/foo/bar' } }, (a) =>
          a.use((_req, res) => res.send('ok')),
        );
        expect(setCookie((await request(app).get('/')).headers)).toBeUndefined();
        expect(setCookie((await request(app).get('/foo/bar/baz')).headers)).toMatch(
          /; Path=\/foo\/bar/,
        );
        const absolute = await rawGet(app as never, 'http://foo/bar');
        expect(absolute.status).toBe(200);
        expect(setCookie(absolute.headers)).toBeUndefined();
      });

      it('mounted under /foo: the original URL decides', async () => {
        const app = framework();
        app.use(
          '/foo',
          library({
            resave: false,
            saveUninitialized: true,
            cookie: { path: '/foo/bar' },
          } as never),
        );
        app.use((_req, res) => res.send('ok'));
        expect(setCookie((await request(app).get('/foo/bar')).headers)).toBeDefined();
        expect(setCookie((await request(app).get('/foo/foo/bar')).headers)).toBeUndefined();
      });

      it('genid: a non-function throws; its id is signed exactly, percent-encoded, and it gets req', async () => {
        expect(() =>
          sess
            ? session({ secret: SECRET, genid: 'apple' } as never)
            : expressSession({ secret: SECRET, genid: 'apple' as never }),
        ).toThrow(/genid.*must/);
        const line = async (genid: (req: Req) => string) => {
          const { app } = make({ genid }, (a) => a.use((_req, res) => res.send('ok')));
          return setCookie((await request(app).get('/foo')).headers);
        };
        expect(pair(await line(() => 'apple'))).toBe(
          `connect.sid=s%3Aapple.${encodeURIComponent(hmac('apple', SECRET))}`,
        );
        expect(pair(await line(() => '%'))).toBe(
          `connect.sid=s%3A%25.${encodeURIComponent(hmac('%', SECRET))}`,
        );
        expect(pair(await line((req) => req.url))).toMatch(/^connect\.sid=s%3A%2Ffoo\./);
      });

      it('name and its legacy alias key set the cookie name; connect.sid by default', async () => {
        const nameOf = async (options: Options) => {
          const { app } = make(options, (a) => a.use((_req, res) => res.send('ok')));
          const raw = (await request(app).get('/')).headers['set-cookie'] as unknown as string[];
          return raw[0]?.split('=')[0];
        };
        expect(await nameOf({})).toBe('connect.sid');
        expect(await nameOf({ key: 'legacy' })).toBe('legacy');
        expect(await nameOf({ name: 'named' })).toBe('named');
      });
    });

    describe('rolling, resave, saveUninitialized', () => {
      const counter = (options: Options, store = new HookStore()) => {
        const { app, errors } = make({ store, cookie: { maxAge: 60_000 }, ...options }, (a) => {
          a.get('/', (_req, res) => res.send('ok'));
          a.get('/touch', (req, res) => {
            bag(req).n = ((bag(req).n as number) ?? 0) + 1;
            res.send('session saved');
          });
          a.get('/nested', (req, res) => {
            const user = (bag(req).user ?? { cookie: 0 }) as { cookie: number };
            user.cookie++;
            bag(req).user = user;
            res.send(String(user.cookie));
          });
        });
        return { app, errors, store };
      };

      it('rolling off: no cookie for an unchanged session; on: a cookie each time', async () => {
        for (const rolling of [false, true]) {
          const { app } = counter({ rolling });
          const line = setCookie((await request(app).get('/')).headers);
          const again = await request(app).get('/').set('Cookie', pair(line));
          expect(setCookie(again.headers) !== undefined).toBe(rolling);
        }
      });

      it('rolling with saveUninitialized false: untouched -> nothing; modified -> stored and a cookie', async () => {
        const { app, store } = counter({ rolling: true, saveUninitialized: false });
        const plain = await request(app).get('/');
        expect(plain.headers['set-cookie']).toBeUndefined();
        expect(store.calls.set).toBe(0);
        const changed = await request(app).get('/touch');
        expect(setCookie(changed.headers)).toBeDefined();
        expect(store.data.size).toBe(1);
        const { app: app2, store: store2 } = counter({ rolling: true, saveUninitialized: true });
        expect(setCookie((await request(app2).get('/')).headers)).toBeDefined();
        expect(store2.data.size).toBe(1);
      });

      it('resave true (the default): an unmodified session is written once per request', async () => {
        const { app, store } = counter({ resave: true });
        const line = setCookie((await request(app).get('/')).headers);
        expect(store.calls.set).toBe(1);
        await request(app).get('/').set('Cookie', pair(line));
        expect(store.calls.set).toBe(2);
        await request(app).get('/').set('Cookie', pair(line));
        expect(store.calls.set).toBe(3);
      });

      it('resave false: unmodified -> no write; modified, also a nested key named cookie -> a write', async () => {
        const { app, store } = counter({ resave: false });
        const line = setCookie((await request(app).get('/nested')).headers);
        expect(store.calls.set).toBe(1);
        await request(app).get('/').set('Cookie', pair(line));
        expect(store.calls.set).toBe(1);
        const nested = await request(app).get('/nested').set('Cookie', pair(line));
        expect(nested.text).toBe('2');
        expect(store.calls.set).toBe(2);
        expect(store.record(idOf(line))?.user).toEqual({ cookie: 2 });
      });

      it('resave false and store.touch fails', async () => {
        const { app, store, errors } = counter({ resave: false });
        const line = setCookie((await request(app).get('/')).headers);
        store.fail.add('touch');
        const res = await request(app).get('/').set('Cookie', pair(line));
        expect(res.status).toBe(200);
        if (sess) {
          // README item 2: a fixed-expiry cookie without rolling is not touched.
          expect(store.calls.touch).toBe(0);
          expect(errors).toEqual([]);
        } else {
          await until(() => errors.length > 0);
          expect(store.calls.touch).toBe(1);
          expect(errors).toEqual(['boom!']);
        }
      });

      it('saveUninitialized: true stores a new session; false stores nothing, never touches; modified is stored', async () => {
        const on = counter({ saveUninitialized: true });
        expect(setCookie((await request(on.app).get('/')).headers)).toBeDefined();
        expect(on.store.data.size).toBe(1);
        const off = counter({ saveUninitialized: false });
        expect((await request(off.app).get('/')).headers['set-cookie']).toBeUndefined();
        expect(off.store.data.size).toBe(0);
        expect(off.store.calls.touch).toBe(0);
        expect(setCookie((await request(off.app).get('/touch')).headers)).toBeDefined();
        expect(off.store.data.size).toBe(1);
      });

      it('store.set fails for a new session', async () => {
        const store = new HookStore();
        store.fail.add('set');
        const { app, errors } = counter({ saveUninitialized: true }, store);
        const res = await request(app).get('/touch');
        await until(() => errors.length > 0);
        expect(errors).toHaveLength(1);
        expect(errors[0]).toMatch(/boom!/);
        if (sess) {
          // README item 18: the failure replaces the response.
          expect(res.status).toBe(500);
          expect(res.headers['set-cookie']).toBeUndefined();
        } else {
          expect(res.status).toBe(200);
          expect(res.text).toBe('session saved');
        }
      });
    });

    describe('the unset option', () => {
      it('an unknown value throws at setup', () => {
        expect(() =>
          sess
            ? session({ secret: SECRET, unset: 'bogus' } as never)
            : expressSession({ secret: SECRET, unset: 'bogus' as never }),
        ).toThrow(/unset.*must/);
      });

      const unsetApp = (unset: 'keep' | 'destroy', store = new HookStore()) => {
        const { app, errors } = make({ store, unset }, (a) => {
          a.get('/set', (req, res) => {
            bag(req).user = 'ada';
            res.send('set');
          });
          a.get('/unset', (req, res) => {
            (req as unknown as Bag).session = null;
            res.send('unset');
          });
        });
        return { app, errors, store };
      };

      it("'keep' (the default): req.session = null keeps the stored session", async () => {
        const { app, store } = unsetApp('keep');
        const line = setCookie((await request(app).get('/set')).headers);
        await request(app).get('/unset').set('Cookie', pair(line));
        expect(store.record(idOf(line))?.user).toBe('ada');
      });

      it("'destroy': req.session = null destroys it; on a new session nothing is stored or sent", async () => {
        const { app, store } = unsetApp('destroy');
        const line = setCookie((await request(app).get('/set')).headers);
        await request(app).get('/unset').set('Cookie', pair(line));
        expect(store.data.size).toBe(0);
        const fresh = await request(app).get('/unset');
        expect(fresh.headers['set-cookie']).toBeUndefined();
        expect(store.data.size).toBe(0);
      });

      it("'destroy' and store.destroy fails", async () => {
        const { app, store, errors } = unsetApp('destroy');
        const line = setCookie((await request(app).get('/set')).headers);
        store.fail.add('destroy');
        const res = await request(app).get('/unset').set('Cookie', pair(line));
        await until(() => errors.length > 0);
        expect(errors).toHaveLength(1);
        expect(errors[0]).toMatch(/boom!/);
        // README item 18 for sess: the failure replaces the response.
        expect(res.status).toBe(sess ? 500 : 200);
      });
    });

    describe('res.write and res.end patched by other code', () => {
      const patch = (res: Res) => {
        const write = res.write;
        const end = res.end;
        res.write = function (this: Res, chunk: unknown, ...rest: unknown[]) {
          return (write as (...a: unknown[]) => boolean).call(
            this,
            String(chunk).toLowerCase(),
            ...rest,
          );
        } as never;
        res.end = function (this: Res, chunk: unknown, ...rest: unknown[]) {
          return (end as (...a: unknown[]) => Res).call(
            this,
            typeof chunk === 'string' ? chunk.toLowerCase() : chunk,
            ...rest,
          );
        } as never;
      };
      it.each(['before', 'after'])('patched %s the middleware: the body intact', async (when) => {
        const app = framework();
        if (when === 'before')
          app.use((_req, res, next) => {
            patch(res);
            next();
          });
        app.use(library({ resave: false, saveUninitialized: true } as never));
        if (when === 'after')
          app.use((_req, res, next) => {
            patch(res);
            next();
          });
        app.get('/', (req, res) => {
          bag(req).user = 'ada';
          res.setHeader('Content-Type', 'text/plain');
          res.write('HELLO, ');
          res.end('WORLD');
        });
        const res = await request(app).get('/');
        expect(res.text).toBe('hello, world');
        expect(setCookie(res.headers)).toBeDefined();
      });

      it('end twice with a Content-Length set in between: the same as without a session', async () => {
        const outcome = async (withSession: boolean) => {
          const app = framework();
          const seen: string[] = [];
          if (withSession) app.use(library({ resave: false, saveUninitialized: true } as never));
          app.get('/', (_req, res) => {
            res.end('hello, world');
            try {
              res.setHeader('Content-Length', '3');
              res.end('foo');
            } catch (err) {
              seen.push((err as Error & { code?: string }).code ?? 'error');
            }
          });
          const res = await request(app).get('/');
          return { status: res.status, text: res.text, seen };
        };
        expect(await outcome(true)).toEqual(await outcome(false));
      });
    });

    describe('req.session', () => {
      const api = (options: Options = {}, store = new HookStore()) => {
        const { app, errors } = make({ store, ...options }, (a) => {
          a.get('/', (req, res) => res.json({ n: bag(req).n ?? 0, id: req.sessionID }));
          a.get('/inc', (req, res) => {
            bag(req).n = ((bag(req).n as number) ?? 0) + 1;
            res.json({ n: bag(req).n });
          });
          a.get('/destroy', (req, res, next) =>
            req.session.destroy((err) =>
              err ? next(err) : res.json({ session: typeof req.session }),
            ),
          );
          a.get('/regenerate', (req, res, next) =>
            req.session.regenerate((err) => (err ? next(err) : res.send(req.sessionID))),
          );
          a.get('/reload', (req, res, next) => {
            bag(req).n = -1;
            req.session.reload((err) => (err ? next(err) : res.json({ n: bag(req).n })));
          });
          a.get('/reload20', (req, res) => {
            // express-session's own shape: each reload's error is ignored and
            // the next reload is called from inside its callback, 20 deep.
            let left = 20;
            const errors: string[] = [];
            const again = (err?: unknown) => {
              if (err) errors.push((err as Error).message);
              if (--left === 0) {
                res.json({ answer: 'ok', errors: [...new Set(errors)], count: errors.length });
                return;
              }
              try {
                req.session.reload(again);
              } catch (thrown) {
                res.status(500).send((thrown as Error).message);
              }
            };
            store.data.clear();
            again();
          });
          a.get('/save', (req, res, next) => {
            bag(req).n = 10;
            req.session.save((err) => {
              if (err) return next(err);
              res.json({ stored: store.record(req.sessionID)?.n ?? null, sets: store.calls.set });
            });
          });
          a.get('/reload-save', (req, res, next) => {
            req.session.reload((err) => {
              if (err) return next(err);
              bag(req).n = 20;
              req.session.save((e) => (e ? next(e) : res.send('saved')));
            });
          });
          a.get('/touch', (req, res) => {
            bag(req).n = ((bag(req).n as number) ?? 0) + 1;
            req.session.touch();
            res.send('ok');
          });
        });
        return { app, errors, store };
      };

      it('counts persist; store.load(sid) gives the session back', async () => {
        const store = new mod.MemoryStore();
        const { app } = api({}, store as unknown as HookStore);
        const line = setCookie((await request(app).get('/inc')).headers);
        expect((await request(app).get('/inc').set('Cookie', pair(line))).body).toEqual({ n: 2 });
        const loaded = await new Promise<Bag | undefined>((resolve, reject) =>
          store.load(idOf(line), (err, s) => (err ? reject(err) : resolve(s as unknown as Bag))),
        );
        expect(loaded?.n).toBe(2);
        expect(typeof loaded?.save).toBe('function');
      });

      it('rolling off: a cookie for a new or modified session only', async () => {
        const { app } = api({ cookie: { maxAge: 60_000 } });
        const line = setCookie((await request(app).get('/inc')).headers);
        expect(line).toBeDefined();
        expect(
          (await request(app).get('/').set('Cookie', pair(line))).headers['set-cookie'],
        ).toBeUndefined();
        expect(
          setCookie((await request(app).get('/inc').set('Cookie', pair(line))).headers),
        ).toBeDefined();
      });

      it("the store's disconnect and connect events", async () => {
        const store = new HookStore();
        const { app } = make({ store }, (a) =>
          a.get('/', (req, res) => res.json({ has: req.session !== undefined })),
        );
        store.emit('disconnect');
        const down = await request(app).get('/');
        store.emit('connect');
        const up = await request(app).get('/');
        expect(up.body).toEqual({ has: true });
        expect(setCookie(up.headers)).toBeDefined();
        if (sess) {
          // README item 12: no store events; the store is called.
          expect(down.body).toEqual({ has: true });
        } else {
          expect(down.body).toEqual({ has: false });
          expect(down.headers['set-cookie']).toBeUndefined();
        }
      });

      it('destroy(cb): no req.session afterwards, no cookie', async () => {
        const { app, store } = api();
        const line = setCookie((await request(app).get('/inc')).headers);
        const res = await request(app).get('/destroy').set('Cookie', pair(line));
        expect(res.body).toEqual({ session: 'undefined' });
        expect(res.headers['set-cookie']).toBeUndefined();
        expect(store.data.size).toBe(0);
      });

      it('regenerate(cb): a new id and its cookie', async () => {
        const { app } = api();
        const line = setCookie((await request(app).get('/inc')).headers);
        const res = await request(app).get('/regenerate').set('Cookie', pair(line));
        expect(res.text).not.toBe(idOf(line));
        expect(idOf(setCookie(res.headers))).toBe(res.text);
      });

      it('reload(cb): what the store holds now; a session the store lost fails', async () => {
        const { app, store } = api();
        const line = setCookie((await request(app).get('/inc')).headers);
        // Another request's write.
        await request(app).get('/inc').set('Cookie', pair(line));
        expect((await request(app).get('/reload').set('Cookie', pair(line))).body).toEqual({
          n: 2,
        });
        store.data.clear();
        const lost = await request(app).get('/reload').set('Cookie', pair(line));
        expect(lost.status).toBe(500);
        expect(lost.text).toMatch(/failed to load session/);
      });

      it('20 nested reloads of a session the store lost: no throw, one answer', async () => {
        const { app } = api();
        const line = setCookie((await request(app).get('/inc')).headers);
        const res = await request(app).get('/reload20').set('Cookie', pair(line));
        expect(res.status).toBe(200);
        expect(res.body).toEqual({ answer: 'ok', errors: ['failed to load session'], count: 19 });
      });

      it('save(cb): stored before the callback, and not written again at the end', async () => {
        for (const saveUninitialized of [true, false]) {
          const { app, store } = api({ saveUninitialized });
          const res = await request(app).get('/save');
          expect(res.body).toEqual({ stored: 10, sets: 1 });
          expect(store.calls.set).toBe(1);
          const line = setCookie(res.headers);
          expect(line).toBeDefined();
          store.calls.set = 0;
          expect((await request(app).get('/reload-save').set('Cookie', pair(line))).text).toBe(
            'saved',
          );
          expect(store.calls.set).toBe(1);
          expect(store.record(idOf(line))?.n).toBe(20);
        }
      });

      it('touch() with resave false and a modified session: the stored expiry moves', async () => {
        const { app, store } = api({ cookie: { maxAge: 60_000 } });
        const line = setCookie((await request(app).get('/touch')).headers);
        const id = idOf(line);
        const before = store.expiry(id);
        await wait(50);
        await request(app).get('/touch').set('Cookie', pair(line));
        expect(store.expiry(id)).toBeGreaterThan(before);
      });
    });

    describe('req.session.cookie', () => {
      it('httpOnly and secure changed in a handler show in Set-Cookie', async () => {
        const { app } = make({ proxy: true }, (a) =>
          a.get('/', (req, res) => {
            req.session.cookie.httpOnly = false;
            req.session.cookie.secure = true;
            res.send('ok');
          }),
        );
        const line = setCookie(
          (await request(app).get('/').set('X-Forwarded-Proto', 'https')).headers,
        );
        expect(line).toMatch(/; Secure/);
        expect(line).not.toMatch(/HttpOnly/);
      });

      it('no maxAge: a browser-session cookie, sent once', async () => {
        const { app } = make({ cookie: { path: '/' } }, (a) =>
          a.get('/', (_req, res) => res.send('ok')),
        );
        const line = setCookie((await request(app).get('/')).headers);
        expect(line).not.toMatch(/Expires/);
        expect(
          (await request(app).get('/').set('Cookie', pair(line))).headers['set-cookie'],
        ).toBeUndefined();
      });

      it('options with priority, changed per request: Expires, no HttpOnly, Path, no Secure, Priority', async () => {
        const { app } = make(
          {
            proxy: true,
            cookie: {
              httpOnly: false,
              maxAge: 5000,
              path: '/admin',
              priority: 'high',
              secure: true,
            },
          },
          (a) =>
            a.use((req, res) => {
              req.session.cookie.secure = false;
              res.send('ok');
            }),
        );
        const line = setCookie(
          (await request(app).get('/admin').set('X-Forwarded-Proto', 'https')).headers,
        );
        expect(line).toMatch(/; Expires=/);
        expect(line).toMatch(/; Path=\/admin/);
        expect(line).toMatch(/; Priority=High/);
        expect(line).not.toMatch(/HttpOnly|Secure/);
      });

      it('expires: new Date(NaN)', async () => {
        const options = { cookie: { expires: new Date(Number.NaN) } };
        if (sess) {
          // README item 19: a SessConfigError at startup.
          expect(() => session({ secret: SECRET, ...options } as never)).toThrow(/expires/);
          return;
        }
        const { app, errors } = make(options, (a) => a.get('/', (_req, res) => res.send('ok')));
        const res = await request(app).get('/');
        expect(res.status).toBe(200);
        await until(() => errors.length > 0);
        expect(errors).toEqual(['option expires is invalid']);
      });

      it('Set-Cookie from res.setHeader before, or given to res.writeHead, is kept', async () => {
        const { app } = make({}, (a) => {
          a.get('/set', (_req, res) => {
            res.setHeader('Set-Cookie', 'previous=cookie');
            res.end('ok');
          });
          a.get('/head', (_req, res) => {
            res.writeHead(200, { 'Set-Cookie': 'previous=cookie' });
            res.end('ok');
          });
        });
        for (const path of ['/set', '/head']) {
          const raw = (await request(app).get(path)).headers['set-cookie'] as unknown as string[];
          expect(raw).toHaveLength(2);
          expect(raw[0]).toBe('previous=cookie');
          expect(raw[1]).toMatch(/^connect\.sid=/);
        }
      });

      it.each([2000, 1999])(
        'originalMaxAge is the configured %i on every request, also from a JSON store',
        async (maxAge) => {
          const store = new HookStore();
          const { app } = make({ store, cookie: { maxAge } }, (a) =>
            a.get('/', (req, res) => res.json({ original: req.session.cookie.originalMaxAge })),
          );
          const first = await request(app).get('/');
          expect(first.body).toEqual({ original: maxAge });
          const second = await request(app)
            .get('/')
            .set('Cookie', pair(setCookie(first.headers)));
          expect(second.body).toEqual({ original: maxAge });
        },
      );

      it('maxAge changed per request: Expires is the Date header plus it, up to 3000000000', async () => {
        const { app } = make({ cookie: { maxAge: 2000 } }, (a) =>
          a.get('/', (req, res) => {
            if (req.query.age) req.session.cookie.maxAge = Number(req.query.age);
            res.send('ok');
          }),
        );
        for (const age of [undefined, 5000, 3_000_000_000]) {
          const res = await request(app).get(age ? `/?age=${age}` : '/');
          const date = Date.parse(res.headers.date as string);
          const delta = expiresOf(setCookie(res.headers)) - date;
          expect(Math.abs(delta - (age ?? 2000))).toBeLessThanOrEqual(1000);
        }
      });

      it('expires = new Date(0) and expires = null', async () => {
        const { app } = make({ cookie: { maxAge: 60_000 } }, (a) => {
          a.get('/zero', (req, res) => {
            req.session.cookie.expires = new Date(0);
            res.send('ok');
          });
          a.get('/null', (req, res) => {
            req.session.cookie.expires = null as never;
            bag(req).n = ((bag(req).n as number) ?? 0) + 1;
            res.send('ok');
          });
          a.get('/change', (req, res) => {
            bag(req).n = ((bag(req).n as number) ?? 0) + 1;
            res.send('ok');
          });
        });
        expect(setCookie((await request(app).get('/zero')).headers)).toMatch(
          /; Expires=Thu, 01 Jan 1970 00:00:00 GMT/,
        );
        const line = setCookie((await request(app).get('/null')).headers);
        expect(line).not.toMatch(/Expires/);
        const next = await request(app).get('/change').set('Cookie', pair(line));
        expect(next.headers['set-cookie']).toBeUndefined();
      });

      it('partitioned: true without secure', async () => {
        const options = { cookie: { partitioned: true } };
        if (sess) {
          // README item 20: browsers that know Partitioned drop it without Secure: refused at startup.
          expect(() => session({ secret: SECRET, ...options } as never)).toThrow(/partitioned/i);
          return;
        }
        const { app } = make(options, (a) => a.get('/', (_req, res) => res.send('ok')));
        const line = setCookie((await request(app).get('/')).headers);
        expect(line).toMatch(/; Partitioned/);
        expect(line).not.toMatch(/Secure/);
      });

      it('partitioned', async () => {
        const lineWith = async (cookie: Bag) => {
          const { app } = make({ proxy: true, cookie }, (a) =>
            a.get('/', (_req, res) => res.send('ok')),
          );
          return setCookie((await request(app).get('/').set('X-Forwarded-Proto', 'https')).headers);
        };
        expect(await lineWith({ secure: true })).not.toMatch(/Partitioned/);
        expect(await lineWith({ secure: true, partitioned: false })).not.toMatch(/Partitioned/);
        expect(await lineWith({ secure: true, partitioned: true })).toMatch(/; Partitioned/);
      });
    });

    describe('a synchronous store', () => {
      it('saves, and unset destroy with write then end', async () => {
        const store = new HookStore();
        store.sync = true;
        const { app } = make({ store, unset: 'destroy' }, (a) => {
          a.get('/', (req, res) => {
            bag(req).hits = ((bag(req).hits as number) ?? 0) + 1;
            res.send(`hits: ${bag(req).hits}`);
          });
          a.get('/destroy', (req, res) => {
            bag(req).hits = ((bag(req).hits as number) ?? 0) + 1;
            const hits = bag(req).hits;
            (req as unknown as Bag).session = null;
            res.setHeader('Content-Type', 'text/plain');
            res.write('destroyed\n');
            res.end(`hits: ${hits}`);
          });
        });
        const first = await request(app).get('/');
        expect(first.text).toBe('hits: 1');
        const line = setCookie(first.headers);
        const gone = await request(app).get('/destroy').set('Cookie', pair(line));
        expect(gone.text).toBe('destroyed\nhits: 2');
        expect(store.data.size).toBe(0);
      });
    });

    describe('cookie-parser', () => {
      it.each([
        'a signed value in req.cookies',
        'an unsigned value in req.cookies',
        'a badly signed value in req.cookies',
        'the id in req.signedCookies',
      ])(
        'the sid only where cookie-parser puts it (the Cookie header replaced): %s',
        async (where) => {
          const store = new HookStore();
          let id = '';
          const { app } = make(
            { store },
            (a) => a.get('/', (req, res) => res.send(req.sessionID)),
            (a) =>
              a.use((req, _res, next) => {
                // What cookie-parser(SECRET) leaves, then code that rewrites the header.
                const r = req as unknown as Bag;
                r.secret = SECRET;
                const signedValue = `s:${id}.${hmac(id, SECRET)}`;
                const value = where.startsWith('a signed')
                  ? signedValue
                  : where.startsWith('an unsigned')
                    ? id
                    : `s:${id}.${hmac(id, 'another secret')}`;
                r.cookies = where.endsWith('signedCookies') ? {} : { 'connect.sid': value };
                r.signedCookies = where.endsWith('signedCookies') ? { 'connect.sid': id } : {};
                if (where.endsWith('signedCookies')) delete req.headers.cookie;
                else req.headers.cookie = 'other=1';
                next();
              }),
          );
          id = idOf(setCookie((await request(app).get('/')).headers));
          const res = await request(app).get('/');
          const found = res.text === id;
          // README item 11: sess reads the Cookie header only.
          const readByExpressSession =
            where.startsWith('a signed') || where.endsWith('signedCookies');
          expect(found).toBe(sess ? false : readByExpressSession);
        },
      );
    });

    describe('over TLS', () => {
      it('a secure cookie is set over https, not over plain http', async () => {
        const routes = (a: express5.Express) => a.get('/', (_req, res) => res.send('ok'));
        const { app } = make({ cookie: { secure: true } }, routes);
        const server = createHttpsServer(tls(), app);
        servers.push(server);
        const overTls = await request(server).get('/').disableTLSCerts();
        expect(overTls.status).toBe(200);
        expect(setCookie(overTls.headers)).toMatch(/; Secure/);
        const plain = await request(app).get('/');
        expect(plain.status).toBe(200);
        expect(setCookie(plain.headers)).toBeUndefined();
      });
    });
  },
);

let credentials: { key: string; cert: string } | undefined;
/** A throwaway self-signed certificate for 127.0.0.1, made with the openssl CLI. */
function tls(): { key: string; cert: string } {
  if (credentials) return credentials;
  const dir = mkdtempSync(join(tmpdir(), 'sess-upstream-'));
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=127.0.0.1',
      '-keyout',
      join(dir, 'key.pem'),
      '-out',
      join(dir, 'cert.pem'),
    ],
    { stdio: 'ignore' },
  );
  credentials = {
    key: readFileSync(join(dir, 'key.pem'), 'utf8'),
    cert: readFileSync(join(dir, 'cert.pem'), 'utf8'),
  };
  rmSync(dir, { recursive: true, force: true });
  return credentials;
}

describe.each(Object.entries(MODULES))('the Cookie class of %s', (_name, mod) => {
  it('defaults, and the options given', () => {
    const Cookie = (mod as unknown as { Cookie: new (o?: object) => Bag }).Cookie;
    const plain = new Cookie();
    expect(plain.expires ?? null).toBeNull();
    expect(plain.httpOnly).toBe(true);
    expect(plain.path).toBe('/');
    expect(plain.maxAge ?? null).toBeNull();
    const expires = new Date(Date.now() + 60_000);
    const dated = new Cookie({ expires });
    expect(dated.expires).toBe(expires);
    expect(dated.maxAge).not.toBeNull();
    expect(new Cookie({ httpOnly: false }).httpOnly).toBe(false);
    expect(new Cookie({ path: '/foo' }).path).toBe('/foo');
  });
});

// A plain http server (as express-session's own suite uses): req.url === ''.
describe.each(LIBRARIES)('an empty req.url, on %s', (_name, library) => {
  it('still sets the cookie', async () => {
    const middleware = library({ resave: false, saveUninitialized: true });
    const handler = (req: IncomingMessage, res: import('node:http').ServerResponse) => {
      req.url = '';
      middleware(req as never, res as never, (err?: unknown) => {
        res.statusCode = err ? 500 : 200;
        res.end(err ? String(err) : 'ok');
      });
    };
    const res = await request(handler).get('/');
    expect(res.status).toBe(200);
    expect(setCookie(res.headers)).toBeDefined();
  });
});
