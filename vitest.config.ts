import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Integration tests start real servers on loopback; two cores, so keep the pool small.
    pool: 'forks',
    maxWorkers: 2,
  },
});
