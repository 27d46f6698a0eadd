import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LogEntry, QueryError, Session, type SessionOptions } from '../src/index.js';
import { addUser, type Server, startServer } from './support.js';

/** Metrics, reports and the audit log through the client, against the real server. */

let server: Server;
let admin: Session;
const sessions: Session[] = [];

function open(options: SessionOptions = {}): Session {
  const created = new Session({ ...server.admin, environment: false, ...options });
  sessions.push(created);
  return created;
}

beforeAll(async () => {
  server = await startServer();
  admin = open();
  await admin.create('User', { code: 'lisa@example.com', role: 'employee' });
  // Paused, so that the server's transfer engine leaves them as they are.
  for (const name of ['dailies-1', 'dailies-2']) {
    await admin.create('Transfer', {
      source: `renders/${name}.exr`,
      destination: 'lisa@example.com:/in/',
      name,
      status: 'paused',
    });
  }
});

afterAll(async () => {
  await Promise.all(sessions.map((session) => session.close()));
  await server.stop();
});

describe('metrics', () => {
  it('counts the jobs a query matches, by status', async () => {
    const figures = await admin.metrics("Transfer WHERE name='dailies-*'");
    expect(figures).toMatchObject({ count: 2, running: 0, size: 0, speed: null, since: null });
    expect(figures.by_status).toMatchObject({ paused: 2, waiting: 0, done: 0 });
  });

  it('answers the figures asked for, over a period given as a span or a Date', async () => {
    const picked = await admin.metrics('Transfer', { attributes: ['count', 'since'], time: '24h' });
    expect(Object.keys(picked)).toEqual(['count', 'since']);
    expect(picked.count).toBe(2);
    expect(picked.since).toBeInstanceOf(Date);
    const future = await admin.metrics('Transfer', { attributes: ['count'], time: new Date(Date.now() + 3_600_000) });
    expect(future).toEqual({ count: 0 });
  });

  it("places the server's refusal of an unknown attribute in the query", async () => {
    const error = await admin.metrics('Transfer WHERE nmae=x').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(QueryError);
    expect((error as QueryError).position).toBe(15);
  });
});

describe('report', () => {
  it('answers the text of the report', async () => {
    const text = await admin.report("Transfer WHERE name='dailies-*'");
    expect(text).toMatch(/^Transfer report of workspace acme, /);
    expect(text).toContain("Query: name='dailies-*'");
    expect(text).toContain('Transfers: 2 (2 paused)');
    expect(text.match(/dailies-\d/g)).toEqual(['dailies-1', 'dailies-2']);
  });
});

describe('the audit log', () => {
  it('finds entries by conditions, typed, oldest first', async () => {
    const created: LogEntry[] = await admin.findLogs('operation=transfer/create');
    expect(created.map((entry) => entry.entity_hr)).toEqual(['job:dailies-1', 'job:dailies-2']);
    expect(created[0]).toMatchObject({
      user_hr: 'admin@acme.test',
      method: 'POST',
      outcome: 'ok',
      address: '127.0.0.1',
    });
    expect(created[0]?.created).toBeInstanceOf(Date);
    expect(created[0]?.data).toMatchObject({ name: 'dailies-1' });
  });

  it('takes a whole Log query too, as find does, and find types it', async () => {
    const logins = await admin.findLogs('Log WHERE operation=login', { limit: 1 });
    const found = await admin.find('Log WHERE operation=login', { limit: 1 });
    expect(found).toEqual(logins);
    expect(found[0]?.operation).toBe('login');
    expect((await admin.findLogs(undefined, { limit: 2 })).length).toBe(2);
  });

  it("records refusals, and shows others' entries to admins only", async () => {
    const lisa = open(addUser(server, 'lisa2@example.com', 'standard'));
    await expect(lisa.create('Queue', { name: 'mine' })).rejects.toThrow(/Permission denied/);
    const denied = await admin.findLogs('outcome=denied AND user=lisa2@example.com');
    expect(denied).toEqual([expect.objectContaining({ operation: 'queue/create', outcome: 'denied' })]);
    expect(denied[0]?.message).toMatch(/^Permission denied/);
    expect(await lisa.findLogs('user=admin@acme.test')).toEqual([]);
  });

  it('refuses a condition that does not parse before sending it', async () => {
    const error = await admin.findLogs('outcome=').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(QueryError);
    expect((error as QueryError).query).toBe('Log WHERE outcome=');
  });
});
