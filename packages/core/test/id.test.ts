import { describe, expect, it } from 'vitest';
import { generateSessionId } from '../src/index.js';

describe('generateSessionId', () => {
  it('gives 32 characters of URL-safe base64 (24 bytes), as uid-safe does', () => {
    for (let i = 0; i < 300; i++) expect(generateSessionId()).toMatch(/^[A-Za-z0-9_-]{32}$/);
  });

  it('never repeats', () => {
    const ids = new Set(Array.from({ length: 5000 }, () => generateSessionId()));
    expect(ids.size).toBe(5000);
  });

  it('uses the whole alphabet (the bytes are random, not a counter)', () => {
    const seen = new Set(Array.from({ length: 2000 }, () => generateSessionId()).join(''));
    expect(seen.size).toBe(64);
  });
});
