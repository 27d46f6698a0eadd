import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { authHeaders, type Credentials, login } from './support/raw.js';
import { startTestServer, type TestServer } from './support/server.js';
import { addUser, RawSession } from './support/session.js';

/**
 * The server's side of files carried to and from users' machines (docs/agent.md), spoken on the wire as an agent
 * would: check-in, work claimed, local sources measured, uploads through `/u` resumed by offset and checked by
 * checksum, downloads through `/d` by range, and the refusals of what is not the caller's.
 */

type Entity = Record<string, unknown>;
interface Work {
  task: string;
  job: string;
  kind: 'measure' | 'upload' | 'download';
  local: string;
  remote: string;
  name: string;
  size: number | null;
  checksum: string;
}

let test: TestServer;
let admin: RawSession;
let adminSession: string;
let lisa: RawSession;
let lisaCredentials: Credentials;
let volumeDir: string;
let client: string;

beforeAll(async () => {
  test = await startTestServer({}, ['--transfers', 'on'], { machines: false });
  admin = new RawSession(test.url, test.admin);
  const [volume] = await admin.result<{ path: string }[]>(admin.find('Volume WHERE default=True'));
  volumeDir = volume?.path as string;
  adminSession = await sessionOf(test.admin);
  lisaCredentials = await addUser(test.server.store, test.admin.workspace, 'lisa@acme.test', 'employee');
  lisa = new RawSession(test.url, lisaCredentials);
});

afterAll(async () => {
  await test?.stop();
});

async function sessionOf(credentials: Credentials): Promise<string> {
  const reply = await login(test.url, credentials);
  return (reply.json.result as { session_id: string }).session_id;
}

const sha256 = (data: Buffer) => `sha256:${createHash('sha256').update(data).digest('hex')}`;

/** One request to a data route, with a binary body: what an agent sends. */
function data(
  method: 'GET' | 'HEAD' | 'PUT',
  path: string,
  options: { headers?: Record<string, string>; body?: Buffer; credentials?: Credentials; session?: string } = {},
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = {
      ...authHeaders(options.credentials ?? test.admin),
      'X-Accsyn-Session': options.session ?? adminSession,
      ...options.headers,
    };
    if (options.body) headers['Content-Length'] = options.body.length;
    const req = httpRequest(new URL(path, test.url), { method, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

/** A whole file in one PUT, finished with its size, checksum and time: what an agent sends for a small file. */
const sendWhole = (
  task: string | undefined,
  content: Buffer,
  as: { credentials?: Credentials; session?: string } = {},
) =>
  data('PUT', `/u/${task}`, {
    ...as,
    headers: {
      'X-Accsyn-Offset': '0',
      'X-Accsyn-Size': String(content.length),
      'X-Accsyn-Checksum': sha256(content),
      'X-Accsyn-Mtime': '1700000000000',
    },
    body: content,
  });

const work = (session: RawSession, data: Entity = {}) =>
  session.result<{ tasks: Work[] }>(session.call('GET', 'agent/work', { client, ...data })).then((r) => r.tasks);

async function until(id: string, test: (job: Entity) => boolean, seconds = 20): Promise<Entity> {
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    const [job] = await admin.result<Entity[]>(admin.call('GET', 'transfer/find', {}, { id }));
    if (job && test(job)) return job;
    if (Date.now() > deadline) throw new Error(`job ${id} did not get there: ${JSON.stringify(job)}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe('a client on a user machine', () => {
  it('is needed before a transfer may have an end on your own machine', async () => {
    const refused = await admin.create('transfer', { source: '/home/admin/plate.exr', destination: 'in/' });
    expect(refused.status).toBe(400);
    expect(refused.json.message).toMatch(
      /"\/home\/admin\/plate.exr" is on your machine, and no client of yours is registered.*accsyn agent start/,
    );
  });

  it('registers at its first check-in, one per user and host, and shows as an online App', async () => {
    const first = await admin.result<Entity>(
      admin.call('PUT', 'agent/checkin', { code: 'render-07', os: 'linux', version: '0.1.0' }),
    );
    expect(first).toMatchObject({ status: 'online', checkin: 10, offline: 60 });
    client = first.client as string;
    const again = await admin.result<Entity>(admin.call('PUT', 'agent/checkin', { code: 'render-07' }));
    expect(again.client).toBe(client);
    const [me] = await admin.result<Entity[]>(admin.find('User WHERE code=admin@acme.test'));
    const apps = await admin.result<Entity[]>(admin.find(`Client WHERE user=${me?.id} AND type in 0,2`));
    expect(apps.map((app) => [app.id, app.code, app.status, app.os])).toEqual([
      [client, 'render-07', 'online', 'linux'],
    ]);
  });

  it('speaks only for its own clients', async () => {
    const reply = await lisa.call('GET', 'agent/work', { client });
    expect(reply.status).toBe(404);
    expect(reply.json.message).toMatch(/no client .* of yours/);
  });

  it('shows the server node as an online storage Server', async () => {
    const deadline = Date.now() + 15_000;
    let server: Entity | undefined;
    while (!server && Date.now() < deadline) {
      [server] = await admin.result<Entity[]>(admin.find('Server WHERE roles CONTAINS storage'));
      if (!server) await new Promise((resolve) => setTimeout(resolve, 200));
    }
    expect(server).toMatchObject({ status: 'online', type: 1 });
  });
});

describe('an upload', () => {
  const content = randomBytes(300_000);
  let job: string;
  let task: Work;

  it('is measured by the machine while its job is paused', async () => {
    const [created] = await admin.result<Entity[]>(
      admin.create('transfer', {
        source: '/home/admin/plates/a.bin',
        destination: 'uploads/',
        status: 'paused',
        settings: { checksum: 'sha256' },
      }),
    );
    job = created?.id as string;
    const [measure] = await work(admin, { job });
    expect(measure).toMatchObject({ kind: 'measure', local: '/home/admin/plates/a.bin', job, size: null });
    // A claim is one client's: asked again, the same task is not handed out twice.
    expect(await work(admin, { job })).toEqual([]);
    await admin.result(
      admin.call('PUT', 'agent/measured', { client, task: measure?.task, files: [{ path: '', size: content.length }] }),
    );
    const paused = await until(job, (entity) => Number(entity.size) === content.length);
    expect(paused.status).toBe('paused');
    // Nothing to carry while it is paused.
    expect(await work(admin, { job })).toEqual([]);
  });

  it('is claimed once resumed, written by offset, and resumed from the bytes that arrived', async () => {
    await admin.result(admin.update('transfer', job, { status: 'waiting' }));
    [task] = (await work(admin, { job })) as [Work];
    expect(task).toMatchObject({ kind: 'upload', local: '/home/admin/plates/a.bin', checksum: 'sha256' });
    const path = `/u/${task.task}`;
    expect((await data('HEAD', path)).headers['x-accsyn-offset']).toBe('0');
    const first = await data('PUT', path, { headers: { 'X-Accsyn-Offset': '0' }, body: content.subarray(0, 100_000) });
    expect(first.status).toBe(200);
    expect(JSON.parse(first.body.toString())).toEqual({ offset: 100_000, done: false });
    // Nothing lands before the whole file is there.
    expect(existsSync(join(volumeDir, 'uploads/a.bin'))).toBe(false);
    const wrong = await data('PUT', path, { headers: { 'X-Accsyn-Offset': '0' }, body: content.subarray(0, 10) });
    expect(wrong.status).toBe(409);
    expect(wrong.headers['x-accsyn-offset']).toBe('100000');
    expect((await data('HEAD', path)).headers['x-accsyn-offset']).toBe('100000');
    const last = await data('PUT', path, {
      headers: {
        'X-Accsyn-Offset': '100000',
        'X-Accsyn-Size': String(content.length),
        'X-Accsyn-Checksum': sha256(content),
        'X-Accsyn-Mtime': String(Date.parse('2024-05-06T07:08:09Z')),
        'X-Accsyn-Mode': '640',
      },
      body: content.subarray(100_000),
    });
    expect(last.status).toBe(200);
    expect(JSON.parse(last.body.toString())).toMatchObject({ offset: content.length, done: true });
    const landed = join(volumeDir, 'uploads/a.bin');
    expect(readFileSync(landed).equals(content)).toBe(true);
    expect(statSync(landed).mtime.toISOString()).toBe('2024-05-06T07:08:09.000Z');
    expect(statSync(landed).mode & 0o777).toBe(0o640);
    expect(readdirSync(join(volumeDir, 'uploads')).filter((name) => name.endsWith('.accsyn-part'))).toEqual([]);
    const done = await until(job, (entity) => entity.status === 'done');
    expect(Number(done.size)).toBe(content.length);
    const [finished] = await admin.result<Entity[]>(admin.find('Task', { parent: job }));
    expect(finished).toMatchObject({ status: 'done', checksum: sha256(content) });
  });

  it('answers 409 and keeps nothing when the checksum differs, and the task is tried again', async () => {
    const [created] = await admin.result<Entity[]>(
      admin.create('transfer', {
        source: '/home/admin/b.bin',
        destination: 'uploads/',
        settings: { checksum: 'sha256' },
      }),
    );
    const id = created?.id as string;
    const [measure] = await work(admin, { job: id });
    await admin.result(
      admin.call('PUT', 'agent/measured', { client, task: measure?.task, files: [{ path: '', size: 5 }] }),
    );
    const [upload] = await work(admin, { job: id });
    const reply = await data('PUT', `/u/${upload?.task}`, {
      headers: {
        'X-Accsyn-Offset': '0',
        'X-Accsyn-Size': '5',
        'X-Accsyn-Checksum': sha256(Buffer.from('other')),
        'X-Accsyn-Mtime': '0',
      },
      body: Buffer.from('hello'),
    });
    expect(reply.status).toBe(409);
    expect(JSON.parse(reply.body.toString()).message).toMatch(/checksum .* send the file again/);
    expect(existsSync(join(volumeDir, 'uploads/b.bin'))).toBe(false);
    expect(readdirSync(join(volumeDir, 'uploads')).filter((name) => name.startsWith('.b.bin'))).toEqual([]);
    const [task] = await admin.result<Entity[]>(admin.find('Task', { parent: id }));
    expect(task).toMatchObject({ status: 'queued', attempts: 1 });
  });

  it('turns a measured directory into one task per file', async () => {
    const [created] = await admin.result<Entity[]>(
      admin.create('transfer', { source: '/home/admin/shot', destination: 'uploads/shot-copy', status: 'paused' }),
    );
    const id = created?.id as string;
    const [measure] = await work(admin, { job: id });
    const files = [
      { path: 'a.exr', size: 3 },
      { path: 'sub/b.exr', size: 4 },
    ];
    await admin.result(admin.call('PUT', 'agent/measured', { client, task: measure?.task, files }));
    const tasks = await admin.result<Entity[]>(admin.find('Task', { parent: id }));
    const path = (end: unknown) => (end as { path: string }).path;
    expect(tasks.map((task) => [path(task.source), path(task.destination), task.size]).sort()).toEqual([
      ['/home/admin/shot/a.exr', 'uploads/shot-copy/a.exr', 3],
      ['/home/admin/shot/sub/b.exr', 'uploads/shot-copy/sub/b.exr', 4],
    ]);
    const bad = await admin.call('PUT', 'agent/measured', {
      client,
      task: measure?.task,
      files: [{ path: '../escape', size: 1 }],
    });
    expect(bad.status).toBe(404);
  });

  it('refuses a path that climbs out of the measured source', async () => {
    const [created] = await admin.result<Entity[]>(
      admin.create('transfer', { source: '/home/admin/c', destination: 'uploads/', status: 'paused' }),
    );
    const [measure] = await work(admin, { job: created?.id });
    const bad = await admin.call('PUT', 'agent/measured', {
      client,
      task: measure?.task,
      files: [{ path: '../escape', size: 1 }],
    });
    expect(bad.status).toBe(400);
    expect(bad.json.message).toMatch(/files\[0\]\.path must be a relative path/);
  });
});

describe('an upload to a delivery', () => {
  it("lands in the delivery's directory and becomes one of its files", async () => {
    const [delivery] = await admin.result<Entity[]>(admin.create('delivery', { name: 'Dailies' }));
    const id = delivery?.id as string;
    const [created] = await admin.result<Entity[]>(
      admin.create('transfer', { parent: id, source: '/home/admin/daily.mov', settings: { checksum: 'sha256' } }),
    );
    const job = created?.id as string;
    const [measure] = await work(admin, { job });
    const content = Buffer.from('a daily');
    await admin.result(
      admin.call('PUT', 'agent/measured', { client, task: measure?.task, files: [{ path: '', size: content.length }] }),
    );
    const [upload] = await work(admin, { job });
    const reply = await sendWhole(upload?.task, content);
    expect(reply.status).toBe(200);
    expect(readFileSync(join(volumeDir, 'deliveries', id, 'daily.mov')).equals(content)).toBe(true);
    const files = await admin.result<Entity[]>(admin.find('Task', { parent: id }));
    expect(files.map((file) => [(file.source as { path: string }).path, file.size])).toEqual([
      [expect.stringMatching(new RegExp(`^volume=[0-9a-f]{24}/deliveries/${id}/daily.mov$`)), content.length],
    ]);
  });

  it('is refused to a standard user', async () => {
    const [delivery] = await admin.result<Entity[]>(admin.create('delivery', { name: 'Refused' }));
    const standard = new RawSession(
      test.url,
      await addUser(test.server.store, test.admin.workspace, 'std@acme.test', 'standard'),
    );
    const reply = await standard.create('transfer', { parent: delivery?.id, source: '/home/std/a.mov' });
    expect(reply.status).toBeGreaterThanOrEqual(400);
  });
});

describe('a delivery downloaded by its recipient', () => {
  it("is carried to the recipient's machine by the sender's rights, once submitted", async () => {
    const content = randomBytes(5000);
    mkdirSync(join(volumeDir, 'cuts'), { recursive: true });
    writeFileSync(join(volumeDir, 'cuts/edit.mov'), content);
    const receiver = await addUser(test.server.store, test.admin.workspace, 'client@acme.test', 'standard');
    const recipient = new RawSession(test.url, receiver);
    const [delivery] = await admin.result<Entity[]>(
      admin.create('delivery', {
        name: 'Cut',
        tasks: ['cuts/edit.mov'],
        recipients: ['client@acme.test'],
        status: 'init',
      }),
    );
    const id = delivery?.id as string;
    const early = await recipient.create('transfer', { parent: id, destination: '/home/client/in/' });
    expect(early.status).toBe(400);
    expect(early.json.message).toMatch(/is not submitted yet: nothing can download it/);
    await admin.result(admin.update('delivery', id, { status: 'pending' }));
    const outsider = new RawSession(
      test.url,
      await addUser(test.server.store, test.admin.workspace, 'o@acme.test', 'standard'),
    );
    expect(
      (await outsider.create('transfer', { parent: id, destination: '/home/o/in/' })).status,
    ).toBeGreaterThanOrEqual(400);
    const [created] = await recipient.result<Entity[]>(
      recipient.create('transfer', { parent: id, destination: '/home/client/in/', settings: { checksum: 'sha256' } }),
    );
    const job = created?.id as string;
    const { client: machine } = await recipient.result<{ client: string }>(
      recipient.call('PUT', 'agent/checkin', { code: 'client-laptop' }),
    );
    let item: Work | undefined;
    const deadline = Date.now() + 10_000;
    while (!item && Date.now() < deadline) {
      [item] = (
        await recipient.result<{ tasks: Work[] }>(recipient.call('GET', 'agent/work', { client: machine, job }))
      ).tasks;
      if (!item) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(item).toMatchObject({ kind: 'download', local: '/home/client/in/', name: 'edit.mov', size: content.length });
    const session = await sessionOf(receiver);
    const served = await data('GET', `/d/${item?.task}`, { credentials: receiver, session });
    expect(served.body.equals(content)).toBe(true);
    await recipient.result(
      recipient.call('PUT', 'agent/done', {
        client: machine,
        task: item?.task,
        size: content.length,
        checksum: sha256(content),
      }),
    );
    const [done] = await recipient.result<Entity[]>(recipient.call('GET', 'transfer/find', {}, { id: job }));
    expect(done?.status).toBe('done');
  });
});

describe('a request answered by its recipient', () => {
  it("takes the files a recipient sends, into its destination, by the sender's rights", async () => {
    const vendorCredentials = await addUser(test.server.store, test.admin.workspace, 'vendor@acme.test', 'standard');
    const vendor = new RawSession(test.url, vendorCredentials);
    const [request] = await admin.result<Entity[]>(
      admin.create('request', { name: 'Plates please', recipients: ['vendor@acme.test'], destination: 'incoming/' }),
    );
    const [bare] = await admin.result<Entity[]>(
      admin.create('request', { name: 'Anything', recipients: ['vendor@acme.test'] }),
    );
    const { client: machine } = await vendor.result<{ client: string }>(
      vendor.call('PUT', 'agent/checkin', { code: 'vendor-box' }),
    );
    const session = await sessionOf(vendorCredentials);
    for (const [parent, landed] of [
      [request?.id as string, 'incoming/plate.exr'],
      [bare?.id as string, `requests/${bare?.id}/plate.exr`],
    ] as const) {
      const [created] = await vendor.result<Entity[]>(
        vendor.create('transfer', { parent, source: '/home/vendor/plate.exr', settings: { checksum: 'sha256' } }),
      );
      const job = created?.id as string;
      const claim = async () =>
        (await vendor.result<{ tasks: Work[] }>(vendor.call('GET', 'agent/work', { client: machine, job }))).tasks[0];
      const measure = await claim();
      const content = Buffer.from(`plate for ${parent}`);
      await vendor.result(
        vendor.call('PUT', 'agent/measured', {
          client: machine,
          task: measure?.task,
          files: [{ path: '', size: content.length }],
        }),
      );
      const upload = await claim();
      const reply = await sendWhole(upload?.task, content, { credentials: vendorCredentials, session });
      expect(reply.status).toBe(200);
      expect(readFileSync(join(volumeDir, landed)).equals(content)).toBe(true);
    }
  });

  it('is closed to those it does not name', async () => {
    const [request] = await admin.result<Entity[]>(
      admin.create('request', { name: 'Private', recipients: ['vendor@acme.test'] }),
    );
    // Not named, lisa does not see the request at all.
    const reply = await lisa.create('transfer', { parent: request?.id, source: '/home/lisa/x.exr' });
    expect(reply.status).toBe(404);
  });
});

describe('a download', () => {
  const content = randomBytes(200_000);
  let job: string;
  let task: Work;

  beforeAll(() => {
    mkdirSync(join(volumeDir, 'out'), { recursive: true });
    writeFileSync(join(volumeDir, 'out/plate.exr'), content);
  });

  it('is served whole or from a byte on, with the file size, time and mode', async () => {
    const [created] = await admin.result<Entity[]>(
      admin.create('transfer', {
        source: 'out/plate.exr',
        destination: '/home/admin/in/',
        settings: { checksum: 'sha256' },
      }),
    );
    job = created?.id as string;
    // The engine measures a source on the shares; then the machine may take the task.
    const deadline = Date.now() + 10_000;
    while (!task && Date.now() < deadline) {
      [task] = (await work(admin, { job })) as [Work];
      if (!task) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(task).toMatchObject({ kind: 'download', local: '/home/admin/in/', name: 'plate.exr', size: content.length });
    const part = await data('GET', `/d/${task.task}`, { headers: { Range: 'bytes=150000-' } });
    expect(part.status).toBe(206);
    expect(part.headers['content-range']).toBe(`bytes 150000-199999/${content.length}`);
    expect(part.body.equals(content.subarray(150_000))).toBe(true);
    const whole = await data('GET', `/d/${task.task}`);
    expect(whole.status).toBe(200);
    expect(whole.body.equals(content)).toBe(true);
    expect(whole.headers['x-accsyn-size']).toBe(String(content.length));
    expect(Number(whole.headers['x-accsyn-mtime'])).toBe(statSync(join(volumeDir, 'out/plate.exr')).mtimeMs);
    const outside = await data('GET', `/d/${task.task}`, { headers: { Range: 'bytes=999999-' } });
    expect(outside.status).toBe(416);
  });

  it('is refused to anyone but the client that claimed it', async () => {
    const reply = await data('GET', `/d/${task.task}`, {
      credentials: lisaCredentials,
      session: await sessionOf(lisaCredentials),
    });
    expect(reply.status).toBe(404);
    const forged = await data('GET', `/d/${task.task}`, { session: 'x'.repeat(32) });
    expect(forged.status).toBe(401);
  });

  it('is done once the machine reports the checksum of what it wrote, and not with another', async () => {
    const wrong = await admin.call('PUT', 'agent/done', {
      client,
      task: task.task,
      size: content.length,
      checksum: sha256(Buffer.from('no')),
    });
    expect(wrong.status).toBe(409);
    const [retried] = (await new Promise((resolve) => setTimeout(resolve, 600)).then(() => work(admin, { job }))) as [
      Work,
    ];
    expect(retried?.task).toBe(task.task);
    await admin.result(
      admin.call('PUT', 'agent/done', { client, task: task.task, size: content.length, checksum: sha256(content) }),
    );
    const done = await until(job, (entity) => entity.status === 'done');
    expect(done.progress).toBe(100);
  });
});

describe('a job paused while a file is carried', () => {
  it('tells the machine to stop, and puts the task back in the queue with the bytes it reported', async () => {
    writeFileSync(join(volumeDir, 'out/long.bin'), randomBytes(1000));
    const [created] = await admin.result<Entity[]>(
      admin.create('transfer', { source: 'out/long.bin', destination: '/home/admin/in/' }),
    );
    const id = created?.id as string;
    let item: Work | undefined;
    const deadline = Date.now() + 10_000;
    while (!item && Date.now() < deadline) {
      [item] = await work(admin, { job: id });
      if (!item) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const going = await admin.result<{ stop: string[] }>(
      admin.call('PUT', 'agent/progress', { client, tasks: [{ task: item?.task, bytes: 400 }] }),
    );
    expect(going.stop).toEqual([]);
    await admin.result(admin.update('transfer', id, { status: 'paused' }));
    const stopped = await admin.result<{ stop: string[] }>(
      admin.call('PUT', 'agent/progress', { client, tasks: [{ task: item?.task, bytes: 500 }] }),
    );
    expect(stopped.stop).toEqual([item?.task]);
    const [task] = await admin.result<Entity[]>(admin.find('Task', { parent: id }));
    // Let go when it was paused, with the bytes it had reported.
    expect(task).toMatchObject({ status: 'queued', bytes: 400 });
    expect((await data('GET', `/d/${item?.task}`)).status).toBe(404);
  });

  it('refuses progress that is not a list of whole numbers', async () => {
    const reply = await admin.call('PUT', 'agent/progress', { client, tasks: [{ task: 'x', bytes: -1 }] });
    expect(reply.status).toBe(400);
    expect(reply.json.message).toMatch(/tasks\[0\]\.bytes must be a whole number/);
  });
});

describe('an agent that stops', () => {
  it('is offline, and what it held goes back to the queue', async () => {
    await admin.result(admin.call('PUT', 'agent/offline', { client }));
    const [app] = await admin.result<Entity[]>(admin.call('GET', 'client/find', {}, { id: client }));
    expect(app?.status).toBe('offline');
    // Its files wait for it: a transfer from the machine is still taken.
    const waiting = await admin.create('transfer', { source: '/home/admin/x', destination: 'in/' });
    expect(waiting.status).toBe(200);
  });
});
