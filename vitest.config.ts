import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['packages/*/test/**/*.test.ts', 'docs/**/*.test.ts', 'bench/**/*.test.ts'],
    // Native addons (better-sqlite3, re2) and real database connections are happiest in child processes.
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
