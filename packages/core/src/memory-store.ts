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

export interface MemoryStoreOptions {
  /** Lifetime of a record stored without `cookie.expires`. Default: one day. */
  ttl?: number;
  /** Most sessions kept; the least recently written is evicted first. Default: 100,000. */
  maxSessions?: number;
  /** How often expired records are swept, in ms; 0 disables the timer. Default: 60,000. */
  sweepInterval?: number;
}

interface Entry {
  json: string;
  expiresAt: number;
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

  constructor(options: MemoryStoreOptions = {}) {
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
      this.#entries.delete(id);
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
    this.#entries.delete(id);
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
  }

  /** Drop every expired record now. Runs on the sweep timer too. */
  sweep(now: number = Date.now()): void {
    for (const [id, entry] of this.#entries) {
      if (entry.expiresAt <= now) this.#entries.delete(id);
    }
  }

  #write(id: string, session: SessionRecord): void {
    const ttl = sessionTtl(session, this.#ttl);
    this.#entries.delete(id);
    if (ttl <= 0) return;
    this.#entries.set(id, { json: encodeRecord(session), expiresAt: Date.now() + ttl });
    while (this.#entries.size > this.#max) {
      const oldest = this.#entries.keys().next().value;
      if (oldest === undefined) break;
      this.#entries.delete(oldest);
    }
  }

  #live(id: string): Entry | undefined {
    const entry = this.#entries.get(id);
    if (!entry) return undefined;
    if (entry.expiresAt <= Date.now()) {
      this.#entries.delete(id);
      return undefined;
    }
    return entry;
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
