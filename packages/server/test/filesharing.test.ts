import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Credentials } from './support/raw.js';
import { startTestServer, type TestServer } from './support/server.js';
import { addUser, RawSession } from './support/session.js';

/**
 * The official client's test_filesharing.py (reference §4), step by step, over the wire as the official client
 * sends it: folders on the default volume, a standard user granted read on DOWNLOAD and then write on UPLOAD, what
 * they may list and change, and the folder's lifecycle. Uploads are written on disk here: transfers do not run yet.
 */

type Entry = { type: number; filename: string; size: number; modified: string; files?: Entry[] };

let server: TestServer;
let admin: RawSession;
let standard: RawSession;
let standardUser: Credentials;
let volumeDir: string;

const file = (session: RawSession, method: 'GET' | 'POST' | 'PUT', data: Record<string, unknown>) =>
  session.call(method, 'workspace/file', data);
const ls = (session: RawSession, path: string, extra: Record<string, unknown> = {}) =>
  file(session, 'GET', { op: 'ls', path, download: true, recursive: false, getsize: false, ...extra });
const names = (entries: Entry[]) => entries.map((entry) => entry.filename);

beforeAll(async () => {
  server = await startTestServer();
  admin = new RawSession(server.url, server.admin);
  standardUser = await addUser(server.server.store, server.admin.workspace, 'lisa@example.com', 'standard');
  standard = new RawSession(server.url, standardUser);
  const [volume] = await admin.result<{ path: string }[]>(admin.find('Volume WHERE default=True'));
  volumeDir = volume?.path as string;
});

afterAll(async () => {
  await server?.stop();
});

describe('test_filesharing.py, replayed', () => {
  let folder: Record<string, unknown>;

  it('0: the standard user is deleted, to be invited again by a grant', async () => {
    const [user] = await admin.result<{ id: string }[]>(admin.find("User WHERE code='lisa@example.com'"));
    expect(await admin.result(admin.delete('user', user?.id as string))).toBe(true);
  });

  it('1: makes the directories on the default volume by bare paths', async () => {
    for (const path of ['shared-folder', 'shared-folder/UPLOAD', 'shared-folder/DOWNLOAD', 'shared-folder/ADMIN']) {
      expect(await admin.result(file(admin, 'POST', { op: 'mkdir', path }))).toBe(true);
    }
    expect(await admin.result(file(admin, 'GET', { op: 'exists', path: 'shared-folder/UPLOAD' }))).toBe(true);
    // What an upload would have put there.
    writeFileSync(join(volumeDir, 'shared-folder', 'root.txt'), 'at the root');
    writeFileSync(join(volumeDir, 'shared-folder', 'DOWNLOAD', 'plate.exr'), 'twelve bytes');
  });

  it('3: creates the folder and grants read on DOWNLOAD, inviting the user', async () => {
    const [volume] = await admin.result<{ id: string }[]>(
      admin.find('Volume WHERE default=True', { single_entity_query: true }),
    );
    const created = await admin.result<Record<string, unknown>[]>(
      admin.create('folder', { parent: volume?.id, path: 'shared-folder', name: 'Shared Folder' }),
    );
    folder = created[0] as Record<string, unknown>;
    for (const key of [
      'code',
      'created',
      'creator',
      'description',
      'email',
      'id',
      'metadata',
      'modified',
      'modifier',
    ]) {
      expect(folder).toHaveProperty(key);
    }
    for (const key of ['name', 'parent', 'path', 'queue', 'status_hr', 'status']) expect(folder).toHaveProperty(key);
    const [acl] = await admin.result<Record<string, unknown>[]>(
      admin.create('acl', {
        entity: 'user:lisa@example.com',
        target: `share:${folder.id}`,
        read: true,
        write: false,
        notify: true,
        message: '',
        path: 'DOWNLOAD',
      }),
    );
    for (const key of ['acknowledged', 'created', 'creator', 'description', 'entity', 'id', 'path', 'read']) {
      expect(acl).toHaveProperty(key);
    }
    for (const key of ['role', 'status', 'target', 'token', 'write']) expect(acl).toHaveProperty(key);
    expect(acl).toMatchObject({ path: 'DOWNLOAD', read: true, write: false });
    const standards = await admin.result<{ code: string }[]>(admin.find('User WHERE role=standard'));
    expect(standards.map((user) => user.code)).toContain('lisa@example.com');
  });

  it('5: the admin sees the folder', async () => {
    const folders = await admin.result<{ name: string }[]>(admin.find('Folder'));
    expect(folders.map((one) => one.name)).toContain('Shared Folder');
  });

  it('6: the standard user sees only the way to DOWNLOAD, and what DOWNLOAD holds', async () => {
    const folders = await standard.result<{ id: string }[]>(standard.find('Folder'));
    expect(folders.map((one) => one.id)).toEqual([folder.id]);
    const root = await standard.result<Entry[]>(ls(standard, `folder=${folder.code}`));
    expect(names(root)).toEqual(['DOWNLOAD']);
    const download = await standard.result<Entry[]>(ls(standard, `folder=${folder.code}/DOWNLOAD`));
    expect(download).toEqual([
      { type: 1, filename: 'plate.exr', size: 12, modified: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$/) },
    ]);
  });

  it('9: granting write on UPLOAD answers true and keeps one ACL', async () => {
    const result = await admin.result(
      admin.create('acl', {
        entity: 'user:lisa@example.com',
        target: `share:${folder.id}`,
        read: false,
        write: true,
        path: 'UPLOAD',
      }),
    );
    expect(result).toEqual([true]);
    const acls = await admin.result<{ rules: unknown }[]>(
      admin.call('GET', 'acl/find', { recursive: false }, { query: `acl WHERE target=share:${folder.id}` }),
    );
    expect(acls).toHaveLength(1);
    expect(acls[0]?.rules).toEqual([
      { path: 'DOWNLOAD', read: true, write: false },
      { path: 'UPLOAD', read: false, write: true },
    ]);
  });

  it('11: a write-only path cannot be listed', async () => {
    const reply = await ls(standard, `folder=${folder.code}/UPLOAD`);
    expect(reply.status).toBe(403);
    expect(reply.json.message).toMatch(/may not list/);
  });

  it('12: nothing moves out of UPLOAD to where the user may not write', async () => {
    writeFileSync(join(volumeDir, 'shared-folder', 'UPLOAD', 'upload.mov'), 'uploaded');
    const reply = await file(standard, 'PUT', {
      op: 'move',
      path: `folder=${folder.code}/UPLOAD/upload.mov`,
      path_to: `folder=${folder.code}/upload.mov`,
    });
    expect(reply.status).toBe(403);
  });

  it('13: rename, mkdir, move and delete inside UPLOAD', async () => {
    const up = `folder=${folder.code}/UPLOAD`;
    await standard.result(file(standard, 'PUT', { op: 'rename', path: `${up}/upload.mov`, path_to: 'renamed.mov' }));
    await standard.result(file(standard, 'POST', { op: 'mkdir', path: `${up}/sub` }));
    await standard.result(file(standard, 'PUT', { op: 'move', path: `${up}/renamed.mov`, path_to: `${up}/sub` }));
    await standard.result(file(standard, 'POST', { op: 'delete', path: `${up}/sub`, force: true }));
    const left = await admin.result<Entry[]>(ls(admin, 'shared-folder/UPLOAD'));
    expect(left).toEqual([]);
  });

  it('14: the same changes in DOWNLOAD are refused', async () => {
    const down = `folder=${folder.code}/DOWNLOAD`;
    const replies = [
      await file(standard, 'PUT', { op: 'rename', path: `${down}/plate.exr`, path_to: 'x.exr' }),
      await file(standard, 'POST', { op: 'mkdir', path: `${down}/sub` }),
      await file(standard, 'PUT', { op: 'move', path: `${down}/plate.exr`, path_to: `folder=${folder.code}/UPLOAD` }),
      await file(standard, 'POST', { op: 'delete', path: `${down}/plate.exr` }),
    ];
    expect(replies.map((reply) => reply.status)).toEqual([403, 403, 403, 403]);
    expect(await admin.result(file(admin, 'GET', { op: 'exists', path: 'shared-folder/DOWNLOAD/plate.exr' }))).toBe(
      true,
    );
  });

  it('15: a standard user creates no folder', async () => {
    const reply = await standard.create('folder', { parent: 'default', path: 'mine', name: 'Mine' });
    expect(reply.status).toBe(403);
  });

  it('16: the folder renamed, disabled, deactivated and activated again, its ACL kept', async () => {
    const id = folder.id as string;
    const [renamed] = await admin.result<{ name: string }[]>(admin.update('folder', id, { name: 'Shared Folder 2' }));
    expect(renamed?.name).toBe('Shared Folder 2');
    const [disabled] = await admin.result<{ status: string }[]>(admin.update('folder', id, { status: 'disabled' }));
    expect(disabled?.status).toBe('disabled');
    expect(await admin.result(admin.call('DELETE', 'folder/deactivate', {}, { id }))).toBe(true);
    expect(await admin.result(admin.find(`Folder WHERE id=${id}`, { single_entity_query: true }))).toEqual([]);
    // While the folder is inactive, its files are out of reach of the standard user.
    expect((await ls(standard, `folder=${folder.code}/DOWNLOAD`)).status).toBe(400);
    expect(await admin.result(admin.call('POST', 'folder/activate', {}, { id }))).toBe(true);
    expect(await admin.result(admin.find(`Folder WHERE id=${id}`, { single_entity_query: true }))).toHaveLength(1);
    const access = await admin.result(
      admin.call('GET', 'acl/find', { recursive: false }, { query: `acl WHERE target=share:${id}` }),
    );
    expect(access).toHaveLength(1);
    expect(names(await standard.result<Entry[]>(ls(standard, `folder=${folder.code}/DOWNLOAD`)))).toEqual([
      'plate.exr',
    ]);
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

  it('lists a directory sorted by name, directories with size 0', async () => {
    const entries = await admin.result<Entry[]>(ls(admin, 'tree'));
    expect(entries.map((entry) => [entry.type, entry.filename, entry.size])).toEqual([
      [0, 'a', 0],
      [1, 'notes.txt', 3],
      [1, 'one.exr', 1],
      [1, 'two.EXR', 2],
    ]);
  });

  it('goes down with recursive, as deep as maxdepth says', async () => {
    const all = await admin.result<Entry[]>(ls(admin, 'tree', { recursive: true }));
    const a = all.find((entry) => entry.filename === 'a');
    expect(names(a?.files ?? [])).toEqual(['b', 'inner.exr']);
    expect(names(a?.files?.[0]?.files?.[0]?.files ?? [])).toEqual(['deepest.txt']);
    const two = await admin.result<Entry[]>(ls(admin, 'tree', { recursive: true, maxdepth: 2 }));
    const twoA = two.find((entry) => entry.filename === 'a');
    expect(twoA?.files?.find((entry) => entry.filename === 'b')?.files).toBeUndefined();
  });

  it('sums the sizes of directories with getsize, and getsize answers the bytes of a tree', async () => {
    const entries = await admin.result<Entry[]>(ls(admin, 'tree', { getsize: true }));
    expect(entries.find((entry) => entry.filename === 'a')?.size).toBe(4 + 5 + 6);
    expect(await admin.result(file(admin, 'GET', { op: 'getsize', path: 'tree' }))).toBe(21);
    expect(await admin.result(file(admin, 'GET', { op: 'getsize', path: 'tree/one.exr' }))).toBe(1);
    expect(await admin.result(file(admin, 'GET', { op: 'getsize', path: 'tree', include: '*.exr' }))).toBe(
      1 + 2 + 4 + 5,
    );
  });

  it('filters names: exact, wildcards, regular expressions, include before exclude, case-insensitive', async () => {
    const listed = async (extra: Record<string, unknown>) =>
      names(await admin.result<Entry[]>(ls(admin, 'tree', extra)));
    expect(await listed({ include: '*.exr', files_only: true })).toEqual(['one.exr', 'two.EXR']);
    expect(await listed({ include: 'notes.txt', files_only: true })).toEqual(['notes.txt']);
    expect(await listed({ exclude: '*.exr' })).toEqual(['a', 'notes.txt']);
    expect(await listed({ include: ["re('^t')"], files_only: true })).toEqual(['two.EXR']);
    expect(await listed({ include: "re('exr$','I')", files_only: true })).toEqual(['one.exr']);
    expect(await listed({ include: 'one*', exclude: 'o*', files_only: true })).toEqual(['one.exr']);
    expect(await listed({ directories_only: true })).toEqual(['a']);
  });

  it('lists only the files of a tree, by their paths, with recursive and files_only', async () => {
    const entries = await admin.result<Entry[]>(ls(admin, 'tree/a', { recursive: true, files_only: true }));
    expect(names(entries)).toEqual(['b/c/deepest.txt', 'b/deep.exr', 'inner.exr']);
  });

  it('answers several paths at once', async () => {
    const result = await admin.result(file(admin, 'GET', { op: 'exists', path: ['tree/one.exr', 'tree/none'] }));
    expect(result).toEqual([
      { path: 'tree/one.exr', result: true },
      { path: 'tree/none', result: false },
    ]);
  });
});

describe('bad input changes nothing and says what is wrong', () => {
  it('refuses a missing share, a path out of its share, a local path, and a missing file', async () => {
    const cases: [string, number, RegExp][] = [
      ['folder=nothere/x', 400, /^path "folder=nothere\/x": there is no folder 'nothere' in this workspace\.$/],
      ['../etc/passwd', 400, /climbs out of the share/],
      ['tree/../../x', 400, /climbs out of the share/],
      ['/etc/passwd', 400, /user's machine/],
      ['tree/none-such', 404, /There is no file or directory "tree\/none-such"/],
    ];
    for (const [path, status, message] of cases) {
      const reply = await ls(admin, path);
      expect([path, reply.status]).toEqual([path, status]);
      expect(reply.json.message).toMatch(message);
    }
  });

  it('refuses an unknown op, the wrong method, and a name too long for a file system', async () => {
    expect((await file(admin, 'GET', { op: 'format', path: 'x' })).json.message).toMatch(/op must be one of ls/);
    expect((await file(admin, 'GET', { op: 'mkdir', path: 'x' })).json.message).toMatch(/mkdir takes POST, not GET/);
    const long = await file(admin, 'POST', { op: 'mkdir', path: `tree/${'x'.repeat(300)}` });
    expect(long.status).toBe(400);
    expect(long.json.message).toMatch(/longer than 255 bytes/);
  });

  it('refuses to delete a non-empty directory without force, and a share root', async () => {
    const reply = await file(admin, 'POST', { op: 'delete', path: 'tree/a' });
    expect(reply.status).toBe(400);
    expect(reply.json.message).toMatch(/^Cannot delete non-empty directory 'tree\/a'!/);
    expect(await admin.result(file(admin, 'GET', { op: 'exists', path: 'tree/a/inner.exr' }))).toBe(true);
    expect((await file(admin, 'POST', { op: 'delete', path: 'volume=default', force: true })).status).toBe(400);
  });

  it('answers 404 for a file that vanished before its delete', async () => {
    writeFileSync(join(volumeDir, 'tree', 'gone.txt'), '');
    expect(await admin.result(file(admin, 'GET', { op: 'exists', path: 'tree/gone.txt' }))).toBe(true);
    await admin.result(file(admin, 'POST', { op: 'delete', path: 'tree/gone.txt' }));
    const again = await file(admin, 'POST', { op: 'delete', path: 'tree/gone.txt' });
    expect(again.status).toBe(404);
  });

  it('refuses a rename onto an existing file and a rename that leaves the directory', async () => {
    const onto = await file(admin, 'PUT', { op: 'rename', path: 'tree/one.exr', path_to: 'two.EXR' });
    expect(onto.status).toBe(400);
    expect(onto.json.message).toMatch(/exists already/);
    const away = await file(admin, 'PUT', { op: 'rename', path: 'tree/one.exr', path_to: 'tree/a/one.exr' });
    expect(away.json.message).toMatch(/use move/);
    expect(await admin.result(file(admin, 'GET', { op: 'exists', path: 'tree/one.exr' }))).toBe(true);
  });
});

describe('access', () => {
  it('lists with recursive the ACLs of the shares on a volume beside those of the volume', async () => {
    const [volume] = await admin.result<{ id: string }[]>(admin.find('Volume WHERE default=True'));
    const query = `acl WHERE target=share:${volume?.id}`;
    expect(await admin.result(admin.call('GET', 'acl/find', { recursive: false }, { query }))).toEqual([]);
    const all = await admin.result<{ target_hr: string }[]>(
      admin.call('GET', 'acl/find', { recursive: true }, { query }),
    );
    expect(all.map((acl) => acl.target_hr)).toEqual(['shared-folder']);
  });
});

describe('collections', () => {
  it('gathers files of several shares, adds and removes them, and lists them as File entities', async () => {
    const [collection] = await admin.result<{ id: string; files: string[] }[]>(
      admin.create('collection', { name: 'Picks', files: ['tree/one.exr', 'volume=default/tree/a/inner.exr'] }),
    );
    const id = collection?.id as string;
    expect(collection?.files).toEqual(['tree/one.exr', 'volume=default/tree/a/inner.exr']);
    const added = await admin.result<{ id: string; path: string; parent: string; parent_hr: string }[]>(
      admin.call('POST', 'file/add', { files: ['tree/notes.txt'] }, { id }),
    );
    expect(added).toEqual([
      expect.objectContaining({
        path: 'tree/notes.txt',
        parent: id,
        parent_hr: 'picks',
        id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      }),
    ]);
    const listed = await admin.result<{ id: string; path: string }[]>(admin.find('File', { parent: id }));
    expect(listed.map((one) => one.path).sort()).toEqual(
      ['tree/a/inner.exr', 'tree/notes.txt', 'tree/one.exr']
        .map((p, i) => (i === 0 ? `volume=default/${p}` : p))
        .sort(),
    );
    const listing = await admin.result<Entry[]>(ls(admin, 'collection=picks'));
    expect(names(listing)).toEqual(['one.exr', 'inner.exr', 'notes.txt']);
    expect(listing[0]).toMatchObject({ type: 1, size: 1 });
    const removed = added[0]?.id as string;
    expect(await admin.result(admin.call('DELETE', 'collection/file/remove', { files: [removed] }, { id }))).toBe(true);
    const [after] = await admin.result<{ files: string[] }[]>(admin.find(`Collection WHERE id=${id}`));
    expect(after?.files).toEqual(['tree/one.exr', 'volume=default/tree/a/inner.exr']);
    const again = await admin.call('DELETE', 'collection/file/remove', { files: [removed] }, { id });
    expect(again.status).toBe(404);
    expect(again.json.message).toBe(`The collection holds no file '${removed}'.`);
  });

  it('refuses to collect what the caller may not read, and hides collections from those without access', async () => {
    const [collection] = await admin.result<{ id: string }[]>(
      admin.create('collection', { name: 'Secret', files: [] }),
    );
    const id = collection?.id as string;
    expect(await standard.result(standard.find('File', { parent: id }))).toEqual([]);
    expect((await standard.call('POST', 'file/add', { files: ['tree/one.exr'] }, { id })).status).toBe(403);
    const employee = new RawSession(
      server.url,
      await addUser(server.server.store, server.admin.workspace, 'emp@example.com', 'employee'),
    );
    const reply = await employee.call('POST', 'file/add', { files: ['tree/one.exr'] }, { id });
    expect(reply.status).toBe(403);
    expect(reply.json.message).toBe('Permission denied: you may not read "tree/one.exr".');
    expect(await admin.result(admin.find('File', { parent: id }))).toEqual([]);
  });
});
