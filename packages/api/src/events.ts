import { ServerError } from './errors.js';

/**
 * An event as the modules of the client describe it (reference §1.6): the session wraps it in an envelope, sends
 * it, retries it when it may (GET only: reads yes, writes no) and answers the server's JSON, or throws its error.
 */

export type Method = 'GET' | 'PUT' | 'POST' | 'DELETE';

export interface Event {
  readonly method: Method;
  readonly uri: string;
  readonly data: unknown;
  readonly query?: string | undefined;
  readonly id?: string | undefined;
  readonly signal?: AbortSignal | undefined;
}

/** Sends one event and answers the answer's JSON, dates revived. */
export type Send = (event: Event) => Promise<Record<string, unknown>>;

export interface CallOptions {
  readonly signal?: AbortSignal;
}

/** The `result` of an answer; a success without one is the server's mistake. */
export function resultOf(answer: Record<string, unknown>): unknown {
  if (!('result' in answer)) throw new ServerError('The server answered without a result.');
  return answer.result;
}
