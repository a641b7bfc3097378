import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SqliteStore } from '../src/index.js';

const dir = mkdtempSync(join(tmpdir(), 'sess-sqlite-2p-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const tsx = createRequire(import.meta.url).resolve('tsx');

interface Summary {
  name: string;
  errors: string[];
  retries: number;
}

function writer(file: string, name: string, count: number): Promise<Summary> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['--import', tsx, join(import.meta.dirname, 'fixtures/writer.ts'), file, name, String(count)],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk) => {
      out += chunk;
    });
    child.stderr.on('data', (chunk) => {
      err += chunk;
    });
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code === 0) resolve(JSON.parse(out) as Summary);
      else reject(new Error(`writer ${name} exited with ${code}: ${err}`));
    });
  });
}

describe('two processes sharing one database file', () => {
  it('lose no writes and see no lock errors', async () => {
    const file = join(dir, 'shared.db');
    // Create the table first so both writers start on an existing schema.
    await new SqliteStore({ filename: file }).close();
    const count = 1_000;
    const [a, b] = await Promise.all([writer(file, 'a', count), writer(file, 'b', count)]);
    expect(a.errors).toEqual([]);
    expect(b.errors).toEqual([]);

    const store = new SqliteStore({ filename: file });
    try {
      expect(await store.length()).toBe(2 * count + 1);
      const shared = await store.get('shared');
      for (const name of ['a', 'b']) {
        for (let i = 0; i < count; i++) {
          expect((await store.get(`${name}-${i}`))?.i).toBe(i);
          expect(shared?.[`${name}-${i}`], `shared key ${name}-${i} was lost`).toBe(i);
        }
      }
    } finally {
      await store.close();
    }
  }, 60_000);
});
