// `node src/profile.mjs <library> <store> [workload]`: one contender's server
// under the V8 CPU profiler, loaded like the benchmark does; prints where its
// CPU time went (self time by function and by package) and keeps the
// .cpuprofile under bench/results/ for Chrome DevTools. The profile covers
// the load only (started after seeding, stopped when autocannon ends; see
// profile-hook.mjs), so µs per request are not diluted by start-up and seeding.
//   --connections 32 --duration 6 --sessions 1000
//   --framework fastify   (library @fastify/session, @sess/fastify or none; default express)
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { SERVER_SCRIPTS } from './servers.mjs';

const { values, positionals } = parseArgs({
  // `pnpm ... -- <args>` hands the script a literal `--` first.
  args: process.argv.slice(2).filter((arg) => arg !== '--'),
  allowPositionals: true,
  options: {
    connections: { type: 'string', default: '32' },
    duration: { type: 'string', default: '6' },
    sessions: { type: 'string', default: '1000' },
    framework: { type: 'string', default: 'express' },
  },
});
const [library = 'sess', store = 'memory', workload = '1'] = positionals;
const script = SERVER_SCRIPTS[values.framework];
if (!script) {
  console.error(`--framework must be one of ${Object.keys(SERVER_SCRIPTS).join(', ')}`);
  process.exit(2);
}
const name = `${values.framework === 'express' ? '' : `${values.framework}-`}${library.replace(/\W+/g, '_')}`;
const PATHS = { 1: ['/read', 0], 2: ['/write', 0], 3: ['/new', null], 4: ['/read', 50] };
const [path, kb] = PATHS[workload];
const dir = new URL(
  `../results/profile-${name}-${store}-w${workload}-${Date.now()}/`,
  import.meta.url,
).pathname;
mkdirSync(dir, { recursive: true });

const file = `${dir}${name}-${store}-w${workload}.cpuprofile`;
const child = spawn(
  process.execPath,
  ['--import', new URL('./profile-hook.mjs', import.meta.url).pathname, script, library, store],
  { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, SESS_PROFILE_FILE: file } },
);
let out = '';
child.stdout.on('data', (chunk) => {
  out += chunk;
});
/** Resolves once the server has printed a line matching `pattern`. */
const printed = (pattern) =>
  new Promise((resolve, reject) => {
    const check = () => {
      const match = pattern.exec(out);
      if (!match) return;
      child.stdout.off('data', check);
      resolve(match);
    };
    child.stdout.on('data', check);
    child.once('exit', (code) => reject(new Error(`server exited with ${code}`)));
    check();
  });
const port = (await printed(/listening (\d+)/))[1];
const url = `http://127.0.0.1:${port}`;
// The server exiting after the load is expected; before it, a crash.
child.removeAllListeners('exit');

const cookies = [];
if (kb !== null && library !== 'none') {
  for (let i = 0; i < Number(values.sessions); i++) {
    const res = await fetch(`${url}/seed?kb=${kb}`, { method: 'POST' });
    cookies.push(res.headers.getSetCookie()[0].split(';')[0]);
    await res.arrayBuffer();
  }
}
child.kill('SIGUSR2');
await printed(/profile started/);
let turn = 0;
const run = await autocannon({
  url,
  connections: Number(values.connections),
  duration: Number(values.duration),
  requests: [
    {
      method: 'GET',
      path,
      setupRequest: (request) =>
        cookies.length
          ? {
              ...request,
              headers: { ...request.headers, cookie: cookies[turn++ % cookies.length] },
            }
          : request,
    },
  ],
});
child.kill('SIGUSR2');
await printed(/profile written/);
child.removeAllListeners('exit');
await new Promise((done) => {
  child.once('exit', done);
  child.kill('SIGTERM');
});

const profile = JSON.parse(readFileSync(file, 'utf8'));
summarize(profile, run.requests.total);
console.log(`\n${Math.round(run.requests.average)} req/s under the profiler; profile: ${file}`);

/** Self time by function and by package (share, and microseconds per request), from a .cpuprofile. */
function summarize({ nodes, samples, timeDeltas }, requests) {
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const self = new Map();
  for (const [i, id] of samples.entries()) self.set(id, (self.get(id) ?? 0) + (timeDeltas[i] ?? 0));
  const total = [...self.values()].reduce((a, b) => a + b, 0);
  const fns = new Map();
  const packages = new Map();
  for (const [id, time] of self) {
    const { functionName, url: script, lineNumber } = byId.get(id).callFrame;
    const where = packageOf(script);
    const name = `${functionName || '(anonymous)'}  ${where}${script ? `:${lineNumber + 1}` : ''}`;
    fns.set(name, (fns.get(name) ?? 0) + time);
    packages.set(where, (packages.get(where) ?? 0) + time);
  }
  const top = (map, n) =>
    [...map]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(
        ([k, v]) =>
          `  ${((100 * v) / total).toFixed(1).padStart(5)}%  ${(v / requests).toFixed(1).padStart(6)} µs/req  ${k}`,
      )
      .join('\n');
  console.log(
    `Self time by package:\n${top(packages, 15)}\n\nSelf time by function:\n${top(fns, 30)}`,
  );
}

function packageOf(script) {
  if (!script) return '(native/gc/idle)';
  const modules = /node_modules\/(?:\.pnpm\/[^/]+\/node_modules\/)?((?:@[^/]+\/)?[^/]+)/.exec(
    script,
  );
  if (modules) return modules[1];
  const ours = /packages\/([^/]+)\//.exec(script);
  if (ours) return `@sess/${ours[1]}`;
  if (script.startsWith('node:')) return 'node core';
  return script.replace(/^file:\/\/.*\/bench\//, 'bench/');
}
