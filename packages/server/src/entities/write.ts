import { attributeOf, type EntityTypeSpec, JOB_TYPES } from 'accsyn-protocol';
import { closeMatches } from 'accsyn-query';
import type { Kysely } from 'kysely';
import type { EventContext } from '../events.js';
import { badRequest, HttpError } from '../http/errors.js';
import { isId } from '../store/ids.js';
import { sql } from '../store/sql.js';
import type { Role, Tables } from '../store/tables.js';
import { checkOwnership, checkRole, readable } from './access.js';
import { type Row, readableAttributes, SUBTYPE_COLUMN, TABLES, toColumn, typeNamed } from './model.js';
import { present } from './present.js';
import { type CodedFamily, liveId } from './references.js';

/**
 * What every write shares (reference §2.4): each is checked (role, then the stored entity's ownership), validated
 * whole before anything is written (create.ts, change.ts), and written in one transaction, so that a refused or
 * failed call leaves nothing behind.
 */

export type Db = Kysely<Tables>;

/** Keys a create payload may carry beside the type's attributes, handled by the type's own code. */
const EXTRA_KEYS: Readonly<Record<string, readonly string[]>> = {
  transfer: ['tasks', 'settings', 'hooks', 'append', 'allow_duplicates', 'replace_duplicates', 'mirror_paths'],
  delivery: ['tasks', 'recipients', 'allow_duplicates', 'replace_duplicates'],
  request: ['recipients', 'allow_duplicates', 'replace_duplicates'],
  task: ['tasks', 'allow_duplicates', 'replace_duplicates'],
  user: ['create_home_share', 'give_all_volumes_access', 'give_default_volume_access', 'volumes', 'message', 'mail'],
  volume: ['server', 'siteservers'],
  acl: ['notify', 'message', 'invite'],
};

export function objectOf(data: unknown, what: string): Record<string, unknown> {
  if (typeof data !== 'object' || data === null || Array.isArray(data))
    throw badRequest(`${what}: data must be an object.`);
  return data as Record<string, unknown>;
}

/** The attribute values of `data` as columns; refuses unknown attributes and those the operation may not set. */
export function columnsOf(spec: EntityTypeSpec, data: Record<string, unknown>, operation: 'create' | 'edit'): Row {
  const row: Row = {};
  const extras = operation === 'create' ? (EXTRA_KEYS[spec.name] ?? []) : [];
  for (const [key, value] of Object.entries(data)) {
    const name = key.toLowerCase();
    if (extras.includes(name)) continue;
    const attribute = attributeOf(spec, name);
    if (!attribute) {
      const close = closeMatches(name, Object.keys(spec.attributes));
      throw badRequest(
        `${spec.name} has no attribute '${key}'${close.length > 0 ? `; did you mean ${close.join(' or ')}?` : '.'}`,
      );
    }
    if (operation === 'create' ? !attribute.create : !attribute.update) {
      throw badRequest(
        operation === 'create'
          ? `${spec.name}.${name} cannot be given when creating a ${spec.name}.`
          : `${spec.name}.${name} cannot be changed.`,
      );
    }
    row[name] = toColumn(spec, name, value);
  }
  if (typeof row.status === 'string') {
    const allowed = operation === 'edit' ? spec.writableStatuses : [...spec.writableStatuses, 'init'];
    if (!allowed.includes(row.status)) {
      throw badRequest(
        `${spec.name} status '${row.status}' cannot be set; the statuses you may set are ${allowed.join(', ')}.`,
      );
    }
  }
  for (const [name, attribute] of Object.entries(spec.attributes)) {
    if (operation === 'create' && attribute.required && (row[name] === undefined || row[name] === '')) {
      throw badRequest(`A new ${spec.name} needs ${name}.`);
    }
  }
  return row;
}

/** The entity `id` of `spec` as stored, when the caller may see it; a 404 otherwise, which tells nothing more. */
export async function visibleRow(context: EventContext, spec: EntityTypeSpec, id: unknown): Promise<Row> {
  if (typeof id !== 'string' || !isId(id)) {
    throw badRequest(`${spec.name}: the envelope's id must be an id (24 lowercase letters and digits).`);
  }
  const { caller } = context;
  const subtype = SUBTYPE_COLUMN[spec.family];
  const [row] = await context.store.rows<Row>(sql`SELECT e.* FROM ${sql.id(TABLES[spec.family])} e
    WHERE e.id = ${id} AND ${spec.family === 'workspace' ? sql`e.id` : sql`e.workspace`} = ${caller.workspace.id}
    AND ${readable(spec, caller)}
    ${subtype && spec.subtypes ? sql`AND ${sql.id(`e.${subtype}`)} IN (${sql.join(spec.subtypes)})` : sql.empty}`);
  if (!row) throw new HttpError(404, `There is no ${spec.name} ${id}, or you may not see it.`);
  return row;
}

export function checkWrite(context: EventContext, spec: EntityTypeSpec, row: Row): Promise<void> {
  const { store, caller } = context;
  const workspace = caller.workspace.id;
  return checkOwnership(spec, caller, row, {
    roleOf: async (userId) =>
      (
        await store.rows<{ role: Role }>(sql`SELECT role FROM users WHERE id = ${userId} AND workspace = ${workspace}`)
      )[0]?.role,
    shareOf: async (shareId) =>
      (
        await store.rows<{ type: string; user: string | null }>(
          sql`SELECT type, "user" FROM shares WHERE id = ${shareId} AND workspace = ${workspace}`,
        )
      )[0],
  });
}

/**
 * A job the caller can see, whatever its type: a transfer, a delivery, a request or a queue. The type is read in the
 * caller's workspace only: another workspace's job answers as an unknown id does ("There is no transfer ...").
 */
export async function visibleJob(context: EventContext, id: unknown): Promise<{ spec: EntityTypeSpec; row: Row }> {
  const [found] =
    typeof id === 'string'
      ? await context.store.rows<{ type: number }>(
          sql`SELECT type FROM jobs WHERE id = ${id} AND workspace = ${context.caller.workspace.id}`,
        )
      : [];
  const name = Object.entries(JOB_TYPES).find(([, type]) => type === found?.type)?.[0] ?? 'transfer';
  const spec = typeNamed(name);
  return { spec, row: await visibleRow(context, spec, id) };
}

/** A share the caller can see, whatever its type: a volume, a folder, a home or a collection (as `visibleJob`). */
export async function visibleShare(context: EventContext, id: unknown): Promise<{ spec: EntityTypeSpec; row: Row }> {
  const [found] =
    typeof id === 'string'
      ? await context.store.rows<{ type: string }>(
          sql`SELECT type FROM shares WHERE id = ${id} AND workspace = ${context.caller.workspace.id}`,
        )
      : [];
  const spec = typeNamed(found?.type ?? 'folder');
  return { spec, row: await visibleRow(context, spec, id) };
}

/**
 * Replaces each reference among `row`'s values, given as an id or a code, by the id of an entity of the caller's
 * workspace it names; a reference to nothing there is a 400, so no entity ever points into another workspace.
 */
export async function resolveReferences(context: EventContext, spec: EntityTypeSpec, row: Row): Promise<void> {
  for (const [name, value] of Object.entries(row)) {
    const attribute = attributeOf(spec, name);
    if (attribute?.type !== 'ref' || typeof value !== 'string') continue;
    const families = (attribute.refs ?? []) as CodedFamily[];
    let id: string | undefined;
    for (const family of families) id ??= await liveId(context.store, context.caller.workspace.id, family, value);
    if (!id) {
      throw badRequest(`${spec.name}.${name}: there is no ${families.join(' or ')} '${value}' in this workspace.`);
    }
    row[name] = id;
  }
}

export function uniqueViolation(error: unknown, spec: EntityTypeSpec, row: Row): HttpError | undefined {
  const text = String((error as Error)?.message ?? '');
  if (!/UNIQUE|unique/.test(text)) return undefined;
  return new HttpError(409, `A ${spec.name} with the code '${row.code}' exists already.`);
}

export async function presentOne(context: EventContext, spec: EntityTypeSpec, id: string): Promise<Row[]> {
  const rows = await context.store.rows<Row>(sql`SELECT * FROM ${sql.id(TABLES[spec.family])} WHERE id = ${id}
    AND ${spec.family === 'workspace' ? sql`id` : sql`workspace`} = ${context.caller.workspace.id}`);
  return present(context, spec, rows, readableAttributes(spec, context.caller.user.role));
}

/** The job whose tasks a call changes: the caller must see it and may edit it. */
export async function writableJob(context: EventContext, id: unknown): Promise<Row> {
  const { spec, row } = await visibleJob(context, id);
  if (spec.name === 'queue') throw badRequest('A queue has no tasks: give the id of a transfer, delivery or request.');
  checkRole(spec, context.caller, 'edit');
  await checkWrite(context, spec, row);
  return row;
}

export function notSubmittable(spec: EntityTypeSpec): HttpError {
  return badRequest(
    `This ${spec.name} cannot be submitted yet: it needs ${spec.name === 'delivery' ? 'files and ' : ''}at least one recipient.`,
  );
}
