import { EventEmitter } from 'node:events';
import type { IncomingMessage } from 'node:http';
import {
  type CallbackStore,
  MemoryStore as CoreMemoryStore,
  callbackStoreClass,
  fromCallbackStore,
  isSessionRecord,
  type MemoryStoreOptions,
  type SessionRecord,
  type SessionStore,
  toSessionStore,
} from '@sess/core';
import { Session } from './session.js';

type Callback = (err?: unknown) => void;

/** What express-session's Store gives its subclasses. */
export interface Store extends EventEmitter {
  regenerate(req: IncomingMessage, callback: Callback): void;
  load(sid: string, callback: (err: unknown, session?: Session) => void): void;
  createSession(req: IncomingMessage, session: SessionRecord): Session;
}

export interface StoreConstructor {
  new (...args: unknown[]): Store;
  (this: Store): void;
  prototype: Store;
}

/**
 * The base class of express-session stores. A plain function constructor on
 * purpose: old stores call `Store.call(this)` and `util.inherits(MyStore, Store)`,
 * which an ES class would refuse. ES classes extend it as usual.
 */
export const Store = function Store(this: Store) {
  EventEmitter.call(this);
} as StoreConstructor;

Object.setPrototypeOf(Store.prototype, EventEmitter.prototype);
Object.setPrototypeOf(Store, EventEmitter);

Store.prototype.regenerate = function regenerate(req, callback) {
  const session = (req as { session?: Session }).session;
  if (!session) {
    callback(new Error('no session to regenerate'));
    return;
  }
  session.regenerate(callback);
};

Store.prototype.load = function load(this: Store & CallbackStore, sid, callback) {
  this.get(sid, (err, record) => {
    if (err) return callback(err);
    if (!isSessionRecord(record)) return callback(undefined, undefined);
    const req = { sessionID: sid } as unknown as IncomingMessage;
    callback(undefined, this.createSession(req, record));
  });
};

Store.prototype.createSession = function createSession(req, record) {
  const session = new Session(req, record);
  (req as { session?: Session }).session = session;
  return session;
};

/**
 * express-session's MemoryStore API (callbacks) over core's MemoryStore,
 * which honours expiry, sweeps on an unref'd timer and is bounded in size.
 */
export class MemoryStore extends callbackStoreClass(Store) {
  constructor(options?: MemoryStoreOptions) {
    super(new CoreMemoryStore(options));
  }
}

/**
 * A store given to the middleware: a sess store as it is, a callback store
 * (express-session's contract, as connect-redis and friends implement it)
 * behind the promise bridge. Core's `toSessionStore` decides; a subclass of
 * this package's Store is a callback store whatever its `get` declares.
 */
export function toSessStore(store: SessionStore | CallbackStore): SessionStore {
  if (store instanceof Store && !('sessStore' in store)) {
    return fromCallbackStore(store as CallbackStore);
  }
  return toSessionStore(store);
}
