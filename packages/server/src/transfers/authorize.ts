import { CLIENT_TYPES } from 'accsyn-protocol';
import type { ResolvedEndpoint } from '../entities/endpoints.js';
import { printEndpoint } from '../entities/parties.js';
import type { EventContext } from '../events.js';
import { clean } from '../files/locate.js';
import { may, type Need, type Rights, rightsOn } from '../files/rights.js';
import { badRequest, HttpError } from '../http/errors.js';
import { sql } from '../store/sql.js';
import { isLocal } from './carried.js';

/**
 * Whether the caller may use transfer ends: read what a source names, write where a destination names, by the
 * same rights as the file calls (files/rights.ts); and another person's machine only as the roles allow it (an
 * admin anyone's, an employee their own and standard users', a standard user their own). Checked when a transfer,
 * delivery or request is created and when tasks are added. Refusals do not tell whether the path exists, and a
 * machine the caller may not use answers as an unknown one.
 *
 * One checker serves one call: what it reads of rights and shares is kept for the call's other tasks.
 */
export class EndChecker {
  readonly #rights = new Map<string, Promise<Rights>>();
  readonly #bases = new Map<string, Promise<string>>();
  readonly #registered = new Map<string, Promise<boolean>>();

  constructor(private readonly context: EventContext) {}

  async check(resolved: ResolvedEndpoint, need: Need, what: string): Promise<void> {
    const { store, caller } = this.context;
    const { end, endpoint } = resolved;
    if (end.client !== null && caller.user.role !== 'admin') {
      const [client] = await store.rows<{ user: string | null; role: string | null }>(sql`SELECT c."user", u.role
        FROM clients c LEFT JOIN users u ON u.id = c."user" WHERE c.id = ${end.client}`);
      const own = client?.user === caller.user.id;
      if (!own && !(caller.user.role === 'employee' && client?.role === 'standard')) {
        throw badRequest(`${what}: there is no client ${end.client} in this workspace.`);
      }
    }
    // Your own machine must have a client registered (the agent, or the official desktop app) to carry its files,
    // as accsyn refuses an upload from a machine it does not know. Another person's machine is theirs to register:
    // the transfer waits for their client.
    if (isLocal(end) && end.client === null && end.user === caller.user.id) {
      const known = await remembered(this.#registered, caller.user.id, () => this.#hasClient(caller.user.id));
      if (!known) {
        const path = endpoint.location.kind === 'local' ? endpoint.location.path : end.path;
        throw badRequest(
          `${what}: "${path}" is on your machine, and no client of yours is registered to carry it: start "accsyn agent start" there first (docs/agent.md).`,
        );
      }
    }
    if (end.s === null || end.v === null) return;
    const location = endpoint.location;
    const inShare =
      location.kind === 'share' || location.kind === 'default' || location.kind === 'home' ? location.path : '';
    const base = await remembered(this.#bases, end.s, () => this.#baseOf(end.s as string));
    const rights = await remembered(this.#rights, end.v, () => rightsOn(store, caller, end.v as string));
    if (may(rights, [base, inShare].filter((part) => part !== '').join('/'), need)) return;
    const verb = need === 'read' ? 'read' : 'write to';
    throw new HttpError(403, `Permission denied: you may not ${verb} ${what} "${printEndpoint(endpoint)}".`);
  }

  /** Whether the user has an app or user server registered (`agent/checkin`) that an admin has not disabled. */
  async #hasClient(user: string): Promise<boolean> {
    const rows =
      await this.context.store.rows(sql`SELECT id FROM clients WHERE workspace = ${this.context.caller.workspace.id}
      AND "user" = ${user} AND type IN (${CLIENT_TYPES.app}, ${CLIENT_TYPES.userserver}) AND status NOT LIKE 'disabled%'
      AND archived IS NULL LIMIT 1`);
    return rows.length > 0;
  }

  /** A share's place in its volume. */
  async #baseOf(share: string): Promise<string> {
    const [row] = await this.context.store.rows<{ type: string; path: string | null }>(
      sql`SELECT type, path FROM shares WHERE id = ${share}`,
    );
    return row?.type === 'volume' ? '' : clean(row?.path ?? '');
  }
}

function remembered<T>(memo: Map<string, Promise<T>>, key: string, load: () => Promise<T>): Promise<T> {
  const known = memo.get(key) ?? load();
  memo.set(key, known);
  return known;
}
