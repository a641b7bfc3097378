import { createHash } from 'node:crypto';
import {
  backgroundErrorReporter,
  checkStoreOptions,
  compareUserSessions,
  DEFAULT_TTL_MS,
  type Duration,
  encodeRecord,
  intervalRule,
  isSessionRecord,
  lifetimeRule,
  optionalDuration,
  type Pruner,
  resolveUserIndex,
  SessConfigError,
  type SessionRecord,
  type SessionStore,
  StoreClosedError,
  StoreError,
  type StoreErrorHandler,
  type StoreOperation,
  StoreUnavailableError,
  sessionCreatedAt,
  sessionExpiresAt,
  sessionExpiry,
  startPruner,
  type UserIndex,
  type UserIndexOptions,
  type UserSessionInfo,
  withDeadline,
} from '@sess/core';
import pg from 'pg';

export interface PostgresStoreOptions {
  /** A pg Pool. The store never ends a pool it was given. */
  pool?: pg.Pool;
  /** Connection string for a pool the store creates (and ends on `close()`). */
  connectionString?: string;
  /**
   * Options for the pool the store creates, merged over its defaults
   * (`connectionTimeoutMillis` and `query_timeout` = `timeout`, `allowExitOnIdle`).
   */
  poolOptions?: pg.PoolConfig;
  /** Schema of the table. Default: the connection's `search_path` (usually `public`). */
  schemaName?: string;
  /** Table name. Default `session`, as connect-pg-simple. */
  tableName?: string;
  /**
   * Create the table and its index when missing, at the first operation
   * (idempotent, safe when several processes start at once). Default `false`,
   * as connect-pg-simple: production databases usually get it by migration
   * (see `schema.sql` in this package's README).
   */
  createTableIfMissing?: boolean;
  /**
   * Lifetime of a session whose cookie has no `expires`: milliseconds (at least one hour as a
   * plain number: connect-pg-simple's `ttl` counts seconds, and `ttl: 86400` is refused) or a
   * unit (`'1d'`). Default one day, as connect-pg-simple.
   */
  ttl?: Duration;
  /**
   * How often expired rows are deleted: milliseconds (at least a minute as a plain number) or a
   * unit (`'15m'`); `0`/`false` disables it. Default 15 minutes, each delay spread over
   * 50%–150% (as connect-pg-simple), and one process at a time deletes (an advisory lock).
   */
  pruneInterval?: Duration | false;
  /** Make `touch` a no-op, as connect-pg-simple's option. Default `false`. */
  disableTouch?: boolean;
  /** Receives background failures (a failed prune, an idle connection lost). Default: a process warning. */
  onError?: StoreErrorHandler;
  /** connect-pg-simple's name for `connectionString`: the same. */
  conString?: string;
  /** connect-pg-simple's name for `poolOptions`: the same. */
  conObject?: pg.PoolConfig;
  /**
   * connect-pg-simple's logger, called as there with a label and the error
   * (`errorLog('Failed to prune sessions:', error)`); the same as `onError` otherwise.
   */
  errorLog?: (...args: unknown[]) => void;
  /**
   * Bound for one store operation (pool wait included), and for `close()`, in ms.
   * Default 5,000. A pool you give keeps its own timeouts: set its
   * `connectionTimeoutMillis` too, so waiters it holds do not pile up.
   */
  timeout?: number;
  /**
   * Keep an index of sessions by user (`{ user: 'userId' }`, see `UserIndexOptions` in
   * `@sess/core`): two nullable columns, `sess_user` and `sess_created`, and a partial index on
   * `(sess_user, expire)`, added to an existing table at the first operation. Enables
   * `userSessions`, `countUserSessions`, `destroyUserSessions` and `maxSessionsPerUser`.
   * Default: none (the table and every statement stay as connect-pg-simple's).
   */
  users?: UserIndexOptions;
  /**
   * Send the store's statements as named (prepared) statements, parsed and planned once per
   * connection instead of on every call. Default `true`. Turn it off behind a connection pooler
   * that cannot keep prepared statements across transactions (PgBouncer in transaction mode
   * before 1.21, or without `max_prepared_statements`).
   */
  prepare?: boolean;
}

const NAME = 'postgres';

const KNOWN_OPTIONS = [
  'pool',
  'connectionString',
  'poolOptions',
  'schemaName',
  'tableName',
  'createTableIfMissing',
  'ttl',
  'pruneInterval',
  'timeout',
  'disableTouch',
  'onError',
  'conString',
  'conObject',
  'errorLog',
  'users',
  'prepare',
] as const;

const INCUMBENT_OPTIONS = {
  pgPromise:
    'pass the pg Pool under your pg-promise database instead: `pool: db.$pool` (the same connections)',
  pruneSessionInterval:
    "connect-pg-simple counts it in seconds; sess's option is `pruneInterval`, in milliseconds or with a unit " +
    "(pruneSessionInterval: 60 is pruneInterval: '60s'; false is pruneInterval: false)",
  pruneSessionRandomizedInterval:
    'sess always spreads each prune delay over 50%–150% of `pruneInterval` (connect-pg-simple’s default ' +
    'randomizer) and lets one process at a time prune (an advisory lock); remove the option (a custom ' +
    'randomizer or turning it off is not supported)',
} as const;
/**
 * One advisory lock for every table creation by this store: creations are
 * rare, and a single key cannot be split by two spellings of one table
 * (`session` and `public.session`).
 */
const CREATE_LOCK = 'sess:store-postgres:create-table';
/** The user index's columns (nullable: rows connect-pg-simple writes leave them empty). */
const USER_COLUMN = 'sess_user';
const CREATED_COLUMN = 'sess_created';
/** deadlock_detected: two capped writes moving sessions between two users at once. */
const DEADLOCK = '40P01';
/** feature_not_supported: "cached plan must not change result type" (see `#stalePlan`). */
const FEATURE_NOT_SUPPORTED = '0A000';
/**
 * invalid_sql_statement_name ("prepared statement ... does not exist") and
 * duplicate_prepared_statement ("... already exists"): what a pooler that hands
 * each transaction another server connection (PgBouncer in transaction mode)
 * answers to prepared statements. Either way nothing ran.
 */
const LOST_PREPARED = new Set(['26000', '42P05']);
/** jsonb refuses some JSON that json stores: `\u0000`, lone surrogates. */
const NOT_JSONB = new Set(['22P05', '22P02']);
/** Driver and server codes that mean "the database is not reachable right now". */
const UNAVAILABLE = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENOTFOUND',
  'EPIPE',
  '57P01', // admin_shutdown
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now
  '53300', // too_many_connections
  '08000',
  '08003',
  '08006',
  '08001',
  '08004',
]);

/**
 * Sessions in a PostgreSQL table laid out as connect-pg-simple's: `sid`
 * (varchar primary key), `sess` (json), `expire` (timestamp(6)), indexed on
 * `expire`. Every value is a bound parameter; names are quoted by pg.
 * Expiry is compared against the app's clock, as connect-pg-simple does.
 */
export class PostgresStore implements SessionStore {
  readonly pool: pg.Pool;
  /** The quoted, schema-qualified table name. */
  readonly table: string;
  readonly #ownsPool: boolean;
  readonly #ttl: number;
  readonly #timeout: number;
  readonly #createTable: boolean;
  readonly #disableTouch: boolean;
  readonly #sql: ReturnType<typeof statements>;
  readonly #pruneLock: string;
  readonly #userLock: string;
  readonly #users: UserIndex | undefined;
  /** Statement text -> prepared statement name; `undefined` with `prepare: false`. */
  #names: Map<string, string> | undefined;
  #ready: Promise<void> | undefined;
  #pruner: Pruner | undefined;
  #closed = false;

  /** Present only with the `users` option (so `storeCapabilities` reports the capability then). */
  readonly userOf?: (session: SessionRecord) => string | null;
  readonly userSessions?: (user: string) => Promise<UserSessionInfo[]>;
  readonly countUserSessions?: (user: string) => Promise<number>;
  readonly destroyUserSessions?: (user: string, exceptId?: string) => Promise<number>;

  constructor(options: PostgresStoreOptions = {}) {
    checkStoreOptions(options, {
      store: 'postgres store',
      known: KNOWN_OPTIONS,
      incumbent: INCUMBENT_OPTIONS,
    });
    const tableName = options.tableName ?? 'session';
    for (const [label, name] of [
      ['tableName', tableName],
      ['schemaName', options.schemaName],
    ] as const) {
      // PostgreSQL would silently truncate a longer name: two tables could become one.
      const bytes = name === undefined ? 1 : Buffer.byteLength(name);
      if (bytes === 0 || bytes > 63 || name?.includes('\0')) {
        throw new SessConfigError(`postgres store: ${label} must be 1 to 63 bytes, no NUL`);
      }
    }
    for (const [ours, theirs] of [
      ['connectionString', 'conString'],
      ['poolOptions', 'conObject'],
      ['onError', 'errorLog'],
    ] as const) {
      if (options[ours] !== undefined && options[theirs] !== undefined) {
        throw new SessConfigError(
          `postgres store: give \`${ours}\` or \`${theirs}\` (connect-pg-simple's name), not both`,
        );
      }
    }
    this.table = options.schemaName
      ? `${pg.escapeIdentifier(options.schemaName)}.${pg.escapeIdentifier(tableName)}`
      : pg.escapeIdentifier(tableName);
    this.#sql = statements(this.table, tableName);
    if (options.prepare !== undefined && typeof options.prepare !== 'boolean') {
      throw new SessConfigError('postgres store: prepare must be a boolean');
    }
    this.#names = options.prepare === false ? undefined : statementNames(this.#sql);
    this.#pruneLock = `sess:store-postgres:prune:${this.table}`;
    this.#userLock = `sess:store-postgres:user:${this.table}`;
    const users = resolveUserIndex(options.users, 'postgres store');
    this.#users = users;
    if (users) {
      this.userOf = (session) => users.userOf(session);
      this.userSessions = async (user) => {
        const rows = await this.#userRows('userSessions', user);
        // A browser-session cookie lists no expiry (the row's is the store's ttl).
        return rows
          .map((row) =>
            users.info(row.sid, row.sess, sessionExpiry(row.sess) === null ? null : row.at),
          )
          .sort(compareUserSessions);
      };
      this.countUserSessions = async (user) =>
        (await this.#userRows('countUserSessions', user)).length;
      this.destroyUserSessions = (user, exceptId) => this.#destroyUserSessions(user, exceptId);
    }
    this.#ttl = optionalDuration(
      options.ttl,
      lifetimeRule('postgres store: ttl', { unit: 'seconds', incumbent: 'connect-pg-simple' }),
      DEFAULT_TTL_MS,
    );
    const every =
      options.pruneInterval === undefined
        ? 15 * 60_000
        : optionalDuration(options.pruneInterval, intervalRule('postgres store: pruneInterval'), 0);
    this.#timeout = options.timeout ?? 5_000;
    this.#createTable = options.createTableIfMissing ?? false;
    this.#disableTouch = options.disableTouch ?? false;
    if (!(this.#timeout > 0)) throw new SessConfigError('postgres store: timeout must be positive');
    const { errorLog } = options;
    if (errorLog !== undefined && typeof errorLog !== 'function') {
      throw new SessConfigError('postgres store: errorLog must be a function');
    }
    const report = backgroundErrorReporter(
      errorLog
        ? (error) =>
            errorLog(
              `${error.operation === 'connect' ? 'PG Pool error' : 'Failed to prune sessions'}:`,
              error,
            )
        : options.onError,
    );

    const connectionString = options.connectionString ?? options.conString;
    const poolOptions = options.poolOptions ?? options.conObject;
    this.#ownsPool = options.pool === undefined;
    if (options.pool) {
      this.pool = options.pool;
    } else {
      if (!connectionString && !poolOptions) {
        throw new SessConfigError(
          'postgres store: give a `pool` or a `connectionString` (connect-pg-simple fell back to ' +
            'DATABASE_URL; sess reads no environment variable: connectionString: process.env.DATABASE_URL)',
        );
      }
      this.pool = new pg.Pool({
        connectionString,
        connectionTimeoutMillis: this.#timeout,
        // pg drops a connection whose query outlives this, so a server that
        // stops answering cannot hold the pool (or close()) forever.
        query_timeout: this.#timeout,
        idleTimeoutMillis: 10_000,
        allowExitOnIdle: true,
        ...poolOptions,
      });
      // An idle client that loses its connection emits here; without a
      // listener that would crash the process. The next query fails too.
      this.pool.on('error', (cause) =>
        report(
          new StoreUnavailableError(NAME, 'connect', 'an idle connection was lost', { cause }),
        ),
      );
    }

    if (every > 0) {
      this.#pruner = startPruner({
        every,
        run: () => this.#pruneOnce(),
        report: (error) => report(storeError('clear', error)),
      });
    }
  }

  async get(id: string): Promise<SessionRecord | null> {
    const result = await this.#query('get', this.#sql.get, [id, Date.now()]);
    const sess: unknown = result.rows[0]?.sess;
    return isSessionRecord(sess) ? sess : null;
  }

  async set(id: string, session: SessionRecord): Promise<void> {
    const expire = this.#expiresAt(session);
    if (expire <= Date.now()) await this.#query('set', this.#sql.destroy, [id]);
    else if (this.#users === undefined) {
      await this.#query('set', this.#sql.upsert, [id, encode('set', session), expire]);
    } else {
      const [user, created] = this.#indexOf(session);
      const values = [id, encode('set', session), expire, user, created];
      await this.#write('set', this.#sql.upsertUser, values, id, user);
    }
  }

  async touch(id: string, session: SessionRecord): Promise<void> {
    if (this.#disableTouch) return;
    const expire = this.#expiresAt(session);
    const now = Date.now();
    if (expire <= now) await this.#query('touch', this.#sql.destroyLive, [id, now]);
    else await this.#query('touch', this.#sql.touch, [id, expire, now]);
  }

  async destroy(id: string): Promise<void> {
    await this.#query('destroy', this.#sql.destroy, [id]);
  }

  async ids(): Promise<string[]> {
    const result = await this.#query('ids', this.#sql.ids, [Date.now()]);
    return result.rows.map((row) => row.sid as string);
  }

  async all(): Promise<Record<string, SessionRecord>> {
    const result = await this.#query('all', this.#sql.all, [Date.now()]);
    const out: Record<string, SessionRecord> = {};
    for (const row of result.rows) {
      if (isSessionRecord(row.sess)) out[row.sid as string] = row.sess;
    }
    return out;
  }

  async length(): Promise<number> {
    const result = await this.#query('length', this.#sql.length, [Date.now()]);
    return Number(result.rows[0]?.count ?? 0);
  }

  async clear(): Promise<void> {
    await this.#query('clear', this.#sql.clear, []);
  }

  /**
   * One statement each way: a conditional UPDATE compares the stored JSON
   * semantically (`jsonb` equality, so formatting and key order written by
   * another library never make it fail forever); for an absent record, an
   * INSERT that may replace only an expired row. A record jsonb cannot hold
   * (a `\u0000` or a lone surrogate in a string) is compared as text instead,
   * in a second statement, rather than failing every save of that session.
   */
  async compareAndSet(
    id: string,
    expected: SessionRecord | null,
    next: SessionRecord,
  ): Promise<boolean> {
    if (this.#users !== undefined) return this.#compareAndSetIndexed(id, expected, next);
    const expire = this.#expiresAt(next);
    const now = Date.now();
    if (expected === null) {
      const result =
        expire <= now
          ? await this.#query('compareAndSet', this.#sql.liveExists, [id, now])
          : await this.#query('compareAndSet', this.#sql.insertIfAbsent, [
              id,
              encode('compareAndSet', next),
              expire,
              now,
            ]);
      return expire <= now ? result.rowCount === 0 : result.rowCount === 1;
    }
    const want = encode('compareAndSet', expected);
    const [semantic, textual, values] =
      expire <= now
        ? [this.#sql.destroyIfSame, this.#sql.destroyIfSameText, [id, want, now]]
        : [
            this.#sql.updateIfSame,
            this.#sql.updateIfSameText,
            [id, encode('compareAndSet', next), expire, want, now],
          ];
    try {
      return (await this.#query('compareAndSet', semantic, values)).rowCount === 1;
    } catch (error) {
      const code = (error as { cause?: { code?: unknown } }).cause?.code;
      if (typeof code !== 'string' || !NOT_JSONB.has(code)) throw error;
      return (await this.#query('compareAndSet', textual, values)).rowCount === 1;
    }
  }

  /**
   * compareAndSet with a user index: the same statements, which also set the
   * user and creation columns from `next`; through `#write` (the cap).
   */
  async #compareAndSetIndexed(
    id: string,
    expected: SessionRecord | null,
    next: SessionRecord,
  ): Promise<boolean> {
    const expire = this.#expiresAt(next);
    const now = Date.now();
    if (expected === null && expire <= now) {
      return (await this.#query('compareAndSet', this.#sql.liveExists, [id, now])).rowCount === 0;
    }
    const [user, created] = this.#indexOf(next);
    if (expected === null) {
      const values = [id, encode('compareAndSet', next), expire, now, user, created];
      const result = await this.#write(
        'compareAndSet',
        this.#sql.insertIfAbsentUser,
        values,
        id,
        user,
      );
      return result.rowCount === 1;
    }
    const want = encode('compareAndSet', expected);
    const live = expire > now;
    const [semantic, textual, values] = live
      ? [
          this.#sql.updateIfSameUser,
          this.#sql.updateIfSameTextUser,
          [id, encode('compareAndSet', next), expire, want, now, user, created],
        ]
      : [this.#sql.destroyIfSame, this.#sql.destroyIfSameText, [id, want, now]];
    if (
      live &&
      user !== null &&
      this.#users !== undefined &&
      this.#users.maxSessionsPerUser !== Number.POSITIVE_INFINITY &&
      this.#users.userOf(expected) === user
    ) {
      // The session stays its user's: when the row's index column already
      // names that user, the write gives the user no new session, so it needs
      // neither the cap's lock nor its trim: one statement. Otherwise (the
      // record changed, or the column is stale because connect-pg-simple
      // rewrote the row) the capped transaction below decides.
      const kept = (text: string) => this.#query('compareAndSet', text, values);
      const { updateIfSameUserKept, updateIfSameTextUserKept } = this.#sql;
      if (await this.#semanticThenText(kept, updateIfSameUserKept, updateIfSameTextUserKept)) {
        return true;
      }
    }
    const run = (text: string) =>
      live
        ? this.#write('compareAndSet', text, values, id, user)
        : this.#query('compareAndSet', text, values);
    return this.#semanticThenText(run, semantic, textual);
  }

  /**
   * Run the statement comparing as `jsonb`; when PostgreSQL refuses the
   * record as jsonb (see `NOT_JSONB`), its twin comparing as text. Resolves
   * whether it changed a row.
   */
  async #semanticThenText(
    run: (text: string) => Promise<pg.QueryResult>,
    semantic: string,
    textual: string,
  ): Promise<boolean> {
    try {
      return (await run(semantic)).rowCount === 1;
    } catch (error) {
      const code = (error as { cause?: { code?: unknown } }).cause?.code;
      if (typeof code !== 'string' || !NOT_JSONB.has(code)) throw error;
      return (await run(textual)).rowCount === 1;
    }
  }

  /** The index columns of a record: its user and its creation time. */
  #indexOf(session: SessionRecord): [string | null, number | null] {
    const user = this.#users?.userOf(session) ?? null;
    const created = sessionCreatedAt(session);
    return [user, created === null ? null : Math.trunc(created)];
  }

  /**
   * A write that indexes a user. Without a cap, the statement alone. With
   * `maxSessionsPerUser`, a transaction that takes an advisory lock for this
   * user first (every write that gives a session to the user takes it, so
   * two creations cannot both count N-1 others), runs the write, then deletes
   * the user's oldest live sessions beyond the cap, never the one written.
   */
  async #write(
    operation: StoreOperation,
    text: string,
    values: unknown[],
    id: string,
    user: string | null,
  ): Promise<pg.QueryResult> {
    const cap = this.#users?.maxSessionsPerUser ?? Number.POSITIVE_INFINITY;
    if (user === null || cap === Number.POSITIVE_INFINITY) {
      return this.#query(operation, text, values);
    }
    return this.#transaction(operation, async (client) => {
      await client.query(this.#named(this.#sql.lockUser, [this.#userLock, user]));
      const result = await client.query(this.#named(text, values));
      if (result.rowCount === 1) {
        await client.query(this.#named(this.#sql.trimUser, [user, id, Date.now(), cap - 1]));
      }
      return result;
    });
  }

  /** The user's live rows whose record still names that user (connect-pg-simple may have rewritten one). */
  async #userRows(
    operation: StoreOperation,
    user: string,
  ): Promise<{ sid: string; sess: SessionRecord; at: number }[]> {
    const result = await this.#query(operation, this.#sql.userRows, [user, Date.now()]);
    const users = this.#users;
    return result.rows
      .filter((row) => isSessionRecord(row.sess) && users?.userOf(row.sess) === user)
      .map((row) => ({
        sid: row.sid as string,
        sess: row.sess as SessionRecord,
        at: Number(row.at),
      }));
  }

  async #destroyUserSessions(user: string, exceptId?: string): Promise<number> {
    const ids = (await this.#userRows('destroyUserSessions', user))
      .map((row) => row.sid)
      .filter((sid) => sid !== exceptId);
    if (ids.length === 0) return 0;
    const result = await this.#query('destroyUserSessions', this.#sql.destroyUserRows, [
      ids,
      user,
      Date.now(),
    ]);
    return result.rowCount ?? 0;
  }

  /** Delete expired rows now; resolves how many went. */
  async prune(now: number = Date.now()): Promise<number> {
    const result = await this.#query('clear', this.#sql.prune, [now]);
    return result.rowCount ?? 0;
  }

  /**
   * The background prune: the same DELETE, run only by the process that gets a
   * transaction-scoped advisory lock on this table (the others skip this round).
   */
  async #pruneOnce(): Promise<number> {
    const result = await this.#query('clear', this.#sql.pruneLocked, [Date.now(), this.#pruneLock]);
    return result.rowCount ?? 0;
  }

  /**
   * Stops the prune timer and ends a pool the store created (a pool it was
   * given stays open). Bounded by `timeout`; idempotent.
   */
  async close(): Promise<void> {
    this.#pruner?.stop();
    this.#pruner = undefined;
    if (this.#closed) return;
    this.#closed = true;
    if (!this.#ownsPool) return;
    await this.#bounded(
      'close',
      this.pool.end().catch((cause: unknown) => {
        throw storeError('close', cause);
      }),
    );
  }

  /**
   * The statement as a named (prepared) one: PostgreSQL parses and plans it
   * once per connection, not on every call. Every statement text of this store
   * has a name of its own (a hash of the text, so two stores on one pool with
   * different tables never share one); with `prepare: false`, unnamed.
   */
  #named(text: string, values: unknown[]): pg.QueryConfig {
    const name = this.#names?.get(text);
    return name === undefined ? { text, values } : { name, text, values };
  }

  /**
   * Whether `error` is PostgreSQL refusing a prepared statement: one whose result
   * columns changed type since it was prepared (a migration turned `sess` into
   * `jsonb` under a running app), or one a pooler lost (see `LOST_PREPARED`). The
   * statement stays unusable, so the store goes on with unnamed statements, and
   * the caller runs the statement once more.
   */
  #stalePlan(error: unknown): boolean {
    if (this.#names === undefined) return false;
    const { code, message } = error as { code?: unknown; message?: unknown };
    const stale = code === FEATURE_NOT_SUPPORTED && String(message).includes('cached plan');
    // Behind a transaction-mode pooler the statement was prepared on a server
    // connection this one is not: a config ported from connect-pg-simple (which
    // never prepares) must keep working there, so the store stops preparing.
    if (!stale && !LOST_PREPARED.has(code as string)) return false;
    this.#names = undefined;
    return true;
  }

  #expiresAt(session: SessionRecord): number {
    return sessionExpiresAt(session, this.#ttl);
  }

  /** Run one statement within the time bound, after the table exists. */
  async #query(
    operation: StoreOperation,
    text: string,
    values: unknown[],
  ): Promise<pg.QueryResult> {
    if (this.#closed) throw new StoreClosedError(NAME, operation);
    return this.#bounded(
      operation,
      (async () => {
        try {
          await this.#ensureTable();
          try {
            return await this.pool.query(this.#named(text, values));
          } catch (error) {
            if (!this.#stalePlan(error)) throw error;
            return await this.pool.query(this.#named(text, values));
          }
        } catch (cause) {
          throw storeError(operation, cause);
        }
      })(),
    );
  }

  /**
   * `work` in one transaction on one pooled connection, within the time
   * bound; retried once when PostgreSQL ends it as a deadlock.
   */
  async #transaction<T>(
    operation: StoreOperation,
    work: (client: pg.PoolClient) => Promise<T>,
  ): Promise<T> {
    if (this.#closed) throw new StoreClosedError(NAME, operation);
    const once = async (): Promise<T> => {
      const client = await this.pool.connect();
      try {
        await client.query('BEGIN');
        const result = await work(client);
        await client.query('COMMIT');
        return result;
      } catch (error) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw error;
      } finally {
        client.release();
      }
    };
    return this.#bounded(
      operation,
      (async () => {
        try {
          await this.#ensureTable();
          try {
            return await once();
          } catch (error) {
            if ((error as { code?: unknown }).code !== DEADLOCK && !this.#stalePlan(error)) {
              throw error;
            }
            return await once();
          }
        } catch (cause) {
          throw storeError(operation, cause);
        }
      })(),
    );
  }

  /** `work` within the store's time bound; past it, a StoreUnavailableError. */
  #bounded<T>(operation: StoreOperation, work: Promise<T>): Promise<T> {
    const ms = this.#timeout;
    return withDeadline(
      work,
      ms,
      () => new StoreUnavailableError(NAME, operation, `no answer within ${ms} ms`),
    );
  }

  #ensureTable(): Promise<void> {
    if (!this.#createTable && this.#users === undefined) return Promise.resolve();
    this.#ready ??= this.#createTableNow().catch((error: unknown) => {
      this.#ready = undefined; // try again on the next operation
      throw error;
    });
    return this.#ready;
  }

  /**
   * CREATE ... IF NOT EXISTS is not safe against itself: two sessions that
   * run it at once can both try to create the row type. A transaction-scoped
   * advisory lock serialises creators. Like connect-pg-simple, an existing
   * table is used as it is (no second index on a table a migration made).
   */
  async #createTableNow(): Promise<void> {
    const client = await this.pool.connect();
    let missing = false;
    try {
      await client.query('BEGIN');
      // Wait at most the store's timeout behind other transactions for the
      // table lock an ALTER TABLE needs, instead of queueing every other
      // query on the table behind us.
      await client.query(`SET LOCAL lock_timeout = ${Math.ceil(this.#timeout)}`);
      await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [CREATE_LOCK]);
      const found = await client.query('SELECT to_regclass($1) AS oid', [this.table]);
      if (found.rows[0]?.oid == null) {
        if (this.#createTable) {
          await client.query(this.#sql.createTable);
          await client.query(this.#sql.createIndex);
          if (this.#users) {
            await client.query(this.#sql.addUserColumns);
            await client.query(this.#sql.createUserIndex);
          }
        } else {
          missing = true; // look again at the next operation (a migration may create it)
        }
      } else if (this.#users) {
        await this.#addUserIndex(client);
      }
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
    if (missing) this.#ready = undefined;
  }

  /**
   * Migrate an existing table (connect-pg-simple's) for the user index: two
   * nullable columns without a default (a change of the catalog only, no
   * rewrite) and a partial index, each only when missing, so a table already
   * migrated takes no lock beyond the advisory one. connect-pg-simple names
   * its columns in every statement, so it goes on reading and writing it.
   */
  async #addUserIndex(client: pg.PoolClient): Promise<void> {
    const columns = await client.query(this.#sql.userColumnsPresent, [
      this.table,
      [USER_COLUMN, CREATED_COLUMN],
    ]);
    try {
      if (columns.rows.length < 2) await client.query(this.#sql.addUserColumns);
      const index = await client.query(this.#sql.userIndexPresent, [
        this.table,
        this.#sql.userIndexName,
      ]);
      if (index.rows.length === 0) await client.query(this.#sql.createUserIndex);
    } catch (cause) {
      throw new StoreError(
        NAME,
        'connect',
        `cannot add the user index to ${this.table} (${cause instanceof Error ? cause.message : String(cause)}); ` +
          'run the migration in the README (section "Sessions by user") as the table owner',
        { cause },
      );
    }
  }
}

/** Encode a record, as a typed error when it cannot be (a BigInt, a cycle). */
function encode(operation: StoreOperation, session: SessionRecord): string {
  try {
    return encodeRecord(session);
  } catch (cause) {
    throw new StoreError(NAME, operation, 'the session cannot be encoded as JSON', { cause });
  }
}

/** The SQL, built once per store from the quoted table name. */
function statements(table: string, tableName: string) {
  const at = 'to_timestamp($N / 1000.0)';
  const ts = (n: number) => at.replace('$N', `$${n}`);
  const index = pg.escapeIdentifier(indexName(tableName, 'expire'));
  const userIndexName = indexName(tableName, USER_COLUMN);
  const user = pg.escapeIdentifier(USER_COLUMN);
  const created = pg.escapeIdentifier(CREATED_COLUMN);
  return {
    userIndexName,
    addUserColumns: `ALTER TABLE ${table} ADD COLUMN IF NOT EXISTS ${user} text,
      ADD COLUMN IF NOT EXISTS ${created} bigint`,
    createUserIndex: `CREATE INDEX IF NOT EXISTS ${pg.escapeIdentifier(userIndexName)}
      ON ${table} (${user}, "expire") WHERE ${user} IS NOT NULL`,
    userColumnsPresent: `SELECT attname FROM pg_attribute
      WHERE attrelid = $1::regclass AND attname = ANY($2) AND attnum > 0 AND NOT attisdropped`,
    userIndexPresent: `SELECT 1 FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
      WHERE i.indrelid = $1::regclass AND c.relname = $2`,
    upsertUser: `INSERT INTO ${table} (sid, sess, expire, ${user}, ${created})
      VALUES ($1, $2, ${ts(3)}, $4, $5)
      ON CONFLICT (sid) DO UPDATE SET sess = EXCLUDED.sess, expire = EXCLUDED.expire,
        ${user} = EXCLUDED.${user}, ${created} = EXCLUDED.${created}`,
    insertIfAbsentUser: `INSERT INTO ${table} AS t (sid, sess, expire, ${user}, ${created})
      VALUES ($1, $2, ${ts(3)}, $5, $6)
      ON CONFLICT (sid) DO UPDATE SET sess = EXCLUDED.sess, expire = EXCLUDED.expire,
        ${user} = EXCLUDED.${user}, ${created} = EXCLUDED.${created}
      WHERE t.expire <= ${ts(4)}`,
    updateIfSameUser: `UPDATE ${table} SET sess = $2, expire = ${ts(3)}, ${user} = $6, ${created} = $7
      WHERE sid = $1 AND expire > ${ts(5)} AND sess::jsonb = $4::jsonb`,
    updateIfSameTextUser: `UPDATE ${table} SET sess = $2, expire = ${ts(3)}, ${user} = $6, ${created} = $7
      WHERE sid = $1 AND expire > ${ts(5)} AND sess::text = $4::text`,
    updateIfSameUserKept: `UPDATE ${table} SET sess = $2, expire = ${ts(3)}, ${created} = $7
      WHERE sid = $1 AND expire > ${ts(5)} AND ${user} = $6 AND sess::jsonb = $4::jsonb`,
    updateIfSameTextUserKept: `UPDATE ${table} SET sess = $2, expire = ${ts(3)}, ${created} = $7
      WHERE sid = $1 AND expire > ${ts(5)} AND ${user} = $6 AND sess::text = $4::text`,
    lockUser: 'SELECT pg_advisory_xact_lock(hashtext($1), hashtext($2))',
    // The expiry as epoch ms: timestamp -> timestamptz undoes to_timestamp's
    // conversion to the connection's TimeZone.
    userRows: `SELECT sid, sess, extract(epoch FROM expire::timestamptz) * 1000 AS at
      FROM ${table} WHERE ${user} = $1 AND expire > ${ts(2)}`,
    destroyUserRows: `DELETE FROM ${table}
      WHERE sid = ANY($1::varchar[]) AND ${user} = $2 AND expire > ${ts(3)}`,
    // Keep the cap - 1 newest other live sessions of the user (newest: by
    // creation, unknown creation counting as oldest, then id), delete the rest.
    trimUser: `DELETE FROM ${table} WHERE ${user} = $1 AND sid IN (
      SELECT sid FROM ${table} WHERE ${user} = $1 AND sid <> $2 AND expire > ${ts(3)}
      ORDER BY ${created} DESC NULLS LAST, sid DESC OFFSET $4)`,
    createTable: `CREATE TABLE ${table} (
      "sid" varchar NOT NULL COLLATE "default" PRIMARY KEY,
      "sess" json NOT NULL,
      "expire" timestamp(6) NOT NULL
    )`,
    createIndex: `CREATE INDEX ${index} ON ${table} ("expire")`,
    get: `SELECT sess FROM ${table} WHERE sid = $1 AND expire > ${ts(2)}`,
    upsert: `INSERT INTO ${table} (sid, sess, expire) VALUES ($1, $2, ${ts(3)})
      ON CONFLICT (sid) DO UPDATE SET sess = EXCLUDED.sess, expire = EXCLUDED.expire`,
    touch: `UPDATE ${table} SET expire = ${ts(2)} WHERE sid = $1 AND expire > ${ts(3)}`,
    destroy: `DELETE FROM ${table} WHERE sid = $1`,
    destroyLive: `DELETE FROM ${table} WHERE sid = $1 AND expire > ${ts(2)}`,
    ids: `SELECT sid FROM ${table} WHERE expire > ${ts(1)}`,
    all: `SELECT sid, sess FROM ${table} WHERE expire > ${ts(1)}`,
    length: `SELECT count(*) AS count FROM ${table} WHERE expire > ${ts(1)}`,
    clear: `DELETE FROM ${table}`,
    prune: `DELETE FROM ${table} WHERE expire <= ${ts(1)}`,
    pruneLocked: `WITH lock AS (SELECT pg_try_advisory_xact_lock(hashtext($2)) AS held)
      DELETE FROM ${table} USING lock WHERE lock.held AND expire <= ${ts(1)}`,
    liveExists: `SELECT 1 FROM ${table} WHERE sid = $1 AND expire > ${ts(2)}`,
    insertIfAbsent: `INSERT INTO ${table} AS t (sid, sess, expire) VALUES ($1, $2, ${ts(3)})
      ON CONFLICT (sid) DO UPDATE SET sess = EXCLUDED.sess, expire = EXCLUDED.expire
      WHERE t.expire <= ${ts(4)}`,
    updateIfSame: `UPDATE ${table} SET sess = $2, expire = ${ts(3)}
      WHERE sid = $1 AND expire > ${ts(5)} AND sess::jsonb = $4::jsonb`,
    destroyIfSame: `DELETE FROM ${table}
      WHERE sid = $1 AND expire > ${ts(3)} AND sess::jsonb = $2::jsonb`,
    updateIfSameText: `UPDATE ${table} SET sess = $2, expire = ${ts(3)}
      WHERE sid = $1 AND expire > ${ts(5)} AND sess::text = $4::text`,
    destroyIfSameText: `DELETE FROM ${table}
      WHERE sid = $1 AND expire > ${ts(3)} AND sess::text = $2::text`,
  };
}

/**
 * A prepared-statement name for each statement text: `sess_` and 24 hex digits
 * of its SHA-256 (PostgreSQL keeps 63 bytes of a name; equal texts share a name,
 * which is what pg expects of a name).
 */
function statementNames(sql: Record<string, string>): Map<string, string> {
  const names = new Map<string, string>();
  for (const text of Object.values(sql)) {
    names.set(text, `sess_${createHash('sha256').update(text).digest('hex').slice(0, 24)}`);
  }
  return names;
}

/**
 * connect-pg-simple's name for the default table; a long table name gets a
 * hash so PostgreSQL's 63-byte truncation cannot make two indexes collide.
 */
function indexName(tableName: string, column: string): string {
  const plain = `IDX_${tableName}_${column}`;
  if (Buffer.byteLength(plain) <= 63) return plain;
  const hash = createHash('sha256').update(tableName).digest('hex').slice(0, 8);
  const head = [...tableName]; // code points, so a cut never splits a character
  while (Buffer.byteLength(`IDX_${head.join('')}_${hash}_${column}`) > 63) head.pop();
  return `IDX_${head.join('')}_${hash}_${column}`;
}

function storeError(operation: StoreOperation, cause: unknown): StoreError {
  if (cause instanceof StoreError) return cause;
  const code = (cause as { code?: unknown } | null)?.code;
  const message = cause instanceof Error ? cause.message : String(cause);
  if (
    (typeof code === 'string' && UNAVAILABLE.has(code)) ||
    /timeout|terminated|Connection terminated/i.test(message)
  ) {
    return new StoreUnavailableError(NAME, operation, 'the database is not reachable', { cause });
  }
  return new StoreError(NAME, operation, message, { cause });
}
