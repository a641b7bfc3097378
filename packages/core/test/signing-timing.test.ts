import * as crypto from 'node:crypto';
import { describe, expect, it, vi } from 'vitest';
import { sign, unsign } from '../src/index.js';

// Spy on (not replace) timingSafeEqual, to see that verification goes through it.
vi.mock('node:crypto', async (importOriginal) => {
  const original = await importOriginal<typeof import('node:crypto')>();
  return { ...original, timingSafeEqual: vi.fn(original.timingSafeEqual) };
});

const SECRET = 'a secret long enough for the timing test';

describe('timing-safe verification', () => {
  it('compares every same-length signature with crypto.timingSafeEqual', () => {
    const spy = vi.mocked(crypto.timingSafeEqual);
    spy.mockClear();
    const good = sign('value', SECRET);
    expect(unsign(good, SECRET)).toBe('value');
    const tampered = `${good.slice(0, -1)}${good.endsWith('A') ? 'B' : 'A'}`;
    expect(unsign(tampered, SECRET)).toBe(false);
    expect(spy).toHaveBeenCalledTimes(2);
    expect(spy.mock.results.map((result) => result.value)).toEqual([true, false]);
  });
});
