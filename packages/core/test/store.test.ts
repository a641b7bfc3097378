import { describe, expect, it } from 'vitest';
import {
  CorruptRecordError,
  DEFAULT_TTL_MS,
  decodeRecord,
  encodeRecord,
  hasUserIndex,
  isExpired,
  isSessionRecord,
  MemoryStore,
  type SessionRecord,
  type SessionStore,
  STORE_CAPABILITIES,
  StoreError,
  sessionExpiry,
  sessionTtl,
  storeCapabilities,
  USER_CAPABILITIES,
} from '../src/index.js';

const NOW = Date.parse('2026-03-01T12:00:00.000Z');
const record = (expires: SessionRecord['cookie']['expires']): SessionRecord => ({
  cookie: { originalMaxAge: 1000, expires },
});

describe('sessionExpiry', () => {
  it('reads a Date', () => {
    expect(sessionExpiry(record(new Date(NOW)))).toBe(NOW);
  });
  it('reads an ISO string (what JSON gives back)', () => {
    expect(sessionExpiry(record('2026-03-01T12:00:00.000Z'))).toBe(NOW);
  });
  it('is null for a browser-session cookie (null or absent expires)', () => {
    expect(sessionExpiry(record(null))).toBeNull();
    expect(sessionExpiry({ cookie: { originalMaxAge: null } })).toBeNull();
  });
  it('reads expires false (express-session after `cookie.expires = false`) as no expiry', () => {
    const written = {
      cookie: { originalMaxAge: false, expires: false },
    } as unknown as SessionRecord;
    expect(isSessionRecord(written)).toBe(true);
    expect(sessionExpiry(written)).toBeNull();
    expect(isExpired(written, NOW)).toBe(false);
    expect(sessionTtl(written, 1234, NOW)).toBe(1234);
  });
  it('treats an unparseable date as already expired (0), so a damaged record is never kept', () => {
    expect(sessionExpiry(record('not a date'))).toBe(0);
    expect(sessionExpiry(record(new Date('nope')))).toBe(0);
  });
  it('does not throw on a record missing its cookie', () => {
    expect(sessionExpiry({} as SessionRecord)).toBeNull();
  });
});

describe('sessionTtl', () => {
  it('is the time left until expires', () => {
    expect(sessionTtl(record(new Date(NOW + 5000)), DEFAULT_TTL_MS, NOW)).toBe(5000);
    expect(sessionTtl(record(new Date(NOW + 5000).toISOString()), DEFAULT_TTL_MS, NOW)).toBe(5000);
  });
  it('is the default TTL (one day unless given) without expires', () => {
    expect(sessionTtl(record(null), undefined, NOW)).toBe(DEFAULT_TTL_MS);
    expect(DEFAULT_TTL_MS).toBe(86_400_000);
    expect(sessionTtl(record(null), 1234, NOW)).toBe(1234);
  });
  it('is zero or less once expired, or for an invalid date', () => {
    expect(sessionTtl(record(new Date(NOW)), DEFAULT_TTL_MS, NOW)).toBe(0);
    expect(sessionTtl(record(new Date(NOW - 10)), DEFAULT_TTL_MS, NOW)).toBe(-10);
    expect(sessionTtl(record('garbage'), DEFAULT_TTL_MS, NOW)).toBeLessThanOrEqual(0);
  });
});

describe('isExpired', () => {
  it('compares expires with now, expiring at the exact millisecond', () => {
    expect(isExpired(record(new Date(NOW + 1)), NOW)).toBe(false);
    expect(isExpired(record(new Date(NOW)), NOW)).toBe(true);
    expect(isExpired(record(new Date(NOW - 1).toISOString()), NOW)).toBe(true);
  });
  it('never expires a browser-session record by itself', () => {
    expect(isExpired(record(null), NOW)).toBe(false);
  });
  it('counts an invalid date as expired', () => {
    expect(isExpired(record('31/02/2026'), NOW)).toBe(true);
  });
});

describe('encodeRecord / decodeRecord', () => {
  it('round-trips, turning Dates into ISO strings as express-session stores do', () => {
    const input: SessionRecord = { cookie: { originalMaxAge: 10, expires: new Date(NOW) }, n: 1 };
    const json = encodeRecord(input);
    expect(json).toBe(
      '{"cookie":{"originalMaxAge":10,"expires":"2026-03-01T12:00:00.000Z"},"n":1}',
    );
    expect(decodeRecord(json)).toEqual({
      cookie: { originalMaxAge: 10, expires: '2026-03-01T12:00:00.000Z' },
      n: 1,
    });
  });

  it('gives exactly what JSON.stringify gives, whatever the record holds', () => {
    const custom = new Date(NOW);
    Object.defineProperty(custom, 'toJSON', { value: () => 'own toJSON' });
    class OtherDate extends Date {
      override toJSON(): string {
        return 'subclass';
      }
    }
    const cookieClass = new (class {
      originalMaxAge = 5;
      get expires(): Date {
        return new Date(NOW);
      }
      toJSON() {
        return { expires: this.expires, originalMaxAge: this.originalMaxAge };
      }
    })();
    const records: SessionRecord[] = [
      { cookie: { originalMaxAge: 10, expires: new Date(NOW), httpOnly: true, path: '/' }, n: 1 },
      // Integer-like keys come first in JSON.stringify's order, before `cookie`.
      { 2: 'b', cookie: { originalMaxAge: 10, expires: new Date(NOW) }, 1: 'a', z: 'z' },
      { cookie: { originalMaxAge: null, expires: new Date(Number.NaN) } },
      { cookie: { originalMaxAge: 1, expires: new Date(8.64e15) }, at: new Date(0), u: undefined },
      { cookie: { originalMaxAge: 1, expires: custom } },
      { cookie: { originalMaxAge: 1, expires: new OtherDate(NOW) } },
      { cookie: cookieClass as unknown as SessionRecord['cookie'] },
      {
        cookie: { originalMaxAge: 1, expires: '2026-03-01T12:00:00.000Z' },
        nested: { d: [1, 'x'] },
      },
      { cookie: { originalMaxAge: 1, expires: null } },
    ];
    for (const input of records) expect(encodeRecord(input)).toBe(JSON.stringify(input));
  });

  it('accepts a Buffer and an already-parsed object', () => {
    const json = '{"cookie":{"originalMaxAge":null},"user":"ann"}';
    expect(decodeRecord(Buffer.from(json))).toEqual(JSON.parse(json));
    expect(decodeRecord(JSON.parse(json))).toEqual(JSON.parse(json));
  });

  it.each([
    ['corrupt JSON', '{"cookie":'],
    ['an empty string', ''],
    ['an empty Buffer', Buffer.alloc(0)],
    ['binary garbage', Buffer.from([0xff, 0x00, 0xfe])],
    ['a JSON array', '[{"cookie":{}}]'],
    ['an array value', [{ cookie: {} }]],
    ['JSON null', 'null'],
    ['a number', '42'],
    ['a string', '"hello"'],
    ['a record without cookie', '{"user":"ann"}'],
    ['a record whose cookie is null', '{"cookie":null}'],
    ['a record whose cookie is a string', '{"cookie":"x"}'],
    ['a record whose cookie is an array', '{"cookie":[]}'],
    ['undefined', undefined],
    ['null', null],
  ])('rejects %s with CorruptRecordError', (_label, raw) => {
    let caught: unknown;
    try {
      decodeRecord(raw, 'mystore');
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(CorruptRecordError);
    expect(caught).toBeInstanceOf(StoreError);
    const error = caught as CorruptRecordError;
    expect(error.code).toBe('SESS_CORRUPT_RECORD');
    expect(error.store).toBe('mystore');
    expect(error.operation).toBe('get');
  });

  it('keeps the JSON parse error as the cause', () => {
    try {
      decodeRecord('{nope');
      expect.unreachable();
    } catch (error) {
      expect((error as Error).cause).toBeInstanceOf(SyntaxError);
    }
  });

  it.each([
    ['sameSite "bogus"', { sameSite: 'bogus' }],
    ['priority "urgent"', { priority: 'urgent' }],
    ['a path with a semicolon', { path: '/; Domain=evil.test' }],
    ['a domain with a space', { domain: 'a b' }],
    ['a numeric expires', { expires: 12345 }],
    ['a string originalMaxAge', { originalMaxAge: 'abc' }],
    ['a string httpOnly', { httpOnly: 'yes' }],
    ['an object secure', { secure: {} }],
    ['a numeric path', { path: 5 }],
  ])('rejects a cookie with %s (it would break the Set-Cookie header)', (_label, field) => {
    const raw = JSON.stringify({ cookie: { originalMaxAge: 1000, expires: null, ...field } });
    expect(() => decodeRecord(raw)).toThrow(CorruptRecordError);
    expect(isSessionRecord(JSON.parse(raw))).toBe(false);
  });

  it('accepts every cookie express-session writes, and nulls some stores write for undefined', () => {
    const valid = [
      { originalMaxAge: null, expires: null, httpOnly: true, path: '/' },
      {
        originalMaxAge: 60_000,
        partitioned: true,
        priority: 'High',
        expires: '2026-03-01T12:00:00.000Z',
        secure: true,
        httpOnly: false,
        domain: 'example.com',
        path: '/app',
        sameSite: 'Strict',
      },
      { originalMaxAge: 1, sameSite: true },
      { originalMaxAge: 1, sameSite: false },
      { originalMaxAge: 1, sameSite: 'none', secure: true },
      { originalMaxAge: 1, expires: new Date(NOW) },
      { originalMaxAge: 1, domain: '.example.com', path: '/a/b-c_d' },
      { originalMaxAge: null, domain: null, secure: null, sameSite: null, priority: null },
      {},
    ];
    for (const cookie of valid) {
      expect(isSessionRecord({ cookie }), JSON.stringify(cookie)).toBe(true);
    }
  });

  it('isSessionRecord is the same structural check', () => {
    expect(isSessionRecord({ cookie: {} })).toBe(true);
    expect(isSessionRecord({ cookie: [] })).toBe(false);
    expect(isSessionRecord([])).toBe(false);
    expect(isSessionRecord('x')).toBe(false);
  });
});

describe('storeCapabilities', () => {
  it('lists exactly the optional methods a store implements', () => {
    const minimal: SessionStore = {
      get: async () => null,
      set: async () => {},
      destroy: async () => {},
    };
    expect(storeCapabilities(minimal).size).toBe(0);
    expect(storeCapabilities({ ...minimal, touch: async () => {}, length: async () => 0 })).toEqual(
      new Set(['touch', 'length']),
    );
  });

  it('finds every capability on MemoryStore (class methods on the prototype count)', async () => {
    const store = new MemoryStore({ sweepInterval: 0, users: { user: 'userId' } });
    expect([...storeCapabilities(store)].sort()).toEqual([...STORE_CAPABILITIES].sort());
    await store.close();
  });

  it('reports the four user methods only on a store opened with users', async () => {
    const plain = new MemoryStore({ sweepInterval: 0 });
    const found = storeCapabilities(plain);
    for (const name of USER_CAPABILITIES) expect(found.has(name)).toBe(false);
    expect(hasUserIndex(plain)).toBe(false);
    await plain.close();
    const indexed = new MemoryStore({ sweepInterval: 0, users: { user: 'userId' } });
    expect(hasUserIndex(indexed)).toBe(true);
    await indexed.close();
  });

  it('reports none of the user methods when a store has only some of them', () => {
    const partial: SessionStore = {
      get: async () => null,
      set: async () => {},
      destroy: async () => {},
      userOf: () => null,
      userSessions: async () => [],
    };
    expect(storeCapabilities(partial).size).toBe(0);
    expect(hasUserIndex(partial)).toBe(false);
  });
});
