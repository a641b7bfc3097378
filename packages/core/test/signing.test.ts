import signature from 'cookie-signature';
import { describe, expect, it } from 'vitest';
import {
  generateSessionId,
  normalizeSecrets,
  SessConfigError,
  SIGNED_PREFIX,
  sign,
  signCookie,
  unsign,
  unsignCookie,
} from '../src/index.js';

const SECRET = 'keyboard cat, but long enough to pass';
const OLD_SECRET = 'the secret we used last year, retired';

describe('sign / unsign', () => {
  it('produces exactly what cookie-signature (express-session) produces', () => {
    for (let i = 0; i < 50; i++) {
      const id = generateSessionId();
      expect(sign(id, SECRET)).toBe(signature.sign(id, SECRET));
    }
    // odd values too: unicode, dots, empty secret material differences
    for (const value of ['a', 'a.b.c', 'ünïcødé', ' spaced ', 'x'.repeat(500)]) {
      expect(sign(value, SECRET)).toBe(signature.sign(value, SECRET));
    }
  });

  it('matches cookie-signature for many secrets and for Buffer secrets (keys cached or not)', () => {
    const id = generateSessionId();
    // More distinct string secrets than the key cache keeps, each signed twice.
    for (let i = 0; i < 100; i++) {
      const secret = `${SECRET} number ${i}`;
      expect(sign(id, secret)).toBe(signature.sign(id, secret));
      expect(sign(id, secret)).toBe(signature.sign(id, secret));
    }
    // A Buffer secret is read at each call: changing it changes the signature.
    const bytes = Buffer.from(SECRET);
    const before = sign(id, bytes);
    expect(before).toBe(signature.sign(id, Buffer.from(SECRET)));
    bytes[0] = 0x4b;
    expect(sign(id, bytes)).not.toBe(before);
    expect(sign(id, bytes)).toBe(signature.sign(id, Buffer.from(bytes)));
  });

  it('is HMAC-SHA256 in base64 without padding', () => {
    const signed = sign('abc', SECRET);
    const mac = signed.slice('abc.'.length);
    expect(mac).toMatch(/^[A-Za-z0-9+/]{43}$/);
    expect(mac.endsWith('=')).toBe(false);
  });

  it('accepts what cookie-signature signed, and cookie-signature accepts what it signed', () => {
    const id = generateSessionId();
    expect(unsign(signature.sign(id, SECRET), SECRET)).toBe(id);
    expect(signature.unsign(sign(id, SECRET), SECRET)).toBe(id);
  });

  it('keeps dots inside the value (the signature is after the last dot)', () => {
    expect(unsign(sign('a.b.c', SECRET), SECRET)).toBe('a.b.c');
  });

  it('rejects a wrong secret, a changed value and a changed signature', () => {
    const signed = sign('value', SECRET);
    expect(unsign(signed, OLD_SECRET)).toBe(false);
    expect(unsign(`valuf${signed.slice(5)}`, SECRET)).toBe(false);
    const last = signed.at(-1) === 'A' ? 'B' : 'A';
    expect(unsign(signed.slice(0, -1) + last, SECRET)).toBe(false);
  });

  it('rejects values without a dot or with nothing before it', () => {
    expect(unsign('nodot', SECRET)).toBe(false);
    expect(unsign('', SECRET)).toBe(false);
    expect(unsign(`.${sign('', SECRET).slice(1)}`, SECRET)).toBe(false);
  });
});

describe('signCookie / unsignCookie', () => {
  it('writes s:<id>.<mac> as express-session does', () => {
    const id = generateSessionId();
    const value = signCookie(id, SECRET);
    expect(value).toBe(`s:${signature.sign(id, SECRET)}`);
    expect(value.startsWith(SIGNED_PREFIX)).toBe(true);
  });

  it('verifies with the current secret and reports index 0', () => {
    const id = generateSessionId();
    expect(unsignCookie(signCookie(id, SECRET), [SECRET, OLD_SECRET])).toEqual({
      id,
      secretIndex: 0,
    });
  });

  it('accepts a cookie signed with a rotated-out secret and says which one', () => {
    const id = generateSessionId();
    const third = 'an even older secret from the first deploy';
    expect(unsignCookie(signCookie(id, OLD_SECRET), [SECRET, OLD_SECRET, third])).toEqual({
      id,
      secretIndex: 1,
    });
    expect(unsignCookie(signCookie(id, third), [SECRET, OLD_SECRET, third])).toEqual({
      id,
      secretIndex: 2,
    });
  });

  it('rejects a cookie signed with a secret that is no longer listed', () => {
    expect(unsignCookie(signCookie('abc', OLD_SECRET), [SECRET])).toBeNull();
  });

  const id = 'TF4n2zUOb3uQ2nrg3ugGu7pfPwGjL2Rs';
  const good = signCookie(id, SECRET);
  const garbage: [string, string][] = [
    ['empty', ''],
    ['only the prefix', 's:'],
    ['prefix and a dot', 's:.'],
    ['unsigned id', id],
    ['id with prefix but no signature', `s:${id}`],
    ['id with an empty signature', `s:${id}.`],
    ['truncated signature', good.slice(0, -3)],
    ['truncated to half', good.slice(0, good.length / 2)],
    ['extra dot and more', `${good}.extra`],
    ['extra characters after the signature', `${good}xyz`],
    ['wrong secret', signCookie(id, 'not the secret at all, not even close')],
    ['missing prefix', good.slice(2)],
    ['j: prefix (a JSON cookie)', `j:${good.slice(2)}`],
    ['binary garbage', '\u0000\uffff\ud800s:.'],
    ['signature of another id', `s:${id}x.${good.slice(good.lastIndexOf('.') + 1)}`],
    ['very long', `s:${'a'.repeat(100_000)}.${'b'.repeat(43)}`],
  ];
  it.each(garbage)('gives null, never a throw, for %s', (_label, value) => {
    expect(() => unsignCookie(value, [SECRET, OLD_SECRET])).not.toThrow();
    expect(unsignCookie(value, [SECRET, OLD_SECRET])).toBeNull();
  });

  it('agrees with cookie-signature on every garbage value', () => {
    for (const [, value] of garbage) {
      if (!value.startsWith('s:')) continue;
      expect(signature.unsign(value.slice(2), SECRET)).toBe(false);
    }
  });
});

describe('normalizeSecrets', () => {
  it('turns a string into a one-item list and copies a list', () => {
    expect(normalizeSecrets('a')).toEqual(['a']);
    const list = ['a', 'b'];
    const normalized = normalizeSecrets(list);
    expect(normalized).toEqual(['a', 'b']);
    expect(normalized).not.toBe(list);
  });

  it.each([
    ['undefined', undefined],
    ['an empty list', []],
    ['an empty string', ''],
    ['a list with an empty string', ['a', '']],
    ['a list with a non-string', ['a', 42 as unknown as string]],
  ])('rejects %s with SessConfigError', (_label, secret) => {
    expect(() => normalizeSecrets(secret as string | string[] | undefined)).toThrow(
      SessConfigError,
    );
  });
});

describe('generateSessionId', () => {
  it('is 24 random bytes as 32 URL-safe base64 characters', () => {
    const id = generateSessionId();
    expect(id).toMatch(/^[A-Za-z0-9_-]{32}$/);
    expect(Buffer.from(id, 'base64url')).toHaveLength(24);
  });

  it('never repeats over many ids', () => {
    const ids = new Set<string>();
    for (let i = 0; i < 20_000; i++) ids.add(generateSessionId());
    expect(ids.size).toBe(20_000);
  });
});
