// Partitioned cookies (CHIPS) in a profile that blocks third-party cookies:
// the only way an embedded b.test keeps a session inside a.test's page.

import { SessConfigError } from '@sess/core';
import { session } from '@sess/express';
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { createApp, rawCookieApp, SECRET } from '../src/app.js';
import type { Host } from '../src/browser.js';
import type { Server } from '../src/servers.js';
import { chromiumFound, suiteTitle, useBrowser, views, visit } from '../src/suite.js';

const EXPIRED = 'Expires=Thu, 01 Jan 1970 00:00:00 GMT';

const frameViews = async (page: Page) =>
  Number(await page.frameLocator('#child').locator('#views').textContent());

/** `top`'s page framing b.test's `path`. */
const embed = (server: Server, path: string, top: Host = 'a.test') =>
  server.url(`/embed?src=${encodeURIComponent(server.url(path, 'b.test'))}`, top);

describe.skipIf(!chromiumFound.available)(suiteTitle('partitioned cookies in Chromium'), () => {
  const t = useBrowser({ thirdPartyCookies: 'block' });
  const partitioned = () =>
    createApp({ name: 'sid', cookie: { sameSite: 'none', secure: true, partitioned: true } });

  it('third-party cookies blocked: an unpartitioned SameSite=None cookie gets no session in the frame', async () => {
    const server = await t.serve(
      createApp({ name: 'sid', cookie: { sameSite: 'none', secure: true } }),
      true,
    );
    const page = await t.open(embed(server, '/'));
    await visit(page, embed(server, '/'));
    expect(await frameViews(page)).toBe(1);
    expect(await t.browser().cookies('sid')).toEqual([]);
  });

  it('a partitioned session cookie is kept and sent in the frame, under the top-level site only', async () => {
    const server = await t.serve(partitioned(), true);
    const page = await t.open(embed(server, '/'));
    expect(await t.browser().cookies('sid')).toMatchObject([
      { domain: 'b.test', secure: true, sameSite: 'None', partitionKey: 'https://a.test' },
    ]);
    await visit(page, embed(server, '/'));
    expect(await frameViews(page)).toBe(2);

    // Under c.test, b.test's frame has a separate jar: a new session.
    await visit(page, embed(server, '/', 'c.test'));
    expect(await frameViews(page)).toBe(1);
    const keys = (await t.browser().cookies('sid')).map((cookie) => cookie.partitionKey).sort();
    expect(keys).toEqual(['https://a.test', 'https://c.test']);

    // And b.test visited directly sees neither.
    await visit(page, server.url('/peek', 'b.test'));
    expect(await views(page)).toBe(0);
  });

  it('Chromium ignores a clearing cookie without Partitioned for a partitioned cookie', async () => {
    const server = await t.serve(
      rawCookieApp([
        'raw=1; Path=/; SameSite=None; Secure; Partitioned',
        `raw=; Path=/; SameSite=None; Secure; ${EXPIRED}`,
      ]),
      true,
    );
    const page = await t.open(server.url('/set?c=0'));
    await visit(page, server.url('/set?c=1'));
    expect(await t.browser().cookies('raw')).toMatchObject([{ value: '1' }]);
  });

  it('sess logout in the frame removes the partitioned cookie of that partition only', async () => {
    const server = await t.serve(partitioned(), true);
    const page = await t.open(embed(server, '/'));
    await visit(page, embed(server, '/', 'c.test'));
    expect(await t.browser().cookies('sid')).toHaveLength(2);
    await visit(page, embed(server, '/logout'));
    expect(await t.browser().cookies('sid')).toMatchObject([{ partitionKey: 'https://c.test' }]);
  });

  it('Chromium drops a Partitioned cookie without Secure; sess refuses partitioned without secure at startup', async () => {
    const server = await t.serve(rawCookieApp(['raw=1; Path=/; Partitioned']));
    await t.open(server.url('/set?c=0'));
    expect(await t.browser().cookies('raw')).toEqual([]);
    expect(() => session({ secret: SECRET, cookie: { partitioned: true } })).toThrow(
      SessConfigError,
    );
  });

  // With `partitioned: true` and `secure: 'auto'` over plain HTTP, the session
  // cookie goes out without `Partitioned` (core's Cookie writes it only with
  // `Secure`; README difference 4), so Chromium keeps it and the session works
  // first-party. (`partitioned: true` with `secure: false` is refused at startup.)
  it("partitioned with secure: 'auto' over plain HTTP: the session still works first-party", async () => {
    const server = await t.serve(
      createApp({ name: 'sid', cookie: { secure: 'auto', partitioned: true } }),
    );
    const page = await t.open(server.url('/'));
    await visit(page, server.url('/'));
    expect(await views(page)).toBe(2);
    const jar = await t.browser().cookies('sid');
    expect(jar).toHaveLength(1);
    expect(jar[0]?.partitionKey).toBeUndefined(); // first-party, unpartitioned
  });
});
