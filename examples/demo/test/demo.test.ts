import type { AddressInfo } from 'node:net';
import { MemoryStore } from '@sess/core';
import { SqliteStore } from '@sess/store-sqlite';
import { afterEach, describe, expect, it } from 'vitest';
import { createApp, USERS } from '../app.js';

const servers: { close(): void }[] = [];
afterEach(() => {
  for (const s of servers.splice(0)) s.close();
});

async function start(store: MemoryStore | SqliteStore, maxAge?: number) {
  const server = createApp({ store, secret: 'a demo secret that is long enough!!', maxAge }).listen(
    0,
    '127.0.0.1',
  );
  await new Promise((r) => server.once('listening', r));
  servers.push(server);
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** A tiny cookie jar for one cookie name. */
function browser(base: string, userAgent = 'demo-test') {
  let cookie = '';
  return {
    get cookie() {
      return cookie;
    },
    async go(path: string, body?: string) {
      const res = await fetch(base + path, {
        method: body === undefined ? 'GET' : 'POST',
        headers: {
          'user-agent': userAgent,
          ...(cookie ? { cookie } : {}),
          ...(body === undefined ? {} : { 'content-type': 'application/x-www-form-urlencoded' }),
        },
        body,
        redirect: 'manual',
      });
      for (const line of res.headers.getSetCookie()) {
        const pair = line.split(';')[0] ?? '';
        cookie = /expires=Thu, 01 Jan 1970/i.test(line) ? '' : pair;
      }
      return { res, text: await res.text() };
    },
  };
}

const views = (html: string) => Number(/id="views">(\d+)</.exec(html)?.[1]);

describe('demo app', () => {
  it('counts visits, logs in with a new id, logs out and forgets', async () => {
    const store = new SqliteStore({ filename: ':memory:' });
    const b = browser(await start(store));
    expect(views((await b.go('/')).text)).toBe(1);
    expect(views((await b.go('/')).text)).toBe(2);
    const before = b.cookie;

    const login = await b.go('/login', 'user=Ada');
    expect(login.res.status).toBe(303);
    expect(b.cookie).not.toBe(before); // regenerated: a new id
    const home = await b.go('/');
    expect(home.text).toContain('Hello, Ada');
    expect(views(home.text)).toBe(3); // kept across regenerate
    expect(await store.length()).toBe(1); // the pre-login session is gone

    const logout = await b.go('/logout', '');
    expect(logout.res.status).toBe(303);
    expect(b.cookie).toBe(''); // the cookie was expired in the browser
    expect(await store.length()).toBe(0);
    expect((await b.go('/')).text).toContain('Hello, visitor');
    await store.close();
  });

  it('ends a session after maxAge without a visit', async () => {
    const store = new MemoryStore({ sweepInterval: 0 });
    const b = browser(await start(store, 300));
    await b.go('/');
    expect(views((await b.go('/')).text)).toBe(2);
    await new Promise((r) => setTimeout(r, 450));
    expect(views((await b.go('/')).text)).toBe(1);
    await store.close();
  });

  it('a forged cookie starts a new session instead of failing', async () => {
    const base = await start(new MemoryStore({ sweepInterval: 0 }));
    const forged = await fetch(`${base}/`, { headers: { cookie: 'sess.demo=s%3Aabc.forged' } });
    expect(forged.status).toBe(200);
    expect(views(await forged.text())).toBe(1);
  });

  it('"your sessions" lists this user\'s devices and logs out everywhere else', async () => {
    const store = new SqliteStore({ filename: ':memory:', users: USERS });
    const base = await start(store);
    const phone = browser(base, 'Phone Browser');
    const laptop = browser(base, 'Laptop <Browser>');
    const other = browser(base, 'Bob Browser');
    await phone.go('/login', 'user=Ada');
    await laptop.go('/login', 'user=Ada');
    await other.go('/login', 'user=Bob');

    const page = (await laptop.go('/sessions')).text;
    expect(page).toContain('id="count">2 active sessions');
    expect(page).toContain('Phone Browser');
    expect(page).toContain('Laptop &#60;Browser&#62; <b>(this device)</b>'); // escaped
    expect(page).not.toContain('Bob Browser');
    expect(page).toContain('Log out everywhere else');

    const out = await laptop.go('/sessions/logout-others', '');
    expect(out.res.status).toBe(303);
    const after = (await laptop.go('/sessions')).text;
    expect(after).toContain('id="count">1 active session<');
    expect(after).not.toContain('Phone Browser');
    expect(after).not.toContain('Log out everywhere else');
    expect((await phone.go('/')).text).toContain('Hello, visitor'); // logged out there
    expect((await other.go('/')).text).toContain('Hello, Bob'); // another user: untouched
    await store.close();
  });

  it('"your sessions" on a store without a user index says so, and needs a login', async () => {
    const store = new MemoryStore({ sweepInterval: 0 });
    const b = browser(await start(store));
    expect((await b.go('/sessions')).res.status).toBe(303); // not logged in
    await b.go('/login', 'user=Ada');
    expect((await b.go('/sessions')).text).toContain('keeps no index of sessions by user');
    await store.close();
  });
});
