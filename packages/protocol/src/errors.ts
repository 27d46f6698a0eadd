/**
 * Every problem with what arrived on the wire is a ProtocolError: a message written for the person who sent it,
 * naming what is wrong, and the HTTP status a server should answer with.
 */
export class ProtocolError extends Error {
  override readonly name = 'ProtocolError';

  constructor(
    message: string,
    /** 400 malformed, 401 bad credentials, 405 a method that carries no event, 413 too large. */
    readonly status: 400 | 401 | 405 | 413 = 400,
  ) {
    super(message);
  }
}
