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
