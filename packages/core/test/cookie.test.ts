import expressSession from 'express-session';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Cookie, type CookieOptions, signCookie } from '../src/index.js';

// express-session's own Cookie class: the reference these tests compare against.
const ReferenceCookie = expressSession.Cookie as unknown as new (
  options?: object,
) => {
  maxAge: number | null;
  originalMaxAge: number | null;
  expires: Date | null;
  serialize(name: string, value: string): string;
  toJSON(): object;
};

const NOW = new Date('2026-03-01T12:00:00.000Z');

beforeEach(() => {
  vi.useFakeTimers();
  vi.setSystemTime(NOW);
});
afterEach(() => {
  vi.useRealTimers();
});

describe('Cookie defaults', () => {
  it('is a browser-session cookie on / with HttpOnly', () => {
    const cookie = new Cookie();
    expect(cookie.path).toBe('/');
    expect(cookie.httpOnly).toBe(true);
    expect(cookie.expires).toBeNull();
    expect(cookie.maxAge).toBeNull();
    expect(cookie.originalMaxAge).toBeNull();
    expect(JSON.stringify(cookie)).toBe(JSON.stringify(new ReferenceCookie()));
    expect(JSON.parse(JSON.stringify(cookie))).toEqual({
      originalMaxAge: null,
      expires: null,
      httpOnly: true,
      path: '/',
    });
  });

  it('rejects options that are not an object', () => {
    expect(() => new Cookie('x' as unknown as CookieOptions)).toThrow(TypeError);
    expect(() => new Cookie(null as unknown as CookieOptions)).toThrow(TypeError);
  });
});

describe('maxAge and originalMaxAge', () => {
  it('maxAge sets expires and originalMaxAge, then counts down', () => {
    const cookie = new Cookie({ maxAge: 60_000 });
    expect(cookie.expires?.toISOString()).toBe('2026-03-01T12:01:00.000Z');
    expect(cookie.originalMaxAge).toBe(60_000);
    expect(cookie.maxAge).toBe(60_000);
    vi.advanceTimersByTime(15_000);
    expect(cookie.maxAge).toBe(45_000);
    expect(cookie.originalMaxAge).toBe(60_000);
  });

  it('maxAge goes negative after expiry (as in express-session)', () => {
    const cookie = new Cookie({ maxAge: 1000 });
    vi.advanceTimersByTime(3000);
    expect(cookie.maxAge).toBe(-2000);
  });

  it('setting maxAge moves expires and originalMaxAge; null makes a browser-session cookie', () => {
    const cookie = new Cookie({ maxAge: 60_000 });
    cookie.maxAge = 5000;
    expect(cookie.expires?.getTime()).toBe(NOW.getTime() + 5000);
    expect(cookie.originalMaxAge).toBe(5000);
    cookie.maxAge = null;
    expect(cookie.expires).toBeNull();
    expect(cookie.originalMaxAge).toBeNull();
  });

  it('rejects a maxAge that is not a finite number or null', () => {
    const cookie = new Cookie();
    for (const bad of ['1000', Number.NaN, Number.POSITIVE_INFINITY, {}]) {
      expect(() => {
        cookie.maxAge = bad as unknown as number;
      }, String(bad)).toThrow(TypeError);
    }
    expect(() => new Cookie({ maxAge: Number.NaN })).toThrow(TypeError);
  });

  it('the expires setter recomputes originalMaxAge', () => {
    const cookie = new Cookie();
    cookie.expires = new Date(NOW.getTime() + 90_000);
    expect(cookie.maxAge).toBe(90_000);
    expect(cookie.originalMaxAge).toBe(90_000);
    const reference = new ReferenceCookie();
    reference.expires = new Date(NOW.getTime() + 90_000);
    expect(JSON.stringify(cookie)).toBe(JSON.stringify(reference));
  });

  it('an expires option gives originalMaxAge = time left', () => {
    const cookie = new Cookie({ expires: new Date(NOW.getTime() + 30_000) });
    expect(cookie.originalMaxAge).toBe(30_000);
    expect(cookie.maxAge).toBe(30_000);
  });

  it('resetMaxAge restarts the lifetime from now', () => {
    const cookie = new Cookie({ maxAge: 60_000 });
    vi.advanceTimersByTime(40_000);
    expect(cookie.maxAge).toBe(20_000);
    cookie.resetMaxAge();
    expect(cookie.maxAge).toBe(60_000);
    expect(cookie.originalMaxAge).toBe(60_000);
    expect(cookie.expires?.getTime()).toBe(NOW.getTime() + 100_000);
  });

  it('expires = false (a common express-session idiom) makes a browser-session cookie', () => {
    const cookie = new Cookie({ maxAge: 60_000 });
    cookie.expires = false as unknown as null;
    expect(cookie.expires).toBeNull();
    expect(cookie.maxAge).toBeNull();
    expect(cookie.originalMaxAge).toBeNull();
    expect(cookie.serialize('sid', 'v')).toBe('sid=v; Path=/; HttpOnly');
    const reference = new ReferenceCookie({ maxAge: 60_000 });
    reference.expires = false as unknown as null;
    expect(reference.serialize('sid', 'v')).toBe('sid=v; Path=/; HttpOnly');
  });

  it('maxAge = undefined or false is accepted as "no expiry", as in express-session', () => {
    const cookie = new Cookie({ maxAge: 60_000 });
    cookie.maxAge = undefined as unknown as null;
    expect(cookie.expires).toBeNull();
    cookie.maxAge = 1000;
    cookie.maxAge = false as unknown as null;
    expect(cookie.expires).toBeNull();
  });

  it('resetMaxAge keeps a browser-session cookie without expiry', () => {
    const cookie = new Cookie();
    cookie.resetMaxAge();
    expect(cookie.expires).toBeNull();
    expect(cookie.maxAge).toBeNull();
  });
});

describe('stored shape', () => {
  const full: CookieOptions = {
    maxAge: 60_000,
    path: '/app',
    domain: 'example.com',
    httpOnly: false,
    secure: true,
    sameSite: 'strict',
    partitioned: true,
    priority: 'high',
  };

  it('toJSON has the same fields, in the same order, as express-session', () => {
    const cookie = new Cookie(full);
    const reference = new ReferenceCookie(full);
    expect(JSON.stringify(cookie)).toBe(JSON.stringify(reference));
    expect(Object.keys(JSON.parse(JSON.stringify(cookie)))).toEqual([
      'originalMaxAge',
      'partitioned',
      'priority',
      'expires',
      'secure',
      'httpOnly',
      'domain',
      'path',
      'sameSite',
    ]);
  });

  it('data and toJSON are the same object shape with a Date expires', () => {
    const cookie = new Cookie(full);
    expect(cookie.toJSON()).toEqual(cookie.data);
    expect(cookie.data.expires).toBeInstanceOf(Date);
  });

  it('matches express-session for each option on its own', () => {
    const each: CookieOptions[] = [
      { maxAge: 1000 },
      { path: '/x' },
      { domain: 'a.test' },
      { httpOnly: false },
      { secure: true },
      { secure: false },
      { sameSite: true },
      { sameSite: false },
      { sameSite: 'lax' },
      { sameSite: 'none' },
      { partitioned: true },
      { priority: 'low' },
      { priority: 'medium' },
    ];
    for (const options of each) {
      expect(JSON.stringify(new Cookie(options)), JSON.stringify(options)).toBe(
        JSON.stringify(new ReferenceCookie(options)),
      );
    }
  });

  it("'auto' values are not stored (the request decides them)", () => {
    const cookie = new Cookie({ secure: 'auto', sameSite: 'auto' });
    expect(cookie.secure).toBeUndefined();
    expect(cookie.sameSite).toBeUndefined();
    expect(JSON.stringify(cookie)).not.toContain('auto');
  });
});

describe('stored(): the shape a store gets', () => {
  it('is `data` without its undefined fields, in the same key order', () => {
    const cases: Cookie[] = [
      new Cookie(),
      new Cookie({ maxAge: 60_000, secure: true, sameSite: 'strict', domain: 'example.com' }),
      new Cookie({ expires: new Date(Date.UTC(2030, 0, 1)), partitioned: true, priority: 'high' }),
      new Cookie({ originalMaxAge: null, expires: null, path: '/app', httpOnly: false } as never),
    ];
    cases[1]!.createdAt = 1_700_000_000_000;
    for (const cookie of cases) {
      const filtered = Object.fromEntries(
        Object.entries(cookie.data).filter(([, value]) => value !== undefined),
      );
      expect(cookie.stored()).toEqual(filtered);
      expect(Object.keys(cookie.stored())).toEqual(Object.keys(filtered));
      expect(JSON.stringify(cookie.stored())).toBe(JSON.stringify(cookie));
    }
  });
});

describe('restoring a stored cookie', () => {
  it('takes a string expires and keeps the stored originalMaxAge', () => {
    const stored = JSON.parse(JSON.stringify(new Cookie({ maxAge: 60_000, sameSite: 'lax' })));
    expect(typeof stored.expires).toBe('string');
    vi.advanceTimersByTime(10_000);
    const cookie = new Cookie(stored);
    expect(cookie.expires).toBeInstanceOf(Date);
    expect(cookie.expires?.toISOString()).toBe('2026-03-01T12:01:00.000Z');
    expect(cookie.maxAge).toBe(50_000);
    expect(cookie.originalMaxAge).toBe(60_000);
    expect(cookie.sameSite).toBe('lax');
    cookie.resetMaxAge();
    expect(cookie.maxAge).toBe(60_000);
  });

  it('round-trips to the same JSON', () => {
    const first = JSON.stringify(
      new Cookie({ maxAge: 60_000, domain: 'example.com', priority: 'low' }),
    );
    expect(JSON.stringify(new Cookie(JSON.parse(first)))).toBe(first);
  });

  it('restores a browser-session cookie (expires null)', () => {
    const cookie = new Cookie({ originalMaxAge: null, expires: null, httpOnly: true, path: '/' });
    expect(cookie.expires).toBeNull();
    expect(cookie.originalMaxAge).toBeNull();
  });

  it('restores express-session’s record after expires = false as a browser-session cookie', () => {
    const reference = new ReferenceCookie({ maxAge: 60_000 });
    reference.expires = false as unknown as null;
    const written = JSON.parse(JSON.stringify(reference));
    expect(written).toMatchObject({ expires: false, originalMaxAge: false });
    const cookie = new Cookie(written);
    expect(cookie.expires).toBeNull();
    expect(cookie.maxAge).toBeNull();
    expect(cookie.originalMaxAge).toBeNull();
    cookie.resetMaxAge();
    expect(cookie.expires).toBeNull();
  });

  it('reads a record express-session wrote the same way express-session does', () => {
    const written = JSON.parse(JSON.stringify(new ReferenceCookie({ maxAge: 5000, secure: true })));
    vi.advanceTimersByTime(2000);
    const cookie = new Cookie(written);
    expect(cookie.maxAge).toBe(3000);
    expect(cookie.originalMaxAge).toBe(5000);
    expect(cookie.secure).toBe(true);
  });
});

describe('serialize', () => {
  const value = signCookie('abc', 'a secret that is long enough to be fine');

  it('URL-encodes the signed value exactly as express-session does', () => {
    const header = new Cookie().serialize('connect.sid', value);
    expect(header).toBe(new ReferenceCookie().serialize('connect.sid', value));
    expect(header).toBe(`connect.sid=${encodeURIComponent(value)}; Path=/; HttpOnly`);
    expect(header.startsWith('connect.sid=s%3Aabc.')).toBe(true);
  });

  it('writes Expires from maxAge, Domain, Secure', () => {
    const header = new Cookie({ maxAge: 60_000, domain: 'example.com', secure: true }).serialize(
      'sid',
      'v',
    );
    expect(header).toBe(
      'sid=v; Domain=example.com; Path=/; Expires=Sun, 01 Mar 2026 12:01:00 GMT; HttpOnly; Secure',
    );
  });

  it.each([
    [true, 'SameSite=Strict'],
    ['strict', 'SameSite=Strict'],
    ['lax', 'SameSite=Lax'],
    ['none', 'SameSite=None'],
  ] as const)('sameSite %s gives %s', (sameSite, attribute) => {
    const header = new Cookie({ sameSite, secure: true }).serialize('sid', 'v');
    expect(header).toContain(`; ${attribute}`);
    expect(header).toBe(new ReferenceCookie({ sameSite, secure: true }).serialize('sid', 'v'));
  });

  it('sameSite false writes no SameSite attribute', () => {
    expect(new Cookie({ sameSite: false }).serialize('sid', 'v')).not.toContain('SameSite');
  });

  it('writes Partitioned and Priority', () => {
    const header = new Cookie({ partitioned: true, priority: 'high', secure: true }).serialize(
      'sid',
      'v',
    );
    expect(header).toContain('; Partitioned');
    expect(header).toContain('; Priority=High');
    expect(header).toBe(
      new ReferenceCookie({ partitioned: true, priority: 'high', secure: true }).serialize(
        'sid',
        'v',
      ),
    );
  });

  it('httpOnly false drops HttpOnly; a browser-session cookie has no Expires', () => {
    const header = new Cookie({ httpOnly: false }).serialize('sid', 'v');
    expect(header).toBe('sid=v; Path=/');
  });

  it('a restored cookie serializes with its stored expiry', () => {
    const stored = JSON.parse(JSON.stringify(new Cookie({ maxAge: 60_000 })));
    vi.advanceTimersByTime(30_000);
    expect(new Cookie(stored).serialize('sid', 'v')).toContain(
      'Expires=Sun, 01 Mar 2026 12:01:00 GMT',
    );
  });
});
