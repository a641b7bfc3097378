import type { AddressInfo } from 'node:net';
import { MemoryStore } from '@sess/core';
import { SqliteStore } from '@sess/store-sqlite';
import { afterEach, describe, expect, it } from 'vitest';
import { createApp } from '../app.js';

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
function browser(base: string) {
  let cookie = '';
  return {
    get cookie() {
      return cookie;
    },
    async go(path: string, body?: string) {
      const res = await fetch(base + path, {
        method: body === undefined ? 'GET' : 'POST',
        headers: {
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
});
