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
  | 'userSessions'
  | 'countUserSessions'
  | 'destroyUserSessions'
  | 'connect';

/** A store operation failed. `cause` holds the driver's own error. */
export class StoreError extends SessError {
  readonly operation: StoreOperation;
  readonly store: string;
  /** The message without the `<store> store: <operation> failed: ` prefix. */
  readonly detail: string;

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
    this.detail = message;
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

/**
 * A session's "sessions by user" helpers (`req.session.userSessions()` and
 * the like) could not run. See the two subclasses.
 */
export class UserSessionsError extends SessError {}

/** The store keeps no user index: open it with a `users` option (code `SESS_NO_USER_INDEX`). */
export class UserIndexUnavailableError extends UserSessionsError {
  constructor() {
    super(
      'SESS_NO_USER_INDEX',
      "the session store keeps no user index: open it with a `users` option (for example { user: 'userId' })",
    );
  }
}

/** The session belongs to no user under the store's `users` option: nobody is logged in (code `SESS_NO_USER`). */
export class NoSessionUserError extends UserSessionsError {
  constructor() {
    super(
      'SESS_NO_USER',
      "the session belongs to no user (the store's `users` option finds none in it)",
    );
  }
}

/** What stands in for a session id cut out of an error message. */
export const REDACTED_ID = '[session id]';

/**
 * Cut a session id out of an error's message and stack, in place, and
 * return the error. A store's (or its driver's) message may quote the key
 * it failed on; messages of sess errors never carry one. Only the store's
 * detail is searched, so a short id never mangles the `<store> store:
 * <operation> failed` prefix. `cause` is left as the driver made it.
 */
export function redactSessionId<E extends SessError>(error: E, id: string | undefined): E {
  if (!id) return error;
  const message = error.message;
  const prefixLength = error instanceof StoreError ? message.length - error.detail.length : 0;
  if (message.indexOf(id, prefixLength) === -1) return error;
  const redacted =
    message.slice(0, prefixLength) + message.slice(prefixLength).split(id).join(REDACTED_ID);
  if (error instanceof StoreError) {
    (error as { detail: string }).detail = error.detail.split(id).join(REDACTED_ID);
  }
  const stack = error.stack;
  error.message = redacted;
  if (typeof stack === 'string') error.stack = stack.replace(message, () => redacted);
  return error;
}

export function isSessError(value: unknown): value is SessError {
  return value instanceof SessError;
}
