import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AccsynError,
  type Acl,
  ConnectionError,
  type FileEntry,
  PermissionError,
  ServerError,
  Session,
  type SessionOptions,
  type Share,
} from '../src/index.js';
import { addUser, type Server, startServer } from './support.js';

/**
 * The file calls, grants and access of the client against the real server: first the official client's
 * test_filesharing.py (reference §4), step by step, through our client; then each call's options and failures.
 * Uploads do not exist yet: what a transfer would have written is written on the default volume's disk here.
 */

let server: Server;
let admin: Session;
let standard: Session;
let volumeDir: string;
const sessions: Session[] = [];

function open(options: SessionOptions = {}): Session {
  const created = new Session({ ...server.admin, environment: false, ...options });
  sessions.push(created);
  return created;
}

const names = (entries: readonly FileEntry[]) => entries.map((entry) => entry.filename);
/** The error a call fails with, or a failure of the test when it succeeds. */
const failure = (promise: Promise<unknown>) =>
  promise.then(
    (value) => expect.unreachable(`expected a failure, got ${JSON.stringify(value)}`),
    (error: unknown) => error as AccsynError,
  );

beforeAll(async () => {
  server = await startServer();
  admin = open();
  standard = open(addUser(server, 'lisa@example.com', 'standard'));
  const volume = await admin.findOne('Volume WHERE default=True');
  volumeDir = volume?.path as string;
});

afterAll(async () => {
  await Promise.all(sessions.map((session) => session.close()));
  await server.stop();
});

describe('test_filesharing.py, through our client', () => {
  const STANDARD = 'lisa@example.com';
  let share1: Share;
  let share2: Share;

  it('0: cleans up: the folder may not exist, the standard user is deleted to be invited again', async () => {
    const error = await failure(admin.remove('shared-folder', { force: true }));
    expect(error.status).toBe(404);
    const user = await admin.findOne(`User WHERE code='${STANDARD}'`);
    expect(await admin.deleteOne('User', user?.id as string)).toBe(true);
  });

  it('1: makes the folders on the default volume', async () => {
    for (const path of [
      'shared-folder',
      'shared-folder/UPLOAD',
      'shared-folder/DOWNLOAD',
      'shared-folder/ADMIN',
      'shared-folder-2',
    ]) {
      expect(await admin.mkdir(path)).toBe(true);
    }
    expect(await admin.exists('shared-folder/ADMIN')).toBe(true);
    // What the uploads of step 4 would have written.
    writeFileSync(join(volumeDir, 'shared-folder', 'jonssonligan.jpg'), 'at the root');
    writeFileSync(join(volumeDir, 'shared-folder', 'DOWNLOAD', 'bad_buck_bunny.png'), 'twelve bytes');
  });

  it('3: creates the folders and grants read on DOWNLOAD, which invites the user', async () => {
    const volume = await admin.findOne('Volume WHERE default=True');
    share1 = await admin.create('Folder', { parent: volume?.id, path: 'shared-folder', name: 'Shared Folder' });
    for (const key of ['code', 'created', 'creator', 'description', 'email', 'id', 'metadata', 'modified']) {
      expect(share1).toHaveProperty(key);
    }
    for (const key of ['modifier', 'name', 'parent', 'path', 'queue', 'status_hr', 'status']) {
      expect(share1).toHaveProperty(key);
    }
    const acl: Acl = await admin.grant('User', STANDARD, 'Folder', share1.id, {
      path: 'DOWNLOAD',
      read: true,
      write: false,
    });
    for (const key of ['acknowledged', 'created', 'creator', 'description', 'entity', 'id', 'path', 'read']) {
      expect(acl).toHaveProperty(key);
    }
    for (const key of ['role', 'status', 'target', 'token', 'write']) expect(acl).toHaveProperty(key);
    expect(acl).toMatchObject({ path: 'DOWNLOAD', read: true, write: false, target: `share:${share1.id}` });
    const standards = await admin.find('User WHERE role=standard');
    expect(standards.map((user) => user.code)).toContain(STANDARD);
    share2 = await admin.create('Folder', { parent: volume?.id, path: 'shared-folder-2', name: 'Shared Folder 2' });
  });

  it('5: the admin lists both folders', async () => {
    const folders = await admin.find('Folder');
    expect(folders.map((folder) => folder.name)).toEqual(expect.arrayContaining(['Shared Folder', 'Shared Folder 2']));
  });

  it('6: the standard user sees the first folder only, and in it only the way to DOWNLOAD', async () => {
    const folders = await standard.find('Folder');
    expect(folders.map((folder) => folder.id)).toEqual([share1.id]);
    expect(folders.map((folder) => folder.id)).not.toContain(share2.id);
    expect(names(await standard.ls(`folder=${share1.code}`))).toEqual(['DOWNLOAD']);
    const download = await standard.ls(`folder=${share1.code}/DOWNLOAD`);
    expect(download).toEqual([{ type: 1, filename: 'bad_buck_bunny.png', size: 12, modified: expect.any(Date) }]);
  });

  it('9: granting write on UPLOAD changes the same ACL, which the client answers', async () => {
    const acl = await admin.grant('User', STANDARD, 'Folder', share1.id, { path: 'UPLOAD', read: false, write: true });
    expect(acl).toMatchObject({ path: 'UPLOAD', read: false, write: true });
    expect(acl.rules).toEqual([
      { path: 'DOWNLOAD', read: true, write: false },
      { path: 'UPLOAD', read: false, write: true },
    ]);
    expect(await admin.access('Folder', share1.id)).toHaveLength(1);
    // What the standard user's upload of step 10 would have written.
    writeFileSync(join(volumeDir, 'shared-folder', 'UPLOAD', 'bad_buck_bunny.png'), 'uploaded');
  });

  it('11: a write-only path cannot be listed: a PermissionError', async () => {
    const error = await failure(standard.ls(`folder=${share1.code}/UPLOAD`));
    expect(error).toBeInstanceOf(PermissionError);
    expect(error.status).toBe(403);
    expect(error.message).toBe(`Permission denied: you may not list "folder=${share1.code}/UPLOAD".`);
    expect(error.uri).toBe('workspace/file');
  });

  it('12: nothing moves out of UPLOAD to where the user may not write', async () => {
    const error = await failure(
      standard.move(`folder=${share1.code}/UPLOAD/bad_buck_bunny.png`, `folder=${share1.code}/bad_buck_bunny.png`),
    );
    expect(error).toBeInstanceOf(PermissionError);
  });

  it('13: renames, makes a directory, moves and deletes inside UPLOAD', async () => {
    const up = `folder=${share1.code}/UPLOAD`;
    // The official test renames to a whole path in the same directory; a bare name does as well.
    expect(await standard.rename(`${up}/bad_buck_bunny.png`, `${up}/renamed_bad_buck_bunny.png`)).toBe(true);
    expect(await standard.mkdir(`${up}/TEST_SUBDIR`)).toBe(true);
    expect(
      await standard.move(`${up}/renamed_bad_buck_bunny.png`, `${up}/TEST_SUBDIR/renamed_bad_buck_bunny.png`),
    ).toBe(true);
    expect(await admin.exists('shared-folder/UPLOAD/TEST_SUBDIR/renamed_bad_buck_bunny.png')).toBe(true);
    expect(await standard.remove(`${up}/TEST_SUBDIR/renamed_bad_buck_bunny.png`)).toBe(true);
    const left = await admin.ls('shared-folder/UPLOAD', { recursive: true });
    expect(left).toEqual([{ type: 0, filename: 'TEST_SUBDIR', size: 0, modified: expect.any(Date), files: [] }]);
  });

  it('14: the same changes in DOWNLOAD are refused, and change nothing', async () => {
    const down = `folder=${share1.code}/DOWNLOAD`;
    const errors = [
      await failure(standard.rename(`${down}/bad_buck_bunny.png`, 'renamed_bad_buck_bunny.png')),
      await failure(standard.mkdir(`${down}/TEST_SUBDIR`)),
      await failure(standard.move(`${down}/bad_buck_bunny.png`, `${down}/TEST_SUBDIR/renamed_bad_buck_bunny.png`)),
      await failure(standard.remove(`${down}/bad_buck_bunny.png`)),
    ];
    expect(errors.map((error) => error.constructor)).toEqual([
      PermissionError,
      PermissionError,
      PermissionError,
      PermissionError,
    ]);
    expect(names(await admin.ls('shared-folder/DOWNLOAD'))).toEqual(['bad_buck_bunny.png']);
  });

  it('15: a standard user creates no folder', async () => {
    const volume = await admin.findOne('Volume WHERE default=True');
    const error = await failure(
      standard.create('Folder', { parent: volume?.id, path: 'test-folder-3', name: 'Standard should fail share' }),
    );
    expect(error).toBeInstanceOf(PermissionError);
  });

  it('16: the folder renamed, disabled, deactivated and activated again, its one ACL back with it', async () => {
    const updated = await admin.update('Folder', share1.id, { name: 'Shared Folder Renamed' });
    expect(updated.name).toBe('Shared Folder Renamed');
    expect((await admin.update('Folder', share1.id, { status: 'disabled' })).status).toBe('disabled');
    expect(await admin.deactivateOne('Folder', share1.id)).toBe(true);
    expect(await admin.findOne(`Folder WHERE id=${share1.id}`)).toBeNull();
    expect(await admin.activateOne('Folder', share1.id)).toBe(true);
    expect(await admin.findOne(`Folder WHERE id=${share1.id}`)).not.toBeNull();
    const access = await admin.access('Folder', share1.id);
    expect(access).toEqual([
      {
        id: expect.any(String),
        user: expect.stringMatching(/^[0-9a-f]{24}$/),
        user_hr: STANDARD,
        share: share1.id,
        share_hr: share1.code,
        path: 'UPLOAD',
        read: false,
        write: true,
        rules: [
          { path: 'DOWNLOAD', read: true, write: false },
          { path: 'UPLOAD', read: false, write: true },
        ],
        acknowledged: false,
      },
    ]);
    expect(names(await standard.ls(`folder=${share1.code}/DOWNLOAD`))).toEqual(['bad_buck_bunny.png']);
  });

  it('and revoke takes the access away, by codes', async () => {
    expect(await admin.revoke('User', STANDARD, 'Folder', share1.code)).toBe(true);
    expect(await admin.access('Folder', share1.code)).toEqual([]);
    expect(await failure(standard.ls(`folder=${share1.code}/DOWNLOAD`))).toBeInstanceOf(AccsynError);
    const again = await failure(admin.revoke('User', STANDARD, 'Folder', share1.code));
    expect({ status: again.status, message: again.message }).toEqual({
      status: 404,
      message: `${STANDARD} has no access to folder ${share1.code}.`,
    });
  });
});

describe('ls', () => {
  beforeAll(() => {
    const tree = join(volumeDir, 'tree');
    mkdirSync(join(tree, 'a', 'b', 'c'), { recursive: true });
    writeFileSync(join(tree, 'one.exr'), '1');
    writeFileSync(join(tree, 'two.EXR'), '22');
    writeFileSync(join(tree, 'notes.txt'), '333');
    writeFileSync(join(tree, 'a', 'inner.exr'), '4444');
    writeFileSync(join(tree, 'a', 'b', 'deep.exr'), '55555');
    writeFileSync(join(tree, 'a', 'b', 'c', 'deepest.txt'), '666666');
  });

  it('lists a directory by name, with modified as a Date', async () => {
    const entries = await admin.ls('tree');
    expect(entries.map((entry) => [entry.type, entry.filename, entry.size])).toEqual([
      [0, 'a', 0],
      [1, 'notes.txt', 3],
      [1, 'one.exr', 1],
      [1, 'two.EXR', 2],
    ]);
    expect(entries.every((entry) => entry.modified instanceof Date)).toBe(true);
  });

  it('lists a file as itself', async () => {
    expect(await admin.ls('tree/one.exr')).toEqual([
      { type: 1, filename: 'one.exr', size: 1, modified: expect.any(Date) },
    ]);
  });

  it('goes down with recursive, and maxDepth, which implies it, limits how far', async () => {
    const all = await admin.ls('tree', { recursive: true });
    const a = all.find((entry) => entry.filename === 'a');
    expect(names(a?.files ?? [])).toEqual(['b', 'inner.exr']);
    expect(names(a?.files?.[0]?.files?.[0]?.files ?? [])).toEqual(['deepest.txt']);
    const two = await admin.ls('tree', { maxDepth: 2 });
    const b = two.find((entry) => entry.filename === 'a')?.files?.find((entry) => entry.filename === 'b');
    expect(b).toMatchObject({ type: 0, filename: 'b' });
    expect(b?.files).toBeUndefined();
  });

  it("gives directories' sizes with getSize", async () => {
    const entries = await admin.ls('tree', { getSize: true });
    expect(entries.find((entry) => entry.filename === 'a')?.size).toBe(4 + 5 + 6);
  });

  it('lists files only, as paths when recursive, or directories only', async () => {
    const files = await admin.ls('tree', { recursive: true, filesOnly: true, include: '*.exr' });
    expect(names(files)).toEqual(['a/b/deep.exr', 'a/inner.exr', 'one.exr', 'two.EXR']);
    expect(names(await admin.ls('tree', { directoriesOnly: true, recursive: true }))).toEqual(['a']);
  });

  it('filters names: wildcards, lists, regular expressions, include before exclude', async () => {
    const listed = async (options: Parameters<Session['ls']>[1]) => names(await admin.ls('tree', options));
    expect(await listed({ exclude: '*.exr' })).toEqual(['a', 'notes.txt']);
    expect(await listed({ include: ['one.*', 'notes.txt'], filesOnly: true })).toEqual(['notes.txt', 'one.exr']);
    expect(await listed({ include: "re('^t')", exclude: '*', filesOnly: true })).toEqual(['two.EXR']);
  });

  it('lists several paths at once, answered path by path', async () => {
    const answers = await admin.ls(['tree/a/b', 'tree/a/b/c']);
    expect(answers).toEqual([
      {
        path: 'tree/a/b',
        result: [
          { type: 0, filename: 'c', size: 0, modified: expect.any(Date) },
          { type: 1, filename: 'deep.exr', size: 5, modified: expect.any(Date) },
        ],
      },
      { path: 'tree/a/b/c', result: [{ type: 1, filename: 'deepest.txt', size: 6, modified: expect.any(Date) }] },
    ]);
  });

  it('refuses files only with directories only before sending anything', async () => {
    const offline = open({ hostname: 'http://127.0.0.1:9', retry: false });
    const error = await failure(offline.ls('tree', { filesOnly: true, directoriesOnly: true }));
    expect(error).not.toBeInstanceOf(ConnectionError);
    expect(error.message).toBe('ls lists files only or directories only, not both.');
    expect((await failure(offline.ls(''))).message).toMatch(/^path must be a path/);
    expect((await failure(offline.ls('tree', { maxDepth: 0 }))).message).toBe(
      'maxDepth must be a whole number of at least 1.',
    );
  });
});

describe('getSize and exists', () => {
  it('answers the bytes of a file or of a tree, filtered', async () => {
    expect(await admin.getSize('tree')).toBe(21);
    expect(await admin.getSize('tree/two.EXR')).toBe(2);
    expect(await admin.getSize('tree', { include: '*.exr' })).toBe(1 + 2 + 4 + 5);
    expect(await admin.getSize(['tree/a/b', 'tree/one.exr'])).toEqual([
      { path: 'tree/a/b', result: 11 },
      { path: 'tree/one.exr', result: 1 },
    ]);
  });

  it('says whether paths exist', async () => {
    expect(await admin.exists('tree/a/inner.exr')).toBe(true);
    expect(await admin.exists('tree/a/outer.exr')).toBe(false);
    expect(await admin.exists(['tree', 'nowhere'])).toEqual([
      { path: 'tree', result: true },
      { path: 'nowhere', result: false },
    ]);
  });
});

describe('changing files', () => {
  it('makes directories, several at once, and whatever is missing above them', async () => {
    expect(await admin.mkdir(['made/x/y', 'made/z'])).toEqual([
      { path: 'made/x/y', result: true },
      { path: 'made/z', result: true },
    ]);
    expect(names(await admin.ls('made'))).toEqual(['x', 'z']);
    expect(await admin.mkdir('made/x')).toBe(true);
  });

  it("refuses to delete a directory that is not empty without force, with the server's message", async () => {
    const error = await failure(admin.remove('made'));
    expect(error.constructor).toBe(AccsynError);
    expect({ status: error.status, message: error.message }).toEqual({
      status: 400,
      message: "Cannot delete non-empty directory 'made'! Give force to delete it with all it holds.",
    });
    expect(await admin.remove('made/z')).toBe(true);
    expect(await admin.remove('made', { force: true })).toBe(true);
    expect(await admin.exists('made')).toBe(false);
  });

  it('fails on a file that has vanished with a 404, not a permission error', async () => {
    writeFileSync(join(volumeDir, 'fleeting.mov'), 'here now');
    expect(await admin.remove('fleeting.mov')).toBe(true);
    for (const call of [
      () => admin.ls('fleeting.mov'),
      () => admin.getSize('fleeting.mov'),
      () => admin.remove('fleeting.mov'),
      () => admin.rename('fleeting.mov', 'gone.mov'),
      () => admin.move('fleeting.mov', 'tree'),
    ]) {
      const error = await failure(call());
      expect(error).not.toBeInstanceOf(PermissionError);
      expect({ status: error.status, message: error.message }).toEqual({
        status: 404,
        message: 'There is no file or directory "fleeting.mov".',
      });
    }
  });

  it('renames in place only, and moves into a directory', async () => {
    writeFileSync(join(volumeDir, 'take1.mov'), 'take one');
    expect((await failure(admin.rename('take1.mov', 'tree/take1.mov'))).message).toBe(
      'rename keeps a file in its directory; "tree/take1.mov" is elsewhere: use move.',
    );
    expect(await admin.rename('take1.mov', 'take2.mov')).toBe(true);
    expect(await admin.move('take2.mov', 'tree/a')).toBe(true);
    expect(await admin.exists(['take2.mov', 'tree/a/take2.mov'])).toEqual([
      { path: 'take2.mov', result: false },
      { path: 'tree/a/take2.mov', result: true },
    ]);
  });
});

describe('grant, access and revoke', () => {
  it('grants a share by code without data: read and write on all of it', async () => {
    await admin.create('Folder', { parent: 'default', path: 'tree', name: 'Tree' });
    const acl = await admin.grant('User', 'sam@example.com', 'folder', 'tree');
    expect(acl).toMatchObject({ entity_hr: 'sam@example.com', target_hr: 'tree', path: '/', read: true, write: true });
    expect(acl.rules).toEqual([{ path: '/', read: true, write: true }]);
    const sam = await admin.findOne('User WHERE code=sam@example.com');
    expect(sam?.role).toBe('standard');
    expect(acl.entity).toBe(`user:${sam?.id}`);
  });

  it('refuses, without sending it, to invite an unknown e-mail when invite is false', async () => {
    const error = await failure(admin.grant('User', 'nobody@example.com', 'Folder', 'tree', { invite: false }));
    expect(error.message).toBe('There is no user nobody@example.com in this workspace, and invite is false.');
    expect(await admin.findOne('User WHERE code=nobody@example.com')).toBeNull();
  });

  it('adds a recipient to a delivery, lists and takes them off', async () => {
    const delivery = await admin.create('Delivery', { name: 'Grade' });
    const granted: true = await admin.grant('User', 'lisa@example.com', 'Delivery', delivery.id);
    expect(granted).toBe(true);
    const lisa = await admin.findOne('User WHERE code=lisa@example.com');
    const recipients = await admin.access('Delivery', delivery.id);
    expect(recipients).toEqual([{ actioned: false, user: lisa?.id, user_hr: 'lisa@example.com' }]);
    expect(await admin.revoke('User', 'lisa@example.com', 'Delivery', delivery.id)).toBe(true);
    expect(await admin.access('Delivery', delivery.id)).toEqual([]);
    const again = await failure(admin.revoke('User', 'lisa@example.com', 'Delivery', delivery.id));
    expect({ status: again.status, message: again.message }).toEqual({
      status: 404,
      // The official client sends the recipient by id, as the server's message shows.
      message: `${lisa?.id} is not a recipient of this delivery.`,
    });
  });

  it('refuses what it cannot grant before sending anything', async () => {
    const offline = open({ hostname: 'http://127.0.0.1:9', retry: false });
    const messages = await Promise.all(
      [
        offline.grant('Site', 'hq', 'Folder', 'tree'),
        offline.grant('User', 'lisa@example.com', 'Transfer', '000000000000000000000000'),
        offline.access('Delivery', 'grade'),
      ].map(async (call) => (await failure(call)).message),
    );
    expect(messages).toEqual([
      'Access is given to users, not sites.',
      'grant is about deliveries, requests and shares (volume, folder, home, collection), not transfers.',
      "A delivery is named by its id (24 lowercase letters and digits), not 'grade'.",
    ]);
  });

  it('answers 404 for a share that is not there', async () => {
    const error = await failure(admin.access('Folder', 'nowhere'));
    expect({ status: error.status, message: error.message }).toEqual({
      status: 404,
      message: 'There is no folder nowhere, or you may not see it.',
    });
  });
});

describe('retries of file reads, not of file writes', () => {
  let failing: HttpServer;
  let url = '';
  const seen: string[] = [];
  beforeAll(async () => {
    // Logs in, then answers every event 503 as a gateway would, counting what it gets.
    failing = createHttpServer((request, response) => {
      const login = request.url?.startsWith('/api/v3/api/login');
      if (!login) seen.push(request.method ?? '');
      response.writeHead(login ? 200 : 503, { 'content-type': login ? 'application/json' : 'text/html' });
      response.end(login ? '{"result": {"role": "admin", "id": "x", "session_id": "s"}}' : '<h1>503</h1>');
    });
    await new Promise<void>((resolve) => failing.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(failing.address() as { port: number }).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => failing.close(() => resolve())));

  it('sends ls, getSize and exists again after a 503; mkdir, rename, move and remove once', async () => {
    const client = open({ hostname: url, retry: { attempts: 2, baseDelay: 5, maxDelay: 10 } });
    for (const read of [() => client.ls('x'), () => client.getSize('x'), () => client.exists('x')]) {
      expect(await failure(read())).toBeInstanceOf(ServerError);
    }
    expect(seen).toEqual(['GET', 'GET', 'GET', 'GET', 'GET', 'GET']);
    seen.length = 0;
    const writes = [
      () => client.mkdir('x'),
      () => client.rename('x', 'y'),
      () => client.move('x', 'y'),
      () => client.remove('x'),
    ];
    for (const write of writes) expect(await failure(write())).toBeInstanceOf(ServerError);
    expect(seen).toEqual(['POST', 'PUT', 'PUT', 'POST']);
  });
});
