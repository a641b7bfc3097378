/// <reference path="../types/fastify-request.d.ts" />
import {
  type CallbackStore,
  type ConflictInfo,
  type ConflictPolicy,
  type CookieOptions,
  type EncryptionOptions,
  normalizeSecrets,
  type RequestSession,
  readCookie,
  type SecretKey,
  SessConfigError,
  SessionManager,
  type SessionStore,
  signCookie,
  toSessionStore,
} from '@sess/core';
import type { FastifyInstance, FastifyPluginCallback, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { incumbentCookieOptions } from './cookie.js';
import { FastifySession, STATE } from './session.js';

export type {
  CallbackStore,
  CookieOptions,
  EncryptionKey,
  EncryptionOptions,
  ListedSession,
  SessionData,
  SessionStore,
  UserIndexOptions,
} from '@sess/core';
export {
  MemoryStore,
  NoSessionUserError,
  SessConfigError,
  SessError,
  SessionConflictError,
  StoreError,
  StoreUnavailableError,
  UserIndexUnavailableError,
  UserSessionsError,
} from '@sess/core';
export { FastifySession };

/** @fastify/session's options; `store` takes a sess store or any callback store. */
export interface FastifySessionOptions {
  /**
   * Signs the cookie: a string of 32 characters or more, or a list (sign
   * with the first, accept any) to rotate secrets.
   */
  secret: string | readonly string[];
  /** Only `sha256` (the default, and what every @fastify/session cookie uses) is supported. */
  algorithm?: 'sha256';
  /** Default `sessionId`. */
  cookieName?: string;
  /** Before the signed value in the cookie. Default `''`; `s:` reads express-session's cookies. */
  cookiePrefix?: string;
  /** Set-Cookie options; `secure` defaults to `true` (`'auto'` follows the request). */
  cookie?: CookieOptions;
  /** A sess store, or a store written for @fastify/session / express-session (callbacks). */
  store?: SessionStore | CallbackStore;
  /** Store new sessions that hold no data yet. Default true. */
  saveUninitialized?: boolean;
  /** Re-send the cookie (and move the expiry) on every response. Default true. */
  rolling?: boolean;
  /** New session ids. Default: 24 random bytes, base64url. */
  idGenerator?: (request?: FastifyRequest) => string;
  /** sess: same-key changes by parallel requests. Default last write wins. */
  conflicts?: ConflictPolicy;
  /** sess: called on each same-key conflict. */
  onConflict?: (info: ConflictInfo) => void;
  /** sess: a store call that takes longer rejects with StoreUnavailableError. Default 10 s. */
  storeTimeout?: number;
  /**
   * sess: a session older than this (ms since its creation) is dead, whatever
   * `rolling` does; the cookie never expires later than that either. See
   * @sess/core's README, "Absolute timeout". Default: none.
   */
  absoluteTimeout?: number;
  /**
   * sess: encrypt session data at rest (AES-256-GCM, a key ring for
   * rotation): the store is wrapped with core's `encryptStore`. See
   * @sess/core's README, "Encryption at rest". Default: none.
   */
  encryption?: EncryptionOptions;
}

type DecryptCallback = (err?: unknown) => void;

/** A request as `decryptSession` accepts it: any object it can put `session` on. */
export type DecryptTarget = object;

const MIN_SECRET_LENGTH = 32;

type Carrier = FastifyRequest & { [STATE]?: RequestSession<FastifyRequest> | undefined };

function plugin(
  fastify: FastifyInstance,
  options: FastifySessionOptions,
  done: (err?: Error) => void,
): void {
  let manager: SessionManager<FastifyRequest>;
  try {
    checkOptions(options);
    const secret = normalizeSecrets(options.secret)[0] as SecretKey;
    /** The session class of this registration: it knows how its cookie is signed. */
    class PluginSession extends FastifySession {
      override get encryptedSessionId(): string {
        return signCookie(this.sessionId, secret, '');
      }
    }
    manager = createManager(options, PluginSession);
  } catch (error) {
    done(error as Error);
    return;
  }
  const given = options.store ?? withCallbacks(manager.store);
  const name = manager.name;
  const prefix = manager.cookiePrefix;
  const configured = incumbentCookieOptions(options.cookie ?? {});
  // @fastify/session's Set-Cookie that removes a browser's stale session cookie.
  const clearHeader = `${name}=; Max-Age=0; ${configured.domain ? `Domain=${configured.domain}; ` : ''}Path=${configured.path || '/'}; Expires=Thu, 01 Jan 1970 00:00:00 GMT; SameSite=Lax`;
  // `secure: 'auto'` without a sameSite: @fastify/session sends SameSite=Lax over plain HTTP.
  const autoLax = configured.secure === 'auto' && configured.sameSite === undefined;

  fastify.decorateRequest('session', null as never);
  fastify.decorateRequest('sessionStore', {
    getter: () => given,
  });
  fastify.decorate('decryptSession', decryptSession);

  // Both hooks take Fastify's callback form, not async functions: a request
  // that needs no store call (a new visitor; a response that writes nothing)
  // runs through without a promise, and one that does waits on core's
  // promise alone (an async hook added its own promise and microtask turns).
  fastify.addHook('onRequest', (request: FastifyRequest, _reply: FastifyReply, next) => {
    // As @fastify/session: an object before the session exists, so an
    // idGenerator that reads `request.session.x` does not throw.
    (request as { session: unknown }).session = {};
    const cookies = (request as { cookies?: Record<string, string | undefined> }).cookies;
    // A synchronous throw (a throwing idGenerator) reaches Fastify's error handling as a rejection did.
    const started = manager.begin({
      request,
      cookieHeader: request.headers.cookie,
      // @fastify/cookie parsed the header already; without it, core parses it.
      ...(cookies ? { cookieValue: cookies[name] } : {}),
      secure: request.protocol === 'https',
      path: pathname(request.url),
      onReplace: (session) => {
        (request as { session: unknown }).session = session;
      },
    });
    if (!(started instanceof Promise)) {
      attach(request, started);
      next();
      return;
    }
    started.then(
      (state) => {
        attach(request, state);
        next();
      },
      (error: unknown) => next(error as Error),
    );
  });

  fastify.addHook('onSend', (request: FastifyRequest, reply: FastifyReply, payload, next) => {
    const carrier = request as Carrier;
    const state = carrier[STATE];
    if (!state) {
      next(null, payload);
      return;
    }
    // Once per request: an error here makes Fastify send an error reply,
    // which runs onSend again.
    carrier[STATE] = undefined;
    // Throws only when the session cannot be serialized: Fastify catches a synchronous throw.
    if (!state.prepareCommit((request as { session: unknown }).session as FastifySession | null)) {
      sendCookie(request, reply, state);
      next(null, payload);
      return;
    }
    state.runCommit().then(
      () => {
        // As Fastify does for an async hook: a throw from here on goes to its error handling.
        try {
          sendCookie(request, reply, state);
          next(null, payload);
        } catch (error) {
          next(error as Error);
        }
      },
      (error: unknown) => next(error as Error),
    );
  });

  function attach(request: FastifyRequest, state: RequestSession<FastifyRequest> | null): void {
    if (!state) return;
    (request as Carrier)[STATE] = state;
    (request as { session: unknown }).session = state.session;
  }

  /** The Set-Cookie of this response, once the session is written: the session's, a clearing one, or none. */
  function sendCookie(
    request: FastifyRequest,
    reply: FastifyReply,
    state: RequestSession<FastifyRequest>,
  ): void {
    const header = state.setCookieHeader();
    if (header) {
      reply.header(
        'set-cookie',
        autoLax && request.protocol !== 'https' && !/; SameSite=/i.test(header)
          ? `${header}; SameSite=Lax`
          : header,
      );
    } else if (
      state.cookieId !== state.id &&
      (request as { session: unknown }).session !== null &&
      isStale(cookieValueOf(request))
    ) {
      // As @fastify/session: the browser's cookie names no session this reply
      // keeps (forged, gone, expired, regenerated away) and none replaces it.
      reply.header('set-cookie', clearHeader);
    }
  }

  /** The session cookie's value as the request carries it. */
  function cookieValueOf(request: FastifyRequest): string | undefined {
    const cookies = (request as { cookies?: Record<string, string | undefined> }).cookies;
    return cookies ? cookies[name] : readCookie(request.headers.cookie, name);
  }

  function isStale(value: string | undefined): boolean {
    return typeof value === 'string' && value.length > prefix.length && value.startsWith(prefix);
  }

  // Answer to @fastify/session's plugin name too, so plugins that declare
  // `dependencies: ['@fastify/session']` register after this one.
  fastify.register(incumbentName);
  done();

  function decryptSession(
    value: string,
    request: DecryptTarget,
    cookieOptsOrCallback: CookieOptions | DecryptCallback,
    maybeCallback?: DecryptCallback,
  ): void {
    const callback =
      typeof cookieOptsOrCallback === 'function' ? cookieOptsOrCallback : maybeCallback;
    const cookieOpts = typeof cookieOptsOrCallback === 'function' ? {} : cookieOptsOrCallback;
    const target = request as { session?: unknown; protocol?: unknown };
    const signed = typeof value === 'string' && !value.startsWith(prefix) ? prefix + value : value;
    manager
      .load({
        request: request as FastifyRequest,
        cookieHeader: undefined,
        cookieValue: typeof signed === 'string' ? signed : undefined,
        secure: target.protocol === 'https',
        onReplace: (session) => {
          target.session = session;
        },
      })
      .then(
        (state) => {
          if (state) {
            if (state.cookieId !== state.id && cookieOpts && Object.keys(cookieOpts).length > 0) {
              state.setCookieOptions(incumbentCookieOptions(cookieOpts));
            }
            target.session = state.session;
          }
          return undefined;
        },
        (error: unknown) => error,
      )
      .then((error) => {
        // Outside the promise chain: a callback that throws is the app's exception.
        queueMicrotask(() => callback?.(error));
      });
  }
}

function createManager(
  options: FastifySessionOptions,
  sessionClass: typeof FastifySession,
): SessionManager<FastifyRequest> {
  const idGenerator = options.idGenerator;
  return new SessionManager<FastifyRequest>({
    secret: options.secret,
    // Without a store, core's MemoryStore (and its warning in production).
    ...(options.store ? { store: toSessionStore(options.store) } : {}),
    name: options.cookieName || 'sessionId',
    cookiePrefix: options.cookiePrefix ?? '',
    // @fastify/cookie writes the signed value unencoded (`s:`, `/`, `+` as they are).
    cookieEncoding: 'minimal',
    // The browser's path-match: `/app` covers `/app/x`, not `/application`.
    cookiePathMatch: 'rfc6265',
    cookie: cookieOptions(options.cookie),
    // @fastify/session writes a session only when it changed, or with `rolling`.
    resave: false,
    rolling: options.rolling ?? true,
    saveUninitialized: options.saveUninitialized ?? true,
    saveWithoutCookie: false,
    sessionClass,
    ...(idGenerator ? { genid: (request: FastifyRequest) => idGenerator(request) } : {}),
    ...(options.conflicts ? { conflicts: options.conflicts } : {}),
    ...(options.onConflict ? { onConflict: options.onConflict } : {}),
    ...(options.storeTimeout !== undefined ? { storeTimeout: options.storeTimeout } : {}),
    ...(options.absoluteTimeout !== undefined ? { absoluteTimeout: options.absoluteTimeout } : {}),
    ...(options.encryption !== undefined ? { encryption: options.encryption } : {}),
  });
}

/** @fastify/session's cookie defaults: Secure unless told otherwise; `maxAge` wins over `expires`. */
function cookieOptions(given: CookieOptions | undefined): CookieOptions {
  const cookie = incumbentCookieOptions({ ...given, secure: given?.secure ?? true });
  if (cookie.maxAge !== undefined && cookie.maxAge !== null && cookie.expires) {
    delete cookie.expires;
  }
  return cookie;
}

function checkOptions(options: FastifySessionOptions): void {
  if (typeof options !== 'object' || options === null) {
    throw new SessConfigError('options are required (at least `secret`)');
  }
  const secret = options.secret as unknown;
  if (typeof secret === 'string') {
    if (secret.length < MIN_SECRET_LENGTH) {
      throw new SessConfigError(`the secret must be ${MIN_SECRET_LENGTH} characters or longer`);
    }
  } else if (Array.isArray(secret)) {
    if (secret.length === 0) throw new SessConfigError('at least one secret is required');
  } else if (secret && typeof secret === 'object') {
    throw new SessConfigError(
      'a custom signer object is not supported; give `secret` as a string or a list of strings',
    );
  } else {
    throw new SessConfigError('the `secret` option is required: a string or a list of strings');
  }
  if (options.algorithm !== undefined && options.algorithm !== 'sha256') {
    throw new SessConfigError('only the sha256 `algorithm` is supported');
  }
}

/**
 * The default store as `request.sessionStore` shows it. @fastify/session's
 * default store answers through callbacks (`get(id, cb)`, `set(id, session,
 * cb)`, `destroy(id, cb)`), core's MemoryStore through promises: here every
 * method also takes a trailing callback, called with the outcome (nothing is
 * returned then); without one, the promise. Code written for either works, and
 * a callback-style call no longer waits forever.
 */
function withCallbacks<T extends object>(store: T): T {
  return new Proxy(store, {
    get(target, key) {
      const value: unknown = Reflect.get(target, key, target);
      if (typeof value !== 'function' || key === 'constructor') return value;
      return (...args: unknown[]) => {
        const callback = args.at(-1);
        if (typeof callback !== 'function') return value.apply(target, args);
        args.pop();
        let running: Promise<unknown>;
        try {
          running = Promise.resolve(value.apply(target, args));
        } catch (error) {
          running = Promise.reject(error);
        }
        // Called outside the promise chain: a callback that throws is the app's exception.
        running.then(
          (result) => queueMicrotask(() => callback(null, result ?? undefined)),
          (error: unknown) => queueMicrotask(() => callback(error)),
        );
        return undefined;
      };
    },
  });
}

function pathname(url: string): string {
  const query = url.indexOf('?');
  return query === -1 ? url : url.slice(0, query);
}

/**
 * Registered by the plugin beside itself: an empty plugin under @fastify/session's
 * fastify-plugin name, which is what Fastify checks a dependency against (its
 * other metadata, `dependencies: ['@fastify/cookie']`, does not apply: this
 * plugin reads the Cookie header itself when @fastify/cookie is absent).
 */
const incumbentName = fp(
  (_fastify: FastifyInstance, _options: unknown, done: () => void) => done(),
  {
    fastify: '5.x',
    name: '@fastify/session',
  },
);

/**
 * The plugin: `fastify.register(fastifyCookie); fastify.register(fastifySession, { secret })`.
 * Encapsulation is skipped (as @fastify/session), so its decorators reach every route.
 */
export const fastifySession: FastifyPluginCallback<FastifySessionOptions> = fp(plugin, {
  fastify: '5.x',
  name: '@sess/fastify',
});

export default fastifySession;
