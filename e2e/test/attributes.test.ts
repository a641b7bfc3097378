// The cookie attribute rules of @sess/express (README, "Where sess differs"),
// each next to what Chromium does with the cookie the rule prevents: a bare
// Express app sends that cookie, and the browser's jar shows it dropped or
// ignored. Plus secure/sameSite 'auto', directly and behind a TLS proxy.

import { SessConfigError } from '@sess/core';
import { session } from '@sess/express';
import express from 'express';
import { describe, expect, it } from 'vitest';
import { createApp, rawCookieApp, SECRET } from '../src/app.js';
import { sessionIdOf } from '../src/browser.js';
import { proxyTo } from '../src/servers.js';
import { chromiumFound, suiteTitle, useBrowser, views, visit } from '../src/suite.js';

const EXPIRED = 'Expires=Thu, 01 Jan 1970 00:00:00 GMT';

describe.skipIf(!chromiumFound.available)(suiteTitle('cookie attribute rules in Chromium'), () => {
  const t = useBrowser();

  /** Have the bare app send each line in turn; return the jar's cookies of `name`. */
  async function sendRaw(lines: string[], name: string, tls: boolean) {
    const server = await t.serve(rawCookieApp(lines), tls);
    const page = await t.browser().page();
    for (const [index] of lines.entries()) await visit(page, server.url(`/set?c=${index}`));
    return t.browser().cookies(name);
  }

  describe('SameSite=None needs Secure (README difference 4)', () => {
    it('Chromium drops a SameSite=None cookie without Secure', async () => {
      expect(await sendRaw(['raw=1; Path=/; SameSite=None'], 'raw', false)).toEqual([]);
      expect(await sendRaw(['raw=1; Path=/; SameSite=None'], 'raw', true)).toEqual([]);
      // The control: the same line with Secure is kept.
      expect(await sendRaw(['raw=1; Path=/; SameSite=None; Secure'], 'raw', true)).toHaveLength(1);
    });

    it('sess sends it as Lax instead, so the browser keeps the session', async () => {
      const server = await t.serve(
        createApp({ name: 'sid', cookie: { sameSite: 'none', secure: false } }),
      );
      const page = await t.open(server.url('/'));
      const [cookie] = await t.browser().cookies('sid');
      expect(cookie).toMatchObject({ sameSite: 'Lax', secure: false });
      await visit(page, server.url('/'));
      expect(await views(page)).toBe(2);
    });
  });

  describe('prefixed names (README difference 5)', () => {
    it('Chromium drops a __Host- cookie without Secure, with a Path other than /, or with a Domain', async () => {
      const jar = await sendRaw(
        [
          '__Host-raw=no-secure; Path=/',
          '__Host-raw=sub-path; Secure; Path=/app',
          '__Host-raw=domain; Secure; Path=/; Domain=a.test',
        ],
        '__Host-raw',
        true,
      );
      expect(jar).toEqual([]);
      // The control: Secure, Path=/ and no Domain is kept.
      const kept = await sendRaw(['__Host-raw=ok; Secure; Path=/'], '__Host-raw', true);
      expect(kept.map((cookie) => cookie.value)).toEqual(['ok']);
    });

    it('Chromium drops a __Secure- cookie without Secure', async () => {
      expect(await sendRaw(['__Secure-raw=1; Path=/'], '__Secure-raw', true)).toEqual([]);
      expect(await sendRaw(['__Secure-raw=1; Path=/; Secure'], '__Secure-raw', true)).toHaveLength(
        1,
      );
    });

    it('sess refuses those configurations at startup instead', () => {
      const make = (name: string, cookie: Record<string, unknown>) => () =>
        session({ secret: SECRET, name, cookie });
      expect(make('__Host-sid', {})).toThrow(SessConfigError);
      expect(make('__Host-sid', { secure: true, path: '/app' })).toThrow(SessConfigError);
      expect(make('__Host-sid', { secure: true, domain: 'a.test' })).toThrow(SessConfigError);
      expect(make('__Secure-sid', {})).toThrow(SessConfigError);
      expect(make('__Host-sid', { secure: 'auto' })).not.toThrow();
    });

    it('a __Host- session cookie over HTTPS is accepted and sent', async () => {
      const server = await t.serve(
        createApp({ name: '__Host-sid', cookie: { secure: true, sameSite: 'lax' } }),
        true,
      );
      const page = await t.open(server.url('/'));
      const [cookie, ...others] = await t.browser().cookies('__Host-sid');
      expect(others).toEqual([]);
      // Host-only (no leading dot), Path=/, Secure: what the prefix demands.
      expect(cookie).toMatchObject({ domain: 'a.test', path: '/', secure: true });
      await visit(page, server.url('/'));
      expect(await views(page)).toBe(2);
    });

    it("a __Host- cookie with secure: 'auto' over plain HTTP: no cookie survives in the browser", async () => {
      // 'auto' counts as Secure for the startup check, but over HTTP sess
      // sends the cookie without Secure, which the browser drops: no session
      // over plain HTTP, as the prefix intends.
      const server = await t.serve(createApp({ name: '__Host-sid', cookie: { secure: 'auto' } }));
      const page = await t.open(server.url('/'));
      expect(await t.browser().cookies('__Host-sid')).toEqual([]);
      await visit(page, server.url('/'));
      expect(await views(page)).toBe(1);
    });
  });

  describe('the clearing cookie keeps name, path, domain, Secure (logout)', () => {
    it('Chromium ignores a clearing cookie without Secure for a __Host- cookie', async () => {
      const jar = await sendRaw(
        ['__Host-raw=1; Secure; Path=/', `__Host-raw=; Path=/; ${EXPIRED}`],
        '__Host-raw',
        true,
      );
      expect(jar.map((cookie) => cookie.value)).toEqual(['1']); // still logged in
    });

    it('sess logout removes a __Host- cookie', async () => {
      const server = await t.serve(
        createApp({ name: '__Host-sid', cookie: { secure: true } }),
        true,
      );
      const page = await t.open(server.url('/'));
      expect(await t.browser().cookies('__Host-sid')).toHaveLength(1);
      await visit(page, server.url('/logout'));
      expect(await t.browser().cookies('__Host-sid')).toEqual([]);
    });

    it('Chromium ignores a clearing cookie whose Path or Domain differs', async () => {
      const byPath = await sendRaw(['raw=1; Path=/app', `raw=; Path=/; ${EXPIRED}`], 'raw', false);
      expect(byPath.map((cookie) => cookie.path)).toEqual(['/app']);
      await t.browser().reset();
      const byDomain = await sendRaw(
        ['raw=1; Path=/; Domain=a.test', `raw=; Path=/; ${EXPIRED}`],
        'raw',
        false,
      );
      expect(byDomain.map((cookie) => cookie.domain)).toEqual(['.a.test']);
    });

    it('sess logout removes a cookie with its own path and domain', async () => {
      const outer = express();
      outer.use('/app', createApp({ name: 'sid', cookie: { path: '/app', domain: 'a.test' } }));
      const server = await t.serve(outer);
      const page = await t.open(server.url('/app/'));
      expect(await t.browser().cookies('sid')).toMatchObject([{ path: '/app', domain: '.a.test' }]);
      await visit(page, server.url('/app/logout'));
      expect(await t.browser().cookies('sid')).toEqual([]);
    });
  });

  describe("secure: 'auto'", () => {
    const backend = (trustProxy: boolean) =>
      createApp({ name: 'sid', trustProxy, cookie: { secure: 'auto' } });

    it('behind a TLS proxy whose X-Forwarded-Proto is trusted: a Secure cookie', async () => {
      const app = await t.serve(backend(true));
      const proxy = await t.serve(proxyTo(app.port), true);
      const page = await t.open(proxy.url('/'));
      expect(await t.browser().cookies('sid')).toMatchObject([{ secure: true }]);
      await visit(page, proxy.url('/'));
      expect(await views(page)).toBe(2);
    });

    it('behind a proxy that is not trusted: the cookie is not Secure', async () => {
      const app = await t.serve(backend(false));
      const proxy = await t.serve(proxyTo(app.port), true);
      await t.open(proxy.url('/'));
      expect(await t.browser().cookies('sid')).toMatchObject([{ secure: false }]);
    });

    it('secure: true behind an untrusted proxy: no cookie at all (as express-session)', async () => {
      const app = await t.serve(createApp({ name: 'sid', cookie: { secure: true } }));
      const proxy = await t.serve(proxyTo(app.port), true);
      await t.open(proxy.url('/'));
      expect(await t.browser().cookies('sid')).toEqual([]);
    });

    it('direct HTTP: not Secure; direct HTTPS: Secure', async () => {
      const plain = await t.serve(backend(false));
      await t.open(plain.url('/'));
      expect(await t.browser().cookies('sid')).toMatchObject([{ secure: false }]);
      await t.browser().reset();
      const tls = await t.serve(backend(false), true);
      await t.open(tls.url('/'));
      expect(await t.browser().cookies('sid')).toMatchObject([{ secure: true }]);
    });
  });

  describe("sameSite: 'auto'", () => {
    const app = () => createApp({ name: 'sid', cookie: { secure: 'auto', sameSite: 'auto' } });

    it('over HTTPS: SameSite=None with Secure, kept by the browser', async () => {
      const server = await t.serve(app(), true);
      await t.open(server.url('/'));
      expect(await t.browser().cookies('sid')).toMatchObject([{ sameSite: 'None', secure: true }]);
    });

    it('over HTTP: SameSite=Lax, kept by the browser', async () => {
      const server = await t.serve(app());
      const page = await t.open(server.url('/'));
      const [cookie] = await t.browser().cookies('sid');
      expect(cookie).toMatchObject({ sameSite: 'Lax', secure: false });
      await visit(page, server.url('/'));
      expect(await views(page)).toBe(2);
      expect(sessionIdOf((await t.browser().cookies('sid'))[0]?.value ?? '')).toBe(
        sessionIdOf(cookie?.value ?? ''),
      );
    });

    it('also when cookie is a function of the request (README difference 10)', async () => {
      const make = () =>
        createApp({ name: 'sid', cookie: () => ({ secure: 'auto', sameSite: 'auto' }) });
      const tls = await t.serve(make(), true);
      await t.open(tls.url('/'));
      expect(await t.browser().cookies('sid')).toMatchObject([{ sameSite: 'None', secure: true }]);
      await t.browser().reset();
      const plain = await t.serve(make());
      await t.open(plain.url('/'));
      expect(await t.browser().cookies('sid')).toMatchObject([{ sameSite: 'Lax', secure: false }]);
    });
  });
});
