import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SessConfigError, type SessionRecord } from '@sess/core';
import { session as sessSession } from '@sess/express';
import Database from 'better-sqlite3';
import express from 'express';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { SqliteStore } from '../src/index.js';

/**
 * Migration from better-sqlite3-session-store 0.1 (its current release): the
 * same file, read and written by both, with the same lifetimes; its README's
 * configuration ported verbatim.
 */
const require = createRequire(import.meta.url);
const session = require('express-session') as typeof import('express-session');
const makeStore = require('better-sqlite3-session-store') as (
  s: typeof session,
) => new (options: {
  client: Database.Database;
  expired?: { clear?: boolean; intervalMs?: number };
}) => IncumbentStore;

interface IncumbentStore {
  get(sid: string, cb: (err: unknown, sess?: unknown) => void): void;
  set(sid: string, sess: unknown, cb: (err: unknown) => void): void;
  touch(sid: string, sess: unknown, cb: (err: unknown) => void): void;
  destroy(sid: string, cb: (err: unknown) => void): void;
}
const IncumbentSqliteStore = makeStore(session);

/** The incumbent's prune timer is never unref'd and it has no close(): keep it fake. */
function incumbent(db: Database.Database): IncumbentStore {
  vi.useFakeTimers({ toFake: ['setInterval'] });
  try {
    return new IncumbentSqliteStore({ client: db, expired: { clear: true, intervalMs: 900000 } });
  } finally {
    vi.useRealTimers();
  }
}

const call = <T>(work: (cb: (err: unknown, value?: T) => void) => void) =>
  new Promise<T | undefined>((resolve, reject) =>
    work((err, value) => (err ? reject(err) : resolve(value))),
  );

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
/** A record as express-session hands it to a store: maxAge counts down, expires is a Date. */
function live(data: Record<string, unknown>, maxAge: number | null = HOUR): SessionRecord {
  const cookie =
    maxAge === null
      ? { originalMaxAge: null, path: '/', httpOnly: true, expires: null }
      : {
          originalMaxAge: maxAge,
          path: '/',
          httpOnly: true,
          expires: new Date(Date.now() + maxAge).toISOString(),
        };
  return { cookie, ...data } as SessionRecord;
}
/** The incumbent reads `cookie.maxAge` (express-session's Cookie has it as a getter). */
const withMaxAge = (record: SessionRecord) => ({
  ...record,
  cookie: { ...record.cookie, maxAge: record.cookie.originalMaxAge },
});

let dir: string;
let db: Database.Database;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'sess-bsss-'));
  db = new Database(join(dir, 'sessions.db'));
});
afterEach(() => {
  db.close();
  rmSync(dir, { recursive: true, force: true });
});

const expireOf = (sid: string) =>
  Date.parse(
    (db.prepare('SELECT expire FROM sessions WHERE sid = ?').get(sid) as { expire: string }).expire,
  );

describe('migrating from better-sqlite3-session-store', () => {
  it("its README's configuration, ported verbatim, opens its file and reads its sessions", async () => {
    const old = incumbent(db);
    await call((cb) => old.set('a', withMaxAge(live({ user: 'ada' })), cb));
    await call((cb) => old.set('b', withMaxAge(live({ user: 'bob' }, null)), cb));

    const store = new SqliteStore({
      client: db,
      expired: {
        clear: true,
        intervalMs: 900000, //ms = 15min
      },
    });
    expect(store.layout).toBe('better-sqlite3-session-store');
    expect((await store.get('a'))?.user).toBe('ada');
    expect((await store.get('b'))?.user).toBe('bob');
    expect((await store.ids()).sort()).toEqual(['a', 'b']);
    expect(await store.length()).toBe(2);
    await store.close();
    expect(db.open).toBe(true);
  });

  it('opening its file with default options neither crashes nor loses anyone', async () => {
    const old = incumbent(db);
    await call((cb) => old.set('a', withMaxAge(live({ n: 1 })), cb));
    db.close();
    // The failure of the issue: `no such column: expires` on the index creation.
    const store = new SqliteStore({ filename: join(dir, 'sessions.db') });
    expect((await store.get('a'))?.n).toBe(1);
    await store.close();
    db = new Database(join(dir, 'sessions.db'));
  });

  it('sessions written by sess are read by it, with the same expiry', async () => {
    const store = new SqliteStore({ client: db, layout: 'better-sqlite3-session-store' });
    const old = incumbent(db);
    const record = live({ user: 'sess' });
    await store.set('s', record);
    expect(await call((cb) => old.get('s', cb))).toEqual(record);
    expect(expireOf('s')).toBe(Date.parse(record.cookie.expires as string));

    // Same lifetime as the incumbent for a cookie with maxAge and for a browser-session cookie.
    await call((cb) => old.set('o', withMaxAge(record), cb));
    expect(Math.abs(expireOf('o') - expireOf('s'))).toBeLessThan(1_000);
    const browser = live({}, null);
    await store.set('bs', browser);
    await call((cb) => old.set('bo', withMaxAge(browser), cb));
    expect(Math.abs(expireOf('bs') - (Date.now() + DAY))).toBeLessThan(1_000);
    expect(Math.abs(expireOf('bo') - expireOf('bs'))).toBeLessThan(1_000);

    // touch by sess moves the expiry the incumbent reads; destroy removes it for both.
    const later = live({ user: 'sess' }, 2 * HOUR);
    await store.touch('s', later);
    expect(expireOf('s')).toBe(Date.parse(later.cookie.expires as string));
    await store.destroy('s');
    expect(await call((cb) => old.get('s', cb))).toBeNull();
    await store.close();
  });

  it('sessions the incumbent touches and destroys are seen by sess', async () => {
    const store = new SqliteStore({ db, layout: 'better-sqlite3-session-store' });
    const old = incumbent(db);
    await store.set('t', live({ v: 1 }));
    const longer = live({ v: 1 }, 5 * HOUR);
    await call((cb) => old.touch('t', longer, cb));
    expect(expireOf('t')).toBe(Date.parse(longer.cookie.expires as string));
    expect((await store.get('t'))?.v).toBe(1);
    await call((cb) => old.destroy('t', cb));
    expect(await store.get('t')).toBeNull();
    await store.close();
  });

  it('expired rows are invisible to both, and pruned by sess', async () => {
    const store = new SqliteStore({ db, layout: 'better-sqlite3-session-store' });
    const past = new Date(Date.now() - 5_000).toISOString();
    db.prepare('INSERT INTO sessions (sid, sess, expire) VALUES (?, ?, ?)').run(
      'old',
      JSON.stringify(live({})),
      past,
    );
    const old = incumbent(db);
    expect(await call((cb) => old.get('old', cb))).toBeNull();
    expect(await store.get('old')).toBeNull();
    expect(await store.ids()).toEqual([]);
    expect(store.prune()).toBe(1);
    await store.close();
  });

  it('compareAndSet works on its layout', async () => {
    const store = new SqliteStore({ db, layout: 'better-sqlite3-session-store' });
    const first = live({ n: 1 });
    expect(await store.compareAndSet('c', null, first)).toBe(true);
    expect(await store.compareAndSet('c', null, live({ n: 2 }))).toBe(false);
    expect(await store.compareAndSet('c', first, live({ n: 3 }))).toBe(true);
    const old = incumbent(db);
    expect(((await call<unknown>((cb) => old.get('c', cb))) as { n: number }).n).toBe(3);
    await store.close();
  });

  it('a new file gets the sess layout unless asked; a table of the other layout is refused', () => {
    const fresh = new SqliteStore({ db });
    expect(fresh.layout).toBe('sess');
    void fresh.close();
    expect(() => new SqliteStore({ db, layout: 'better-sqlite3-session-store' })).toThrow(
      /has the sess layout/,
    );
    db.exec('CREATE TABLE other (a TEXT)');
    expect(() => new SqliteStore({ db, table: 'other' })).toThrow(SessConfigError);
  });

  it('expired.clear false turns pruning off; intervalMs counts milliseconds as there', () => {
    const store = new SqliteStore({ db, expired: { clear: false } });
    void store.close();
    // 60 s as milliseconds is fine there; below a plain-number floor would not be.
    void new SqliteStore({ db, expired: { intervalMs: 60_000 } }).close();
    expect(
      () => new SqliteStore({ db, expired: { intervalMs: 1000 }, pruneInterval: 1000 }),
    ).toThrow(/not both/);
    expect(() => new SqliteStore({ db, expired: { interval: 5 } as never })).toThrow(
      /unknown option `interval`/,
    );
  });

  it('unknown options and unit mistakes fail at startup', () => {
    expect(() => new SqliteStore({ db, tablename: 'x' } as never)).toThrow(
      /unknown option `tablename`/,
    );
    expect(() => new SqliteStore({ db, ttl: 86400 })).toThrow(SessConfigError);
    expect(() => new SqliteStore({ db, pruneInterval: 900 })).toThrow(/'15m' for 900 seconds/);
    expect(() => new SqliteStore({ db, client: db })).toThrow(/not both/);
  });

  it('through Express: a visitor moves between express-session and @sess/express without losing the session', async () => {
    const old = incumbent(db);
    const store = new SqliteStore({ client: db, layout: 'better-sqlite3-session-store' });
    const options = {
      secret: 'keyboard cat',
      resave: false,
      saveUninitialized: false,
      cookie: { maxAge: 600_000 },
    };
    const visits = (middleware: express.RequestHandler) =>
      express()
        .use(middleware)
        .get('/', (req, res) => {
          const data = req.session as unknown as { n?: number; via?: string[] };
          data.n = (data.n ?? 0) + 1;
          data.via = [...(data.via ?? []), String(req.query['via'])];
          res.json({ n: data.n, via: data.via });
        });
    const legacyApp = await serve(
      visits(session({ ...options, store: old as unknown as import('express-session').Store })),
    );
    const sessApp = await serve(
      visits(sessSession({ ...options, store }) as unknown as express.RequestHandler),
    );
    const visit = async (app: string, via: string, cookie?: string) => {
      const response = await fetch(`${app}/?via=${via}`, cookie ? { headers: { cookie } } : {});
      const set = response.headers.get('set-cookie')?.split(';')[0];
      return { body: await response.json(), cookie: set ?? cookie };
    };
    try {
      const a = await visit(legacyApp.url, 'old');
      const b = await visit(sessApp.url, 'new', a.cookie);
      expect(b.body).toEqual({ n: 2, via: ['old', 'new'] });
      const c = await visit(legacyApp.url, 'old', a.cookie);
      expect(c.body).toEqual({ n: 3, via: ['old', 'new', 'old'] });
      const started = await visit(sessApp.url, 'new');
      const continued = await visit(legacyApp.url, 'old', started.cookie);
      expect(continued.body).toEqual({ n: 2, via: ['new', 'old'] });
    } finally {
      await legacyApp.stop();
      await sessApp.stop();
      await store.close();
    }
  });
});

async function serve(app: express.Express) {
  const server = app.listen(0, '127.0.0.1');
  await new Promise<void>((resolve) => server.once('listening', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
