import { mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { queryStringOf } from 'accsyn-protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addUser, createApiKey, listApiKeys, revokeApiKey } from '../src/admin.js';
import { openStore } from '../src/store/open.js';
import type { Store } from '../src/store/store.js';
import { POSTGRES_URL, postgresReachable, type TestDatabase, testDatabase } from './support/database.js';
import { reachable } from './support/net.js';
import { adminOf, alive, type ServerProcess, startServerProcess, stopServerProcess, tail } from './support/process.js';
import { type Credentials, envelope, event, login, type Reply, send } from './support/raw.js';
import { RawSession } from './support/session.js';
import { sleep, until, within } from './support/wait.js';

/**
 * Several server nodes on one PostgreSQL schema (and one Redis), as a deployment behind a load balancer runs them:
 * what one node writes, another reads at once; a session or a revocation holds on every node; the rate limit is one
 * budget; concurrent changes through two nodes take turns instead of losing a write; and a PostgreSQL restart costs
 * 503s while it lasts, never an acknowledged write, and the nodes recover by themselves. Each node is a real
 * process (`dist/main.js`; run `tsc -b` first); the first one started bootstraps the workspace, the others find it.
 */

type Entity = Record<string, unknown>;

const BOOTSTRAP = { ACCSYN_BOOTSTRAP_WORKSPACE: 'acme', ACCSYN_BOOTSTRAP_ADMIN: 'admin@acme.test' };
const LISA = 'lisa@example.com';
const REDIS_URL = process.env.ACCSYN_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
/** Request lines in the nodes' output, which failure messages quote. */
const LOG = { ACCSYN_LOG_LEVEL: 'info' };

const running: ServerProcess[] = [];
const folders: string[] = [];
const databases: TestDatabase[] = [];
const stores: Store[] = [];
const relays: PostgresRelay[] = [];

afterAll(async () => {
  await Promise.all(running.map(stopServerProcess));
  await Promise.all([...stores.map((store) => store.close()), ...relays.map((relay) => relay.close())]);
  for (const database of databases) await database.drop();
  for (const folder of folders) rmSync(folder, { recursive: true, force: true });
});

const postgres = await postgresReachable('the server node tests');

function tempDir(): string {
  const folder = mkdtempSync(join(tmpdir(), 'accsyn-nodes-test-'));
  folders.push(folder);
  return folder;
}

async function freshSchema(): Promise<TestDatabase & { url: string }> {
  const database = await testDatabase(true);
  databases.push(database);
  return database as TestDatabase & { url: string };
}

async function storeOn(url: string): Promise<Store> {
  const store = await openStore(url);
  stores.push(store);
  return store;
}

interface Cluster {
  readonly nodes: readonly ServerProcess[];
  /** The admin the first node's bootstrap created. */
  readonly admin: Credentials;
}

/**
 * Starts two nodes on `database`, each with its data directory, one after the other: the first bootstraps the
 * workspace; the second, given the same bootstrap settings, must find it and create nothing.
 */
async function startNodes(database: string, env: Record<string, string> = {}, flags: string[] = []): Promise<Cluster> {
  const nodes: ServerProcess[] = [];
  const dataDirs = [tempDir(), tempDir()];
  for (const dataDir of dataDirs) {
    const args = ['--port', '0', '--data-dir', dataDir, '--database', database, ...flags];
    const node = await startServerProcess(args, { ...LOG, ...BOOTSTRAP, ...env });
    running.push(node);
    nodes.push(node);
  }
  const [first, second] = nodes as [ServerProcess, ServerProcess];
  expect(first.output()).toContain("Created workspace 'acme' with admin admin@acme.test.");
  expect(second.output()).not.toContain('Created workspace');
  return { nodes, admin: adminOf(dataDirs[0] as string) };
}

function transfer(name: string): Entity {
  return { source: `projects/${name}.mov`, destination: `${LISA}:/in/` };
}

function firstOf(reply: Reply): Entity {
  return (reply.json.result as Entity[])[0] as Entity;
}

describe.skipIf(!postgres)('two nodes on one schema', () => {
  let store: Store;
  let nodes: readonly ServerProcess[];
  let admin: Credentials;
  /** The admin's sessions, one logged in on each node. */
  let onA: RawSession;
  let onB: RawSession;

  beforeAll(async () => {
    const database = await freshSchema();
    ({ nodes, admin } = await startNodes(database.url));
    store = await storeOn(database.url);
    onA = new RawSession(nodes[0]?.url as string, admin);
    onB = new RawSession(nodes[1]?.url as string, admin);
    await onA.result(onA.create('user', { code: LISA }));
    // Each session logs in before the tests that fire at once.
    await onB.result(onB.find('User'));
  });

  it('keeps one workspace: the second node found the first one bootstrapped', async () => {
    expect(await store.countWorkspaces()).toBe(1);
    const users = await onB.result<Entity[]>(onB.find('User'));
    expect(users.map((u) => u.code).sort()).toEqual(['admin@acme.test', LISA]);
  });

  it('finds through node B at once what node A created, and A sees what B changed', async () => {
    const [created] = await onA.result<Entity[]>(onA.create('transfer', transfer('shared-one')));
    const id = created?.id as string;
    const byId = await onB.result<Entity[]>(onB.find(`Transfer WHERE id=${id}`));
    expect(byId.map((t) => [t.id, t.name])).toEqual([[id, 'shared-one.mov']]);
    const byQuery = await onB.result<Entity[]>(onB.find("Transfer WHERE name='shared-one.mov'"));
    expect(byQuery.map((t) => t.id)).toEqual([id]);
    const tasks = await onB.result<Entity[]>(onB.find('Task', { parent: id }));
    expect(tasks).toHaveLength(1);

    const [edited] = await onB.result<Entity[]>(onB.update('transfer', id, { status: 'paused' }));
    expect(edited?.status).toBe('paused');
    const seen = await onA.result<Entity[]>(onA.find(`Transfer WHERE id=${id}`));
    expect(seen.map((t) => t.status)).toEqual(['paused']);
  });

  it('accepts on node B a session that logged in on node A', async () => {
    const [a, b] = nodes as [ServerProcess, ServerProcess];
    const loggedIn = await login(a.url, admin);
    expect(loggedIn.status).toBe(200);
    const session = (loggedIn.json.result as { session_id: string }).session_id;
    const me = await event(b.url, admin, 'GET', envelope(admin, session, 'user/find', { single_entity_query: true }));
    expect(me.status, me.text).toBe(200);
    expect((me.json.result as Entity[]).map((u) => u.code)).toEqual(['admin@acme.test']);
    // The session is the credentials' own: another key for the same user does not carry it on either node.
    const forged = { ...admin, key: 'x'.repeat(64) };
    for (const node of [a, b]) {
      const refused = await event(node.url, forged, 'GET', envelope(forged, session, 'user/find', {}));
      expect(refused.status).toBe(401);
    }
  });

  it('refuses a revoked API key on every node at its very next call, and its logins', async () => {
    const [a, b] = nodes as [ServerProcess, ServerProcess];
    const email = 'rita@acme.test';
    await addUser(store, { email, role: 'employee' });
    const created = await createApiKey(store, { email, name: 'laptop' });
    const rita: Credentials = { workspace: 'acme', user: email, key: created.key };
    const loggedIn = await login(a.url, rita);
    expect(loggedIn.status, loggedIn.text).toBe(200);
    const session = (loggedIn.json.result as { session_id: string }).session_id;
    const call = (node: ServerProcess) =>
      event(node.url, rita, 'GET', envelope(rita, session, 'user/find', { single_entity_query: true }));
    expect((await call(a)).status).toBe(200);
    expect((await call(b)).status).toBe(200);

    // As `accsyn server apikey revoke` does, on the database, while the nodes run.
    await revokeApiKey(store, created.id);
    expect((await listApiKeys(store, { email })).map((key) => key.state)).toEqual(['revoked']);

    for (const node of [a, b]) {
      const refused = await call(node);
      expect(refused.status, refused.text).toBe(401);
      expect((await login(node.url, rita)).status).toBe(401);
    }
  });

  it('gives 40 tasks added at once through both nodes 40 distinct uris, and acknowledges each', async () => {
    const [job] = await onA.result<Entity[]>(onA.create('transfer', transfer('many-tasks')));
    const id = job?.id as string;
    const sources = Array.from({ length: 40 }, (_, i) => `projects/part-${i}.mov`);
    const replies = await Promise.all(
      sources.map((source, i) =>
        (i % 2 === 0 ? onA : onB).create('task', { tasks: [{ source, destination: `${LISA}:/in/` }] }, id),
      ),
    );
    for (const reply of replies) expect(reply.status, reply.text).toBe(200);
    const added = replies.map(firstOf);

    for (const session of [onA, onB]) {
      const tasks = await session.result<Entity[]>(session.find('Task', { parent: id }));
      expect(tasks).toHaveLength(1 + 40);
      expect(new Set(tasks.map((t) => t.uri)).size).toBe(1 + 40);
      const pathOf = (task: Entity) => (task.source as { path: string }).path;
      expect(tasks.map(pathOf).sort()).toEqual(['projects/many-tasks.mov', ...sources].sort());
      // Every acknowledged task is there under the uri its answer gave, with its own source.
      const listed = new Map(tasks.map((t) => [t.uri, pathOf(t)]));
      for (const [i, task] of added.entries()) {
        expect(pathOf(task)).toBe(sources[i]);
        expect(listed.get(task.uri)).toBe(sources[i]);
      }
    }
  });

  it('lets 40 concurrent edits through both nodes take turns: each answer shows its own write', async () => {
    const [job] = await onA.result<Entity[]>(onA.create('transfer', transfer('many-edits')));
    const id = job?.id as string;
    const priorities = Array.from({ length: 40 }, (_, i) => 100 + i);
    const replies = await Promise.all(
      priorities.map((priority, i) =>
        (i % 2 === 0 ? onA : onB).update('transfer', id, { priority, metadata: { n: priority } }),
      ),
    );
    replies.forEach((reply, i) => {
      expect(reply.status, reply.text).toBe(200);
      expect(firstOf(reply)).toMatchObject({ priority: priorities[i], metadata: { n: priorities[i] } });
    });

    const finals = [];
    for (const session of [onA, onB]) {
      const [found] = await session.result<Entity[]>(session.find(`Transfer WHERE id=${id}`));
      finals.push(found);
    }
    const [onNodeA, onNodeB] = finals;
    expect(priorities).toContain(onNodeA?.priority);
    // One edit won whole: its priority and its metadata, on both nodes.
    expect(onNodeA?.metadata).toEqual({ n: onNodeA?.priority });
    expect(onNodeB).toEqual(onNodeA);
  });
});

describe.skipIf(!postgres)('two nodes on one schema and one Redis', () => {
  it('share one rate-limit budget per client', async (context) => {
    if (!(await reachable(REDIS_URL))) {
      if (process.env.CI) throw new Error(`Redis is not running at ${REDIS_URL}. CI needs it; start it (see .ci/run).`);
      console.warn(`\n!!! SKIPPING the shared rate-limit test: Redis is not running at ${REDIS_URL}\n`);
      context.skip();
      return;
    }
    const database = await freshSchema();
    const { nodes } = await startNodes(database.url, { ACCSYN_LIMIT_API: '1:5' }, ['--redis', REDIS_URL]);
    // An address of this run's own (127.0.0.0/8 is all loopback): other tests and runs keep their buckets.
    const from = `127.42.${(process.pid >> 8) & 255}.${1 + (process.pid % 254)}`;
    const lookup = `/api/v3/J3PKTtDvolDMBtTy6AFGA?${queryStringOf('{"ident": "acme"}')}`;
    const statuses = [];
    for (let i = 0; i < 8; i++) {
      statuses.push((await send((nodes[i % 2] as ServerProcess).url, 'GET', lookup, { localAddress: from })).status);
    }
    // A burst of 5 in all, refilled at 1 a second while the 8 are answered; both nodes found the workspace.
    expect(statuses.slice(0, 2)).toEqual([200, 200]);
    expect(statuses.filter((status) => status === 200).length).toBeGreaterThanOrEqual(5);
    expect(statuses.filter((status) => status === 200).length).toBeLessThanOrEqual(6);
    expect(statuses.slice(-2)).toEqual([429, 429]);
    // Another address has a budget of its own, on either node.
    expect((await send((nodes[1] as ServerProcess).url, 'GET', lookup)).status).toBe(200);
  });
});

/**
 * A TCP relay between the nodes and PostgreSQL that can play a restart of the database: every open connection cut,
 * new ones dropped as they come, then back to normal. Only the nodes behind it see the outage.
 */
class PostgresRelay {
  private readonly server: Server = createServer((client) => this.accept(client));
  private readonly sockets = new Set<Socket>();
  private down = false;

  constructor(private readonly upstream: { host: string; port: number }) {}

  listen(): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(0, '127.0.0.1', () => resolve((this.server.address() as { port: number }).port));
    });
  }

  /** Cuts every connection and drops new ones for `ms`, then lets them through again. */
  async restart(ms: number): Promise<void> {
    this.down = true;
    for (const socket of this.sockets) socket.destroy();
    await sleep(ms);
    this.down = false;
  }

  close(): Promise<void> {
    this.down = true;
    for (const socket of this.sockets) socket.destroy();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private accept(client: Socket): void {
    if (this.down) {
      client.destroy();
      return;
    }
    const database = connect(this.upstream);
    for (const [from, to] of [
      [client, database],
      [database, client],
    ] as const) {
      this.sockets.add(from);
      from.on('error', () => to.destroy());
      from.on('close', () => {
        this.sockets.delete(from);
        to.destroy();
      });
      from.pipe(to);
    }
  }
}

describe.skipIf(!postgres)('a PostgreSQL restart under load', () => {
  it('answers 503 with Retry-After while it lasts, loses no acknowledged create, and recovers by itself', async () => {
    const database = await freshSchema();
    const upstream = new URL(POSTGRES_URL);
    const relay = new PostgresRelay({ host: upstream.hostname, port: Number(upstream.port || 5432) });
    relays.push(relay);
    const viaRelay = new URL(database.url);
    viaRelay.hostname = '127.0.0.1';
    viaRelay.port = String(await relay.listen());
    viaRelay.searchParams.set('application_name', 'accsyn-nodes-test');
    const { nodes, admin } = await startNodes(viaRelay.href);
    const sessions = nodes.map((node) => new RawSession(node.url, admin));
    const [onA] = sessions as [RawSession, RawSession];
    await onA.result(onA.create('user', { code: LISA }));
    for (const session of sessions) await session.result(session.find('User'));

    type Phase = 'before' | 'outage' | 'after' | 'done';
    let phase: Phase = 'before';
    let sent = 0;
    const acknowledged: { id: string; phase: Phase }[] = [];
    const unavailable: { reply: Reply; phase: Phase }[] = [];
    const unexpected: string[] = [];
    const CAP = 2_000;
    const worker = async () => {
      while (phase !== 'done' && sent < CAP) {
        const n = sent++;
        const at = phase;
        const node = n % 2;
        try {
          const reply = await within(15_000, (sessions[node] as RawSession).create('transfer', transfer(`load-${n}`)));
          if (reply.status === 200) acknowledged.push({ id: firstOf(reply).id as string, phase: at });
          else if (reply.status === 503) {
            unavailable.push({ reply, phase: at });
            // As a client told to retry shortly would, only sooner: the outage is short.
            await sleep(50);
          } else unexpected.push(`create ${n} on node ${node} (${at}): ${reply.status} ${reply.text}`);
        } catch (error) {
          unexpected.push(`create ${n} on node ${node} (${at}): ${(error as Error).message}`);
        }
      }
    };
    const workers = Array.from({ length: 4 }, worker);
    const failure = () =>
      `unexpected: ${unexpected.slice(0, 5).join('\n')}\nnode A:\n${tail(nodes[0] as ServerProcess)}\nnode B:\n${tail(
        nodes[1] as ServerProcess,
      )}`;

    try {
      expect(await until(() => acknowledged.length >= 20, 10_000), failure()).toBe(true);
      phase = 'outage';
      await relay.restart(1_500);
      phase = 'after';
      // Both nodes answer again by themselves: no restart, only their pools connecting anew.
      for (const session of sessions) {
        const answers = async () => {
          try {
            return (await within(10_000, session.find('User'))).status === 200;
          } catch (error) {
            unexpected.push(`a find after the outage: ${(error as Error).message}`);
            return false;
          }
        };
        const back = await until(answers, 10_000, 100);
        expect(back, failure()).toBe(true);
      }
      const since = acknowledged.length;
      expect(await until(() => acknowledged.length >= since + 20, 10_000), failure()).toBe(true);
    } finally {
      phase = 'done';
      await Promise.all(workers);
    }

    expect(unexpected, failure()).toEqual([]);
    const refused = unavailable.filter((u) => u.phase === 'outage');
    expect(refused.length, failure()).toBeGreaterThan(0);
    for (const { reply } of unavailable) {
      expect(reply.json).toEqual({ message: 'The database is unavailable at the moment; try again shortly.' });
      const seconds = Number(reply.headers['retry-after']);
      expect(Number.isInteger(seconds) && seconds >= 1).toBe(true);
    }
    expect(acknowledged.some((a) => a.phase === 'after')).toBe(true);

    // Every create that got its 200, before, during or after the outage, is there, on both nodes.
    for (const session of sessions) {
      const found = await session.result<Entity[]>(session.find('Transfer'));
      const ids = new Set(found.map((t) => t.id));
      const missing = acknowledged.filter((a) => !ids.has(a.id));
      expect(missing, failure()).toEqual([]);
    }
    for (const node of nodes) expect(alive(node), tail(node)).toBe(true);
  });
});
