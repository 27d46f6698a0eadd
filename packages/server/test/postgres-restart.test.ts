import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from './support/net.js';
import { adminOf, alive, type ServerProcess, startServerProcess, stopServerProcess, tail } from './support/process.js';
import { type Reply, send } from './support/raw.js';
import { RawSession } from './support/session.js';
import { sleep, until, within } from './support/wait.js';

/**
 * Two server nodes on a private PostgreSQL that really restarts under load, where nodes.test.ts plays the restart
 * with a relay: the nodes meet what a real one sends (FATAL 57P01 admin_shutdown on their connections, refused
 * connections while it is down, 57P03 "starting up" while it starts) and answer 503 with Retry-After meanwhile,
 * lose no acknowledged create, and answer again by themselves. The instance is this file's own (initdb in a
 * temporary directory, on a free port), never the machine's shared cluster. Nodes are `dist/main.js`; run `tsc -b`.
 */

type Entity = Record<string, unknown>;

const run = promisify(execFile);
const BOOTSTRAP = { ACCSYN_BOOTSTRAP_WORKSPACE: 'acme', ACCSYN_BOOTSTRAP_ADMIN: 'admin@acme.test' };
/** Request lines and the database errors the nodes met, in their output, which failure messages quote. */
const LOG = { ACCSYN_LOG_LEVEL: 'info' };
const UNAVAILABLE = { message: 'The database is unavailable at the moment; try again shortly.' };

/** Where initdb and pg_ctl are, and whether they must run as the `postgres` user (initdb refuses root). */
interface PostgresTools {
  readonly bin: string;
  readonly asPostgres: boolean;
}

const tools = await postgresTools();

/** The PostgreSQL server binaries (Debian's layout); CI fails without them, elsewhere this file skips loudly. */
async function postgresTools(): Promise<PostgresTools | undefined> {
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root) ? readdirSync(root).sort((a, b) => Number(b) - Number(a)) : [];
  const bin = versions
    .map((version) => join(root, version, 'bin'))
    .find((dir) => existsSync(join(dir, 'initdb')) && existsSync(join(dir, 'pg_ctl')));
  const asPostgres = process.getuid?.() === 0;
  let missing: string | undefined;
  if (!bin) missing = `no initdb and pg_ctl under ${root}/*/bin`;
  else if (asPostgres && !(await hasPostgresUser())) missing = 'running as root, without runuser or a postgres user';
  if (!missing) return { bin: bin as string, asPostgres };
  if (process.env.CI) throw new Error(`The PostgreSQL restart test cannot run: ${missing}. CI needs them.`);
  console.warn(`\n!!! SKIPPING the PostgreSQL restart test: ${missing}\n`);
  return undefined;
}

async function hasPostgresUser(): Promise<boolean> {
  try {
    await run('runuser', ['-u', 'postgres', '--', 'true']);
    return true;
  } catch {
    return false;
  }
}

/**
 * A throwaway PostgreSQL: a data directory under /tmp, its socket and log beside it, TCP on 127.0.0.1 only. fsync is
 * off: a crash of the machine may lose this cluster, which the test throws away anyway.
 */
class PrivatePostgres {
  private constructor(
    private readonly tools: PostgresTools,
    private readonly dir: string,
    readonly port: number,
  ) {}

  static async create(tools: PostgresTools): Promise<PrivatePostgres> {
    const dir = mkdtempSync('/tmp/accsyn-pg-restart-');
    const instance = new PrivatePostgres(tools, dir, await freePort());
    try {
      if (tools.asPostgres) await run('chown', ['postgres', dir]);
      await instance.tool('initdb', ['-D', instance.data, '--auth=trust', '-U', 'postgres', '--no-sync']);
      return instance;
    } catch (error) {
      rmSync(dir, { recursive: true, force: true });
      throw error;
    }
  }

  get url(): string {
    return `postgres://postgres@127.0.0.1:${this.port}/postgres?schema=accsyn`;
  }

  /** Starts it and waits until it takes connections. */
  async start(): Promise<void> {
    const options = `-p ${this.port} -k ${this.dir} -c listen_addresses=127.0.0.1 -c fsync=off`;
    // The log file keeps the postmaster off pg_ctl's output, which execFile would otherwise wait on for ever.
    await this.pgCtl(['-l', join(this.dir, 'postgres.log'), '-o', options, '-w', 'start']);
  }

  /** Stops it; `fast` ends every session with 57P01 admin_shutdown, as a restart by an operator does. */
  async stop(mode: 'fast' | 'immediate'): Promise<void> {
    await this.pgCtl(['-m', mode, '-w', 'stop']);
  }

  /** Its log, for failure messages. */
  log(): string {
    const file = join(this.dir, 'postgres.log');
    return existsSync(file) ? readFileSync(file, 'utf8') : '';
  }

  async remove(): Promise<void> {
    await this.stop('immediate').catch(() => {});
    rmSync(this.dir, { recursive: true, force: true });
  }

  private get data(): string {
    return join(this.dir, 'data');
  }

  /** pg_ctl on this cluster; `-w` waits at most 10 s. */
  private pgCtl(args: string[]): Promise<unknown> {
    return this.tool('pg_ctl', ['-D', this.data, '-t', '10', ...args]);
  }

  private async tool(name: string, args: string[]): Promise<unknown> {
    const command = join(this.tools.bin, name);
    const [file, argv] = this.tools.asPostgres
      ? ['runuser', ['-u', 'postgres', '--', command, ...args]]
      : [command, args];
    return run(file, argv, { timeout: 20_000 });
  }
}

function firstOf(reply: Reply): Entity {
  return (reply.json.result as Entity[])[0] as Entity;
}

describe.skipIf(!tools)('a real PostgreSQL restart under load', () => {
  let postgres: PrivatePostgres | undefined;
  const nodes: ServerProcess[] = [];
  const folders: string[] = [];

  beforeAll(async () => {
    postgres = await PrivatePostgres.create(tools as PostgresTools);
    await postgres.start();
  });

  afterAll(async () => {
    await Promise.all(nodes.map(stopServerProcess));
    await postgres?.remove();
    for (const folder of folders) rmSync(folder, { recursive: true, force: true });
  });

  it('answers 503 with Retry-After while it is down or starting, loses no acknowledged create, and recovers by itself', async () => {
    const database = postgres as PrivatePostgres;
    // A first, then B: A bootstraps the workspace, B finds it.
    for (const _ of ['A', 'B']) {
      const dataDir = mkdtempSync('/tmp/accsyn-pg-restart-node-');
      folders.push(dataDir);
      const args = ['--port', '0', '--data-dir', dataDir, '--database', database.url];
      nodes.push(await startServerProcess(args, { ...LOG, ...BOOTSTRAP }));
    }
    const [a, b] = nodes as [ServerProcess, ServerProcess];
    expect(a.output()).toContain("Created workspace 'acme' with admin admin@acme.test.");
    expect(b.output()).not.toContain('Created workspace');
    const admin = adminOf(folders[0] as string);
    const sessions = nodes.map((node) => new RawSession(node.url, admin));
    // Each session logs in now: a login refused during the outage would end a worker, not test the nodes.
    for (const session of sessions) await session.result(session.find('User'));

    type Phase = 'before' | 'stopping' | 'down' | 'starting' | 'after' | 'done';
    let phase: Phase = 'before';
    let sent = 0;
    const acknowledged: { id: string; phase: Phase }[] = [];
    const unavailable: { reply: Reply; phase: Phase }[] = [];
    const unexpected: string[] = [];
    const timings: Record<string, number> = {};
    const failure = () =>
      [
        `unexpected: ${unexpected.slice(0, 5).join('\n')}`,
        `timings (ms): ${JSON.stringify(timings)}`,
        `node A:\n${tail(a)}`,
        `node B:\n${tail(b)}`,
        `PostgreSQL:\n${database.log().trim().split('\n').slice(-20).join('\n')}`,
      ].join('\n');

    /** Sends one request; keeps a 503, notes anything but 200 and 503; the reply, unless it failed. */
    const answer = async (what: string, request: Promise<Reply>): Promise<Reply | undefined> => {
      const at = phase;
      try {
        const reply = await within(10_000, request);
        if (reply.status === 503) {
          unavailable.push({ reply, phase: at });
          // As a client told to retry would, only sooner: the outage is short.
          await sleep(50);
        } else if (reply.status !== 200) unexpected.push(`${what} (${at}): ${reply.status} ${reply.text}`);
        return reply;
      } catch (error) {
        unexpected.push(`${what} (${at}): ${(error as Error).message}`);
        return undefined;
      }
    };
    // Each step creates a transfer through one node and finds it by id through the other.
    const CAP = 1_500;
    const worker = async () => {
      while (phase !== 'done' && sent < CAP) {
        const n = sent++;
        const [here, there] = n % 2 === 0 ? [0, 1] : [1, 0];
        const [onHere, onThere] = [sessions[here], sessions[there]] as [RawSession, RawSession];
        const at = phase;
        const source = { source: `projects/load-${n}.mov`, destination: 'in/' };
        const created = await answer(`create ${n} on ${'AB'[here]}`, onHere.create('transfer', source));
        if (created?.status !== 200) continue;
        const id = firstOf(created).id as string;
        acknowledged.push({ id, phase: at });
        const found = await answer(`find ${n} on ${'AB'[there]}`, onThere.find(`Transfer WHERE id=${id}`));
        const ids = found?.status === 200 ? (found.json.result as Entity[]).map((t) => t.id) : [id];
        if (ids.length !== 1 || ids[0] !== id) unexpected.push(`find ${n} on ${'AB'[there]}: ${found?.text}`);
      }
    };
    const workers = Array.from({ length: 4 }, worker);

    const started = Date.now();
    const lap = (name: string) => {
      timings[name] = Date.now() - started;
    };
    try {
      expect(await until(() => acknowledged.length >= 20, 10_000), failure()).toBe(true);
      lap('load');
      // A restart in two halves, so that its outage is certain to be met: `pg_ctl restart` is over in ~0.3 s.
      phase = 'stopping';
      await database.stop('fast');
      lap('stopped');
      phase = 'down';
      // Nothing listens now: each node must answer, and answer 503, rather than hang or fall over.
      for (const [i, session] of sessions.entries()) {
        const reply = await answer(`a find on ${'AB'[i]} while down`, session.find('User'));
        expect(reply?.status, failure()).toBe(503);
        // Alive, but not ready: a load balancer would send it nothing now.
        const node = nodes[i] as ServerProcess;
        expect([
          (await send(node.url, 'GET', '/healthz')).status,
          (await send(node.url, 'GET', '/readyz')).status,
        ]).toEqual([200, 503]);
      }
      await sleep(500);
      phase = 'starting';
      await database.start();
      lap('started');
      phase = 'after';
      // Both nodes answer again by themselves: no restart, only their pools connecting anew.
      for (const session of sessions) {
        const answers = async () => (await answer('a find after the restart', session.find('User')))?.status === 200;
        expect(await until(answers, 10_000, 100), failure()).toBe(true);
      }
      for (const node of nodes) expect((await send(node.url, 'GET', '/readyz')).json).toEqual({ status: 'ok' });
      lap('recovered');
      const since = acknowledged.length;
      expect(await until(() => acknowledged.length >= since + 20, 10_000), failure()).toBe(true);
      lap('load again');
    } finally {
      phase = 'done';
      await Promise.all(workers);
    }

    expect(unexpected, failure()).toEqual([]);
    const during = unavailable.filter((u) => ['stopping', 'down', 'starting'].includes(u.phase));
    expect(during.length, failure()).toBeGreaterThanOrEqual(2);
    for (const { reply } of unavailable) {
      expect(reply.json, failure()).toEqual(UNAVAILABLE);
      const seconds = Number(reply.headers['retry-after']);
      expect(Number.isInteger(seconds) && seconds >= 1, reply.headers['retry-after'] as string).toBe(true);
    }
    expect(acknowledged.some((c) => c.phase === 'after')).toBe(true);
    for (const node of nodes) expect(alive(node), tail(node)).toBe(true);
    // The fast stop ended the nodes' sessions with admin_shutdown, which they met and survived.
    expect(a.output() + b.output(), failure()).toContain('57P01');

    // Every create that got its 200, before, during or after the restart, is there by id, on both nodes.
    const ids = acknowledged.map((c) => c.id);
    for (const session of sessions) {
      const found = new Set<unknown>();
      for (let i = 0; i < ids.length; i += 50) {
        const chunk = ids.slice(i, i + 50);
        const page = await session.result<Entity[]>(session.find(`Transfer WHERE id IN (${chunk.join(',')})`));
        for (const transfer of page) found.add(transfer.id);
      }
      expect(
        ids.filter((id) => !found.has(id)),
        failure(),
      ).toEqual([]);
    }
  });
});
