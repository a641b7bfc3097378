import {
  CorruptRecordError,
  SessConfigError,
  StoreClosedError,
  type StoreOperation,
} from './errors.js';
import {
  DEFAULT_TTL_MS,
  decodeRecord,
  encodeRecord,
  type SessionStore,
  sessionTtl,
} from './store.js';
import type { SessionRecord } from './types.js';
import {
  compareUserSessions,
  resolveUserIndex,
  type UserIndex,
  type UserIndexOptions,
  type UserSessionInfo,
} from './users.js';

export interface MemoryStoreOptions {
  /** Lifetime of a record stored without `cookie.expires`. Default: one day. */
  ttl?: number;
  /** Most sessions kept; the least recently written is evicted first. Default: 100,000. */
  maxSessions?: number;
  /** How often expired records are swept, in ms; 0 disables the timer. Default: 60,000. */
  sweepInterval?: number;
  /**
   * Keep an index of sessions by user (see `UserIndexOptions`): the store then
   * has `userOf`, `userSessions`, `countUserSessions` and `destroyUserSessions`.
   * Default: no index, and none of those methods.
   */
  users?: UserIndexOptions;
}

interface Entry {
  json: string;
  expiresAt: number;
  /** The user the record belongs to, when the store keeps a user index. */
  user: string | null;
}

const NAME = 'memory';
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * An in-process store for development, tests and single-process apps.
 * Records are kept as JSON strings, so callers never share references with
 * the store. The sweep timer is unref'd: it never keeps the process alive.
 */
export class MemoryStore implements SessionStore {
  readonly #entries = new Map<string, Entry>();
  readonly #ttl: number;
  readonly #max: number;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;
  readonly #users: UserIndex | undefined;
  /** user -> ids of its sessions; updated in the same synchronous step as #entries. */
  readonly #byUser = new Map<string, Set<string>>();

  /** The user a record belongs to (only with the `users` option). */
  declare readonly userOf?: (session: SessionRecord) => string | null;
  /** The user's live sessions, oldest first (only with the `users` option). */
  declare readonly userSessions?: (user: string) => Promise<UserSessionInfo[]>;
  /** How many live sessions the user has (only with the `users` option). */
  declare readonly countUserSessions?: (user: string) => Promise<number>;
  /** Destroy the user's sessions but `exceptId`; resolves how many (only with the `users` option). */
  declare readonly destroyUserSessions?: (user: string, exceptId?: string) => Promise<number>;

  constructor(options: MemoryStoreOptions = {}) {
    this.#users = resolveUserIndex(options.users, 'MemoryStore');
    if (this.#users) {
      const users = this.#users;
      // Own properties, so a store without `users` has none of the four (capability detection).
      const method = (value: unknown) => ({ value, writable: true, configurable: true });
      Object.defineProperties(this, {
        userOf: method((session: SessionRecord) => users.userOf(session)),
        userSessions: method((user: string) => this.#userSessions(user)),
        countUserSessions: method((user: string) => this.#countUserSessions(user)),
        destroyUserSessions: method((user: string, exceptId?: string) =>
          this.#destroyUserSessions(user, exceptId),
        ),
      });
    }
    this.#ttl = checkNumber('ttl', options.ttl ?? DEFAULT_TTL_MS, 1);
    this.#max = Math.max(1, checkNumber('maxSessions', options.maxSessions ?? 100_000, 0));
    const every = checkNumber('sweepInterval', options.sweepInterval ?? 60_000, 0);
    // Node runs a timer longer than its 32-bit limit after 1 ms; Infinity means "never".
    if (every > 0 && every !== Number.POSITIVE_INFINITY) {
      this.#timer = setInterval(() => this.sweep(), Math.min(every, MAX_TIMER_MS));
      this.#timer.unref();
    }
  }

  async get(id: string): Promise<SessionRecord | null> {
    this.#open('get');
    const entry = this.#live(id);
    if (!entry) return null;
    try {
      return decodeRecord(entry.json, NAME);
    } catch (error) {
      if (error instanceof CorruptRecordError) return null;
      throw error;
    }
  }

  async set(id: string, session: SessionRecord): Promise<void> {
    this.#open('set');
    this.#write(id, session);
  }

  async touch(id: string, session: SessionRecord): Promise<void> {
    this.#open('touch');
    const entry = this.#live(id);
    if (!entry) return;
    const ttl = sessionTtl(session, this.#ttl);
    if (ttl <= 0) {
      this.#remove(id);
      return;
    }
    // Only the expiry moves; the stored cookie keeps the new expiry so a
    // later get reports the same date the store uses.
    const stored = JSON.parse(entry.json) as SessionRecord;
    stored.cookie = { ...stored.cookie, expires: session.cookie.expires };
    entry.json = JSON.stringify(stored);
    entry.expiresAt = Date.now() + ttl;
  }

  async destroy(id: string): Promise<void> {
    this.#open('destroy');
    this.#remove(id);
  }

  async ids(): Promise<string[]> {
    this.#open('ids');
    this.sweep();
    return [...this.#entries.keys()];
  }

  async all(): Promise<Record<string, SessionRecord>> {
    this.#open('all');
    this.sweep();
    const out: Record<string, SessionRecord> = {};
    for (const [id, entry] of this.#entries) {
      try {
        out[id] = decodeRecord(entry.json, NAME);
      } catch {
        // a corrupt record is not a live session
      }
    }
    return out;
  }

  async length(): Promise<number> {
    this.#open('length');
    this.sweep();
    return this.#entries.size;
  }

  async clear(): Promise<void> {
    this.#open('clear');
    this.#entries.clear();
    this.#byUser.clear();
  }

  async compareAndSet(
    id: string,
    expected: SessionRecord | null,
    next: SessionRecord,
  ): Promise<boolean> {
    this.#open('compareAndSet');
    const entry = this.#live(id);
    const current = entry ? entry.json : null;
    const wanted = expected === null ? null : encodeRecord(expected);
    if (current !== wanted) return false;
    this.#write(id, next);
    return true;
  }

  async close(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    this.#closed = true;
    this.#entries.clear();
    this.#byUser.clear();
  }

  /** Drop every expired record now. Runs on the sweep timer too. */
  sweep(now: number = Date.now()): void {
    for (const [id, entry] of this.#entries) {
      if (entry.expiresAt <= now) this.#remove(id);
    }
  }

  /*
   * Every write and removal goes through #write and #remove, which update the
   * user index in the same synchronous step: no other call can run in between.
   */
  #write(id: string, session: SessionRecord): void {
    const ttl = sessionTtl(session, this.#ttl);
    const json = encodeRecord(session);
    this.#remove(id);
    if (ttl <= 0) return;
    const user = this.#users ? this.#users.userOf(session) : null;
    this.#entries.set(id, { json, expiresAt: Date.now() + ttl, user });
    if (user !== null) {
      let ids = this.#byUser.get(user);
      if (!ids) {
        ids = new Set();
        this.#byUser.set(user, ids);
      }
      ids.add(id);
      this.#cap(user, id);
    }
    while (this.#entries.size > this.#max) {
      const oldest = this.#entries.keys().next().value;
      if (oldest === undefined) break;
      this.#remove(oldest);
    }
  }

  /** Over `maxSessionsPerUser`: destroy the user's oldest sessions, never `written` itself. */
  #cap(user: string, written: string): void {
    const max = this.#users?.maxSessionsPerUser ?? Number.POSITIVE_INFINITY;
    const ids = this.#byUser.get(user);
    if (!ids || ids.size <= max) return;
    const live = this.#infos(user).filter((info) => info.id !== written);
    let excess = live.length + 1 - max;
    for (const info of live) {
      if (excess <= 0) break;
      this.#remove(info.id);
      excess--;
    }
  }

  #remove(id: string): void {
    const entry = this.#entries.get(id);
    if (!entry) return;
    this.#entries.delete(id);
    if (entry.user === null) return;
    const ids = this.#byUser.get(entry.user);
    ids?.delete(id);
    if (ids?.size === 0) this.#byUser.delete(entry.user);
  }

  #live(id: string): Entry | undefined {
    const entry = this.#entries.get(id);
    if (!entry) return undefined;
    if (entry.expiresAt <= Date.now()) {
      this.#remove(id);
      return undefined;
    }
    return entry;
  }

  /** The user's live sessions, oldest first; drops the expired ones it meets. */
  #infos(user: string): UserSessionInfo[] {
    const users = this.#users;
    const ids = this.#byUser.get(user);
    if (!users || !ids) return [];
    const found: UserSessionInfo[] = [];
    for (const id of [...ids]) {
      const entry = this.#live(id);
      if (!entry) continue;
      let session: SessionRecord;
      try {
        session = decodeRecord(entry.json, NAME);
      } catch {
        continue; // a corrupt record is not a live session
      }
      found.push(users.info(id, session));
    }
    return found.sort(compareUserSessions);
  }

  async #userSessions(user: string): Promise<UserSessionInfo[]> {
    this.#open('userSessions');
    return this.#infos(user);
  }

  async #countUserSessions(user: string): Promise<number> {
    this.#open('countUserSessions');
    return this.#infos(user).length;
  }

  async #destroyUserSessions(user: string, exceptId?: string): Promise<number> {
    this.#open('destroyUserSessions');
    let destroyed = 0;
    for (const info of this.#infos(user)) {
      if (info.id === exceptId) continue;
      this.#remove(info.id);
      destroyed++;
    }
    return destroyed;
  }

  #open(operation: StoreOperation): void {
    if (this.#closed) throw new StoreClosedError(NAME, operation);
  }
}

/** A number option that is at least `min` (Infinity allowed), else a config error. */
function checkNumber(name: string, value: number, min: number): number {
  if (typeof value !== 'number' || Number.isNaN(value) || value < min) {
    throw new SessConfigError(`MemoryStore: \`${name}\` must be a number >= ${min}`);
  }
  return value;
}
