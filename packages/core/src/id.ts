import uid from 'uid-safe';

/** Bytes behind one id: 24, which base64url writes as exactly 32 characters (no padding). */
const ID_BYTES = 24;
const ID_LENGTH = 32;
/** Ids drawn per refill of the pool. */
const POOL_IDS = 128;

/**
 * Ids not yet handed out, as the ASCII bytes of one uid-safe string:
 * `uid.sync(24 * 128)` is 3,072 random bytes written as 4,096 base64url
 * characters, and since 24 bytes are a whole number of base64 groups, each
 * 32-character slice is the encoding of its own 24 random bytes: distributed
 * exactly as one `uid.sync(24)`. One synchronous random-bytes job per 128 ids
 * instead of one per id (the job, not the bytes, was the cost: 3 to 8 µs of
 * every new session). Node's `crypto.randomUUID()` pools its entropy the same
 * way. Each id is handed out once: `next` only moves forward, and a used-up
 * pool is replaced, never reread. The characters are kept as bytes (not as
 * the string) so that each id is a string of its own: a slice of the big
 * string would keep all 4 KB of it alive as long as the id lives (a Map key
 * in a store, a cookie in a cache).
 */
let pool: Buffer = Buffer.alloc(0);
let next = 0;

/** 24 random bytes, URL-safe base64 (32 characters): the id express-session generates, from uid-safe. */
export function generateSessionId(): string {
  if (next >= pool.length) {
    pool = Buffer.from(uid.sync(ID_BYTES * POOL_IDS), 'latin1');
    next = 0;
  }
  const start = next;
  next += ID_LENGTH;
  return pool.toString('latin1', start, next);
}
