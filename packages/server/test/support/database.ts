import { randomBytes } from 'node:crypto';
import pg from 'pg';

/**
 * The database a test server runs on. By default SQLite in the server's data directory; with
 * `ACCSYN_TEST_STORE=postgres` (vitest's `postgres` project) a fresh schema of the machine's PostgreSQL, dropped
 * when the test is done, so that runs and test files never collide.
 */

export const POSTGRES_URL = process.env.ACCSYN_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

export const onPostgres = process.env.ACCSYN_TEST_STORE === 'postgres';

export interface TestDatabase {
  /** `--database` and its value, or nothing for SQLite in the data directory. */
  readonly flags: readonly string[];
  /** The `--database` value; undefined for SQLite. */
  readonly url: string | undefined;
  drop(): Promise<void>;
}

/** A new, empty database for one server (or several nodes sharing it). */
export async function testDatabase(postgres = onPostgres): Promise<TestDatabase> {
  if (!postgres) return { flags: [], url: undefined, drop: async () => {} };
  const schema = `accsyn_test_${process.pid}_${randomBytes(4).toString('hex')}`;
  const url = `${POSTGRES_URL}${POSTGRES_URL.includes('?') ? '&' : '?'}schema=${schema}`;
  return {
    flags: ['--database', url],
    url,
    async drop() {
      const client = new pg.Client({ connectionString: POSTGRES_URL });
      await client.connect();
      try {
        await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      } finally {
        await client.end();
      }
    },
  };
}

/**
 * Whether PostgreSQL answers, for tests that need it on any project (several nodes share one database). CI fails
 * without it; elsewhere those tests are skipped, with a loud notice naming `what`.
 */
export async function postgresReachable(what: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: POSTGRES_URL, connectionTimeoutMillis: 5_000 });
  try {
    await client.connect();
    await client.end();
    return true;
  } catch (error) {
    const reason = `PostgreSQL is not reachable at ${POSTGRES_URL}: ${(error as Error).message}`;
    if (process.env.CI) throw new Error(`${reason}. CI needs it; start it (see .ci/run).`);
    console.warn(`\n!!! SKIPPING ${what}: ${reason}\n`);
    return false;
  }
}
