import { randomUUID } from 'node:crypto';
import type { EntityTypeSpec } from 'accsyn-protocol';
import type { Kysely } from 'kysely';
import { sql as kyselySql } from 'kysely';
import { checkRole } from '../entities/access.js';
import { type Row, readableAttributes, typeNamed } from '../entities/model.js';
import { present } from '../entities/present.js';
import { withRowLocked } from '../entities/serial.js';
import { checkWrite, objectOf, visibleRow } from '../entities/write.js';
import type { EventContext } from '../events.js';
import { badRequest, HttpError } from '../http/errors.js';
import { executeIn, insertMany, rowsIn } from '../store/batches.js';
import { sql } from '../store/sql.js';
import type { Tables } from '../store/tables.js';
import { locate } from './locate.js';
import { demand, rightsOn } from './rights.js';

/**
 * A collection's files (reference §3.8): paths on the workspace's shares gathered under one name. `file/add` adds
 * some (the envelope's id is the collection), `collection/file/remove` takes some off by their uuids, and
 * `find("File", entityid=<collection>)` lists them. The caller must be able to read every path they collect.
 */

/** The paths of a payload's `files`, each checked to lie on a share the caller may read. */
export async function collectablePaths(context: EventContext, files: unknown): Promise<string[]> {
  if (!Array.isArray(files) || files.length === 0 || !files.every((file) => typeof file === 'string')) {
    throw badRequest('files must be a non-empty list of paths such as "volume=assets/a.mov".');
  }
  // The paths of a collection lie on a few shares, looked up once however many paths there are.
  const reading = context.store.remembering();
  for (const [i, file] of files.entries()) {
    const located = await locate(reading, context.caller, context.config.dataDir, file).catch((error) => {
      throw error instanceof HttpError ? new HttpError(error.status, `files[${i}]: ${error.message}`) : error;
    });
    demand(await rightsOn(reading, context.caller, located.volume.id), located, 'read');
  }
  return files as string[];
}

/** Adds `paths` to a collection and writes its `files` attribute anew, in the caller's transaction. */
export async function insertFiles(
  db: Kysely<Tables>,
  context: EventContext,
  collection: string,
  paths: readonly string[],
  now: string,
): Promise<string[]> {
  const ids = paths.map(() => randomUUID());
  const { workspace, user } = context.caller;
  const rows = paths.map((path, i) => [ids[i], workspace.id, collection, path, now, user.id, now, user.id]);
  const columns = ['id', 'workspace', 'parent', 'path', 'created', 'creator', 'modified', 'modifier'];
  await insertMany(context.store.within(db), 'files', columns, rows);
  await changeList(db, collection, (list) => [...list, ...paths]);
  return ids;
}

/** `file/add`. */
export async function addFiles(context: EventContext, spec: EntityTypeSpec): Promise<Row[]> {
  if (spec.name !== 'file') throw badRequest(`${spec.name}/add: only files are added, with file/add.`);
  const data = objectOf(context.envelope.data, 'file/add');
  await writableCollection(context);
  const paths = await collectablePaths(context, data.files);
  const ids = await withRowLocked(context, 'shares', context.envelope.id, async (locked) => {
    await writableCollection(locked);
    return insertFiles(locked.store.db, locked, context.envelope.id as string, paths, new Date().toISOString());
  });
  const rows = await rowsIn<Row>(context.store, ids, (list) => sql`SELECT * FROM files WHERE id IN (${list})`);
  // In the order they were added, which their ids (made at once, by one call) do not keep.
  const order = new Map(ids.map((id, i) => [id, i]));
  rows.sort((a, b) => (order.get(a.id as string) as number) - (order.get(b.id as string) as number));
  return present(context, spec, rows, readableAttributes(spec, context.caller.user.role));
}

/** `collection/file/remove`: every uuid must be a file of the collection, or nothing is removed. */
export async function removeFiles(context: EventContext, spec: EntityTypeSpec): Promise<true> {
  if (spec.name !== 'collection') throw badRequest(`Only collections have files to remove, not ${spec.name}s.`);
  const data = objectOf(context.envelope.data, 'collection/file/remove');
  const files = data.files;
  if (!Array.isArray(files) || files.length === 0 || !files.every((file) => typeof file === 'string')) {
    throw badRequest('collection/file/remove: files must be a non-empty list of file ids.');
  }
  return withRowLocked(context, 'shares', context.envelope.id, async (locked) => {
    const collection = await writableCollection(locked);
    const found = await rowsIn<{ id: string; path: string }>(
      locked.store,
      files,
      (list) => sql`SELECT id, path FROM files WHERE parent = ${collection} AND id IN (${list})`,
    );
    const known = new Set(found.map((row) => row.id));
    const missing = files.filter((id) => !known.has(id));
    if (missing.length > 0) {
      throw new HttpError(404, `The collection holds no file ${missing.map((id) => `'${id}'`).join(', ')}.`);
    }
    await executeIn(
      locked.store,
      files,
      (list) => sql`DELETE FROM files WHERE parent = ${collection} AND id IN (${list})`,
    );
    await changeList(locked.store.db, collection, (list) => withoutPaths(list, found));
    return true as const;
  });
}

/** The list of a collection's paths without those of `removed`, once each: a path may be in it several times. */
function withoutPaths(list: readonly string[], removed: readonly { path: string }[]): string[] {
  const times = new Map<string, number>();
  for (const { path } of removed) times.set(path, (times.get(path) ?? 0) + 1);
  return list.filter((path) => {
    const left = times.get(path) ?? 0;
    if (left > 0) times.set(path, left - 1);
    return left === 0;
  });
}

/** The collection the envelope names, which the caller may see and change. */
async function writableCollection(context: EventContext): Promise<string> {
  const spec = typeNamed('collection');
  checkRole(spec, context.caller, 'edit');
  const row = await visibleRow(context, spec, context.envelope.id);
  await checkWrite(context, spec, row);
  return row.id as string;
}

/** Changes a collection's `files` attribute, the list of its paths in the order they were added. */
async function changeList(
  db: Kysely<Tables>,
  collection: string,
  change: (list: readonly string[]) => string[],
): Promise<void> {
  const { rows } = await kyselySql<{ files: string | null }>`SELECT files FROM shares WHERE id = ${collection}`.execute(
    db,
  );
  const list = JSON.parse(rows[0]?.files ?? '[]') as string[];
  await kyselySql`UPDATE shares SET files = ${JSON.stringify(change(list))} WHERE id = ${collection}`.execute(db);
}
