// What @sess/express adds to Express's Request. One file, referenced by both
// the ESM and the CommonJS type entry points, so a project that loads both
// sees a single declaration.
//
// `req.session` is declared on express-serve-static-core's Request (the type
// of `req` in every handler) rather than only on the global `Express.Request`:
// @types/express-session (brought by connect-redis, memorystore,
// @types/connect-pg-simple...) declares its own `Express.Request.session`, and
// two different declarations of one global property are TS2717, or with
// skipLibCheck a type that depends on import order. On the handler's Request
// our declaration is the handler's own member, so it wins whatever else is
// loaded. The global declaration stays for code typed against
// `Express.Request`; there it yields to @types/express-session's when that
// package is present, so the two never clash.
import type { CallbackStore, SessionStore, SessionWithData } from '@sess/core';

/** Whether @types/express-session's global Request augmentation is in this program. */
type WithExpressSessionTypes = Express.Request extends {
  sessionStore: { generate: (...args: never[]) => unknown };
}
  ? true
  : false;

/**
 * `req.session` as @sess/express types it. With @types/express-session in the
 * program it must also fit that package's type, whose `cookie.maxAge` is
 * `number | undefined`: a number is what a cookie with a lifetime has.
 */
type SessRequestSession = WithExpressSessionTypes extends true
  ? SessionWithData & { cookie: { maxAge?: number } }
  : SessionWithData;

interface SessGlobalRequest {
  /** The session (sess). Typed by augmenting `SessionData` from '@sess/core'. */
  session: WithExpressSessionTypes extends true ? Express.Request['session'] : SessionWithData;
  /** The session id (sess). */
  sessionID: string;
  /** The store the middleware was given (sess). */
  sessionStore: SessionStore | CallbackStore;
}

declare global {
  namespace Express {
    interface Request extends SessGlobalRequest {}
  }
}

declare module 'express-serve-static-core' {
  // biome-ignore lint/suspicious/noExplicitAny: the type parameters must match express-serve-static-core's declaration.
  interface Request<P, ResBody, ReqBody, ReqQuery, LocalsObj extends Record<string, any>> {
    /** The session (sess). Typed by augmenting `SessionData` from '@sess/core'. */
    session: SessRequestSession;
  }
}
