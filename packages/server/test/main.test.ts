import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { send } from './support/raw.js';
import { selfSignedCertificate } from './support/tls.js';

/** The server as `npm start` runs it: a real process, its output, its signals. */

const MAIN = new URL('../dist/main.js', import.meta.url).pathname;
const folders: string[] = [];
afterAll(() => {
  for (const folder of folders) rmSync(folder, { recursive: true, force: true });
});

function folder(): string {
  const path = mkdtempSync(join(tmpdir(), 'accsyn-main-test-'));
  folders.push(path);
  return path;
}

/** Starts the server; resolves with its URL when it prints `listening on <url>`. */
function start(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ child: ChildProcess; url: string; output: () => string }> {
  const child = spawn(process.execPath, [MAIN, ...args], {
    env: { ...process.env, ACCSYN_LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  return new Promise((resolve, reject) => {
    child.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const match = /^listening on (\S+)$/m.exec(output);
      if (match) resolve({ child, url: match[1] as string, output: () => output });
    });
    child.stderr?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.on('exit', (code) => reject(new Error(`the server exited with ${code}: ${output}`)));
  });
}

function exited(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => child.on('exit', (code) => resolve(code)));
}

describe('npm start', () => {
  it('prints the generated credentials once, the line "listening on <url>", and stops cleanly on SIGTERM', async () => {
    const data = folder();
    const { child, url, output } = await start(['--port', '0', '--data-dir', data]);
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const env = readFileSync(join(data, 'admin.env'), 'utf8');
    const key = /ACCSYN_API_KEY=(\w+)/.exec(env)?.[1];
    expect(output()).toContain(`API key:    ${key}`);
    expect((await send(url, 'GET', '/healthz')).status).toBe(200);
    child.kill('SIGTERM');
    expect(await exited(child)).toBe(0);

    // The second start finds its workspace and creates nothing.
    const again = await start(['--port', '0', '--data-dir', data]);
    expect(again.output()).not.toContain('API key');
    expect(readFileSync(join(data, 'admin.env'), 'utf8')).toBe(env);
    again.child.kill('SIGINT');
    expect(await exited(again.child)).toBe(0);
  });

  it('takes its settings from the environment, flags first', async () => {
    const data = folder();
    const { child, url } = await start(['--port', '0'], {
      ACCSYN_PORT: 'eighty',
      ACCSYN_HOST: '127.0.0.2',
      ACCSYN_DATA_DIR: data,
    });
    expect(url).toMatch(/^http:\/\/127\.0\.0\.2:\d+$/);
    expect(readFileSync(join(data, 'admin.env'), 'utf8')).toContain(url);
    child.kill('SIGTERM');
    await exited(child);
  });

  it('explains a bad setting and exits with 2', async () => {
    for (const [args, message] of [
      [['--port', 'eighty'], "--port (ACCSYN_PORT) must be a whole number from 0 to 65535, not 'eighty'"],
      [['--tls-cert', 'x.pem'], 'HTTPS needs both --tls-cert and --tls-key'],
      [['--colour', 'blue'], "Unknown option '--colour'"],
    ] as const) {
      const child = spawn(process.execPath, [MAIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (chunk: Buffer) => {
        stderr += chunk.toString();
      });
      expect(await exited(child)).toBe(2);
      expect(stderr).toContain(message);
      expect(stderr).not.toMatch(/\n\s+at /);
    }
  });

  it('serves HTTPS when given a certificate and a key', async () => {
    const data = folder();
    const { certFile: cert, keyFile: key } = selfSignedCertificate(data);
    const { child, url } = await start(['--port', '0', '--data-dir', data, '--tls-cert', cert, '--tls-key', key]);
    expect(url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const status = await new Promise<number | undefined>((resolve, reject) => {
      request(`${url}/healthz`, { ca: readFileSync(cert) }, (res) => {
        res.resume();
        resolve(res.statusCode);
      })
        .on('error', reject)
        .end();
    });
    expect(status).toBe(200);
    child.kill('SIGTERM');
    expect(await exited(child)).toBe(0);
  });
});
