import fastifyCookie from '@fastify/cookie';
import { MemoryStore, type SessionRecord, type SessionStore } from '@sess/core';
import Fastify, { type FastifyInstance, type LightMyRequestResponse } from 'fastify';
import { type FastifySessionOptions, fastifySession } from '../src/index.js';

export const SECRET = 'a fastify test secret of at least 32 characters';

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
  get writes(): number {
    return this.count('set') + this.count('compareAndSet') + this.count('touch');
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
  async close() {
    return this.inner.close();
  }
}

/** A Fastify app with @fastify/cookie and @sess/fastify, routes added by `routes`. */
export async function app(
  options: Partial<FastifySessionOptions>,
  routes: (fastify: FastifyInstance) => void,
  fastifyOptions: { trustProxy?: boolean } = {},
): Promise<FastifyInstance> {
  const fastify = Fastify(fastifyOptions);
  await fastify.register(fastifyCookie);
  await fastify.register(fastifySession, {
    secret: SECRET,
    cookie: { secure: false },
    ...options,
  } as FastifySessionOptions);
  routes(fastify);
  await fastify.ready();
  return fastify;
}

export function setCookies(response: LightMyRequestResponse): string[] {
  const header = response.headers['set-cookie'];
  if (header === undefined) return [];
  return Array.isArray(header) ? header : [header];
}

/** The whole Set-Cookie header of the session cookie. */
export function sessionSetCookie(
  response: LightMyRequestResponse,
  name = 'sessionId',
): string | undefined {
  return setCookies(response).find((header) => header.startsWith(`${name}=`));
}

/** The `name=value` pair of the response's session cookie, or undefined. */
export function sessionCookie(
  response: LightMyRequestResponse,
  name = 'sessionId',
): string | undefined {
  return sessionSetCookie(response, name)?.split(';')[0];
}

/** The session's data as a plain record, for tests that use free-form keys. */
export function data(session: unknown): Record<string, unknown> {
  return session as Record<string, unknown>;
}
