import {
  type BinaryLike,
  createCipheriv,
  createDecipheriv,
  createHash,
  randomBytes,
} from 'node:crypto';
import {
  brotliCompressSync,
  brotliDecompressSync,
  deflateRawSync,
  inflateRawSync,
  constants as zlibConstants,
} from 'node:zlib';
import { CorruptRecordError, SessConfigError } from './errors.js';
import { encodeRecord, isSessionRecord, type SessionStore } from './store.js';
import type { SessionRecord } from './types.js';
import type { UserSessionInfo } from './users.js';

/**
 * Session records encrypted at rest (issue 17).
 *
 * One codec, used by every store through `encryptStore`: AES-256-GCM from
 * Node's crypto, a fresh random 12-byte IV per write, and a key ring (the
 * first key encrypts, any listed key decrypts). The session id is part of the
 * authenticated data, so a ciphertext copied to another id does not open.
 *
 * What a store holds is an envelope that is itself a valid session record:
 *
 *     { cookie: { ...the cookie, in the clear },
 *       __sess_encrypted: "1.<keyId>.<iv>.<ciphertext and tag>",
 *       ...the keys listed in `clear` }
 *
 * The cookie stays in the clear because stores derive their expiry from
 * `cookie.expires` (Redis TTL, an expiry column, Mongo's `expires`). The
 * ciphertext holds the whole record, cookie included; when it is opened, the
 * cookie's attributes come from the ciphertext (authenticated) and only
 * `cookie.expires` from the clear copy, since a store's `touch` moves that one
 * without rewriting the data.
 */

/**
 * The envelope key that holds the ciphertext. A record whose data has this key
 * too is sealed whole like any other (so wrappers nest).
 */
export const ENCRYPTED_KEY = '__sess_encrypted';

/** One key of the ring. */
export interface EncryptionKey {
  /** Names the key inside every record it encrypts: 1 to 32 of `A-Z a-z 0-9 _ -`. */
  id: string;
  /**
   * 32 random bytes: a Buffer or Uint8Array, or those bytes as a hex string
   * (64 characters) or base64/base64url. Generate one with
   * `node -e "console.log(require('crypto').randomBytes(32).toString('base64'))"`.
   * A password is not a key: strings of any other length are refused.
   */
  key: Uint8Array | string;
}

/** Compression of the plaintext before it is encrypted. */
export interface CompressionOptions {
  /** `deflate` (default) or `brotli`, both from node:zlib. */
  algorithm?: 'deflate' | 'brotli';
  /** Only records whose JSON is at least this many bytes are compressed. Default 1,024. */
  threshold?: number;
}

/** The `encryption` option of SessionManager, and `encryptStore`'s options. */
export interface EncryptionOptions {
  /**
   * The key ring, newest first: records are encrypted with the first key and
   * read with any key listed. To rotate, put a new key first and keep the old
   * one until every session written under it has expired (or been written
   * again, which re-encrypts it under the first key).
   */
  keys: readonly EncryptionKey[];
  /**
   * Compress records of `threshold` bytes or more before encrypting them.
   * `true` means deflate above 1 KiB. Default off: compressed sizes vary with
   * the content, so someone who can both read the stored records and put
   * chosen text into a session can learn about its other contents from the
   * sizes. Turn it on for large sessions whose contents no user controls.
   */
  compress?: boolean | CompressionOptions;
  /**
   * Session data keys (or dotted paths, `'passport.user'`) also kept in the
   * clear beside the ciphertext, for a store's own index: the user id of a
   * store's `users` option, and its `meta` keys, must be listed here for the
   * store to see them. They remain inside the ciphertext too, and reads take
   * them from there. Default: none.
   */
  clear?: readonly string[];
  /**
   * Read records stored without encryption (written before encryption was
   * turned on) as they are; each is encrypted at its next write. Anyone who
   * can write to the store can then plant a readable session, so turn it off
   * once the old sessions have expired. Default false: such a record is a
   * missing session.
   */
  acceptPlaintext?: boolean;
}

/** The format version inside the envelope: `1` (JSON), `1d` (deflate), `1b` (brotli). */
const VERSION = '1';
const KEY_ID = /^[A-Za-z0-9_-]{1,32}$/;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const KEY_BYTES = 32;
const DEFAULT_THRESHOLD = 1_024;
/** A record that inflates beyond this is refused (a key holder could still write a bomb). */
const MAX_PLAINTEXT_BYTES = 64 * 1024 * 1024;
const CIPHER = 'aes-256-gcm';

type Compression = 'deflate' | 'brotli';
const FLAG: Record<Compression, string> = { deflate: 'd', brotli: 'b' };

/**
 * Seals records into envelopes and opens them. Stateless but for its keys;
 * `encryptStore` uses one per store.
 */
export class SessionCodec {
  readonly #keys: ReadonlyMap<string, Buffer>;
  readonly #current: { id: string; key: Buffer };
  readonly #compression: { algorithm: Compression; threshold: number } | undefined;
  readonly #clear: readonly (readonly string[])[];
  readonly #acceptPlaintext: boolean;
  readonly #label: string;

  constructor(options: EncryptionOptions, label = 'encryption') {
    this.#label = label;
    if (typeof options !== 'object' || options === null || Array.isArray(options)) {
      throw new SessConfigError(`${label} must be an object such as { keys: [{ id, key }] }`);
    }
    const { keys, compress, clear, acceptPlaintext, ...rest } = options;
    const unknown = Object.keys(rest).filter(
      (k) => (rest as Record<string, unknown>)[k] !== undefined,
    );
    if (unknown.length > 0) {
      throw new SessConfigError(
        `${label}: unknown option ${unknown.map((k) => `\`${k}\``).join(', ')} (it takes keys, compress, clear, acceptPlaintext)`,
      );
    }
    if (!Array.isArray(keys) || keys.length === 0) {
      throw new SessConfigError(
        `${label}.keys must be a non-empty list of { id, key }, the first one encrypting`,
      );
    }
    const ring = new Map<string, Buffer>();
    for (const [index, entry] of (keys as readonly unknown[]).entries()) {
      const where = `${label}.keys[${index}]`;
      if (typeof entry !== 'object' || entry === null) {
        throw new SessConfigError(`${where} must be an object { id, key }`);
      }
      const { id, key } = entry as Record<string, unknown>;
      if (typeof id !== 'string' || !KEY_ID.test(id)) {
        throw new SessConfigError(
          `${where}.id must be 1 to 32 characters of A-Z a-z 0-9 _ - (it is written into every record)`,
        );
      }
      if (ring.has(id)) throw new SessConfigError(`${where}: the key id "${id}" is listed twice`);
      ring.set(id, parseKey(key, `${where}.key (id "${id}")`));
    }
    this.#keys = ring;
    const firstId = (keys[0] as EncryptionKey).id;
    this.#current = { id: firstId, key: ring.get(firstId) as Buffer };
    this.#compression = parseCompression(compress, label);
    this.#clear = parseClear(clear, label);
    if (acceptPlaintext !== undefined && typeof acceptPlaintext !== 'boolean') {
      throw new SessConfigError(`${label}.acceptPlaintext must be true or false`);
    }
    this.#acceptPlaintext = acceptPlaintext ?? false;
  }

  /** The id of the key new records are encrypted with. */
  get currentKeyId(): string {
    return this.#current.id;
  }

  /** The envelope to store for `record` under `id`. */
  seal(id: string, record: SessionRecord): SessionRecord {
    let plaintext = Buffer.from(encodeRecord(record), 'utf8');
    let version = VERSION;
    const compression = this.#compression;
    if (compression && plaintext.length >= compression.threshold) {
      const packed =
        compression.algorithm === 'brotli'
          ? brotliCompressSync(plaintext, {
              params: {
                [zlibConstants.BROTLI_PARAM_QUALITY]: 4,
                [zlibConstants.BROTLI_PARAM_SIZE_HINT]: plaintext.length,
              },
            })
          : deflateRawSync(plaintext);
      if (packed.length < plaintext.length) {
        plaintext = packed;
        version += FLAG[compression.algorithm];
      }
    }
    const header = `${version}.${this.#current.id}`;
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv(CIPHER, this.#current.key, iv, { authTagLength: TAG_BYTES });
    cipher.setAAD(additionalData(header, id));
    const sealed = Buffer.concat([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
    const envelope: SessionRecord = { cookie: record.cookie };
    for (const path of this.#clear) copyPath(record, envelope, path);
    envelope[ENCRYPTED_KEY] =
      `${header}.${iv.toString('base64url')}.${sealed.toString('base64url')}`;
    return envelope;
  }

  /**
   * The record inside `stored`, the envelope a store returned for `id`.
   * Throws `CorruptRecordError` when it does not open: another key, another
   * id, tampered, truncated, an unknown key id, or no envelope at all (unless
   * `acceptPlaintext`).
   */
  open(id: string, stored: SessionRecord, storeName = 'unknown'): SessionRecord {
    const sealed: unknown = stored[ENCRYPTED_KEY];
    if (sealed === undefined) {
      if (this.#acceptPlaintext && isSessionRecord(stored)) return stored;
      throw new CorruptRecordError(storeName);
    }
    let record: unknown;
    try {
      if (typeof sealed !== 'string') throw new Error('not a string');
      const parts = sealed.split('.');
      if (parts.length !== 4) throw new Error('not four parts');
      const [version, keyId, ivText, bodyText] = parts as [string, string, string, string];
      const compression = compressionOf(version);
      const key = this.#keys.get(keyId);
      if (!key) throw new Error('unknown key id');
      const iv = Buffer.from(ivText, 'base64url');
      const body = Buffer.from(bodyText, 'base64url');
      if (iv.length !== IV_BYTES || body.length < TAG_BYTES) throw new Error('too short');
      const decipher = createDecipheriv(CIPHER, key, iv, { authTagLength: TAG_BYTES });
      decipher.setAAD(additionalData(`${version}.${keyId}`, id));
      decipher.setAuthTag(body.subarray(body.length - TAG_BYTES));
      let plaintext = Buffer.concat([
        decipher.update(body.subarray(0, body.length - TAG_BYTES)),
        decipher.final(),
      ]);
      if (compression === 'deflate') {
        plaintext = inflateRawSync(plaintext, { maxOutputLength: MAX_PLAINTEXT_BYTES });
      } else if (compression === 'brotli') {
        plaintext = brotliDecompressSync(plaintext, { maxOutputLength: MAX_PLAINTEXT_BYTES });
      }
      record = JSON.parse(plaintext.toString('utf8'));
    } catch (cause) {
      throw new CorruptRecordError(storeName, { cause });
    }
    if (!isSessionRecord(record)) throw new CorruptRecordError(storeName);
    // A store's touch moves the clear cookie's expiry only: that one is current.
    const clearCookie = stored.cookie;
    if (typeof clearCookie === 'object' && clearCookie !== null) {
      if (Object.hasOwn(clearCookie, 'expires')) record.cookie.expires = clearCookie.expires;
      else delete record.cookie.expires;
    }
    return record;
  }

  /** Whether a stored record is an envelope (of any key). */
  isSealed(stored: SessionRecord): boolean {
    return typeof stored[ENCRYPTED_KEY] === 'string';
  }

  /** The key id an envelope was sealed with, or `null` for anything else. */
  keyIdOf(stored: SessionRecord): string | null {
    const sealed = stored[ENCRYPTED_KEY];
    if (typeof sealed !== 'string') return null;
    const keyId = sealed.split('.')[1];
    return keyId !== undefined && KEY_ID.test(keyId) ? keyId : null;
  }

  /** What `touch` hands the store: the cookie and the clear keys, no data. */
  clearView(record: SessionRecord): SessionRecord {
    const view: SessionRecord = { cookie: record.cookie };
    for (const path of this.#clear) copyPath(record, view, path);
    return view;
  }

  /** For messages: `encryption` or the label given. */
  get label(): string {
    return this.#label;
  }
}

/** The authenticated data: the header (version, key id) and the session id. */
function additionalData(header: string, id: string): Buffer {
  return Buffer.from(`sess-encrypted-session\0${header}\0${id}`, 'utf8');
}

function compressionOf(version: string): Compression | null {
  if (version === VERSION) return null;
  if (version === `${VERSION}d`) return 'deflate';
  if (version === `${VERSION}b`) return 'brotli';
  throw new Error('unknown format version');
}

function parseKey(key: unknown, where: string): Buffer {
  let bytes: Buffer | undefined;
  if (key instanceof Uint8Array) {
    bytes = Buffer.from(key);
  } else if (typeof key === 'string') {
    const text = key.trim();
    if (/^[0-9a-fA-F]{64}$/.test(text)) bytes = Buffer.from(text, 'hex');
    else if (/^[A-Za-z0-9+/_-]{43}={0,1}$/.test(text)) {
      bytes = Buffer.from(text.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
    }
  } else {
    throw new SessConfigError(`${where} must be 32 bytes: a Buffer, or a hex or base64 string`);
  }
  if (!bytes || bytes.length !== KEY_BYTES) {
    throw new SessConfigError(
      `${where} must be exactly 32 random bytes: a Buffer, 64 hex characters or 44 base64 characters (a password is not a key; make one with crypto.randomBytes(32).toString('base64'))`,
    );
  }
  return bytes;
}

function parseCompression(
  compress: unknown,
  label: string,
): { algorithm: Compression; threshold: number } | undefined {
  if (compress === undefined || compress === false) return undefined;
  if (compress === true) return { algorithm: 'deflate', threshold: DEFAULT_THRESHOLD };
  if (typeof compress !== 'object' || compress === null || Array.isArray(compress)) {
    throw new SessConfigError(
      `${label}.compress must be true, false or { algorithm?, threshold? }`,
    );
  }
  const {
    algorithm = 'deflate',
    threshold = DEFAULT_THRESHOLD,
    ...rest
  } = compress as CompressionOptions;
  if (Object.keys(rest).length > 0) {
    throw new SessConfigError(`${label}.compress takes algorithm and threshold only`);
  }
  if (algorithm !== 'deflate' && algorithm !== 'brotli') {
    throw new SessConfigError(`${label}.compress.algorithm must be 'deflate' or 'brotli'`);
  }
  if (typeof threshold !== 'number' || !Number.isInteger(threshold) || threshold < 0) {
    throw new SessConfigError(`${label}.compress.threshold must be a whole number of bytes`);
  }
  return { algorithm, threshold };
}

function parseClear(clear: unknown, label: string): (readonly string[])[] {
  if (clear === undefined) return [];
  if (!Array.isArray(clear)) {
    throw new SessConfigError(`${label}.clear must be a list of session data keys`);
  }
  return clear.map((entry: unknown) => {
    const path = typeof entry === 'string' ? entry.split('.') : [];
    if (path.length === 0 || path.some((part) => part === '')) {
      throw new SessConfigError(`${label}.clear: ${String(entry)} is not a key or dotted path`);
    }
    if (path[0] === 'cookie' || path[0] === ENCRYPTED_KEY) {
      throw new SessConfigError(
        `${label}.clear: \`${String(entry)}\` cannot be listed (the cookie is always in the clear)`,
      );
    }
    return path;
  });
}

/** Copy the value at `path` of `from` (when present) to the same path of `to`. */
function copyPath(from: SessionRecord, to: SessionRecord, path: readonly string[]): void {
  let source: unknown = from;
  for (const part of path) {
    if (typeof source !== 'object' || source === null || !Object.hasOwn(source, part)) return;
    source = (source as Record<string, unknown>)[part];
  }
  if (source === undefined) return;
  let target: Record<string, unknown> = to;
  for (const part of path.slice(0, -1)) {
    const next = target[part];
    if (typeof next !== 'object' || next === null || Array.isArray(next)) {
      const made: Record<string, unknown> = {};
      target[part] = made;
      target = made;
    } else {
      target = next as Record<string, unknown>;
    }
  }
  target[path[path.length - 1] as string] = source;
}

/**
 * JSON with object keys sorted at every level: two records that hold the same
 * data give the same text whatever the order of their keys (PostgreSQL's
 * jsonb, for one, does not keep it).
 */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return v;
    const sorted: Record<string, unknown> = {};
    for (const k of Object.keys(v).sort()) sorted[k] = (v as Record<string, unknown>)[k];
    return sorted;
  });
}

function digest(record: SessionRecord): string {
  return createHash('sha256')
    .update(canonicalJson(record) as BinaryLike)
    .digest('base64');
}

/** Envelopes this process read or wrote last, per id: lets compareAndSet skip a read. */
const REMEMBERED = 10_000;

/**
 * A store that encrypts every record it writes to `store` and decrypts every
 * record it reads, with the same capabilities as `store` (it implements an
 * optional method only when `store` does). A record that does not decrypt is
 * a missing session (`get` resolves `null`; listings leave it out).
 */
export function encryptStore(store: SessionStore, options: EncryptionOptions): SessionStore {
  if (typeof store !== 'object' || store === null || typeof store.get !== 'function') {
    throw new SessConfigError('encryptStore: the first argument must be a sess store');
  }
  const codec = new SessionCodec(options, 'encryption');
  const name = innerName(store);
  /** id → the envelope stored (as read or written) and the digest of the record inside. */
  const remembered = new Map<string, { envelope: SessionRecord; digest: string }>();
  const remember = (id: string, envelope: SessionRecord, record: SessionRecord) => {
    remembered.delete(id);
    remembered.set(id, { envelope, digest: digest(record) });
    if (remembered.size > REMEMBERED) {
      const oldest = remembered.keys().next().value;
      if (oldest !== undefined) remembered.delete(oldest);
    }
  };
  const open = (id: string, envelope: SessionRecord): SessionRecord | null => {
    try {
      return codec.open(id, envelope, name);
    } catch (error) {
      if (error instanceof CorruptRecordError) return null;
      throw error;
    }
  };
  let warnedUsers = false;
  const seal = (id: string, record: SessionRecord): SessionRecord => {
    const envelope = codec.seal(id, record);
    const userOf = store.userOf;
    if (!warnedUsers && typeof userOf === 'function') {
      const user = userOf.call(store, record);
      if (user !== null && userOf.call(store, envelope) !== user) {
        warnedUsers = true;
        process.emitWarning(
          "sess: the store's users index cannot see the user of an encrypted session: list the user key in encryption's `clear` option (and the users `meta` keys, to see them in listings)",
          'SessWarning',
        );
      }
    }
    return envelope;
  };

  const encrypted: SessionStore & { readonly name: string; readonly codec: SessionCodec } = {
    name,
    codec,
    async get(id) {
      const envelope = await store.get(id);
      if (envelope === null || envelope === undefined) return null;
      const record = open(id, envelope);
      if (record) remember(id, envelope, record);
      else remembered.delete(id);
      return record;
    },
    async set(id, session) {
      const envelope = seal(id, session);
      remembered.delete(id);
      await store.set(id, envelope);
      remember(id, envelope, session);
    },
    async destroy(id) {
      remembered.delete(id);
      await store.destroy(id);
    },
  };
  if (store.touch) {
    const touch = store.touch;
    encrypted.touch = async (id, session) => {
      remembered.delete(id);
      await touch.call(store, id, codec.clearView(session));
    };
  }
  if (store.ids) {
    const ids = store.ids;
    encrypted.ids = () => ids.call(store);
  }
  if (store.length) {
    const length = store.length;
    encrypted.length = () => length.call(store);
  }
  if (store.close) {
    const close = store.close;
    encrypted.close = () => close.call(store);
  }
  if (store.clear) {
    const clear = store.clear;
    encrypted.clear = async () => {
      remembered.clear();
      await clear.call(store);
    };
  }
  if (store.all) {
    const all = store.all;
    encrypted.all = async () => {
      const out: Record<string, SessionRecord> = {};
      for (const [id, envelope] of Object.entries(await all.call(store))) {
        const record = open(id, envelope);
        if (record) out[id] = record;
      }
      return out;
    };
  }
  if (store.compareAndSet) {
    const cas = store.compareAndSet;
    encrypted.compareAndSet = async (id, expected, next) => {
      const envelope = seal(id, next);
      const swap = async (current: SessionRecord | null) => {
        remembered.delete(id);
        const written = await cas.call(store, id, current, envelope);
        if (written) remember(id, envelope, next);
        return written;
      };
      if (expected !== null) {
        // The envelope this process last saw for the id, if its record is the expected one:
        // the inner compareAndSet checks that it is still the one stored.
        const known = remembered.get(id);
        if (known && known.digest === digest(expected) && (await swap(known.envelope))) {
          return true;
        }
      } else if (await swap(null)) {
        return true;
      }
      // Ciphertexts differ on every write: read what is stored, compare its plaintext with
      // `expected`, and swap against that exact envelope (atomic in the inner store).
      const stored = await store.get(id);
      if (stored === null || stored === undefined) return false;
      const current = open(id, stored);
      if (expected === null) {
        // A record that does not open is no session: it may be replaced.
        return current === null ? swap(stored) : false;
      }
      if (current === null || canonicalJson(current) !== canonicalJson(expected)) return false;
      return swap(stored);
    };
  }
  if (
    typeof store.userOf === 'function' &&
    store.userSessions &&
    store.countUserSessions &&
    store.destroyUserSessions
  ) {
    const { userOf, userSessions, countUserSessions, destroyUserSessions } = store;
    encrypted.userOf = (session) => userOf.call(store, session);
    encrypted.userSessions = (user): Promise<UserSessionInfo[]> => userSessions.call(store, user);
    encrypted.countUserSessions = (user) => countUserSessions.call(store, user);
    encrypted.destroyUserSessions = (user, exceptId) => {
      remembered.clear();
      return destroyUserSessions.call(store, user, exceptId);
    };
  }
  return encrypted;
}

function innerName(store: SessionStore): string {
  const named = (store as { name?: unknown }).name;
  if (typeof named === 'string' && named) return named;
  return store.constructor?.name ?? 'store';
}
