// Every long-lived resource can be let go: a process that served a request through @sess/express
// with this store exits by itself once the store is closed (its own connection) or once the app
// closes the client it gave the store (the store keeps nothing of its own alive).
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { runToExit } from '@sess/store-conformance/lifetimes';
import { resolveService } from '@sess/store-conformance/services';
import { describe, expect, it } from 'vitest';

const service = await resolveService('redis');
const cluster = await resolveService('redis-cluster');
const fixture = fileURLToPath(new URL('./fixtures/process-lifetime.mjs', import.meta.url));

describe.skipIf(!service.available)(
  `process lifetime${service.available ? '' : ` (SKIPPED: ${service.reason})`}`,
  () => {
    const url = service.available ? service.url : '';
    for (const [connection, how] of [
      ['own', 'its own ioredis connection (url), store.close()'],
      ['node-redis', "the app's node-redis client, the app closes it"],
      ['ioredis', "the app's ioredis client, the app quits it"],
    ] as const) {
      it(`${how}: the process exits by itself`, { timeout: 60_000 }, async () => {
        const prefix = `plife_${randomBytes(4).toString('hex')}:`;
        const exit = await runToExit(fixture, [url, prefix, connection]);
        expect(exit.stderr).toBe('');
        expect(exit).toMatchObject({ code: 0, killed: false, stdout: 'done\n' });
        expect(exit.afterDone).toBeLessThan(5_000);
      });
    }
  },
);

describe.skipIf(!cluster.available)(
  `process lifetime on the cluster${cluster.available ? '' : ` (SKIPPED: ${cluster.reason})`}`,
  () => {
    const nodes = cluster.available ? cluster.url : '';
    for (const [connection, how] of [
      ['own-cluster', 'its own ioredis Cluster (cluster: nodes), store.close()'],
      ['node-redis-cluster', "the app's node-redis createCluster client, the app closes it"],
    ] as const) {
      it(`${how}: the process exits by itself`, { timeout: 60_000 }, async () => {
        const prefix = `plife_${randomBytes(4).toString('hex')}:`;
        const exit = await runToExit(fixture, ['', prefix, connection, nodes]);
        expect(exit.stderr).toBe('');
        expect(exit).toMatchObject({ code: 0, killed: false, stdout: 'done\n' });
        expect(exit.afterDone).toBeLessThan(5_000);
      });
    }
  },
);
