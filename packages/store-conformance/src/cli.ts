import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import type { SessionStore } from '@sess/core';
import { trackHandles } from './handles.js';
import { adoptEarlyHandles, ConformanceRunError, runConformance } from './runner.js';
import type { ConformanceOptions } from './types.js';

/** Exit codes: a run that does not reach its summary never exits 0. */
const EXIT = {
  /** Every applicable behaviour passed. */
  certified: 0,
  /** At least one behaviour failed, or the store raised an error nobody could catch. */
  failed: 1,
  /** Bad arguments, or the module could not be loaded or exports no store factory. */
  usage: 2,
  /** The suite could not run to its summary: detection failed or hung, or the process was ended early. */
  incomplete: 3,
} as const;

const USAGE = `usage: sess-conformance <module> [--export name] [--json report.json] [--name label]
                       [--timeout ms] [--fail-fast-within ms] [--grep text]

<module> exports a store factory: \`createStore({ namespace, users? })\` (or the default export;
\`users\` is given when the suite opens a store with a user index, see the README),
optionally \`cleanup(store)\`, \`unreachable()\`, \`capabilities\`, \`sharedResources\`,
\`timeout\`, \`failFastWithin\`, \`defaultTtl\` and \`isolatedInstances\`.

Exit codes: 0 certified, 1 a behaviour failed, 2 usage or module error,
3 the suite could not run to its summary (no verdict).`;

type Factory = ConformanceOptions['create'];

/** main() returned: the exit code it chose stands. */
let settled = false;

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      export: { type: 'string' },
      json: { type: 'string' },
      name: { type: 'string' },
      timeout: { type: 'string' },
      'fail-fast-within': { type: 'string' },
      grep: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const target = positionals[0];
  if (values.help || !target) {
    console.log(USAGE);
    return values.help ? EXIT.certified : EXIT.usage;
  }
  const timeout = milliseconds('--timeout', values.timeout);
  const failFastWithin = milliseconds('--fail-fast-within', values['fail-fast-within']);
  if (timeout === null || failFastWithin === null) return EXIT.usage;

  // Handles the module opens when it is imported count for "close releases every handle".
  const early = trackHandles();
  let mod: Record<string, unknown>;
  try {
    mod = (await import(pathToFileURL(resolve(target)).href)) as Record<string, unknown>;
  } catch (error) {
    early.stop();
    console.error(`sess-conformance: cannot load ${target}: ${describe(error)}`);
    return EXIT.usage;
  }
  const source = (mod.default && typeof mod.default === 'object' ? mod.default : mod) as Record<
    string,
    unknown
  >;
  const create = (values.export ? source[values.export] : (source.createStore ?? mod.default)) as
    | Factory
    | undefined;
  if (typeof create !== 'function') {
    early.stop();
    console.error(`sess-conformance: ${target} exports no store factory (createStore or default)`);
    return EXIT.usage;
  }
  const declared = (key: string): number | undefined =>
    typeof source[key] === 'number' ? (source[key] as number) : undefined;
  const grep = values.grep;
  const options: ConformanceOptions = {
    name: values.name ?? target,
    create,
    cleanup: source.cleanup as ConformanceOptions['cleanup'],
    unreachable: source.unreachable as (() => Promise<SessionStore>) | undefined,
    capabilities: source.capabilities as ConformanceOptions['capabilities'],
    sharedResources: source.sharedResources === true,
    isolatedInstances: source.isolatedInstances === true,
    timeout: timeout ?? declared('timeout'),
    failFastWithin: failFastWithin ?? declared('failFastWithin'),
    defaultTtl: declared('defaultTtl'),
    filter: grep
      ? (b) => `${b.group} › ${b.name}`.toLowerCase().includes(grep.toLowerCase())
      : undefined,
  };
  adoptEarlyHandles(options, early);
  const marks = { pass: 'pass', fail: 'FAIL', 'n.a.': 'n.a.' } as const;
  const report = await runConformance(options, (result) => {
    const reason = result.reason ? `  (${result.reason})` : '';
    const phase = result.phase === 'cleanup' ? ' [cleanup]' : '';
    console.log(
      `${marks[result.status].padEnd(4)}  ${result.group} › ${result.name}${phase}${reason}`,
    );
  });
  for (const stray of report.strays) console.log(`FAIL  outside the behaviours: ${stray}`);
  const { passed, failed, notApplicable } = report.summary;
  console.log(
    `\nstore: ${report.store}; capabilities: ${report.capabilities.join(', ') || 'none'}`,
  );
  console.log(
    `${passed} passed, ${failed} failed, ${notApplicable} n.a.` +
      (report.strays.length ? `, ${report.strays.length} failed outside the behaviours` : ''),
  );
  if (values.json) writeFileSync(values.json, `${JSON.stringify(report, null, 2)}\n`);
  return failed === 0 && report.strays.length === 0 ? EXIT.certified : EXIT.failed;
}

function milliseconds(flag: string, value: string | undefined): number | undefined | null {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (Number.isFinite(n) && n > 0) return n;
  console.error(`sess-conformance: ${flag} takes a positive number of milliseconds`);
  return null;
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

// Until the summary is printed, the exit code says "no verdict": a store call that never
// settles cannot let the event loop drain into a silent exit 0, and a store that calls
// process.exit() itself cannot end the run with a pass. The ref'd guard keeps the process
// up while the suite's own time bounds run out.
process.exitCode = EXIT.incomplete;
const guard = setInterval(() => undefined, 60_000);
process.on('exit', () => {
  if (settled) return;
  process.exitCode = EXIT.incomplete;
  console.error('sess-conformance: the run ended before its summary (no verdict)');
});

main().then(
  (code) => {
    settled = true;
    clearInterval(guard);
    process.exit(code);
  },
  (error: unknown) => {
    settled = true;
    clearInterval(guard);
    const why = error instanceof ConformanceRunError ? '' : 'internal error: ';
    console.error(`sess-conformance: ${why}${describe(error)}`);
    process.exit(EXIT.incomplete);
  },
);
