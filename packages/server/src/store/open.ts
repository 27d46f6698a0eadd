import { openPostgres } from './postgres.js';
import { openSqlite, type Store } from './store.js';

/** Whether a `--database` value names PostgreSQL rather than a SQLite file. */
export function isPostgresUrl(database: string): boolean {
  return /^postgres(ql)?:\/\//i.test(database);
}

/** Opens the store a `--database` value names, migrated to the latest schema. */
export function openStore(database: string, onError?: (error: Error) => void): Promise<Store> {
  return isPostgresUrl(database) ? openPostgres(database, onError) : openSqlite(database);
}
