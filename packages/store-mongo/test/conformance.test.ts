import { describeStoreConformance } from '@sess/store-conformance';
import { MongoStore } from '../src/index.js';
import { DOWN_URL, mongoUrl, skipReason, TEST_DB } from './helpers.js';

/** Drop the behaviour's collections (FerretDB keeps a table per collection), then close. */
async function cleanup(store: MongoStore): Promise<void> {
  await store.collection.drop().catch(() => undefined);
  await store.db
    .collection(`${store.collection.collectionName}_locks`)
    .drop()
    .catch(() => undefined);
  await store.close();
}

for (const stringify of [true, false]) {
  describeStoreConformance({
    name: `mongo (stringify: ${stringify})`,
    skip: skipReason,
    // `users`: the sessions-by-user behaviours open the store with a user index.
    create: ({ namespace, users }) =>
      new MongoStore({ mongoUrl, dbName: TEST_DB, collectionName: namespace, stringify, users }),
    cleanup: (store) => cleanup(store as MongoStore),
    // The default timeouts: a down server must fail within the suite's 5 s bound as configured out of the box.
    unreachable: () => new MongoStore({ mongoUrl: DOWN_URL }),
  });
}
