import { createDecipheriv, createHmac, pbkdf2, timingSafeEqual } from 'node:crypto';
import {
  canonicalJson,
  type EncryptionOptions,
  encryptStore,
  isSessionRecord,
  SessConfigError,
  type SessionRecord,
  type SessionStore,
} from '@sess/core';
import type { MongoStore } from './index.js';

/**
 * Reading sessions connect-mongo encrypted, so its users move to sess without
 * logging anyone out. Its Web Crypto adapter
 * (`cryptoAdapter: createWebCryptoAdapter({ secret })`): the format, as connect-mongo 6.0 writes it:
 * the document's `session` is base64 of `iv (12 bytes) || AES-256-GCM
 * ciphertext || tag (16 bytes)`, under a key derived from the secret with
 * PBKDF2-SHA-256 (310,000 iterations, salt "connect-mongo:webcrypto-default-salt"
 * unless configured), over the session's JSON.
 */
export interface ConnectMongoWebCryptoOptions {
  /** The `secret` given to `createWebCryptoAdapter`. */
  secret: string | Uint8Array;
  /** Its `salt`, when one was given. */
  salt?: string | Uint8Array;
  /** Its `iterations`, when given. Default 310,000. */
  iterations?: number;
  /** Its `ivLength`, when given. Default 12. */
  ivLength?: number;
  /** Its `encoding`, when given. Default `base64`. */
  encoding?: 'base64' | 'base64url' | 'hex';
}

/**
 * connect-mongo's `crypto: { secret }` option (kruptein, as connect-mongo 6 runs
 * it): the document's `session` is base64 of a DER sequence of octet strings
 * (ciphertext in base64, HMAC in base64, IV, a 128-byte salt, the GCM tag, the
 * additional data in base64), with the key derived per record by
 * PBKDF2(secret, salt, 15,000 iterations, `hashing`), and an HMAC over the ciphertext.
 */
export interface ConnectMongoKrupteinOptions {
  /** The `crypto.secret` given to connect-mongo. */
  secret: string;
  /** Its `crypto.hashing`. Default `sha512`, connect-mongo's. */
  hashing?: 'sha512' | 'sha384' | 'sha256';
}

export interface ConnectMongoMigrationOptions {
  /** connect-mongo 6's `cryptoAdapter: createWebCryptoAdapter({ secret, ... })`. */
  webCrypto?: ConnectMongoWebCryptoOptions;
  /** connect-mongo's `crypto: { secret }` (kruptein). */
  kruptein?: ConnectMongoKrupteinOptions;
  /**
   * sess's own encryption for everything written from now on (core's
   * `encryptStore` options). Without it, sessions are written in the clear.
   */
  encryption?: EncryptionOptions;
}

const DEFAULT_SALT = 'connect-mongo:webcrypto-default-salt';
const DEFAULT_ITERATIONS = 310_000;
const TAG_BYTES = 16;

/**
 * A store over `mongo` that reads sessions connect-mongo encrypted (its
 * kruptein `crypto` option, its Web Crypto adapter) as well as its own, and writes only its own: each
 * connect-mongo session is rewritten in sess's form (encrypted with
 * `encryption` when given) at its next write. A connect-mongo record that
 * does not decrypt under the secret is a missing session.
 *
 * Not covered: `all()` lists only sess's records; the first write of a
 * connect-mongo session, when it merges a parallel request's changes, is
 * not atomic (it checks the decrypted record, then writes).
 */
export function readConnectMongoEncrypted(
  mongo: MongoStore,
  options: ConnectMongoMigrationOptions,
): SessionStore {
  if (typeof options !== 'object' || options === null) {
    throw new SessConfigError(
      'readConnectMongoEncrypted: options must be { webCrypto } or { kruptein }',
    );
  }
  const decrypters: ((payload: string) => Promise<string>)[] = [];
  if (options.webCrypto !== undefined) decrypters.push(webCryptoDecrypter(options.webCrypto));
  if (options.kruptein !== undefined) decrypters.push(krupteinDecrypter(options.kruptein));
  if (decrypters.length === 0) {
    throw new SessConfigError(
      'readConnectMongoEncrypted: give webCrypto (connect-mongo cryptoAdapter) or kruptein (connect-mongo crypto), or both',
    );
  }
  const decrypt = async (payload: string): Promise<string> => {
    let failure: unknown = new Error('no decrypter');
    for (const attempt of decrypters) {
      try {
        return await attempt(payload);
      } catch (error) {
        failure = error;
      }
    }
    throw failure;
  };
  const inner = options.encryption ? encryptStore(mongo, options.encryption) : mongo;

  /** The connect-mongo record stored under `id`, or null (absent, expired, sess's own, or not opening). */
  const legacy = async (id: string): Promise<SessionRecord | null> => {
    const doc = await mongo.collection.findOne(
      { _id: id, expires: { $gt: new Date() } },
      { projection: { session: 1 } },
    );
    const stored = doc?.session;
    if (typeof stored !== 'string' || stored.startsWith('{')) return null;
    try {
      let value: unknown = JSON.parse(await decrypt(stored));
      // connect-mongo with `stringify: false` encrypts the JSON of the object; with `true`, the JSON string.
      if (typeof value === 'string') value = JSON.parse(value);
      return isSessionRecord(value) ? value : null;
    } catch {
      return null;
    }
  };

  const store: SessionStore = {
    async get(id) {
      return (await inner.get(id)) ?? legacy(id);
    },
    set: (id, session) => inner.set(id, session),
    destroy: (id) => inner.destroy(id),
  };
  for (const name of ['touch', 'ids', 'all', 'length', 'clear', 'close'] as const) {
    const method = inner[name] as ((...args: unknown[]) => Promise<unknown>) | undefined;
    if (typeof method === 'function') {
      (store as unknown as Record<string, unknown>)[name] = (...args: unknown[]) =>
        method.apply(inner, args);
    }
  }
  const cas = inner.compareAndSet;
  if (cas) {
    store.compareAndSet = async (id, expected, next) => {
      if (await cas.call(inner, id, expected, next)) return true;
      if (expected === null) return false;
      const old = await legacy(id);
      if (old === null || canonicalJson(old) !== canonicalJson(expected)) return false;
      await inner.set(id, next);
      return true;
    };
  }
  return store;
}

function webCryptoDecrypter(
  options: ConnectMongoWebCryptoOptions | undefined,
): (payload: string) => Promise<string> {
  const label = 'readConnectMongoEncrypted: webCrypto';
  if (typeof options !== 'object' || options === null) {
    throw new SessConfigError(`${label} must be { secret } as given to createWebCryptoAdapter`);
  }
  const { secret, salt = DEFAULT_SALT, iterations = DEFAULT_ITERATIONS } = options;
  const ivLength = options.ivLength ?? 12;
  const encoding = options.encoding ?? 'base64';
  if (!(typeof secret === 'string' || secret instanceof Uint8Array) || secret.length === 0) {
    throw new SessConfigError(`${label}.secret must be the non-empty secret connect-mongo used`);
  }
  if (!Number.isInteger(iterations) || iterations < 1) {
    throw new SessConfigError(`${label}.iterations must be a whole number`);
  }
  if (!Number.isInteger(ivLength) || ivLength < 1) {
    throw new SessConfigError(`${label}.ivLength must be a whole number of bytes`);
  }
  if (!['base64', 'base64url', 'hex'].includes(encoding)) {
    throw new SessConfigError(`${label}.encoding must be base64, base64url or hex`);
  }
  let key: Promise<Buffer> | undefined;
  const derive = () =>
    new Promise<Buffer>((resolve, reject) => {
      pbkdf2(secret, salt, iterations, 32, 'sha256', (error, derived) =>
        error ? reject(error) : resolve(derived),
      );
    });
  return async (payload) => {
    key ??= derive();
    const bytes = Buffer.from(payload, encoding);
    if (bytes.length < ivLength + TAG_BYTES) throw new Error('too short');
    const iv = bytes.subarray(0, ivLength);
    const body = bytes.subarray(ivLength, bytes.length - TAG_BYTES);
    const decipher = createDecipheriv('aes-256-gcm', await key, iv, { authTagLength: TAG_BYTES });
    decipher.setAuthTag(bytes.subarray(bytes.length - TAG_BYTES));
    return Buffer.concat([decipher.update(body), decipher.final()]).toString('utf8');
  };
}

function krupteinDecrypter(
  options: ConnectMongoKrupteinOptions,
): (payload: string) => Promise<string> {
  const label = 'readConnectMongoEncrypted: kruptein';
  if (typeof options !== 'object' || options === null) {
    throw new SessConfigError(
      `${label} must be { secret } as given to connect-mongo's crypto option`,
    );
  }
  const { secret, hashing = 'sha512' } = options;
  if (typeof secret !== 'string' || secret.length === 0) {
    throw new SessConfigError(`${label}.secret must be the non-empty secret connect-mongo used`);
  }
  if (!['sha512', 'sha384', 'sha256'].includes(hashing)) {
    throw new SessConfigError(`${label}.hashing must be sha512, sha384 or sha256`);
  }
  return async (payload) => {
    const parts = derOctetStrings(Buffer.from(payload, 'base64'));
    if (parts.length < 5) throw new Error('not a kruptein record');
    const [ct, hmac, iv, salt, tag, aad] = parts as [
      Buffer,
      Buffer,
      Buffer,
      Buffer,
      Buffer,
      Buffer?,
    ];
    const key = await new Promise<Buffer>((resolve, reject) => {
      pbkdf2(secret, salt, 15_000, 32, hashing, (error, derived) =>
        error ? reject(error) : resolve(derived),
      );
    });
    const ciphertext = ct.toString('utf8');
    const expected = createHmac(hashing, key).update(ciphertext).digest();
    const given = Buffer.from(hmac.toString('utf8'), 'base64');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      throw new Error('HMAC mismatch');
    }
    const decipher = createDecipheriv('aes-256-gcm', key, iv, { authTagLength: tag.length });
    decipher.setAuthTag(tag);
    if (aad && aad.length > 0) decipher.setAAD(Buffer.from(aad.toString('utf8'), 'base64'));
    return Buffer.concat([
      decipher.update(Buffer.from(ciphertext, 'base64')),
      decipher.final(),
    ]).toString('utf8');
  };
}

/** The octet strings of a DER `SEQUENCE OF OCTET STRING`. Throws on anything else. */
function derOctetStrings(bytes: Buffer): Buffer[] {
  const length = (at: number): [number, number] => {
    const first = bytes[at];
    if (first === undefined) throw new Error('truncated');
    if (first < 0x80) return [first, at + 1];
    const count = first & 0x7f;
    if (count < 1 || count > 4 || at + 1 + count > bytes.length) throw new Error('bad length');
    let value = 0;
    for (let i = 0; i < count; i++) value = value * 256 + (bytes[at + 1 + i] as number);
    return [value, at + 1 + count];
  };
  if (bytes[0] !== 0x30) throw new Error('not a sequence');
  const [total, start] = length(1);
  const end = start + total;
  if (end !== bytes.length) throw new Error('bad sequence length');
  const parts: Buffer[] = [];
  let at = start;
  while (at < end) {
    if (bytes[at] !== 0x04) throw new Error('not an octet string');
    const [size, from] = length(at + 1);
    if (from + size > end) throw new Error('truncated');
    parts.push(bytes.subarray(from, from + size));
    at = from + size;
  }
  return parts;
}
