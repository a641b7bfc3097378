import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// Runs the node:http example from README.md (test/fixtures/readme-example.ts)
// against the built package, as a user would.
let child: ChildProcess;
let base = '';

beforeAll(async () => {
  const fixture = fileURLToPath(new URL('./fixtures/readme-example.ts', import.meta.url));
  child = spawn(process.execPath, ['--import', 'tsx', fixture], {
    cwd: fileURLToPath(new URL('..', import.meta.url)),
    env: { ...process.env, PORT: '0', NODE_ENV: 'test' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let output = '';
  const port = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`example did not start: ${output}`)), 15_000);
    child.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const match = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(output);
      if (match?.[1]) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    });
    child.once('exit', (code) => reject(new Error(`example exited with ${code}: ${output}`)));
  });
  base = `http://127.0.0.1:${port}`;
}, 20_000);

afterAll(async () => {
  if (child && child.exitCode === null) {
    child.kill();
    await once(child, 'exit');
  }
});

async function get(path: string, cookie?: string) {
  const response = await fetch(base + path, { headers: cookie ? { cookie } : {} });
  const setCookie = response.headers.get('set-cookie');
  return { body: await response.text(), cookie: setCookie?.split(';')[0] };
}

describe('README example (SessionManager over node:http)', () => {
  it('is the same code as README.md shows', async () => {
    const readme = await readFile(new URL('../README.md', import.meta.url), 'utf8');
    const fixture = await readFile(
      new URL('./fixtures/readme-example.ts', import.meta.url),
      'utf8',
    );
    const shown = /```ts\n(import \{ createServer[\s\S]*?)```/.exec(readme)?.[1];
    // the fixture's two header comment lines are not in the README
    expect(shown).toBe(fixture.split('\n').slice(2).join('\n'));
  });

  it('counts visits, regenerates at login, destroys at logout', async () => {
    const first = await get('/');
    expect(first.body).toBe('views: 1, user: -\n');
    expect(first.cookie).toMatch(/^connect\.sid=s%3A/);

    const second = await get('/', first.cookie);
    expect(second.body).toBe('views: 2, user: -\n');

    const login = await get('/login', first.cookie);
    expect(login.body).toBe('views: 0, user: ann\n');
    expect(login.cookie).toMatch(/^connect\.sid=s%3A/);
    expect(login.cookie).not.toBe(first.cookie);

    // the pre-login session is gone: its cookie starts over
    expect((await get('/', first.cookie)).body).toBe('views: 1, user: -\n');

    const afterLogin = await get('/', login.cookie);
    expect(afterLogin.body).toBe('views: 1, user: ann\n');

    expect((await get('/logout', login.cookie)).body).toBe('bye\n');
    expect((await get('/', login.cookie)).body).toBe('views: 1, user: -\n');
  });

  it('a forged cookie is a fresh session, not an error', async () => {
    const forged = await get('/', 'connect.sid=s%3Aforged.AAAA');
    expect(forged.body).toBe('views: 1, user: -\n');
  });
});
