// Encryption at rest (issue 17) on PostgreSQL: the whole conformance suite
// through core's encryptStore, and what the table itself holds: no plaintext
// of the data, the expire column still from cookie.expires.
import { randomBytes } from 'node:crypto';
import { ENCRYPTED_KEY, encryptStore, type SessionRecord } from '@sess/core';
import { describeStoreConformance, withEncryption } from '@sess/store-conformance';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { PostgresStore } from '../src/index.js';
import { skip, uniqueTable, url } from './helpers.js';

const tableFor = (namespace: string) => `e_${namespace}`.slice(0, 63);
const created = new Set<string>();
const tableOf = new WeakMap<PostgresStore, string>();
let admin: pg.Pool | undefined;
const drop = async (table: string) => {
  admin ??= new pg.Pool({ connectionString: url, max: 2 });
  await admin.query(`DROP TABLE IF EXISTS ${pg.escapeIdentifier(table)}`);
  created.delete(table);
};
afterAll(async () => {
  for (const table of [...created]) await drop(table);
  await admin?.end();
});

describeStoreConformance(
  withEncryption({
    name: 'postgres',
    skip,
    // `users` (the sessions-by-user group): withEncryption lists its keys in `clear`.
    create: ({ namespace, users }) => {
      const tableName = tableFor(namespace);
      created.add(tableName);
      const store = new PostgresStore({
        connectionString: url,
        tableName,
        createTableIfMissing: true,
        users,
      });
      tableOf.set(store, tableName);
      return store;
    },
    cleanup: async (store) => {
      await store.close();
      const table = tableOf.get(store);
      if (table) await drop(table);
    },
    unreachable: () =>
      new PostgresStore({
        connectionString: 'postgres://sess:sess@127.0.0.1:1/sess',
        createTableIfMissing: true,
        timeout: 1_000,
      }),
  }),
);

const MARKER = 'postgres-at-rest-marker-93c1';

describe.skipIf(skip)('encrypted records as the PostgreSQL table holds them', () => {
  it('the sess column holds the cookie and the sealed string, no data; expire is set', async () => {
    const tableName = uniqueTable('enc');
    created.add(tableName);
    const inner = new PostgresStore({
      connectionString: url,
      tableName,
      createTableIfMissing: true,
    });
    const store = encryptStore(inner, { keys: [{ id: 'k1', key: randomBytes(32) }] });
    try {
      const expires = Date.now() + 600_000;
      const written: SessionRecord = {
        cookie: { originalMaxAge: 600_000, expires: new Date(expires).toISOString(), path: '/' },
        roles: ['admin'],
        token: MARKER,
      };
      await store.set('s1', written);
      admin ??= new pg.Pool({ connectionString: url, max: 2 });
      const { rows } = await admin.query(
        `SELECT sess::text AS sess, expire FROM ${pg.escapeIdentifier(tableName)} WHERE sid = $1`,
        ['s1'],
      );
      expect(rows).toHaveLength(1);
      const text = rows[0].sess as string;
      expect(text).not.toContain(MARKER);
      expect(text).not.toContain('roles');
      expect(Object.keys(JSON.parse(text)).sort()).toEqual([ENCRYPTED_KEY, 'cookie'].sort());
      expect((rows[0].expire as Date).getTime()).toBe(expires);
      expect(await store.get('s1')).toEqual(written);
    } finally {
      await store.close?.();
    }
  });
});
