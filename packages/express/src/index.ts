/// <reference path="../types/express-request.d.ts" />
import { IncomingMessage, ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';
import {
  type CallbackStore,
  Cookie,
  type Session as CoreSession,
  type SessionOptions as CoreSessionOptions,
  type RequestSession,
  SessConfigError,
  SessionManager,
  type SessionStore,
  type SessionWithData,
} from '@sess/core';
import { REQUEST_STATE, Session } from './session.js';
import { MemoryStore, Store, toSessStore } from './store.js';

export type {
  CookieOptions,
  ListedSession,
  SessionData,
  SessionStore,
  SessionWithData,
  UserIndexOptions,
} from '@sess/core';
export {
  NoSessionUserError,
  SessConfigError,
  SessError,
  SessionConflictError,
  StoreError,
  StoreUnavailableError,
  UserIndexUnavailableError,
  UserSessionsError,
} from '@sess/core';
export type { StoreConstructor } from './store.js';
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
export interface SessionMiddlewareOptions
  extends Omit<CoreSessionOptions<SessionRequest>, 'store'> {
  store?: SessionStore | CallbackStore;
  /**
   * Trust `X-Forwarded-Proto` for `cookie.secure`: `true` trusts it, `false`
   * ignores it, unset follows Express's `trust proxy` setting (`req.secure`).
   */
  proxy?: boolean;
}

/** express-session's name for the options type, for code typed against it. */
export type SessionOptions = SessionMiddlewareOptions;

export type SessionMiddleware = (
  req: IncomingMessage,
  res: ServerResponse,
  next: (err?: unknown) => void,
) => void;

/**
 * Session middleware for Express 4 and 5, a drop-in for express-session:
 * `app.use(session({ secret, store, cookie: { maxAge } }))`.
 */
function session(options?: SessionMiddlewareOptions): SessionMiddleware {
  // As express-session: no options at all is no option set.
  const given = options ?? ({} as SessionMiddlewareOptions);
  if (typeof given !== 'object' || given === null) {
    throw new SessConfigError('secret option required for sessions');
  }
  const store = given.store ?? new MemoryStore();
  const sessStore = toSessStore(store);
  const proxy = given.proxy;
  const fixed = hasSecret(given.secret)
    ? new SessionManager<SessionRequest>({ ...given, store: sessStore })
    : undefined;
  const byRequestSecret = new Map<string, SessionManager<SessionRequest>>();
  if (!fixed) {
    // As express-session: without a `secret` option the cookie is signed with
    // `req.secret`, which cookie-parser('…') sets before this middleware. The
    // other options are checked now, as with a secret.
    new SessionManager<SessionRequest>({
      ...given,
      secret: STARTUP_CHECK_SECRET,
      store: sessStore,
    });
    process.emitWarning(
      'sess: no secret option: cookies are signed with req.secret (cookie-parser); provide the secret option',
      'SessWarning',
    );
  }

  /** The manager for this request: the `secret` option's, or one per `req.secret`. */
  function managerFor(req: SessionRequest): SessionManager<SessionRequest> | null {
    if (fixed) return fixed;
    const secret = (req as SessionRequest & { secret?: unknown }).secret;
    if (typeof secret !== 'string' || secret === '') return null;
    let manager = byRequestSecret.get(secret);
    if (!manager) {
      manager = new SessionManager<SessionRequest>({ ...given, secret, store: sessStore });
      // An app sets one secret; a bound keeps a changing req.secret from growing the map.
      if (byRequestSecret.size < MAX_REQUEST_SECRETS) byRequestSecret.set(secret, manager);
    }
    return manager;
  }

  return function sessionMiddleware(incoming, res, next) {
    const req = incoming as SessionRequest;
    if (req.session) {
      next();
      return;
    }
    let manager: SessionManager<SessionRequest> | null;
    try {
      manager = managerFor(req);
    } catch (err) {
      next(err);
      return;
    }
    if (!manager) {
      next(new SessConfigError('secret option required for sessions'));
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
        if (state) attach(req, res, state, store, next);
        next();
      }, next);
  };
}

/** Checks the other options at startup when the secret comes with each request. */
const STARTUP_CHECK_SECRET = 'sess: a placeholder secret that signs nothing, only checks options';
const MAX_REQUEST_SECRETS = 16;

/** A `secret` option is given (express-session's test: a truthy value). */
function hasSecret(secret: unknown): boolean {
  return secret !== undefined && secret !== null && secret !== '' && secret !== false;
}

/** Where a hooked response keeps its hooks. */
const HOOKS = Symbol('sess.express.response');

type WriteCallback = (err?: Error | null) => void;
type WriteHead = (this: ServerResponse, ...args: unknown[]) => ServerResponse;
type Write = (this: ServerResponse, chunk: unknown, encoding?: unknown, cb?: unknown) => boolean;
type End = (
  this: ServerResponse,
  chunk?: unknown,
  encoding?: unknown,
  cb?: unknown,
) => ServerResponse;
type HookedResponse = ServerResponse & { [HOOKS]?: ResponseHooks };

/**
 * One response's session hooks. As in express-session, the cookie is
 * decided once, when the headers are written (whoever writes them), and the
 * end waits while the session is written to the store. One object per
 * request; the hook functions themselves are shared.
 */
class ResponseHooks {
  readonly req: SessionRequest;
  readonly res: ServerResponse;
  readonly state: RequestSession<SessionRequest>;
  readonly next: (err?: unknown) => void;
  readonly writeHead: WriteHead;
  readonly write: Write;
  readonly end: End;
  /** The header hook ran (the Set-Cookie decision is made). */
  headersDone = false;
  /** The app's first end() came: every later end/write is dropped. */
  ended = false;
  /** Inside the real end() (which may write through res.write, as HTTP/2's does). */
  ending = false;
  /** The response is held, as if its headers were sent, until the store answers. */
  frozen = false;
  /** The headers had left before the first end (a stream, SSE). */
  streamed = false;
  /** The session was given up for this response (an error is on its way to Express). */
  abandoned = false;
  chunk: unknown = undefined;
  encoding: unknown = undefined;
  callback: unknown = undefined;
  status = 200;
  statusMessage = '';
  ownSetHeader: unknown = undefined;
  ownAppendHeader: unknown = undefined;
  ownRemoveHeader: unknown = undefined;

  constructor(
    req: SessionRequest,
    res: ServerResponse,
    state: RequestSession<SessionRequest>,
    next: (err?: unknown) => void,
  ) {
    this.req = req;
    this.res = res;
    this.state = state;
    this.next = next;
    this.writeHead = res.writeHead as unknown as WriteHead;
    this.write = res.write as unknown as Write;
    this.end = res.end as unknown as End;
  }
}

/** Expose the session on `req`, and hook the response. */
function attach(
  req: SessionRequest,
  res: ServerResponse,
  state: RequestSession<SessionRequest>,
  store: SessionStore | CallbackStore,
  next: (err?: unknown) => void,
): void {
  toDictionary(req, IncomingMessage.prototype, 'res');
  toDictionary(res, ServerResponse.prototype, 'req');
  (req as SessionRequest & { [REQUEST_STATE]?: RequestSession<SessionRequest> })[REQUEST_STATE] =
    state;
  req.sessionStore = store;
  req.sessionID = state.id;
  req.session = state.session as SessionWithData;
  (res as HookedResponse)[HOOKS] = new ResponseHooks(req, res, state, next);
  res.writeHead = hookedWriteHead as unknown as ServerResponse['writeHead'];
  res.write = hookedWrite as unknown as ServerResponse['write'];
  res.end = hookedEnd as unknown as ServerResponse['end'];
}

/**
 * Performance only, no visible effect: give an Express request or response
 * dictionary properties before the middleware adds its own. Express swaps
 * the prototype of both objects on every request (`Object.setPrototypeOf`),
 * which leaves each one, in V8, on a hidden class of its own: from then on
 * every property write (a new property, or a first change of one of Node's
 * fields) copies that hidden class, several microseconds each, and property
 * caches never hit. The middleware adds eight properties (and a held
 * response swaps four more), then Express and Node write a dozen fields
 * while sending. Deleting and re-adding one own data property (Express's
 * `req.res`, Node's `res.req`: same value, same attributes; only its place
 * in the key order changes) switches the object to a property dictionary,
 * where every later write is a hash-table write. Only on an object whose
 * prototype was swapped (on Node's own prototypes the hidden classes are
 * shared, and fast); never on a property that is not a plain writable,
 * enumerable, configurable value.
 */
function toDictionary(object: object, nodePrototype: object, key: string): void {
  if (Object.getPrototypeOf(object) === nodePrototype) return;
  const descriptor = Object.getOwnPropertyDescriptor(object, key);
  if (!descriptor?.writable || !descriptor.enumerable || !descriptor.configurable) return;
  const target = object as Record<string, unknown>;
  delete target[key];
  target[key] = descriptor.value;
}

/**
 * `res.writeHead`, the header hook, once per response: headers passed to it
 * join those set before (Node's own writeHead would let its `Set-Cookie`
 * replace the session's), then the session cookie is appended.
 */
function hookedWriteHead(
  this: HookedResponse,
  statusCode: unknown,
  reason?: unknown,
  headers?: unknown,
): ServerResponse {
  const hooks = this[HOOKS] as ResponseHooks;
  if (hooks.frozen) throw headersSentError('write');
  if (hooks.headersDone) return hooks.writeHead.call(this, statusCode, reason, headers);
  const given = typeof reason === 'string' ? headers : reason;
  if (Array.isArray(given) && !Array.isArray(given[0]) && given.length % 2 !== 0) {
    // A malformed list: Node's writeHead throws on it, as it would without sess.
    return hooks.writeHead.call(this, statusCode, reason, headers);
  }
  hooks.headersDone = true;
  if (given !== undefined && given !== null && typeof given === 'object') setHeaders(this, given);
  if (!hooks.abandoned) setSessionCookie(hooks);
  return typeof reason === 'string'
    ? hooks.writeHead.call(this, statusCode, reason)
    : hooks.writeHead.call(this, statusCode);
}

/** `res.write`: Node's, except after the first end, when it is dropped (never sent after it). */
function hookedWrite(
  this: HookedResponse,
  chunk: unknown,
  encoding?: unknown,
  cb?: unknown,
): boolean {
  const hooks = this[HOOKS] as ResponseHooks;
  if (!hooks.ended || hooks.ending) return hooks.write.call(this, chunk, encoding, cb);
  const callback = typeof encoding === 'function' ? encoding : cb;
  if (typeof callback === 'function') process.nextTick(callback as WriteCallback, writeAfterEnd());
  return false;
}

/**
 * `res.end`: decide what the store needs (save, touch, destroy or nothing).
 * Nothing: the response ends now. A write: the response is held until the
 * store has the session (a redirect after login never arrives first), and
 * meanwhile behaves as one whose headers are sent: a second `res.send`
 * throws ERR_HTTP_HEADERS_SENT into Express's error handling, as with
 * express-session, and a later end or write is dropped.
 */
function hookedEnd(
  this: HookedResponse,
  chunk?: unknown,
  encoding?: unknown,
  cb?: unknown,
): ServerResponse {
  const hooks = this[HOOKS] as ResponseHooks;
  if (hooks.ended) {
    const callback =
      typeof chunk === 'function' ? chunk : typeof encoding === 'function' ? encoding : cb;
    if (typeof callback === 'function') this.once('finish', callback as () => void);
    return this;
  }
  // Not a body Node accepts: Node's end throws, into the app's handler.
  if (hooks.abandoned || !isBody(chunk)) return hooks.end.call(this, chunk, encoding, cb);
  hooks.ended = true;
  let pending: boolean;
  try {
    pending = hooks.state.prepareCommit(hooks.req.session as CoreSession | null | undefined);
  } catch (err) {
    // The session's data cannot be serialized (nested too deeply).
    hooks.streamed = this.headersSent;
    giveUp(hooks, err);
    return this;
  }
  if (!pending) return realEnd(hooks, chunk, encoding, cb);
  hooks.chunk = chunk;
  hooks.encoding = encoding;
  hooks.callback = cb;
  hooks.streamed = this.headersSent;
  if (!hooks.streamed) freeze(this, hooks);
  hooks.state.runCommit().then(
    () => endNow(hooks),
    (err: unknown) => giveUp(hooks, err),
  );
  return this;
}

/** The response's own end(), through which its own writes pass. */
function realEnd(
  hooks: ResponseHooks,
  chunk: unknown,
  encoding: unknown,
  cb: unknown,
): ServerResponse {
  hooks.ending = true;
  try {
    return hooks.end.call(hooks.res, chunk, encoding, cb);
  } finally {
    hooks.ending = false;
  }
}

/** The held end, once the store has the session. */
function endNow(hooks: ResponseHooks): void {
  const { res, chunk, encoding, callback } = hooks;
  hooks.chunk = undefined;
  if (hooks.frozen) thaw(res, hooks);
  try {
    realEnd(hooks, chunk, encoding, callback);
  } catch (err) {
    // Node refused the response the app built (Express 4's
    // res.status(undefined): an invalid status code): to Express's error
    // handling, which answers without the session.
    hooks.ended = false;
    giveUp(hooks, err);
  }
}

/**
 * Something after the handler failed (the store write, or the response
 * itself): the response the app built is not sent, and its headers are
 * dropped. The error goes to Express's error handling (never an unhandled
 * rejection); its error response carries no session cookie. When the headers had already left
 * (a stream), the response cannot turn into an error: it is cut off.
 */
function giveUp(hooks: ResponseHooks, err: unknown): void {
  const res = hooks.res;
  hooks.chunk = undefined;
  hooks.abandoned = true;
  if (hooks.frozen) thaw(res, hooks);
  hooks.ended = hooks.streamed;
  if (!hooks.streamed && !res.headersSent) {
    // The error handler starts from a blank response: no Location, type or
    // cookie of the one that was given up.
    for (const name of res.getHeaderNames()) res.removeHeader(name);
  }
  setImmediate(reportError, hooks, err);
}

function reportError(hooks: ResponseHooks, err: unknown): void {
  try {
    hooks.next(err);
  } finally {
    if (hooks.streamed && !hooks.res.writableEnded) hooks.res.destroy();
  }
}

const HEADERS_SENT: PropertyDescriptor = { configurable: true, enumerable: false, get: isTrue };

/** Hold the response: it reads as sent, its headers cannot change, its status is kept. */
function freeze(res: HookedResponse, hooks: ResponseHooks): void {
  hooks.frozen = true;
  hooks.status = res.statusCode;
  // HTTP/2's compatibility response has no status message (and warns when it is touched).
  if (res instanceof ServerResponse) hooks.statusMessage = res.statusMessage;
  hooks.ownSetHeader = Object.hasOwn(res, 'setHeader') ? res.setHeader : undefined;
  hooks.ownAppendHeader = Object.hasOwn(res, 'appendHeader') ? res.appendHeader : undefined;
  hooks.ownRemoveHeader = Object.hasOwn(res, 'removeHeader') ? res.removeHeader : undefined;
  res.setHeader = refuseHeaders as unknown as ServerResponse['setHeader'];
  res.appendHeader = refuseHeaders as unknown as ServerResponse['appendHeader'];
  res.removeHeader = refuseHeaders as unknown as ServerResponse['removeHeader'];
  Object.defineProperty(res, 'headersSent', HEADERS_SENT);
}

/** Release the response as the app built it (a later res.status() does not count). */
function thaw(res: HookedResponse, hooks: ResponseHooks): void {
  hooks.frozen = false;
  delete (res as { headersSent?: boolean }).headersSent;
  restore(res, 'setHeader', hooks.ownSetHeader);
  restore(res, 'appendHeader', hooks.ownAppendHeader);
  restore(res, 'removeHeader', hooks.ownRemoveHeader);
  hooks.ownSetHeader = hooks.ownAppendHeader = hooks.ownRemoveHeader = undefined;
  res.statusCode = hooks.status;
  if (res instanceof ServerResponse) res.statusMessage = hooks.statusMessage;
}

function restore(
  res: HookedResponse,
  name: 'setHeader' | 'appendHeader' | 'removeHeader',
  own: unknown,
): void {
  if (own === undefined) delete (res as unknown as Record<string, unknown>)[name];
  else (res as unknown as Record<string, unknown>)[name] = own;
}

function refuseHeaders(): never {
  throw headersSentError('set');
}

function isTrue(): boolean {
  return true;
}

/** Node's error for a header change after the headers left (its class is internal). */
function headersSentError(action: 'set' | 'write'): Error {
  return Object.assign(new Error(`Cannot ${action} headers after they are sent to the client`), {
    code: 'ERR_HTTP_HEADERS_SENT',
  });
}

/** The Set-Cookie decision, made when the headers go out (a rolling cookie is touched here). */
function setSessionCookie(hooks: ResponseHooks): void {
  let header: string | null;
  try {
    header = hooks.state.setCookieHeader((hooks.req.session as CoreSession | undefined) ?? null);
  } catch (err) {
    // A cookie attribute the app set to something unserializable in a
    // handler: no cookie, and the error to Express (as express-session).
    setImmediate(hooks.next, err);
    return;
  }
  if (header) appendSetCookie(hooks.res, header);
}

/** What Node's end() accepts as its first argument; anything else it throws on, and so may it. */
function isBody(chunk: unknown): boolean {
  return (
    chunk === undefined ||
    chunk === null ||
    typeof chunk === 'string' ||
    typeof chunk === 'function' ||
    chunk instanceof Uint8Array
  );
}

function writeAfterEnd(): Error {
  return Object.assign(new Error('write after end'), { code: 'ERR_STREAM_WRITE_AFTER_END' });
}

/** Headers given to writeHead (an object, or a flat or nested list of pairs), set on the response. */
function setHeaders(res: ServerResponse, headers: object): void {
  if (!Array.isArray(headers)) {
    for (const name of Object.keys(headers)) {
      if (name)
        res.setHeader(
          name,
          (headers as Record<string, string | string[] | number>)[name] as string,
        );
    }
    return;
  }
  if (headers.length > 0 && Array.isArray(headers[0])) {
    for (const pair of headers as [string, string][]) {
      if (pair[0]) appendHeader(res, pair[0], pair[1]);
    }
    return;
  }
  // A flat list may repeat a name (two Set-Cookie lines): those replace what
  // was set before under that name, and are all kept.
  for (let i = 0; i < headers.length; i += 2) res.removeHeader(String(headers[i]));
  for (let i = 0; i < headers.length; i += 2) {
    if (headers[i]) appendHeader(res, String(headers[i]), headers[i + 1] as string);
  }
}

function appendHeader(res: ServerResponse, name: string, value: string | string[]): void {
  const previous = res.getHeader(name);
  if (previous === undefined) res.setHeader(name, value);
  else res.setHeader(name, ([] as string[]).concat(String(previous), value));
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

/**
 * The request's path, from the original URL as express-session takes it:
 * without the query, and from an absolute-form target
 * (`GET http://host/path HTTP/1.1`) the URL's path.
 */
function pathname(req: SessionRequest): string {
  let url = req.originalUrl ?? req.url ?? '/';
  if (url.charCodeAt(0) !== 0x2f) {
    const scheme = url.indexOf('://');
    if (scheme !== -1) {
      const slash = url.indexOf('/', scheme + 3);
      const query = url.indexOf('?', scheme + 3);
      url =
        slash === -1 || (query !== -1 && query < slash)
          ? `/${query === -1 ? '' : url.slice(query)}`
          : url.slice(slash);
    }
  }
  const query = url.indexOf('?');
  // As express-session: an empty path (`req.url === ''`) is '/'.
  return (query === -1 ? url : url.slice(0, query)) || '/';
}

/** express-session's shape: the middleware factory carries the classes. */
const sessionWithClasses = Object.assign(session, { Store, MemoryStore, Session, Cookie });

export { sessionWithClasses as session };
export default sessionWithClasses;
