// Issue 13, section 3: what a migrating app hits where express-session and
// sess used to differ. Each test is the app-level behaviour express-session has.
import { createHmac } from 'node:crypto';
import type { SessionRecord } from '@sess/core';
import express5 from 'express';
import expressSession from 'express-session';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import {
  MemoryStore,
  SessConfigError,
  SessError,
  Session,
  type SessionMiddlewareOptions,
  Store,
  session,
} from '../src/index.js';
import { EXPRESS, type ExpressFactory, idOf, makeApp, pair, SECRET, setCookie } from './helpers.js';

type Cb = (err?: unknown, value?: unknown) => void;
type Record_ = Record<string, unknown>;

declare module '@sess/core' {
  interface SessionData {
    n: number;
  }
}

/** An app counting `n` in the session, and reporting what the session is. */
function counter(express: ExpressFactory, options: Partial<SessionMiddlewareOptions>) {
  return makeApp(express, options, (app) => {
    app.get('/', (req, res) => {
      req.session.n = (req.session.n ?? 0) + 1;
      res.json({ n: req.session.n, id: req.sessionID, isSession: req.session instanceof Session });
    });
    app.get('/k/:k', (req, res) => {
      (req.session as unknown as Record_)[`k${req.params.k}`] = Number(req.params.k);
      res.end();
    });
  });
}

async function twoVisits(app: Parameters<typeof request>[0]) {
  const first = await request(app).get('/');
  const line = setCookie(first.headers);
  const second = await request(app).get('/').set('Cookie', pair(line));
  return { first, second, id: idOf(line) };
}

describe.each(EXPRESS)('%s', (_label, express) => {
  describe('session.MemoryStore is called through its own methods', () => {
    it('an instance whose get an app patched (an outage) fails the request', async () => {
      const store = new MemoryStore();
      const app = counter(express, { store });
      const first = await request(app).get('/');
      store.get = (_sid, cb) => cb(new Error('simulated outage'));
      const res = await request(app)
        .get('/')
        .set('Cookie', pair(setCookie(first.headers)));
      expect(res.status).toBe(500);
      expect(res.body).toMatchObject({ error: 'StoreError', code: 'SESS_STORE' });
      expect(res.body.message).toContain('simulated outage');
    });

    it('patched set and destroy are the ones called; compareAndSet is not used past a patched set', async () => {
      const store = new MemoryStore();
      const calls: string[] = [];
      const { set, destroy } = store;
      store.set = (sid, s, cb) => {
        calls.push('set');
        set.call(store, sid, s, cb);
      };
      store.destroy = (sid, cb) => {
        calls.push('destroy');
        destroy.call(store, sid, cb);
      };
      const app = makeApp(express, { store }, (a) => {
        a.get('/', (req, res) => {
          req.session.n = (req.session.n ?? 0) + 1;
          res.json({ n: req.session.n });
        });
        a.get('/logout', (req, res, next) => {
          req.session.destroy((err) => (err ? next(err) : res.end()));
        });
      });
      const { second, id } = await twoVisits(app);
      expect(second.body.n).toBe(2);
      expect(calls).toEqual(['set', 'set']);
      await request(app)
        .get('/logout')
        .set('Cookie', pair(setCookie((await request(app).get('/')).headers)));
      expect(calls.at(-1)).toBe('destroy');
      store.set = (_sid, _s, cb) => cb?.(new Error('disk full'));
      const failed = await request(app).get('/');
      expect(failed.status).toBe(500);
      expect(failed.body.message).toContain('disk full');
      expect(id).toBeTruthy();
    });

    it('a patched touch is called (rolling)', async () => {
      const store = new MemoryStore();
      let touched = 0;
      const touch = store.touch?.bind(store);
      store.touch = (sid, s, cb) => {
        touched++;
        touch?.(sid, s, cb);
      };
      const app = makeApp(express, { store, rolling: true, resave: false }, (a) => {
        a.get('/set', (req, res) => {
          req.session.n = 1;
          res.end();
        });
        a.get('/read', (req, res) => {
          res.json({ n: req.session.n ?? null });
        });
      });
      const first = await request(app).get('/set');
      const res = await request(app)
        .get('/read')
        .set('Cookie', pair(setCookie(first.headers)));
      expect(res.body.n).toBe(1);
      expect(touched).toBe(1);
    });

    it('a subclass overriding get and set is honoured', async () => {
      const seen: string[] = [];
      class AuditedStore extends MemoryStore {
        override get(sid: string, cb: (err: unknown, s?: SessionRecord | null) => void) {
          seen.push('get');
          super.get(sid, cb);
        }
        override set(sid: string, s: SessionRecord, cb?: Cb) {
          seen.push('set');
          super.set(sid, s, cb);
        }
      }
      const store = new AuditedStore();
      const { second } = await twoVisits(counter(express, { store }));
      expect(second.body.n).toBe(2);
      expect(seen).toEqual(['set', 'get', 'set']);
    });

    it('unpatched, it keeps compareAndSet: parallel requests changing different keys all persist', async () => {
      const store = new MemoryStore();
      const app = counter(express, { store, resave: false });
      const first = await request(app).get('/');
      const cookie = pair(setCookie(first.headers));
      const server = app.listen(0, '127.0.0.1');
      try {
        await new Promise((r) => server.once('listening', r));
        const responses = await Promise.all(
          Array.from({ length: 20 }, (_, k) =>
            request(server).get(`/k/${k}`).set('Cookie', cookie),
          ),
        );
        expect(responses.map((r) => r.status)).toEqual(Array(20).fill(200));
      } finally {
        server.close();
      }
      const record = await new Promise<Record_>((resolve, reject) =>
        store.get(first.body.id, (err, s) => (err ? reject(err) : resolve(s as Record_))),
      );
      for (let k = 0; k < 20; k++) expect(record[`k${k}`], `k${k}`).toBe(k);
    });
  });

  it("a get error with code 'ENOENT' is no session (a new one), not a 500", async () => {
    const data = new Map<string, string>();
    class FileLikeStore extends Store {
      get(sid: string, cb: Cb) {
        const raw = data.get(sid);
        if (raw === undefined) {
          const err = Object.assign(new Error(`ENOENT: no such file, open '${sid}.json'`), {
            code: 'ENOENT',
          });
          setImmediate(() => cb(err));
        } else setImmediate(() => cb(null, JSON.parse(raw)));
      }
      set(sid: string, s: object, cb?: Cb) {
        data.set(sid, JSON.stringify(s));
        setImmediate(() => cb?.());
      }
      destroy(sid: string, cb?: Cb) {
        data.delete(sid);
        setImmediate(() => cb?.());
      }
    }
    const app = counter(express, { store: new FileLikeStore() });
    const { first, second, id } = await twoVisits(app);
    data.delete(id); // reaped
    const res = await request(app)
      .get('/')
      .set('Cookie', pair(setCookie(first.headers)));
    expect(second.body.n).toBe(2);
    expect(res.status).toBe(200);
    expect(res.body.n).toBe(1);
    expect(res.body.id).not.toBe(id);
  });

  it('the deprecated key option names the cookie, so nobody is logged out on migration', async () => {
    const store = new expressSession.MemoryStore();
    const legacy = express();
    legacy.use(
      expressSession({
        secret: SECRET,
        key: 'legacy.sid',
        resave: false,
        saveUninitialized: true,
      } as expressSession.SessionOptions),
    );
    const legacyApp = express();
    legacyApp.use(
      expressSession({
        secret: SECRET,
        key: 'legacy.sid',
        store,
        resave: false,
        saveUninitialized: true,
      } as expressSession.SessionOptions) as never,
    );
    legacyApp.get('/', (req, res) => {
      const s = req.session as unknown as { n?: number };
      s.n = (s.n ?? 0) + 1;
      res.json({ n: s.n });
    });
    const before = await request(legacyApp).get('/');
    const line = setCookie(before.headers, 'legacy.sid');
    expect(line).toBeDefined();
    const app = counter(express, { key: 'legacy.sid', store: store as never });
    const res = await request(app).get('/').set('Cookie', pair(line));
    expect(res.body.n).toBe(2);
    expect(setCookie(res.headers, 'connect.sid')).toBeUndefined();
  });

  it('a Buffer secret signs as express-session signs with it', async () => {
    const secret = Buffer.from('a secret given as raw bytes, 32 or more of them');
    const store = new expressSession.MemoryStore();
    const legacyApp = express();
    legacyApp.use(
      expressSession({ secret, store, resave: false, saveUninitialized: true }) as never,
    );
    legacyApp.get('/', (req, res) => {
      const s = req.session as unknown as { n?: number };
      s.n = (s.n ?? 0) + 1;
      res.json({ n: s.n });
    });
    const before = await request(legacyApp).get('/');
    const app = counter(express, { secret, store: store as never });
    const res = await request(app)
      .get('/')
      .set('Cookie', pair(setCookie(before.headers)));
    expect(res.body.n).toBe(2);
    const fresh = await request(app).get('/');
    const value = decodeURIComponent(pair(setCookie(fresh.headers)).split('=')[1] as string);
    // cookie-signature's format: s:<id>.<base64 HMAC-SHA256 without padding>, keyed by the bytes.
    const mac = createHmac('sha256', secret).update(fresh.body.id).digest('base64');
    expect(value).toBe(`s:${fresh.body.id}.${mac.replace(/=+$/, '')}`);
  });

  describe('stores are recognised by how they behave, not by get.length', () => {
    it('a callback store with get(sid, cb = noop) that does not extend Store', async () => {
      const data = new Map<string, string>();
      const noop = () => {};
      const store = {
        get(sid: string, cb: Cb = noop) {
          const raw = data.get(sid);
          setImmediate(() => cb(null, raw ? JSON.parse(raw) : null));
        },
        set(sid: string, s: object, cb: Cb = noop) {
          data.set(sid, JSON.stringify(s));
          setImmediate(() => cb());
        },
        destroy(sid: string, cb: Cb = noop) {
          data.delete(sid);
          setImmediate(() => cb());
        },
      };
      expect(store.get.length).toBe(1);
      const { second, id } = await twoVisits(counter(express, { store }));
      expect(second.body).toMatchObject({ n: 2, id });
      expect(JSON.parse(data.get(id) as string).n).toBe(2);
    });

    it('a store supporting both styles (a promise and the callback), not extending Store', async () => {
      const data = new Map<string, string>();
      const answer = <T>(value: T, cb?: Cb): Promise<T | undefined> => {
        if (cb) {
          cb(null, value);
          return Promise.resolve(undefined); // what the callback returned, as connect-redis does
        }
        return Promise.resolve(value);
      };
      const store = {
        async get(sid: string, cb?: Cb) {
          const raw = data.get(sid);
          return answer(raw ? JSON.parse(raw) : null, cb);
        },
        async set(sid: string, s: object, cb?: Cb) {
          data.set(sid, JSON.stringify(s));
          return answer('OK', cb);
        },
        async destroy(sid: string, cb?: Cb) {
          data.delete(sid);
          return answer(1, cb);
        },
      };
      const { second, id } = await twoVisits(counter(express, { store: store as never }));
      expect(second.body).toMatchObject({ n: 2, id });
    });

    it('a promise store without compareAndSet whose get resolves undefined for a missing id', async () => {
      const data = new Map<string, Record_>();
      const store = {
        async get(id: string) {
          return data.get(id) as never;
        },
        async set(id: string, s: Record_) {
          data.set(id, structuredClone(s));
        },
        async destroy(id: string) {
          data.delete(id);
        },
      };
      const { second, id } = await twoVisits(counter(express, { store }));
      expect(second.body).toMatchObject({ n: 2, id });
      const res = await request(counter(express, { store }))
        .get('/')
        .set('Cookie', pair(setCookie(second.headers) ?? `connect.sid=x`));
      expect(res.status).toBe(200);
    });
  });

  it('req.session instanceof session.Session', async () => {
    const res = await request(counter(express, {})).get('/');
    expect(res.body.isSession).toBe(true);
    expect(session.Session).toBe(Session);
    expect({} instanceof Session).toBe(false);
    class Mine extends Session {}
    expect(new Mine({ sessionID: 'x' } as never)).toBeInstanceOf(Session);
    expect(new Session({ sessionID: 'x' } as never) instanceof Mine).toBe(false);
  });
});

describe('store.load(sid, cb): a session that works through its store, as express-session', () => {
  async function loaded(store: MemoryStore, id: string) {
    return new Promise<Session & Record_>((resolve, reject) =>
      store.load(id, (err, s) => (err || !s ? reject(err) : resolve(s as Session & Record_))),
    );
  }
  const read = (store: MemoryStore, id: string) =>
    new Promise<Record_ | null>((resolve, reject) =>
      store.get(id, (err, s) => (err ? reject(err) : resolve((s as Record_) ?? null))),
    );

  it('save, reload and destroy reach the store (callbacks and promises)', async () => {
    const store = new MemoryStore();
    const [, express] = EXPRESS[0] as [string, ExpressFactory];
    const first = await request(counter(express, { store })).get('/');
    const id = first.body.id as string;

    const s = await loaded(store, id);
    expect(s).toBeInstanceOf(Session);
    expect(s.id).toBe(id);
    expect(s.n).toBe(1);
    s.n = 41;
    s.admin = true;
    await new Promise<void>((resolve, reject) => s.save((err) => (err ? reject(err) : resolve())));
    expect(await read(store, id)).toMatchObject({ n: 41, admin: true });

    const other = await loaded(store, id);
    other.n = 42;
    await other.save();
    await s.reload();
    expect(s.n).toBe(42);
    expect(s.cookie.originalMaxAge).toBe(other.cookie.originalMaxAge);

    await s.destroy();
    expect(await read(store, id)).toBeNull();
    await expect(s.reload()).rejects.toThrow('failed to load session');
    const regenerated = await s.regenerate().catch((e: unknown) => e);
    expect(regenerated).toBeInstanceOf(SessError);
    expect((regenerated as SessError).code).toBe('SESS_DETACHED');
  });

  it('a session made without a store or request still refuses save with a typed error', async () => {
    const s = new Session({ sessionID: 'x' } as never);
    await expect(s.save()).rejects.toMatchObject({ code: 'SESS_DETACHED' });
  });
});

describe("express-session's startup validation through the middleware", () => {
  it.each<[string, Record_, string]>([
    ['genid not a function', { genid: 'uuid' }, 'genid option must be a function'],
    ['unset not destroy/keep', { unset: 'drop' }, 'unset option must be "destroy" or "keep"'],
    [
      'an empty secret list',
      { secret: [] },
      'secret option array must contain one or more strings',
    ],
    ['maxAge as a string', { cookie: { maxAge: '1h' } }, 'maxAge must be a number or Date'],
    ['maxAge true', { cookie: { maxAge: true } }, 'maxAge must be a number or Date'],
    ['cookie not an object', { cookie: 'secure' }, 'argument options must be a object'],
    ['storeTimeout 0', { storeTimeout: 0 }, 'storeTimeout option must be a number'],
  ])('%s fails at startup as SessConfigError', (_label, options, message) => {
    const make = () => session({ secret: SECRET, ...options } as SessionMiddlewareOptions);
    expect(make).toThrow(SessConfigError);
    expect(make).toThrow(message);
  });

  it('no options at all: the app starts, and a request without req.secret fails with SessConfigError', async () => {
    const errors: unknown[] = [];
    const app = express5();
    app.use((session as unknown as () => express5.RequestHandler)());
    app.get('/', (_req, res) => {
      res.send('ok');
    });
    app.use(
      (
        err: unknown,
        _req: express5.Request,
        res: express5.Response,
        _next: express5.NextFunction,
      ) => {
        errors.push(err);
        res.status(500).send((err as Error).message);
      },
    );
    const res = await request(app).get('/');
    expect(res.status).toBe(500);
    expect(res.text).toBe('secret option required for sessions');
    expect(errors[0]).toBeInstanceOf(SessConfigError);
  });
});
