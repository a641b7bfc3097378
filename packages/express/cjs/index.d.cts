// Types for `require('@sess/express')`, which returns the middleware factory
// itself (as `require('express-session')` does), with every export on it.
import * as mod from '../dist/index.cjs';

declare function session(options: mod.SessionMiddlewareOptions): mod.SessionMiddleware;
declare namespace session {
  export import Store = mod.Store;
  export import MemoryStore = mod.MemoryStore;
  export import Session = mod.Session;
  export import Cookie = mod.Cookie;
  export import SessError = mod.SessError;
  export import SessConfigError = mod.SessConfigError;
  export import StoreError = mod.StoreError;
  export import StoreUnavailableError = mod.StoreUnavailableError;
  export import SessionConflictError = mod.SessionConflictError;
  export import session = mod.session;
  export type SessionMiddlewareOptions = mod.SessionMiddlewareOptions;
  export type SessionOptions = mod.SessionOptions;
  export type StoreConstructor = mod.StoreConstructor;
  export type SessionMiddleware = mod.SessionMiddleware;
  export type SessionRequest = mod.SessionRequest;
  export type CookieOptions = mod.CookieOptions;
  export type SessionData = mod.SessionData;
  export type SessionStore = mod.SessionStore;
  export type SessionWithData = mod.SessionWithData;
}
export = session;
