// `pnpm bench`: every contender in its own server process, loaded by
// autocannon from this process, workload by workload; a table per workload
// and a JSON file under bench/results/. Options (all optional):
//   --connections 32 --duration 4 --pipelining 1 --sessions 1000
//   --contenders sess/memory,express-session/redis,...   (substring match)
//   --workloads 1,2,3,4
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { LIBRARIES, STORES, unavailable } from './contenders.mjs';

const { values } = parseArgs({
  options: {
    connections: { type: 'string', default: '32' },
    duration: { type: 'string', default: '4' },
    pipelining: { type: 'string', default: '1' },
    sessions: { type: 'string', default: '1000' },
    contenders: { type: 'string', default: '' },
    workloads: { type: 'string', default: '1,2,3,4' },
  },
});
const settings = {
  connections: Number(values.connections),
  duration: Number(values.duration),
  pipelining: Number(values.pipelining),
  sessions: Number(values.sessions),
};

const WORKLOADS = [
  { id: 1, name: 'returning visitor, reads the session', path: '/read', cookies: 'small' },
  { id: 2, name: 'returning visitor, changes the session', path: '/write', cookies: 'small' },
  { id: 3, name: 'new visitor, first request creates a session', path: '/new', cookies: null },
  { id: 4, name: 'returning visitor, reads a 50 KB session', path: '/read', cookies: 'large' },
].filter((w) => values.workloads.split(',').includes(String(w.id)));

const contenders = [{ library: 'none', store: '-', label: 'express, no session (ceiling)' }];
for (const store of STORES) {
  for (const library of LIBRARIES)
    contenders.push({ library, store, label: `${library} / ${store}` });
}
const filters = values.contenders.split(',').filter(Boolean);
const selected = contenders.filter(
  (c) =>
    c.library === 'none' ||
    filters.length === 0 ||
    filters.some((f) => c.label.includes(f) || `${c.library}/${c.store}`.includes(f)),
);

const results = [];
const skipped = [];
console.log(
  `sess benchmark: ${selected.length} contenders, workloads ${WORKLOADS.map((w) => w.id).join(',')}; ` +
    `${settings.connections} connections, ${settings.duration} s each, pipelining ${settings.pipelining}, ` +
    `${settings.sessions} pre-created sessions; ${cpus().length} cores, Node ${process.version}`,
);

for (const contender of selected) {
  const reason = contender.library === 'none' ? null : unavailable(contender.store);
  if (reason) {
    skipped.push({ contender: contender.label, reason });
    console.log(`SKIPPED ${contender.label}: ${reason}`);
    continue;
  }
  const server = await startServer(contender);
  try {
    const jars = {};
    if (contender.library !== 'none') {
      if (WORKLOADS.some((w) => w.cookies === 'small')) jars.small = await seed(server.url, 0);
      if (WORKLOADS.some((w) => w.cookies === 'large')) jars.large = await seed(server.url, 50);
    }
    await load(server.url, '/read', jars.small ?? [], 1); // warm-up, not measured
    for (const workload of WORKLOADS) {
      const before = await ops(server.url);
      const run = await load(
        server.url,
        workload.path,
        jars[workload.cookies] ?? [],
        settings.duration,
      );
      const after = await ops(server.url);
      // Per request the server served (autocannon leaves out those in flight at the end).
      const served = after.requests - before.requests;
      const per = (key) => (served > 0 ? (after[key] - before[key]) / served : 0);
      const row = {
        contender: contender.label,
        library: contender.library,
        store: contender.store,
        workload: workload.id,
        requestsPerSecond: run.requests.average,
        p50: run.latency.p50,
        p99: run.latency.p99,
        requests: run.requests.total,
        served,
        non2xx: run.non2xx,
        errors: run.errors + run.timeouts,
        readsPerRequest: per('get'),
        writesPerRequest: per('set') + per('compareAndSet'),
        setsPerRequest: per('set'),
        compareAndSetsPerRequest: per('compareAndSet'),
        touchesPerRequest: per('touch'),
        destroysPerRequest: per('destroy'),
      };
      results.push(row);
      console.log(
        `  ${contender.label.padEnd(32)} w${workload.id}  ${Math.round(row.requestsPerSecond)} req/s` +
          (row.non2xx || row.errors ? `  (${row.non2xx} non-2xx, ${row.errors} errors)` : ''),
      );
    }
  } finally {
    await server.stop();
  }
}

for (const workload of WORKLOADS) printTable(workload);
const targets = checkTargets();
console.log('\nTargets (issue 8):');
for (const t of targets) console.log(`  ${t.met ? 'met   ' : 'MISSED'} ${t.target}: ${t.detail}`);
if (skipped.length) {
  console.log('\nSkipped (no backend):');
  for (const s of skipped) console.log(`  ${s.contender}: ${s.reason}`);
}
mkdirSync(new URL('../results/', import.meta.url), { recursive: true });
const file = new URL(
  `../results/${new Date().toISOString().replace(/[:.]/g, '-')}.json`,
  import.meta.url,
);
writeFileSync(
  file,
  `${JSON.stringify({ date: new Date().toISOString(), node: process.version, cores: cpus().length, settings, workloads: WORKLOADS, results, skipped, targets }, null, 2)}\n`,
);
console.log(`\nwritten: ${file.pathname}`);

// --- helpers -------------------------------------------------------------------

function startServer({ library, store }) {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [new URL('./server.mjs', import.meta.url).pathname, library, store],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
        env: process.env,
      },
    );
    let out = '';
    child.stdout.on('data', (chunk) => {
      out += chunk;
      const match = /listening (\d+)/.exec(out);
      if (match) {
        child.stdout.removeAllListeners('data');
        child.stdout.resume();
        resolve({
          url: `http://127.0.0.1:${match[1]}`,
          stop: () =>
            new Promise((done) => {
              child.once('exit', done);
              child.kill('SIGTERM');
              setTimeout(() => child.kill('SIGKILL'), 5_000).unref();
            }),
        });
      }
    });
    child.once('exit', (code) =>
      reject(new Error(`server ${library}/${store} exited with ${code}`)),
    );
  });
}

/** Pre-create sessions through HTTP, 16 at a time; resolves their cookies. */
async function seed(url, kb) {
  const cookies = [];
  let started = 0;
  const worker = async () => {
    while (started < settings.sessions) {
      started += 1;
      const res = await fetch(`${url}/seed?kb=${kb}`, { method: 'POST' });
      const cookie = res.headers.getSetCookie()[0]?.split(';')[0];
      await res.arrayBuffer();
      if (!cookie) throw new Error(`seeding got no cookie (status ${res.status})`);
      cookies.push(cookie);
    }
  };
  await Promise.all(Array.from({ length: 16 }, worker));
  return cookies;
}

async function ops(url) {
  const res = await fetch(`${url}/ops`);
  return res.json();
}

/** autocannon on one path, cycling through the cookies of returning visitors. */
function load(url, path, cookies, duration) {
  let turn = 0;
  return autocannon({
    url,
    connections: settings.connections,
    pipelining: settings.pipelining,
    duration,
    requests: [
      {
        method: 'GET',
        path,
        setupRequest: (request) => {
          if (cookies.length === 0) return request;
          const cookie = cookies[turn++ % cookies.length];
          return { ...request, headers: { ...request.headers, cookie } };
        },
      },
    ],
  });
}

function printTable(workload) {
  const rows = results.filter((r) => r.workload === workload.id);
  const ceiling = rows.find((r) => r.library === 'none');
  const pad = (text, n) => String(text).padStart(n);
  console.log(`\nWorkload ${workload.id}: ${workload.name}`);
  console.log(
    `${'contender'.padEnd(32)}${pad('req/s', 9)}${pad('p50 ms', 8)}${pad('p99 ms', 8)}${pad('reads/req', 11)}${pad('writes/req', 12)}${pad('touch/req', 11)}${pad('vs express-session', 20)}${pad('vs ceiling', 12)}${pad('failed', 8)}`,
  );
  for (const row of rows) {
    const incumbent = rows.find((r) => r.library === 'express-session' && r.store === row.store);
    const ratio = (a, b) => (b ? `${(a / b).toFixed(2)}x` : '-');
    console.log(
      `${row.contender.padEnd(32)}${pad(Math.round(row.requestsPerSecond), 9)}${pad(row.p50, 8)}${pad(row.p99, 8)}` +
        `${pad(row.readsPerRequest.toFixed(2), 11)}${pad(row.writesPerRequest.toFixed(2), 12)}${pad(row.touchesPerRequest.toFixed(2), 11)}` +
        `${pad(row.library === 'sess' ? ratio(row.requestsPerSecond, incumbent?.requestsPerSecond) : '', 20)}` +
        `${pad(ratio(row.requestsPerSecond, ceiling?.requestsPerSecond), 12)}` +
        `${pad(row.non2xx + row.errors, 8)}`,
    );
  }
}

/** The targets, checked against this run's figures. */
function checkTargets() {
  const out = [];
  const sess = results.filter((r) => r.library === 'sess');
  for (const row of sess) {
    const incumbent = results.find(
      (r) =>
        r.library === 'express-session' && r.store === row.store && r.workload === row.workload,
    );
    if (incumbent) {
      const ratio = row.requestsPerSecond / incumbent.requestsPerSecond;
      out.push({
        target: `w${row.workload} ${row.store}: sess >= 1.2x express-session`,
        met: ratio >= 1.2,
        detail: `${ratio.toFixed(2)}x`,
      });
    }
    const withCookie = row.workload !== 3;
    const reads = row.readsPerRequest;
    const writes = row.writesPerRequest + row.touchesPerRequest;
    const unmodified = row.workload === 1 || row.workload === 4;
    const opsMet =
      (withCookie ? reads <= 1.005 : reads === 0) &&
      writes <= 1.005 &&
      (!unmodified || writes === 0);
    out.push({
      target: `w${row.workload} ${row.store}: store operations`,
      met: opsMet,
      detail: `${reads.toFixed(3)} reads, ${writes.toFixed(3)} writes+touches per request`,
    });
  }
  const ceiling = results.find((r) => r.library === 'none' && r.workload === 1);
  const memory = sess.find((r) => r.store === 'memory' && r.workload === 1);
  if (ceiling && memory) {
    const ratio = memory.requestsPerSecond / ceiling.requestsPerSecond;
    out.push({
      target: 'w1 memory: sess within 15% of the ceiling',
      met: ratio >= 0.85,
      detail: `${ratio.toFixed(2)}x of the ceiling`,
    });
  }
  return out;
}
