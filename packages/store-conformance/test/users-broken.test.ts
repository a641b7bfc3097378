import {
  MemoryStore,
  type SessionRecord,
  type SessionStore,
  type UserIndexOptions,
} from '@sess/core';
import { describe, expect, it } from 'vitest';
import { type ConformanceOptions, runConformance } from '../src/index.js';

/*
 * The "sessions by user" behaviours catch stores whose index is wrong: each
 * flawed store below is core's MemoryStore with one user method or the index
 * bookkeeping broken, and must fail the behaviour named beside it.
 */

type Flaw =
  | 'index never forgets'
  | 'ignores exceptId'
  | 'ignores the cap'
  | "lists every user's sessions"
  | 'counts the index, not the live sessions'
  | 'cap destroys the session being written'
  | 'no user index';

/** A MemoryStore keeping its own naive index beside the store's records. */
function naiveIndexStore(users: UserIndexOptions): SessionStore {
  const inner = new MemoryStore({ sweepInterval: 0, users });
  const index = new Map<string, Set<string>>();
  const userOf = inner.userOf?.bind(inner) as (s: SessionRecord) => string | null;
  return {
    get: (id) => inner.get(id),
    async set(id, session) {
      await inner.set(id, session);
      const user = userOf(session);
      if (user !== null) index.set(user, new Set([...(index.get(user) ?? []), id]));
    },
    destroy: (id) => inner.destroy(id),
    clear: () => inner.clear(),
    close: () => inner.close(),
    userOf,
    async userSessions(user) {
      return [...(index.get(user) ?? [])].map((id) => ({
        id,
        createdAt: null,
        lastSeenAt: null,
        expiresAt: null,
        meta: {},
      }));
    },
    async countUserSessions(user) {
      return index.get(user)?.size ?? 0;
    },
    async destroyUserSessions(user, exceptId) {
      return (await inner.destroyUserSessions?.(user, exceptId)) ?? 0;
    },
  };
}

function flawedStore(flaw: Flaw, users: UserIndexOptions | undefined): SessionStore {
  if (flaw === 'no user index' || !users) return new MemoryStore({ sweepInterval: 0 });
  if (flaw === 'index never forgets') return naiveIndexStore(users);
  if (flaw === 'ignores the cap') {
    return new MemoryStore({
      sweepInterval: 0,
      users: { ...users, maxSessionsPerUser: undefined },
    });
  }
  const store = new MemoryStore({ sweepInterval: 0, users });
  const list = store.userSessions?.bind(store);
  const destroyAll = store.destroyUserSessions?.bind(store);
  if (!list || !destroyAll) throw new Error('MemoryStore has no user index');
  const own = store as unknown as Record<string, unknown>;
  if (flaw === 'ignores exceptId') {
    own.destroyUserSessions = (user: string) => destroyAll(user);
  } else if (flaw === "lists every user's sessions") {
    own.userSessions = async (user: string) =>
      [...(await list(user)), ...(await list('bob')), ...(await list('alice'))].filter(
        (info, i, all) => all.findIndex((o) => o.id === info.id) === i,
      );
    own.countUserSessions = async (user: string) =>
      ((await (own.userSessions as typeof list)(user)) ?? []).length;
  } else if (flaw === 'counts the index, not the live sessions') {
    const seen = new Map<string, Set<string>>();
    const set = store.set.bind(store);
    own.set = async (id: string, session: SessionRecord) => {
      await set(id, session);
      const user = store.userOf?.(session);
      if (user) seen.set(user, new Set([...(seen.get(user) ?? []), id]));
    };
    own.countUserSessions = async (user: string) => seen.get(user)?.size ?? 0;
  } else if (flaw === 'cap destroys the session being written') {
    const set = store.set.bind(store);
    const max = users.maxSessionsPerUser ?? Number.POSITIVE_INFINITY;
    own.set = async (id: string, session: SessionRecord) => {
      const user = store.userOf?.(session);
      const before = user ? await list(user) : [];
      // Counts the written session as a newcomer, and destroys strictly by age.
      const all = [
        ...before.filter((i) => i.id !== id),
        { id, createdAt: session.cookie.createdAt ?? 0 },
      ];
      all.sort((a, b) => (a.createdAt ?? 0) - (b.createdAt ?? 0));
      const doomed = all.slice(0, Math.max(0, all.length - max)).map((i) => i.id);
      if (!doomed.includes(id)) await set(id, session);
      for (const gone of doomed) if (gone !== id) await store.destroy(gone);
    };
  }
  return store;
}

async function failures(flaw: Flaw): Promise<{ failed: string[]; na: string[] }> {
  const options: ConformanceOptions = {
    name: flaw,
    create: ({ users }) => flawedStore(flaw, users),
    isolatedInstances: true,
    timeout: 4_000,
    filter: (b) => b.group === 'sessions by user',
  };
  const report = await runConformance(options);
  const named = (status: string) =>
    report.results.filter((r) => r.status === status).map((r) => r.name);
  return { failed: named('fail'), na: named('n.a.') };
}

const cases: [Flaw, string][] = [
  ['index never forgets', 'a destroyed session is no longer listed nor counted'],
  [
    'index never forgets',
    "a rewrite moves the session to its new user (login as another), and a logout's rewrite removes it",
  ],
  [
    'ignores exceptId',
    'destroyUserSessions(user, exceptId) destroys all but that one ("log out everywhere else")',
  ],
  ['ignores the cap', 'maxSessionsPerUser: the write that exceeds it destroys the oldest sessions'],
  [
    'ignores the cap',
    'maxSessionsPerUser holds under 30 parallel logins: never more than N live sessions',
  ],
  [
    "lists every user's sessions",
    "userSessions lists exactly the user's sessions, oldest first, never another user's or an anonymous one",
  ],
  [
    'counts the index, not the live sessions',
    'a destroyed session is no longer listed nor counted',
  ],
  [
    'cap destroys the session being written',
    'maxSessionsPerUser never destroys the session being written, even when it is the oldest',
  ],
];

describe('the sessions-by-user behaviours catch a broken index', () => {
  it.each(cases)(
    'flaw "%s" fails "%s"',
    async (flaw, behaviour) => {
      const { failed } = await failures(flaw);
      expect(failed).toContain(behaviour);
    },
    60_000,
  );

  it('a store without a user index reports every behaviour of the group n.a., none failed', async () => {
    const { failed, na } = await failures('no user index');
    expect(failed).toEqual([]);
    expect(na.length).toBeGreaterThan(15);
  }, 60_000);
});
