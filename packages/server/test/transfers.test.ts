import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checksumOf } from '../src/transfers/copy.js';
import { startTestServer, type TestServer } from './support/server.js';
import { addUser, RawSession } from './support/session.js';

/**
 * The transfer engine, volume to volume on one server: lifecycle, progress, correctness of what lands, faults, and
 * the steps of the official test_transfer.py that need no desktop app (reference §3.3, §3.4, §4).
 */

type Entity = Record<string, unknown>;

let test: TestServer;
let admin: RawSession;
let volumeDir: string;
let otherDir: string;

beforeAll(async () => {
  test = await startTestServer({}, ['--transfers', 'on']);
  admin = new RawSession(test.url, test.admin);
  const [volume] = await admin.result<{ path: string }[]>(admin.find('Volume WHERE default=True'));
  volumeDir = volume?.path as string;
  otherDir = mkdtempSync(join(tmpdir(), 'accsyn-volume-'));
  await admin.result(admin.create('volume', { name: 'Archive', path: otherDir }));
});

afterAll(async () => {
  await test?.stop();
});

/** The job, read as the official wait_transfer_done reads it: until it is done, failing on failed or aborted. */
async function until(id: string, statuses: readonly string[], seconds = 20): Promise<Entity> {
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    const [job] = await admin.result<Entity[]>(admin.call('GET', 'transfer/find', {}, { id }));
    if (job && statuses.includes(job.status as string)) return job;
    if (Date.now() > deadline) throw new Error(`job ${id} is ${job?.status}, not ${statuses.join(' or ')}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

const tasksOf = (id: string) => admin.result<Entity[]>(admin.find('Task', { parent: id }));

function put(path: string, content: Buffer | string): void {
  mkdirSync(join(volumeDir, path, '..'), { recursive: true });
  writeFileSync(join(volumeDir, path), content);
}

describe('a transfer between volumes', () => {
  it('copies a file whole, with its checksum, size, mode and time, and reports its progress', async () => {
    const content = randomBytes(3 * 1024 * 1024);
    put('plates/a.bin', content);
    utimesSync(join(volumeDir, 'plates/a.bin'), new Date('2024-01-02T03:04:05Z'), new Date('2024-01-02T03:04:05Z'));
    const [job] = await admin.result<Entity[]>(
      admin.create('transfer', { source: 'plates/a.bin', destination: 'volume=archive/in/' }),
    );
    const done = await until(job?.id as string, ['done', 'failed']);
    expect(done).toMatchObject({ status: 'done', progress: 100, size: content.length, bytes: content.length });
    expect(done.started).toEqual(expect.stringMatching(/^\d{4}-/));
    expect(done.finished).toEqual(expect.stringMatching(/^\d{4}-/));
    const landed = join(otherDir, 'in', 'a.bin');
    expect(readFileSync(landed).equals(content)).toBe(true);
    expect(statSync(landed).mtime.toISOString()).toBe('2024-01-02T03:04:05.000Z');
    const [task] = await tasksOf(job?.id as string);
    expect(task).toMatchObject({ status: 'done', size: content.length, bytes: content.length, progress: 100 });
    expect(task?.checksum).toBe(await checksumOf(landed, 'xxhash64'));
  });

  it('makes one task per file of a directory, empty files and names of any script included', async () => {
    put('shot/one.exr', 'one');
    put('shot/sub/två.exr', '');
    put('shot/sub/日本.exr', 'nihon');
    const [job] = await admin.result<Entity[]>(
      admin.create('transfer', { source: 'shot', destination: 'volume=archive/copy' }),
    );
    const done = await until(job?.id as string, ['done', 'failed']);
    expect(done).toMatchObject({ status: 'done', size: 8 });
    const tasks = await tasksOf(job?.id as string);
    expect(tasks.map((task) => (task.source as { path: string }).path).sort()).toEqual([
      'shot/one.exr',
      'shot/sub/två.exr',
      'shot/sub/日本.exr',
    ]);
    expect(readFileSync(join(otherDir, 'copy', 'sub', '日本.exr'), 'utf8')).toBe('nihon');
    expect(statSync(join(otherDir, 'copy', 'sub', 'två.exr')).size).toBe(0);
  });

  it('keeps, replaces or renames beside a file that exists, as the overwrite setting says', async () => {
    put('ow/a.txt', 'new');
    writeFileSync(join(otherDir, 'a.txt'), 'old');
    const run = async (overwrite: string) => {
      const [job] = await admin.result<Entity[]>(
        admin.create('transfer', { source: 'ow/a.txt', destination: 'volume=archive/', settings: { overwrite } }),
      );
      return until(job?.id as string, ['done', 'failed']);
    };
    await run('rename');
    expect(readFileSync(join(otherDir, 'a.txt'), 'utf8')).toBe('old');
    expect(readFileSync(join(otherDir, 'a (1).txt'), 'utf8')).toBe('new');
    await run('overwrite');
    expect(readFileSync(join(otherDir, 'a.txt'), 'utf8')).toBe('new');
  });

  it('keeps every file it copied when the same files are sent again, whatever the fraction of their times', async () => {
    // Written now, the sources' times have sub-millisecond parts, which a copy's time does not keep exactly.
    for (let i = 0; i < 40; i++) put(`again/f${i}.bin`, randomBytes(1000));
    const send = async () => {
      const [job] = await admin.result<Entity[]>(
        admin.create('transfer', { source: 'again', destination: 'volume=archive/again' }),
      );
      return until(job?.id as string, ['done', 'failed']);
    };
    const landed = () =>
      readdirSync(join(otherDir, 'again'))
        .sort()
        .map((name) => [name, statSync(join(otherDir, 'again', name)).ino]);
    expect((await send()).status).toBe('done');
    const first = landed();
    expect(first).toHaveLength(40);
    expect((await send()).status).toBe('done');
    // The same inodes: skip_identical kept each file rather than writing it again and renaming it into place.
    expect(landed()).toEqual(first);
  });
});

describe('test_transfer.py, the steps without a desktop app', () => {
  let id: string;

  it('3: a transfer created paused is measured and stays paused', async () => {
    put('tt/file.jpg', randomBytes(200_000));
    const [job] = await admin.result<Entity[]>(
      admin.create('transfer', {
        source: 'tt/file.jpg',
        destination: 'volume=archive/tt/file.jpg',
        name: 'test_transfer',
        status: 'paused',
      }),
    );
    id = job?.id as string;
    const deadline = Date.now() + 10_000;
    let found: Entity | undefined;
    while (Date.now() < deadline) {
      [found] = await admin.result<Entity[]>(admin.find(`Transfer WHERE id=${id}`, { single_entity_query: true }));
      if ((found?.size as number) > 0) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(found).toMatchObject({ size: 200_000, status: 'paused' });
  });

  it('4: resumed, it answers waiting and reaches done', async () => {
    const [resumed] = await admin.result<Entity[]>(admin.update('transfer', id, { status: 'waiting' }));
    expect(resumed?.status).toBe('waiting');
    await until(id, ['done']);
    expect(statSync(join(otherDir, 'tt', 'file.jpg')).size).toBe(200_000);
  });

  it('5: appending to the latest transfer, without a name, answers the same job, revived', async () => {
    put('tt/file2.jpg', 'second');
    const [appended] = await admin.result<Entity[]>(
      admin.create('job', {
        source: 'tt/file2.jpg',
        destination: 'volume=archive/tt/file2.jpg',
        append: true,
      }),
    );
    expect(appended?.id).toBe(id);
    expect(appended?.status).not.toBe('done');
    await until(id, ['done']);
  });

  it('6: a task whose source does not exist fails the job within 10 s, naming the path', async () => {
    const task = await admin.result<Entity[]>(
      admin.create('task', { tasks: { source: 'tt/missing.jpg', destination: 'volume=archive/tt/missing.jpg' } }, id),
    );
    expect(task).toHaveLength(1);
    const failed = await until(id, ['failed'], 10);
    expect(failed.message).toMatch(/tt\/missing\.jpg/);
    const tasks = await tasksOf(id);
    expect(tasks).toHaveLength(3);
    expect(tasks.find((one) => one.uri === '2')).toMatchObject({
      status: 'failed',
      message: 'The source "tt/missing.jpg" does not exist.',
    });
  });

  it('7: putting the failed task on hold pauses the job within 10 s', async () => {
    const edited = await admin.result<Entity[]>(
      admin.call('PUT', 'task/edit', [{ uri: '2', status: 'onhold' }], { id }),
    );
    expect(edited).toMatchObject([{ uri: '2', status: 'onhold' }]);
    await until(id, ['paused'], 10);
  });
});

describe('control while running', () => {
  it('pauses within a second, and resumes from where it stopped', async () => {
    // Many small files keep a job running long enough to be paused in the middle.
    for (let i = 0; i < 400; i++) put(`many/f${String(i).padStart(4, '0')}.bin`, randomBytes(64 * 1024));
    const [job] = await admin.result<Entity[]>(
      admin.create('transfer', {
        source: 'many',
        destination: 'volume=archive/many',
        settings: { verify_checksums: 'true' },
      }),
    );
    const jobId = job?.id as string;
    await until(jobId, ['running', 'done']);
    await admin.result(admin.update('transfer', jobId, { status: 'paused' }));
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const executing = (await tasksOf(jobId)).filter((task) => task.status === 'executing');
    expect(executing).toEqual([]);
    await admin.result(admin.update('transfer', jobId, { status: 'waiting' }));
    const done = await until(jobId, ['done', 'failed'], 60);
    expect(done.status).toBe('done');
    const tasks = await tasksOf(jobId);
    expect(tasks.every((task) => task.status === 'done')).toBe(true);
    expect(tasks).toHaveLength(400);
  });
});

describe('faults', () => {
  it('retries a failing task, then fails it with a message while the rest of the job goes on', async () => {
    put('faults/good.txt', 'good');
    put('faults/bad.txt', 'bad');
    // A file where the destination needs a directory: every attempt fails.
    writeFileSync(join(otherDir, 'blocked'), 'a file, not a directory');
    const [job] = await admin.result<Entity[]>(
      admin.create('transfer', {
        tasks: [
          { source: 'faults/good.txt', destination: 'volume=archive/faults/good.txt' },
          { source: 'faults/bad.txt', destination: 'volume=archive/blocked/bad.txt' },
        ],
        settings: { task_retries: '1' },
      }),
    );
    const failed = await until(job?.id as string, ['failed', 'done'], 20);
    expect(failed.status).toBe('failed');
    const tasks = await tasksOf(job?.id as string);
    expect(tasks.find((task) => task.uri === '0')).toMatchObject({ status: 'done' });
    expect(tasks.find((task) => task.uri === '1')).toMatchObject({ status: 'failed', attempts: 2 });
    expect(String(tasks.find((task) => task.uri === '1')?.message)).not.toContain(otherDir);
    expect(readFileSync(join(otherDir, 'faults', 'good.txt'), 'utf8')).toBe('good');
  });

  it('checks the rights of the job user again when it runs', async () => {
    const lisa = new RawSession(
      test.url,
      await addUser(test.server.store, test.admin.workspace, 'lisa@example.com', 'standard'),
    );
    put('granted/x.txt', 'x');
    await admin.result(
      admin.create('acl', {
        entity: 'user:lisa@example.com',
        target: 'share:default',
        path: 'granted',
        read: true,
        write: true,
      }),
    );
    const [job] = await lisa.result<Entity[]>(
      lisa.create('transfer', { source: 'granted/x.txt', destination: 'granted/y.txt', status: 'paused' }),
    );
    const [user] = await admin.result<Entity[]>(admin.find('User WHERE code=lisa@example.com'));
    const [acl] = await admin.result<Entity[]>(
      admin.call('GET', 'acl/find', {}, { query: `acl WHERE entity=user:${user?.id}` }),
    );
    await admin.result(admin.call('DELETE', 'acl/delete', {}, { id: acl?.id as string }));
    await admin.result(admin.update('transfer', job?.id as string, { status: 'waiting' }));
    const failed = await until(job?.id as string, ['failed', 'done']);
    expect(failed.status).toBe('failed');
    expect(failed.message).toMatch(/may no longer read "granted\/x.txt"/);
  });
});
