import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { PassThrough } from 'node:stream';
import { Session } from 'accsyn-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Server, startServer } from '../../api/test/support.js';
import { run } from '../src/program.js';
import { accsyn, cli, spawnAccsyn, testIo, until } from './support.js';

/**
 * `accsyn cp` and `accsyn agent start` as the real executable, against the real server on loopback with its
 * transfer engine on (it measures the shares' side of a download).
 */

let server: Server;
let session: Session;
let env: NodeJS.ProcessEnv;
let work: string;

beforeAll(async () => {
  server = await startServer({}, ['--transfers', 'on']);
  session = new Session({ ...server.admin, environment: false });
  env = { ...process.env, ACCSYN_CREDENTIALS_PATH: join(server.dataDir, 'admin.env') };
  work = mkdtempSync(join(tmpdir(), 'accsyn-cli-transfer-'));
});

afterAll(async () => {
  await session?.close();
  await server?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

/** Every file beneath `root`, by its path below it, with the sha256 of its bytes. */
function digests(root: string): Record<string, string> {
  const found: Record<string, string> = {};
  for (const entry of readdirSync(root, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    found[relative(root, path)] = createHash('sha256').update(readFileSync(path)).digest('hex');
  }
  return found;
}

/** A tree with an empty file, a Unicode name and a file of a few MiB. */
function makeTree(root: string): void {
  mkdirSync(join(root, 'sub'), { recursive: true });
  writeFileSync(join(root, 'empty.txt'), '');
  writeFileSync(join(root, 'plåt ñ 日本.exr'), 'frame one\n');
  writeFileSync(join(root, 'sub', 'big.bin'), randomBytes(3 * 1024 * 1024 + 17));
}

/** The status a transfer ends with, read every 100 ms. */
async function endOf(id: string): Promise<string> {
  for (;;) {
    const status = String((await session.getEntity('Transfer', id))?.status);
    if (['done', 'failed', 'aborted'].includes(status)) return status;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

const lines = (text: string) => text.split('\n').filter((line) => line !== '');
const SUMMARY = /^(Up|Down)loaded \d+(\.\d)? [KM]?B in \d+\.\d s \(\d+\.\d MB\/s\): transfer [0-9a-f]{24}\.$/;

describe('accsyn cp', () => {
  it('copies a tree up with -r and back down, byte for byte, a line per file when piped', async () => {
    const tree = join(work, 'tree');
    makeTree(tree);
    const up = await accsyn(['cp', '-r', tree, 'roundtrip/tree'], env);
    expect(up).toMatchObject({ code: 0, stdout: '' });
    const upLines = lines(up.stderr);
    expect(upLines.slice(0, -1).sort()).toEqual(
      [
        `${join(tree, 'empty.txt')} -> roundtrip/tree/empty.txt (0 B)`,
        `${join(tree, 'plåt ñ 日本.exr')} -> roundtrip/tree/plåt ñ 日本.exr (10 B)`,
        `${join(tree, 'sub', 'big.bin')} -> roundtrip/tree/sub/big.bin (3.1 MB)`,
      ].sort(),
    );
    expect(upLines.at(-1)).toMatch(SUMMARY);
    expect(upLines.at(-1)).toMatch(/^Uploaded 3\.1 MB /);

    const back = join(work, 'back');
    const down = await accsyn(['cp', '--recursive', 'roundtrip/tree', back], env);
    expect(down).toMatchObject({ code: 0, stdout: '' });
    const downLines = lines(down.stderr);
    expect(downLines).toHaveLength(4);
    expect(downLines).toContain(`roundtrip/tree/sub/big.bin -> ${join(back, 'sub', 'big.bin')} (3.1 MB)`);
    expect(downLines.at(-1)).toMatch(/^Downloaded 3\.1 MB /);

    expect(Object.keys(digests(back)).sort()).toEqual(['empty.txt', 'plåt ñ 日本.exr', join('sub', 'big.bin')]);
    expect(digests(back)).toEqual(digests(tree));
  });

  it('puts a file into a directory it is copied onto, on either side, and --overwrite rename keeps both', async () => {
    const file = join(work, 'note.txt');
    writeFileSync(file, 'a note');
    await session.mkdir('inbox');
    const into = await accsyn(['cp', file, 'inbox'], env);
    expect(into.code).toBe(0);
    expect(lines(into.stderr)[0]).toBe(`${file} -> inbox/note.txt (6 B)`);
    expect((await accsyn(['cp', file, 'inbox', '--overwrite', 'rename'], env)).code).toBe(0);
    const names = (await session.ls('inbox')).map((entry) => entry.filename);
    expect(names).toEqual(['note (1).txt', 'note.txt']);

    const here = join(work, 'here');
    mkdirSync(here);
    expect((await accsyn(['cp', 'inbox/note.txt', here], env)).code).toBe(0);
    expect(readFileSync(join(here, 'note.txt'), 'utf8')).toBe('a note');
  });

  it('refuses a directory without -r, naming -r', async () => {
    const tree = join(work, 'norecurse');
    makeTree(tree);
    expect(await accsyn(['cp', tree, 'x'], env)).toEqual({
      code: 2,
      stdout: '',
      stderr: `accsyn: "${tree}" is a directory: give -r to copy it with all it holds.\n`,
    });
    expect(await accsyn(['cp', 'roundtrip/tree', join(work, 'y')], env)).toEqual({
      code: 2,
      stdout: '',
      stderr: 'accsyn: "roundtrip/tree" is a directory: give -r to copy it with all it holds.\n',
    });
    expect(existsSync(join(work, 'y'))).toBe(false);
  });

  it('refuses local to local and share to share, and says what is missing', async () => {
    const localToLocal = await accsyn(['cp', join(work, 'note.txt'), './elsewhere.txt'], env);
    expect(localToLocal).toEqual({
      code: 2,
      stdout: '',
      stderr: `accsyn: "${join(work, 'note.txt')}" and "./elsewhere.txt" are both on this machine: accsyn cp copies to and from the shares.\n`,
    });
    const shareToShare = await accsyn(['cp', 'inbox/note.txt', 'folder=projects/in/'], env);
    expect(shareToShare.code).toBe(2);
    expect(shareToShare.stderr).toBe(
      'accsyn: Neither "inbox/note.txt" nor "folder=projects/in/" is on this machine (a local path is absolute, starts ' +
        'with ./, ../ or ~/, or exists). To copy between shares, create a transfer: accsyn create transfer ' +
        `'{"source": "inbox/note.txt", "destination": "folder=projects/in/"}'.\n`,
    );
    expect(await accsyn(['cp', join(work, 'nothing.txt'), 'inbox/'], env)).toEqual({
      code: 5,
      stdout: '',
      stderr: `accsyn: There is no file or directory "${join(work, 'nothing.txt')}" on this machine.\n`,
    });
    expect(await accsyn(['cp', 'inbox/nothing.txt', join(work, 'n.txt')], env)).toEqual({
      code: 5,
      stdout: '',
      stderr: 'accsyn: There is no file or directory "inbox/nothing.txt".\n',
    });
  });

  it('exits 10 with the reason when the transfer fails', async () => {
    const under = join(work, 'note.txt', 'inside.txt');
    const failed = await accsyn(['cp', 'inbox/note.txt', under], env);
    expect(failed.code).toBe(10);
    expect(failed.stderr).toMatch(/^accsyn: The transfer .* failed: .+\n$/);
  });

  it('exits 130 when stopped by Ctrl-C', async () => {
    const stop = new AbortController();
    stop.abort();
    expect(await cli(['cp', join(work, 'note.txt'), 'inbox/'], { env, signal: stop.signal })).toEqual({
      code: 130,
      stdout: '',
      stderr: 'accsyn: Stopped; the same accsyn cp takes it up again.\n',
    });
  });

  it('draws one progress line at a terminal, then the summary', async () => {
    const file = join(work, 'tty.txt');
    writeFileSync(file, 'twelve bytes');
    const { io, stdout } = testIo({ env });
    let err = '';
    const stderr = Object.assign(new PassThrough(), { isTTY: true, columns: 120 });
    stderr.setEncoding('utf8').on('data', (text: string) => {
      err += text;
    });
    const code = await run(['cp', file, 'tty/'], { ...io, stderr });
    await new Promise((resolve) => setImmediate(resolve));
    expect(code).toBe(0);
    expect(stdout()).toBe('');
    expect(err).toContain('100% | 12 B / 12 B');
    expect(err).not.toContain(' -> ');
    expect(lines(err).at(-1)).toMatch(SUMMARY);
  });
});

describe('accsyn agent', () => {
  it('refuses a root that is not a directory', async () => {
    const outcome = await cli(['agent', 'start', '--root', join(work, 'no such dir')], { env });
    expect(outcome).toEqual({
      code: 2,
      stdout: '',
      stderr: `accsyn: The root "${join(work, 'no such dir')}" is not a directory.\n`,
    });
  });

  it('carries a transfer made by another command to this machine, and goes offline at SIGTERM, exit 0', async () => {
    const root = join(work, 'agent');
    mkdirSync(root);
    const agent = spawnAccsyn(['agent', 'start', '--root', root], env);
    let log = '';
    agent.stderr?.setEncoding('utf8').on('data', (text: string) => {
      log += text;
    });
    const exited = new Promise<number | null>((resolve) => agent.on('exit', (code) => resolve(code)));
    await until(() => /Checked in as client [0-9a-f]{24}/.test(log), 'the check-in');
    const client = /Checked in as client ([0-9a-f]{24})/.exec(log)?.[1] as string;
    expect((await session.getEntity('Client', client))?.status).toBe('online');

    const source = 'roundtrip/tree/sub/big.bin';
    const created = await cli(
      ['create', 'transfer', JSON.stringify({ name: 'to the agent', source, destination: `${root}/` })],
      { env },
    );
    expect(created.code).toBe(0);
    const id = (JSON.parse(created.stdout) as { id: string }).id;
    expect(await endOf(id)).toBe('done');
    expect(digests(root)).toEqual({ 'big.bin': digests(join(work, 'tree'))[join('sub', 'big.bin')] });

    agent.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect((await session.getEntity('Client', client))?.status).toBe('offline');
    const listed = await cli(['agent', 'status', '--json'], { env });
    expect(JSON.parse(listed.stdout)).toEqual([
      expect.objectContaining({ id: client, code: hostname(), type_hr: 'app', status: 'offline' }),
    ]);
    const logLines = lines(log);
    const STAMP = '\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ';
    for (const line of logLines) expect(line).toMatch(new RegExp(`^${STAMP} `));
    expect(log).toMatch(new RegExp(`${STAMP} Downloading ${root}/ \\(transfer ${id}, task [0-9a-f-]{36}\\)\\.\n`));
    expect(log).toMatch(new RegExp(`${STAMP} Done: ${join(root, 'big.bin')}, 3.1 MB \\(transfer ${id}\\)\\.\n`));
    expect(logLines.at(-1)).toMatch(/ Stopped; this machine is offline\.$/);
  });
});
