import { describeStoreConformance } from '@sess/store-conformance';
import pg from 'pg';
import { afterAll } from 'vitest';
import { PostgresStore } from '../src/index.js';
import { skip, url } from './helpers.js';

/** Conformance namespaces become table names (quoted by the store, so any characters would do). */
const tableFor = (namespace: string) => `c_${namespace}`.slice(0, 63);

// Tables are dropped through a pool of the test's own: some behaviours close
// their store themselves (and never hand it to cleanup), so the store's pool
// may be gone by then.
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

describeStoreConformance({
  name: 'postgres',
  skip,
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
});
