import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Server, startServer } from '../../api/test/support.js';

/** `accsyn proxy` as a user runs it: the real executable in front of the real server, stopped by a signal. */

const ACCSYN = new URL('../bin/accsyn.js', import.meta.url).pathname;

let server: Server;
beforeAll(async () => {
  server = await startServer();
});
afterAll(() => server.stop());

function accsyn(args: string[]): { child: ChildProcess; stdout: () => string; stderr: () => string } {
  const child = spawn(process.execPath, [ACCSYN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
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

async function listening(run: ReturnType<typeof accsyn>): Promise<string> {
  for (let i = 0; i < 200; i++) {
    const match = /^listening on (\S+)$/m.exec(run.stdout());
    if (match) return match[1] as string;
    if (run.child.exitCode !== null) break;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`the proxy did not start: ${run.stdout()} ${run.stderr()}`);
}

describe('accsyn proxy', () => {
  it('forwards to the workspace, logs a line per request, and stops on SIGTERM', async () => {
    const run = accsyn(['proxy', '--listen', '127.0.0.1:0', '--upstream', server.url]);
    const url = await listening(run);
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
      const run = accsyn(['proxy', ...args]);
      const [code] = await once(run.child, 'exit');
      expect({ args, code }).toEqual({ args, code: 2 });
      expect(run.stderr()).toMatch(/^(accsyn: |error: ).+/);
      expect(run.stderr()).not.toMatch(/ at .+\.js:\d+/);
    }
  });
});
