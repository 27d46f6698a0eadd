import { type ChildProcess, spawn } from 'node:child_process';

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

/** Starts `dist/main.js`; resolves when it prints `listening on <url>`, rejects if it exits or takes too long. */
export function startServerProcess(
  args: readonly string[],
  env: Record<string, string> = {},
  timeoutMs = 20_000,
): Promise<ServerProcess> {
  const child = spawn(process.execPath, [MAIN, ...args], {
    // The rate limits are off unless a test turns them on: tests call far faster than any client may.
    env: {
      ...process.env,
      ACCSYN_LOG_LEVEL: 'warn',
      ACCSYN_LIMIT_API: 'off',
      ACCSYN_THROTTLE: 'off',
      ACCSYN_MAX_CONNECTIONS: '0',
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
