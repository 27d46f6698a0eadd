import { sql } from 'kysely';
import { HttpError } from '../http/errors.js';
import type { Row } from './model.js';
import type { Db } from './write.js';

/**
 * What a change to a person's account entails, in the transaction that makes it (edit, deactivate, delete): a user
 * who is disabled, deactivated or deleted loses every session for good, and no change leaves the workspace without
 * an active admin. Their API keys stay: they work again once the person is back (reference §3.6: the account is kept).
 */
export async function accountChanged(
  db: Db,
  dialect: 'sqlite' | 'postgres',
  user: Row,
  change: { readonly ended: boolean; readonly demoted: boolean },
): Promise<void> {
  if (change.ended) await sql`DELETE FROM sessions WHERE "user" = ${user.id}`.execute(db);
  if (user.role === 'admin' && (change.ended || change.demoted)) {
    await keepAnActiveAdmin(db, dialect, user.workspace as string);
  }
}

/**
 * Refuses, after the change and before it commits, a workspace left with no active admin. On PostgreSQL the
 * workspace's row is held first, so that two admins who demote each other at once take turns and the second sees the
 * first's change; every caller has changed its user's row already, so the locks are always taken in the same order.
 */
async function keepAnActiveAdmin(db: Db, dialect: 'sqlite' | 'postgres', workspace: string): Promise<void> {
  if (dialect === 'postgres') await sql`SELECT 1 FROM workspaces WHERE id = ${workspace} FOR UPDATE`.execute(db);
  const { rows } = await sql<{ id: string }>`SELECT id FROM users WHERE workspace = ${workspace} AND role = 'admin'
    AND status = 'enabled' AND inactive = 0 AND archived IS NULL LIMIT 1`.execute(db);
  if (rows.length === 0) {
    throw new HttpError(
      409,
      'This would leave the workspace without an active admin: make another user an admin first.',
    );
  }
}
