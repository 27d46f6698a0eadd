import type { Caller } from '../auth/authenticate.js';
import type { TaskEnd } from '../entities/endpoints.js';
import { sql } from '../store/sql.js';
import type { Store } from '../store/store.js';
import type { UserRow, WorkspaceRow } from '../store/tables.js';

/**
 * What the engine, the agent events and the data routes share about a task carried to or from a user's machine:
 * which end is local, and whose rights the transfer runs by.
 */

/** How long a client's claim on a task lasts without being renewed (`agent/progress`). */
export const CARRY_LEASE_S = 60;

/** A task's end on a user's machine: one named by a user or client party and no share. */
export function isLocal(end: TaskEnd): boolean {
  return end.s === null && (end.user !== null || end.client !== null);
}

/** The job's user, as a caller of the API would be: the rights of the transfer are theirs. */
export async function callerOf(
  store: Store,
  job: { workspace: string; user: string | null },
): Promise<Caller | undefined> {
  if (job.user === null) return undefined;
  const [workspace] = await store.rows<WorkspaceRow>(sql`SELECT * FROM workspaces WHERE id = ${job.workspace}`);
  const [user] = await store.rows<UserRow>(sql`SELECT * FROM users WHERE id = ${job.user} AND archived IS NULL
    AND inactive = 0 AND status = 'enabled'`);
  return workspace && user ? { workspace, user, session: 'engine' } : undefined;
}

/**
 * Claims whose lease ran out (the client stopped, or lost its network for a minute) go back to the queue, to be
 * carried again, from where their files stopped, by the next client that asks.
 */
export async function releaseLapsed(store: Store): Promise<void> {
  const now = new Date().toISOString();
  await store.execute(sql`UPDATE tasks SET status = CASE WHEN status = 'executing' THEN 'queued' ELSE status END,
    carrier = NULL, lease = NULL WHERE carrier IS NOT NULL AND lease < ${now}`);
}
