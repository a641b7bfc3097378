// `pnpm bench`: sess against express-session on each store, and on Fastify
// @sess/fastify against @fastify/session. Both libraries' servers of one store
// run side by side (a process each); every workload is loaded in rounds that
// alternate between them (express-session, sess, express-session, sess, ...),
// so a slow spell on the shared machine hits both and each round gives one
// sess ÷ incumbent ratio. The tables print the median ratio and its spread
// (min–max). Then the memory report. Options (all optional; see bench/README.md):
//   --rounds 3 --duration 3 --connections 32 --pipelining 1 --sessions 1000
//   --contenders sess/memory,redis,fastify,...   (substring match)   --workloads 1,2,3,4
//   --memory-sessions 100000 --in-flight 500 --skip-memory
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { cpus } from 'node:os';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import {
  FASTIFY_LIBRARIES,
  FASTIFY_STORES,
  LIBRARIES,
  STORES,
  unavailable,
  VARIANT_STORES,
} from './contenders.mjs';
import { startServer } from './servers.mjs';

// `pnpm bench -- --x` hands the script a literal `--` before the options.
const args = process.argv.slice(2).filter((arg) => arg !== '--');
const { values } = parseArgs({
  args,
  options: {
    connections: { type: 'string', default: '32' },
    duration: { type: 'string', default: '3' },
    rounds: { type: 'string', default: '3' },
    pipelining: { type: 'string', default: '1' },
    sessions: { type: 'string', default: '1000' },
    contenders: { type: 'string', default: '' },
    workloads: { type: 'string', default: '1,2,3,4' },
    'memory-sessions': { type: 'string', default: '100000' },
    'in-flight': { type: 'string', default: '500' },
    'skip-memory': { type: 'boolean', default: false },
  },
});
const settings = {
  connections: positive('connections'),
  duration: positive('duration'),
  rounds: positive('rounds'),
  pipelining: positive('pipelining'),
  sessions: positive('sessions'),
  memorySessions: positive('memory-sessions'),
  inFlight: positive('in-flight'),
};
const TARGET_VS_INCUMBENT = 1.2;
const TARGET_VS_CEILING = 0.7;

const WORKLOADS = [
  { id: 1, name: 'returning visitor, reads the session', path: '/read', cookies: 'small' },
  { id: 2, name: 'returning visitor, changes the session', path: '/write', cookies: 'small' },
  { id: 3, name: 'new visitor, first request creates a session', path: '/new', cookies: null },
  { id: 4, name: 'returning visitor, reads a 50 KB session', path: '/read', cookies: 'large' },
].filter((w) => values.workloads.split(',').includes(String(w.id)));

/**
 * The frameworks: each has its incumbent and sess library, its stores and its
 * ceiling (the framework with no session); servers.mjs knows each one's server
 * script. `key` names the incumbent's figures in the JSON summary.
 */
const FRAMEWORKS = [
  {
    id: 'express',
    title: null,
    incumbent: 'express-session',
    short: 'e-s',
    key: 'expressSession',
    sess: 'sess',
    libraries: LIBRARIES,
    stores: [...STORES, ...VARIANT_STORES],
    ceiling: { library: 'none', store: '-', label: 'express, no session (ceiling)' },
    ceilingTarget: TARGET_VS_CEILING,
  },
  {
    id: 'fastify',
    title: 'Fastify: @sess/fastify against @fastify/session, bare Fastify as the ceiling',
    incumbent: '@fastify/session',
    short: 'f-s',
    key: 'fastifySession',
    sess: '@sess/fastify',
    libraries: FASTIFY_LIBRARIES,
    stores: FASTIFY_STORES,
    ceiling: { library: 'none', store: '-', label: 'fastify, no session (ceiling)' },
    ceilingTarget: null,
  },
];
const filters = values.contenders.split(',').filter(Boolean);
// A filter matches the label, `library/store` or `framework/store` (so
// `fastify/redis` selects both Fastify contenders on Redis).
const wanted = (c) =>
  filters.length === 0 ||
  filters.some(
    (f) =>
      c.label.includes(f) ||
      `${c.library}/${c.store}`.includes(f) ||
      `${c.framework}/${c.store}`.includes(f),
  );

// One group per framework and store: its contenders load in alternation. A
// framework's ceiling joins its memory group (its ratio is taken against sess
// on memory), or runs alone; it runs when any of its framework's contenders
// does (or when a filter names it).
const groups = [];
for (const fw of FRAMEWORKS) {
  const own = [];
  for (const store of fw.stores) {
    const members = fw.libraries.map((library) => ({
      framework: fw.id,
      library,
      store,
      label: `${library} / ${store}`,
    }));
    const chosen = members.filter(wanted);
    if (chosen.length > 0) own.push({ framework: fw.id, store, contenders: chosen });
  }
  const ceiling = { framework: fw.id, ...fw.ceiling };
  if (own.length === 0 && !(filters.length > 0 && wanted(ceiling))) continue;
  const memoryGroup = own.find((g) => g.store === 'memory');
  if (memoryGroup) memoryGroup.contenders.push(ceiling);
  else own.unshift({ framework: fw.id, store: '-', contenders: [ceiling] });
  groups.push(...own);
}

const results = [];
const skipped = [];
const started = Date.now();
console.log(
  `sess benchmark: stores ${groups.map((g) => (g.framework === 'express' ? g.store : `${g.framework}:${g.store}`)).join(',')}, workloads ${WORKLOADS.map((w) => w.id).join(',')}; ` +
    `${settings.rounds} rounds x ${settings.duration} s per contender and workload, alternating; ` +
    `${settings.connections} connections, pipelining ${settings.pipelining}, ${settings.sessions} pre-created sessions; ` +
    `${cpus().length} cores, Node ${process.version}`,
);

for (const group of groups) {
  const reason = group.store === '-' ? null : unavailable(group.store);
  if (reason) {
    for (const c of group.contenders.filter((c) => c.library !== 'none')) {
      skipped.push({ contender: c.label, reason });
      console.log(`SKIPPED ${c.label}: ${reason}`);
    }
    group.contenders = group.contenders.filter((c) => c.library === 'none');
    if (group.contenders.length === 0) continue;
  }
  const servers = [];
  try {
    for (const contender of group.contenders) {
      const server = await startServer(contender);
      servers.push({ contender, server, jars: {} });
    }
    for (const { contender, server, jars } of servers) {
      if (contender.library === 'none') continue;
      if (WORKLOADS.some((w) => w.cookies === 'small')) jars.small = await seed(server.url, 0);
      if (WORKLOADS.some((w) => w.cookies === 'large')) jars.large = await seed(server.url, 50);
    }
    for (const workload of WORKLOADS) {
      // Warm-up on this workload's route, not measured.
      for (const { server, jars } of servers) {
        await load(server.url, workload.path, jars[workload.cookies] ?? [], 1);
      }
      for (let round = 1; round <= settings.rounds; round++) {
        const line = [];
        for (const { contender, server, jars } of servers) {
          const row = await measure(contender, server, workload, jars, round);
          results.push(row);
          line.push(
            `${contender.label} ${Math.round(row.requestsPerSecond)}` +
              (row.non2xx || row.errors ? ` (${row.non2xx} non-2xx, ${row.errors} errors)` : ''),
          );
        }
        console.log(`  w${workload.id} round ${round}: ${line.join(' | ')}`);
      }
    }
  } finally {
    for (const { server } of servers) await server.stop();
  }
}

const summaries = {};
for (const fw of FRAMEWORKS) {
  if (!results.some((r) => r.framework === fw.id)) continue;
  summaries[fw.id] = WORKLOADS.map((workload) => summarize(workload, fw));
  if (fw.title) console.log(`\n${fw.title}`);
  for (const table of summaries[fw.id]) printTable(table, fw);
}
const summary = summaries.express ?? [];

let memory = null;
if (!values['skip-memory']) {
  memory = await memoryReport();
  printMemory(memory);
}

const targets = FRAMEWORKS.flatMap((fw) =>
  summaries[fw.id] ? checkTargets(summaries[fw.id], fw) : [],
);
console.log(
  '\nTargets (issues 15 and 18; met = every round meets it, "median only" = the median does but not every round):',
);
for (const t of targets) console.log(`  ${t.status.padEnd(11)} ${t.target}: ${t.detail}`);
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
  `${JSON.stringify({ date: new Date().toISOString(), node: process.version, cores: cpus().length, settings, workloads: WORKLOADS, summary, fastify: summaries.fastify ?? null, memory, results, skipped, targets }, null, 2)}\n`,
);
console.log(`\nwritten: ${file.pathname} (${Math.round((Date.now() - started) / 1000)} s in all)`);

// --- measuring -------------------------------------------------------------------

function positive(name) {
  const n = Number(values[name]);
  if (!(n > 0)) {
    console.error(`--${name} must be a positive number (got ${values[name]})`);
    process.exit(2);
  }
  return n;
}

async function measure(contender, server, workload, jars, round) {
  const before = await settled(server.url);
  const run = await load(
    server.url,
    workload.path,
    jars[workload.cookies] ?? [],
    settings.duration,
  );
  // Requests still in flight when the load stopped were counted on arrival: wait (at most
  // 30 s) until each has made its store calls, or their writes land in no round's count.
  const after = await settled(server.url);
  // Per request the server served (autocannon leaves out those in flight at the end).
  const served = after.requests - before.requests;
  const count = (key) => after[key] - before[key];
  return {
    contender: contender.label,
    framework: contender.framework,
    library: contender.library,
    store: contender.store,
    workload: workload.id,
    round,
    requestsPerSecond: run.requests.average,
    p50: run.latency.p50,
    p99: run.latency.p99,
    requests: run.requests.total,
    served,
    // CPU time of the server process per request it served (µs; the store's server not included).
    cpuPerRequest: served > 0 ? (after.cpu - before.cpu) / served : null,
    non2xx: run.non2xx,
    errors: run.errors + run.timeouts,
    ops: {
      get: count('get'),
      set: count('set'),
      compareAndSet: count('compareAndSet'),
      touch: count('touch'),
      destroy: count('destroy'),
    },
  };
}

/** Pre-create sessions through HTTP, 16 at a time; resolves their cookies. */
async function seed(url, kb, count = settings.sessions) {
  const cookies = [];
  let started = 0;
  const worker = async () => {
    while (started < count) {
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

/** `ops` once the server has no request open and no store call pending. */
async function settled(url) {
  for (let waited = 0; ; waited += 50) {
    const counts = await ops(url);
    if (!(counts.busy > 0) || waited >= 30_000) return counts;
    await new Promise((r) => setTimeout(r, 50));
  }
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

// --- summarizing -----------------------------------------------------------------

function median(list) {
  const sorted = [...list].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

function spread(list) {
  return list.length === 0
    ? null
    : { median: median(list), min: Math.min(...list), max: Math.max(...list), each: list };
}

/** Per contender: median req/s and latencies over the rounds, store operations over all of them. */
function contenderFigures(rows) {
  if (rows.length === 0) return null;
  const served = rows.reduce((a, r) => a + r.served, 0);
  const total = (key) => rows.reduce((a, r) => a + r.ops[key], 0);
  const per = (n) => (served > 0 ? n / served : 0);
  return {
    requestsPerSecond: spread(rows.map((r) => r.requestsPerSecond)),
    p50: median(rows.map((r) => r.p50)),
    p99: median(rows.map((r) => r.p99)),
    cpuPerRequest: median(rows.map((r) => r.cpuPerRequest ?? Number.NaN)),
    served,
    failed: rows.reduce((a, r) => a + r.non2xx + r.errors, 0),
    readsPerRequest: per(total('get')),
    writesPerRequest: per(total('set') + total('compareAndSet')),
    setsPerRequest: per(total('set')),
    compareAndSetsPerRequest: per(total('compareAndSet')),
    touchesPerRequest: per(total('touch')),
    destroysPerRequest: per(total('destroy')),
  };
}

/** Ratios of `a` over `b`, round by round (the rounds ran next to each other). */
function pairedRatios(a, b) {
  const out = [];
  for (const row of a) {
    const other = b.find((r) => r.round === row.round);
    if (other && other.requestsPerSecond > 0) {
      out.push(row.requestsPerSecond / other.requestsPerSecond);
    }
  }
  return spread(out);
}

function summarize(workload, fw) {
  const of = (library, store) =>
    results.filter(
      (r) =>
        r.framework === fw.id &&
        r.workload === workload.id &&
        r.library === library &&
        r.store === store,
    );
  const ceilingRows = of('none', '-');
  const stores = [];
  for (const store of fw.stores) {
    const incumbent = of(fw.incumbent, store);
    const sess = of(fw.sess, store);
    if (incumbent.length === 0 && sess.length === 0) continue;
    stores.push({
      store,
      [fw.key]: contenderFigures(incumbent),
      sess: contenderFigures(sess),
      ratio: pairedRatios(sess, incumbent),
      sessVsCeiling: store === 'memory' ? pairedRatios(sess, ceilingRows) : null,
      [`${fw.key}VsCeiling`]: store === 'memory' ? pairedRatios(incumbent, ceilingRows) : null,
    });
  }
  return {
    workload: workload.id,
    name: workload.name,
    ceiling: contenderFigures(ceilingRows),
    stores,
  };
}

function x(n) {
  return `${n.toFixed(2)}x`;
}
function range(s) {
  return s ? `${x(s.min)}–${x(s.max)}` : '-';
}
function pad(text, n) {
  return String(text).padStart(n);
}

function printTable({ workload, name, ceiling, stores }, fw) {
  const incumbentWidth = Math.max(16, fw.incumbent.length + 2);
  const sessWidth = Math.max(8, fw.sess.length + 2);
  console.log(`\nWorkload ${workload}: ${name} (median of ${settings.rounds} rounds)`);
  console.log(
    `${'store'.padEnd(11)}${pad(fw.incumbent, incumbentWidth)}${pad(fw.sess, sessWidth)}${pad(`sess ÷ ${fw.short}`, 12)}${pad('spread', 14)}` +
      `${pad('sess ops/req r w t', 22)}${pad(`${fw.short} ops/req r w t`, 22)}${pad(`p99 ${fw.short}/sess`, 15)}${pad('failed', 8)}` +
      `${pad(`cpu µs/req ${fw.short}/sess`, 23)}`,
  );
  const opsText = (f) =>
    f
      ? `${f.readsPerRequest.toFixed(2)} ${f.writesPerRequest.toFixed(2)} ${f.touchesPerRequest.toFixed(2)}`
      : '-';
  const rps = (f) => (f ? Math.round(f.requestsPerSecond.median) : '-');
  const cpu = (f) => (f && Number.isFinite(f.cpuPerRequest) ? Math.round(f.cpuPerRequest) : '-');
  for (const s of stores) {
    const incumbent = s[fw.key];
    console.log(
      `${s.store.padEnd(11)}${pad(rps(incumbent), incumbentWidth)}${pad(rps(s.sess), sessWidth)}` +
        `${pad(s.ratio ? x(s.ratio.median) : '-', 12)}${pad(range(s.ratio), 14)}` +
        `${pad(opsText(s.sess), 22)}${pad(opsText(incumbent), 22)}` +
        `${pad(`${incumbent?.p99 ?? '-'}/${s.sess?.p99 ?? '-'}`, 15)}` +
        `${pad((incumbent?.failed ?? 0) + (s.sess?.failed ?? 0), 8)}` +
        `${pad(`${cpu(incumbent)}/${cpu(s.sess)}`, 23)}`,
    );
  }
  if (ceiling) {
    const memory = stores.find((s) => s.store === 'memory');
    const vs = (r) => (r ? `${x(r.median)} (${range(r)})` : '-');
    console.log(
      `ceiling (${fw.id}, no session): ${Math.round(ceiling.requestsPerSecond.median)} req/s; ` +
        `on memory, ${fw.sess} ÷ ceiling ${vs(memory?.sessVsCeiling)}, ${fw.incumbent} ÷ ceiling ${vs(memory?.[`${fw.key}VsCeiling`])}`,
    );
  }
}

/** The issues' targets, checked against this run's paired ratios. */
function checkTargets(tables, fw) {
  const out = [];
  const status = (r, target) =>
    r.min >= target ? 'met' : r.median >= target ? 'median only' : 'MISSED';
  // The Express lines keep their names; Fastify's are prefixed.
  const where = (workload, store) =>
    `${fw.id === 'express' ? '' : `${fw.id} `}w${workload} ${store}`;
  for (const { workload, stores } of tables) {
    for (const s of stores) {
      if (s.ratio) {
        out.push({
          target: `${where(workload, s.store)}: ${fw.sess} >= ${TARGET_VS_INCUMBENT}x ${fw.incumbent}`,
          status: status(s.ratio, TARGET_VS_INCUMBENT),
          detail: `${x(s.ratio.median)} (${range(s.ratio)})`,
        });
      }
      if (s.sess) {
        const f = s.sess;
        const withCookie = workload !== 3;
        const unmodified = workload === 1 || workload === 4;
        const writes = f.writesPerRequest + f.touchesPerRequest;
        const met =
          (withCookie ? f.readsPerRequest <= 1.005 : f.readsPerRequest === 0) &&
          writes <= 1.005 &&
          (!unmodified || writes === 0);
        out.push({
          target: `${where(workload, s.store)}: store operations`,
          status: met ? 'met' : 'MISSED',
          detail: `${f.readsPerRequest.toFixed(3)} reads, ${writes.toFixed(3)} writes+touches per request`,
        });
      }
      if (workload === 1 && s.sessVsCeiling && fw.ceilingTarget) {
        out.push({
          target: `w1 memory: sess >= ${fw.ceilingTarget}x the ceiling`,
          status: status(s.sessVsCeiling, fw.ceilingTarget),
          detail: `${x(s.sessVsCeiling.median)} (${range(s.sessVsCeiling)})`,
        });
      }
    }
  }
  return out;
}

// --- memory ----------------------------------------------------------------------

/**
 * Resident memory of each MemoryStore holding `memorySessions` sessions (a
 * process each), and heap per in-flight request: `inFlight` requests parked
 * inside the handler of each server on the memory store, heap measured after
 * a full GC with them open, against the same server idle.
 */
async function memoryReport() {
  console.log(
    `\nmemory: ${settings.memorySessions} sessions per MemoryStore; ${settings.inFlight} requests in flight`,
  );
  const stores = {};
  for (const library of LIBRARIES) stores[library] = await storeMemory(library);
  const inFlight = {};
  for (const library of ['none', ...LIBRARIES]) inFlight[library] = await inFlightHeap(library);
  return { sessions: settings.memorySessions, stores, requests: settings.inFlight, inFlight };
}

function storeMemory(library) {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [
        '--expose-gc',
        new URL('./memory.mjs', import.meta.url).pathname,
        library,
        String(settings.memorySessions),
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let out = '';
    child.stdout.on('data', (chunk) => {
      out += chunk;
    });
    child.once('exit', (code) => {
      if (code !== 0) return reject(new Error(`memory.mjs ${library} exited with ${code}`));
      const { before, after } = JSON.parse(out);
      resolve({
        rssBytes: after.rss - before.rss,
        heapBytes: after.heapUsed - before.heapUsed,
        rssBytesPerSession: (after.rss - before.rss) / settings.memorySessions,
        heapBytesPerSession: (after.heapUsed - before.heapUsed) / settings.memorySessions,
      });
    });
  });
}

async function inFlightHeap(library) {
  const server = await startServer({ library, store: 'memory' }, ['--expose-gc']);
  const agent = new http.Agent({ keepAlive: true, maxSockets: Number.POSITIVE_INFINITY });
  try {
    const cookies = library === 'none' ? [] : await seed(server.url, 0, settings.inFlight);
    const heap = async (gc = true) => (await fetch(`${server.url}/heap?gc=${gc ? 1 : 0}`)).json();
    const hold = async () => {
      const responses = Array.from({ length: settings.inFlight }, (_, i) =>
        request(agent, `${server.url}/hold`, cookies[i]),
      );
      for (let waited = 0; (await heap(false)).held < settings.inFlight; waited += 20) {
        if (waited > 30_000) throw new Error(`${library}: requests never reached the handler`);
        await new Promise((r) => setTimeout(r, 20));
      }
      return responses;
    };
    const release = async (responses) => {
      await fetch(`${server.url}/release`, { method: 'POST' });
      await Promise.all(responses);
    };
    // Once for warm-up: the sockets stay open (keep-alive), so the second
    // round measures the requests, not the connections.
    await release(await hold());
    const idle = await heap();
    const responses = await hold();
    const busy = await heap();
    await release(responses);
    return {
      heapBytesPerRequest: (busy.heapUsed - idle.heapUsed) / settings.inFlight,
      rssBytesPerRequest: (busy.rss - idle.rss) / settings.inFlight,
    };
  } finally {
    agent.destroy();
    await server.stop();
  }
}

function request(agent, url, cookie) {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent, headers: cookie ? { cookie } : {} }, (res) => {
      res.resume();
      res.on('end', () =>
        res.statusCode === 200 ? resolve() : reject(new Error(`status ${res.statusCode}`)),
      );
    });
    req.on('error', reject);
  });
}

function printMemory({ sessions, stores, requests, inFlight }) {
  const mb = (b) => `${(b / 1024 / 1024).toFixed(1)} MB`;
  const kb = (b) => `${(b / 1024).toFixed(2)} KB`;
  console.log(
    `\nMemory: ${sessions} sessions in each MemoryStore (a process each, after a full GC)`,
  );
  console.log(
    `${'store'.padEnd(34)}${pad('resident', 12)}${pad('per session', 14)}${pad('heap', 12)}${pad('per session', 14)}`,
  );
  for (const [library, m] of Object.entries(stores)) {
    const name = library === 'sess' ? "@sess/core's MemoryStore" : "express-session's MemoryStore";
    console.log(
      `${name.padEnd(34)}${pad(mb(m.rssBytes), 12)}${pad(`${Math.round(m.rssBytesPerSession)} B`, 14)}` +
        `${pad(mb(m.heapBytes), 12)}${pad(`${Math.round(m.heapBytesPerSession)} B`, 14)}`,
    );
  }
  const ratio = stores.sess.rssBytes / stores['express-session'].rssBytes;
  console.log(`resident memory, sess ÷ express-session: ${x(ratio)}`);
  console.log(
    `\nHeap per in-flight request (${requests} parked in the handler, memory store, after a full GC)`,
  );
  for (const [library, m] of Object.entries(inFlight)) {
    const name = library === 'none' ? 'express, no session (ceiling)' : library;
    const extra =
      library === 'none'
        ? ''
        : `  (+${kb(m.heapBytesPerRequest - inFlight.none.heapBytesPerRequest)} over the ceiling)`;
    console.log(`${name.padEnd(34)}${pad(kb(m.heapBytesPerRequest), 12)}${extra}`);
  }
}
