// Every long-lived resource can be let go: a process that served a request through @sess/express
// with this store (its pruner on) exits by itself once the store is closed (its own pool) or once
// the app ends the pool it gave the store (the pruner's timer keeps nothing alive).
import { fileURLToPath } from 'node:url';
import { runToExit } from '@sess/store-conformance/lifetimes';
import { describe, expect, it } from 'vitest';
import { skip, uniqueTable, url } from './helpers.js';

const fixture = fileURLToPath(new URL('./fixtures/process-lifetime.mjs', import.meta.url));

describe.skipIf(skip)('process lifetime', () => {
  for (const [connection, how] of [
    ['own', 'its own pool (connectionString), store.close()'],
    ['conObject', 'its own pool (conObject), store.close()'],
    ['pool', "the app's pg.Pool, the app ends it"],
  ] as const) {
    it(`${how}: the process exits by itself`, { timeout: 60_000 }, async () => {
      const exit = await runToExit(fixture, [url, uniqueTable('plife'), connection]);
      expect(exit.stderr).toBe('');
      expect(exit).toMatchObject({ code: 0, killed: false, stdout: 'done\n' });
      expect(exit.afterDone).toBeLessThan(5_000);
    });
  }
});
