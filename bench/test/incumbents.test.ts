// The incumbent express-session stores through the conformance suite's CLI, against the real
// services: src/incumbents.mjs writes results/incumbents.{json,md}. This asserts that every run
// reached its verdict (a summary and every behaviour reported), not that the incumbents pass:
// their failures are the findings the conformance README's table carries.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { ConformanceReport } from '@sess/store-conformance';
import { describe, expect, it } from 'vitest';

const script = fileURLToPath(new URL('../src/incumbents.mjs', import.meta.url));
const results = fileURLToPath(new URL('../results/incumbents.json', import.meta.url));

interface Run {
  store: string;
  module: string;
  skipped?: string;
  exitCode: number | null;
  report: ConformanceReport | null;
}

describe('incumbent stores through the conformance suite', () => {
  it('every incumbent run reaches its verdict, and the report is written', async () => {
    // Asynchronously: a synchronous child would block this worker's event loop for minutes.
    const run = await new Promise<{ status: number | null; stderr: string }>((resolve) => {
      execFile(process.execPath, [script], { timeout: 900_000 }, (error, _stdout, stderr) => {
        const code = (error as { code?: unknown } | null)?.code;
        resolve({ status: error ? (typeof code === 'number' ? code : null) : 0, stderr });
      });
    });
    expect(run.stderr).not.toMatch(/no verdict/);
    expect(run.status).toBe(0);
    const runs = JSON.parse(readFileSync(results, 'utf8')) as Run[];
    expect(runs.map((r) => r.module)).toEqual([
      'express-session-memory',
      'memorystore',
      'connect-redis',
      'connect-pg-simple',
      'connect-mongo',
      'better-sqlite3-session-store',
    ]);
    const total = Math.max(...runs.map((r) => r.report?.summary.total ?? 0));
    expect(total).toBeGreaterThanOrEqual(100);
    for (const r of runs) {
      if (r.skipped) {
        // Only a missing service skips, and SESS_REQUIRE_SERVICES=1 (test:all, CI) makes it fail above.
        expect(process.env.SESS_REQUIRE_SERVICES).not.toBe('1');
        continue;
      }
      expect(r.report, `${r.store}: no report`).not.toBeNull();
      const report = r.report as ConformanceReport;
      // Exit 0 (certified) or 1 (failures found): never 3, the run without a verdict.
      expect([0, 1], `${r.store}: exit ${r.exitCode}`).toContain(r.exitCode);
      expect(report.summary.total, r.store).toBe(total);
      expect(report.results).toHaveLength(total);
      const { passed, failed, notApplicable } = report.summary;
      expect(passed + failed + notApplicable).toBe(total);
      expect(
        passed,
        `${r.store} passed nothing: the harness, not the store, is broken`,
      ).toBeGreaterThan(30);
    }
    expect(
      readFileSync(fileURLToPath(new URL('../results/incumbents.md', import.meta.url)), 'utf8'),
    ).toMatch(/^\| store \| passed \| failed \| n\.a\. \| verdict \|$/m);
  }, 960_000);
});
