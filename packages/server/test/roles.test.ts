import { tmpdir } from 'node:os';
import { ROLES, type Role } from 'accsyn-protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Reply } from './support/raw.js';
import { startTestServer, type TestServer } from './support/server.js';
import { addUser, RawSession } from './support/session.js';

/**
 * Who may do what (reference §3.2 with its footnotes, and the practice of §3.5, §3.8 and the official tests of §4),
 * asked over the wire as each role, and workspaces kept apart. A read the caller may not make answers
 * `{"result": []}`; a write it may not make answers 403 (404 when it may not even see the entity) with a message,
 * and leaves the entity as it was.
 */

type Entity = Record<string, unknown>;
type TypeName =
  | 'user'
  | 'workspace'
  | 'queue'
  | 'transfer'
  | 'delivery'
  | 'task'
  | 'folder'
  | 'home'
  | 'volume'
  | 'site'
  | 'acl';
/** Y: may; n: may not; -: not a question of role, tested on its own below. */
type Verdict = 'Y' | 'n' | '-';
/** One verdict per role, in the order of §3.2's columns: admin, employee, standard. */
type PerRole = `${Verdict}${Verdict}${Verdict}`;

interface Rules {
  /** The row of §3.2, R/W for admin, employee and standard. */
  readonly reference: string;
  /** Entities the admin made beforehand, by what they are: who may find, edit and delete them. */
  readonly existing: Readonly<Record<string, readonly [find: PerRole, edit: PerRole, remove: PerRole]>>;
  /** What each role may create. */
  readonly create: Readonly<Record<string, PerRole>>;
}

/*
 * §3.2, cell by cell. Footnotes: ¹ their own and standard users' entries; ² only their own; ³ only jobs they take
 * part in as sender or receiver (creator, source or destination party, recipient); ⁴ only if they are an explicit
 * recipient; ⁵ except admins' or other employees' homes; ⁶ their home share and shares granted by ACL.
 * "The standard user" is the standard caller of the matrix; the employee caller holds no ACL on any volume.
 */
// biome-ignore format: aligned to be read against §3.2.
const MATRIX: Readonly<Record<TypeName, Rules>> = {
  user: {
    reference: 'Y/Y, Y¹/Y¹, Y²/Y²',
    existing: {
      //                                find   edit   delete  (each: admin, employee, standard)
      'another admin':                ['Ynn', 'Ynn', 'Ynn'],
      'another employee':             ['Ynn', 'Ynn', 'Ynn'],
      'another standard user':        ['YYn', 'YYn', 'YYn'],
      // Deleting oneself is not in §3.2 (deactivating oneself is refused to every role).
      'themselves':                   ['YYY', 'YYY', '---'],
    },
    create: { 'a standard user': 'YYn', 'an employee': 'Ynn', 'an admin': 'Ynn' },
  },
  workspace: {
    reference: 'Y/Y, Y/n, n/n',
    // A workspace is neither created nor deleted through the API, not even by its admin.
    existing: { 'their workspace': ['YYn', 'Ynn', 'nnn'] },
    create: { 'a workspace': 'nnn' },
  },
  queue: {
    reference: 'Y/Y, Y/n, n/n',
    existing: { 'a queue': ['YYn', 'Ynn', 'Ynn'] },
    create: { 'a queue': 'Ynn' },
  },
  transfer: {
    reference: 'Y/Y, Y/Y, Y³/Y³',
    existing: {
      'a transfer between others':          ['YYn', 'YYn', 'YYn'],
      'a transfer to the standard user':    ['YYY', 'YYY', 'YYY'],
      'a transfer from the standard user':  ['YYY', 'YYY', 'YYY'],
    },
    create: { 'a transfer from a folder shared with them to themselves': 'YYY' },
  },
  delivery: {
    // Employees need an ACL on a volume first (§3.2 "in practice", test_delivery 3, 5, 27, 97). A standard
    // recipient reads the delivery but may not create, abort or delete one (test_delivery 25, 26, 28, 98).
    reference: 'Y/Y, Y/Y, Y⁴/Y⁴',
    existing: {
      'a delivery with no recipients':      ['Ynn', 'Ynn', 'Ynn'],
      'a delivery to the standard user':    ['YnY', 'Ynn', 'Ynn'],
    },
    create: { 'a delivery': 'Ynn' },
  },
  task: {
    reference: 'Y/Y, Y/Y, Y³/Y³',
    // Tasks are never deleted, only excluded (§3.4).
    existing: {
      'a task of a transfer between others':       ['YYn', 'YYn', '---'],
      'a task of a transfer to the standard user': ['YYY', 'YYY', '---'],
    },
    create: { 'a task in a transfer between others': 'YYn', 'a task in a transfer to the standard user': 'YYY' },
  },
  folder: {
    // A standard user's W⁶ is writing files where an ACL allows (test_filesharing 8-14), not changing the share:
    // "standard users can't create deliveries or folders".
    reference: 'Y/Y, Y/Y⁵, Y⁶/Y⁶',
    existing: {
      'a folder shared with the standard user':  ['YYY', 'YYn', 'YYn'],
      'a folder shared with no one':             ['YYn', 'YYn', 'YYn'],
    },
    create: { 'a folder': 'YYn' },
  },
  home: {
    reference: 'Y/Y, Y/Y⁵, Y⁶/Y⁶',
    existing: {
      "an admin's home":                   ['YYn', 'Ynn', 'Ynn'],
      "another employee's home":           ['YYn', 'Ynn', 'Ynn'],
      "another standard user's home":      ['YYn', 'YYn', 'YYn'],
      'their own home':                    ['YYY', 'YYn', 'YYn'],
    },
    create: {
      'a home for an admin': 'Ynn',
      'a home for another employee': 'Ynn',
      'a home for a standard user': 'YYn',
      'a home for themselves': 'YYn',
    },
  },
  volume: {
    reference: 'Y/Y, n/n, n/n',
    existing: { 'a volume': ['Ynn', 'Ynn', 'Ynn'] },
    create: { 'a volume': 'Ynn' },
  },
  site: {
    reference: 'Y/Y, Y/n, n/n',
    existing: { 'a site': ['YYn', 'Ynn', 'Ynn'] },
    create: { 'a site': 'Ynn' },
  },
  acl: {
    // Edit is a second grant, as the official client sends it. A standard user's W¹ cannot mean granting
    // themselves or others access (that would undo ⁶): standard users grant nothing, as they add no recipients.
    reference: 'Y/Y, Y/Y, Y¹/Y¹',
    existing: {
      "an admin's ACL":                    ['YYn', 'YYn', 'YYn'],
      "another employee's ACL":            ['YYn', 'YYn', 'YYn'],
      "another standard user's ACL":       ['YYY', 'YYn', 'YYn'],
      'their own ACL':                     ['YYY', 'YYn', 'YYn'],
    },
    create: {
      'an ACL for an admin': 'YYn',
      'an ACL for another employee': 'YYn',
      'an ACL for a standard user': 'YYn',
      'an ACL for themselves': 'YYn',
    },
  },
};

interface Actor {
  readonly role: Role;
  readonly session: RawSession;
  readonly user: Entity;
}

let test: TestServer;
let admin: RawSession;
const actors = {} as Record<Role, Actor>;
/** A folder on the default volume that the employee and the standard user may read, by ACL. */
let shared: Entity;
let serial = 0;
const next = () => ++serial;

beforeAll(async () => {
  test = await startTestServer();
  admin = new RawSession(test.url, test.admin);
  const store = test.server.store;
  const sessions: Record<Role, RawSession> = {
    admin,
    employee: new RawSession(test.url, await addUser(store, 'acme', 'eve@acme.test', 'employee')),
    standard: new RawSession(test.url, await addUser(store, 'acme', 'lisa@example.com', 'standard')),
  };
  for (const role of ROLES) {
    const [user] = await admin.result<Entity[]>(admin.find(`User WHERE code=${sessions[role].credentials.user}`));
    actors[role] = { role, session: sessions[role], user: user as Entity };
  }
  shared = await made('folder', { parent: 'default', path: 'shared', name: 'Shared' });
  await grant('eve@acme.test', shared);
  await grant('lisa@example.com', shared);
});
afterAll(() => test.stop());

// ---------------------------------------------------------------------------------------------------------------
// Fixtures, all made by the admin

async function made(type: string, data: unknown, id?: string, session = admin): Promise<Entity> {
  const [entity] = await session.result<Entity[]>(session.create(type, data, id));
  if (!entity) throw new Error(`${type}/create answered no entity`);
  return entity;
}

const email = (role: Role) => `${role}-${next()}@${role === 'standard' ? 'example.com' : 'acme.test'}`;
const newUser = (role: Role) => made('user', { code: email(role), role });
const newFolder = () => {
  const n = next();
  return made('folder', { parent: 'default', path: `proj-${n}`, name: `Proj ${n}` });
};
const grant = (user: string, folder: Entity, session = admin) =>
  made('acl', { entity: `user:${user}`, target: `share:${folder.code}`, read: true, write: false }, undefined, session);

/** The live homes of `user` go first, so that a new one never meets an old one's code. */
async function clearHomes(user: Entity): Promise<void> {
  for (const home of await admin.result<Entity[]>(admin.find(`Home WHERE user=${user.id}`))) {
    await admin.result(admin.delete('home', home.id as string));
  }
}

async function homeOf(user: Entity): Promise<Entity> {
  await clearHomes(user);
  return made('home', { user: user.code });
}

const transfer = (source: string, destination: string) => made('transfer', { source, destination });
const BETWEEN_OTHERS = { source: 'folder=shared/a.mov', destination: 'admin@acme.test:/tmp/in/' };
const TO_STANDARD = { source: 'folder=shared/a.mov', destination: 'lisa@example.com:/Users/lisa/in/' };

async function taskOf(job: Entity): Promise<Entity> {
  const [task] = await admin.result<Entity[]>(admin.find('Task', { parent: job.id }));
  return task as Entity;
}

/** Makes the entity a row of the matrix names, for `actor` to act on. */
const FIXTURES: Record<TypeName, Record<string, (actor: Actor) => Promise<Entity>>> = {
  user: {
    'another admin': () => newUser('admin'),
    'another employee': () => newUser('employee'),
    'another standard user': () => newUser('standard'),
    themselves: async (actor) => actor.user,
  },
  workspace: {
    'their workspace': async () => (await admin.result<Entity[]>(admin.find('Workspace')))[0] as Entity,
  },
  queue: { 'a queue': () => made('queue', { name: `queue-${next()}` }) },
  transfer: {
    'a transfer between others': () => transfer(BETWEEN_OTHERS.source, BETWEEN_OTHERS.destination),
    'a transfer to the standard user': () => transfer(TO_STANDARD.source, TO_STANDARD.destination),
    'a transfer from the standard user': () => transfer('lisa@example.com:/Users/lisa/out/a.mov', 'folder=shared/in/'),
  },
  delivery: {
    'a delivery with no recipients': () => made('delivery', { name: `delivery-${next()}` }),
    'a delivery to the standard user': () =>
      made('delivery', { name: `delivery-${next()}`, tasks: ['proj/a.mov'], recipients: ['lisa@example.com'] }),
  },
  task: {
    'a task of a transfer between others': async () =>
      taskOf(await transfer(BETWEEN_OTHERS.source, BETWEEN_OTHERS.destination)),
    'a task of a transfer to the standard user': async () =>
      taskOf(await transfer(TO_STANDARD.source, TO_STANDARD.destination)),
  },
  folder: {
    'a folder shared with the standard user': async () => {
      const folder = await newFolder();
      await grant('lisa@example.com', folder);
      return folder;
    },
    'a folder shared with no one': newFolder,
  },
  home: {
    "an admin's home": async () => homeOf(await newUser('admin')),
    "another employee's home": async () => homeOf(await newUser('employee')),
    "another standard user's home": async () => homeOf(await newUser('standard')),
    'their own home': (actor) => homeOf(actor.user),
  },
  volume: { 'a volume': () => made('volume', { name: `volume-${next()}`, path: tmpdir() }) },
  site: { 'a site': () => made('site', { name: `site-${next()}` }) },
  acl: {
    "an admin's ACL": async () => grant((await newUser('admin')).code as string, await newFolder()),
    "another employee's ACL": async () => grant((await newUser('employee')).code as string, await newFolder()),
    "another standard user's ACL": async () => grant((await newUser('standard')).code as string, await newFolder()),
    'their own ACL': async (actor) => grant(actor.user.code as string, await newFolder()),
  },
};

interface Creation {
  readonly data: unknown;
  /** The envelope's id: a task's job. */
  readonly id?: string;
}

const aclFor = async (user: string): Promise<Creation> => ({
  data: { entity: `user:${user}`, target: `share:${(await newFolder()).code}`, read: true, write: false },
});

/** The payload of a create that a row of the matrix names, for `actor` to send. */
const CREATIONS: Record<TypeName, Record<string, (actor: Actor) => Promise<Creation>>> = {
  user: {
    'a standard user': async () => ({ data: { code: email('standard'), role: 'standard' } }),
    'an employee': async () => ({ data: { code: email('employee'), role: 'employee' } }),
    'an admin': async () => ({ data: { code: email('admin'), role: 'admin' } }),
  },
  workspace: { 'a workspace': async () => ({ data: { name: `workspace-${next()}` } }) },
  queue: { 'a queue': async () => ({ data: { name: `queue-${next()}` } }) },
  transfer: {
    'a transfer from a folder shared with them to themselves': async (actor) => ({
      data: { source: 'folder=shared/a.mov', destination: `${actor.user.code}:/tmp/in/` },
    }),
  },
  delivery: { 'a delivery': async () => ({ data: { name: `delivery-${next()}` } }) },
  task: {
    // To the actor's own machine: another person's is for those who may see that person (hardening.test.ts).
    'a task in a transfer between others': async (actor) => ({
      data: { tasks: [{ source: 'folder=shared/b.mov', destination: `${actor.user.code}:/tmp/in/` }] },
      id: (await transfer(BETWEEN_OTHERS.source, BETWEEN_OTHERS.destination)).id as string,
    }),
    'a task in a transfer to the standard user': async () => ({
      data: { tasks: [{ source: 'folder=shared/b.mov', destination: TO_STANDARD.destination }] },
      id: (await transfer(TO_STANDARD.source, TO_STANDARD.destination)).id as string,
    }),
  },
  folder: {
    'a folder': async () => {
      const n = next();
      return { data: { parent: 'default', path: `proj-${n}`, name: `Proj ${n}` } };
    },
  },
  home: {
    'a home for an admin': async () => ({ data: { user: (await newUser('admin')).code } }),
    'a home for another employee': async () => ({ data: { user: (await newUser('employee')).code } }),
    'a home for a standard user': async () => ({ data: { user: (await newUser('standard')).code } }),
    'a home for themselves': async (actor) => {
      await clearHomes(actor.user);
      return { data: { user: actor.user.code } };
    },
  },
  volume: { 'a volume': async () => ({ data: { name: `volume-${next()}`, path: tmpdir() } }) },
  site: { 'a site': async () => ({ data: { name: `site-${next()}` } }) },
  acl: {
    'an ACL for an admin': async () => aclFor((await newUser('admin')).code as string),
    'an ACL for another employee': async () => aclFor((await newUser('employee')).code as string),
    'an ACL for a standard user': async () => aclFor((await newUser('standard')).code as string),
    'an ACL for themselves': async (actor) => aclFor(actor.user.code as string),
  },
};

// ---------------------------------------------------------------------------------------------------------------
// The operations, as the official client sends them

/** A find by query and a get by id (for a task, which has no 24-character id: by its job and by query). */
function reads(session: RawSession, type: string, entity: Entity): Promise<Reply>[] {
  if (type === 'task') {
    return [session.find('Task', { parent: entity.job }), session.find(`Task WHERE id='${entity.id}'`)];
  }
  return [
    session.find(`${type} WHERE id=${entity.id}`),
    session.call('GET', `${type}/find`, {}, { id: entity.id as string }),
  ];
}

/** An edit, and what the admin then reads of the entity. */
function edit(session: RawSession, type: string, entity: Entity, by: string): { reply: Promise<Reply>; shows: Entity } {
  switch (type) {
    case 'task':
      return {
        reply: session.update('task', entity.job as string, [{ uri: entity.uri, status: 'onhold' }]),
        shows: { status: 'onhold' },
      };
    case 'acl':
      // grant() again: the official client never sends acl/edit.
      return {
        reply: session.create('acl', { entity: entity.entity, target: entity.target, read: true, write: true }),
        shows: { write: true },
      };
    default:
      return {
        reply: session.update(type, entity.id as string, { description: `edited by ${by}` }),
        shows: { description: `edited by ${by}` },
      };
  }
}

/** The entity as the admin reads it now, in every scope. */
async function adminView(type: string, entity: Entity): Promise<Entity | undefined> {
  if (type === 'task') {
    const tasks = await admin.result<Entity[]>(admin.find('Task', { parent: entity.job }));
    return tasks.find((task) => task.id === entity.id);
  }
  const [found] = await admin.result<Entity[]>(admin.call('GET', `${type}/find`, {}, { id: entity.id as string }));
  return found;
}

/** Whether the admin still finds the entity among the live ones. */
async function live(type: string, entity: Entity): Promise<boolean> {
  const found = await admin.result<Entity[]>(admin.find(`${type} WHERE id=${entity.id}`));
  return found.length > 0;
}

/** The ids of a type the admin finds (for tasks, those of one job). */
async function adminIds(type: string, job?: string): Promise<unknown[]> {
  const found = await admin.result<Entity[]>(type === 'task' ? admin.find('Task', { parent: job }) : admin.find(type));
  return found.map((entity) => entity.id);
}

function expectRefused(reply: Reply, statuses: readonly number[]): void {
  expect(statuses, `status of ${reply.text}`).toContain(reply.status);
  expect(reply.json.message, reply.text).toMatch(/\S/);
}

// ---------------------------------------------------------------------------------------------------------------
// The matrix

describe.each(Object.entries(MATRIX) as [TypeName, Rules][])('%s', (type, rules) => {
  for (const [what, [find, change, remove]] of Object.entries(rules.existing)) {
    ROLES.forEach((role, i) => {
      const readable = find[i] === 'Y';
      /** A write on an entity the caller cannot see may say 404; on one it can see, it must say 403. */
      const refusals = readable ? [403] : [403, 404];

      it(`${role} ${readable ? 'finds' : 'does not find'} ${what} (§3.2 ${rules.reference})`, async () => {
        const entity = await FIXTURES[type][what]?.(actors[role]);
        if (!entity) throw new Error(`no fixture '${what}'`);
        for (const reply of reads(actors[role].session, type, entity)) {
          const answer = await reply;
          expect(answer.status, answer.text).toBe(200);
          if (readable) expect((answer.json.result as Entity[]).map((e) => e.id)).toContain(entity.id);
          else expect(answer.json).toEqual({ result: [] });
        }
      });

      if (change[i] !== '-') {
        const may = change[i] === 'Y';
        it(`${role} ${may ? 'may' : 'may not'} edit ${what} (§3.2 ${rules.reference})`, async () => {
          const entity = (await FIXTURES[type][what]?.(actors[role])) as Entity;
          const before = await adminView(type, entity);
          const { reply, shows } = edit(actors[role].session, type, entity, role);
          const answer = await reply;
          if (may) {
            expect(answer.status, answer.text).toBe(200);
            expect(await adminView(type, entity)).toMatchObject(shows);
          } else {
            expectRefused(answer, refusals);
            expect(await adminView(type, entity)).toEqual(before);
          }
        });
      }

      if (remove[i] !== '-') {
        const may = remove[i] === 'Y';
        it(`${role} ${may ? 'may' : 'may not'} delete ${what} (§3.2 ${rules.reference})`, async () => {
          const entity = (await FIXTURES[type][what]?.(actors[role])) as Entity;
          const before = await adminView(type, entity);
          const answer = await actors[role].session.delete(type, entity.id as string);
          if (may) {
            expect(answer.status, answer.text).toBe(200);
            expect(answer.json).toEqual({ result: true });
            expect(await live(type, entity)).toBe(false);
          } else {
            expectRefused(answer, refusals);
            expect(await adminView(type, entity)).toEqual(before);
            expect(await live(type, entity)).toBe(true);
          }
        });
      }
    });
  }

  for (const [what, verdicts] of Object.entries(rules.create)) {
    ROLES.forEach((role, i) => {
      const may = verdicts[i] === 'Y';
      it(`${role} ${may ? 'may' : 'may not'} create ${what} (§3.2 ${rules.reference})`, async () => {
        const creation = await CREATIONS[type][what]?.(actors[role]);
        if (!creation) throw new Error(`no creation '${what}'`);
        const before = await adminIds(type, creation.id);
        const answer = await actors[role].session.create(type, creation.data, creation.id);
        const after = await adminIds(type, creation.id);
        if (may) {
          expect(answer.status, answer.text).toBe(200);
          const [created] = answer.json.result as Entity[];
          expect(after.filter((id) => !before.includes(id))).toEqual([created?.id]);
        } else {
          // Into a job the caller may not see (the envelope's id), a 404 says no more than a 403.
          expectRefused(answer, creation.id ? [403, 404] : [403]);
          expect(after).toEqual(before);
        }
      });
    });
  }
});

// ---------------------------------------------------------------------------------------------------------------
// The footnotes and practice that a cell cannot hold

describe('beyond the matrix', () => {
  it('an employee with an ACL on a volume finds, creates, edits and deletes deliveries', async () => {
    const credentials = await addUser(test.server.store, 'acme', 'vera@acme.test', 'employee');
    const vera = new RawSession(test.url, credentials);
    await made('acl', { entity: 'user:vera@acme.test', target: 'share:default', read: true, write: true });
    const delivery = await made('delivery', { name: `delivery-${next()}` });
    const found = await vera.result<Entity[]>(vera.call('GET', 'delivery/find', {}, { id: delivery.id as string }));
    expect(found.map((d) => d.id)).toEqual([delivery.id]);
    const [own] = await vera.result<Entity[]>(vera.create('delivery', { name: `delivery-${next()}` }));
    expect(own).toMatchObject({ status: 'init' });
    const [edited] = await vera.result<Entity[]>(vera.update('delivery', delivery.id as string, { status: 'aborted' }));
    expect(edited).toMatchObject({ status: 'aborted' });
    expect(await vera.result(vera.delete('delivery', own?.id as string))).toBe(true);
  });

  it('an employee without volume access sees no files of a delivery either', async () => {
    const delivery = await made('delivery', {
      name: `delivery-${next()}`,
      tasks: ['proj/a.mov'],
      recipients: ['lisa@example.com'],
    });
    expect(await adminIds('task', delivery.id as string)).toHaveLength(1);
    const employee = actors.employee.session;
    const replies = [employee.find('Task', { parent: delivery.id }), employee.find(`Task WHERE job.id=${delivery.id}`)];
    for (const reply of replies) expect((await reply).json).toEqual({ result: [] });
  });

  it('an employee may not grant access to a volume, to themselves or to anyone', async () => {
    // Volume is n/n for employees, and their volume access is what gates deliveries.
    const credentials = await addUser(test.server.store, 'acme', 'ed@acme.test', 'employee');
    const ed = new RawSession(test.url, credentials);
    const before = await adminIds('acl');
    for (const user of ['ed@acme.test', 'lisa@example.com']) {
      const answer = await ed.create('acl', {
        entity: `user:${user}`,
        target: 'share:default',
        read: true,
        write: true,
      });
      expect.soft(answer.status, `${user}: ${answer.text}`).toBe(403);
    }
    expect.soft(await adminIds('acl')).toEqual(before);
    const delivery = await ed.create('delivery', { name: `delivery-${next()}` });
    expect.soft(delivery.status, delivery.text).toBe(403);
  });

  it('only an admin changes a role', async () => {
    const target = await newUser('standard');
    const answer = await actors.employee.session.update('user', target.id as string, { role: 'admin' });
    expectRefused(answer, [403]);
    const credentials = await addUser(test.server.store, 'acme', 'sid@example.com', 'standard');
    const sid = new RawSession(test.url, credentials);
    const [me] = await sid.result<Entity[]>(sid.find('User', { single_entity_query: true }));
    expectRefused(await sid.update('user', me?.id as string, { role: 'admin' }), [403]);
    expect(await adminView('user', target)).toMatchObject({ role: 'standard' });
    expect(await adminView('user', me as Entity)).toMatchObject({ role: 'standard' });
    const [promoted] = await admin.result<Entity[]>(admin.update('user', target.id as string, { role: 'employee' }));
    expect(promoted).toMatchObject({ role: 'employee' });
  });

  it('a standard user finds and changes a transfer it created between two shares it may use', async () => {
    const drop = await newFolder();
    await made('acl', { entity: 'user:lisa@example.com', target: `share:${drop.code}`, read: false, write: true });
    const lisa = actors.standard.session;
    const [created] = await lisa.result<Entity[]>(
      lisa.create('transfer', { source: 'folder=shared/a.mov', destination: `folder=${drop.code}/in/` }),
    );
    const found = await lisa.result<Entity[]>(lisa.call('GET', 'transfer/find', {}, { id: created?.id as string }));
    expect(found.map((t) => t.id)).toEqual([created?.id]);
    const [paused] = await lisa.result<Entity[]>(lisa.update('transfer', created?.id as string, { status: 'paused' }));
    expect(paused).toMatchObject({ status: 'paused' });
  });

  it('no one creates a client, an app, a server or a user server through the API', async () => {
    for (const role of ROLES) {
      for (const type of ['client', 'app', 'server', 'userserver']) {
        const before = await adminIds(type);
        expectRefused(await actors[role].session.create(type, { name: 'laptop', code: 'laptop' }), [403]);
        expect(await adminIds(type)).toEqual(before);
      }
    }
  });

  it('no one deletes a task: it is excluded instead', async () => {
    const task = await taskOf(await transfer(TO_STANDARD.source, TO_STANDARD.destination));
    for (const role of ROLES) {
      const answer = await actors[role].session.delete('task', task.id as string);
      expect(answer.status, answer.text).toBe(400);
      expect(answer.json.message).toBe('Tasks cannot be deleted: set their status to excluded instead.');
    }
    expect(await adminView('task', task)).toEqual(task);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Workspaces apart

describe('another workspace on the same server', () => {
  let other: RawSession;
  let acme: Record<TypeName, Entity>;
  let theirs: Record<TypeName, Entity>;

  /** One entity of every type, named after `prefix`, made by `session` (an admin) in its workspace. */
  async function oneOfEach(session: RawSession, prefix: string): Promise<Record<TypeName, Entity>> {
    const make = (type: string, data: unknown, id?: string) => made(type, data, id, session);
    const user = await make('user', { code: `${prefix}-user@example.com`, name: `${prefix}-user` });
    const volume = await make('volume', { name: `${prefix}-volume`, path: tmpdir() });
    const folder = await make('folder', { parent: volume.code, path: 'proj', name: `${prefix}-folder` });
    const job = await make('transfer', {
      source: `folder=${folder.code}/a.mov`,
      destination: `${user.code}:/tmp/in/`,
      name: `${prefix}-transfer`,
    });
    const [workspace] = await session.result<Entity[]>(session.find('Workspace'));
    const [task] = await session.result<Entity[]>(session.find('Task', { parent: job.id }));
    return {
      user,
      workspace: workspace as Entity,
      queue: await make('queue', { name: `${prefix}-queue` }),
      transfer: job,
      delivery: await make('delivery', { name: `${prefix}-delivery` }),
      task: task as Entity,
      folder,
      home: await make('home', { user: user.code, parent: volume.code, name: `${prefix}-home` }),
      volume,
      site: await make('site', { name: `${prefix}-site` }),
      acl: await make('acl', { entity: `user:${user.code}`, target: `share:${folder.code}`, read: true, write: false }),
    };
  }

  beforeAll(async () => {
    other = new RawSession(test.url, await addUser(test.server.store, 'other', 'root@other.test', 'admin'));
    acme = await oneOfEach(admin, 'acme-secret');
    theirs = await oneOfEach(other, 'other-secret');
  });

  /** What an admin of one workspace gets of another's entities: nothing, and no word of their names. */
  async function expectInvisible(outsider: RawSession, owner: RawSession, entities: Record<TypeName, Entity>) {
    const view = async (type: TypeName, entity: Entity) =>
      type === 'task'
        ? owner.result<Entity[]>(owner.find('Task', { parent: entity.job }))
        : owner.result<Entity[]>(owner.call('GET', `${type}/find`, {}, { id: entity.id as string }));
    for (const [type, entity] of Object.entries(entities) as [TypeName, Entity][]) {
      const names = [entity.name, entity.code].filter(
        (name): name is string => typeof name === 'string' && name !== '',
      );
      const before = await view(type, entity);
      for (const reply of reads(outsider, type, entity)) expect((await reply).json, type).toEqual({ result: [] });
      const listed = await outsider.result<Entity[]>(type === 'task' ? outsider.find('Task') : outsider.find(type));
      expect(listed.map((e) => e.id)).not.toContain(entity.id);

      const writes: [string, Promise<Reply>, number[]][] =
        type === 'task'
          ? [
              ['edit', outsider.update('task', entity.job as string, [{ uri: entity.uri, status: 'onhold' }]), [404]],
              [
                'add to',
                outsider.create('task', { tasks: [{ source: 'a.mov', destination: 'b.mov' }] }, entity.job as string),
                [404],
              ],
            ]
          : [
              ['edit', outsider.update(type, entity.id as string, { description: 'edited from outside' }), [404]],
              // No one deletes a workspace through the API, so that refusal (403) tells nothing either.
              ['delete', outsider.delete(type, entity.id as string), type === 'workspace' ? [403, 404] : [404]],
            ];
      for (const [operation, reply, statuses] of writes) {
        const answer = await reply;
        expect(statuses, `${operation} ${type}: ${answer.text}`).toContain(answer.status);
        for (const name of names) expect(answer.text, `${operation} ${type}`).not.toContain(name);
      }
      expect(await view(type, entity), type).toEqual(before);
    }
  }

  it("an admin of another workspace finds nothing of acme's and changes nothing", async () => {
    await expectInvisible(other, admin, acme);
  });

  it("acme's admin finds nothing of the other workspace's and changes nothing", async () => {
    await expectInvisible(admin, other, theirs);
  });

  it("acme's admin cannot point acme's entities at the other workspace's", async () => {
    const attempts: [string, () => Promise<Reply>][] = [
      ['a delivery whose parent is theirs', () => admin.create('delivery', { name: 'd', parent: theirs.transfer.id })],
      ['a transfer in their queue', () => admin.create('transfer', { ...TO_STANDARD, queue: theirs.queue.id })],
      ['a home for their user', () => admin.create('home', { user: theirs.user.id })],
      ['a delivery to their user', () => admin.create('delivery', { name: 'd', recipients: [theirs.user.id] })],
      [
        'an ACL for their user',
        () => admin.create('acl', { entity: `user:${theirs.user.id}`, target: 'share:shared' }),
      ],
      [
        'an ACL on their folder',
        () => admin.create('acl', { entity: 'user:lisa@example.com', target: `share:${theirs.folder.id}` }),
      ],
      ['a user in their queue', () => admin.update('user', acme.user.id as string, { queue: theirs.queue.id })],
      ['a folder in their queue', () => admin.update('folder', acme.folder.id as string, { queue: theirs.queue.id })],
    ];
    for (const [what, attempt] of attempts) {
      const answer = await attempt();
      expect.soft([400, 404], `${what}: ${answer.text}`).toContain(answer.status);
      expect.soft(answer.text, what).not.toContain('other-secret');
    }
  });
});
