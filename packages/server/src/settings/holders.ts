import { type EntityTypeSpec, JOB_TYPES } from 'accsyn-protocol';
import { closeMatches } from 'accsyn-query';
import { checkRole } from '../entities/access.js';
import { type Row, typeNamed } from '../entities/model.js';
import { checkWrite, visibleJob, visibleRow, visibleShare } from '../entities/write.js';
import type { EventContext } from '../events.js';
import { badRequest, HttpError } from '../http/errors.js';
import type { Holder } from './registry.js';

/**
 * The entity whose settings a call reads or writes (the envelope's `data.entitytype` and `id`), seen with the
 * caller's read rights of src/entities/access.ts: one the caller may not read answers as an unknown id does.
 */

export interface SettingHolder {
  readonly holder: Holder;
  readonly id: string;
  /** Its API type, for messages and rights: workspace, user, queue, transfer, volume, folder... */
  readonly spec: EntityTypeSpec;
  readonly row: Row;
}

/** The entity types a call may name, and what they are as holders; `job` and `share` stand for any of their kind. */
const HOLDERS: Readonly<Record<string, Holder>> = {
  workspace: 'workspace',
  user: 'user',
  job: 'job',
  queue: 'job',
  transfer: 'job',
  delivery: 'job',
  request: 'job',
  share: 'share',
  volume: 'share',
  folder: 'share',
  home: 'share',
  collection: 'share',
};

/** The holder an event names: `entitytype` (null: the workspace) and `id` (none: the caller's workspace or self). */
export async function holderNamed(context: EventContext, entitytype: unknown, id: unknown): Promise<SettingHolder> {
  const { caller } = context;
  if (entitytype !== undefined && entitytype !== null && typeof entitytype !== 'string') {
    throw badRequest('setting: data.entitytype must name an entity type, such as "workspace", "user" or "job".');
  }
  const type = (entitytype ?? 'workspace').trim().toLowerCase();
  const holder = Object.hasOwn(HOLDERS, type) ? HOLDERS[type] : undefined;
  if (!holder) {
    const close = closeMatches(type, Object.keys(HOLDERS));
    throw badRequest(
      `setting: a ${type} has no settings; these have: ${Object.keys(HOLDERS).join(', ')}${close.length > 0 ? ` (did you mean ${close.join(' or ')}?)` : ''}.`,
    );
  }
  const entityId =
    id ?? (holder === 'workspace' ? caller.workspace.id : holder === 'user' ? caller.user.id : undefined);
  if (entityId === undefined) throw badRequest(`setting: the settings of a ${type} need its id in the envelope's id.`);
  // Whatever hides the entity (it is not there, the caller may not read it, it is of another type), the answer
  // names only what the caller asked for.
  const hidden = () => new HttpError(404, `There is no ${type} ${String(entityId)}, or you may not see it.`);
  const { spec, row } = await (type === 'job'
    ? visibleJob(context, entityId)
    : type === 'share'
      ? visibleShare(context, entityId)
      : visibleRow(context, typeNamed(type), entityId).then((row) => ({ spec: typeNamed(type), row }))
  ).catch((error: unknown) => {
    throw error instanceof HttpError && error.status === 404 ? hidden() : error;
  });
  // Shares' settings are for staff: a standard user learns nothing of them, not even that the share is there.
  if (holder === 'share' && caller.user.role === 'standard') throw hidden();
  return { holder, id: row.id as string, spec, row };
}

const forbidden = (message: string) => new HttpError(403, message);

/**
 * Refuses a change the caller may not make: admins change every setting; employees those of the jobs they may
 * change (a queue is the admins') and their own; standard users only their own. Only admins change the settings
 * of the workspace, of other users and of shares.
 */
export async function checkWritable(context: EventContext, holder: SettingHolder): Promise<void> {
  const { caller } = context;
  if (caller.user.role === 'admin') return;
  if (caller.user.role === 'standard' && holder.holder !== 'user') {
    throw forbidden(
      `Permission denied: a standard user may change only their own settings, not a ${holder.spec.name}'s.`,
    );
  }
  switch (holder.holder) {
    case 'workspace':
      throw forbidden("Permission denied: only an admin may change the workspace's settings.");
    case 'share':
      throw forbidden("Permission denied: only an admin may change a share's settings.");
    case 'user':
      if (holder.id !== caller.user.id) throw forbidden('Permission denied: you may change only your own settings.');
      return;
    case 'job':
      checkRole(holder.spec, caller, 'edit');
      await checkWrite(context, holder.spec, holder.row);
  }
}

/** A holder by kind and id, without its row: a link of a chain. */
export interface HolderRef {
  readonly holder: Holder;
  readonly id: string;
}

/**
 * The holders above one, nearest first, whose values it inherits: a job's queue, a folder's or home's volume, then
 * the workspace for every entity of it.
 */
export function chainOf(holder: SettingHolder, workspace: string): HolderRef[] {
  const { row } = holder;
  const above: HolderRef[] = [];
  if (holder.holder === 'job' && row.type !== JOB_TYPES.queue && typeof row.queue === 'string') {
    above.push({ holder: 'job', id: row.queue });
  }
  if (holder.holder === 'share' && typeof row.parent === 'string') above.push({ holder: 'share', id: row.parent });
  if (holder.holder !== 'workspace') above.push({ holder: 'workspace', id: workspace });
  return above;
}
