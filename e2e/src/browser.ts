// One headless Chromium per test file, driven by playwright-core: the system
// browser (Debian's `chromium`), never a downloaded one. Every assertion about
// cookies reads the browser's own jar (`jar()`), not response headers.

import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BrowserContext, type Cookie, chromium, type Page } from 'playwright-core';

/** Host names the browser resolves to 127.0.0.1: distinct sites, all loopback. */
export const HOSTS = ['a.test', 'b.test', 'c.test'] as const;
export type Host = (typeof HOSTS)[number];

const CANDIDATES = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'];

export type ChromiumResolution =
  | { available: true; path: string }
  | { available: false; reason: string };

/**
 * Where Chromium is: SESS_CHROMIUM when set (it must exist), else the usual
 * system paths. Unavailable is a named skip, except with
 * SESS_REQUIRE_SERVICES=1 (CI), where it throws, as a missing store does.
 */
export function resolveChromium(): ChromiumResolution {
  const fromEnv = process.env.SESS_CHROMIUM;
  let resolution: ChromiumResolution;
  if (fromEnv) {
    resolution = existsSync(fromEnv)
      ? { available: true, path: fromEnv }
      : { available: false, reason: `SESS_CHROMIUM=${fromEnv} does not exist` };
  } else {
    const path = CANDIDATES.find((candidate) => existsSync(candidate));
    resolution = path
      ? { available: true, path }
      : {
          available: false,
          reason: `no Chromium at ${CANDIDATES.join(', ')} and SESS_CHROMIUM is not set (apt-get install chromium, or bash scripts/services/chromium.sh)`,
        };
  }
  if (!resolution.available && process.env.SESS_REQUIRE_SERVICES === '1') {
    throw new Error(`SESS_REQUIRE_SERVICES=1 but Chromium is unavailable: ${resolution.reason}`);
  }
  return resolution;
}

export interface LaunchOptions {
  /**
   * `'allow'` (the default) or `'block'`: whether cookies set or sent in a
   * cross-site context are allowed. Blocking is what Incognito does, what a
   * user can choose, and what this Debian Chromium 156 profile does when the
   * preference is not written. Partitioned cookies work either way.
   */
  thirdPartyCookies?: 'allow' | 'block';
}

export interface Browser {
  context: BrowserContext;
  /** A fresh tab. */
  page(): Promise<Page>;
  /** Every cookie the browser holds (partitioned ones carry `partitionKey`). */
  jar(): Promise<Cookie[]>;
  /** The browser's cookies of one name. */
  cookies(name: string): Promise<Cookie[]>;
  /** Forget every cookie and close every tab (between tests). */
  reset(): Promise<void>;
  close(): Promise<void>;
}

/**
 * A persistent profile in a temporary folder, its third-party cookie
 * preference written before launch (Playwright's throwaway contexts are
 * Incognito-like, where third-party cookies are blocked).
 */
export async function launch(path: string, options: LaunchOptions = {}): Promise<Browser> {
  const dir = mkdtempSync(join(tmpdir(), 'sess-e2e-'));
  mkdirSync(join(dir, 'Default'));
  // cookie_controls_mode: 0 = allow third-party cookies, 1 = block them
  // (2 = block in Incognito only).
  const mode = options.thirdPartyCookies === 'block' ? 1 : 0;
  writeFileSync(
    join(dir, 'Default', 'Preferences'),
    JSON.stringify({ profile: { cookie_controls_mode: mode } }),
  );
  const context = await chromium.launchPersistentContext(dir, {
    executablePath: path,
    headless: true,
    viewport: { width: 900, height: 640 },
    args: [
      `--host-resolver-rules=${HOSTS.map((host) => `MAP ${host} 127.0.0.1`).join(', ')}`,
      // The test servers' certificate is a throwaway self-signed one.
      '--ignore-certificate-errors',
    ],
  });
  const jar = () => context.cookies();
  return {
    context,
    page: () => context.newPage(),
    jar,
    cookies: async (name) => (await jar()).filter((cookie) => cookie.name === name),
    async reset() {
      for (const page of context.pages()) await page.close();
      await context.clearCookies();
    },
    async close() {
      try {
        await context.close();
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}

/** The session id inside a signed cookie value (`s:<id>.<signature>`, URL-encoded). */
export function sessionIdOf(value: string): string {
  const decoded = decodeURIComponent(value);
  if (!decoded.startsWith('s:')) throw new Error(`not a signed session cookie: ${value}`);
  return decoded.slice(2, decoded.lastIndexOf('.'));
}

/** The signature part of a signed cookie value. */
export function signatureOf(value: string): string {
  const decoded = decodeURIComponent(value);
  return decoded.slice(decoded.lastIndexOf('.') + 1);
}
