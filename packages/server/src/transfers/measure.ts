import { randomUUID } from 'node:crypto';
import type { Dirent } from 'node:fs';
import { lstat, readdir } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { Caller } from '../auth/authenticate.js';
import type { TaskEnd } from '../entities/endpoints.js';
import { locate } from '../files/locate.js';
import { insertMany } from '../store/batches.js';
import { sql } from '../store/sql.js';
import type { Store } from '../store/store.js';
import { authorities } from './carried.js';

/** lstat calls in flight at once while a directory is measured. */
const STATS_AT_ONCE = 64;

/**
 * A job's `init` (reference §3.3): its sources walked and counted. A task whose source is a directory becomes one
 * task per file beneath it (empty directories are not made); a source that does not exist fails its task at once,
 * naming the path. Then the job's size is the sum of its tasks', and a job in `init` is `waiting`. Only tasks not
 * measured yet are looked at, so tasks appended later are measured when the job next runs.
 */
export async function measure(store: Store, caller: Caller, dataDir: string, job: string): Promise<void> {
  const tasks = await store.rows<{ id: string; uri: string; source: string; destination: string; priority: number }>(
    sql`SELECT id, uri, source, destination, priority FROM tasks WHERE job = ${job} AND size IS NULL
      AND status = 'queued'`,
  );
  let next = await nextUri(store, job);
  const [row] = await store.rows<{ parent: string | null }>(sql`SELECT parent FROM jobs WHERE id = ${job}`);
  const authority = await authorities(store, {
    workspace: caller.workspace.id,
    user: caller.user.id,
    parent: row?.parent ?? null,
  });
  for (const task of tasks) {
    const source = JSON.parse(task.source) as TaskEnd;
    if (source.s === null || source.user !== null || source.client !== null) continue;
    const reader = authority(source, 'read');
    const found = await (reader ? locate(store, reader, dataDir, source.path) : Promise.reject(new Error('no reader')))
      .then((located) => lstat(located.absolute).then((stats) => ({ located, stats })))
      .catch(() => undefined);
    if (!found) {
      const now = new Date().toISOString();
      await store.execute(sql`UPDATE tasks SET status = 'failed', message = ${`The source "${source.path}" does not exist.`},
        finished = ${now}, modified = ${now} WHERE id = ${task.id}`);
      continue;
    }
    if (!found.stats.isDirectory()) {
      await store.execute(sql`UPDATE tasks SET size = ${found.stats.size} WHERE id = ${task.id}`);
      continue;
    }
    const files = await filesUnder(found.located.absolute);
    const destination = JSON.parse(task.destination) as TaskEnd;
    const from = source.path.replace(/\/+$/, '');
    // "into/" puts the directory inside `into`; "copy" without a slash makes `copy` the directory's new name.
    const to = destination.path.endsWith('/') ? `${destination.path}${basename(from)}` : destination.path;
    const now = new Date().toISOString();
    const rows = files.map(({ path, size }) => [
      randomUUID(),
      caller.workspace.id,
      job,
      String(next++),
      'queued',
      task.priority,
      JSON.stringify({ ...source, path: `${from}/${path}` }),
      JSON.stringify({ ...destination, path: `${to}/${path}` }),
      size,
      now,
      now,
    ]);
    await store.db.transaction().execute(async (trx) => {
      const within = store.within(trx);
      await within.execute(sql`DELETE FROM tasks WHERE id = ${task.id}`);
      await insertMany(
        within,
        'tasks',
        ['id', 'workspace', 'job', 'uri', 'status', 'priority', 'source', 'destination', 'size', 'created', 'modified'],
        rows,
      );
    });
  }
  await store.execute(sql`UPDATE jobs SET size = (SELECT COALESCE(SUM(t.size), 0) FROM tasks t WHERE t.job = ${job}
    AND t.status <> 'excluded'), status = CASE WHEN status = 'init' THEN 'waiting' ELSE status END WHERE id = ${job}`);
}

/** The files beneath a directory, by their paths relative to it, in name order; links are not followed. */
async function filesUnder(root: string, prefix = ''): Promise<{ path: string; size: number }[]> {
  const entries: Dirent[] = await readdir(join(root, prefix), { withFileTypes: true });
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const pathOf = (entry: Dirent) => (prefix === '' ? entry.name : `${prefix}/${entry.name}`);
  const sizes = await sizesOf(entries.filter((entry) => entry.isFile()).map((entry) => join(root, pathOf(entry))));
  const files: { path: string; size: number }[] = [];
  let next = 0;
  for (const entry of entries) {
    if (entry.isDirectory()) for (const file of await filesUnder(root, pathOf(entry))) files.push(file);
    else if (entry.isFile()) files.push({ path: pathOf(entry), size: sizes[next++] as number });
  }
  return files;
}

/** Files' sizes, read many at once: one after another, a directory of 10,000 files took a second. */
async function sizesOf(paths: readonly string[]): Promise<number[]> {
  const sizes: number[] = [];
  for (let start = 0; start < paths.length; start += STATS_AT_ONCE) {
    const batch = paths.slice(start, start + STATS_AT_ONCE).map(async (path) => (await lstat(path)).size);
    for (const size of await Promise.all(batch)) sizes.push(size);
  }
  return sizes;
}

/** The first whole number not yet a task uri of the job. */
async function nextUri(store: Store, job: string): Promise<number> {
  const rows = await store.rows<{ uri: string }>(sql`SELECT uri FROM tasks WHERE job = ${job}`);
  return rows.reduce((max, row) => (/^\d+$/.test(row.uri) ? Math.max(max, Number(row.uri) + 1) : max), 0);
}
