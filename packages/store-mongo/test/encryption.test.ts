// Encryption at rest (issue 17) on MongoDB (FerretDB in CI): the whole
// conformance suite through core's encryptStore, and what the collection
// itself holds: no plaintext of the data, `expires` still from cookie.expires.
import { randomBytes } from 'node:crypto';
import { ENCRYPTED_KEY, encryptStore, type SessionRecord } from '@sess/core';
import { describeStoreConformance, withEncryption } from '@sess/store-conformance';
import { describe, expect, it } from 'vitest';
import { MongoStore } from '../src/index.js';
import { DOWN_URL, mongoUrl, skipReason, TEST_DB, uniqueName } from './helpers.js';

async function cleanup(store: MongoStore): Promise<void> {
  await store.collection.drop().catch(() => undefined);
  await store.db
    .collection(`${store.collection.collectionName}_locks`)
    .drop()
    .catch(() => undefined);
  await store.close();
}

describeStoreConformance(
  withEncryption({
    name: 'mongo (stringify: false)',
    skip: skipReason,
    // `users`: the sessions-by-user group runs on the encrypted records too (the user and meta
    // keys stay in clear beside the ciphertext, as withEncryption's `clear` lists them).
    create: ({ namespace, users }) =>
      new MongoStore({
        mongoUrl,
        dbName: TEST_DB,
        collectionName: namespace,
        stringify: false,
        users,
      }),
    cleanup,
    unreachable: () => new MongoStore({ mongoUrl: DOWN_URL }),
  }),
);

const MARKER = 'mongo-at-rest-marker-4e77';

describe.skipIf(skipReason)('encrypted records as the Mongo collection holds them', () => {
  for (const stringify of [true, false]) {
    it(`stringify ${stringify}: the document holds the cookie and the sealed string, no data; expires is set`, async () => {
      const inner = new MongoStore({
        mongoUrl,
        dbName: TEST_DB,
        collectionName: uniqueName('enc'),
        stringify,
      });
      const store = encryptStore(inner, { keys: [{ id: 'k1', key: randomBytes(32) }] });
      try {
        const expires = Date.now() + 600_000;
        const written: SessionRecord = {
          cookie: { originalMaxAge: 600_000, expires: new Date(expires).toISOString(), path: '/' },
          profile: { email: MARKER },
        };
        await store.set('s1', written);
        const doc = await inner.collection.findOne({ _id: 's1' });
        expect(doc).not.toBeNull();
        const text = JSON.stringify(doc);
        expect(text).not.toContain(MARKER);
        expect(text).not.toContain('profile');
        expect(text).toContain(ENCRYPTED_KEY);
        expect(doc?.expires.getTime()).toBe(expires);
        expect(await store.get('s1')).toEqual(written);
      } finally {
        await cleanup(inner);
      }
    });
  }
});
