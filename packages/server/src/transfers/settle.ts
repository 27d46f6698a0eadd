import { sql } from '../store/sql.js';
import type { Store } from '../store/store.js';

/**
 * A job's status once a task of it ends, whoever carried it (a node's engine or a user's agent): done when every
 * task is done or excluded, failed when one failed (the message names it), paused when what is left is on hold.
 * While a task is still queued or being carried nothing is settled, except that a job no one carries any more
 * goes back to waiting. Answers whether tasks are left to carry.
 */
export async function settle(store: Store, job: string): Promise<boolean> {
  const counts = new Map(
    (
      await store.rows<{ status: string; count: number }>(sql`SELECT status, COUNT(*) AS count FROM tasks
        WHERE job = ${job} GROUP BY status`)
    ).map((row) => [row.status, Number(row.count)]),
  );
  const count = (status: string) => counts.get(status) ?? 0;
  if (count('executing') > 0) return true;
  if (count('queued') + count('pending') + count('booting') > 0) {
    await store.execute(sql`UPDATE jobs SET status = 'waiting', speed = -1 WHERE id = ${job} AND status = 'running'`);
    return true;
  }
  if (count('failed') > 0) {
    const [first] = await store.rows<{ uri: string; message: string | null }>(sql`SELECT uri, message
      FROM tasks WHERE job = ${job} AND status = 'failed' ORDER BY modified LIMIT 1`);
    const total = [...counts.values()].reduce((sum, n) => sum + n, 0);
    await finish(
      store,
      job,
      'failed',
      `${count('failed')} of ${total} tasks failed; task ${first?.uri}: ${first?.message ?? 'failed'}`,
    );
    return false;
  }
  if (count('onhold') > 0) {
    await store.execute(sql`UPDATE jobs SET status = 'paused', speed = -1 WHERE id = ${job} AND status = 'running'`);
    return false;
  }
  await finish(store, job, 'done', null);
  return false;
}

export async function finish(
  store: Store,
  job: string,
  status: 'done' | 'failed',
  message: string | null,
): Promise<void> {
  const now = new Date().toISOString();
  await store.execute(sql`UPDATE jobs SET status = ${status}, message = ${message}, speed = -1, etr = NULL,
    ${status === 'done' ? sql`progress = 100, ` : sql.empty}finished = ${now}, modified = ${now}
    WHERE id = ${job} AND status IN ('init', 'waiting', 'running')`);
}
