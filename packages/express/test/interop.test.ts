// @sess/express and the real express-session on one store and one secret:
// a session started by either is read and updated by the other.
import { MemoryStore as CoreMemoryStore, toCallbackStore } from '@sess/core';
import expressSession from 'express-session';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { session as sessSession } from '../src/index.js';
import { EXPRESS, type ExpressFactory, idOf, pair, SECRET, setCookie, signed } from './helpers.js';

type Middleware = (req: never, res: never, next: () => void) => void;

function counterApp(express: ExpressFactory, middleware: Middleware) {
  const app = express();
  app.use(middleware as never);
  app.get('/', (req, res) => {
    const s = req.session as unknown as { views?: number; by?: string[] };
    s.views = (s.views ?? 0) + 1;
    s.by = [...(s.by ?? []), String(req.query.by)];
    res.json({ views: s.views, by: s.by, id: req.sessionID });
  });
  return app;
}

const cookieOptions = { maxAge: 60_000, sameSite: 'lax' as const };

describe.each(EXPRESS)('%s: interoperability with express-session 1.x', (_label, express) => {
  it('express-session MemoryStore: a session made by express-session is continued by sess, and back', async () => {
    const store = new expressSession.MemoryStore();
    const legacy = counterApp(
      express,
      expressSession({
        secret: SECRET,
        store,
        resave: false,
        saveUninitialized: false,
        cookie: cookieOptions,
      }) as never,
    );
    const sess = counterApp(
      express,
      sessSession({
        secret: SECRET,
        store,
        resave: false,
        saveUninitialized: false,
        cookie: cookieOptions,
      }) as never,
    );

    const first = await request(legacy).get('/?by=express-session');
    const line = setCookie(first.headers);
    const id = idOf(line);
    expect(decodeURIComponent(pair(line).split('=')[1] as string)).toBe(signed(id));

    const second = await request(sess).get('/?by=sess').set('Cookie', pair(line));
    expect(second.body).toEqual({ views: 2, by: ['express-session', 'sess'], id });

    const third = await request(legacy).get('/?by=express-session').set('Cookie', pair(line));
    expect(third.body).toEqual({
      views: 3,
      by: ['express-session', 'sess', 'express-session'],
      id,
    });

    // What sess wrote has express-session's stored shape.
    const stored = await new Promise<Record<string, unknown>>((resolve, reject) =>
      store.get(id, (err, s) => (err ? reject(err) : resolve(s as never))),
    );
    expect(Object.keys(stored)).toEqual(['cookie', 'views', 'by']);
    expect(Object.keys(stored.cookie as object).sort()).toEqual(
      ['expires', 'httpOnly', 'originalMaxAge', 'path', 'sameSite'].sort(),
    );
  });

  it('a sess store under express-session (toCallbackStore): sessions cross both ways', async () => {
    const core = new CoreMemoryStore({ sweepInterval: 0 });
    const legacy = counterApp(
      express,
      expressSession({
        secret: SECRET,
        store: toCallbackStore(core, expressSession.Store),
        resave: false,
        saveUninitialized: false,
        cookie: cookieOptions,
      }) as never,
    );
    const sess = counterApp(
      express,
      sessSession({
        secret: SECRET,
        store: core,
        resave: false,
        saveUninitialized: false,
        cookie: cookieOptions,
      }) as never,
    );

    const first = await request(sess).get('/?by=sess');
    const cookie = pair(setCookie(first.headers));
    const second = await request(legacy).get('/?by=express-session').set('Cookie', cookie);
    expect(second.body).toMatchObject({
      views: 2,
      by: ['sess', 'express-session'],
      id: first.body.id,
    });
    const third = await request(sess).get('/?by=sess').set('Cookie', cookie);
    expect(third.body).toMatchObject({ views: 3, by: ['sess', 'express-session', 'sess'] });
    expect(await core.length()).toBe(1);
    await core.close();
  });

  it('express-session cookies signed with a rotated-out secret still work and are re-signed', async () => {
    const store = new expressSession.MemoryStore();
    const legacy = counterApp(
      express,
      expressSession({
        secret: 'old secret of express-session days!!',
        store,
        resave: false,
        saveUninitialized: true,
      }) as never,
    );
    const sess = counterApp(
      express,
      sessSession({
        secret: [SECRET, 'old secret of express-session days!!'],
        store,
        resave: false,
      }) as never,
    );
    const first = await request(legacy).get('/?by=old');
    const res = await request(sess)
      .get('/?by=new')
      .set('Cookie', pair(setCookie(first.headers)));
    expect(res.body.views).toBe(2);
    expect(decodeURIComponent(pair(setCookie(res.headers)).split('=')[1] as string)).toBe(
      signed(first.body.id, SECRET),
    );
  });
});

describe('express-session style stores', () => {
  it('a store written old-style (function + util.inherits(Store)) works under sess', async () => {
    const { inherits } = await import('node:util');
    const { Store } = await import('../src/index.js');
    type Cb = (err?: unknown, value?: unknown) => void;
    interface OldStore {
      data: Map<string, string>;
    }
    function OldStyleStore(this: OldStore) {
      (Store as unknown as (this: unknown) => void).call(this);
      this.data = new Map();
    }
    inherits(OldStyleStore, Store as never);
    Object.assign(OldStyleStore.prototype, {
      get(this: OldStore, sid: string, cb: Cb) {
        const raw = this.data.get(sid);
        setImmediate(() => cb(null, raw ? JSON.parse(raw) : null));
      },
      set(this: OldStore, sid: string, sess: unknown, cb: Cb) {
        this.data.set(sid, JSON.stringify(sess));
        setImmediate(() => cb());
      },
      destroy(this: OldStore, sid: string, cb: Cb) {
        this.data.delete(sid);
        setImmediate(() => cb());
      },
    });
    const store = new (OldStyleStore as unknown as new () => OldStore)();
    expect(store).toBeInstanceOf(Store);
    const [, express] = EXPRESS[0] as [string, ExpressFactory];
    const app = counterApp(
      express,
      sessSession({ secret: SECRET, store: store as never }) as never,
    );
    const first = await request(app).get('/?by=a');
    const second = await request(app)
      .get('/?by=b')
      .set('Cookie', pair(setCookie(first.headers)));
    expect(second.body.views).toBe(2);
    expect(JSON.parse(store.data.get(first.body.id) as string).views).toBe(2);
  });

  it('an ES class extending Store works, and its inherited load/createSession behave', async () => {
    const { Store, Session } = await import('../src/index.js');
    class ClassStore extends Store {
      data = new Map<string, string>();
      get(sid: string, cb: (err: unknown, s?: unknown) => void) {
        const raw = this.data.get(sid);
        cb(null, raw ? JSON.parse(raw) : null);
      }
      set(sid: string, sess: unknown, cb?: (err?: unknown) => void) {
        this.data.set(sid, JSON.stringify(sess));
        cb?.();
      }
      destroy(sid: string, cb?: (err?: unknown) => void) {
        this.data.delete(sid);
        cb?.();
      }
    }
    const store = new ClassStore();
    const [, express] = EXPRESS[1] as [string, ExpressFactory];
    const app = counterApp(express, sessSession({ secret: SECRET, store }) as never);
    const first = await request(app).get('/?by=a');
    const loaded = await new Promise<unknown>((resolve, reject) =>
      store.load(first.body.id, (err, s) => (err ? reject(err) : resolve(s))),
    );
    expect(loaded).toBeInstanceOf(Session);
    expect((loaded as { views?: number }).views).toBe(1);
  });
});
