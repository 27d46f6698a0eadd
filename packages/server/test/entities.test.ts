import { tmpdir } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from './support/server.js';
import { addUser, RawSession } from './support/session.js';
import { sleep } from './support/wait.js';

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

  it("lists the attributes a role reads: a client's address is for staff", async () => {
    const staff = await employee.result<string[]>(employee.call('GET', 'attributes', { entitytype: 'app' }));
    const user = await standard.result<string[]>(standard.call('GET', 'attributes', { entitytype: 'app' }));
    expect(staff).toContain('wan_ip');
    expect(user).not.toContain('wan_ip');
    expect(user).toContain('status');
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
    // Alike on SQLite and PostgreSQL: what one database takes and the other cannot.
    const long = await admin.create('transfer', {
      source: 'x.mov',
      destination: 'tom@example.com:/in/',
      name: 'n'.repeat(501),
    });
    expect([long.status, long.json.message]).toEqual([
      400,
      'transfer.name must be at most 500 characters long, not a text of 501 characters.',
    ]);
    const nul = await admin.create('user', { code: 'nul@example.com', name: 'a\u0000b' });
    expect(nul.status).toBe(400);
    expect(nul.json.message).toMatch(/^user\.name must be text without the character U\+0000 \(NUL\)/);
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

  it('reads a code in a query as what it names at the time of the query', async () => {
    expect(await admin.result(admin.find('Transfer WHERE user=noor@acme.test'))).toEqual([]);
    const noor = new RawSession(test.url, await addUser(test.server.store, 'acme', 'noor@acme.test', 'employee'));
    // From her own machine to her own machine: without an ACL, an employee reads and writes no volume.
    const [mine] = await noor.result<Entity[]>(
      noor.create('transfer', { source: '/home/noor/k.mov', destination: 'noor@acme.test:/tmp/l.mov' }),
    );
    const found = await admin.result<Entity[]>(admin.find('Transfer WHERE user=noor@acme.test'));
    expect(found.map((t) => t.id)).toEqual([mine?.id]);
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

  it('replaces a duplicate task when asked, refuses one when asked, and treats an appended transfer alike', async () => {
    const ends = { source: 'b/one.mov', destination: 'lisa@example.com:/in/one.mov' };
    const [job] = await admin.result<Entity[]>(admin.create('transfer', { ...ends, name: 'dailies' }));
    const id = job?.id as string;
    const [first] = await admin.result<Entity[]>(admin.find('Task', { parent: id }));
    const [replaced] = await admin.result<Entity[]>(
      admin.create('task', { tasks: [ends], replace_duplicates: true }, id),
    );
    expect(replaced).toMatchObject({ uri: '0', status: 'queued' });
    expect(replaced?.id).not.toBe(first?.id);
    expect((await admin.result<Entity[]>(admin.find('Task', { parent: id }))).map((t) => t.id)).toEqual([replaced?.id]);

    const refusals: [Record<string, unknown>, string][] = [
      [{ allow_duplicates: false }, 'Task 0 of this job has the same source and destination already.'],
      [
        { allow_duplicates: false, replace_duplicates: true },
        'allow_duplicates: false refuses duplicate tasks, replace_duplicates: true replaces them; give one.',
      ],
      [{ replace_duplicates: 'yes' }, 'replace_duplicates must be true or false, not "yes".'],
    ];
    const empty = await admin.create('task', { tasks: [] }, id);
    expect([empty.status, empty.json.message]).toEqual([400, 'task/create: tasks holds no task to add.']);
    for (const [options, message] of refusals) {
      const refused = await admin.create('task', { tasks: [ends], ...options }, id);
      expect([refused.status, refused.json.message]).toEqual([400, message]);
    }

    // append: the transfer named dailies takes the new task and retries the one it has already.
    const two = { source: 'b/two.mov', destination: 'lisa@example.com:/in/two.mov' };
    const [appended] = await admin.result<Entity[]>(
      admin.create('transfer', { name: 'dailies', append: true, tasks: [ends, two] }),
    );
    expect(appended?.id).toBe(id);
    const tasks = await admin.result<Entity[]>(admin.find('Task', { parent: id }));
    expect(tasks.map((t) => [t.id === replaced?.id, t.uri])).toEqual([
      [true, '0'],
      [false, '1'],
    ]);
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
    const again = admin.create('acl', {
      entity: 'user:lisa@example.com',
      target: `share:${id}`,
      read: false,
      write: true,
    });
    expect(await admin.result(again)).toEqual([true]);
    expect(await admin.result(admin.call('DELETE', 'folder/deactivate', {}, { id }))).toBe(true);
    expect(await admin.result(admin.find(`Folder WHERE id=${id}`))).toEqual([]);
    expect(await admin.result(admin.call('POST', 'folder/activate', {}, { query: 'shared-folder' }))).toBe(true);
    expect(await admin.result<Entity[]>(admin.find(`Folder WHERE id=${id}`))).toHaveLength(1);
    const acls = await admin.result<Entity[]>(
      admin.call('GET', 'acl/find', {}, { query: `acl WHERE target=share:${id}` }),
    );
    expect(acls).toMatchObject([{ read: false, write: true, path: '/' }]);
  });
});

describe('bad input', () => {
  it('answers a query error with 400, its message and position', async () => {
    const reply = await admin.find('Transfer WHERE status=done AND');
    expect(reply.status).toBe(400);
    expect(reply.json.position).toBe(15);
    expect(String(reply.json.message)).toContain('(at 15)');
  });

  it('refuses nulls, out-of-range pages, a parent where there is none and deep nesting, by name', async () => {
    const cases: [Promise<import('./support/raw.js').Reply>, number, string][] = [
      [admin.create('queue', { name: 'q', status: null }), 400, 'queue.status cannot be null.'],
      [admin.find('Transfer', { limit: 1e20 }), 400, 'find: limit must be a whole number from 0 to 9007199254740991.'],
      [
        admin.find('User', { parent: '000000000000000000000000' }),
        400,
        'find: a user has no parent; leave parent out.',
      ],
      [admin.create('queue', { name: ['x'] }), 400, 'queue.name must be text, not a list.'],
      [
        admin.create('queue', { name: 'q', metadata: JSON.parse('['.repeat(100) + ']'.repeat(100)) }),
        400,
        'the envelope nests lists and objects more than 64 deep',
      ],
    ];
    for (const [reply, status, message] of cases) {
      const answer = await reply;
      expect([answer.status, answer.json.message]).toEqual([status, message]);
    }
  });

  it('names unknown entity types and operations', async () => {
    const type = await admin.find('Transfr');
    expect(type.json.message).toBe('Unknown entity type \'transfr\': see find("entitytypes").');
    const method = await admin.call('GET', 'transfer/create', {});
    expect(method.json.message).toBe('transfer/create takes POST, not GET.');
    const key = await admin.call('GET', 'user/api_key', {});
    expect([key.status, key.json.message]).toEqual([
      403,
      'This server keeps only a hash of each API key, so it cannot show one again; an admin makes a new key with "accsyn server apikey create".',
    ]);
  });
});

describe('deliveries', () => {
  it('creates a temporary delivery, refuses to submit it empty, and submits it with files and a recipient', async () => {
    const [draft] = await admin.result<Entity[]>(admin.create('delivery', { name: 'Dailies' }));
    expect(draft).toMatchObject({ name: 'Dailies', status: 'init', public: false, user_hr: 'admin@acme.test' });
    expect(Object.keys(draft ?? {})).not.toEqual(expect.arrayContaining(['data']));
    const submit = await admin.update('delivery', draft?.id as string, { status: 'pending' });
    expect(submit.status).toBe(400);
    expect(submit.json.message).toBe(
      'This delivery cannot be submitted yet: it needs files and at least one recipient.',
    );
    const [ready] = await admin.result<Entity[]>(
      admin.create('delivery', { name: 'Ref', tasks: ['projects/ref.png'], recipients: ['lisa@example.com'] }),
    );
    expect(ready?.status).toBe('waiting');
    const files = await admin.result<Entity[]>(admin.find(`task WHERE job.id=${ready?.id}`));
    expect(files).toHaveLength(1);
    // The recipient sees it; an employee without volume access does not.
    expect(
      (await standard.result<Entity[]>(standard.call('GET', 'Delivery/find', {}, { id: ready?.id as string }))).length,
    ).toBe(1);
    expect(await employee.result(employee.call('GET', 'Delivery/find', {}, { id: ready?.id as string }))).toEqual([]);
    const [aborted] = await admin.result<Entity[]>(
      admin.update('delivery', ready?.id as string, { status: 'aborted' }),
    );
    expect(aborted?.status).toBe('aborted');
    expect(await admin.result(admin.delete('delivery', ready?.id as string))).toBe(true);
  });

  it('lets employees create deliveries only with access to a volume, and standard users not at all', async () => {
    const refused = await employee.create('delivery', { name: 'Mine' });
    expect(refused.status).toBe(403);
    expect(refused.json.message).toBe(
      'Permission denied: you need access to a volume before you may create deliveries.',
    );
    expect((await standard.create('delivery', { name: 'Mine' })).status).toBe(403);
    await admin.result(admin.create('acl', { entity: 'user:eve@acme.test', target: 'share:default', read: true }));
    const [mine] = await employee.result<Entity[]>(employee.create('delivery', { name: 'Mine' }));
    expect(mine?.user_hr).toBe('eve@acme.test');
  });

  it('creates an upload request that is submitted once it has a recipient', async () => {
    const [request] = await admin.result<Entity[]>(
      admin.create('request', {
        name: 'Plates',
        recipients: ['lisa@example.com'],
        destination: 'volume=(default)/in/',
      }),
    );
    expect(request).toMatchObject({ status: 'waiting', destination_hr: expect.stringMatching(/^workspace:acme$/) });
  });

  it('lists, adds and removes recipients through job/recipients and job/recipient', async () => {
    const [draft] = await admin.result<Entity[]>(admin.create('delivery', { name: 'Grade', tasks: ['grade/a.mov'] }));
    const id = draft?.id as string;
    const recipients = () => admin.result<Entity[]>(admin.call('GET', 'job/recipients', {}, { id }));
    expect(await recipients()).toEqual([]);
    // The standard user cannot see it yet, and may not add themselves.
    expect((await standard.call('PUT', 'job/recipient/add', { recipient: 'lisa@example.com' }, { id })).status).toBe(
      404,
    );
    const lisa = { recipient: 'lisa@example.com', invite: true };
    for (let i = 0; i < 2; i++)
      expect(await admin.result(admin.call('PUT', 'job/recipient/add', lisa, { id }))).toBe(true);
    expect(await recipients()).toEqual([
      { actioned: false, user: expect.stringMatching(/^[0-9a-f]{24}$/), user_hr: 'lisa@example.com' },
    ]);
    // Now a recipient, she sees the delivery and its recipients, but may still not change them.
    expect(await standard.result<Entity[]>(standard.call('GET', 'job/recipients', {}, { id }))).toHaveLength(1);
    const hers = await standard.call('DELETE', 'job/recipient', { recipient: 'lisa@example.com' }, { id });
    expect(hers.status).toBe(403);
    expect(await admin.result(admin.update('delivery', id, { status: 'pending' }))).toMatchObject([
      { status: 'waiting' },
    ]);
    expect(await admin.result(admin.call('DELETE', 'job/recipient', { recipient: 'lisa@example.com' }, { id }))).toBe(
      true,
    );
    expect(await recipients()).toEqual([]);
    const refusals: [ReturnType<RawSession['call']>, number, string][] = [
      [
        admin.call('DELETE', 'job/recipient', { recipient: 'lisa@example.com' }, { id }),
        404,
        'lisa@example.com is not a recipient of this delivery.',
      ],
      [
        admin.call('PUT', 'job/recipient/add', { recipient: 'nobody@acme.test', invite: false }, { id }),
        400,
        "job/recipient/add: recipient: there is no user 'nobody@acme.test' in this workspace.",
      ],
      [
        admin.call('PUT', 'job/recipient/add', { recipient: 'lisa@example.com', invite: 'yes' }, { id }),
        400,
        'job/recipient/add: invite must be true or false.',
      ],
      [
        admin.call('GET', 'user/recipients', {}, { id }),
        400,
        'Only deliveries and requests have recipients, not users.',
      ],
    ];
    for (const [reply, status, message] of refusals)
      expect([(await reply).status, (await reply).json.message]).toEqual([status, message]);
    // Without invite: false, an unknown e-mail is invited as a standard user, as grant does in the official client.
    expect(await admin.result(admin.call('PUT', 'job/recipient/add', { recipient: 'new@acme.test' }, { id }))).toBe(
      true,
    );
    const [invited] = await admin.result<Entity[]>(admin.find('User WHERE code=new@acme.test'));
    expect(invited).toMatchObject({ code: 'new@acme.test', role: 'standard' });
    const [transfer] = await admin.result<Entity[]>(
      admin.create('transfer', { source: 'c.mov', destination: 'd.mov' }),
    );
    const notDelivery = await admin.call('GET', 'job/recipients', {}, { id: transfer?.id as string });
    expect(notDelivery.json.message).toBe('Only deliveries and requests have recipients, not transfers.');
  });
});

describe('the user lifecycle', () => {
  it('deactivates a user, which ends their sessions, and activates them by e-mail: their key logs in again', async () => {
    const credentials = await addUser(test.server.store, 'acme', 'kim@acme.test', 'standard');
    const victim = new RawSession(test.url, credentials);
    await victim.result(victim.find('User', { single_entity_query: true }));
    const [user] = await admin.result<Entity[]>(admin.find('User WHERE code=kim@acme.test'));
    expect(await admin.result(admin.call('DELETE', 'user/deactivate', {}, { id: user?.id as string }))).toBe(true);
    expect((await victim.find('User', { single_entity_query: true })).status).toBe(401);
    expect(await admin.result(admin.find('User WHERE code=kim@acme.test'))).toEqual([]);
    expect(await admin.result<Entity[]>(admin.find('User WHERE code=kim@acme.test', { inactive: true }))).toHaveLength(
      1,
    );
    expect(await admin.result(admin.call('POST', 'user/activate', {}, { query: 'kim@acme.test' }))).toBe(true);
    expect((await victim.find('User', { single_entity_query: true })).status).toBe(401);
    const again = new RawSession(test.url, credentials);
    expect((await again.find('User', { single_entity_query: true })).status).toBe(200);
  });

  it('deletes a user and brings the same account back when the e-mail is created again', async () => {
    const [user] = await admin.result<Entity[]>(admin.create('user', { code: 'temp@acme.test', role: 'employee' }));
    expect(await admin.result(admin.delete('user', user?.id as string, { force: true }))).toBe(true);
    expect(await admin.result(admin.find('User WHERE code=temp@acme.test'))).toEqual([]);
    const [again] = await admin.result<Entity[]>(admin.create('user', { code: 'temp@acme.test' }));
    expect(again).toMatchObject({ id: user?.id, role: 'standard' });
  });

  it('lets only admins change roles, and an employee change standard users only', async () => {
    const [tom] = await admin.result<Entity[]>(admin.find('User WHERE code=tom@example.com'));
    const promote = await employee.update('user', tom?.id as string, { role: 'admin' });
    expect(promote.status).toBe(403);
    expect(promote.json.message).toBe('Permission denied: only an admin may change roles.');
    const [renamed] = await employee.result<Entity[]>(employee.update('user', tom?.id as string, { name: 'Tom' }));
    expect(renamed?.name).toBe('Tom');
    const [adminUser] = await admin.result<Entity[]>(admin.find('User WHERE code=admin@acme.test'));
    expect((await employee.update('user', adminUser?.id as string, { name: 'x' })).status).toBe(404);
  });
});

describe('other shares, sites and queues', () => {
  it('creates a home, a collection, a volume, a site and a queue, each with its code', async () => {
    const [home] = await admin.result<Entity[]>(admin.create('home', { user: 'lisa@example.com' }));
    expect(home).toMatchObject({ code: 'home-lisa-example-com', user_hr: 'lisa@example.com', parent_hr: 'default' });
    const [collection] = await admin.result<Entity[]>(
      admin.create('collection', { name: 'Picks', files: ['volume=default/a.mov', 'shared-folder/b.mov'] }),
    );
    expect(collection).toMatchObject({ code: 'picks', files: ['volume=default/a.mov', 'shared-folder/b.mov'] });
    const absolute = await admin.create('collection', { name: 'Bad', files: ['/etc/passwd'] });
    expect(absolute.json.message).toMatch(/^files\[0\]: path "\/etc\/passwd" is on a user's machine/);
    const missing = await admin.create('volume', { name: 'Assets', path: '/mnt/no-such-assets' });
    expect(missing.json.message).toBe(
      'volume.path "/mnt/no-such-assets" does not exist on the server; create the directory first.',
    );
    const [volume] = await admin.result<Entity[]>(
      admin.create('volume', { name: 'Assets', paths: { linux: tmpdir() } }),
    );
    expect(volume).toMatchObject({ code: 'assets', default: false, type: 'volume', path: tmpdir() });
    const [site] = await admin.result<Entity[]>(admin.create('site', { code: 'stockholm' }));
    expect(site).toMatchObject({ code: 'stockholm', main: false });
    const [queue] = await admin.result<Entity[]>(admin.create('queue', { name: 'Night Renders', priority: 10 }));
    expect(queue).toMatchObject({ code: 'night-renders', priority: 10, status: 'waiting' });
    const [moved] = await admin.result<Entity[]>(
      admin.create('transfer', {
        source: 'a.mov',
        destination: 'site=stockholm:volume=assets/in/',
        queue: 'night-renders',
      }),
    );
    expect(moved).toMatchObject({ queue_hr: 'Night Renders', destination_hr: 'site:stockholm' });
    const found = await admin.result<Entity[]>(admin.find('Transfer WHERE destination=stockholm'));
    expect(found.map((t) => t.id)).toEqual([moved?.id]);
    // A reference's readable form follows the entity it names.
    await admin.result(admin.update('queue', queue?.id as string, { name: 'Overnight' }));
    const [renamed] = await admin.result<Entity[]>(admin.find(`Transfer WHERE id=${moved?.id}`));
    expect(renamed).toMatchObject({ queue_hr: 'Overnight' });
  });

  it('keeps the main site, the default volume and the default queue', async () => {
    const [hq] = await admin.result<Entity[]>(admin.find('Site WHERE code=hq'));
    const refused = await admin.delete('site', hq?.id as string);
    expect(refused.status).toBe(409);
    expect(refused.json.message).toBe('The main site cannot be deleted.');
  });
});

describe('every attribute', () => {
  it('can be queried on every entity type', async () => {
    const types = await admin.result<string[]>(admin.call('GET', 'entitytypes', {}));
    for (const type of types) {
      const names = await admin.result<string[]>(admin.call('GET', 'attributes', { entitytype: type }));
      // JSON values and the _hr forms are answers only, not queryable.
      const json = [
        'metadata',
        'paths',
        'files',
        'data',
        'rules',
        ...(type === 'task' ? ['source', 'destination'] : []),
      ];
      for (const name of names.filter((n) => !n.endsWith('_hr') && !json.includes(n))) {
        const text = ['code', 'name'].includes(name) ? [`${name}="x*"`, `${name} contains x`] : [];
        for (const query of [`${name}=null`, `${name}!=null`, ...text]) {
          const reply = await admin.find(`${type} WHERE ${query}`, { archived: true, inactive: true });
          expect(reply.status, `${type} WHERE ${query}: ${reply.text}`).toBe(200);
        }
      }
    }
    const [workspace] = await admin.result<Entity[]>(admin.find('Workspace WHERE name=acme'));
    expect(workspace?.code).toBe('acme');
    const [me] = await admin.result<Entity[]>(admin.find('User WHERE name=admin'));
    expect(me?.code).toBe('admin@acme.test');
  });
});

describe('archiving', () => {
  it('archives finished jobs after the configured number of days', async () => {
    const other = await startTestServer({}, ['--archive-after-days', '0']);
    try {
      const session = new RawSession(other.url, other.admin);
      const [job] = await session.result<Entity[]>(
        session.create('transfer', { source: 'a.mov', destination: 'b.mov' }),
      );
      await session.result(session.update('transfer', job?.id as string, { status: 'done' }));
      // Older than 0 days means finished before the find's millisecond: let the clock move on.
      await sleep(5);
      expect(await session.result(session.find(`Transfer WHERE id=${job?.id}`, { finished: true }))).toEqual([]);
      expect(
        await session.result<Entity[]>(session.find(`Transfer WHERE id=${job?.id}`, { archived: true })),
      ).toHaveLength(1);
    } finally {
      await other.stop();
    }
  });
});
