import { CLIENT_TYPES, type EntityTypeSpec } from 'accsyn-protocol';
import type { EventContext } from '../events.js';
import { badRequest, HttpError } from '../http/errors.js';
import { sql } from '../store/sql.js';
import { capitalise, readable } from './access.js';
import { type Row, readableAttributes, typeNamed } from './model.js';
import { present } from './present.js';
import { objectOf, visibleRow, visibleShare } from './write.js';

/**
 * Which server clients (type 1) serve a volume, as the official client's assign, deassign and assignments send it
 * (reference §2.3): `PUT share/server` and `DELETE <volume|share>/server` with `data.client` and the volume's id,
 * `GET <share type>/servers` with a share's id. A folder or home is served by its volume's servers.
 */

const SERVER = typeNamed('server');

/** GET `<share type>/servers`: the share's volume's servers as client entities; standard users see no servers. */
export async function listServers(context: EventContext, spec: EntityTypeSpec): Promise<Row[]> {
  const { caller, store } = context;
  if (caller.user.role === 'standard') return [];
  const share = await shareNamed(context, spec);
  const volume = share.type === 'volume' ? share.id : share.type === 'collection' ? undefined : share.parent;
  if (typeof volume !== 'string') return [];
  const rows = await store.rows<Row>(sql`SELECT e.* FROM clients e JOIN share_servers a ON a.client = e.id
    WHERE a.share = ${volume} AND a.workspace = ${caller.workspace.id} AND e.workspace = ${caller.workspace.id}
    AND e.type = ${CLIENT_TYPES.server} AND e.archived IS NULL AND ${readable(SERVER, caller)}
    ORDER BY e.created, e.id`);
  return present(context, SERVER, rows, readableAttributes(SERVER, caller.user.role));
}

/**
 * PUT `share/server` assigns a server to a volume, DELETE `<volume|share>/server` takes it off; both answer true,
 * also when it was assigned already or was not. Only admins assign.
 */
export async function assignServer(context: EventContext, spec: EntityTypeSpec): Promise<true> {
  const { caller, store, method } = context;
  if (caller.user.role !== 'admin') {
    throw new HttpError(403, 'Permission denied: only an admin assigns servers to volumes.');
  }
  const share = await shareNamed(context, spec);
  if (share.type !== 'volume') {
    throw badRequest(
      `Servers serve volumes, and ${share.code} is a ${share.type}: assign them to ${share.type === 'collection' ? 'the volumes of its files' : 'its volume'}.`,
    );
  }
  const client = await serverNamed(
    context,
    objectOf(context.envelope.data, context.envelope.uri.trim().toLowerCase()).client,
  );
  if (method === 'PUT') {
    await store.rows(sql`INSERT INTO share_servers (workspace, share, client, created, creator)
      VALUES (${caller.workspace.id}, ${share.id}, ${client}, ${new Date().toISOString()}, ${caller.user.id})
      ON CONFLICT (share, client) DO NOTHING RETURNING client`);
  } else {
    await store.rows(sql`DELETE FROM share_servers WHERE share = ${share.id} AND client = ${client} RETURNING client`);
  }
  return true;
}

/**
 * The share of the envelope's id, as the caller may see it: any share for the generic `share/...`, one of `spec`'s
 * type otherwise. One the caller may not see answers as an unknown one.
 */
async function shareNamed(context: EventContext, spec: EntityTypeSpec): Promise<Row> {
  if (spec.family !== 'share') throw badRequest(`Only shares have servers, not ${spec.name}s.`);
  const generic = context.envelope.uri.trim().toLowerCase().startsWith('share/');
  if (!generic) return visibleRow(context, spec, context.envelope.id);
  return (
    await visibleShare(context, context.envelope.id).catch((error: unknown) => {
      throw error instanceof HttpError && error.status === 404
        ? new HttpError(404, `There is no share ${context.envelope.id}, or you may not see it.`)
        : error;
    })
  ).row;
}

/** The id of the server client `value` names in the caller's workspace; a 400 for anything else. */
async function serverNamed(context: EventContext, value: unknown): Promise<string> {
  if (typeof value !== 'string' || value.trim() === '') {
    throw badRequest("data.client must be a server client's id.");
  }
  const id = value.trim().toLowerCase();
  const [client] = await context.store.rows<{ id: string; type: number }>(sql`SELECT id, type FROM clients
    WHERE id = ${id} AND workspace = ${context.caller.workspace.id} AND archived IS NULL`);
  if (!client) throw badRequest(`There is no client ${value} in this workspace.`);
  if (Number(client.type) !== CLIENT_TYPES.server) {
    const kind = Object.entries(CLIENT_TYPES).find(([, type]) => type === Number(client.type))?.[0] ?? 'client';
    throw badRequest(`${capitalise(kind)} ${value} is not a server: only server clients (type 1) serve volumes.`);
  }
  return client.id;
}
