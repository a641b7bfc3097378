// The same as app.mjs, from CommonJS.
const { SessConfigError } = require('@sess/core');
const { RedisStore } = require('@sess/store-redis');
const { createClient } = require('redis');

async function main() {
  try {
    new RedisStore({ url: process.env.SESS_REDIS_URL });
    throw new Error('opening a connection without ioredis did not throw');
  } catch (error) {
    if (!(error instanceof SessConfigError) || !/npm install ioredis/.test(error.message)) {
      throw error;
    }
  }
  const client = createClient({ url: process.env.SESS_REDIS_URL });
  await client.connect();
  const store = new RedisStore({ client, prefix: `smoke-node-redis-cjs-${process.pid}:` });
  const record = { cookie: { originalMaxAge: 60_000, expires: new Date(Date.now() + 60_000) } };
  await store.set('a', { ...record, n: 1 });
  const read = await store.get('a');
  if (read?.n !== 1) throw new Error(`read back ${JSON.stringify(read)}`);
  if (!(await store.compareAndSet('a', read, { ...record, n: 2 }))) throw new Error('CAS failed');
  if ((await store.ids()).join() !== 'a') throw new Error('ids');
  await store.clear();
  await store.close();
  await client.close();
  console.log('smoke ok');
}
main().catch((error) => {
  console.error(error);
  process.exit(1);
});
