// `node --expose-gc src/memory.mjs <library> <count>`: resident memory of a
// MemoryStore holding `count` sessions, in a process of its own (so one
// library's garbage never counts against the other). library is `sess`
// (@sess/core's MemoryStore) or `express-session` (express-session's
// MemoryStore). Prints one JSON line: rss and heapUsed before and after.
import { randomBytes } from 'node:crypto';
import { MemoryStore as CoreMemoryStore } from '@sess/core';
import expressSession from 'express-session';

const [library = 'sess', countText = '100000'] = process.argv.slice(2);
const count = Number(countText);
if (typeof globalThis.gc !== 'function') throw new Error('run with --expose-gc');

/** Settled figures: collect twice (weak callbacks run between), then read. */
function settled() {
  globalThis.gc();
  globalThis.gc();
  const { rss, heapUsed } = process.memoryUsage();
  return { rss, heapUsed };
}

/** A record like the benchmark's seeded sessions: the cookie, a user name, a counter. */
function record() {
  return {
    cookie: {
      originalMaxAge: 3_600_000,
      expires: new Date(Date.now() + 3_600_000).toISOString(),
      httpOnly: true,
      path: '/',
    },
    user: `user-${Math.random().toString(36).slice(2)}`,
    n: 0,
  };
}

// Ids as both libraries make them: 24 random bytes, base64url (32 characters).
const ids = Array.from({ length: count }, () => randomBytes(24).toString('base64url'));
let store;
let set;
if (library === 'sess') {
  store = new CoreMemoryStore({ maxSessions: count, sweepInterval: 0 });
  set = (id, r) => store.set(id, r);
} else if (library === 'express-session') {
  store = new expressSession.MemoryStore();
  set = (id, r) =>
    new Promise((resolve, reject) => store.set(id, r, (e) => (e ? reject(e) : resolve())));
} else {
  throw new Error(`unknown library ${library}`);
}

const before = settled();
for (const id of ids) await set(id, record());
const after = settled();
const stored = library === 'sess' ? await store.length() : Object.keys(store.sessions).length;
if (stored !== count) throw new Error(`${library} holds ${stored} sessions, not ${count}`);
console.log(JSON.stringify({ library, count, before, after }));
// Keep the store reachable until the figures are taken.
if (store === null) console.log('unreachable');
