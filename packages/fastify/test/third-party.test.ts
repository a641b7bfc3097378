// Real third-party code that apps put on top of @fastify/session, run once on
// @fastify/session itself and once on @sess/fastify, with the same app and the
// same assertions: @fastify/passport with passport-local, @fastify/csrf-protection
// (`sessionPlugin: '@fastify/session'`), @fastify/flash, socket.io reading the
// session with `fastify.decryptSession` in its handshake, the session's own
// methods from async handlers and from other plugins' onSend/onResponse hooks,
// reply.hijack(), reply.redirect(), a stream reply, and @fastify/compress.
import { createReadStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import fastifyCompress from '@fastify/compress';
import fastifyCookie from '@fastify/cookie';
import fastifyCsrf from '@fastify/csrf-protection';
import fastifyFlash from '@fastify/flash';
import passport from '@fastify/passport';
import fastifySessionIncumbent from '@fastify/session';
import Fastify, {
  type FastifyInstance,
  type FastifyPluginCallback,
  type LightMyRequestResponse,
} from 'fastify';
import fp from 'fastify-plugin';
import { Strategy as LocalStrategy } from 'passport-local';
import { Server as SocketServer } from 'socket.io';
import { type Socket as ClientSocket, io as connectSocket } from 'socket.io-client';
import { afterEach, describe, expect, it } from 'vitest';
import { fastifySession } from '../src/index.js';
import { SECRET, sessionCookie, sessionSetCookie } from './helpers.js';

/**
 * What a store written for @fastify/session does in production (connect-redis
 * and the like): it keeps JSON, not the live session object. @fastify/session's
 * default store keeps the object itself, so a change made after a save would
 * reach the "store" without being saved; no real store behaves so.
 */
class JsonStore {
  readonly map = new Map<string, string>();
  get(id: string, callback: (err: unknown, session?: unknown) => void): void {
    const value = this.map.get(id);
    setImmediate(() => callback(null, value === undefined ? null : JSON.parse(value)));
  }
  set(id: string, session: unknown, callback: (err?: unknown) => void): void {
    this.map.set(id, JSON.stringify(session));
    setImmediate(() => callback());
  }
  destroy(id: string, callback: (err?: unknown) => void): void {
    this.map.delete(id);
    setImmediate(() => callback());
  }
}

interface Options {
  saveUninitialized?: boolean;
  rolling?: boolean;
}

/** The two plugins under the same options: every test runs on both. */
const LIBRARIES: [string, (fastify: FastifyInstance, options: Options) => Promise<void>][] = [
  [
    '@fastify/session',
    async (fastify, options) => {
      await fastify.register(
        fastifySessionIncumbent as unknown as FastifyPluginCallback<Record<string, unknown>>,
        {
          secret: SECRET,
          cookie: { secure: false },
          store: new JsonStore(),
          ...options,
        },
      );
    },
  ],
  [
    '@sess/fastify',
    async (fastify, options) => {
      await fastify.register(fastifySession, {
        secret: SECRET,
        cookie: { secure: false },
        ...options,
      });
    },
  ],
];

/** The session as both plugins expose it: free-form keys and the methods they share. */
interface AnySession {
  [key: string]: unknown;
  sessionId: string;
  encryptedSessionId: string;
  get(key: string): unknown;
  set(key: string, value: unknown): void;
  save(): Promise<void>;
  reload(): Promise<void>;
  destroy(): Promise<void>;
  regenerate(keep?: string[]): Promise<void>;
}
function sessionOf(request: object): AnySession {
  return (request as { session: AnySession }).session;
}

const open: FastifyInstance[] = [];
afterEach(async () => {
  for (const fastify of open.splice(0)) await fastify.close();
});

/** Fastify with @fastify/cookie and `plugin` under `options`; `routes` adds the rest. */
async function build(
  plugin: (fastify: FastifyInstance, options: Options) => Promise<void>,
  options: Options,
  routes: (fastify: FastifyInstance) => Promise<void> | void,
  before?: (fastify: FastifyInstance) => Promise<void>,
): Promise<FastifyInstance> {
  const fastify = Fastify();
  open.push(fastify);
  if (before) await before(fastify);
  await fastify.register(fastifyCookie);
  await plugin(fastify, options);
  await routes(fastify);
  await fastify.ready();
  return fastify;
}

/** A route that shows the session's data (without its cookie). */
function showRoute(fastify: FastifyInstance): void {
  fastify.get('/show', async (request) => {
    const session = sessionOf(request);
    if (!session) return { session: null };
    const shown: Record<string, unknown> = {};
    for (const key of ['count', 'user', 'step', 'later', 'early', 'hook']) {
      if (session.get(key) !== undefined) shown[key] = session.get(key);
    }
    return shown;
  });
}

async function show(fastify: FastifyInstance, cookie: string | undefined) {
  const response = await fastify.inject({ url: '/show', headers: cookie ? { cookie } : {} });
  return response.json() as Record<string, unknown>;
}

function cookieOf(response: LightMyRequestResponse): string {
  const cookie = sessionCookie(response);
  expect(cookie, 'the response sets the session cookie').toBeDefined();
  return cookie as string;
}

describe.each(LIBRARIES)('@fastify/passport 4 with passport-local, on %s', (_name, plugin) => {
  async function passportApp(
    options: { clearSessionOnLogin?: boolean; clearSessionIgnoreFields?: string[] } = {},
    keepSessionInfo = false,
  ) {
    const auth = new passport.Authenticator(options);
    auth.use(
      'local',
      new LocalStrategy((username, password, done) => {
        if (password === 'right') done(null, { id: username });
        else done(null, false);
      }),
    );
    auth.registerUserSerializer(async (user: { id: string }) => user.id);
    auth.registerUserDeserializer(async (id: string) => ({ id }));
    return build(plugin, { saveUninitialized: false }, async (fastify) => {
      await fastify.register(auth.initialize());
      await fastify.register(auth.secureSession());
      fastify.post('/cart', async (request) => {
        sessionOf(request).set('cart', ['book']);
        return { ok: true };
      });
      const authenticate = auth.authenticate('local', { keepSessionInfo });
      fastify.post('/login', { preValidation: authenticate }, async (request) => ({
        user: (request.user as { id: string }).id,
      }));
      fastify.get('/me', async (request) => ({
        user: (request.user as { id: string } | undefined)?.id ?? null,
        cart: sessionOf(request)?.get('cart') ?? null,
      }));
      fastify.post('/logout', async (request) => {
        await request.logout();
        return { user: (request.user as { id: string } | null)?.id ?? null };
      });
    });
  }

  function login(fastify: FastifyInstance, password: string, cookie?: string) {
    return fastify.inject({
      method: 'POST',
      url: '/login',
      payload: { username: 'ada', password },
      headers: cookie ? { cookie } : {},
    });
  }

  it('login regenerates the session: a new id, the old cookie is no one, the user is known', async () => {
    const fastify = await passportApp();
    const before = cookieOf(await fastify.inject({ method: 'POST', url: '/cart' }));
    const answer = await login(fastify, 'right', before);
    expect(answer.statusCode).toBe(200);
    expect(answer.json()).toEqual({ user: 'ada' });
    const after = cookieOf(answer);
    expect(after).not.toBe(before);
    const me = await fastify.inject({ url: '/me', headers: { cookie: after } });
    // clearSessionOnLogin (the default): what the session held before login is gone.
    expect(me.json()).toEqual({ user: 'ada', cart: null });
    const old = await fastify.inject({ url: '/me', headers: { cookie: before } });
    expect(old.json()).toEqual({ user: null, cart: null });
  });

  it('keepSessionInfo: true carries the session data over the regenerate', async () => {
    const fastify = await passportApp({}, true);
    const before = cookieOf(await fastify.inject({ method: 'POST', url: '/cart' }));
    const after = cookieOf(await login(fastify, 'right', before));
    expect(after).not.toBe(before);
    const me = await fastify.inject({ url: '/me', headers: { cookie: after } });
    expect(me.json()).toEqual({ user: 'ada', cart: ['book'] });
  });

  it('clearSessionIgnoreFields keeps the listed keys over the regenerate', async () => {
    const fastify = await passportApp({ clearSessionIgnoreFields: ['cart'] });
    const before = cookieOf(await fastify.inject({ method: 'POST', url: '/cart' }));
    const after = cookieOf(await login(fastify, 'right', before));
    expect(after).not.toBe(before);
    const me = await fastify.inject({ url: '/me', headers: { cookie: after } });
    expect(me.json()).toEqual({ user: 'ada', cart: ['book'] });
  });

  it('clearSessionOnLogin: false still regenerates, and carries nothing the session cannot give', async () => {
    const fastify = await passportApp({ clearSessionOnLogin: false });
    const before = cookieOf(await fastify.inject({ method: 'POST', url: '/cart' }));
    const after = cookieOf(await login(fastify, 'right', before));
    expect(after).not.toBe(before);
    const me = await fastify.inject({ url: '/me', headers: { cookie: after } });
    // @fastify/passport copies `session.data()`, which neither session has.
    expect(me.json()).toEqual({ user: 'ada', cart: null });
  });

  it('a wrong password is a 401 and logs nobody in', async () => {
    const fastify = await passportApp();
    const answer = await login(fastify, 'wrong');
    expect(answer.statusCode).toBe(401);
    expect(sessionCookie(answer)).toBeUndefined();
  });

  it('the user stays across requests, parallel ones included; logout forgets it', async () => {
    const fastify = await passportApp();
    const cookie = cookieOf(await login(fastify, 'right'));
    const answers = await Promise.all(
      Array.from({ length: 10 }, () => fastify.inject({ url: '/me', headers: { cookie } })),
    );
    for (const answer of answers) expect(answer.json().user).toBe('ada');

    const logout = await fastify.inject({ method: 'POST', url: '/logout', headers: { cookie } });
    expect(logout.statusCode).toBe(200);
    expect(logout.json()).toEqual({ user: null });
    expect((await fastify.inject({ url: '/me', headers: { cookie } })).json().user).toBeNull();
    const fresh = sessionCookie(logout);
    if (fresh) {
      expect(fresh).not.toBe(cookie);
      const me = await fastify.inject({ url: '/me', headers: { cookie: fresh } });
      expect(me.json().user).toBeNull();
    }
  });
});

describe.each(LIBRARIES)(
  "@fastify/csrf-protection with sessionPlugin: '@fastify/session', on %s",
  (_name, plugin) => {
    it('the token of a page is accepted with its session only', async () => {
      const fastify = await build(plugin, { saveUninitialized: false }, async (app) => {
        await app.register(fastifyCsrf, { sessionPlugin: '@fastify/session' });
        app.get('/form', async (_request, reply) => ({ token: await reply.generateCsrf() }));
        app.post('/submit', { onRequest: app.csrfProtection }, async () => ({ ok: true }));
      });
      const form = await fastify.inject({ url: '/form' });
      const cookie = cookieOf(form);
      const { token } = form.json() as { token: string };
      const post = (headers: Record<string, string>) =>
        fastify.inject({ method: 'POST', url: '/submit', headers });
      expect((await post({ cookie, 'csrf-token': token })).statusCode).toBe(200);
      expect((await post({ cookie })).statusCode).toBe(403);
      expect((await post({ cookie, 'csrf-token': `${token}x` })).statusCode).toBe(403);
      const other = cookieOf(await fastify.inject({ url: '/form' }));
      expect((await post({ cookie: other, 'csrf-token': token })).statusCode).toBe(403);
      expect((await post({ 'csrf-token': token })).statusCode).toBe(403);
    });
  },
);

describe.each(LIBRARIES)('@fastify/flash, on %s', (_name, plugin) => {
  it('a message set before a redirect is read once on the next page', async () => {
    const fastify = await build(plugin, { saveUninitialized: false }, async (app) => {
      await app.register(fastifyFlash);
      app.post('/save', async (request, reply) => {
        request.flash('info', 'saved');
        request.flash('info', 'twice');
        return reply.redirect('/list');
      });
      app.get('/list', async (_request, reply) => ({ info: reply.flash('info') }));
    });
    const saved = await fastify.inject({ method: 'POST', url: '/save' });
    expect(saved.statusCode).toBe(302);
    expect(saved.headers.location).toBe('/list');
    const cookie = cookieOf(saved);
    const list = await fastify.inject({ url: '/list', headers: { cookie } });
    expect(list.json()).toEqual({ info: ['saved', 'twice'] });
    const again = await fastify.inject({ url: '/list', headers: { cookie } });
    expect(again.json()).toEqual({ info: [] });
  });
});

describe.each(LIBRARIES)(
  'socket.io on fastify.server, the session read by fastify.decryptSession, on %s',
  (name, plugin) => {
    let io: SocketServer | undefined;
    const clients: ClientSocket[] = [];
    afterEach(async () => {
      for (const client of clients.splice(0)) client.disconnect();
      await io?.close();
      io = undefined;
    });

    async function start(): Promise<{ url: string; fastify: FastifyInstance }> {
      const fastify = await build(plugin, { saveUninitialized: false }, (app) => {
        app.post('/login', async (request) => {
          sessionOf(request).set('user', 'ada');
          return { ok: true };
        });
        app.post('/count/:n', async (request) => {
          sessionOf(request).set('count', Number((request.params as { n: string }).n));
          return { ok: true };
        });
        showRoute(app);
      });
      io = new SocketServer(fastify.server);
      // What @fastify/session's users do: parse the handshake's cookie, and
      // load the session it names onto an object of the socket's.
      io.use((socket, next) => {
        const cookies = fastify.parseCookie(socket.request.headers.cookie ?? '');
        const value = cookies.sessionId;
        if (!value) return next(new Error('no session'));
        const holder: { session?: AnySession } = {};
        fastify.decryptSession(value, holder, (err?: unknown) => {
          if (err) return next(err as Error);
          socket.data.holder = holder;
          next();
        });
      });
      io.on('connection', (socket) => {
        const holder = socket.data.holder as { session: AnySession };
        socket.emit('hello', { user: holder.session.get('user') ?? null });
        // reload, change, save per event; `holder.session` is read after the
        // reload, as @fastify/session puts a new object there.
        socket.on('incr', (ack: (value: unknown) => void) => {
          holder.session.reload().then(
            async () => {
              const session = holder.session;
              session.set('count', ((session.get('count') as number | undefined) ?? 0) + 1);
              await session.save();
              ack(session.get('count'));
            },
            (err: unknown) => ack({ error: String(err) }),
          );
        });
        // A visitor without a session: save() stores the new one; the app can
        // hand its cookie value over (to set it over HTTP, say).
        socket.on('save-new', (ack: (value: unknown) => void) => {
          const session = holder.session;
          session.set('count', 1);
          session.save().then(
            () => ack(session.encryptedSessionId),
            (err: unknown) => ack({ error: String(err) }),
          );
        });
        // The same with the session taken once, at connection (socket.io's
        // documented pattern for express-session's `socket.request.session`).
        const kept = holder.session;
        socket.on('incr-kept', (ack: (value: unknown) => void) => {
          kept.reload().then(
            async () => {
              kept.set('count', ((kept.get('count') as number | undefined) ?? 0) + 1);
              await kept.save();
              ack(kept.get('count'));
            },
            (err: unknown) => ack({ error: String(err) }),
          );
        });
      });
      const url = await fastify.listen({ port: 0, host: '127.0.0.1' });
      return { url, fastify };
    }

    function connect(url: string, cookie: string | undefined, transport: 'polling' | 'websocket') {
      const client = connectSocket(url, {
        transports: [transport],
        extraHeaders: cookie ? { cookie } : {},
        reconnection: false,
        forceNew: true,
      });
      clients.push(client);
      return client;
    }

    for (const transport of ['polling', 'websocket'] as const) {
      it(`over ${transport}: the socket sees the user logged in over HTTP, and its saves reach HTTP`, async () => {
        const { url, fastify } = await start();
        const cookie = cookieOf(await fastify.inject({ method: 'POST', url: '/login' }));
        const client = connect(url, cookie, transport);
        const hello = await new Promise((resolve) => client.once('hello', resolve));
        expect(hello).toEqual({ user: 'ada' });
        expect(await client.timeout(5000).emitWithAck('incr')).toBe(1);
        expect(await client.timeout(5000).emitWithAck('incr')).toBe(2);
        expect(await show(fastify, cookie)).toEqual({ user: 'ada', count: 2 });
      });

      it(`over ${transport}: a session reference kept from the handshake, reloaded per event`, async () => {
        const { url, fastify } = await start();
        const cookie = cookieOf(await fastify.inject({ method: 'POST', url: '/login' }));
        const client = connect(url, cookie, transport);
        await new Promise((resolve) => client.once('hello', resolve));
        expect(await client.timeout(5000).emitWithAck('incr-kept')).toBe(1);
        // The count changed over HTTP in between.
        await fastify.inject({ method: 'POST', url: '/count/10', headers: { cookie } });
        const second = await client.timeout(5000).emitWithAck('incr-kept');
        if (name === '@fastify/session') {
          // reload() put a new object on the holder: the kept one is stale,
          // and its save overwrites the HTTP change.
          expect(second).toBe(2);
          expect(await show(fastify, cookie)).toEqual({ user: 'ada', count: 2 });
        } else {
          // Deliberate difference (README): reload() refills the kept object.
          expect(second).toBe(11);
          expect(await show(fastify, cookie)).toEqual({ user: 'ada', count: 11 });
        }
      });

      it(`over ${transport}: a new visitor's session saved from the socket is the one its cookie value names`, async () => {
        const { url, fastify } = await start();
        const client = connect(url, 'sessionId=forged.signature', transport);
        await new Promise((resolve) => client.once('hello', resolve));
        const value = await client.timeout(5000).emitWithAck('save-new');
        expect(typeof value).toBe('string');
        expect(await show(fastify, `sessionId=${value as string}`)).toEqual({ count: 1 });
      });

      it(`over ${transport}: a forged cookie connects as nobody`, async () => {
        const { url } = await start();
        const client = connect(url, 'sessionId=forged.signature', transport);
        const hello = await new Promise((resolve) => client.once('hello', resolve));
        expect(hello).toEqual({ user: null });
      });
    }

    it('without a cookie the handshake is refused by the app', async () => {
      const { url } = await start();
      const client = connect(url, undefined, 'polling');
      const error = await new Promise<Error>((resolve) => client.once('connect_error', resolve));
      expect(error.message).toBe('no session');
    });
  },
);

describe.each(LIBRARIES)("the session's methods from async handlers, on %s", (name, plugin) => {
  function stepsApp() {
    return build(plugin, { saveUninitialized: false }, (app) => {
      showRoute(app);
      app.post('/start', async (request) => {
        sessionOf(request).set('user', 'ada');
        return { ok: true };
      });
      app.post('/steps', async (request) => {
        sessionOf(request).set('step', 1);
        await sessionOf(request).save();
        sessionOf(request).set('step', 2);
        sessionOf(request).set('later', true);
        await sessionOf(request).reload();
        return { step: sessionOf(request).get('step'), later: sessionOf(request).get('later') };
      });
      app.post('/kept', async (request) => {
        // A reference taken before reload(), as a queued job or a socket holds it.
        const kept = sessionOf(request);
        await kept.reload();
        kept.set('count', 7);
        return { same: kept === sessionOf(request) };
      });
    });
  }

  it('save() then a change then reload(): the saved state comes back, and is what is stored', async () => {
    const fastify = await stepsApp();
    const cookie = cookieOf(await fastify.inject({ method: 'POST', url: '/start' }));
    const steps = await fastify.inject({ method: 'POST', url: '/steps', headers: { cookie } });
    expect(steps.json()).toEqual({ step: 1 });
    expect(await show(fastify, cookie)).toEqual({ user: 'ada', step: 1 });
  });

  it('the same on a session this request created (saveUninitialized: false): the data is stored in both; only sess sends its cookie', async () => {
    const fastify = await stepsApp();
    const steps = await fastify.inject({ method: 'POST', url: '/steps' });
    expect(steps.json()).toEqual({ step: 1 });
    if (name === '@fastify/session') {
      // reload() put a new, unmodified, "unsaved" object on request.session:
      // onSend neither saves it nor sends the cookie of the session it stored.
      expect(sessionCookie(steps)).toBeUndefined();
    } else {
      // Deliberate difference (README): the session holds data and is stored,
      // so its cookie goes out, as express-session does.
      expect(await show(fastify, cookieOf(steps))).toEqual({ step: 1 });
    }
  });

  it('a reference kept over reload(): @fastify/session drops what is set on it, sess stores it', async () => {
    const fastify = await stepsApp();
    const cookie = cookieOf(await fastify.inject({ method: 'POST', url: '/start' }));
    const kept = await fastify.inject({ method: 'POST', url: '/kept', headers: { cookie } });
    if (name === '@fastify/session') {
      expect(kept.json()).toEqual({ same: false });
      expect(await show(fastify, cookie)).toEqual({ user: 'ada' });
    } else {
      // Deliberate difference (README): reload() refills the same object.
      expect(kept.json()).toEqual({ same: true });
      expect(await show(fastify, cookie)).toEqual({ user: 'ada', count: 7 });
    }
  });

  it('a handler that throws after a change: the error reply, and the change is stored', async () => {
    const fastify = await build(plugin, { saveUninitialized: false }, (app) => {
      showRoute(app);
      app.post('/fail', async (request) => {
        sessionOf(request).set('user', 'ada');
        throw new Error('boom');
      });
    });
    const fail = await fastify.inject({ method: 'POST', url: '/fail' });
    expect(fail.statusCode).toBe(500);
    expect(fail.json().message).toBe('boom');
    expect(await show(fastify, cookieOf(fail))).toEqual({ user: 'ada' });
  });

  it('destroy(): the reply sets no cookie, and the old cookie finds nothing', async () => {
    const fastify = await build(plugin, {}, (app) => {
      showRoute(app);
      app.post('/login', async (request) => {
        sessionOf(request).set('user', 'ada');
        return { ok: true };
      });
      app.post('/logout', async (request) => {
        await sessionOf(request).destroy();
        return { ok: true };
      });
    });
    const cookie = cookieOf(await fastify.inject({ method: 'POST', url: '/login' }));
    const logout = await fastify.inject({ method: 'POST', url: '/logout', headers: { cookie } });
    expect(logout.statusCode).toBe(200);
    expect(sessionCookie(logout)).toBeUndefined();
    expect(await show(fastify, cookie)).toEqual({});
  });

  it('regenerate([keep]) after a wait: a new id with the kept key, the old id is gone', async () => {
    const fastify = await build(plugin, {}, (app) => {
      showRoute(app);
      app.post('/start', async (request) => {
        sessionOf(request).set('step', 1);
        sessionOf(request).set('count', 5);
        return { ok: true };
      });
      app.post('/login', async (request) => {
        await new Promise((r) => setTimeout(r, 5));
        await sessionOf(request).regenerate(['count']);
        sessionOf(request).set('user', 'ada');
        return { id: sessionOf(request).sessionId };
      });
    });
    const before = cookieOf(await fastify.inject({ method: 'POST', url: '/start' }));
    const login = await fastify.inject({
      method: 'POST',
      url: '/login',
      headers: { cookie: before },
    });
    const after = cookieOf(login);
    expect(after).not.toBe(before);
    expect(after.startsWith(`sessionId=${login.json().id}.`)).toBe(true);
    expect(await show(fastify, after)).toEqual({ count: 5, user: 'ada' });
    expect(await show(fastify, before)).toEqual({});
  });
});

describe.each(LIBRARIES)("other plugins' hooks using the session, on %s", (_name, plugin) => {
  it('an onSend hook registered before the session plugin: its change is saved with the reply', async () => {
    const fastify = await build(
      plugin,
      { saveUninitialized: false },
      (app) => {
        showRoute(app);
        app.post('/go', async () => ({ ok: true }));
      },
      async (app) => {
        app.addHook('onSend', async (request, _reply, payload) => {
          if (request.method === 'POST') sessionOf(request).set('early', 'yes');
          return payload;
        });
      },
    );
    const go = await fastify.inject({ method: 'POST', url: '/go' });
    expect(await show(fastify, cookieOf(go))).toEqual({ early: 'yes' });
  });

  it('regenerate() in an onSend hook that runs before the plugin: the new id is sent and stored', async () => {
    const fastify = await build(
      plugin,
      { saveUninitialized: false },
      (app) => {
        showRoute(app);
        app.post('/start', async (request) => {
          sessionOf(request).set('user', 'ada');
          return { ok: true };
        });
        app.post('/elevate', async () => ({ ok: true }));
      },
      async (app) => {
        app.addHook('onSend', async (request, _reply, payload) => {
          if (request.url !== '/elevate') return payload;
          await sessionOf(request).regenerate(['user']);
          sessionOf(request).set('step', 'admin');
          return payload;
        });
      },
    );
    const before = cookieOf(await fastify.inject({ method: 'POST', url: '/start' }));
    const elevate = await fastify.inject({
      method: 'POST',
      url: '/elevate',
      headers: { cookie: before },
    });
    const after = cookieOf(elevate);
    expect(after).not.toBe(before);
    expect(await show(fastify, after)).toEqual({ user: 'ada', step: 'admin' });
    expect(await show(fastify, before)).toEqual({});
  });

  it('regenerate() in an onResponse hook: the old session is gone, the reply kept its cookie', async () => {
    let hookError: unknown;
    let rotated: string | undefined;
    const fastify = await build(plugin, { saveUninitialized: false }, async (app) => {
      showRoute(app);
      await app.register(
        fp(async (child) => {
          child.addHook('onResponse', async (request) => {
            if (request.url !== '/rotate') return;
            try {
              await sessionOf(request).regenerate();
              rotated = sessionOf(request).sessionId;
            } catch (error) {
              hookError = error;
            }
          });
        }),
      );
      app.post('/rotate', async (request) => {
        sessionOf(request).set('user', 'ada');
        return { id: sessionOf(request).sessionId };
      });
    });
    const rotate = await fastify.inject({ method: 'POST', url: '/rotate' });
    const cookie = cookieOf(rotate);
    for (let i = 0; i < 50 && rotated === undefined && hookError === undefined; i++) {
      await new Promise((r) => setTimeout(r, 10));
    }
    expect(hookError).toBeUndefined();
    expect(rotated).not.toBe(rotate.json().id);
    // The response went out with the old id, which the hook then destroyed.
    expect(await show(fastify, cookie)).toEqual({});
  });

  it("reload() and regenerate() in another plugin's preHandler hook", async () => {
    const fastify = await build(plugin, { saveUninitialized: false }, async (app) => {
      showRoute(app);
      await app.register(
        fp(async (child) => {
          child.addHook('preHandler', async (request) => {
            if (request.url === '/fresh') {
              sessionOf(request).set('later', true);
              await sessionOf(request).reload();
            } else if (request.url === '/rotate') {
              await sessionOf(request).regenerate(['user']);
            }
          });
        }),
      );
      app.post('/start', async (request) => {
        sessionOf(request).set('user', 'ada');
        return { ok: true };
      });
      app.post('/fresh', async (request) => ({ later: sessionOf(request).get('later') ?? null }));
      app.post('/rotate', async (request) => {
        sessionOf(request).set('step', 2);
        return { ok: true };
      });
    });
    const cookie = cookieOf(await fastify.inject({ method: 'POST', url: '/start' }));
    const fresh = await fastify.inject({ method: 'POST', url: '/fresh', headers: { cookie } });
    expect(fresh.json()).toEqual({ later: null });
    expect(await show(fastify, cookie)).toEqual({ user: 'ada' });
    const rotate = await fastify.inject({ method: 'POST', url: '/rotate', headers: { cookie } });
    const rotated = cookieOf(rotate);
    expect(rotated).not.toBe(cookie);
    expect(await show(fastify, rotated)).toEqual({ user: 'ada', step: 2 });
    expect(await show(fastify, cookie)).toEqual({});
  });

  it('an onSend hook after the session plugin: save() stores its change', async () => {
    const fastify = await build(plugin, { saveUninitialized: true }, async (app) => {
      showRoute(app);
      await app.register(
        fp(async (child) => {
          child.addHook('onSend', async (request, _reply, payload) => {
            if (request.method !== 'POST') return payload;
            sessionOf(request).set('hook', 'onSend');
            await sessionOf(request).save();
            return payload;
          });
        }),
      );
      app.post('/go', async () => ({ ok: true }));
    });
    const go = await fastify.inject({ method: 'POST', url: '/go' });
    expect(go.statusCode).toBe(200);
    expect(await show(fastify, cookieOf(go))).toEqual({ hook: 'onSend' });
  });

  it('an onResponse hook: save() stores a change, destroy() removes the session', async () => {
    let hookError: unknown;
    const fastify = await build(plugin, { saveUninitialized: true }, async (app) => {
      showRoute(app);
      await app.register(
        fp(async (child) => {
          child.addHook('onResponse', async (request) => {
            try {
              if (request.url === '/audit') {
                sessionOf(request).set('hook', 'onResponse');
                await sessionOf(request).save();
              } else if (request.url === '/forget') {
                await sessionOf(request).destroy();
              }
            } catch (error) {
              hookError = error;
            }
          });
        }),
      );
      app.post('/audit', async () => ({ ok: true }));
      app.post('/forget', async (request) => {
        sessionOf(request).set('user', 'ada');
        return { ok: true };
      });
    });
    const audit = await fastify.inject({ method: 'POST', url: '/audit' });
    const cookie = cookieOf(audit);
    // onResponse runs after the reply went out: wait for the hook's save.
    for (let i = 0; i < 50; i++) {
      if ((await show(fastify, cookie)).hook === 'onResponse') break;
      await new Promise((r) => setTimeout(r, 10));
    }
    expect(hookError).toBeUndefined();
    expect(await show(fastify, cookie)).toEqual({ hook: 'onResponse' });

    const forget = await fastify.inject({ method: 'POST', url: '/forget', headers: { cookie } });
    expect(forget.statusCode).toBe(200);
    for (let i = 0; i < 50; i++) {
      if (Object.keys(await show(fastify, cookie)).length === 0) break;
      await new Promise((r) => setTimeout(r, 10));
    }
    expect(hookError).toBeUndefined();
    expect(await show(fastify, cookie)).toEqual({});
  });
});

describe.each(LIBRARIES)('cookie lifetime and error paths, on %s', (_name, plugin) => {
  it('"remember me": cookie.maxAge set in a handler reaches the Set-Cookie and later requests', async () => {
    const fastify = await build(plugin, { saveUninitialized: false, rolling: false }, (app) => {
      showRoute(app);
      app.post('/login', async (request) => {
        const session = sessionOf(request);
        session.set('user', 'ada');
        (session.cookie as { maxAge: number }).maxAge = 7 * 24 * 3600 * 1000;
        return { ok: true };
      });
    });
    const login = await fastify.inject({ method: 'POST', url: '/login' });
    const line = sessionSetCookie(login) as string;
    const expires = Date.parse(/Expires=([^;]+)/i.exec(line)?.[1] ?? '');
    const week = Date.now() + 7 * 24 * 3600 * 1000;
    expect(Math.abs(expires - week)).toBeLessThan(5_000);
    const cookie = cookieOf(login);
    expect(await show(fastify, cookie)).toEqual({ user: 'ada' });
    // rolling: false, unchanged: no cookie again.
    const again = await fastify.inject({ url: '/show', headers: { cookie } });
    expect(sessionCookie(again)).toBeUndefined();
  });

  it('setErrorHandler changing the session: the error reply, and the change stored', async () => {
    const fastify = await build(plugin, { saveUninitialized: false }, (app) => {
      showRoute(app);
      app.setErrorHandler(async (error: Error, request, reply) => {
        sessionOf(request).set('step', error.message);
        return reply.status(418).send({ failed: error.message });
      });
      app.post('/fail', async () => {
        throw new Error('boom');
      });
    });
    const fail = await fastify.inject({ method: 'POST', url: '/fail' });
    expect(fail.statusCode).toBe(418);
    expect(fail.json()).toEqual({ failed: 'boom' });
    expect(await show(fastify, cookieOf(fail))).toEqual({ step: 'boom' });
  });

  it('a 404 from the not-found handler keeps and counts the session', async () => {
    const fastify = await build(plugin, { saveUninitialized: false }, (app) => {
      showRoute(app);
      app.setNotFoundHandler(async (request, reply) => {
        const misses = ((sessionOf(request).get('count') as number | undefined) ?? 0) + 1;
        sessionOf(request).set('count', misses);
        return reply.status(404).send({ misses });
      });
    });
    const first = await fastify.inject({ url: '/nowhere' });
    expect(first.statusCode).toBe(404);
    const cookie = cookieOf(first);
    const second = await fastify.inject({ url: '/elsewhere', headers: { cookie } });
    expect(second.json()).toEqual({ misses: 2 });
    expect(await show(fastify, cookie)).toEqual({ count: 2 });
  });
});

describe.each(LIBRARIES)('a session object used after its destroy(), on %s', (name, plugin) => {
  it('save() on the old reference: @fastify/session writes it back, sess keeps it destroyed', async () => {
    let saveError: unknown = 'not reached';
    const fastify = await build(plugin, {}, (app) => {
      showRoute(app);
      app.post('/login', async (request) => {
        sessionOf(request).set('user', 'ada');
        return { ok: true };
      });
      app.post('/logout', async (request) => {
        const old = sessionOf(request);
        await old.destroy();
        try {
          await old.save();
          saveError = undefined;
        } catch (error) {
          saveError = error;
        }
        return { session: sessionOf(request) ?? null };
      });
    });
    const cookie = cookieOf(await fastify.inject({ method: 'POST', url: '/login' }));
    const logout = await fastify.inject({ method: 'POST', url: '/logout', headers: { cookie } });
    expect(logout.json()).toEqual({ session: null });
    expect(saveError).toBeUndefined();
    expect(sessionCookie(logout)).toBeUndefined();
    if (name === '@fastify/session') {
      expect(await show(fastify, cookie)).toEqual({ user: 'ada' });
    } else {
      // Deliberate difference (README): a destroyed session is never recreated.
      expect(await show(fastify, cookie)).toEqual({});
    }
  });
});

describe.each(LIBRARIES)('replies that are not a plain send, on %s', (_name, plugin) => {
  it('reply.hijack(): no cookie of the plugin; a session saved by hand is kept', async () => {
    const fastify = await build(plugin, { saveUninitialized: false }, (app) => {
      showRoute(app);
      app.post('/raw', async (request, reply) => {
        sessionOf(request).set('user', 'ada');
        if (request.query && (request.query as { save?: string }).save) {
          await sessionOf(request).save();
        }
        reply.hijack();
        const value = sessionOf(request).encryptedSessionId;
        reply.raw.writeHead(200, {
          'content-type': 'text/plain',
          'x-session': `sessionId=${value}`,
        });
        reply.raw.end('raw');
      });
    });
    const unsaved = await fastify.inject({ method: 'POST', url: '/raw' });
    expect(unsaved.body).toBe('raw');
    expect(sessionSetCookie(unsaved)).toBeUndefined();
    expect(await show(fastify, unsaved.headers['x-session'] as string)).toEqual({});

    const saved = await fastify.inject({ method: 'POST', url: '/raw?save=1' });
    expect(saved.body).toBe('raw');
    expect(sessionSetCookie(saved)).toBeUndefined();
    expect(await show(fastify, saved.headers['x-session'] as string)).toEqual({ user: 'ada' });
  });

  it('reply.redirect after a session change: the redirect, the cookie, the change stored', async () => {
    const fastify = await build(plugin, { saveUninitialized: false }, (app) => {
      showRoute(app);
      app.post('/login', async (request, reply) => {
        sessionOf(request).set('user', 'ada');
        return reply.redirect('/show', 303);
      });
    });
    const login = await fastify.inject({ method: 'POST', url: '/login' });
    expect(login.statusCode).toBe(303);
    expect(login.headers.location).toBe('/show');
    expect(await show(fastify, cookieOf(login))).toEqual({ user: 'ada' });
  });

  it('reply.send(stream) after a session change: the file, the cookie, the change stored', async () => {
    const file = fileURLToPath(import.meta.url);
    const fastify = await build(plugin, { saveUninitialized: false }, (app) => {
      showRoute(app);
      app.get('/file', async (request, reply) => {
        sessionOf(request).set('count', 1);
        return reply.type('text/plain').send(createReadStream(file));
      });
    });
    const answer = await fastify.inject({ url: '/file' });
    expect(answer.statusCode).toBe(200);
    expect(answer.body).toBe(await readFile(file, 'utf8'));
    expect(await show(fastify, cookieOf(answer))).toEqual({ count: 1 });
  });

  it('@fastify/compress registered first: a gzip body, the cookie, the change stored', async () => {
    const fastify = await build(
      plugin,
      { saveUninitialized: false },
      (app) => {
        showRoute(app);
        app.get('/big', async (request, reply) => {
          sessionOf(request).set('user', 'ada');
          return reply.type('text/plain').send('x'.repeat(20_000));
        });
      },
      async (app) => {
        await app.register(fastifyCompress, { threshold: 0 });
      },
    );
    const big = await fastify.inject({ url: '/big', headers: { 'accept-encoding': 'gzip' } });
    expect(big.statusCode).toBe(200);
    expect(big.headers['content-encoding']).toBe('gzip');
    expect(gunzipSync(big.rawPayload).toString()).toBe('x'.repeat(20_000));
    expect(await show(fastify, cookieOf(big))).toEqual({ user: 'ada' });
  });
});
