import { describeStoreConformance } from '@sess/store-conformance';
import { resolveService } from '@sess/store-conformance/services';
import { RedisStore } from '../src/index.js';

// Every behaviour gets its own prefix on the shared server or cluster.
const single = await resolveService('redis');
const cluster = await resolveService('redis-cluster');

/** A store whose server is down: a closed port, short bounds. */
const unreachable = () =>
  new RedisStore({ url: 'redis://127.0.0.1:1', timeout: 1_000, redis: { connectTimeout: 500 } });

describeStoreConformance({
  name: 'redis (single server)',
  skip: single.available ? false : single.reason,
  create: ({ namespace }) =>
    new RedisStore({ url: single.available ? single.url : '', prefix: `${namespace}:` }),
  unreachable,
  failFastWithin: 2_000,
});

describeStoreConformance({
  name: 'redis (cluster of three masters)',
  skip: cluster.available ? false : cluster.reason,
  create: ({ namespace }) =>
    new RedisStore({
      cluster: cluster.available ? nodes(cluster.url) : [],
      prefix: `${namespace}:`,
    }),
  unreachable: () =>
    new RedisStore({ cluster: ['127.0.0.1:1'], timeout: 1_000, redis: { connectTimeout: 500 } }),
  failFastWithin: 2_000,
});

/** SESS_REDIS_CLUSTER_NODES is `host:port,host:port,...`. */
function nodes(list: string): { host: string; port: number }[] {
  return list.split(',').map((entry) => {
    const [host = '127.0.0.1', port = '0'] = entry.trim().split(':');
    return { host, port: Number(port) };
  });
}
