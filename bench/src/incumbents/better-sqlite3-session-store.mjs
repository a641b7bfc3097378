// better-sqlite3-session-store 0.1, one database file per namespace (its table name is fixed),
// through core's bridge. The database handle is this module's: sharedResources.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fromCallbackStore } from '@sess/core';
import Database from 'better-sqlite3';
import sqliteStoreFactory from 'better-sqlite3-session-store';
import session from 'express-session';

const SqliteStore = sqliteStoreFactory(session);
const dir = mkdtempSync(join(tmpdir(), 'sess-incumbent-sqlite-'));
process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
const handles = new WeakMap();

export const sharedResources = true;
export function createStore({ namespace }) {
  const client = new Database(join(dir, `${namespace}.db`));
  // Its prune timer is always on (`expired.clear: false` reads as true), ref'd, and has no stop.
  const store = fromCallbackStore(new SqliteStore({ client }));
  handles.set(store, client);
  return store;
}

export async function cleanup(store) {
  await store.clear?.().catch(() => undefined);
  handles.get(store)?.close();
}
