// The same small app on express-session, the incumbent: what a configuration
// sess corrects or refuses does in a browser without sess.

import express, { type Express } from 'express';
import expressSession from 'express-session';
import { SECRET } from './app.js';

export interface IncumbentOptions {
  name?: string;
  secret?: string | string[];
  store?: unknown;
  cookie?: Record<string, unknown>;
}

/** `/`, `/peek` and `/later` as in createApp, on express-session's MemoryStore by default. */
export function createIncumbentApp(options: IncumbentOptions = {}): Express {
  const app = express();
  app.disable('x-powered-by');
  app.use(
    expressSession({
      secret: SECRET,
      resave: false,
      saveUninitialized: false,
      ...options,
    }),
  );
  // req.session is typed by @sess/express's augmentation; express-session's
  // object has the same plain properties for what these routes touch.
  const show = (views: number | undefined) =>
    `<!doctype html><title>views</title><p>views <b id="views">${views ?? 0}</b></p>`;
  app.get('/', (req, res) => {
    req.session.views = (req.session.views ?? 0) + 1;
    res.send(show(req.session.views));
  });
  app.get('/peek', (req, res) => {
    res.send(show(req.session.views));
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
