import { chmodSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { queryStringOf } from 'accsyn-protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultConnectionCap } from '../src/limits/connections.js';
import { adminOf, type ServerProcess, startServerProcess, stopServerProcess } from './support/process.js';
import { authHeaders, envelope, login, send } from './support/raw.js';
import { startTestServer, type TestServer } from './support/server.js';
import { RawSession } from './support/session.js';
import { socketRequest } from './support/socket.js';
import { selfSignedCertificate } from './support/tls.js';

/**
 * What a hostile or careless client meets below the API (issue 18): the data folder's modes, connections that never
 * finish their handshake or headers, floods of sockets, errors of the HTTP layer, the headers of every answer and
 * the request log. Real servers, real sockets on loopback; each caller has a loopback address of its own.
 */

const servers: TestServer[] = [];
const processes: ServerProcess[] = [];
const folders: string[] = [];
afterAll(async () => {
  await Promise.all([...servers.map((server) => server.stop()), ...processes.map(stopServerProcess)]);
  for (const folder of folders) rmSync(folder, { recursive: true, force: true });
});

function tempDir(): string {
  const folder = mkdtempSync(join(tmpdir(), 'accsyn-hardening-test-'));
  folders.push(folder);
  return folder;
}

async function serve(...flags: string[]): Promise<TestServer> {
  const server = await startTestServer({}, flags);
  servers.push(server);
  return server;
}

async function serveProcess(
  args: string[],
  env: Record<string, string> = {},
  options: { umask?: number; fileLimit?: number } = {},
): Promise<ServerProcess> {
  // The child takes the umask it is spawned with.
  const before = options.umask === undefined ? undefined : process.umask(options.umask);
  try {
    const server = await startServerProcess(['--port', '0', ...args], env, 20_000, options);
    processes.push(server);
    return server;
  } finally {
    if (before !== undefined) process.umask(before);
  }
}

let lastOctet = 10 + Math.floor(Math.random() * 200);
const nextAddress = () => `127.0.${lastOctet++ % 250}.${1 + Math.floor(Math.random() * 250)}`;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Waits until `done()` holds, checking every 50 ms; fails after `ms`. */
async function until(done: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!done()) {
    if (Date.now() > end) throw new Error(`not done within ${ms} ms`);
    await sleep(50);
  }
}

/** A TCP connection that says nothing; `closedAt` is when the server closed it. */
interface Idle {
  readonly socket: Socket;
  readonly openedAt: number;
  closedAt: number | undefined;
}

function openIdle(url: string, localAddress: string): Promise<Idle> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect({ host: hostname, port: Number(port), localAddress });
    const idle: Idle = { socket, openedAt: Date.now(), closedAt: undefined };
    socket.on('close', () => {
      idle.closedAt ??= Date.now();
    });
    // Read and drop what comes unasked (a 408), so that the server's close is seen.
    socket.resume();
    socket.once('connect', () => resolve(idle));
    socket.on('error', (error) => (socket.connecting ? reject(error) : undefined));
  });
}

/** Sends `text` on an open socket and resolves with the answer that follows (status, headers, body). */
function exchange(socket: Socket, text: string): Promise<{ status: number; headers: string; body: string }> {
  return new Promise((resolve, reject) => {
    let raw = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      raw = Buffer.concat([raw, chunk]);
      const end = raw.indexOf('\r\n\r\n');
      if (end === -1) return;
      const headers = raw.subarray(0, end).toString('latin1');
      const length = Number(/^content-length: (\d+)$/im.exec(headers)?.[1] ?? 0);
      if (raw.length < end + 4 + length) return;
      socket.off('data', onData);
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(headers)?.[1]);
      resolve({ status, headers: headers.toLowerCase(), body: raw.subarray(end + 4, end + 4 + length).toString() });
    };
    socket.on('data', onData);
    socket.once('close', () => reject(new Error(`closed without an answer: ${raw.toString()}`)));
    socket.write(text);
  });
}

const healthz = 'GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n';
const LOOKUP = `/api/v3/J3PKTtDvolDMBtTy6AFGA?${queryStringOf('{"ident": "acme"}')}`;

/** GET over HTTPS with the test certificate; the status, or the error that ended the request. */
function httpsGet(
  url: string,
  path: string,
  localAddress: string,
  ca: string,
): Promise<{ status: number; headers: Record<string, unknown> } | Error> {
  return new Promise((resolve) => {
    const request = httpsRequest(new URL(path, url), { ca, localAddress, agent: false }, (response) => {
      response.resume();
      response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers }));
    });
    request.on('error', resolve);
    request.setTimeout(5000, () => request.destroy(new Error('no answer in 5 s')));
    request.end();
  });
}

/** The mode of every folder and file in `folder` (by path under it), without going into the volumes' contents. */
function modesOf(folder: string, under = '.'): Record<string, string> {
  const path = join(folder, under);
  const modes: Record<string, string> = { [under]: (statSync(path).mode & 0o777).toString(8) };
  if (!statSync(path).isDirectory() || under === join('volumes', 'default')) return modes;
  for (const name of readdirSync(path)) Object.assign(modes, modesOf(folder, under === '.' ? name : join(under, name)));
  return modes;
}

describe('the data directory', () => {
  it('is 0700, and every file the server writes in it 0600, under a umask of 022', async () => {
    const data = join(tempDir(), 'data');
    const server = await serveProcess(['--data-dir', data], {}, { umask: 0o022 });
    const admin = new RawSession(server.url, adminOf(data));
    await admin.result(admin.create('user', { code: 'lisa@example.com' }));
    const ours = { '.': '700', 'accsyn.db': '600', 'accsyn.db-wal': '600', 'accsyn.db-shm': '600', 'admin.env': '600' };
    // The default volume's folders are the owner's alone: what comes to be in them is out of others' reach.
    const volumes = { volumes: '700', 'volumes/default': '700' };
    expect(modesOf(data)).toEqual({ ...ours, ...volumes });

    // A database an earlier version left readable to others is made private, and so are the journals made for it.
    await stopServerProcess(server);
    chmodSync(join(data, 'accsyn.db'), 0o644);
    const again = await serveProcess(['--data-dir', data], {}, { umask: 0o022 });
    const session = new RawSession(again.url, adminOf(data));
    await session.result(session.create('user', { code: 'john@example.com' }));
    expect(modesOf(data)).toEqual({ ...ours, ...volumes });
  });

  it('warns at start when an existing data folder is open to other users, and starts', async () => {
    const data = join(tempDir(), 'data');
    mkdirSync(data);
    chmodSync(data, 0o755);
    const server = await serveProcess(['--data-dir', data]);
    expect(server.output()).toContain(`the data directory ${data} is open to other users (mode 0755)`);
    expect((await send(server.url, 'GET', '/healthz')).status).toBe(200);
    // The operator's folder is theirs: told, not changed.
    expect(statSync(data).mode & 0o777).toBe(0o755);
  });
});

describe('connections over TLS', () => {
  let server: TestServer;
  let certificate: string;
  beforeAll(async () => {
    const made = selfSignedCertificate(tempDir());
    certificate = made.certificate;
    const tls = ['--tls-cert', made.certFile, '--tls-key', made.keyFile];
    server = await serve(...tls, '--max-connections', '5', '--header-timeout', '2');
  });

  it('are counted from TCP accept: past the cap closed at once, the others after the header timeout', async () => {
    const from = nextAddress();
    const idle = await Promise.all(Array.from({ length: 8 }, () => openIdle(server.url, from)));
    // Past the cap of 5, closed as they are accepted, before any handshake.
    await until(() => idle.filter((connection) => connection.closedAt !== undefined).length >= 3, 1000);
    await sleep(100);
    expect(idle.filter((connection) => connection.closedAt !== undefined)).toHaveLength(3);
    const held = idle.filter((connection) => connection.closedAt === undefined);
    // While it holds five, the address gets no more; another address is served.
    expect(await httpsGet(server.url, '/healthz', from, certificate)).toBeInstanceOf(Error);
    expect(await httpsGet(server.url, '/healthz', nextAddress(), certificate)).toMatchObject({ status: 200 });
    // Without a handshake within the header timeout (2 s), the five are closed, and the address is served again.
    await until(() => held.every((connection) => connection.closedAt !== undefined), 8000);
    for (const connection of held) {
      const lasted = (connection.closedAt as number) - connection.openedAt;
      expect(lasted).toBeGreaterThanOrEqual(1900);
      expect(lasted).toBeLessThan(5000);
    }
    expect(await httpsGet(server.url, '/healthz', from, certificate)).toMatchObject({ status: 200 });
  });

  it('answer with HSTS and nosniff', async () => {
    const reply = await httpsGet(server.url, '/healthz', nextAddress(), certificate);
    if (reply instanceof Error) throw reply;
    expect(reply.status).toBe(200);
    expect(reply.headers['strict-transport-security']).toBe('max-age=31536000');
    expect(reply.headers['x-content-type-options']).toBe('nosniff');
  });
});

describe('connections', () => {
  it('that send no whole request line and headers within the header timeout get 408 and are closed', async () => {
    const server = await serve('--header-timeout', '1');
    const from = nextAddress();
    const [silent, partial] = await Promise.all([openIdle(server.url, from), openIdle(server.url, from)]);
    const answer = exchange(partial.socket, 'GET /healthz HTTP/1.1\r\nHost: test\r\nX-Slow: ');
    await until(() => silent.closedAt !== undefined && partial.closedAt !== undefined, 5000);
    for (const connection of [silent, partial]) {
      expect((connection.closedAt as number) - connection.openedAt).toBeGreaterThanOrEqual(900);
    }
    const reply = await answer;
    expect(reply.status).toBe(408);
    expect(reply.headers).toContain('x-content-type-options: nosniff');
    expect(JSON.parse(reply.body)).toEqual({ message: 'The request did not arrive in time.' });
  });

  it('past the cap: /healthz answered, other paths 429, and past twice the cap closed at once', async () => {
    const server = await serve('--max-connections', '2');
    const from = nextAddress();
    const idle = await Promise.all(Array.from({ length: 6 }, () => openIdle(server.url, from)));
    await until(() => idle.filter((connection) => connection.closedAt !== undefined).length >= 2, 1000);
    await sleep(100);
    const [under1, under2, over1, over2, ...past] = idle as [Idle, Idle, Idle, Idle, ...Idle[]];
    expect(past.map((connection) => connection.closedAt !== undefined)).toEqual([true, true]);
    // A health check is never limited, also on a connection over the cap.
    for (const connection of [under1, under2, over1, over2]) {
      expect((await exchange(connection.socket, healthz)).status).toBe(200);
    }
    for (const connection of [over1, over2]) {
      const reply = await exchange(connection.socket, `GET ${LOOKUP} HTTP/1.1\r\nHost: test\r\n\r\n`);
      expect(reply.status).toBe(429);
      expect(reply.headers).toContain('connection: close');
    }
    expect((await exchange(under1.socket, `GET ${LOOKUP} HTTP/1.1\r\nHost: test\r\n\r\n`)).status).toBe(200);
    for (const connection of idle) connection.socket.destroy();
  });

  it('past --max-connections-total are closed as they come, and that is logged', async () => {
    const server = await serveProcess(['--data-dir', join(tempDir(), 'data'), '--max-connections-total', '10']);
    const idle = await Promise.all(Array.from({ length: 12 }, () => openIdle(server.url, nextAddress())));
    await until(() => idle.filter((connection) => connection.closedAt !== undefined).length >= 2, 1000);
    await sleep(100);
    const held = idle.filter((connection) => connection.closedAt === undefined);
    expect(held).toHaveLength(10);
    for (const connection of held) expect((await exchange(connection.socket, healthz)).status).toBe(200);
    expect(server.output()).toContain('10 connections are open, the most allowed: new ones are closed at once');
    for (const connection of idle) connection.socket.destroy();
    await sleep(100);
    expect((await send(server.url, 'GET', '/healthz')).status).toBe(200);
  });

  it('leave descriptors for files and other clients when a flood meets a low file limit', async () => {
    const data = join(tempDir(), 'data');
    // Node needs some 300 files to load the server: 512 leaves it little beyond.
    const server = await serveProcess(['--data-dir', data], {}, { fileLimit: 512 });
    const credentials = adminOf(data);
    const session = (await login(server.url, credentials)).json.result as { session_id: string };
    const ls = envelope(credentials, session.session_id, 'workspace/file', { op: 'ls', path: 'volume=default' });
    const headers = Object.entries(authHeaders(credentials)).map(([name, value]) => `${name}: ${value}\r\n`);
    const call = `GET /api/v3/event?${queryStringOf(ls)} HTTP/1.1\r\nHost: test\r\n${headers.join('')}\r\n`;
    const caller = await openIdle(server.url, nextAddress());
    const before = await exchange(caller.socket, call);
    expect(before.status, before.body).toBe(200);

    // 600 connections from ten addresses, more than the process may open files.
    const addresses = Array.from({ length: 10 }, nextAddress);
    const flood = await Promise.allSettled(
      Array.from({ length: 600 }, (_, i) => openIdle(server.url, addresses[i % 10] as string)),
    );
    await sleep(500);
    const open = flood.filter((result) => result.status === 'fulfilled' && result.value.closedAt === undefined);
    expect(open.length).toBeLessThanOrEqual(defaultConnectionCap(512) as number);
    // The caller's listing opens a directory: a descriptor is there for it.
    const reply = await exchange(caller.socket, call);
    expect(reply.status, reply.body).toBe(200);
    expect(server.output()).toContain('connections are open, the most allowed');
    for (const result of flood) if (result.status === 'fulfilled') result.value.socket.destroy();
    await sleep(200);
    expect((await send(server.url, 'GET', '/healthz', { localAddress: nextAddress() })).status).toBe(200);
  });

  it('are capped below the file limit by default', () => {
    expect(defaultConnectionCap(1024)).toBe(896);
    expect(defaultConnectionCap(256)).toBe(192);
    expect(defaultConnectionCap(1_048_576)).toBe(917_504);
    expect(defaultConnectionCap(undefined)).toBeUndefined();
  });
});

describe('the HTTP layer', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await serve('--body-limit', '2048');
  });

  /** An answer in the protocol's JSON, a message and nothing else, that names no library. */
  function expectProtocolError(
    reply: { status: number; headers: Record<string, string>; text: string },
    status: number,
  ) {
    expect(reply.status).toBe(status);
    expect(Object.keys(JSON.parse(reply.text))).toEqual(['message']);
    expect(reply.text).not.toMatch(/FST_|fastify|statusCode|HPE_/i);
    expect(reply.headers['content-type']).toMatch(/^application\/json/);
    expect(reply.headers['x-content-type-options']).toBe('nosniff');
  }

  it('answers a malformed path, a body or headers too large and what is not HTTP in the protocol JSON', async () => {
    const badUrl = await socketRequest(server.url, { method: 'GET', target: '/%zz' });
    expectProtocolError(badUrl, 400);
    expect(badUrl.text).toContain('not valid');
    const body = await socketRequest(server.url, { method: 'POST', target: '/api/v3/event', body: 'x'.repeat(4096) });
    expectProtocolError(body, 413);
    const line = await socketRequest(server.url, { method: 'GET', target: `/${'a'.repeat(600_000)}` });
    expectProtocolError(line, 431);
    expect(line.text).toContain('larger than 524288 bytes');
    const header = await socketRequest(server.url, { method: 'GET', target: '/healthz', headers: { 'Bad Name': 'x' } });
    expectProtocolError(header, 400);
    expect(header.text).toContain('not valid HTTP/1.1');
    const method = await socketRequest(server.url, { method: 'FOO', target: '/healthz' });
    expectProtocolError(method, 400);
  });

  it('takes a body with an empty or meaningless Content-Type, as with none', async () => {
    for (const type of ['', 'nonsense', 'application/json']) {
      const reply = await socketRequest(server.url, {
        method: 'PUT',
        target: '/api/v3/api/login',
        headers: { ...authHeaders(server.admin), 'Content-Type': type },
        body: '{}',
      });
      expect(reply.status, `Content-Type: ${type}`).toBe(200);
    }
  });

  it('says nosniff on every answer, no-store on those that carry a session, and no HSTS without TLS', async () => {
    const health = await send(server.url, 'GET', '/healthz');
    expect(health.headers['x-content-type-options']).toBe('nosniff');
    expect(health.headers['strict-transport-security']).toBeUndefined();
    const missing = await send(server.url, 'GET', '/nothing');
    expect(missing.status).toBe(404);
    expect(missing.headers['x-content-type-options']).toBe('nosniff');
    const loggedIn = await login(server.url, server.admin);
    expect(loggedIn.headers['cache-control']).toBe('no-store');
    expect(loggedIn.headers['x-content-type-options']).toBe('nosniff');
    const found = await new RawSession(server.url, server.admin).find('User');
    expect(found.status).toBe(200);
    expect(found.headers['cache-control']).toBe('no-store');
    expect(found.headers['x-content-type-options']).toBe('nosniff');
  });
});

describe('the request log', () => {
  it('writes at most 1,000 characters of a path or an event uri, and how long it was', async () => {
    const data = join(tempDir(), 'data');
    const server = await serveProcess(['--data-dir', data], { ACCSYN_LOG_LEVEL: 'info' });
    const path = `/${'p'.repeat(100_000)}`;
    expect((await socketRequest(server.url, { method: 'GET', target: path })).status).toBe(404);
    const credentials = adminOf(data);
    const call = envelope(credentials, 'no-such-session', 'u'.repeat(100_000), {});
    const headers = authHeaders(credentials);
    expect((await send(server.url, 'PUT', '/api/v3/event', { headers, body: call })).status).toBe(401);

    const lines = () =>
      server
        .output()
        .split('\n')
        .filter((line) => line.includes('"msg":"request"'));
    await until(() => lines().length >= 2, 5000);
    for (const line of lines()) expect(line.length).toBeLessThan(2000);
    expect(lines().join('\n')).toContain(`"path":"/${'p'.repeat(999)}... (100001 characters)"`);
    expect(lines().join('\n')).toContain(`"uri":"${'u'.repeat(1000)}... (100000 characters)"`);
  });
});
