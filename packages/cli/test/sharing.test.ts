import { join } from 'node:path';
import { Session } from 'accsyn-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Server, startServer } from '../../api/test/support.js';
import { cli, type IoOptions, type Outcome } from './support.js';

/** `accsyn grant`, `revoke`, `access`, `setting` and `log`, run in-process against the real server. */

let server: Server;
let session: Session;
let adminEnv: Record<string, string>;
let delivery: string;

beforeAll(async () => {
  server = await startServer();
  adminEnv = { ACCSYN_CREDENTIALS_PATH: join(server.dataDir, 'admin.env') };
  session = new Session({ ...server.admin, environment: false });
  await session.mkdir(['projects/in', 'projects/out']);
  await session.create('Folder', { parent: 'default', path: 'projects', name: 'Projects' });
  delivery = (await session.create('Delivery', { name: 'Grade' })).id;
});

afterAll(async () => {
  await session?.close();
  await server?.stop();
});

function admin(argv: readonly string[], options: Partial<IoOptions> = {}): Promise<Outcome> {
  return cli(argv, { env: adminEnv, ...options });
}

const parsed = <T = Record<string, unknown>>(outcome: Outcome): T => JSON.parse(outcome.stdout) as T;
const lines = (text: string) => text.split('\n').filter((line) => line !== '');
const cells = (line: string) => line.trim().split(/\s{2,}/);

describe('grant, access, revoke on a share', () => {
  it('grants read and write on all of a share by default, inviting a new e-mail, and prints the ACL', async () => {
    const outcome = await admin(['grant', 'lisa@example.com', 'folder', 'projects']);
    expect(outcome.code).toBe(0);
    expect(parsed(outcome)).toMatchObject({
      entity_hr: 'lisa@example.com',
      target_hr: 'projects',
      path: '/',
      read: true,
      write: true,
      rules: [{ path: '/', read: true, write: true }],
    });
    expect(await session.findOne('User WHERE code=lisa@example.com')).toMatchObject({ role: 'standard' });
  });

  it('--read or --write alone grants only that, on --path', async () => {
    const read = parsed(await admin(['grant', 'sam@example.com', 'folder', 'projects', '--read', '--path', 'out']));
    expect(read).toMatchObject({ path: 'out', read: true, write: false });
    const write = parsed(await admin(['grant', 'sam@example.com', 'folder', 'projects', '--write', '--path', 'in']));
    expect(write).toMatchObject({ path: 'in', read: false, write: true });
    expect(write.rules).toEqual([
      { path: 'out', read: true, write: false },
      { path: 'in', read: false, write: true },
    ]);
  });

  it('--no-invite refuses an e-mail that names no user, and exits 5', async () => {
    const outcome = await admin(['grant', 'nobody@example.com', 'folder', 'projects', '--no-invite']);
    expect(outcome).toEqual({
      code: 5,
      stdout: '',
      stderr: 'accsyn: There is no user nobody@example.com in this workspace, and invite is false.\n',
    });
  });

  it("access lists each user's rights, a row per user at a terminal", async () => {
    const table = await admin(['access', 'folder', 'projects'], { tty: true });
    expect(lines(table.stdout).map(cells)).toEqual([
      ['user', 'rights', 'acknowledged'],
      ['lisa@example.com', '/: read, write', 'false'],
      ['sam@example.com', 'out: read; in: write', 'false'],
      ['2 users'],
    ]);
    const list = parsed<{ user_hr: string; share_hr: string; rules: unknown[] }[]>(
      await admin(['access', 'folder', 'projects']),
    );
    expect(list.map((access) => [access.user_hr, access.share_hr, access.rules.length])).toEqual([
      ['lisa@example.com', 'projects', 1],
      ['sam@example.com', 'projects', 2],
    ]);
  });

  it('revokes, and exits 5 when there is nothing to revoke', async () => {
    expect(await admin(['revoke', 'sam@example.com', 'folder', 'projects'])).toEqual({
      code: 0,
      stdout: '',
      stderr: 'Revoked the access of sam@example.com to folder projects.\n',
    });
    expect(parsed<unknown[]>(await admin(['access', 'folder', 'projects']))).toHaveLength(1);
    const again = await admin(['revoke', 'sam@example.com', 'folder', 'projects']);
    expect(again).toMatchObject({ code: 5, stderr: 'accsyn: sam@example.com has no access to folder projects.\n' });
  });

  it('exits 5 for a share that is not there, and 2 for a type that takes no grants', async () => {
    const missing = await admin(['access', 'folder', 'nowhere']);
    expect(missing).toEqual({
      code: 5,
      stdout: '',
      stderr: 'accsyn: There is no folder nowhere, or you may not see it.\n',
    });
    const wrong = await admin(['grant', 'lisa@example.com', 'site', 'hq']);
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toBe(
      'accsyn: grant is about deliveries, requests and shares (volume, folder, home, collection), not sites.\n',
    );
  });
});

describe('grant, access, revoke on a delivery', () => {
  it('adds a recipient, lists and takes them off', async () => {
    expect(await admin(['grant', 'lisa@example.com', 'delivery', delivery])).toEqual({
      code: 0,
      stdout: '',
      stderr: `Added lisa@example.com to the recipients of delivery ${delivery}.\n`,
    });
    const table = await admin(['access', 'delivery', delivery], { tty: true });
    expect(lines(table.stdout).map(cells)).toEqual([
      ['user', 'actioned'],
      ['lisa@example.com', 'false'],
      ['1 recipient'],
    ]);
    expect(parsed(await admin(['access', 'delivery', delivery]))).toEqual([
      { actioned: false, user: expect.stringMatching(/^[0-9a-f]{24}$/), user_hr: 'lisa@example.com' },
    ]);
    expect((await admin(['revoke', 'lisa@example.com', 'delivery', delivery])).code).toBe(0);
    expect(parsed(await admin(['access', 'delivery', delivery]))).toEqual([]);
  });

  it('refuses the rights of shares for a delivery', async () => {
    const outcome = await admin(['grant', 'lisa@example.com', 'delivery', delivery, '--read']);
    expect(outcome).toEqual({
      code: 2,
      stdout: '',
      stderr: "accsyn: --read, --write and --path are rights on a share; a delivery's recipients receive it all.\n",
    });
  });
});

describe('setting', () => {
  it('sets, gets, lists and deletes a setting of the workspace', async () => {
    expect(await admin(['setting', 'set', 'task_retries', '5'])).toEqual({
      code: 0,
      stdout: '',
      stderr: 'Set task_retries to 5 on the workspace.\n',
    });
    expect(await admin(['setting', 'get', 'task_retries'], { tty: true })).toEqual({
      code: 0,
      stdout: '5\n',
      stderr: '',
    });
    expect(parsed(await admin(['setting', 'get', 'task_retries']))).toBe('5');
    expect(parsed(await admin(['setting', 'list']))).toEqual({ task_retries: '5' });
    const table = await admin(['setting', 'list', '--defaults'], { tty: true });
    // Every setting, those set nowhere at their defaults.
    const rows = lines(table.stdout).map(cells);
    expect(rows).toContainEqual(['task_retries:', '5']);
    expect(rows.map((row) => row[0])).toEqual(expect.arrayContaining(['checksum:', 'verify_checksums:']));
    expect((await admin(['setting', 'delete', 'task_retries'])).stderr).toBe(
      'Removed task_retries from the workspace.\n',
    );
    expect(await admin(['setting', 'list'], { tty: true })).toMatchObject({ code: 0, stdout: 'Nothing set.\n' });
  });

  it('--on names a queue by its code, or yourself; --upstream adds what is inherited', async () => {
    await admin(['setting', 'set', 'checksum', 'xxhash64']);
    expect((await admin(['setting', 'set', 'compute_avoid', 'disable', '--on', 'queue:medium'])).code).toBe(0);
    expect(parsed(await admin(['setting', 'list', '--on', 'queue:medium']))).toEqual({ compute_avoid: 'disable' });
    expect(parsed(await admin(['setting', 'list', '--on', 'queue:medium', '--upstream']))).toEqual({
      checksum: 'xxhash64',
      compute_avoid: 'disable',
    });
    const queue = await session.findOne('Queue WHERE code=medium');
    expect(parsed(await admin(['setting', 'list', '--recursive']))).toEqual({
      checksum: 'xxhash64',
      [`job:${queue?.id}`]: { compute_avoid: 'disable' },
    });
    expect(parsed(await admin(['setting', 'get', 'download_directory', '--on', 'user']))).toBeNull();
    expect(await admin(['setting', 'get', 'download_directory', '--on', 'user'], { tty: true })).toEqual({
      code: 0,
      stdout: '',
      stderr: 'download_directory is not set on you, and has no default.\n',
    });
  });

  it("exits 2 with the server's message for a bad name or value, 5 for a holder that is not there", async () => {
    expect(await admin(['setting', 'set', 'checksum', 'md5'])).toEqual({
      code: 2,
      stdout: '',
      stderr: 'accsyn: Setting checksum takes one of xxhash64, sha256 (as a string), not "md5".\n',
    });
    expect((await admin(['setting', 'get', 'task_retry'])).stderr).toBe(
      "accsyn: Unknown setting 'task_retry' of the workspace; did you mean task_retries?\n",
    );
    expect(await admin(['setting', 'get', 'checksum', '--on', 'queue:nowhere'])).toEqual({
      code: 5,
      stdout: '',
      stderr: 'accsyn: There is no queue nowhere, or you may not see it.\n',
    });
    expect((await admin(['setting', 'get', 'checksum', '--on', 'queue:'])).code).toBe(2);
  });
});

describe('log', () => {
  it('prints the entries that match, as a table at a terminal', async () => {
    const outcome = await admin(['log', 'operation=setting AND method=PUT'], { tty: true });
    expect(outcome.code).toBe(0);
    const [header, ...rows] = lines(outcome.stdout);
    expect(cells(header as string)).toEqual(['created', 'user', 'address', 'method', 'operation', 'entity', 'outcome']);
    // task_retries, checksum and compute_avoid: the refused md5 was not written, so not logged.
    expect(rows.at(-1)).toBe('3 entries');
    for (const row of rows.slice(0, -1).map(cells)) {
      expect(row.slice(1)).toEqual(['admin@acme.test', '127.0.0.1', 'PUT', 'setting', 'ok']);
    }
  });

  it('--limit, --skip and --since narrow it; JSON to a pipe', async () => {
    const all = parsed<{ id: string; operation: string }[]>(await admin(['log', 'operation=acl/create']));
    // lisa, and sam twice; the grant --no-invite refused was never sent.
    expect(all).toHaveLength(3);
    const page = parsed<{ id: string }[]>(await admin(['log', 'operation=acl/create', '--skip', '1', '--limit', '1']));
    expect(page.map((entry) => entry.id)).toEqual([all[1]?.id]);
    expect(parsed<unknown[]>(await admin(['log', 'operation=acl/create', '--since', '1h']))).toEqual(all);
    expect(parsed<unknown[]>(await admin(['log', 'operation=acl/create', '--since', '2099-01-01']))).toEqual([]);
    const whole = parsed<unknown[]>(await admin(['log', 'Log WHERE operation=acl/create']));
    expect(whole).toEqual(all);
  });

  it('exits 2 with the query and a caret for a condition that is not valid, or a --since it cannot read', async () => {
    const outcome = await admin(['log', 'outcme=denied']);
    expect(outcome).toEqual({
      code: 2,
      stdout: '',
      stderr:
        "accsyn: The query is not valid:\nLog WHERE outcme=denied\n          ^ unknown attribute 'outcme' (did you mean 'outcome'?)\n",
    });
    expect((await admin(['log', '--since', 'yesterday'])).stderr).toBe(
      "accsyn: --since takes a span back from now (30m, 24h, 7d, 2w) or a UTC date or time (2026-11-01), not 'yesterday'.\n",
    );
  });
});
