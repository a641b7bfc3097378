/**
 * Every error sess throws is a SessError with a stable `code`. Messages never
 * contain a session id, a cookie value or a secret.
 */
export class SessError extends Error {
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** A misconfiguration found at startup (missing secret, bad cookie name...). */
export class SessConfigError extends SessError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('SESS_CONFIG', message, options);
  }
}

export type StoreOperation =
  | 'get'
  | 'set'
  | 'touch'
  | 'destroy'
  | 'ids'
  | 'all'
  | 'length'
  | 'clear'
  | 'close'
  | 'compareAndSet'
  | 'connect';

/** A store operation failed. `cause` holds the driver's own error. */
export class StoreError extends SessError {
  readonly operation: StoreOperation;
  readonly store: string;

  constructor(
    store: string,
    operation: StoreOperation,
    message: string,
    options?: { cause?: unknown; code?: string },
  ) {
    super(
      options?.code ?? 'SESS_STORE',
      `${store} store: ${operation} failed: ${message}`,
      options,
    );
    this.store = store;
    this.operation = operation;
  }
}

/** The backend could not be reached, or did not answer within the store's time bound. */
export class StoreUnavailableError extends StoreError {
  constructor(
    store: string,
    operation: StoreOperation,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(store, operation, message, { ...options, code: 'SESS_STORE_UNAVAILABLE' });
  }
}

/** The store was closed and can no longer be used. */
export class StoreClosedError extends StoreError {
  constructor(store: string, operation: StoreOperation) {
    super(store, operation, 'the store is closed', { code: 'SESS_STORE_CLOSED' });
  }
}

/** A stored record could not be decoded. Core treats the session as missing. */
export class CorruptRecordError extends StoreError {
  constructor(store: string, options?: { cause?: unknown }) {
    super(store, 'get', 'the stored record is not valid session JSON', {
      ...options,
      code: 'SESS_CORRUPT_RECORD',
    });
  }
}

/**
 * Strict mode: two requests changed the same session key in parallel, and
 * this request's write would have overwritten the other's.
 */
export class SessionConflictError extends SessError {
  readonly keys: readonly string[];

  constructor(keys: readonly string[]) {
    super('SESS_CONFLICT', `session keys changed by a parallel request: ${keys.join(', ')}`);
    this.keys = keys;
  }
}

export function isSessError(value: unknown): value is SessError {
  return value instanceof SessError;
}
