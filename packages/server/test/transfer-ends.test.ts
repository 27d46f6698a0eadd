import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newId } from '../src/store/ids.js';
import type { Reply } from './support/raw.js';
import { startTestServer, type TestServer } from './support/server.js';
import { addUser, RawSession } from './support/session.js';

/**
 * A transfer's ends are checked against the caller's rights, as the file calls check paths (issue 18, defect 1):
 * read on sources, write on destinations, another person's machine only as the roles allow. A refusal does not
 * tell whether the path exists; a share or machine the caller may not use answers as an unknown one.
 */

let test: TestServer;
let admin: RawSession;
let lisa: RawSession;
let employee: RawSession;
let lisaId: string;
let johnClient: string;
let lisaClient: string;

async function addClient(user: string, code: string): Promise<string> {
  const workspace = await test.server.store.workspaceByCode(test.admin.workspace);
  const id = newId();
  const now = new Date().toISOString();
  await sql`INSERT INTO clients (id, workspace, created, modified, code, code_folded, name, name_folded, status, type,
    os, "user", inactive) VALUES (${id}, ${workspace?.id}, ${now}, ${now}, ${code}, ${code}, ${code}, ${code},
    'online', 0, 'linux', ${user}, 0)`.execute(test.server.store.db);
  return id;
}

const userId = async (email: string) =>
  ((await admin.result<{ id: string }[]>(admin.find(`User WHERE code=${email}`)))[0] as { id: string }).id;

function refused(reply: Reply, status: number, message: string | RegExp): void {
  expect(reply.status, reply.text).toBe(status);
  expect(reply.json.message).toMatch(message);
}

beforeAll(async () => {
  test = await startTestServer();
  admin = new RawSession(test.url, test.admin);
  lisa = new RawSession(
    test.url,
    await addUser(test.server.store, test.admin.workspace, 'lisa@example.com', 'standard'),
  );
  employee = new RawSession(
    test.url,
    await addUser(test.server.store, test.admin.workspace, 'emp@example.com', 'employee'),
  );
  await addUser(test.server.store, test.admin.workspace, 'john@user.com', 'standard');
  lisaId = await userId('lisa@example.com');
  johnClient = await addClient(await userId('john@user.com'), 'johns-laptop');
  lisaClient = await addClient(lisaId, 'lisas-laptop');
  for (const [path, name] of [
    ['secret', 'Secret'],
    ['shared', 'Shared'],
  ] as const) {
    await admin.result(admin.create('folder', { parent: 'default', path, name }));
  }
  for (const [path, read, write] of [
    ['out', true, false],
    ['in', false, true],
  ] as const) {
    await admin.result(
      admin.create('acl', { entity: 'user:lisa@example.com', target: 'share:shared', path, read, write }),
    );
  }
});

afterAll(async () => {
  await test?.stop();
});

const transfer = (session: RawSession, source: string, destination: string) =>
  session.create('transfer', { source, destination });

describe('a standard user', () => {
  it('reads from and writes to only what an ACL grants', async () => {
    expect((await transfer(lisa, 'folder=shared/out/plate.exr', '/Users/lisa/plate.exr')).status).toBe(200);
    expect((await transfer(lisa, '/Users/lisa/upload.mov', 'folder=shared/in/')).status).toBe(200);
    refused(
      await transfer(lisa, 'folder=shared/in/x.mov', '/Users/lisa/x.mov'),
      403,
      'Permission denied: you may not read source "folder=shared/in/x.mov".',
    );
    refused(
      await transfer(lisa, '/Users/lisa/x.mov', 'folder=shared/out/x.mov'),
      403,
      'Permission denied: you may not write to destination "folder=shared/out/x.mov".',
    );
  });

  it('gets the same answer for a share it may not see as for one that does not exist', async () => {
    const hidden = await transfer(lisa, 'folder=secret/plan.mov', '/Users/lisa/plan.mov');
    const missing = await transfer(lisa, 'folder=nosuch/plan.mov', '/Users/lisa/plan.mov');
    refused(hidden, 400, "source: there is no folder 'secret' in this workspace.");
    refused(missing, 400, "source: there is no folder 'nosuch' in this workspace.");
    refused(
      await transfer(lisa, 'volume=default/secret.mov', '/Users/lisa/s.mov'),
      400,
      /there is no volume 'default'/,
    );
    refused(await transfer(lisa, 'secret/plan.mov', '/Users/lisa/plan.mov'), 403, /you may not read source/);
  });

  it("may not use another person's machine, which answers as an unknown one", async () => {
    refused(
      await transfer(lisa, `client=${johnClient}:/home/john/.ssh/id_rsa`, '/Users/lisa/key'),
      400,
      `source: there is no client ${johnClient} in this workspace.`,
    );
    expect((await transfer(lisa, `client=${lisaClient}:/Users/lisa/a.mov`, 'folder=shared/in/')).status).toBe(200);
  });

  it('is checked again when tasks are added to a job', async () => {
    const [job] = await lisa.result<{ id: string }[]>(transfer(lisa, 'folder=shared/out/a.exr', '/Users/lisa/a.exr'));
    const id = job?.id as string;
    refused(
      await lisa.call(
        'POST',
        'task/create',
        { tasks: [{ source: 'folder=shared/in/b.exr', destination: '/Users/lisa/b.exr' }] },
        { id },
      ),
      403,
      'Permission denied: you may not read tasks[0].source "folder=shared/in/b.exr".',
    );
    const tasks = await lisa.result(lisa.find('Task', { parent: id }));
    expect(tasks).toHaveLength(1);
  });
});

describe('an employee', () => {
  it('uses no volume without an ACL, but folders and standard users machines', async () => {
    refused(await transfer(employee, 'volume=default/a.mov', '/tmp/a.mov'), 400, /there is no volume 'default'/);
    refused(await transfer(employee, 'a.mov', '/tmp/a.mov'), 403, /you may not read source "a.mov"/);
    expect((await transfer(employee, 'folder=secret/a.mov', '/tmp/a.mov')).status).toBe(200);
    expect((await transfer(employee, 'folder=secret/a.mov', `client=${johnClient}:/home/john/in/`)).status).toBe(200);
  });

  it('needs write where a request lands', async () => {
    await admin.result(
      admin.create('acl', {
        entity: 'user:emp@example.com',
        target: 'share:default',
        path: 'incoming',
        read: true,
        write: false,
      }),
    );
    refused(
      await employee.create('request', {
        name: 'Plates',
        destination: 'incoming/plates/',
        recipients: ['lisa@example.com'],
      }),
      403,
      'Permission denied: you may not write to request.destination "incoming/plates/".',
    );
    expect(
      (
        await employee.create('request', {
          name: 'Plates',
          destination: 'folder=secret/in/',
          recipients: ['lisa@example.com'],
        })
      ).status,
    ).toBe(200);
  });

  it('sends in a delivery only what it may read', async () => {
    refused(
      await employee.create('delivery', { name: 'Ref', tasks: ['other/ref.png'], recipients: ['lisa@example.com'] }),
      403,
      'Permission denied: you may not read tasks[0].source "other/ref.png".',
    );
    expect(
      (
        await employee.create('delivery', {
          name: 'Ref',
          tasks: ['incoming/ref.png'],
          recipients: ['lisa@example.com'],
        })
      ).status,
    ).toBe(200);
  });
});
