import type { SessionStore } from '@sess/core';
import { afterAll, describe, it } from 'vitest';
import {
  DEFAULT_TIMEOUT,
  detectCapabilities,
  detectionProblem,
  missingRequirement,
  releaseEarlyHandles,
  runBehaviour,
  selectedBehaviours,
} from './runner.js';
import type { ConformanceOptions } from './types.js';

export { behaviours, record } from './behaviours/index.js';
export { clearKeysFor, withEncryption } from './encrypted.js';
export {
  BehaviourFailure,
  ConformanceRunError,
  DEFAULT_FAIL_FAST_WITHIN,
  DEFAULT_TIMEOUT,
  detectCapabilities,
  MAX_WAITED_TTL,
  missingRequirement,
  runBehaviour,
  runConformance,
} from './runner.js';
export type {
  Behaviour,
  BehaviourContext,
  BehaviourResult,
  ConformanceOptions,
  ConformanceReport,
  CreateContext,
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
    afterAll(() => releaseEarlyHandles(options));
    it('the store used for capability detection cleans up', () => {
      const problem = detectionProblem(options);
      if (problem) throw new Error(problem);
    });
    const selected = selectedBehaviours(options);
    // Creating the store, the behaviour and the cleanup are each bounded by `timeout`: the
    // suite's own bounds, which say which phase hung, always come before vitest's.
    const testTimeout = 3 * (options.timeout ?? DEFAULT_TIMEOUT) + 2_000;
    const groups = [...new Set(selected.map((b) => b.group))];
    for (const group of groups) {
      describe(group, () => {
        for (const behaviour of selected.filter((b) => b.group === group)) {
          const missing = missingRequirement(behaviour, capabilities, options);
          if (missing) it.skip(`${behaviour.name} (n.a.: ${missing})`, () => undefined);
          else it(behaviour.name, () => runBehaviour(behaviour, options), testTimeout);
        }
      });
    }
  });
}
