import { describeStoreConformance } from '@sess/store-conformance';
import { resolveService } from '@sess/store-conformance/services';
import { createClient, createCluster } from 'redis';
import { afterAll } from 'vitest';
import { RedisStore } from '../src/index.js';

// Every behaviour gets its own prefix on the shared server or cluster.
/** A record without cookie.expires lives this long (declared to the suite as `defaultTtl`). */
const DEFAULT_TTL = '3s';
/** SCAN pages on the shared server, which holds every other test's keys: small pages made listings outlast DEFAULT_TTL. */
const SHARED_SCAN_COUNT = 1_000;
const single = await resolveService('redis');
const cluster = await resolveService('redis-cluster');

/** A store whose server is down: a closed port, short bounds. */
const unreachable = () =>
  new RedisStore({ url: 'redis://127.0.0.1:1', timeout: 1_000, redis: { connectTimeout: 500 } });

describeStoreConformance({
  name: 'redis (ioredis, single server)',
  skip: single.available ? false : single.reason,
  create: ({ namespace, users }) =>
    new RedisStore({
      url: single.available ? single.url : '',
      prefix: `${namespace}:`,
      ttl: DEFAULT_TTL,
      scanCount: SHARED_SCAN_COUNT,
      users,
    }),
  unreachable,
  failFastWithin: 2_000,
  defaultTtl: 3_000,
});

describeStoreConformance({
  name: 'redis (ioredis, cluster of three masters)',
  skip: cluster.available ? false : cluster.reason,
  create: ({ namespace, users }) =>
    new RedisStore({
      cluster: cluster.available ? nodes(cluster.url) : [],
      prefix: `${namespace}:`,
      ttl: DEFAULT_TTL,
      users,
    }),
  unreachable: () =>
    new RedisStore({ cluster: ['127.0.0.1:1'], timeout: 1_000, redis: { connectTimeout: 500 } }),
  failFastWithin: 2_000,
  defaultTtl: 3_000,
});

// Every store opened with the user index: every write goes through its scripts
// (one script on a server, single-slot steps on a cluster), which must keep the
// whole contract, not only the 'sessions by user' group.
const USERS = { user: 'userId', maxSessionsPerUser: 1_000, meta: ['userAgent'] };

// Before the node-redis runs: their unreachable clients keep reconnecting (timers,
// sockets) until afterAll, which 'close releases every handle' would count.
describeStoreConformance({
  name: 'redis (ioredis, single server, users index)',
  skip: single.available ? false : single.reason,
  create: ({ namespace, users }) =>
    new RedisStore({
      url: single.available ? single.url : '',
      prefix: `${namespace}:`,
      ttl: DEFAULT_TTL,
      scanCount: SHARED_SCAN_COUNT,
      users: users ?? USERS,
    }),
  unreachable: () =>
    new RedisStore({
      url: 'redis://127.0.0.1:1',
      timeout: 1_000,
      redis: { connectTimeout: 500 },
      users: USERS,
    }),
  failFastWithin: 2_000,
  defaultTtl: 3_000,
});

// node-redis v5: the application connects one client (or cluster) and every
// store shares it, as with connect-redis; the store never closes it.
const nodeRedis = single.available ? createClient({ url: single.url }) : undefined;
const nodeCluster = cluster.available
  ? createCluster({
      rootNodes: nodes(cluster.url).map((n) => ({ url: `redis://${n.host}:${n.port}` })),
    })
  : undefined;
await nodeRedis?.connect();
await nodeCluster?.connect();

/** node-redis clients pointed at a closed port: they keep trying to connect, commands queue. */
const downClients: { destroy(): void }[] = [];
function unreachableNodeRedis(): RedisStore {
  const client = createClient({
    url: 'redis://127.0.0.1:1',
    socket: { connectTimeout: 500, reconnectStrategy: 100 },
  });
  client.on('error', () => undefined);
  client.connect().catch(() => undefined);
  downClients.push(client);
  return new RedisStore({ client, timeout: 1_000 });
}

/** A node-redis cluster whose only root node is a closed port: it never gets its slots. */
function unreachableNodeCluster(): RedisStore {
  const client = createCluster({
    rootNodes: [{ url: 'redis://127.0.0.1:1' }],
    defaults: { socket: { connectTimeout: 500, reconnectStrategy: 100 } },
  });
  client.on('error', () => undefined);
  client.connect().catch(() => undefined);
  downClients.push(client);
  return new RedisStore({ client, timeout: 1_000 });
}

afterAll(async () => {
  for (const client of downClients) client.destroy();
  await nodeRedis?.close();
  await nodeCluster?.close();
});

describeStoreConformance({
  name: 'redis (node-redis, single server)',
  skip: single.available ? false : single.reason,
  create: ({ namespace, users }) =>
    new RedisStore({
      client: nodeRedis,
      prefix: `${namespace}:`,
      ttl: DEFAULT_TTL,
      scanCount: SHARED_SCAN_COUNT,
      users,
    }),
  unreachable: unreachableNodeRedis,
  failFastWithin: 2_000,
  defaultTtl: 3_000,
  sharedResources: true,
});

describeStoreConformance({
  name: 'redis (node-redis, cluster of three masters)',
  skip: cluster.available ? false : cluster.reason,
  create: ({ namespace, users }) =>
    new RedisStore({ client: nodeCluster, prefix: `${namespace}:`, ttl: DEFAULT_TTL, users }),
  unreachable: unreachableNodeCluster,
  failFastWithin: 2_000,
  defaultTtl: 3_000,
  sharedResources: true,
});

describeStoreConformance({
  name: 'redis (node-redis, cluster of three masters, users index)',
  skip: cluster.available ? false : cluster.reason,
  create: ({ namespace, users }) =>
    new RedisStore({
      client: nodeCluster,
      prefix: `${namespace}:`,
      ttl: DEFAULT_TTL,
      users: users ?? USERS,
    }),
  unreachable: unreachableNodeCluster,
  failFastWithin: 2_000,
  defaultTtl: 3_000,
  sharedResources: true,
});

/** SESS_REDIS_CLUSTER_NODES is `host:port,host:port,...`. */
function nodes(list: string): { host: string; port: number }[] {
  return list.split(',').map((entry) => {
    const [host = '127.0.0.1', port = '0'] = entry.trim().split(':');
    return { host, port: Number(port) };
  });
}
