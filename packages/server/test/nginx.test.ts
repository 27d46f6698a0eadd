import { spawn } from 'node:child_process';
import { accessSync, chmodSync, constants, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from './support/net.js';
import { type ServerProcess, startServerProcess } from './support/process.js';
import { type Reply, send } from './support/raw.js';

/**
 * docs/deploy/nginx.conf, as shipped, in front of the real server: the edge limits of reference §5.1 enforced by
 * nginx alone (the server's own edge limit is off), and the server still seeing each client's own address.
 * The test wraps the file's `http { ... }` block in process-level directives of its own, so that nginx runs
 * unprivileged in a temporary directory, and changes nothing in it but the listen port, the upstream address and
 * the log directory.
 */

const SHIPPED = new URL('../../../docs/deploy/nginx.conf', import.meta.url).pathname;
const LOOKUP = '/api/v3/J3PKTtDvolDMBtTy6AFGA?%7B%22ident%22%3A%20%22acme%22%7D';
const TOO_MANY = { message: 'Too many requests, please try again later.', retry_after: 1 };
/** Each test calls from an address of its own: nginx keeps one bucket per client address. */
const FROM = {
  burst: '127.0.0.5',
  bystander: '127.0.0.6',
  connections: '127.0.0.7',
  longLine: '127.0.0.8',
  logged: '127.0.0.9',
};

const NGINX = ['/usr/sbin/nginx', ...(process.env.PATH ?? '').split(':').map((dir) => join(dir, 'nginx'))].find(
  (path) => {
    try {
      accessSync(path, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  },
);
if (!NGINX && !process.env.CI) {
  console.warn('\n*** nginx.test.ts SKIPPED: nginx is not installed (apt-get install nginx; .ci/run does) ***\n');
}

// Without nginx the tests are skipped on a workstation, and this one fails in CI, where .ci/run installs it.
if (!NGINX && process.env.CI) {
  it('finds nginx, which .ci/run installs', () => {
    expect(NGINX).toBeDefined();
  });
}

let server: ServerProcess | undefined;
let nginx: Nginx | undefined;
const folders: string[] = [];

describe.skipIf(!NGINX)('docs/deploy/nginx.conf in front of the server', () => {
  beforeAll(async () => {
    const data = folder('accsyn-nginx-data-');
    server = await startServerProcess(['--port', '0', '--data-dir', data, '--trust-proxy', '127.0.0.1/32'], {
      ACCSYN_LOG_LEVEL: 'info',
      ACCSYN_LIMIT_API: 'off',
      ACCSYN_BOOTSTRAP_WORKSPACE: 'acme',
      ACCSYN_BOOTSTRAP_ADMIN: 'admin@acme.test',
    });
    nginx = await startNginx(NGINX as string, new URL(server.url).host);
  });

  afterAll(async () => {
    await nginx?.stop();
    if (server) {
      server.child.kill('SIGTERM');
      await within(server.exited, 10_000).catch(() => server?.child.kill('SIGKILL'));
    }
    for (const path of folders) rmSync(path, { recursive: true, force: true });
  });

  it('lets a burst of 100 simultaneous /api requests through up to burst+1 and answers the rest 429 in JSON', async () => {
    const started = Date.now();
    const replies = await Promise.all(Array.from({ length: 100 }, () => lookup(FROM.burst)));
    const elapsed = (Date.now() - started) / 1000;
    const passed = replies.filter((reply) => reply.status !== 429);
    // nginx admits the request the rate allows plus `burst` (59) in excess of it, and the 30/s refill on top.
    expect(passed.length).toBeGreaterThanOrEqual(60);
    expect(passed.length).toBeLessThanOrEqual(60 + Math.ceil(elapsed * 30));
    for (const reply of passed) expect(reply.status).toBe(200);
    for (const reply of replies.filter((r) => r.status === 429)) expectRefusal(reply);
  });

  it('keeps a bucket per client address: another address is not affected', async () => {
    const replies = await Promise.all(Array.from({ length: 100 }, () => lookup(FROM.burst)));
    expect(replies.filter((reply) => reply.status === 429).length).toBeGreaterThan(0);
    const bystander = await lookup(FROM.bystander);
    expect(bystander.status).toBe(200);
    expect(bystander.json).toMatchObject({ result: { port: expect.any(Number) } });
  });

  it('caps the requests in progress per address at 100, not the open connections', async () => {
    const sockets = await Promise.all(Array.from({ length: 150 }, () => open(FROM.connections)));
    try {
      // 150 idle connections are no requests in progress: nginx refuses none of them.
      await sleep(200);
      expect(sockets.filter((socket) => socket.data() !== '' || socket.closed()).length).toBe(0);

      // A request stays in progress while nginx waits for its body: the first 100 hold their slots.
      for (const socket of sockets) {
        socket.write(
          'PUT /healthz HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n',
        );
      }
      await until(() => sockets.filter((socket) => statusOf(socket) !== undefined).length >= 50);
      await sleep(200);
      const refused = sockets.filter((socket) => statusOf(socket) !== undefined);
      expect(refused.map(statusOf)).toEqual(Array(50).fill(429));
      for (const socket of refused) expect(bodyOf(socket)).toEqual(TOO_MANY);

      // Their bodies complete, the other 100 reach the server, which has no PUT /healthz.
      const held = sockets.filter((socket) => statusOf(socket) === undefined);
      for (const socket of held) socket.write('{}');
      await until(() => held.every((socket) => bodyOf(socket) !== undefined));
      expect(held.map(statusOf)).toEqual(Array(100).fill(404));
      for (const socket of held) expect(bodyOf(socket)).toEqual({ message: 'There is nothing at PUT /healthz.' });
    } finally {
      for (const socket of sockets) socket.destroy();
    }
  });

  it('lets the server log each request with the address of its client, not the proxy’s', async () => {
    expect((await lookup(FROM.logged)).status).toBe(200);
    const requests = () =>
      (server as ServerProcess)
        .output()
        .split('\n')
        .filter((line) => line.startsWith('{') && line.endsWith('}'))
        .map((line) => JSON.parse(line) as { msg?: string; ip?: string })
        .filter((line) => line.msg === 'request');
    await until(() => requests().some((line) => line.ip === FROM.logged));
    expect(requests().filter((line) => line.ip === '127.0.0.1')).toEqual([]);
  });

  it('passes a GET event of 300 KB in its URL through to the server', async () => {
    const path = `/api/v3/event?${'%7Bnonsense'.repeat(30_000)}`;
    expect(path.length).toBeGreaterThan(300_000);
    const reply = await send(nginxUrl(), 'GET', path, { localAddress: FROM.longLine });
    // The server's answer to a broken envelope, not nginx's 414 Request-URI Too Large.
    expect(reply.status).toBeGreaterThanOrEqual(400);
    expect(reply.status).toBeLessThan(500);
    expect(reply.status).not.toBe(414);
    expect(reply.json.message).toEqual(expect.any(String));
  });
});

function lookup(localAddress: string): Promise<Reply> {
  return send(nginxUrl(), 'GET', LOOKUP, { localAddress });
}

function expectRefusal(reply: Reply): void {
  expect(reply.status).toBe(429);
  expect(reply.headers['retry-after']).toBe('1');
  expect(reply.headers['content-type']).toMatch(/^application\/json/);
  expect(reply.json).toEqual(TOO_MANY);
}

function nginxUrl(): string {
  return (nginx as Nginx).url;
}

// --- nginx ------------------------------------------------------------------------------------------------------

interface Nginx {
  readonly url: string;
  stop(): Promise<void>;
}

/** Runs nginx in the foreground with the shipped http block, proxying to `upstream` (host:port). */
async function startNginx(binary: string, upstream: string): Promise<Nginx> {
  const dir = folder('accsyn-nginx-');
  // Run as root, nginx's workers drop to `nobody`, and must still reach their temp directories in here.
  chmodSync(dir, 0o755);
  const port = await freePort();
  const config = join(dir, 'nginx.conf');
  writeFileSync(config, nginxConfig(readFileSync(SHIPPED, 'utf8'), dir, port, upstream));
  const child = spawn(binary, ['-p', dir, '-e', join(dir, 'error.log'), '-c', config], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  const errorLog = () => {
    try {
      return readFileSync(join(dir, 'error.log'), 'utf8');
    } catch {
      return '';
    }
  };
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGQUIT');
    await within(exited, 5_000).catch(async () => {
      child.kill('SIGKILL');
      await exited;
    });
  };
  try {
    await Promise.race([
      until(() => canConnect(port), 10_000),
      exited.then(() => Promise.reject(new Error('nginx exited'))),
    ]);
  } catch (error) {
    await stop();
    throw new Error(`nginx did not start (${(error as Error).message}): ${output}\n${errorLog()}`);
  }
  return { url, stop };
}

/**
 * A complete nginx.conf: process-level directives for an unprivileged foreground nginx in `dir`, then the
 * shipped file's http block with its listen lines, upstream address and log directory replaced.
 */
function nginxConfig(shipped: string, dir: string, port: number, upstream: string): string {
  const block = /^http \{\n([\s\S]*)^\}\s*$/m.exec(shipped)?.[1];
  if (block === undefined) throw new Error('docs/deploy/nginx.conf has no top-level http { ... } block');
  let listens = 0;
  const http = block
    .replace(/^(\s*)listen\s[^;]*;\n/gm, (_line, indent: string) =>
      listens++ === 0 ? `${indent}listen 127.0.0.1:${port};\n` : '',
    )
    .replace(/^(\s*server\s+)127\.0\.0\.1:8181;/m, `$1${upstream};`)
    .replaceAll('/var/log/nginx/', `${dir}/`);
  if (listens === 0 || !http.includes(`server ${upstream};`)) {
    throw new Error('docs/deploy/nginx.conf: found no listen line or no upstream server 127.0.0.1:8181');
  }
  const temp = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'];
  return [
    'daemon off;',
    'worker_processes 1;',
    `pid ${dir}/nginx.pid;`,
    `error_log ${dir}/error.log warn;`,
    'events {',
    '    worker_connections 1024;',
    '}',
    'http {',
    ...temp.map((name) => `    ${name}_temp_path ${dir}/${name}_temp;`),
    `${http}}`,
    '',
  ].join('\n');
}

// --- sockets and time -------------------------------------------------------------------------------------------

interface RawSocket {
  write(text: string): void;
  /** What came back so far. */
  data(): string;
  closed(): boolean;
  destroy(): void;
}

/** A connection to nginx from `localAddress`, collecting what comes back. */
function open(localAddress: string): Promise<RawSocket> {
  return new Promise((resolve, reject) => {
    const port = Number(new URL(nginxUrl()).port);
    const socket: Socket = connect({ host: '127.0.0.1', port, localAddress });
    let data = '';
    let closed = false;
    socket.on('data', (chunk: Buffer) => {
      data += chunk.toString();
    });
    socket.on('close', () => {
      closed = true;
    });
    socket.once('error', reject);
    socket.once('connect', () => {
      socket.on('error', () => {});
      resolve({
        write: (text) => socket.write(text),
        data: () => data,
        closed: () => closed,
        destroy: () => socket.destroy(),
      });
    });
  });
}

function statusOf(socket: RawSocket): number | undefined {
  const match = /^HTTP\/1\.1 (\d{3}) /.exec(socket.data());
  return match ? Number(match[1]) : undefined;
}

/** The JSON body of a complete response, once it has all arrived. */
function bodyOf(socket: RawSocket): unknown {
  const [head = '', body = ''] = socket.data().split('\r\n\r\n', 2);
  const length = Number(/^content-length: *(\d+)/im.exec(head)?.[1] ?? Number.NaN);
  return Buffer.byteLength(body) === length ? JSON.parse(body) : undefined;
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** Polls `condition` every 20 ms; rejects after `timeoutMs`. */
async function until(condition: () => boolean | Promise<boolean>, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`not within ${timeoutMs} ms`);
    await sleep(20);
  }
}

function within<T>(promise: Promise<T>, ms: number): Promise<T> {
  return Promise.race([promise, sleep(ms).then(() => Promise.reject(new Error(`not within ${ms} ms`)))]);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function folder(prefix: string): string {
  const path = mkdtempSync(join(tmpdir(), prefix));
  folders.push(path);
  return path;
}
