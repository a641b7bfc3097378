import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { SessConfigError, StoreClosedError, StoreUnavailableError } from '@sess/core';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PostgresStore } from '../src/index.js';
import { record, skip, uniqueTable, url } from './helpers.js';

const run = promisify(execFile);

describe.skipIf(skip)('PostgresStore', () => {
  let pool: pg.Pool;
  const tables: string[] = [];
  const open = (options: Partial<ConstructorParameters<typeof PostgresStore>[0]> = {}) => {
    const tableName = options?.tableName ?? uniqueTable('s');
    tables.push(tableName);
    return new PostgresStore({ pool, tableName, createTableIfMissing: true, ...options });
  };

  beforeAll(() => {
    pool = new pg.Pool({ connectionString: url });
  });
  afterAll(async () => {
    for (const t of tables) await pool.query(`DROP TABLE IF EXISTS ${pg.escapeIdentifier(t)}`);
    await pool.query('DROP SCHEMA IF EXISTS "sess test schema" CASCADE');
    await pool.end();
  });

  it("creates connect-pg-simple's table: sid varchar pk, sess json, expire timestamp(6), index on expire", async () => {
    const store = open();
    const written = record({ user: 'ada' });
    await store.set('a', written);
    const columns = await pool.query(
      `SELECT column_name, data_type, datetime_precision, is_nullable
         FROM information_schema.columns WHERE table_name = $1 ORDER BY ordinal_position`,
      [tables.at(-1)],
    );
    expect(columns.rows).toEqual([
      {
        column_name: 'sid',
        data_type: 'character varying',
        datetime_precision: null,
        is_nullable: 'NO',
      },
      { column_name: 'sess', data_type: 'json', datetime_precision: null, is_nullable: 'NO' },
      {
        column_name: 'expire',
        data_type: 'timestamp without time zone',
        datetime_precision: 6,
        is_nullable: 'NO',
      },
    ]);
    const indexes = await pool.query('SELECT indexdef FROM pg_indexes WHERE tablename = $1', [
      tables.at(-1),
    ]);
    expect(indexes.rows.map((r) => r.indexdef).join('\n')).toMatch(/USING btree \(expire\)/);
    const row = await pool.query(`SELECT sess, expire FROM ${store.table}`);
    expect(row.rows[0].sess).toEqual(written);
    expect(row.rows[0].expire.getTime()).toBe(Date.parse(written.cookie.expires as string));
  });

  it('quotes any table and schema name, and binds every value', async () => {
    await pool.query('CREATE SCHEMA IF NOT EXISTS "sess test schema"');
    const store = open({
      schemaName: 'sess test schema',
      tableName: `weird "name"; DROP TABLE x; --`,
    });
    const evil = `'); DROP TABLE ${store.table}; --`;
    await store.set(evil, record({ v: evil }));
    expect((await store.get(evil))?.v).toBe(evil);
    expect(await store.ids()).toEqual([evil]);
    await pool.query(`DROP TABLE ${store.table}`);
  });

  it('set is one INSERT ... ON CONFLICT DO UPDATE; touch updates only expire', async () => {
    const store = open();
    await store.set('a', record({ v: 1 }));
    await pool.query(`UPDATE ${store.table} SET sess = $1 WHERE sid = 'a'`, [
      JSON.stringify(record({ v: 'changed behind the store' })),
    ]);
    const before = await pool.query(`SELECT expire FROM ${store.table}`);
    await store.touch('a', record({ v: 'ignored' }, 7_200_000));
    const after = await pool.query(`SELECT sess, expire FROM ${store.table}`);
    expect(after.rows[0].sess.v).toBe('changed behind the store');
    expect(after.rows[0].expire.getTime()).toBeGreaterThan(
      before.rows[0].expire.getTime() + 3_000_000,
    );
  });

  it('prune removes expired rows and only those', async () => {
    const store = open({ pruneInterval: false });
    await store.set('live', record());
    await store.set('short', record({}, 100));
    await new Promise((r) => setTimeout(r, 200));
    const count = async () =>
      Number((await pool.query(`SELECT count(*) FROM ${store.table}`)).rows[0].count);
    expect(await count()).toBe(2);
    expect(await store.get('short')).toBeNull(); // hidden before the prune
    expect(await store.prune()).toBe(1);
    expect(await count()).toBe(1);
    expect(await store.get('live')).not.toBeNull();
  });

  it('prunes on its interval, and close() stops it', async () => {
    const store = open({ pruneInterval: 100 });
    await store.set('short', record({}, 50));
    await new Promise((r) => setTimeout(r, 400));
    const rows = await pool.query(`SELECT count(*) FROM ${store.table}`);
    expect(Number(rows.rows[0].count)).toBe(0);
    await store.close();
  });

  it('createTableIfMissing is safe when many stores start at once', async () => {
    const tableName = uniqueTable('race');
    const own = Array.from(
      { length: 8 },
      () => new PostgresStore({ connectionString: url, tableName, createTableIfMissing: true }),
    );
    tables.push(tableName);
    await Promise.all(own.map((s, i) => s.set(`s${i}`, record({ i }))));
    expect((await own[0]?.ids())?.sort()).toEqual(['s0', 's1', 's2', 's3', 's4', 's5', 's6', 's7']);
    await Promise.all(own.map((s) => s.close()));
  });

  it('without createTableIfMissing and no table, errors are typed with the cause', async () => {
    const store = new PostgresStore({ pool, tableName: uniqueTable('absent') });
    const error = await store.get('a').catch((e: unknown) => e);
    expect(error).toMatchObject({ name: 'StoreError', code: 'SESS_STORE', operation: 'get' });
    expect((error as Error).cause).toMatchObject({ code: '42P01' }); // undefined_table
  });

  it('leaves a given pool open on close(); operations after close reject typed', async () => {
    const store = open();
    await store.set('a', record());
    await store.close();
    expect((await pool.query('SELECT 1 AS one')).rows[0].one).toBe(1);
    await expect(store.get('a')).rejects.toBeInstanceOf(StoreClosedError);
  });

  it('a process that used the store exits once close() is called', async () => {
    const table = uniqueTable('exit');
    tables.push(table);
    const fixture = new URL('./fixtures/exit-after-close.mjs', import.meta.url).pathname;
    const started = Date.now();
    const { stdout } = await run(process.execPath, [fixture, url, table], { timeout: 15_000 });
    expect(stdout.trim()).toBe('closed');
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it('a server that is down fails within the bound, typed', async () => {
    const store = new PostgresStore({
      connectionString: 'postgres://sess:sess@127.0.0.1:1/sess',
      timeout: 800,
    });
    const started = Date.now();
    const error = await store.get('a').catch((e: unknown) => e);
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(error).toBeInstanceOf(StoreUnavailableError);
    await store.close();
  });

  it('an exhausted pool fails within the bound instead of hanging', async () => {
    const small = new pg.Pool({ connectionString: url, max: 1 });
    const held = await small.connect(); // the only connection, never released during the call
    const store = new PostgresStore({ pool: small, tableName: uniqueTable('busy'), timeout: 500 });
    const started = Date.now();
    const error = await store.get('a').catch((e: unknown) => e);
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(error).toBeInstanceOf(StoreUnavailableError);
    held.release();
    await small.end();
  });

  it('rejects bad configuration at construction', () => {
    expect(() => new PostgresStore({})).toThrow(SessConfigError);
    expect(() => new PostgresStore({ pool, tableName: '' })).toThrow(SessConfigError);
    expect(() => new PostgresStore({ pool, tableName: 'x'.repeat(64) })).toThrow(SessConfigError);
    expect(() => new PostgresStore({ pool, ttl: 0 })).toThrow(SessConfigError);
  });
});
