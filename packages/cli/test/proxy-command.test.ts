import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Server, startServer } from '../../api/test/support.js';
import { cleanEnv, spawnAccsyn, until } from './support.js';

/** `accsyn proxy` as a user runs it: the real executable in front of the real server, stopped by a signal. */

let server: Server;
beforeAll(async () => {
  server = await startServer();
});
afterAll(() => server.stop());

/** The proxy as a process, with what it wrote so far. */
function proxy(args: string[]): { child: ChildProcess; stdout: () => string; stderr: () => string } {
  const child = spawnAccsyn(['proxy', ...args], cleanEnv());
  let out = '';
  let err = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    out += chunk;
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    err += chunk;
  });
  return { child, stdout: () => out, stderr: () => err };
}

describe('accsyn proxy', () => {
  it('forwards to the workspace, logs a line per request, and stops on SIGTERM', async () => {
    const run = proxy(['--listen', '127.0.0.1:0', '--upstream', server.url]);
    await until(() => /^listening on \S+$/m.test(run.stdout()) || run.child.exitCode !== null, 'the proxy to start');
    const url = /^listening on (\S+)$/m.exec(run.stdout())?.[1];
    expect(url, run.stderr()).toBeDefined();
    const answer = await fetch(`${url}/healthz`);
    expect(answer.status).toBe(200);
    const exited = once(run.child, 'exit');
    run.child.kill('SIGTERM');
    const [code] = await exited;
    expect(code).toBe(0);
    expect(run.stderr()).toMatch(/NOT encrypted/);
    expect(run.stderr()).toMatch(/^127\.0\.0\.1 GET \/healthz 200 \d+ B \d+ ms$/m);
  });

  it('says what is wrong with its settings, and exits 2', async () => {
    for (const args of [
      ['--upstream', 'ftp://example.com'],
      ['--upstream', server.url, '--listen', 'nowhere'],
      ['--upstream', server.url, '--ca-file', '/nonexistent/ca.pem'],
      ['--listen', '127.0.0.1:0'],
    ]) {
      const run = proxy(args);
      const [code] = await once(run.child, 'exit');
      expect({ args, code }).toEqual({ args, code: 2 });
      expect(run.stderr()).toMatch(/^(accsyn: |error: ).+/);
      expect(run.stderr()).not.toMatch(/ at .+\.js:\d+/);
    }
  });
});
