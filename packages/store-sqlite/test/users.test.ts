// Sessions by user (issue 16): the `users` option's index (a companion table
// written in the session's own transaction), in both table layouts, next to
// better-sqlite3-session-store on one file, and maxSessionsPerUser across processes.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hasUserIndex, SessConfigError, type SessionRecord, storeCapabilities } from '@sess/core';
import { session as sessSession } from '@sess/express';
import Database from 'better-sqlite3';
import express from 'express';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { type SqliteLayout, SqliteStore } from '../src/index.js';

const dir = mkdtempSync(join(tmpdir(), 'sess-sqlite-users-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const file = () => join(dir, `db-${n++}.db`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A record of `user` created at `createdAt`, expiring in `ms`. */
const owned = (
  user: string | null,
  createdAt: number | null = Date.now(),
  ms = 3_600_000,
  data: Record<string, unknown> = {},
): SessionRecord => ({
  cookie: {
    originalMaxAge: ms,
    expires: new Date(Date.now() + ms).toISOString(),
    ...(createdAt === null ? {} : { createdAt }),
  },
  ...(user === null ? {} : { userId: user }),
  ...data,
});

describe('the users option', () => {
  it('is checked at startup, naming the store', () => {
    expect(() => new SqliteStore({ filename: ':memory:', users: { user: '' } })).toThrow(
      SessConfigError,
    );
    expect(
      () => new SqliteStore({ filename: ':memory:', users: { user: 'u', meta: 'ua' } as never }),
    ).toThrow(/sqlite store: users.meta/);
  });

  it('without it the store has none of the user methods and its table stays as it is', async () => {
    const db = new Database(':memory:');
    const plain = new SqliteStore({ db, pruneInterval: false });
    for (const name of [
      'userOf',
      'userSessions',
      'countUserSessions',
      'destroyUserSessions',
    ] as const) {
      expect(typeof plain[name]).toBe('undefined');
    }
    expect(hasUserIndex(plain)).toBe(false);
    expect(storeCapabilities(plain).has('userSessions')).toBe(false);
    const schema = () => db.prepare('SELECT name FROM sqlite_master ORDER BY name').pluck().all();
    const columns = () =>
      (db.prepare('PRAGMA table_info("sessions")').all() as { name: string }[]).map((c) => c.name);
    expect(schema()).toEqual(['sessions', 'sessions_expires', 'sqlite_autoindex_sessions_1']);
    expect(columns()).toEqual(['id', 'session', 'expires']);
    // with it: two columns and a partial index added to the existing table (sess layout)
    const indexed = new SqliteStore({ db, pruneInterval: false, users: { user: 'userId' } });
    for (const name of [
      'userOf',
      'userSessions',
      'countUserSessions',
      'destroyUserSessions',
    ] as const) {
      expect(typeof indexed[name]).toBe('function');
    }
    expect(hasUserIndex(indexed)).toBe(true);
    expect(storeCapabilities(indexed).has('userSessions')).toBe(true);
    expect(columns()).toEqual(['id', 'session', 'expires', 'sess_user', 'sess_created']);
    expect(schema()).toEqual([
      'sessions',
      'sessions_expires',
      'sessions_sess_user',
      'sqlite_autoindex_sessions_1',
    ]);
    // a second start finds them and changes nothing; the plain store still reads and writes
    await new SqliteStore({ db, pruneInterval: false, users: { user: 'userId' } }).close();
    expect(columns()).toHaveLength(5);
    await plain.set('p', owned('ada'));
    expect(await indexed.get('p')).toMatchObject({ userId: 'ada' });
    expect(await indexed.countUserSessions?.('ada')).toBe(0); // written without the index
    await indexed.set('p', owned('ada'));
    expect(await indexed.countUserSessions?.('ada')).toBe(1);
    await plain.close();
    await indexed.close();
    db.close();
  });
});

for (const layout of ['sess', 'better-sqlite3-session-store'] as const) {
  describe(`sessions by user (${layout} layout)`, () => {
    const open = (filename: string, users: ConstructorParameters<typeof SqliteStore>[0] = {}) =>
      new SqliteStore({
        filename,
        layout,
        pruneInterval: false,
        users: { user: 'userId', meta: ['userAgent'] },
        ...users,
      });

    it('lists, counts and destroys a user’s live sessions; never another user’s, an expired or a destroyed one', async () => {
      const filename = file();
      const store = open(filename);
      const t0 = Date.now() - 10_000;
      await store.set('a2', owned('ada', t0 + 2, 3_600_000, { userAgent: 'phone' }));
      await store.set('a1', owned('ada', t0 + 1, 3_600_000, { userAgent: 'laptop' }));
      await store.set('a3', owned('ada', t0 + 3));
      await store.set('short', owned('ada', t0 + 4, 300));
      await store.set('b1', owned('bob', t0));
      await store.set('anon', owned(null, t0));

      const listed = await store.userSessions?.('ada');
      expect(listed?.map((s) => s.id)).toEqual(['a1', 'a2', 'a3', 'short']);
      expect(listed?.[0]).toMatchObject({
        id: 'a1',
        createdAt: t0 + 1,
        meta: { userAgent: 'laptop' },
      });
      expect(listed?.[2]?.meta).toEqual({});
      const first = listed?.[0];
      expect(Math.abs((first?.expiresAt ?? 0) - (Date.now() + 3_600_000))).toBeLessThan(5_000);
      expect((first?.expiresAt ?? 0) - (first?.lastSeenAt ?? 0)).toBe(3_600_000);
      expect(await store.countUserSessions?.('ada')).toBe(4);
      expect(await store.countUserSessions?.('bob')).toBe(1);
      expect(await store.countUserSessions?.('nobody')).toBe(0);

      await sleep(400); // 'short' expires
      expect((await store.userSessions?.('ada'))?.map((s) => s.id)).toEqual(['a1', 'a2', 'a3']);
      await store.destroy('a3');
      expect(await store.countUserSessions?.('ada')).toBe(2);

      // touch moves the listed expiry (the row's; the stored record keeps its cookie)
      const later = Date.now() + 3_605_000;
      const moved = owned('ada', t0 + 1);
      await store.touch('a1', {
        ...moved,
        cookie: { ...moved.cookie, expires: new Date(later).toISOString() },
      });
      const touched = (await store.userSessions?.('ada'))?.find((s) => s.id === 'a1');
      expect(touched?.expiresAt).toBe(later);
      expect(touched?.lastSeenAt).toBe(later - 3_600_000);

      // a restart of the store object (another connection to the file) finds the same index
      const again = open(filename);
      expect((await again.userSessions?.('ada'))?.map((s) => s.id)).toEqual(['a1', 'a2']);
      expect(await again.destroyUserSessions?.('ada', 'a2')).toBe(1);
      expect((await store.userSessions?.('ada'))?.map((s) => s.id)).toEqual(['a2']);
      expect(await store.get('a1')).toBeNull();
      expect(await store.get('b1')).not.toBeNull();
      expect(await store.destroyUserSessions?.('ada')).toBe(1);
      expect(await store.countUserSessions?.('ada')).toBe(0);
      expect(await store.length()).toBe(2); // bob's and the anonymous one
      await again.close();
      await store.close();
    });

    it('a rewrite that changes the user moves the session, in set and compareAndSet', async () => {
      const store = open(file(), {
        users: { user: (record) => (record['account'] as { id?: number } | undefined)?.id },
      });
      const anon = { ...owned(null), account: {} };
      await store.set('s', anon);
      expect(await store.countUserSessions?.('7')).toBe(0);
      const loggedIn = { ...anon, account: { id: 7 } };
      expect(await store.compareAndSet('s', anon, loggedIn)).toBe(true);
      expect((await store.userSessions?.('7'))?.map((s) => s.id)).toEqual(['s']);
      const other = { ...anon, account: { id: 8 } };
      expect(await store.compareAndSet('s', anon, other)).toBe(false); // stale: nothing moves
      expect(await store.countUserSessions?.('7')).toBe(1);
      expect(await store.compareAndSet('s', loggedIn, other)).toBe(true);
      expect(await store.countUserSessions?.('7')).toBe(0);
      expect(await store.countUserSessions?.('8')).toBe(1);
      await store.set('s', anon); // logged out: the index entry goes
      expect(await store.countUserSessions?.('8')).toBe(0);
      const entries =
        layout === 'sess'
          ? 'SELECT count(*) FROM sessions WHERE sess_user IS NOT NULL'
          : 'SELECT count(*) FROM sessions_sess_users';
      expect(store.db.prepare(entries).pluck().get()).toBe(0);
      expect(await store.compareAndSet('fresh', null, loggedIn)).toBe(true);
      expect((await store.userSessions?.('7'))?.map((s) => s.id)).toEqual(['fresh']);
      // an already-expired write removes the session and its entry
      await store.set('fresh', owned(null, null, -1_000));
      expect(await store.countUserSessions?.('7')).toBe(0);
      await store.close();
    });

    it('the listing goes through the index: no scan of the sessions table', async () => {
      const store = open(file());
      // the store's own statements
      const query =
        layout === 'sess'
          ? 'SELECT id, session, expires FROM "sessions" WHERE sess_user = ? AND expires > ?'
          : `SELECT s.sid AS id, s.sess AS session, s.expire AS expires
             FROM "sessions_sess_users" AS x JOIN "sessions" AS s ON s.sid = x.sid
             WHERE x.user_id = ? AND s.expire > ?`;
      const plan = store.db.prepare(`EXPLAIN QUERY PLAN ${query}`).all('ada', 0) as {
        detail: string;
      }[];
      const details = plan.map((row) => row.detail);
      if (layout === 'sess') {
        expect(details).toEqual([
          'SEARCH sessions USING INDEX sessions_sess_user (sess_user=? AND expires>?)',
        ]);
      } else {
        expect(
          details.some((d) => /SEARCH x USING (COVERING )?INDEX sessions_sess_users_user/.test(d)),
        ).toBe(true);
        expect(
          details.some((d) => /SEARCH s USING INDEX sqlite_autoindex_sessions_1/.test(d)),
        ).toBe(true);
      }
      expect(details.filter((d) => d.startsWith('SCAN'))).toEqual([]);
      await store.close();
    });

    it('maxSessionsPerUser: the oldest go first, never the session written; other users do not count', async () => {
      const store = open(file(), { users: { user: 'userId', maxSessionsPerUser: 3 } });
      const t0 = Date.now();
      for (let i = 0; i < 5; i++) await store.set(`q${i}`, owned('ada', t0 + i));
      expect((await store.userSessions?.('ada'))?.map((s) => s.id)).toEqual(['q2', 'q3', 'q4']);
      await store.set('old', owned('ada', t0 - 1_000)); // an old session logged in again stays
      expect((await store.userSessions?.('ada'))?.map((s) => s.id)).toEqual(['old', 'q3', 'q4']);
      expect(await store.compareAndSet('cas', null, owned('ada', t0 + 10))).toBe(true);
      // the next creation: the two newest others stay, 'old' (the oldest by creation) goes
      expect((await store.userSessions?.('ada'))?.map((s) => s.id)).toEqual(['q3', 'q4', 'cas']);
      await store.set('bob', owned('bob', t0));
      await store.set('anon', owned(null, t0));
      expect(await store.countUserSessions?.('ada')).toBe(3);
      expect(await store.length()).toBe(5);
      await store.close();
    });

    it('maxSessionsPerUser: three processes creating sessions at once never leave more than N live', async () => {
      const filename = file();
      // the sessions table exists, without the index: the three writers add it as they start
      await new SqliteStore({ filename, layout, pruneInterval: false }).close();
      const N = 4;
      const results = await Promise.all(
        ['a', 'b', 'c'].map((name) => userWriter(filename, layout, name, 60, N)),
      );
      for (const result of results) {
        expect(result.errors).toEqual([]);
        expect(result.most).toBeLessThanOrEqual(N);
      }
      const store = open(filename);
      expect(await store.countUserSessions?.('ada')).toBe(N);
      expect(await store.length()).toBe(N);
      await store.close();
    }, 60_000);
  });
}

describe('through @sess/express', () => {
  it('logins are listed with their creation time, capped, and "log out everywhere else" works', async () => {
    const store = new SqliteStore({
      filename: file(),
      pruneInterval: false,
      users: { user: 'userId', maxSessionsPerUser: 3, meta: ['userAgent'] },
    });
    const app = express()
      .use(
        sessSession({
          secret: 'a test secret that is long enough to pass the check',
          store,
          resave: false,
          saveUninitialized: false,
          cookie: { maxAge: 600_000 },
        }) as unknown as express.RequestHandler,
      )
      .get('/login', (req, res) => {
        const data = req.session as unknown as Record<string, unknown>;
        data['userId'] = 'ada';
        data['userAgent'] = req.get('user-agent');
        res.json({ id: req.sessionID });
      })
      .get('/me', (req, res) => {
        res.json({ user: (req.session as unknown as Record<string, unknown>)['userId'] ?? null });
      });
    const server = app.listen(0, '127.0.0.1');
    await new Promise<void>((resolve) => server.once('listening', resolve));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const logins: { id: string; cookie: string }[] = [];
      for (const agent of ['one', 'two', 'three', 'four']) {
        const response = await fetch(`${base}/login`, { headers: { 'user-agent': agent } });
        const { id } = (await response.json()) as { id: string };
        logins.push({ id, cookie: response.headers.get('set-cookie')?.split(';')[0] ?? '' });
      }
      const me = async (cookie: string) =>
        ((await (await fetch(`${base}/me`, { headers: { cookie } })).json()) as { user: unknown })
          .user;
      const listed = (await store.userSessions?.('ada')) ?? [];
      expect(listed.map((s) => s.meta['userAgent'])).toEqual(['two', 'three', 'four']);
      expect(listed.every((s) => typeof s.createdAt === 'number')).toBe(true);
      expect(await me(logins[0]?.cookie ?? '')).toBeNull(); // the oldest was logged out by the cap
      expect(await me(logins[1]?.cookie ?? '')).toBe('ada');
      expect(await store.destroyUserSessions?.('ada', logins[3]?.id)).toBe(2);
      expect(await me(logins[1]?.cookie ?? '')).toBeNull();
      expect(await me(logins[3]?.cookie ?? '')).toBe('ada');
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await store.close();
    }
  });
});

const tsx = createRequire(import.meta.url).resolve('tsx');
function userWriter(
  filename: string,
  layout: SqliteLayout,
  name: string,
  count: number,
  cap: number,
): Promise<{ errors: string[]; most: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [
        '--import',
        tsx,
        join(import.meta.dirname, 'fixtures/user-writer.ts'),
        filename,
        layout,
        name,
        String(count),
        String(cap),
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk) => {
      out += chunk;
    });
    child.stderr.on('data', (chunk) => {
      err += chunk;
    });
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code === 0) resolve(JSON.parse(out));
      else reject(new Error(`writer ${name} exited with ${code}: ${err}`));
    });
  });
}

// better-sqlite3-session-store 0.1 on a file whose table has the user index beside it.
const require = createRequire(import.meta.url);
const session = require('express-session') as typeof import('express-session');
interface IncumbentStore {
  get(sid: string, cb: (err: unknown, sess?: unknown) => void): void;
  set(sid: string, sess: unknown, cb: (err: unknown) => void): void;
  touch(sid: string, sess: unknown, cb: (err: unknown) => void): void;
  destroy(sid: string, cb: (err: unknown) => void): void;
}
const IncumbentSqliteStore = (
  require('better-sqlite3-session-store') as (
    s: typeof session,
  ) => new (options: {
    client: Database.Database;
    expired?: { clear?: boolean; intervalMs?: number };
  }) => IncumbentStore
)(session);
const call = <T>(work: (cb: (err: unknown, value?: T) => void) => void) =>
  new Promise<T | undefined>((resolve, reject) =>
    work((err, value) => (err ? reject(err) : resolve(value))),
  );

describe('migrating a better-sqlite3-session-store database', () => {
  it('adds the index beside its table; better-sqlite3-session-store goes on reading and writing it', async () => {
    const db = new Database(file());
    // its timer is never unref'd and it has no close(): keep it fake
    vi.useFakeTimers({ toFake: ['setInterval'] });
    let legacy: IncumbentStore;
    try {
      legacy = new IncumbentSqliteStore({
        client: db,
        expired: { clear: true, intervalMs: 900000 },
      });
    } finally {
      vi.useRealTimers();
    }
    await call((done) => legacy.set('before', owned('ada'), done));
    const columns = () =>
      (db.prepare('PRAGMA table_info("sessions")').all() as { name: string }[]).map((c) => c.name);
    expect(columns()).toEqual(['sid', 'sess', 'expire']);

    const store = new SqliteStore({ client: db, pruneInterval: false, users: { user: 'userId' } });
    expect(store.layout).toBe('better-sqlite3-session-store');
    expect(columns()).toEqual(['sid', 'sess', 'expire']); // its table is untouched
    // A row the incumbent wrote is not in the index until sess writes it.
    expect(await store.countUserSessions?.('ada')).toBe(0);
    const before = await store.get('before');
    if (before) await store.set('before', before);
    expect(await store.countUserSessions?.('ada')).toBe(1);

    // It reads, rewrites (INSERT OR REPLACE ... VALUES of three columns), touches and destroys.
    await store.set('mine', owned('ada'));
    expect(await call((done) => legacy.get('mine', done))).toMatchObject({ userId: 'ada' });
    await call((done) => legacy.set('theirs', owned('bob'), done));
    expect(await store.get('theirs')).toMatchObject({ userId: 'bob' });
    await call((done) => legacy.touch('mine', owned('ada'), done));
    // It logs 'mine' out: the index entry still says ada, the record does not; the listing
    // follows the record, and destroyUserSessions leaves it alone.
    await call((done) => legacy.set('mine', owned(null), done));
    expect((await store.userSessions?.('ada'))?.map((s) => s.id)).toEqual(['before']);
    expect(await store.destroyUserSessions?.('ada')).toBe(1);
    expect(await call((done) => legacy.get('before', done))).toBeFalsy();
    expect(await store.get('mine')).not.toBeNull();
    // It destroys a session of ada's: never listed, and the prune drops the stale entry.
    await store.set('again', owned('ada'));
    await call((done) => legacy.destroy('again', done));
    expect(await store.countUserSessions?.('ada')).toBe(0);
    const entries = () =>
      db.prepare('SELECT sid FROM sessions_sess_users ORDER BY sid').pluck().all();
    expect(entries()).toEqual(['again', 'mine']);
    store.prune();
    expect(entries()).toEqual(['mine']); // its row is still there (a stale entry: the listing checks the record)
    await store.close();
    db.close();
  });
});
