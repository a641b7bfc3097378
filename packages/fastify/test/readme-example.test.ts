import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// Runs the README's example (test/fixtures/readme-example.ts) against the
// built package, as a user would, on a SQLite file of its own.
const dir = mkdtempSync(join(tmpdir(), 'sess-fastify-readme-'));
let child: ChildProcess;
let base = '';

beforeAll(async () => {
  const fixture = fileURLToPath(new URL('./fixtures/readme-example.ts', import.meta.url));
  child = spawn(process.execPath, ['--import', 'tsx', fixture], {
    cwd: fileURLToPath(new URL('..', import.meta.url)),
    env: {
      ...process.env,
      PORT: '0',
      NODE_ENV: 'test',
      SESSION_DB: join(dir, 'sessions.db'),
      SESSION_SECRET: 'the readme example secret, 32 chars or more',
      OLD_SESSION_SECRET: 'the previous readme example secret, also long',
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let output = '';
  const address = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`example did not start: ${output}`)), 30_000);
    child.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const match = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(output);
      if (match?.[1]) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    });
    child.once('exit', (code) => reject(new Error(`example exited with ${code}: ${output}`)));
  });
  base = address;
}, 40_000);

afterAll(async () => {
  if (child && child.exitCode === null) {
    child.kill();
    await once(child, 'exit');
  }
  rmSync(dir, { recursive: true, force: true });
});

async function call(method: string, path: string, cookie?: string) {
  const response = await fetch(base + path, { method, headers: cookie ? { cookie } : {} });
  return {
    status: response.status,
    body: await response.text(),
    cookie: response.headers.getSetCookie()[0]?.split(';')[0],
  };
}

describe('README example', () => {
  it('is the same code as README.md shows', () => {
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    const fixture = readFileSync(new URL('./fixtures/readme-example.ts', import.meta.url), 'utf8');
    const shown = /```ts\n(import fastifyCookie[\s\S]*?)```/.exec(readme)?.[1];
    expect(shown).toBe(fixture.split('\n').slice(2).join('\n'));
  });

  it('counts visits, regenerates at login keeping views, destroys at logout', async () => {
    const first = await call('GET', '/');
    expect(JSON.parse(first.body)).toEqual({ views: 1 });
    const cookie = first.cookie as string;
    expect(cookie).toMatch(/^sessionId=/);
    expect(JSON.parse((await call('GET', '/', cookie)).body)).toEqual({ views: 2 });
    const login = await call('POST', '/login', cookie);
    expect(login.body).toBe('welcome');
    const after = login.cookie as string;
    expect(after).not.toBe(cookie); // a new id
    expect(JSON.parse((await call('GET', '/', after)).body)).toEqual({ views: 3 }); // views kept
    expect(JSON.parse((await call('GET', '/', cookie)).body)).toEqual({ views: 1 }); // old id gone
    expect((await call('POST', '/logout', after)).body).toBe('bye');
    expect(JSON.parse((await call('GET', '/', after)).body)).toEqual({ views: 1 });
  });
});
