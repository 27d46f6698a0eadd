import { defineConfig } from 'vitest/config';

export default defineConfig({
  // Tests and doc examples import our packages by name; run them from source, not from a stale build.
  resolve: {
    alias: {
      'accsyn-query': new URL('./packages/query/src/index.ts', import.meta.url).pathname,
      'accsyn-protocol': new URL('./packages/protocol/src/index.ts', import.meta.url).pathname,
      'accsyn-api': new URL('./packages/api/src/index.ts', import.meta.url).pathname,
    },
  },
  test: {
    include: ['packages/*/test/**/*.test.ts', 'docs/**/*.test.ts', 'bench/**/*.test.ts'],
    // Native addons (better-sqlite3, re2) and real database connections are happiest in child processes.
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
