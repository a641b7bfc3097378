// The same options and cookie settings under express-session + better-sqlite3-session-store 0.1
// and under @sess/express + this store, on one database file and its `sessions` table: each
// writes, then each reads an unmodified session 2.5 s later; the row's expiry, the cookie's, and
// when the user is logged out must match (±1 s), whichever side wrote and whichever read.
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { session as sessSession } from '@sess/express';
import {
  COOKIE_CASES,
  CORRUPT_RECORDS,
  corruptRecordProblems,
  crossRuns,
  lifetimeDifferences,
  type Middleware,
  type Served,
  serve,
} from '@sess/store-conformance/lifetimes';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { SqliteStore, type SqliteStoreOptions } from '../src/index.js';

const require = createRequire(import.meta.url);
const expressSession = require('express-session') as typeof import('express-session');
const IncumbentSqliteStore = (
  require('better-sqlite3-session-store') as (
    s: typeof expressSession,
  ) => new (options: {
    client: Database.Database;
    expired?: { clear?: boolean; intervalMs?: number };
  }) => import('express-session').Store
)(expressSession);

const SECRET = 'a lifetimes secret of at least thirty-two characters';

/** Each better-sqlite3-session-store option next to its port to this store. */
const OPTION_PAIRS: {
  label: string;
  incumbent: { expired?: { clear?: boolean; intervalMs?: number } };
  sess: Omit<SqliteStoreOptions, 'db' | 'client' | 'filename'>;
}[] = [
  { label: 'defaults', incumbent: {}, sess: {} },
  {
    label: 'expired { clear, intervalMs }',
    incumbent: { expired: { clear: true, intervalMs: 60_000 } },
    sess: { expired: { clear: true, intervalMs: 60_000 } },
  },
];

describe('lifetimes: better-sqlite3-session-store 0.1 and this store', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'sess-sqlite-life-'));
  });
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  for (const pair of OPTION_PAIRS) {
    for (const kase of COOKIE_CASES) {
      it(`${pair.label}, ${kase.label}`, async () => {
        const db = new Database(
          join(dir, `${pair.label.length}-${kase.label.length}-${Date.now()}.db`),
        );
        // The incumbent's prune timer is never unref'd and it has no close(): keep it fake.
        vi.useFakeTimers({ toFake: ['setInterval'] });
        let legacy: import('express-session').Store;
        try {
          legacy = new IncumbentSqliteStore({ client: db, ...pair.incumbent });
        } finally {
          vi.useRealTimers();
        }
        // The table the incumbent created: its layout, detected.
        const store = new SqliteStore({ client: db, ...pair.sess });
        expect(store.layout).toBe('better-sqlite3-session-store');
        const expiryOf = async (id: string) => {
          const row = db.prepare('SELECT expire FROM sessions WHERE sid = ?').get(id) as
            | { expire: string }
            | undefined;
          return row ? Date.parse(row.expire) : null;
        };
        const common = {
          secret: SECRET,
          resave: false,
          saveUninitialized: false,
          rolling: kase.rolling ?? false,
          cookie: kase.maxAge === undefined ? {} : { maxAge: kase.maxAge },
        };
        const apps: Served[] = [];
        try {
          apps.push(
            await serve(expressSession({ ...common, store: legacy }) as unknown as Middleware),
          );
          apps.push(await serve(sessSession({ ...common, store }) as unknown as Middleware));
          const runs = await crossRuns(
            { label: 'better-sqlite3-session-store', url: apps[0]?.url ?? '' },
            { label: 'sess', url: apps[1]?.url ?? '' },
            expiryOf,
          );
          expect(lifetimeDifferences(kase, runs)).toEqual([]);
        } finally {
          for (const app of apps) await app.close();
          await store.close();
          db.close();
        }
      });
    }
  }

  describe('a corrupt row is a missing session per request, never a 500', () => {
    const inAnHour = () => Date.now() + 3_600_000;
    const layouts = {
      sess: (db: Database.Database, raw: string) =>
        db
          .prepare('INSERT INTO sessions (id, session, expires) VALUES (?, ?, ?)')
          .run('bad', raw, inAnHour()),
      'better-sqlite3-session-store': (db: Database.Database, raw: string) =>
        db
          .prepare('INSERT INTO sessions (sid, sess, expire) VALUES (?, ?, ?)')
          .run('bad', raw, new Date(inAnHour()).toISOString()),
    } as const;
    // A valid record under an expiry column of the wrong type (text where sess writes epoch ms; not
    // ISO-8601 where better-sqlite3-session-store writes it): compared as text it sorted after every
    // time, so the row was served, listed and never pruned, whatever its cookie said.
    const expiryColumns = {
      sess: (db: Database.Database, raw: string) =>
        db
          .prepare('INSERT INTO sessions (id, session, expires) VALUES (?, ?, ?)')
          .run('bad', raw, 'garbage'),
      'better-sqlite3-session-store': (db: Database.Database, raw: string) =>
        db
          .prepare('INSERT INTO sessions (sid, sess, expire) VALUES (?, ?, ?)')
          .run('bad', raw, 'garbage'),
    } as const;
    for (const [layout, insert] of Object.entries(expiryColumns)) {
      it(`${layout} layout: a live-looking record under an expiry column of the wrong type`, async () => {
        const db = new Database(':memory:');
        const store = new SqliteStore({
          client: db,
          layout: layout as keyof typeof layouts,
          pruneInterval: false,
        });
        const app = await serve(
          sessSession({
            secret: SECRET,
            store,
            resave: false,
            saveUninitialized: false,
          }) as unknown as Middleware,
        );
        try {
          const cookie = {
            originalMaxAge: 3_600_000,
            expires: new Date(Date.now() + 3_600_000).toISOString(),
          };
          insert(db, JSON.stringify({ cookie, n: 5 }));
          expect(await store.length()).toBe(0);
          expect(await store.ids()).toEqual([]);
          expect(await corruptRecordProblems(app.url, 'bad', SECRET)).toEqual([]);
        } finally {
          await app.close();
          await store.close();
          db.close();
        }
      });
    }
    for (const [layout, insert] of Object.entries(layouts)) {
      for (const corrupt of CORRUPT_RECORDS) {
        it(`${layout} layout: ${corrupt.label}`, async () => {
          const db = new Database(':memory:');
          const store = new SqliteStore({
            client: db,
            layout: layout as keyof typeof layouts,
            pruneInterval: false,
          });
          const app = await serve(
            sessSession({
              secret: SECRET,
              store,
              resave: false,
              saveUninitialized: false,
            }) as unknown as Middleware,
          );
          try {
            insert(db, corrupt.raw);
            expect(await corruptRecordProblems(app.url, 'bad', SECRET)).toEqual([]);
          } finally {
            await app.close();
            await store.close();
            db.close();
          }
        });
      }
    }
  });
});
