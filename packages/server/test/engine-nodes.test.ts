import { createHash, randomBytes, randomFillSync } from 'node:crypto';
import {
  createReadStream,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../src/store/open.js';
import { sql } from '../src/store/sql.js';
import type { Store } from '../src/store/store.js';
import { onPostgres, postgresReachable, type TestDatabase, testDatabase } from './support/database.js';
import { adminOf, type ServerProcess, startServerProcess } from './support/process.js';
import type { Credentials } from './support/raw.js';
import { RawSession } from './support/session.js';
import { sleep } from './support/wait.js';

/**
 * The transfer engine in real server processes (`dist/main.js`; run `tsc -b` first), facing what a deployment faces:
 * `kill -9` in the middle of a file, after which the restarted server resumes the file from its part file; two nodes
 * on one PostgreSQL, where each job is run by one node at a time and the survivor of a `kill -9` takes the dead
 * node's job over once its lease ran out, copying no finished file again; and an abort that stops a running job.
 *
 * The nodes run with a short lease (`--transfer-lease`), so that a takeover takes seconds, not the default 15.
 */

type Entity = Record<string, unknown>;

const BOOTSTRAP = { ACCSYN_BOOTSTRAP_WORKSPACE: 'acme', ACCSYN_BOOTSTRAP_ADMIN: 'admin@acme.test' };
/** The engine's `resumed` lines are at info, which node took a job at debug. */
const LOG = { ACCSYN_LOG_LEVEL: 'debug' };
const LEASE_SECONDS = 3;
const MiB = 1024 * 1024;

const running: ServerProcess[] = [];
const folders: string[] = [];
const databases: TestDatabase[] = [];
const stores: Store[] = [];

afterAll(async () => {
  for (const server of running) server.child.kill('SIGKILL');
  await Promise.all(running.map((server) => server.exited));
  await Promise.all(stores.map((store) => store.close()));
  for (const database of databases) await database.drop();
  for (const folder of folders) rmSync(folder, { recursive: true, force: true });
});

/** The two-node tests need PostgreSQL on any project; they run once, in the SQLite one, on a schema of their own. */
const postgres = await postgresReachable('the two-node transfer engine tests');

function tempDir(): string {
  const folder = mkdtempSync(join(tmpdir(), 'accsyn-engine-test-'));
  folders.push(folder);
  return folder;
}

async function database(postgres = onPostgres): Promise<TestDatabase> {
  const made = await testDatabase(postgres);
  databases.push(made);
  return made;
}

/** A node with its engine on and a short lease. */
async function startNode(dataDir: string, db: TestDatabase): Promise<ServerProcess> {
  const args = ['--port', '0', '--data-dir', dataDir, ...db.flags, '--transfers', 'on'];
  const node = await startServerProcess([...args, '--transfer-lease', String(LEASE_SECONDS)], { ...BOOTSTRAP, ...LOG });
  running.push(node);
  return node;
}

async function kill(node: ServerProcess): Promise<void> {
  node.child.kill('SIGKILL');
  expect(await node.exited).toBe('SIGKILL');
}

/** The JSON lines a node logged with `message`. */
function logged(node: ServerProcess, message: string): Entity[] {
  const lines = node.output().split('\n');
  return lines.flatMap((line) => {
    if (!line.startsWith('{')) return [];
    try {
      const entry = JSON.parse(line) as Entity;
      return entry.msg === message ? [entry] : [];
    } catch {
      return []; // the line being written when the output was read
    }
  });
}

const RESUMED = 'transfer task resumed from its part file';
const TOOK = 'transfer engine: took a job';

/** The job through the API, once its status is one of `statuses`. */
async function until(admin: RawSession, id: string, statuses: readonly string[], seconds = 30): Promise<Entity> {
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    const [job] = await admin.result<Entity[]>(admin.call('GET', 'transfer/find', {}, { id }));
    if (job && statuses.includes(job.status as string)) return job;
    if (Date.now() > deadline) throw new Error(`job ${id} is ${job?.status}, not ${statuses.join(' or ')}`);
    await sleep(100);
  }
}

const tasksOf = (admin: RawSession, id: string) => admin.result<Entity[]>(admin.find('Task', { parent: id }));

async function volume(admin: RawSession, name: string): Promise<string> {
  const path = tempDir();
  await admin.result(admin.create('volume', { name, path }));
  return path;
}

/** Random bytes written a chunk at a time: every chunk differs, so a byte copied to the wrong offset shows. */
function writeRandom(path: string, size: number): void {
  mkdirSync(join(path, '..'), { recursive: true });
  const chunk = Buffer.alloc(8 * MiB);
  writeFileSync(path, '');
  for (let at = 0; at < size; at += chunk.length) {
    const part = chunk.subarray(0, Math.min(chunk.length, size - at));
    randomFillSync(part);
    writeFileSync(path, part, { flag: 'a' });
  }
}

function sha256(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    createReadStream(path)
      .on('data', (data) => hash.update(data))
      .on('end', () => resolve(hash.digest('hex')))
      .on('error', reject);
  });
}

/** Every file beneath `root`, by its path under it. */
function tree(root: string): Map<string, { size: number; ino: number }> {
  const files = new Map<string, { size: number; ino: number }>();
  for (const entry of readdirSync(root, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    const stats = statSync(path);
    files.set(relative(root, path), { size: stats.size, ino: stats.ino });
  }
  return files;
}

/** The files of a directory (none when it is not there yet), with their sizes. */
function* filesIn(directory: string): Generator<[string, number]> {
  const entries = (() => {
    try {
      return readdirSync(directory);
    } catch {
      return [];
    }
  })();
  for (const name of entries.sort()) {
    const stats = statSync(join(directory, name), { throwIfNoEntry: false });
    if (stats?.isFile()) yield [name, stats.size];
  }
}

const isPart = (path: string) => /(^|\/)\.[^/]+\.[0-9a-f]{12}\.accsyn-part$/.test(path);

describe('kill -9 in the middle of a file', () => {
  it('leaves only the part file, and the restarted server resumes it to a byte-identical file', async () => {
    const dataDir = tempDir();
    const db = await database();
    const first = await startNode(dataDir, db);
    const admin = new RawSession(first.url, adminOf(dataDir));
    const [share] = await admin.result<Entity[]>(admin.find('Volume WHERE default=True'));
    const archive = await volume(admin, 'Archive');
    const size = 300 * MiB;
    const source = join(share?.path as string, 'plates', 'big.bin');
    writeRandom(source, size);
    const expected = await sha256(source);

    const [job] = await admin.result<Entity[]>(
      admin.create('transfer', {
        source: 'plates/big.bin',
        destination: 'volume=archive/in/',
        settings: { checksum: 'sha256' },
      }),
    );
    const id = job?.id as string;
    // The moment the part file holds a few MiB, and well before it is whole, the server is killed.
    const landing = join(archive, 'in');
    for (const deadline = Date.now() + 30_000; ; await sleep(2)) {
      const files = [...filesIn(landing)];
      expect(files.map(([name]) => name)).not.toContain('big.bin');
      const part = files.find(([name]) => isPart(name));
      if (part && part[1] >= 16 * MiB) break;
      if (Date.now() > deadline) throw new Error(`no part file with bytes appeared: ${files.join(', ')}`);
    }
    await kill(first);

    // Nothing looks whole: the part file alone, its size below the source's.
    const left = [...filesIn(landing)];
    expect(left).toHaveLength(1);
    const [partName, kept] = left[0] as [string, number];
    expect(isPart(partName)).toBe(true);
    expect(kept).toBeGreaterThan(0);
    expect(kept).toBeLessThan(size);

    // A new process is a new node: it takes the job once the dead one's lease ran out.
    const second = await startNode(dataDir, db);
    const again = new RawSession(second.url, adminOf(dataDir));
    const done = await until(again, id, ['done', 'failed']);
    expect(done).toMatchObject({ status: 'done', size, bytes: size, progress: 100 });
    expect([...filesIn(landing)]).toEqual([['big.bin', size]]);
    expect(await sha256(join(landing, 'big.bin'))).toBe(expected);
    const [task] = await tasksOf(again, id);
    expect(task).toMatchObject({ status: 'done', checksum: `sha256:${expected}` });
    // Resumed, not started over: the bytes the dead server had written were kept, every one of them.
    expect(logged(second, RESUMED)).toEqual([expect.objectContaining({ job: id, resumed: kept, size })]);
  });
});

describe.skipIf(!postgres || onPostgres)('two nodes on one PostgreSQL', () => {
  let db: TestDatabase;
  let nodes: ServerProcess[];
  let credentials: Credentials;
  let store: Store;
  let sources: string;
  let targets: string;

  beforeAll(async () => {
    db = await database(true);
    // The first node bootstraps the workspace, the second finds it; their volumes are the same directories.
    const dataDir = tempDir();
    nodes = [await startNode(dataDir, db), await startNode(tempDir(), db)];
    credentials = adminOf(dataDir);
    const admin = sessionOn(nodes[0] as ServerProcess);
    sources = await volume(admin, 'Sources');
    targets = await volume(admin, 'Targets');
    store = await openStore(db.url as string);
    stores.push(store);
  });

  const sessionOn = (node: ServerProcess) => new RawSession(node.url, credentials);
  const alive = () => nodes.filter((node) => node.child.exitCode === null && node.child.signalCode === null);

  /** The pid in an engine's node name, `<host>:<pid>:<random>`. */
  const pidOf = (name: string) => Number(/:(\d+):[0-9a-f]+$/.exec(name)?.[1]);

  /** Each job's node as the database says now (null when none holds it), and its status. */
  const claims = (ids: readonly string[]) =>
    store.rows<{ id: string; node: string | null; status: string }>(sql`SELECT id, node, status FROM jobs
      WHERE id IN (${sql.join(ids)})`);

  const doneTasks = async (id: string) =>
    (await store.rows<{ id: string }>(sql`SELECT id FROM tasks WHERE job = ${id} AND status = 'done'`)).length;

  it('lets the survivor of a kill -9 take the job over within the lease, copying no finished file again', async () => {
    const files = Array.from({ length: 160 }, (_, i) => `batch/d${i % 4}/f${String(i).padStart(3, '0')}.bin`);
    for (const [i, file] of files.entries()) writeRandom(join(sources, file), MiB / 2 + (i % 7) * 256 * 1024);
    const session = sessionOn(nodes[1] as ServerProcess);
    const [job] = await session.result<Entity[]>(
      session.create('transfer', { source: 'volume=sources/batch', destination: 'volume=targets/batch' }),
    );
    const id = job?.id as string;

    // One node holds the job; the test watches the claim until that node has finished about a quarter of it.
    const before = new Set<string>();
    for (const deadline = Date.now() + 30_000; ; await sleep(10)) {
      const [claim] = await claims([id]);
      if (claim?.node) before.add(claim.node);
      if (claim?.node && (await doneTasks(id)) >= files.length / 4) break;
      if (Date.now() > deadline) throw new Error(`job ${id} did not get a quarter done`);
    }
    expect(before.size).toBe(1);
    const holder = [...before][0] as string;
    const dead = nodes.find((node) => node.child.pid === pidOf(holder)) as ServerProcess;
    const survivor = nodes.find((node) => node !== dead) as ServerProcess;
    await kill(dead);
    const killedAt = Date.now();

    // What the dead node left: the tasks it recorded done, the files it renamed into place, its part files.
    const finished = await doneTasks(id);
    expect(finished).toBeLessThan(files.length);
    const left = [...tree(targets)];
    const whole = left.filter(([path]) => !isPart(path));
    const parts = left.filter(([path]) => isPart(path));
    expect(whole.length).toBeGreaterThanOrEqual(finished);

    // The dead node's claim stays until its lease runs out; then the survivor holds the job, and it alone.
    const after: string[] = [];
    let takenAfter: number | undefined;
    for (const deadline = Date.now() + 30_000; ; await sleep(10)) {
      const [claim] = await claims([id]);
      if (claim?.node && claim.node !== after.at(-1)) after.push(claim.node);
      if (claim?.node && pidOf(claim.node) === survivor.child.pid) takenAfter ??= Date.now() - killedAt;
      if (claim?.status === 'done' || claim?.status === 'failed') break;
      if (Date.now() > deadline) throw new Error(`job ${id} is ${claim?.status} 30 s after the kill`);
    }
    expect(after.map(pidOf)).toEqual([dead.child.pid, survivor.child.pid]);
    expect(takenAfter).toBeLessThanOrEqual(LEASE_SECONDS * 1000 + 1000);
    expect((await until(sessionOn(survivor), id, ['done', 'failed'])).status).toBe('done');
    expect(logged(dead, TOOK).filter((entry) => entry.job === id)).toHaveLength(1);
    expect(logged(survivor, TOOK).filter((entry) => entry.job === id)).toHaveLength(1);

    // No file that was whole at the kill was written again: each is the same inode, the one renamed into place.
    const landed = tree(targets);
    for (const [path, { ino }] of whole) expect(landed.get(path)?.ino, path).toBe(ino);
    // The files the dead node was copying were resumed from the bytes it had written.
    const resumed = logged(survivor, RESUMED).filter((entry) => entry.job === id);
    const sorted = (sizes: number[]) => sizes.sort((a, b) => a - b);
    expect(sorted(resumed.map((entry) => entry.resumed as number))).toEqual(
      sorted(parts.map(([, { size }]) => size).filter((size) => size > 0)),
    );
    // And the tree is the source's, byte for byte, with no part file left.
    expect([...landed.keys()].sort()).toEqual([...files].sort());
    for (const file of files) {
      expect(readFileSync(join(targets, file)).equals(readFileSync(join(sources, file))), file).toBe(true);
    }
  });

  it('spreads jobs created at once over both nodes, and runs each on one node only', async () => {
    // The node killed above is replaced, so that two run again.
    if (alive().length < 2) nodes.push(await startNode(tempDir(), db));
    const live = alive();
    expect(live).toHaveLength(2);
    const admin = sessionOn(live[0] as ServerProcess);
    for (const name of ['transfer_concurrency', 'queue_concurrency']) {
      await admin.result(admin.call('PUT', 'setting', { entitytype: 'workspace', name, value: '8' }));
    }
    const jobs = 6;
    const files = 24;
    for (let j = 0; j < jobs; j++) {
      for (let i = 0; i < files; i++) writeRandom(join(sources, `jobs/j${j}/f${i}.bin`), 256 * 1024);
    }
    // Created through both nodes, as a load balancer would send the calls.
    const sessions = live.map(sessionOn);
    // Each session logs in first, so that the creates go out together.
    for (const session of sessions) await session.result(session.find('User'));
    const ids = await Promise.all(
      Array.from({ length: jobs }, async (_, j) => {
        const session = sessions[j % 2] as RawSession;
        const [job] = await session.result<Entity[]>(
          session.create('transfer', { source: `volume=sources/jobs/j${j}`, destination: `volume=targets/jobs/j${j}` }),
        );
        return job?.id as string;
      }),
    );

    // The claims as the database shows them while the jobs run: never a second node on a job.
    const holders = new Map(ids.map((id) => [id, new Set<string>()]));
    for (const deadline = Date.now() + 30_000; ; await sleep(10)) {
      const rows = await claims(ids);
      for (const row of rows) if (row.node) holders.get(row.id)?.add(row.node);
      if (rows.every((row) => row.status === 'done' || row.status === 'failed')) break;
      if (Date.now() > deadline) throw new Error(`jobs not done: ${JSON.stringify(rows)}`);
    }
    // And as the nodes logged them: each job taken once, by the node seen holding it; both nodes took some.
    const takers = new Map<string, number[]>(ids.map((id) => [id, []]));
    for (const node of live) {
      for (const entry of logged(node, TOOK)) takers.get(entry.job as string)?.push(node.child.pid as number);
    }
    for (const id of ids) {
      expect((await until(admin, id, ['done', 'failed'])).status).toBe('done');
      const took = takers.get(id) as number[];
      expect(took, `the nodes that took job ${id}`).toHaveLength(1);
      for (const name of holders.get(id) ?? []) expect(pidOf(name), `the node that held job ${id}`).toBe(took[0]);
    }
    expect(new Set([...takers.values()].flat())).toEqual(new Set(live.map((node) => node.child.pid)));
    for (let j = 0; j < jobs; j++) {
      for (let i = 0; i < files; i++) {
        const file = `jobs/j${j}/f${i}.bin`;
        expect(readFileSync(join(targets, file)).equals(readFileSync(join(sources, file))), file).toBe(true);
      }
    }
  });
});

describe('abort', () => {
  it('stops a running job within a second, and copies no further task', async () => {
    const dataDir = tempDir();
    const node = await startNode(dataDir, await database());
    const admin = new RawSession(node.url, adminOf(dataDir));
    const sources = await volume(admin, 'Sources');
    const targets = await volume(admin, 'Targets');
    for (let i = 0; i < 600; i++)
      writeFileSync(join(sources, `f${String(i).padStart(3, '0')}.bin`), randomBytes(128 * 1024));
    const [job] = await admin.result<Entity[]>(
      admin.create('transfer', { source: 'volume=sources/', destination: 'volume=targets/out' }),
    );
    const id = job?.id as string;
    const out = join(targets, 'out');
    for (const deadline = Date.now() + 30_000; [...filesIn(out)].length < 20; await sleep(5)) {
      if (Date.now() > deadline) throw new Error('the job did not start copying');
    }

    const [aborted] = await admin.result<Entity[]>(admin.update('transfer', id, { status: 'aborted' }));
    expect(aborted?.status).toBe('aborted');
    const abortedAt = Date.now();
    // Stopped: no task executing any more (each copy stopped puts its task back in the queue).
    let stoppedAfter = Number.POSITIVE_INFINITY;
    for (const deadline = abortedAt + 5000; Date.now() < deadline; await sleep(20)) {
      const tasks = await tasksOf(admin, id);
      if (tasks.every((task) => task.status !== 'executing')) {
        stoppedAfter = Date.now() - abortedAt;
        break;
      }
    }
    expect(stoppedAfter).toBeLessThanOrEqual(1000);

    const statuses = async () => (await tasksOf(admin, id)).map((task) => `${task.uri}:${task.status}`).sort();
    const before = { files: [...filesIn(out)], tasks: await statuses() };
    await sleep(2000);
    expect([...filesIn(out)]).toEqual(before.files);
    expect(await statuses()).toEqual(before.tasks);
    expect(before.tasks.filter((task) => task.endsWith(':done')).length).toBeLessThan(600);
    expect((await until(admin, id, ['aborted'])).status).toBe('aborted');
  });
});
