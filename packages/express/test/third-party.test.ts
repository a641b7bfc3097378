// Real third-party code that apps put on top of express-session, run once on
// express-session itself and once on @sess/express, with the same app and the
// same assertions: passport (login regenerates, logout saves then regenerates),
// connect-flash, the session-backed CSRF libraries csrf-sync and lusca, and
// socket.io sharing the session middleware through `io.engine.use` (its
// documented pattern), over HTTP long-polling and over a WebSocket upgrade.
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import compression from 'compression';
import flash from 'connect-flash';
import { csrfSync } from 'csrf-sync';
import csurf from 'csurf';
import express from 'express';
import expressSession from 'express-session';
import lusca from 'lusca';
import morgan from 'morgan';
import passport from 'passport';
import { Strategy as LocalStrategy } from 'passport-local';
import { Server as SocketServer } from 'socket.io';
import { type Socket as ClientSocket, io as connectSocket } from 'socket.io-client';
import request from 'supertest';
import { afterEach, describe, expect, it } from 'vitest';
import { session } from '../src/index.js';
import { idOf, LIBRARIES, type LibraryOptions, pair, SECRET, setCookie } from './helpers.js';

declare module '@sess/core' {
  interface SessionData {
    cart: string[];
    count: number;
    user: string;
  }
}

type Middleware = express.RequestHandler;
type Options = LibraryOptions;

/**
 * The error handler each app ends with: the error's message as JSON, with
 * the status the library chose (on the error, as http-errors sets it, or,
 * as lusca does, on the response), else 500.
 */
function jsonErrors(
  err: Error & { status?: number; code?: string },
  _req: express.Request,
  res: express.Response,
  _next: express.NextFunction,
): void {
  const status =
    err.status ??
    (err.code === 'EBADCSRFTOKEN' ? 403 : res.statusCode >= 400 ? res.statusCode : 500);
  res.status(status).json({ error: err.message });
}

interface User {
  id: string;
}

/** One passport instance per app, so the two libraries never share strategies. */
function passportApp(library: (o: Options) => Middleware, keepSessionInfo: boolean) {
  const auth = new passport.Passport();
  auth.use(
    new LocalStrategy((username, password, done) => {
      if (password === 'right') done(null, { id: username });
      else done(null, false);
    }),
  );
  auth.serializeUser((user, done) => done(null, (user as User).id));
  auth.deserializeUser((id: string, done) => done(null, { id }));

  const app = express();
  app.use(express.urlencoded({ extended: false }));
  app.use(library({ resave: false, saveUninitialized: false }));
  app.use(auth.session());
  app.get('/me', (req, res) => {
    res.json({ user: (req.user as User | undefined)?.id ?? null, cart: req.session.cart ?? null });
  });
  app.post('/cart', (req, res) => {
    req.session.cart = ['book'];
    res.json({ ok: true });
  });
  app.post(
    '/login',
    auth.authenticate('local', { failureRedirect: '/login?failed', keepSessionInfo }),
    (req, res) => {
      res.json({ user: (req.user as User).id });
    },
  );
  app.post('/logout', (req, res, next) => {
    req.logout((err) => {
      if (err) return next(err);
      res.json({ user: (req.user as User | undefined)?.id ?? null });
    });
  });
  app.use(jsonErrors);
  return app;
}

describe.each(LIBRARIES)('passport 0.7 with passport-local, on %s', (_name, library) => {
  it('login regenerates the session: a new id, the old cookie is no one, the user is known', async () => {
    const app = passportApp(library, false);
    const cart = await request(app).post('/cart');
    const before = setCookie(cart.headers);
    expect(before).toBeDefined();

    const login = await request(app)
      .post('/login')
      .set('Cookie', pair(before))
      .type('form')
      .send({ username: 'ada', password: 'right' });
    expect(login.status).toBe(200);
    expect(login.body).toEqual({ user: 'ada' });
    const after = setCookie(login.headers);
    expect(idOf(after)).not.toBe(idOf(before));

    const me = await request(app).get('/me').set('Cookie', pair(after));
    // keepSessionInfo: false, passport's default: what the session held before login is gone.
    expect(me.body).toEqual({ user: 'ada', cart: null });
    const old = await request(app).get('/me').set('Cookie', pair(before));
    expect(old.body).toEqual({ user: null, cart: null });
  });

  it('keepSessionInfo: true carries the session data over the regenerate', async () => {
    const app = passportApp(library, true);
    const before = setCookie((await request(app).post('/cart')).headers);
    const login = await request(app)
      .post('/login')
      .set('Cookie', pair(before))
      .type('form')
      .send({ username: 'ada', password: 'right' });
    const after = setCookie(login.headers);
    expect(idOf(after)).not.toBe(idOf(before));
    const me = await request(app).get('/me').set('Cookie', pair(after));
    expect(me.body).toEqual({ user: 'ada', cart: ['book'] });
  });

  it('a wrong password redirects and logs nobody in', async () => {
    const app = passportApp(library, false);
    const login = await request(app)
      .post('/login')
      .type('form')
      .send({ username: 'ada', password: 'wrong' });
    expect(login.status).toBe(302);
    expect(login.headers.location).toBe('/login?failed');
  });

  it('logout saves, then regenerates: neither the old nor the new cookie is logged in', async () => {
    const app = passportApp(library, false);
    const login = await request(app)
      .post('/login')
      .type('form')
      .send({ username: 'ada', password: 'right' });
    const loggedIn = setCookie(login.headers);
    expect((await request(app).get('/me').set('Cookie', pair(loggedIn))).body.user).toBe('ada');

    const logout = await request(app).post('/logout').set('Cookie', pair(loggedIn));
    expect(logout.status).toBe(200);
    expect(logout.body).toEqual({ user: null });
    expect((await request(app).get('/me').set('Cookie', pair(loggedIn))).body.user).toBeNull();
    const fresh = setCookie(logout.headers);
    if (fresh) {
      expect(idOf(fresh)).not.toBe(idOf(loggedIn));
      expect((await request(app).get('/me').set('Cookie', pair(fresh))).body.user).toBeNull();
    }
  });

  it('parallel requests of a logged-in user all see the user', async () => {
    const app = passportApp(library, false);
    const login = await request(app)
      .post('/login')
      .type('form')
      .send({ username: 'ada', password: 'right' });
    const cookie = pair(setCookie(login.headers));
    const answers = await Promise.all(
      Array.from({ length: 10 }, () => request(app).get('/me').set('Cookie', cookie)),
    );
    for (const answer of answers) expect(answer.body.user).toBe('ada');
  });
});

describe.each(LIBRARIES)('connect-flash, on %s', (_name, library) => {
  it('a message set before a redirect is read once on the next page', async () => {
    const app = express();
    app.use(library({ resave: false, saveUninitialized: false }));
    app.use(flash());
    app.post('/save', (req, res) => {
      req.flash('info', 'saved');
      res.redirect('/list');
    });
    app.get('/list', (req, res) => {
      res.json({ info: req.flash('info') });
    });
    const agent = request.agent(app);
    const saved = await agent.post('/save');
    expect(saved.status).toBe(302);
    expect((await agent.get('/list')).body).toEqual({ info: ['saved'] });
    expect((await agent.get('/list')).body).toEqual({ info: [] });
  });
});

describe.each(LIBRARIES)(
  'csrf-sync (synchroniser token in the session), on %s',
  (_name, library) => {
    function app() {
      const { generateToken, csrfSynchronisedProtection } = csrfSync();
      const server = express();
      server.use(express.json());
      server.use(library({ resave: false, saveUninitialized: false }));
      server.get('/form', (req, res) => {
        res.json({ token: generateToken(req) });
      });
      server.post('/transfer', csrfSynchronisedProtection, (_req, res) => {
        res.json({ ok: true });
      });
      server.use(jsonErrors);
      return server;
    }

    it('the token issued in one request is accepted in the next; none or another is refused', async () => {
      const agent = request.agent(app());
      const form = await agent.get('/form');
      const token = form.body.token as string;
      expect(token).toMatch(/^[0-9a-f]{20,}$/);
      expect((await agent.post('/transfer').set('x-csrf-token', token)).status).toBe(200);
      expect((await agent.post('/transfer')).status).toBe(403);
      expect((await agent.post('/transfer').set('x-csrf-token', `${token}0`)).status).toBe(403);
      // Another visitor's session does not hold this token.
      expect((await request(app()).post('/transfer').set('x-csrf-token', token)).status).toBe(403);
    });
  },
);

describe.each(LIBRARIES)(
  'csurf (its secret in the session, no cookie option), on %s',
  (_name, library) => {
    it('the token of a page is accepted once the session holds its secret; others are refused', async () => {
      const server = express();
      server.use(express.urlencoded({ extended: false }));
      server.use(library({ resave: false, saveUninitialized: false }));
      server.use(csurf());
      server.get('/form', (req, res) => {
        res.json({ token: (req.csrfToken as () => string)() });
      });
      server.post('/comment', (_req, res) => {
        res.json({ ok: true });
      });
      server.use(jsonErrors);
      const agent = request.agent(server);
      const form = await agent.get('/form');
      expect(setCookie(form.headers)).toBeDefined();
      const token = form.body.token as string;
      expect((await agent.post('/comment').type('form').send({ _csrf: token })).status).toBe(200);
      // A second page's token works too (same secret, new salt).
      const again = (await agent.get('/form')).body.token as string;
      expect(again).not.toBe(token);
      expect((await agent.post('/comment').set('csrf-token', again)).status).toBe(200);
      expect((await agent.post('/comment').type('form').send({ _csrf: 'forged' })).status).toBe(
        403,
      );
      expect((await request(server).post('/comment').set('csrf-token', token)).status).toBe(403);
    });
  },
);

describe.each(LIBRARIES)('lusca.csrf (its secret in the session), on %s', (_name, library) => {
  it('a page issues a token that the next POST must carry', async () => {
    const server = express();
    server.use(express.urlencoded({ extended: false }));
    server.use(library({ resave: false, saveUninitialized: true }));
    server.use(lusca.csrf());
    server.get('/form', (_req, res) => {
      res.json({ token: res.locals._csrf });
    });
    server.post('/comment', (_req, res) => {
      res.json({ ok: true });
    });
    server.use(jsonErrors);
    const agent = request.agent(server);
    const token = (await agent.get('/form')).body.token as string;
    expect(typeof token).toBe('string');
    expect((await agent.post('/comment').type('form').send({ _csrf: token })).status).toBe(200);
    expect((await agent.post('/comment').type('form').send({ _csrf: 'forged' })).status).toBe(403);
    expect((await agent.post('/comment')).status).toBe(403);
  });
});

describe.each(LIBRARIES)(
  'socket.io with io.engine.use(session middleware), on %s',
  (name, library) => {
    let http: HttpServer | undefined;
    let io: SocketServer | undefined;
    const clients: ClientSocket[] = [];

    afterEach(async () => {
      for (const client of clients.splice(0)) client.disconnect();
      await io?.close();
      if (http?.listening) await new Promise((r) => http?.close(r));
      http = undefined;
      io = undefined;
    });

    async function start(options: Options) {
      const middleware = library(options);
      const app = express();
      app.use(middleware);
      app.post('/login', (req, res) => {
        req.session.user = 'ada';
        res.json({ ok: true });
      });
      app.get('/count', (req, res) => {
        res.json({ count: req.session.count ?? 0, user: req.session.user ?? null });
      });
      http = createServer(app);
      io = new SocketServer(http);
      io.engine.use(middleware);
      io.on('connection', (socket) => {
        const current = (socket.request as express.Request).session;
        socket.emit('hello', { user: current?.user ?? null, id: current?.id ?? null });
        // The pattern socket.io documents: reload, change, save, per event.
        socket.on('incr', (ack: (value: unknown) => void) => {
          current.reload((err?: unknown) => {
            if (err) return ack({ error: String(err) });
            current.count = (current.count ?? 0) + 1;
            current.save((saveErr?: unknown) =>
              ack(saveErr ? { error: String(saveErr) } : current.count),
            );
          });
        });
      });
      http.listen(0, '127.0.0.1');
      await once(http, 'listening');
      return `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
    }

    /** The server's first message to a socket. */
    function greeting<T>(client: ClientSocket): Promise<T> {
      return new Promise((resolve) => client.once('hello', resolve));
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

    /** socket.io's documented Passport setup: both middlewares on the handshake only. */
    async function startWithPassport() {
      const auth = new passport.Passport();
      auth.use(new LocalStrategy((username, _password, done) => done(null, { id: username })));
      auth.serializeUser((user, done) => done(null, (user as User).id));
      auth.deserializeUser((id: string, done) => done(null, { id }));
      const middleware = library({ resave: false, saveUninitialized: false });
      const app = express();
      app.use(express.urlencoded({ extended: false }));
      app.use(middleware);
      app.use(auth.session());
      app.post('/login', auth.authenticate('local'), (_req, res) => {
        res.json({ ok: true });
      });
      http = createServer(app);
      io = new SocketServer(http);
      const onlyForHandshake =
        (handler: Middleware) =>
        (
          req: express.Request & { _query?: { sid?: string } },
          res: express.Response,
          next: (err?: unknown) => void,
        ) => {
          if (req._query?.sid === undefined) handler(req, res, next);
          else next();
        };
      io.engine.use(onlyForHandshake(middleware));
      io.engine.use(onlyForHandshake(auth.session()));
      io.on('connection', (socket) => {
        const user = (socket.request as express.Request).user as User | undefined;
        socket.emit('hello', { user: user?.id ?? null });
      });
      http.listen(0, '127.0.0.1');
      await once(http, 'listening');
      return `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
    }

    for (const transport of ['polling', 'websocket'] as const) {
      it(`over ${transport}: passport's user reaches the socket (socket.io's Passport example)`, async () => {
        const url = await startWithPassport();
        const login = await request(url)
          .post('/login')
          .type('form')
          .send({ username: 'ada', password: 'x' });
        expect(login.status).toBe(200);
        const cookie = pair(setCookie(login.headers));
        const client = connect(url, cookie, transport);
        expect(await greeting<{ user: string | null }>(client)).toEqual({ user: 'ada' });
        const anonymous = connect(url, undefined, transport);
        expect(await greeting<{ user: string | null }>(anonymous)).toEqual({ user: null });
      });

      it(`over ${transport}: the socket sees the session logged in over HTTP, and its saves reach HTTP`, async () => {
        const url = await start({ resave: false, saveUninitialized: false });
        const login = await request(url).post('/login');
        const cookie = pair(setCookie(login.headers));
        const client = connect(url, cookie, transport);
        const hello = await greeting<{ user: string; id: string }>(client);
        expect(hello).toEqual({ user: 'ada', id: idOf(setCookie(login.headers)) });
        expect(await client.timeout(5000).emitWithAck('incr')).toBe(1);
        expect(await client.timeout(5000).emitWithAck('incr')).toBe(2);
        const count = await request(url).get('/count').set('Cookie', cookie);
        expect(count.body).toEqual({ count: 2, user: 'ada' });
      });

      it(`over ${transport}: a visitor without a cookie connects (saveUninitialized: true, resave: true, as socket.io's example)`, async () => {
        const url = await start({ resave: true, saveUninitialized: true });
        const client = connect(url, undefined, transport);
        const hello = await greeting<{ user: string | null; id: string }>(client);
        expect(hello.user).toBeNull();
        expect(typeof hello.id).toBe('string');
        const answer = await client.timeout(5000).emitWithAck('incr');
        if (transport === 'polling') {
          // The handshake's response ended: the new session was saved then.
          expect(answer).toBe(1);
        } else {
          // An upgrade request never ends as a response, so its new session is
          // never saved at the end of it: reload finds nothing, in both libraries.
          expect(answer).toEqual({ error: expect.stringContaining('failed to load session') });
        }
      });

      it(`over ${transport}: a forged cookie connects as a new visitor`, async () => {
        const url = await start({ resave: false, saveUninitialized: false });
        const client = connect(url, 'connect.sid=s%3Aforged.signature', transport);
        const hello = await greeting<{ user: string | null }>(client);
        expect(hello.user).toBeNull();
      });
    }

    it('the store failing at the end of the polling handshake: express-session connects, sess refuses; both processes live', async () => {
      /** An express-session store whose writes fail. */
      class WriteFailing extends expressSession.Store {
        override get(_id: string, callback: (err: unknown, session?: null) => void): void {
          callback(null, null);
        }
        override set(_id: string, _session: unknown, callback?: (err?: unknown) => void): void {
          callback?.(new Error('the store is down'));
        }
        override destroy(_id: string, callback?: (err?: unknown) => void): void {
          callback?.();
        }
      }
      const middleware = library({
        resave: true,
        saveUninitialized: true,
        store: new WriteFailing(),
      });
      http = createServer(express().use(middleware));
      io = new SocketServer(http);
      io.engine.use(middleware);
      io.on('connection', (socket) => socket.emit('hello', { ok: true }));
      http.listen(0, '127.0.0.1');
      await once(http, 'listening');
      const url = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
      const client = connect(url, undefined, 'polling');
      const outcome = await Promise.race([
        greeting<{ ok: boolean }>(client),
        new Promise<{ error: string }>((resolve) =>
          client.once('connect_error', (err) => resolve({ error: err.message })),
        ),
      ]);
      if (name === 'express-session') {
        // It sends the handshake's response anyway and passes the error to a
        // `next` that engine.io has already settled: nobody sees it.
        expect(outcome).toEqual({ ok: true });
      } else {
        // README, difference 18: a write that failed replaces the response; with no
        // error handler behind engine.io's middleware, the handshake's connection is
        // closed and the client reports a transport error.
        expect(outcome).toEqual({ error: 'xhr poll error' });
      }
    });
  },
);

describe.each(LIBRARIES)('middleware around the response, on %s', (_name, library) => {
  it('compression before the session: a gzip body, the cookie, the session stored', async () => {
    const app = express();
    app.use(compression({ threshold: 0 }));
    app.use(library({ resave: false, saveUninitialized: false }));
    app.get('/big', (req, res) => {
      req.session.user = 'ada';
      res.type('text').send('x'.repeat(20_000));
    });
    app.get('/me', (req, res) => {
      res.json({ user: req.session.user ?? null });
    });
    const big = await request(app).get('/big').set('Accept-Encoding', 'gzip');
    expect(big.status).toBe(200);
    expect(big.headers['content-encoding']).toBe('gzip');
    expect(big.text).toBe('x'.repeat(20_000));
    const cookie = pair(setCookie(big.headers));
    expect((await request(app).get('/me').set('Cookie', cookie)).body).toEqual({ user: 'ada' });
  });

  it("morgan logs the session's user and id once the response has finished", async () => {
    const lines: string[] = [];
    const app = express();
    app.use(library({ resave: false, saveUninitialized: false }));
    morgan.token('user', (req) => (req as express.Request).session?.user ?? '-');
    morgan.token('sid', (req) => (req as express.Request).sessionID ?? '-');
    app.use(
      morgan(':method :url :status :user :sid', {
        stream: { write: (line: string) => void lines.push(line.trim()) },
      }),
    );
    app.post('/login', (req, res) => {
      req.session.user = 'ada';
      res.json({ ok: true });
    });
    const login = await request(app).post('/login');
    const id = idOf(setCookie(login.headers));
    for (let i = 0; i < 50 && lines.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect(lines).toEqual([`POST /login 200 ada ${id}`]);
  });

  it('a file sent with res.sendFile after a session change: the file, and the change stored', async () => {
    const app = express();
    app.use(library({ resave: false, saveUninitialized: false }));
    app.get('/file', (req, res, next) => {
      req.session.count = 1;
      res.type('text/plain');
      res.sendFile(fileURLToPath(import.meta.url), (err) => {
        if (err) next(err);
      });
    });
    app.get('/count', (req, res) => {
      res.json({ count: req.session.count ?? 0 });
    });
    const file = await request(app).get('/file');
    expect(file.status).toBe(200);
    expect(file.text).toBe(await readFile(fileURLToPath(import.meta.url), 'utf8'));
    const cookie = pair(setCookie(file.headers));
    expect((await request(app).get('/count').set('Cookie', cookie)).body).toEqual({ count: 1 });
  });
});
