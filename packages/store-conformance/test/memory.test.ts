import { fromCallbackStore, MemoryStore, type SessionRecord, toCallbackStore } from '@sess/core';

/** A stand-in for express-session's Store base class (this package does not depend on it). */
class LegacyBase {}

import { describeStoreConformance } from '../src/index.js';

describeStoreConformance({
  name: 'core MemoryStore',
  create: ({ users }) => new MemoryStore({ sweepInterval: 0, ttl: 1_500, users }),
  defaultTtl: 1_500,
  // Each MemoryStore is its own backend (and close() drops its records, which is fine for memory).
  isolatedInstances: true,
});

/**
 * express-session's callback contract, as a minimal Map-backed store (the
 * shape connect-redis and friends implement), seen through core's bridge.
 * Namespaces are separate Maps, as separate prefixes would be.
 */
function callbackStore() {
  const data = new Map<string, string>();
  const live = (sid: string): SessionRecord | null => {
    const raw = data.get(sid);
    if (!raw) return null;
    const rec = JSON.parse(raw);
    const exp = rec.cookie?.expires ? Date.parse(rec.cookie.expires) : Number.POSITIVE_INFINITY;
    if (!(exp > Date.now())) {
      data.delete(sid);
      return null;
    }
    return rec;
  };
  return {
    get: (sid: string, cb: (err: unknown, s?: SessionRecord | null) => void) =>
      setImmediate(() => cb(null, live(sid))),
    set: (sid: string, sess: unknown, cb?: (err?: unknown) => void) =>
      setImmediate(() => {
        const rec = JSON.parse(JSON.stringify(sess));
        const exp = rec.cookie?.expires ? Date.parse(rec.cookie.expires) : Number.POSITIVE_INFINITY;
        if (exp > Date.now()) data.set(sid, JSON.stringify(rec));
        else data.delete(sid);
        cb?.();
      }),
    destroy: (sid: string, cb?: (err?: unknown) => void) =>
      setImmediate(() => {
        data.delete(sid);
        cb?.();
      }),
    all: (cb: (err: unknown, all?: Record<string, SessionRecord>) => void) =>
      setImmediate(() => {
        const out: Record<string, SessionRecord> = {};
        for (const sid of [...data.keys()]) {
          const rec = live(sid);
          if (rec) out[sid] = rec;
        }
        cb(null, out);
      }),
    clear: (cb?: (err?: unknown) => void) =>
      setImmediate(() => {
        data.clear();
        cb?.();
      }),
  };
}

describeStoreConformance({
  name: 'fromCallbackStore bridge over an express-session style store',
  create: () => fromCallbackStore(callbackStore()),
  isolatedInstances: true,
  unreachable: () =>
    fromCallbackStore(
      {
        // Never calls back: the bridge's time bound must end each operation.
        get: () => undefined,
        set: () => undefined,
        destroy: () => undefined,
        all: () => undefined,
        clear: () => undefined,
      },
      { timeout: 300 },
    ),
});

describeStoreConformance({
  name: 'fromCallbackStore over toCallbackStore(MemoryStore with users): the user methods through both bridges',
  create: ({ users }) =>
    fromCallbackStore(
      toCallbackStore(new MemoryStore({ sweepInterval: 0, ttl: 1_500, users }), LegacyBase),
    ),
  isolatedInstances: true,
  filter: (behaviour) => behaviour.group === 'sessions by user',
});
