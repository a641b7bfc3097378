// The CLI, run the way a third party runs it: from a project outside this
// workspace, against a store module defined there that imports nothing of ours.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { ConformanceReport } from '../src/index.js';

const cli = new URL('../dist/cli.js', import.meta.url).pathname;
const project = mkdtempSync(join(tmpdir(), 'sess-conformance-cli-'));
afterAll(() => rmSync(project, { recursive: true, force: true }));

/** A Map-backed store with every capability; `ignoreExpiry` makes it broken on purpose. */
const storeModule = (ignoreExpiry: boolean) => `
const spaces = new Map();
const expiryOf = (record) => {
  const e = record.cookie && record.cookie.expires;
  if (e === undefined || e === null || e === false) return Date.now() + 86_400_000;
  const ms = Date.parse(e);
  return Number.isNaN(ms) ? 0 : ms;
};
class MapStore {
  constructor(space) { this.data = space; }
  live(id) {
    const entry = this.data.get(id);
    if (!entry) return null;
    if (!${ignoreExpiry} && entry.expires <= Date.now()) { this.data.delete(id); return null; }
    return entry;
  }
  async get(id) { const e = this.live(id); return e ? JSON.parse(e.json) : null; }
  async set(id, record) {
    if (this.closed) throw new Error('the store is closed');
    const expires = expiryOf(record);
    if (!${ignoreExpiry} && expires <= Date.now()) { this.data.delete(id); return; }
    this.data.set(id, { json: JSON.stringify(record), expires });
  }
  async touch(id, record) {
    const e = this.live(id);
    if (!e) return;
    e.expires = expiryOf(record);
    if (e.expires <= Date.now()) this.data.delete(id);
  }
  async destroy(id) { this.data.delete(id); }
  async ids() { return [...this.data.keys()].filter((id) => this.live(id)); }
  async all() {
    const out = {};
    for (const id of await this.ids()) out[id] = await this.get(id);
    return out;
  }
  async length() { return (await this.ids()).length; }
  async clear() { this.data.clear(); }
  async compareAndSet(id, expected, next) {
    const e = this.live(id);
    if ((e ? e.json : null) !== (expected === null ? null : JSON.stringify(expected))) return false;
    await this.set(id, next);
    return true;
  }
  async close() { this.closed = true; }
}
export function createStore({ namespace }) {
  if (!spaces.has(namespace)) spaces.set(namespace, new Map());
  return new MapStore(spaces.get(namespace));
}
`;

function run(file: string, json: string, ...flags: string[]) {
  return spawnSync(
    process.execPath,
    [cli, file, '--json', json, '--name', 'third-party map store', ...flags],
    {
      cwd: project,
      encoding: 'utf8',
      timeout: 120_000,
    },
  );
}

describe('sess-conformance CLI', () => {
  writeFileSync(join(project, 'package.json'), '{ "name": "my-store", "type": "module" }\n');

  it('certifies a correct store: every behaviour listed, exit 0, a JSON report', () => {
    writeFileSync(join(project, 'map-store.mjs'), storeModule(false));
    const result = run('./map-store.mjs', 'good.json');
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(result.stdout).toMatch(/^pass {2}basics › get of an unknown id resolves null$/m);
    expect(result.stdout).toMatch(/^n\.a\. {2}failure › .*\(no `unreachable` store given\)$/m);
    const report = JSON.parse(
      readFileSync(join(project, 'good.json'), 'utf8'),
    ) as ConformanceReport;
    expect(report.store).toBe('third-party map store');
    expect(report.summary.failed).toBe(0);
    expect(report.summary.passed).toBeGreaterThanOrEqual(60);
    expect(report.summary.total).toBe(report.results.length);
    expect(result.stdout).toContain(`${report.summary.passed} passed, 0 failed`);
  }, 120_000);

  it('fails a store that ignores expiry: named failures, exit 1', () => {
    writeFileSync(join(project, 'broken-store.mjs'), storeModule(true));
    const result = run('./broken-store.mjs', 'broken.json');
    expect(result.status).toBe(1);
    expect(result.stdout).toMatch(
      /^FAIL {2}expiry › a record whose cookie\.expires has passed is not returned by get/m,
    );
    const report = JSON.parse(
      readFileSync(join(project, 'broken.json'), 'utf8'),
    ) as ConformanceReport;
    expect(report.summary.failed).toBeGreaterThan(0);
    expect(report.results.find((r) => r.status === 'fail')?.reason).toBeTruthy();
  }, 120_000);

  it('explains a module that exports no factory, exit 2', () => {
    writeFileSync(join(project, 'empty.mjs'), 'export const nothing = 1;\n');
    const result = run('./empty.mjs', 'empty.json');
    expect(result.status).toBe(2);
    expect(result.stderr).toMatch(/exports no store factory/);
  });

  it('a store whose close() never settles gets a verdict: what hung is named, exit 1, never 0', () => {
    // Nothing else keeps the event loop alive: without the CLI's own guard the process would
    // drain and exit 0 with no summary.
    writeFileSync(
      join(project, 'hangs-on-close.mjs'),
      `${storeModule(false)}
export const timeout = 700;
const never = () => new Promise(() => {});
MapStore.prototype.close = function () { this.closed = true; return never(); };
for (const m of ['get', 'set', 'destroy']) {
  const own = MapStore.prototype[m];
  MapStore.prototype[m] = function (...args) { return this.closed ? never() : own.apply(this, args); };
}
`,
    );
    const result = run('./hangs-on-close.mjs', 'hangs.json', '--grep', 'basics › set then get');
    expect(result.status).toBe(1);
    // The behaviour answered; its cleanup hung, and is reported as such, bounded by the module's timeout.
    expect(result.stdout).toMatch(
      /^FAIL {2}basics › set then get returns the record \[cleanup\] {2}\(cleanup after the behaviour did not finish within 700 ms; store calls still pending: close\(\) \(the behaviour itself passed in \d+ ms\)\)$/m,
    );
    // Detection's own cleanup hung too: reported, not a reason to give no verdict.
    expect(result.stdout).toMatch(
      /^FAIL {2}outside the behaviours: cleaning up the store used for capability detection failed: did not finish within 700 ms; store calls still pending: close\(\)$/m,
    );
    expect(result.stdout).toContain('0 passed, 1 failed, 0 n.a., 1 failed outside the behaviours');

    // --timeout wins over the module's export; operations after close are bounded too.
    const lifecycle = run(
      './hangs-on-close.mjs',
      'hangs2.json',
      '--grep',
      'lifecycle',
      '--timeout',
      '500',
    );
    expect(lifecycle.status).toBe(1);
    expect(lifecycle.stdout).toMatch(
      /^FAIL {2}lifecycle › close resolves {2}\(the behaviour did not finish within 500 ms; store calls still pending: close\(\)\)$/m,
    );
    expect(lifecycle.stdout).toMatch(
      /^FAIL {2}lifecycle › operations after close settle instead of hanging/m,
    );
    const report = JSON.parse(
      readFileSync(join(project, 'hangs2.json'), 'utf8'),
    ) as ConformanceReport;
    expect(report.summary.failed).toBeGreaterThanOrEqual(3);
  }, 60_000);

  it('an unhandled rejection from the store fails the running behaviour and the run goes on', () => {
    writeFileSync(
      join(project, 'rejects-unhandled.mjs'),
      `${storeModule(false)}
MapStore.prototype.destroy = async function (id) {
  this.data.delete(id);
  Promise.reject(new Error('late boom from destroy'));
};
`,
    );
    const result = run('./rejects-unhandled.mjs', 'unhandled.json', '--grep', 'basics');
    expect(result.status).toBe(1);
    expect(result.stderr).not.toMatch(/at .*rejects-unhandled/); // no Node crash trace
    expect(result.stdout).toMatch(
      /^FAIL {2}basics › destroy removes the record {2}\(the store raised an error nobody could catch: Error: late boom from destroy\)$/m,
    );
    expect(result.stdout).toMatch(/^pass {2}basics › set then get returns the record$/m);
    expect(result.stdout).toMatch(/\d+ passed, \d+ failed, 0 n\.a\./);
  }, 60_000);

  it('a run that cannot reach its summary exits 3: the store ends the process, or cannot be created', () => {
    writeFileSync(
      join(project, 'exits.mjs'),
      `${storeModule(false)}
MapStore.prototype.set = async function () { process.exit(0); };
`,
    );
    const exits = run('./exits.mjs', 'exits.json');
    expect(exits.status).toBe(3);
    expect(exits.stderr).toMatch(/the run ended before its summary \(no verdict\)/);

    writeFileSync(
      join(project, 'no-backend.mjs'),
      "export function createStore() { throw new Error('connection refused'); }\n",
    );
    const broken = run('./no-backend.mjs', 'no-backend.json');
    expect(broken.status).toBe(3);
    expect(broken.stderr).toMatch(/capability detection failed: connection refused/);
  }, 60_000);
});
