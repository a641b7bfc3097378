import uid from 'uid-safe';
import { describe, expect, it, vi } from 'vitest';
import { generateSessionId, MemoryStore, SessionManager } from '../src/index.js';

describe('generateSessionId', () => {
  it('gives 32 characters of URL-safe base64 (24 bytes), as uid-safe does', () => {
    for (let i = 0; i < 300; i++) expect(generateSessionId()).toMatch(/^[A-Za-z0-9_-]{32}$/);
  });

  it('never repeats', () => {
    const ids = new Set(Array.from({ length: 5000 }, () => generateSessionId()));
    expect(ids.size).toBe(5000);
  });

  it('never repeats across many refills of its pool (128 ids each), and each id decodes to 24 bytes', () => {
    const ids = Array.from({ length: 128 * 40 + 7 }, () => generateSessionId());
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of ids) expect(Buffer.from(id, 'base64url')).toHaveLength(24);
  });

  it('uses the whole alphabet (the bytes are random, not a counter)', () => {
    const seen = new Set(Array.from({ length: 2000 }, () => generateSessionId()).join(''));
    expect(seen.size).toBe(64);
  });

  it('draws its ids from uid-safe, one call per 128 ids, in the order uid-safe wrote them', () => {
    const spy = vi.spyOn(uid, 'sync');
    try {
      // Finish the pool in use: the next id then comes from a fresh uid-safe string.
      let drawn: string[] = [];
      for (let i = 0; i < 128 && spy.mock.calls.length === 0; i++) drawn.push(generateSessionId());
      expect(spy).toHaveBeenCalledTimes(1);
      drawn = drawn.slice(-1); // the first id of the fresh pool
      for (let i = 1; i < 3 * 128; i++) drawn.push(generateSessionId());
      expect(spy.mock.calls.map((call) => call[0])).toEqual([24 * 128, 24 * 128, 24 * 128]);
      const written = spy.mock.results.map((result) => result.value as string).join('');
      expect(drawn.join('')).toBe(written);
    } finally {
      spy.mockRestore();
    }
  });
});

describe('new session ids', () => {
  it('a genid option wins over the pool', async () => {
    let n = 0;
    const manager = new SessionManager({
      secret: 'a secret of thirty-two characters or more',
      store: new MemoryStore({ sweepInterval: 0 }),
      genid: () => `custom-${++n}`,
    });
    const first = await manager.load({ request: {}, cookieHeader: undefined, secure: false });
    const second = await manager.load({ request: {}, cookieHeader: undefined, secure: false });
    expect([first?.id, second?.id]).toEqual(['custom-1', 'custom-2']);
  });

  it('without genid, each request gets an id of its own', async () => {
    const manager = new SessionManager({
      secret: 'a secret of thirty-two characters or more',
      store: new MemoryStore({ sweepInterval: 0 }),
    });
    const ids = new Set<string>();
    for (let i = 0; i < 300; i++) {
      const state = await manager.load({ request: {}, cookieHeader: undefined, secure: false });
      ids.add(state?.id as string);
    }
    expect(ids.size).toBe(300);
    for (const id of ids) expect(id).toMatch(/^[A-Za-z0-9_-]{32}$/);
  });
});
