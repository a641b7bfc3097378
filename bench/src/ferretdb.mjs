// FerretDB v1 (on PostgreSQL) turns the `_id` of every filtered command (find,
// update, delete, findAndModify, count) into `_jsonb->$1 @> $2` with $1 = '_id'
// (internal/backends/postgresql/query.go, filterEqual), and gives each
// collection's table a btree index on `(_jsonb->'_id')` only
// (metadata/registry.go), which PostgreSQL cannot use for `@>`: each such
// command scans and detoasts the whole table. Both libraries find and update
// sessions by `_id`, so without help the Mongo row measures those scans, not
// the libraries. A real MongoDB serves these filters from its `_id` index; the
// bench gives FerretDB's table the index PostgreSQL can use for `@>`, a GIN
// index on the same expression, for every contender's collection alike, before
// any command of the contender touches it.

import { MongoClient } from 'mongodb';
import pg from 'pg';

/** The FerretDB version string when the server at `mongoUrl` is FerretDB, else null. */
export async function ferretdbVersion(client) {
  const info = await client.db('admin').command({ buildInfo: 1 });
  return typeof info.ferretdbVersion === 'string' ? info.ferretdbVersion : null;
}

/**
 * FerretDB v1 keeps its data in the PostgreSQL database `ferretdb` (its
 * default `--postgresql-url`), on the server of SESS_POSTGRES_URL here.
 * SESS_FERRETDB_POSTGRES_URL overrides it.
 */
export function ferretdbPostgresUrl(env = process.env) {
  if (env.SESS_FERRETDB_POSTGRES_URL) return env.SESS_FERRETDB_POSTGRES_URL;
  if (!env.SESS_POSTGRES_URL) return null;
  const url = new URL(env.SESS_POSTGRES_URL);
  url.pathname = '/ferretdb';
  return url.href;
}

/**
 * On FerretDB: create each of `collections` in `dbName` (if missing) and a GIN
 * index (jsonb_path_ops: it serves `@>` only, which is all FerretDB asks) on
 * `(_jsonb->'_id')` of its table, found through FerretDB's metadata table
 * (`<dbName>._ferretdb_database_metadata`: `_id` the collection name, `table`
 * the table's). Returns the tables indexed ([] on a real MongoDB, which needs
 * none of this). A FerretDB whose PostgreSQL cannot be reached is an error: the
 * row would silently measure the scans again.
 */
export async function indexIdsOnFerretDB(mongoUrl, dbName, collections) {
  // SESS_BENCH_FERRETDB_GIN=0 leaves FerretDB's tables as it makes them (the scans measured).
  if (process.env.SESS_BENCH_FERRETDB_GIN === '0') return [];
  const client = new MongoClient(mongoUrl);
  try {
    await client.connect();
    if ((await ferretdbVersion(client)) === null) return [];
    const db = client.db(dbName);
    for (const name of collections) {
      await db.createCollection(name).catch((error) => {
        if (error?.code !== 48) throw error; // NamespaceExists
      });
    }
  } finally {
    await client.close();
  }
  const pgUrl = ferretdbPostgresUrl();
  if (!pgUrl) {
    throw new Error(
      'the Mongo server is FerretDB: set SESS_POSTGRES_URL (or SESS_FERRETDB_POSTGRES_URL) to its PostgreSQL server, so the bench can index _id',
    );
  }
  const pgClient = new pg.Client({ connectionString: pgUrl });
  await pgClient.connect();
  try {
    const schema = pg.escapeIdentifier(dbName);
    const tables = [];
    for (const name of collections) {
      const { rows } = await pgClient.query(
        `SELECT _jsonb->>'table' AS t FROM ${schema}._ferretdb_database_metadata WHERE _jsonb->'_id' = to_jsonb($1::text)`,
        [name],
      );
      if (rows.length !== 1)
        throw new Error(`FerretDB metadata has no table for ${dbName}.${name}`);
      const table = rows[0].t;
      const index = pg.escapeIdentifier(`${table.slice(0, 50)}_id_gin`);
      await pgClient.query(
        `CREATE INDEX IF NOT EXISTS ${index} ON ${schema}.${pg.escapeIdentifier(table)} USING gin ((_jsonb->'_id') jsonb_path_ops)`,
      );
      tables.push(`${dbName}.${table}`);
    }
    return tables;
  } finally {
    await pgClient.end();
  }
}
