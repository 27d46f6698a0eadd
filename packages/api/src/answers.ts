import { reviveDates } from 'accsyn-protocol';
import {
  AccsynError,
  AuthenticationError,
  type ErrorDetails,
  PermissionError,
  QueryError,
  RateLimitError,
  ServerError,
} from './errors.js';
import type { Answer } from './transport.js';

/** What an answer means: its JSON with dates revived, or the error it reports (reference §1.9). */
export function interpret(answer: Answer, details: ErrorDetails, query: string | undefined): Record<string, unknown> {
  let json: unknown;
  try {
    json = JSON.parse(answer.text);
  } catch {
    const snippet = answer.text.slice(0, 200).replace(/\s+/g, ' ');
    if (answer.status === 429)
      throw new RateLimitError('Too many requests, please try again later.', retryAfterOf(answer, undefined), details);
    throw new ServerError(`The server answered ${answer.status} with something other than JSON: ${snippet}`, details);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new ServerError(`The server answered ${answer.status} with JSON that is not an object.`, details);
  }
  const body = json as Record<string, unknown>;
  const message =
    typeof body.message_hr === 'string' ? body.message_hr : typeof body.message === 'string' ? body.message : undefined;
  if (answer.status === 429) {
    throw new RateLimitError(
      message ?? 'Too many requests, please try again later.',
      retryAfterOf(answer, body.retry_after),
      details,
    );
  }
  if ('exception' in body) throw new ServerError(`${details.uri} caused an exception on the server.`, details);
  if (message === undefined && answer.status < 400) return reviveDates(body) as Record<string, unknown>;
  const text = message ?? `The server answered ${answer.status}.`;
  switch (true) {
    case answer.status === 401:
      throw new AuthenticationError(text, details);
    case answer.status === 403:
      throw new PermissionError(text, details);
    case answer.status === 400 && typeof body.position === 'number' && query !== undefined:
      throw new QueryError(text, query, body.position as number, details);
    case answer.status >= 500:
      throw new ServerError(text, details);
    default:
      throw new AccsynError(text, details);
  }
}

/** Seconds from a Retry-After header (seconds or an HTTP date), else the body's `retry_after`. */
export function retryAfterOf(answer: Answer, bodyValue: unknown): number | undefined {
  const header = answer.headers['retry-after'];
  const text = Array.isArray(header) ? header[0] : header;
  if (text !== undefined) {
    if (/^\d+$/.test(text.trim())) return Number(text.trim());
    const date = Date.parse(text);
    if (!Number.isNaN(date)) return Math.max(0, Math.ceil((date - Date.now()) / 1000));
  }
  return typeof bodyValue === 'number' && bodyValue >= 0 ? bodyValue : undefined;
}
