// Why the rules exist: the same configuration on express-session (the
// incumbent) and on @sess/express, side by side in one browser.

import { MemoryStore } from '@sess/express';
import type { Express } from 'express';
import expressSession from 'express-session';
import { describe, expect, it } from 'vitest';
import { createApp } from '../src/app.js';
import { createIncumbentApp } from '../src/incumbent.js';
import { chromiumFound, suiteTitle, useBrowser, views, visit } from '../src/suite.js';

const OLD = 'the old secret, long enough for sess!';
const NEW = 'the new secret, long enough for sess!';

describe.skipIf(!chromiumFound.available)(
  suiteTitle('express-session and sess side by side in Chromium'),
  () => {
    const t = useBrowser();

    it('SameSite=None without Secure: express-session loses the session, sess keeps it as Lax', async () => {
      const cookie = { sameSite: 'none', secure: false };
      const incumbent = await t.serve(createIncumbentApp({ name: 'sid', cookie }));
      const page = await t.open(incumbent.url('/'));
      await visit(page, incumbent.url('/'));
      expect(await views(page)).toBe(1); // every visit a new session
      expect(await t.browser().cookies('sid')).toEqual([]);

      const sess = await t.serve(
        createApp({ name: 'sid', cookie: { sameSite: 'none', secure: false } }),
      );
      await visit(page, sess.url('/'));
      await visit(page, sess.url('/'));
      expect(await views(page)).toBe(2);
      expect(await t.browser().cookies('sid')).toMatchObject([{ sameSite: 'Lax' }]);
    });

    it('a __Host- name without secure: express-session starts and the browser drops every cookie', async () => {
      // sess refuses this configuration with SessConfigError (attributes.test.ts).
      const incumbent = await t.serve(createIncumbentApp({ name: '__Host-sid' }), true);
      const page = await t.open(incumbent.url('/'));
      await visit(page, incumbent.url('/'));
      expect(await views(page)).toBe(1);
      expect(await t.browser().cookies('__Host-sid')).toEqual([]);
    });

    it('a rotated secret: express-session never re-signs, so dropping the old secret logs the browser out', async () => {
      // Visit with the old secret, once during the rotation ([new, old]), then
      // with the new secret alone; each middleware keeps its own store throughout.
      const rotate = async (make: (secret: string | string[]) => Express): Promise<number> => {
        await t.browser().reset();
        const page = await t.browser().page();
        for (const [step, secret] of [OLD, [NEW, OLD], NEW].entries()) {
          const server = await t.serve(make(secret));
          await visit(page, server.url(step === 0 ? '/' : '/peek'));
        }
        return views(page);
      };
      const incumbentStore = new expressSession.MemoryStore();
      const sessStore = new MemoryStore();
      expect(
        await rotate((secret) =>
          createIncumbentApp({ name: 'sid', secret, store: incumbentStore }),
        ),
      ).toBe(0);
      expect(await rotate((secret) => createApp({ name: 'sid', secret, store: sessStore }))).toBe(
        1,
      );
    });

    it('parallel requests changing different keys: express-session loses one, sess keeps both', async () => {
      const parallel = async (base: string) => {
        const page = await t.open(`${base}/`); // the session exists before the parallel requests
        return page.evaluate(async (origin) => {
          await Promise.all([
            fetch(`${origin}/later?key=a&ms=150`),
            fetch(`${origin}/later?key=b&ms=50`),
          ]);
          return (await fetch(`${origin}/keys`)).json();
        }, base);
      };
      const incumbent = await t.serve(createIncumbentApp({ name: 'sid' }));
      expect(await parallel(incumbent.url(''))).toEqual({ a: 1, b: 0 }); // b's write was overwritten
      await t.browser().reset();
      const sess = await t.serve(createApp({ name: 'sid' }));
      expect(await parallel(sess.url(''))).toEqual({ a: 1, b: 1 });
    });
  },
);
