import { describe, expect, it } from 'vitest';
import {
  type CookieOptions,
  MemoryStore,
  SessionManager,
  type SessionRecord,
  signCookie,
} from '../src/index.js';
import { SECRET } from './helpers.js';

/*
 * Bugs found in src/session.ts and src/manager.ts by this suite's author and
 * fixed there; these tests keep them fixed.
 */

const cookieFor = (id: string) => `connect.sid=${encodeURIComponent(signCookie(id, SECRET))}`;

async function loadStored(json: string) {
  const store = new MemoryStore({ sweepInterval: 0 });
  await store.set('stored', JSON.parse(json) as SessionRecord);
  const manager = new SessionManager({ secret: SECRET, store });
  const state = await manager.load({
    request: {},
    cookieHeader: cookieFor('stored'),
    secure: false,
  });
  return { store, state };
}

describe('session.ts: stored keys that collide with Session members ', () => {
  // express-session's Session constructor skips keys already `in` the session
  // (its methods and id), so such a record loads there. In sess the copy
  // assigns them: `id` throws (a getter), so the request fails with a 500.
  it('a record with a data key "id" loads instead of throwing', async () => {
    const { state } = await loadStored('{"cookie":{"originalMaxAge":null},"id":"x","n":1}');
    expect(state?.id).toBe('stored');
    expect(state?.session?.id).toBe('stored');
  });

  it('a record with a data key "save" does not replace session.save()', async () => {
    const { state } = await loadStored('{"cookie":{"originalMaxAge":null},"save":1}');
    await expect(state?.session?.save()).resolves.toBeUndefined();
  });

  it('a record with a "__proto__" key does not change the Session prototype', async () => {
    const { state } = await loadStored('{"cookie":{"originalMaxAge":null},"__proto__":{"x":1}}');
    await expect(state?.commit(state.session)).resolves.toBeUndefined();
  });
});

describe('manager.ts: the cookie that clears a destroyed session ', () => {
  async function clearing(name: string, cookie: CookieOptions) {
    const manager = new SessionManager({
      secret: SECRET,
      store: new MemoryStore({ sweepInterval: 0 }),
      name,
      cookie,
      clearCookieOnDestroy: true,
    });
    const first = await manager.load({ request: {}, cookieHeader: undefined, secure: true });
    await first?.commit(first.session);
    const pair = first?.setCookieHeader()?.split(';')[0];
    const state = await manager.load({ request: {}, cookieHeader: pair, secure: true });
    await state?.session?.destroy();
    await state?.commit(undefined);
    return state?.setCookieHeader() ?? '';
  }

  // Browsers ignore a Set-Cookie for a __Host-/__Secure- name without Secure,
  // so the cookie is never cleared.
  it('keeps Secure for a __Host- cookie', async () => {
    expect(await clearing('__Host-sid', { secure: true })).toContain('; Secure');
  });

  // A partitioned (CHIPS) cookie is only replaced by a Set-Cookie that is
  // partitioned too.
  it('keeps Partitioned (and Secure) for a partitioned cookie', async () => {
    const header = await clearing('sid', { secure: true, sameSite: 'none', partitioned: true });
    expect(header).toContain('; Partitioned');
    expect(header).toContain('; Secure');
  });
});
