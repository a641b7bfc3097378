// Migrating from connect-pg-simple 10 (its current release): its README's configurations, ported
// verbatim, either behave as they did there (same table, same lifetimes, rows readable both ways)
// or fail at startup naming the change. Background failures reach onError/errorLog, and one
// process at a time prunes.
import { SessConfigError } from '@sess/core';
import connectPgSimple from 'connect-pg-simple';
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
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const THIRTY_DAYS = 30 * 24 * 60 * 60 * 1000;

describe('connect-pg-simple options that would change behaviour fail at startup', () => {
  const pool = new pg.Pool({ connectionString: 'postgres://127.0.0.1:1/none' });
  afterAll(() => pool.end());

  it("the README's simple example (no connection: DATABASE_URL) names the change", () => {
    expect(() => new PostgresStore({})).toThrow(/connectionString: process.env.DATABASE_URL/);
  });

  it('ttl in seconds is refused, naming milliseconds and units', () => {
    expect(() => new PostgresStore({ pool, ttl: 86400 })).toThrow(
      "postgres store: ttl: 86400 looks like seconds (connect-pg-simple counts seconds); sess counts milliseconds: use 86400000 or '1d'",
    );
  });

  it('pruneSessionInterval, pruneSessionRandomizedInterval and pgPromise are refused with their equivalent', () => {
    expect(() => new PostgresStore({ pool, pruneSessionInterval: 60 } as never)).toThrow(
      /pruneSessionInterval: 60 is pruneInterval: '60s'/,
    );
    expect(
      () => new PostgresStore({ pool, pruneSessionRandomizedInterval: false } as never),
    ).toThrow(/50%–150%/);
    expect(() => new PostgresStore({ pgPromise: {} } as never)).toThrow(/pool: db\.\$pool/);
    // all at once, in one message
    expect(
      () => new PostgresStore({ pool, pgPromise: {}, pruneSessionInterval: 1 } as never),
    ).toThrow(/pgPromise[\s\S]*pruneSessionInterval/);
  });

  it('a plain pruneInterval below a minute is refused; units are taken', async () => {
    expect(() => new PostgresStore({ pool, pruneInterval: 60 })).toThrow(SessConfigError);
    await new PostgresStore({ pool, pruneInterval: '10s' }).close();
    await new PostgresStore({ pool, pruneInterval: 900_000 }).close();
  });

  it('conString/connectionString, conObject/poolOptions, errorLog/onError: one of each', () => {
    expect(() => new PostgresStore({ conString: url, connectionString: url })).toThrow(/not both/);
    expect(() => new PostgresStore({ pool, errorLog: () => {}, onError: () => {} })).toThrow(
      /not both/,
    );
  });
});

describe.skipIf(skip)('migrating from connect-pg-simple', () => {
  const PgSession = connectPgSimple(session);
  let pgPool: pg.Pool;
  const tables: string[] = [];
  const table = (label: string) => {
    const name = uniqueTable(label);
    tables.push(name);
    return name;
  };

  beforeAll(() => {
    pgPool = new pg.Pool({ connectionString: url });
  });
  afterAll(async () => {
    for (const name of tables)
      await pgPool.query(`DROP TABLE IF EXISTS ${pg.escapeIdentifier(name)}`);
    await pgPool.end();
  });

  it("the README's advanced example, ported verbatim: same table, same lifetimes, both ways", async () => {
    // connect-pg-simple's table.sql names the primary key "session_pkey" whatever the
    // table is called, so two tables it created cannot share a schema: this one gets a
    // schema of its own, or another run on the same server (a parallel test run, an
    // app's own connect-pg-simple table) makes its CREATE fail.
    const schemaName = uniqueTable('cps_schema');
    await pgPool.query(`CREATE SCHEMA ${pg.escapeIdentifier(schemaName)}`);
    const tableName = 'user_sessions';
    const options = {
      pool: pgPool, // Connection pool
      schemaName,
      tableName, // Use another table-name than the default "session" one
      createTableIfMissing: true,
    };
    const qualified = `${pg.escapeIdentifier(schemaName)}.${pg.escapeIdentifier(tableName)}`;
    const legacy = new PgSession({ ...options, pruneSessionInterval: false });
    const store = new PostgresStore(options);
    try {
      // express-session with cookie: { maxAge: 30 days }
      const written = record({ user: 'ada' }, THIRTY_DAYS);
      await call((done) => legacy.set('old', written as never, done));
      await store.set('new', record({ user: 'bob' }, THIRTY_DAYS));
      expect((await store.get('old'))?.user).toBe('ada');
      expect(await call((done) => legacy.get('new', done))).toMatchObject({ user: 'bob' });
      const { rows } = await pgPool.query(
        `SELECT sid, extract(epoch FROM expire) * 1000 AS at FROM ${qualified}`,
      );
      const at = Object.fromEntries(rows.map((r) => [r.sid, Number(r.at)]));
      // connect-pg-simple rounds up to whole seconds; the same instant otherwise.
      expect(Math.abs((at['old'] ?? 0) - (at['new'] ?? 0))).toBeLessThan(2_000);
      expect(Math.abs((at['new'] ?? 0) - (Date.now() + THIRTY_DAYS))).toBeLessThan(2_000);

      // A browser-session cookie: one day with both.
      await call((done) => legacy.set('old-bs', record({}, null) as never, done));
      await store.set('new-bs', record({}, null));
      const bs = await pgPool.query(
        `SELECT sid, extract(epoch FROM expire) * 1000 AS at FROM ${qualified} WHERE sid LIKE '%-bs'`,
      );
      const [a, b] = bs.rows.map((r) => Number(r.at));
      expect(Math.abs((a ?? 0) - (b ?? 0))).toBeLessThan(2_000);
      expect(Math.abs((b ?? 0) - (Date.now() + 86_400_000))).toBeLessThan(2_000);
    } finally {
      await legacy.close();
      await store.close();
      await pgPool.query(`DROP SCHEMA ${pg.escapeIdentifier(schemaName)} CASCADE`);
    }
  });

  it('conString, ttl with a unit and disableTouch behave as there', async () => {
    const tableName = table('cs');
    const store = new PostgresStore({
      conString: url,
      tableName,
      createTableIfMissing: true,
      ttl: '2h',
      disableTouch: true,
    });
    const legacy = new PgSession({
      conString: url,
      tableName,
      ttl: 7200,
      disableTouch: true,
      pruneSessionInterval: false,
    });
    try {
      await store.set('s', record({}, null));
      await call((done) => legacy.set('l', record({}, null) as never, done));
      const q = `SELECT sid, extract(epoch FROM expire) * 1000 AS at FROM ${pg.escapeIdentifier(tableName)} ORDER BY sid`;
      const before = (await pgPool.query(q)).rows.map((r) => Number(r.at));
      expect(Math.abs((before[0] ?? 0) - (before[1] ?? 0))).toBeLessThan(2_000);
      expect(Math.abs((before[1] ?? 0) - (Date.now() + 7_200_000))).toBeLessThan(2_000);
      await store.touch('s', record({}, 10 * 3_600_000));
      const after = (await pgPool.query(q)).rows.map((r) => Number(r.at));
      expect(after[1]).toBe(before[1]); // disableTouch: the expiry did not move
    } finally {
      await legacy.close();
      await store.close();
    }
  });

  it('a failing background prune reaches errorLog as connect-pg-simple calls it, and onError', async () => {
    const logged: unknown[][] = [];
    const errors: Error[] = [];
    const missing = uniqueTable('absent'); // no table: every prune fails
    const viaLog = new PostgresStore({
      pool: pgPool,
      tableName: missing,
      pruneInterval: '20ms',
      errorLog: (...args) => logged.push(args),
    });
    const viaHandler = new PostgresStore({
      pool: pgPool,
      tableName: missing,
      pruneInterval: '20ms',
      onError: (error) => errors.push(error),
    });
    await sleep(300);
    await viaLog.close();
    await viaHandler.close();
    expect(logged.length).toBeGreaterThan(0);
    expect(logged[0]?.[0]).toBe('Failed to prune sessions:');
    expect(logged[0]?.[1]).toMatchObject({ name: 'StoreError', operation: 'clear' });
    expect(errors[0]).toMatchObject({ name: 'StoreError', operation: 'clear' });
    expect(errors[0]?.cause).toMatchObject({ code: '42P01' });
  });

  it('one process at a time prunes: a held prune lock makes the others skip', async () => {
    const tableName = table('lock');
    const setup = new PostgresStore({ pool: pgPool, tableName, createTableIfMissing: true });
    await setup.set('expired', record({}, 50));
    await sleep(100);
    const holder = await pgPool.connect();
    try {
      await holder.query('BEGIN');
      await holder.query('SELECT pg_advisory_xact_lock(hashtext($1))', [
        `sess:store-postgres:prune:${setup.table}`,
      ]);
      const pruner = new PostgresStore({ pool: pgPool, tableName, pruneInterval: '20ms' });
      await sleep(300);
      const count = async () =>
        Number((await pgPool.query(`SELECT count(*) FROM ${setup.table}`)).rows[0].count as string);
      expect(await count()).toBe(1); // another process holds the lock: nothing deleted
      await holder.query('COMMIT');
      await sleep(300);
      expect(await count()).toBe(0);
      await pruner.close();
    } finally {
      holder.release();
      await setup.close();
    }
  });
});
