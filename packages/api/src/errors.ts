import type { Transfer } from './types.js';

/**
 * Every failure of the client is an AccsynError: what went wrong in a sentence, and where it is known the HTTP
 * status, the event's uri and the event's id, so that a log line can be matched with the server's.
 */
export class AccsynError extends Error {
  override name = 'AccsynError';
  /** The HTTP status of the answer, when there was one. */
  readonly status: number | undefined;
  /** The event's uri (`transfer/find`), or the path for the login and the master lookup. */
  readonly uri: string | undefined;
  /** The event's id (`eid`), a uuid the server can log. */
  readonly eventId: string | undefined;

  constructor(message: string, details: ErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.status = details.status;
    this.uri = details.uri;
    this.eventId = details.eventId;
  }
}

export interface ErrorDetails {
  readonly status?: number | undefined;
  readonly uri?: string | undefined;
  readonly eventId?: string | undefined;
  readonly cause?: unknown;
}

/** The credentials were refused: wrong workspace, user or key, or a key that was revoked or expired. */
export class AuthenticationError extends AccsynError {
  override name = 'AuthenticationError';
}

/** The caller's role may not do this. */
export class PermissionError extends AccsynError {
  override name = 'PermissionError';
}

/** A query that does not parse, or that the server refused; `position` is the offset of the culprit. */
export class QueryError extends AccsynError {
  override name = 'QueryError';

  constructor(
    message: string,
    readonly query: string,
    readonly position: number,
    details: ErrorDetails = {},
  ) {
    super(message, details);
  }

  /** The query's line with a caret under the culprit, for a terminal. */
  format(): string {
    const start = this.query.lastIndexOf('\n', this.position - 1) + 1;
    const end = this.query.indexOf('\n', this.position);
    const line = this.query.slice(start, end === -1 ? undefined : end);
    return `${line}\n${' '.repeat(this.position - start)}^ ${this.message}`;
  }
}

/** The server refused the call for now; `retryAfter` is how many seconds it asked to wait. */
export class RateLimitError extends AccsynError {
  override name = 'RateLimitError';

  constructor(
    message: string,
    readonly retryAfter: number | undefined,
    details: ErrorDetails = {},
  ) {
    super(message, details);
  }
}

/** The server could not be reached, or the connection broke. */
export class ConnectionError extends AccsynError {
  override name = 'ConnectionError';
}

/** The server took longer than the timeout to connect or to answer. */
export class TimeoutError extends AccsynError {
  override name = 'TimeoutError';
}

/** The server failed (5xx), or answered something that is not the protocol's JSON. */
export class ServerError extends AccsynError {
  override name = 'ServerError';
}

/** The caller's AbortSignal ended the call. */
export class AbortError extends AccsynError {
  override name = 'AbortError';
}

/** A transfer of `upload` or `download` ended failed or aborted: `job` is the transfer, whose `message` says why. */
export class TransferError extends AccsynError {
  override name = 'TransferError';

  constructor(
    message: string,
    readonly job: Transfer,
    details: ErrorDetails = {},
  ) {
    super(message, details);
  }
}
