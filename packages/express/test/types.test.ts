// Issue 13, section 4: the types a migrating TypeScript project sees, checked
// by compiling small projects with tsc (module nodenext), as ESM and as
// CommonJS, with skipLibCheck off and on: the built packages are linked into
// each project's node_modules as an installed package would be.
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const here = dirname(fileURLToPath(import.meta.url));
const pkg = resolve(here, '..');
const repo = resolve(pkg, '../..');
const fixtures = join(here, 'types');
const require = createRequire(join(pkg, 'package.json'));
const tsc = join(repo, 'node_modules', 'typescript', 'bin', 'tsc');
const work = mkdtempSync(join(tmpdir(), 'sess-express-types-'));

afterAll(() => {
  rmSync(work, { recursive: true, force: true });
});

/** Where a package the express package depends on is installed (its real directory). */
function installed(name: string): string {
  return dirname(require.resolve(`${name}/package.json`));
}

interface Project {
  format: 'module' | 'commonjs';
  skipLibCheck: boolean;
  /** Files of the project: name → contents. */
  files: Record<string, string>;
  /** Install @types/express-session and a store package whose types import it. */
  expressSessionTypes?: boolean;
}

let count = 0;
function makeProject(project: Project): string {
  const dir = join(work, `p${count++}`);
  const modules = join(dir, 'node_modules');
  mkdirSync(join(modules, '@sess'), { recursive: true });
  mkdirSync(join(modules, '@types'), { recursive: true });
  symlinkSync(pkg, join(modules, '@sess', 'express'));
  symlinkSync(resolve(pkg, '../core'), join(modules, '@sess', 'core'));
  symlinkSync(installed('express'), join(modules, 'express'));
  symlinkSync(installed('@types/express'), join(modules, '@types', 'express'));
  symlinkSync(resolve(repo, 'node_modules/@types/node'), join(modules, '@types', 'node'));
  if (project.expressSessionTypes) {
    symlinkSync(installed('@types/express-session'), join(modules, '@types', 'express-session'));
    mkdirSync(join(modules, 'legacy-store'));
    writeFileSync(
      join(modules, 'legacy-store', 'package.json'),
      JSON.stringify({ name: 'legacy-store', version: '1.0.0', types: 'index.d.ts' }),
    );
    writeFileSync(
      join(modules, 'legacy-store', 'index.d.ts'),
      readFileSync(join(fixtures, 'legacy-store.d.ts'), 'utf8'),
    );
  }
  writeFileSync(
    join(dir, 'package.json'),
    JSON.stringify({ name: 'fixture', private: true, type: project.format }),
  );
  writeFileSync(
    join(dir, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        module: 'nodenext',
        moduleResolution: 'nodenext',
        target: 'es2022',
        strict: true,
        noEmit: true,
        skipLibCheck: project.skipLibCheck,
      },
      files: Object.keys(project.files),
    }),
  );
  for (const [name, text] of Object.entries(project.files)) writeFileSync(join(dir, name), text);
  return dir;
}

/** tsc's output for the project; empty when it compiles. */
function compile(project: Project): Promise<string> {
  const dir = makeProject(project);
  return new Promise((done) => {
    execFile(process.execPath, [tsc, '-p', dir], { timeout: 120_000 }, (error, stdout, stderr) =>
      done(error ? `${stdout}${stderr}` || String(error) : ''),
    );
  });
}

const fixture = (name: string) => readFileSync(join(fixtures, name), 'utf8');

/** The README's "After" block of "Migrating from express-session". */
function readmeAfter(): string {
  const readme = readFileSync(join(pkg, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Migrating from express-session'));
  const after = section.slice(section.indexOf('After ('));
  const match = /```ts\n([\s\S]*?)```/.exec(after);
  if (!match) throw new Error('no TypeScript block after "After (" in the README');
  return match[1] as string;
}

describe.each([false, true])('tsc, module nodenext, skipLibCheck %s', (skipLibCheck) => {
  it('an ESM project: augmentation through @sess/core, SessionOptions, Store with get/set/destroy, the README example', async () => {
    const out = await compile({
      format: 'module',
      skipLibCheck,
      files: { 'app.ts': fixture('app.mts'), 'readme.ts': readmeAfter() },
    });
    expect(out).toBe('');
  }, 120_000);

  it('a CommonJS project: the same, with require and with import syntax', async () => {
    const out = await compile({
      format: 'commonjs',
      skipLibCheck,
      files: { 'app.ts': fixture('app.cts'), 'readme.ts': readmeAfter() },
    });
    expect(out).toBe('');
  }, 120_000);

  it('an ESM project with a store whose types import express-session: one req.session, sess’s, whatever the import order', async () => {
    const out = await compile({
      format: 'module',
      skipLibCheck,
      expressSessionTypes: true,
      files: { 'first.ts': fixture('legacy-first.mts'), 'last.ts': fixture('legacy-last.mts') },
    });
    expect(out).toBe('');
  }, 120_000);

  it('a CommonJS project with a store whose types import express-session', async () => {
    const out = await compile({
      format: 'commonjs',
      skipLibCheck,
      expressSessionTypes: true,
      files: { 'app.ts': fixture('legacy.cts') },
    });
    expect(out).toBe('');
  }, 120_000);
});

it('the checks can fail: a wrong augmentation use is reported', async () => {
  const wrong = fixture('app.mts').replace(
    '// @ts-expect-error user is a string by augmentation\n',
    '',
  );
  const out = await compile({ format: 'module', skipLibCheck: true, files: { 'app.ts': wrong } });
  expect(out).toMatch(/TS2322/);
}, 120_000);
