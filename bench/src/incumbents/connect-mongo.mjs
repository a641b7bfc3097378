// connect-mongo 5, one collection per namespace (each store opens and closes its own client),
// through core's bridge.
import { fromCallbackStore } from '@sess/core';
import MongoStore from 'connect-mongo';
import { MongoClient } from 'mongodb';

const mongoUrl = process.env.SESS_MONGO_URL;
const dbName = 'sess_incumbents';
const collections = new WeakMap();
let admin;

export function createStore({ namespace }) {
  // autoRemove 'disabled': FerretDB has no TTL index (`expireAfterSeconds`); connect-mongo's reads
  // filter on their expires field themselves.
  const legacy = MongoStore.create({
    mongoUrl,
    dbName,
    collectionName: namespace,
    autoRemove: 'disabled',
  });
  const store = fromCallbackStore(legacy);
  collections.set(store, namespace);
  return store;
}

/** Close the store (its client), then drop its collection through a client of this module's own. */
export async function cleanup(store) {
  await store.close?.();
  admin ??= await new MongoClient(mongoUrl).connect();
  await admin
    .db(dbName)
    .collection(collections.get(store))
    .drop()
    .catch(() => undefined);
}
process.once('beforeExit', () => admin?.close());
