import type { IncomingMessage } from 'node:http';
import {
  Session as CoreSession,
  SessError,
  type SessionContext,
  type SessionRecord,
} from '@sess/core';

/** Where the middleware keeps each request's session state. */
export const REQUEST_STATE = Symbol.for('sess.express.state');

type WithState = IncomingMessage & { [REQUEST_STATE]?: SessionContext; sessionID?: string };

const detached: SessionContext = {
  regenerate: () => Promise.reject(outside()),
  destroy: () => Promise.reject(outside()),
  reload: () => Promise.reject(outside()),
  save: () => Promise.reject(outside()),
};

/**
 * express-session's `new Session(req, data)`, for stores and code that
 * construct sessions themselves. Sessions the middleware makes are core
 * Sessions; both are `instanceof` core's Session.
 */
export class Session extends CoreSession {
  constructor(req: IncomingMessage, data?: Partial<SessionRecord>) {
    const state = (req as WithState)[REQUEST_STATE] ?? detached;
    super(state, (req as WithState).sessionID ?? '', data);
  }
}

function outside(): SessError {
  return new SessError(
    'SESS_DETACHED',
    'this session does not belong to a request handled by sess',
  );
}
