import {
  isExpired,
  type SessionRecord,
  type SessionStore,
  StoreClosedError,
  StoreUnavailableError,
  sessionExpiry,
} from '@sess/core';
import { afterEach, describe, expect, it } from 'vitest';
import type { ConformanceOptions } from '../src/index.js';
import { runConformance } from '../src/index.js';

type Flaw =
  | 'ignores expiry'
  | 'touch rewrites data'
  | 'touch creates records'
  | 'clear ignores namespace'
  | 'lists other namespaces'
  | 'shares references'
  | 'tears parallel writes'
  | 'compareAndSet ignores expected'
  | 'close keeps a timer'
  | 'lists destroyed ids'
  | 'lists overwritten ids twice'
  | 'lists only a first page of 1,000'
  | 'folds case'
  | 'decodes %-escapes in ids'
  | 'strips punctuation from ids'
  | 'cuts ids at ?'
  | 'splits listed ids at :'
  | 'keys ids by their first 200 characters'
  | 'returns records without cookie from all'
  | 'all lists other namespaces'
  | 'matches namespaces by prefix'
  | 'compareAndSet keeps the old expiry'
  | 'treats expires false as expired'
  | 'touch ignores the given expiry'
  | 'opens a shared timer at its first create'
  | 'keeps records without expiry forever'
  | 'caches reads per instance'
  | 'set after close resolves and writes nothing'
  | 'close deletes its namespace';

/** The default lifetime the stores give a record without expiry; declared to the suite as `defaultTtl`. */
const TEST_TTL = 2_000;
/** When each stored record without expiry lapses (its default TTL), by backend key. */
const defaultExpiry = new Map<string, number>();
const lapsed = (k: string) => {
  const at = defaultExpiry.get(k);
  return at !== undefined && at <= Date.now();
};

/** One shared "backend" for every namespace, as a real server would be. */
const backend = new Map<string, SessionRecord>();
/** Timers the 'close keeps a timer' store leaks on purpose; cleared after each case. */
const leaked: NodeJS.Timeout[] = [];
let writes = 0;

/** Where a flawed store keys an id: correct ones keep it as it is. */
function idKey(id: string, flaw: Flaw): string {
  switch (flaw) {
    case 'folds case':
      return id.toLowerCase();
    case 'decodes %-escapes in ids':
      try {
        return decodeURIComponent(id);
      } catch {
        return id;
      }
    case 'strips punctuation from ids':
      return id.replace(/[^A-Za-z0-9_-]/g, '');
    case 'cuts ids at ?':
      return id.split('?')[0] ?? '';
    case 'keys ids by their first 200 characters':
      return id.slice(0, 200);
    default:
      return id;
  }
}

/** The 'opens a shared timer at its first create' store's module-level timer. */
let sharedTimer: NodeJS.Timeout | undefined;

/** A store that is correct except for one deliberate flaw. */
function flawedStore(namespace: string, flaw: Flaw): SessionStore {
  const key = (id: string) => `${namespace}:${idKey(id, flaw)}`;
  /** The id a stored key lists as (the flawed stores that rewrite ids list the rewritten one). */
  const idOf = (k: string) =>
    flaw === 'splits listed ids at :' ? (k.split(':')[1] ?? '') : k.slice(k.indexOf(':') + 1);
  const copy = (r: SessionRecord) =>
    flaw === 'shares references' ? r : (JSON.parse(JSON.stringify(r)) as SessionRecord);
  const live = (id: string) => {
    const r = backend.get(key(id));
    if (!r || lapsed(key(id))) return null;
    if (flaw !== 'ignores expiry' && expired(r)) return null;
    return r;
  };
  const expired = (r: SessionRecord) =>
    isExpired(r) ||
    (flaw === 'treats expires false as expired' && (r.cookie.expires as unknown) === false);
  const mine = () =>
    [...backend.keys()].filter(
      (k) =>
        flaw === 'lists other namespaces' ||
        k.startsWith(flaw === 'matches namespaces by prefix' ? namespace : `${namespace}:`),
    );
  const listed = (ns: string[]) => {
    const live = ns
      .filter(
        (k) =>
          flaw === 'ignores expiry' || !(expired(backend.get(k) as SessionRecord) || lapsed(k)),
      )
      .map(idOf);
    if (flaw === 'lists destroyed ids')
      for (const id of destroyed) if (!live.includes(id)) live.push(id);
    if (flaw === 'lists overwritten ids twice') live.push(...overwritten);
    return flaw === 'lists only a first page of 1,000' ? live.slice(0, 1_000) : live;
  };
  const destroyed = new Set<string>();
  const overwritten: string[] = [];
  if (flaw === 'opens a shared timer at its first create')
    sharedTimer ??= setInterval(() => undefined, 60_000);
  const timer = flaw === 'close keeps a timer' ? setInterval(() => undefined, 60_000) : undefined;
  if (timer) leaked.push(timer);
  const cache = new Map<string, SessionRecord | null>();
  let closed = false;
  const open = () => {
    if (closed) throw new StoreClosedError('flawed', 'set');
  };
  const store: SessionStore = {
    async get(id) {
      open();
      if (flaw === 'caches reads per instance' && cache.has(id)) {
        const hit = cache.get(id);
        return hit ? copy(hit) : null;
      }
      const r = live(id);
      cache.set(id, r ? copy(r) : null);
      return r ? copy(r) : null;
    },
    async set(id, record) {
      if (closed && flaw === 'set after close resolves and writes nothing') return;
      open();
      cache.set(id, copy(record));
      if (sessionExpiry(record) === null && flaw !== 'keeps records without expiry forever')
        defaultExpiry.set(key(id), Date.now() + TEST_TTL);
      else defaultExpiry.delete(key(id));
      if (flaw === 'tears parallel writes') {
        const target = (backend.get(key(id)) ?? { cookie: record.cookie }) as SessionRecord;
        backend.set(key(id), target);
        // Every other writer goes through the keys backwards, so writers interleave.
        const entries = Object.entries(record);
        if (writes++ % 2) entries.reverse();
        for (const [k, v] of entries) {
          target[k] = v;
          await new Promise((r) => setImmediate(r));
        }
        return;
      }
      if (backend.has(key(id))) overwritten.push(id);
      if (flaw !== 'ignores expiry' && expired(record)) backend.delete(key(id));
      else backend.set(key(id), copy(record));
    },
    async destroy(id) {
      open();
      cache.delete(id);
      destroyed.add(id);
      backend.delete(key(id));
    },
    async touch(id, record) {
      if (flaw === 'touch rewrites data' || flaw === 'touch creates records') {
        await store.set(id, record);
        return;
      }
      const r = live(id);
      const expires =
        flaw === 'touch ignores the given expiry'
          ? new Date(Date.now() + 86_400_000).toISOString()
          : record.cookie.expires;
      if (r) backend.set(key(id), { ...r, cookie: { ...r.cookie, expires } });
    },
    async ids() {
      return listed(
        flaw === 'all lists other namespaces'
          ? mine().filter((k) => k.startsWith(`${namespace}:`))
          : mine(),
      );
    },
    async all() {
      const keys = flaw === 'all lists other namespaces' ? [...backend.keys()] : mine();
      const byId = new Map(keys.map((k) => [idOf(k), backend.get(k)] as const));
      const out: Record<string, SessionRecord> = {};
      for (const id of listed(keys)) {
        const found = byId.get(id);
        const r = found ? copy(found) : ({ cookie: {} } as SessionRecord);
        if (flaw === 'returns records without cookie from all')
          delete (r as Partial<SessionRecord>).cookie;
        out[id] = r;
      }
      return out;
    },
    async length() {
      return (await store.ids?.())?.length ?? 0;
    },
    async clear() {
      for (const k of flaw === 'clear ignores namespace' ? [...backend.keys()] : mine())
        backend.delete(k);
    },
    async compareAndSet(id, expected, next) {
      if (flaw !== 'compareAndSet ignores expected') {
        const current = live(id);
        if (
          JSON.stringify(current) !==
          JSON.stringify(expected === null ? null : JSON.parse(JSON.stringify(expected)))
        ) {
          return false;
        }
      }
      const current = live(id);
      await store.set(
        id,
        flaw === 'compareAndSet keeps the old expiry' && current
          ? { ...next, cookie: { ...next.cookie, expires: current.cookie.expires } }
          : next,
      );
      return true;
    },
    async close() {
      closed = true;
      if (flaw !== 'close keeps a timer') clearInterval(timer);
      if (flaw === 'close deletes its namespace') for (const k of mine()) backend.delete(k);
    },
  };
  return store;
}

/**
 * A store whose backend is down that gets only get/set/destroy right (typed, fast rejections):
 * its other operations hang, or (untyped) reject with a plain Error.
 */
function halfDownStore(rest: 'hang' | 'untyped'): SessionStore {
  const typed = async () => {
    throw new StoreUnavailableError('half', 'get', 'connection refused');
  };
  const other = () =>
    rest === 'hang'
      ? new Promise<never>(() => undefined)
      : Promise.reject(new Error('connect ECONNREFUSED 127.0.0.1:1'));
  return {
    get: typed,
    set: typed,
    destroy: typed,
    touch: other,
    ids: other,
    all: other,
    length: other,
    clear: other,
    compareAndSet: other,
  };
}

/** A store whose backend never answers: every call hangs. */
function hangingStore(): SessionStore {
  const never = () => new Promise<never>(() => undefined);
  return { get: never, set: never, destroy: never };
}

/**
 * The failures of a run of the behaviours named in `only` (every behaviour when omitted): each
 * case runs just the behaviour meant to catch its flaw, which keeps this file fast.
 */
async function failures(options: ConformanceOptions, only?: string[]): Promise<string[]> {
  const report = await runConformance({
    timeout: 4_000,
    failFastWithin: 1_000,
    filter: only ? (b) => only.includes(`${b.group} › ${b.name}`) : undefined,
    ...options,
  });
  if (only)
    expect(report.results.map((r) => `${r.group} › ${r.name}`).sort()).toEqual([...only].sort());
  return report.results.filter((r) => r.status === 'fail').map((r) => `${r.group} › ${r.name}`);
}

const cases: [Flaw, string][] = [
  ['ignores expiry', 'expiry › a record whose cookie.expires has passed is not returned by get'],
  ['touch rewrites data', 'touch › touch does not rewrite the data'],
  ['touch creates records', 'touch › touch of an absent id does not create a record'],
  ['clear ignores namespace', 'isolation › clear leaves other namespaces alone'],
  ['lists other namespaces', 'isolation › listings see only their own namespace'],
  ['shares references', 'basics › get returns a copy: mutating it does not change the store'],
  [
    'tears parallel writes',
    'concurrency › parallel writes to one id end in one written value, never a torn mix',
  ],
  [
    'compareAndSet ignores expected',
    'compareAndSet › a stale expected record resolves false and writes nothing',
  ],
  [
    'close keeps a timer',
    'lifecycle › close releases every handle the store opened, so the process can exit',
  ],
  ['lists destroyed ids', 'listing › a destroyed id is no longer listed (ids, all, length)'],
  ['lists overwritten ids twice', 'listing › an overwritten id is listed once (ids, all, length)'],
  [
    'lists only a first page of 1,000',
    'listing › listing 2,345 records is complete, each id once (ids, all, length): no first page only',
  ],
  [
    'folds case',
    'ids › ids that differ only by case are distinct sessions through get, touch, destroy and listings',
  ],
  [
    'decodes %-escapes in ids',
    'ids › an id and its URL-encoded twin (aA, a%41, a%2541) are distinct sessions through get, touch, destroy and listings',
  ],
  [
    'strips punctuation from ids',
    'ids › ids that differ only by characters a sanitizer would strip (. / space + = \\) are distinct sessions through get, touch, destroy and listings',
  ],
  [
    'cuts ids at ?',
    'ids › ids holding ? or : (q, q?x=1, q:x, q:, :q) are distinct sessions through get, touch, destroy and listings',
  ],
  [
    'splits listed ids at :',
    'ids › ids holding ? or : (q, q?x=1, q:x, q:, :q) are distinct sessions through get, touch, destroy and listings',
  ],
  [
    'keys ids by their first 200 characters',
    'ids › ids of 300 characters that share their first 299 are distinct sessions through get, touch, destroy and listings',
  ],
  [
    'returns records without cookie from all',
    'listing › all returns whole records: the cookie and every key as written',
  ],
  [
    'all lists other namespaces',
    'isolation › all sees only its own namespace, whole records included (even when ids exists)',
  ],
  [
    'matches namespaces by prefix',
    'isolation › a namespace that extends another (ns, nsx) shares nothing: get, listings, clear',
  ],
  [
    'compareAndSet keeps the old expiry',
    "compareAndSet › a successful compareAndSet writes the new record's expiry, later or earlier",
  ],
  [
    'treats expires false as expired',
    'expiry › a record with cookie.expires false (express-session writes them) lives like one without expiry',
  ],
  [
    'touch ignores the given expiry',
    'touch › the expiry a touch sets is the one get applies and reports, earlier or later',
  ],
  [
    'opens a shared timer at its first create',
    'lifecycle › close releases every handle the store opened, so the process can exit',
  ],
  [
    'keeps records without expiry forever',
    'expiry › a record without cookie.expires lives for the declared default TTL, and no longer',
  ],
  [
    'caches reads per instance',
    'isolation › several instances on one namespace (several app servers) see each write and destroy at once',
  ],
  [
    'set after close resolves and writes nothing',
    'lifecycle › set after close rejects: a write that resolves but stores nothing is silent data loss',
  ],
  [
    'close deletes its namespace',
    'lifecycle › close never deletes data another instance on the namespace still serves',
  ],
];

describe('deliberately broken stores are caught by a named behaviour', () => {
  afterEach(() => {
    for (const timer of leaked.splice(0)) clearInterval(timer);
    clearInterval(sharedTimer);
    sharedTimer = undefined;
  });

  it.each(cases)(
    'a store that %s fails "%s"',
    async (flaw, behaviour) => {
      const failed = await failures(
        {
          name: flaw,
          create: ({ namespace }) => flawedStore(namespace, flaw),
          defaultTtl: TEST_TTL,
        },
        [behaviour],
      );
      expect(failed).toContain(behaviour);
    },
    120_000,
  );

  it('a store that hangs when its backend is down fails the failure behaviours', async () => {
    const failed = await failures({
      name: 'hangs',
      create: ({ namespace }) => flawedStore(namespace, 'touch creates records'),
      unreachable: hangingStore,
      filter: (b) => b.group === 'failure',
    });
    expect(failed).toContain(
      'failure › get rejects within the time bound when the backend is down',
    );
    expect(failed).toContain(
      'failure › set rejects within the time bound when the backend is down',
    );
  }, 120_000);

  it('a store whose listings, touch, clear and compareAndSet hang when the backend is down fails each', async () => {
    const names = ['touch', 'ids', 'all', 'length', 'clear', 'compareAndSet'].map(
      (op) => `failure › ${op} rejects within the time bound when the backend is down`,
    );
    const failed = await failures(
      {
        name: 'half down, hangs',
        create: ({ namespace }) => flawedStore(namespace, 'none' as Flaw),
        unreachable: () => halfDownStore('hang'),
      },
      [...names, 'failure › get rejects within the time bound when the backend is down'],
    );
    expect(failed.sort()).toEqual([...names].sort());
  }, 120_000);

  it('a store whose other operations reject untyped when the backend is down fails the typed check', async () => {
    const typedCheck = 'failure › every operation rejects with a typed StoreError (code SESS_*)';
    const failed = await failures(
      {
        name: 'half down, untyped',
        create: ({ namespace }) => flawedStore(namespace, 'none' as Flaw),
        unreachable: () => halfDownStore('untyped'),
      },
      [typedCheck, 'failure › touch rejects within the time bound when the backend is down'],
    );
    expect(failed).toEqual([typedCheck]);
  }, 120_000);

  it('a correct store built the same way passes everything it can', async () => {
    const correct = await runConformance({
      name: 'control',
      create: ({ namespace }) => flawedStore(namespace, 'none' as Flaw),
      defaultTtl: TEST_TTL,
    });
    expect(
      correct.results.filter((r) => r.status === 'fail').map((r) => `${r.name}: ${r.reason}`),
    ).toEqual([]);
    // Only the failure group (no `unreachable` given) and the sessions-by-user group (no user
    // index) are n.a.
    expect(
      correct.results
        .filter((r) => r.status === 'n.a.')
        .filter((r) => r.group !== 'failure' && r.group !== 'sessions by user')
        .map((r) => `${r.group} › ${r.name}`),
    ).toEqual([]);
    expect(correct.summary.passed).toBeGreaterThanOrEqual(90);
  }, 120_000);
});
