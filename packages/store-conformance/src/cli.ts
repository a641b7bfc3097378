import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import type { SessionStore } from '@sess/core';
import { runConformance } from './runner.js';
import type { ConformanceOptions } from './types.js';

const USAGE = `usage: sess-conformance <module> [--export name] [--json report.json] [--name label]

<module> exports a store factory: \`createStore({ namespace })\` (or the default export),
optionally \`cleanup(store)\`, \`unreachable()\`, \`capabilities\` and \`sharedResources\`.`;

type Factory = ConformanceOptions['create'];

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      export: { type: 'string' },
      json: { type: 'string' },
      name: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const target = positionals[0];
  if (values.help || !target) {
    console.log(USAGE);
    return values.help ? 0 : 2;
  }
  const mod = (await import(pathToFileURL(resolve(target)).href)) as Record<string, unknown>;
  const source = (mod.default && typeof mod.default === 'object' ? mod.default : mod) as Record<
    string,
    unknown
  >;
  const create = (values.export ? source[values.export] : (source.createStore ?? mod.default)) as
    | Factory
    | undefined;
  if (typeof create !== 'function') {
    console.error(`sess-conformance: ${target} exports no store factory (createStore or default)`);
    return 2;
  }
  const options: ConformanceOptions = {
    name: values.name ?? target,
    create,
    cleanup: source.cleanup as ConformanceOptions['cleanup'],
    unreachable: source.unreachable as (() => Promise<SessionStore>) | undefined,
    capabilities: source.capabilities as ConformanceOptions['capabilities'],
    sharedResources: source.sharedResources === true,
  };
  const marks = { pass: 'pass', fail: 'FAIL', 'n.a.': 'n.a.' } as const;
  const report = await runConformance(options, (result) => {
    const reason = result.reason ? `  (${result.reason})` : '';
    console.log(`${marks[result.status].padEnd(4)}  ${result.group} › ${result.name}${reason}`);
  });
  const { passed, failed, notApplicable } = report.summary;
  console.log(
    `\nstore: ${report.store}; capabilities: ${report.capabilities.join(', ') || 'none'}`,
  );
  console.log(`${passed} passed, ${failed} failed, ${notApplicable} n.a.`);
  if (values.json) writeFileSync(values.json, `${JSON.stringify(report, null, 2)}\n`);
  return failed === 0 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error('sess-conformance:', error instanceof Error ? error.message : error);
    process.exit(2);
  },
);
