import { randomBytes } from 'node:crypto';
import {
  type SessionStore,
  STORE_CAPABILITIES,
  type StoreCapability,
  storeCapabilities,
  USER_CAPABILITIES,
  type UserIndexOptions,
} from '@sess/core';
import { behaviours } from './behaviours/index.js';
import { type HandleTracker, trackHandles } from './handles.js';
import type {
  Behaviour,
  BehaviourResult,
  ConformanceOptions,
  ConformanceReport,
  Requirement,
} from './types.js';

/** Default bound for one phase of a behaviour (creating the store, running it, cleaning up), in ms. */
export const DEFAULT_TIMEOUT = 15_000;
/** Default bound within which a store whose backend is down must reject, in ms. */
export const DEFAULT_FAIL_FAST_WITHIN = 5_000;

/**
 * The suite itself could not run to its verdict: the store could not be
 * created for capability detection, or the detection hung. No behaviour
 * result exists, so nothing is certified (the CLI exits 3).
 */
export class ConformanceRunError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ConformanceRunError';
  }
}

/** A behaviour failed; `phase` says which part of it did. */
export class BehaviourFailure extends Error {
  readonly phase: 'create' | 'run' | 'cleanup';
  constructor(phase: 'create' | 'run' | 'cleanup', message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'BehaviourFailure';
    this.phase = phase;
  }
}

/** The capabilities the suite will test: detected from the store, then the declared overrides. */
export async function detectCapabilities(
  options: ConformanceOptions,
): Promise<Set<StoreCapability>> {
  const bound = options.timeout ?? DEFAULT_TIMEOUT;
  // Handles the store opens from here on (a module-level pool made at the first create)
  // are followed until the suite ends: "close releases every handle" checks them too.
  const early = earlyHandles.get(options) ?? trackHandles();
  earlyHandles.set(options, early);
  let found: Set<StoreCapability>;
  const pending = new Pending();
  try {
    let probe: SessionStore;
    try {
      probe = await bounded(
        async () => options.create({ namespace: newNamespace() }),
        bound,
        () => `creating a store did not finish within ${bound} ms`,
      );
    } catch (error) {
      throw new ConformanceRunError(`capability detection failed: ${message(error)}`, {
        cause: error,
      });
    }
    found = storeCapabilities(probe);
    // The user index exists only on a store opened with `users`: a second probe asks for one.
    let usersProbe: SessionStore | undefined;
    let usersProblem: string | undefined;
    if (!USER_CAPABILITIES.every((c) => found.has(c))) {
      try {
        usersProbe = await bounded(
          async () => options.create({ namespace: newNamespace(), users: PROBE_USERS }),
          bound,
          () => `creating a store with \`users\` did not finish within ${bound} ms`,
        );
        for (const c of storeCapabilities(usersProbe)) {
          if (USER_CAPABILITIES.includes(c as (typeof USER_CAPABILITIES)[number])) found.add(c);
        }
      } catch (error) {
        usersProblem = `creating a store with \`users\` for capability detection failed: ${message(error)}`;
      }
    }
    // A `cleanup` hook is the test's own code (its own admin connection, say): not followed.
    if (options.cleanup) early.pause();
    // A cleanup that fails here is the store's failure, reported, not a reason to stop.
    detectionProblems.delete(options);
    if (usersProblem) detectionProblems.set(options, usersProblem);
    for (const opened of usersProbe ? [probe, usersProbe] : [probe]) {
      try {
        await bounded(
          () => cleanupStore(options, opened, pending),
          bound,
          () => `did not finish within ${bound} ms${pending.describe()}`,
        );
      } catch (error) {
        detectionProblems.set(
          options,
          `cleaning up the store used for capability detection failed: ${message(error)}`,
        );
      }
    }
  } finally {
    early.pause();
  }
  for (const [name, on] of Object.entries(options.capabilities ?? {})) {
    if (on) found.add(name as StoreCapability);
    else found.delete(name as StoreCapability);
  }
  return found;
}

/** The `users` option of the capability probe. */
const PROBE_USERS: UserIndexOptions = { user: 'userId' };

/** Why cleaning up the capability-detection store failed, per suite run. */
const detectionProblems = new WeakMap<ConformanceOptions, string>();

/** What went wrong cleaning up after capability detection, or `undefined`. */
export function detectionProblem(options: ConformanceOptions): string | undefined {
  return detectionProblems.get(options);
}

/** Handles opened by the store before any behaviour ran (at detection), per suite run. */
const earlyHandles = new WeakMap<ConformanceOptions, HandleTracker>();

/** Stop following the handles of detection (the suite is over). */
export function releaseEarlyHandles(options: ConformanceOptions): void {
  earlyHandles.get(options)?.stop();
  earlyHandles.delete(options);
}

/** Why a behaviour does not apply to this store, or `null` when it does. */
export function missingRequirement(
  behaviour: Behaviour,
  capabilities: Set<StoreCapability>,
  options: ConformanceOptions,
): string | null {
  for (const need of behaviour.requires ?? ([] as Requirement[])) {
    if (need === 'unreachable') {
      if (!options.unreachable) return 'no `unreachable` store given';
    } else if (need === 'ownedResources') {
      if (options.sharedResources) return 'the store uses shared connections';
    } else if (need === 'sharedInstances') {
      if (options.isolatedInstances)
        return 'each store instance is its own backend (isolatedInstances)';
    } else if (need === 'listing') {
      if (!['ids', 'all', 'length'].some((c) => capabilities.has(c as StoreCapability)))
        return 'the store has no ids(), all() or length()';
    } else if (need === 'users') {
      const absent = USER_CAPABILITIES.filter((c) => !capabilities.has(c));
      if (absent.length > 0)
        return `no user index on a store created with \`users\` (no ${absent.map((c) => `${c}()`).join(', ')})`;
    } else if (need === 'defaultTtl') {
      const ttl = options.defaultTtl;
      if (ttl === undefined) return 'no `defaultTtl` declared';
      if (ttl > MAX_WAITED_TTL)
        return `the declared defaultTtl (${ttl} ms) is longer than the suite waits (${MAX_WAITED_TTL} ms)`;
    } else if (!capabilities.has(need)) {
      return `the store has no ${need}()`;
    }
  }
  return null;
}

/** The longest declared default lifetime the suite waits out. */
export const MAX_WAITED_TTL = 5_000;

/** The behaviours this run covers: all of them, or those `options.filter` keeps. */
export function selectedBehaviours(options: ConformanceOptions): Behaviour[] {
  return options.filter ? behaviours.filter(options.filter) : behaviours;
}

/**
 * Run one behaviour against fresh stores; throws a `BehaviourFailure` naming
 * the phase that failed. Each phase (creating the store, the behaviour,
 * the cleanup of every store it opened) is bounded by `options.timeout`; an
 * unhandled rejection or uncaught exception while it runs fails it too.
 */
export async function runBehaviour(
  behaviour: Behaviour,
  options: ConformanceOptions,
): Promise<void> {
  const bound = options.timeout ?? DEFAULT_TIMEOUT;
  const opened: SessionStore[] = [];
  const pending = new Pending();
  const strays = captureStrays();
  let failure: BehaviourFailure | undefined;
  let ran = 0;
  const users = behaviour.users;
  const open = async (namespace: string) => {
    const store = await bounded(
      async () => options.create(users ? { namespace, users } : { namespace }),
      bound,
      () => `creating a store did not finish within ${bound} ms`,
    );
    opened.push(store);
    return pending.watch(store);
  };
  try {
    const namespace = newNamespace();
    let store: SessionStore;
    try {
      store = await open(namespace);
    } catch (error) {
      throw new BehaviourFailure('create', `the store could not be created: ${message(error)}`, {
        cause: error,
      });
    }
    const started = Date.now();
    try {
      await bounded(
        () =>
          behaviour.run({
            store,
            namespace,
            other: () => open(newNamespace()),
            reopen: (ns: string) => open(ns),
            unreachable: async () => {
              if (!options.unreachable) throw new Error('no unreachable store');
              return pending.watch(await options.unreachable());
            },
            earlyHandles: () => earlyHandles.get(options)?.alive() ?? [],
            options,
          }),
        bound,
        () => `the behaviour did not finish within ${bound} ms${pending.describe()}`,
      );
    } catch (error) {
      throw new BehaviourFailure('run', message(error), { cause: error });
    } finally {
      ran = Date.now() - started;
    }
  } catch (error) {
    failure =
      error instanceof BehaviourFailure
        ? error
        : new BehaviourFailure('run', message(error), { cause: error });
  }
  // Cleanup is bounded on its own, so a hung close() is reported as what it is.
  pending.reset();
  try {
    await bounded(
      async () => {
        for (const store of opened) await cleanupStore(options, store, pending);
      },
      bound,
      () =>
        `cleanup after the behaviour did not finish within ${bound} ms${pending.describe()}` +
        (failure ? '' : ` (the behaviour itself passed in ${ran} ms)`),
    );
  } catch (error) {
    failure ??= new BehaviourFailure('cleanup', message(error), { cause: error });
  }
  // Rejections the store left unhandled surface after a turn of the event loop.
  await new Promise((resolve) => setImmediate(resolve));
  const stray = strays.release();
  if (stray.length > 0) {
    const what = `the store raised ${stray.length === 1 ? 'an error' : `${stray.length} errors`} nobody could catch: ${stray.join('; ')}`;
    failure = failure
      ? new BehaviourFailure(failure.phase, `${failure.message}; and ${what}`, {
          cause: failure.cause,
        })
      : new BehaviourFailure('run', what);
  }
  if (failure) throw failure;
}

/** Run the whole suite without vitest (the CLI uses this) and report every behaviour. */
export async function runConformance(
  options: ConformanceOptions,
  onResult?: (result: BehaviourResult) => void,
): Promise<ConformanceReport> {
  // Errors the store raises outside any behaviour land here (a behaviour captures its own).
  const strays = captureStrays();
  let capabilities: Set<StoreCapability>;
  const results: BehaviourResult[] = [];
  const between: string[] = [];
  try {
    capabilities = await detectCapabilities(options);
    for (const early of strays.drain()) {
      between.push(`uncaught error from the store during capability detection: ${early}`);
    }
    const problem = detectionProblem(options);
    if (problem) between.push(problem);
    for (const behaviour of selectedBehaviours(options)) {
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
            reason: message(error),
            phase: error instanceof BehaviourFailure ? error.phase : 'run',
            durationMs: Date.now() - started,
          };
        }
      }
      for (const late of strays.drain()) {
        between.push(`uncaught error from the store after "${behaviour.name}": ${late}`);
      }
      results.push(result);
      onResult?.(result);
    }
  } finally {
    strays.release();
    releaseEarlyHandles(options);
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
    strays: between,
  };
}

/**
 * Clean up after a behaviour. A cleanup that rejects is ignored (many behaviours close their store
 * themselves, so clearing it afterwards may fail); one that never settles is bounded by the caller
 * and reported.
 */
async function cleanupStore(
  options: ConformanceOptions,
  store: SessionStore,
  pending: Pending,
): Promise<void> {
  if (options.cleanup) {
    await pending
      .track(
        'cleanup(store)',
        Promise.resolve().then(() => options.cleanup?.(store)),
      )
      .catch(() => undefined);
    return;
  }
  if (store.clear) await pending.track('clear()', store.clear()).catch(() => undefined);
  if (store.close) await pending.track('close()', store.close()).catch(() => undefined);
}

function newNamespace(): string {
  return `sessconf_${randomBytes(6).toString('hex')}`;
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * Settles as `work` does, or rejects after `ms`. The timer is ref'd on
 * purpose: a store call that never settles must end in a timeout, never in an
 * event loop that drains and exits with no verdict.
 */
function bounded<T>(work: () => Promise<T>, ms: number, explain: () => string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(explain())), ms);
  });
  // The timer starts before the work, so the work can account for every handle it creates.
  let running: Promise<T>;
  try {
    running = work();
  } catch (error) {
    running = Promise.reject(error);
  }
  return Promise.race([running, bound]).finally(() => clearTimeout(timer));
}

/** The store methods the contract names: the three required ones and core's capabilities. */
const CONTRACT = new Set<string>(['get', 'set', 'destroy', ...STORE_CAPABILITIES]);

/** The store calls still unsettled, so a timeout can say which call hung. */
class Pending {
  readonly #calls = new Map<number, string>();
  #next = 0;

  /** The store, with each contract call followed while it is unsettled. */
  watch(store: SessionStore): SessionStore {
    return new Proxy(store, {
      get: (target, prop) => {
        const value: unknown = Reflect.get(target, prop);
        if (typeof prop !== 'string' || !CONTRACT.has(prop) || typeof value !== 'function')
          return value;
        // A frozen own method must be returned as it is (a proxy invariant).
        const own = Reflect.getOwnPropertyDescriptor(target, prop);
        if (own && !own.configurable && !own.writable && 'value' in own) return value;
        return (...args: unknown[]) => {
          const shown = typeof args[0] === 'string' ? `'${args[0].slice(0, 40)}'` : '';
          return this.track(
            `${prop}(${shown})`,
            (value as (...a: unknown[]) => unknown).apply(target, args),
          );
        };
      },
    });
  }

  track<T>(what: string, work: T): T {
    if (!(work instanceof Promise)) return work;
    const id = this.#next++;
    this.#calls.set(id, what);
    return work.finally(() => this.#calls.delete(id)) as T;
  }

  reset(): void {
    this.#calls.clear();
  }

  /** ": still pending: get('x'), close()", or nothing. */
  describe(): string {
    const calls = [...new Set(this.#calls.values())];
    if (calls.length === 0) return '';
    const shown = calls.slice(0, 5).join(', ');
    return `; store calls still pending: ${shown}${calls.length > 5 ? ` and ${calls.length - 5} more` : ''}`;
  }
}

/**
 * Unhandled rejections and uncaught exceptions while a behaviour runs belong
 * to it. Listeners are installed while any capture is open, so such an error
 * never ends the process with a stack trace and no verdict.
 */
let sinks: string[][] = [];
const onStray = (error: unknown) => {
  const text = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  const sink = sinks.at(-1);
  if (sink) sink.push(text);
};

function captureStrays(): { release: () => string[]; drain: () => string[] } {
  const sink: string[] = [];
  if (sinks.length === 0) {
    process.on('unhandledRejection', onStray);
    process.on('uncaughtException', onStray);
  }
  sinks.push(sink);
  return {
    release: () => {
      sinks = sinks.filter((s) => s !== sink);
      if (sinks.length === 0) {
        process.off('unhandledRejection', onStray);
        process.off('uncaughtException', onStray);
      }
      return sink;
    },
    drain: () => sink.splice(0),
  };
}

/** The CLI follows handles from before it imports the store module; the run adopts that tracker. */
export function adoptEarlyHandles(options: ConformanceOptions, tracker: HandleTracker): void {
  earlyHandles.set(options, tracker);
}
