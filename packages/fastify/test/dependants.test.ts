// Plugins written for @fastify/session, registered after @sess/fastify: those that
// declare it as a fastify-plugin dependency by name, @fastify/csrf-protection with
// `sessionPlugin: '@fastify/session'`, and @fastify/passport's session support.
import fastifyCookie from '@fastify/cookie';
import fastifyCsrf from '@fastify/csrf-protection';
import passport from '@fastify/passport';
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { afterEach, describe, expect, it } from 'vitest';
import { fastifySession } from '../src/index.js';
import { data, SECRET, sessionCookie } from './helpers.js';

const open: FastifyInstance[] = [];
afterEach(async () => {
  for (const fastify of open.splice(0)) await fastify.close();
});
const track = (fastify: FastifyInstance) => {
  open.push(fastify);
  return fastify;
};

/** A plugin as third parties write them on top of @fastify/session. */
const dependant = fp(
  (fastify, _options, done) => {
    fastify.decorateRequest('visits', function visits(this: FastifyRequest) {
      const session = data(this.session);
      session.visits = ((session.visits as number | undefined) ?? 0) + 1;
      return session.visits as number;
    });
    done();
  },
  {
    fastify: '5.x',
    name: 'needs-fastify-session',
    dependencies: ['@fastify/cookie', '@fastify/session'],
    decorators: { request: ['session'] },
  },
);

describe("plugins that declare a dependency on '@fastify/session'", () => {
  it('register after @sess/fastify, which answers to both names', async () => {
    const fastify = track(Fastify());
    await fastify.register(fastifyCookie);
    await fastify.register(fastifySession, { secret: SECRET, cookie: { secure: false } });
    await fastify.register(dependant);
    fastify.get('/', async (request) => ({
      visits: (request as unknown as { visits(): number }).visits(),
    }));
    await fastify.ready();
    expect(fastify.hasPlugin('@fastify/session')).toBe(true);
    expect(fastify.hasPlugin('@sess/fastify')).toBe(true);

    const first = await fastify.inject({ url: '/' });
    expect(first.json()).toEqual({ visits: 1 });
    const cookie = sessionCookie(first);
    expect(cookie).toBeDefined();
    const second = await fastify.inject({ url: '/', headers: { cookie: cookie as string } });
    expect(second.json()).toEqual({ visits: 2 });
  });

  it('after another plugin that decorates request.session they fail (the check is by name)', async () => {
    const fastify = track(Fastify());
    await fastify.register(fastifyCookie);
    await fastify.register(
      fp(
        (instance, _options, done) => {
          instance.decorateRequest('session', null as never);
          done();
        },
        { name: 'some-other-session' },
      ),
    );
    fastify.register(dependant);
    await expect(fastify.ready()).rejects.toMatchObject({
      code: 'FST_ERR_PLUGIN_DEPENDENCY_NOT_REGISTERED',
    });
  });

  it('also from an encapsulated context registered after it', async () => {
    const fastify = track(Fastify());
    await fastify.register(fastifyCookie);
    await fastify.register(fastifySession, { secret: SECRET, cookie: { secure: false } });
    await fastify.register(async (child) => {
      await child.register(dependant);
      child.get('/child', async (request) => ({
        visits: (request as unknown as { visits(): number }).visits(),
      }));
    });
    await fastify.ready();
    expect((await fastify.inject({ url: '/child' })).json()).toEqual({ visits: 1 });
  });
});

describe("@fastify/csrf-protection with sessionPlugin: '@fastify/session'", () => {
  async function csrfApp() {
    const next = track(Fastify());
    await next.register(fastifyCookie);
    await next.register(fastifySession, {
      secret: SECRET,
      cookie: { secure: false },
      saveUninitialized: false,
    });
    await next.register(fastifyCsrf, { sessionPlugin: '@fastify/session' });
    next.get('/form', async (_request, reply) => ({ token: await reply.generateCsrf() }));
    next.post('/submit', { onRequest: next.csrfProtection }, async () => ({ ok: true }));
    await next.ready();
    return next;
  }

  it('keeps its secret in the session: a token from the form is accepted with that session only', async () => {
    const fastify = await csrfApp();
    const form = await fastify.inject({ url: '/form' });
    expect(form.statusCode).toBe(200);
    const { token } = form.json() as { token: string };
    const cookie = sessionCookie(form);
    expect(cookie, 'the CSRF secret was stored in a new session').toBeDefined();

    const accepted = await fastify.inject({
      method: 'POST',
      url: '/submit',
      headers: { cookie: cookie as string, 'csrf-token': token },
    });
    expect(accepted.statusCode).toBe(200);
    expect(accepted.json()).toEqual({ ok: true });

    const noToken = await fastify.inject({
      method: 'POST',
      url: '/submit',
      headers: { cookie: cookie as string },
    });
    expect(noToken.statusCode).toBe(403);

    const other = sessionCookie(await fastify.inject({ url: '/form' }));
    const otherSession = await fastify.inject({
      method: 'POST',
      url: '/submit',
      headers: { cookie: other as string, 'csrf-token': token },
    });
    expect(otherSession.statusCode).toBe(403);

    const noSession = await fastify.inject({
      method: 'POST',
      url: '/submit',
      headers: { 'csrf-token': token },
    });
    expect(noSession.statusCode).toBe(403);
  });
});

describe('@fastify/passport with its session support', () => {
  it('logs in (regenerating the session), keeps the user across requests, logs out', async () => {
    const authenticator = new passport.Authenticator();
    class Fixed extends passport.Strategy {
      override authenticate(request: FastifyRequest) {
        const name = (request.query as { name?: string }).name;
        if (name) this.success({ name });
        else this.fail();
      }
    }
    authenticator.use('fixed', new Fixed('fixed'));
    authenticator.registerUserSerializer(async (user: { name: string }) => user.name);
    authenticator.registerUserDeserializer(async (name: string) => ({ name }));

    const fastify = track(Fastify());
    await fastify.register(fastifyCookie);
    await fastify.register(fastifySession, { secret: SECRET, cookie: { secure: false } });
    await fastify.register(authenticator.initialize());
    await fastify.register(authenticator.secureSession());
    fastify.get('/login', { preValidation: authenticator.authenticate('fixed') }, async () => ({
      ok: true,
    }));
    fastify.get('/me', async (request) => ({
      authenticated: request.isAuthenticated(),
      user: request.user ?? null,
    }));
    fastify.get('/logout', async (request) => {
      await request.logout();
      return { ok: true };
    });
    await fastify.ready();

    const before = await fastify.inject({ url: '/me' });
    expect(before.json()).toEqual({ authenticated: false, user: null });
    const anonymous = sessionCookie(before);

    const login = await fastify.inject({
      url: '/login?name=ada',
      headers: anonymous ? { cookie: anonymous } : {},
    });
    expect(login.statusCode).toBe(200);
    const cookie = sessionCookie(login);
    expect(cookie).toBeDefined();
    // Passport regenerates the session at login: a new id, not the anonymous one.
    expect(cookie).not.toBe(anonymous);

    const me = await fastify.inject({ url: '/me', headers: { cookie: cookie as string } });
    expect(me.json()).toEqual({ authenticated: true, user: { name: 'ada' } });

    const logout = await fastify.inject({ url: '/logout', headers: { cookie: cookie as string } });
    expect(logout.statusCode).toBe(200);
    const after = await fastify.inject({
      url: '/me',
      headers: { cookie: sessionCookie(logout) ?? (cookie as string) },
    });
    expect(after.json()).toEqual({ authenticated: false, user: null });
  });
});
