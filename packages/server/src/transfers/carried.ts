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
 * recipient downloads (a transfer whose parent is the delivery), read by the rights of the delivery's sender, and
 * the files a recipient sends to a request (a transfer whose parent is the request), written by the rights of the
 * request's sender, as they are now: a recipient needs no access to the volume, and a sender who loses it stops
 * the transfer.
 */
export async function authorities(
  store: Store,
  job: { workspace: string; user: string | null; parent: string | null },
): Promise<Authority> {
  const own = await callerOf(store, job);
  const [parent] =
    job.parent === null
      ? []
      : await store.rows<{ id: string; type: number; workspace: string; user: string | null; target: string | null }>(
          sql`SELECT p.id, p.type, p.workspace, p."user", p.target FROM jobs p WHERE p.id = ${job.parent}
          AND p.type IN (${JOB_TYPES.delivery}, ${JOB_TYPES.request}) AND p.archived IS NULL
          AND p.status NOT IN ('init', 'aborted')`,
        );
  if (!parent) return () => own;
  const sender = await callerOf(store, parent);
  if (parent.type === JOB_TYPES.request) {
    const target = parent.target ? (JSON.parse(parent.target) as TaskEnd) : undefined;
    return (end, need) => (need === 'write' && target && beneath(end, target) ? sender : own);
  }
  const files = (
    await store.rows<{ source: string }>(sql`SELECT source FROM tasks WHERE job = ${parent.id}
      AND status <> 'excluded'`)
  ).map((file) => JSON.parse(file.source) as TaskEnd);
  return (end, need) => (need === 'read' && files.some((file) => beneath(end, file)) ? sender : own);
}

/** An end that is `place`, or lies beneath it, on the same share. */
function beneath(end: TaskEnd, place: TaskEnd): boolean {
  const path = place.path.replace(/\/+$/, '');
  return place.s === end.s && (end.path === path || end.path.startsWith(`${path}/`));
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
