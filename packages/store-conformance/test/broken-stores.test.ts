import { isExpired, type SessionRecord, type SessionStore } from '@sess/core';
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
  | 'close keeps a timer';

/** One shared "backend" for every namespace, as a real server would be. */
const backend = new Map<string, SessionRecord>();
/** Timers the 'close keeps a timer' store leaks on purpose; cleared after each case. */
const leaked: NodeJS.Timeout[] = [];
let writes = 0;

/** A store that is correct except for one deliberate flaw. */
function flawedStore(namespace: string, flaw: Flaw): SessionStore {
  const key = (id: string) => `${namespace}:${id}`;
  const copy = (r: SessionRecord) =>
    flaw === 'shares references' ? r : (JSON.parse(JSON.stringify(r)) as SessionRecord);
  const live = (id: string) => {
    const r = backend.get(key(id));
    if (!r) return null;
    if (flaw !== 'ignores expiry' && isExpired(r)) return null;
    return r;
  };
  const mine = () =>
    [...backend.keys()].filter(
      (k) => flaw === 'lists other namespaces' || k.startsWith(`${namespace}:`),
    );
  const timer = flaw === 'close keeps a timer' ? setInterval(() => undefined, 60_000) : undefined;
  if (timer) leaked.push(timer);
  const store: SessionStore = {
    async get(id) {
      const r = live(id);
      return r ? copy(r) : null;
    },
    async set(id, record) {
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
      if (flaw !== 'ignores expiry' && isExpired(record)) backend.delete(key(id));
      else backend.set(key(id), copy(record));
    },
    async destroy(id) {
      backend.delete(key(id));
    },
    async touch(id, record) {
      if (flaw === 'touch rewrites data' || flaw === 'touch creates records') {
        await store.set(id, record);
        return;
      }
      const r = live(id);
      if (r)
        backend.set(key(id), { ...r, cookie: { ...r.cookie, expires: record.cookie.expires } });
    },
    async ids() {
      return mine()
        .filter((k) => flaw === 'ignores expiry' || !isExpired(backend.get(k) as SessionRecord))
        .map((k) => k.slice(k.indexOf(':') + 1));
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
      await store.set(id, next);
      return true;
    },
    async close() {
      if (flaw !== 'close keeps a timer') clearInterval(timer);
    },
  };
  return store;
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
];

describe('deliberately broken stores are caught by a named behaviour', () => {
  afterEach(() => {
    for (const timer of leaked.splice(0)) clearInterval(timer);
  });

  it.each(cases)(
    'a store that %s fails "%s"',
    async (flaw, behaviour) => {
      const failed = await failures(
        { name: flaw, create: ({ namespace }) => flawedStore(namespace, flaw) },
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
    });
    expect(failed).toContain(
      'failure › get rejects within the time bound when the backend is down',
    );
    expect(failed).toContain(
      'failure › set rejects within the time bound when the backend is down',
    );
  }, 120_000);

  it('a correct store built the same way passes everything it can', async () => {
    const correct = await runConformance({
      name: 'control',
      create: ({ namespace }) => flawedStore(namespace, 'none' as Flaw),
    });
    expect(
      correct.results.filter((r) => r.status === 'fail').map((r) => `${r.name}: ${r.reason}`),
    ).toEqual([]);
    expect(correct.summary.passed).toBeGreaterThanOrEqual(60);
  }, 120_000);
});
