// What every browser test file shares: the Chromium (or the named reason it is
// skipped), one browser per file, servers closed and the jar emptied after each test.

import type { RequestListener } from 'node:http';
import type { Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll } from 'vitest';
import { type Browser, type LaunchOptions, launch, resolveChromium } from './browser.js';
import { type Server, serve } from './servers.js';

export const chromiumFound = resolveChromium();

/** The suite's title: says why it is skipped when it is. */
export function suiteTitle(title: string): string {
  if (chromiumFound.available) return title;
  const why = `skipped: ${chromiumFound.reason}`;
  console.warn(`@sess/e2e ${title}: ${why}`);
  return `${title} (${why})`;
}

/** Call inside a `describe.skipIf(!chromiumFound.available)` block. */
export function useBrowser(options: LaunchOptions = {}) {
  let browser: Browser | undefined;
  const servers: Server[] = [];
  beforeAll(async () => {
    if (!chromiumFound.available) return;
    browser = await launch(chromiumFound.path, options);
  });
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((server) => server.close()));
    await browser?.reset();
  });
  afterAll(async () => {
    await browser?.close();
  });
  const get = (): Browser => {
    if (!browser) throw new Error('the browser did not start');
    return browser;
  };
  return {
    browser: get,
    /** Start a server that is closed after the test. */
    async serve(listener: RequestListener, tls = false): Promise<Server> {
      const server = await serve(listener, { tls });
      servers.push(server);
      return server;
    },
    /** A new tab, navigated to `url`; fails on a non-2xx answer. */
    async open(url: string): Promise<Page> {
      const page = await get().page();
      await visit(page, url);
      return page;
    },
  };
}

/** Navigate and check the answer was a success. */
export async function visit(page: Page, url: string): Promise<void> {
  const response = await page.goto(url);
  if (!response?.ok()) throw new Error(`${url} answered ${response?.status()}`);
}

/** The visit count the page shows. */
export async function views(page: Page): Promise<number> {
  return Number(await page.locator('#views').textContent());
}
