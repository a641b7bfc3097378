// The session cookie in a cross-site context: an iframe of b.test inside a
// page of a.test, and a fetch with credentials from a.test to b.test. The
// profile allows third-party cookies (Chrome's default for a normal profile).

import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { createApp, rawCookieApp } from '../src/app.js';
import { sessionIdOf } from '../src/browser.js';
import type { Server } from '../src/servers.js';
import { chromiumFound, suiteTitle, useBrowser, views, visit } from '../src/suite.js';

const EXPIRED = 'Expires=Thu, 01 Jan 1970 00:00:00 GMT';

/** The visit count inside the iframe. */
const frameViews = async (page: Page) =>
  Number(await page.frameLocator('#child').locator('#views').textContent());

/** a.test's page framing b.test's `path` (one server answers both names). */
const embed = (server: Server, path: string) =>
  server.url(`/embed?src=${encodeURIComponent(server.url(path, 'b.test'))}`, 'a.test');

async function fetchJson(page: Page, url: string): Promise<{ views: number }> {
  return page.evaluate(
    (target) => fetch(target, { credentials: 'include' }).then((res) => res.json()),
    url,
  );
}

describe.skipIf(!chromiumFound.available)(suiteTitle('cross-site cookies in Chromium'), () => {
  const t = useBrowser({ thirdPartyCookies: 'allow' });
  const crossSite = () =>
    createApp({ name: 'sid', cors: true, cookie: { sameSite: 'none', secure: true } });

  it('SameSite=None + Secure: set and sent in a cross-site iframe', async () => {
    const server = await t.serve(crossSite(), true);
    const page = await t.open(embed(server, '/'));
    expect(await frameViews(page)).toBe(1);
    expect(await t.browser().cookies('sid')).toMatchObject([
      { domain: 'b.test', sameSite: 'None', secure: true },
    ]);
    await visit(page, embed(server, '/'));
    expect(await frameViews(page)).toBe(2);
    // The same session when b.test is visited directly.
    await visit(page, server.url('/peek', 'b.test'));
    expect(await views(page)).toBe(2);
  });

  it('SameSite=None + Secure: set and sent by a cross-site fetch with credentials', async () => {
    const server = await t.serve(crossSite(), true);
    const page = await t.open(server.url('/peek', 'a.test'));
    expect(await fetchJson(page, server.url('/api', 'b.test'))).toEqual({ views: 1 });
    expect(await t.browser().cookies('sid')).toMatchObject([
      { domain: 'b.test', sameSite: 'None' },
    ]);
    expect(await fetchJson(page, server.url('/api', 'b.test'))).toEqual({ views: 2 });
  });

  it("sameSite: 'auto' over HTTPS works cross-site", async () => {
    const server = await t.serve(
      createApp({ name: 'sid', cookie: { sameSite: 'auto', secure: 'auto' } }),
      true,
    );
    const page = await t.open(embed(server, '/'));
    await visit(page, embed(server, '/'));
    expect(await frameViews(page)).toBe(2);
  });

  it('the Lax downgrade (None without Secure, plain HTTP): first-party works, cross-site is not sent', async () => {
    const server = await t.serve(
      createApp({ name: 'sid', cookie: { sameSite: 'none', secure: false } }),
    );
    const page = await t.open(server.url('/', 'b.test'));
    const [firstParty] = await t.browser().cookies('sid');
    expect(firstParty).toMatchObject({ sameSite: 'Lax' });

    // In a.test's iframe the Lax cookie is not sent (a new session each
    // time), and the new session's Lax cookie, set by a cross-site
    // response, is refused: the first-party cookie stays as it was.
    await visit(page, embed(server, '/'));
    expect(await frameViews(page)).toBe(1);
    await visit(page, embed(server, '/'));
    expect(await frameViews(page)).toBe(1);
    const jar = await t.browser().cookies('sid');
    expect(jar.map((cookie) => sessionIdOf(cookie.value))).toEqual([
      sessionIdOf(firstParty?.value ?? ''),
    ]);
    await visit(page, server.url('/peek', 'b.test'));
    expect(await views(page)).toBe(1);
  });

  it('Chromium ignores a clearing cookie that is not SameSite=None from a cross-site frame', async () => {
    const server = await t.serve(
      rawCookieApp([
        'raw=1; Path=/; SameSite=None; Secure',
        `raw=; Path=/; Secure; SameSite=Lax; ${EXPIRED}`,
        `raw=; Path=/; Secure; ${EXPIRED}`,
      ]),
      true,
    );
    const page = await t.open(embed(server, '/set?c=0'));
    expect(await t.browser().cookies('raw')).toHaveLength(1);
    await visit(page, embed(server, '/set?c=1'));
    await visit(page, embed(server, '/set?c=2')); // no SameSite: Lax by default
    expect(await t.browser().cookies('raw')).toHaveLength(1); // still logged in
  });

  it('sess logout inside a cross-site frame removes the cookie (the clearing cookie keeps SameSite=None)', async () => {
    const server = await t.serve(crossSite(), true);
    const page = await t.open(embed(server, '/'));
    expect(await t.browser().cookies('sid')).toHaveLength(1);
    await visit(page, embed(server, '/logout'));
    expect(await t.browser().cookies('sid')).toEqual([]);
  });
});
