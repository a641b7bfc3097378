// Apps shaped like the ones people start from, each run once on express-session
// and once on @sess/express, on Express 5, 4 and 4.16.0, with the same assertions:
// - what Express's `auth` example does: a login form, regenerate at login, a
//   restricted page, logout by destroy, a one-time message kept in the session;
// - what Express's `session` example does: a view counter, with the default
//   memory store and with connect-redis on the real Redis;
// - a controller written the NestJS way (without Nest): async methods that
//   take the session, wrap the callback methods in promises as Nest's docs do,
//   and return what the framework answers with (201 for a POST).
import { scryptSync, timingSafeEqual } from 'node:crypto';
import { resolveService } from '@sess/store-conformance/services';
import { RedisStore } from 'connect-redis';
import type express from 'express';
import expressSession from 'express-session';
import { createClient } from 'redis';
import request from 'supertest';
import { afterAll, describe, expect, it } from 'vitest';
import { session } from '../src/index.js';
import {
  EXPRESS,
  type ExpressFactory,
  idOf,
  LIBRARIES,
  type LibraryOptions,
  pair,
  SECRET,
  setCookie,
} from './helpers.js';

type Middleware = express.RequestHandler;
type Options = LibraryOptions;

/** Each library on each Express the peer range covers (5, 4, and 4.16.0, the oldest). */
const CASES = LIBRARIES.flatMap(([name, library]) =>
  EXPRESS.map(([label, framework]) => [`${name}, ${label}`, name, library, framework] as const),
);

/** The session with free-form keys, as these example apps use it. */
type Bag = Record<string, unknown> & express.Request['session'];
const bag = (req: express.Request) => req.session as Bag;

// --- the `auth` example's shape ----------------------------------------------

const SALT = 'example-salt';
const USERS: Record<string, { name: string; hash: Buffer }> = {
  ada: { name: 'ada', hash: scryptSync('lovelace', SALT, 32) },
};

function check(name: string, password: string): { name: string } | null {
  const user = USERS[name];
  if (!user) return null;
  const hash = scryptSync(password, SALT, 32);
  return timingSafeEqual(hash, user.hash) ? { name: user.name } : null;
}

function authApp(library: (o: Options) => Middleware, framework: ExpressFactory) {
  const app = framework();
  app.use(framework.urlencoded({ extended: false }));
  app.use(library({ resave: false, saveUninitialized: false }));
  // The one-time message: taken out of the session on the page that shows it.
  app.use((req, res, next) => {
    const s = bag(req);
    res.locals.message = (s.error as string | undefined) ?? (s.success as string | undefined) ?? '';
    delete s.error;
    delete s.success;
    next();
  });
  const restrict: Middleware = (req, res, next) => {
    if (bag(req).user) return next();
    bag(req).error = 'access denied';
    res.redirect('/login');
  };
  app.get('/', (_req, res) => res.redirect('/login'));
  app.get('/login', (_req, res) => {
    res.json({ page: 'login', message: res.locals.message });
  });
  app.get('/restricted', restrict, (req, res) => {
    res.json({ page: 'restricted', user: bag(req).user, message: res.locals.message });
  });
  app.post('/login', (req, res, next) => {
    const user = check(String(req.body.username), String(req.body.password));
    if (!user) {
      bag(req).error = 'authentication failed';
      return res.redirect('/login');
    }
    // Against fixation: a new session for the logged-in user.
    req.session.regenerate((err) => {
      if (err) return next(err);
      bag(req).user = user.name;
      bag(req).success = `signed in as ${user.name}`;
      res.redirect(req.get('Referrer') ?? '/restricted');
    });
  });
  app.get('/logout', (req, res) => {
    req.session.destroy(() => res.redirect('/'));
  });
  return app;
}

describe.each(CASES)("Express's auth example, on %s", (_label, _name, library, framework) => {
  it('a visitor is turned away with a message, shown once', async () => {
    const app = authApp(library, framework);
    const denied = await request(app).get('/restricted');
    expect(denied.status).toBe(302);
    expect(denied.headers.location).toBe('/login');
    // The message made the session worth storing (saveUninitialized: false).
    const cookie = pair(setCookie(denied.headers));
    const login = await request(app).get('/login').set('Cookie', cookie);
    expect(login.body).toEqual({ page: 'login', message: 'access denied' });
    const again = await request(app).get('/login').set('Cookie', cookie);
    expect(again.body).toEqual({ page: 'login', message: '' });
  });

  it('a wrong password: back to the form with a message; the visitor stays out', async () => {
    const app = authApp(library, framework);
    const wrong = await request(app)
      .post('/login')
      .type('form')
      .send({ username: 'ada', password: 'babbage' });
    expect(wrong.status).toBe(302);
    expect(wrong.headers.location).toBe('/login');
    const cookie = pair(setCookie(wrong.headers));
    expect((await request(app).get('/login').set('Cookie', cookie)).body.message).toBe(
      'authentication failed',
    );
    expect((await request(app).get('/restricted').set('Cookie', cookie)).status).toBe(302);
  });

  it('login regenerates: a new id reaches the restricted page, the old one does not', async () => {
    const app = authApp(library, framework);
    const before = setCookie((await request(app).get('/restricted')).headers);
    const login = await request(app)
      .post('/login')
      .set('Cookie', pair(before))
      .set('Referer', '/restricted')
      .type('form')
      .send({ username: 'ada', password: 'lovelace' });
    expect(login.status).toBe(302);
    expect(login.headers.location).toBe('/restricted');
    const after = setCookie(login.headers);
    expect(idOf(after)).not.toBe(idOf(before));

    const page = await request(app).get('/restricted').set('Cookie', pair(after));
    expect(page.body).toEqual({ page: 'restricted', user: 'ada', message: 'signed in as ada' });
    const next = await request(app).get('/restricted').set('Cookie', pair(after));
    expect(next.body).toEqual({ page: 'restricted', user: 'ada', message: '' });
    expect((await request(app).get('/restricted').set('Cookie', pair(before))).status).toBe(302);
  });

  it('logout destroys the session: the cookie no longer opens the restricted page', async () => {
    const app = authApp(library, framework);
    const login = await request(app)
      .post('/login')
      .type('form')
      .send({ username: 'ada', password: 'lovelace' });
    const cookie = pair(setCookie(login.headers));
    expect((await request(app).get('/restricted').set('Cookie', cookie)).status).toBe(200);
    const logout = await request(app).get('/logout').set('Cookie', cookie);
    expect(logout.status).toBe(302);
    expect(logout.headers.location).toBe('/');
    expect(setCookie(logout.headers)).toBeUndefined();
    const after = await request(app).get('/restricted').set('Cookie', cookie);
    expect(after.status).toBe(302);
    expect(after.headers.location).toBe('/login');
  });
});

// --- the `session` example's shape -------------------------------------------

function counterApp(
  library: (o: Options) => Middleware,
  framework: ExpressFactory,
  store?: expressSession.Store,
) {
  const app = framework();
  app.use(library({ resave: false, saveUninitialized: false, ...(store ? { store } : {}) }));
  app.get('/', (req, res) => {
    const s = bag(req);
    let text = '';
    if (typeof s.views === 'number') s.views += 1;
    else {
      s.views = 1;
      text = 'first visit. ';
    }
    res.type('text').send(`${text}views: ${s.views}`);
  });
  return app;
}

async function visits(app: express.Express, times: number): Promise<[string[], string]> {
  const texts: string[] = [];
  let cookie: string | undefined;
  for (let i = 0; i < times; i++) {
    const answer = await request(app)
      .get('/')
      .set(cookie ? { Cookie: cookie } : {});
    expect(answer.status).toBe(200);
    texts.push(answer.text);
    const line = setCookie(answer.headers);
    if (i === 0) cookie = pair(line);
    // resave: false, an unchanged cookie: only the first answer sets it.
    else expect(line).toBeUndefined();
  }
  return [texts, cookie as string];
}

const redis = await resolveService('redis');
const redisClient = redis.available ? createClient({ url: redis.url }) : undefined;
if (redisClient) await redisClient.connect();
const prefix = `sess-compat-example-${process.pid}-${Date.now()}:`;
afterAll(async () => {
  if (!redisClient) return;
  const keys = await redisClient.keys(`${prefix}*`);
  if (keys.length > 0) await redisClient.del(keys);
  await redisClient.quit();
});

describe.each(CASES)("Express's session example, on %s", (label, _name, library, framework) => {
  it('with the default memory store: each visitor counts their own views', async () => {
    const app = counterApp(library, framework);
    const [texts] = await visits(app, 3);
    expect(texts).toEqual(['first visit. views: 1', 'views: 2', 'views: 3']);
    const [other] = await visits(app, 1);
    expect(other).toEqual(['first visit. views: 1']);
  });

  it.runIf(redis.available)(
    'with connect-redis on Redis: the counter, and the record connect-redis keeps',
    async () => {
      const client = redisClient as NonNullable<typeof redisClient>;
      const key = label.replace(/[^a-z0-9@.-]+/gi, '_');
      const store = new RedisStore({ client, prefix: `${prefix}${key}:` });
      const app = counterApp(library, framework, store);
      const [texts, cookie] = await visits(app, 3);
      expect(texts).toEqual(['first visit. views: 1', 'views: 2', 'views: 3']);
      const id = idOf(cookie);
      const raw = await client.get(`${prefix}${key}:${id}`);
      expect(raw).not.toBeNull();
      const record = JSON.parse(raw as string) as { views: number; cookie: object };
      expect(record.views).toBe(3);
      expect(record.cookie).toMatchObject({ path: '/', httpOnly: true, originalMaxAge: null });
      const ttl = await client.ttl(`${prefix}${key}:${id}`);
      // connect-redis's default TTL for a session cookie: one day.
      expect(ttl).toBeGreaterThan(86_000);
      expect(ttl).toBeLessThanOrEqual(86_400);
    },
  );
});

// --- a controller written the NestJS way ---------------------------------------

/** Nest's docs wrap the callback methods: `await new Promise((resolve, reject) => ...)`. */
function promised(method: (callback: (err?: unknown) => void) => unknown): Promise<void> {
  return new Promise((resolve, reject) => {
    method((err) => (err ? reject(err) : resolve()));
  });
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** The controller: methods get the session (Nest's `@Session()`) or the request (`@Req()`). */
class AccountController {
  async visits(s: Bag): Promise<{ visits: number }> {
    const visits = typeof s.visits === 'number' ? s.visits + 1 : 1;
    s.visits = visits;
    return { visits };
  }

  async login(req: express.Request): Promise<{ user: string }> {
    const body = req.body as { name?: string };
    if (!body.name) throw new HttpError(400, 'name required');
    // Work before the session change (a database lookup).
    await new Promise((r) => setTimeout(r, 5));
    await promised((cb) => req.session.regenerate(cb));
    bag(req).user = body.name;
    // Saved before answering, as Nest's docs do before a redirect.
    await promised((cb) => req.session.save(cb));
    return { user: body.name };
  }

  async me(s: Bag): Promise<{ user: string | null; visits: number | null }> {
    await new Promise((r) => setTimeout(r, 5));
    return {
      user: (s.user as string | undefined) ?? null,
      visits: (s.visits as number | undefined) ?? null,
    };
  }

  async logout(req: express.Request): Promise<{ ok: true }> {
    await promised((cb) => req.session.destroy(cb));
    return { ok: true };
  }
}

/** What Nest's Express adapter does with a handler's promise: 200 (201 for POST) JSON, or the error. */
function handle(
  method: 'GET' | 'POST',
  run: (req: express.Request) => Promise<unknown>,
): Middleware {
  return (req, res, next) => {
    run(req).then(
      (value) => {
        res.status(method === 'POST' ? 201 : 200).json(value);
      },
      (err: unknown) => next(err),
    );
  };
}

function nestApp(library: (o: Options) => Middleware, framework: ExpressFactory) {
  const controller = new AccountController();
  const app = framework();
  app.use(framework.json());
  app.use(library({ resave: false, saveUninitialized: false }));
  app.get(
    '/visits',
    handle('GET', (req) => controller.visits(bag(req))),
  );
  app.post(
    '/login',
    handle('POST', (req) => controller.login(req)),
  );
  app.get(
    '/me',
    handle('GET', (req) => controller.me(bag(req))),
  );
  app.post(
    '/logout',
    handle('POST', (req) => controller.logout(req)),
  );
  // Nest's exception filter: `{ statusCode, message }`.
  app.use(
    (err: Error, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
      const status = err instanceof HttpError ? err.status : 500;
      res.status(status).json({ statusCode: status, message: err.message });
    },
  );
  return app;
}

describe.each(CASES)('a NestJS-style controller, on %s', (_label, _name, library, framework) => {
  it('@Session() in an async handler: the count is kept', async () => {
    const app = nestApp(library, framework);
    const first = await request(app).get('/visits');
    expect(first.body).toEqual({ visits: 1 });
    const cookie = pair(setCookie(first.headers));
    expect((await request(app).get('/visits').set('Cookie', cookie)).body).toEqual({ visits: 2 });
    expect((await request(app).get('/me').set('Cookie', cookie)).body).toEqual({
      user: null,
      visits: 2,
    });
  });

  it('login with promised regenerate and save: 201, a new id, the user on the next request', async () => {
    const app = nestApp(library, framework);
    const before = setCookie((await request(app).get('/visits')).headers);
    const login = await request(app)
      .post('/login')
      .set('Cookie', pair(before))
      .send({ name: 'ada' });
    expect(login.status).toBe(201);
    expect(login.body).toEqual({ user: 'ada' });
    const after = setCookie(login.headers);
    expect(idOf(after)).not.toBe(idOf(before));
    expect((await request(app).get('/me').set('Cookie', pair(after))).body).toEqual({
      user: 'ada',
      visits: null,
    });
    expect((await request(app).get('/me').set('Cookie', pair(before))).body).toEqual({
      user: null,
      visits: null,
    });
  });

  it('a thrown HttpException: its status and message, no session stored', async () => {
    const app = nestApp(library, framework);
    const bad = await request(app).post('/login').send({});
    expect(bad.status).toBe(400);
    expect(bad.body).toEqual({ statusCode: 400, message: 'name required' });
    expect(setCookie(bad.headers)).toBeUndefined();
  });

  it('logout with promised destroy: 201, and the cookie is nobody', async () => {
    const app = nestApp(library, framework);
    const cookie = pair(
      setCookie((await request(app).post('/login').send({ name: 'ada' })).headers),
    );
    const logout = await request(app).post('/logout').set('Cookie', cookie);
    expect(logout.status).toBe(201);
    expect(logout.body).toEqual({ ok: true });
    expect((await request(app).get('/me').set('Cookie', cookie)).body).toEqual({
      user: null,
      visits: null,
    });
  });

  it('parallel async handlers on one session all answer, and the session keeps the user', async () => {
    const app = nestApp(library, framework);
    const cookie = pair(
      setCookie((await request(app).post('/login').send({ name: 'ada' })).headers),
    );
    const answers = await Promise.all(
      Array.from({ length: 8 }, () => request(app).get('/me').set('Cookie', cookie)),
    );
    for (const answer of answers) expect(answer.body.user).toBe('ada');
  });
});
