import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';
import { SessConfigError, StoreClosedError, StoreError, StoreUnavailableError } from '@sess/core';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PostgresStore } from '../src/index.js';
import { record, relay, skip, uniqueTable, url } from './helpers.js';

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
    const store = open({ pruneInterval: '100ms' });
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
    // The fixture runs the built package, as an app would (turbo builds before test).
    const built = new URL('../dist/index.js', import.meta.url);
    expect(existsSync(built), 'run `pnpm --filter @sess/store-postgres build` first').toBe(true);
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

  it('a corrupt row reads as missing, and listings skip it', async () => {
    const store = open();
    await store.set('good', record({ v: 1 }));
    const expire = new Date(Date.now() + 3_600_000);
    for (const [sid, sess] of [
      ['null', 'null'],
      ['string', '"s:abc"'],
      ['array', '[1, 2]'],
      ['no-cookie', '{"user": "ada"}'],
      ['bad-cookie', '{"cookie": {"expires": 42, "sameSite": "bogus"}}'],
    ]) {
      await pool.query(`INSERT INTO ${store.table} (sid, sess, expire) VALUES ($1, $2, $3)`, [
        sid,
        sess,
        expire,
      ]);
      expect(await store.get(sid as string)).toBeNull();
    }
    expect(Object.keys(await store.all())).toEqual(['good']);
  });

  it('compareAndSet works on records jsonb cannot hold (NUL, lone surrogate)', async () => {
    const store = open();
    for (const v of ['a\u0000b', 'x\ud800y']) {
      await store.set('odd', record({ v }));
      const current = await store.get('odd');
      expect(current?.v).toBe(v);
      if (!current) return;
      expect(await store.compareAndSet('odd', { ...current, v: 'other' }, current)).toBe(false);
      expect(await store.compareAndSet('odd', current, { ...current, n: 1 })).toBe(true);
      expect((await store.get('odd'))?.n).toBe(1);
    }
  });

  it('a session that cannot be encoded is a typed error, nothing written', async () => {
    const store = open();
    const error = await store.set('big', record({ n: 1n })).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StoreError);
    expect((error as StoreError).cause).toBeInstanceOf(TypeError);
    expect(await store.get('big')).toBeNull();
  });

  it('uses an existing table as it is (no second index on a migrated table)', async () => {
    const tableName = uniqueTable('migrated');
    tables.push(tableName);
    const t = pg.escapeIdentifier(tableName);
    await pool.query(`CREATE TABLE ${t} (sid varchar PRIMARY KEY, sess json NOT NULL,
      expire timestamp(6) NOT NULL)`);
    await pool.query(`CREATE INDEX ${pg.escapeIdentifier(`i_${tableName}`)} ON ${t} (expire)`);
    const store = open({ tableName });
    await store.set('a', record());
    const indexes = await pool.query('SELECT indexname FROM pg_indexes WHERE tablename = $1', [
      tableName,
    ]);
    expect(indexes.rows).toHaveLength(2); // the primary key and the migration's index
  });

  it('long table names that share a prefix get distinct indexes', async () => {
    const prefix = `long_${process.pid}_${Date.now().toString(36)}_`.padEnd(60, 'x');
    const names = [`${prefix}_a`, `${prefix}_b`];
    for (const tableName of names) {
      const store = open({ tableName });
      await store.set('a', record());
    }
    const indexes = await pool.query(
      `SELECT tablename, indexname FROM pg_indexes WHERE tablename = ANY($1) AND indexname LIKE 'IDX_%'`,
      [names],
    );
    expect(indexes.rows).toHaveLength(2);
    expect(new Set(indexes.rows.map((r) => r.indexname)).size).toBe(2);
  });

  it('a server that accepts but never answers fails within the bound, typed', async () => {
    const hole = await relay(url, { blackhole: true });
    const store = new PostgresStore({ connectionString: hole.url, timeout: 600 });
    const started = Date.now();
    const error = await store.get('a').catch((e: unknown) => e);
    expect(Date.now() - started).toBeLessThan(2_500);
    expect(error).toBeInstanceOf(StoreUnavailableError);
    await store.close().catch(() => undefined);
    await hole.close();
  });

  it('a server that stops answering mid-session fails within the bound; close() too', async () => {
    const link = await relay(url);
    const tableName = uniqueTable('frozen');
    tables.push(tableName);
    const store = new PostgresStore({
      connectionString: link.url,
      tableName,
      createTableIfMissing: true,
      timeout: 800,
    });
    await store.set('a', record({ v: 1 }));
    expect((await store.get('a'))?.v).toBe(1);
    link.freeze();
    const started = Date.now();
    const error = await store.get('a').catch((e: unknown) => e);
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(error).toBeInstanceOf(StoreUnavailableError);
    const closing = Date.now();
    await store.close().catch(() => undefined);
    expect(Date.now() - closing).toBeLessThan(3_000);
    await link.close();
  });

  it('rejects bad configuration at construction', () => {
    expect(() => new PostgresStore({})).toThrow(SessConfigError);
    expect(() => new PostgresStore({ pool, tableName: '' })).toThrow(SessConfigError);
    expect(() => new PostgresStore({ pool, tableName: 'x'.repeat(64) })).toThrow(SessConfigError);
    // 32 characters but 64 bytes: PostgreSQL would truncate it.
    expect(() => new PostgresStore({ pool, tableName: 'é'.repeat(32) })).toThrow(SessConfigError);
    expect(() => new PostgresStore({ pool, ttl: 0 })).toThrow(SessConfigError);
    expect(() => new PostgresStore({ pool, prepare: 'no' as unknown as boolean })).toThrow(
      /postgres store: prepare must be a boolean/,
    );
  });

  it('sends named statements, prepared once per connection; prepare: false sends them unnamed', async () => {
    // One connection per pool, so pg_prepared_statements is the store's connection's.
    const one = new pg.Pool({ connectionString: url, max: 1 });
    const unnamed = new pg.Pool({ connectionString: url, max: 1 });
    try {
      const a = open({ pool: one });
      const b = open({ pool: one }); // another table on the same connection
      const c = open({ pool: unnamed, prepare: false });
      for (const store of [a, b, c]) {
        for (let i = 0; i < 3; i++) {
          await store.set('s', record({ i }));
          const read = await store.get('s');
          expect(read?.i).toBe(i);
          expect(await store.compareAndSet('s', read, record({ i: i + 10 }))).toBe(true);
        }
      }
      const prepared = async (p: pg.Pool) =>
        (await p.query('SELECT name, statement FROM pg_prepared_statements ORDER BY name')).rows;
      const named = await prepared(one);
      const names = named.map((row) => row.name as string);
      expect(names.every((name) => /^sess_[0-9a-f]{24}$/.test(name))).toBe(true);
      // set, get and compareAndSet of each table, each parsed once
      for (const store of [a, b]) {
        const own = named.filter((row) => String(row.statement).includes(store.table));
        expect(own.length).toBe(3);
      }
      expect(new Set(names).size).toBe(names.length);
      expect(await prepared(unnamed)).toEqual([]);
    } finally {
      await one.end();
      await unnamed.end();
    }
  });

  it('prepared statements lost under it (a transaction-mode pooler such as PgBouncer): it goes on, unnamed', async () => {
    const one = new pg.Pool({ connectionString: url, max: 1 });
    try {
      const store = open({ pool: one });
      await store.set('s', record({ v: 1 }));
      expect((await store.get('s'))?.v).toBe(1); // prepared on this connection
      // What a pooler does: the next statement meets a server connection that has
      // none of them, while pg still believes them parsed (26000 on the next get).
      await one.query('DEALLOCATE ALL');
      const read = await store.get('s');
      expect(read?.v).toBe(1);
      expect(await store.compareAndSet('s', read, record({ v: 2 }))).toBe(true);
      expect((await store.get('s'))?.v).toBe(2);
      const left = await one.query('SELECT count(*)::int AS n FROM pg_prepared_statements');
      expect(left.rows[0].n).toBe(0); // unnamed from then on
    } finally {
      await one.end();
    }
  });

  it('a migration that changes a column type under a running store: it goes on, unnamed', async () => {
    const one = new pg.Pool({ connectionString: url, max: 1 });
    try {
      const store = open({ pool: one });
      await store.set('s', record({ v: 1 }));
      expect((await store.get('s'))?.v).toBe(1); // the SELECT is now prepared on this connection
      await one.query(`ALTER TABLE ${store.table} ALTER COLUMN sess TYPE jsonb`);
      // PostgreSQL refuses the prepared SELECT ("cached plan must not change result type").
      const read = await store.get('s');
      expect(read?.v).toBe(1);
      expect(await store.compareAndSet('s', read, record({ v: 2 }))).toBe(true);
      expect((await store.get('s'))?.v).toBe(2);
    } finally {
      await one.end();
    }
  });
});
