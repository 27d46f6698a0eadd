import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newId } from '../src/store/ids.js';
import type { Reply } from './support/raw.js';
import { startTestServer, type TestServer } from './support/server.js';
import { addUser, RawSession } from './support/session.js';

/**
 * Which server clients serve a volume, as the official client's assign, deassign and assignments send it
 * (reference §2.3): `PUT share/server`, `DELETE <volume|share>/server` with `data.client` and the volume's id,
 * `GET <Volume|share|folder...>/servers` with a share's id. Clients are not made through the API: the tests put
 * them in the database, as a client's check-in will.
 */

type Entity = Record<string, unknown>;

let test: TestServer;
let admin: RawSession;
let employee: RawSession;
let standard: RawSession;
let stranger: RawSession;
const ids: Record<string, string> = {};

/** assign("volume", "server", {volume, server}): always `share/server`, whatever the parent type. */
const assign = (session: RawSession, volume: string, client: unknown) =>
  session.call('PUT', 'share/server', { client }, { id: volume });
/** deassign(parent, "server", {...}): `<parent>/server` as the parent type was given. */
const deassign = (session: RawSession, parent: string, volume: string, client: unknown) =>
  session.call('DELETE', `${parent}/server`, { client }, { id: volume });
/** assignments(entitytype, id): the entity type in the case the caller typed it. */
const assignments = (session: RawSession, entitytype: string, id: string) =>
  session.call('GET', `${entitytype}/servers`, {}, { id });

let made = 0;

async function addClient(workspace: string, code: string, type: number): Promise<string> {
  const found = await test.server.store.workspaceByCode(workspace);
  const id = newId();
  // A millisecond apart, so that the order they were made in is the order of their times.
  const now = new Date(Date.now() + made++).toISOString();
  await sql`INSERT INTO clients (id, workspace, created, modified, code, code_folded, name, name_folded, status, type,
    os, roles, inactive) VALUES (${id}, ${found?.id}, ${now}, ${now}, ${code}, ${code}, ${code}, ${code}, 'online',
    ${type}, 'linux', 'storage', 0)`.execute(test.server.store.db);
  return id;
}

function refused(reply: Reply, status: number, message: string): void {
  expect({ status: reply.status, message: reply.json.message }).toEqual({ status, message });
}

const codes = (reply: Reply) => {
  expect(reply.status, reply.text).toBe(200);
  return (reply.json.result as Entity[]).map((client) => client.code);
};

beforeAll(async () => {
  test = await startTestServer();
  const store = test.server.store;
  admin = new RawSession(test.url, test.admin);
  employee = new RawSession(test.url, await addUser(store, 'acme', 'eve@acme.test', 'employee'));
  standard = new RawSession(test.url, await addUser(store, 'acme', 'lisa@example.com', 'standard'));
  stranger = new RawSession(test.url, await addUser(store, 'globex', 'root@globex.test', 'admin'));
  const [volume] = await admin.result<Entity[]>(admin.find('Volume WHERE default=true'));
  ids.volume = (volume as Entity).id as string;
  const [folder] = await admin.result<Entity[]>(
    admin.create('folder', { parent: 'default', path: 'projects', name: 'Projects' }),
  );
  ids.folder = (folder as Entity).id as string;
  const [home] = await admin.result<Entity[]>(admin.create('home', { user: 'lisa@example.com' }));
  ids.home = (home as Entity).id as string;
  expect((home as Entity).parent).toBe(ids.volume);
  ids.storage1 = await addClient('acme', 'storage1', 1);
  ids.storage2 = await addClient('acme', 'storage2', 1);
  ids.app = await addClient('acme', 'laptop', 0);
  ids.foreign = await addClient('globex', 'globex-storage', 1);
  // The standard user may read the folder: its servers are still none of their business.
  await admin.result(
    admin.create('acl', { entity: 'user:lisa@example.com', target: `share:${ids.folder}`, read: true, write: false }),
  );
});
afterAll(() => test.stop());

describe('assign and assignments', () => {
  it('assigns a server to a volume and lists it as a client entity', async () => {
    expect(await admin.result(assign(admin, ids.volume as string, ids.storage1))).toBe(true);
    const reply = await assignments(admin, 'Volume', ids.volume as string);
    const [server, ...more] = await admin.result<Entity[]>(Promise.resolve(reply));
    expect(more).toEqual([]);
    expect(server).toMatchObject({
      id: ids.storage1,
      code: 'storage1',
      type: 1,
      type_hr: 'server',
      status: 'online',
      os: 'linux',
      roles: 'storage',
    });
    // The same attributes as find("Server") answers.
    const [found] = await admin.result<Entity[]>(admin.find(`Server WHERE id=${ids.storage1}`));
    expect(server).toEqual(found);
  });

  it('assigns each server once, and lists them in the order they were made', async () => {
    expect(await admin.result(assign(admin, ids.volume as string, ids.storage2))).toBe(true);
    expect(await admin.result(assign(admin, ids.volume as string, ids.storage1))).toBe(true);
    expect(codes(await assignments(admin, 'volume', ids.volume as string))).toEqual(['storage1', 'storage2']);
    expect(codes(await assignments(admin, 'share', ids.volume as string))).toEqual(['storage1', 'storage2']);
  });

  it("answers a folder's or a home's volume's servers", async () => {
    expect(codes(await assignments(admin, 'Folder', ids.folder as string))).toEqual(['storage1', 'storage2']);
    expect(codes(await assignments(admin, 'share', ids.folder as string))).toEqual(['storage1', 'storage2']);
    expect(codes(await assignments(admin, 'home', ids.home as string))).toEqual(['storage1', 'storage2']);
  });

  it('answers a collection, whose files may lie on several volumes, no servers', async () => {
    const [collection] = await admin.result<Entity[]>(
      admin.create('collection', { name: 'Picks', files: ['volume=default/a.mov'] }),
    );
    expect(await admin.result(assignments(admin, 'collection', (collection as Entity).id as string))).toEqual([]);
  });

  it('deassigns, and answers true also for a server that was not assigned', async () => {
    expect(await admin.result(deassign(admin, 'volume', ids.volume as string, ids.storage2))).toBe(true);
    expect(codes(await assignments(admin, 'Volume', ids.volume as string))).toEqual(['storage1']);
    expect(await admin.result(deassign(admin, 'share', ids.volume as string, ids.storage2))).toBe(true);
    expect(codes(await assignments(admin, 'Volume', ids.volume as string))).toEqual(['storage1']);
  });

  it('leaves a deleted server out', async () => {
    const extra = await addClient('acme', 'storage3', 1);
    await admin.result(assign(admin, ids.volume as string, extra));
    expect(codes(await assignments(admin, 'volume', ids.volume as string))).toEqual(['storage1', 'storage3']);
    await sql`UPDATE clients SET archived = ${new Date().toISOString()} WHERE id = ${extra}`.execute(
      test.server.store.db,
    );
    expect(codes(await assignments(admin, 'volume', ids.volume as string))).toEqual(['storage1']);
  });
});

describe('refusals', () => {
  it('takes only server clients of the workspace', async () => {
    const volume = ids.volume as string;
    refused(
      await assign(admin, volume, ids.app),
      400,
      `App ${ids.app} is not a server: only server clients (type 1) serve volumes.`,
    );
    refused(await assign(admin, volume, ids.foreign), 400, `There is no client ${ids.foreign} in this workspace.`);
    refused(
      await assign(admin, volume, 'aaaaaaaaaaaaaaaaaaaaaaaa'),
      400,
      'There is no client aaaaaaaaaaaaaaaaaaaaaaaa in this workspace.',
    );
    refused(await assign(admin, volume, undefined), 400, "data.client must be a server client's id.");
    refused(await deassign(admin, 'volume', volume, 42), 400, "data.client must be a server client's id.");
    expect(codes(await assignments(admin, 'volume', volume))).toEqual(['storage1']);
  });

  it('assigns to volumes only, and answers an unknown share as unknown', async () => {
    refused(
      await assign(admin, ids.folder as string, ids.storage2),
      400,
      'Servers serve volumes, and projects is a folder: assign them to its volume.',
    );
    const unknown = 'bbbbbbbbbbbbbbbbbbbbbbbb';
    refused(await assign(admin, unknown, ids.storage2), 404, `There is no share ${unknown}, or you may not see it.`);
    refused(
      await deassign(admin, 'volume', unknown, ids.storage2),
      404,
      `There is no volume ${unknown}, or you may not see it.`,
    );
    refused(
      await assignments(admin, 'volume', ids.folder as string),
      404,
      `There is no volume ${ids.folder}, or you may not see it.`,
    );
    refused(await assignments(admin, 'transfer', unknown), 400, 'Only shares have servers, not transfers.');
    refused(
      await admin.call('POST', 'share/server', { client: ids.storage2 }, { id: ids.volume }),
      400,
      'share/server takes PUT or DELETE, not POST.',
    );
  });
});

describe('rights', () => {
  it('lets only admins assign', async () => {
    for (const session of [employee, standard]) {
      refused(
        await assign(session, ids.volume as string, ids.storage2),
        403,
        'Permission denied: only an admin assigns servers to volumes.',
      );
      refused(
        await deassign(session, 'volume', ids.volume as string, ids.storage1),
        403,
        'Permission denied: only an admin assigns servers to volumes.',
      );
    }
    expect(codes(await assignments(admin, 'volume', ids.volume as string))).toEqual(['storage1']);
  });

  it('lets employees read the servers of the shares they may read', async () => {
    expect(codes(await assignments(employee, 'folder', ids.folder as string))).toEqual(['storage1']);
    // A volume is read with an ACL only, as find("Volume") answers.
    refused(
      await assignments(employee, 'Volume', ids.volume as string),
      404,
      `There is no volume ${ids.volume}, or you may not see it.`,
    );
    await admin.result(admin.create('acl', { entity: 'user:eve@acme.test', target: 'share:default', read: true }));
    expect(codes(await assignments(employee, 'Volume', ids.volume as string))).toEqual(['storage1']);
  });

  it('shows standard users no servers', async () => {
    for (const [type, id] of [
      ['folder', ids.folder],
      ['home', ids.home],
      ['volume', ids.volume],
      ['share', 'cccccccccccccccccccccccc'],
    ] as const) {
      expect(await standard.result(assignments(standard, type, id as string)), type).toEqual([]);
    }
  });

  it("keeps workspaces apart: another workspace's volume is unknown", async () => {
    refused(
      await assignments(stranger, 'Volume', ids.volume as string),
      404,
      `There is no volume ${ids.volume}, or you may not see it.`,
    );
    refused(
      await assign(stranger, ids.volume as string, ids.foreign),
      404,
      `There is no share ${ids.volume}, or you may not see it.`,
    );
    expect(codes(await assignments(admin, 'volume', ids.volume as string))).toEqual(['storage1']);
  });
});
