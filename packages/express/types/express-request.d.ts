// What @sess/express adds to Express's Request. One file, referenced by both
// the ESM and the CommonJS type entry points, so a project that loads both
// sees a single declaration.
import type { CallbackStore, SessionStore, SessionWithData } from '@sess/core';

declare global {
  namespace Express {
    interface Request {
      /** The session (sess). Typed by augmenting `SessionData` from '@sess/core'. */
      session: SessionWithData;
      /** The session id (sess). */
      sessionID: string;
      /** The store the middleware was given (sess). */
      sessionStore: SessionStore | CallbackStore;
    }
  }
}
