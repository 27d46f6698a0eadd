import { Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import { migrate } from './migrations.js';
import { Store } from './store.js';
import type { Tables } from './tables.js';

/**
 * PostgreSQL behind the store, for several server nodes sharing one database. The URL is libpq's
 * (`postgres://user@host:5432/db`, with `application_name` and the like) and three settings of ours:
 * - `schema`: the schema that holds our tables (created when missing; default `public`), so that one database can
 *   hold several installations, or test runs;
 * - `pool`: connections per node (default 10);
 * - `statement_timeout`: milliseconds a statement may run before PostgreSQL cancels it (default 15 000).
 */

export interface PostgresSettings {
  readonly connectionString: string;
  readonly schema: string;
  readonly pool: number;
  readonly statementTimeout: number;
}

const SCHEMA = /^[a-z_][a-z0-9_]{0,62}$/;

export function postgresSettings(url: string): PostgresSettings {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new Error(`The database URL '${url.replace(/:[^:@/]*@/, ':***@')}' is not a URL.`);
  }
  const take = (name: string) => {
    const value = parsed.searchParams.get(name) ?? undefined;
    parsed.searchParams.delete(name);
    return value;
  };
  const schema = take('schema') ?? 'public';
  if (!SCHEMA.test(schema)) {
    throw new Error(`The schema '${schema}' must be lowercase letters, digits and '_', not starting with a digit.`);
  }
  const number = (name: string, fallback: number, min: number) => {
    const text = take(name);
    const value = text === undefined ? fallback : Number(text);
    if (!Number.isInteger(value) || value < min) {
      throw new Error(`The database URL's ${name} must be a whole number of at least ${min}, not '${text}'.`);
    }
    return value;
  };
  return {
    schema,
    pool: number('pool', 10, 2),
    statementTimeout: number('statement_timeout', 15_000, 1),
    connectionString: parsed.href,
  };
}

/** int8 (counts, sums, byte sizes) as numbers: every one we store is far below 2^53. */
const types = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === pg.types.builtins.INT8
      ? (value: string) => Number(value)
      : pg.types.getTypeParser(oid, format as 'text')) as typeof pg.types.getTypeParser,
};

/** Connects to PostgreSQL and brings the schema up to date; nodes starting together migrate one at a time. */
export async function openPostgres(url: string, onError: (error: Error) => void = () => {}): Promise<Store> {
  const settings = postgresSettings(url);
  // Migrations run on connections of their own, without the statement timeout: an index built on a large table
  // may take longer than any request should.
  const migrations = kyselyOn(poolOf(settings, 2, 0, onError));
  try {
    await migrateLocked(migrations, settings.schema);
  } finally {
    await migrations.destroy();
  }
  return new Store(kyselyOn(poolOf(settings, settings.pool, settings.statementTimeout, onError)), 'postgres');
}

function poolOf(settings: PostgresSettings, max: number, statementTimeout: number, onError: (error: Error) => void) {
  const pool = new pg.Pool({
    connectionString: settings.connectionString,
    max,
    statement_timeout: statementTimeout,
    // A node that cannot reach the database answers 503 soon, rather than queueing requests behind a dead pool.
    connectionTimeoutMillis: 5_000,
    idleTimeoutMillis: 30_000,
    options: `-c search_path=${settings.schema}`,
    // What pg_stat_activity shows, unless the URL names another.
    ...(new URL(settings.connectionString).searchParams.has('application_name')
      ? {}
      : { application_name: 'accsyn-server' }),
    types,
  });
  // An idle connection that breaks (a restart of PostgreSQL) is dropped by the pool and replaced on demand;
  // without this listener its error would end the process.
  pool.on('error', onError);
  // A connection that breaks while a request holds it fails its query (answered 503), and pg-pool then discards it;
  // but pg-pool listens to idle connections only, and an 'error' event nobody hears ends the process.
  pool.on('connect', (client) => client.on('error', onError));
  return pool;
}

const kyselyOn = (pool: pg.Pool) => new Kysely<Tables>({ dialect: new PostgresDialect({ pool }) });

/**
 * Creates the schema and migrates it under a session advisory lock, so that nodes starting at once take turns:
 * `CREATE ... IF NOT EXISTS` alone races in PostgreSQL. kysely's migrator takes its own lock besides.
 */
async function migrateLocked(db: Kysely<Tables>, schema: string): Promise<void> {
  const lock = `accsyn-migrations:${schema}`;
  await db.connection().execute(async (connection) => {
    await sql`SELECT pg_advisory_lock(hashtext(${lock}))`.execute(connection);
    try {
      await sql`CREATE SCHEMA IF NOT EXISTS ${sql.id(schema)}`.execute(connection);
      await migrate(db as Kysely<unknown>, schema);
    } finally {
      await sql`SELECT pg_advisory_unlock(hashtext(${lock}))`.execute(connection);
    }
  });
}

/**
 * Whether PostgreSQL refused a value of the request: SQLSTATE class 22 ("data exception") or 54000 (a value past a
 * limit, such as an index entry's size).
 */
export function databaseRefusedValue(error: unknown): boolean {
  const code = (error as { code?: unknown })?.code;
  return error instanceof Error && typeof code === 'string' && /^22[0-9A-Z]{3}$|^54000$/.test(code);
}

/**
 * Whether an error means the database is unreachable or restarting, rather than a fault of the request: the
 * server answers 503 to such a request, and the pool connects again by itself.
 */
export function databaseUnavailable(error: unknown): boolean {
  const code = (error as { code?: unknown })?.code;
  if (typeof code === 'string') {
    // 08: connection exceptions; 57P01-03: shutdown, crash, starting up; 57014: statement timeout.
    if (/^08|^57P0[1-3]$|^57014$/.test(code)) return true;
    if (['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH'].includes(code)) return true;
  }
  const message = String((error as Error)?.message ?? '');
  return /Connection terminated|connection timeout|timeout exceeded when trying to connect|Client has encountered a connection error/i.test(
    message,
  );
}
