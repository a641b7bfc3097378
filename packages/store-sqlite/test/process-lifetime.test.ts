// Every long-lived resource can be let go: a process that served a request through @sess/express
// with this store (pruning on) exits by itself once the store is closed (its own database) or once
// the app closes the database it gave the store (the pruner's timer keeps nothing alive).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runToExit } from '@sess/store-conformance/lifetimes';
import { afterAll, describe, expect, it } from 'vitest';

const fixture = fileURLToPath(new URL('./fixtures/process-lifetime.mjs', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'sess-sqlite-plife-'));

describe('process lifetime', () => {
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  for (const [connection, how] of [
    ['own', 'its own database (filename), store.close()'],
    ['client', "the app's Database, the app closes it"],
  ] as const) {
    it(`${how}: the process exits by itself`, { timeout: 60_000 }, async () => {
      const exit = await runToExit(fixture, [join(dir, `${connection}.db`), connection]);
      expect(exit.stderr).toBe('');
      expect(exit).toMatchObject({ code: 0, killed: false, stdout: 'done\n' });
      expect(exit.afterDone).toBeLessThan(5_000);
    });
  }
});
