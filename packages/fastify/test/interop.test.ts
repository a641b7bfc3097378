import { EventEmitter } from 'node:events';
import fastifyCookie from '@fastify/cookie';
import fastifySessionIncumbent from '@fastify/session';
import { MemoryStore, type SessionRecord, type SessionStore, toCallbackStore } from '@sess/core';
import { resolveService } from '@sess/store-conformance/services';
import { RedisStore } from '@sess/store-redis';
import Fastify, { type FastifyInstance, type FastifyPluginCallback } from 'fastify';
import { afterAll, describe, expect, it } from 'vitest';
import { fastifySession } from '../src/index.js';
import { data, SECRET, sessionCookie } from './helpers.js';

// A session started by @fastify/session is continued by @sess/fastify and
// back, on one store: the switch logs nobody out, in either direction.

const redis = await resolveService('redis');
const cleanups: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const cleanup of cleanups) await cleanup();
});

async function server(
  plugin: FastifyPluginCallback<never>,
  store: object,
  options: Record<string, unknown>,
): Promise<FastifyInstance> {
  const fastify = Fastify();
  await fastify.register(fastifyCookie);
  await fastify.register(plugin, { secret: SECRET, store, ...options } as never);
  fastify.get('/', async (request) => {
    const session = data(request.session);
    session['views'] = ((session['views'] as number | undefined) ?? 0) + 1;
    session['by'] = [...((session['by'] as string[] | undefined) ?? []), 'x'];
    return { views: session['views'] };
  });
  fastify.get('/read', async (request) => ({ views: data(request.session)['views'] ?? null }));
  await fastify.ready();
  cleanups.push(() => fastify.close());
  return fastify;
}

const backends: [string, () => Promise<SessionStore>][] = [
  ['core MemoryStore', async () => new MemoryStore({ sweepInterval: 0 })],
];
if (redis.available) {
  backends.push([
    'Redis (@sess/store-redis)',
    async () =>
      new RedisStore({
        url: redis.url,
        prefix: `sess-fastify-interop-${process.pid}-${Date.now()}:`,
        // SCAN pages of 1000: clear() scans the shared server, which holds every other
        // test's keys (at the default page size the cleanup outlasted the 10 s hook limit).
        scanCount: 1_000,
      }),
  ]);
}

describe.each(backends)('@fastify/session ⇄ @sess/fastify on %s', (_label, open) => {
  it.each([
    ['defaults (cookie sessionId, no prefix)', {}],
    ['cookiePrefix "s:" and another cookie name', { cookiePrefix: 's:', cookieName: 'sid' }],
  ])('%s: started by one, continued by the other, back and forth', async (_what, extra) => {
    const store = await open();
    cleanups.push(async () => {
      await store.clear?.();
      await store.close?.();
    });
    const options = { cookie: { secure: false, maxAge: 60_000 }, ...extra };
    const name = (extra as { cookieName?: string }).cookieName ?? 'sessionId';
    // @fastify/session gets the sess store through core's callback facade, as a user would.
    const incumbent = await server(
      fastifySessionIncumbent as unknown as FastifyPluginCallback<never>,
      toCallbackStore(store, EventEmitter),
      options,
    );
    const sess = await server(
      fastifySession as unknown as FastifyPluginCallback<never>,
      store,
      options,
    );

    const first = await incumbent.inject('/');
    expect(first.json().views).toBe(1);
    const cookie = sessionCookie(first, name) as string;
    expect(cookie).toBeDefined();

    const second = await sess.inject({ url: '/', headers: { cookie } });
    expect(second.json().views).toBe(2);
    // The same id and signature: the cookie sess sends is the one the browser has.
    expect(sessionCookie(second, name)).toBe(cookie);

    const third = await incumbent.inject({ url: '/', headers: { cookie } });
    expect(third.json().views).toBe(3);

    const fourth = await sess.inject({ url: '/read', headers: { cookie } });
    expect(fourth.json().views).toBe(3);

    // And a session sess starts is continued by @fastify/session.
    const started = await sess.inject('/');
    const other = sessionCookie(started, name) as string;
    const continued = await incumbent.inject({ url: '/', headers: { cookie: other } });
    expect(continued.json().views).toBe(2);
    const back = await sess.inject({ url: '/read', headers: { cookie: other } });
    expect(back.json().views).toBe(2);
  });

  it('a record @fastify/session wrote (its cookie shape, nulls included) is read with its data', async () => {
    const store = await open();
    cleanups.push(async () => {
      await store.clear?.();
      await store.close?.();
    });
    const options = { cookie: { secure: false, maxAge: 60_000 } };
    const incumbent = await server(
      fastifySessionIncumbent as unknown as FastifyPluginCallback<never>,
      toCallbackStore(store, EventEmitter),
      options,
    );
    const sess = await server(
      fastifySession as unknown as FastifyPluginCallback<never>,
      store,
      options,
    );
    const first = await incumbent.inject('/');
    const cookie = sessionCookie(first) as string;
    const id = decodeURIComponent(cookie.split('=')[1] as string).split('.')[0] as string;
    const record = (await store.get(id)) as SessionRecord;
    expect(record.cookie).toMatchObject({ sameSite: null, domain: null, originalMaxAge: 60_000 });
    const read = await sess.inject({ url: '/read', headers: { cookie } });
    expect(read.json().views).toBe(1);
  });
});

describe('the Set-Cookie header, byte for byte', () => {
  it.each([
    ['defaults (over HTTPS)', { cookie: {} }, true],
    ['secure false, maxAge', { cookie: { secure: false, maxAge: 3_600_000 } }, false],
    [
      'domain, path, sameSite strict, httpOnly false',
      {
        cookie: {
          secure: false,
          domain: 'example.com',
          path: '/',
          sameSite: 'strict',
          httpOnly: false,
        },
      },
      false,
    ],
    [
      'cookiePrefix s:, cookieName',
      { cookiePrefix: 's:', cookieName: 'sid', cookie: { secure: false } },
      false,
    ],
  ])('%s: the same header as @fastify/session for the same id', async (_label, options, https) => {
    const headers: string[] = [];
    for (const plugin of [fastifySessionIncumbent, fastifySession]) {
      const fastify = Fastify({ trustProxy: true });
      await fastify.register(fastifyCookie);
      await fastify.register(
        plugin as unknown as FastifyPluginCallback<never>,
        {
          secret: SECRET,
          idGenerator: () => 'the-same-id-for-both-plugins-0000',
          ...options,
        } as never,
      );
      fastify.get('/', async (request) => {
        data(request.session)['n'] = 1;
        return 'ok';
      });
      const response = await fastify.inject({
        url: '/',
        headers: https ? { 'x-forwarded-proto': 'https' } : {},
      });
      await fastify.close();
      // Expires is computed per request; the second may tick between the two.
      headers.push(String(response.headers['set-cookie']).replace(/Expires=[^;]+/, 'Expires=*'));
    }
    expect(headers[0]).toContain('the-same-id-for-both-plugins-0000.');
    expect(headers[1]).toBe(headers[0]);
  });
});
