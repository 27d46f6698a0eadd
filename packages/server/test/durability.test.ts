import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { type TestDatabase, testDatabase } from './support/database.js';
import { adminOf, type ServerProcess, startServerProcess } from './support/process.js';
import type { Reply } from './support/raw.js';
import { RawSession } from './support/session.js';

/**
 * What the server acknowledged survives `kill -9`: every create and edit that got its 200 is there after a restart
 * on the same data directory, whole (a transfer with its task), and the restart finds its workspace instead of
 * creating another.
 */

type Entity = Record<string, unknown>;

const BOOTSTRAP = { ACCSYN_BOOTSTRAP_WORKSPACE: 'acme', ACCSYN_BOOTSTRAP_ADMIN: 'admin@acme.test' };
const LISA = 'lisa@example.com';
const folders: string[] = [];
/** The database of each data directory: SQLite inside it, or a PostgreSQL schema of its own (support/database.ts). */
const databases = new Map<string, TestDatabase>();
const running: ServerProcess[] = [];

afterEach(() => {
  for (const server of running.splice(0)) server.child.kill('SIGKILL');
});
afterAll(async () => {
  for (const folder of folders) rmSync(folder, { recursive: true, force: true });
  for (const database of databases.values()) await database.drop();
});

async function dataDir(): Promise<string> {
  const path = mkdtempSync(join(tmpdir(), 'accsyn-durability-test-'));
  folders.push(path);
  databases.set(path, await testDatabase());
  return path;
}

async function start(data: string): Promise<ServerProcess> {
  const database = databases.get(data)?.flags ?? [];
  const server = await startServerProcess(['--port', '0', '--data-dir', data, ...database], BOOTSTRAP);
  running.push(server);
  return server;
}

async function kill(server: ServerProcess): Promise<void> {
  server.child.kill('SIGKILL');
  expect(await server.exited).toBe('SIGKILL');
}

function transfer(i: number): Entity {
  return { source: `projects/x${i}.mov`, destination: `${LISA}:/in/` };
}

/** Restarts on `data` and checks that it found its workspace: no bootstrap, admin.env as it was, the key still good. */
async function restart(data: string): Promise<{ server: ServerProcess; admin: RawSession }> {
  const env = readFileSync(join(data, 'admin.env'), 'utf8');
  const server = await start(data);
  expect(server.output()).not.toContain('Created workspace');
  expect(readFileSync(join(data, 'admin.env'), 'utf8')).toBe(env);
  const admin = new RawSession(server.url, adminOf(data));
  const users = await admin.result<Entity[]>(admin.find('User'));
  expect(users.map((u) => u.code).sort()).toEqual(['admin@acme.test', LISA]);
  return { server, admin };
}

describe('kill -9', () => {
  it('keeps every acknowledged create and edit, and does not bootstrap again on restart', async () => {
    const data = await dataDir();
    const first = await start(data);
    expect(first.output()).toContain("Created workspace 'acme' with admin admin@acme.test.");
    const admin = new RawSession(first.url, adminOf(data));
    const [lisa] = await admin.result<Entity[]>(admin.create('user', { code: LISA }));

    const statuses = new Map<string, string>();
    for (let i = 0; i < 50; i++) {
      const [created] = await admin.result<Entity[]>(admin.create('transfer', transfer(i)));
      statuses.set(created?.id as string, created?.status as string);
    }
    const paused = [...statuses.keys()].filter((_, i) => i % 5 === 4);
    for (const id of paused) {
      const [edited] = await admin.result<Entity[]>(admin.update('transfer', id, { status: 'paused' }));
      expect(edited?.status).toBe('paused');
      statuses.set(id, 'paused');
    }
    // The last edit was acknowledged a moment ago: kill before the server can do anything more.
    await kill(first);

    const { admin: again } = await restart(data);
    const users = await again.result<Entity[]>(again.find(`User WHERE code=${LISA}`));
    expect(users.map((u) => u.id)).toEqual([lisa?.id]);
    const found = await again.result<Entity[]>(again.find('Transfer'));
    expect(new Map(found.map((t) => [t.id as string, t.status as string]))).toEqual(statuses);
    expect([...statuses.values()].filter((s) => s === 'paused')).toHaveLength(10);
  });

  it('keeps every create that got its 200 while a burst was in flight, and none half-written', async () => {
    const data = await dataDir();
    const first = await start(data);
    const admin = new RawSession(first.url, adminOf(data));
    await admin.result(admin.create('user', { code: LISA }));

    const acknowledged: string[] = [];
    let answered = 0;
    const burst = Array.from({ length: 120 }, (_, i) =>
      admin.create('transfer', transfer(i)).then((reply: Reply) => {
        answered++;
        if (reply.status === 200) acknowledged.push(((reply.json.result as Entity[])[0] as Entity).id as string);
        else throw new Error(`create ${i} answered ${reply.status}: ${reply.text}`);
        // Kill with most of the burst still in flight.
        if (answered === 30) first.child.kill('SIGKILL');
      }),
    );
    const outcomes = await Promise.allSettled(burst);
    expect(await first.exited).toBe('SIGKILL');
    // Only the kill may fail a create: a connection reset, never a refusal.
    for (const outcome of outcomes) {
      if (outcome.status === 'rejected')
        expect(String(outcome.reason)).toMatch(/ECONNRESET|EPIPE|socket hang up|ECONNREFUSED/);
    }
    expect(acknowledged.length).toBeGreaterThanOrEqual(30);
    expect(acknowledged.length).toBeLessThan(120);

    const { admin: again } = await restart(data);
    const found = await again.result<Entity[]>(again.find('Transfer'));
    const ids = new Set(found.map((t) => t.id as string));
    for (const id of acknowledged) expect(ids.has(id), `acknowledged transfer ${id}`).toBe(true);
    for (const id of ids) {
      const tasks = await again.result<Entity[]>(again.find('Task', { parent: id }));
      expect(tasks, `the tasks of transfer ${id}`).toHaveLength(1);
    }
  });
});
