// Every long-lived resource can be let go: a process that served a request through @sess/express
// with this store (pruning on an interval) exits by itself once the store is closed (its own
// client) or once the app closes the client it gave the store (the pruner keeps nothing alive).
import { fileURLToPath } from 'node:url';
import { runToExit } from '@sess/store-conformance/lifetimes';
import { describe, expect, it } from 'vitest';
import { mongoUrl, skipReason, TEST_DB, uniqueName } from './helpers.js';

const fixture = fileURLToPath(new URL('./fixtures/process-lifetime.mjs', import.meta.url));

describe.skipIf(skipReason)('process lifetime', () => {
  for (const [connection, how] of [
    ['own', 'its own client (mongoUrl), store.close()'],
    ['client', "the app's MongoClient, the app closes it"],
    ['clientPromise', "the app's MongoClient as clientPromise, the app closes it"],
  ] as const) {
    it(`${how}: the process exits by itself`, { timeout: 60_000 }, async () => {
      const exit = await runToExit(fixture, [mongoUrl, TEST_DB, uniqueName('plife'), connection]);
      expect(exit.stderr).toBe('');
      expect(exit).toMatchObject({ code: 0, killed: false, stdout: 'done\n' });
      expect(exit.afterDone).toBeLessThan(5_000);
    });
  }
});
