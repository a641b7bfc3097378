// The SessionManager's checks of the options that are not cookie attributes,
// side by side with what express-session 1.x does with the same options.

import signature from 'cookie-signature';
import expressSession from 'express-session';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  MemoryStore,
  SessConfigError,
  SessionManager,
  type SessionOptions,
  signCookie,
  unsignCookie,
} from '../src/index.js';
import { SECRET } from './helpers.js';

/** express-session's Cookie constructor as it is at run time (its types declare no arguments). */
const ExpressSessionCookie = expressSession.Cookie as unknown as new (options: unknown) => object;

const store = new MemoryStore({ sweepInterval: 0 });
const manage = (options: Partial<SessionOptions> | Record<string, unknown>) =>
  new SessionManager({ secret: SECRET, store, ...options } as SessionOptions);

/** The message express-session throws at startup for these options, or null if it accepts them. */
function expressSessionMessage(options: Record<string, unknown>): string | null {
  try {
    expressSession({ secret: SECRET, resave: false, saveUninitialized: false, ...options });
    return null;
  } catch (error) {
    return (error as Error).message;
  }
}

/** The message express-session gives when it builds a session's cookie with these cookie options. */
function expressSessionCookieMessage(cookie: unknown): string | null {
  try {
    new ExpressSessionCookie(cookie);
    return null;
  } catch (error) {
    return (error as Error).message;
  }
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe("express-session's startup validation, with its messages, as SessConfigError", () => {
  it.each<[string, Record<string, unknown>]>([
    ['an empty secret list', { secret: [] }],
    ['a genid that is not a function', { genid: 'uuid' }],
    ['a genid that is an object', { genid: { next: 1 } }],
    ['an unknown unset', { unset: 'drop' }],
  ])('%s', (_label, options) => {
    const expected = expressSessionMessage(options);
    expect(expected).not.toBeNull();
    let thrown: unknown;
    try {
      manage(options);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(SessConfigError);
    expect((thrown as Error).message).toBe(expected);
  });

  it.each<[string, Record<string, unknown>]>([
    ['a falsy genid (the default)', { genid: null }],
    ['genid false', { genid: false }],
    ['a falsy unset (keep)', { unset: null }],
    ['unset ""', { unset: '' }],
    ['cookie null (no options)', { cookie: null }],
    ['cookie false', { cookie: false }],
    ['maxAge 0', { cookie: { maxAge: 0 } }],
    ['maxAge null', { cookie: { maxAge: null } }],
  ])('accepts %s, as express-session does', (_label, options) => {
    expect(expressSessionMessage(options)).toBeNull();
    expect(() => manage(options)).not.toThrow();
  });

  it.each<[string, unknown]>([
    ['a string', '3600000'],
    ['true', true],
    ['an object', { ms: 1 }],
  ])('maxAge given as %s throws at startup with express-session message', (_label, maxAge) => {
    const expected = expressSessionCookieMessage({ maxAge });
    expect(expected).toBe('maxAge must be a number or Date');
    expect(() => manage({ cookie: { maxAge } })).toThrow(SessConfigError);
    expect(() => manage({ cookie: { maxAge } })).toThrow(expected as string);
  });

  it('maxAge given as a string by a cookie() function fails that request with the same message', async () => {
    const manager = manage({ cookie: () => ({ maxAge: '60000' }) });
    await expect(
      manager.load({ request: {}, cookieHeader: undefined, secure: false }),
    ).rejects.toThrow(new SessConfigError('maxAge must be a number or Date'));
  });

  it('maxAge given as a Date is a fixed expiry (as express-session), with a deprecation warning', async () => {
    const warn = vi.spyOn(process, 'emitWarning').mockImplementation(() => {});
    const at = new Date(Date.now() + 3_600_000);
    const manager = manage({ cookie: { maxAge: at } });
    const state = await manager.load({ request: {}, cookieHeader: undefined, secure: false });
    expect(state?.session?.cookie.expires?.getTime()).toBe(at.getTime());
    expect(state?.session?.cookie.originalMaxAge).toBeGreaterThan(3_590_000);
    expect(state?.session?.cookie.originalMaxAge).toBeLessThanOrEqual(3_600_000);
    // express-session's own Cookie gives the same expiry.
    const theirs = new ExpressSessionCookie({ maxAge: at }) as { expires?: Date };
    expect(theirs.expires?.getTime()).toBe(at.getTime());
    manage({ cookie: { maxAge: at } });
    const deprecations = warn.mock.calls.filter((call) => String(call[1]) === 'DeprecationWarning');
    expect(deprecations).toHaveLength(1); // once per process, not per middleware
    expect(String(deprecations[0]?.[0])).toContain('maxAge as a Date');
  });

  it('a cookie option that is not an object: express-session message, at startup', () => {
    const expected = expressSessionCookieMessage('secure');
    expect(expected).toBe('argument options must be a object');
    for (const cookie of ['secure', 42, true]) {
      expect(() => manage({ cookie })).toThrow(SessConfigError);
      expect(() => manage({ cookie })).toThrow(expected as string);
    }
  });

  it("a missing secret: express-session's per-request message, at startup", () => {
    for (const secret of [undefined, null, '']) {
      expect(() => manage({ secret })).toThrow(SessConfigError);
      expect(() => manage({ secret })).toThrow('secret option required for sessions');
    }
  });

  it.each<[string, unknown]>([
    ['0', 0],
    ['-1', -1],
    ['NaN', Number.NaN],
    ['Infinity (a Node timer fires at once)', Number.POSITIVE_INFINITY],
    ['a string', '1000'],
  ])('storeTimeout %s is refused at startup', (_label, storeTimeout) => {
    expect(() => manage({ storeTimeout })).toThrow(SessConfigError);
    expect(() => manage({ storeTimeout })).toThrow(/storeTimeout option must be a number/);
  });

  it('storeTimeout of 1 ms and of the largest timer delay are accepted', () => {
    expect(() => manage({ storeTimeout: 1 })).not.toThrow();
    expect(() => manage({ storeTimeout: 2 ** 31 - 1 })).not.toThrow();
  });
});

describe('name and its deprecated alias key', () => {
  it('key names the cookie when name is not given (express-session)', () => {
    expect(manage({ key: 'legacy.sid' }).name).toBe('legacy.sid');
    expect(manage({ name: 'app.sid', key: 'legacy.sid' }).name).toBe('app.sid');
    expect(manage({ name: '', key: 'legacy.sid' }).name).toBe('legacy.sid');
    expect(manage({}).name).toBe('connect.sid');
    expect(manage({ name: '' }).name).toBe('connect.sid');
  });

  it('a key that is not a valid cookie name is refused at startup', () => {
    expect(() => manage({ key: 'bad name;' })).toThrow(SessConfigError);
    expect(() => manage({ key: 42 })).toThrow(SessConfigError);
  });

  it('a session cookie sent under the key name is read', async () => {
    await store.set('legacy-id', { cookie: { originalMaxAge: null, path: '/', httpOnly: true } });
    const manager = manage({ key: 'legacy.sid' });
    const state = await manager.load({
      request: {},
      cookieHeader: `legacy.sid=${encodeURIComponent(signCookie('legacy-id', SECRET))}`,
      secure: false,
    });
    expect(state?.id).toBe('legacy-id');
  });
});

describe('Buffer secrets', () => {
  const bytes = Buffer.from(
    '00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff',
    'hex',
  );

  it('sign and verify as cookie-signature (express-session) does with the same Buffer', () => {
    const value = signCookie('some-id', bytes);
    expect(value).toBe(`s:${signature.sign('some-id', bytes)}`);
    expect(unsignCookie(value, [bytes])).toEqual({ id: 'some-id', secretIndex: 0 });
    expect(unsignCookie(value, [SECRET, bytes])).toEqual({ id: 'some-id', secretIndex: 1 });
    expect(unsignCookie(value, [SECRET])).toBeNull();
  });

  it('are accepted alone and in a list with strings; an empty Buffer is refused', async () => {
    expect(() => manage({ secret: bytes })).not.toThrow();
    expect(() => manage({ secret: [bytes, SECRET] })).not.toThrow();
    expect(() => manage({ secret: Buffer.alloc(0) })).toThrow(SessConfigError);
    expect(() => manage({ secret: [SECRET, 42] })).toThrow(SessConfigError);
    const manager = manage({ secret: [bytes, SECRET] });
    const state = await manager.load({ request: {}, cookieHeader: undefined, secure: false });
    await state?.commit(state.session);
    const header = state?.setCookieHeader() ?? '';
    const value = decodeURIComponent(header.split(';')[0]?.split('=')[1] ?? '');
    expect(signature.unsign(value.slice(2), bytes)).toBe(state?.id);
  });

  it('a Buffer shorter than 32 bytes warns like a short string', () => {
    const warn = vi.spyOn(process, 'emitWarning').mockImplementation(() => {});
    manage({ secret: Buffer.alloc(16, 1) });
    expect(warn.mock.calls.some((call) => String(call[0]).includes('shorter than 32'))).toBe(true);
  });
});
