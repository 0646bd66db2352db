import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    testTimeout: 20_000,
    hookTimeout: 60_000,
    // each file boots its own servers and databases; two cores, two files at a time
    maxWorkers: 2,
  },
});
