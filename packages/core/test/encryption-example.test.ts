import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

// Runs the encryption example of README.md (test/fixtures/encryption-example.ts)
// against the built package, as a user would.
const fixture = fileURLToPath(new URL('./fixtures/encryption-example.ts', import.meta.url));

describe('README encryption example', () => {
  it('is the same code as README.md shows', async () => {
    const readme = await readFile(new URL('../README.md', import.meta.url), 'utf8');
    const shown = /```ts\n(import \{ randomBytes \}[\s\S]*?)```/.exec(readme)?.[1];
    const source = await readFile(fixture, 'utf8');
    // the fixture's two header comment lines are not in the README
    expect(shown).toBe(source.split('\n').slice(2).join('\n'));
  });

  it('prints what its comments say', async () => {
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', fixture], {
      cwd: fileURLToPath(new URL('..', import.meta.url)),
      timeout: 20_000,
    });
    expect(stdout.split('\n')).toEqual(['cookie, __sess_encrypted', 'ann', '2026', 'ann', '']);
  });
});
