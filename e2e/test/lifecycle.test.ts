// The session cookie's life in the browser's jar: stored, sent back, replaced
// on login, removed on logout, its expiry moved by `rolling`, re-signed after
// a secret rotation. Over HTTP and over HTTPS.

import { MemoryStore } from '@sess/express';
import { describe, expect, it } from 'vitest';
import { createApp } from '../src/app.js';
import { sessionIdOf, signatureOf } from '../src/browser.js';
import { chromiumFound, suiteTitle, useBrowser, views, visit } from '../src/suite.js';

describe.skipIf(!chromiumFound.available)(
  suiteTitle('session cookie lifecycle in Chromium'),
  () => {
    const t = useBrowser();

    describe.each([
      { scheme: 'http', tls: false },
      { scheme: 'https', tls: true },
    ])('over $scheme', ({ tls }) => {
      const app = () => createApp({ name: 'sid', cookie: { maxAge: 60_000, secure: 'auto' } });

      it('a first visit stores the cookie', async () => {
        const server = await t.serve(app(), tls);
        await t.open(server.url('/'));
        const [cookie, ...others] = await t.browser().cookies('sid');
        expect(others).toEqual([]);
        expect(cookie).toMatchObject({
          domain: 'a.test',
          path: '/',
          httpOnly: true,
          secure: tls, // secure: 'auto' follows the request
        });
        expect(sessionIdOf(cookie?.value ?? '')).toMatch(/^[\w-]{32}$/);
        // maxAge 60 s: a persistent cookie expiring about a minute from now.
        expect(cookie?.expires ?? 0).toBeGreaterThan(Date.now() / 1000 + 50);
        expect(cookie?.expires ?? 0).toBeLessThan(Date.now() / 1000 + 70);
      });

      it('a returning visit sends it: the same session, counted on', async () => {
        const server = await t.serve(app(), tls);
        const page = await t.open(server.url('/'));
        const [first] = await t.browser().cookies('sid');
        await visit(page, server.url('/'));
        expect(await views(page)).toBe(2);
        const [second] = await t.browser().cookies('sid');
        expect(sessionIdOf(second?.value ?? '')).toBe(sessionIdOf(first?.value ?? ''));
      });

      it('login regenerates: the jar ends with the new id only, and the old id is worthless', async () => {
        const server = await t.serve(app(), tls);
        const page = await t.open(server.url('/'));
        await visit(page, server.url('/'));
        const [before] = await t.browser().cookies('sid');
        await visit(page, server.url('/login'));
        const after = await t.browser().cookies('sid');
        expect(after).toHaveLength(1);
        expect(sessionIdOf(after[0]?.value ?? '')).not.toBe(sessionIdOf(before?.value ?? ''));
        await visit(page, server.url('/peek'));
        expect(await views(page)).toBe(2); // kept by regenerate({ keep: ['views'] })
        expect(await page.locator('#user').textContent()).toBe('ada');

        // Put the pre-login cookie back: its session was destroyed on login.
        if (!before) throw new Error('no cookie before login');
        await t.browser().context.addCookies([before]);
        await visit(page, server.url('/peek'));
        expect(await views(page)).toBe(0);
      });

      it('logout with clearCookie removes the cookie from the jar', async () => {
        const server = await t.serve(app(), tls);
        const page = await t.open(server.url('/'));
        expect(await t.browser().cookies('sid')).toHaveLength(1);
        await visit(page, server.url('/logout'));
        expect(await t.browser().cookies('sid')).toEqual([]);
        await visit(page, server.url('/peek'));
        expect(await views(page)).toBe(0);
      });

      it('rolling: an unmodified visit moves the expiry the browser holds', async () => {
        const server = await t.serve(
          createApp({ name: 'sid', rolling: true, cookie: { maxAge: 60_000, secure: 'auto' } }),
          tls,
        );
        const page = await t.open(server.url('/'));
        const [first] = await t.browser().cookies('sid');
        await page.waitForTimeout(1_500); // the jar keeps expiry in whole seconds
        await visit(page, server.url('/peek'));
        const [second] = await t.browser().cookies('sid');
        expect(second?.value).toBe(first?.value);
        // Chromium stores now + (Expires - Date), both whole seconds: after 1.5 s the
        // expiry moves by 0.5 to 2.5 s; without a new Set-Cookie it stays exactly equal.
        expect(second?.expires ?? 0).toBeGreaterThan(first?.expires ?? 0);
      });

      it('without rolling, an unmodified visit leaves the expiry where it was', async () => {
        const server = await t.serve(app(), tls);
        const page = await t.open(server.url('/'));
        const [first] = await t.browser().cookies('sid');
        await page.waitForTimeout(1_500);
        await visit(page, server.url('/peek'));
        expect(await views(page)).toBe(1);
        const [second] = await t.browser().cookies('sid');
        expect(second?.expires).toBe(first?.expires);
      });
    });

    // README difference 3: a cookie signed with an old secret is re-signed.
    it('a rotated secret: the browser gets a re-signed cookie, so the old secret can be dropped', async () => {
      const store = new MemoryStore();
      const options = { name: 'sid', store, cookie: { maxAge: 60_000 } };
      const before = await t.serve(
        createApp({ ...options, secret: 'the old secret, long enough for sess!' }),
      );
      const page = await t.open(before.url('/'));
      const [old] = await t.browser().cookies('sid');
      if (!old) throw new Error('no cookie from the old secret');

      // Rotation: sign with the new secret, still accept the old one.
      const rotating = await t.serve(
        createApp({
          ...options,
          secret: [
            'the new secret, long enough for sess!',
            'the old secret, long enough for sess!',
          ],
        }),
      );
      await visit(page, rotating.url('/peek')); // reads only: no change to the session
      expect(await views(page)).toBe(1);
      const [resigned] = await t.browser().cookies('sid');
      expect(sessionIdOf(resigned?.value ?? '')).toBe(sessionIdOf(old.value));
      expect(signatureOf(resigned?.value ?? '')).not.toBe(signatureOf(old.value));

      // The old secret dropped: this browser is still logged in...
      const after = await t.serve(
        createApp({ ...options, secret: 'the new secret, long enough for sess!' }),
      );
      await visit(page, after.url('/peek'));
      expect(await views(page)).toBe(1);
      // ...while a browser still holding the old signature would have lost its session.
      await t.browser().context.addCookies([old]);
      await visit(page, after.url('/peek'));
      expect(await views(page)).toBe(0);
    });
  },
);
