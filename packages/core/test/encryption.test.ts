import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  ENCRYPTED_KEY,
  type EncryptionOptions,
  encryptStore,
  MemoryStore,
  type RequestSession,
  SessConfigError,
  SessionCodec,
  SessionManager,
  type SessionRecord,
  type SessionStore,
  signCookie,
  storeCapabilities,
} from '../src/index.js';
import { CountingStore, cookiePair, data, roundTrip, SECRET } from './helpers.js';

const K1 = { id: 'k1', key: randomBytes(32) };
const K2 = { id: 'k2', key: randomBytes(32).toString('base64') };
const K3 = { id: 'k3', key: randomBytes(32).toString('hex') };

const record = (extra: Record<string, unknown> = {}, ms = 60_000): SessionRecord => ({
  cookie: {
    originalMaxAge: ms,
    expires: new Date(Date.now() + ms).toISOString(),
    httpOnly: true,
    path: '/',
  },
  ...extra,
});

const SECRET_TEXT = 'oauth-token-7d1f0c9e-plaintext-marker';

const stores: SessionStore[] = [];
function memory(): MemoryStore {
  const store = new MemoryStore({ sweepInterval: 0 });
  stores.push(store);
  return store;
}
afterEach(async () => {
  vi.restoreAllMocks();
  for (const store of stores.splice(0)) await store.close?.();
});

/** Replace the sealed text of the envelope stored under `id` (through the plain store). */
async function rewrite(inner: SessionStore, id: string, change: (sealed: string) => unknown) {
  const envelope = (await inner.get(id)) as SessionRecord;
  await inner.set(id, { ...envelope, [ENCRYPTED_KEY]: change(envelope[ENCRYPTED_KEY] as string) });
}

describe('encryption options', () => {
  it('takes keys as Buffers, hex, base64 and base64url', () => {
    const raw = randomBytes(32);
    for (const key of [
      raw,
      raw.toString('hex'),
      raw.toString('base64'),
      raw.toString('base64url'),
    ]) {
      const codec = new SessionCodec({ keys: [{ id: 'a', key }] });
      const other = new SessionCodec({ keys: [{ id: 'a', key: raw }] });
      expect(other.open('id', codec.seal('id', record({ v: 1 })))).toMatchObject({ v: 1 });
    }
  });

  it.each([
    ['no keys', { keys: [] }],
    ['keys not a list', { keys: 'k' }],
    ['a password as key', { keys: [{ id: 'a', key: 'correct horse battery staple' }] }],
    ['a 16-byte key', { keys: [{ id: 'a', key: randomBytes(16) }] }],
    ['a key id with a dot', { keys: [{ id: 'a.b', key: randomBytes(32) }] }],
    ['an empty key id', { keys: [{ id: '', key: randomBytes(32) }] }],
    ['a key id listed twice', { keys: [K1, { ...K1 }] }],
    ['an unknown option', { keys: [K1], secret: 'x' }],
    ['compress of the wrong type', { keys: [K1], compress: 'yes' }],
    ['an unknown compression', { keys: [K1], compress: { algorithm: 'lz4' } }],
    ['a negative threshold', { keys: [K1], compress: { threshold: -1 } }],
    ['clear not a list', { keys: [K1], clear: 'userId' }],
    ['clear naming the cookie', { keys: [K1], clear: ['cookie'] }],
    ['clear with an empty path part', { keys: [K1], clear: ['a..b'] }],
    ['acceptPlaintext not a boolean', { keys: [K1], acceptPlaintext: 'yes' }],
  ])('refuses %s with SessConfigError at startup', (_what, options) => {
    expect(() => encryptStore(memory(), options as unknown as EncryptionOptions)).toThrow(
      SessConfigError,
    );
  });

  it('never puts the key into an error message', () => {
    const key = 'not-a-key-but-a-secret-passphrase';
    try {
      new SessionCodec({ keys: [{ id: 'a', key }] });
      expect.unreachable();
    } catch (error) {
      expect((error as Error).message).not.toContain(key);
      expect((error as Error).message).toContain('id "a"');
    }
  });

  it('SessionManager refuses a bad encryption option at startup', () => {
    expect(() => new SessionManager({ secret: SECRET, encryption: { keys: [] } })).toThrow(
      SessConfigError,
    );
  });
});

describe('encryptStore over MemoryStore', () => {
  it('round trip; what the store holds is the cookie and one sealed string, no data', async () => {
    const inner = memory();
    const store = encryptStore(inner, { keys: [K1] });
    const written = record({ token: SECRET_TEXT, nested: { list: [1, 'two'] }, n: null });
    await store.set('s1', written);
    expect(await store.get('s1')).toEqual(written);
    const envelope = (await inner.get('s1')) as SessionRecord;
    expect(Object.keys(envelope).sort()).toEqual([ENCRYPTED_KEY, 'cookie'].sort());
    expect(envelope.cookie).toEqual(written.cookie);
    expect(JSON.stringify(envelope)).not.toContain(SECRET_TEXT);
    expect(JSON.stringify(envelope)).not.toContain('nested');
    expect(envelope[ENCRYPTED_KEY]).toMatch(/^1\.k1\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]+$/);
  });

  it('two writes of the same record give different ciphertexts (a fresh IV each)', async () => {
    const inner = memory();
    const store = encryptStore(inner, { keys: [K1] });
    const written = record({ v: 1 });
    await store.set('a', written);
    const first = (await inner.get('a'))?.[ENCRYPTED_KEY];
    await store.set('a', written);
    expect((await inner.get('a'))?.[ENCRYPTED_KEY]).not.toBe(first);
  });

  it('a record under another key is a missing session', async () => {
    const inner = memory();
    await encryptStore(inner, { keys: [K1] }).set('s', record({ v: 1 }));
    expect(await encryptStore(inner, { keys: [{ id: 'k1', key: randomBytes(32) }] }).get('s')).toBe(
      null,
    );
    // an unknown key id
    expect(await encryptStore(inner, { keys: [K2] }).get('s')).toBe(null);
  });

  it('a tampered, truncated or malformed envelope is a missing session, never an error', async () => {
    const inner = memory();
    const store = encryptStore(inner, { keys: [K1] });
    const flip = (sealed: string) => {
      const at = sealed.length - 30;
      return sealed.slice(0, at) + (sealed[at] === 'A' ? 'B' : 'A') + sealed.slice(at + 1);
    };
    const changes: ((sealed: string) => unknown)[] = [
      flip,
      (s) => s.slice(0, -4),
      (s) => s.replace(/^1\./, '1d.'),
      (s) => s.replace(/^1\./, '9.'),
      (s) => s.split('.').slice(0, 3).join('.'),
      (s) => `${s}.extra`,
      (s) => s.replace(/\.[^.]+\./, '.AAAA.'),
      () => 42,
      () => null,
      () => ({ nested: true }),
      () => '',
    ];
    for (const [i, change] of changes.entries()) {
      await store.set(`t${i}`, record({ v: i }));
      await rewrite(inner, `t${i}`, change);
      expect(await store.get(`t${i}`), `change ${i}`).toBe(null);
    }
    expect(await store.all?.()).toEqual({});
  });

  it('a ciphertext moved to another id is a missing session', async () => {
    const inner = memory();
    const store = encryptStore(inner, { keys: [K1] });
    await store.set('victim', record({ role: 'admin' }));
    await inner.set('attacker', (await inner.get('victim')) as SessionRecord);
    expect(await store.get('attacker')).toBe(null);
    expect((await store.get('victim'))?.['role']).toBe('admin');
  });

  it('a plain record is a missing session, unless acceptPlaintext (then sealed at its next write)', async () => {
    const inner = memory();
    await inner.set('old', record({ v: 'plain' }));
    expect(await encryptStore(inner, { keys: [K1] }).get('old')).toBe(null);
    const migrating = encryptStore(inner, { keys: [K1], acceptPlaintext: true });
    const got = await migrating.get('old');
    expect(got?.['v']).toBe('plain');
    await migrating.set('old', got as SessionRecord);
    expect((await inner.get('old'))?.[ENCRYPTED_KEY]).toMatch(/^1\.k1\./);
    expect((await encryptStore(inner, { keys: [K1] }).get('old'))?.['v']).toBe('plain');
  });

  it('rotation: records under the old key are read, and rewritten under the new one', async () => {
    const inner = memory();
    const before = encryptStore(inner, { keys: [K1] });
    await before.set('r', record({ v: 'old' }));
    const rotated = encryptStore(inner, { keys: [K2, K1] });
    const got = await rotated.get('r');
    expect(got?.['v']).toBe('old');
    await rotated.set('r', { ...(got as SessionRecord), v: 'new' });
    expect((await inner.get('r'))?.[ENCRYPTED_KEY]).toMatch(/^1\.k2\./);
    // The old key can now be dropped for this record; a record still under it is lost.
    await before.set('untouched', record({ v: 'stale' }));
    const retired = encryptStore(inner, { keys: [K3, K2] });
    expect((await retired.get('r'))?.['v']).toBe('new');
    expect(await retired.get('untouched')).toBe(null);
  });

  it('the cookie attributes come from the ciphertext: changing them in the clear changes nothing', async () => {
    const inner = memory();
    const store = encryptStore(inner, { keys: [K1] });
    const written = record({ v: 1 });
    written.cookie = { ...written.cookie, secure: true, httpOnly: true };
    await store.set('c', written);
    const envelope = (await inner.get('c')) as SessionRecord;
    await inner.set('c', { ...envelope, cookie: { ...envelope.cookie, secure: false } });
    expect((await store.get('c'))?.cookie.secure).toBe(true);
  });

  it('touch moves the expiry without rewriting the data', async () => {
    const inner = memory();
    const store = encryptStore(inner, { keys: [K1] });
    await store.set('t', record({ v: 'kept' }, 1_000));
    const later = record({ v: 'from touch' }, 3_600_000);
    await store.touch?.('t', later);
    const got = await store.get('t');
    expect(got?.['v']).toBe('kept');
    expect(got?.cookie.expires).toBe(later.cookie.expires);
  });

  it('clear keys are kept beside the ciphertext; reads take them from inside it', async () => {
    const inner = memory();
    const store = encryptStore(inner, { keys: [K1], clear: ['userId', 'passport.user'] });
    await store.set('u', record({ userId: 'u-1', passport: { user: 'p-1', token: SECRET_TEXT } }));
    const envelope = (await inner.get('u')) as SessionRecord;
    expect(envelope['userId']).toBe('u-1');
    expect(envelope['passport']).toEqual({ user: 'p-1' });
    expect(JSON.stringify(envelope)).not.toContain(SECRET_TEXT);
    await inner.set('u', { ...envelope, userId: 'someone-else' });
    expect((await store.get('u'))?.['userId']).toBe('u-1');
  });

  it('wrappers nest: a record holding the envelope key is sealed whole', async () => {
    const inner = memory();
    const store = encryptStore(encryptStore(inner, { keys: [K1] }), { keys: [K2] });
    await store.set('x', record({ [ENCRYPTED_KEY]: 'mine', v: 1 }));
    expect(await store.get('x')).toMatchObject({ [ENCRYPTED_KEY]: 'mine', v: 1 });
    expect((await inner.get('x'))?.[ENCRYPTED_KEY]).toMatch(/^1\.k1\./);
  });

  it('compression: large records are deflated or brotli-compressed, small ones are not', async () => {
    const inner = memory();
    const big = record({ text: 'session '.repeat(4_000), token: SECRET_TEXT });
    for (const [compress, flag] of [
      [true, '1d'],
      [{ algorithm: 'brotli' as const }, '1b'],
      [{ threshold: 10_000_000 }, '1'],
    ] as const) {
      const store = encryptStore(inner, { keys: [K1], compress });
      await store.set('big', big);
      const sealed = (await inner.get('big'))?.[ENCRYPTED_KEY] as string;
      expect(sealed.split('.')[0]).toBe(flag);
      if (flag !== '1') expect(sealed.length).toBeLessThan(JSON.stringify(big).length / 10);
      expect(await store.get('big')).toEqual(big);
      // A reader without compression configured reads compressed records.
      expect(await encryptStore(inner, { keys: [K1] }).get('big')).toEqual(big);
      await store.set('small', record({ v: 1 }));
      const small = (await inner.get('small')) as SessionRecord;
      expect((small[ENCRYPTED_KEY] as string).split('.')[0]).toBe('1');
    }
  });

  it('has the capabilities of the store it wraps, no more', () => {
    const plain = new CountingStore({ compareAndSet: false });
    stores.push(plain);
    expect(storeCapabilities(encryptStore(plain, { keys: [K1] }))).toEqual(
      storeCapabilities(plain),
    );
    const full = memory();
    expect(storeCapabilities(encryptStore(full, { keys: [K1] }))).toEqual(storeCapabilities(full));
    expect(encryptStore(full, { keys: [K1] }).userOf).toBeUndefined();
  });

  it('listings: ids and length pass through, all() decrypts and leaves out what does not open', async () => {
    const inner = memory();
    const store = encryptStore(inner, { keys: [K1] });
    await store.set('a', record({ v: 'a' }));
    await store.set('b', record({ v: 'b' }));
    await inner.set('c', record({ v: 'plain' }));
    expect((await store.ids?.())?.sort()).toEqual(['a', 'b', 'c']);
    expect(await store.length?.()).toBe(3);
    const all = await store.all?.();
    expect(Object.keys(all ?? {}).sort()).toEqual(['a', 'b']);
    expect(all?.['a']?.['v']).toBe('a');
  });
});

describe('encryptStore over a store with a users index', () => {
  it('forwards the user methods; the user key listed in clear is indexed, meta keys too', async () => {
    const inner = new MemoryStore({
      sweepInterval: 0,
      users: { user: 'userId', meta: ['userAgent'] },
    });
    stores.push(inner);
    const store = encryptStore(inner, { keys: [K1], clear: ['userId', 'userAgent'] });
    expect(storeCapabilities(store)).toEqual(storeCapabilities(inner));
    await store.set('a', record({ userId: 'ann', userAgent: 'Firefox', token: SECRET_TEXT }));
    await store.set('b', record({ userId: 'ann', userAgent: 'Safari' }));
    await store.set('c', record({ userId: 'bob' }));
    expect(store.userOf?.(record({ userId: 'ann' }))).toBe('ann');
    expect(await store.countUserSessions?.('ann')).toBe(2);
    const listed = await store.userSessions?.('ann');
    expect(listed?.map((s) => [s.id, s.meta['userAgent']]).sort()).toEqual([
      ['a', 'Firefox'],
      ['b', 'Safari'],
    ]);
    expect(JSON.stringify(await inner.get('a'))).not.toContain(SECRET_TEXT);
    expect(await store.destroyUserSessions?.('ann', 'a')).toBe(1);
    expect(await store.get('b')).toBe(null);
    expect((await store.get('a'))?.['token']).toBe(SECRET_TEXT);
  });

  it('warns once when the user key is not kept in the clear (the index cannot see it)', async () => {
    const inner = new MemoryStore({ sweepInterval: 0, users: { user: 'userId' } });
    stores.push(inner);
    const warn = vi.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
    const store = encryptStore(inner, { keys: [K1] });
    await store.set('a', record({ userId: 'ann' }));
    await store.set('b', record({ userId: 'ann' }));
    expect(warn).toHaveBeenCalledTimes(1);
    expect(String(warn.mock.calls[0]?.[0])).toMatch(/clear/);
    expect(await store.countUserSessions?.('ann')).toBe(0);
  });
});

describe('compareAndSet on encrypted records', () => {
  it('matches on the plaintext: a record as read, a copy of it, a copy with keys reordered', async () => {
    const inner = memory();
    const store = encryptStore(inner, { keys: [K1] });
    await store.set('m', record({ a: 1, b: { x: 1, y: 2 } }));
    const current = (await store.get('m')) as SessionRecord;
    expect(await store.compareAndSet?.('m', current, { ...current, a: 2 })).toBe(true);
    // Another process (a second wrapper) holds only a copy: the stored envelope is read.
    const other = encryptStore(inner, { keys: [K1] });
    const copy = JSON.parse(JSON.stringify({ ...current, a: 2 })) as SessionRecord;
    const reordered = { b: { y: 2, x: 1 }, a: 2, cookie: copy.cookie } as SessionRecord;
    expect(await other.compareAndSet?.('m', reordered, { ...copy, a: 3 })).toBe(true);
    expect((await store.get('m'))?.['a']).toBe(3);
  });

  it('a stale expected record resolves false and writes nothing, in this process or another', async () => {
    const inner = memory();
    const store = encryptStore(inner, { keys: [K1] });
    const other = encryptStore(inner, { keys: [K1] });
    await store.set('s', record({ v: 1 }));
    const stale = (await store.get('s')) as SessionRecord;
    await other.set('s', record({ v: 2 }));
    expect(await store.compareAndSet?.('s', stale, record({ v: 3 }))).toBe(false);
    expect((await store.get('s'))?.['v']).toBe(2);
    // The same plaintext written again by another process: a new envelope, still a match.
    const now = (await store.get('s')) as SessionRecord;
    await other.set('s', now);
    expect(await store.compareAndSet?.('s', now, record({ v: 4 }))).toBe(true);
    expect((await other.get('s'))?.['v']).toBe(4);
  });

  it('expected null: writes on an absent id or over a record that does not open, not over a live one', async () => {
    const inner = memory();
    const store = encryptStore(inner, { keys: [K1] });
    expect(await store.compareAndSet?.('n', null, record({ v: 1 }))).toBe(true);
    expect(await store.compareAndSet?.('n', null, record({ v: 2 }))).toBe(false);
    expect((await store.get('n'))?.['v']).toBe(1);
    await rewrite(inner, 'n', () => 'garbage');
    expect(await store.compareAndSet?.('n', null, record({ v: 3 }))).toBe(true);
    expect((await store.get('n'))?.['v']).toBe(3);
  });

  it('a destroyed record is not written back', async () => {
    const store = encryptStore(memory(), { keys: [K1] });
    await store.set('d', record({ v: 1 }));
    const before = (await store.get('d')) as SessionRecord;
    await store.destroy('d');
    expect(await store.compareAndSet?.('d', before, record({ v: 2 }))).toBe(false);
    expect(await store.get('d')).toBe(null);
  });
});

describe('SessionManager with the encryption option', () => {
  const cookieFor = (id: string) => `connect.sid=${encodeURIComponent(signCookie(id, SECRET))}`;

  it('sessions are stored encrypted and read back; a rotated manager reads them; another key starts afresh', async () => {
    const inner = memory();
    const manager = new SessionManager({
      secret: SECRET,
      store: inner,
      encryption: { keys: [K1] },
    });
    const first = await roundTrip(manager, undefined, (state) => {
      data(state)['token'] = SECRET_TEXT;
    });
    const cookie = cookiePair(first.setCookie);
    const id = first.state.id;
    expect(JSON.stringify(await inner.get(id))).not.toContain(SECRET_TEXT);
    const second = await roundTrip(manager, cookie);
    expect(second.state.id).toBe(id);
    expect(data(second.state)['token']).toBe(SECRET_TEXT);

    const rotated = new SessionManager({
      secret: SECRET,
      store: inner,
      encryption: { keys: [K2, K1] },
    });
    const third = await roundTrip(rotated, cookie, (state) => {
      data(state)['n'] = 1;
    });
    expect(data(third.state)['token']).toBe(SECRET_TEXT);
    expect((await inner.get(id))?.[ENCRYPTED_KEY]).toMatch(/^1\.k2\./);

    const stranger = new SessionManager({
      secret: SECRET,
      store: inner,
      encryption: { keys: [K3] },
    });
    const fourth = await roundTrip(stranger, cookie);
    expect(fourth.state.id).not.toBe(id);
    expect(data(fourth.state)['token']).toBeUndefined();
  });

  it('many parallel requests on one encrypted session, each adding a key: none is lost', async () => {
    const inner = memory();
    const manager = new SessionManager({
      secret: SECRET,
      store: inner,
      resave: false,
      encryption: { keys: [K1] },
    });
    await manager.store.set('many', record({ start: true }));
    for (let round = 0; round < 3; round++) {
      const states = (await Promise.all(
        Array.from({ length: 20 }, () =>
          manager.load({ request: {}, cookieHeader: cookieFor('many'), secure: false }),
        ),
      )) as RequestSession[];
      states.forEach((state, i) => {
        data(state)[`r${round}k${i}`] = i;
      });
      await Promise.all(states.map((state) => state.commit(state.session)));
    }
    const final = (await manager.store.get('many')) as SessionRecord;
    let lost = 0;
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 20; i++) if (final[`r${round}k${i}`] !== i) lost++;
    }
    expect(lost).toBe(0);
    expect(final['start']).toBe(true);
    expect(JSON.stringify(await inner.get('many'))).not.toContain('r2k19');
  });
});
