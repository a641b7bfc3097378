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

/**
 * express-session's Store, typed as express-session's own types declare it:
 * what it gives its subclasses (`regenerate`, `load`, `createSession`) and
 * what a subclass implements (`get`, `set`, `destroy`; optionally `touch`,
 * `all`, `length`, `clear`). What a store hands back is `unknown`: the
 * middleware validates every record.
 */
declare abstract class StoreClass extends EventEmitter {
  constructor(...args: unknown[]);
  abstract get(sid: string, callback: (err: unknown, session?: unknown) => void): void;
  abstract set(sid: string, session: object, callback?: (err?: unknown) => void): void;
  abstract destroy(sid: string, callback?: (err?: unknown) => void): void;
  touch?(sid: string, session: object, callback?: (err?: unknown) => void): void;
  all?(callback: (err: unknown, sessions?: unknown) => void): void;
  length?(callback: (err: unknown, length?: number) => void): void;
  clear?(callback?: (err?: unknown) => void): void;
  regenerate(req: IncomingMessage, callback: Callback): void;
  load(sid: string, callback: (err: unknown, session?: Session) => void): void;
  createSession(req: IncomingMessage, session: SessionRecord): Session;
}

export type Store = StoreClass;

/** The Store constructor: a class to extend, and callable as `Store.call(this)` by old-style stores. */
export type StoreConstructor = typeof StoreClass & ((this: Store) => void);

/**
 * The base class of express-session stores. A plain function constructor on
 * purpose: old stores call `Store.call(this)` and `util.inherits(MyStore, Store)`,
 * which an ES class would refuse. ES classes extend it as usual.
 */
export const Store = function Store(this: Store) {
  EventEmitter.call(this);
} as unknown as StoreConstructor;

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

Store.prototype.load = function load(this: Store, sid, callback) {
  this.get(sid, (err, record) => {
    if (err) return callback(err);
    if (!isSessionRecord(record)) return callback(undefined, undefined);
    // As express-session: the session knows its store, so its save/destroy/reload work.
    const req = { sessionID: sid, sessionStore: this } as unknown as IncomingMessage;
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
export class MemoryStore extends callbackStoreClass(
  Store as unknown as new (
    ...args: unknown[]
  ) => Store,
) {
  constructor(options?: MemoryStoreOptions) {
    super(new CoreMemoryStore(options));
  }
}

/**
 * A store given to the middleware, as a sess store. A subclass of this
 * package's Store (MemoryStore included) is a callback store whatever its
 * `get` declares, called through its own methods at call time; core's
 * `toSessionStore` decides for the rest, by how the store behaves.
 */
export function toSessStore(store: SessionStore | CallbackStore): SessionStore {
  if (store instanceof Store) return fromCallbackStore(store as CallbackStore);
  return toSessionStore(store);
}
