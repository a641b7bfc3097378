import { createHmac } from 'node:crypto';
import { MemoryStore, type SessionRecord, type SessionStore } from '@sess/core';
import express5 from 'express';
import expressSession from 'express-session';
import express4 from 'express4';
import express416 from 'express4-16';
import { type SessionMiddlewareOptions, session } from '../src/index.js';

export const SECRET = 'a test secret that is at least 32 chars';

export type ExpressFactory = typeof express5;
/**
 * Both Express majors, and the oldest Express 4 the peer range claims
 * (`^4.16.0`), for `describe.each`.
 */
export const EXPRESS: [string, ExpressFactory][] = [
  ['Express 5', express5],
  ['Express 4', express4 as unknown as ExpressFactory],
  ['Express 4.16.0', express416 as unknown as ExpressFactory],
];

/** A store that counts the calls it gets, over core's MemoryStore. */
export class CountingStore implements SessionStore {
  readonly inner: MemoryStore;
  readonly calls: Record<string, number> = {};
  /** Milliseconds each write waits before it lands. */
  writeDelay = 0;

  constructor(inner = new MemoryStore({ sweepInterval: 0 })) {
    this.inner = inner;
  }
  count(name: string): number {
    return this.calls[name] ?? 0;
  }
  reset(): void {
    for (const key of Object.keys(this.calls)) delete this.calls[key];
  }
  #hit(name: string): void {
    this.calls[name] = (this.calls[name] ?? 0) + 1;
  }
  async #delay(): Promise<void> {
    if (this.writeDelay > 0) await new Promise((r) => setTimeout(r, this.writeDelay));
  }
  async get(id: string) {
    this.#hit('get');
    return this.inner.get(id);
  }
  async set(id: string, record: SessionRecord) {
    this.#hit('set');
    await this.#delay();
    return this.inner.set(id, record);
  }
  async touch(id: string, record: SessionRecord) {
    this.#hit('touch');
    return this.inner.touch(id, record);
  }
  async destroy(id: string) {
    this.#hit('destroy');
    return this.inner.destroy(id);
  }
  async compareAndSet(id: string, expected: SessionRecord | null, next: SessionRecord) {
    this.#hit('compareAndSet');
    await this.#delay();
    return this.inner.compareAndSet(id, expected, next);
  }
  async length() {
    return this.inner.length();
  }
  async all() {
    return this.inner.all();
  }
}

/** The signature express-session (cookie-signature) puts after the id. */
export function hmac(id: string, secret: string): string {
  return createHmac('sha256', secret).update(id).digest('base64').replace(/=+$/, '');
}

export function signed(id: string, secret = SECRET): string {
  return `s:${id}.${hmac(id, secret)}`;
}

/** `name=value` of the first Set-Cookie for `name`, or undefined. */
export function setCookie(
  headers: Record<string, unknown>,
  name = 'connect.sid',
): string | undefined {
  const raw = headers['set-cookie'];
  const list = Array.isArray(raw) ? (raw as string[]) : raw ? [String(raw)] : [];
  return list.find((line) => line.startsWith(`${name}=`));
}

/** The cookie pair (`name=value`) to send back. */
export function pair(line: string | undefined): string {
  if (!line) throw new Error('no Set-Cookie');
  return line.split(';')[0] as string;
}

/** The session id inside a Set-Cookie line. */
export function idOf(line: string | undefined): string {
  const value = decodeURIComponent(pair(line).split('=').slice(1).join('='));
  const match = /^s:(.+)\.[^.]+$/.exec(value);
  if (!match) throw new Error(`not a signed cookie: ${value}`);
  return match[1] as string;
}

/** An app with the middleware, a JSON error handler, and routes added by `routes`. */
export function makeApp(
  express: ExpressFactory,
  options: Partial<SessionMiddlewareOptions>,
  routes: (app: express5.Express) => void,
): express5.Express {
  const app = express();
  app.use(session({ secret: SECRET, ...options }));
  routes(app);
  app.use(
    (
      err: Error & { code?: string },
      _req: express5.Request,
      res: express5.Response,
      _next: express5.NextFunction,
    ) => {
      res.status(500).json({ error: err.name, code: err.code, message: err.message });
    },
  );
  return app;
}

/** Options both libraries take alike, for tests that run one app on each. */
export interface LibraryOptions {
  resave: boolean;
  saveUninitialized: boolean;
  store?: expressSession.Store;
}

/**
 * express-session and @sess/express under the same options, for
 * `describe.each`: the same app and assertions run on both.
 */
export const LIBRARIES: [string, (options: LibraryOptions) => express5.RequestHandler][] = [
  [
    'express-session',
    (o) => expressSession({ secret: SECRET, ...o }) as unknown as express5.RequestHandler,
  ],
  [
    '@sess/express',
    (o) => session({ secret: SECRET, ...o } as never) as unknown as express5.RequestHandler,
  ],
];
