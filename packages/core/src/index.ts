export type {
  SessionData,
  SessionRecord,
  StoredCookie,
  SameSiteOption,
  CookiePriority,
} from './types.js';
export {
  SessError,
  SessConfigError,
  StoreError,
  StoreUnavailableError,
  StoreClosedError,
  CorruptRecordError,
  SessionConflictError,
  isSessError,
  type StoreOperation,
} from './errors.js';
export {
  type SessionStore,
  type StoreCapability,
  STORE_CAPABILITIES,
  storeCapabilities,
  DEFAULT_TTL_MS,
  sessionExpiry,
  sessionTtl,
  isExpired,
  encodeRecord,
  decodeRecord,
  isSessionRecord,
} from './store.js';
export { MemoryStore, type MemoryStoreOptions } from './memory-store.js';
export { Cookie, type CookieOptions } from './cookie.js';
export {
  Session,
  type SessionWithData,
  type SessionContext,
  type SessionCallback,
  type RegenerateOptions,
  type DestroyOptions,
  sessionDataJson,
  sessionToRecord,
} from './session.js';
export {
  SessionManager,
  RequestSession,
  type SessionOptions,
  type RequestInput,
  type ConflictPolicy,
  type ConflictInfo,
} from './manager.js';
export {
  sign,
  unsign,
  signCookie,
  unsignCookie,
  normalizeSecrets,
  SIGNED_PREFIX,
  type UnsignedCookie,
} from './signing.js';
export { generateSessionId } from './id.js';
export {
  fromCallbackStore,
  toCallbackStore,
  callbackStoreClass,
  type CallbackStore,
  type CallbackStoreBase,
  type FromCallbackStoreOptions,
} from './bridge.js';
