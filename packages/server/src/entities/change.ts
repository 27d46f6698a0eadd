import { type EntityTypeSpec, FINISHED_JOB_STATUSES, JOB_TYPES } from 'accsyn-protocol';
import { sql } from 'kysely';
import type { EventContext } from '../events.js';
import { volumeDirectoryFor } from '../files/locate.js';
import { badRequest, HttpError } from '../http/errors.js';
import { executeIn, rowsIn } from '../store/batches.js';
import { isId } from '../store/ids.js';
import { sql as storeSql } from '../store/sql.js';
import { capitalise, checkRole } from './access.js';
import { foldedColumns, type Row, readableAttributes, TABLES, typeNamed, updateRow } from './model.js';
import { present } from './present.js';
import { idsByCode } from './references.js';
import { inTransaction, withRowLocked } from './serial.js';
import { accountChanged } from './users.js';
import {
  checkWrite,
  columnsOf,
  notSubmittable,
  objectOf,
  presentOne,
  resolveReferences,
  uniqueViolation,
  visibleRow,
  writableJob,
} from './write.js';

/**
 * `<type>/edit`, `task/edit`, `<type>/delete`, `<type>/activate` and `<type>/deactivate` (reference §2.4).
 */

export async function edit(context: EventContext, spec: EntityTypeSpec): Promise<Row[]> {
  checkRole(spec, context.caller, 'edit');
  if (spec.name === 'task') return withRowLocked(context, 'jobs', context.envelope.id, editTasks);
  return withRowLocked(context, TABLES[spec.family], context.envelope.id, (locked) => editEntity(locked, spec));
}

async function editEntity(context: EventContext, spec: EntityTypeSpec): Promise<Row[]> {
  const data = objectOf(context.envelope.data, `${spec.name}/edit`);
  if (Object.keys(data).length === 0) throw badRequest(`${spec.name}/edit: data holds nothing to change.`);
  const stored = await visibleRow(context, spec, context.envelope.id);
  await checkWrite(context, spec, stored);
  const changes = columnsOf(spec, data, 'edit');
  await resolveReferences(context, spec, changes);
  if (spec.name === 'volume' && (changes.path !== undefined || changes.paths !== undefined)) {
    const paths = typeof changes.paths === 'string' ? JSON.parse(changes.paths) : undefined;
    changes.path = await volumeDirectoryFor(changes.path, paths);
  }
  if (spec.name === 'user' && changes.role !== undefined && context.caller.user.role !== 'admin') {
    throw new HttpError(403, 'Permission denied: only an admin may change roles.');
  }
  if (spec.name === 'user' && changes.status === 'disabled' && stored.id === context.caller.user.id) {
    throw badRequest('You cannot disable yourself.');
  }
  const now = new Date().toISOString();
  if (changes.status === 'pending' && (spec.name === 'delivery' || spec.name === 'request')) {
    await checkSubmittable(context, spec, stored);
    // Submitting passes through pending to waiting at once: nothing here waits for a submission to be processed.
    changes.status = 'waiting';
  }
  if (spec.family === 'job' && typeof changes.status === 'string') {
    changes.finished = FINISHED_JOB_STATUSES.includes(changes.status) ? now : null;
  }
  const row = { ...changes, ...foldedColumns(changes), modified: now, modifier: context.caller.user.id };
  await inTransaction(context.store, async (trx) => {
    await updateRow(trx, TABLES[spec.family], stored.id as string, row);
    // A transfer paused or aborted lets go of the files users' machines carry: their clients stop at their next
    // report, and whoever resumes it (the same machine, or the agent beside it) takes them up again at once.
    if (spec.name === 'transfer' && (changes.status === 'paused' || changes.status === 'aborted')) {
      await sql`UPDATE tasks SET status = CASE WHEN status = 'executing' THEN 'queued' ELSE status END,
        carrier = NULL, lease = NULL WHERE job = ${stored.id} AND carrier IS NOT NULL`.execute(trx);
    }
    // Changing a role revokes all access (reference §3.2).
    if (spec.name === 'user' && changes.role !== undefined && changes.role !== stored.role) {
      await sql`UPDATE acls SET archived = ${now} WHERE entity = ${`user:${stored.id}`} AND archived IS NULL`.execute(
        trx,
      );
    }
    if (spec.name === 'user') {
      const demoted = changes.role !== undefined && changes.role !== 'admin';
      await accountChanged(trx, context.store.dialect, stored, { ended: changes.status === 'disabled', demoted });
    }
  }).catch((error: unknown) => {
    throw uniqueViolation(error, spec, { ...stored, ...changes }) ?? error;
  });
  return presentOne(context, spec, stored.id as string);
}

/** A delivery is submitted with files and recipients; a request with recipients. */
async function checkSubmittable(context: EventContext, spec: EntityTypeSpec, stored: Row): Promise<void> {
  const counts = await sql<{ files: number; recipients: number }>`SELECT
    (SELECT COUNT(*) FROM tasks WHERE job = ${stored.id}) AS files,
    (SELECT COUNT(*) FROM recipients WHERE job = ${stored.id}) AS recipients`.execute(context.store.db);
  const { files = 0, recipients = 0 } = counts.rows[0] ?? {};
  if ((spec.name === 'delivery' && Number(files) === 0) || Number(recipients) === 0) {
    throw notSubmittable(spec);
  }
}

/**
 * task/edit: a list of changes to tasks of the job in the envelope's id, each task named by `id` or `uri`; the
 * edited tasks are answered in the order the list first names them. A job may have 100,000 tasks and an edit name
 * them all: each task's changes are merged first, in the list's order, then the tasks given the same changes are
 * updated together, in batches (see store/batches.ts).
 */
async function editTasks(context: EventContext): Promise<Row[]> {
  const { store, envelope, caller } = context;
  const job = await writableJob(context, envelope.id);
  const spec = typeNamed('task');
  const changes = Array.isArray(envelope.data) ? envelope.data : [envelope.data];
  const tasks = await store.rows<{ id: string; uri: string }>(
    storeSql`SELECT id, uri FROM tasks WHERE job = ${job.id}`,
  );
  const byId = new Map(tasks.map((task) => [task.id, task.id]));
  const byUri = new Map(tasks.map((task) => [task.uri, task.id]));
  const edits = new Map<string, Row>();
  changes.forEach((change, i) => {
    const { id, uri, ...rest } = objectOf(change, `task/edit [${i}]`);
    const task = id !== undefined ? byId.get(id as string) : byUri.get(String(uri));
    if (!task) throw badRequest(`task/edit [${i}]: this job has no task ${JSON.stringify(id ?? uri)}.`);
    edits.set(task, { ...edits.get(task), ...columnsOf(spec, rest, 'edit') });
  });
  const now = new Date().toISOString();
  const alike = new Map<string, { set: Row; ids: string[] }>();
  for (const [id, row] of edits) {
    const finished = typeof row.status === 'string' ? (row.status === 'done' ? now : null) : undefined;
    const set: Row = { ...row, modified: now, ...(finished !== undefined ? { finished } : {}) };
    const key = JSON.stringify(Object.entries(set));
    const group = alike.get(key);
    if (group) group.ids.push(id);
    else alike.set(key, { set, ids: [id] });
  }
  await inTransaction(store, async (trx) => {
    const written = store.within(trx);
    for (const { set, ids } of alike.values()) {
      const assignments = storeSql.join(
        Object.entries(set).map(([column, value]) => storeSql`${storeSql.id(column)} = ${value}`),
      );
      await executeIn(written, ids, (list) => storeSql`UPDATE tasks SET ${assignments} WHERE id IN (${list})`);
    }
    // A task queued again is tried afresh; a finished or failed transfer whose tasks change is looked at again by
    // the engine, which settles it anew (done, failed, or paused when what is left is on hold).
    const queued = [...edits].filter(([, row]) => row.status === 'queued').map(([id]) => id);
    await executeIn(
      written,
      queued,
      (list) => storeSql`UPDATE tasks SET attempts = 0, retry_at = NULL, message = NULL
      WHERE id IN (${list})`,
    );
    if ([...edits.values()].some((row) => row.status !== undefined)) {
      await written.execute(storeSql`UPDATE jobs SET status = 'waiting', finished = NULL
        WHERE id = ${job.id as string} AND type = ${JOB_TYPES.transfer} AND status IN ('failed', 'done')`);
    }
  });
  const order = new Map([...edits.keys()].map((id, i) => [id, i]));
  const rows = await rowsIn<Row>(
    store,
    [...edits.keys()],
    (list) => storeSql`SELECT * FROM tasks WHERE id IN (${list})`,
  );
  rows.sort((a, b) => (order.get(a.id as string) as number) - (order.get(b.id as string) as number));
  return present(context, spec, rows, readableAttributes(spec, caller.user.role));
}

// ---------------------------------------------------------------------------------------------------------------
// delete, activate, deactivate

/**
 * Deletes by archiving: the entity leaves every scope but `archived`, and its code is free again. `force` removes
 * a job for good, with its tasks. The main site, the default volume and the default queue stay.
 */
export async function remove(context: EventContext, spec: EntityTypeSpec): Promise<true> {
  checkRole(spec, context.caller, 'delete');
  if (spec.name === 'task') throw badRequest('Tasks cannot be deleted: set their status to excluded instead.');
  if (spec.name === 'workspace') throw new HttpError(403, 'A workspace cannot be deleted through the API.');
  const stored = await visibleRow(context, spec, context.envelope.id);
  await checkWrite(context, spec, stored);
  if (spec.name === 'user' && stored.id === context.caller.user.id) throw badRequest('You cannot delete yourself.');
  if (stored.main === 1 || stored.default === 1) {
    throw new HttpError(409, `The ${stored.main === 1 ? 'main site' : `default ${spec.name}`} cannot be deleted.`);
  }
  const force = (context.envelope.data as { force?: unknown } | null)?.force === true;
  const now = new Date().toISOString();
  const table = TABLES[spec.family];
  await inTransaction(context.store, async (trx) => {
    if (force && spec.family === 'job') {
      await sql`DELETE FROM ${sql.table(table)} WHERE id = ${stored.id}`.execute(trx);
      return;
    }
    const set: Row = { archived: now, modified: now, modifier: context.caller.user.id };
    if (spec.family === 'job' && !FINISHED_JOB_STATUSES.includes(stored.status as string)) {
      Object.assign(set, { status: 'aborted', finished: now });
    }
    await updateRow(trx, table, stored.id as string, set);
    if (spec.family === 'share') {
      await sql`UPDATE acls SET archived = ${now} WHERE target = ${`share:${stored.id}`}`.execute(trx);
    }
    if (spec.family === 'user') {
      await accountChanged(trx, context.store.dialect, stored, { ended: true, demoted: false });
    }
  });
  return true;
}

/** activate (by id, or by a bare code in `query`) and deactivate: users, shares, clients and ACLs. */
export async function setActive(context: EventContext, spec: EntityTypeSpec, active: boolean): Promise<true> {
  const operation = active ? 'activate' : 'deactivate';
  if (!['user', 'share', 'client', 'acl'].includes(spec.family)) {
    throw badRequest(`${capitalise(spec.name)}s cannot be ${operation}d: only users, shares, clients and ACLs can.`);
  }
  if (spec.name === 'home' && !active) {
    throw badRequest('A home cannot be deactivated on its own: deactivate its user instead.');
  }
  checkRole(spec, context.caller, operation);
  const { envelope, caller } = context;
  let id = envelope.id;
  if (id === undefined && typeof envelope.query === 'string') {
    // ACLs have no code: a bare text names one only as its id.
    const found =
      spec.family === 'acl'
        ? []
        : await idsByCode(context.store, caller.workspace.id, [spec.family], envelope.query.trim());
    id = found[0]?.id ?? envelope.query.trim();
    if (!isId(id))
      throw new HttpError(404, `There is no ${spec.name} '${envelope.query.trim()}', or you may not see it.`);
  }
  const stored = await visibleRow(context, spec, id);
  await checkWrite(context, spec, stored);
  if (spec.name === 'user' && stored.id === caller.user.id && !active) {
    throw badRequest('You cannot deactivate yourself.');
  }
  const now = new Date().toISOString();
  await inTransaction(context.store, async (trx) => {
    const set = { inactive: active ? 0 : 1, modified: now, modifier: caller.user.id };
    await updateRow(trx, TABLES[spec.family], stored.id as string, set);
    // A share's and a user's ACLs follow them offline and back (reference §3.6, §3.8).
    const acls =
      spec.family === 'share'
        ? sql`target = ${`share:${stored.id}`}`
        : spec.family === 'user'
          ? sql`entity = ${`user:${stored.id}`}`
          : undefined;
    if (acls) await sql`UPDATE acls SET inactive = ${active ? 0 : 1} WHERE ${acls}`.execute(trx);
    if (spec.family === 'user') {
      await accountChanged(trx, context.store.dialect, stored, { ended: !active, demoted: false });
    }
  });
  return true;
}
