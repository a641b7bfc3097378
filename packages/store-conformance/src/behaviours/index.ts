import type { Behaviour } from '../types.js';
import { basics } from './basics.js';
import { compareAndSet } from './compare-and-set.js';
import { concurrency } from './concurrency.js';
import { encryption } from './encryption.js';
import { expiry } from './expiry.js';
import { failure } from './failure.js';
import { ids } from './ids.js';
import { isolation } from './isolation.js';
import { lifecycle } from './lifecycle.js';
import { listing } from './listing.js';
import { roundTripBehaviours } from './round-trip.js';
import { touch } from './touch.js';
import { users } from './users.js';

export { record } from './helpers.js';

/** Every behaviour of the suite, in report order. */
export const behaviours: Behaviour[] = [
  ...basics,
  ...roundTripBehaviours,
  ...ids,
  ...expiry,
  ...touch,
  ...listing,
  ...isolation,
  ...concurrency,
  ...compareAndSet,
  ...users,
  ...encryption,
  ...lifecycle,
  ...failure,
];
