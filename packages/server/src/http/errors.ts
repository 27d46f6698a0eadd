import { STATUS_CODES } from 'node:http';

/**
 * Every error the server answers, in one place. A response to a failed call is JSON `{"message": ...}` with a
 * 4xx/5xx status (the official client raises the message); a success never carries `message` (reference §1.9).
 */
export class HttpError extends Error {
  override readonly name = 'HttpError';

  constructor(
    readonly status: number,
    message: string,
    /** Extra fields of the JSON body, such as `retry_after`. */
    readonly fields: Readonly<Record<string, unknown>> = {},
    /** Headers of the answer, such as `retry-after`. */
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(message);
  }
}

/** One message for every failed authentication, so that it tells no one which workspaces or users exist. */
export const AUTHENTICATION_FAILED = 'Authentication failed: check the workspace, the user and the API key.';

export const badRequest = (message: string) => new HttpError(400, message);
export const unauthorized = (message = AUTHENTICATION_FAILED) => new HttpError(401, message);
export const notFound = (message: string) => new HttpError(404, message);

/**
 * What the HTTP layer refuses before any route runs (Node's parser, the router, the body reader), in the protocol's
 * words, naming no library; undefined for any other error. `error` is what they throw, with its `code`.
 */
export function transportRefusal(
  error: { readonly code?: unknown; readonly statusCode?: unknown; readonly reason?: unknown },
  maxHeaderSize: number,
): HttpError | undefined {
  switch (error.code) {
    case 'FST_ERR_BAD_URL':
      return badRequest('The request path is not valid: each % must start a percent-encoded UTF-8 character.');
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new HttpError(413, 'The request body is too large.');
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return badRequest('The request body is not as long as its Content-Length says.');
    case 'HPE_HEADER_OVERFLOW':
      return new HttpError(431, `The request line and headers are larger than ${maxHeaderSize} bytes.`);
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return new HttpError(408, 'The request did not arrive in time.');
  }
  if (typeof error.code === 'string' && error.code.startsWith('HPE_')) {
    const reason = typeof error.reason === 'string' && error.reason ? ` (${error.reason.toLowerCase()})` : '';
    return badRequest(`The request is not valid HTTP/1.1${reason}.`);
  }
  const status = error.statusCode;
  // The router's and body reader's other refusals; what fails on our side (5xx) is an internal error.
  if (
    typeof error.code === 'string' &&
    error.code.startsWith('FST_ERR_') &&
    typeof status === 'number' &&
    status < 500
  ) {
    return new HttpError(status, `${STATUS_CODES[status] ?? 'Bad request'}.`);
  }
  return undefined;
}
