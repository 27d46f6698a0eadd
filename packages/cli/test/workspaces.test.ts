import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PermissionError, Session } from 'accsyn-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Server, startServer } from '../../api/test/support.js';
import { testDatabase } from '../../server/test/support/database.js';
import { reachable } from '../../server/test/support/net.js';
import { startServerProcess, stopServerProcess } from '../../server/test/support/process.js';
import { accsyn, cleanEnv, cli, type Outcome } from './support.js';

/**
 * `accsyn server workspace add` and `list`: several workspaces on one server, added on its database, SQLite while
 * the server runs, PostgreSQL before it starts; each made as the first start makes one, and kept apart.
 */

let server: Server;
const store = () => ['--data-dir', server.dataDir];
const parsed = <T = Record<string, unknown>>(outcome: Outcome): T => JSON.parse(outcome.stdout) as T;

beforeAll(async () => {
  server = await startServer();
});
afterAll(() => server?.stop());

/** A session of `username` with `apiKey` in `workspace`, on `hostname`, the environment left out. */
function sessionOf(workspace: string, username: string, apiKey: string, hostname = server.url): Session {
  return new Session({ workspace, username, apiKey, hostname, environment: false });
}

describe('server workspace add, on the database of the running server', () => {
  let studio: Session;

  it("prints the admin's key alone at a terminal; the key works at once", async () => {
    const argv = ['server', 'workspace', 'add', 'studio-b', '--admin', 'ana@studio-b.test', '--name', 'Studio B'];
    const added = await cli([...argv, ...store()], { env: {}, tty: true });
    expect(added.code).toBe(0);
    const key = added.stdout.trim();
    expect(added.stdout).toBe(`${key}\n`);
    expect(key).toMatch(/^[A-Za-z0-9]{64}$/);
    const volume = join(server.dataDir, 'workspaces', 'studio-b', 'default');
    expect(added.stderr).toMatch(
      new RegExp(
        `^Added workspace 'studio-b' \\(id [0-9a-f]{24}\\), its default volume in ${volume}, and the API key of its admin ana@studio-b\\.test\\. It is shown this once`,
      ),
    );
    studio = sessionOf('studio-b', 'ana@studio-b.test', key);
    expect(await studio.login()).toMatchObject({ role: 'admin' });
  });

  it('gives the new workspace what the first start gives the first: hq, a default volume of its own, the queues', async () => {
    const sites = await studio.find('Site');
    expect(sites.map((site) => [site.code, site.main])).toEqual([['hq', true]]);
    const [volume] = await studio.find('Volume WHERE default=true');
    const directory = join(server.dataDir, 'workspaces', 'studio-b', 'default');
    expect(volume).toMatchObject({ code: 'default', path: directory });
    expect(statSync(directory).isDirectory()).toBe(true);
    expect(statSync(directory).mode & 0o777).toBe(0o700);
    const queues = await studio.find('Queue');
    expect(queues.map((queue) => [queue.code, queue.priority]).sort()).toEqual([
      ['high', 999],
      ['low', 1],
      ['medium', 500],
    ]);
    const transfer = await studio.create('Transfer', {
      source: 'plates/a.exr',
      destination: 'in/',
    });
    expect(transfer).toMatchObject({ queue_hr: 'medium', user_hr: 'ana@studio-b.test' });
  });

  it('keeps the workspaces apart', async () => {
    const acme = sessionOf('acme', server.admin.username, server.admin.apiKey);
    expect((await studio.find('User')).map((user) => user.code)).toEqual(['ana@studio-b.test']);
    expect((await acme.find('User')).map((user) => user.code)).toEqual(['admin@acme.test']);
    expect(await acme.find('Transfer')).toEqual([]);
    const [volume] = await acme.find('Volume WHERE default=true');
    expect(volume?.path).toBe(join(server.dataDir, 'volumes', 'default'));
    await acme.close();
  });

  it('lists the workspaces with their admins and users, as JSON and as a table', async () => {
    const listed = await cli(['server', 'workspace', 'list', ...store()], { env: {} });
    expect(listed.code).toBe(0);
    expect(parsed<Record<string, unknown>[]>(listed)).toEqual([
      {
        id: expect.stringMatching(/^[0-9a-f]{24}$/),
        code: 'acme',
        name: 'acme',
        admins: ['admin@acme.test'],
        users: 1,
        created: expect.stringMatching(/Z$/),
      },
      expect.objectContaining({ code: 'studio-b', name: 'Studio B', admins: ['ana@studio-b.test'], users: 1 }),
    ]);
    const table = await cli(['server', 'workspace', 'list', ...store()], { env: {}, tty: true });
    const lines = table.stdout.trimEnd().split('\n');
    expect(lines[0]?.trim().split(/\s{2,}/)).toEqual(['id', 'code', 'name', 'admins', 'users', 'created']);
    expect(lines[2]).toMatch(/studio-b\s+Studio B\s+ana@studio-b\.test\s+1\s/);
    expect(lines.at(-1)).toBe('2 workspaces');
  });

  it('has the other administration commands name the workspace, now that there are several', async () => {
    const ambiguous = await cli(['server', 'apikey', 'list', 'admin@acme.test', ...store()], { env: {} });
    expect(ambiguous.stderr).toBe(
      'accsyn: This database holds several workspaces; name one with --workspace: acme, studio-b.\n',
    );
    const named = await cli(['server', 'apikey', 'list', 'ana@studio-b.test', '--workspace', 'studio-b', ...store()], {
      env: {},
    });
    expect(parsed<unknown[]>(named)).toHaveLength(1);
  });

  it('refuses a code that is taken or malformed, and an address that is none, with exit 2', async () => {
    const cases: [string[], string][] = [
      [['STUDIO-B', '--admin', 'x@y.test'], "There is a workspace 'STUDIO-B' already."],
      [['studio b', '--admin', 'x@y.test'], 'A workspace code is 2-63 letters, digits and '],
      [['x', '--admin', 'x@y.test'], 'A workspace code is 2-63 letters, digits and '],
      [['studio-c', '--admin', 'nobody'], "'nobody' is not an e-mail address."],
    ];
    for (const [argv, sentence] of cases) {
      const outcome = await cli(['server', 'workspace', 'add', ...argv, ...store()], { env: {} });
      expect({ argv, code: outcome.code, stdout: outcome.stdout }).toEqual({ argv, code: 2, stdout: '' });
      expect(outcome.stderr).toContain(`accsyn: ${sentence}`);
    }
  });

  it('stays refused through the API', async () => {
    await expect(studio.create('Workspace', { code: 'studio-c' })).rejects.toThrow(PermissionError);
    await studio.close();
  });
});

describe('server workspace add, on PostgreSQL, before the server starts (the real executable)', () => {
  it('adds the workspace, whose admin logs in once the server runs on that database', async (context) => {
    const database = await testDatabase(true);
    if (!(await reachable(database.url as string))) {
      if (process.env.CI === 'true') throw new Error('PostgreSQL is not running at 127.0.0.1:5432');
      console.warn('SKIPPED: PostgreSQL is not running at 127.0.0.1:5432');
      return context.skip();
    }
    const dataDir = mkdtempSync(join(tmpdir(), 'accsyn-cli-workspace-'));
    try {
      const env = cleanEnv({ ACCSYN_DATABASE_URL: database.url as string, ACCSYN_DATA_DIR: dataDir });
      const added = await accsyn(['server', 'workspace', 'add', 'post', '--admin', 'pat@post.test'], env);
      expect(added.code).toBe(0);
      const { key, volume } = JSON.parse(added.stdout) as { key: string; volume: string };
      expect(volume).toBe(join(dataDir, 'workspaces', 'post', 'default'));
      const listed = await accsyn(['server', 'workspace', 'list'], env);
      expect(JSON.parse(listed.stdout)).toMatchObject([{ code: 'post', name: 'post', admins: ['pat@post.test'] }]);

      // The first start finds a workspace, and makes none of its own.
      const running = await startServerProcess(['--port', '0', '--data-dir', dataDir, ...database.flags]);
      try {
        const post = sessionOf('post', 'pat@post.test', key, running.url);
        expect(await post.login()).toMatchObject({ role: 'admin' });
        expect((await post.find('Volume')).map((v) => v.path)).toEqual([volume]);
        await post.close();
      } finally {
        await stopServerProcess(running);
      }
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
      await database.drop();
    }
  });
});
