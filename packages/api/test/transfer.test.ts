import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AbortError,
  AccsynError,
  Agent,
  type AgentEvent,
  Session,
  type SessionOptions,
  TransferError,
  type TransferProgress,
} from '../src/index.js';
import { type Relay, startRelay } from './relay.js';
import { type SocksServer, startSocksServer } from './socks-server.js';
import { addUser, type Server, startServer } from './support.js';

/**
 * Uploads and downloads from the client, and the agent, against the real server with its transfer engine on, all on
 * loopback: trees round-tripped byte for byte (sha256), directly, through the accsyn proxy and through SOCKS5; an
 * upload cut midway and resumed; the roots an agent keeps to.
 */

const MiB = 1024 * 1024;
const cleanups: (() => Promise<unknown> | unknown)[] = [];
let server: Server;
let volume: string;
let socks: SocksServer;
let relay: Relay;
const folder = mkdtempSync(join(tmpdir(), 'accsyn-transfer-test-'));

function open(options: SessionOptions = {}, credentials = server.admin): Session {
  const session = new Session({ ...credentials, hostname: server.url, environment: false, ...options });
  cleanups.push(() => session.close());
  return session;
}

beforeAll(async () => {
  [server, socks] = await Promise.all([startServer({}, ['--transfers', 'on']), startSocksServer()]);
  relay = await startRelay(server.url);
  cleanups.push(
    () => server.stop(),
    () => socks.close(),
    () => relay.close(),
  );
  volume = (await open().findOne('Volume WHERE default=True'))?.path as string;
});

afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
  rmSync(folder, { recursive: true, force: true });
});

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

/** Every file beneath a directory (part files included, should one be left), by its path below it, as its sha256. */
function digests(dir: string): Record<string, string> {
  const found: Record<string, string> = {};
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    found[relative(dir, path).split('\\').join('/')] = sha256(readFileSync(path));
  }
  return found;
}

/** A tree with an empty file, a Unicode name and a file of `big` bytes. */
function tree(dir: string, big: number): Record<string, string> {
  mkdirSync(join(dir, 'ålesund'), { recursive: true });
  writeFileSync(join(dir, 'empty.bin'), '');
  writeFileSync(join(dir, 'ålesund', '日本.exr'), randomBytes(100_000));
  writeFileSync(join(dir, 'big.bin'), randomBytes(big));
  return digests(dir);
}

function place(name: string): string {
  const dir = join(folder, name);
  mkdirSync(dir, { recursive: true });
  return dir;
}

async function failure(promise: PromiseLike<unknown>): Promise<Error> {
  const error = await Promise.resolve(promise).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(Error);
  return error as Error;
}

describe('upload and download', () => {
  it('round-trip a tree byte for byte: an empty file, a Unicode name, 64 MiB', async () => {
    const session = open({ verbose: true });
    const local = place('round-trip');
    const sent = tree(join(local, 'tree'), 64 * MiB);
    const seen: TransferProgress[] = [];
    const uploaded = await session.upload(join(local, 'tree'), 'trees/', { onProgress: (p) => seen.push(p) });
    expect(uploaded).toMatchObject({
      status: 'done',
      size: 64 * MiB + 100_000,
      source: expect.stringMatching(/^client:/),
    });
    expect(digests(join(volume, 'trees', 'tree'))).toEqual(sent);
    expect(seen.at(-1)).toMatchObject({ job: uploaded.id, status: 'done', bytes: 64 * MiB + 100_000, progress: 100 });

    // Iterated, a run yields its progress and ends with the job.
    const download = session.download('trees/tree', join(local, 'back'));
    const progress: TransferProgress[] = [];
    for await (const step of download) progress.push(step);
    const downloaded = await download;
    expect(downloaded.status).toBe('done');
    expect(digests(join(local, 'back'))).toEqual(sent);
    expect(progress.at(-1)).toMatchObject({
      job: downloaded.id,
      status: 'done',
      size: 64 * MiB + 100_000,
      progress: 100,
    });
    for (const step of progress) expect(step.bytes).toBeLessThanOrEqual(64 * MiB + 100_000);
  });

  it('resume an upload cut midway, through the accsyn proxy: the second sends only the rest', async () => {
    const session = open({ proxy: `accsyn:127.0.0.1:${relay.port}` });
    const local = place('resume');
    const file = join(local, 'plate.exr');
    const bytes = randomBytes(32 * MiB);
    writeFileSync(file, bytes);
    const controller = new AbortController();
    relay.cut = (request) => {
      if (request.method !== 'PUT' || request.bytes < 8 * MiB) return false;
      controller.abort();
      return true;
    };
    const cut = await failure(session.upload(file, 'resumed/', { signal: controller.signal }));
    expect(cut).toBeInstanceOf(AbortError);
    relay.cut = undefined;
    const [paused] = await session.find('Transfer WHERE code CONTAINS "plate.exr (upload"');
    expect(paused?.status).toBe('paused');

    const before = relay.seen.length;
    const job = await session.upload(file, 'resumed/');
    expect(job).toMatchObject({ id: paused?.id, status: 'done' });
    expect(sha256(readFileSync(join(volume, 'resumed', 'plate.exr')))).toBe(sha256(bytes));
    const uploads = relay.seen.slice(before).filter((request) => request.path.startsWith('/u/'));
    const data = uploads.find((request) => request.method === 'PUT' && request.status === 200 && request.bytes > 0);
    expect(data?.offset).toBeGreaterThan(0);
    expect(data?.bytes).toBe(bytes.length - (data?.offset ?? 0));
    // Everything went through the proxy, the data routes with the session's credentials.
    expect(relay.seen.slice(before).map((request) => request.path.split('/')[1])).toEqual(
      expect.arrayContaining(['api', 'u']),
    );
  });

  it('go through a SOCKS5 proxy', async () => {
    // Addressed by name, which the proxy resolves (socks5h).
    const session = open({
      proxy: `socks5h:127.0.0.1:${socks.port}`,
      hostname: server.url.replace('127.0.0.1', 'localhost'),
    });
    const local = place('socks');
    const sent = tree(join(local, 'tree'), 5 * MiB);
    const before = socks.requests.length;
    await session.upload(join(local, 'tree'), 'socks/');
    await session.download('socks/tree', `${join(local, 'back')}/`);
    expect(digests(join(local, 'back', 'tree'))).toEqual(sent);
    expect(socks.requests.length).toBeGreaterThan(before);
    for (const request of socks.requests.slice(before)) {
      expect(request).toMatchObject({ version: 5, host: 'localhost', port: Number(new URL(server.url).port) });
    }
  });

  it('put a file in a directory, and keep an existing one by the overwrite setting', async () => {
    const session = open();
    const local = place('overwrite');
    writeFileSync(join(local, 'note.txt'), 'first');
    await session.upload(join(local, 'note.txt'), 'notes/');
    writeFileSync(join(local, 'note.txt'), 'second');
    await session.upload(join(local, 'note.txt'), 'notes/', { overwrite: 'rename' });
    expect(readdirSync(join(volume, 'notes')).sort()).toEqual(['note (1).txt', 'note.txt']);
    expect(readFileSync(join(volume, 'notes', 'note (1).txt'), 'utf8')).toBe('second');
  });

  it('fail with the reason: a local source that does not exist, a share path that does not', async () => {
    const session = open();
    const missing = join(folder, 'not-here.exr');
    const local = await failure(session.upload(missing, 'in/'));
    expect(local).toBeInstanceOf(AccsynError);
    expect(local.message).toBe(`"${missing}" does not exist.`);

    const remote = await failure(session.download('nothing/there.exr', place('nothing')));
    expect(remote).toBeInstanceOf(TransferError);
    expect((remote as TransferError).job.status).toBe('failed');
    expect(remote.message).toMatch(
      /^The transfer there\.exr \(download [0-9a-f]{12}\) failed: 1 of 1 tasks failed; task 0: The source "nothing\/there\.exr" does not exist\.$/,
    );
  });
});

describe('the agent', () => {
  let lisa: Session;
  let agent: Agent;
  let root: string;
  const events: AgentEvent[] = [];

  beforeAll(async () => {
    // Through the accsyn proxy, where a test can cut its connection.
    lisa = open({ proxy: `accsyn:127.0.0.1:${relay.port}` }, addUser(server, 'lisa@acme.test', 'employee'));
    root = place('lisa-root');
    agent = new Agent(lisa, { roots: [root], onEvent: (event) => events.push(event) });
    await agent.start();
  });

  afterAll(async () => {
    await agent.stop();
  });

  /** Waits for the job to end, as a program following it would. */
  async function ended(session: Session, id: string) {
    for (;;) {
      const job = await session.getEntity('Transfer', id);
      if (job && ['done', 'failed', 'aborted'].includes(job.status)) return job;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  it('checks the machine in as an online client of its user', async () => {
    expect(events[0]).toEqual({ type: 'checked-in', client: agent.client, checkin: 10 });
    const client = await lisa.getEntity('Client', agent.client ?? '');
    expect(client).toMatchObject({ status: 'online', user_hr: 'lisa@acme.test' });
  });

  it('carries transfers that another session made, to and from its machine', async () => {
    const admin = open();
    const sent = tree(join(root, 'shot'), 6 * MiB);
    const up = await admin.create('Transfer', {
      source: `lisa@acme.test:${join(root, 'shot')}`,
      destination: 'from-lisa/',
    });
    expect(await ended(admin, up.id)).toMatchObject({ status: 'done' });
    expect(digests(join(volume, 'from-lisa', 'shot'))).toEqual(sent);

    const down = await admin.create('Transfer', {
      source: 'from-lisa/shot',
      destination: `lisa@acme.test:${join(root, 'copy')}`,
    });
    expect(await ended(admin, down.id)).toMatchObject({ status: 'done' });
    expect(digests(join(root, 'copy'))).toEqual(sent);
    const done = events.filter((event) => event.type === 'task-done' && event.kind !== 'measure');
    expect(done.map((event) => event.type === 'task-done' && [event.kind, event.size, event.sent]).sort()).toEqual([
      ['download', 0, 0],
      ['download', 100_000, 100_000],
      ['download', 6 * MiB, 6 * MiB],
      ['upload', 0, 0],
      ['upload', 100_000, 100_000],
      ['upload', 6 * MiB, 6 * MiB],
    ]);
  });

  it('survives its connection cut midway through a file, and resumes it from where the server stopped', async () => {
    const admin = open();
    const bytes = randomBytes(16 * MiB);
    writeFileSync(join(root, 'cut.bin'), bytes);
    let cuts = 0;
    relay.cut = (request) => request.path.startsWith('/u/') && request.bytes >= 4 * MiB && cuts++ === 0;
    const before = relay.seen.length;
    try {
      const job = await admin.create('Transfer', {
        source: `lisa@acme.test:${join(root, 'cut.bin')}`,
        destination: 'cut/',
      });
      expect(await ended(admin, job.id)).toMatchObject({ status: 'done' });
    } finally {
      relay.cut = undefined;
    }
    expect(sha256(readFileSync(join(volume, 'cut', 'cut.bin')))).toBe(sha256(bytes));
    expect(events).toContainEqual(
      expect.objectContaining({ type: 'retrying', what: `upload of "${join(root, 'cut.bin')}"` }),
    );
    const resumed = relay.seen
      .slice(before)
      .find((request) => request.method === 'PUT' && request.path.startsWith('/u/') && (request.offset ?? 0) > 0);
    expect(resumed?.bytes).toBe(bytes.length - (resumed?.offset ?? 0));
  });

  it('resumes a download cut midway, asking only for the rest', async () => {
    const admin = open();
    const bytes = randomBytes(16 * MiB);
    mkdirSync(join(volume, 'outgoing'), { recursive: true });
    writeFileSync(join(volume, 'outgoing', 'cut.bin'), bytes);
    let cuts = 0;
    relay.cutAnswer = (request) => request.path.startsWith('/d/') && request.answered >= 4 * MiB && cuts++ === 0;
    const before = relay.seen.length;
    try {
      const job = await admin.create('Transfer', {
        source: 'outgoing/cut.bin',
        destination: `lisa@acme.test:${join(root, 'incoming')}/`,
      });
      expect(await ended(admin, job.id)).toMatchObject({ status: 'done' });
    } finally {
      relay.cutAnswer = undefined;
    }
    expect(digests(join(root, 'incoming'))).toEqual({ 'cut.bin': sha256(bytes) });
    const gets = relay.seen.slice(before).filter((request) => request.path.startsWith('/d/'));
    const resumed = gets.find((request) => request.range !== undefined);
    const from = Number(/^bytes=(\d+)-$/.exec(resumed?.range ?? '')?.[1]);
    expect(from).toBeGreaterThan(0);
    expect(resumed).toMatchObject({ status: 206, answered: bytes.length - from });
  });

  it('fails for good a task outside its roots, naming the path and the roots', async () => {
    const admin = open();
    const outside = join(place('outside'), 'secret.txt');
    writeFileSync(outside, 'not for the server');
    const job = await admin.create('Transfer', { source: `lisa@acme.test:${outside}`, destination: 'from-lisa/' });
    const failed = await ended(admin, job.id);
    expect(failed.status).toBe('failed');
    expect(failed.message).toContain(`"${outside}" is outside the roots this machine serves ("${root}")`);
    expect(events).toContainEqual(
      expect.objectContaining({ type: 'task-failed', task: expect.any(String), local: outside, permanent: true }),
    );
  });

  it('goes offline when it stops', async () => {
    const admin = open();
    const client = agent.client ?? '';
    await agent.stop();
    expect(events.at(-1)).toEqual({ type: 'stopped' });
    expect(await admin.getEntity('Client', client)).toMatchObject({ status: 'offline' });
  });
});

describe("under the server's limit on files", () => {
  let limited: Server;

  beforeAll(async () => {
    limited = await startServer({}, ['--transfers', 'on', '--limit-files', '2:2']);
  });

  afterAll(async () => {
    await limited.stop();
  });

  it('waits when refused (429) and carries every file', async () => {
    const events: AgentEvent[] = [];
    const root = place('limited');
    const lisa = new Session({
      ...addUser(limited, 'lisa@acme.test', 'employee'),
      hostname: limited.url,
      environment: false,
    });
    const admin = new Session({ ...limited.admin, hostname: limited.url, environment: false });
    cleanups.push(
      () => lisa.close(),
      () => admin.close(),
    );
    for (let i = 0; i < 8; i++) writeFileSync(join(root, `frame.${i}.exr`), randomBytes(1000 + i));
    const agent = new Agent(lisa, { roots: [root], onEvent: (event) => events.push(event) });
    await agent.start();
    try {
      const job = await admin.create('Transfer', { source: `lisa@acme.test:${root}`, destination: 'frames/' });
      for (;;) {
        const now = await admin.getEntity('Transfer', job.id);
        if (now?.status === 'done') break;
        expect(now?.status).not.toBe('failed');
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    } finally {
      await agent.stop();
    }
    const volumePath = (await admin.findOne('Volume WHERE default=True'))?.path as string;
    expect(digests(join(volumePath, 'frames', 'limited'))).toEqual(digests(root));
    expect(events.some((event) => event.type === 'rate-limited')).toBe(true);
  });
});
