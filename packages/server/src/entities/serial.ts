import { type Kysely, sql } from 'kysely';
import type { EventContext } from '../events.js';
import { isId } from '../store/ids.js';
import { Store } from '../store/store.js';
import type { Tables } from '../store/tables.js';

/** Runs `work` in a transaction of the store, or in the one the store is already part of. */
export function inTransaction<T>(store: Store, work: (db: Kysely<Tables>) => Promise<T>): Promise<T> {
  return store.db.isTransaction ? work(store.db) : store.db.transaction().execute(work);
}

/**
 * Runs `work` (its reads, checks, writes and the answer it reads back) in one transaction that holds the row `id`
 * of `table`: two nodes changing the same entity take turns, and each starts from what the other wrote, so that no
 * acknowledged change is overwritten unseen. On SQLite, the one connection of the one node takes turns already.
 */
export function withRowLocked<T>(
  context: EventContext,
  table: string,
  id: unknown,
  work: (context: EventContext) => Promise<T>,
): Promise<T> {
  return inTransaction(context.store, async (db) => {
    if (context.store.dialect === 'postgres' && typeof id === 'string' && isId(id.toLowerCase())) {
      // Only a row of the caller's workspace: another workspace's is none of this call's business.
      const workspace = context.caller.workspace.id;
      await sql`SELECT 1 FROM ${sql.table(table)} WHERE id = ${id.toLowerCase()}
        AND ${table === 'workspaces' ? sql`id` : sql`workspace`} = ${workspace} FOR UPDATE`.execute(db);
    }
    return work({ ...context, store: new Store(db, context.store.dialect) });
  });
}
