import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  ENCRYPTED_KEY,
  type EncryptionKey,
  encryptStore,
  type SessionRecord,
  type SessionStore,
} from '@sess/core';
import type { Behaviour } from '../types.js';
import { assertSameRecord, record } from './helpers.js';
import { roundTripBehaviours } from './round-trip.js';

/**
 * Core's encryption at rest (`encryptStore`) over the store under test: the
 * store holds envelopes (the cookie in the clear, the record sealed), and a
 * record that does not open is a missing session. The store itself is used
 * as the backend is: to read what is stored, and to plant changed envelopes.
 */

const key = (id: string): EncryptionKey => ({ id, key: randomBytes(32) });

/** A text that must never appear in what the store holds. */
const MARKER = 'conformance-plaintext-marker-51c0';

function sealed(envelope: SessionRecord | null, what: string): string {
  assert.ok(envelope, `${what}: the store holds nothing`);
  const value = envelope[ENCRYPTED_KEY];
  assert.equal(typeof value, 'string', `${what}: the stored record has no sealed string`);
  return value as string;
}

/** Store an envelope with its sealed string changed, through the plain store. */
async function plant(
  store: SessionStore,
  id: string,
  envelope: SessionRecord,
  change: (sealed: string) => string,
): Promise<void> {
  await store.set(id, { ...envelope, [ENCRYPTED_KEY]: change(sealed(envelope, id)) });
}

export const encryption: Behaviour[] = [
  {
    group: 'encryption',
    name: 'every value of the round-trip group survives an encrypted set/get',
    run: async (context) => {
      const store = encryptStore(context.store, { keys: [key('rt')] });
      for (const behaviour of roundTripBehaviours) {
        try {
          await behaviour.run({ ...context, store });
        } catch (error) {
          throw new Error(`encrypted: ${behaviour.name}: ${(error as Error).message}`, {
            cause: error,
          });
        }
      }
    },
  },
  {
    group: 'encryption',
    name: 'the store holds the cookie in the clear and no plaintext of the data',
    run: async ({ store }) => {
      const encrypted = encryptStore(store, { keys: [key('k1')] });
      const written = record({ token: MARKER, nested: { secretKeyName: 1 } });
      await encrypted.set('enc-clear', written);
      const stored = await store.get('enc-clear');
      assert.ok(stored, 'the store lost the record');
      const text = JSON.stringify(stored);
      assert.ok(!text.includes(MARKER), 'a data value is stored in the clear');
      assert.ok(!text.includes('secretKeyName'), 'a data key is stored in the clear');
      assert.deepEqual(Object.keys(stored).sort(), [ENCRYPTED_KEY, 'cookie'].sort());
      assert.equal(
        new Date(String(stored.cookie.expires)).getTime(),
        new Date(String(written.cookie.expires)).getTime(),
        'the clear cookie.expires is not the written one',
      );
      assertSameRecord(await encrypted.get('enc-clear'), written);
    },
  },
  {
    group: 'encryption',
    name: 'a record sealed under another key is a missing session',
    run: async ({ store }) => {
      await encryptStore(store, { keys: [key('k1')] }).set('enc-wrong', record({ v: 1 }));
      // The same key id with other bytes, and a ring without the key id.
      assert.equal(await encryptStore(store, { keys: [key('k1')] }).get('enc-wrong'), null);
      assert.equal(await encryptStore(store, { keys: [key('k2')] }).get('enc-wrong'), null);
    },
  },
  {
    group: 'encryption',
    name: 'a tampered or truncated ciphertext is a missing session',
    run: async ({ store }) => {
      const encrypted = encryptStore(store, { keys: [key('k1')] });
      const changes: [string, (s: string) => string][] = [
        [
          'one character changed',
          (s) => {
            const at = s.length - 20;
            return s.slice(0, at) + (s[at] === 'A' ? 'B' : 'A') + s.slice(at + 1);
          },
        ],
        ['the tag cut off', (s) => s.slice(0, -22)],
        ['the key id changed', (s) => s.replace('.k1.', '.k9.')],
        ['not an envelope', () => 'garbage'],
      ];
      for (const [i, [what, change]] of changes.entries()) {
        const id = `enc-tamper-${i}`;
        await encrypted.set(id, record({ v: i }));
        const envelope = await store.get(id);
        assert.ok(envelope, `${what}: the store lost the record`);
        await plant(store, id, envelope, change);
        assert.equal(await encrypted.get(id), null, `${what}: the record was read`);
      }
    },
  },
  {
    group: 'encryption',
    name: 'a ciphertext moved to another id is a missing session',
    run: async ({ store }) => {
      const encrypted = encryptStore(store, { keys: [key('k1')] });
      await encrypted.set('enc-victim', record({ role: 'admin' }));
      const envelope = await store.get('enc-victim');
      assert.ok(envelope, 'the store lost the record');
      await store.set('enc-attacker', envelope);
      assert.equal(await encrypted.get('enc-attacker'), null, 'the moved record was read');
      assert.equal((await encrypted.get('enc-victim'))?.role, 'admin');
    },
  },
  {
    group: 'encryption',
    name: 'rotation: an old-key record is read, rewritten under the new key, then the old key can go',
    run: async ({ store }) => {
      const [oldKey, newKey] = [key('old'), key('new')];
      await encryptStore(store, { keys: [oldKey] }).set('enc-rotate', record({ v: 'before' }));
      const rotated = encryptStore(store, { keys: [newKey, oldKey] });
      const got = await rotated.get('enc-rotate');
      assert.equal(got?.v, 'before', 'the ring with the old key second does not read its record');
      await rotated.set('enc-rotate', { ...got, cookie: record().cookie, v: 'after' });
      const header = sealed(await store.get('enc-rotate'), 'after the rewrite').split('.');
      assert.equal(header[1], 'new', 'the rewrite did not seal under the first key');
      assert.equal((await encryptStore(store, { keys: [newKey] }).get('enc-rotate'))?.v, 'after');
      assert.equal(await encryptStore(store, { keys: [oldKey] }).get('enc-rotate'), null);
    },
  },
  {
    group: 'encryption',
    name: 'compressed records round trip (300 KB, deflate and brotli)',
    run: async ({ store }) => {
      const blob = `${MARKER} `.repeat(9_000);
      for (const algorithm of ['deflate', 'brotli'] as const) {
        const encrypted = encryptStore(store, { keys: [key('z')], compress: { algorithm } });
        const written = record({ blob, algorithm });
        await encrypted.set(`enc-z-${algorithm}`, written);
        const stored = sealed(await store.get(`enc-z-${algorithm}`), algorithm);
        assert.ok(stored.length < blob.length / 10, `${algorithm}: not compressed`);
        assertSameRecord(await encrypted.get(`enc-z-${algorithm}`), written);
      }
    },
  },
  {
    group: 'encryption',
    name: 'touch moves the expiry of an encrypted record and keeps its data',
    requires: ['touch'],
    run: async ({ store }) => {
      const encrypted = encryptStore(store, { keys: [key('t')] });
      await encrypted.set('enc-touch', record({ v: 'kept' }, 1_000));
      await encrypted.touch?.('enc-touch', record({ v: 'from touch' }, 60_000));
      await sleep(1_300);
      assert.equal((await encrypted.get('enc-touch'))?.v, 'kept');
    },
  },
  {
    group: 'encryption',
    name: 'listings see encrypted records; all() returns them decrypted',
    requires: ['all'],
    run: async ({ store }) => {
      const encrypted = encryptStore(store, { keys: [key('l')] });
      await encrypted.set('enc-l1', record({ v: 1 }));
      await encrypted.set('enc-l2', record({ v: 2 }));
      const all = await encrypted.all?.();
      assert.equal(all?.['enc-l1']?.v, 1);
      assert.equal(all?.['enc-l2']?.v, 2);
    },
  },
  {
    group: 'encryption',
    name: 'compareAndSet on encrypted records: stale is refused, 20 parallel merges lose nothing',
    requires: ['compareAndSet'],
    run: async ({ store }) => {
      const shared = key('c');
      // Two wrappers with the same key, as two app servers.
      const servers = [
        encryptStore(store, { keys: [shared] }),
        encryptStore(store, { keys: [shared] }),
      ];
      const [first, second] = servers as [SessionStore, SessionStore];
      await first.set('enc-cas', record({ v: 1 }));
      const stale = await first.get('enc-cas');
      assert.ok(stale);
      await second.set('enc-cas', record({ v: 2 }));
      assert.equal(await first.compareAndSet?.('enc-cas', stale, record({ v: 3 })), false);
      assert.equal((await first.get('enc-cas'))?.v, 2, 'a stale compareAndSet wrote');
      await first.set('enc-merge', record({}));
      await Promise.all(
        Array.from({ length: 20 }, async (_, i) => {
          const server = servers[i % 2] as SessionStore;
          for (let attempt = 0; attempt < 200; attempt++) {
            const current = await server.get('enc-merge');
            assert.ok(current, 'the record vanished');
            // A copy, as core passes one: the wrapper compares plaintext.
            const expected = JSON.parse(JSON.stringify(current)) as SessionRecord;
            if (await server.compareAndSet?.('enc-merge', expected, { ...current, [`k${i}`]: i })) {
              return;
            }
          }
          throw new Error(`writer ${i} never got its write in`);
        }),
      );
      const got = await servers[0]?.get('enc-merge');
      for (let i = 0; i < 20; i++) assert.equal(got?.[`k${i}`], i, `key k${i} was lost`);
    },
  },
];
