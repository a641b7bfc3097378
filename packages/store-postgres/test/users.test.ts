// Sessions by user (issue 16): the `users` option's index (two nullable columns
// and a partial index), migrated into an existing connect-pg-simple table, the
// listing through that index, and maxSessionsPerUser under parallel creation.
import type { AddressInfo } from 'node:net';
import { SessConfigError, type SessionRecord } from '@sess/core';
import { session as sessSession } from '@sess/express';
import connectPgSimple from 'connect-pg-simple';
import express from 'express';
import session from 'express-session';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PostgresStore } from '../src/index.js';
import { skip, uniqueTable, url } from './helpers.js';

type Callback<T = unknown> = (err: unknown, value?: T) => void;
const call = <T>(start: (done: Callback<T>) => void) =>
  new Promise<T | undefined>((resolve, reject) =>
    start((err, value) => (err ? reject(err) : resolve(value))),
  );
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

/** connect-pg-simple's table.sql, as a production database has it. */
async function incumbentTable(pool: pg.Pool, name: string) {
  const t = pg.escapeIdentifier(name);
  await pool.query(`CREATE TABLE ${t} (
    "sid" varchar NOT NULL COLLATE "default",
    "sess" json NOT NULL,
    "expire" timestamp(6) NOT NULL)`);
  await pool.query(`ALTER TABLE ${t} ADD PRIMARY KEY ("sid")`);
  await pool.query(`CREATE INDEX ON ${t} ("expire")`);
}

describe('the users option', () => {
  const pool = new pg.Pool({ connectionString: 'postgres://127.0.0.1:1/none' });
  afterAll(() => pool.end());

  it('is checked at startup, naming the store', () => {
    expect(() => new PostgresStore({ pool, users: { user: 42 } as never })).toThrow(
      SessConfigError,
    );
    expect(
      () => new PostgresStore({ pool, users: { user: 'userId', maxSessionsPerUser: 0 } }),
    ).toThrow(/postgres store: users.maxSessionsPerUser/);
    expect(() => new PostgresStore({ pool, users: { user: 'userId', other: 1 } as never })).toThrow(
      /postgres store: users: unknown option `other`/,
    );
  });

  it('without it the store has none of the user methods; with it, all four', async () => {
    const plain = new PostgresStore({ pool, pruneInterval: false });
    const indexed = new PostgresStore({ pool, pruneInterval: false, users: { user: 'userId' } });
    for (const name of [
      'userOf',
      'userSessions',
      'countUserSessions',
      'destroyUserSessions',
    ] as const) {
      expect(typeof plain[name]).toBe('undefined');
      expect(typeof indexed[name]).toBe('function');
    }
    expect(indexed.userOf?.(owned('ada'))).toBe('ada');
    expect(indexed.userOf?.(owned(null))).toBeNull();
    await plain.close();
    await indexed.close();
  });
});

describe.skipIf(skip)('sessions by user', () => {
  let pool: pg.Pool;
  const tables: string[] = [];
  const table = (label: string) => {
    const name = uniqueTable(label);
    tables.push(name);
    return name;
  };
  const columns = async (name: string) =>
    (
      await pool.query(
        'SELECT column_name FROM information_schema.columns WHERE table_name = $1 ORDER BY 1',
        [name],
      )
    ).rows.map((r) => r.column_name as string);
  const indexes = async (name: string) =>
    (
      await pool.query('SELECT indexname FROM pg_indexes WHERE tablename = $1 ORDER BY 1', [name])
    ).rows.map((r) => r.indexname as string);

  beforeAll(() => {
    pool = new pg.Pool({ connectionString: url, max: 12 });
  });
  afterAll(async () => {
    for (const name of tables)
      await pool.query(`DROP TABLE IF EXISTS ${pg.escapeIdentifier(name)}`);
    await pool.end();
  });

  it('lists, counts and destroys a user’s live sessions; never another user’s, an expired or a destroyed one', async () => {
    const tableName = table('list');
    const store = new PostgresStore({
      pool,
      tableName,
      createTableIfMissing: true,
      pruneInterval: false,
      users: { user: 'userId', meta: ['userAgent'] },
    });
    const t0 = Date.now() - 10_000;
    await store.set('a2', owned('ada', t0 + 2, 3_600_000, { userAgent: 'phone' }));
    await store.set('a1', owned('ada', t0 + 1, 3_600_000, { userAgent: 'laptop' }));
    await store.set('a3', owned('ada', t0 + 3));
    await store.set('short', owned('ada', t0 + 4, 300));
    await store.set('b1', owned('bob', t0));
    await store.set('anon', owned(null, t0));
    expect(await columns(tableName)).toEqual([
      'expire',
      'sess',
      'sess_created',
      'sess_user',
      'sid',
    ]);

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
    expect(await store.countUserSessions?.('ada')).toBe(3 - 1);

    // touch moves the listed expiry (the column; the stored record keeps its cookie)
    const later = Date.now() + 3_605_000;
    const moved = owned('ada', t0 + 1);
    await store.touch('a1', {
      ...moved,
      cookie: { ...moved.cookie, expires: new Date(later).toISOString() },
    });
    const touched = (await store.userSessions?.('ada'))?.find((s) => s.id === 'a1');
    expect(touched?.expiresAt).toBe(later);
    expect(touched?.lastSeenAt).toBe(later - 3_600_000);

    // a restart of the store object finds the same index
    const again = new PostgresStore({
      pool,
      tableName,
      pruneInterval: false,
      users: { user: 'userId' },
    });
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
    const tableName = table('move');
    const store = new PostgresStore({
      pool,
      tableName,
      createTableIfMissing: true,
      pruneInterval: false,
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
    await store.set('s', anon); // logged out
    expect(await store.countUserSessions?.('8')).toBe(0);
    const row = await pool.query(
      `SELECT sess_user, sess_created FROM ${pg.escapeIdentifier(tableName)} WHERE sid = 's'`,
    );
    expect(row.rows[0]).toEqual({ sess_user: null, sess_created: String(anon.cookie.createdAt) });
    expect(await store.compareAndSet('fresh', null, loggedIn)).toBe(true);
    expect((await store.userSessions?.('7'))?.map((s) => s.id)).toEqual(['fresh']);
    // a record jsonb refuses (a NUL in a string) is compared as text: the user still moves
    const odd = { ...loggedIn, note: 'a\u0000b' };
    expect(await store.compareAndSet('fresh', loggedIn, odd)).toBe(true);
    const odder = { ...odd, account: { id: 9 } };
    expect(await store.compareAndSet('fresh', odd, odder)).toBe(true);
    expect(await store.countUserSessions?.('7')).toBe(0);
    expect((await store.userSessions?.('9'))?.map((s) => s.id)).toEqual(['fresh']);
    await store.close();
  });

  it('the listing uses the index (EXPLAIN), not a scan of every session', async () => {
    const tableName = table('explain');
    const store = new PostgresStore({
      pool,
      tableName,
      createTableIfMissing: true,
      pruneInterval: false,
      users: { user: 'userId' },
    });
    await store.length();
    const t = pg.escapeIdentifier(tableName);
    // 6,000 rows: 3,000 anonymous, 3,000 spread over 300 users
    await pool.query(
      `INSERT INTO ${t} (sid, sess, expire, sess_user, sess_created)
       SELECT 's' || i, '{"cookie":{}}', now() + interval '1 hour',
              CASE WHEN i % 2 = 0 THEN 'u' || (i % 300) END, i
       FROM generate_series(1, 6000) AS i`,
    );
    await pool.query(`ANALYZE ${t}`);
    const client = await pool.connect();
    try {
      // the store's own statement, as it sends it
      await client.query(
        `PREPARE listing(text, float8) AS SELECT sid, sess, extract(epoch FROM expire::timestamptz) * 1000 AS at
         FROM ${t} WHERE sess_user = $1 AND expire > to_timestamp($2 / 1000.0)`,
      );
      const plan = await client.query(`EXPLAIN EXECUTE listing('u4', ${Date.now()})`);
      const text = plan.rows.map((r) => r['QUERY PLAN'] as string).join('\n');
      expect(text).toContain(`IDX_${tableName}_sess_user`);
      expect(text).not.toMatch(/Seq Scan/);
      await client.query('DEALLOCATE listing');
    } finally {
      client.release();
    }
    expect(await store.countUserSessions?.('u4')).toBe(0); // rows without a userId in sess are not the user's
    await store.set('real', owned('u4'));
    expect(await store.countUserSessions?.('u4')).toBe(1);
    await store.close();
  });

  it('maxSessionsPerUser: parallel creations from several processes never leave more than N live', async () => {
    const tableName = table('cap');
    const N = 3;
    // four store objects, each with a pool of its own: four "processes"
    const stores = Array.from(
      { length: 4 },
      () =>
        new PostgresStore({
          connectionString: url,
          poolOptions: { max: 4 },
          tableName,
          createTableIfMissing: true,
          pruneInterval: false,
          timeout: 20_000,
          users: { user: 'userId', maxSessionsPerUser: N },
        }),
    );
    try {
      const t0 = Date.now();
      // 40 new sessions of one user at once, half through set, half through compareAndSet
      await Promise.all(
        Array.from({ length: 40 }, (_, i) => {
          const store = stores[i % stores.length] as PostgresStore;
          const record = owned('ada', t0 + i);
          return i % 2 === 0
            ? store.set(`c${i}`, record)
            : store.compareAndSet(`c${i}`, null, record);
        }),
      );
      const live = await pool.query(
        `SELECT count(*)::int AS n FROM ${pg.escapeIdentifier(tableName)} WHERE sess_user = 'ada'`,
      );
      expect(live.rows[0].n).toBe(N);
      expect(await stores[0]?.countUserSessions?.('ada')).toBe(N);

      // in sequence, the oldest go first and the session written is never the one destroyed
      await stores[0]?.clear();
      for (let i = 0; i < 5; i++) await stores[1]?.set(`q${i}`, owned('ada', t0 + i));
      expect((await stores[2]?.userSessions?.('ada'))?.map((s) => s.id)).toEqual([
        'q2',
        'q3',
        'q4',
      ]);
      // an old session logged in again stays: the newest others are kept
      await stores[1]?.set('old', owned('ada', t0 - 1_000));
      expect((await stores[2]?.userSessions?.('ada'))?.map((s) => s.id)).toEqual([
        'old',
        'q3',
        'q4',
      ]);
      // other users and anonymous sessions are not counted
      await stores[1]?.set('bob', owned('bob', t0));
      await stores[1]?.set('anon', owned(null, t0));
      expect(await stores[2]?.countUserSessions?.('ada')).toBe(N);
      expect(await stores[2]?.length()).toBe(N + 2);
    } finally {
      for (const store of stores) await store.close();
    }
  });

  it('maxSessionsPerUser: a write that keeps its user is one statement; a login, a creation or a stale index column takes the capped transaction', async () => {
    const tableName = table('capkeep');
    // Every statement sent on any of the pool's connections (BEGIN and COMMIT included).
    const counted = new pg.Pool({ connectionString: url, max: 2 });
    let statements = 0;
    counted.on('connect', (client) => {
      const query = client.query.bind(client);
      client.query = ((...args: Parameters<typeof query>) => {
        statements++;
        return query(...args);
      }) as typeof client.query;
    });
    const store = new PostgresStore({
      pool: counted,
      tableName,
      createTableIfMissing: true,
      pruneInterval: false,
      users: { user: 'userId', maxSessionsPerUser: 2 },
    });
    const t = pg.escapeIdentifier(tableName);
    const since = async <T>(work: () => Promise<T>) => {
      statements = 0;
      const result = await work();
      return { result, statements };
    };
    try {
      const t0 = Date.now();
      await store.set('b1', owned('bob', t0 - 2_000));
      await store.set('b2', owned('bob', t0 - 1_000));
      // a creation: BEGIN, the cap's lock, the write, the trim, COMMIT
      const created = await since(() => store.compareAndSet('x', null, owned('ada', t0)));
      expect(created).toEqual({ result: true, statements: 5 });
      // the same user again: one statement, no transaction
      const first = (await store.get('x')) as SessionRecord;
      const kept = await since(() =>
        store.compareAndSet('x', first, { ...first, n: 1 } as SessionRecord),
      );
      expect(kept).toEqual({ result: true, statements: 1 });
      // a stale expected record: false, and nothing written (the transaction re-checks)
      const stale = await since(() =>
        store.compareAndSet('x', first, { ...first, n: 2 } as SessionRecord),
      );
      expect(stale.result).toBe(false);
      expect((await store.get('x'))?.n).toBe(1);
      // connect-pg-simple gives x to bob behind the store: the column still says ada
      const bobs = { ...owned('bob', t0), n: 1 };
      await pool.query(`UPDATE ${t} SET sess = $1 WHERE sid = 'x'`, [JSON.stringify(bobs)]);
      const read = (await store.get('x')) as SessionRecord;
      const moved = await since(() =>
        store.compareAndSet('x', read, { ...read, n: 2 } as SessionRecord),
      );
      // the one statement changes nothing (the column names ada), then the capped transaction:
      // without it x would stay indexed as ada's and bob would be over the cap
      expect(moved).toEqual({ result: true, statements: 6 });
      expect((await store.userSessions?.('bob'))?.map((s) => s.id)).toEqual(['b2', 'x']);
      const column = await pool.query(`SELECT sess_user FROM ${t} WHERE sid = 'x'`);
      expect(column.rows[0].sess_user).toBe('bob');
      // a login (user changes): the capped transaction; bob keeps 2
      const b2 = (await store.get('b2')) as SessionRecord;
      const login = await since(() => store.compareAndSet('b2', b2, owned('ada', t0)));
      expect(login).toEqual({ result: true, statements: 5 });
      expect(await store.countUserSessions?.('bob')).toBe(1);
    } finally {
      await store.close();
      await counted.end();
    }
  });

  it('through @sess/express: logins are listed with their creation time, capped, and "log out everywhere else" works', async () => {
    const tableName = table('express');
    const store = new PostgresStore({
      pool,
      tableName,
      createTableIfMissing: true,
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
      // "log out everywhere else" from the fourth device
      expect(await store.destroyUserSessions?.('ada', logins[3]?.id)).toBe(2);
      expect(await me(logins[1]?.cookie ?? '')).toBeNull();
      expect(await me(logins[3]?.cookie ?? '')).toBe('ada');
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await store.close();
    }
  });

  describe('migrating a connect-pg-simple table', () => {
    it('adds the columns and the index once, on a table in use; connect-pg-simple goes on reading and writing it', async () => {
      const tableName = table('mig');
      await incumbentTable(pool, tableName);
      const PgSession = connectPgSimple(session);
      const legacy = new PgSession({ pool, tableName, pruneSessionInterval: false });
      await call((done) => legacy.set('before', owned('ada') as never, done));
      // Plain stores change nothing.
      const plain = new PostgresStore({ pool, tableName, pruneInterval: false });
      await plain.get('before');
      expect(await columns(tableName)).toEqual(['expire', 'sess', 'sid']);

      // Five processes start at once with `users`: one migrates, none fails.
      const stores = Array.from(
        { length: 5 },
        () =>
          new PostgresStore({
            connectionString: url,
            tableName,
            pruneInterval: false,
            users: { user: 'userId' },
          }),
      );
      const firsts = await Promise.all(stores.map((store) => store.get('before')));
      expect(firsts.every((r) => r?.['userId'] === 'ada')).toBe(true);
      expect(await columns(tableName)).toEqual([
        'expire',
        'sess',
        'sess_created',
        'sess_user',
        'sid',
      ]);
      expect(await indexes(tableName)).toContain(`IDX_${tableName}_sess_user`);
      const [store] = stores as [PostgresStore];

      // A row connect-pg-simple wrote is not in the index until this store writes it.
      expect(await store.countUserSessions?.('ada')).toBe(0);
      const before = await store.get('before');
      if (before) await store.set('before', before);
      expect(await store.countUserSessions?.('ada')).toBe(1);

      // connect-pg-simple reads, rewrites, touches and destroys rows of the migrated table.
      await store.set('mine', owned('ada'));
      expect(await call((done) => legacy.get('mine', done))).toMatchObject({ userId: 'ada' });
      await call((done) => legacy.set('theirs', owned('bob') as never, done));
      expect(await store.get('theirs')).toMatchObject({ userId: 'bob' });
      await call((done) => legacy.touch('mine', owned('ada') as never, () => done(null)));
      // connect-pg-simple logs 'mine' out: its column still says ada, the record does not,
      // and the listing follows the record.
      await call((done) => legacy.set('mine', owned(null) as never, done));
      expect((await store.userSessions?.('ada'))?.map((s) => s.id)).toEqual(['before']);
      expect(await store.destroyUserSessions?.('ada')).toBe(1);
      expect(await store.get('mine')).not.toBeNull(); // not ada's any more: kept
      await call((done) => legacy.destroy('mine', done));
      expect(await store.get('mine')).toBeNull();
      const count = await pool.query(
        `SELECT count(*)::int AS n FROM ${pg.escapeIdentifier(tableName)}`,
      );
      expect(count.rows[0].n).toBe(1); // bob's 'theirs' ('before' went with ada's sessions)

      // A second start finds everything in place and changes nothing.
      const later = new PostgresStore({
        pool,
        tableName,
        pruneInterval: false,
        users: { user: 'userId' },
      });
      await later.length();
      expect(await indexes(tableName)).toHaveLength(3);
      legacy.close();
      for (const s of [plain, later, ...stores]) await s.close();
    });

    it('with schemaName: the schema-qualified table is migrated and listed', async () => {
      const tableName = table('schema');
      const setup = new PostgresStore({
        pool,
        tableName,
        schemaName: 'public',
        pruneInterval: false,
      });
      await incumbentTable(pool, tableName);
      await setup.set('x', owned('ada'));
      const store = new PostgresStore({
        pool,
        tableName,
        schemaName: 'public',
        pruneInterval: false,
        users: { user: 'userId' },
      });
      expect(await store.countUserSessions?.('ada')).toBe(0); // written before the index
      await store.set('x', owned('ada'));
      expect((await store.userSessions?.('ada'))?.map((s) => s.id)).toEqual(['x']);
      expect(await indexes(tableName)).toContain(`IDX_${tableName}_sess_user`);
      await setup.close();
      await store.close();
    });

    it('a table missing at start is looked for again at the next operation', async () => {
      const tableName = table('late');
      const store = new PostgresStore({
        pool,
        tableName,
        pruneInterval: false,
        users: { user: 'userId' },
      });
      await expect(store.get('x')).rejects.toMatchObject({ name: 'StoreError' });
      await incumbentTable(pool, tableName);
      await store.set('x', owned('ada'));
      expect(await store.countUserSessions?.('ada')).toBe(1);
      expect(await columns(tableName)).toContain('sess_user');
      await store.close();
    });

    it('a table the index cannot be added to gets an error naming the migration', async () => {
      const tableName = table('clash');
      await incumbentTable(pool, tableName);
      // a column of that name already there, of a type a btree index cannot take
      await pool.query(`ALTER TABLE ${pg.escapeIdentifier(tableName)} ADD COLUMN sess_user json`);
      const store = new PostgresStore({
        pool,
        tableName,
        pruneInterval: false,
        users: { user: 'userId' },
      });
      await expect(store.get('x')).rejects.toThrow(/run the migration in the README/);
      const plain = new PostgresStore({ pool, tableName, pruneInterval: false });
      expect(await plain.get('x')).toBeNull(); // the table is untouched and usable without `users`
      await store.close();
      await plain.close();
    });
  });
});
