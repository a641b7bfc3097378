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
