// Runs README.md's node-redis example (test/fixtures/readme-node-redis.mjs) against
// the built package and the real Redis, as a user would; SIGTERM lets it exit.
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { resolveService } from '@sess/store-conformance/services';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';

const service = await resolveService('redis');
const fixture = fileURLToPath(new URL('./fixtures/readme-node-redis.mjs', import.meta.url));

describe('README node-redis example', () => {
  it('is the same code as README.md shows', async () => {
    const readme = await readFile(new URL('../README.md', import.meta.url), 'utf8');
    const code = await readFile(fixture, 'utf8');
    const shown = /```js\n(import \{ session \}[\s\S]*?createClient[\s\S]*?)```/.exec(readme)?.[1];
    // the fixture's two header comment lines are not in the README
    expect(shown).toBe(code.split('\n').slice(2).join('\n'));
  });

  describe.skipIf(!service.available)(
    `runs against Redis${service.available ? '' : ` (SKIPPED: ${service.reason})`}`,
    () => {
      let child: ChildProcess | undefined;
      afterAll(async () => {
        if (child && child.exitCode === null && child.signalCode === null) {
          child.kill('SIGKILL');
          await once(child, 'exit');
        }
      });

      it('counts visits in a session stored under sess:<id>, and exits on SIGTERM', async () => {
        const url = service.available ? service.url : '';
        child = spawn(process.execPath, [fixture], {
          cwd: fileURLToPath(new URL('..', import.meta.url)),
          env: {
            ...process.env,
            PORT: '0',
            REDIS_URL: url,
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

        const first = await fetch(`${base}/`);
        expect(await first.text()).toBe('views: 1');
        const cookie = (first.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
        expect(cookie).toMatch(/^connect\.sid=s%3A/);
        const second = await fetch(`${base}/`, { headers: { cookie } });
        expect(await second.text()).toBe('views: 2');

        // The session is in Redis in connect-redis's layout.
        const id = decodeURIComponent(cookie.slice('connect.sid='.length)).slice(2).split('.')[0];
        const raw = new Redis(url);
        try {
          expect(JSON.parse((await raw.get(`sess:${id}`)) ?? '{}').views).toBe(2);
          await raw.del(`sess:${id}`);
        } finally {
          raw.disconnect();
        }

        // SIGTERM: the server closes, then the store and the client; nothing keeps the process alive.
        const exited = once(child, 'exit');
        child.kill('SIGTERM');
        const [code] = await exited;
        expect(code).toBe(0);
        expect(output).not.toMatch(/redis:/);
      }, 30_000);
    },
  );
});

describe('README "Sessions by user" example', () => {
  const usersFixture = fileURLToPath(new URL('./fixtures/readme-users.mjs', import.meta.url));

  it('is the same code as README.md shows', async () => {
    const readme = await readFile(new URL('../README.md', import.meta.url), 'utf8');
    const code = await readFile(usersFixture, 'utf8');
    const shown = /```js\n(import \{ RedisStore \}[\s\S]*?userSessions[\s\S]*?)```/.exec(
      readme,
    )?.[1];
    // the fixture's two header comment lines are not in the README
    expect(shown).toBe(code.split('\n').slice(2).join('\n'));
  });

  it.skipIf(!service.available)(
    'prints what its comments say against Redis, and exits',
    async () => {
      const child = spawn(process.execPath, [usersFixture], {
        cwd: fileURLToPath(new URL('..', import.meta.url)),
        env: { ...process.env, REDIS_URL: service.available ? service.url : '' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let output = '';
      child.stdout?.on('data', (chunk: Buffer) => {
        output += chunk.toString();
      });
      child.stderr?.on('data', (chunk: Buffer) => {
        output += chunk.toString();
      });
      const [code] = await once(child, 'exit');
      expect(output.trim().split('\n')).toEqual([
        'phone Safari, tablet Chrome, work Edge',
        '3',
        '2',
        'null',
      ]);
      expect(code).toBe(0);
    },
    30_000,
  );
});
