import { describe, expect, it } from 'vitest';
import type { SessionRecord } from '../src/index.js';
import {
  compareUserSessions,
  resolveUserIndex,
  SessConfigError,
  sessionCreatedAt,
} from '../src/index.js';

const record = (
  extra: Record<string, unknown>,
  cookie: Record<string, unknown> = {},
): SessionRecord =>
  ({
    cookie: { originalMaxAge: 60_000, expires: new Date(1_000_000).toISOString(), ...cookie },
    ...extra,
  }) as SessionRecord;

describe('resolveUserIndex', () => {
  it('is undefined without the option', () => {
    expect(resolveUserIndex(undefined, 'x store')).toBeUndefined();
  });

  it('reads a key, a dotted path or a function; numbers become strings; empty is nobody', () => {
    expect(resolveUserIndex({ user: 'userId' }, 's')?.userOf(record({ userId: 'u1' }))).toBe('u1');
    expect(resolveUserIndex({ user: 'userId' }, 's')?.userOf(record({ userId: 42 }))).toBe('42');
    expect(resolveUserIndex({ user: 'userId' }, 's')?.userOf(record({ userId: '' }))).toBeNull();
    expect(resolveUserIndex({ user: 'userId' }, 's')?.userOf(record({}))).toBeNull();
    expect(
      resolveUserIndex({ user: 'userId' }, 's')?.userOf(record({ userId: { a: 1 } })),
    ).toBeNull();
    const dotted = resolveUserIndex({ user: 'passport.user' }, 's');
    expect(dotted?.userOf(record({ passport: { user: 'p7' } }))).toBe('p7');
    expect(dotted?.userOf(record({ passport: 'p7' }))).toBeNull();
    // an inherited property is not the user
    expect(resolveUserIndex({ user: 'toString' }, 's')?.userOf(record({}))).toBeNull();
    const fn = resolveUserIndex({ user: (s: SessionRecord) => (s.who as string) ?? null }, 's');
    expect(fn?.userOf(record({ who: 'w' }))).toBe('w');
    const throwing = resolveUserIndex(
      {
        user: () => {
          throw new Error('boom');
        },
      },
      's',
    );
    expect(throwing?.userOf(record({}))).toBeNull();
  });

  it('refuses bad options with SessConfigError naming the store', () => {
    for (const bad of [
      null,
      'userId',
      [],
      {},
      { user: '' },
      { user: 'a..b' },
      { user: 3 },
      { user: 'u', maxSessionsPerUser: 0 },
      { user: 'u', maxSessionsPerUser: 1.5 },
      { user: 'u', maxSessionsPerUser: '3' },
      { user: 'u', meta: 'ua' },
      { user: 'u', meta: [''] },
      { user: 'u', max: 3 },
    ]) {
      expect(() => resolveUserIndex(bad, 'redis store'), JSON.stringify(bad)).toThrow(
        SessConfigError,
      );
      expect(() => resolveUserIndex(bad, 'redis store')).toThrow(/^redis store: users/);
    }
  });

  it('derives the listing entry from the record', () => {
    const index = resolveUserIndex(
      { user: 'userId', maxSessionsPerUser: 3, meta: ['ua', 'ip'] },
      's',
    );
    expect(index?.maxSessionsPerUser).toBe(3);
    const r = record({ userId: 'u', ua: 'Firefox' }, { createdAt: 5 });
    expect(index?.info('id1', r)).toEqual({
      id: 'id1',
      createdAt: 5,
      lastSeenAt: 1_000_000 - 60_000,
      expiresAt: 1_000_000,
      meta: { ua: 'Firefox' },
    });
    expect(index?.info('id1', r, 2_000_000).lastSeenAt).toBe(2_000_000 - 60_000);
    expect(
      index?.info('id1', record({}, { originalMaxAge: null, expires: null })).lastSeenAt,
    ).toBeNull();
    expect(resolveUserIndex({ user: 'u' }, 's')?.maxSessionsPerUser).toBe(Number.POSITIVE_INFINITY);
  });
});

describe('sessionCreatedAt and compareUserSessions', () => {
  it('reads cookie.createdAt only when it is a finite number', () => {
    expect(sessionCreatedAt(record({}, { createdAt: 12 }))).toBe(12);
    expect(sessionCreatedAt(record({}, { createdAt: '12' }))).toBeNull();
    expect(sessionCreatedAt(record({}))).toBeNull();
  });

  it('orders oldest first, unknown creation first, then by id', () => {
    const e = (id: string, createdAt: number | null) => ({
      id,
      createdAt,
      lastSeenAt: null,
      expiresAt: null,
      meta: {},
    });
    const sorted = [e('b', 2), e('a', 2), e('z', null), e('c', 1)].sort(compareUserSessions);
    expect(sorted.map((x) => x.id)).toEqual(['z', 'c', 'a', 'b']);
  });
});
