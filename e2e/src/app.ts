// A small Express app on @sess/express for the browser tests: every route is
// a GET so a navigation or an iframe can reach it.

import { MemoryStore, type SessionMiddlewareOptions, session } from '@sess/express';
import express, { type Express } from 'express';

declare module '@sess/core' {
  interface SessionData {
    views: number;
    user: string;
    a: number;
    b: number;
  }
}

export const SECRET = 'a browser test secret, long enough!!';

export type AppOptions = Partial<SessionMiddlewareOptions> & {
  /** Express's `trust proxy`. */
  trustProxy?: boolean;
  /** `/api` answers a cross-origin `fetch` with credentials from any origin (CORS). */
  cors?: boolean;
};

/**
 * - `/` counts a visit (modifies the session) and shows the count;
 * - `/peek` reads the count without changing anything;
 * - `/login` regenerates the id (keeping `views`), `/logout` destroys with `clearCookie`;
 * - `/api` is `/` for a cross-origin `fetch` with credentials;
 * - `/embed?src=` is a page that frames `src` (the cross-site parent);
 * - `/later?key=a|b&ms=` sets one key after a pause, `/keys` shows both (parallel requests).
 */
export function createApp(options: AppOptions = {}): Express {
  const { trustProxy, cors, ...sessionOptions } = options;
  const app = express();
  app.disable('x-powered-by');
  if (trustProxy) app.set('trust proxy', true);
  app.use(
    session({
      secret: SECRET,
      store: new MemoryStore(),
      resave: false,
      saveUninitialized: false,
      ...sessionOptions,
    }),
  );
  const show = (views: number | undefined, user?: string) =>
    `<!doctype html><title>views</title><p>views <b id="views">${views ?? 0}</b>${
      user ? ` user <b id="user">${user}</b>` : ''
    }</p>`;

  app.get('/', (req, res) => {
    req.session.views = (req.session.views ?? 0) + 1;
    res.send(show(req.session.views, req.session.user));
  });
  app.get('/peek', (req, res) => {
    res.send(show(req.session.views, req.session.user));
  });
  app.get('/login', async (req, res) => {
    await req.session.regenerate({ keep: ['views'] });
    req.session.user = 'ada';
    res.send(show(req.session.views, req.session.user));
  });
  app.get('/logout', async (req, res) => {
    await req.session.destroy({ clearCookie: true });
    res.send(show(undefined));
  });
  app.get('/api', (req, res) => {
    if (cors && req.headers.origin) {
      res.set('access-control-allow-origin', req.headers.origin);
      res.set('access-control-allow-credentials', 'true');
    }
    req.session.views = (req.session.views ?? 0) + 1;
    res.json({ views: req.session.views });
  });
  app.get('/embed', (req, res) => {
    const src = String(req.query.src ?? '');
    res.send(
      `<!doctype html><title>embed</title><iframe id="child" src="${encodeURI(src)}"></iframe>`,
    );
  });
  app.get('/keys', (req, res) => {
    res.json({ a: req.session.a ?? 0, b: req.session.b ?? 0 });
  });
  app.get('/later', async (req, res) => {
    await new Promise((resolve) => setTimeout(resolve, Number(req.query.ms)));
    req.session[req.query.key === 'a' ? 'a' : 'b'] = 1;
    res.json({ a: req.session.a ?? 0, b: req.session.b ?? 0 });
  });
  return app;
}

/**
 * A bare Express app that sends the `Set-Cookie` lines it is given, no sess
 * involved: what the browser does with a cookie sess refuses to send.
 * `/set?c=<index>` sends line `index`; `/embed?src=` frames `src`.
 */
export function rawCookieApp(lines: string[]): Express {
  const app = express();
  app.get('/set', (req, res) => {
    res.append('set-cookie', lines[Number(req.query.c)] ?? '');
    res.send('<!doctype html><title>set</title><p>set</p>');
  });
  app.get('/echo', (req, res) => {
    res.type('text').send(req.headers.cookie ?? '');
  });
  app.get('/embed', (req, res) => {
    const src = String(req.query.src ?? '');
    res.send(
      `<!doctype html><title>embed</title><iframe id="child" src="${encodeURI(src)}"></iframe>`,
    );
  });
  return app;
}
