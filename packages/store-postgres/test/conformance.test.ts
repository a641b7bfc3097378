import { describeStoreConformance } from '@sess/store-conformance';
import { PostgresStore } from '../src/index.js';
import { skip, url } from './helpers.js';

/** Conformance namespaces become table names (quoted by the store, so any characters would do). */
const tableFor = (namespace: string) => `c_${namespace}`.slice(0, 63);

describeStoreConformance({
  name: 'postgres',
  skip,
  create: ({ namespace }) =>
    new PostgresStore({
      connectionString: url,
      tableName: tableFor(namespace),
      createTableIfMissing: true,
    }),
  cleanup: async (store) => {
    await store.pool.query(`DROP TABLE IF EXISTS ${store.table}`).catch(() => undefined);
    await store.close();
  },
  unreachable: () =>
    new PostgresStore({
      connectionString: 'postgres://sess:sess@127.0.0.1:1/sess',
      createTableIfMissing: true,
      timeout: 1_000,
    }),
});
