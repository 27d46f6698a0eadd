import type { Envelope } from 'accsyn-protocol';
import type { Caller } from './auth/authenticate.js';
import { badRequest } from './http/errors.js';
import type { Store } from './store/store.js';

/**
 * The operations an event can ask for, by method and uri (reference §2.4). The entity operations arrive with
 * the entity layer; until then an event is authenticated and then refused by name.
 */
export interface EventContext {
  readonly store: Store;
  readonly caller: Caller;
  readonly envelope: Envelope;
  readonly method: 'GET' | 'PUT' | 'POST' | 'DELETE';
}

type Handler = (context: EventContext) => Promise<unknown>;

const HANDLERS: ReadonlyMap<string, Handler> = new Map();

export async function dispatch(context: EventContext): Promise<unknown> {
  const uri = context.envelope.uri.trim().toLowerCase();
  const handler = HANDLERS.get(`${context.method} ${uri}`);
  if (!handler) throw badRequest(`Unknown operation: ${context.method} ${uri}.`);
  return handler(context);
}
