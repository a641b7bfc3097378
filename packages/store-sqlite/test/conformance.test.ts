import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeStoreConformance } from '@sess/store-conformance';
import { afterAll } from 'vitest';
import { SqliteStore } from '../src/index.js';

const dir = mkdtempSync(join(tmpdir(), 'sess-sqlite-conformance-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Conformance namespaces become table names: keep only what a table name may hold. */
const tableFor = (namespace: string) =>
  `s_${namespace.replace(/[^A-Za-z0-9_]/g, '_')}`.slice(0, 60);

describeStoreConformance({
  name: 'sqlite (file database)',
  create: ({ namespace, users }) =>
    new SqliteStore({ filename: join(dir, 'sessions.db'), table: tableFor(namespace), users }),
});

describeStoreConformance({
  name: 'sqlite (:memory:)',
  create: ({ users }) => new SqliteStore({ filename: ':memory:', users }),
  // Each :memory: database is its own backend.
  isolatedInstances: true,
});

describeStoreConformance({
  name: "sqlite (better-sqlite3-session-store's layout)",
  create: ({ namespace, users }) =>
    new SqliteStore({
      filename: join(dir, 'incumbent.db'),
      table: tableFor(namespace),
      layout: 'better-sqlite3-session-store',
      users,
    }),
});
