import type { SessionStore } from '@sess/core';
import { describe, it } from 'vitest';
import { behaviours } from './behaviours.js';
import { detectCapabilities, missingRequirement, runBehaviour } from './runner.js';
import type { ConformanceOptions } from './types.js';

export { behaviours, record } from './behaviours.js';
export { detectCapabilities, missingRequirement, runBehaviour, runConformance } from './runner.js';
export type {
  Behaviour,
  BehaviourContext,
  BehaviourResult,
  ConformanceOptions,
  ConformanceReport,
  Requirement,
  Status,
} from './types.js';

/**
 * Register the conformance suite in vitest: one test per behaviour, grouped,
 * named so a failure explains itself. Behaviours that need a capability the
 * store lacks are skipped with "n.a." and the reason in their name.
 */
export function describeStoreConformance<S extends SessionStore>(
  typed: ConformanceOptions<S>,
): void {
  // The suite only calls the contract's methods; `S` types the caller's own hooks.
  const options = typed as unknown as ConformanceOptions;
  const title = `store conformance: ${options.name}`;
  if (options.skip) {
    console.warn(`\n*** SKIPPED ${title}: ${options.skip} ***\n`);
    describe.skip(`${title} (SKIPPED: ${options.skip})`, () => {
      it('needs its backend', () => undefined);
    });
    return;
  }
  describe(title, async () => {
    const capabilities = await detectCapabilities(options);
    const groups = [...new Set(behaviours.map((b) => b.group))];
    for (const group of groups) {
      describe(group, () => {
        for (const behaviour of behaviours.filter((b) => b.group === group)) {
          const missing = missingRequirement(behaviour, capabilities, options);
          if (missing) it.skip(`${behaviour.name} (n.a.: ${missing})`, () => undefined);
          else
            it(
              behaviour.name,
              () => runBehaviour(behaviour, options),
              (options.timeout ?? 15_000) + 1_000,
            );
        }
      });
    }
  });
}
