// The demo (examples/demo) in Chromium, over HTTP and HTTPS: visit, return,
// log in (a new id), log out; screenshots of each page in e2e/screenshots/.

import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createApp } from '@sess/example-demo/app.js';
import { SqliteStore } from '@sess/store-sqlite';
import { afterAll, describe, expect, it } from 'vitest';
import { sessionIdOf } from '../src/browser.js';
import { chromiumFound, suiteTitle, useBrowser, views, visit } from '../src/suite.js';

const SHOTS = fileURLToPath(new URL('../screenshots/', import.meta.url));
const COOKIE = 'sess.demo';

describe.skipIf(!chromiumFound.available)(suiteTitle('the demo in Chromium'), () => {
  const t = useBrowser();
  const stores: SqliteStore[] = [];
  afterAll(async () => {
    await Promise.all(stores.map((store) => store.close()));
  });

  describe.each([
    { scheme: 'http', tls: false },
    { scheme: 'https', tls: true },
  ])('over $scheme', ({ scheme, tls }) => {
    it('visit, return, log in, log out: the jar follows each step', async () => {
      mkdirSync(SHOTS, { recursive: true });
      const shot = (name: string) => ({
        path: `${SHOTS}demo-${scheme}-${name}.png`,
        fullPage: true,
      });
      const store = new SqliteStore({ filename: ':memory:' });
      stores.push(store);
      const server = await t.serve(
        createApp({ store, secret: 'the demo secret in the browser tests!' }),
        tls,
      );

      // First visit: the cookie is stored, with the demo's attributes.
      const page = await t.open(server.url('/'));
      expect(await page.locator('h1').textContent()).toBe('Hello, visitor');
      expect(await views(page)).toBe(1);
      const [first, ...others] = await t.browser().cookies(COOKIE);
      expect(others).toEqual([]);
      expect(first).toMatchObject({ httpOnly: true, sameSite: 'Lax', secure: tls, path: '/' });
      // maxAge 10 minutes.
      expect(first?.expires ?? 0).toBeGreaterThan(Date.now() / 1000 + 590);
      await page.screenshot(shot('1-visitor'));

      // Returning visit: the cookie is sent; rolling moves the expiry the browser holds.
      await page.waitForTimeout(1_500);
      await visit(page, server.url('/'));
      expect(await views(page)).toBe(2);
      const [second] = await t.browser().cookies(COOKIE);
      expect(sessionIdOf(second?.value ?? '')).toBe(sessionIdOf(first?.value ?? ''));
      // Chromium stores now + (Expires - Date), both whole seconds: after 1.5 s the
      // expiry moves by 0.5 to 2.5 s; without a new Set-Cookie it stays exactly equal.
      expect(second?.expires ?? 0).toBeGreaterThan(first?.expires ?? 0);

      // Log in through the form: a new id, the old one gone from the jar, views kept.
      await page.getByPlaceholder('your name').fill('Ada');
      await Promise.all([
        page.waitForURL(server.url('/')),
        page.getByRole('button', { name: 'Log in' }).click(),
      ]);
      expect(await page.locator('h1').textContent()).toBe('Hello, Ada');
      expect(await views(page)).toBe(3);
      const afterLogin = await t.browser().cookies(COOKIE);
      expect(afterLogin).toHaveLength(1);
      const loggedIn = sessionIdOf(afterLogin[0]?.value ?? '');
      expect(loggedIn).not.toBe(sessionIdOf(first?.value ?? ''));
      await page.screenshot(shot('2-logged-in'));

      // Log out: the session's cookie is removed; the redirect to / starts a
      // new visitor session with a new id and a count from 1.
      await Promise.all([
        page.waitForURL(server.url('/')),
        page.getByRole('button', { name: 'Log out' }).click(),
      ]);
      expect(await page.locator('h1').textContent()).toBe('Hello, visitor');
      expect(await views(page)).toBe(1);
      const afterLogout = await t.browser().cookies(COOKIE);
      expect(afterLogout.map((cookie) => sessionIdOf(cookie.value))).not.toContain(loggedIn);
      expect(afterLogout).toHaveLength(1);
      await page.screenshot(shot('3-logged-out'));
    });
  });

  it('logging out removes the cookie from the jar when nothing starts a new session', async () => {
    const store = new SqliteStore({ filename: ':memory:' });
    stores.push(store);
    const server = await t.serve(
      createApp({ store, secret: 'the demo secret in the browser tests!' }),
    );
    const page = await t.open(server.url('/'));
    expect(await t.browser().cookies(COOKIE)).toHaveLength(1);
    await page.getByPlaceholder('your name').fill('Ada');
    await Promise.all([
      page.waitForURL(server.url('/')),
      page.getByRole('button', { name: 'Log in' }).click(),
    ]);
    expect(await t.browser().cookies(COOKIE)).toHaveLength(1);
    // The logout form's POST from the page, its 303 not followed.
    const status = await page.evaluate(() =>
      fetch('/logout', { method: 'POST', redirect: 'manual' }).then((res) => res.type),
    );
    expect(status).toBe('opaqueredirect');
    expect(await t.browser().cookies(COOKIE)).toEqual([]);
  });
});
