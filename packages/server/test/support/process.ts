import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Credentials } from './raw.js';

/** The built server as `npm start` runs it: a real process on a free loopback port, as main.test.ts starts it. */

const MAIN = new URL('../../dist/main.js', import.meta.url).pathname;

export interface ServerProcess {
  readonly child: ChildProcess;
  readonly url: string;
  /** Everything it wrote to stdout and stderr so far. */
  output(): string;
  /** Resolves with the exit code, or the signal that ended it. */
  readonly exited: Promise<number | NodeJS.Signals | null>;
}

/**
 * Starts `dist/main.js`; resolves when it prints `listening on <url>`, rejects if it exits or takes too long.
 * `fileLimit` runs it under `ulimit -n`, the most files it may open.
 */
export function startServerProcess(
  args: readonly string[],
  env: Record<string, string> = {},
  timeoutMs = 20_000,
  { fileLimit }: { fileLimit?: number } = {},
): Promise<ServerProcess> {
  const command = [process.execPath, MAIN, ...args];
  const [file, argv] =
    fileLimit === undefined
      ? [process.execPath, command.slice(1)]
      : ['/bin/sh', ['-c', `ulimit -n ${fileLimit} && exec "$@"`, 'sh', ...command]];
  const child = spawn(file, argv, {
    // The rate limits are off unless a test turns them on: tests call far faster than any client may. So are
    // transfers (`--transfers on` turns them on): most tests make transfers of files that do not exist, as records,
    // and the engine would fail them under the tests' feet.
    env: {
      ...process.env,
      ACCSYN_LOG_LEVEL: 'warn',
      ACCSYN_LIMIT_API: 'off',
      ACCSYN_THROTTLE: 'off',
      ACCSYN_MAX_CONNECTIONS: '0',
      ACCSYN_TRANSFERS: 'off',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const exited = new Promise<number | NodeJS.Signals | null>((resolve) =>
    child.on('exit', (code, signal) => resolve(code ?? signal)),
  );
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`the server did not start within ${timeoutMs} ms: ${output}`));
    }, timeoutMs);
    child.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const match = /^listening on (\S+)$/m.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve({ child, url: match[1] as string, output: () => output, exited });
      }
    });
    child.stderr?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`the server exited with ${code}: ${output}`));
    });
  });
}

/** The admin's credentials as the first start wrote them to `<data dir>/admin.env`. */
export function adminOf(dataDir: string): Credentials {
  const env = readFileSync(join(dataDir, 'admin.env'), 'utf8');
  const value = (name: string) => new RegExp(`^${name}=(.*)$`, 'm').exec(env)?.[1] ?? '';
  return { workspace: value('ACCSYN_WORKSPACE'), user: value('ACCSYN_API_USER'), key: value('ACCSYN_API_KEY') };
}

/** Stops a server: SIGTERM, and SIGKILL when it has not gone within a few seconds. */
export async function stopServerProcess(server: ServerProcess): Promise<void> {
  if (!alive(server)) return;
  server.child.kill('SIGTERM');
  const timer = setTimeout(() => server.child.kill('SIGKILL'), 5_000);
  await server.exited;
  clearTimeout(timer);
}

export function alive(server: ServerProcess): boolean {
  return server.child.exitCode === null && server.child.signalCode === null;
}

/** The last lines a server wrote, for a failure message. */
export function tail(server: ServerProcess, lines = 30): string {
  return server.output().trim().split('\n').slice(-lines).join('\n');
}
