import type { TaskEnd } from '../entities/endpoints.js';
import { type Located, locate } from '../files/locate.js';
import { may, type Need, rightsOn } from '../files/rights.js';
import { HttpError } from '../http/errors.js';
import { sql } from '../store/sql.js';
import type { Store } from '../store/store.js';
import { authorities } from './carried.js';

/**
 * Where the end of a task that lies on the shares is on this server's disk, checked against the rights of the
 * job's user as they are now: a transfer runs by its maker's rights, whoever carries it.
 */
export async function placeOnShares(
  store: Store,
  dataDir: string,
  job: string,
  end: TaskEnd,
  need: Need,
): Promise<Located> {
  const [row] = await store.rows<{ workspace: string; user: string | null; parent: string | null }>(sql`SELECT
    workspace, "user", parent FROM jobs WHERE id = ${job}`);
  const caller = row && (await authorities(store, row))(end, need);
  if (!caller)
    throw new HttpError(409, 'The user who made this transfer is no longer an active user of the workspace.');
  const located = await locate(store, caller, dataDir, end.path);
  if (!may(await rightsOn(store, caller, located.volume.id), located.inVolume, need)) {
    const verb = need === 'read' ? 'read' : 'write to';
    throw new HttpError(403, `Permission denied: the transfer's user may no longer ${verb} "${end.path}".`);
  }
  return located;
}
