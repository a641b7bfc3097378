// Types with node-redis installed and ioredis absent (skipLibCheck off).
import type { SessionStore } from '@sess/core';
import { RedisStore } from '@sess/store-redis';
import { createClient, createCluster } from 'redis';

const client = createClient({ url: 'redis://127.0.0.1:6379' });
const store = new RedisStore({ client, prefix: 'app:', ttl: '1d' });
// store.client keeps node-redis's own type.
const same: typeof client = store.client;
const cluster = createCluster({ rootNodes: [{ url: 'redis://127.0.0.1:7000' }] });
const onCluster: SessionStore = new RedisStore({ client: cluster });
const annotated: RedisStore = store;

export { annotated, onCluster, same };
