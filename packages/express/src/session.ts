import type { IncomingMessage } from 'node:http';
import {
  type CallbackStore,
  Cookie,
  Session as CoreSession,
  SessError,
  type SessionContext,
  type SessionRecord,
  sessionToRecord,
} from '@sess/core';

/** Where the middleware keeps each request's session state. */
export const REQUEST_STATE = Symbol.for('sess.express.state');

type WithState = IncomingMessage & {
  [REQUEST_STATE]?: SessionContext;
  sessionID?: string;
  sessionStore?: unknown;
};

const detached: SessionContext = {
  regenerate: () => Promise.reject(outside('regenerate')),
  destroy: () => Promise.reject(outside('destroy')),
  reload: () => Promise.reject(outside('reload')),
  save: () => Promise.reject(outside('save')),
};

/**
 * express-session's `new Session(req, data)`, for stores and code that
 * construct sessions themselves. Inside a request the middleware handles, the
 * session belongs to that request. Otherwise, as in express-session, it works
 * through `req.sessionStore` (what `store.load(sid, cb)` hands back):
 * `save`, `destroy` and `reload` call that store; `regenerate` needs a request.
 *
 * Sessions the middleware makes are core Sessions; `instanceof Session` is
 * true for them too (`req.session instanceof session.Session`).
 */
export class Session extends CoreSession {
  constructor(req: IncomingMessage, data?: Partial<SessionRecord>) {
    const request = req as WithState;
    const store = request.sessionStore;
    const standalone = request[REQUEST_STATE] === undefined && isCallbackStore(store);
    const context = standalone ? new StoreContext(store) : (request[REQUEST_STATE] ?? detached);
    super(context, request.sessionID ?? '', data);
    if (context instanceof StoreContext) context.session = this;
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    // Subclasses keep the ordinary check; Session itself also owns core's sessions.
    // biome-ignore lint/complexity/noThisInStatic: `this` is the class instanceof was asked about.
    if (this !== Session) return Function.prototype[Symbol.hasInstance].call(this, value);
    return value instanceof CoreSession;
  }
}

/** A session outside any request, backed by a callback store (express-session's `store.load`). */
class StoreContext implements SessionContext {
  session: CoreSession | undefined;
  readonly #store: CallbackStore;

  constructor(store: CallbackStore) {
    this.#store = store;
  }

  #id(): string {
    return this.session?.id ?? '';
  }

  save(): Promise<void> {
    const session = this.session as CoreSession;
    return viaCallback((done) => this.#store.set(this.#id(), sessionToRecord(session), done));
  }

  destroy(): Promise<void> {
    return viaCallback((done) => this.#store.destroy(this.#id(), done));
  }

  async reload(): Promise<void> {
    const session = this.session as CoreSession;
    const record = await new Promise<unknown>((resolve, reject) => {
      this.#store.get(this.#id(), (err, value) => (err ? reject(err) : resolve(value)));
    });
    if (typeof record !== 'object' || record === null) {
      throw new SessError('SESS_NOT_FOUND', 'failed to load session');
    }
    // express-session replaces req.session; with no request, the data is replaced in place.
    const target = session as unknown as Record<string, unknown>;
    for (const key of Object.keys(target)) if (key !== 'cookie') delete target[key];
    const { cookie, ...data } = record as SessionRecord;
    session.cookie = new Cookie(cookie ?? {});
    for (const key of Object.keys(data)) if (!(key in session)) target[key] = data[key];
  }

  regenerate(): Promise<void> {
    return Promise.reject(outside('regenerate'));
  }
}

function viaCallback(start: (done: (err?: unknown) => void) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    try {
      start((err) => (err === undefined || err === null ? resolve() : reject(err)));
    } catch (err) {
      reject(err);
    }
  });
}

function isCallbackStore(store: unknown): store is CallbackStore {
  const candidate = store as Partial<CallbackStore> | null | undefined;
  return (
    typeof candidate?.get === 'function' &&
    typeof candidate.set === 'function' &&
    typeof candidate.destroy === 'function'
  );
}

function outside(method: string): SessError {
  return new SessError(
    'SESS_DETACHED',
    `${method}() needs the request: this session does not belong to a request handled by sess`,
  );
}
