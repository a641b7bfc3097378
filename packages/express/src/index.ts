/// <reference path="../types/express-request.d.ts" />
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';
import {
  type CallbackStore,
  Cookie,
  type Session as CoreSession,
  type RequestSession,
  SessConfigError,
  SessionManager,
  type SessionOptions,
  type SessionStore,
  type SessionWithData,
} from '@sess/core';
import { REQUEST_STATE, Session } from './session.js';
import { MemoryStore, Store, toSessStore } from './store.js';

export type { CookieOptions, SessionData, SessionStore, SessionWithData } from '@sess/core';
export {
  SessConfigError,
  SessError,
  SessionConflictError,
  StoreError,
  StoreUnavailableError,
} from '@sess/core';
export { Cookie, MemoryStore, Session, Store };

/** The request as the middleware sees it: Node's, plus what Express adds. */
export type SessionRequest = IncomingMessage & {
  originalUrl?: string;
  secure?: boolean;
  session?: SessionWithData | null;
  sessionID?: string;
  sessionStore?: SessionStore | CallbackStore;
};

/** express-session's options; `store` takes a sess store or any express-session store. */
export interface SessionMiddlewareOptions extends Omit<SessionOptions<SessionRequest>, 'store'> {
  store?: SessionStore | CallbackStore;
  /**
   * Trust `X-Forwarded-Proto` for `cookie.secure`: `true` trusts it, `false`
   * ignores it, unset follows Express's `trust proxy` setting (`req.secure`).
   */
  proxy?: boolean;
}

export type SessionMiddleware = (
  req: IncomingMessage,
  res: ServerResponse,
  next: (err?: unknown) => void,
) => void;

/**
 * Session middleware for Express 4 and 5, a drop-in for express-session:
 * `app.use(session({ secret, store, cookie: { maxAge } }))`.
 */
function session(options: SessionMiddlewareOptions): SessionMiddleware {
  if (typeof options !== 'object' || options === null) {
    throw new SessConfigError('secret option required for sessions');
  }
  const given = options.store ?? new MemoryStore();
  const manager = new SessionManager<SessionRequest>({ ...options, store: toSessStore(given) });
  const proxy = options.proxy;

  return function sessionMiddleware(incoming, res, next) {
    const req = incoming as SessionRequest;
    if (req.session) {
      next();
      return;
    }
    manager
      .load({
        request: req,
        cookieHeader: req.headers.cookie,
        secure: isSecure(req, proxy),
        path: pathname(req),
        onReplace: (current, id) => {
          req.sessionID = id;
          if (current) req.session = current;
          else delete req.session;
        },
      })
      .then((state) => {
        if (!state) return next();
        attach(req, res, state, given, next);
        next();
      }, next);
  };
}

type End = ServerResponse['end'];
type WriteHead = ServerResponse['writeHead'];

/** Expose the session on `req`, and hook the response: save before the end, cookie with the headers. */
function attach(
  req: SessionRequest,
  res: ServerResponse,
  state: RequestSession<SessionRequest>,
  store: SessionStore | CallbackStore,
  next: (err?: unknown) => void,
): void {
  (req as SessionRequest & { [REQUEST_STATE]?: RequestSession<SessionRequest> })[REQUEST_STATE] =
    state;
  req.sessionStore = store;
  req.sessionID = state.id;
  req.session = state.session as SessionWithData;

  const writeHead = res.writeHead as WriteHead;
  let cookieDecided = false;
  res.writeHead = function writeHeadWithCookie(this: ServerResponse, ...args: unknown[]) {
    if (!cookieDecided) {
      cookieDecided = true;
      const header = state.setCookieHeader();
      if (header) appendSetCookie(this, header);
    }
    return (writeHead as (...a: unknown[]) => ServerResponse).apply(this, args);
  } as WriteHead;

  const end = res.end as End;
  let ending = false;
  res.end = function endAfterSave(this: ServerResponse, ...args: unknown[]) {
    const send = () => (end as (...a: unknown[]) => ServerResponse).apply(this, args);
    if (ending) return send();
    ending = true;
    state.commit(req.session as CoreSession | null | undefined).then(
      () => {
        res.end = end;
        send();
      },
      (err: unknown) => {
        res.end = end;
        if (res.headersSent) send();
        next(err);
      },
    );
    return this;
  } as End;
}

function appendSetCookie(res: ServerResponse, value: string): void {
  const previous = res.getHeader('Set-Cookie');
  if (previous === undefined) res.setHeader('Set-Cookie', value);
  else if (Array.isArray(previous)) res.setHeader('Set-Cookie', [...previous, value]);
  else res.setHeader('Set-Cookie', [String(previous), value]);
}

/** Whether the request came over TLS, with express-session's proxy rules. */
function isSecure(req: SessionRequest, proxy: boolean | undefined): boolean {
  if ((req.socket as TLSSocket | undefined)?.encrypted) return true;
  if (proxy === false) return false;
  if (proxy !== true) return req.secure === true;
  const header = req.headers['x-forwarded-proto'];
  const first = (Array.isArray(header) ? header[0] : header)?.split(',')[0];
  return first?.trim().toLowerCase() === 'https';
}

function pathname(req: SessionRequest): string {
  const url = req.originalUrl ?? req.url ?? '/';
  const query = url.indexOf('?');
  return query === -1 ? url : url.slice(0, query);
}

/** express-session's shape: the middleware factory carries the classes. */
const sessionWithClasses = Object.assign(session, { Store, MemoryStore, Session, Cookie });

export { sessionWithClasses as session };
export default sessionWithClasses;
