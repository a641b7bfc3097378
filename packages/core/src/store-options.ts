import ms from 'ms';
import { SessConfigError, type StoreError } from './errors.js';

/**
 * Option handling shared by every store: unknown keys are refused (with the
 * sess equivalent of an option carried over from the store it replaces), and
 * durations are checked for unit mistakes. Everything here runs in a store's
 * constructor and throws `SessConfigError`, so a configuration ported from
 * connect-redis, connect-mongo, connect-pg-simple or
 * better-sqlite3-session-store either means the same thing or fails at startup.
 */

/** A duration: a number of milliseconds, or a string with a unit (`'1d'`, `'90m'`, `'14 days'`). */
export type Duration = number | string;

const SECOND = 1_000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/** The longest delay a Node timer honours; a longer one fires after 1 ms. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * The smallest plain number (no unit) accepted for a session lifetime: one
 * hour. connect-redis, connect-pg-simple and connect-mongo count `ttl` in
 * seconds; read as milliseconds, every value of theirs up to 41 days
 * (3,600,000 s, which covers their defaults of 1 and 14 days and the usual
 * 30 days) lands below one hour and is refused. A shorter lifetime is
 * accepted with a unit: `'30m'`.
 */
export const MIN_PLAIN_LIFETIME_MS = HOUR;

/**
 * The smallest plain number accepted for a background interval (pruning):
 * one minute. connect-pg-simple counts `pruneSessionInterval` in seconds and
 * connect-mongo `autoRemoveInterval` in minutes; read as milliseconds, every
 * value of theirs up to 16 hours (seconds) or 1,000 minutes lands below one
 * minute. A shorter interval is accepted with a unit: `'10s'`.
 */
export const MIN_PLAIN_INTERVAL_MS = MINUTE;

/** The unit an incumbent store counts an option in, for the error message. */
export interface IncumbentUnit {
  /** `'seconds'` or `'minutes'`. */
  unit: 'seconds' | 'minutes';
  /** Which store counts it that way, e.g. `'connect-redis'`. */
  incumbent: string;
}

export interface DurationRule {
  /** For messages: `'redis store: ttl'`. */
  label: string;
  /** A plain number below this (ms) is refused as a probable unit mistake. Default 0. */
  minPlain?: number;
  /** When the store mirrors one that counts this option in another unit. */
  incumbentUnit?: IncumbentUnit;
  /** `0` (and `false`) mean "off" and are returned as 0. Default: refused. */
  allowOff?: boolean;
  /** Largest accepted value in ms (timers: `MAX_TIMER_MS`). */
  max?: number;
}

/** A session lifetime (`ttl`): plain numbers below one hour are refused. */
export function lifetimeRule(label: string, incumbentUnit?: IncumbentUnit): DurationRule {
  return { label, minPlain: MIN_PLAIN_LIFETIME_MS, incumbentUnit };
}

/** A background interval: plain numbers below one minute are refused; `0`/`false` turn it off. */
export function intervalRule(label: string, incumbentUnit?: IncumbentUnit): DurationRule {
  return {
    label,
    minPlain: MIN_PLAIN_INTERVAL_MS,
    incumbentUnit,
    allowOff: true,
    max: MAX_TIMER_MS,
  };
}

/**
 * Milliseconds from a `Duration`. A string must carry a unit (`'1d'`,
 * `'90m'`, `'14 days'`, `'500ms'`; parsed by `ms`) and is trusted as written;
 * a plain number (or a string of digits) is milliseconds and must be at least
 * `rule.minPlain`, since anything smaller is most likely a value in the
 * incumbent's seconds or minutes. Returns 0 for "off" when the rule allows it.
 */
export function parseDuration(value: unknown, rule: DurationRule): number {
  const { label } = rule;
  if (value === false || value === 0) {
    if (rule.allowOff) return 0;
    throw new SessConfigError(`${label} must be a positive duration, not ${String(value)}`);
  }
  let result: number;
  let plain: boolean;
  if (typeof value === 'number') {
    result = value;
    plain = true;
  } else if (typeof value === 'string') {
    const text = value.trim();
    plain = /^[+-]?(\d+\.?\d*|\.\d+)$/.test(text);
    let parsed: number | undefined;
    try {
      parsed = plain ? Number(text) : (ms(text as ms.StringValue) as number | undefined);
    } catch {
      parsed = undefined; // ms throws on an empty string
    }
    if (typeof parsed !== 'number' || Number.isNaN(parsed)) {
      throw new SessConfigError(
        `${label}: ${JSON.stringify(value)} is not a duration; write milliseconds as a number, or a unit: '1d', '90m', '30s'`,
      );
    }
    result = parsed;
    if (plain && result === 0 && rule.allowOff) return 0;
  } else {
    throw new SessConfigError(
      `${label} must be a number of milliseconds or a string with a unit ('1d', '90m'), not ${describe(value)}`,
    );
  }
  if (!Number.isFinite(result) || result <= 0) {
    throw new SessConfigError(`${label} must be a positive duration, not ${String(value)}`);
  }
  result = Math.round(result);
  if (plain && result < (rule.minPlain ?? 0)) {
    throw new SessConfigError(unitMistake(label, result, rule));
  }
  if (rule.max !== undefined && result > rule.max) {
    throw new SessConfigError(
      `${label}: ${String(value)} is longer than the ${rule.max} ms a timer can wait (about 24.8 days)`,
    );
  }
  return Math.max(result, 1);
}

/** `parseDuration` for an optional option: `undefined` gives `fallback`. */
export function optionalDuration(value: unknown, rule: DurationRule, fallback: number): number {
  return value === undefined ? fallback : parseDuration(value, rule);
}

function unitMistake(label: string, value: number, rule: DurationRule): string {
  const floor = `${rule.minPlain} ms = ${formatDuration(rule.minPlain ?? 0)}`;
  const asIs = `write '${formatDuration(value)}' if you mean ${value} ms`;
  const incumbent = rule.incumbentUnit;
  if (incumbent) {
    const factor = incumbent.unit === 'seconds' ? SECOND : MINUTE;
    const meant = value * factor;
    return (
      `${label}: ${value} looks like ${incumbent.unit} (${incumbent.incumbent} counts ${incumbent.unit}); ` +
      `sess counts milliseconds: use ${meant} or '${formatDuration(meant)}' ` +
      `(a plain number below ${floor} is refused; ${asIs})`
    );
  }
  return (
    `${label}: ${value} is below ${floor}, the smallest plain number accepted (sess counts ` +
    `milliseconds; a smaller number is usually seconds or minutes): use a unit, e.g. ` +
    `'${formatDuration(value * SECOND)}' for ${value} seconds, or ${asIs}`
  );
}

/** The exact duration in the largest unit that divides it: `'1d'`, `'90m'`, `'1500ms'`. */
export function formatDuration(msValue: number): string {
  for (const [unit, size] of [
    ['d', DAY],
    ['h', HOUR],
    ['m', MINUTE],
    ['s', SECOND],
  ] as const) {
    if (msValue >= size && msValue % size === 0) return `${msValue / size}${unit}`;
  }
  return `${msValue}ms`;
}

/** What a store says about an option of the store it replaces, by name. */
export type IncumbentOptions = Readonly<Record<string, string>>;

export interface StoreOptionsSpec {
  /** For messages: `'postgres store'`. */
  store: string;
  /** The options this store takes. */
  known: readonly string[];
  /**
   * Options of the incumbent store(s) this store does not take under that
   * name, each with what to do instead: the sess equivalent, or why there is
   * none and how to migrate.
   */
  incumbent?: IncumbentOptions;
}

/**
 * Refuse every option the store does not know, all at once, naming the sess
 * equivalent of each incumbent option. Keys whose value is `undefined` count
 * as absent. Throws `SessConfigError`; returns the options typed as given.
 */
export function checkStoreOptions<T extends object>(
  options: T | undefined,
  spec: StoreOptionsSpec,
): T {
  if (options === undefined) return {} as T;
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new SessConfigError(`${spec.store}: options must be an object, not ${describe(options)}`);
  }
  const known = new Set(spec.known);
  const problems: string[] = [];
  for (const [key, value] of Object.entries(options)) {
    if (value === undefined || known.has(key)) continue;
    const advice =
      spec.incumbent && Object.hasOwn(spec.incumbent, key) ? spec.incumbent[key] : undefined;
    problems.push(
      advice === undefined
        ? `unknown option \`${key}\``
        : `option \`${key}\` is not supported under that name: ${advice}`,
    );
  }
  if (problems.length > 0) {
    const list = problems.length === 1 ? problems[0] : problems.map((p) => `\n  - ${p}`).join('');
    throw new SessConfigError(
      `${spec.store}: ${list}${problems.length > 1 ? '\n' : ' '}(options it takes: ${[...known].sort().join(', ')})`,
    );
  }
  return options;
}

/**
 * Receives failures of work a store does in the background (pruning, index
 * creation), which no request is waiting for. It must not throw; if it does,
 * the error is dropped.
 */
export type StoreErrorHandler = (error: StoreError) => void;

/**
 * The one way every store reports background failures: the `onError` the
 * user gave, else a process warning (`process.emitWarning`, printed to stderr
 * once per failure, observable with `process.on('warning')`, silenced by
 * `--no-warnings`). Never throws.
 */
export function backgroundErrorReporter(onError?: StoreErrorHandler): StoreErrorHandler {
  if (onError !== undefined && typeof onError !== 'function') {
    throw new SessConfigError(`onError must be a function, not ${describe(onError)}`);
  }
  return (error) => {
    try {
      if (onError) onError(error);
      else process.emitWarning(error.message, { type: 'SessStoreWarning', code: error.code });
    } catch {
      // A throwing handler must not become an uncaught exception in a timer.
    }
  };
}

export interface PrunerOptions {
  /** Milliseconds between runs, before jitter; 0 disables the pruner. */
  every: number;
  /**
   * Spread each delay over 50%–150% of `every` (connect-pg-simple's default),
   * so many processes started together do not prune in lockstep. Default true.
   */
  jitter?: boolean;
  /** One prune. A rejection is reported, and the next run is scheduled anyway. */
  run: () => Promise<unknown>;
  /** Where a failed run goes. */
  report: (error: unknown) => void;
}

/** A background pruner: one run at a time, unref'd timers, `stop()` ends it for good. */
export interface Pruner {
  stop(): void;
}

/**
 * Runs `run` every `every` ms (with jitter), one run at a time: the next
 * delay starts when a run settles, so a slow database never stacks prunes.
 * Its timers never keep the process alive.
 */
export function startPruner(options: PrunerOptions): Pruner {
  const { every, run, report } = options;
  const jitter = options.jitter ?? true;
  let timer: NodeJS.Timeout | undefined;
  let stopped = every <= 0;
  const schedule = () => {
    if (stopped) return;
    const delay = jitter ? Math.ceil(every / 2 + every * Math.random()) : every;
    timer = setTimeout(tick, Math.min(delay, MAX_TIMER_MS));
    timer.unref();
  };
  const tick = () => {
    timer = undefined;
    let work: Promise<unknown>;
    try {
      work = Promise.resolve(run());
    } catch (error) {
      work = Promise.reject(error);
    }
    work
      .catch((error: unknown) => {
        try {
          report(error);
        } catch {}
      })
      .finally(schedule);
  };
  schedule();
  return {
    stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      timer = undefined;
    },
  };
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'object' || typeof value === 'function') return `a ${typeof value}`;
  return `${typeof value} ${String(value)}`;
}
