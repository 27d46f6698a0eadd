import { JOB_TYPES } from 'accsyn-protocol';
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

/** Whose rights read or write an end of a job's task (see `authorities`). */
export type Authority = (end: TaskEnd, need: 'read' | 'write') => Caller | undefined;

/**
 * Whose rights read or write the ends of a job's tasks: the job's user's, except for the files of a delivery its
 * recipient downloads (a transfer whose parent is the delivery), which are read by the rights of the delivery's
 * sender as they are now: a recipient needs no access to the volume, and a sender who loses it stops the download.
 */
export async function authorities(
  store: Store,
  job: { workspace: string; user: string | null; parent: string | null },
): Promise<Authority> {
  const own = await callerOf(store, job);
  const [delivery] =
    job.parent === null
      ? []
      : await store.rows<{ id: string; workspace: string; user: string | null }>(sql`SELECT d.id, d.workspace,
          d."user" FROM jobs d WHERE d.id = ${job.parent} AND d.type = ${JOB_TYPES.delivery} AND d.archived IS NULL
          AND d.status NOT IN ('init', 'aborted')`);
  if (!delivery) return () => own;
  const sender = await callerOf(store, delivery);
  const files = (
    await store.rows<{ source: string }>(sql`SELECT source FROM tasks WHERE job = ${delivery.id}
      AND status <> 'excluded'`)
  ).map((file) => JSON.parse(file.source) as TaskEnd);
  // One of the delivery's files, or beneath one of its directories.
  const delivered = (end: TaskEnd) =>
    files.some((file) => {
      const path = file.path.replace(/\/+$/, '');
      return file.s === end.s && (end.path === path || end.path.startsWith(`${path}/`));
    });
  return (end, need) => (need === 'read' && delivered(end) ? sender : own);
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
