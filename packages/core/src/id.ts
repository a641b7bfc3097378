import { randomFillSync } from 'node:crypto';

const ID_BYTES = 24;
/** Random bytes for 128 ids, refilled from the CSPRNG when used up; each byte serves one id only. */
const POOL_SIZE = ID_BYTES * 128;
const pool = Buffer.allocUnsafe(POOL_SIZE);
let offset = POOL_SIZE;

/**
 * 24 random bytes, URL-safe base64 (32 characters): the id express-session
 * generates (uid-safe's `uid.sync(24)`, the same alphabet and length). The
 * bytes come from a pool filled 3 KB at a time, as @fastify/session's id
 * generator does: one CSPRNG call per 128 ids instead of one per id.
 */
export function generateSessionId(): string {
  if (offset + ID_BYTES > POOL_SIZE) {
    randomFillSync(pool);
    offset = 0;
  }
  const id = pool.toString('base64url', offset, offset + ID_BYTES);
  offset += ID_BYTES;
  return id;
}
