export {
  type AbstractCallbackStoreBase,
  type CallbackStore,
  type CallbackStoreBase,
  callbackStoreClass,
  type FromCallbackStoreOptions,
  fromCallbackStore,
  isCallbackStore,
  toCallbackStore,
  toSessionStore,
} from './bridge.js';
export {
  Cookie,
  type CookieOptions,
  encodeCookieValue,
  isSameSiteNone,
  MAX_COOKIE_EXPIRES,
} from './cookie.js';
export { withDeadline } from './deadline.js';
export {
  type CompressionOptions,
  canonicalJson,
  ENCRYPTED_KEY,
  type EncryptionKey,
  type EncryptionOptions,
  encryptStore,
  SessionCodec,
} from './encryption.js';
export {
  CorruptRecordError,
  isSessError,
  REDACTED_ID,
  redactSessionId,
  SessConfigError,
  SessError,
  SessionConflictError,
  StoreClosedError,
  StoreError,
  type StoreOperation,
  StoreUnavailableError,
} from './errors.js';
export { generateSessionId } from './id.js';
export {
  type ConflictInfo,
  type ConflictPolicy,
  type RequestInput,
  RequestSession,
  SessionManager,
  type SessionOptions,
} from './manager.js';
export { MemoryStore, type MemoryStoreOptions } from './memory-store.js';
export {
  type DestroyOptions,
  type RegenerateOptions,
  Session,
  type SessionCallback,
  type SessionClass,
  type SessionContext,
  type SessionWithData,
  sessionContext,
  sessionDataJson,
  sessionToRecord,
} from './session.js';
export {
  normalizeSecrets,
  type SecretKey,
  SIGNED_PREFIX,
  sign,
  signCookie,
  type UnsignedCookie,
  unsign,
  unsignCookie,
} from './signing.js';
export {
  DEFAULT_TTL_MS,
  decodeRecord,
  encodeRecord,
  hasUserIndex,
  isExpired,
  isSessionRecord,
  type SessionStore,
  STORE_CAPABILITIES,
  type StoreCapability,
  sessionExpiresAt,
  sessionExpiry,
  sessionTtl,
  storeCapabilities,
  USER_CAPABILITIES,
  type UserCapability,
} from './store.js';
export {
  backgroundErrorReporter,
  checkStoreOptions,
  type Duration,
  type DurationRule,
  formatDuration,
  type IncumbentOptions,
  type IncumbentUnit,
  intervalRule,
  lifetimeRule,
  MAX_TIMER_MS,
  MIN_PLAIN_INTERVAL_MS,
  MIN_PLAIN_LIFETIME_MS,
  optionalDuration,
  type Pruner,
  type PrunerOptions,
  parseDuration,
  type StoreErrorHandler,
  type StoreOptionsSpec,
  startPruner,
} from './store-options.js';
export type {
  CookiePriority,
  SameSiteOption,
  SessionData,
  SessionRecord,
  StoredCookie,
} from './types.js';
export {
  compareUserSessions,
  resolveUserIndex,
  type SessionUserSelector,
  sessionCreatedAt,
  type UserIndex,
  type UserIndexMethods,
  type UserIndexOptions,
  type UserSessionInfo,
} from './users.js';
