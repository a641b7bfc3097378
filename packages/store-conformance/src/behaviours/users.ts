import assert from 'node:assert/strict';
import type { SessionRecord, SessionStore, UserSessionInfo } from '@sess/core';
import type { Behaviour } from '../types.js';
import { record, show } from './helpers.js';

/*
 * Sessions by user (core's users.ts): a store opened with a `users` option
 * lists, counts and destroys a user's sessions through an index it keeps in
 * the same atomic operation as each write. Every behaviour here opens its
 * stores with `users` (see `Behaviour.users`) and needs all four methods.
 */

const GROUP = 'sessions by user';
/** A creation time well in the past, so the behaviours' own offsets order sessions. */
const BASE = Date.now() - 3_600_000;

interface Login {
  /** The user id, kept at `userId` (absent: an anonymous session). */
  user?: string | number;
  /** Milliseconds after BASE the session was created (absent: no `cookie.createdAt`). */
  created?: number;
  /** Lifetime from now (`null`: a browser-session cookie). Default one hour. */
  ttl?: number | null;
  data?: Record<string, unknown>;
}

/** A record as core writes it for a logged-in user: `userId` in the data, `cookie.createdAt` stamped. */
function session({ user, created, ttl = 3_600_000, data = {} }: Login = {}): SessionRecord {
  const written = record(user === undefined ? data : { ...data, userId: user }, ttl);
  if (created !== undefined) written.cookie.createdAt = BASE + created;
  return written;
}

type Indexed = SessionStore &
  Required<Pick<SessionStore, 'userOf' | 'userSessions'>> &
  Required<Pick<SessionStore, 'countUserSessions' | 'destroyUserSessions'>>;

function indexed(store: SessionStore): Indexed {
  return store as Indexed;
}

/** The user's listing (its ids, in the store's order) agrees with its count. */
async function listed(store: SessionStore, user: string, when: string): Promise<string[]> {
  const s = indexed(store);
  const list = await s.userSessions(user);
  const ids = list.map((info) => info.id);
  assert.equal(new Set(ids).size, ids.length, `userSessions('${user}') ${when} lists an id twice`);
  const count = await s.countUserSessions(user);
  assert.equal(
    count,
    ids.length,
    `countUserSessions('${user}') ${when} is ${count}, but userSessions lists ${ids.length}`,
  );
  return ids;
}

/** The user's listing is exactly `expected` (any order), and its count agrees. */
async function assertUserListed(
  store: SessionStore,
  user: string,
  expected: string[],
  when: string,
): Promise<void> {
  const ids = await listed(store, user, when);
  assert.deepEqual(
    [...ids].sort(),
    [...expected].sort(),
    `userSessions('${user}') ${when}: got [${ids.map(show).join(', ')}], expected [${expected.map(show).join(', ')}]`,
  );
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Expiry reported within a second of the written one (stores keep seconds or milliseconds). */
function assertNear(actual: number | null, expected: number, what: string): void {
  assert.ok(
    actual !== null && Math.abs(actual - expected) <= 1_000,
    `${what}: ${actual === null ? 'null' : new Date(actual).toISOString()}, expected ${new Date(expected).toISOString()}`,
  );
}

const byUserId = { user: 'userId' } as const;

export const users: Behaviour[] = [
  {
    group: GROUP,
    name: 'a store opened with users has all four methods: userOf, userSessions, countUserSessions, destroyUserSessions',
    users: byUserId,
    requires: ['users'],
    run: async ({ store }) => {
      for (const method of [
        'userOf',
        'userSessions',
        'countUserSessions',
        'destroyUserSessions',
      ] as const) {
        assert.equal(typeof store[method], 'function', `${method} is not a function`);
      }
    },
  },
  {
    group: GROUP,
    name: "userOf follows the users option: the key's value (numbers as strings), null when absent or empty",
    users: byUserId,
    requires: ['users'],
    run: async ({ store }) => {
      const s = indexed(store);
      assert.equal(s.userOf(session({ user: 'alice' })), 'alice');
      assert.equal(s.userOf(session({ user: 42 })), '42');
      assert.equal(s.userOf(session()), null);
      assert.equal(s.userOf(session({ user: '' })), null);
    },
  },
  {
    group: GROUP,
    name: "a dotted path (passport.user) selects the user: passport's records are indexed",
    users: { user: 'passport.user' },
    requires: ['users'],
    run: async ({ store }) => {
      await store.set('pp-1', session({ created: 1, data: { passport: { user: 7 } } }));
      await store.set('pp-2', session({ created: 2, data: { passport: {} } }));
      await assertUserListed(store, '7', ['pp-1'], 'after writing a passport session');
    },
  },
  {
    group: GROUP,
    name: "userSessions lists exactly the user's sessions, oldest first, never another user's or an anonymous one",
    users: byUserId,
    requires: ['users'],
    run: async ({ store }) => {
      await store.set('u-b', session({ user: 'alice', created: 20 }));
      await store.set('u-a', session({ user: 'alice', created: 10 }));
      await store.set('u-c', session({ user: 'bob', created: 5 }));
      await store.set('u-d', session({ created: 1 }));
      await store.set('u-e', session({ user: 'alice', created: 30 }));
      const ids = await listed(store, 'alice', 'after three sessions of alice');
      assert.deepEqual(ids, ['u-a', 'u-b', 'u-e'], 'alice: not her three sessions, oldest first');
      await assertUserListed(store, 'bob', ['u-c'], 'for bob');
      await assertUserListed(store, 'carol', [], 'for a user without sessions');
    },
  },
  {
    group: GROUP,
    name: 'a listing reports createdAt, lastSeenAt, expiresAt and the meta keys of each session',
    users: { user: 'userId', meta: ['userAgent', 'ip'] },
    requires: ['users'],
    run: async ({ store }) => {
      const written = session({
        user: 'alice',
        created: 100,
        ttl: 1_800_000,
        data: { userAgent: 'Firefox/130', secret: 'not listed' },
      });
      await store.set('m-1', written);
      const [info, ...more] = await indexed(store).userSessions('alice');
      assert.ok(info && more.length === 0, 'expected exactly one session');
      const expires = Date.parse(String(written.cookie.expires));
      assert.equal(info.id, 'm-1');
      assert.equal(info.createdAt, BASE + 100, 'createdAt is not cookie.createdAt');
      assertNear(info.expiresAt, expires, 'expiresAt');
      assertNear(info.lastSeenAt, expires - 1_800_000, 'lastSeenAt (expiry minus originalMaxAge)');
      assert.deepEqual(
        info.meta,
        { userAgent: 'Firefox/130' },
        'meta holds the meta keys present, and only those',
      );
    },
  },
  {
    group: GROUP,
    name: 'a browser-session cookie (no expires) is listed with expiresAt and lastSeenAt null',
    users: byUserId,
    requires: ['users'],
    run: async ({ store }) => {
      await store.set('b-1', session({ user: 'alice', created: 1, ttl: null }));
      const list: UserSessionInfo[] = await indexed(store).userSessions('alice');
      assert.equal(list.length, 1, 'the browser-session cookie is not listed');
      assert.equal(list[0]?.expiresAt, null, 'expiresAt');
      assert.equal(list[0]?.lastSeenAt, null, 'lastSeenAt');
    },
  },
  {
    group: GROUP,
    name: 'a destroyed session is no longer listed nor counted',
    users: byUserId,
    requires: ['users'],
    run: async ({ store }) => {
      for (const [i, id] of ['d-1', 'd-2', 'd-3'].entries()) {
        await store.set(id, session({ user: 'alice', created: i }));
      }
      await store.destroy('d-2');
      await assertUserListed(store, 'alice', ['d-1', 'd-3'], 'after destroying d-2');
    },
  },
  {
    group: GROUP,
    name: 'an expired session is never listed nor counted, whether or not the store swept it',
    users: byUserId,
    requires: ['users'],
    run: async ({ store }) => {
      await store.set('x-short', session({ user: 'alice', created: 1, ttl: 1_000 }));
      await store.set('x-long', session({ user: 'alice', created: 2 }));
      await assertUserListed(store, 'alice', ['x-short', 'x-long'], 'before x-short expires');
      await sleep(1_300);
      await assertUserListed(store, 'alice', ['x-long'], 'after x-short expired');
      assert.equal(
        await indexed(store).destroyUserSessions('alice'),
        1,
        'destroyUserSessions counted an expired session',
      );
    },
  },
  {
    group: GROUP,
    name: "a rewrite moves the session to its new user (login as another), and a logout's rewrite removes it",
    users: byUserId,
    requires: ['users'],
    run: async ({ store }) => {
      await store.set('r-1', session({ created: 1 }));
      await assertUserListed(store, 'alice', [], 'while r-1 is anonymous');
      await store.set('r-1', session({ user: 'alice', created: 1 }));
      await assertUserListed(store, 'alice', ['r-1'], 'after alice logged in on r-1');
      await store.set('r-1', session({ user: 'bob', created: 1 }));
      await assertUserListed(store, 'alice', [], 'after bob logged in on r-1');
      await assertUserListed(store, 'bob', ['r-1'], 'after bob logged in on r-1');
      await store.set('r-1', session({ created: 1 }));
      await assertUserListed(store, 'bob', [], 'after the logout rewrote r-1 without userId');
      assert.ok(await store.get('r-1'), 'the anonymous session itself is gone');
    },
  },
  {
    group: GROUP,
    name: 'compareAndSet keeps the index too: a write moves the session, a refused write changes nothing',
    users: byUserId,
    requires: ['users', 'compareAndSet'],
    run: async ({ store }) => {
      const cas = store.compareAndSet?.bind(store);
      assert.ok(cas);
      const first = session({ user: 'alice', created: 1 });
      assert.equal(await cas('c-1', null, first), true, 'the first compareAndSet was refused');
      await assertUserListed(store, 'alice', ['c-1'], 'after compareAndSet created c-1');
      const second = session({ user: 'bob', created: 1 });
      assert.equal(await cas('c-1', first, second), true, 'the second compareAndSet was refused');
      await assertUserListed(store, 'alice', [], 'after compareAndSet gave c-1 to bob');
      await assertUserListed(store, 'bob', ['c-1'], 'after compareAndSet gave c-1 to bob');
      const refused = session({ user: 'carol', created: 1 });
      assert.equal(await cas('c-1', first, refused), false, 'a stale compareAndSet was accepted');
      await assertUserListed(store, 'carol', [], 'after a refused compareAndSet');
      await assertUserListed(store, 'bob', ['c-1'], 'after a refused compareAndSet');
    },
  },
  {
    group: GROUP,
    name: "destroyUserSessions destroys every session of the user, resolves how many, and leaves others' alone",
    users: byUserId,
    requires: ['users'],
    run: async ({ store }) => {
      for (const [i, id] of ['a-1', 'a-2', 'a-3'].entries()) {
        await store.set(id, session({ user: 'alice', created: i }));
      }
      await store.set('b-1', session({ user: 'bob', created: 1 }));
      await store.set('anon', session({ created: 1 }));
      assert.equal(await indexed(store).destroyUserSessions('alice'), 3);
      for (const id of ['a-1', 'a-2', 'a-3']) {
        assert.equal(await store.get(id), null, `${id} is still readable`);
      }
      await assertUserListed(store, 'alice', [], 'after destroyUserSessions');
      await assertUserListed(store, 'bob', ['b-1'], "after destroying alice's sessions");
      assert.ok(await store.get('b-1'), "bob's session was destroyed");
      assert.ok(await store.get('anon'), 'the anonymous session was destroyed');
      assert.equal(await indexed(store).destroyUserSessions('alice'), 0, 'a second call');
    },
  },
  {
    group: GROUP,
    name: 'destroyUserSessions(user, exceptId) destroys all but that one ("log out everywhere else")',
    users: byUserId,
    requires: ['users'],
    run: async ({ store }) => {
      for (const [i, id] of ['e-1', 'e-2', 'e-3'].entries()) {
        await store.set(id, session({ user: 'alice', created: i }));
      }
      assert.equal(await indexed(store).destroyUserSessions('alice', 'e-2'), 2);
      assert.equal(await store.get('e-1'), null, 'e-1 is still readable');
      assert.equal(await store.get('e-3'), null, 'e-3 is still readable');
      assert.ok(await store.get('e-2'), 'the session kept was destroyed');
      await assertUserListed(store, 'alice', ['e-2'], 'after destroying all but e-2');
      // An exceptId of another user's session protects nothing of this user's.
      await store.set('e-4', session({ user: 'alice', created: 4 }));
      await store.set('bob-1', session({ user: 'bob', created: 1 }));
      assert.equal(await indexed(store).destroyUserSessions('alice', 'bob-1'), 2);
      assert.ok(await store.get('bob-1'), "bob's session was destroyed");
    },
  },
  {
    group: GROUP,
    name: 'maxSessionsPerUser: the write that exceeds it destroys the oldest sessions',
    users: { user: 'userId', maxSessionsPerUser: 3 },
    requires: ['users'],
    run: async ({ store }) => {
      for (let i = 1; i <= 5; i++) {
        await store.set(`cap-${i}`, session({ user: 'alice', created: i }));
      }
      await store.set('bob-1', session({ user: 'bob', created: 0 }));
      const ids = await listed(store, 'alice', 'after five logins with a cap of 3');
      assert.deepEqual(ids, ['cap-3', 'cap-4', 'cap-5'], 'not the three newest');
      assert.equal(await store.get('cap-1'), null, 'cap-1 (the oldest) is still readable');
      assert.equal(await store.get('cap-2'), null, 'cap-2 is still readable');
      await assertUserListed(store, 'bob', ['bob-1'], "for bob, under alice's cap");
      // Rewriting a session already counted makes no room for anything.
      for (let i = 0; i < 3; i++) {
        await store.set('cap-5', session({ user: 'alice', created: 5, data: { n: i } }));
      }
      await assertUserListed(store, 'alice', ['cap-3', 'cap-4', 'cap-5'], 'after rewrites');
    },
  },
  {
    group: GROUP,
    name: 'maxSessionsPerUser never destroys the session being written, even when it is the oldest',
    users: { user: 'userId', maxSessionsPerUser: 2 },
    requires: ['users'],
    run: async ({ store }) => {
      await store.set('old', session({ created: 1 }));
      await store.set('mid', session({ user: 'alice', created: 2 }));
      await store.set('new', session({ user: 'alice', created: 3 }));
      // The anonymous session created first now logs in as alice.
      await store.set('old', session({ user: 'alice', created: 1 }));
      assert.ok(await store.get('old'), 'the session that just logged in was destroyed');
      assert.equal(await store.get('mid'), null, 'mid (the oldest other) is still readable');
      await assertUserListed(store, 'alice', ['old', 'new'], 'after the third login');
    },
  },
  {
    group: GROUP,
    name: 'maxSessionsPerUser holds under 30 parallel logins: never more than N live sessions',
    users: { user: 'userId', maxSessionsPerUser: 3 },
    requires: ['users'],
    run: async ({ store }) => {
      const ids = Array.from({ length: 30 }, (_, i) => `par-${i}`);
      await Promise.all(
        ids.map((id, i) => store.set(id, session({ user: 'alice', created: i % 7 }))),
      );
      const got = await Promise.all(ids.map((id) => store.get(id)));
      const live = ids.filter((_, i) => got[i] !== null);
      assert.equal(live.length, 3, `${live.length} sessions of alice are readable, the cap is 3`);
      await assertUserListed(store, 'alice', live, 'after 30 parallel logins');
    },
  },
  {
    group: GROUP,
    name: 'the index stays right under parallel writes, touches and regenerates (destroy old id, set new id)',
    users: byUserId,
    requires: ['users'],
    run: async ({ store }) => {
      const ids = Array.from({ length: 12 }, (_, i) => `pw-${i}`);
      for (const [i, id] of ids.entries()) {
        await store.set(id, session({ user: 'alice', created: i }));
      }
      const work: Promise<unknown>[] = [];
      for (const [i, id] of ids.entries()) {
        if (i < 6) {
          // regenerate: the old id goes, a new one takes the same user
          work.push(
            store.destroy(id),
            store.set(`${id}-new`, session({ user: 'alice', created: i })),
          );
        } else {
          for (let n = 0; n < 4; n++) {
            work.push(store.set(id, session({ user: 'alice', created: i, data: { n } })));
            if (store.touch) work.push(store.touch(id, session({ user: 'alice', created: i })));
          }
        }
      }
      for (let i = 0; i < 5; i++)
        work.push(store.set(`bob-${i}`, session({ user: 'bob', created: i })));
      await Promise.all(work);
      const expected = [...ids.slice(0, 6).map((id) => `${id}-new`), ...ids.slice(6)];
      await assertUserListed(store, 'alice', expected, 'after the parallel writes');
      await assertUserListed(
        store,
        'bob',
        Array.from({ length: 5 }, (_, i) => `bob-${i}`),
        'after the parallel writes',
      );
    },
  },
  {
    group: GROUP,
    name: 'a new store instance over the same backend sees the index (a restart)',
    users: byUserId,
    requires: ['users', 'sharedInstances'],
    run: async ({ store, namespace, reopen }) => {
      await store.set('rs-1', session({ user: 'alice', created: 1 }));
      await store.set('rs-2', session({ user: 'alice', created: 2 }));
      await store.close?.();
      const again = await reopen(namespace);
      await assertUserListed(again, 'alice', ['rs-1', 'rs-2'], 'through a new store instance');
      await again.set('rs-3', session({ user: 'alice', created: 3 }));
      assert.equal(await indexed(again).destroyUserSessions('alice', 'rs-3'), 2);
      assert.equal(await again.get('rs-1'), null, 'rs-1 is still readable');
      await assertUserListed(again, 'alice', ['rs-3'], 'after destroying through it');
    },
  },
  {
    group: GROUP,
    name: 'a record written without the user key (legacy, or by express-session) is not indexed until a write gives it one',
    users: byUserId,
    requires: ['users'],
    run: async ({ store }) => {
      // As express-session writes it: no userId, no cookie.createdAt.
      await store.set('legacy', record({ views: 3 }));
      await assertUserListed(store, 'alice', [], 'with only a legacy record');
      assert.ok(await store.get('legacy'), 'the legacy record is not readable');
      await store.set('legacy', record({ views: 4, userId: 'alice' }));
      const list = await indexed(store).userSessions('alice');
      assert.deepEqual(
        list.map((info) => [info.id, info.createdAt]),
        [['legacy', null]],
        'a record with the user but without cookie.createdAt is listed with createdAt null',
      );
    },
  },
  {
    group: GROUP,
    name: 'touch keeps a listed session and moves its expiresAt; it never lists a destroyed one again',
    users: byUserId,
    requires: ['users', 'touch'],
    run: async ({ store }) => {
      const touch = store.touch?.bind(store);
      assert.ok(touch);
      await store.set('t-1', session({ user: 'alice', created: 1, ttl: 600_000 }));
      await store.set('t-2', session({ user: 'alice', created: 2 }));
      const later = session({ user: 'alice', created: 1, ttl: 7_200_000 });
      await touch('t-1', later);
      const info = (await indexed(store).userSessions('alice')).find((i) => i.id === 't-1');
      assertNear(
        info?.expiresAt ?? null,
        Date.parse(String(later.cookie.expires)),
        'expiresAt after a touch',
      );
      await store.destroy('t-2');
      await touch('t-2', session({ user: 'alice', created: 2 }));
      await indexed(store).destroyUserSessions('alice');
      await touch('t-1', later);
      await assertUserListed(store, 'alice', [], 'after touching destroyed sessions');
      assert.equal(await store.get('t-1'), null, 'touch brought t-1 back');
      assert.equal(await store.get('t-2'), null, 'touch brought t-2 back');
    },
  },
  {
    group: GROUP,
    name: "clear empties every user's listing, and the index works again after",
    users: byUserId,
    requires: ['users', 'clear'],
    run: async ({ store }) => {
      await store.set('cl-1', session({ user: 'alice', created: 1 }));
      await store.set('cl-2', session({ user: 'bob', created: 1 }));
      await store.clear?.();
      await assertUserListed(store, 'alice', [], 'after clear');
      await assertUserListed(store, 'bob', [], 'after clear');
      await store.set('cl-3', session({ user: 'alice', created: 2 }));
      await assertUserListed(store, 'alice', ['cl-3'], 'after a write following clear');
    },
  },
  {
    group: GROUP,
    name: "another namespace's sessions of the same user are not listed, counted nor destroyed",
    users: byUserId,
    requires: ['users', 'sharedInstances'],
    run: async ({ store, other }) => {
      const elsewhere = await other();
      await store.set('ns-1', session({ user: 'alice', created: 1 }));
      await elsewhere.set('ns-2', session({ user: 'alice', created: 2 }));
      await assertUserListed(store, 'alice', ['ns-1'], 'in this namespace');
      assert.equal(await indexed(store).destroyUserSessions('alice'), 1);
      assert.ok(await elsewhere.get('ns-2'), "the other namespace's session was destroyed");
      await assertUserListed(elsewhere, 'alice', ['ns-2'], 'in the other namespace');
    },
  },
];
