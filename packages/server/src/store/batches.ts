import { type Sql, sql } from './sql.js';
import type { Store } from './store.js';

/**
 * Statements over a payload's lists, whatever their length. One statement binds at most 32,766 values on SQLite
 * and 65,535 on PostgreSQL, and a transfer of an image sequence is thousands of frames: a long list goes in
 * batches of at most `BATCH_VALUES` values. Run them in one transaction, so that a call still writes all or nothing.
 */

/** Values bound per statement: far under both limits, and as fast as larger batches on both databases. */
export const BATCH_VALUES = 5_000;

/** `items` in consecutive slices of at most `size`. */
export function batches<T>(items: readonly T[], size = BATCH_VALUES): T[][] {
  const slices: T[][] = [];
  for (let start = 0; start < items.length; start += size) slices.push(items.slice(start, start + size));
  return slices;
}

/** Inserts `rows`, each its values in the order of `columns`, into `table`: many rows per statement. */
export async function insertMany(
  store: Store,
  table: string,
  columns: readonly string[],
  rows: readonly (readonly unknown[])[],
): Promise<void> {
  const into = sql`INSERT INTO ${sql.id(table)} (${sql.join(columns.map(sql.id))}) VALUES `;
  for (const batch of batches(rows, Math.max(1, Math.floor(BATCH_VALUES / columns.length)))) {
    await store.execute(sql`${into}${sql.join(batch.map((row) => sql`(${sql.join(row)})`))}`);
  }
}

/**
 * Runs `statement` once per batch of `values`, each batch given as a list for its `IN (...)`, and answers the rows
 * of all the batches one after the other (an `ORDER BY` orders each batch alone). Nothing runs for no values.
 */
export async function rowsIn<R>(store: Store, values: readonly unknown[], statement: (list: Sql) => Sql): Promise<R[]> {
  const rows: R[] = [];
  for (const batch of batches(values)) {
    for (const row of await store.rows<R>(statement(sql.join(batch)))) rows.push(row);
  }
  return rows;
}

/** Runs a statement that writes, such as an `UPDATE ... WHERE id IN (...)`, once per batch of `values`. */
export async function executeIn(
  store: Store,
  values: readonly unknown[],
  statement: (list: Sql) => Sql,
): Promise<void> {
  for (const batch of batches(values)) await store.execute(statement(sql.join(batch)));
}
