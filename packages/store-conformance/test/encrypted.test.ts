import { randomBytes } from 'node:crypto';
import { encryptStore, MemoryStore } from '@sess/core';
import { describeStoreConformance } from '../src/index.js';

// The whole contract holds for a store seen through core's encryption at rest.
const keys = [{ id: 'conformance', key: randomBytes(32) }];

describeStoreConformance({
  name: 'encryptStore(core MemoryStore)',
  create: () => encryptStore(new MemoryStore({ sweepInterval: 0, ttl: 1_500 }), { keys }),
  defaultTtl: 1_500,
  isolatedInstances: true,
});
