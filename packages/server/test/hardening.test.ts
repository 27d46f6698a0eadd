import { MASTER_LOOKUP_PATH, queryStringOf } from 'accsyn-protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, readConfig } from '../src/index.js';
import { login, type Reply, send } from './support/raw.js';
import { startTestServer, type TestServer } from './support/server.js';
import { addUser, RawSession } from './support/session.js';

/**
 * What a hostile or careless user found (issue 18), each kept fixed: sessions that came back to life, admins who
 * locked themselves out, prototype names, another workspace's ids that answered unlike unknown ones, a master lookup
 * that told which workspaces exist and echoed the Host header, unbounded text, and transfer ends that told which
 * e-mails a workspace holds. Spoken over the wire, as the official client speaks it.
 */

type Entity = Record<string, unknown>;

let test: TestServer;
let admin: RawSession;

beforeAll(async () => {
  test = await startTestServer();
  admin = new RawSession(test.url, test.admin);
});
afterAll(() => test.stop());

/** A user straight in the store, with a key, and a session of theirs. */
async function person(workspace: string, email: string, role: 'admin' | 'employee' | 'standard') {
  const credentials = await addUser(test.server.store, workspace, email, role);
  const session = new RawSession(test.url, credentials);
  const [me] = await session.result<Entity[]>(session.find('User', { single_entity_query: true }));
  return { credentials, session, id: me?.id as string };
}

/** The status of a call that any live session may make: its own profile. */
async function statusOf(session: RawSession): Promise<number> {
  return (await session.find('User', { single_entity_query: true })).status;
}

const failure = (reply: Reply) => [reply.status, reply.json.message];

describe('a user who is deactivated, disabled or deleted loses their sessions for good', () => {
  it('deactivated, activated, deleted and invited again: the old session stays dead, the same key logs in anew', async () => {
    const kim = await person('acme', 'kim@acme.test', 'standard');
    expect(await statusOf(kim.session)).toBe(200);

    expect(await admin.result(admin.call('DELETE', 'user/deactivate', {}, { id: kim.id }))).toBe(true);
    expect(await statusOf(kim.session)).toBe(401);
    expect((await login(test.url, kim.credentials)).status).toBe(401);

    expect(await admin.result(admin.call('POST', 'user/activate', {}, { query: 'kim@acme.test' }))).toBe(true);
    expect(await statusOf(kim.session)).toBe(401);

    expect(await admin.result(admin.delete('user', kim.id))).toBe(true);
    expect((await login(test.url, kim.credentials)).status).toBe(401);

    // Invited again: the same account, whose key is the person's (as the official tests log in after a re-invite).
    const [again] = await admin.result<Entity[]>(admin.create('user', { code: 'kim@acme.test' }));
    expect(again?.id).toBe(kim.id);
    expect(await statusOf(kim.session)).toBe(401);
    const fresh = new RawSession(test.url, kim.credentials);
    expect(await statusOf(fresh)).toBe(200);
  });

  it('disabled by edit: the session ends, and enabling the user does not bring it back', async () => {
    const noa = await person('acme', 'noa@acme.test', 'standard');
    const [disabled] = await admin.result<Entity[]>(admin.update('user', noa.id, { status: 'disabled' }));
    expect(disabled?.status).toBe('disabled');
    expect(await statusOf(noa.session)).toBe(401);
    expect((await login(test.url, noa.credentials)).status).toBe(401);
    await admin.result(admin.update('user', noa.id, { status: 'enabled' }));
    expect(await statusOf(noa.session)).toBe(401);
    expect(await statusOf(new RawSession(test.url, noa.credentials))).toBe(200);
  });

  it('leaves the sessions of everyone else alone', async () => {
    const other = await person('acme', 'other@acme.test', 'standard');
    const gone = await person('acme', 'gone@acme.test', 'standard');
    await admin.result(admin.call('DELETE', 'user/deactivate', {}, { id: gone.id }));
    expect(await statusOf(other.session)).toBe(200);
    expect(await statusOf(admin)).toBe(200);
  });
});

describe('nobody locks themselves or the workspace out', () => {
  const LAST_ADMIN = [409, 'This would leave the workspace without an active admin: make another user an admin first.'];

  it('refuses to disable oneself by edit, as deactivate and delete refuse it', async () => {
    const ann = await person('lockout', 'ann@lockout.test', 'admin');
    const eve = await person('lockout', 'eve@lockout.test', 'employee');
    for (const who of [ann, eve]) {
      expect(failure(await who.session.update('user', who.id, { status: 'disabled' }))).toEqual([
        400,
        'You cannot disable yourself.',
      ]);
      expect(await statusOf(who.session)).toBe(200);
    }
    expect(failure(await ann.session.call('DELETE', 'user/deactivate', {}, { id: ann.id }))).toEqual([
      400,
      'You cannot deactivate yourself.',
    ]);
    expect(failure(await ann.session.delete('user', ann.id))).toEqual([400, 'You cannot delete yourself.']);
  });

  it('refuses the only active admin a demotion, until another admin is active', async () => {
    const ann = await person('solo', 'ann@solo.test', 'admin');
    for (const role of ['standard', 'employee']) {
      expect(failure(await ann.session.update('user', ann.id, { role }))).toEqual(LAST_ADMIN);
    }
    // Another admin who is deactivated or disabled is no active admin.
    const bob = await person('solo', 'bob@solo.test', 'admin');
    await ann.session.result(ann.session.call('DELETE', 'user/deactivate', {}, { id: bob.id }));
    expect(failure(await ann.session.update('user', ann.id, { role: 'standard' }))).toEqual(LAST_ADMIN);
    await ann.session.result(ann.session.call('POST', 'user/activate', {}, { id: bob.id }));
    await ann.session.result(ann.session.update('user', bob.id, { status: 'disabled' }));
    expect(failure(await ann.session.update('user', ann.id, { role: 'standard' }))).toEqual(LAST_ADMIN);
    const [me] = await ann.session.result<Entity[]>(ann.session.find('User', { single_entity_query: true }));
    expect(me?.role).toBe('admin');

    await ann.session.result(ann.session.update('user', bob.id, { status: 'enabled' }));
    const [demoted] = await ann.session.result<Entity[]>(ann.session.update('user', ann.id, { role: 'employee' }));
    expect(demoted?.role).toBe('employee');
    // Now bob is the only one.
    const bobAgain = new RawSession(test.url, bob.credentials);
    expect(failure(await bobAgain.update('user', bob.id, { role: 'standard' }))).toEqual(LAST_ADMIN);
  });

  it('keeps an active admin when two admins deactivate or demote each other at once', async () => {
    for (const [i, change] of ['deactivate', 'demote'].entries()) {
      const workspace = `pair-${i}`;
      const a = await person(workspace, `a@${workspace}.test`, 'admin');
      const b = await person(workspace, `b@${workspace}.test`, 'admin');
      const act = (by: typeof a, on: typeof a) =>
        change === 'deactivate'
          ? by.session.call('DELETE', 'user/deactivate', {}, { id: on.id })
          : by.session.update('user', on.id, { role: 'standard' });
      const replies = await Promise.all([act(a, b), act(b, a)]);
      // One wins; the other is refused, as the last admin (409) or because the winner ended its session (401).
      expect(replies.map((reply) => reply.status).filter((status) => status === 200)).toHaveLength(1);
      const admins = await test.server.store.db
        .selectFrom('users')
        .innerJoin('workspaces', 'workspaces.id', 'users.workspace')
        .select('users.code')
        .where('workspaces.code', '=', workspace)
        .where('users.role', '=', 'admin')
        .where('users.inactive', '=', 0)
        .execute();
      expect(admins).toHaveLength(1);
    }
  });
});

describe('prototype names are unknown names like any other', () => {
  it('refuses constructor, __proto__ and their kin as attributes, with 400, and writes nothing', async () => {
    for (const name of ['constructor', '__proto__', 'toString', 'hasOwnProperty']) {
      // JSON.parse makes `__proto__` an own key, as a payload from the wire has it.
      const extra = JSON.parse(`{"${name}": "x"}`);
      const user = await admin.create('user', { code: 'proto@acme.test', ...extra });
      expect(failure(user)).toEqual([400, `user has no attribute '${name}'.`]);
      const queue = await admin.create('queue', { name: 'proto', ...extra });
      expect(failure(queue)).toEqual([400, `queue has no attribute '${name}'.`]);
      const [me] = await admin.result<Entity[]>(admin.find('User', { single_entity_query: true }));
      expect(failure(await admin.update('user', me?.id as string, extra))).toEqual([
        400,
        `user has no attribute '${name}'.`,
      ]);
    }
    expect(await admin.result(admin.find('User WHERE code=proto@acme.test'))).toEqual([]);
    expect(await admin.result(admin.find('Queue WHERE name=proto'))).toEqual([]);
  });

  it('refuses them as operations, entity types, setting holders and query values, with 400', async () => {
    for (const name of ['constructor', '__proto__', 'toString', 'valueOf']) {
      expect(failure(await admin.call('GET', `user/${name}`, {}))).toEqual([
        400,
        `Unknown operation: GET user/${name.toLowerCase()}.`,
      ]);
      expect((await admin.call('GET', `${name}/find`, {})).status).toBe(400);
      expect((await admin.call('GET', 'attributes', { entitytype: name })).status).toBe(400);
      const setting = await admin.call('GET', 'setting', { entitytype: name, name: 'x' });
      expect(failure(setting)[0]).toBe(400);
      expect(setting.json.message).toMatch(/has no settings/);
    }
    // A boolean attribute compared with a prototype name.
    const query = await admin.find('User WHERE inactive=constructor');
    expect(failure(query)).toEqual([400, "expected true or false for 'inactive', found 'constructor' (at 9)"]);
    expect((await admin.find('User WHERE name matches "[[:constructor:]]"')).status).toBe(400);
    expect((await admin.find('User', { attributes: ['constructor'] })).status).toBe(400);
  });
});

describe("another workspace's jobs and shares answer as unknown ids", () => {
  const UNKNOWN = '0123456789abcdef01234567';
  let gus: RawSession;
  let delivery: string;
  let volume: string;

  beforeAll(async () => {
    gus = (await person('globex', 'gus@globex.test', 'admin')).session;
    const [made] = await admin.result<Entity[]>(admin.create('delivery', { name: 'Oracle' }));
    delivery = made?.id as string;
    const [found] = await admin.result<Entity[]>(admin.find('Volume WHERE default=true'));
    volume = found?.id as string;
  });

  /** The answer to a call with `id`, its id written as `<id>`. */
  async function answer(call: (id: string) => Promise<Reply>, id: string) {
    const reply = await call(id);
    return [reply.status, JSON.stringify(reply.json).replaceAll(id, '<id>')];
  }

  it('answers job/recipients, recipient/add, task/create, task/edit and settings as for an unknown job', async () => {
    const calls: ((id: string) => Promise<Reply>)[] = [
      (id) => gus.call('GET', 'job/recipients', {}, { id }),
      (id) => gus.call('PUT', 'job/recipient/add', { recipient: 'gus@globex.test' }, { id }),
      (id) => gus.create('task', { tasks: [{ source: 'a.mov', destination: 'b.mov' }] }, id),
      (id) => gus.call('PUT', 'task/edit', [{ uri: '0', status: 'onhold' }], { id }),
      (id) => gus.call('GET', 'setting', { entitytype: 'job', name: 'compute_avoid' }, { id }),
    ];
    for (const call of calls) {
      const unknown = await answer(call, UNKNOWN);
      expect(unknown[0]).toBeGreaterThanOrEqual(400);
      expect(await answer(call, delivery)).toEqual(unknown);
    }
  });

  it('answers share/servers and share settings as for an unknown share', async () => {
    const calls: ((id: string) => Promise<Reply>)[] = [
      (id) => gus.call('GET', 'share/servers', {}, { id }),
      (id) => gus.call('GET', 'setting', { entitytype: 'share', name: 'x' }, { id }),
    ];
    for (const call of calls) {
      const unknown = await answer(call, UNKNOWN);
      expect(unknown[0]).toBe(404);
      expect(await answer(call, volume)).toEqual(unknown);
    }
  });
});

describe('the master lookup', () => {
  const lookup = (base: string, ident: unknown, headers: Record<string, string> = {}) =>
    send(base, 'GET', `${MASTER_LOOKUP_PATH}?${queryStringOf(JSON.stringify({ ident }))}`, {
      headers: { 'X-Accsyn-Device': 'test', ...headers },
    });

  it('answers the same address for every code, held or not, whatever the Host header says', async () => {
    const port = Number(new URL(test.url).port);
    const expected = { status: 200, json: { result: { hostname: '127.0.0.1', port } } };
    for (const ident of ['acme', 'ACME', 'globex', 'no-such-workspace']) {
      expect(await lookup(test.url, ident)).toMatchObject(expected);
      expect(await lookup(test.url, ident, { Host: 'attacker.example:31337' })).toMatchObject(expected);
    }
  });

  it('refuses a lookup without a code with 400', async () => {
    for (const ident of [undefined, '', '  ', 42, 'x'.repeat(256)]) {
      const reply = await lookup(test.url, ident);
      expect(failure(reply)).toEqual([400, 'The master lookup takes {"ident": "<workspace code>"}.']);
    }
  });

  it('answers the address --public-url gives, whatever the Host header says', async () => {
    const behind = await startTestServer({ ACCSYN_PUBLIC_URL: 'https://accsyn.example.com' });
    try {
      const expected = { status: 200, json: { result: { hostname: 'accsyn.example.com', port: 443 } } };
      expect(await lookup(behind.url, 'acme')).toMatchObject(expected);
      expect(await lookup(behind.url, 'other', { Host: 'attacker.example' })).toMatchObject(expected);
    } finally {
      await behind.stop();
    }
  });

  it('reads --public-url as an http(s) URL with a host, and nothing after it', () => {
    const url = (value: string) => readConfig(['--public-url', value], {}).publicUrl?.href;
    expect(url('https://accsyn.example.com')).toBe('https://accsyn.example.com/');
    expect(url('http://[::1]:9000/')).toBe('http://[::1]:9000/');
    expect(readConfig([], { ACCSYN_PUBLIC_URL: 'https://a.example:8443' }).publicUrl?.port).toBe('8443');
    expect(readConfig([], {}).publicUrl).toBeUndefined();
    for (const bad of ['accsyn.example.com', 'ftp://a.example', 'https://a.example/api', 'https://u:p@a.example']) {
      expect(() => readConfig(['--public-url', bad], {})).toThrow(ConfigError);
    }
  });
});

describe('text attributes have limits', () => {
  const ends = { source: 'limits/a.mov', destination: 'limits/b/' };

  it('takes a description of 10,000 characters, and refuses one longer by name', async () => {
    const [made] = await admin.result<Entity[]>(admin.create('transfer', { ...ends, description: 'd'.repeat(10_000) }));
    expect(made?.description).toHaveLength(10_000);
    expect(failure(await admin.create('transfer', { ...ends, description: 'd'.repeat(10_001) }))).toEqual([
      400,
      'transfer.description must be at most 10,000 characters long, not a text of 10001 characters.',
    ]);
    expect(failure(await admin.update('transfer', made?.id as string, { description: 'd'.repeat(2_000_000) }))).toEqual(
      [400, 'transfer.description must be at most 10,000 characters long, not a text of 2000000 characters.'],
    );
  });

  it('refuses metadata over 256 KB of JSON, paths over 4,096 characters and other text over 1,000', async () => {
    const [me] = await admin.result<Entity[]>(admin.find('User', { single_entity_query: true }));
    const big = { notes: 'm'.repeat(256 * 1024) };
    expect(failure(await admin.update('user', me?.id as string, { metadata: big }))).toEqual([
      400,
      'user.metadata must be at most 256 KB of JSON, not an object.',
    ]);
    expect(failure(await admin.create('transfer', { ...ends, source: `limits/${'p'.repeat(4_090)}` }))).toEqual([
      400,
      'transfer.source must be at most 4,096 characters long, not a text of 4097 characters.',
    ]);
    const folder = await admin.create('folder', { parent: 'default', path: 'limits', email: 'e'.repeat(1_001) });
    expect(failure(folder)).toEqual([
      400,
      'folder.email must be at most 1,000 characters long, not a text of 1001 characters.',
    ]);
    expect(await admin.result(admin.find('Folder WHERE path=limits'))).toEqual([]);
  });
});

describe('transfer ends do not tell which e-mails a workspace holds', () => {
  let sam: RawSession;
  let eve: RawSession;

  beforeAll(async () => {
    sam = (await person('acme', 'sam@acme.test', 'standard')).session;
    eve = (await person('acme', 'eve@acme.test', 'employee')).session;
    await addUser(test.server.store, 'acme', 'hidden-admin@acme.test', 'admin');
    await addUser(test.server.store, 'acme', 'hidden-employee@acme.test', 'employee');
    await addUser(test.server.store, 'acme', 'other-standard@acme.test', 'standard');
  });

  /** The answer to a transfer from the caller's own machine to `email`'s, the address written as `<e-mail>`. */
  async function toMachineOf(session: RawSession, email: string) {
    const own = session.credentials.user;
    const reply = await session.create('transfer', { source: `${own}:/tmp/a.mov`, destination: `${email}:/in/` });
    return [reply.status, String(reply.json.message).replaceAll(email, '<e-mail>')];
  }

  it('answers a person the caller may not see as it answers an unknown address', async () => {
    const unknown = [400, 'destination: there is no user <e-mail> in this workspace.'];
    expect(await toMachineOf(sam, 'nobody@acme.test')).toEqual(unknown);
    for (const hidden of ['hidden-admin@acme.test', 'hidden-employee@acme.test', 'other-standard@acme.test']) {
      expect(await toMachineOf(sam, hidden)).toEqual(unknown);
    }
    expect(await toMachineOf(eve, 'nobody@acme.test')).toEqual(unknown);
    for (const hidden of ['hidden-admin@acme.test', 'hidden-employee@acme.test']) {
      expect(await toMachineOf(eve, hidden)).toEqual(unknown);
    }
  });

  it('still finds the people the caller may see', async () => {
    expect((await toMachineOf(sam, 'sam@acme.test'))[0]).toBe(200);
    expect((await toMachineOf(eve, 'other-standard@acme.test'))[0]).toBe(200);
    expect((await toMachineOf(admin, 'hidden-employee@acme.test'))[0]).toBe(200);
  });
});
