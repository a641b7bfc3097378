// The demo app, separate from server.js so tests can start it on any port.

import { session } from '@sess/express';
import express from 'express';

const page = (title, body) => `<!doctype html>
<meta charset="utf-8"><title>${title}</title>
<style>body{font:16px system-ui;max-width:40rem;margin:3rem auto}form{display:inline}</style>
<h1>${title}</h1>${body}`;

const escapeHtml = (text) => String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** The store's `users` option for this app: sessions indexed by `user`, listing the user agent. */
export const USERS = { user: 'user', meta: ['userAgent'] };

const when = (ms) =>
  ms === null ? 'unknown' : new Date(ms).toISOString().replace('T', ' ').slice(0, 19);

/**
 * @param {{ store: import('@sess/core').SessionStore, secret: string | string[], maxAge?: number, absoluteTimeout?: number }} options
 *   `store` opened with `users: USERS` gets the "your sessions" page.
 */
export function createApp({
  store,
  secret,
  maxAge = 10 * 60_000,
  absoluteTimeout = 8 * 3_600_000,
}) {
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
      absoluteTimeout, // ...but no session lives longer than this since its creation
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
             ? `<p><a href="/sessions">Your sessions</a></p>
                <form method="post" action="/logout"><button>Log out</button></form>`
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
      // Shown on "your sessions" to tell devices apart.
      req.session.userAgent = String(req.get('user-agent') ?? 'unknown').slice(0, 200);
      res.redirect(303, '/'); // saved before the redirect is sent
    });
  });

  app.post('/logout', (req, res, next) => {
    req.session.destroy({ clearCookie: true }, (err) => {
      if (err) return next(err);
      res.redirect(303, '/');
    });
  });

  // "Your sessions": every device this user is logged in on, and "log out everywhere else".
  app.get('/sessions', async (req, res, next) => {
    if (!req.session.user) return res.redirect(303, '/');
    let sessions;
    try {
      sessions = await req.session.userSessions();
    } catch (error) {
      if (error?.code === 'SESS_NO_USER_INDEX') {
        return res.send(
          page('Your sessions', '<p>This store keeps no index of sessions by user.</p>'),
        );
      }
      return next(error);
    }
    const rows = sessions
      .map(
        (s) => `<tr class="session${s.current ? ' current' : ''}">
          <td>${escapeHtml(s.meta.userAgent ?? 'unknown')}${s.current ? ' <b>(this device)</b>' : ''}</td>
          <td>${when(s.createdAt)}</td><td>${when(s.lastSeenAt)}</td></tr>`,
      )
      .join('');
    const others = sessions.filter((s) => !s.current).length;
    res.send(
      page(
        'Your sessions',
        `<p id="count">${sessions.length} active session${sessions.length === 1 ? '' : 's'}</p>
         <table><tr><th>Device</th><th>Logged in (UTC)</th><th>Last seen (UTC)</th></tr>${rows}</table>
         ${
           others > 0
             ? '<form method="post" action="/sessions/logout-others"><button>Log out everywhere else</button></form>'
             : ''
         }
         <p><a href="/">Back</a></p>`,
      ),
    );
  });

  app.post('/sessions/logout-others', (req, res, next) => {
    if (!req.session.user) return res.redirect(303, '/');
    req.session.destroyOtherSessions((err) => {
      if (err) return next(err);
      res.redirect(303, '/sessions');
    });
  });

  app.get('/healthz', (_req, res) => res.type('text').send('ok'));
  return app;
}
