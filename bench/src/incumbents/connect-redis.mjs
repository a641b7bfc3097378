// connect-redis 9 on a node-redis v5 client, through core's bridge. The client is this module's
// (connect-redis never closes a client it is given): sharedResources.
import { fromCallbackStore } from '@sess/core';
import { RedisStore } from 'connect-redis';
import { createClient } from 'redis';

const client = createClient({ url: process.env.SESS_REDIS_URL });
client.on('error', () => undefined);
await client.connect();
process.once('beforeExit', () => client.close());

export const sharedResources = true;
export function createStore({ namespace }) {
  return fromCallbackStore(new RedisStore({ client, prefix: `${namespace}:` }));
}
