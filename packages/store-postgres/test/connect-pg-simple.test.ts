// Migration without logging anyone out: connect-pg-simple (with express-session)
// and this store read and write each other's rows in one table.
import type { AddressInfo } from 'node:net';
import { session as sessSession } from '@sess/express';
import connectPgSimple from 'connect-pg-simple';
import express from 'express';
import session from 'express-session';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PostgresStore } from '../src/index.js';
import { record, skip, uniqueTable, url } from './helpers.js';

type Callback<T = unknown> = (err: unknown, value?: T) => void;
const call = <T>(start: (done: Callback<T>) => void) =>
  new Promise<T | undefined>((resolve, reject) =>
    start((err, value) => (err ? reject(err) : resolve(value))),
  );

// Twice: on connect-pg-simple's own table, and on that table once this store's
// `users` option has added its user index (two columns and an index).
for (const withUsers of [false, true]) {
  describe.skipIf(skip)(
    `interoperability with connect-pg-simple${withUsers ? ', user index added' : ''}`,
    () => {
      const PgSession = connectPgSimple(session);
      let pool: pg.Pool;
      let legacy: InstanceType<typeof PgSession>;
      let store: PostgresStore;
      const tableName = uniqueTable(withUsers ? 'cpsu' : 'cps');

      beforeAll(async () => {
        pool = new pg.Pool({ connectionString: url });
        // The table as connect-pg-simple's own table.sql creates it.
        const t = pg.escapeIdentifier(tableName);
        await pool.query(`CREATE TABLE ${t} (
      "sid" varchar NOT NULL COLLATE "default",
      "sess" json NOT NULL,
      "expire" timestamp(6) NOT NULL)`);
        await pool.query(`ALTER TABLE ${t} ADD PRIMARY KEY ("sid")`);
        await pool.query(`CREATE INDEX ON ${t} ("expire")`);
        legacy = new PgSession({ pool, tableName, pruneSessionInterval: false });
        store = new PostgresStore({
          pool,
          tableName,
          pruneInterval: false,
          ...(withUsers ? { users: { user: 'user' } } : {}),
        });
        if (withUsers) {
          await store.length(); // the first operation migrates the table
          const { rows } = await pool.query(
            `SELECT column_name FROM information_schema.columns WHERE table_name = $1 ORDER BY column_name`,
            [tableName],
          );
          expect(rows.map((r) => r.column_name)).toEqual([
            'expire',
            'sess',
            'sess_created',
            'sess_user',
            'sid',
          ]);
        }
      });
      afterAll(async () => {
        legacy.close();
        await store.close();
        await pool.query(`DROP TABLE IF EXISTS ${pg.escapeIdentifier(tableName)}`);
        await pool.end();
      });

      it('a session written by connect-pg-simple is read by this store, with its expiry', async () => {
        const written = record({ user: 'ada', cart: ['book'], n: 1.5, nested: { ok: true } });
        await call((done) => legacy.set('from-legacy', written as never, done));
        expect(await store.get('from-legacy')).toEqual(written);
        expect(await store.ids()).toContain('from-legacy');
      });

      it('a session written by this store is read by connect-pg-simple', async () => {
        const written = record({ user: 'grace', emoji: 'session 🍪' });
        await store.set('from-sess', written);
        expect(await call((done) => legacy.get('from-sess', done))).toEqual(written);
      });

      it('each honours the expiry the other wrote, and touches move it for both', async () => {
        await call((done) => legacy.set('short', record({}, 300) as never, done));
        await store.touch('short', record({}, 60_000));
        await new Promise((r) => setTimeout(r, 1_500));
        expect(await call((done) => legacy.get('short', done))).toBeTruthy();
        await store.set('ending', record({}, 200));
        await new Promise((r) => setTimeout(r, 1_500));
        expect(await call((done) => legacy.get('ending', done))).toBeFalsy();
        expect(await store.get('ending')).toBeNull();
      });

      it('destroy by either removes the row for both', async () => {
        await store.set('gone', record());
        await call((done) => legacy.destroy('gone', done));
        expect(await store.get('gone')).toBeNull();
        await call((done) => legacy.set('gone2', record() as never, done));
        await store.destroy('gone2');
        expect(await call((done) => legacy.get('gone2', done))).toBeFalsy();
      });

      it('compareAndSet succeeds on a row connect-pg-simple wrote (semantic JSON compare)', async () => {
        await call((done) => legacy.set('cas', record({ v: 1 }) as never, done));
        const current = await store.get('cas');
        expect(current).not.toBeNull();
        if (!current) return;
        expect(await store.compareAndSet('cas', current, { ...current, v: 2 })).toBe(true);
        const after = (await call((done) => legacy.get('cas', done))) as unknown as { v: number };
        expect(after.v).toBe(2);
      });

      it('through Express: a visitor moves between express-session and @sess/express without losing the session', async () => {
        const secret = 'interop secret, test only';
        const options = {
          secret,
          resave: false,
          saveUninitialized: false,
          cookie: { maxAge: 600_000 },
        };
        // Each app counts visits and notes which middleware served each one.
        const visits = (middleware: express.RequestHandler) =>
          express()
            .use(middleware)
            .get('/', (req, res) => {
              const data = req.session as unknown as { n?: number; via?: string[] };
              data.n = (data.n ?? 0) + 1;
              data.via = [...(data.via ?? []), String(req.query.via)];
              res.json({ n: data.n, via: data.via });
            });
        const legacyApp = await serve(visits(session({ ...options, store: legacy })));
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
          expect(a.cookie).toMatch(/^connect\.sid=s%3A/);
          const b = await visit(sessApp.url, 'new', a.cookie);
          expect(b.body).toEqual({ n: 2, via: ['old', 'new'] });
          const c = await visit(legacyApp.url, 'old', a.cookie);
          expect(c.body).toEqual({ n: 3, via: ['old', 'new', 'old'] });

          const started = await visit(sessApp.url, 'new');
          expect(started.cookie).toMatch(/^connect\.sid=s%3A/);
          const continued = await visit(legacyApp.url, 'old', started.cookie);
          expect(continued.body).toEqual({ n: 2, via: ['new', 'old'] });
        } finally {
          await legacyApp.stop();
          await sessApp.stop();
        }
      });
    },
  );
}

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
