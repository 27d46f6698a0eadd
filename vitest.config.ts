import { defineConfig } from 'vitest/config';

/** The server's suites that touch its database: they run once on SQLite and once more on PostgreSQL. */
const STORE_SUITES = [
  'packages/server/test/entities.test.ts',
  'packages/server/test/roles.test.ts',
  'packages/server/test/wire.test.ts',
  'packages/server/test/fuzz.test.ts',
  'packages/server/test/durability.test.ts',
  'packages/server/test/store.test.ts',
  'packages/server/test/settings.test.ts',
  'packages/server/test/metrics.test.ts',
  'packages/server/test/servers.test.ts',
  'packages/server/test/audit.test.ts',
  'packages/server/test/filesharing.test.ts',
  'packages/server/test/carriers.test.ts',
  'packages/server/test/file-roles.test.ts',
  'packages/server/test/transfer-ends.test.ts',
  'packages/server/test/transfers.test.ts',
  'packages/server/test/hardening.test.ts',
  'packages/server/test/big-jobs.test.ts',
  'packages/server/test/engine-nodes.test.ts',
  'packages/server/test/security.test.ts',
];

// The test servers run in the forks: give them the thread pool the server's entry point gives it (src/threads.ts).
process.env.UV_THREADPOOL_SIZE ??= '16';

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
    // Native addons (better-sqlite3, re2) and real database connections are happiest in child processes.
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 60_000,
    projects: [
      {
        extends: true,
        test: {
          name: 'sqlite',
          include: ['packages/*/test/**/*.test.ts', 'docs/**/*.test.ts', 'bench/**/*.test.ts'],
        },
      },
      {
        extends: true,
        test: { name: 'postgres', include: STORE_SUITES, env: { ACCSYN_TEST_STORE: 'postgres' } },
      },
    ],
  },
});
