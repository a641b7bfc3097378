// Runs the conformance suite's CLI on the incumbent express-session stores, each through core's
// fromCallbackStore bridge against the real services (SESS_* variables), and writes the report:
// results/incumbents.json (every behaviour of every store) and results/incumbents.md (the table).
// Exit 0 when every run reached its verdict (the incumbents may fail behaviours: that is the
// finding); 1 when a run gave no verdict or a required service is missing.
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const cli = join(
  dirname(createRequire(import.meta.url).resolve('@sess/store-conformance/package.json')),
  'dist/cli.js',
);
/** The installed version of a package (read from bench's node_modules: some export no package.json). */
const version = (name) =>
  JSON.parse(readFileSync(join(here, '..', 'node_modules', name, 'package.json'), 'utf8')).version;

/** Each incumbent: its module in src/incumbents, the package it tests, the service it needs. */
export const INCUMBENTS = [
  {
    module: 'express-session-memory',
    package: 'express-session',
    label: 'express-session MemoryStore',
  },
  { module: 'memorystore', package: 'memorystore', label: 'memorystore' },
  {
    module: 'connect-redis',
    package: 'connect-redis',
    label: 'connect-redis',
    env: 'SESS_REDIS_URL',
  },
  {
    module: 'connect-pg-simple',
    package: 'connect-pg-simple',
    label: 'connect-pg-simple',
    env: 'SESS_POSTGRES_URL',
  },
  {
    module: 'connect-mongo',
    package: 'connect-mongo',
    label: 'connect-mongo',
    env: 'SESS_MONGO_URL',
  },
  {
    module: 'better-sqlite3-session-store',
    package: 'better-sqlite3-session-store',
    label: 'better-sqlite3-session-store',
  },
];

/** One CLI run: its exit code and its JSON report (null when it wrote none). */
function runOne(incumbent, scratch) {
  const json = join(scratch, `${incumbent.module}.json`);
  const name = `${incumbent.label} ${version(incumbent.package)}`;
  return new Promise((resolve) => {
    const child = spawn(
      process.execPath,
      [cli, join(here, 'incumbents', `${incumbent.module}.mjs`), '--json', json, '--name', name],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stderr = '';
    child.stdout.resume();
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
    });
    // The CLI bounds every phase itself; this is the last resort against a run that never ends.
    const guard = setTimeout(() => child.kill('SIGKILL'), 10 * 60_000);
    child.on('close', (code, signal) => {
      clearTimeout(guard);
      let report = null;
      try {
        report = JSON.parse(readFileSync(json, 'utf8'));
      } catch {
        report = null;
      }
      resolve({ incumbent, name, code, signal, stderr: stderr.trim(), report });
    });
  });
}

export async function runIncumbents({ only, concurrency = 3 } = {}) {
  const scratch = join(tmpdir(), `sess-incumbents-${process.pid}`);
  mkdirSync(scratch, { recursive: true });
  const chosen = INCUMBENTS.filter((i) => !only || only.includes(i.module));
  const runs = [];
  const queue = [...chosen];
  const worker = async () => {
    for (let next = queue.shift(); next; next = queue.shift()) {
      if (next.env && !process.env[next.env]) {
        runs.push({ incumbent: next, name: next.label, skipped: `${next.env} is not set` });
        continue;
      }
      runs.push(await runOne(next, scratch));
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  rmSync(scratch, { recursive: true, force: true });
  runs.sort((a, b) => chosen.indexOf(a.incumbent) - chosen.indexOf(b.incumbent));
  return runs;
}

/** The Markdown table: one row per incumbent, then each failure with its reason. */
export function table(runs) {
  const lines = ['| store | passed | failed | n.a. | verdict |', '| --- | --- | --- | --- | --- |'];
  for (const run of runs) {
    if (run.skipped) lines.push(`| ${run.name} | | | | skipped: ${run.skipped} |`);
    else if (!run.report)
      lines.push(`| ${run.name} | | | | no verdict (exit ${run.code ?? run.signal}) |`);
    else {
      const { passed, failed, notApplicable } = run.report.summary;
      const outside = run.report.strays.length;
      const verdict = failed + outside === 0 ? 'certified' : `${failed + outside} failures`;
      lines.push(`| ${run.name} | ${passed} | ${failed} | ${notApplicable} | ${verdict} |`);
    }
  }
  lines.push('');
  for (const run of runs) {
    if (!run.report) continue;
    const failures = run.report.results.filter((r) => r.status === 'fail');
    if (failures.length + run.report.strays.length === 0) continue;
    lines.push(`**${run.name}**`, '');
    for (const f of failures) lines.push(`- ${f.group} › ${f.name}: ${oneLine(f.reason)}`);
    for (const s of run.report.strays) lines.push(`- outside the behaviours: ${oneLine(s)}`);
    lines.push('');
  }
  return `${lines.join('\n').trimEnd()}\n`;
}

function oneLine(text = '') {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > 220 ? `${flat.slice(0, 217)}...` : flat;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const only = process.argv.slice(2);
  const runs = await runIncumbents({ only: only.length ? only : undefined });
  const results = join(here, '..', 'results');
  mkdirSync(results, { recursive: true });
  const json = runs.map(({ incumbent, name, code, signal, skipped, report }) => ({
    store: name,
    module: incumbent.module,
    skipped,
    exitCode: code,
    signal,
    report,
  }));
  writeFileSync(join(results, 'incumbents.json'), `${JSON.stringify(json, null, 2)}\n`);
  writeFileSync(join(results, 'incumbents.md'), table(runs));
  process.stdout.write(table(runs));
  const required = process.env.SESS_REQUIRE_SERVICES === '1';
  const incomplete = runs.filter((r) => (r.skipped ? required : !r.report));
  for (const r of incomplete) {
    console.error(
      `incumbents: ${r.name}: ${r.skipped ?? `no verdict (exit ${r.code ?? r.signal}) ${r.stderr}`}`,
    );
  }
  process.exit(incomplete.length ? 1 : 0);
}
