// The same options and cookie settings under express-session + connect-pg-simple 10 and under
// @sess/express + this store, on one table: each writes, then each reads an unmodified session
// 2.5 s later; the row's expiry, the cookie's, and when the user is logged out must match (±1 s),
// whichever side wrote and whichever read.
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
import connectPgSimple from 'connect-pg-simple';
import expressSession from 'express-session';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PostgresStore, type PostgresStoreOptions } from '../src/index.js';
import { skip, uniqueTable, url } from './helpers.js';

const SECRET = 'a lifetimes secret of at least thirty-two characters';

/** Each connect-pg-simple option next to its port to this store (`pool` is added when absent). */
const OPTION_PAIRS: {
  label: string;
  incumbent: Record<string, unknown>;
  sess: Omit<PostgresStoreOptions, 'tableName'>;
  /** The table is left for the stores' createTableIfMissing (sess's, first). */
  create?: boolean;
}[] = [
  { label: 'defaults', incumbent: {}, sess: {} },
  { label: 'ttl 2 h', incumbent: { ttl: 7200 }, sess: { ttl: '2h' } },
  { label: 'disableTouch', incumbent: { disableTouch: true }, sess: { disableTouch: true } },
  { label: 'schemaName', incumbent: { schemaName: 'public' }, sess: { schemaName: 'public' } },
  { label: 'conString', incumbent: { conString: url }, sess: { conString: url } },
  {
    label: 'conObject',
    incumbent: { conObject: { connectionString: url } },
    sess: { conObject: { connectionString: url } },
  },
  {
    label: 'createTableIfMissing',
    incumbent: { createTableIfMissing: true },
    sess: { createTableIfMissing: true },
    create: true,
  },
  {
    label: 'pruneSessionInterval 60 s',
    incumbent: { pruneSessionInterval: 60 },
    sess: { pruneInterval: '60s' },
  },
];

describe.skipIf(skip)('lifetimes: connect-pg-simple 10 and this store', () => {
  const PgSession = connectPgSimple(expressSession);
  let pool: pg.Pool;

  beforeAll(() => {
    pool = new pg.Pool({ connectionString: url });
  });
  afterAll(async () => {
    await pool.end();
  });

  const expiryOf = (table: string) => async (id: string) => {
    // timestamp -> timestamptz undoes to_timestamp's conversion to the connection's TimeZone.
    const { rows } = await pool.query(
      `SELECT extract(epoch FROM expire::timestamptz) * 1000 AS at FROM ${pg.escapeIdentifier(table)} WHERE sid = $1`,
      [id],
    );
    return rows[0] ? Number(rows[0].at) : null;
  };

  for (const pair of OPTION_PAIRS) {
    for (const kase of COOKIE_CASES) {
      it(`${pair.label}, ${kase.label}`, async () => {
        const tableName = uniqueTable('life');
        const t = pg.escapeIdentifier(tableName);
        if (!pair.create) {
          // The table as connect-pg-simple's own table.sql creates it.
          await pool.query(`CREATE TABLE ${t} ("sid" varchar NOT NULL COLLATE "default",
            "sess" json NOT NULL, "expire" timestamp(6) NOT NULL)`);
          await pool.query(`ALTER TABLE ${t} ADD PRIMARY KEY ("sid")`);
        }
        const connection = 'conString' in pair.sess || 'conObject' in pair.sess ? {} : { pool };
        const store = new PostgresStore({ ...connection, tableName, ...pair.sess });
        if (pair.create) await store.length(); // sess creates the table first
        const legacy = new PgSession({
          pruneSessionInterval: false,
          ...connection,
          tableName,
          ...pair.incumbent,
        });
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
            { label: 'connect-pg-simple', url: apps[0]?.url ?? '' },
            { label: 'sess', url: apps[1]?.url ?? '' },
            expiryOf(tableName),
          );
          expect(lifetimeDifferences(kase, runs)).toEqual([]);
        } finally {
          for (const app of apps) await app.close();
          await legacy.close();
          await store.close();
          await pool.query(`DROP TABLE IF EXISTS ${t}`);
        }
      });
    }
  }

  describe('a corrupt row is a missing session per request, never a 500', () => {
    // connect-pg-simple's `sess` column is json: invalid JSON cannot be stored there.
    for (const corrupt of CORRUPT_RECORDS.filter((c) => c.json)) {
      it(corrupt.label, async () => {
        const tableName = uniqueTable('corrupt');
        const t = pg.escapeIdentifier(tableName);
        await pool.query(`CREATE TABLE ${t} ("sid" varchar PRIMARY KEY, "sess" json NOT NULL,
          "expire" timestamp(6) NOT NULL)`);
        const store = new PostgresStore({ pool, tableName, pruneInterval: false });
        const app = await serve(
          sessSession({
            secret: SECRET,
            store,
            resave: false,
            saveUninitialized: false,
          }) as unknown as Middleware,
        );
        try {
          await pool.query(
            `INSERT INTO ${t} (sid, sess, expire) VALUES ('bad', $1::json, now() + interval '1 hour')`,
            [corrupt.raw],
          );
          expect(await corruptRecordProblems(app.url, 'bad', SECRET)).toEqual([]);
        } finally {
          await app.close();
          await store.close();
          await pool.query(`DROP TABLE IF EXISTS ${t}`);
        }
      });
    }
  });
});
