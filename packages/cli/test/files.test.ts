import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Session } from 'accsyn-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addUser, type Server, startServer } from '../../api/test/support.js';
import { cli, emptyEnvFile, type IoOptions, type Outcome } from './support.js';

/**
 * `accsyn ls`, `du`, `mkdir`, `mv`, `rename` and `rm`, run in-process against the real server. Uploads do not exist
 * yet: the files a listing shows are written on the default volume's disk by the test.
 */

let server: Server;
let session: Session;
let volumeDir: string;
let adminEnv: Record<string, string>;

beforeAll(async () => {
  server = await startServer();
  adminEnv = { ACCSYN_CREDENTIALS_PATH: join(server.dataDir, 'admin.env') };
  session = new Session({ ...server.admin, environment: false });
  volumeDir = (await session.findOne('Volume WHERE default=True'))?.path as string;
  const tree = join(volumeDir, 'tree');
  mkdirSync(join(tree, 'a', 'b'), { recursive: true });
  writeFileSync(join(tree, 'one.exr'), '1');
  writeFileSync(join(tree, 'big.mov'), Buffer.alloc(2500));
  writeFileSync(join(tree, 'a', 'inner.exr'), '4444');
  writeFileSync(join(tree, 'a', 'b', 'deep.txt'), '55555');
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
const ISO_SECOND = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;

describe('ls', () => {
  it('prints a table at a terminal: type, size for people, modified, name, and how many', async () => {
    const outcome = await admin(['ls', 'tree'], { tty: true });
    expect(outcome).toMatchObject({ code: 0, stderr: '' });
    const [header, ...rows] = lines(outcome.stdout);
    expect(cells(header as string)).toEqual(['type', 'size', 'modified', 'name']);
    expect(rows.at(-1)).toBe('3 entries');
    const table = rows.slice(0, -1).map(cells);
    // A directory's size is not known without --size: its cell is empty, and the columns close up.
    expect(table.map((row) => [row[0], row.length === 4 ? row[1] : '', row.at(-1)])).toEqual([
      ['dir', '', 'a/'],
      ['file', '2.5 KB', 'big.mov'],
      ['file', '1 B', 'one.exr'],
    ]);
    for (const row of table) expect(row.at(-2)).toMatch(ISO_SECOND);
  });

  it('prints the entries as JSON to a pipe, dates in ISO 8601', async () => {
    const entries = parsed<{ type: number; filename: string; size: number; modified: string }[]>(
      await admin(['ls', 'tree']),
    );
    expect(entries.map(({ type, filename, size }) => [type, filename, size])).toEqual([
      [0, 'a', 0],
      [1, 'big.mov', 2500],
      [1, 'one.exr', 1],
    ]);
    expect(entries[0]?.modified).toMatch(ISO_SECOND);
  });

  it('-r lists a tree, flattened in a table and nested in JSON; --maxdepth stops it', async () => {
    const table = await admin(['ls', 'tree', '-r'], { tty: true });
    expect(lines(table.stdout).map((line) => cells(line).at(-1))).toEqual([
      'name',
      'a/',
      'a/b/',
      'a/b/deep.txt',
      'a/inner.exr',
      'big.mov',
      'one.exr',
      '6 entries',
    ]);
    const nested = parsed<{ filename: string; files?: { filename: string; files?: unknown[] }[] }[]>(
      await admin(['ls', 'tree', '--recursive']),
    );
    expect(nested[0]?.files?.map((entry) => entry.filename)).toEqual(['b', 'inner.exr']);
    const shallow = parsed<{ files?: { filename: string; files?: unknown[] }[] }[]>(
      await admin(['ls', 'tree', '--maxdepth', '2']),
    );
    expect(shallow[0]?.files?.[0]).toMatchObject({ filename: 'b' });
    expect(shallow[0]?.files?.[0]?.files).toBeUndefined();
  });

  it('--size gives the sizes of directories; filters and --files-only, --dirs-only pick entries', async () => {
    const sized = await admin(['ls', 'tree', '--size'], { tty: true });
    expect(cells(lines(sized.stdout)[1] as string)).toEqual(['dir', '9 B', expect.stringMatching(ISO_SECOND), 'a/']);
    const names = async (...flags: string[]) =>
      parsed<{ filename: string }[]>(await admin(['ls', 'tree', ...flags])).map((entry) => entry.filename);
    expect(await names('-r', '--files-only', '--include', '*.exr')).toEqual(['a/inner.exr', 'one.exr']);
    expect(await names('--exclude', '*.mov', '--exclude', 'one.*')).toEqual(['a']);
    expect(await names('--dirs-only')).toEqual(['a']);
    const both = await admin(['ls', 'tree', '--files-only', '--dirs-only']);
    expect(both.code).toBe(2);
    expect(both.stderr).toContain("option '--files-only' cannot be used with option '--dirs-only'");
  });

  it('--ndjson prints an entry a line; an empty directory says so at a terminal', async () => {
    const outcome = await admin(['ls', 'tree', '--ndjson']);
    expect(lines(outcome.stdout).map((line) => (JSON.parse(line) as { filename: string }).filename)).toEqual([
      'a',
      'big.mov',
      'one.exr',
    ]);
    expect((await admin(['ls', 'tree/a/b', '--dirs-only'], { tty: true })).stdout).toBe('Nothing found.\n');
  });

  it('exits 5 for a path that is not there, and 4 for one the user may not list', async () => {
    const missing = await admin(['ls', 'tree/nothing']);
    expect(missing).toEqual({ code: 5, stdout: '', stderr: 'accsyn: There is no file or directory "tree/nothing".\n' });
    await session.create('Folder', { parent: 'default', path: 'tree', name: 'Tree' });
    const sam = addUser(server, 'sam2@example.com', 'standard');
    await session.grant('User', sam.username, 'Folder', 'tree', { path: 'a', read: false, write: true });
    const env = {
      ACCSYN_CREDENTIALS_PATH: emptyEnvFile(server.dataDir),
      ACCSYN_WORKSPACE: sam.workspace,
      ACCSYN_API_USER: sam.username,
      ACCSYN_API_KEY: sam.apiKey,
      ACCSYN_HOSTNAME: sam.hostname,
    };
    const denied = await cli(['ls', 'folder=tree/a'], { env });
    expect(denied).toEqual({
      code: 4,
      stdout: '',
      stderr: 'accsyn: Permission denied: you may not list "folder=tree/a".\n',
    });
  });
});

describe('du', () => {
  it('prints the bytes of a path for people at a terminal, and as JSON to a pipe', async () => {
    expect(await admin(['du', 'tree'], { tty: true })).toEqual({ code: 0, stdout: '2.5 KB  tree\n', stderr: '' });
    expect(parsed(await admin(['du', 'tree']))).toEqual({ path: 'tree', size: 2510 });
    expect(parsed(await admin(['du', 'tree', '--include', '*.exr']))).toEqual({ path: 'tree', size: 5 });
  });
});

describe('mkdir, mv, rename, rm', () => {
  it('makes directories and says so on stderr', async () => {
    const outcome = await admin(['mkdir', 'work/x/y', 'work/z']);
    expect(outcome).toEqual({
      code: 0,
      stdout: '',
      stderr: 'Made directory work/x/y.\nMade directory work/z.\n',
    });
    expect(await session.exists(['work/x/y', 'work/z'])).toEqual([
      { path: 'work/x/y', result: true },
      { path: 'work/z', result: true },
    ]);
  });

  it('moves into a directory and renames in place', async () => {
    writeFileSync(join(volumeDir, 'work', 'take1.mov'), 'take');
    expect(await admin(['mv', 'work/take1.mov', 'work/x'])).toEqual({
      code: 0,
      stdout: '',
      stderr: 'Moved work/take1.mov to work/x.\n',
    });
    expect(await admin(['rename', 'work/x/take1.mov', 'take2.mov'])).toEqual({
      code: 0,
      stdout: '',
      stderr: 'Renamed work/x/take1.mov to take2.mov.\n',
    });
    expect(await session.exists('work/x/take2.mov')).toBe(true);
    const away = await admin(['rename', 'work/x/take2.mov', 'work/take2.mov']);
    expect(away).toMatchObject({
      code: 2,
      stderr: 'accsyn: rename keeps a file in its directory; "work/take2.mov" is elsewhere: use move.\n',
    });
  });

  it("refuses to remove a directory that is not empty without --force, with the server's message", async () => {
    const refused = await admin(['rm', 'work']);
    expect(refused).toEqual({
      code: 2,
      stdout: '',
      stderr: "accsyn: Cannot delete non-empty directory 'work'! Give force to delete it with all it holds.\n",
    });
    expect(await session.exists('work')).toBe(true);
    expect(await admin(['rm', 'work/z'])).toEqual({ code: 0, stdout: '', stderr: 'Deleted work/z.\n' });
    expect(await admin(['rm', 'work', '--force'])).toEqual({ code: 0, stdout: '', stderr: 'Deleted work.\n' });
    expect(await session.exists('work')).toBe(false);
    expect((await admin(['rm', 'work'])).code).toBe(5);
  });
});
