// Types for `require('@sess/express')`, which returns the middleware factory
// itself (as `require('express-session')` does), with every export on it.
import * as mod from '../dist/index.cjs';

declare const session: typeof mod.default & typeof mod;
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
  export import SessionMiddlewareOptions = mod.SessionMiddlewareOptions;
  export import SessionMiddleware = mod.SessionMiddleware;
  export import SessionRequest = mod.SessionRequest;
  export import CookieOptions = mod.CookieOptions;
  export import SessionData = mod.SessionData;
  export import SessionStore = mod.SessionStore;
  export import SessionWithData = mod.SessionWithData;
}
export = session;
