import { randomBytes } from 'node:crypto';
import {
  type EncryptionOptions,
  encryptStore,
  type SessionStore,
  type UserIndexOptions,
} from '@sess/core';
import type { ConformanceOptions } from './types.js';

/**
 * The `encryption` option's `clear` list a `users` option needs: its user key
 * (or dotted path) and its `meta` keys, so the store's index sees them beside
 * the ciphertext. A function selector has no key to list: it is refused.
 */
export function clearKeysFor(users: UserIndexOptions | undefined): string[] | undefined {
  if (users === undefined) return undefined;
  if (typeof users.user !== 'string') {
    throw new TypeError('a users option with a function selector needs its own `clear` list');
  }
  return [users.user, ...(users.meta ?? [])];
}

/**
 * The same conformance run with every store seen through core's
 * `encryptStore` (one random key unless `encryption` gives the ring): what
 * `create` and `unreachable` return is wrapped, a `users` option adds its
 * keys to `clear`, and `cleanup` still receives the store `create` made.
 */
export function withEncryption<S extends SessionStore>(
  options: ConformanceOptions<S>,
  encryption: Omit<EncryptionOptions, 'clear'> = {
    keys: [{ id: 'conformance', key: randomBytes(32) }],
  },
): ConformanceOptions {
  const inner = new WeakMap<SessionStore, S>();
  const { cleanup, unreachable } = options;
  return {
    ...(options as unknown as ConformanceOptions),
    name: `${options.name}, through encryptStore`,
    create: async (context) => {
      const store = await options.create(context);
      const wrapped = encryptStore(store, { ...encryption, clear: clearKeysFor(context.users) });
      inner.set(wrapped, store);
      return wrapped;
    },
    ...(cleanup
      ? {
          cleanup: async (wrapped: SessionStore) => {
            const store = inner.get(wrapped);
            if (store) await cleanup(store);
          },
        }
      : {}),
    ...(unreachable
      ? { unreachable: async () => encryptStore(await unreachable(), encryption) }
      : {}),
  };
}
