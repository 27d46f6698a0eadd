import type { FastifyBaseLogger } from 'fastify';
import type { Caller } from '../auth/authenticate.js';
import { insertRow, type Row } from '../entities/model.js';
import type { EventContext } from '../events.js';
import { HttpError } from '../http/errors.js';
import { newId } from '../store/ids.js';
import type { Store } from '../store/store.js';
import { cut, entityOf, loggedData } from './entry.js';

/**
 * The audit log (docs/server.md, "The audit log"): one entry for each event that is not a read, done (`ok`) or
 * refused (`denied`, a 403), and one for each login. An entry is written right after the event, not in its
 * transaction: each handler keeps its own transactions (and some write files), so a crash between the two can lose
 * the entry of a write that was made, never make an entry of one that was not. Writing an entry never fails a call:
 * a failure goes to the server's log instead.
 */

export type Outcome = 'ok' | 'denied';

type Answer = { result: unknown };

/** Runs an event with `run`; unless it is a read (GET), records what it did, or that it was refused. */
export async function audited(
  context: EventContext,
  run: (context: EventContext) => Promise<Answer>,
  log: FastifyBaseLogger,
): Promise<Answer> {
  if (context.method === 'GET') return run(context);
  const { caller, envelope } = context;
  const record = (outcome: Outcome, result: unknown, message?: string) =>
    write(context.store, log, () => ({
      ...fieldsOf(caller, context.address, context.method, envelope.uri.trim().toLowerCase()),
      entity: entityOf(envelope, caller.workspace.id, result),
      query: envelope.query === undefined ? null : cut(envelope.query),
      outcome,
      message: message === undefined ? null : cut(message),
      data: dataOf(envelope.data),
    }));
  let answer: Answer;
  try {
    answer = await run(context);
  } catch (error) {
    if (error instanceof HttpError && error.status === 403) await record('denied', undefined, error.message);
    throw error;
  }
  await record('ok', answer.result);
  return answer;
}

/** Records a successful login (`operation` `login`); failed ones are not recorded, see the docs. */
export function recordLogin(
  store: Store,
  log: FastifyBaseLogger,
  caller: Caller,
  address: string,
  method: string,
): Promise<void> {
  return write(store, log, () => ({ ...fieldsOf(caller, address, method, 'login'), outcome: 'ok' }));
}

function fieldsOf(caller: Caller, address: string, method: string, operation: string): Row {
  return { workspace: caller.workspace.id, user: caller.user.id, address, method, operation: cut(operation) };
}

function dataOf(data: unknown): string | null {
  const kept = loggedData(data);
  return kept === null ? null : JSON.stringify(kept);
}

async function write(store: Store, log: FastifyBaseLogger, entry: () => Row): Promise<void> {
  let row: Row | undefined;
  try {
    const now = new Date();
    row = { id: newId(now.getTime()), created: now.toISOString(), ...entry() };
    await insertRow(store.db, 'logs', row);
  } catch (error) {
    const { data: _, ...fields } = row ?? {};
    log.error({ err: error, entry: fields }, 'an audit log entry could not be written');
  }
}
