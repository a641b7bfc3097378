// The demo app, separate from server.js so tests can start it on any port.

import { session } from '@sess/express';
import express from 'express';

const page = (title, body) => `<!doctype html>
<meta charset="utf-8"><title>${title}</title>
<style>body{font:16px system-ui;max-width:40rem;margin:3rem auto}form{display:inline}</style>
<h1>${title}</h1>${body}`;

const escapeHtml = (text) => String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/**
 * @param {{ store: import('@sess/core').SessionStore, secret: string | string[], maxAge?: number }} options
 */
export function createApp({ store, secret, maxAge = 10 * 60_000 }) {
  const app = express();
  app.disable('x-powered-by');
  app.use(express.urlencoded({ extended: false, limit: '2kb' }));
  app.use(
    session({
      name: 'sess.demo',
      secret,
      store,
      resave: false,
      saveUninitialized: false,
      rolling: true, // every visit restarts the idle countdown
      cookie: { maxAge, httpOnly: true, sameSite: 'lax', secure: 'auto' },
    }),
  );

  app.get('/', (req, res) => {
    req.session.views = (req.session.views ?? 0) + 1;
    const user = req.session.user;
    const left = Math.round((req.session.cookie.maxAge ?? 0) / 1000);
    res.send(
      page(
        user ? `Hello, ${escapeHtml(user)}` : 'Hello, visitor',
        `<p>Visits in this session: <b id="views">${req.session.views}</b></p>
         <p>This session ends after ${left} s without a visit.</p>
         ${
           user
             ? '<form method="post" action="/logout"><button>Log out</button></form>'
             : `<form method="post" action="/login">
                  <input name="user" placeholder="your name" required maxlength="40">
                  <button>Log in</button></form>`
         }`,
      ),
    );
  });

  // A new id on login, so an id planted before login is worthless (session fixation).
  app.post('/login', (req, res, next) => {
    const user = String(req.body?.user ?? '')
      .trim()
      .slice(0, 40);
    if (!user) return res.status(400).send(page('Log in', '<p>A name is required.</p>'));
    req.session.regenerate({ keep: ['views'] }, (err) => {
      if (err) return next(err);
      req.session.user = user;
      res.redirect(303, '/'); // saved before the redirect is sent
    });
  });

  app.post('/logout', (req, res, next) => {
    req.session.destroy({ clearCookie: true }, (err) => {
      if (err) return next(err);
      res.redirect(303, '/');
    });
  });

  app.get('/healthz', (_req, res) => res.type('text').send('ok'));
  return app;
}
