import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryStore, SessConfigError } from '../src/index.js';
import { app, sessionCookie } from './helpers.js';

declare module '@sess/core' {
  interface SessionData {
    secret: string;
  }
}

/*
 * The `encryption` option: the store holds envelopes only, a rotated key ring
 * keeps the session, a foreign key is a fresh session (never an error page).
 */

let fastify: FastifyInstance | undefined;
const stores: MemoryStore[] = [];
afterEach(async () => {
  await fastify?.close();
  fastify = undefined;
  for (const store of stores.splice(0)) await store.close();
});

const SECRET_DATA = 'card 4111 1111 1111 1111';

async function server(store: MemoryStore, keys: Array<{ id: string; key: Buffer }>) {
  return app({ store, encryption: { keys } }, (f) => {
    f.post('/put', async (request) => {
      request.session.set('secret', SECRET_DATA);
      return { ok: true };
    });
    f.get('/get', async (request) => ({ secret: request.session.get('secret') ?? null }));
  });
}

describe('@sess/fastify encryption option', () => {
  it('stores no plaintext, reads it back, survives rotation, and a foreign key starts afresh', async () => {
    const store = new MemoryStore({ sweepInterval: 0 });
    stores.push(store);
    const old = { id: 'k1', key: randomBytes(32) };
    fastify = await server(store, [old]);
    const put = await fastify.inject({ method: 'POST', url: '/put' });
    const cookie = sessionCookie(put);
    expect(cookie).toBeTruthy();
    const stored = await store.all();
    const text = JSON.stringify(stored);
    expect(Object.keys(stored)).toHaveLength(1);
    expect(text).not.toContain('4111');
    expect(text).toContain('__sess_encrypted');
    const got = await fastify.inject({ method: 'GET', url: '/get', headers: { cookie } });
    expect(got.json()).toEqual({ secret: SECRET_DATA });
    await fastify.close();

    // Rotation: a new first key, the old one still listed: the session is kept.
    fastify = await server(store, [{ id: 'k2', key: randomBytes(32) }, old]);
    const rotated = await fastify.inject({ method: 'GET', url: '/get', headers: { cookie } });
    expect(rotated.json()).toEqual({ secret: SECRET_DATA });
    await fastify.close();

    // A ring without the key: a missing session, answered normally.
    fastify = await server(store, [{ id: 'k3', key: randomBytes(32) }]);
    const foreign = await fastify.inject({ method: 'GET', url: '/get', headers: { cookie } });
    expect(foreign.statusCode).toBe(200);
    expect(foreign.json()).toEqual({ secret: null });
  });

  it('a key that is not 32 bytes fails at registration with SessConfigError', async () => {
    const error = await app(
      { encryption: { keys: [{ id: 'k', key: 'a password' }] } },
      () => {},
    ).then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(SessConfigError);
  });
});
