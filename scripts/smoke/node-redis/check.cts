// The same from CommonJS.
import redisStore = require('@sess/store-redis');
import redis = require('redis');

const client = redis.createClient();
const store = new redisStore.RedisStore({ client });
const same: typeof client = store.client;
export = same;
