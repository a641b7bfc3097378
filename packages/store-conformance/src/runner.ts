import { randomBytes } from 'node:crypto';
import { type SessionStore, type StoreCapability, storeCapabilities } from '@sess/core';
import { behaviours } from './behaviours.js';
import type {
  Behaviour,
  BehaviourResult,
  ConformanceOptions,
  ConformanceReport,
  Requirement,
} from './types.js';

/** The capabilities the suite will test: detected from the store, then the declared overrides. */
export async function detectCapabilities(
  options: ConformanceOptions,
): Promise<Set<StoreCapability>> {
  const probe = await options.create({ namespace: newNamespace() });
  const found = storeCapabilities(probe);
  await cleanupStore(options, probe);
  for (const [name, on] of Object.entries(options.capabilities ?? {})) {
    if (on) found.add(name as StoreCapability);
    else found.delete(name as StoreCapability);
  }
  return found;
}

/** Why a behaviour does not apply to this store, or `null` when it does. */
export function missingRequirement(
  behaviour: Behaviour,
  capabilities: Set<StoreCapability>,
  options: ConformanceOptions,
): string | null {
  for (const need of behaviour.requires ?? ([] as Requirement[])) {
    if (need === 'unreachable' && !options.unreachable) return 'no `unreachable` store given';
    if (need === 'ownedResources' && options.sharedResources)
      return 'the store uses shared connections';
    if (need !== 'unreachable' && need !== 'ownedResources' && !capabilities.has(need)) {
      return `the store has no ${need}()`;
    }
  }
  return null;
}

/** Run one behaviour against fresh stores; throws what the behaviour threw. */
export async function runBehaviour(
  behaviour: Behaviour,
  options: ConformanceOptions,
): Promise<void> {
  const opened: SessionStore[] = [];
  const open = async () => {
    const store = await options.create({ namespace: newNamespace() });
    opened.push(store);
    return store;
  };
  try {
    const store = await open();
    await withTimeout(
      () =>
        behaviour.run({
          store,
          other: open,
          reopen: async (namespace: string) => {
            opened.push(await options.create({ namespace }));
          },
          unreachable: async () => {
            if (!options.unreachable) throw new Error('no unreachable store');
            return options.unreachable();
          },
          options,
        }),
      options.timeout ?? 15_000,
      behaviour.name,
    );
  } finally {
    for (const store of opened) await cleanupStore(options, store).catch(() => undefined);
  }
}

/** Run the whole suite without vitest (the CLI uses this) and report every behaviour. */
export async function runConformance(
  options: ConformanceOptions,
  onResult?: (result: BehaviourResult) => void,
): Promise<ConformanceReport> {
  const capabilities = await detectCapabilities(options);
  const results: BehaviourResult[] = [];
  for (const behaviour of behaviours) {
    const started = Date.now();
    const missing = missingRequirement(behaviour, capabilities, options);
    let result: BehaviourResult;
    if (missing) {
      result = {
        group: behaviour.group,
        name: behaviour.name,
        status: 'n.a.',
        reason: missing,
        durationMs: 0,
      };
    } else {
      try {
        await runBehaviour(behaviour, options);
        result = {
          group: behaviour.group,
          name: behaviour.name,
          status: 'pass',
          durationMs: Date.now() - started,
        };
      } catch (error) {
        result = {
          group: behaviour.group,
          name: behaviour.name,
          status: 'fail',
          reason: error instanceof Error ? error.message : String(error),
          durationMs: Date.now() - started,
        };
      }
    }
    results.push(result);
    onResult?.(result);
  }
  const count = (status: BehaviourResult['status']) =>
    results.filter((r) => r.status === status).length;
  return {
    store: options.name,
    capabilities: [...capabilities].sort(),
    summary: {
      passed: count('pass'),
      failed: count('fail'),
      notApplicable: count('n.a.'),
      total: results.length,
    },
    results,
  };
}

async function cleanupStore(options: ConformanceOptions, store: SessionStore): Promise<void> {
  if (options.cleanup) {
    await options.cleanup(store);
    return;
  }
  await store.clear?.().catch(() => undefined);
  await store.close?.();
}

function newNamespace(): string {
  return `sessconf_${randomBytes(6).toString('hex')}`;
}

/** The timer starts before the work, so the work can account for every handle it creates. */
async function withTimeout<T>(work: () => Promise<T>, ms: number, name: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`"${name}" did not finish within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([work(), bound]);
  } finally {
    clearTimeout(timer);
  }
}
