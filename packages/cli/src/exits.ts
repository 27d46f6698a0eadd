import {
  AbortError,
  AccsynError,
  AuthenticationError,
  ConnectionError,
  PermissionError,
  QueryError,
  RateLimitError,
  ServerError,
  TimeoutError,
  TransferError,
} from 'accsyn-api';

/** How `accsyn` ends, for scripts: each kind of failure has its own code (docs/cli.md lists them). */
export const Exit = {
  ok: 0,
  /** A fault of accsyn itself. */
  internal: 1,
  /** The command line, a JSON argument, a query or a value the server refused as bad input. */
  usage: 2,
  authentication: 3,
  permission: 4,
  notFound: 5,
  /** The server still refused (429) after the client's retries. */
  rateLimited: 6,
  /** The server failed (5xx) or answered outside the protocol. */
  server: 7,
  /** The server, or the proxy's upstream, could not be reached, or did not answer in time. */
  connection: 8,
  /** `accsyn watch`, `accsyn cp`: the transfer failed. */
  transferFailed: 10,
  /** `accsyn watch`, `accsyn cp`: the transfer was aborted. */
  transferAborted: 11,
  /** Stopped by Ctrl-C (128 + SIGINT, as shells report it). */
  interrupted: 130,
} as const;

export type ExitCode = (typeof Exit)[keyof typeof Exit];

/** A failure of the command itself, with the sentence to show and the code to exit with. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly code: ExitCode,
  ) {
    super(message);
  }
}

export const usage = (message: string) => new CliError(message, Exit.usage);
export const notFound = (message: string) => new CliError(message, Exit.notFound);

/** The exit code and the text for stderr that tell a person what went wrong. */
export function describeFailure(error: unknown): { code: ExitCode; text: string } {
  if (error instanceof CliError) return { code: error.code, text: error.message };
  if (error instanceof QueryError) return { code: Exit.usage, text: `The query is not valid:\n${error.format()}` };
  if (error instanceof AccsynError) return { code: codeOf(error), text: sentenceOf(error) };
  const text = error instanceof Error ? (error.stack ?? error.message) : String(error);
  return { code: Exit.internal, text: `accsyn failed unexpectedly; please report this:\n${text}` };
}

function codeOf(error: AccsynError): ExitCode {
  if (error instanceof TransferError)
    return error.job.status === 'aborted' ? Exit.transferAborted : Exit.transferFailed;
  if (error instanceof AbortError) return Exit.interrupted;
  if (error instanceof AuthenticationError) return Exit.authentication;
  if (error instanceof PermissionError) return Exit.permission;
  if (error instanceof RateLimitError) return Exit.rateLimited;
  if (error instanceof ConnectionError || error instanceof TimeoutError) return Exit.connection;
  // 502 and 504 come from a proxy in front that could not reach the workspace.
  if (error.status === 502 || error.status === 504) return Exit.connection;
  if (error instanceof ServerError) return Exit.server;
  if (error.status === 404) return Exit.notFound;
  return Exit.usage;
}

function sentenceOf(error: AccsynError): string {
  const message = /[.!?]$/.test(error.message) ? error.message : `${error.message}.`;
  if (error instanceof AuthenticationError) {
    return `${message}\nCheck ACCSYN_WORKSPACE, ACCSYN_API_USER and ACCSYN_API_KEY (or --env-file); 'accsyn server apikey create' makes a new key.`;
  }
  if (error instanceof RateLimitError) {
    const wait = error.retryAfter === undefined ? '' : ` The server asks to wait ${error.retryAfter} s.`;
    return `${message} accsyn retried and gave up.${wait}`;
  }
  if (error instanceof ConnectionError || error instanceof TimeoutError) {
    return `${message}\nCheck the server's address (ACCSYN_HOSTNAME, --hostname) and any proxy (ACCSYN_PROXY, --proxy).`;
  }
  return message;
}
