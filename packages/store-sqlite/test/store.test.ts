import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { SessConfigError, StoreClosedError } from '@sess/core';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { SqliteStore } from '../src/index.js';

const inAnHour = () => new Date(Date.now() + 3_600_000).toISOString();
const record = (data: Record<string, unknown> = {}, expires: string | null = inAnHour()) => ({
  cookie: { originalMaxAge: 3_600_000, expires },
  ...data,
});

describe('SqliteStore', () => {
  it('stores rows in the documented layout: id, session JSON text, expires in ms', async () => {
    const db = new Database(':memory:');
    const store = new SqliteStore({ db });
    const expires = inAnHour();
    await store.set('abc', record({ user: 'ada' }, expires));
    const row = db.prepare('SELECT id, session, expires FROM sessions').get() as {
      id: string;
      session: string;
      expires: number;
    };
    expect(row.id).toBe('abc');
    expect(JSON.parse(row.session)).toEqual(record({ user: 'ada' }, expires));
    expect(row.expires).toBe(Date.parse(expires));
    const indexes = db.prepare("PRAGMA index_list('sessions')").all() as { name: string }[];
    expect(indexes.map((i) => i.name)).toContain('sessions_expires');
    await store.close();
    expect(db.open).toBe(true); // a database it was given stays open
    db.close();
  });

  it('opens a file in WAL mode with a busy timeout, and closes what it opened', async () => {
    const store = new SqliteStore({ filename: ':memory:', busyTimeout: 1234 });
    expect(store.db.pragma('busy_timeout', { simple: true })).toBe(1234);
    await store.close();
    expect(store.db.open).toBe(false);
    await expect(store.get('x')).rejects.toBeInstanceOf(StoreClosedError);
  });

  it('reads a corrupt row as a missing session and leaves the other rows', async () => {
    const store = new SqliteStore({ filename: ':memory:' });
    await store.set('good', record({ v: 1 }));
    const insert = store.db.prepare('INSERT INTO sessions (id, session, expires) VALUES (?, ?, ?)');
    insert.run('not-json', '{"cookie":', Date.now() + 60_000);
    insert.run('no-cookie', '{"v":2}', Date.now() + 60_000);
    insert.run('array', '[1,2]', Date.now() + 60_000);
    expect(await store.get('not-json')).toBeNull();
    expect(await store.get('no-cookie')).toBeNull();
    expect(await store.get('array')).toBeNull();
    expect(Object.keys(await store.all())).toEqual(['good']);
    // compareAndSet treats the corrupt row as absent, as get does
    expect(await store.compareAndSet('not-json', null, record({ v: 3 }))).toBe(true);
    expect((await store.get('not-json'))?.v).toBe(3);
    await store.close();
  });

  it('prune deletes expired rows only', async () => {
    const store = new SqliteStore({ filename: ':memory:', pruneInterval: false });
    await store.set('live', record());
    await store.set('short', record({}, new Date(Date.now() + 50).toISOString()));
    await new Promise((r) => setTimeout(r, 80));
    const count = () => store.db.prepare('SELECT count(*) FROM sessions').pluck().get();
    expect(count()).toBe(2); // still on disk, but no longer visible
    expect(await store.get('short')).toBeNull();
    expect(store.prune()).toBe(1);
    expect(count()).toBe(1);
    expect(await store.get('live')).not.toBeNull();
    await store.close();
  });

  it('prunes on its interval', async () => {
    const store = new SqliteStore({ filename: ':memory:', pruneInterval: '50ms' });
    await store.set('short', record({}, new Date(Date.now() + 20).toISOString()));
    await new Promise((r) => setTimeout(r, 200));
    expect(store.db.prepare('SELECT count(*) FROM sessions').pluck().get()).toBe(0);
    await store.close();
  });

  it('reports a failed background prune to onError, and keeps pruning', async () => {
    const db = new Database(':memory:');
    const errors: Error[] = [];
    const store = new SqliteStore({ db, pruneInterval: '20ms', onError: (e) => errors.push(e) });
    db.exec('DROP TABLE sessions'); // every prune now fails
    await new Promise((r) => setTimeout(r, 150));
    expect(errors.length).toBeGreaterThanOrEqual(2);
    expect(errors[0]?.message).toMatch(/sqlite store: clear failed: no such table/);
    await store.close();
    const seen = errors.length;
    await new Promise((r) => setTimeout(r, 80));
    expect(errors.length).toBe(seen); // close() stopped it
    db.close();
  });

  it('does not write a session already expired at set time', async () => {
    const store = new SqliteStore({ filename: ':memory:' });
    await store.set('gone', record({}, new Date(Date.now() - 1000).toISOString()));
    expect(store.db.prepare('SELECT count(*) FROM sessions').pluck().get()).toBe(0);
    await store.close();
  });

  it('keeps a record without cookie.expires for its ttl option', async () => {
    const store = new SqliteStore({ filename: ':memory:', ttl: '60ms' });
    await store.set('browser-session', record({}, null));
    expect(await store.get('browser-session')).not.toBeNull();
    await new Promise((r) => setTimeout(r, 100));
    expect(await store.get('browser-session')).toBeNull();
    await store.close();
  });

  it('rejects a table name that is not a plain identifier', () => {
    for (const table of ['x"; DROP TABLE sessions; --', '', '1abc', 'a b', 'a'.repeat(70)]) {
      expect(() => new SqliteStore({ filename: ':memory:', table })).toThrow(SessConfigError);
    }
  });

  it('an unopenable file is a typed error, not a crash', () => {
    expect(() => new SqliteStore({ filename: '/nonexistent-dir/x/sessions.db' })).toThrow(
      /sqlite store: connect failed/,
    );
  });

  it('never keeps the process alive: its prune timer is unref-ed', () => {
    const tsx = createRequire(import.meta.url).resolve('tsx');
    const script = `
      import { SqliteStore } from ${JSON.stringify(new URL('../src/index.ts', import.meta.url).pathname)};
      const store = new SqliteStore({ filename: ':memory:', pruneInterval: '1s' });
      await store.set('a', { cookie: { originalMaxAge: null } });
      console.log('done');`;
    // The child exits by itself without close(); a live timer would hang it until the timeout.
    const out = execFileSync(
      process.execPath,
      ['--import', tsx, '--input-type=module', '-e', script],
      {
        timeout: 20_000,
      },
    );
    expect(out.toString().trim()).toBe('done');
  });
});

describe('a config ported from connect-sqlite3 fails at startup, saying what to do', () => {
  it('its db (a file name), dir, concurrentDB and createDirIfNotExists are refused with the fix', () => {
    expect(() => new SqliteStore({ db: 'sessions.db' } as never)).toThrow(
      /`db` must be a better-sqlite3 Database, not the string "sessions.db": a file name \(connect-sqlite3's `db`\) is `filename` here/,
    );
    expect(() => new SqliteStore({ client: 42 } as never)).toThrow(SessConfigError);
    expect(() => new SqliteStore({ dir: './var/db', table: 'sessions' } as never)).toThrow(
      /option `dir` is not supported under that name: .*filename: path.join\(dir, db\)/,
    );
    expect(() => new SqliteStore({ concurrentDB: true } as never)).toThrow(/WAL/);
    expect(() => new SqliteStore({ createDirIfNotExists: true } as never)).toThrow(/mkdirSync/);
  });

  it('its table (sid, expired, sess) is refused, not misread or replaced', () => {
    const db = new Database(':memory:');
    // connect-sqlite3's CREATE TABLE, and a row as it writes one (expired in epoch ms).
    db.exec('CREATE TABLE sessions (sid PRIMARY KEY, expired, sess)');
    db.prepare('INSERT INTO sessions VALUES (?, ?, ?)').run(
      'kept',
      Date.now() + 3_600_000,
      JSON.stringify({ cookie: { originalMaxAge: 3_600_000 } }),
    );
    expect(() => new SqliteStore({ client: db })).toThrow(
      /table "sessions" has connect-sqlite3's layout \(sid, expired, sess\).*keep connect-sqlite3 for this file, or give sess another `table`/,
    );
    expect(db.prepare('SELECT count(*) AS n FROM sessions').get()).toEqual({ n: 1 });
    db.close();
  });
});
