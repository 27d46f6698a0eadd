import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from './support/server.js';
import { addUser, RawSession } from './support/session.js';

/**
 * `<type>/metrics` and `<type>/report` (reference §2.3 metrics(query, attributes, time) and report(query)) over
 * transfers made through the API, whose progress, size and speed are then set as the transfer engine would set them.
 */

type Entity = Record<string, unknown>;

let test: TestServer;
let admin: RawSession;
let standard: RawSession;
let stranger: RawSession;
const ids: Record<string, string> = {};
const tenDaysAgo = new Date(Date.now() - 10 * 86_400_000).toISOString();

/** metrics(query, attributes, time) as the official client sends it: `data.time` only when given. */
const metrics = (session: RawSession, type: string, query: string | undefined, attributes?: string[], time?: unknown) =>
  session.call(
    'GET',
    `${type}/metrics`,
    { attributes: attributes ?? null, ...(time !== undefined ? { time } : {}) },
    query ? { query } : {},
  );

const report = (session: RawSession, type: string, query?: string) =>
  session.call('GET', `${type}/report`, {}, query ? { query } : {});

/** What the transfer engine will write as it runs a job. */
async function progress(id: string, status: string, size: number | null, percent: number, speed: number) {
  await sql`UPDATE jobs SET status = ${status}, size = ${size}, progress = ${percent}, speed = ${speed}
    WHERE id = ${id}`.execute(test.server.store.db);
}

beforeAll(async () => {
  test = await startTestServer();
  admin = new RawSession(test.url, test.admin);
  standard = new RawSession(test.url, await addUser(test.server.store, 'acme', 'lisa@example.com', 'standard'));
  stranger = new RawSession(test.url, await addUser(test.server.store, 'globex', 'root@globex.test', 'admin'));
  const transfer = async (name: string, destination = 'in/') => {
    const [made] = await admin.result<Entity[]>(
      admin.create('transfer', { source: `${name}.mov`, destination, name, status: 'paused' }),
    );
    ids[name] = (made as Entity).id as string;
    return ids[name] as string;
  };
  await progress(await transfer('m-a'), 'running', 1000, 50, 10);
  await progress(await transfer('m-b'), 'running', 3000, 10, 30);
  // Running, but not moving yet: no speed to average.
  await progress(await transfer('m-c'), 'running', 500, 0, -1);
  // Done counts its whole size, whatever its last progress said.
  await progress(await transfer('m-d'), 'done', 2000, 20, -1);
  await progress(await transfer('m-e'), 'waiting', null, 0, -1);
  await sql`UPDATE jobs SET created = ${tenDaysAgo} WHERE id = ${ids['m-e']}`.execute(test.server.store.db);
  await progress(await transfer('m-lisa', 'lisa@example.com:/in/'), 'paused', 100, 100, -1);
  await progress(await transfer('other'), 'running', 99_999, 50, 99);
  // Deleted: in no figure.
  await progress(await transfer('m-gone'), 'running', 70_000, 50, 70);
  expect((await admin.delete('transfer', ids['m-gone'] as string)).status).toBe(200);
  await stranger.result(
    stranger.create('transfer', {
      source: 'root@globex.test:/tmp/m-x.mov',
      destination: 'root@globex.test:/in/',
      name: 'm-x',
    }),
  );
});
afterAll(() => test.stop());

const ALL = {
  count: 6,
  by_status: { init: 0, pending: 0, waiting: 1, running: 3, paused: 1, failed: 0, aborted: 0, done: 1 },
  size: 6600,
  size_done: 2900,
  progress: 43.9,
  running: 3,
  speed: 20,
  speed_total: 40,
  since: null,
};

describe('metrics', () => {
  it('counts the transfers the query matches: statuses, bytes, bytes done, speed of the running ones', async () => {
    expect(await admin.result(metrics(admin, 'transfer', 'name=m-*'))).toEqual(ALL);
    // `job` is transfer's other name, and a uri may come in any case.
    expect(await admin.result(metrics(admin, 'Job', 'name=m-*'))).toEqual(ALL);
  });

  it('counts only what the caller may read', async () => {
    expect(await standard.result(metrics(standard, 'transfer', 'name=m-*'))).toEqual({
      count: 1,
      by_status: { init: 0, pending: 0, waiting: 0, running: 0, paused: 1, failed: 0, aborted: 0, done: 0 },
      size: 100,
      size_done: 100,
      progress: 100,
      running: 0,
      speed: null,
      speed_total: 0,
      since: null,
    });
    const theirs = await stranger.result<Entity>(metrics(stranger, 'transfer', undefined, ['count', 'size']));
    expect(theirs).toEqual({ count: 1, size: 0 });
  });

  it('answers the figures that attributes names, and refuses unknown ones by name', async () => {
    expect(await admin.result(metrics(admin, 'transfer', 'name=m-*', ['count', 'size_done', 'speed']))).toEqual({
      count: 6,
      size_done: 2900,
      speed: 20,
    });
    expect(await admin.result(metrics(admin, 'transfer', 'name=m-*', []))).toEqual(ALL);
    const reply = await metrics(admin, 'transfer', undefined, ['cuont']);
    expect(reply.status).toBe(400);
    expect(reply.json.message).toBe("transfer/metrics has no figure 'cuont'; did you mean count?");
  });

  it('keeps the jobs created in the period that time gives: back from now, or since a UTC date or time', async () => {
    // m-e was made ten days ago (beforeAll).
    const count = async (time: unknown) =>
      (await admin.result<Entity>(metrics(admin, 'transfer', 'name=m-*', ['count', 'since'], time))).count;
    expect(await count('7d')).toBe(5);
    expect(await count('24h')).toBe(5);
    expect(await count('2w')).toBe(6);
    expect(await count('30D')).toBe(6);
    expect(await count(null)).toBe(6);
    const tomorrow = new Date(Date.now() + 86_400_000).toISOString().slice(0, 10);
    expect(await count(tomorrow)).toBe(0);
    expect(await count(tenDaysAgo.slice(0, 19))).toBe(6);
    expect(await count(new Date(Date.parse(tenDaysAgo) + 1000).toISOString().slice(0, 19))).toBe(5);
    const since = await admin.result<Entity>(metrics(admin, 'transfer', 'name=m-*', ['since'], '2020-01-31'));
    expect(since).toEqual({ since: '2020-01-31T00:00:00' });
    const recent = await admin.result<Entity>(metrics(admin, 'transfer', undefined, ['since'], '24h'));
    const start = Date.parse(`${recent.since}Z`);
    expect(Math.abs(start - (Date.now() - 86_400_000))).toBeLessThan(60_000);
  });

  it('refuses a time it cannot read, with the forms it takes', async () => {
    for (const time of ['yesterday', '3 days', '-7d', '2026-02-30', '2026-13-01', '2026-01-31T25:00:00', 7, {}]) {
      const reply = await metrics(admin, 'transfer', undefined, undefined, time);
      expect(reply.status, JSON.stringify(time)).toBe(400);
      expect(reply.json.message).toBe(
        `metrics: time must be a period back from now, such as "24h", "7d" or "2w", or the UTC date or time it starts, such as "2026-01-31" or "2026-01-31T12:00:00"; not ${JSON.stringify(time)}.`,
      );
    }
  });

  it('counts deliveries and queues with the same code, and refuses types that are not jobs', async () => {
    await admin.result(admin.create('delivery', { name: 'Grade' }));
    expect(await admin.result(metrics(admin, 'delivery', undefined, ['count', 'by_status']))).toEqual({
      count: 1,
      by_status: { init: 1, pending: 0, waiting: 0, running: 0, paused: 0, failed: 0, aborted: 0, done: 0 },
    });
    expect(await admin.result(metrics(admin, 'queue', undefined, ['count', 'by_status']))).toEqual({
      count: 3,
      by_status: { waiting: 3, paused: 0 },
    });
    const reply = await metrics(admin, 'user', undefined);
    expect(reply.status).toBe(400);
    expect(reply.json.message).toBe(
      'Metrics and reports are about jobs (transfers, deliveries, requests, queues), not users.',
    );
    expect((await admin.call('PUT', 'transfer/metrics', {})).json.message).toBe('transfer/metrics takes GET, not PUT.');
  });

  it('refuses a malformed query as find does', async () => {
    const reply = await metrics(admin, 'transfer', 'name=m-* and');
    expect(reply.status).toBe(400);
    expect(reply.json.message).toMatch(/expected a condition after AND/);
  });
});

describe('report', () => {
  it('answers a plain-text report at the top level, not under result', async () => {
    const reply = await report(admin, 'transfer', 'name=m-*');
    expect(reply.status, reply.text).toBe(200);
    expect(Object.keys(reply.json)).toEqual(['report']);
    const text = reply.json.report as string;
    const lines = text.split('\n');
    expect(lines[0]).toMatch(/^Transfer report of workspace acme, \d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} UTC$/);
    expect(lines.slice(1, 5)).toEqual([
      'Query: name=m-*',
      'Transfers: 6 (1 waiting, 3 running, 1 paused, 1 done)',
      'Size: 6.6 KB, of which done 2.9 KB (43.9%)',
      'Speed: 40 MB/s over 3 running (mean 20 MB/s)',
    ]);
    const header = lines[6] as string;
    expect(header.split(/\s{2,}/)).toEqual([
      'Name',
      'Status',
      'Progress',
      'Size',
      'Speed',
      'From',
      'To',
      'Priority',
      'Created',
      'By',
      'Id',
    ]);
    const rows = lines.slice(8).filter((line) => line.trim());
    // Oldest first, as find answers: m-e was made ten days ago.
    expect(rows.map((line) => line.split(/\s+/)[0])).toEqual(['m-e', 'm-a', 'm-b', 'm-c', 'm-d', 'm-lisa']);
    const a = rows[1] as string;
    expect(a).toContain('50.0%');
    expect(a).toContain('1.0 KB');
    expect(a).toContain('10 MB/s');
    expect(a).toContain('admin@acme.test');
    expect(a).toContain(ids['m-a']);
    expect(rows[5]).toContain('user:lisa@example.com');
    expect(text).not.toContain('other');
    expect(text).not.toContain('m-gone');
  });

  it("shows a standard user only their own jobs, and another workspace's nothing of ours", async () => {
    const theirs = (await report(standard, 'transfer')).json.report as string;
    expect(theirs).toContain('Query: none (every transfer you may read)');
    expect(theirs).toContain(
      'Transfers: 1 (1 paused)\nSize: 100 B, of which done 100 B (100%)\nSpeed: none reported (0 running)\n',
    );
    expect(theirs).toContain('m-lisa');
    expect(theirs).not.toContain('m-a ');
    const stranger_s = (await report(stranger, 'transfer', 'name=m-*')).json.report as string;
    expect(stranger_s).toContain('Transfers: 1 (1 waiting)');
    expect(stranger_s).toContain('m-x');
    expect(stranger_s).not.toContain('m-lisa');
  });

  it('keeps each job on one line of its own, whatever its name', async () => {
    await admin.result(
      admin.create('transfer', { source: 'z.mov', destination: 'in/', name: 'two\nlines\tand a tab' }),
    );
    const text = (await report(admin, 'transfer', 'name contains lines')).json.report as string;
    const rows = text.split('\n').slice(8);
    expect(rows[0]).toMatch(/^two lines and a tab\s+waiting\s/);
    expect(rows.slice(1)).toEqual(['']);
  });

  it('says when nothing matches, and reports other job types with their own columns', async () => {
    const none = (await report(admin, 'transfer', 'name=nothing')).json.report as string;
    expect(none).toContain('Transfers: 0\n');
    expect(none).toContain('No transfers.');
    const deliveries = (await report(admin, 'delivery')).json.report as string;
    expect(deliveries).toContain('Deliveries: 1 (1 init)');
    expect(deliveries).not.toContain('Size:');
    expect(deliveries).toMatch(/\nGrade\s+init\s+/);
    const users = await report(admin, 'user');
    expect(users.status).toBe(400);
  });
});
