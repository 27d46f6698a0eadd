import { randomUUID } from 'node:crypto';
import { JOB_TYPES } from 'accsyn-protocol';
import type { TaskEnd } from '../entities/endpoints.js';
import { insertMany } from '../store/batches.js';
import { sql } from '../store/sql.js';
import type { Store } from '../store/store.js';

/**
 * A file uploaded to a delivery (a transfer whose parent is the delivery) becomes one of the delivery's files once
 * it has landed: a task of the delivery naming it, as the files a delivery is created with are (reference §3.5).
 */
export async function collect(store: Store, job: string, landed: TaskEnd, size: number): Promise<void> {
  const [delivery] = await store.rows<{ id: string; workspace: string }>(sql`SELECT d.id, d.workspace FROM jobs t
    JOIN jobs d ON d.id = t.parent WHERE t.id = ${job} AND d.type = ${JOB_TYPES.delivery} AND d.archived IS NULL`);
  if (!delivery) return;
  const end = JSON.stringify(landed);
  const known = await store.rows(sql`SELECT id FROM tasks WHERE job = ${delivery.id} AND source = ${end}`);
  if (known.length > 0) return;
  const uris = await store.rows<{ uri: string }>(sql`SELECT uri FROM tasks WHERE job = ${delivery.id}`);
  const next = uris.reduce((max, row) => (/^\d+$/.test(row.uri) ? Math.max(max, Number(row.uri) + 1) : max), 0);
  const now = new Date().toISOString();
  await insertMany(
    store,
    'tasks',
    ['id', 'workspace', 'job', 'uri', 'status', 'priority', 'source', 'destination', 'size', 'created', 'modified'],
    [[randomUUID(), delivery.workspace, delivery.id, String(next), 'queued', 500, end, end, size, now, now]],
  );
  await store.execute(sql`UPDATE jobs SET size = (SELECT SUM(size) FROM tasks WHERE job = ${delivery.id}),
    modified = ${now} WHERE id = ${delivery.id}`);
}
