import { afterEach, describe, expect, it } from 'vitest';
import {
  type ListedSession,
  MemoryStore,
  NoSessionUserError,
  SessError,
  SessionManager,
  UserIndexUnavailableError,
  UserSessionsError,
} from '../src/index.js';
import { cookiePair, data, roundTrip, SECRET } from './helpers.js';

/*
 * The session's "sessions by user" helpers (`req.session.userSessions()`,
 * `destroyOtherSessions()`...), over a MemoryStore with a user index.
 */

const stores: MemoryStore[] = [];
afterEach(async () => {
  for (const store of stores.splice(0)) await store.close();
});

function setup(users = true) {
  const store = new MemoryStore({
    sweepInterval: 0,
    ...(users ? { users: { user: 'userId', meta: ['userAgent'] } } : {}),
  });
  stores.push(store);
  const manager = new SessionManager({ secret: SECRET, store, cookie: { maxAge: 60_000 } });
  /** A login from one device: a session with userId and the device's user agent. */
  const login = async (userId: string, userAgent: string) => {
    const { state, setCookie } = await roundTrip(manager, undefined, (s) => {
      data(s).userId = userId;
      data(s).userAgent = userAgent;
    });
    return { id: state.id, cookie: cookiePair(setCookie) };
  };
  return { store, manager, login };
}

describe('req.session sessions-by-user helpers', () => {
  it('userSessions lists this user’s devices, the current one marked; countUserSessions agrees', async () => {
    const { manager, login } = setup();
    const phone = await login('ann', 'Phone');
    const laptop = await login('ann', 'Laptop');
    await login('bob', 'Tablet');
    let listed: ListedSession[] = [];
    let count = 0;
    await roundTrip(manager, laptop.cookie, async (s) => {
      listed = (await s.session?.userSessions()) ?? [];
      count = (await s.session?.countUserSessions()) ?? -1;
    });
    expect(listed.map((l) => [l.id, l.current, l.meta.userAgent])).toEqual([
      [phone.id, false, 'Phone'],
      [laptop.id, true, 'Laptop'],
    ]);
    expect(listed[0]?.createdAt).toEqual(expect.any(Number));
    expect(count).toBe(2);
  });

  it('destroyOtherSessions logs out everywhere else and keeps this session', async () => {
    const { store, manager, login } = setup();
    const phone = await login('ann', 'Phone');
    const tablet = await login('ann', 'Tablet');
    const laptop = await login('ann', 'Laptop');
    const bob = await login('bob', 'Desk');
    let destroyed = -1;
    const { state } = await roundTrip(manager, laptop.cookie, async (s) => {
      destroyed = (await s.session?.destroyOtherSessions()) ?? -1;
    });
    expect(destroyed).toBe(2);
    expect(state.id).toBe(laptop.id);
    expect(await store.get(phone.id)).toBeNull();
    expect(await store.get(tablet.id)).toBeNull();
    expect(await store.get(laptop.id)).not.toBeNull();
    expect(await store.get(bob.id)).not.toBeNull();
    // The phone's next request gets a new, anonymous session.
    const next = await roundTrip(manager, phone.cookie);
    expect(next.state.id).not.toBe(phone.id);
    expect(data(next.state).userId).toBeUndefined();
  });

  it('destroyUserSessions logs out everywhere, this session included (and clears its cookie when asked)', async () => {
    const { store, manager, login } = setup();
    const phone = await login('ann', 'Phone');
    const laptop = await login('ann', 'Laptop');
    let destroyed = -1;
    const { state, setCookie } = await roundTrip(manager, laptop.cookie, async (s) => {
      destroyed = (await s.session?.destroyUserSessions({ clearCookie: true })) ?? -1;
    });
    expect(destroyed).toBe(2);
    expect(state.session).toBeNull();
    expect(await store.get(phone.id)).toBeNull();
    expect(await store.get(laptop.id)).toBeNull();
    expect(setCookie).toMatch(/Expires=Thu, 01 Jan 1970/);
  });

  it('callback forms answer (err, value)', async () => {
    const { manager, login } = setup();
    const phone = await login('ann', 'Phone');
    const laptop = await login('ann', 'Laptop');
    await roundTrip(manager, laptop.cookie, async (s) => {
      const session = s.session;
      if (!session) throw new Error('no session');
      const count = await new Promise((resolve, reject) =>
        session.countUserSessions((err, n) => (err ? reject(err) : resolve(n))),
      );
      expect(count).toBe(2);
      const returned = session.destroyOtherSessions(() => undefined);
      expect(returned).toBe(session);
      const listed = await new Promise<ListedSession[] | undefined>((resolve, reject) =>
        session.userSessions((err, list) => (err ? reject(err) : resolve(list))),
      );
      expect(listed?.map((l) => l.id)).toEqual([laptop.id]);
    });
    expect(phone.id).not.toBe(laptop.id);
  });

  it('a store without a user index: UserIndexUnavailableError (SESS_NO_USER_INDEX)', async () => {
    const { manager, login } = setup(false);
    const laptop = await login('ann', 'Laptop');
    await roundTrip(manager, laptop.cookie, async (s) => {
      const failure = s.session?.userSessions();
      await expect(failure).rejects.toBeInstanceOf(UserIndexUnavailableError);
      await expect(s.session?.destroyOtherSessions()).rejects.toMatchObject({
        code: 'SESS_NO_USER_INDEX',
      });
    });
  });

  it('a session without a user: NoSessionUserError (SESS_NO_USER), also a UserSessionsError and SessError', async () => {
    const { manager } = setup();
    await roundTrip(manager, undefined, async (s) => {
      const error = await s.session?.countUserSessions().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(NoSessionUserError);
      expect(error).toBeInstanceOf(UserSessionsError);
      expect(error).toBeInstanceOf(SessError);
      expect((error as SessError).code).toBe('SESS_NO_USER');
      // Without a callback and not awaited, a failure is no unhandled rejection (as save()).
      s.session?.destroyUserSessions();
    });
  });

  it('a user who logged in during this request is listed once the session is saved', async () => {
    const { manager } = setup();
    await roundTrip(manager, undefined, async (s) => {
      data(s).userId = 'ann';
      expect(await s.session?.userSessions()).toEqual([]);
      await s.session?.save();
      const listed = await s.session?.userSessions();
      expect(listed?.map((l) => l.current)).toEqual([true]);
    });
  });
});
