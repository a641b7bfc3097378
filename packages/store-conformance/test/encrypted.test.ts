import { randomBytes } from 'node:crypto';
import { encryptStore, MemoryStore, type UserIndexOptions } from '@sess/core';
import { describeStoreConformance } from '../src/index.js';

// The whole contract holds for a store seen through core's encryption at rest,
// the sessions-by-user group included: the user key and the `meta` keys are
// listed in `clear`, so the inner store's index sees them beside the ciphertext.
const keys = [{ id: 'conformance', key: randomBytes(32) }];

/** What a users option needs in the clear: its user key (or path) and its meta keys. */
function clearFor(users: UserIndexOptions | undefined): string[] | undefined {
  if (!users) return undefined;
  if (typeof users.user !== 'string')
    throw new Error('a function selector needs its own clear list');
  return [users.user, ...(users.meta ?? [])];
}

describeStoreConformance({
  name: 'encryptStore(core MemoryStore)',
  create: ({ users }) =>
    encryptStore(new MemoryStore({ sweepInterval: 0, ttl: 1_500, users }), {
      keys,
      clear: clearFor(users),
    }),
  defaultTtl: 1_500,
  isolatedInstances: true,
});
