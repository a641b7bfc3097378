#!/usr/bin/env node
// Packaging smoke test: pack every public package, install the tarballs (no
// workspace links) into a fresh project outside the workspace, and run a small
// app in ESM and in CommonJS against each store whose backend is at hand. Then
// certify a store defined in that project with the conformance CLI.
import { execFileSync } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '../..');
const work = mkdtempSync(join(tmpdir(), 'sess-smoke-'));
const tarballs = join(work, 'tarballs');
const project = join(work, 'app');
mkdirSync(tarballs);
mkdirSync(project);

function run(cmd, args, options = {}) {
  console.error(`$ ${cmd} ${args.join(' ')}`);
  return execFileSync(cmd, args, {
    stdio: ['ignore', 'pipe', 'inherit'],
    encoding: 'utf8',
    ...options,
  });
}

// 1. Pack every public package.
const packed = {};
for (const dir of readdirSync(join(repo, 'packages'))) {
  const manifest = JSON.parse(readFileSync(join(repo, 'packages', dir, 'package.json'), 'utf8'));
  if (manifest.private) continue;
  run('pnpm', ['pack', '--pack-destination', tarballs], { cwd: join(repo, 'packages', dir) });
  const file = readdirSync(tarballs).find(
    (f) =>
      f.startsWith(manifest.name.replace('@', '').replace('/', '-')) &&
      !Object.values(packed).includes(join(tarballs, f)),
  );
  if (!file) throw new Error(`no tarball for ${manifest.name}`);
  packed[manifest.name] = join(tarballs, file);
}

// 2. A fresh project that installs them from the tarballs, with the clients users bring.
writeFileSync(
  join(project, 'package.json'),
  JSON.stringify({ name: 'sess-smoke-app', private: true }, null, 2),
);
cpSync(join(here, 'fixtures'), project, { recursive: true });
run(
  'npm',
  [
    'install',
    '--no-audit',
    '--no-fund',
    '--loglevel=error',
    ...Object.values(packed),
    'express@^5',
    'fastify@^5',
    '@fastify/cookie@^11',
    'better-sqlite3@^12',
    'ioredis@^5',
    'pg@^8',
    'mongodb@^6',
    'vitest@^3',
    '@types/node@^20',
  ],
  { cwd: project },
);

// 3. The app, ESM and CJS, per store.
const stores = [['memory'], ['sqlite']];
if (process.env.SESS_REDIS_URL) stores.push(['redis']);
if (process.env.SESS_POSTGRES_URL) stores.push(['postgres']);
if (process.env.SESS_MONGO_URL) stores.push(['mongo']);
for (const [store] of stores) {
  for (const entry of ['app.mjs', 'app.cjs']) {
    const out = run('node', [entry, store], { cwd: project, timeout: 60_000 });
    if (!out.includes('smoke ok')) throw new Error(`${entry} ${store}: ${out}`);
    console.log(`ok  ${entry} with the ${store} store`);
  }
}
// @sess/fastify, ESM and CJS, with one real store (SQLite).
for (const entry of ['fastify-app.mjs', 'fastify-app.cjs']) {
  const out = run('node', [entry, 'sqlite'], { cwd: project, timeout: 60_000 });
  if (!out.includes('smoke ok')) throw new Error(`${entry} sqlite: ${out}`);
  console.log(`ok  ${entry} (@sess/fastify) with the sqlite store`);
}
for (const missing of ['redis', 'postgres', 'mongo'].filter(
  (s) => !stores.some(([n]) => n === s),
)) {
  console.log(
    `SKIPPED ${missing}: no SESS_${missing === 'postgres' ? 'POSTGRES' : missing.toUpperCase()}_URL`,
  );
}

// 4. Types resolve from the tarballs (ESM and CJS consumers).
const tsc = join(repo, 'node_modules', 'typescript', 'bin', 'tsc');
run('node', [tsc, '-p', 'tsconfig.json'], { cwd: project });
console.log('ok  types (tsc, module nodenext, ESM and CJS files)');

// 5. A project with node-redis v5 and no ioredis (both are optional peers of
// @sess/store-redis): its types check without ioredis, and the store works
// through the node-redis client it is given, from ESM and CJS.
const nodeRedisProject = join(work, 'node-redis-app');
mkdirSync(nodeRedisProject);
writeFileSync(
  join(nodeRedisProject, 'package.json'),
  JSON.stringify({ name: 'sess-smoke-node-redis', private: true }, null, 2),
);
cpSync(join(here, 'node-redis'), nodeRedisProject, { recursive: true });
run(
  'npm',
  [
    'install',
    '--no-audit',
    '--no-fund',
    '--loglevel=error',
    packed['@sess/core'],
    packed['@sess/store-redis'],
    'redis@^5',
    '@types/node@^20',
  ],
  { cwd: nodeRedisProject },
);
if (existsSync(join(nodeRedisProject, 'node_modules', 'ioredis'))) {
  throw new Error('ioredis was installed with @sess/store-redis: it must stay an optional peer');
}
run('node', [tsc, '-p', 'tsconfig.json'], { cwd: nodeRedisProject });
console.log('ok  types with node-redis and without ioredis (tsc, ESM and CJS files)');
if (process.env.SESS_REDIS_URL) {
  for (const entry of ['app.mjs', 'app.cjs']) {
    const out = run('node', [entry], { cwd: nodeRedisProject, timeout: 60_000 });
    if (!out.includes('smoke ok')) throw new Error(`node-redis ${entry}: ${out}`);
    console.log(`ok  ${entry} with the redis store on node-redis, no ioredis installed`);
  }
} else {
  console.log('SKIPPED redis store on node-redis: no SESS_REDIS_URL');
}

// 6. The conformance CLI certifies a store written in this project.
const cli = run(
  'npx',
  ['--no-install', 'sess-conformance', './map-store.mjs', '--json', 'report.json'],
  {
    cwd: project,
    timeout: 120_000,
  },
);
const report = JSON.parse(readFileSync(join(project, 'report.json'), 'utf8'));
if (!/passed/.test(cli) || report.summary?.failed !== 0) throw new Error(`conformance CLI: ${cli}`);
console.log(`ok  sess-conformance on a project-local store: ${JSON.stringify(report.summary)}`);

if (!process.env.SESS_SMOKE_KEEP) rmSync(work, { recursive: true, force: true });
console.log('smoke: all passed');
