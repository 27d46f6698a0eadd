import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Session } from 'accsyn-api';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addUser, type Server, startServer } from '../../api/test/support.js';
import { freePort } from '../../server/test/support/net.js';
import { run } from '../src/program.js';
import {
  accsyn,
  cleanEnv,
  cli,
  emptyEnvFile,
  type IoOptions,
  type Outcome,
  spawnAccsyn,
  testIo,
  until,
} from './support.js';

/**
 * `accsyn`, the command line, run in-process against the real server (and, at the end, as the real executable):
 * each test gives the command its arguments, environment and input, and reads what it printed and how it ended.
 */

let server: Server;
let session: Session;
let folder: string;
/** The admin's environment: the env file the server's first start wrote. */
let adminEnv: Record<string, string>;
/** The three transfers every listing test finds by their names. */
let plates: { id: string; name: string }[];

beforeAll(async () => {
  server = await startServer();
  folder = mkdtempSync(join(tmpdir(), 'accsyn-cli-test-'));
  adminEnv = { ACCSYN_CREDENTIALS_PATH: join(server.dataDir, 'admin.env') };
  session = new Session({ ...server.admin, hostname: server.url, environment: false });
  await session.create('User', { code: 'lisa@example.com' });
  plates = [];
  for (const name of ['plate-1', 'plate-2', 'plate-3']) {
    const created = await session.create('Transfer', {
      source: `renders/${name}.exr`,
      destination: 'lisa@example.com:/in/',
      name,
    });
    plates.push({ id: created.id, name });
  }
});

afterAll(async () => {
  await session?.close();
  await server?.stop();
  if (folder) rmSync(folder, { recursive: true, force: true });
});

/** Runs `accsyn` in-process as the admin, output to a pipe unless `tty`. */
function admin(argv: readonly string[], options: Partial<IoOptions> = {}): Promise<Outcome> {
  return cli(argv, { env: adminEnv, ...options });
}

/** The environment of someone whose credentials are variables, with no env file in force. */
function variables(credentials: { workspace: string; username: string; apiKey: string; hostname: string }) {
  return {
    ACCSYN_CREDENTIALS_PATH: emptyEnvFile(folder),
    ACCSYN_WORKSPACE: credentials.workspace,
    ACCSYN_API_USER: credentials.username,
    ACCSYN_API_KEY: credentials.apiKey,
    ACCSYN_HOSTNAME: credentials.hostname,
  };
}

const parsed = <T = Record<string, unknown>>(outcome: Outcome): T => JSON.parse(outcome.stdout) as T;
const lines = (text: string) => text.split('\n').filter((line) => line !== '');
/** The cells of a table's line, which separates them by two spaces or more. */
const cells = (line: string) => line.trim().split(/\s{2,}/);
const ISO_SECOND = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;
const PLATES = 'Transfer WHERE name CONTAINS plate';

async function newTransfer(name: string, status?: string): Promise<string> {
  const created = await session.create('Transfer', {
    source: `renders/${name}.exr`,
    destination: 'lisa@example.com:/in/',
    name,
    ...(status && { status }),
  });
  return created.id;
}

describe('whoami, types, attributes', () => {
  it('whoami prints JSON to a pipe', async () => {
    const outcome = await admin(['whoami']);
    expect(outcome.code).toBe(0);
    expect(parsed(outcome)).toEqual({
      workspace: 'acme',
      user: 'admin@acme.test',
      role: 'admin',
      id: expect.stringMatching(/^[0-9a-z]{24}$/),
    });
  });

  it('whoami prints one attribute per line at a terminal', async () => {
    const outcome = await admin(['whoami'], { tty: true });
    expect(outcome.code).toBe(0);
    const rows = lines(outcome.stdout).map(cells);
    expect(rows.slice(0, 3)).toEqual([
      ['workspace:', 'acme'],
      ['user:', 'admin@acme.test'],
      ['role:', 'admin'],
    ]);
    expect(() => JSON.parse(outcome.stdout)).toThrow();
  });

  it('types lists the entity types, as JSON or one a line', async () => {
    const piped = await admin(['types']);
    expect(piped.code).toBe(0);
    expect(parsed<string[]>(piped)).toEqual(expect.arrayContaining(['user', 'transfer', 'task', 'queue', 'acl']));
    const shown = await admin(['types'], { tty: true });
    expect(lines(shown.stdout)).toEqual(parsed<string[]>(piped));
  });

  it("attributes lists a type's attributes, and those a create or an update may give", async () => {
    const all = parsed<string[]>(await admin(['attributes', 'transfer']));
    const create = parsed<string[]>(await admin(['attributes', 'transfer', '--create']));
    const update = parsed<string[]>(await admin(['attributes', 'transfer', '--update']));
    expect(all).toEqual(expect.arrayContaining(['id', 'status', 'source', 'progress', 'created']));
    expect(create).toEqual(expect.arrayContaining(['source', 'destination', 'status']));
    expect(update).toContain('status');
    expect(update).not.toContain('source');
  });

  it('attributes with both --create and --update is a usage error', async () => {
    const outcome = await admin(['attributes', 'transfer', '--create', '--update']);
    expect(outcome).toMatchObject({ code: 2, stdout: '' });
    expect(outcome.stderr).toBe('accsyn: Give --create or --update, not both.\n');
  });
});

describe('find', () => {
  it('prints a table at a terminal: the usual columns, references by name, and how many', async () => {
    const outcome = await admin(['find', PLATES], { tty: true });
    expect(outcome.code).toBe(0);
    const [header, ...rows] = lines(outcome.stdout);
    expect(cells(header as string)).toEqual([
      'id',
      'name',
      'status',
      'progress',
      'source',
      'destination',
      'user',
      'created',
    ]);
    expect(rows.at(-1)).toBe('3 entities');
    const table = rows.slice(0, -1).map(cells);
    expect(table.map((row) => row[1]).sort()).toEqual(['plate-1', 'plate-2', 'plate-3']);
    for (const row of table) {
      // source, destination and user read as their _hr forms, not as ids.
      expect(row.slice(4, 7)).toEqual(['workspace:acme', 'user:lisa@example.com', 'admin@acme.test']);
      expect(row[7]).toMatch(ISO_SECOND);
    }
  });

  it('says so at a terminal when nothing is found, and prints [] to a pipe', async () => {
    expect((await admin(['find', 'Transfer WHERE name=nothing-like-this'], { tty: true })).stdout).toBe(
      'Nothing found.\n',
    );
    expect(parsed(await admin(['find', 'Transfer WHERE name=nothing-like-this']))).toEqual([]);
  });

  it('prints a JSON list to a pipe, and at a terminal with --json', async () => {
    for (const outcome of [await admin(['find', PLATES]), await admin(['find', PLATES, '--json'], { tty: true })]) {
      expect(outcome.code).toBe(0);
      const found = parsed<{ id: string; name: string; destination_hr: string }[]>(outcome);
      expect(found.map((t) => t.name).sort()).toEqual(['plate-1', 'plate-2', 'plate-3']);
      expect(found[0]?.destination_hr).toBe('user:lisa@example.com');
    }
  });

  it('prints one JSON object per line with --ndjson', async () => {
    const outcome = await admin(['find', PLATES, '--ndjson'], { tty: true });
    expect(outcome.code).toBe(0);
    const found = lines(outcome.stdout).map((line) => JSON.parse(line) as { name: string });
    expect(found.map((t) => t.name).sort()).toEqual(['plate-1', 'plate-2', 'plate-3']);
  });

  it('prints dates as ISO 8601 in UTC, to the second', async () => {
    const [first] = parsed<{ created: string; modified: string }[]>(await admin(['find', PLATES]));
    expect(first?.created).toMatch(ISO_SECOND);
    expect(first?.modified).toMatch(ISO_SECOND);
  });

  it('--attributes picks the columns of the table and the attributes asked of the server', async () => {
    const shown = await admin(['find', PLATES, '--attributes', 'name,status'], { tty: true });
    const [header, ...rows] = lines(shown.stdout);
    expect(cells(header as string)).toEqual(['name', 'status']);
    expect(rows.slice(0, -1).map(cells).sort()).toEqual([
      ['plate-1', 'waiting'],
      ['plate-2', 'waiting'],
      ['plate-3', 'waiting'],
    ]);
    const piped = parsed<object[]>(await admin(['find', PLATES, '-a', 'name, status']));
    for (const transfer of piped) expect(Object.keys(transfer).sort()).toEqual(['id', 'name', 'status']);
  });

  it('--attributes shows a reference by its readable form in a table, and as asked when piped', async () => {
    const shown = await admin(['find', PLATES, '--attributes', 'name,user', '--limit', '1'], { tty: true });
    const [header, row] = lines(shown.stdout);
    expect(cells(header as string)).toEqual(['name', 'user']);
    expect(cells(row as string)[1]).toBe('admin@acme.test');
    const [piped] = parsed<object[]>(await admin(['find', PLATES, '-a', 'user', '--limit', '1']));
    expect(piped).toEqual({ id: expect.any(String), user: expect.stringMatching(/^[0-9a-f]{24}$/) });
  });

  it('--limit and --skip page through the entities', async () => {
    const all = parsed<{ id: string }[]>(await admin(['find', PLATES])).map((t) => t.id);
    const page = parsed<{ id: string }[]>(await admin(['find', PLATES, '--skip', '1', '--limit', '1']));
    expect(page.map((t) => t.id)).toEqual(all.slice(1, 2));
    expect(parsed<unknown[]>(await admin(['find', PLATES, '--limit', '2']))).toHaveLength(2);
    expect(parsed<unknown[]>(await admin(['find', PLATES, '--skip', '3']))).toEqual([]);
  });

  it('--all gets every entity, as a list, a table or lines', async () => {
    const all = parsed<{ id: string }[]>(await admin(['find', PLATES]))
      .map((t) => t.id)
      .sort();
    const listed = parsed<{ id: string }[]>(await admin(['find', PLATES, '--all']));
    expect(listed.map((t) => t.id).sort()).toEqual(all);
    const streamed = lines((await admin(['find', PLATES, '--all', '--ndjson'])).stdout);
    expect(streamed.map((line) => (JSON.parse(line) as { id: string }).id).sort()).toEqual(all);
    expect(lines((await admin(['find', PLATES, '--all'], { tty: true })).stdout).at(-1)).toBe('3 entities');
  });

  it('--all does not go with --limit or --skip', async () => {
    for (const paging of [
      ['--limit', '2'],
      ['--skip', '1'],
    ]) {
      const outcome = await admin(['find', PLATES, '--all', ...paging]);
      expect(outcome).toMatchObject({ code: 2, stdout: '' });
      expect(outcome.stderr).toContain('--all pages through every entity; it does not go with --skip or --limit.');
    }
  });

  it('--finished adds finished jobs, --archived deleted ones', async () => {
    const done = await newTransfer('scope-done', 'done');
    const deleted = await newTransfer('scope-deleted');
    await session.deleteOne('Transfer', deleted);
    const ids = async (...flags: string[]) =>
      parsed<{ id: string }[]>(await admin(['find', 'Transfer WHERE name CONTAINS scope', ...flags])).map((t) => t.id);
    expect(await ids()).toEqual([]);
    expect(await ids('--finished')).toEqual([done]);
    // The server's archived scope holds the finished jobs as well.
    expect((await ids('--archived')).sort()).toEqual([done, deleted].sort());
  });
});

describe('get', () => {
  it('shows one entity by its id, as JSON or one attribute per line', async () => {
    const plate = plates[0] as { id: string; name: string };
    const piped = await admin(['get', 'transfer', plate.id]);
    expect(piped.code).toBe(0);
    expect(parsed(piped)).toMatchObject({ id: plate.id, name: plate.name, status: 'waiting' });
    const shown = await admin(['get', 'Transfer', plate.id], { tty: true });
    const rows = lines(shown.stdout).map(cells);
    expect(rows).toContainEqual(['name:', plate.name]);
    expect(rows).toContainEqual(['destination:', 'user:lisa@example.com']);
    expect(rows).toContainEqual(['created:', expect.stringMatching(ISO_SECOND)]);
    // A reference shows its readable form in place of the id, not beside it.
    expect(rows.some((row) => row[0] === 'destination_hr:')).toBe(false);
  });

  it('exits 5 with a sentence when there is no entity with that id', async () => {
    const outcome = await admin(['get', 'transfer', '000000000000000000000000']);
    expect(outcome).toMatchObject({ code: 5, stdout: '' });
    expect(outcome.stderr).toBe('accsyn: There is no transfer 000000000000000000000000, or you may not see it.\n');
  });

  it('exits 2 for an id that is not an id', async () => {
    const outcome = await admin(['get', 'transfer', 'nope']);
    expect(outcome.code).toBe(2);
    expect(outcome.stderr).toContain('"nope"');
  });
});

describe('create', () => {
  it('creates from a JSON argument', async () => {
    const outcome = await admin([
      'create',
      'transfer',
      '{"source": "renders/arg.exr", "destination": "lisa@example.com:/in/", "name": "from-arg"}',
    ]);
    expect(outcome.code).toBe(0);
    const created = parsed<{ id: string; name: string; status: string }>(outcome);
    expect(created).toMatchObject({ name: 'from-arg', status: 'waiting' });
    expect(await session.getEntity('Transfer', created.id)).toMatchObject({ name: 'from-arg' });
  });

  it('creates from @file', async () => {
    const file = join(folder, 'user.json');
    writeFileSync(file, JSON.stringify({ code: 'file@example.com', role: 'employee' }));
    const outcome = await admin(['create', 'user', `@${file}`]);
    expect(outcome.code).toBe(0);
    expect(parsed(outcome)).toMatchObject({ code: 'file@example.com', role: 'employee' });
  });

  it('creates from standard input with -', async () => {
    const outcome = await admin(['create', 'user', '-'], { stdin: '{"code": "stdin@example.com"}\n' });
    expect(outcome.code).toBe(0);
    expect(parsed(outcome)).toMatchObject({ code: 'stdin@example.com', role: 'standard' });
  });

  it('adds a list of tasks to a job with --parent', async () => {
    const job = await newTransfer('with-tasks');
    const outcome = await admin(['create', 'task', '["renders/b.exr", "renders/c.exr"]', '--parent', job]);
    expect(outcome.code).toBe(0);
    const tasks = parsed<{ job: string; source: { path: string } }[]>(outcome);
    expect(tasks.map((t) => [t.job, t.source.path])).toEqual([
      [job, 'renders/b.exr'],
      [job, 'renders/c.exr'],
    ]);
  });

  it('exits 2 naming the problem when the argument is not JSON, or not an object', async () => {
    const broken = await admin(['create', 'user', '{"code": '], { tty: true });
    expect(broken).toMatchObject({ code: 2, stdout: '' });
    expect(broken.stderr).toMatch(/^accsyn: The new user's attributes must be JSON: .+\.\n$/);
    const scalar = await admin(['create', 'user', '-'], { stdin: '"lisa"' });
    expect(scalar.code).toBe(2);
    expect(scalar.stderr).toBe('accsyn: The new user\'s attributes must be a JSON object, not "lisa".\n');
    // A list is for tasks only.
    const list = await admin(['create', 'user', '[{"code": "x@y.test"}]']);
    expect([list.code, list.stderr]).toEqual([
      2,
      'accsyn: The new user\'s attributes must be a JSON object, not [{"code":"x@y.test"}].\n',
    ]);
    const missing = await admin(['create', 'user', `@${join(folder, 'missing.json')}`]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toBe(`accsyn: Cannot read ${join(folder, 'missing.json')}: ENOENT.\n`);
  });
});

describe('update, delete, activate, deactivate', () => {
  it('updates a transfer', async () => {
    const id = await newTransfer('to-pause');
    const outcome = await admin(['update', 'transfer', id, '{"status": "paused"}']);
    expect(outcome.code).toBe(0);
    expect(parsed(outcome)).toMatchObject({ id, status: 'paused' });
    expect(await session.getEntity('Transfer', id)).toMatchObject({ status: 'paused' });
  });

  it("exits 2 with the server's message for a change it refuses", async () => {
    const id = await newTransfer('refused');
    const running = await admin(['update', 'transfer', id, '{"status": "running"}']);
    expect(running).toMatchObject({ code: 2, stdout: '' });
    expect(running.stderr).toBe(
      "accsyn: transfer status 'running' cannot be set; the statuses you may set are waiting, paused, aborted, done.\n",
    );
    const immutable = await admin(['update', 'transfer', id, '{"source": "elsewhere/x.exr"}']);
    expect(immutable.code).toBe(2);
    expect(immutable.stderr).toBe('accsyn: transfer.source cannot be changed.\n');
    expect(await session.getEntity('Transfer', id)).toMatchObject({ status: 'waiting' });
  });

  it('updates only with a JSON object', async () => {
    const outcome = await admin(['update', 'transfer', plates[0]?.id as string, '["paused"]']);
    expect(outcome.code).toBe(2);
    expect(outcome.stderr).toBe('accsyn: The changes must be a JSON object, not ["paused"].\n');
  });

  it('deletes: the transfer is aborted and archived, found by id and by --archived only', async () => {
    const id = await newTransfer('to-delete');
    const outcome = await admin(['delete', 'transfer', id]);
    expect(outcome).toEqual({ code: 0, stdout: '', stderr: `Deleted transfer ${id}.\n` });
    expect(parsed(await admin(['get', 'transfer', id]))).toMatchObject({ id, status: 'aborted' });
    expect(parsed(await admin(['find', `Transfer WHERE id=${id}`, '--finished']))).toEqual([]);
    expect(parsed<unknown[]>(await admin(['find', `Transfer WHERE id=${id}`, '--archived']))).toHaveLength(1);
  });

  it('deactivates a user by id and activates it by its code', async () => {
    const user = await session.create('User', { code: 'max@example.com' });
    const deactivated = await admin(['deactivate', 'user', user.id]);
    expect(deactivated).toEqual({ code: 0, stdout: '', stderr: `Deactivated user ${user.id}.\n` });
    expect(parsed(await admin(['get', 'user', user.id]))).toMatchObject({ inactive: true });
    expect(parsed(await admin(['find', 'User WHERE code=max@example.com']))).toEqual([]);
    expect(parsed<unknown[]>(await admin(['find', 'User WHERE code=max@example.com', '--inactive']))).toHaveLength(1);
    const activated = await admin(['activate', 'user', 'max@example.com']);
    expect(activated).toEqual({ code: 0, stdout: '', stderr: 'Activated user max@example.com.\n' });
    expect(parsed(await admin(['get', 'user', user.id]))).toMatchObject({ inactive: false });
  });
});

describe('query errors', () => {
  /** The line of stderr that holds the query, and the caret line under it. */
  function caret(stderr: string, query: string): { column: number; message: string } {
    const all = stderr.split('\n');
    const at = all.indexOf(query);
    expect(at).toBeGreaterThan(-1);
    const under = all[at + 1] as string;
    return { column: under.indexOf('^'), message: under.slice(under.indexOf('^') + 1).trim() };
  }

  it('exits 2 with the query and a caret under the culprit', async () => {
    const query = 'Transfer WHERE status=';
    const outcome = await admin(['find', query]);
    expect(outcome).toMatchObject({ code: 2, stdout: '' });
    expect(outcome.stderr.startsWith('accsyn: The query is not valid:\n')).toBe(true);
    expect(caret(outcome.stderr, query)).toEqual({
      column: query.length,
      message: "expected a value after '=', found the end of the query",
    });
  });

  it("places the server's refusal of an unknown attribute in the query", async () => {
    const query = 'Transfer WHERE status=waiting AND colour=red';
    const outcome = await admin(['find', query]);
    expect(outcome.code).toBe(2);
    expect(caret(outcome.stderr, query)).toEqual({
      column: query.indexOf('colour'),
      message: "unknown attribute 'colour'",
    });
  });

  it('exits 2 when the server refuses an unknown attribute asked for or given', async () => {
    const asked = await admin(['find', 'Transfer', '--attributes', 'colour']);
    expect(asked.code).toBe(2);
    expect(asked.stderr).toBe("accsyn: find: transfer has no attribute 'colour'.\n");
    const given = await admin(['create', 'transfer', '{"source": "a.exr", "destination": "out/", "colour": "red"}']);
    expect(given.code).toBe(2);
    expect(given.stderr).toBe("accsyn: transfer has no attribute 'colour'.\n");
  });
});

describe('exit codes', () => {
  it('3 when the key is wrong', async () => {
    const env = variables({ ...server.admin, hostname: server.url, apiKey: 'not-the-key' });
    const outcome = await cli(['whoami'], { env });
    expect(outcome).toMatchObject({ code: 3, stdout: '' });
    expect(outcome.stderr).toContain('Check ACCSYN_WORKSPACE, ACCSYN_API_USER and ACCSYN_API_KEY');
  });

  it('4 when the role may not do it: a standard user creating a user', async () => {
    const env = variables(addUser(server, 'sam@acme.test', 'standard'));
    expect(parsed(await cli(['whoami'], { env }))).toMatchObject({ user: 'sam@acme.test', role: 'standard' });
    const outcome = await cli(['create', 'user', '{"code": "eve@example.com"}'], { env });
    expect(outcome).toMatchObject({ code: 4, stdout: '' });
    expect(outcome.stderr).toBe('accsyn: Permission denied: a standard user may not create users.\n');
  });

  it('5 when there is no such entity', async () => {
    expect((await admin(['get', 'user', '000000000000000000000000'])).code).toBe(5);
  });

  it('8 when the server cannot be reached, directly or through a proxy', async () => {
    const port = await freePort();
    const direct = await admin(['whoami', '--hostname', `http://127.0.0.1:${port}`]);
    expect(direct).toMatchObject({ code: 8, stdout: '' });
    expect(direct.stderr).toContain(`127.0.0.1:${port}`);
    expect(direct.stderr).toContain("Check the server's address (ACCSYN_HOSTNAME, --hostname)");
    const proxied = await admin(['whoami', '--proxy', `accsyn:127.0.0.1:${port}`]);
    expect(proxied.code).toBe(8);
    expect(proxied.stderr).toContain(`127.0.0.1:${port}`);
  });

  it('6 when the server still refuses after the retries: a Retry-After beyond 120 s ends them at once', async () => {
    // Two logins in a 300 s window, then 429 with Retry-After ~300 s, longer than the client waits in all.
    const limited = await startServer({}, ['--throttle', '2:300:0']);
    try {
      const env = { ACCSYN_CREDENTIALS_PATH: join(limited.dataDir, 'admin.env') };
      expect((await cli(['whoami'], { env })).code).toBe(0);
      expect((await cli(['whoami'], { env })).code).toBe(0);
      const outcome = await cli(['whoami'], { env });
      expect(outcome).toMatchObject({ code: 6, stdout: '' });
      expect(outcome.stderr).toMatch(
        /^accsyn: Too many requests, please try again later\. accsyn retried and gave up\. The server asks to wait \d+ s\.\n$/,
      );
    } finally {
      await limited.stop();
    }
  });
});

describe('flags beat the environment', () => {
  it('--workspace beats ACCSYN_WORKSPACE, --hostname beats ACCSYN_HOSTNAME', async () => {
    const port = await freePort();
    const env = variables({ ...server.admin, workspace: 'nowhere', hostname: `http://127.0.0.1:${port}` });
    expect((await cli(['whoami', '--hostname', server.url], { env })).code).toBe(3);
    const outcome = await cli(['whoami', '--workspace', 'acme', '--hostname', server.url], { env });
    expect(outcome.code).toBe(0);
    expect(parsed(outcome)).toMatchObject({ workspace: 'acme', user: 'admin@acme.test' });
  });

  it('--user beats ACCSYN_API_USER', async () => {
    const env = variables({ ...server.admin, hostname: server.url, username: 'nobody@acme.test' });
    expect(parsed(await cli(['whoami', '--user', 'admin@acme.test'], { env }))).toMatchObject({ role: 'admin' });
  });

  it('--env-file names the credentials', async () => {
    const outcome = await cli(['whoami', '--env-file', join(server.dataDir, 'admin.env')], {
      env: { ACCSYN_CREDENTIALS_PATH: emptyEnvFile(folder) },
    });
    expect(outcome.code).toBe(0);
    expect(parsed(outcome)).toMatchObject({ workspace: 'acme', user: 'admin@acme.test' });
  });

  it('a missing --env-file is a usage error that names it', async () => {
    const missing = join(folder, 'nowhere.env');
    const outcome = await cli(['whoami', '--env-file', missing], { env: adminEnv });
    expect(outcome).toMatchObject({ code: 2, stdout: '' });
    expect(outcome.stderr.startsWith(`accsyn: Cannot read the env file ${missing}: ENOENT`)).toBe(true);
  });

  it('says which credential is missing', async () => {
    const outcome = await cli(['whoami'], { env: { ACCSYN_CREDENTIALS_PATH: emptyEnvFile(folder) } });
    expect(outcome.code).toBe(2);
    expect(outcome.stderr).toContain('ACCSYN_WORKSPACE');
  });
});

describe('watch', () => {
  /** Starts `accsyn watch` in-process; its output can be read while it runs. */
  function watch(id: string, ...flags: string[]) {
    const { io, stdout, stderr } = testIo({ env: adminEnv });
    const ended = run(['watch', id, '--interval', '1', ...flags], io);
    return { ended, stdout, stderr };
  }

  /** Sets a job's status as the transfer engine would: `failed` and `running` are not the API's to set. */
  function asTheEngine(id: string, changes: { status: string; progress?: number; speed?: number; etr?: number }) {
    const db = new Database(join(server.dataDir, 'accsyn.db'));
    try {
      db.prepare('UPDATE jobs SET status = ?, progress = ?, speed = ?, etr = ? WHERE id = ?').run(
        changes.status,
        changes.progress ?? 0,
        changes.speed ?? -1,
        changes.etr ?? null,
        id,
      );
    } finally {
      db.close();
    }
  }

  it('writes a line per change to stderr, then exits 0 with the transfer as JSON when it is done', async () => {
    const id = await newTransfer('watched-done');
    const watching = watch(id);
    await until(() => watching.stderr().includes('waiting'), 'the first poll');
    await session.update('Transfer', id, { status: 'paused' });
    await until(() => watching.stderr().includes('paused'), 'the pause');
    await session.update('Transfer', id, { status: 'done' });
    expect(await watching.ended).toBe(0);
    expect(lines(watching.stderr())).toEqual([
      'waiting 0% idle',
      'paused 0% idle',
      'done 0% idle',
      `Transfer ${id} is done.`,
    ]);
    expect(JSON.parse(watching.stdout())).toMatchObject({ id, status: 'done', finished: expect.any(String) });
  });

  it('exits 11 when the transfer is aborted', async () => {
    const id = await newTransfer('watched-aborted');
    const watching = watch(id);
    await until(() => watching.stderr().includes('waiting'), 'the first poll');
    await session.update('Transfer', id, { status: 'aborted' });
    expect(await watching.ended).toBe(11);
    expect(lines(watching.stderr())).toEqual([
      'waiting 0% idle',
      'aborted 0% idle',
      `accsyn: Transfer ${id} was aborted.`,
    ]);
    expect(JSON.parse(watching.stdout())).toMatchObject({ id, status: 'aborted' });
  });

  it('exits 10 when the transfer fails, and shows its progress as it runs', async () => {
    const id = await newTransfer('watched-failed');
    const watching = watch(id);
    await until(() => watching.stderr().includes('waiting'), 'the first poll');
    asTheEngine(id, { status: 'running', progress: 42, speed: 12.5, etr: 75 });
    await until(() => watching.stderr().includes('running'), 'the start');
    asTheEngine(id, { status: 'failed', progress: 42 });
    expect(await watching.ended).toBe(10);
    expect(lines(watching.stderr())).toEqual([
      'waiting 0% idle',
      'running 42% 12.5 MB/s 1m15s left',
      'failed 42% idle',
      `accsyn: Transfer ${id} failed.`,
    ]);
  });

  it('--ndjson prints the transfer at each change', async () => {
    const id = await newTransfer('watched-ndjson');
    const watching = watch(id, '--ndjson');
    await until(() => watching.stdout().includes('waiting'), 'the first poll');
    await session.update('Transfer', id, { status: 'paused' });
    await until(() => watching.stdout().includes('paused'), 'the pause');
    await session.update('Transfer', id, { status: 'done' });
    expect(await watching.ended).toBe(0);
    const seen = lines(watching.stdout()).map((line) => JSON.parse(line) as { id: string; status: string });
    expect(seen.map((t) => [t.id, t.status])).toEqual([
      [id, 'waiting'],
      [id, 'paused'],
      [id, 'done'],
    ]);
  });

  it('exits 5 when there is no such transfer', async () => {
    const watching = watch('000000000000000000000000');
    expect(await watching.ended).toBe(5);
    expect(watching.stderr()).toBe('accsyn: There is no transfer 000000000000000000000000, or you may not see it.\n');
  });

  it('refuses a --max-interval shorter than --interval', async () => {
    const outcome = await admin(['watch', plates[0]?.id as string, '--interval', '5', '--max-interval', '2']);
    expect(outcome.code).toBe(2);
    expect(outcome.stderr).toBe('accsyn: --max-interval must not be shorter than --interval.\n');
  });
});

describe('server user and apikey, on the database of the running server', () => {
  const store = () => ['--data-dir', server.dataDir];
  /** Someone's environment with this key, against the running server. */
  const keyEnv = (username: string, apiKey: string) =>
    variables({ workspace: 'acme', username, apiKey, hostname: server.url });

  it('adds a user whose new key works at once, until it is revoked', async () => {
    const added = await admin(['server', 'user', 'add', 'carol@acme.test', '--role', 'employee', ...store()]);
    expect(added.code).toBe(0);
    expect(added.stderr).toBe("Added employee carol@acme.test to workspace 'acme'.\n");
    expect(parsed(added)).toMatchObject({ email: 'carol@acme.test', role: 'employee', workspace: 'acme' });

    // At a terminal the key alone goes to stdout, the advice to stderr.
    const created = await admin(['server', 'apikey', 'create', 'carol@acme.test', '--name', 'laptop', ...store()], {
      tty: true,
    });
    expect(created.code).toBe(0);
    const key = created.stdout.trim();
    expect(lines(created.stdout)).toEqual([key]);
    expect(created.stderr).toMatch(
      /^API key 'laptop' \(id [0-9a-z]{24}\) for carol@acme\.test\. It is shown this once/,
    );
    const keyId = /\(id ([0-9a-z]{24})\)/.exec(created.stderr)?.[1] as string;

    const me = await cli(['whoami'], { env: keyEnv('carol@acme.test', key) });
    expect(me.code).toBe(0);
    expect(parsed(me)).toMatchObject({ workspace: 'acme', user: 'carol@acme.test', role: 'employee' });

    const revoked = await admin(['server', 'apikey', 'revoke', keyId, ...store()]);
    expect(revoked).toEqual({
      code: 0,
      stdout: '',
      stderr: `Revoked API key 'laptop' (id ${keyId}) of carol@acme.test.\n`,
    });
    expect((await cli(['whoami'], { env: keyEnv('carol@acme.test', key) })).code).toBe(3);
  });

  it('lists the keys with their states, never the keys themselves', async () => {
    await admin(['server', 'user', 'add', 'dave@acme.test', '--role', 'standard', ...store()]);
    const make = async (...flags: string[]) =>
      parsed<{ id: string; key: string }>(
        await admin(['server', 'apikey', 'create', 'dave@acme.test', '--json', ...flags, ...store()]),
      );
    const active = await make('--name', 'active');
    const revoked = await make('--name', 'revoked');
    await admin(['server', 'apikey', 'revoke', revoked.id, ...store()]);
    const expires = new Date(Date.now() + 1500);
    const expiring = await make('--name', 'expiring', '--expires', expires.toISOString());
    expect((await cli(['whoami'], { env: keyEnv('dave@acme.test', expiring.key) })).code).toBe(0);
    await until(() => Date.now() > expires.getTime() + 50, 'the expiry');

    const listed = await admin(['server', 'apikey', 'list', 'dave@acme.test', ...store()]);
    expect(listed.code).toBe(0);
    const keys = parsed<Record<string, unknown>[]>(listed);
    expect(keys.map((k) => [k.name, k.state])).toEqual([
      ['active', 'active'],
      ['revoked', 'revoked'],
      ['expiring', 'expired'],
    ]);
    expect(keys[2]?.expires).toBe(expires.toISOString().replace(/\.\d{3}Z$/, 'Z'));
    expect(keys[0]?.created).toMatch(ISO_SECOND);
    for (const key of keys) expect(key).not.toHaveProperty('key');

    const table = await admin(['server', 'apikey', 'list', 'dave@acme.test', ...store()], { tty: true });
    const [header, ...rows] = lines(table.stdout);
    expect(cells(header as string)).toEqual(['id', 'name', 'state', 'created', 'expires', 'lastUsed']);
    expect(rows.at(-1)).toBe('3 keys');
    for (const output of [listed.stdout, table.stdout]) {
      for (const secret of [active.key, revoked.key, expiring.key]) expect(output).not.toContain(secret);
    }
    expect((await cli(['whoami'], { env: keyEnv('dave@acme.test', expiring.key) })).code).toBe(3);
    expect((await cli(['whoami'], { env: keyEnv('dave@acme.test', active.key) })).code).toBe(0);
  });

  it('exits 2 with a sentence for an unknown user, a bad role, a past expiry or a missing database', async () => {
    const cases: [string[], string][] = [
      [
        ['server', 'apikey', 'create', 'nobody@acme.test', ...store()],
        "There is no user nobody@acme.test in workspace 'acme'.",
      ],
      [
        ['server', 'apikey', 'list', 'nobody@acme.test', ...store()],
        "There is no user nobody@acme.test in workspace 'acme'.",
      ],
      [
        ['server', 'user', 'add', 'erin@acme.test', '--role', 'boss', ...store()],
        "The role must be one of admin, employee, standard, not 'boss'.",
      ],
      [
        ['server', 'apikey', 'create', 'admin@acme.test', '--expires', '2020-01-01', ...store()],
        'The expiry 2020-01-01T00:00:00.000Z has passed already.',
      ],
      [
        ['server', 'apikey', 'create', 'admin@acme.test', '--expires', 'tomorrow', ...store()],
        "--expires must be a date such as 2027-06-30 or 2027-06-30T12:00:00Z, not 'tomorrow'.",
      ],
      [
        ['server', 'user', 'add', 'admin@acme.test', '--role', 'admin', ...store()],
        "Workspace 'acme' already has a user admin@acme.test.",
      ],
      [
        ['server', 'apikey', 'revoke', '000000000000000000000000', ...store()],
        'There is no API key with id 000000000000000000000000.',
      ],
      [
        ['server', 'apikey', 'list', 'admin@acme.test', '--data-dir', folder],
        `There is no database at ${join(folder, 'accsyn.db')}. Start the server once to create it, or give --data-dir.`,
      ],
    ];
    for (const [argv, sentence] of cases) {
      const outcome = await admin(argv);
      expect({ argv, ...outcome }).toEqual({ argv, code: 2, stdout: '', stderr: `accsyn: ${sentence}\n` });
    }
  });
});

describe('completion', () => {
  let script: string;

  beforeAll(async () => {
    const outcome = await admin(['completion', 'bash']);
    expect(outcome.code).toBe(0);
    script = join(folder, 'accsyn.bash');
    writeFileSync(script, outcome.stdout);
  });

  /** What bash offers for the words typed so far, the last one being completed. */
  async function complete(...words: string[]): Promise<string[]> {
    const program = `source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _accsyn; printf '%s\\n' "\${COMPREPLY[@]}"`;
    const child = spawn('bash', ['-c', program, 'bash', script, ...words], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (text: string) => {
      out += text;
    });
    child.stderr.setEncoding('utf8').on('data', (text: string) => {
      err += text;
    });
    const [code] = await once(child, 'close');
    expect({ code, err }).toEqual({ code: 0, err: '' });
    return lines(out);
  }

  it('completes commands, subcommands and options in a real bash', async () => {
    expect(await complete('accsyn', 'fi')).toEqual(['find']);
    expect(await complete('accsyn', 'server', 'apikey', 'r')).toEqual(['revoke']);
    expect(await complete('accsyn', 'find', 'Transfer', '--att')).toEqual(['--attributes']);
    expect(await complete('accsyn', 'find', 'Transfer', '--')).toEqual(
      expect.arrayContaining(['--attributes', '--limit', '--all', '--ndjson', '--env-file']),
    );
    expect(await complete('accsyn', 'server', '')).toEqual(expect.arrayContaining(['start', 'user', 'apikey']));
    expect(await complete('accsyn', '--v')).toEqual(['--version']);
  });

  it('completes the file, access, setting and log commands', async () => {
    expect(await complete('accsyn', 'r')).toEqual(['rename', 'rm', 'revoke']);
    expect(await complete('accsyn', 'ls', 'projects', '--m')).toEqual(['--maxdepth']);
    expect(await complete('accsyn', 'ls', 'projects', '--')).toEqual(
      expect.arrayContaining(['--recursive', '--include', '--exclude', '--files-only', '--dirs-only', '--size']),
    );
    expect(await complete('accsyn', 'grant', 'lisa@example.com', 'folder', 'x', '--no-')).toEqual([
      '--no-notify',
      '--no-invite',
    ]);
    expect(await complete('accsyn', 'setting', '')).toEqual(['get', 'set', 'delete', 'list']);
    expect(await complete('accsyn', 'setting', 'list', '--up')).toEqual(['--upstream']);
    expect(await complete('accsyn', 'log', '--s')).toEqual(['--since', '--skip']);
  });

  it('prints the zsh form through bashcompinit', async () => {
    const outcome = await admin(['completion', 'zsh']);
    expect(outcome.code).toBe(0);
    expect(outcome.stdout).toContain('autoload -U +X bashcompinit && bashcompinit');
    expect(outcome.stdout).toContain('complete -o default -F _accsyn accsyn');
  });

  it('has no fish form', async () => {
    expect(await admin(['completion', 'fish'])).toEqual({
      code: 2,
      stdout: '',
      stderr: "accsyn: There is completion for bash and zsh, not 'fish'.\n",
    });
  });
});

describe('usage', () => {
  it('exits 2 for an unknown command, a missing argument or a bad number', async () => {
    const unknown = await admin(['fnd', 'Transfer']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("error: unknown command 'fnd'");
    const missing = await admin(['get', 'transfer']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("error: missing required argument 'id'");
    const zero = await admin(['find', 'Transfer', '--limit', '0']);
    expect(zero.code).toBe(2);
    expect(zero.stderr).toContain(
      "option '--limit <n>' argument '0' is invalid. It must be a whole number of at least 1.",
    );
    const role = await admin(['server', 'user', 'add', 'x@acme.test', '--data-dir', server.dataDir]);
    expect(role.code).toBe(2);
    expect(role.stderr).toContain("required option '--role <role>' not specified");
  });

  it('--help exits 0 and lists the commands and the exit codes', async () => {
    const outcome = await admin(['--help']);
    expect(outcome.code).toBe(0);
    expect(outcome.stdout).toMatch(/^Usage: accsyn /);
    for (const command of ['find', 'get', 'create', 'update', 'delete', 'watch', 'server', 'completion']) {
      expect(outcome.stdout).toMatch(new RegExp(`^ {2}${command}\\b`, 'm'));
    }
    expect(outcome.stdout).toContain(
      "Exit codes: 0 ok, 1 accsyn's own fault, 2 usage or bad input, 3 authentication, 4 permission, 5 not found,\n" +
        '6 rate limited after retries, 7 server error, 8 connection; watch, cp: 10 failed, 11 aborted; 130 Ctrl-C.',
    );
    const watch = await admin(['watch', '--help']);
    expect(watch.code).toBe(0);
    expect(watch.stdout).toContain('Exit codes: 0 done, 10 failed, 11 aborted');
  });

  it('server start --help lists the server settings without starting one', async () => {
    const outcome = await admin(['server', 'start', '--help']);
    expect(outcome.code).toBe(0);
    expect(outcome.stdout).toMatch(/^Usage: accsyn server start \[settings\]/);
    expect(outcome.stdout).toMatch(/^ {2}--throttle +ACCSYN_THROTTLE +/m);
  });

  it('--version prints the version', async () => {
    expect(await admin(['--version'])).toEqual({ code: 0, stdout: '0.1.0\n', stderr: '' });
  });
});

describe('the accsyn executable', () => {
  it('prints JSON into a pipe', async () => {
    const outcome = await accsyn(['find', PLATES], cleanEnv(adminEnv));
    expect(outcome.code).toBe(0);
    expect(
      JSON.parse(outcome.stdout)
        .map((t: { name: string }) => t.name)
        .sort(),
    ).toEqual(['plate-1', 'plate-2', 'plate-3']);
  });

  it('reads standard input, and exits with the code of a failure', async () => {
    const env = cleanEnv(adminEnv);
    const created = await accsyn(['create', 'user', '-'], env, '{"code": "piped@example.com"}');
    expect(created.code).toBe(0);
    expect(JSON.parse(created.stdout)).toMatchObject({ code: 'piped@example.com' });
    const missing = await accsyn(['get', 'transfer', '000000000000000000000000'], env);
    expect(missing).toEqual({
      code: 5,
      stdout: '',
      stderr: 'accsyn: There is no transfer 000000000000000000000000, or you may not see it.\n',
    });
  });

  it('reads the credentials from --env-file', async () => {
    const outcome = await accsyn(['whoami', '--env-file', adminEnv.ACCSYN_CREDENTIALS_PATH as string], cleanEnv());
    expect(outcome.code).toBe(0);
    expect(JSON.parse(outcome.stdout)).toMatchObject({ workspace: 'acme', user: 'admin@acme.test' });
  });

  it('reports a missing --env-file itself, with exit 2', async () => {
    // Node reads an argument --env-file itself, even after the script's path (nodejs/node#54232).
    const missing = join(folder, 'nowhere.env');
    const outcome = await accsyn(['whoami', '--env-file', missing], cleanEnv());
    expect(outcome.stderr).toMatch(/^accsyn: Cannot read the env file /);
    expect(outcome.code).toBe(2);
  });

  it('runs the server until SIGINT, then finishes and exits 0', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'accsyn-cli-server-'));
    const child = spawnAccsyn(
      ['server', 'start', '--port', '0', '--data-dir', dataDir],
      cleanEnv({ ACCSYN_LOG_LEVEL: 'warn' }),
    );
    const exited = once(child, 'exit');
    try {
      let out = '';
      child.stdout?.setEncoding('utf8').on('data', (text: string) => {
        out += text;
      });
      child.stderr?.resume();
      await until(() => /^listening on \S+$/m.test(out), 'the server to listen');
      const url = /^listening on (\S+)$/m.exec(out)?.[1] as string;
      expect(new URL(url).hostname).toBe('127.0.0.1');
      const health = await fetch(new URL('/healthz', url));
      expect(health.status).toBe(200);
      expect(await health.json()).toEqual({ status: 'ok' });
      child.kill('SIGINT');
      expect(await exited).toEqual([0, null]);
    } finally {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
        await exited;
      }
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('refuses a bad server setting with exit 2', async () => {
    const outcome = await accsyn(['server', 'start', '--port', 'nope'], cleanEnv());
    expect(outcome.code).toBe(2);
    expect(outcome.stderr).toContain("--port (ACCSYN_PORT) must be a whole number from 0 to 65535, not 'nope'");
    expect(outcome.stderr).toContain('accsyn: The server stopped with an error (see above).');
  });
});
