import type { IncomingMessage } from 'node:http';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import {
  type ListedSession,
  MemoryStore,
  NoSessionUserError,
  Session,
  UserIndexUnavailableError,
} from '../src/index.js';
import { EXPRESS, makeApp, pair, setCookie } from './helpers.js';

declare module '@sess/core' {
  interface SessionData {
    userId: string;
    userAgent: string;
  }
}

/*
 * "Your sessions" through the middleware: req.session.userSessions(),
 * countUserSessions(), destroyOtherSessions(), destroyUserSessions(), over
 * this package's MemoryStore with a `users` option (the callback facade).
 */
describe.each(EXPRESS)('%s: sessions by user on req.session', (_label, express) => {
  const app = (users = true) =>
    makeApp(
      express,
      {
        store: new MemoryStore({
          sweepInterval: 0,
          ...(users ? { users: { user: 'userId', meta: ['userAgent'] } } : {}),
        }),
        cookie: { maxAge: 60_000 },
      },
      (a) => {
        a.post('/login/:user', (req, res, next) => {
          req.session.regenerate((err) => {
            if (err) return next(err);
            req.session.userId = req.params.user as string;
            req.session.userAgent = req.get('user-agent') ?? '';
            res.json({ id: req.sessionID });
          });
        });
        a.get('/devices', async (req, res, next) => {
          try {
            const devices: ListedSession[] = await req.session.userSessions();
            const count = await req.session.countUserSessions();
            res.json({
              count,
              devices: devices.map((d) => ({ id: d.id, current: d.current, ua: d.meta.userAgent })),
            });
          } catch (error) {
            next(error);
          }
        });
        a.post('/logout-others', (req, res, next) => {
          req.session.destroyOtherSessions((err, n) => (err ? next(err) : res.json({ n })));
        });
        a.post('/logout-everywhere', async (req, res, next) => {
          try {
            res.json({ n: await req.session.destroyUserSessions() });
          } catch (error) {
            next(error);
          }
        });
        a.get('/anon', (req, res) => {
          req.session.userSessions().then(
            () => res.json({ ok: true }),
            (error: unknown) =>
              res.json({
                noUser: error instanceof NoSessionUserError,
                noIndex: error instanceof UserIndexUnavailableError,
              }),
          );
        });
      },
    );

  const login = async (server: ReturnType<typeof app>, user: string, ua: string) => {
    const response = await request(server).post(`/login/${user}`).set('User-Agent', ua);
    return { id: response.body.id as string, cookie: pair(setCookie(response.headers)) };
  };

  it('lists the user’s devices with the current one marked, and logs out everywhere else', async () => {
    const server = app();
    const phone = await login(server, 'ann', 'Phone');
    const laptop = await login(server, 'ann', 'Laptop');
    await login(server, 'bob', 'Desk');
    const devices = await request(server).get('/devices').set('Cookie', laptop.cookie);
    expect(devices.body).toEqual({
      count: 2,
      devices: [
        { id: phone.id, current: false, ua: 'Phone' },
        { id: laptop.id, current: true, ua: 'Laptop' },
      ],
    });
    const out = await request(server).post('/logout-others').set('Cookie', laptop.cookie);
    expect(out.body).toEqual({ n: 1 });
    const after = await request(server).get('/devices').set('Cookie', laptop.cookie);
    expect(after.body.devices).toEqual([{ id: laptop.id, current: true, ua: 'Laptop' }]);
    // The phone is logged out: its session is gone, the next request is anonymous.
    const phoneNow = await request(server).get('/anon').set('Cookie', phone.cookie);
    expect(phoneNow.body).toEqual({ noUser: true, noIndex: false });
  });

  it('log out everywhere ends this session too', async () => {
    const server = app();
    await login(server, 'ann', 'Phone');
    const laptop = await login(server, 'ann', 'Laptop');
    const out = await request(server).post('/logout-everywhere').set('Cookie', laptop.cookie);
    expect(out.body).toEqual({ n: 2 });
    const after = await request(server).get('/anon').set('Cookie', laptop.cookie);
    expect(after.body).toEqual({ noUser: true, noIndex: false });
  });

  it('a store without users answers with UserIndexUnavailableError (SESS_NO_USER_INDEX) to the error handler', async () => {
    const server = app(false);
    const laptop = await login(server, 'ann', 'Laptop');
    const devices = await request(server).get('/devices').set('Cookie', laptop.cookie);
    expect(devices.status).toBe(500);
    expect(devices.body).toMatchObject({
      error: 'UserIndexUnavailableError',
      code: 'SESS_NO_USER_INDEX',
    });
  });
});

describe('a Session outside any request (express-session’s new Session(req, data))', () => {
  it('rejects the sessions-by-user helpers with SESS_DETACHED', async () => {
    const detached = new Session({} as IncomingMessage, {
      cookie: { originalMaxAge: null, path: '/' },
      userId: 'ann',
    });
    await expect(detached.userSessions()).rejects.toMatchObject({ code: 'SESS_DETACHED' });
    await expect(detached.destroyOtherSessions()).rejects.toMatchObject({ code: 'SESS_DETACHED' });
  });
});
