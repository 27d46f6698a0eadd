import { attributeOf, ENTITY_TYPE_NAMES, type EntityTypeSpec, type Envelope } from 'accsyn-protocol';
import type { Caller } from './auth/authenticate.js';
import type { ServerConfig } from './config.js';
import { edit, remove, setActive } from './entities/change.js';
import { create } from './entities/create.js';
import { find } from './entities/find.js';
import { metrics } from './entities/metrics.js';
import { readableAttributes, typeNamed } from './entities/model.js';
import { addRecipient, listRecipients, removeRecipient } from './entities/recipients.js';
import { report } from './entities/report.js';
import { assignServer, listServers } from './entities/servers.js';
import { addFiles, removeFiles } from './files/collections.js';
import { fileOperation } from './files/operations.js';
import { badRequest, HttpError } from './http/errors.js';
import { setting } from './settings/setting.js';
import type { Store } from './store/store.js';
import { agentEvent } from './transfers/agents.js';

/** An event on its way to its handler: who sent it, what it carries, and the database. */
export interface EventContext {
  readonly store: Store;
  readonly caller: Caller;
  readonly envelope: Envelope;
  readonly method: 'GET' | 'PUT' | 'POST' | 'DELETE';
  readonly config: ServerConfig;
  /** The client's address, as the rate limits read it (`--trust-proxy` honoured). */
  readonly address: string;
}

type EntityHandler = (context: EventContext, spec: EntityTypeSpec) => Promise<unknown>;

/**
 * The operations on an entity type, `<type>/<operation>` in a uri (reference §2.4), with the method each takes. A
 * Map, so that a name from the wire (`user/constructor`) finds only an operation of ours.
 */
const ENTITY_OPERATIONS: ReadonlyMap<
  string,
  { method: EventContext['method'] | readonly EventContext['method'][]; handler: EntityHandler }
> = new Map([
  ['find', { method: 'GET', handler: find }],
  ['create', { method: 'POST', handler: create }],
  ['edit', { method: 'PUT', handler: edit }],
  ['delete', { method: 'DELETE', handler: remove }],
  ['activate', { method: 'POST', handler: (context, spec) => setActive(context, spec, true) }],
  ['deactivate', { method: 'DELETE', handler: (context, spec) => setActive(context, spec, false) }],
  ['recipients', { method: 'GET', handler: listRecipients }],
  ['recipient/add', { method: 'PUT', handler: addRecipient }],
  ['recipient', { method: 'DELETE', handler: removeRecipient }],
  ['metrics', { method: 'GET', handler: metrics }],
  ['servers', { method: 'GET', handler: listServers }],
  ['server', { method: ['PUT', 'DELETE'], handler: assignServer }],
  ['add', { method: 'POST', handler: addFiles }],
  ['file/remove', { method: 'DELETE', handler: removeFiles }],
]);

/** Runs an event and answers `{"result": ...}`, shaped per uri as the official client reads it. */
export async function dispatch(context: EventContext): Promise<{ result: unknown; report?: string }> {
  const uri = context.envelope.uri.trim().toLowerCase();
  if (uri === 'entitytypes' && context.method === 'GET') return { result: ENTITY_TYPE_NAMES };
  if (uri === 'user/api_key') {
    // The official client's get_api_key: accsyn's cloud shows a user's key again; this server cannot, by design.
    throw new HttpError(
      403,
      'This server keeps only a hash of each API key, so it cannot show one again; an admin makes a new key with "accsyn server apikey create".',
    );
  }
  if (uri === 'attributes' && context.method === 'GET') return { result: attributes(context) };
  if (uri === 'setting') return { result: await setting(context) };
  if (uri.endsWith('/report') && context.method === 'GET') {
    // report() reads its text at the top level, not under result (reference §2.3); JSON leaves an undefined out.
    return { result: undefined, report: await report(context, typeNamed(uri.slice(0, -'/report'.length))) };
  }
  if (uri === 'workspace/file') return { result: await fileOperation(context) };
  if (uri.startsWith('agent/')) return { result: await agentEvent(context, uri.slice('agent/'.length)) };
  const slash = uri.indexOf('/');
  const operation = ENTITY_OPERATIONS.get(uri.slice(slash + 1));
  if (slash <= 0 || !operation) throw badRequest(`Unknown operation: ${context.method} ${uri}.`);
  const methods = [operation.method].flat();
  if (!methods.includes(context.method)) {
    throw badRequest(`${uri} takes ${methods.join(' or ')}, not ${context.method}.`);
  }
  return { result: await operation.handler(context, typeNamed(uri.slice(0, slash))) };
}

/** `attributes`: the names a role reads of a type, or may give on create (`create`) or change (`update`). */
function attributes(context: EventContext): readonly string[] {
  const data = (context.envelope.data ?? {}) as Record<string, unknown>;
  if (typeof data.entitytype !== 'string') throw badRequest('attributes: data.entitytype must name an entity type.');
  const spec = typeNamed(data.entitytype);
  const readable = readableAttributes(spec, context.caller.user.role);
  if (data.create === true) return readable.filter((name) => attributeOf(spec, name)?.create);
  if (data.update === true) return readable.filter((name) => attributeOf(spec, name)?.update);
  return readable;
}
