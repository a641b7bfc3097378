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
  if (e === undefined || e === null) return Date.now() + 86_400_000;
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
  async close() {}
}
export function createStore({ namespace }) {
  if (!spaces.has(namespace)) spaces.set(namespace, new Map());
  return new MapStore(spaces.get(namespace));
}
`;

function run(file: string, json: string) {
  return spawnSync(
    process.execPath,
    [cli, file, '--json', json, '--name', 'third-party map store'],
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
});
