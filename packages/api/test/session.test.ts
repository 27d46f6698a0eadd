import { mkdtempSync, readFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer, type Server as NetServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AbortError,
  AccsynError,
  AuthenticationError,
  ConnectionError,
  PermissionError,
  QueryError,
  RateLimitError,
  ServerError,
  Session,
  type SessionOptions,
  type Task,
  TimeoutError,
  type Transfer,
} from '../src/index.js';
import { addUser, type Server, startServer } from './support.js';

/** The client against the real server, spawned as `npm start` runs it. */

let server: Server;
let session: Session;
const sessions: Session[] = [];

function open(options: SessionOptions = {}): Session {
  const created = new Session({ ...server.admin, environment: false, ...options });
  sessions.push(created);
  return created;
}

beforeAll(async () => {
  server = await startServer();
  session = open();
});
afterAll(async () => {
  await Promise.all(sessions.map((s) => s.close()));
  await server.stop();
});

describe('logging in', () => {
  it('logs in once, on the first call, and answers the role', async () => {
    const fresh = open();
    const [a, b] = await Promise.all([fresh.login(), fresh.findOne('User')]);
    expect(a.role).toBe('admin');
    expect(b).toMatchObject({ code: 'admin@acme.test', role: 'admin' });
    expect(b?.created).toBeInstanceOf(Date);
  });

  it('raises the server message as an AuthenticationError for a wrong key', async () => {
    const wrong = open({ apiKey: 'x'.repeat(64) });
    const error = await wrong.login().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AuthenticationError);
    expect((error as AuthenticationError).message).toBe(
      'Authentication failed: check the workspace, the user and the API key.',
    );
    expect((error as AuthenticationError).status).toBe(401);
    expect(wrong.getLastMessage()).toBe((error as Error).message);
  });
});

describe('finding', () => {
  it('finds, finds one, and gets by id, with dates as Date', async () => {
    const user = await session.create('User', { code: 'lisa@example.com' });
    expect(user).toMatchObject({ code: 'lisa@example.com', role: 'standard' });
    const found = await session.find('User WHERE code=lisa@example.com');
    expect(found.map((u) => u.id)).toEqual([user.id]);
    expect(found[0]?.created).toBeInstanceOf(Date);
    expect(await session.getEntity('User', user.id)).toMatchObject({ code: 'lisa@example.com' });
    expect(await session.getEntity('User', '000000000000000000000000')).toBeNull();
    expect(await session.findOne('User WHERE code=nobody@example.com')).toBeNull();
    const types = await session.find('entitytypes');
    expect(types).toContain('user');
    const attributes = await session.find('attributes WHERE entitytype=delivery');
    expect(attributes).toContain('public');
    expect(await session.find('attributes WHERE entitytype=transfer', { create: true })).toContain('source');
  });

  it('throws a query syntax error locally, before any request, with its position', async () => {
    // This session points at a port where nothing listens: a request would fail with a ConnectionError.
    const offline = open({ hostname: 'http://127.0.0.1:9', retry: false });
    const error = await offline.find('Transfer WHERE status=done AND').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(QueryError);
    expect((error as QueryError).position).toBe(30);
    expect((error as QueryError).format()).toContain('^');
  });

  it('raises what the server refuses in a query as a QueryError with its position', async () => {
    const error = await session.find('Transfer WHERE stauts=done').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(QueryError);
    expect((error as QueryError).message).toContain("did you mean 'status'");
    expect((error as QueryError).position).toBe(15);
  });

  it('iterates over every page of a large result, with no silent truncation', async () => {
    const created = [];
    for (let i = 0; i < 1000; i++) {
      created.push(
        session.create('Transfer', { source: `dailies/clip${i}.mov`, destination: 'out/', name: `clip ${i}` }),
      );
    }
    const ids = new Set((await Promise.all(created)).map((t) => t.id));
    const seen: string[] = [];
    for await (const transfer of session.iterate("Transfer WHERE name='clip *'", { pageSize: 300 })) {
      seen.push(transfer.id);
    }
    expect(seen).toHaveLength(1000);
    expect(new Set(seen)).toEqual(ids);
  });
});

describe('writing', () => {
  it('creates, updates, deactivates, activates and deletes', async () => {
    const transfer: Transfer = await session.create('Transfer', {
      source: 'plates/a.exr',
      destination: 'lisa@example.com:/in/',
      status: 'paused',
      metadata: { big: 'x'.repeat(150_000) },
    });
    expect(transfer.status).toBe('paused');
    const resumed = await session.update('Transfer', transfer.id, { status: 'waiting' });
    expect(resumed.status).toBe('waiting');
    const tasks = await session.find('Task', { entityId: transfer.id });
    expect(tasks).toHaveLength(1);
    const changed = await session.updateMany('task', transfer.id, [{ uri: '0', status: 'onhold' }]);
    expect(changed[0]?.status).toBe('onhold');
    const ends = { source: 'plates/a.exr', destination: 'lisa@example.com:/in/' };
    const retried = await session.create('task', ends, { entityId: transfer.id });
    expect(retried).toMatchObject({ id: tasks[0]?.id, status: 'queued' });
    const replaced = await session.create('task', ends, { entityId: transfer.id, replaceDuplicates: true });
    expect(replaced).toMatchObject({ uri: '0', status: 'queued' });
    expect((replaced as Task).id).not.toBe(tasks[0]?.id);
    await expect(session.create('task', ends, { entityId: transfer.id, allowDuplicates: false })).rejects.toThrow(
      'Task 0 of this job has the same source and destination already.',
    );
    const lisa = await session.findOne('User WHERE code=lisa@example.com');
    expect(await session.deactivateOne('User', lisa?.id as string)).toBe(true);
    expect(await session.findOne('User WHERE code=lisa@example.com')).toBeNull();
    expect(await session.activateOne('User', 'lisa@example.com')).toBe(true);
    expect(await session.deleteOne('Transfer', transfer.id)).toBe(true);
    expect(await session.find(`Transfer WHERE id=${transfer.id}`, { archived: true })).toHaveLength(1);
  });

  it('raises a PermissionError with the server message', async () => {
    const standard = open(addUser(server, 'sam@example.com', 'standard'));
    const error = await standard.create('Delivery', { name: 'x' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PermissionError);
    expect((error as PermissionError).message).toBe('Permission denied: a standard user may not create deliveries.');
    expect((error as PermissionError).uri).toBe('delivery/create');
    expect((error as PermissionError).eventId).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('refuses bad arguments with an AccsynError, not a TypeError', async () => {
    await expect(session.getEntity('User', 'nope')).rejects.toThrow(AccsynError);
    await expect(session.update('User', '000000000000000000000000', {})).rejects.toThrow(
      'update needs the attributes to change.',
    );
    await expect(session.create('User', {})).rejects.toThrow(AccsynError);
    await expect(session.find('User', { limit: -1 })).rejects.toThrow('limit must be a whole number of at least 0.');
  });
});

describe('failures of the network', () => {
  let silent: NetServer;
  let silentPort = 0;
  const held: Socket[] = [];
  beforeAll(async () => {
    // Accepts connections and never answers.
    silent = createServer((socket) => held.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    silentPort = (silent.address() as { port: number }).port;
  });
  afterAll(() => {
    for (const socket of held) socket.destroy();
    return new Promise<void>((resolve) => silent.close(() => resolve()));
  });

  it('times out with a TimeoutError', async () => {
    const slow = open({ hostname: `http://127.0.0.1:${silentPort}`, timeout: 300, retry: false });
    await expect(slow.login()).rejects.toThrow(TimeoutError);
  });

  it('fails to connect with a ConnectionError', async () => {
    const nowhere = open({ hostname: 'http://127.0.0.1:9', retry: false });
    await expect(nowhere.login()).rejects.toThrow(ConnectionError);
  });

  it('stops when its signal aborts', async () => {
    const controller = new AbortController();
    const slow = open({ hostname: `http://127.0.0.1:${silentPort}`, signal: controller.signal });
    const pending = slow.login();
    setTimeout(() => controller.abort(), 50);
    await expect(pending).rejects.toThrow(AbortError);
  });
});

describe('rate limits', () => {
  let limited: Server;
  beforeAll(async () => {
    limited = await startServer({ ACCSYN_LIMIT_API: '2:3' });
  });
  afterAll(() => limited.stop());

  it('waits out 429s, honouring Retry-After, and succeeds', async () => {
    const patient = new Session({ ...limited.admin, environment: false });
    sessions.push(patient);
    const results = [];
    for (let i = 0; i < 6; i++) results.push(await patient.find('User'));
    expect(results.every((users) => users.length === 1)).toBe(true);
  });

  it('raises a RateLimitError with retryAfter when retries are off', async () => {
    const hasty = new Session({ ...limited.admin, environment: false, retry: false });
    sessions.push(hasty);
    const error = await Promise.all(Array.from({ length: 6 }, () => hasty.find('User'))).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RateLimitError);
    expect((error as RateLimitError).retryAfter).toBeGreaterThanOrEqual(1);
    expect((error as RateLimitError).message).toBe('Too many requests, please try again later.');
  });
});

describe('logging and pacing', () => {
  it('logs each call to the log file, never the key', async () => {
    const logFile = join(mkdtempSync(join(tmpdir(), 'accsyn-log-')), 'calls.log');
    const verbose = open({ verbose: true, logFile });
    await verbose.find('User WHERE code=admin@acme.test');
    const log = readFileSync(logFile, 'utf8');
    expect(log).toMatch(/accsyn: PUT login 200 \d+ ms/);
    expect(log).toMatch(/accsyn: GET user\/find 200 \d+ ms/);
    expect(log).not.toContain(server.admin.apiKey);
  });

  it('starts no more calls in a second than maxRequestsPerSecond', async () => {
    const paced = open({ maxRequestsPerSecond: 10 });
    await paced.login();
    const started = performance.now();
    await Promise.all(Array.from({ length: 5 }, () => paced.find('User')));
    // Five calls at ten a second: the last starts 400 ms after the first, at the earliest.
    expect(performance.now() - started).toBeGreaterThanOrEqual(400);
  });
});

describe('retries of reads, not of writes', () => {
  let failing: HttpServer;
  let url = '';
  const seen: string[] = [];
  beforeAll(async () => {
    // Logs in, then answers every event 503 as a gateway would, counting what it gets.
    failing = createHttpServer((request, response) => {
      seen.push(request.method ?? '');
      const login = request.url?.startsWith('/api/v3/api/login');
      response.writeHead(login ? 200 : 503, { 'content-type': login ? 'application/json' : 'text/html' });
      response.end(
        login ? '{"result": {"role": "admin", "id": "x", "session_id": "s"}}' : '<h1>503 Service Unavailable</h1>',
      );
    });
    await new Promise<void>((resolve) => failing.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(failing.address() as { port: number }).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => failing.close(() => resolve())));

  it('retries a find after a 503, then raises a ServerError; sends a create once', async () => {
    const client = open({ hostname: url, retry: { attempts: 3, baseDelay: 5, maxDelay: 10 } });
    await client.login();
    seen.length = 0;
    const read = await client.find('User').catch((e: unknown) => e);
    expect(read).toBeInstanceOf(ServerError);
    expect((read as ServerError).status).toBe(503);
    expect((read as ServerError).message).toBe(
      'The server answered 503 with something other than JSON: <h1>503 Service Unavailable</h1>',
    );
    expect(seen).toEqual(['GET', 'GET', 'GET']);
    seen.length = 0;
    await expect(client.create('User', { code: 'x@example.com' })).rejects.toThrow(ServerError);
    expect(seen).toEqual(['POST']);
  });
});

describe('the master lookup', () => {
  it('finds the workspace host through the lookup, here through an accsyn proxy as the official client does', async () => {
    // With no host, the session asks the master; an accsyn proxy receives that request too, and our server
    // answers it with its own address.
    const { port } = new URL(server.url);
    const looked = open({ hostname: undefined, proxy: `accsyn:127.0.0.1:${port}` });
    expect(await looked.findOne('User')).toMatchObject({ code: 'admin@acme.test' });
  });
});
