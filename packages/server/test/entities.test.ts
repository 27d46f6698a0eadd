import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from './support/server.js';
import { addUser, RawSession } from './support/session.js';

type Entity = Record<string, unknown>;

let test: TestServer;
let admin: RawSession;
let employee: RawSession;
let standard: RawSession;

beforeAll(async () => {
  test = await startTestServer();
  admin = new RawSession(test.url, test.admin);
  const store = test.server.store;
  employee = new RawSession(test.url, await addUser(store, 'acme', 'eve@acme.test', 'employee'));
  standard = new RawSession(test.url, await addUser(store, 'acme', 'lisa@example.com', 'standard'));
});
afterAll(() => test.stop());

describe('a fresh workspace', () => {
  it('has the main site hq, the default volume and the queues high, medium and low', async () => {
    const sites = await admin.result<Entity[]>(admin.find('Site'));
    expect(sites.map((s) => [s.code, s.main])).toEqual([['hq', true]]);
    const volume = await admin.result<Entity>(admin.find('Volume WHERE default=true', { single_entity_query: true }));
    expect(volume).toMatchObject([{ code: 'default', default: true, status: 'enabled' }]);
    const queues = await admin.result<Entity[]>(admin.find("Queue WHERE name='medium'"));
    expect(queues).toMatchObject([{ code: 'medium', priority: 500 }]);
  });

  it('lists its entity types to every role', async () => {
    for (const session of [admin, employee, standard]) {
      const types = await session.result<string[]>(session.call('GET', 'entitytypes', {}));
      expect(types).toContain('user');
      expect(types.length).toBeGreaterThan(2);
    }
  });

  it("lists a delivery's attributes without data or config", async () => {
    const names = await admin.result<string[]>(
      admin.call('GET', 'attributes', { entitytype: 'delivery', create: false, update: false }),
    );
    expect(names).toEqual(expect.arrayContaining(['code', 'name', 'public', 'status', 'user']));
    expect(names).not.toContain('data');
    expect(names).not.toContain('config');
    const creatable = await admin.result<string[]>(
      admin.call('GET', 'attributes', { entitytype: 'transfer', create: true, update: false }),
    );
    expect(creatable).toContain('source');
    expect(creatable).not.toContain('progress');
  });
});

describe('users', () => {
  it('creates a standard user by default, finds it by code in any case, and reads own profile', async () => {
    const [created] = await admin.result<Entity[]>(admin.create('user', { code: 'Tom@Example.com' }));
    expect(created).toMatchObject({ code: 'Tom@Example.com', role: 'standard', status: 'enabled' });
    expect(created?.id).toMatch(/^[0-9a-f]{24}$/);
    expect(created?.created).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$/);
    const found = await admin.result<Entity[]>(admin.find("User WHERE code='TOM@example.COM'"));
    expect(found.map((u) => u.id)).toEqual([created?.id]);
    const me = await standard.result<Entity[]>(standard.find('User', { single_entity_query: true }));
    expect(me).toMatchObject([{ code: 'lisa@example.com', role: 'standard' }]);
  });

  it('refuses a duplicate, a bad e-mail and unknown attributes with messages that name them', async () => {
    const duplicate = await admin.create('user', { code: 'tom@example.com' });
    expect(duplicate.status).toBe(409);
    expect(duplicate.json.message).toBe('A user tom@example.com exists already.');
    const bad = await admin.create('user', { code: 'not-an-email' });
    expect(bad.json.message).toBe("user.code must be an e-mail address, not 'not-an-email'.");
    const unknown = await admin.create('user', { code: 'x@y.com', rol: 'admin' });
    expect(unknown.status).toBe(400);
    expect(unknown.json.message).toBe("user has no attribute 'rol'; did you mean role?");
    const users = await admin.result<Entity[]>(admin.find('User WHERE code=x@y.com'));
    expect(users).toEqual([]);
  });
});

describe('transfers', () => {
  let transfer: Entity;

  it('checks the parties and paths of a new transfer against the workspace', async () => {
    const missing = await admin.create('transfer', {
      source: 'folder=missing/x',
      destination: 'lisa@example.com:/in/',
    });
    expect(missing.status).toBe(400);
    expect(missing.json.message).toBe("source: there is no folder 'missing' in this workspace.");
    const nobody = await admin.create('transfer', { source: 'x.mov', destination: 'nobody@example.com:/in/' });
    expect(nobody.json.message).toBe('destination: there is no user nobody@example.com in this workspace.');
    const transfers = await admin.result<Entity[]>(admin.find('Transfer', { finished: true }));
    expect(transfers).toEqual([]);
  });

  it('creates a transfer with its task, and finds it by user e-mail, party code and status', async () => {
    [transfer] = (await admin.result<Entity[]>(
      admin.create('transfer', {
        source: 'projects/x.mov',
        destination: 'lisa@example.com:/Users/lisa/in/',
        status: 'paused',
      }),
    )) as [Entity];
    expect(transfer).toMatchObject({
      name: 'x.mov',
      status: 'paused',
      user_hr: 'admin@acme.test',
      destination_hr: 'user:lisa@example.com',
      queue_hr: 'medium',
    });
    expect(transfer.source).toMatch(/^workspace:[0-9a-f]{24}$/);
    for (const query of [
      'Transfer WHERE user=admin@acme.test',
      'Transfer WHERE destination=lisa@example.com AND source=hq',
      `Transfer WHERE (user=${transfer.user} AND status=paused) OR status<>paused`,
      `Transfer WHERE id=${transfer.id}`,
    ]) {
      const found = await admin.result<Entity[]>(admin.find(query));
      expect(
        found.map((t) => t.id),
        query,
      ).toEqual([transfer.id]);
    }
    const tasks = await admin.result<Entity[]>(admin.find(`Task WHERE job.id=${transfer.id}`));
    expect(tasks).toMatchObject([{ uri: '0', status: 'queued', job: transfer.id }]);
    expect(tasks[0]?.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(tasks[0]?.destination).toMatchObject({ path: '/Users/lisa/in/', user: expect.any(String) });
  });

  it('lets its party see it, but not another standard user', async () => {
    const seen = await standard.result<Entity[]>(standard.find(`Transfer WHERE id=${transfer.id}`));
    expect(seen.map((t) => t.id)).toEqual([transfer.id]);
    const other = new RawSession(test.url, await addUser(test.server.store, 'acme', 'bob@acme.test', 'standard'));
    expect(await other.result(other.find(`Transfer WHERE id=${transfer.id}`))).toEqual([]);
    expect(await other.result(other.call('GET', 'Transfer/find', {}, { id: transfer.id as string }))).toEqual([]);
  });

  it('sets writable statuses, and refuses others and immutable attributes by name', async () => {
    const [resumed] = await admin.result<Entity[]>(
      admin.update('transfer', transfer.id as string, { status: 'waiting' }),
    );
    expect(resumed?.status).toBe('waiting');
    const running = await admin.update('transfer', transfer.id as string, { status: 'running' });
    expect(running.status).toBe(400);
    expect(running.json.message).toBe(
      "transfer status 'running' cannot be set; the statuses you may set are waiting, paused, aborted, done.",
    );
    const source = await admin.update('transfer', transfer.id as string, { source: 'elsewhere' });
    expect(source.json.message).toBe('transfer.source cannot be changed.');
  });

  it('moves a finished transfer out of the default scope, and a deleted one to archived', async () => {
    await admin.result(admin.update('transfer', transfer.id as string, { status: 'done' }));
    expect(await admin.result(admin.find(`Transfer WHERE id=${transfer.id}`))).toEqual([]);
    const finished = await admin.result<Entity[]>(admin.find(`Transfer WHERE id=${transfer.id}`, { finished: true }));
    expect(finished[0]?.finished).toMatch(/^\d{4}-/);
    expect(await admin.result(admin.delete('transfer', transfer.id as string))).toBe(true);
    expect(await admin.result(admin.find(`Transfer WHERE id=${transfer.id}`, { finished: true }))).toEqual([]);
    const archived = await admin.result<Entity[]>(admin.find(`Transfer WHERE id=${transfer.id}`, { archived: true }));
    expect(archived).toHaveLength(1);
    const byId = await admin.result<Entity[]>(admin.call('GET', 'Transfer/find', {}, { id: transfer.id as string }));
    expect(byId).toHaveLength(1);
  });
});

describe('tasks', () => {
  it('adds tasks to a job, retries one with the same ends, and edits them by uri', async () => {
    const [job] = await admin.result<Entity[]>(
      admin.create('transfer', { source: 'a/one.mov', destination: 'lisa@example.com:/in/one.mov' }),
    );
    const id = job?.id as string;
    const added = await admin.result<Entity[]>(
      admin.create('task', { tasks: [{ source: 'a/two.mov', destination: 'lisa@example.com:/in/two.mov' }] }, id),
    );
    expect(added).toMatchObject([{ uri: '1', status: 'queued' }]);
    await admin.result(admin.call('PUT', 'task/edit', [{ uri: '0', status: 'failed' }], { id }));
    const retried = await admin.result<Entity[]>(
      admin.create('task', { tasks: [{ source: 'a/one.mov', destination: 'lisa@example.com:/in/one.mov' }] }, id),
    );
    expect(retried).toMatchObject([{ uri: '0', status: 'queued' }]);
    const all = await admin.result<Entity[]>(admin.find('Task', { parent: id }));
    expect(all).toHaveLength(2);
    const [held] = await admin.result<Entity[]>(
      admin.call('PUT', 'task/edit', [{ uri: '1', status: 'onhold' }], { id }),
    );
    expect(held).toMatchObject({ uri: '1', status: 'onhold' });
    const bad = await admin.call('PUT', 'task/edit', [{ uri: '1', source: {} }], { id });
    expect(bad.json.message).toBe('task.source cannot be changed.');
  });
});

describe('shares and access', () => {
  it('creates a folder, grants it to a standard user, and takes it offline and back', async () => {
    const [folder] = await admin.result<Entity[]>(
      admin.create('folder', { parent: 'default', path: 'shared-folder', name: 'Shared Folder' }),
    );
    expect(Object.keys(folder ?? {})).toEqual(
      expect.arrayContaining(['code', 'created', 'creator', 'description', 'email', 'id', 'metadata', 'modified']),
    );
    expect(folder).toMatchObject({ code: 'shared-folder', status_hr: 'Enabled', parent_hr: 'default' });
    const id = folder?.id as string;
    expect(await standard.result(standard.find('Folder'))).toEqual([]);
    const [acl] = await admin.result<Entity[]>(
      admin.create('acl', {
        entity: 'user:lisa@example.com',
        target: `share:${id}`,
        read: true,
        write: false,
        path: 'DOWNLOAD',
      }),
    );
    expect(acl).toMatchObject({ path: 'DOWNLOAD', read: true, write: false, entity_hr: 'lisa@example.com' });
    expect((await standard.result<Entity[]>(standard.find('Folder'))).map((f) => f.id)).toEqual([id]);
    expect(await admin.result(admin.call('DELETE', 'folder/deactivate', {}, { id }))).toBe(true);
    expect(await admin.result(admin.find(`Folder WHERE id=${id}`))).toEqual([]);
    expect(await admin.result(admin.call('POST', 'folder/activate', {}, { query: 'shared-folder' }))).toBe(true);
    expect(await admin.result<Entity[]>(admin.find(`Folder WHERE id=${id}`))).toHaveLength(1);
    const acls = await admin.result<Entity[]>(
      admin.call('GET', 'acl/find', {}, { query: `acl WHERE target=share:${id}` }),
    );
    expect(acls).toHaveLength(1);
  });
});

describe('bad input', () => {
  it('answers a query error with 400, its message and position', async () => {
    const reply = await admin.find('Transfer WHERE status=done AND');
    expect(reply.status).toBe(400);
    expect(reply.json.position).toBe(15);
    expect(String(reply.json.message)).toContain('(at 15)');
  });

  it('names unknown entity types and operations', async () => {
    const type = await admin.find('Transfr');
    expect(type.json.message).toBe('Unknown entity type \'transfr\': see find("entitytypes").');
    const method = await admin.call('GET', 'transfer/create', {});
    expect(method.json.message).toBe('transfer/create takes POST, not GET.');
  });
});
