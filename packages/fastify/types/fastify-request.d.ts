// What @sess/fastify adds to Fastify's types. One file, referenced by both
// the ESM and the CommonJS type entry points, so a project that loads both
// sees a single declaration.
import type {
  CallbackStore,
  CookieOptions,
  Session as CoreSession,
  RegenerateOptions,
  SessionCallback,
  SessionData,
  SessionStore,
} from '@sess/core';

declare module 'fastify' {
  /**
   * @fastify/session's place for session keys, kept so that its users'
   * augmentations still type `request.session`. New code augments
   * `SessionData` from '@sess/core' instead (as with @sess/express).
   */
  interface Session {}

  /** `request.session` under @sess/fastify: @fastify/session's API over core's Session. */
  interface SessFastifySession extends CoreSession {
    /** The session id (unsigned). */
    readonly sessionId: string;
    /** The signed id, as the cookie carries it (without `cookiePrefix`). */
    readonly encryptedSessionId: string;
    /** A value from the session. */
    get<K extends keyof SessionData>(key: K): SessionData[K] | undefined;
    /** Set a value in the session. */
    set<K extends keyof SessionData>(key: K, value: SessionData[K]): void;
    /** Cookie options for this response, laid over the plugin's. */
    options(opts: CookieOptions): void;
    /** Whether the data changed since it was loaded, created or last saved. */
    isModified(): boolean;
    /** Whether this request wrote the session to the store. */
    isSaved(): boolean;
    regenerate(): Promise<void>;
    regenerate(callback: SessionCallback): this;
    regenerate(options: RegenerateOptions | readonly string[]): Promise<void>;
    regenerate(options: RegenerateOptions | readonly string[], callback: SessionCallback): this;
  }

  interface FastifyRequest {
    /** The session (sess). Typed by augmenting `SessionData` from '@sess/core'. */
    session: SessFastifySession & Partial<SessionData> & Partial<Session>;
    /** The store the plugin was given (sess). */
    readonly sessionStore: SessionStore | CallbackStore;
  }

  interface FastifyInstance {
    /** Load the session a signed cookie value names onto `request.session` (sess). */
    decryptSession(sessionId: string, request: object, callback: (err?: unknown) => void): void;
    decryptSession(
      sessionId: string,
      request: object,
      cookieOpts: CookieOptions,
      callback: (err?: unknown) => void,
    ): void;
  }
}
