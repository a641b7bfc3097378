// connect-pg-simple 10, one table per namespace (it opens and ends its own pool), through core's bridge.
import { fromCallbackStore } from '@sess/core';
import connectPgSimple from 'connect-pg-simple';
import session from 'express-session';
import pg from 'pg';

const PgStore = connectPgSimple(session);
const url = process.env.SESS_POSTGRES_URL;
const tables = new WeakMap();

/** One statement through a connection of its own, closed at once (so no handle of ours stays open). */
async function run(sql) {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

/*
 * The table is made here, as connect-pg-simple's table.sql makes it but with the primary key
 * named after the table: its createTableIfMissing names every table's key "session_pkey", so a
 * second table in one schema fails ('relation "session_pkey" already exists').
 */
export async function createStore({ namespace }) {
  const tableName = `inc_${namespace}`.slice(0, 63);
  const table = pg.escapeIdentifier(tableName);
  await run(
    `CREATE TABLE IF NOT EXISTS ${table} (sid varchar NOT NULL COLLATE "default" PRIMARY KEY, sess json NOT NULL, expire timestamp(6) NOT NULL);
     CREATE INDEX IF NOT EXISTS ${pg.escapeIdentifier(`${tableName.slice(0, 50)}_expire`)} ON ${table} (expire)`,
  );
  const store = fromCallbackStore(
    new PgStore({ conString: url, tableName, pruneSessionInterval: false }),
  );
  tables.set(store, tableName);
  return store;
}

/** Close the store (its pool), then drop its table. */
export async function cleanup(store) {
  await store.close?.();
  await run(`DROP TABLE IF EXISTS ${pg.escapeIdentifier(tables.get(store))}`);
}
