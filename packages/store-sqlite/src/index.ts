import {
  CorruptRecordError,
  DEFAULT_TTL_MS,
  decodeRecord,
  encodeRecord,
  SessConfigError,
  type SessionRecord,
  type SessionStore,
  StoreClosedError,
  StoreError,
  type StoreOperation,
  StoreUnavailableError,
  sessionExpiresAt,
} from '@sess/core';
import Database from 'better-sqlite3';

export interface SqliteStoreOptions {
  /** An open better-sqlite3 Database. The store never closes a database it was given. */
  db?: Database.Database;
  /** A file to open (`:memory:` allowed) when no `db` is given. Default `./sessions.db`. */
  filename?: string;
  /** Table name: letters, digits and `_`, starting with a letter or `_`. Default `sessions`. */
  table?: string;
  /** Lifetime in ms of a record stored without `cookie.expires`. Default one day. */
  ttl?: number;
  /** How often expired rows are deleted, in ms; `0` or `false` disables it. Default 15 minutes. */
  pruneInterval?: number | false;
  /** How long a write waits for another process's lock, in ms (files the store opens). Default 5,000. */
  busyTimeout?: number;
}

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
  readonly #ownsDb: boolean;
  readonly #ttl: number;
  readonly #sql: Statements;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(options: SqliteStoreOptions = {}) {
    const table = options.table ?? 'sessions';
    if (!TABLE_NAME.test(table)) {
      throw new SessConfigError(
        `sqlite store: table name ${JSON.stringify(table)} must match ${TABLE_NAME}`,
      );
    }
    this.table = table;
    this.#ttl = options.ttl ?? DEFAULT_TTL_MS;
    this.#ownsDb = options.db === undefined;
    this.db = options.db ?? openDatabase(options.filename ?? './sessions.db', options.busyTimeout);
    try {
      this.#sql = prepare(this.db, table);
    } catch (cause) {
      if (this.#ownsDb) this.db.close();
      throw new StoreError(NAME, 'connect', `cannot create table "${table}"`, { cause });
    }
    const every = options.pruneInterval === false ? 0 : (options.pruneInterval ?? 15 * 60_000);
    if (every > 0) {
      this.#timer = setInterval(() => {
        // A failed prune (a locked file, a closed db) is retried next time.
        try {
          this.prune();
        } catch {}
      }, every);
      this.#timer.unref();
    }
  }

  async get(id: string): Promise<SessionRecord | null> {
    const row = this.#run('get', () => this.#sql.get.get(id, Date.now()));
    return row ? decode(row.session) : null;
  }

  async set(id: string, session: SessionRecord): Promise<void> {
    const expires = this.#expiresAt(session);
    this.#run('set', () => {
      if (expires <= Date.now()) this.#sql.destroy.run(id);
      else this.#sql.upsert.run(id, encodeRecord(session), expires);
    });
  }

  async touch(id: string, session: SessionRecord): Promise<void> {
    const expires = this.#expiresAt(session);
    this.#run('touch', () => {
      if (expires <= Date.now()) this.#sql.destroyLive.run(id, Date.now());
      else this.#sql.touch.run(expires, id, Date.now());
    });
  }

  async destroy(id: string): Promise<void> {
    this.#run('destroy', () => this.#sql.destroy.run(id));
  }

  async ids(): Promise<string[]> {
    return this.#run('ids', () => this.#sql.ids.pluck().all(Date.now()) as string[]);
  }

  async all(): Promise<Record<string, SessionRecord>> {
    const rows = this.#run('all', () => this.#sql.all.all(Date.now()));
    const out: Record<string, SessionRecord> = {};
    for (const row of rows) {
      const record = decode(row.session);
      if (record) out[row.id] = record;
    }
    return out;
  }

  async length(): Promise<number> {
    return this.#run('length', () => this.#sql.length.pluck().get(Date.now()) as number);
  }

  async clear(): Promise<void> {
    this.#run('clear', () => this.#sql.clear.run());
  }

  async compareAndSet(
    id: string,
    expected: SessionRecord | null,
    next: SessionRecord,
  ): Promise<boolean> {
    const expires = this.#expiresAt(next);
    const wanted = expected === null ? null : encodeRecord(expected);
    // IMMEDIATE takes the write lock before reading, so a second process
    // cannot change the row between our read and our write.
    const swap = this.db.transaction((): boolean => {
      const now = Date.now();
      const row = this.#sql.get.get(id, now);
      if (canonical(row?.session) !== wanted) return false;
      if (expires <= now) this.#sql.destroy.run(id);
      else this.#sql.upsert.run(id, encodeRecord(next), expires);
      return true;
    });
    return this.#run('compareAndSet', () => swap.immediate());
  }

  /** Delete every expired row now; returns how many went. Runs on the prune timer too. */
  prune(now: number = Date.now()): number {
    return this.#run('clear', () => this.#sql.prune.run(now).changes);
  }

  async close(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    if (this.#closed) return;
    this.#closed = true;
    if (this.#ownsDb && this.db.open) this.db.close();
  }

  #expiresAt(session: SessionRecord): number {
    return sessionExpiresAt(session, this.#ttl);
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

interface Statements {
  get: Database.Statement<[string, number], Row>;
  upsert: Database.Statement<[string, string, number]>;
  touch: Database.Statement<[number, string, number]>;
  destroy: Database.Statement<[string]>;
  destroyLive: Database.Statement<[string, number]>;
  ids: Database.Statement<[number]>;
  all: Database.Statement<[number], Row>;
  length: Database.Statement<[number]>;
  clear: Database.Statement<[]>;
  prune: Database.Statement<[number]>;
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

/** Create the table if missing and prepare every statement once. */
function prepare(db: Database.Database, table: string): Statements {
  const t = `"${table}"`;
  db.exec(
    `CREATE TABLE IF NOT EXISTS ${t} (
       id TEXT PRIMARY KEY NOT NULL,
       session TEXT NOT NULL,
       expires INTEGER NOT NULL
     );
     CREATE INDEX IF NOT EXISTS "${table}_expires" ON ${t} (expires);`,
  );
  return {
    get: db.prepare(`SELECT id, session FROM ${t} WHERE id = ? AND expires > ?`),
    upsert: db.prepare(
      `INSERT INTO ${t} (id, session, expires) VALUES (?, ?, ?)
       ON CONFLICT (id) DO UPDATE SET session = excluded.session, expires = excluded.expires`,
    ),
    touch: db.prepare(`UPDATE ${t} SET expires = ? WHERE id = ? AND expires > ?`),
    destroy: db.prepare(`DELETE FROM ${t} WHERE id = ?`),
    destroyLive: db.prepare(`DELETE FROM ${t} WHERE id = ? AND expires > ?`),
    ids: db.prepare(`SELECT id FROM ${t} WHERE expires > ?`),
    all: db.prepare(`SELECT id, session FROM ${t} WHERE expires > ?`),
    length: db.prepare(`SELECT count(*) FROM ${t} WHERE expires > ?`),
    clear: db.prepare(`DELETE FROM ${t}`),
    prune: db.prepare(`DELETE FROM ${t} WHERE expires <= ?`),
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
