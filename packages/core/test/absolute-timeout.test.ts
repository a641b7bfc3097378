import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  MemoryStore,
  SessConfigError,
  SessionManager,
  type SessionRecord,
  signCookie,
} from '../src/index.js';
import { cookiePair, data, roundTrip, SECRET } from './helpers.js';

/*
 * `cookie.createdAt` (every new session) and `absoluteTimeout`: a session is
 * dead once older than the timeout since its creation, whatever rolling does.
 * Time is faked (Date only), so the MemoryStore's expiry follows it.
 */

const NOW = Date.parse('2026-06-01T10:00:00.000Z');
const MINUTE = 60_000;

let store: MemoryStore;
beforeEach(() => {
  vi.useFakeTimers({ toFake: ['Date'] });
  vi.setSystemTime(NOW);
  store = new MemoryStore({ sweepInterval: 0 });
});
afterEach(async () => {
  vi.useRealTimers();
  await store.close();
});

const manager = (options: Partial<ConstructorParameters<typeof SessionManager>[0]> = {}) =>
  new SessionManager({ secret: SECRET, store, ...options });

const expiresOf = (setCookie: string | null) => {
  const match = /Expires=([^;]+)/.exec(setCookie ?? '');
  return match ? Date.parse(match[1] as string) : null;
};

describe('cookie.createdAt', () => {
  it('is stamped on every new session (without absoluteTimeout too) and kept by later writes', async () => {
    const m = manager({ cookie: { maxAge: 10 * MINUTE } });
    const first = await roundTrip(m, undefined, (s) => {
      data(s).n = 1;
    });
    const id = first.state.id;
    expect((await store.get(id))?.cookie.createdAt).toBe(NOW);
    vi.setSystemTime(NOW + MINUTE);
    const second = await roundTrip(m, cookiePair(first.setCookie), (s) => {
      data(s).n = 2;
      expect(s.session?.cookie.createdAt).toBe(NOW);
    });
    expect(second.state.id).toBe(id);
    const stored = await store.get(id);
    expect(stored?.n).toBe(2);
    expect(stored?.cookie.createdAt).toBe(NOW);
  });

  it('is never sent to the browser', async () => {
    const { setCookie } = await roundTrip(manager({ cookie: { maxAge: MINUTE } }), undefined);
    expect(setCookie).not.toMatch(/created/i);
    expect(setCookie).not.toContain(String(NOW));
  });

  it('regenerate() starts a new creation time; regenerate({ keepCreatedAt: true }) keeps it', async () => {
    const m = manager({ cookie: { maxAge: 10 * MINUTE } });
    const first = await roundTrip(m, undefined);
    vi.setSystemTime(NOW + MINUTE);
    const fresh = await roundTrip(m, cookiePair(first.setCookie), async (s) => {
      await s.session?.regenerate();
    });
    expect((await store.get(fresh.state.id))?.cookie.createdAt).toBe(NOW + MINUTE);
    vi.setSystemTime(NOW + 2 * MINUTE);
    const kept = await roundTrip(m, cookiePair(fresh.setCookie), async (s) => {
      await s.session?.regenerate({ keepCreatedAt: true });
    });
    expect(kept.state.id).not.toBe(fresh.state.id);
    expect((await store.get(kept.state.id))?.cookie.createdAt).toBe(NOW + MINUTE);
  });

  it('a record without createdAt (express-session wrote it) counts as created when sess first sees it', async () => {
    const m = manager({ cookie: { maxAge: 10 * MINUTE } });
    const legacy: SessionRecord = {
      cookie: {
        originalMaxAge: 10 * MINUTE,
        expires: new Date(NOW + 10 * MINUTE).toISOString(),
        path: '/',
      },
      views: 1,
    };
    await store.set('legacy-id', legacy);
    const cookie = `connect.sid=${encodeURIComponent(signCookie('legacy-id', SECRET))}`;
    vi.setSystemTime(NOW + MINUTE);
    const { state } = await roundTrip(m, cookie);
    expect(state.id).toBe('legacy-id');
    // resave (the default) wrote it back, stamped.
    expect((await store.get('legacy-id'))?.cookie.createdAt).toBe(NOW + MINUTE);
  });
});

describe('absoluteTimeout', () => {
  const options = {
    rolling: true,
    resave: false,
    absoluteTimeout: 10 * MINUTE,
    cookie: { maxAge: 4 * MINUTE },
  };

  it('ends a rolling session at creation + absoluteTimeout however often it is used', async () => {
    const m = manager(options);
    const first = await roundTrip(m, undefined, (s) => {
      data(s).user = 'ann';
    });
    const id = first.state.id;
    let cookie = cookiePair(first.setCookie);
    for (let t = 3; t < 10; t += 3) {
      vi.setSystemTime(NOW + t * MINUTE);
      const { state, setCookie } = await roundTrip(m, cookie);
      expect(state.id).toBe(id);
      expect(data(state).user).toBe('ann');
      cookie = cookiePair(setCookie);
    }
    vi.setSystemTime(NOW + 10 * MINUTE);
    const after = await roundTrip(m, cookie);
    expect(after.state.id).not.toBe(id);
    expect(data(after.state).user).toBeUndefined();
    expect(after.state.session?.cookie.createdAt).toBe(NOW + 10 * MINUTE);
  });

  it('caps the cookie expiry, in Set-Cookie and in the store, at creation + absoluteTimeout', async () => {
    const m = manager(options);
    const first = await roundTrip(m, undefined, (s) => {
      data(s).user = 'ann';
    });
    expect(expiresOf(first.setCookie)).toBe(NOW + 4 * MINUTE);
    vi.setSystemTime(NOW + 3 * MINUTE);
    const between = await roundTrip(m, cookiePair(first.setCookie));
    expect(expiresOf(between.setCookie)).toBe(NOW + 7 * MINUTE);
    vi.setSystemTime(NOW + 6 * MINUTE + 30_000);
    const later = await roundTrip(m, cookiePair(between.setCookie));
    expect(later.state.id).toBe(first.state.id);
    expect(expiresOf(later.setCookie)).toBe(NOW + 10 * MINUTE);
    const stored = await store.get(first.state.id);
    expect(Date.parse(String(stored?.cookie.expires))).toBe(NOW + 10 * MINUTE);
    // The store itself lets it go at the deadline.
    vi.setSystemTime(NOW + 10 * MINUTE);
    expect(await store.get(first.state.id)).toBeNull();
  });

  it('a session found past the deadline is destroyed in the store', async () => {
    const m = manager({ absoluteTimeout: 5 * MINUTE, cookie: { maxAge: 60 * MINUTE } });
    const record: SessionRecord = {
      cookie: {
        originalMaxAge: 60 * MINUTE,
        expires: new Date(NOW + 60 * MINUTE).toISOString(),
        path: '/',
        createdAt: NOW - 6 * MINUTE,
      },
      user: 'ann',
    };
    await store.set('old-id', record);
    const cookie = `connect.sid=${encodeURIComponent(signCookie('old-id', SECRET))}`;
    const { state } = await roundTrip(m, cookie);
    expect(state.id).not.toBe('old-id');
    expect(await store.get('old-id')).toBeNull();
  });

  it('keepCreatedAt carries the deadline over a regenerate; without it the new session gets its own', async () => {
    const m = manager(options);
    const first = await roundTrip(m, undefined);
    vi.setSystemTime(NOW + 6 * MINUTE);
    const kept = await roundTrip(m, cookiePair(first.setCookie), async (s) => {
      await s.session?.regenerate({ keepCreatedAt: true });
      data(s).user = 'ann';
    });
    vi.setSystemTime(NOW + 10 * MINUTE);
    const dead = await roundTrip(m, cookiePair(kept.setCookie));
    expect(dead.state.id).not.toBe(kept.state.id);

    const fresh = await roundTrip(m, cookiePair(dead.setCookie), async (s) => {
      await s.session?.regenerate();
      data(s).user = 'bob';
    });
    vi.setSystemTime(NOW + 13 * MINUTE);
    const alive = await roundTrip(m, cookiePair(fresh.setCookie));
    expect(alive.state.id).toBe(fresh.state.id);
  });

  it('a legacy record without createdAt is stamped by the first response, even when unchanged', async () => {
    const m = manager(options);
    await store.set('legacy-id', {
      cookie: {
        originalMaxAge: 4 * MINUTE,
        expires: new Date(NOW + 4 * MINUTE).toISOString(),
        path: '/',
      },
      user: 'ann',
    });
    let cookie = `connect.sid=${encodeURIComponent(signCookie('legacy-id', SECRET))}`;
    const first = await roundTrip(m, cookie);
    expect(first.state.id).toBe('legacy-id');
    expect((await store.get('legacy-id'))?.cookie.createdAt).toBe(NOW);
    cookie = cookiePair(first.setCookie);
    for (let t = 3; t < 10; t += 3) {
      vi.setSystemTime(NOW + t * MINUTE);
      cookie = cookiePair((await roundTrip(m, cookie)).setCookie);
    }
    vi.setSystemTime(NOW + 10 * MINUTE);
    expect((await roundTrip(m, cookie)).state.id).not.toBe('legacy-id');
  });

  it('reload() of a session past the deadline fails as a missing session', async () => {
    const m = manager({ absoluteTimeout: 5 * MINUTE, cookie: { maxAge: 60 * MINUTE } });
    const first = await roundTrip(m, undefined);
    const state = await m.load({
      cookieHeader: cookiePair(first.setCookie),
      secure: false,
      request: undefined,
    });
    vi.setSystemTime(NOW + 5 * MINUTE);
    await expect(state?.session?.reload()).rejects.toMatchObject({ code: 'SESS_NOT_FOUND' });
  });

  it('a browser-session cookie keeps no Expires; the server still ends it', async () => {
    const m = manager({ absoluteTimeout: 5 * MINUTE });
    const first = await roundTrip(m, undefined, (s) => {
      data(s).user = 'ann';
    });
    expect(first.setCookie).not.toMatch(/Expires=/);
    vi.setSystemTime(NOW + 5 * MINUTE);
    const after = await roundTrip(m, cookiePair(first.setCookie));
    expect(after.state.id).not.toBe(first.state.id);
  });

  it.each([0, -1, Number.NaN, Number.POSITIVE_INFINITY, '10m'])(
    'rejects absoluteTimeout %s with SessConfigError',
    (value) => {
      expect(() => manager({ absoluteTimeout: value as number })).toThrow(SessConfigError);
    },
  );
});
