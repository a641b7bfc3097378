import { resolveService } from '@sess/store-conformance/services';
import { afterAll } from 'vitest';

/** The MongoDB-compatible server for these tests: SESS_MONGO_URL, or a mongo:7 container. */
export const mongo = await resolveService('mongo');
afterAll(async () => {
  if (mongo.available) await mongo.stop();
});

export const mongoUrl = mongo.available ? mongo.url : '';
export const skipReason = mongo.available ? false : mongo.reason;

/** A port nothing listens on: a server that is down. */
export const DOWN_URL = 'mongodb://127.0.0.1:1/';

/** A collection name of its own for each test, in one test database. */
export const TEST_DB = 'sess_store_mongo_test';
let counter = 0;
export const uniqueName = (prefix: string) => `${prefix}_${process.pid}_${Date.now()}_${counter++}`;

export const inAnHour = () => new Date(Date.now() + 3_600_000).toISOString();
export const record = (
  data: Record<string, unknown> = {},
  expires: string | null = inAnHour(),
) => ({
  cookie: { originalMaxAge: 3_600_000, expires, httpOnly: true, path: '/' },
  ...data,
});
