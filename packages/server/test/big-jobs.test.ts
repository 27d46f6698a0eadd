import { gunzipSync } from 'node:zlib';
import { encodeGzData, encodeJson } from 'accsyn-protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { insertMany, rowsIn } from '../src/store/batches.js';
import { sql } from '../src/store/sql.js';
import type { Store } from '../src/store/store.js';
import { envelope, event, login } from './support/raw.js';
import { startTestServer, type TestServer } from './support/server.js';
import { RawSession } from './support/session.js';

/**
 * Jobs of many tasks: an image sequence is thousands of frames, and one call creates, edits or adds them all. One
 * statement binds at most 32,766 values on SQLite and 65,535 on PostgreSQL, 3,276 and 6,553 tasks' worth of an
 * INSERT: 20,000 tasks are beyond both, and the lists of the last test beyond both for one `IN (...)`.
 */

const TASKS = 20_000;

type Entity = Record<string, unknown>;

let test: TestServer;
let admin: RawSession;

beforeAll(async () => {
  test = await startTestServer({}, ['--transfers', 'off']);
  admin = new RawSession(test.url, test.admin);
});
afterAll(() => test.stop());

const frame = (i: number) => `sh010.${String(i).padStart(6, '0')}.exr`;

/** The tasks of a sequence's frames from `first` on, each with its source and destination. */
function frames(count: number, first = 0) {
  return Array.from({ length: count }, (_, i) => ({
    source: `renders/sh010/${frame(first + i)}`,
    destination: `${test.admin.user}:/in/sh010/${frame(first + i)}`,
  }));
}

/**
 * Sends a big payload as the official client does, as `gz_data` (reference §1.8); answers the status and the
 * result or message.
 */
async function call(method: 'POST' | 'PUT', uri: string, data: unknown, id?: string) {
  const session = ((await login(test.url, test.admin)).json.result as { session_id: string }).session_id;
  const plain = JSON.parse(envelope(test.admin, session, uri, null, id ? { id } : {})) as Record<string, unknown>;
  delete plain.data;
  const gz_data = encodeGzData(encodeJson(data));
  expect(gunzipSync(Buffer.from(gz_data, 'base64')).length).toBeGreaterThan(100 * 1024);
  const reply = await event(test.url, test.admin, method, encodeJson({ ...plain, gz_data }));
  return { status: reply.status, result: reply.json.result as Entity[], message: reply.json.message };
}

/** Every task of a job, found page by page, by default as accsyn-api's `findAll` does (500 to a page). */
async function tasksOf(job: string, size = 500): Promise<Entity[]> {
  const all: Entity[] = [];
  for (let skip = 0; ; skip += size) {
    const page = await admin.result<Entity[]>(admin.find('Task', { parent: job, limit: size, skip }));
    all.push(...page);
    if (page.length < size) return all;
  }
}

describe(`a job of ${TASKS.toLocaleString('en')} tasks`, () => {
  let job: string;

  it('is created by one transfer/create, and its tasks are found page by page, none twice, none missed', async () => {
    const created = await call('POST', 'transfer/create', { name: 'sh010', tasks: frames(TASKS) });
    expect(created.status).toBe(200);
    expect(created.result).toMatchObject([{ name: 'sh010', status: 'waiting' }]);
    job = created.result[0]?.id as string;

    const tasks = await tasksOf(job);
    expect(tasks).toHaveLength(TASKS);
    expect(new Set(tasks.map((task) => task.uri)).size).toBe(TASKS);
    const byUri = new Map(tasks.map((task) => [task.uri, task]));
    expect(byUri.get('0')).toMatchObject({ status: 'queued', source: { path: `renders/sh010/${frame(0)}` } });
    expect(byUri.get(String(TASKS - 1))).toMatchObject({
      destination: { path: `/in/sh010/${frame(TASKS - 1)}` },
    });
  });

  it('is edited by one task/edit naming every task, answered in the order of the edits', async () => {
    const edits = Array.from({ length: TASKS }, (_, i) => ({ uri: String(TASKS - 1 - i), status: 'onhold' }));
    // The same task twice: the last change wins, as if the edits ran one after the other.
    edits.push({ uri: '0', status: 'queued' }, { uri: '0', status: 'onhold' });
    const edited = await call('PUT', 'task/edit', edits, job);
    expect(edited.status).toBe(200);
    expect(edited.result).toHaveLength(TASKS);
    expect(edited.result.map((task) => task.uri)).toEqual(edits.slice(0, TASKS).map((edit) => edit.uri));
    expect(edited.result.every((task) => task.status === 'onhold')).toBe(true);
    const stored = await tasksOf(job, 10_000);
    expect(stored.filter((task) => task.status === 'onhold')).toHaveLength(TASKS);
  });

  it('takes as many tasks again by task/create, retrying those it has and adding the others', async () => {
    const half = TASKS / 2;
    // The second half of the sequence again, and as many frames after it.
    const added = await call('POST', 'task/create', { tasks: frames(TASKS, half) }, job);
    expect(added.status).toBe(200);
    expect(added.result).toHaveLength(TASKS);
    expect(added.result.every((task) => task.status === 'queued')).toBe(true);
    const uris = added.result.map((task) => Number(task.uri)).sort((a, b) => a - b);
    expect(uris[0]).toBe(half);
    expect(uris.at(-1)).toBe(TASKS + half - 1);
    const tasks = await tasksOf(job, 10_000);
    expect(tasks).toHaveLength(TASKS + half);
    expect(tasks.filter((task) => task.status === 'onhold')).toHaveLength(half);
  });
});

describe('lists beyond what one statement binds', () => {
  const COUNT = 70_000;
  let store: Store;
  beforeAll(async () => {
    store = test.server.store;
    await store.execute(sql`CREATE TABLE frames (id TEXT PRIMARY KEY, n INTEGER NOT NULL)`);
  });

  it(`inserts ${COUNT.toLocaleString('en')} rows and reads them back by an IN list of their ids`, async () => {
    const ids = Array.from({ length: COUNT }, (_, i) => `frame-${i}`);
    const rows = ids.map((id, i) => [id, i]);
    await store.db.transaction().execute((trx) => insertMany(store.within(trx), 'frames', ['id', 'n'], rows));
    const found = await rowsIn<{ n: number }>(store, ids, (list) => sql`SELECT n FROM frames WHERE id IN (${list})`);
    expect(found).toHaveLength(COUNT);
    expect(found.reduce((sum, row) => sum + Number(row.n), 0)).toBe((COUNT * (COUNT - 1)) / 2);
    expect(await rowsIn(store, [], (list) => sql`SELECT n FROM frames WHERE id IN (${list})`)).toEqual([]);
  });

  it('writes none of the rows when the last batch fails, in one transaction', async () => {
    const rows = Array.from({ length: COUNT }, (_, i) => [`again-${i}`, i]);
    rows.push(['again-0', -1]);
    const failed = store.db.transaction().execute((trx) => insertMany(store.within(trx), 'frames', ['id', 'n'], rows));
    await expect(failed).rejects.toThrow(/unique|UNIQUE/);
    expect(await store.rows(sql`SELECT id FROM frames WHERE id LIKE 'again-%'`)).toEqual([]);
  });
});
