import { MemoryStore } from '@sess/core';
import { describeStoreConformance, withEncryption } from '../src/index.js';

// The whole contract holds for a store seen through core's encryption at rest,
// the sessions-by-user group included: withEncryption lists the user key and
// the `meta` keys in `clear`, so the inner store's index sees them beside the ciphertext.
describeStoreConformance(
  withEncryption({
    name: 'core MemoryStore',
    create: ({ users }) => new MemoryStore({ sweepInterval: 0, ttl: 1_500, users }),
    defaultTtl: 1_500,
    isolatedInstances: true,
  }),
);
