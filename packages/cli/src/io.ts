import type { Readable, Writable } from 'node:stream';

/**
 * Where a command reads and writes: the process's streams and environment when run as `accsyn`, others in tests,
 * which run the command in-process.
 */
export interface Io {
  readonly stdout: Writable & { readonly isTTY?: boolean; readonly columns?: number };
  readonly stderr: Writable & { readonly isTTY?: boolean };
  readonly stdin: Readable;
  readonly env: NodeJS.ProcessEnv;
  /** Ends a long command (watch, server, proxy) and the calls in flight: Ctrl-C. */
  readonly signal?: AbortSignal | undefined;
}

export function processIo(signal?: AbortSignal): Io {
  return { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin, env: process.env, signal };
}
