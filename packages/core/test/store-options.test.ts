import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  backgroundErrorReporter,
  checkStoreOptions,
  formatDuration,
  intervalRule,
  lifetimeRule,
  MAX_TIMER_MS,
  optionalDuration,
  parseDuration,
  SessConfigError,
  StoreError,
  startPruner,
} from '../src/index.js';

const seconds = { unit: 'seconds', incumbent: 'connect-redis' } as const;

function configError(work: () => unknown): SessConfigError {
  try {
    work();
  } catch (error) {
    expect(error).toBeInstanceOf(SessConfigError);
    return error as SessConfigError;
  }
  throw new Error('expected a SessConfigError');
}

describe('parseDuration', () => {
  const ttl = lifetimeRule('redis store: ttl', seconds);

  it('takes strings with units', () => {
    expect(parseDuration('1d', ttl)).toBe(86_400_000);
    expect(parseDuration('90m', ttl)).toBe(5_400_000);
    expect(parseDuration('14 days', ttl)).toBe(14 * 86_400_000);
    expect(parseDuration('1.5h', ttl)).toBe(5_400_000);
  });

  it('trusts an explicit unit below the plain-number floor', () => {
    expect(parseDuration('30m', ttl)).toBe(1_800_000);
    expect(parseDuration('10s', intervalRule('x'))).toBe(10_000);
  });

  it('takes plain milliseconds at or above the floor', () => {
    expect(parseDuration(3_600_000, ttl)).toBe(3_600_000);
    expect(parseDuration(86_400_000, ttl)).toBe(86_400_000);
    expect(parseDuration('86400000', ttl)).toBe(86_400_000);
  });

  it('refuses a seconds value ported verbatim, naming the fix', () => {
    const error = configError(() => parseDuration(86_400, ttl));
    expect(error.message).toContain(
      "redis store: ttl: 86400 looks like seconds (connect-redis counts seconds); sess counts milliseconds: use 86400000 or '1d'",
    );
    // connect-mongo's default, 14 days in seconds
    expect(configError(() => parseDuration(1_209_600, ttl)).message).toContain("'14d'");
    // a digit string is a plain number too
    expect(configError(() => parseDuration('86400', ttl)).message).toContain('looks like seconds');
  });

  it('names minutes for connect-mongo autoRemoveInterval', () => {
    const rule = intervalRule('mongo store: pruneInterval', {
      unit: 'minutes',
      incumbent: 'connect-mongo autoRemoveInterval',
    });
    expect(configError(() => parseDuration(10, rule)).message).toContain("use 600000 or '10m'");
  });

  it('without an incumbent unit, suggests units', () => {
    const error = configError(() => parseDuration(60, intervalRule('sqlite store: pruneInterval')));
    expect(error.message).toContain("'1m' for 60 seconds");
    expect(error.message).toContain("write '60ms' if you mean 60 ms");
  });

  it('refuses zero, negatives, NaN, Infinity and garbage', () => {
    for (const bad of [
      0,
      -1,
      Number.NaN,
      Number.POSITIVE_INFINITY,
      '-1d',
      'soon',
      '',
      null,
      {},
      true,
    ]) {
      configError(() => parseDuration(bad, ttl));
    }
  });

  it('intervals: 0 and false turn off; longer than a timer can wait is refused', () => {
    const rule = intervalRule('x');
    expect(parseDuration(0, rule)).toBe(0);
    expect(parseDuration(false, rule)).toBe(0);
    expect(parseDuration('0', rule)).toBe(0);
    expect(parseDuration(MAX_TIMER_MS, rule)).toBe(MAX_TIMER_MS);
    expect(configError(() => parseDuration('30d', rule)).message).toContain('timer');
  });

  it('optionalDuration falls back on undefined only', () => {
    expect(optionalDuration(undefined, ttl, 42)).toBe(42);
    expect(optionalDuration('2h', ttl, 42)).toBe(7_200_000);
    configError(() => optionalDuration(null, ttl, 42));
  });

  it('formatDuration is exact', () => {
    expect(formatDuration(86_400_000)).toBe('1d');
    expect(formatDuration(5_400_000)).toBe('90m');
    expect(formatDuration(1_500)).toBe('1500ms');
    expect(formatDuration(7_200_000)).toBe('2h');
  });
});

describe('checkStoreOptions', () => {
  const spec = {
    store: 'test store',
    known: ['ttl', 'pool'],
    incumbent: { conString: 'use `connectionString`' },
  };

  it('accepts known options and undefined values', () => {
    const options = { ttl: 1, pool: undefined, other: undefined };
    expect(checkStoreOptions(options, spec)).toBe(options);
    expect(checkStoreOptions(undefined, spec)).toEqual({});
  });

  it('names the sess equivalent of an incumbent option', () => {
    const error = configError(() => checkStoreOptions({ conString: 'x' }, spec));
    expect(error.message).toBe(
      'test store: option `conString` is not supported under that name: use `connectionString` (options it takes: pool, ttl)',
    );
  });

  it('lists every unknown option at once', () => {
    const error = configError(() => checkStoreOptions({ conString: 'x', tll: 5 }, spec));
    expect(error.message).toContain('- option `conString`');
    expect(error.message).toContain('- unknown option `tll`');
  });

  it('does not take inherited names as incumbent advice', () => {
    const error = configError(() => checkStoreOptions({ toString: 1 }, spec));
    expect(error.message).toContain('unknown option `toString`');
  });

  it('refuses options that are not an object', () => {
    configError(() => checkStoreOptions('redis://x' as unknown as object, spec));
    configError(() => checkStoreOptions([] as unknown as object, spec));
  });
});

describe('backgroundErrorReporter', () => {
  afterEach(() => vi.restoreAllMocks());
  const failure = new StoreError('test', 'clear', 'boom');

  it('calls onError', () => {
    const seen: unknown[] = [];
    backgroundErrorReporter((error) => seen.push(error))(failure);
    expect(seen).toEqual([failure]);
  });

  it('defaults to a process warning', () => {
    const warn = vi.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
    backgroundErrorReporter()(failure);
    expect(warn).toHaveBeenCalledWith(failure.message, {
      type: 'SessStoreWarning',
      code: 'SESS_STORE',
    });
  });

  it('swallows a throwing handler', () => {
    const report = backgroundErrorReporter(() => {
      throw new Error('handler bug');
    });
    expect(() => report(failure)).not.toThrow();
  });

  it('refuses a handler that is not a function', () => {
    configError(() => backgroundErrorReporter('log' as unknown as () => void));
  });
});

describe('startPruner', () => {
  afterEach(() => vi.useRealTimers());

  it('runs one prune at a time with jitter within 50%-150%, reports failures, and stops', async () => {
    vi.useFakeTimers();
    const runs: number[] = [];
    const reported: unknown[] = [];
    let release: (() => void) | undefined;
    const pruner = startPruner({
      every: 1_000,
      run: () => {
        runs.push(Date.now());
        if (runs.length === 2) return Promise.reject(new Error('db down'));
        return new Promise<void>((resolve) => {
          release = resolve;
        });
      },
      report: (error) => reported.push(error),
    });
    await vi.advanceTimersByTimeAsync(499);
    expect(runs).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(1_001);
    expect(runs).toHaveLength(1);
    // The first run is still pending: no second run however long we wait.
    await vi.advanceTimersByTimeAsync(10_000);
    expect(runs).toHaveLength(1);
    release?.();
    const released = Date.now();
    // The second run fails at once, so a third may follow within the same
    // 1.5 s when both delays are jittered short: check each gap, not a count.
    await vi.advanceTimersByTimeAsync(1_500);
    expect(runs.length).toBeGreaterThanOrEqual(2);
    expect((runs[1] as number) - released).toBeGreaterThanOrEqual(500);
    expect((runs[1] as number) - released).toBeLessThanOrEqual(1_500);
    expect(reported).toHaveLength(1);
    expect(String(reported[0])).toContain('db down');
    // A failure does not end the pruner; the third run stays pending.
    await vi.advanceTimersByTimeAsync(1_500);
    expect(runs).toHaveLength(3);
    expect((runs[2] as number) - (runs[1] as number)).toBeGreaterThanOrEqual(500);
    expect((runs[2] as number) - (runs[1] as number)).toBeLessThanOrEqual(1_500);
    pruner.stop();
    release?.();
    await vi.advanceTimersByTimeAsync(10_000);
    expect(runs).toHaveLength(3);
  });

  it('every = 0 never runs', async () => {
    vi.useFakeTimers();
    let ran = false;
    startPruner({ every: 0, run: async () => (ran = true), report: () => undefined });
    await vi.advanceTimersByTimeAsync(10_000);
    expect(ran).toBe(false);
  });

  it('its timer does not keep the process alive', () => {
    const before = process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const pruner = startPruner({ every: 60_000, run: async () => 0, report: () => undefined });
    const during = process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    pruner.stop();
    expect(during).toBe(before);
  });
});

describe('background failures never crash the process', () => {
  it('a pruner whose runs fail, reported by default and through a throwing onError, leaves the app alive', () => {
    const tsx = createRequire(import.meta.url).resolve('tsx');
    const core = JSON.stringify(new URL('../src/index.ts', import.meta.url).pathname);
    const script = `
      import { backgroundErrorReporter, startPruner, StoreError } from ${core};
      const fail = async () => { throw new Error('database gone'); };
      const toStoreError = (report) => (e) => report(new StoreError('test', 'clear', String(e)));
      const quiet = startPruner({ every: 10, run: fail, report: toStoreError(backgroundErrorReporter()) });
      const loud = startPruner({
        every: 10,
        run: fail,
        report: toStoreError(backgroundErrorReporter(() => { throw new Error('handler bug'); })),
      });
      const syncThrow = startPruner({ every: 10, run: () => { throw new Error('sync'); }, report: () => { throw new Error('report bug'); } });
      setTimeout(() => { quiet.stop(); loud.stop(); syncThrow.stop(); console.log('alive'); }, 300);`;
    const result = spawnSync(
      process.execPath,
      ['--import', tsx, '--input-type=module', '-e', script],
      { timeout: 20_000, encoding: 'utf8' },
    );
    expect(result.status).toBe(0);
    expect(result.stdout.trim()).toBe('alive');
    // The default reporter printed the failures as process warnings.
    expect(result.stderr).toContain('SessStoreWarning: test store: clear failed');
  });
});
