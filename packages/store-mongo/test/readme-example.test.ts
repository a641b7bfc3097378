// Runs README.md's "Sessions by user" example (test/fixtures/readme-users.mjs) against the
// built package and the real server, as a user would; SIGTERM lets it exit.
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { MongoClient } from 'mongodb';
import { afterAll, describe, expect, it } from 'vitest';
import { mongoUrl, skipReason, uniqueName } from './helpers.js';

const fixture = fileURLToPath(new URL('./fixtures/readme-users.mjs', import.meta.url));

describe('README "Sessions by user" example', () => {
  it('is the same code as README.md shows', async () => {
    const readme = await readFile(new URL('../README.md', import.meta.url), 'utf8');
    const code = await readFile(fixture, 'utf8');
    const shown = /```js\n(import \{ session \}[\s\S]*?users: \{[\s\S]*?)```/.exec(readme)?.[1];
    // the fixture's two header comment lines are not in the README
    expect(shown).toBe(code.split('\n').slice(2).join('\n'));
  });

  describe.skipIf(skipReason)('runs against the server', () => {
    const dbName = uniqueName('sess_readme');
    let child: ChildProcess | undefined;
    afterAll(async () => {
      if (child && child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
        await once(child, 'exit');
      }
      const client = new MongoClient(mongoUrl);
      await client
        .db(dbName)
        .dropDatabase()
        .catch(() => undefined);
      await client.close();
    });

    it('lists a user’s devices, caps them at 3, logs out everywhere else, and exits on SIGTERM', async () => {
      const url = new URL(mongoUrl);
      url.pathname = `/${dbName}`;
      child = spawn(process.execPath, [fixture], {
        cwd: fileURLToPath(new URL('..', import.meta.url)),
        env: {
          ...process.env,
          PORT: '0',
          MONGO_URL: url.toString(),
          SESSION_SECRET: 'a README example secret of thirty-two characters or more',
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let output = '';
      child.stderr?.on('data', (chunk: Buffer) => {
        output += chunk.toString();
      });
      const base = await new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`did not start: ${output}`)), 15_000);
        child?.stdout?.on('data', (chunk: Buffer) => {
          output += chunk.toString();
          const match = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(output);
          if (match?.[1]) {
            clearTimeout(timer);
            resolve(match[1]);
          }
        });
        child?.once('exit', (code) => reject(new Error(`exited with ${code}: ${output}`)));
      });

      const login = async (user: string, agent: string) => {
        const response = await fetch(`${base}/login`, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded', 'user-agent': agent },
          body: new URLSearchParams({ user }).toString(),
        });
        expect(await response.text()).toBe('welcome');
        return (response.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
      };
      const sessions = async (cookie: string) => {
        const response = await fetch(`${base}/sessions`, { headers: { cookie } });
        return response.status === 200
          ? ((await response.json()) as {
              id: string;
              current: boolean;
              meta: { userAgent?: string };
              createdAt: number | null;
              expiresAt: number;
            }[])
          : response.status;
      };

      const phone = await login('ada', 'phone');
      const laptop = await login('ada', 'laptop');
      const bob = await login('bob', 'tablet');
      const listed = await sessions(laptop);
      expect(Array.isArray(listed) && listed.length).toBe(2);
      if (!Array.isArray(listed)) return;
      expect(listed.map(({ meta }) => meta.userAgent).sort()).toEqual(['laptop', 'phone']);
      expect(listed.filter(({ current }) => current).map(({ meta }) => meta.userAgent)).toEqual([
        'laptop',
      ]);
      expect(listed.every(({ expiresAt }) => expiresAt === null || expiresAt > Date.now())).toBe(
        true,
      );

      // the cap: a fourth login of ada logs out the oldest, the phone
      await login('ada', 'desktop');
      const watch = await login('ada', 'watch');
      expect(await sessions(phone)).toBe(401);
      const capped = await sessions(watch);
      expect(Array.isArray(capped) && capped.map(({ meta }) => meta.userAgent)).toEqual([
        'laptop',
        'desktop',
        'watch',
      ]); // oldest first: core stamps cookie.createdAt on every new session
      expect(Array.isArray(capped) && capped.every(({ createdAt }) => createdAt !== null)).toBe(
        true,
      );

      const out = await fetch(`${base}/sessions/others/logout`, {
        method: 'POST',
        headers: { cookie: watch },
      });
      expect(await out.json()).toEqual({ destroyed: 2 });
      const left = await sessions(watch);
      expect(Array.isArray(left) && left.map(({ meta }) => meta.userAgent)).toEqual(['watch']);
      expect(await sessions(laptop)).toBe(401); // logged out everywhere else
      const bobs = await sessions(bob);
      expect(Array.isArray(bobs) && bobs.length).toBe(1); // another user's stay

      // SIGTERM: the server closes, then the store and its client; nothing keeps the process alive.
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      const [code] = await exited;
      expect(code).toBe(0);
    }, 30_000);
  });
});
