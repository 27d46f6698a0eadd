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
  for (const [i, file] of files.entries()) {
    const located = await locate(context.store, context.caller, context.config.dataDir, file).catch((error) => {
      throw error instanceof HttpError ? new HttpError(error.status, `files[${i}]: ${error.message}`) : error;
    });
    demand(await rightsOn(context.store, context.caller, located.volume.id), located, 'read');
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
  const { caller } = context;
  for (const [i, path] of paths.entries()) {
    await kyselySql`INSERT INTO files (id, workspace, parent, path, created, creator, modified, modifier)
      VALUES (${ids[i]}, ${caller.workspace.id}, ${collection}, ${path}, ${now}, ${caller.user.id}, ${now},
      ${caller.user.id})`.execute(db);
  }
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
  const rows = await context.store.rows<Row>(
    sql`SELECT * FROM files WHERE id IN (${sql.join(ids)}) ORDER BY created, id`,
  );
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
    const found = await locked.store.rows<{ id: string; path: string }>(sql`SELECT id, path FROM files
      WHERE parent = ${collection} AND id IN (${sql.join(files)})`);
    const missing = files.filter((id) => !found.some((row) => row.id === id));
    if (missing.length > 0) {
      throw new HttpError(404, `The collection holds no file ${missing.map((id) => `'${id}'`).join(', ')}.`);
    }
    await kyselySql`DELETE FROM files WHERE parent = ${collection} AND id IN (${kyselySql.join(files)})`.execute(
      locked.store.db,
    );
    await changeList(locked.store.db, collection, (list) => {
      const left = [...list];
      for (const row of found) left.splice(left.indexOf(row.path), 1);
      return left;
    });
    return true as const;
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
