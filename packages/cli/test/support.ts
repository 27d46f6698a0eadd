import { type ChildProcess, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import type { Io } from '../src/io.js';
import { run } from '../src/program.js';

/** `accsyn` run in-process, or as a process, with everything it wrote. */
export interface Outcome {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface IoOptions {
  /** The environment the command sees: never the test process's own. */
  readonly env: NodeJS.ProcessEnv;
  /** Whether standard output is a terminal, where lists print as tables (default: a pipe). */
  readonly tty?: boolean;
  /** What standard input holds. */
  readonly stdin?: string;
  readonly signal?: AbortSignal;
}

/** An `Io` whose output streams collect their text, readable while the command still runs. */
export function testIo(options: IoOptions) {
  let out = '';
  let err = '';
  const stdout = Object.assign(new PassThrough(), { isTTY: options.tty === true, columns: 160 });
  const stderr = Object.assign(new PassThrough(), { isTTY: false });
  stdout.setEncoding('utf8').on('data', (text: string) => {
    out += text;
  });
  stderr.setEncoding('utf8').on('data', (text: string) => {
    err += text;
  });
  const io: Io = {
    stdout,
    stderr,
    stdin: Readable.from(options.stdin === undefined ? [] : [options.stdin]),
    env: options.env,
    signal: options.signal,
  };
  return { io, stdout: () => out, stderr: () => err };
}

/** Runs `accsyn <argv>` in-process and resolves with its exit code and output. */
export async function cli(argv: readonly string[], options: IoOptions): Promise<Outcome> {
  const { io, stdout, stderr } = testIo(options);
  const code = await run(argv, io);
  // The streams hand their data on asynchronously: let the last chunk arrive.
  await new Promise((resolve) => setImmediate(resolve));
  return { code, stdout: stdout(), stderr: stderr() };
}

/** The repository's root, where `node_modules/.bin/accsyn` is linked. */
export const ROOT = new URL('../../../', import.meta.url).pathname;

/** The test process's environment without any ACCSYN_* variable, plus `extra`. */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('ACCSYN_')));
  return { ...env, ...extra };
}

/** The real `accsyn` executable, started from the repository's root. */
export function spawnAccsyn(argv: readonly string[], env: NodeJS.ProcessEnv): ChildProcess {
  return spawn(join(ROOT, 'node_modules/.bin/accsyn'), [...argv], { cwd: ROOT, env, stdio: ['pipe', 'pipe', 'pipe'] });
}

/** Runs the real `accsyn` to its end, with `stdin` as its input. */
export function accsyn(argv: readonly string[], env: NodeJS.ProcessEnv, stdin = ''): Promise<Outcome> {
  const child = spawnAccsyn(argv, env);
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (text: string) => {
    stdout += text;
  });
  child.stderr?.setEncoding('utf8').on('data', (text: string) => {
    stderr += text;
  });
  child.stdin?.end(stdin);
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

/** An empty env file in `folder`, to name as ACCSYN_CREDENTIALS_PATH so that credentials come from variables alone. */
export function emptyEnvFile(folder: string): string {
  const file = join(folder, 'empty.env');
  writeFileSync(file, '');
  return file;
}

/** Waits until `condition` holds, checking every 20 ms, for at most `timeoutMs`. */
export async function until(condition: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
