import type { FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryStore, NoSessionUserError, UserIndexUnavailableError } from '../src/index.js';
import { app, sessionCookie } from './helpers.js';

declare module '@sess/core' {
  interface SessionData {
    userId: string;
    userAgent: string;
  }
}

/*
 * request.session's sessions-by-user helpers (core's, inherited by
 * FastifySession): list, count, log out everywhere else, log out everywhere.
 */

let fastify: FastifyInstance | undefined;
const stores: MemoryStore[] = [];
afterEach(async () => {
  await fastify?.close();
  fastify = undefined;
  for (const store of stores.splice(0)) await store.close();
});

async function server(users = true): Promise<FastifyInstance> {
  const store = new MemoryStore({
    sweepInterval: 0,
    ...(users ? { users: { user: 'userId', meta: ['userAgent'] } } : {}),
  });
  stores.push(store);
  return app({ store, cookie: { secure: false, maxAge: 60_000 } }, (f) => {
    f.post<{ Params: { user: string } }>('/login/:user', async (request) => {
      await request.session.regenerate();
      request.session.set('userId', request.params.user);
      request.session.set('userAgent', request.headers['user-agent'] ?? '');
      return { id: request.session.sessionId };
    });
    f.get('/devices', async (request) => {
      const devices = await request.session.userSessions();
      return {
        count: await request.session.countUserSessions(),
        devices: devices.map((d) => ({ id: d.id, current: d.current, ua: d.meta.userAgent })),
      };
    });
    f.post('/logout-others', async (request) => ({
      n: await request.session.destroyOtherSessions(),
    }));
    f.post('/logout-everywhere', (request, reply) => {
      request.session.destroyUserSessions((err, n) => {
        if (err) reply.send(err);
        else reply.send({ n });
      });
    });
    f.get('/anon', async (request) => {
      const error = await request.session.countUserSessions().catch((e: unknown) => e);
      return {
        noUser: error instanceof NoSessionUserError,
        noIndex: error instanceof UserIndexUnavailableError,
      };
    });
  });
}

async function login(f: FastifyInstance, user: string, ua: string) {
  const response = await f.inject({
    method: 'POST',
    url: `/login/${user}`,
    headers: { 'user-agent': ua },
  });
  return { id: response.json().id as string, cookie: sessionCookie(response) as string };
}

describe('request.session sessions by user', () => {
  it('lists devices with the current one marked, then logs out everywhere else', async () => {
    fastify = await server();
    const phone = await login(fastify, 'ann', 'Phone');
    const laptop = await login(fastify, 'ann', 'Laptop');
    await login(fastify, 'bob', 'Desk');
    const devices = await fastify.inject({ url: '/devices', headers: { cookie: laptop.cookie } });
    expect(devices.json()).toEqual({
      count: 2,
      devices: [
        { id: phone.id, current: false, ua: 'Phone' },
        { id: laptop.id, current: true, ua: 'Laptop' },
      ],
    });
    const out = await fastify.inject({
      method: 'POST',
      url: '/logout-others',
      headers: { cookie: laptop.cookie },
    });
    expect(out.json()).toEqual({ n: 1 });
    const phoneNow = await fastify.inject({ url: '/anon', headers: { cookie: phone.cookie } });
    expect(phoneNow.json()).toEqual({ noUser: true, noIndex: false });
    const laptopNow = await fastify.inject({ url: '/devices', headers: { cookie: laptop.cookie } });
    expect(laptopNow.json().count).toBe(1);
  });

  it('log out everywhere (callback form) ends this session too', async () => {
    fastify = await server();
    await login(fastify, 'ann', 'Phone');
    const laptop = await login(fastify, 'ann', 'Laptop');
    const out = await fastify.inject({
      method: 'POST',
      url: '/logout-everywhere',
      headers: { cookie: laptop.cookie },
    });
    expect(out.json()).toEqual({ n: 2 });
    const after = await fastify.inject({ url: '/anon', headers: { cookie: laptop.cookie } });
    expect(after.json()).toEqual({ noUser: true, noIndex: false });
  });

  it('a store without users: UserIndexUnavailableError', async () => {
    fastify = await server(false);
    const laptop = await login(fastify, 'ann', 'Laptop');
    const response = await fastify.inject({ url: '/anon', headers: { cookie: laptop.cookie } });
    expect(response.json()).toEqual({ noUser: false, noIndex: true });
  });
});

describe('cookie.createdAt under request.session.options()', () => {
  it("a per-response cookie change keeps the session's creation time", async () => {
    const store = new MemoryStore({ sweepInterval: 0 });
    stores.push(store);
    fastify = await app({ store, cookie: { secure: false, maxAge: 60_000 } }, (f) => {
      f.get('/', async (request) => {
        request.session.set('userId', 'ann');
        return { id: request.session.sessionId };
      });
      f.get('/short', async (request) => {
        request.session.options({ maxAge: 30_000 });
        request.session.set('userAgent', 'changed');
        return { id: request.session.sessionId };
      });
    });
    const first = await fastify.inject('/');
    const id = first.json().id as string;
    const created = (await store.get(id))?.cookie.createdAt;
    expect(created).toEqual(expect.any(Number));
    await new Promise((resolve) => setTimeout(resolve, 5));
    const cookie = sessionCookie(first) as string;
    const second = await fastify.inject({ url: '/short', headers: { cookie } });
    expect(second.json().id).toBe(id);
    const stored = await store.get(id);
    expect(stored?.userAgent).toBe('changed');
    expect(stored?.cookie.createdAt).toBe(created);
  });
});
