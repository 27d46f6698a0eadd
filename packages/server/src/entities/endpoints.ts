import { JOB_TYPES } from 'accsyn-protocol';
import { fold } from 'accsyn-query';
import type { Caller } from '../auth/authenticate.js';
import { shareOf } from '../files/locate.js';
import { HttpError } from '../http/errors.js';
import { type Sql, sql } from '../store/sql.js';
import type { Store } from '../store/store.js';
import { readable } from './access.js';
import { typeNamed } from './model.js';
import { type Endpoint, type Location, PartyError, parseEndpoint, printEndpoint } from './parties.js';
import { liveId } from './references.js';

/**
 * The ends of a transfer, checked against the workspace: the users, clients, sites and shares that a source or
 * destination names must exist (reference §3.12). Files and online clients are not checked yet.
 */

/** A transfer end as a task stores it (reference §3.4). */
export interface TaskEnd {
  readonly path: string;
  readonly path_abs_final: null;
  readonly user: string | null;
  readonly client: string | null;
  readonly site: string | null;
  readonly v: string | null;
  readonly s: string | null;
}

export interface ResolvedEndpoint {
  /** The party in `<type>:<id>` form, as a job's source or destination. */
  readonly party: string;
  readonly end: TaskEnd;
  readonly endpoint: Endpoint;
}

const refused = (message: string) => new HttpError(400, message);

export async function resolveEndpoint(
  store: Store,
  caller: Caller,
  text: unknown,
  what: string,
): Promise<ResolvedEndpoint> {
  if (typeof text !== 'string')
    throw refused(`${what} must be text such as "folder=projects/in/", not ${JSON.stringify(text)}.`);
  let endpoint: Endpoint;
  try {
    endpoint = parseEndpoint(text, what);
  } catch (error) {
    if (error instanceof PartyError) throw refused(error.message);
    throw error;
  }
  const workspace = caller.workspace;
  const { party, location } = endpoint;
  let partyRef = `workspace:${workspace.id}`;
  let user: string | null = null;
  let client: string | null = null;
  let site: string | null = null;
  switch (party.kind) {
    case 'workspace':
      if (party.code !== undefined && fold(party.code) !== workspace.code_folded) {
        throw refused(`${what}: '${party.code}' is not this workspace's code (${workspace.code}), nor a known party.`);
      }
      site = await mainSite(store, workspace.id);
      break;
    case 'user': {
      const found = await visibleUser(store, caller, party.email);
      if (!found) throw refused(`${what}: there is no user ${party.email} in this workspace.`);
      user = found;
      partyRef = `user:${found}`;
      break;
    }
    case 'client': {
      const found = await liveId(store, workspace.id, 'client', party.id);
      if (!found) throw refused(`${what}: there is no client ${party.id} in this workspace.`);
      client = found;
      partyRef = `client:${found}`;
      break;
    }
    case 'site': {
      const found = await liveId(store, workspace.id, 'site', party.code);
      if (!found) throw refused(`${what}: there is no site ${party.code} in this workspace.`);
      site = found;
      partyRef = `site:${found}`;
      break;
    }
  }
  if (location.kind === 'local') {
    if (party.kind === 'workspace' && party.code === undefined) {
      // A local path with no party is on the caller's own machine.
      user = caller.user.id;
      partyRef = `user:${user}`;
    } else if (party.kind !== 'user' && party.kind !== 'client') {
      throw refused(`${what}: a local path needs a user or client party, as in "lisa@example.com:${location.path}".`);
    }
  }
  const share = await resolveShare(store, caller, location, what);
  return {
    party: partyRef,
    endpoint,
    end: {
      path: printEndpoint({ ...endpoint, party: { kind: 'workspace' } }),
      path_abs_final: null,
      user,
      client,
      site,
      ...share,
    },
  };
}

/** The volume and share a location lies on (found as the file calls find them); both null off the shares. */
async function resolveShare(store: Store, caller: Caller, location: Location, text: string) {
  if (location.kind !== 'default' && location.kind !== 'share' && location.kind !== 'home') return { v: null, s: null };
  const share = await shareOf(store, caller, location, text);
  return { v: share.type === 'volume' ? share.id : share.parent, s: share.id };
}

const USER = typeNamed('user');

/**
 * The live user an e-mail or id names, when the caller may see them (docs/server.md, "Roles": an admin everyone, an
 * employee themselves and standard users, a standard user themselves): a person the caller may not see answers as
 * an unknown one, so that transfer ends tell nobody which e-mails the workspace holds.
 */
async function visibleUser(store: Store, caller: Caller, value: string): Promise<string | null> {
  return one(
    store,
    sql`SELECT e.id FROM users e WHERE e.workspace = ${caller.workspace.id} AND e.archived IS NULL
    AND (e.id = ${value} OR e.code_folded = ${fold(value)}) AND ${readable(USER, caller)} LIMIT 1`,
  );
}

async function one(store: Store, query: Sql): Promise<string | null> {
  const [row] = await store.rows<{ id: string }>(query);
  return row?.id ?? null;
}

export function defaultVolume(store: Store, workspace: string): Promise<string | null> {
  return one(
    store,
    sql`SELECT id FROM shares WHERE workspace = ${workspace} AND type = 'volume'
    AND "default" = 1 AND archived IS NULL`,
  );
}

export function defaultQueue(store: Store, workspace: string): Promise<string | null> {
  return one(
    store,
    sql`SELECT id FROM jobs WHERE workspace = ${workspace} AND type = ${JOB_TYPES.queue}
    AND "default" = 1 AND archived IS NULL`,
  );
}

export function mainSite(store: Store, workspace: string): Promise<string | null> {
  return one(store, sql`SELECT id FROM sites WHERE workspace = ${workspace} AND main = 1 AND archived IS NULL`);
}
