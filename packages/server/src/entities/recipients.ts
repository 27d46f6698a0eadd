import type { EntityTypeSpec } from 'accsyn-protocol';
import type { EventContext } from '../events.js';
import { badRequest, HttpError } from '../http/errors.js';
import { sql } from '../store/sql.js';
import { checkRole } from './access.js';
import { userId, userOrInvite } from './create.js';
import { checkWrite, objectOf, visibleJob } from './write.js';

/**
 * The people a delivery or request goes to (reference §2.4): `job/recipients` lists them, `job/recipient/add` adds
 * one, `job/recipient` (DELETE) takes one off. The envelope's id is the job; a recipient is given by id or e-mail.
 */

const RECIPIENT_TYPES = new Set(['delivery', 'request']);

export async function listRecipients(context: EventContext, spec: EntityTypeSpec): Promise<unknown[]> {
  const { id: job } = await recipientJob(context, spec, false);
  const rows = await context.store.rows<{ user: string; user_hr: string; actioned: number }>(sql`SELECT r."user",
    u.code AS user_hr, r.actioned FROM recipients r JOIN users u ON u.id = r."user"
    WHERE r.job = ${job} ORDER BY r.created, u.code_folded`);
  return rows.map((row) => ({ actioned: row.actioned === 1, user: row.user, user_hr: row.user_hr }));
}

/**
 * Adds a recipient, inviting an unknown e-mail unless `invite` is false (this server sends no e-mail); one already on
 * the list stays as it is.
 */
export async function addRecipient(context: EventContext, spec: EntityTypeSpec): Promise<true> {
  const { id: job } = await recipientJob(context, spec, true);
  const data = objectOf(context.envelope.data, 'job/recipient/add');
  const user = await userOrInvite(context, data.recipient, data.invite, {
    operation: 'job/recipient/add',
    field: 'job/recipient/add: recipient',
  });
  await context.store.db
    .insertInto('recipients')
    .values({ job, user, actioned: 0, created: new Date().toISOString() })
    .onConflict((conflict) => conflict.columns(['job', 'user']).doNothing())
    .execute();
  return true;
}

export async function removeRecipient(context: EventContext, spec: EntityTypeSpec): Promise<true> {
  const { id: job, type } = await recipientJob(context, spec, true);
  const data = objectOf(context.envelope.data, 'job/recipient');
  const user = await userId(context, data.recipient, 'job/recipient: recipient');
  const removed = await context.store.db
    .deleteFrom('recipients')
    .where('job', '=', job)
    .where('user', '=', user)
    .executeTakeFirst();
  if (Number(removed.numDeletedRows) === 0) {
    throw new HttpError(404, `${String(data.recipient)} is not a recipient of this ${type}.`);
  }
  return true;
}

/** The id of the delivery or request the envelope names, which the caller may see, and change when `writing`. */
async function recipientJob(
  context: EventContext,
  spec: EntityTypeSpec,
  writing: boolean,
): Promise<{ id: string; type: string }> {
  if (spec.family !== 'job') throw badRequest(`Only deliveries and requests have recipients, not ${spec.name}s.`);
  const { spec: job, row } = await visibleJob(context, context.envelope.id);
  if (!RECIPIENT_TYPES.has(job.name))
    throw badRequest(`Only deliveries and requests have recipients, not ${job.name}s.`);
  if (writing) {
    checkRole(job, context.caller, 'edit');
    await checkWrite(context, job, row);
  }
  return { id: row.id as string, type: job.name };
}
