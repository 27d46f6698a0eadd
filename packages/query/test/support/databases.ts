import Database from 'better-sqlite3';
import pg from 'pg';
import { registerSqliteFunctions } from '../../src/index.js';

/**
 * The real databases the SQL tests run on: an in-memory SQLite with our functions registered, and a schema of
 * its own in the machine's PostgreSQL (so that concurrent runs don't collide), dropped when the test closes it.
 */

export const POSTGRES_URL = process.env.ACCSYN_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

export function openSqlite(): Database.Database {
  const db = new Database(':memory:');
  registerSqliteFunctions(db);
  return db;
}

export interface PostgresSchema {
  readonly client: pg.Client;
  close(): Promise<void>;
}

/**
 * Connects to PostgreSQL in a fresh schema. When it is not running, CI fails (a missing service must not pass
 * silently there); elsewhere the tests that need it are skipped with a loud notice.
 */
export async function openPostgres(): Promise<PostgresSchema | undefined> {
  const client = new pg.Client({ connectionString: POSTGRES_URL, connectionTimeoutMillis: 5_000 });
  try {
    await client.connect();
  } catch (error) {
    const reason = `PostgreSQL is not reachable at ${POSTGRES_URL}: ${(error as Error).message}`;
    if (process.env.CI) throw new Error(`${reason}. CI needs it; start it (see .ci/run).`);
    console.warn(`\n!!! SKIPPING the PostgreSQL tests: ${reason}\n`);
    return undefined;
  }
  const schema = `query_test_${process.pid}_${Date.now().toString(36)}`;
  await client.query(`CREATE SCHEMA ${schema}; SET search_path TO ${schema}`);
  return {
    client,
    async close() {
      await client.query(`DROP SCHEMA ${schema} CASCADE`);
      await client.end();
    },
  };
}
