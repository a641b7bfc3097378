import {
  backgroundErrorReporter,
  CorruptRecordError,
  checkStoreOptions,
  compareUserSessions,
  DEFAULT_TTL_MS,
  type Duration,
  decodeRecord,
  encodeRecord,
  intervalRule,
  lifetimeRule,
  MAX_TIMER_MS,
  optionalDuration,
  type Pruner,
  parseDuration,
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
} from '@sess/core';
import Database from 'better-sqlite3';

/**
 * The two table layouts the store reads and writes:
 * - `sess`: `(id TEXT, session TEXT, expires INTEGER ms)`;
 * - `better-sqlite3-session-store`: `(sid TEXT, sess JSON, expire TEXT ISO-8601)`, the layout
 *   of that store, so its database keeps working (and can go on being shared with it).
 */
export type SqliteLayout = 'sess' | 'better-sqlite3-session-store';

export interface SqliteStoreOptions {
  /** An open better-sqlite3 Database. The store never closes a database it was given. */
  db?: Database.Database;
  /** better-sqlite3-session-store's name for `db` (same meaning; give one of the two). */
  client?: Database.Database;
  /** A file to open (`:memory:` allowed) when no `db` is given. Default `./sessions.db`. */
  filename?: string;
  /** Table name: letters, digits and `_`, starting with a letter or `_`. Default `sessions`. */
  table?: string;
  /**
   * The table's layout. Default: the layout of the existing table (detected from its
   * columns), and `sess` for a table the store creates. Give
   * `'better-sqlite3-session-store'` to create that layout, e.g. while an instance of that
   * store still shares the file.
   */
  layout?: SqliteLayout;
  /**
   * Lifetime of a record stored without `cookie.expires`: milliseconds (at least one hour as a
   * plain number) or a string with a unit (`'1d'`). Default one day.
   */
  ttl?: Duration;
  /**
   * How often expired rows are deleted: milliseconds (at least a minute as a plain number) or
   * a unit (`'15m'`); `0` or `false` disables it. Default 15 minutes, spread over 50%–150%.
   */
  pruneInterval?: Duration | false;
  /**
   * better-sqlite3-session-store's prune settings, honoured: `intervalMs` (milliseconds, as
   * there) is `pruneInterval`; `clear: false` disables pruning (that store ignores it and
   * prunes anyway; reads never return expired rows either way).
   */
  expired?: { clear?: boolean; intervalMs?: number };
  /** How long a write waits for another process's lock, in ms (files the store opens). Default 5,000. */
  busyTimeout?: number;
  /** Receives background failures (a failed prune). Default: a process warning. */
  onError?: StoreErrorHandler;
  /**
   * Keep an index of sessions by user (`{ user: 'userId' }`, see `UserIndexOptions` in
   * `@sess/core`) in a companion table `<table>_sess_users`, written in the same transaction as
   * the session. Enables `userSessions`, `countUserSessions`, `destroyUserSessions` and
   * `maxSessionsPerUser`. Default: none (no companion table, every statement as without it).
   */
  users?: UserIndexOptions;
}

const KNOWN_OPTIONS = [
  'db',
  'client',
  'filename',
  'table',
  'layout',
  'ttl',
  'pruneInterval',
  'expired',
  'busyTimeout',
  'onError',
  'users',
] as const;

const NAME = 'sqlite';
const TABLE_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

/**
 * Sessions in one SQLite table: `(id TEXT PRIMARY KEY, session TEXT, expires
 * INTEGER ms)`, indexed on `expires`. better-sqlite3 is synchronous, so every
 * operation finishes before its promise is returned; the promise API keeps the
 * store interchangeable with the networked ones.
 */
export class SqliteStore implements SessionStore {
  /** The database the store writes to. */
  readonly db: Database.Database;
  readonly table: string;
  /** The layout of the table, detected or chosen. */
  readonly layout: SqliteLayout;
  readonly #ownsDb: boolean;
  readonly #ttl: number;
  readonly #sql: Statements;
  readonly #at: (ms: number) => number | string;
  readonly #users: UserIndex | undefined;
  readonly #index: IndexStatements | undefined;
  #pruner: Pruner | undefined;
  #closed = false;
  #swap:
    | Database.Transaction<
        (id: string, wanted: string | null, next: SessionRecord, expires: number) => boolean
      >
    | undefined;
  #indexedWrite:
    | Database.Transaction<(id: string, session: SessionRecord, expires: number) => void>
    | undefined;
  #indexedDestroy: Database.Transaction<(id: string) => number> | undefined;

  /** Present only with the `users` option (so `storeCapabilities` reports the capability then). */
  readonly userOf?: (session: SessionRecord) => string | null;
  readonly userSessions?: (user: string) => Promise<UserSessionInfo[]>;
  readonly countUserSessions?: (user: string) => Promise<number>;
  readonly destroyUserSessions?: (user: string, exceptId?: string) => Promise<number>;

  constructor(options: SqliteStoreOptions = {}) {
    checkStoreOptions(options, {
      store: 'sqlite store',
      known: KNOWN_OPTIONS,
      incumbent: CONNECT_SQLITE3_OPTIONS,
    });
    const table = options.table ?? 'sessions';
    if (typeof table !== 'string' || !TABLE_NAME.test(table)) {
      throw new SessConfigError(
        `sqlite store: table name ${JSON.stringify(table)} must match ${TABLE_NAME}`,
      );
    }
    if (options.db !== undefined && options.client !== undefined) {
      throw new SessConfigError('sqlite store: give `db` or `client` (the same thing), not both');
    }
    if (options.layout !== undefined && !LAYOUTS.has(options.layout)) {
      throw new SessConfigError(
        `sqlite store: layout must be 'sess' or 'better-sqlite3-session-store', not ${JSON.stringify(options.layout)}`,
      );
    }
    this.table = table;
    this.#ttl = optionalDuration(options.ttl, lifetimeRule('sqlite store: ttl'), DEFAULT_TTL_MS);
    const every = pruneEvery(options);
    const users = resolveUserIndex(options.users, 'sqlite store');
    this.#users = users;
    const report = backgroundErrorReporter(options.onError);
    const given = options.db ?? options.client;
    if (given !== undefined && typeof (given as { prepare?: unknown }).prepare !== 'function') {
      throw new SessConfigError(
        `sqlite store: \`${options.db !== undefined ? 'db' : 'client'}\` must be a better-sqlite3 Database, not ${typeof given === 'string' ? `the string ${JSON.stringify(given)}: a file name (connect-sqlite3's \`db\`) is \`filename\` here` : `a ${given === null ? 'null' : typeof given}`}`,
      );
    }
    this.#ownsDb = given === undefined;
    this.db = given ?? openDatabase(options.filename ?? './sessions.db', options.busyTimeout);
    try {
      this.layout = detectLayout(this.db, table, options.layout);
      this.#sql = prepare(this.db, table, this.layout);
      this.#index = users ? prepareIndex(this.db, table, this.layout) : undefined;
    } catch (cause) {
      if (this.#ownsDb) this.db.close();
      if (cause instanceof SessConfigError) throw cause;
      throw new StoreError(NAME, 'connect', `cannot create table "${table}"`, { cause });
    }
    this.#at = this.layout === 'sess' ? (ms) => ms : (ms) => new Date(ms).toISOString();
    if (users) {
      this.userOf = (session) => users.userOf(session);
      this.userSessions = async (user) =>
        this.#run('userSessions', () =>
          this.#userRows(user)
            // A browser-session cookie lists no expiry (the row's is the store's ttl).
            .map((row) =>
              users.info(
                row.id,
                row.record,
                sessionExpiry(row.record) === null ? null : row.expires,
              ),
            )
            .sort(compareUserSessions),
        );
      this.countUserSessions = async (user) =>
        this.#run('countUserSessions', () => this.#userRows(user).length);
      this.destroyUserSessions = async (user, exceptId) =>
        this.#run('destroyUserSessions', () => {
          const index = this.#index as IndexStatements;
          return this.db
            .transaction(() => {
              let count = 0;
              for (const row of this.#userRows(user)) {
                if (row.id !== exceptId) count += index.remove(row.id);
              }
              return count;
            })
            .immediate();
        });
    }
    if (every > 0) {
      this.#pruner = startPruner({
        every,
        run: async () => this.prune(),
        report: (error) => report(storeError('clear', error)),
      });
    }
  }

  async get(id: string): Promise<SessionRecord | null> {
    const row = this.#run('get', () => this.#sql.get.get(id, this.#at(Date.now())));
    return row ? decode(row.session) : null;
  }

  async set(id: string, session: SessionRecord): Promise<void> {
    const expires = this.#expiresAt(session);
    this.#run('set', () => {
      if (this.#index?.single && this.#users?.maxSessionsPerUser === Number.POSITIVE_INFINITY) {
        this.#write(id, session, expires); // one statement, index columns included
      } else if (this.#index) {
        // The session, its index entry and the cap in one transaction, taking
        // the write lock first (the cap reads the user's sessions after writing).
        this.#indexedWrite ??= this.db.transaction((key, record, at) =>
          this.#write(key, record, at),
        );
        this.#indexedWrite.immediate(id, session, expires);
      } else if (expires <= Date.now()) this.#sql.destroy.run(id);
      else this.#sql.upsert.run(id, encodeRecord(session), this.#at(expires));
    });
  }

  async touch(id: string, session: SessionRecord): Promise<void> {
    const expires = this.#expiresAt(session);
    this.#run('touch', () => {
      const now = this.#at(Date.now());
      if (expires <= Date.now()) this.#sql.destroyLive.run(id, now);
      else this.#sql.touch.run(this.#at(expires), id, now);
    });
  }

  async destroy(id: string): Promise<void> {
    this.#run('destroy', () => {
      const index = this.#index;
      if (index === undefined) return this.#sql.destroy.run(id);
      if (index.single) return index.remove(id);
      this.#indexedDestroy ??= this.db.transaction((key: string) => index.remove(key));
      return this.#indexedDestroy(id);
    });
  }

  async ids(): Promise<string[]> {
    return this.#run('ids', () => this.#sql.ids.pluck().all(this.#at(Date.now())) as string[]);
  }

  async all(): Promise<Record<string, SessionRecord>> {
    const rows = this.#run('all', () => this.#sql.all.all(this.#at(Date.now())));
    const out: Record<string, SessionRecord> = {};
    for (const row of rows) {
      const record = decode(row.session);
      if (record) out[row.id] = record;
    }
    return out;
  }

  async length(): Promise<number> {
    return this.#run('length', () => this.#sql.length.pluck().get(this.#at(Date.now())) as number);
  }

  async clear(): Promise<void> {
    this.#run('clear', () => {
      this.#sql.clear.run();
      this.#index?.clear();
    });
  }

  async compareAndSet(
    id: string,
    expected: SessionRecord | null,
    next: SessionRecord,
  ): Promise<boolean> {
    const expires = this.#expiresAt(next);
    const wanted = expected === null ? null : encodeRecord(expected);
    return this.#run('compareAndSet', () => {
      // IMMEDIATE takes the write lock before reading, so a second process
      // cannot change the row between our read and our write. The
      // transaction function is made once, not per call.
      this.#swap ??= this.db.transaction(
        (key: string, want: string | null, record: SessionRecord, at: number) => {
          const now = Date.now();
          const stored = this.#sql.get.get(key, this.#at(now))?.session;
          // The stored text is usually our own encoding, byte for byte; only
          // when it is not, decode and re-encode it to compare as JSON.
          if (stored !== want && canonical(stored) !== want) return false;
          if (this.#index) this.#write(key, record, at);
          else if (at <= now) this.#sql.destroy.run(key);
          else this.#sql.upsert.run(key, encodeRecord(record), this.#at(at));
          return true;
        },
      );
      return this.#swap.immediate(id, wanted, next, expires);
    });
  }

  /** Delete every expired row now; returns how many went. Runs on the prune timer too. */
  prune(now: number = Date.now()): number {
    return this.#run('clear', () => {
      const pruned = this.#sql.prune.run(this.#at(now)).changes;
      // Index entries of rows gone by expiry or by another store's destroy.
      this.#index?.prune();
      return pruned;
    });
  }

  async close(): Promise<void> {
    this.#pruner?.stop();
    this.#pruner = undefined;
    if (this.#closed) return;
    this.#closed = true;
    if (this.#ownsDb && this.db.open) this.db.close();
  }

  #expiresAt(session: SessionRecord): number {
    return sessionExpiresAt(session, this.#ttl);
  }

  /**
   * Write a session and its index entry; called inside a write transaction.
   * With `maxSessionsPerUser`, then delete the user's oldest live sessions
   * beyond the cap (by creation, unknown first, then id), never this one.
   */
  #write(id: string, session: SessionRecord, expires: number): void {
    const index = this.#index as IndexStatements;
    const now = Date.now();
    if (expires <= now) {
      index.remove(id);
      return;
    }
    const user = this.#users?.userOf(session) ?? null;
    const created = sessionCreatedAt(session);
    const at = this.#at(expires);
    index.upsert(
      id,
      encodeRecord(session),
      at,
      user,
      created === null ? null : Math.trunc(created),
    );
    const cap = this.#users?.maxSessionsPerUser ?? Number.POSITIVE_INFINITY;
    if (user === null || cap === Number.POSITIVE_INFINITY) return;
    for (const extra of index.excess.pluck().all(user, id, this.#at(now), cap - 1) as string[]) {
      index.remove(extra);
    }
  }

  /** The user's live sessions whose record still names that user (another store may have rewritten one). */
  #userRows(user: string): { id: string; record: SessionRecord; expires: number }[] {
    const index = this.#index as IndexStatements;
    const out: { id: string; record: SessionRecord; expires: number }[] = [];
    for (const row of index.rows.all(user, this.#at(Date.now()))) {
      const record = decode(row.session);
      if (record === null || this.#users?.userOf(record) !== user) continue;
      const expires = typeof row.expires === 'number' ? row.expires : Date.parse(row.expires);
      out.push({ id: row.id, record, expires });
    }
    return out;
  }

  #run<T>(operation: StoreOperation, work: () => T): T {
    if (this.#closed || !this.db.open) throw new StoreClosedError(NAME, operation);
    try {
      return work();
    } catch (cause) {
      throw storeError(operation, cause);
    }
  }
}

interface Row {
  id: string;
  session: string;
}

/** An expiry as the layout stores it: epoch ms, or ISO-8601 text. */
type At = number | string;

interface Statements {
  get: Database.Statement<[string, At], Row>;
  upsert: Database.Statement<[string, string, At]>;
  touch: Database.Statement<[At, string, At]>;
  destroy: Database.Statement<[string]>;
  destroyLive: Database.Statement<[string, At]>;
  ids: Database.Statement<[At]>;
  all: Database.Statement<[At], Row>;
  length: Database.Statement<[At]>;
  clear: Database.Statement<[]>;
  prune: Database.Statement<[At]>;
}

/** The user index, as columns of the sessions table or as a companion table. */
interface IndexStatements {
  /** Whether `upsert` and `remove` are each one statement (no transaction needed around them). */
  single: boolean;
  /** Write a session and its index entry (none when `user` is null). */
  upsert(id: string, data: string, at: At, user: string | null, created: number | null): void;
  /** Delete a session and its index entry; resolves how many sessions went. */
  remove(id: string): number;
  rows: Database.Statement<[string, At], Row & { expires: At }>;
  /** The user's live sessions beyond the newest `keep` others than the given id. */
  excess: Database.Statement<[string, string, At, number]>;
  /** Drop index entries whose session row is gone. */
  prune(): void;
  clear(): void;
}

const LAYOUTS: ReadonlySet<unknown> = new Set(['sess', 'better-sqlite3-session-store']);

/**
 * SQL that is true when `column` holds an expiry of the layout's type: a number (epoch ms) in
 * sess's layout, ISO-8601 text (`Date#toISOString`) in better-sqlite3-session-store's (which
 * reads anything else through `datetime()` as no time, so never live).
 */
function readableExpiry(layout: SqliteLayout, column: string): string {
  return layout === 'sess'
    ? `typeof(${column}) IN ('integer', 'real')`
    : `${column} GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]*'`;
}

/** connect-sqlite3's options this store does not take, each with what to do instead. */
const CONNECT_SQLITE3_OPTIONS = {
  dir: "connect-sqlite3's `dir` and `db` (a file name) are one `filename` here: filename: path.join(dir, db)",
  concurrentDB:
    'remove it: a file the store opens is always in WAL mode (connect-sqlite3 turns WAL on with concurrentDB)',
  createDirIfNotExists:
    'sess does not create directories: create it before starting (fs.mkdirSync(dir, { recursive: true }))',
} as const;

/** connect-sqlite3's table: `(sid PRIMARY KEY, expired, sess)`, a layout sess does not read. */
const CONNECT_SQLITE3_COLUMNS = ['sid', 'expired', 'sess'];

/** Column names of each layout: id, data, expiry. */
const COLUMNS: Record<SqliteLayout, { id: string; data: string; expires: string }> = {
  sess: { id: 'id', data: 'session', expires: 'expires' },
  'better-sqlite3-session-store': { id: 'sid', data: 'sess', expires: 'expire' },
};

/** The prune interval from `pruneInterval`, or from better-sqlite3-session-store's `expired`. */
function pruneEvery(options: SqliteStoreOptions): number {
  const { expired } = options;
  if (expired !== undefined) {
    if (options.pruneInterval !== undefined) {
      throw new SessConfigError('sqlite store: give `pruneInterval` or `expired`, not both');
    }
    if (typeof expired !== 'object' || expired === null) {
      throw new SessConfigError('sqlite store: `expired` must be { clear, intervalMs }');
    }
    checkStoreOptions(expired, { store: 'sqlite store: expired', known: ['clear', 'intervalMs'] });
    if (expired.clear === false) return 0;
    // better-sqlite3-session-store counts intervalMs in milliseconds: no unit guess here.
    return optionalDuration(
      expired.intervalMs,
      { label: 'sqlite store: expired.intervalMs', max: MAX_TIMER_MS },
      15 * 60_000,
    );
  }
  if (options.pruneInterval === undefined) return 15 * 60_000;
  return parseDuration(options.pruneInterval, intervalRule('sqlite store: pruneInterval'));
}

/**
 * The layout of an existing table, from its columns; `wanted` (or `sess`) for a table that
 * does not exist yet. A table of neither layout, or of the other one than `wanted`, is
 * refused: writing into it would fail on every request, or log everyone out.
 */
function detectLayout(db: Database.Database, table: string, wanted?: SqliteLayout): SqliteLayout {
  const columns = new Set(
    (db.prepare(`PRAGMA table_info("${table}")`).all() as { name: string }[]).map((c) => c.name),
  );
  if (columns.size === 0) return wanted ?? 'sess';
  const found = (Object.keys(COLUMNS) as SqliteLayout[]).find((layout) =>
    Object.values(COLUMNS[layout]).every((column) => columns.has(column)),
  );
  if (found === undefined && CONNECT_SQLITE3_COLUMNS.every((column) => columns.has(column))) {
    throw new SessConfigError(
      `sqlite store: table "${table}" has connect-sqlite3's layout (sid, expired, sess), which sess ` +
        `does not read or write: keep connect-sqlite3 for this file, or give sess another \`table\` ` +
        `or \`filename\` (its sessions are then not carried over: users sign in again)`,
    );
  }
  if (found === undefined) {
    throw new SessConfigError(
      `sqlite store: table "${table}" has columns (${[...columns].join(', ')}), neither sess's ` +
        `(id, session, expires) nor better-sqlite3-session-store's (sid, sess, expire): ` +
        `choose another \`table\``,
    );
  }
  if (wanted !== undefined && wanted !== found) {
    throw new SessConfigError(
      `sqlite store: table "${table}" has the ${found} layout, not the ${wanted} layout asked for`,
    );
  }
  return found;
}

function openDatabase(filename: string, busyTimeout = 5_000): Database.Database {
  let db: Database.Database;
  try {
    db = new Database(filename, { timeout: busyTimeout });
  } catch (cause) {
    throw new StoreUnavailableError(NAME, 'connect', 'cannot open the database file', { cause });
  }
  // WAL lets readers work while another process writes; NORMAL sync is
  // durable across application crashes, which is what sessions need.
  if (filename !== ':memory:' && filename !== '') {
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
  }
  return db;
}

/**
 * Create the table if missing and prepare every statement once. In
 * better-sqlite3-session-store's layout `expire` is ISO-8601 text as
 * `Date#toISOString` writes it (that store writes the same), which orders as
 * time when compared as text, so the expiry index serves both layouts.
 */
function prepare(db: Database.Database, table: string, layout: SqliteLayout): Statements {
  const t = `"${table}"`;
  const { id, data, expires } = COLUMNS[layout];
  // Live: later than now, and an expiry of the layout's type (a row whose expiry something else
  // wrote as other text would otherwise compare as later than any time: live forever).
  const live = `${expires} > ? AND ${readableExpiry(layout, expires)}`;
  db.exec(
    layout === 'sess'
      ? `CREATE TABLE IF NOT EXISTS ${t} (
           id TEXT PRIMARY KEY NOT NULL,
           session TEXT NOT NULL,
           expires INTEGER NOT NULL
         );
         CREATE INDEX IF NOT EXISTS "${table}_expires" ON ${t} (expires);`
      : `CREATE TABLE IF NOT EXISTS ${t} (
           sid TEXT NOT NULL PRIMARY KEY,
           sess JSON NOT NULL,
           expire TEXT NOT NULL
         );
         CREATE INDEX IF NOT EXISTS "${table}_expire" ON ${t} (expire);`,
  );
  return {
    get: db.prepare(`SELECT ${id} AS id, ${data} AS session FROM ${t} WHERE ${id} = ? AND ${live}`),
    upsert: db.prepare(
      `INSERT INTO ${t} (${id}, ${data}, ${expires}) VALUES (?, ?, ?)
       ON CONFLICT (${id}) DO UPDATE SET ${data} = excluded.${data}, ${expires} = excluded.${expires}`,
    ),
    touch: db.prepare(`UPDATE ${t} SET ${expires} = ? WHERE ${id} = ? AND ${live}`),
    destroy: db.prepare(`DELETE FROM ${t} WHERE ${id} = ?`),
    destroyLive: db.prepare(`DELETE FROM ${t} WHERE ${id} = ? AND ${live}`),
    ids: db.prepare(`SELECT ${id} FROM ${t} WHERE ${live}`),
    all: db.prepare(`SELECT ${id} AS id, ${data} AS session FROM ${t} WHERE ${live}`),
    length: db.prepare(`SELECT count(*) FROM ${t} WHERE ${live}`),
    clear: db.prepare(`DELETE FROM ${t}`),
    prune: db.prepare(`DELETE FROM ${t} WHERE ${expires} <= ?`),
  };
}

/**
 * The user index. In the `sess` layout, two nullable columns of the sessions
 * table, `sess_user` and `sess_created`, written by the session's own upsert,
 * and a partial index on `(sess_user, expires)`; an existing table gets them
 * in one `BEGIN IMMEDIATE` transaction that checks first (processes starting
 * at once add them once). In better-sqlite3-session-store's layout, a
 * companion table `<table>_sess_users (sid, user_id, created)` indexed on
 * `(user_id, created)`: that store writes `INSERT OR REPLACE INTO t VALUES
 * (?, ?, ?)`, which fails once its table has a fourth column.
 */
function prepareIndex(db: Database.Database, table: string, layout: SqliteLayout): IndexStatements {
  const t = `"${table}"`;
  const { id, data, expires } = COLUMNS[layout];
  // Newest first: by creation, unknown creation counting as oldest, then id.
  if (layout === 'sess') {
    db.transaction(() => {
      const columns = new Set(
        (db.prepare(`PRAGMA table_info(${t})`).all() as { name: string }[]).map((c) => c.name),
      );
      if (!columns.has('sess_user')) db.exec(`ALTER TABLE ${t} ADD COLUMN sess_user TEXT`);
      if (!columns.has('sess_created')) db.exec(`ALTER TABLE ${t} ADD COLUMN sess_created INTEGER`);
      db.exec(
        `CREATE INDEX IF NOT EXISTS "${table}_sess_user" ON ${t} (sess_user, expires)
         WHERE sess_user IS NOT NULL`,
      );
    }).immediate();
    const upsert = db.prepare<[string, string, At, string | null, number | null]>(
      `INSERT INTO ${t} (id, session, expires, sess_user, sess_created) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (id) DO UPDATE SET session = excluded.session, expires = excluded.expires,
         sess_user = excluded.sess_user, sess_created = excluded.sess_created`,
    );
    const destroy = db.prepare<[string]>(`DELETE FROM ${t} WHERE id = ?`);
    return {
      single: true,
      upsert: (...values) => void upsert.run(...values),
      remove: (key) => destroy.run(key).changes,
      rows: db.prepare(
        `SELECT id, session, expires FROM ${t} WHERE sess_user = ? AND expires > ? AND ${readableExpiry(layout, 'expires')}`,
      ),
      excess: db.prepare(
        `SELECT id FROM ${t} WHERE sess_user = ? AND id <> ? AND expires > ? AND ${readableExpiry(layout, 'expires')}
         ORDER BY sess_created DESC NULLS LAST, id DESC LIMIT -1 OFFSET ?`,
      ),
      prune: () => undefined,
      clear: () => undefined,
    };
  }
  const u = `"${table}_sess_users"`;
  db.exec(
    `CREATE TABLE IF NOT EXISTS ${u} (
       sid TEXT PRIMARY KEY NOT NULL,
       user_id TEXT NOT NULL,
       created INTEGER
     );
     CREATE INDEX IF NOT EXISTS "${table}_sess_users_user" ON ${u} (user_id, created);`,
  );
  const upsert = db.prepare<[string, string, At]>(
    `INSERT INTO ${t} (${id}, ${data}, ${expires}) VALUES (?, ?, ?)
     ON CONFLICT (${id}) DO UPDATE SET ${data} = excluded.${data}, ${expires} = excluded.${expires}`,
  );
  const destroy = db.prepare<[string]>(`DELETE FROM ${t} WHERE ${id} = ?`);
  const put = db.prepare<[string, string, number | null]>(
    `INSERT INTO ${u} (sid, user_id, created) VALUES (?, ?, ?)
     ON CONFLICT (sid) DO UPDATE SET user_id = excluded.user_id, created = excluded.created`,
  );
  const drop = db.prepare<[string]>(`DELETE FROM ${u} WHERE sid = ?`);
  const orphans = db.prepare(
    `DELETE FROM ${u} WHERE NOT EXISTS (SELECT 1 FROM ${t} AS s WHERE s.${id} = ${u}.sid)`,
  );
  const clear = db.prepare(`DELETE FROM ${u}`);
  return {
    single: false,
    upsert: (key, text, at, user, created) => {
      upsert.run(key, text, at);
      if (user === null) drop.run(key);
      else put.run(key, user, created);
    },
    remove: (key) => {
      drop.run(key);
      return destroy.run(key).changes;
    },
    rows: db.prepare(
      `SELECT s.${id} AS id, s.${data} AS session, s.${expires} AS expires
       FROM ${u} AS x JOIN ${t} AS s ON s.${id} = x.sid
       WHERE x.user_id = ? AND s.${expires} > ? AND ${readableExpiry(layout, `s.${expires}`)}`,
    ),
    excess: db.prepare(
      `SELECT x.sid FROM ${u} AS x JOIN ${t} AS s ON s.${id} = x.sid
       WHERE x.user_id = ? AND x.sid <> ? AND s.${expires} > ? AND ${readableExpiry(layout, `s.${expires}`)}
       ORDER BY x.created DESC NULLS LAST, x.sid DESC LIMIT -1 OFFSET ?`,
    ),
    prune: () => void orphans.run(),
    clear: () => void clear.run(),
  };
}

/** A corrupt row reads as a missing session. */
function decode(text: string): SessionRecord | null {
  try {
    return decodeRecord(text, NAME);
  } catch (error) {
    if (error instanceof CorruptRecordError) return null;
    throw error;
  }
}

/**
 * The stored text as JSON.stringify writes it, so compareAndSet ignores
 * formatting; a corrupt row counts as absent, as it does for get.
 */
function canonical(text: string | undefined): string | null {
  const record = text === undefined ? null : decode(text);
  return record === null ? null : encodeRecord(record);
}

function storeError(operation: StoreOperation, cause: unknown): StoreError {
  if (cause instanceof StoreError) return cause;
  const code = (cause as { code?: unknown })?.code;
  if (code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED') {
    return new StoreUnavailableError(NAME, operation, 'the database is locked', { cause });
  }
  const message = cause instanceof Error ? cause.message : String(cause);
  return new StoreError(NAME, operation, message, { cause });
}
