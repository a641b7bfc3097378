import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Requests are bounded by the tests themselves (10 s); on a loaded machine the
    // default 5 s per test cut them short before their own bound.
    testTimeout: 20_000,
  },
});
