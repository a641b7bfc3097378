// Encryption at rest (issue 17) on SQLite: the whole conformance suite through
// core's encryptStore, and what the table itself holds: no plaintext of the
// data, the expiry column still from cookie.expires.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ENCRYPTED_KEY, encryptStore, type SessionRecord } from '@sess/core';
import { describeStoreConformance, withEncryption } from '@sess/store-conformance';
import { afterAll, describe, expect, it } from 'vitest';
import { SqliteStore } from '../src/index.js';

const dir = mkdtempSync(join(tmpdir(), 'sess-sqlite-encryption-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const tableFor = (namespace: string) =>
  `e_${namespace.replace(/[^A-Za-z0-9_]/g, '_')}`.slice(0, 60);

describeStoreConformance(
  withEncryption({
    name: 'sqlite (file database)',
    // `users` (the sessions-by-user group): withEncryption lists its keys in `clear`.
    create: ({ namespace, users }) =>
      new SqliteStore({ filename: join(dir, 'sessions.db'), table: tableFor(namespace), users }),
  }),
);

const MARKER = 'sqlite-at-rest-marker-0a9d';

describe('encrypted records as the SQLite table holds them', () => {
  for (const layout of ['sess', 'better-sqlite3-session-store'] as const) {
    it(`${layout} layout: the row holds the cookie and the sealed string, no data; the expiry column is set`, async () => {
      const inner = new SqliteStore({ filename: ':memory:', layout });
      const store = encryptStore(inner, { keys: [{ id: 'k1', key: randomBytes(32) }] });
      const expires = Date.now() + 600_000;
      const written: SessionRecord = {
        cookie: { originalMaxAge: 600_000, expires: new Date(expires).toISOString(), path: '/' },
        csrfSecret: MARKER,
      };
      await store.set('s1', written);
      const rows = inner.db.prepare(`SELECT * FROM "${inner.table}"`).all() as Record<
        string,
        unknown
      >[];
      expect(rows).toHaveLength(1);
      const text = JSON.stringify(rows[0]);
      expect(text).not.toContain(MARKER);
      expect(text).not.toContain('csrfSecret');
      expect(text).toContain(ENCRYPTED_KEY);
      const columns = Object.values(rows[0] as Record<string, unknown>);
      const expiry = columns.find((v) => typeof v === 'number' || /^\d{4}-/.test(String(v)));
      expect(new Date(expiry as number | string).getTime()).toBe(expires);
      expect(await store.get('s1')).toEqual(written);
      await store.close?.();
    });
  }
});
