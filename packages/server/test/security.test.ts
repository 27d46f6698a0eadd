import { randomUUID } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  realpathSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { gzipSync } from 'node:zlib';
import { CLIENT_TYPES, ENTITY_TYPE_NAMES, entityType, queryStringOf } from 'accsyn-protocol';
import fc from 'fast-check';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addWorkspace } from '../src/admin.js';
import { newId } from '../src/store/ids.js';
import { authHeaders, type Credentials, login, type Reply } from './support/raw.js';
import { startTestServer, type TestServer } from './support/server.js';
import { addUser, RawSession } from './support/session.js';
import { type SocketReply, socketRequest } from './support/socket.js';

/**
 * The security suite of issue 18 ("Keep it fixed"), against real servers over real HTTP:
 *
 * 1. an envelope fuzzer over every operation the server knows, as an admin and as a standard user: every answer is
 *    protocol JSON with a 2xx or 4xx, names no file of the server, and another workspace is left as it was;
 * 2. two workspaces on one server: whatever workspace A asks with B's ids, codes and references, it gets the answer
 *    it gets for an unknown one of the same shape, and B is left as it was;
 * 3. transfer ends by role, where transfer-ends.test.ts leaves off: tasks appended, tasks of a new transfer, a
 *    delivery's tasks, ends that cannot be edited, refusals that do not tell whether a file exists;
 * 4. a folder's or home's path stays in its volume (a `..` in one reached every file of the host);
 * 5. limits of the HTTP layer that hardening-net.test.ts does not reach: chunked bodies, headers, gzip bombs.
 */

type Entity = Record<string, unknown>;

/** Everything a server is stopped with, and the folders made for it. */
const cleanups: (() => Promise<void> | void)[] = [];
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

async function serve(flags: string[] = []): Promise<TestServer> {
  const test = await startTestServer({}, flags);
  cleanups.push(() => test.stop());
  // The fuzzer writes files through the server as root in CI: its data may only ever be in the system's temp folder.
  expect(realpathSync(test.dataDir).startsWith(`${realpathSync(tmpdir())}/`)).toBe(true);
  return test;
}

/** A user of `workspace` made straight in the store, with a key, and a session of theirs. */
async function person(test: TestServer, workspace: string, email: string, role: 'admin' | 'employee' | 'standard') {
  const credentials = await addUser(test.server.store, workspace, email, role);
  const caller = new RawSession(test.url, credentials);
  const [me] = await caller.result<Entity[]>(caller.find('User', { single_entity_query: true }));
  return { credentials, session: caller, id: me?.id as string };
}

// ---------------------------------------------------------------------------------------------------------------
// A workspace with one entity of every kind

/** One entity of every kind in a workspace, made by its admin; their names and codes carry the workspace's mark. */
interface Estate {
  readonly workspace: Entity;
  readonly admin: RawSession;
  /** The directory of the default volume. */
  readonly volumeDir: string;
  readonly volume: Entity;
  readonly user: Entity;
  readonly queue: Entity;
  readonly transfer: Entity;
  readonly tasks: readonly Entity[];
  readonly delivery: Entity;
  readonly request: Entity;
  readonly folder: Entity;
  readonly home: Entity;
  readonly collection: Entity;
  readonly file: Entity;
  readonly site: Entity;
  readonly acl: Entity;
  readonly server: Entity;
  readonly log: Entity;
}

async function populate(test: TestServer, admin: RawSession, mark: string): Promise<Estate> {
  const made = async (type: string, data: unknown, id?: string) =>
    (await admin.result<Entity[]>(admin.create(type, data, id)))[0] as Entity;
  const [workspace] = await admin.result<Entity[]>(admin.find('Workspace'));
  const [volume] = await admin.result<Entity[]>(admin.find('Volume WHERE default=true'));
  const volumeDir = volume?.path as string;
  mkdirSync(join(volumeDir, 'proj', 'in'), { recursive: true });
  writeFileSync(join(volumeDir, 'proj', 'plate.exr'), 'plate');
  writeFileSync(join(volumeDir, 'proj', 'other.exr'), 'other');

  const user = await made('user', { code: `person@${mark}.test`, name: `${mark}-person` });
  const queue = await made('queue', { name: `${mark}-queue` });
  const folder = await made('folder', { parent: volume?.id, path: 'proj', name: `${mark}-folder` });
  const home = await made('home', { user: user.code, name: `${mark}-home` });
  mkdirSync(join(volumeDir, home.path as string), { recursive: true });
  const transfer = await made('transfer', {
    name: `${mark}-transfer`,
    source: `folder=${folder.code}/plate.exr`,
    destination: `${user.code}:/tmp/in/`,
    queue: queue.id,
  });
  await made(
    'task',
    { tasks: [{ source: `folder=${folder.code}/other.exr`, destination: `${user.code}:/tmp/in/other.exr` }] },
    transfer.id as string,
  );
  const tasks = await admin.result<Entity[]>(admin.find('Task', { parent: transfer.id }));
  const delivery = await made('delivery', {
    name: `${mark}-delivery`,
    tasks: [`folder=${folder.code}/plate.exr`],
    recipients: [user.code],
  });
  const request = await made('request', {
    name: `${mark}-request`,
    destination: `folder=${folder.code}/in/`,
    recipients: [user.code],
  });
  const collection = await made('collection', {
    name: `${mark}-collection`,
    files: [`folder=${folder.code}/plate.exr`],
  });
  const [file] = await admin.result<Entity[]>(admin.call('GET', 'file/find', { parent: collection.id }));
  const site = await made('site', { name: `${mark}-site` });
  const acl = await made('acl', { entity: `user:${user.code}`, target: `share:${folder.id}`, path: '/', read: true });
  await admin.result(
    admin.call(
      'PUT',
      'setting',
      { entitytype: 'user', name: 'download_directory', value: `/dl/${mark}` },
      { id: user.id as string },
    ),
  );
  await admin.result(
    admin.call(
      'PUT',
      'setting',
      { entitytype: 'transfer', name: 'compute_avoid', value: 'enable' },
      { id: transfer.id as string },
    ),
  );
  await admin.result(
    admin.call(
      'PUT',
      'setting',
      { entitytype: 'folder', name: 'transfer_concurrency', value: '3' },
      { id: folder.id as string },
    ),
  );
  // Machines are not made through the API: a server of the workspace, as a running accsyn daemon would register.
  const serverId = newId();
  const now = new Date().toISOString();
  await sql`INSERT INTO clients (id, workspace, created, modified, code, code_folded, name, name_folded, status, type,
    os, "user", inactive) VALUES (${serverId}, ${workspace?.id}, ${now}, ${now}, ${`${mark}-server`},
    ${`${mark}-server`}, ${`${mark}-server`}, ${`${mark}-server`}, 'online', ${CLIENT_TYPES.server}, 'linux', NULL, 0)`.execute(
    test.server.store.db,
  );
  await admin.result(admin.call('PUT', 'share/server', { client: serverId }, { id: volume?.id as string }));
  const [server] = await admin.result<Entity[]>(admin.call('GET', 'server/find', {}, { id: serverId }));
  const logs = await admin.result<Entity[]>(admin.call('GET', 'log/find', {}));
  return {
    workspace: workspace as Entity,
    admin,
    volumeDir,
    volume: volume as Entity,
    user,
    queue,
    transfer,
    tasks,
    delivery,
    request,
    folder,
    home,
    collection,
    file: file as Entity,
    site,
    acl,
    server: server as Entity,
    log: logs.at(-1) as Entity,
  };
}

/** A second workspace on the server, made as `accsyn server workspace add` makes one, and its admin's session. */
async function secondWorkspace(test: TestServer, code: string): Promise<RawSession> {
  const admin = `root@${code}.test`;
  const added = await addWorkspace(test.server.store, { code, admin, dataDir: test.dataDir });
  return new RawSession(test.url, { workspace: code, user: admin, key: added.key });
}

/** The files beneath a directory, by path, with their sizes. */
function filesUnder(dir: string, under = ''): Record<string, number> {
  const found: Record<string, number> = {};
  for (const entry of readdirSync(join(dir, under), { withFileTypes: true })) {
    const path = under === '' ? entry.name : `${under}/${entry.name}`;
    if (entry.isDirectory()) Object.assign(found, { [`${path}/`]: 0 }, filesUnder(dir, path));
    else found[path] = statSync(join(dir, path)).size;
  }
  return found;
}

/** All that its admin sees of a workspace: its entities in every scope, tasks, recipients, files, settings, disk. */
async function snapshot(estate: Estate): Promise<Record<string, unknown>> {
  const { admin } = estate;
  const every = { finished: true, inactive: true, archived: true };
  const seen: Record<string, unknown> = {};
  for (const type of ENTITY_TYPE_NAMES) {
    if (type === 'task' || type === 'file') continue;
    seen[type] = await admin.result(admin.call('GET', `${type}/find`, every));
  }
  for (const job of [estate.transfer, estate.delivery]) {
    seen[`tasks of ${job.name}`] = await admin.result(admin.find('Task', { parent: job.id }));
  }
  for (const job of [estate.delivery, estate.request]) {
    seen[`recipients of ${job.name}`] = await admin.result(
      admin.call('GET', 'job/recipients', {}, { id: job.id as string }),
    );
  }
  seen.files = await admin.result(admin.call('GET', 'file/find', { parent: estate.collection.id }));
  for (const [entitytype, entity] of [
    ['workspace', estate.workspace],
    ['user', estate.user],
    ['transfer', estate.transfer],
    ['folder', estate.folder],
    ['volume', estate.volume],
  ] as const) {
    seen[`settings of ${entitytype}`] = await admin.result(
      admin.call('GET', 'setting', { entitytype, recursive: true }, { id: entity.id as string }),
    );
  }
  seen.servers = await admin.result(admin.call('GET', 'volume/servers', {}, { id: estate.volume.id as string }));
  seen.disk = filesUnder(estate.volumeDir);
  return seen;
}

// ---------------------------------------------------------------------------------------------------------------
// What every answer must be

/** Where a server's own files lie, and what it may show of them: the volume directories an admin reads. */
interface Secrets {
  readonly dataDirs: readonly string[];
  readonly adminMayRead: readonly string[];
}

const ESCAPE = /[.*+?^${}()|[\]\\]/g;
// A stack frame (`at f (/x/y.js:1:2)`, `at node:internal/...`), a library, or the repository's root.
const LEAKS = [
  /\bat (?:[\w$.<>[\] ]+ )?\(?(?:file:\/\/|node:|\/)[^\s)]*:\d+:\d+/,
  /node:internal/,
  /node_modules/,
  /FST_ERR|HPE_|SQLITE_|sqlite3?:|kysely|fastify/i,
  new RegExp(new URL('../../..', import.meta.url).pathname.replace(ESCAPE, '\\$&')),
];
/** Keys an error answer may carry beside its message (reference §1.9; docs/server.md). */
const ERROR_KEYS = new Set(['message', 'position', 'retry_after']);

/** What is wrong with an answer, if anything: not 2xx or 4xx, not protocol JSON, or showing the server's insides. */
function problemWith(reply: SocketReply | Reply, secrets: Secrets, role: string): string | undefined {
  const { status, text } = reply;
  if (!((status >= 200 && status < 300) || (status >= 400 && status < 500))) return `status ${status}`;
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return 'a body that is not JSON';
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) return 'a body that is not a JSON object';
  const keys = Object.keys(json);
  if (status < 300) {
    if (!keys.includes('result') && !keys.includes('report')) return 'a success without result or report';
    if (keys.includes('message') || keys.includes('exception')) return 'a success with message or exception';
  } else {
    if (typeof (json as { message?: unknown }).message !== 'string') return 'an error without a string message';
    const extra = keys.filter((key) => !ERROR_KEYS.has(key));
    if (extra.length > 0) return `an error with ${extra.join(', ')}`;
  }
  const header = (reply.headers as Record<string, unknown>)['content-type'];
  if (typeof header !== 'string' || !header.startsWith('application/json')) return `Content-Type ${String(header)}`;
  const leak = LEAKS.find((pattern) => pattern.test(text));
  if (leak) return `a text that shows ${leak}`;
  // An admin reads the directories of the volumes; nobody reads anything else of the data directory.
  let shown = text;
  if (role === 'admin' && status < 300) {
    for (const path of secrets.adminMayRead) shown = shown.replaceAll(JSON.stringify(path), '"<volume>"');
  }
  const dir = secrets.dataDirs.find((path) => shown.includes(path));
  if (dir) return `a text that names the data directory ${dir}`;
  return undefined;
}

/** A text for a report: long ones keep their head and tail. */
function clipped(text: string, max = 600): string {
  return text.length <= max ? text : `${text.slice(0, max / 2)}…${text.slice(-max / 2)} (${text.length} characters)`;
}

// ---------------------------------------------------------------------------------------------------------------
// 1. The envelope fuzzer

/** Operations on an entity type, `<type>/<operation>` (src/events.ts), and the reports. */
const ENTITY_OPERATIONS = [
  'find',
  'create',
  'edit',
  'delete',
  'activate',
  'deactivate',
  'recipients',
  'recipient/add',
  'recipient',
  'metrics',
  'report',
  'servers',
  'server',
  'add',
  'file/remove',
];
const TYPE_NAMES = [...ENTITY_TYPE_NAMES, 'job', 'share'];
const OTHER_URIS = [
  'entitytypes',
  'attributes',
  'setting',
  'workspace/file',
  'user/api_key',
  'file/add',
  'collection/file/remove',
  'share/server',
  'volume/server',
  'share/servers',
  'job/recipients',
  'job/recipient/add',
  'job/recipient',
  'workspace/publish/preprocess',
  'workspace/integration/ftrack/utility',
  'workspace/create',
  'api/login',
];
const PROTOTYPE_NAMES = ['__proto__', 'constructor', 'prototype', 'toString', 'valueOf', 'hasOwnProperty'];
const FILE_OPS = ['ls', 'getsize', 'exists', 'mkdir', 'delete', 'rename', 'move'];
/** JSON texts of every kind but the expected one. */
const WRONG_TYPES = [
  '0',
  '-1',
  '1.5',
  '-0',
  '1e300',
  '1e400',
  '9007199254740993',
  'true',
  'false',
  'null',
  '[]',
  '{}',
  '""',
  '" "',
  '"x"',
  '"true"',
  '"0"',
  '"\\u0000"',
  '"\\ud800"',
  '[1, "a", null]',
  '{"a": {"b": []}}',
];

/** Big and deep JSON texts: long strings of one, two and four bytes a character, long lists, many keys, nesting. */
const HUGE: readonly string[] = [
  JSON.stringify('x'.repeat(120_000)),
  JSON.stringify('é'.repeat(30_000)),
  JSON.stringify('😀'.repeat(15_000)),
  JSON.stringify(Array.from({ length: 2_000 }, (_, i) => `volume=default/f${i}`)),
  JSON.stringify(Object.fromEntries(Array.from({ length: 5_000 }, (_, i) => [`k${i}`, i]))),
  `${'['.repeat(3_000)}${']'.repeat(3_000)}`,
  `${'{"a": '.repeat(1_500)}1${'}'.repeat(1_500)}`,
];

/** How a name may arrive: as written, in capitals, title case, mixed, or with blanks around. */
function oddCase(text: string, how: number): string {
  switch (how) {
    case 1:
      return text.toUpperCase();
    case 2:
      return text.charAt(0).toUpperCase() + text.slice(1);
    case 3:
      return [...text].map((c, i) => (i % 2 ? c.toUpperCase() : c)).join('');
    case 4:
      return ` ${text}\t`;
    default:
      return text;
  }
}

/** A JSON object text from its entries, each value a JSON text (so that keys such as `__proto__` stay own keys). */
const objectOf = (entries: readonly (readonly [string, string])[]) =>
  `{${entries.map(([key, value]) => `${JSON.stringify(key)}: ${value}`).join(', ')}}`;

/** One request of the fuzzer. `data`, `query` and `id` are JSON texts; undefined leaves the field out. */
interface FuzzCall {
  readonly method: 'GET' | 'PUT' | 'POST' | 'DELETE';
  readonly uri: string;
  readonly data: string | undefined;
  readonly query: string | undefined;
  readonly id: string | undefined;
  readonly gz: boolean;
  /** Where the envelope goes: where its method carries it, or the other place (a GET body, a PUT query string). */
  readonly swapped: boolean;
}

/** The values the fuzz draws from: ids, codes, e-mails and paths of both workspaces. */
interface Pools {
  readonly ids: readonly string[];
  readonly codes: readonly string[];
  readonly emails: readonly string[];
  readonly uuids: readonly string[];
  readonly paths: readonly string[];
  /** The ids of each entity type (aliases too), for the envelope's id of an operation on that type. */
  readonly byType: Readonly<Record<string, readonly string[]>>;
}

function poolsOf(...estates: Estate[]): Pools {
  const ids: string[] = [];
  const codes: string[] = [];
  const emails: string[] = [];
  const paths: string[] = ['volume=default', 'volume=default/proj/plate.exr', 'default:proj/in', '~', '~/x'];
  const byType: Record<string, string[]> = {};
  const add = (types: readonly string[], ...entities: Entity[]) => {
    for (const type of types) byType[type] = [...(byType[type] ?? []), ...entities.map((e) => e.id as string)];
  };
  for (const estate of estates) {
    add(['workspace'], estate.workspace);
    add(['volume'], estate.volume);
    add(['user'], estate.user);
    add(['queue', 'job'], estate.queue);
    add(['transfer', 'job', 'task'], estate.transfer);
    add(['task'], ...estate.tasks);
    add(['delivery', 'job', 'task'], estate.delivery);
    add(['request', 'job'], estate.request);
    add(['folder', 'share'], estate.folder);
    add(['home', 'share'], estate.home);
    add(['collection', 'share', 'file'], estate.collection);
    add(['file'], estate.file);
    add(['site'], estate.site);
    add(['acl'], estate.acl);
    add(['server', 'client'], estate.server);
    add(['log'], estate.log);
    const entities = [
      estate.workspace,
      estate.volume,
      estate.user,
      estate.queue,
      estate.transfer,
      ...estate.tasks,
      estate.delivery,
      estate.request,
      estate.folder,
      estate.home,
      estate.collection,
      estate.site,
      estate.acl,
      estate.server,
      estate.log,
    ];
    ids.push(...entities.map((entity) => entity.id as string));
    codes.push(...entities.flatMap((entity) => (typeof entity.code === 'string' ? [entity.code] : [])));
    emails.push(estate.user.code as string);
    paths.push(
      `share=${estate.folder.id}/plate.exr`,
      `folder=${estate.folder.code}/in`,
      `folder=${estate.folder.code}/plate.exr`,
      `share=${estate.volume.id}/proj`,
      `home=${estate.user.code}/x`,
      `share=${estate.home.id}`,
      `collection=${estate.collection.code}`,
      `volume=${estate.volume.id}/../..`,
      `folder=${estate.folder.code}/../../x`,
    );
  }
  paths.push('../../etc/passwd', '/etc/passwd', 'C:\\Windows', 'volume=default/%2e%2e/x', 'share=', 'user@x.test:/tmp');
  const uuids = estates.map((estate) => estate.file.id as string);
  return { ids, codes, emails, uuids, paths, byType };
}

function fuzzCalls(pools: Pools, templates: readonly Template[]): fc.Arbitrary<FuzzCall> {
  const json = (value: unknown) => JSON.stringify(value);
  const id = fc.oneof(
    { weight: 4, arbitrary: fc.constantFrom(...pools.ids) },
    { weight: 1, arbitrary: fc.stringMatching(/^[0-9a-f]{24}$/) },
    { weight: 1, arbitrary: fc.constantFrom(...pools.uuids, ...PROTOTYPE_NAMES, 'ZZZZZZZZZZZZZZZZZZZZZZZZ', '') },
    { weight: 1, arbitrary: fc.string({ maxLength: 30 }) },
  );
  const reference = fc.oneof(id, fc.constantFrom(...pools.codes, ...pools.emails));
  const path = fc.oneof(
    { weight: 4, arbitrary: fc.constantFrom(...pools.paths) },
    { weight: 1, arbitrary: fc.string({ maxLength: 40 }) },
    {
      weight: 1,
      arbitrary: fc.tuple(fc.constantFrom(...pools.paths), fc.string({ maxLength: 10 })).map((p) => p.join('/')),
    },
  );
  const bool = fc.boolean().map(json);
  const count = fc.oneof(fc.nat({ max: 50 }), fc.integer()).map(json);
  const list = <T>(item: fc.Arbitrary<T>) => fc.array(item, { maxLength: 4 }).map(json);
  const end = fc.oneof(path, fc.constantFrom(...pools.emails.map((email) => `${email}:/tmp/in/`)));
  const task = fc.oneof(end, fc.record({ source: end, destination: end }, { requiredKeys: [] }));
  const PLAUSIBLE: Record<string, fc.Arbitrary<string>> = {
    op: fc
      .tuple(fc.constantFrom(...FILE_OPS, ...PROTOTYPE_NAMES, 'nosuch'), fc.nat(4))
      .map(([op, how]) => json(oddCase(op, how))),
    path: fc.oneof(path.map(json), list(path)),
    path_to: path.map(json),
    files: fc.oneof(list(path), list(fc.constantFrom(...pools.uuids))),
    tasks: fc.oneof(list(task), fc.dictionary(fc.constantFrom('0', '1', 'x'), task).map(json)),
    recursive: bool,
    force: bool,
    getsize: bool,
    files_only: bool,
    directories_only: bool,
    maxdepth: count,
    include: fc
      .oneof(fc.string({ maxLength: 10 }), list(fc.string({ maxLength: 5 })))
      .map((v) => (typeof v === 'string' ? json(v) : v)),
    limit: count,
    skip: count,
    attributes: list(
      fc.constantFrom('id', 'name', 'code', 'status', 'path', 'user_hr', 'count', 'nosuch', ...PROTOTYPE_NAMES),
    ),
    finished: bool,
    inactive: bool,
    archived: bool,
    single_entity_query: bool,
    parent: reference.map(json),
    entitytype: fc
      .tuple(fc.constantFrom(...TYPE_NAMES, ...PROTOTYPE_NAMES), fc.nat(4))
      .map(([t, how]) => json(oddCase(t, how))),
    name: fc
      .constantFrom(
        'compute_avoid',
        'download_directory',
        'transfer_concurrency',
        'task_retries',
        'nosuch',
        ...PROTOTYPE_NAMES,
      )
      .map(json),
    value: fc.oneof(
      fc.constantFrom('enable', '3', 'xxhash64', '/dl/x').map(json),
      fc.jsonValue({ maxDepth: 1 }).map(json),
    ),
    integration: fc.constantFrom('ftrack', ...PROTOTYPE_NAMES).map(json),
    upstream: bool,
    omit_defaults: bool,
    share: reference.map(json),
    client: reference.map(json),
    recipient: reference.map(json),
    recipients: list(reference),
    invite: bool,
    source: end.map(json),
    destination: end.map(json),
    code: reference.map(json),
    status: fc
      .constantFrom('enabled', 'disabled', 'paused', 'waiting', 'aborted', 'done', 'onhold', 'excluded', 'pending')
      .map(json),
    role: fc.constantFrom('admin', 'employee', 'standard', 'support', 'none').map(json),
    entity: fc
      .oneof(
        reference.map((r) => `user:${r}`),
        reference,
      )
      .map(json),
    target: fc
      .oneof(
        reference.map((r) => `share:${r}`),
        reference,
      )
      .map(json),
    read: bool,
    write: bool,
    time: fc.constantFrom('24h', '7d', '2026-01-31', '99999999w', 'x').map(json),
    create: bool,
    update: bool,
    user: reference.map(json),
    queue: reference.map(json),
    priority: count,
    description: fc.string({ maxLength: 30 }).map(json),
    metadata: fc.jsonValue({ maxDepth: 2 }).map(json),
    id: reference.map(json),
    uri: fc.constantFrom('0', '1', 'x').map(json),
    allow_duplicates: bool,
    replace_duplicates: bool,
  };
  const keys = Object.keys(PLAUSIBLE);
  const plausible = (key: string) =>
    PLAUSIBLE[key] ??
    fc.oneof(fc.string({ maxLength: 20 }).map(json), bool, count, fc.jsonValue({ maxDepth: 1 }).map(json));
  const anyJson = fc.jsonValue({ maxDepth: 3 }).map(json);
  const value = (key: string) =>
    fc.oneof(
      { weight: 6, arbitrary: plausible(key) },
      { weight: 2, arbitrary: fc.constantFrom(...WRONG_TYPES) },
      { weight: 1, arbitrary: anyJson },
    );
  const likely = (key: string) =>
    fc.oneof(
      { weight: 12, arbitrary: plausible(key) },
      { weight: 1, arbitrary: fc.constantFrom(...WRONG_TYPES) },
      { weight: 1, arbitrary: anyJson },
    );
  const entry = fc.oneof(
    {
      weight: 10,
      arbitrary: fc.constantFrom(...keys).chain((key) =>
        fc.tuple(
          fc.nat(4).map((how) => oddCase(key, how % 3)),
          value(key),
        ),
      ),
    },
    {
      weight: 1,
      arbitrary: fc.tuple(fc.constantFrom(...PROTOTYPE_NAMES), fc.oneof(anyJson, fc.constantFrom(...WRONG_TYPES))),
    },
    { weight: 1, arbitrary: fc.tuple(fc.string({ maxLength: 8 }), anyJson) },
  );
  const object = fc.array(entry, { maxLength: 6 }).map(objectOf);
  const data = fc.option(
    fc.oneof(
      { weight: 8, arbitrary: object },
      { weight: 2, arbitrary: anyJson },
      { weight: 1, arbitrary: fc.array(object, { maxLength: 3 }).map((items) => `[${items.join(', ')}]`) },
      { weight: 1, arbitrary: fc.constantFrom(...WRONG_TYPES) },
      { weight: 1, arbitrary: fc.constantFrom(...HUGE) },
    ),
    { nil: undefined, freq: 12 },
  );
  const uri = fc.oneof(
    {
      weight: 8,
      arbitrary: fc
        .tuple(fc.constantFrom(...TYPE_NAMES), fc.constantFrom(...ENTITY_OPERATIONS), fc.nat(6))
        .map(([type, operation, how]) => oddCase(`${type}/${operation}`, how)),
    },
    { weight: 3, arbitrary: fc.tuple(fc.constantFrom(...OTHER_URIS), fc.nat(6)).map(([u, how]) => oddCase(u, how)) },
    {
      weight: 1,
      arbitrary: fc.constantFrom(
        ...PROTOTYPE_NAMES,
        ...PROTOTYPE_NAMES.flatMap((name) => [`user/${name}`, `${name}/find`, `${name}/report`, `workspace/${name}`]),
      ),
    },
    { weight: 1, arbitrary: fc.string({ maxLength: 30 }) },
  );
  const query = fc.option(
    fc.oneof(
      fc.string({ maxLength: 40 }),
      reference.map((r) => `id=${r}`),
      reference.map((r) => `code=${r}`),
      fc
        .tuple(
          fc.constantFrom('user', 'queue', 'parent', 'source', 'destination', 'job', 'entity', 'target'),
          reference,
        )
        .map(([a, r]) => `${a}=${r}`),
      reference.map((r) => `acl WHERE entity=user:${r}`),
      fc.constantFrom(
        ...pools.codes,
        ...pools.emails,
        ...PROTOTYPE_NAMES,
        'name matches "(a+)+$"',
        `name=${'a'.repeat(50_000)}`,
      ),
    ),
    { nil: undefined, freq: 3 },
  );
  const envelopeId = fc.option(
    fc.oneof({ weight: 6, arbitrary: id.map(json) }, { weight: 1, arbitrary: fc.constantFrom(...WRONG_TYPES) }),
    { nil: undefined, freq: 3 },
  );
  const wild = fc.record({
    method: fc.constantFrom('GET', 'PUT', 'POST', 'DELETE'),
    uri,
    data,
    query: query.map((q) => (q === undefined ? undefined : json(q))),
    id: envelopeId,
    gz: fc.nat(9).map((n) => n < 3),
    swapped: fc.nat(12).map((n) => n === 0),
  });
  // An operation with the method it takes and data of the keys it reads, each of a plausible or a wrong type.
  const targeted = fc
    .record({
      operation: fc.constantFrom(...OPERATIONS),
      type: fc.constantFrom(...TYPE_NAMES),
      how: fc.nat(6),
      op: fc.constantFrom(...FILE_OPS),
      extra: fc.array(entry, { maxLength: 1 }),
      query: fc.option(query, { nil: undefined, freq: 2 }),
      id: fc.option(id, { nil: undefined, freq: 5 }),
      gz: fc.nat(9).map((n) => n < 2),
      pick: fc.nat(),
    })
    .chain(({ operation, type, how, op, extra, query: q, id: other, gz, pick }) => {
      // Mostly an id of the type the operation is on, of either workspace.
      const own = pools.byType[type] ?? [];
      const i = other !== undefined && own.length > 0 && pick % 4 !== 0 ? (own[pick % own.length] as string) : other;
      const methods = operation.uri === 'workspace/file' ? [FILE_METHODS[op] as FuzzCall['method']] : operation.methods;
      const keys = operation.uri === 'workspace/file' ? FILE_KEYS : keysOf(operation.uri, type, operation.keys);
      return fc.subarray([...keys], { maxLength: Math.min(4, keys.length) }).chain((chosen) =>
        fc.tuple(...chosen.map((key) => likely(key).map((v) => [key, v] as const))).map((entries): FuzzCall => {
          const fields = [...entries, ...extra];
          if (operation.uri === 'workspace/file' && pick % 5 !== 0) fields.unshift(['op', json(op)]);
          return {
            method: methods[pick % methods.length] as FuzzCall['method'],
            uri: oddCase(operation.uri.replace('<type>', type), how),
            data: objectOf(fields),
            query: q === undefined ? undefined : json(q),
            id: i === undefined ? undefined : json(i),
            gz,
            swapped: false,
          };
        }),
      );
    });
  // A call that works, and the same with a value, a key, the id, the method or the data changed.
  const change = fc.record({
    kind: fc.constantFrom('set', 'set', 'set', 'drop', 'prototype', 'id', 'method', 'case', 'query', 'data'),
    key: fc.constantFrom(...keys),
    value: fc.oneof(
      { weight: 4, arbitrary: fc.constantFrom(...WRONG_TYPES) },
      { weight: 2, arbitrary: anyJson },
      { weight: 2, arbitrary: reference.map(json) },
      { weight: 2, arbitrary: path.map(json) },
      { weight: 1, arbitrary: fc.constantFrom(...HUGE) },
    ),
    at: fc.nat(),
  });
  const mutated = fc
    .tuple(fc.constantFrom(...templates), fc.array(change, { maxLength: 2 }), query, id)
    .map(([template, changes, q, otherId]): FuzzCall => {
      let method = template.method;
      let uri = template.uri;
      let id = template.id === undefined ? undefined : json(template.id);
      let query = template.query === undefined ? undefined : json(template.query);
      const list = Array.isArray(template.data);
      let entries = Object.entries((list ? (template.data as unknown[])[0] : template.data) ?? {}).map(
        ([key, v]) => [key, json(v)] as [string, string],
      );
      let data: string | undefined;
      for (const { kind, key, value, at } of changes) {
        if (kind === 'set') {
          const name = entries.length > 0 && at % 2 === 0 ? (entries[at % entries.length] as [string, string])[0] : key;
          entries = [...entries.filter(([k]) => k !== name), [name, value]];
        } else if (kind === 'drop' && entries.length > 0) entries.splice(at % entries.length, 1);
        else if (kind === 'prototype') entries.push([PROTOTYPE_NAMES[at % PROTOTYPE_NAMES.length] as string, value]);
        else if (kind === 'id') id = at % 3 === 0 ? value : json(otherId ?? '');
        else if (kind === 'method') method = (['GET', 'PUT', 'POST', 'DELETE'] as const)[at % 4] as Method;
        else if (kind === 'case') uri = oddCase(uri, at % 5);
        else if (kind === 'query') query = q === undefined ? value : json(q);
        else if (kind === 'data') data = value;
      }
      data ??= list ? `[${objectOf(entries)}]` : objectOf(entries);
      return { method, uri, data, query, id, gz: changes.length === 1 && changes[0]?.at === 0, swapped: false };
    });
  return fc.oneof(
    { weight: 3, arbitrary: mutated },
    { weight: 2, arbitrary: targeted },
    { weight: 2, arbitrary: wild },
  );
}

/** A call that succeeds as the estate's admin, for the fuzz to change. */
interface Template {
  readonly method: Method;
  readonly uri: string;
  readonly data: unknown;
  readonly id?: string;
  readonly query?: string;
}

function templatesOf(estate: Estate): Template[] {
  const { folder, user, volume, transfer, delivery, collection, queue, server } = estate;
  const plate = `folder=${folder.code}/plate.exr`;
  return [
    {
      method: 'POST',
      uri: 'transfer/create',
      data: { source: plate, destination: `${user.code}:/tmp/in/`, name: 'fz' },
    },
    {
      method: 'POST',
      uri: 'transfer/create',
      data: { source: `folder=${folder.code}/`, destination: 'volume=default/out/', tasks: ['plate.exr', 'other.exr'] },
    },
    { method: 'POST', uri: 'delivery/create', data: { name: 'fz', tasks: [plate], recipients: [user.code] } },
    {
      method: 'POST',
      uri: 'request/create',
      data: { name: 'fz', destination: `folder=${folder.code}/in/`, recipients: [user.code] },
    },
    { method: 'POST', uri: 'folder/create', data: { parent: volume.id, path: 'fuzz/folder', name: 'fz-folder' } },
    { method: 'POST', uri: 'home/create', data: { user: user.code } },
    { method: 'POST', uri: 'collection/create', data: { name: 'fz-collection', files: [plate] } },
    {
      method: 'POST',
      uri: 'acl/create',
      data: { entity: `user:${user.code}`, target: `share:${folder.id}`, path: 'in', read: true, write: true },
    },
    { method: 'POST', uri: 'user/create', data: { code: 'fz@fuzz.test', role: 'standard' } },
    { method: 'POST', uri: 'queue/create', data: { name: 'fz-queue', priority: 10 } },
    { method: 'POST', uri: 'site/create', data: { name: 'fz-site' } },
    {
      method: 'POST',
      uri: 'task/create',
      data: { tasks: [{ source: plate, destination: '/tmp/in/x.exr' }] },
      id: transfer.id as string,
    },
    { method: 'PUT', uri: 'task/edit', data: [{ uri: '0', status: 'onhold' }], id: transfer.id as string },
    { method: 'PUT', uri: 'transfer/edit', data: { status: 'paused', priority: 10 }, id: transfer.id as string },
    { method: 'PUT', uri: 'user/edit', data: { name: 'fz', queue: queue.id }, id: user.id as string },
    { method: 'PUT', uri: 'folder/edit', data: { description: 'fz', email: 'fz@fuzz.test' }, id: folder.id as string },
    { method: 'PUT', uri: 'queue/edit', data: { priority: 5 }, id: queue.id as string },
    { method: 'PUT', uri: 'job/recipient/add', data: { recipient: user.code }, id: delivery.id as string },
    { method: 'DELETE', uri: 'job/recipient', data: { recipient: user.code }, id: delivery.id as string },
    { method: 'GET', uri: 'job/recipients', data: {}, id: delivery.id as string },
    { method: 'POST', uri: 'file/add', data: { files: [plate] }, id: collection.id as string },
    { method: 'DELETE', uri: 'collection/file/remove', data: { files: [estate.file.id] }, id: collection.id as string },
    {
      method: 'PUT',
      uri: 'setting',
      data: { entitytype: 'transfer', name: 'task_retries', value: '5' },
      id: transfer.id as string,
    },
    { method: 'GET', uri: 'setting', data: { entitytype: 'workspace', recursive: true, upstream: true } },
    {
      method: 'DELETE',
      uri: 'setting',
      data: { entitytype: 'user', name: 'download_directory' },
      id: user.id as string,
    },
    { method: 'GET', uri: 'transfer/metrics', data: { attributes: ['count'], time: '24h' }, query: 'status=waiting' },
    { method: 'GET', uri: 'transfer/report', data: {}, query: `queue=${queue.code}` },
    { method: 'GET', uri: 'volume/servers', data: {}, id: volume.id as string },
    { method: 'PUT', uri: 'share/server', data: { client: server.id }, id: volume.id as string },
    { method: 'DELETE', uri: 'volume/server', data: { client: server.id }, id: volume.id as string },
    {
      method: 'GET',
      uri: 'workspace/file',
      data: { op: 'ls', path: 'volume=default/proj', recursive: true, getsize: true },
    },
    { method: 'GET', uri: 'workspace/file', data: { op: 'getsize', path: `folder=${folder.code}` } },
    { method: 'GET', uri: 'workspace/file', data: { op: 'exists', path: ['volume=default/proj/plate.exr', '~'] } },
    { method: 'POST', uri: 'workspace/file', data: { op: 'mkdir', path: 'volume=default/fuzz/a' } },
    { method: 'PUT', uri: 'workspace/file', data: { op: 'rename', path: 'volume=default/fuzz/a', path_to: 'b' } },
    {
      method: 'PUT',
      uri: 'workspace/file',
      data: { op: 'move', path: 'volume=default/fuzz/b', path_to: 'volume=default/proj' },
    },
    { method: 'POST', uri: 'workspace/file', data: { op: 'delete', path: 'volume=default/fuzz', force: true } },
    { method: 'GET', uri: 'acl/find', data: { recursive: true }, query: `acl WHERE target=share:${volume.id}` },
    { method: 'GET', uri: 'attributes', data: { entitytype: 'transfer', create: true } },
    { method: 'GET', uri: 'user/find', data: { single_entity_query: true } },
    { method: 'GET', uri: 'task/find', data: { parent: transfer.id, limit: 5, attributes: ['status', 'source'] } },
    { method: 'POST', uri: 'user/activate', data: {}, query: user.code as string },
  ];
}

type Method = FuzzCall['method'];

/** The operations of src/events.ts with the methods they take and the keys of data they read. */
const OPERATIONS: readonly {
  readonly uri: string;
  readonly methods: readonly Method[];
  readonly keys: readonly string[];
}[] = [
  {
    uri: '<type>/find',
    methods: ['GET'],
    keys: [
      'limit',
      'skip',
      'attributes',
      'finished',
      'inactive',
      'archived',
      'single_entity_query',
      'parent',
      'recursive',
    ],
  },
  {
    uri: '<type>/create',
    methods: ['POST'],
    keys: [
      'name',
      'code',
      'source',
      'destination',
      'tasks',
      'recipients',
      'parent',
      'path',
      'user',
      'queue',
      'status',
      'role',
      'entity',
      'target',
      'read',
      'write',
      'files',
      'invite',
    ],
  },
  {
    uri: '<type>/edit',
    methods: ['PUT'],
    keys: ['name', 'description', 'status', 'role', 'queue', 'priority', 'metadata', 'code', 'source', 'read', 'write'],
  },
  { uri: '<type>/delete', methods: ['DELETE'], keys: ['force'] },
  { uri: '<type>/activate', methods: ['POST'], keys: [] },
  { uri: '<type>/deactivate', methods: ['DELETE'], keys: [] },
  { uri: '<type>/recipients', methods: ['GET'], keys: [] },
  { uri: '<type>/recipient/add', methods: ['PUT'], keys: ['recipient', 'invite'] },
  { uri: '<type>/recipient', methods: ['DELETE'], keys: ['recipient'] },
  { uri: '<type>/metrics', methods: ['GET'], keys: ['attributes', 'time'] },
  { uri: '<type>/report', methods: ['GET'], keys: [] },
  { uri: '<type>/servers', methods: ['GET'], keys: [] },
  { uri: '<type>/server', methods: ['PUT', 'DELETE'], keys: ['client'] },
  { uri: 'file/add', methods: ['POST'], keys: ['files'] },
  { uri: 'collection/file/remove', methods: ['DELETE'], keys: ['files'] },
  {
    uri: 'setting',
    methods: ['GET', 'PUT', 'DELETE'],
    keys: ['entitytype', 'name', 'value', 'integration', 'recursive', 'upstream', 'omit_defaults', 'share'],
  },
  { uri: 'attributes', methods: ['GET'], keys: ['entitytype', 'create', 'update'] },
  { uri: 'entitytypes', methods: ['GET'], keys: [] },
  { uri: 'user/api_key', methods: ['GET'], keys: [] },
  { uri: 'workspace/file', methods: [], keys: [] },
  { uri: 'workspace/file', methods: [], keys: [] },
];
const FILE_METHODS: Readonly<Record<string, Method>> = {
  ls: 'GET',
  getsize: 'GET',
  exists: 'GET',
  mkdir: 'POST',
  delete: 'POST',
  rename: 'PUT',
  move: 'PUT',
};
/** The keys a create or edit of `type` takes (its attributes, as protocol/entities.ts has them), else `keys`. */
function keysOf(uri: string, type: string, keys: readonly string[]): readonly string[] {
  const spec = entityType(type);
  const operation = uri.slice('<type>/'.length);
  if (!spec || (operation !== 'create' && operation !== 'edit')) return keys;
  const own = Object.entries(spec.attributes)
    .filter(([, attribute]) => (operation === 'create' ? attribute.create : attribute.update))
    .map(([name]) => name);
  const extra = operation === 'create' ? ['tasks', 'recipients', 'files', 'invite', 'paths'] : [];
  return own.length + extra.length > 0 ? [...own, ...extra] : keys;
}

const FILE_KEYS = [
  'path',
  'path_to',
  'recursive',
  'force',
  'getsize',
  'maxdepth',
  'include',
  'files_only',
  'directories_only',
];

/**
 * Whether a call could point the server at directories outside its data folder: a volume's directory given by the
 * fuzz (an admin may put a volume anywhere the server can write), or a share's path that climbs out of its volume.
 * The server refuses the second (section 4 tests it); the fuzz never sends either.
 */
function reachesOutside(call: FuzzCall): boolean {
  if (call.data === undefined) return false;
  let data: unknown;
  try {
    data = JSON.parse(call.data);
  } catch {
    return false;
  }
  const type = call.uri.trim().toLowerCase().split('/')[0]?.trim() ?? '';
  const items = Array.isArray(data) ? data : [data];
  for (const item of items) {
    if (typeof item !== 'object' || item === null) continue;
    for (const [key, value] of Object.entries(item)) {
      const name = key.toLowerCase();
      if (type === 'volume' && (name === 'path' || name === 'paths')) return true;
      if (['folder', 'share', 'home'].includes(type) && name === 'path' && JSON.stringify(value).includes('..'))
        return true;
    }
  }
  return false;
}

/** The envelope of a call as text, sent by `caller` in its session. */
function envelopeOf(call: FuzzCall, caller: Credentials, session: string): string {
  const entries: [string, string][] = [
    ['audience', '"api"'],
    ['workspace', JSON.stringify(caller.workspace)],
    ['eid', JSON.stringify(randomUUID())],
    ['session', JSON.stringify(session)],
    ['uri', JSON.stringify(call.uri)],
    ['ident', JSON.stringify(caller.user)],
    ['created', '"2026-11-27T18:23:39"'],
    ['hostname', '"fuzz"'],
  ];
  if (call.data !== undefined) {
    entries.push(call.gz ? ['gz_data', JSON.stringify(gzipSync(call.data).toString('base64'))] : ['data', call.data]);
  }
  if (call.query !== undefined) entries.push(['query', call.query]);
  if (call.id !== undefined) entries.push(['id', call.id]);
  return objectOf(entries);
}

function sendFuzz(url: string, call: FuzzCall, caller: Credentials, session: string): Promise<SocketReply> {
  const envelope = envelopeOf(call, caller, session);
  const inQuery = (call.method === 'GET' || call.method === 'DELETE') !== call.swapped;
  return socketRequest(url, {
    method: call.method,
    target: inQuery ? `/api/v3/event?${queryStringOf(envelope)}` : '/api/v3/event',
    headers: authHeaders(caller),
    ...(inQuery ? {} : { body: envelope }),
    timeoutMs: 10_000,
  });
}

/** A call for a report, its long texts cut short. */
function shownCall(call: FuzzCall): string {
  const parts = [`${call.method} ${JSON.stringify(call.uri)}`];
  if (call.data !== undefined) parts.push(`${call.gz ? 'gz_data' : 'data'} ${clipped(call.data, 300)}`);
  if (call.query !== undefined) parts.push(`query ${clipped(call.query, 200)}`);
  if (call.id !== undefined) parts.push(`id ${clipped(call.id, 100)}`);
  if (call.swapped) parts.push('(envelope where its method does not carry it)');
  return parts.join(', ');
}

const FUZZ_RUNS = Number(process.env.ACCSYN_FUZZ_RUNS ?? (process.env.CI ? 500 : 300));

describe('the envelope fuzzer', () => {
  let test: TestServer;
  let acme: Estate;
  let globex: Estate;
  let secrets: Secrets;
  let pools: Pools;
  let before: Record<string, unknown>;

  beforeAll(async () => {
    test = await serve();
    acme = await populate(test, new RawSession(test.url, test.admin), 'acme');
    globex = await populate(test, await secondWorkspace(test, 'globex'), 'globex');
    pools = poolsOf(acme, globex);
    const dataDir = test.dataDir;
    secrets = {
      dataDirs: [...new Set([dataDir, realpathSync(dataDir)])],
      adminMayRead: [acme.volumeDir, realpathSync(acme.volumeDir)],
    };
    before = await snapshot(globex);
  });

  /** Runs the fuzz as `caller`; fails naming the first call whose answer is not as every answer must be. */
  async function fuzzAs(caller: Credentials, role: string): Promise<void> {
    const reply = await login(test.url, caller);
    expect(reply.status, reply.text).toBe(200);
    const session = (reply.json.result as { session_id: string }).session_id;
    const statuses = new Map<number, number>();
    const result = await fc.check(
      fc.asyncProperty(fuzzCalls(pools, templatesOf(acme)), async (call) => {
        fc.pre(!reachesOutside(call));
        const answer = await sendFuzz(test.url, call, caller, session);
        statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);
        const problem = problemWith(answer, secrets, role);
        if (problem) throw new Error(`${problem}: answered ${answer.status} ${clipped(answer.text)}`);
      }),
      { numRuns: FUZZ_RUNS, endOnFailure: true },
    );
    if (result.failed) {
      const [call] = result.counterexample ?? [];
      const error = result.errorInstance instanceof Error ? result.errorInstance.message : String(result.errorInstance);
      expect.fail(`${call ? shownCall(call) : '?'} (seed ${result.seed})\n${error}`);
    }
    // The fuzz reached the handlers: not everything was refused before them.
    expect(statuses.get(200) ?? 0, JSON.stringify([...statuses])).toBeGreaterThan(FUZZ_RUNS / 50);
    expect((await socketRequest(test.url, { method: 'GET', target: '/healthz' })).status).toBe(200);
  }

  it('tells an answer that shows the data directory, a 5xx or a success with a message from a sound one', async () => {
    // The check the fuzz relies on, on answers made to fail it: it must be able to fail.
    const volumes = await acme.admin.call('GET', 'volume/find', {});
    expect(volumes.text).toContain(acme.volumeDir);
    expect(problemWith(volumes, secrets, 'admin')).toBeUndefined();
    expect(problemWith(volumes, secrets, 'standard')).toMatch(/^a text that names the data directory /);
    const made = (status: number, text: string) => ({ ...volumes, status, text });
    expect(problemWith(made(500, '{"message": "internal error"}'), secrets, 'admin')).toBe('status 500');
    expect(problemWith(made(200, '{"result": [], "message": "x"}'), secrets, 'admin')).toMatch(/success with message/);
    expect(problemWith(made(400, '{"message": "x", "stack": "y"}'), secrets, 'admin')).toBe('an error with stack');
    expect(problemWith(made(400, '{"message": "at f (/srv/x.js:1:2)"}'), secrets, 'admin')).toMatch(/shows/);
    expect(problemWith(made(404, 'Not Found'), secrets, 'admin')).toBe('a body that is not JSON');
  });

  it('answers every envelope of a standard user with protocol JSON, 2xx or 4xx, naming no file of the server', async () => {
    const sam = await person(test, 'acme', 'sam@acme.test', 'standard');
    // Something to reach: a folder shared with them, and a home.
    await acme.admin.result(
      acme.admin.create('acl', {
        entity: 'user:sam@acme.test',
        target: `share:${acme.folder.id}`,
        read: true,
        write: true,
      }),
    );
    await acme.admin.result(acme.admin.create('home', { user: 'sam@acme.test' }));
    await fuzzAs(sam.credentials, 'standard');
  });

  it('answers every envelope of an admin with protocol JSON, 2xx or 4xx, naming no file but the volumes', async () => {
    await fuzzAs(test.admin, 'admin');
  });

  it('leaves the other workspace as it was, however its ids were used', async () => {
    expect(await snapshot(globex)).toEqual(before);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// 2. Two workspaces on one server

const IS_ID = /^[0-9a-f]{24}$/;
const IS_UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * A value of the same shape as `value` that names nothing: a new id or uuid (`type:` before it kept), or the text
 * with globex made nosuch.
 */
function unknownLike(value: string): string {
  if (IS_ID.test(value)) return newId();
  if (IS_UUID.test(value)) return randomUUID();
  const typed = /^([a-z]+):([0-9a-f]{24})$/.exec(value);
  if (typed) return `${typed[1]}:${newId()}`;
  if (!value.includes('globex')) throw new Error(`${value} has no unknown twin`);
  return value.replaceAll('globex', 'nosuch');
}

/** One call of workspace A that names something of B (`reference`), which it may also name by an unknown value. */
interface Case {
  readonly what: string;
  readonly reference: string;
  readonly call: (session: RawSession, reference: string) => Promise<Reply>;
}

/** Every operation with B's ids, codes and references: by id and code, in queries, in data, in paths, as ends. */
function isolationCases(a: Estate, b: Estate): Case[] {
  const cases: Case[] = [];
  const add = (what: string, reference: string, call: Case['call']) => cases.push({ what, reference, call });
  const id = (entity: Entity) => entity.id as string;
  const task = b.tasks[0] as Entity;
  const byId: [string, Entity][] = [
    ['workspace', b.workspace],
    ['user', b.user],
    ['queue', b.queue],
    ['transfer', b.transfer],
    ['job', b.transfer],
    ['delivery', b.delivery],
    ['request', b.request],
    ['task', task],
    ['volume', b.volume],
    ['folder', b.folder],
    ['share', b.folder],
    ['home', b.home],
    ['collection', b.collection],
    ['file', b.file],
    ['site', b.site],
    ['acl', b.acl],
    ['server', b.server],
    ['client', b.server],
    ['log', b.log],
  ];
  /** A setting each holder type has, for get, set and delete. */
  const SETTING: Readonly<Record<string, [string, string]>> = {
    workspace: ['task_retries', '2'],
    user: ['download_directory', '/x'],
    queue: ['task_retries', '2'],
    transfer: ['compute_avoid', 'disable'],
    job: ['compute_avoid', 'disable'],
    delivery: ['task_retries', '2'],
    request: ['task_retries', '2'],
    volume: ['transfer_concurrency', '2'],
    folder: ['transfer_concurrency', '2'],
    share: ['transfer_concurrency', '2'],
    home: ['transfer_concurrency', '2'],
    collection: ['transfer_concurrency', '2'],
  };
  for (const [type, entity] of byId) {
    const ref = id(entity);
    add(`GET ${type}/find with its id`, ref, (s, r) => s.call('GET', `${type}/find`, {}, { id: r }));
    add(`GET ${type}/find WHERE id=`, ref, (s, r) => s.call('GET', `${type}/find`, {}, { query: `id=${r}` }));
    add(`PUT ${type}/edit`, ref, (s, r) => s.update(type, r, { description: 'changed from acme' }));
    add(`DELETE ${type}/delete`, ref, (s, r) => s.delete(type, r));
    add(`DELETE ${type}/delete with force`, ref, (s, r) => s.delete(type, r, { force: true }));
    add(`POST ${type}/activate`, ref, (s, r) => s.call('POST', `${type}/activate`, {}, { id: r }));
    add(`DELETE ${type}/deactivate`, ref, (s, r) => s.call('DELETE', `${type}/deactivate`, {}, { id: r }));
    add(`GET ${type}/recipients`, ref, (s, r) => s.call('GET', `${type}/recipients`, {}, { id: r }));
    add(`GET ${type}/servers`, ref, (s, r) => s.call('GET', `${type}/servers`, {}, { id: r }));
    add(`GET ${type}/metrics WHERE id=`, ref, (s, r) => s.call('GET', `${type}/metrics`, {}, { query: `id=${r}` }));
    add(`GET ${type}/report WHERE id=`, ref, (s, r) => s.call('GET', `${type}/report`, {}, { query: `id=${r}` }));
    const [name, value] = SETTING[type] ?? ['task_retries', '2'];
    add(`GET setting of a ${type}`, ref, (s, r) => s.call('GET', 'setting', { entitytype: type, name }, { id: r }));
    add(`GET settings of a ${type}`, ref, (s, r) =>
      s.call('GET', 'setting', { entitytype: type, recursive: true, upstream: true }, { id: r }),
    );
    add(`PUT setting of a ${type}`, ref, (s, r) =>
      s.call('PUT', 'setting', { entitytype: type, name, value }, { id: r }),
    );
    add(`DELETE setting of a ${type}`, ref, (s, r) =>
      s.call('DELETE', 'setting', { entitytype: type, name }, { id: r }),
    );
    if (typeof entity.code === 'string' && entity.code.includes('globex')) {
      const code = entity.code;
      add(`GET ${type}/find WHERE code=`, code, (s, r) => s.call('GET', `${type}/find`, {}, { query: `code=${r}` }));
      add(`POST ${type}/activate by code`, code, (s, r) => s.call('POST', `${type}/activate`, {}, { query: r }));
    }
  }
  for (const [type, entity] of [
    ['volume', b.volume],
    ['folder', b.folder],
    ['home', b.home],
    ['collection', b.collection],
  ] as const) {
    add(`GET settings of data.share, a ${type}`, id(entity), (s, r) => s.call('GET', 'setting', { share: r }));
  }

  // References in queries, finds by parent.
  const queries: [string, string, string][] = [
    ['transfer', 'user', b.user.code as string],
    ['transfer', 'queue', b.queue.code as string],
    ['transfer', 'queue', id(b.queue)],
    ['transfer', 'destination', b.user.code as string],
    ['transfer', 'source', id(b.folder)],
    ['delivery', 'user', b.user.code as string],
    ['folder', 'parent', id(b.volume)],
    ['home', 'user', b.user.code as string],
    ['log', 'user', b.user.code as string],
    ['log', 'entity', `job:${id(b.transfer)}`],
    ['task', 'job', id(b.transfer)],
    ['server', 'site', b.site.code as string],
  ];
  for (const [type, attribute, ref] of queries) {
    add(`GET ${type}/find WHERE ${attribute}=`, ref, (s, r) =>
      s.call('GET', `${type}/find`, {}, { query: `${attribute}=${r}` }),
    );
    if (['transfer', 'delivery'].includes(type)) {
      add(`GET ${type}/metrics WHERE ${attribute}=`, ref, (s, r) =>
        s.call('GET', `${type}/metrics`, {}, { query: `${attribute}=${r}` }),
      );
      add(`GET ${type}/report WHERE ${attribute}=`, ref, (s, r) =>
        s.call('GET', `${type}/report`, {}, { query: `${attribute}=${r}` }),
      );
    }
  }
  add('GET acl/find WHERE entity=', `user:${id(b.user)}`, (s, r) =>
    s.call('GET', 'acl/find', {}, { query: `acl WHERE entity=${r}` }),
  );
  add('GET acl/find WHERE target=, recursive', `share:${id(b.volume)}`, (s, r) =>
    s.call('GET', 'acl/find', { recursive: true }, { query: `acl WHERE target=${r}` }),
  );
  for (const [type, parent] of [
    ['task', b.transfer],
    ['task', b.delivery],
    ['folder', b.volume],
    ['file', b.collection],
    ['delivery', b.transfer],
  ] as const) {
    add(`GET ${type}/find with parent`, id(parent), (s, r) => s.call('GET', `${type}/find`, { parent: r }));
  }

  // Tasks, recipients, collections' files and servers, by B's jobs and shares, or A's with B's parts.
  const tasks = { tasks: [{ source: 'volume=default/proj/plate.exr', destination: '/tmp/x.exr' }] };
  add('POST task/create in their transfer', id(b.transfer), (s, r) => s.create('task', tasks, r));
  add('POST task/create in their delivery', id(b.delivery), (s, r) => s.create('task', tasks, r));
  add('PUT task/edit of their transfer', id(b.transfer), (s, r) =>
    s.update('task', r, [{ uri: '0', status: 'onhold' }]),
  );
  add('PUT task/edit of their task in our transfer', id(task), (s, r) =>
    s.update('task', id(a.transfer), [{ id: r, status: 'onhold' }]),
  );
  add('POST file/add to their collection', id(b.collection), (s, r) =>
    s.call('POST', 'file/add', { files: ['volume=default/proj/plate.exr'] }, { id: r }),
  );
  for (const ref of [id(b.folder), id(b.volume), id(b.home)]) {
    add('POST file/add of a path on their share', ref, (s, r) =>
      s.call('POST', 'file/add', { files: [`share=${r}/plate.exr`] }, { id: id(a.collection) }),
    );
  }
  add('POST file/add of a path on their folder by code', b.folder.code as string, (s, r) =>
    s.call('POST', 'file/add', { files: [`folder=${r}/plate.exr`] }, { id: id(a.collection) }),
  );
  add('DELETE collection/file/remove from their collection', id(b.collection), (s, r) =>
    s.call('DELETE', 'collection/file/remove', { files: [id(b.file)] }, { id: r }),
  );
  add('DELETE collection/file/remove of their file from ours', id(b.file), (s, r) =>
    s.call('DELETE', 'collection/file/remove', { files: [r] }, { id: id(a.collection) }),
  );
  for (const ref of [id(b.user), b.user.code as string]) {
    add('PUT job/recipient/add of their user', ref, (s, r) =>
      s.call('PUT', 'job/recipient/add', { recipient: r, invite: false }, { id: id(a.delivery) }),
    );
    add('DELETE job/recipient of their user', ref, (s, r) =>
      s.call('DELETE', 'job/recipient', { recipient: r }, { id: id(a.delivery) }),
    );
  }
  add('PUT job/recipient/add to their delivery', id(b.delivery), (s, r) =>
    s.call('PUT', 'job/recipient/add', { recipient: a.user.code, invite: false }, { id: r }),
  );
  add('DELETE job/recipient from their request', id(b.request), (s, r) =>
    s.call('DELETE', 'job/recipient', { recipient: b.user.code }, { id: r }),
  );
  for (const [uri, method] of [
    ['share/server', 'PUT'],
    ['volume/server', 'DELETE'],
  ] as const) {
    add(`${method} ${uri} of their volume`, id(b.volume), (s, r) =>
      s.call(method, uri, { client: id(a.server) }, { id: r }),
    );
    add(`${method} ${uri} of their server`, id(b.server), (s, r) =>
      s.call(method, uri, { client: r }, { id: id(a.volume) }),
    );
  }

  // File calls with their shares in paths.
  const paths: [string, string][] = [
    [id(b.folder), 'share=<ref>/plate.exr'],
    [id(b.folder), 'share=<ref>'],
    [id(b.volume), 'volume=<ref>/proj/plate.exr'],
    [id(b.home), 'share=<ref>/x'],
    [b.folder.code as string, 'folder=<ref>/plate.exr'],
    [b.home.code as string, 'home=<ref>'],
    [b.user.code as string, 'home=<ref>/x'],
    [b.collection.code as string, 'collection=<ref>'],
  ];
  const FILE_CALLS: [string, Method, Record<string, unknown>][] = [
    ['ls', 'GET', { recursive: true }],
    ['getsize', 'GET', {}],
    ['exists', 'GET', {}],
    ['mkdir', 'POST', {}],
    ['delete', 'POST', { force: true }],
    ['rename', 'PUT', { path_to: 'renamed.exr' }],
    ['move', 'PUT', { path_to: 'volume=default/proj/in' }],
  ];
  for (const [ref, template] of paths) {
    for (const [op, method, more] of FILE_CALLS) {
      add(`${method} workspace/file ${op} ${template}`, ref, (s, r) =>
        s.call(method, 'workspace/file', { op, path: template.replace('<ref>', r), ...more }),
      );
    }
    add(`PUT workspace/file move into ${template}`, ref, (s, r) =>
      s.call('PUT', 'workspace/file', {
        op: 'move',
        path: 'volume=default/proj/other.exr',
        path_to: template.replace('<ref>', r),
      }),
    );
  }
  add('PUT workspace/file rename onto their share', id(b.folder), (s, r) =>
    s.call('PUT', 'workspace/file', {
      op: 'rename',
      path: 'volume=default/proj/other.exr',
      path_to: `share=${r}/other.exr`,
    }),
  );

  // Creates and edits that point at B's entities.
  const plate = `folder=${a.folder.code}/plate.exr`;
  const ends: [string, string, (r: string) => Record<string, unknown>][] = [
    [
      'a transfer from their folder by code',
      b.folder.code as string,
      (r) => ({ source: `folder=${r}/plate.exr`, destination: '/tmp/x' }),
    ],
    [
      'a transfer from their folder by id',
      id(b.folder),
      (r) => ({ source: `share=${r}/plate.exr`, destination: '/tmp/x' }),
    ],
    [
      'a transfer from their volume',
      id(b.volume),
      (r) => ({ source: `volume=${r}/proj/plate.exr`, destination: '/tmp/x' }),
    ],
    ['a transfer to their user', b.user.code as string, (r) => ({ source: plate, destination: `${r}:/tmp/in/` })],
    ['a transfer to their user by id', id(b.user), (r) => ({ source: plate, destination: `user=${r}:/tmp/in/` })],
    ['a transfer to their server', id(b.server), (r) => ({ source: plate, destination: `client=${r}:/tmp/in/` })],
    ['a transfer to their site', b.site.code as string, (r) => ({ source: plate, destination: `site=${r}:/tmp/in/` })],
    ['a transfer in their queue', id(b.queue), (r) => ({ source: plate, destination: '/tmp/x', queue: r })],
    [
      'a transfer in their queue by code',
      b.queue.code as string,
      (r) => ({ source: plate, destination: '/tmp/x', queue: r }),
    ],
    [
      'a transfer whose task is on their folder',
      id(b.folder),
      (r) => ({
        source: plate,
        destination: '/tmp/x/',
        tasks: [{ source: `share=${r}/plate.exr`, destination: '/tmp/x/p.exr' }],
      }),
    ],
  ];
  for (const [what, ref, data] of ends)
    add(`POST transfer/create: ${what}`, ref, (s, r) => s.create('transfer', data(r)));
  const creates: [string, string, string, (r: string) => Record<string, unknown>][] = [
    ['delivery', 'to their user', id(b.user), (r) => ({ name: 'd', recipients: [r] })],
    ['delivery', 'under their transfer', id(b.transfer), (r) => ({ name: 'd', parent: r })],
    ['delivery', 'of their files', b.folder.code as string, (r) => ({ name: 'd', tasks: [`folder=${r}/plate.exr`] })],
    ['request', 'into their folder', b.folder.code as string, (r) => ({ name: 'r', destination: `folder=${r}/in/` })],
    ['home', 'for their user', id(b.user), (r) => ({ user: r })],
    ['home', 'for their user by e-mail', b.user.code as string, (r) => ({ user: r })],
    ['folder', 'on their volume', id(b.volume), (r) => ({ parent: r, path: 'x', name: 'x' })],
    [
      'acl',
      'for their user',
      id(b.user),
      (r) => ({ entity: `user:${r}`, target: `share:${id(a.folder)}`, read: true }),
    ],
    [
      'acl',
      'on their folder',
      id(b.folder),
      (r) => ({ entity: `user:${a.user.code}`, target: `share:${r}`, read: true }),
    ],
    ['collection', 'of their files', id(b.folder), (r) => ({ name: 'c', files: [`share=${r}/plate.exr`] })],
    ['user', 'in their queue', id(b.queue), (r) => ({ code: 'queued@acme.test', queue: r })],
  ];
  for (const [type, what, ref, data] of creates)
    add(`POST ${type}/create ${what}`, ref, (s, r) => s.create(type, data(r)));
  add('PUT user/edit into their queue', id(b.queue), (s, r) => s.update('user', id(a.user), { queue: r }));
  add('PUT folder/edit into their queue', id(b.queue), (s, r) => s.update('folder', id(a.folder), { queue: r }));
  return cases;
}

/** An answer as it reads with `reference` written as <reference>, and what differs between any two calls left out. */
function comparable(reply: Reply, reference: string): [number, string] {
  const text = reply.text
    .replaceAll(reference, '<reference>')
    .replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, '<uuid>')
    .replace(/[0-9a-f]{24}/g, '<id>')
    .replace(/\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d+)?/g, '<time>');
  return [reply.status, text];
}

describe('two workspaces on one server', () => {
  let test: TestServer;
  let acme: Estate;
  let globex: Estate;
  let cases: Case[];
  let before: Record<string, unknown>;
  /** Every id of the other workspace, which no answer to acme may hold but the one it was asked with. */
  let theirIds: readonly string[];

  beforeAll(async () => {
    test = await serve();
    acme = await populate(test, new RawSession(test.url, test.admin), 'acme');
    globex = await populate(test, await secondWorkspace(test, 'globex'), 'globex');
    cases = isolationCases(acme, globex);
    const theirs = poolsOf(globex);
    theirIds = [...theirs.ids, ...theirs.uuids];
    before = await snapshot(globex);
  });

  const callers = [
    ['an admin', 'admin'],
    ['an employee', 'employee'],
    ['a standard user', 'standard'],
  ] as const;

  it.each(callers)(
    "answers %s of A about B's ids, codes and references exactly as about unknown ones",
    async (_, role) => {
      const caller = role === 'admin' ? acme.admin : (await person(test, 'acme', `${role}@acme.test`, role)).session;
      const differences: string[] = [];
      const compare = async ({ what, reference, call }: Case) => {
        const unknown = unknownLike(reference);
        const expected = comparable(await call(caller, unknown), unknown);
        const reply = await call(caller, reference);
        const got = comparable(reply, reference);
        if (got[0] !== expected[0] || got[1] !== expected[1]) {
          differences.push(
            `${what}: ${got[0]} ${clipped(got[1], 300)}\n    where unknown: ${expected[0]} ${clipped(expected[1], 300)}`,
          );
        }
        // Nothing of B but what was asked with: no name, code or id of theirs.
        const rest = reply.text.replaceAll(reference, '');
        const shown = rest.includes('globex') ? 'globex' : theirIds.find((id) => rest.includes(id));
        if (shown) differences.push(`${what}: the answer shows ${shown}: ${clipped(reply.text, 300)}`);
      };
      // A few cases at once: none of them changes anything, whichever workspace it names.
      for (let at = 0; at < cases.length; at += 8) await Promise.all(cases.slice(at, at + 8).map(compare));
      expect(differences, `${differences.length} of ${cases.length} calls:\n${differences.join('\n')}`).toEqual([]);
      expect(cases.length).toBeGreaterThan(300);
    },
  );

  it('leaves B as it was', async () => {
    expect(await snapshot(globex)).toEqual(before);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// 3. Transfer ends by role, beyond transfer-ends.test.ts

type Role = 'admin' | 'employee' | 'standard';
const ROLES: readonly Role[] = ['admin', 'employee', 'standard'];

/** Paths each caller may or may not use: read where `readable`, not where `unreadable`; write likewise. */
interface Ends {
  readonly readable: string;
  readonly unreadable: string;
  /** Like `unreadable`, but no such file exists. */
  readonly missing: string;
  readonly writable: string;
  readonly unwritable: string;
}

describe('transfer ends by role', () => {
  let test: TestServer;
  let admin: RawSession;
  const callers = new Map<Role, { session: RawSession; ends: Ends; transfer: string; delivery?: string }>();

  beforeAll(async () => {
    test = await serve();
    admin = new RawSession(test.url, test.admin);
    const [volume] = await admin.result<Entity[]>(admin.find('Volume WHERE default=true'));
    const dir = volume?.path as string;
    for (const path of ['shared/out', 'shared/in', 'incoming', 'drop', 'other'])
      mkdirSync(join(dir, path), { recursive: true });
    for (const file of ['shared/out/plate.exr', 'shared/in/exists.mov', 'incoming/ref.png', 'other/ref.png']) {
      writeFileSync(join(dir, file), file);
    }
    await admin.result(admin.create('folder', { parent: 'default', path: 'shared', name: 'Shared' }));
    const sam = await person(test, 'acme', 'sam@acme.test', 'standard');
    const eve = await person(test, 'acme', 'eve@acme.test', 'employee');
    const grant = (who: string, target: string, path: string, read: boolean, write: boolean) =>
      admin.result(admin.create('acl', { entity: `user:${who}`, target, path, read, write }));
    await grant('sam@acme.test', 'share:shared', 'out', true, false);
    await grant('sam@acme.test', 'share:shared', 'in', false, true);
    await grant('eve@acme.test', 'share:default', 'incoming', true, false);
    await grant('eve@acme.test', 'share:default', 'drop', false, true);
    const ends: Record<Role, Ends> = {
      admin: {
        readable: 'volume=default/other/ref.png',
        unreadable: 'volume=default/other/ref.png',
        missing: 'volume=default/other/missing.png',
        writable: 'volume=default/drop/',
        unwritable: 'volume=default/incoming/',
      },
      employee: {
        readable: 'incoming/ref.png',
        unreadable: 'other/ref.png',
        missing: 'other/missing.png',
        writable: 'drop/',
        unwritable: 'incoming/copies/',
      },
      standard: {
        readable: 'folder=shared/out/plate.exr',
        unreadable: 'folder=shared/in/exists.mov',
        missing: 'folder=shared/in/missing.mov',
        writable: 'folder=shared/in/',
        unwritable: 'folder=shared/out/copies/',
      },
    };
    const sessions: Record<Role, RawSession> = { admin, employee: eve.session, standard: sam.session };
    for (const role of ROLES) {
      const caller = sessions[role];
      const [job] = await caller.result<Entity[]>(
        caller.create('transfer', { source: ends[role].readable, destination: ends[role].writable }),
      );
      callers.set(role, { session: caller, ends: ends[role], transfer: job?.id as string });
    }
    // Deliveries are staff's: the employee's own (it has access to a volume), the admin's; the standard user receives.
    for (const role of ['admin', 'employee'] as const) {
      const caller = callers.get(role) as { session: RawSession; ends: Ends; transfer: string; delivery?: string };
      const [delivery] = await caller.session.result<Entity[]>(
        caller.session.create('delivery', {
          name: 'Plates',
          tasks: [caller.ends.readable],
          recipients: ['sam@acme.test'],
        }),
      );
      caller.delivery = delivery?.id as string;
    }
    const standard = callers.get('standard') as { delivery?: string };
    standard.delivery = callers.get('employee')?.delivery;
  });

  const taskCount = async (job: string) => (await admin.result<Entity[]>(admin.find('Task', { parent: job }))).length;

  /**
   * Who may: Y or n for admin, employee and standard user (each with the paths of `Ends`), the call, what a refusal
   * says, and the job whose tasks must not change when it is refused.
   */
  const CASES: readonly {
    readonly what: string;
    readonly verdict: `${'Y' | 'n'}${'Y' | 'n'}${'Y' | 'n'}`;
    readonly call: (caller: { session: RawSession; ends: Ends; transfer: string; delivery?: string }) => Promise<Reply>;
    readonly refusal: RegExp;
    readonly job?: (caller: { transfer: string; delivery?: string }) => string;
  }[] = [
    {
      what: 'appends to its transfer a task from a path it may not read',
      verdict: 'Ynn',
      call: ({ session: s, ends, transfer }) =>
        s.create('task', { tasks: [{ source: ends.unreadable, destination: '/tmp/in/a' }] }, transfer),
      refusal: /^Permission denied: you may not read tasks\[0\]\.source ".+"\.$/,
      job: ({ transfer }) => transfer,
    },
    {
      what: 'appends to its transfer a task to a path it may not write',
      verdict: 'Ynn',
      call: ({ session: s, ends, transfer }) =>
        s.create('task', { tasks: [{ source: '/tmp/out/a.mov', destination: `${ends.unwritable}a.mov` }] }, transfer),
      refusal: /^Permission denied: you may not write to tasks\[0\]\.destination ".+"\.$/,
      job: ({ transfer }) => transfer,
    },
    {
      what: 'appends a task that reads what it may read and writes where it may write',
      verdict: 'YYY',
      call: ({ session: s, ends, transfer }) =>
        s.create('task', { tasks: [{ source: ends.readable, destination: `${ends.writable}b.mov` }] }, transfer),
      refusal: /never/,
    },
    {
      what: 'creates a transfer one of whose tasks reads what it may not',
      verdict: 'Ynn',
      call: ({ session: s, ends }) =>
        s.create('transfer', {
          source: ends.readable,
          destination: '/tmp/in/',
          tasks: [
            { source: ends.readable, destination: '/tmp/in/ok' },
            { source: ends.unreadable, destination: '/tmp/in/x' },
          ],
        }),
      refusal: /^Permission denied: you may not read tasks\[1\]\.source ".+"\.$/,
    },
    {
      what: 'creates a transfer one of whose tasks writes where it may not',
      verdict: 'Ynn',
      call: ({ session: s, ends }) =>
        s.create('transfer', {
          source: ends.readable,
          destination: ends.writable,
          tasks: [{ source: ends.readable, destination: `${ends.unwritable}x` }],
        }),
      refusal: /^Permission denied: you may not write to tasks\[0\]\.destination ".+"\.$/,
    },
    {
      what: 'appends to a delivery a file it may not read',
      verdict: 'Ynn',
      call: ({ session: s, ends, delivery }) => s.create('task', { tasks: [ends.unreadable] }, delivery as string),
      refusal:
        /^Permission denied: (you may not read tasks\[0\]\.source ".+"|a standard user may not edit deliveries)\.$/,
      job: ({ delivery }) => delivery as string,
    },
  ];

  for (const { what, verdict, call, refusal, job } of CASES) {
    for (const [i, role] of ROLES.entries()) {
      const may = verdict[i] === 'Y';
      it(`${role} ${may ? 'may' : 'may not'}: ${what}`, async () => {
        const caller = callers.get(role) as { session: RawSession; ends: Ends; transfer: string; delivery?: string };
        const before = job ? await taskCount(job(caller)) : 0;
        const reply = await call(caller);
        if (may) {
          expect(reply.status, reply.text).toBe(200);
          return;
        }
        expect(reply.status, reply.text).toBe(403);
        expect(reply.json.message).toMatch(refusal);
        if (job) expect(await taskCount(job(caller))).toBe(before);
      });
    }
  }

  it.each(ROLES)('%s: cannot change the ends of a transfer or a task once made', async (role) => {
    const { session: s, ends, transfer } = callers.get(role) as { session: RawSession; ends: Ends; transfer: string };
    const [stored] = await admin.result<Entity[]>(admin.call('GET', 'transfer/find', {}, { id: transfer }));
    const tasks = await admin.result<Entity[]>(admin.find('Task', { parent: transfer }));
    for (const end of ['source', 'destination']) {
      const edit = await s.update('transfer', transfer, { [end]: ends.unreadable });
      expect([edit.status, edit.json.message]).toEqual([400, `transfer.${end} cannot be changed.`]);
      const task = await s.update('task', transfer, [{ uri: '0', [end]: ends.unreadable }]);
      expect([task.status, task.json.message]).toEqual([400, `task.${end} cannot be changed.`]);
    }
    expect(await admin.result(admin.call('GET', 'transfer/find', {}, { id: transfer }))).toEqual([stored]);
    expect(await admin.result(admin.find('Task', { parent: transfer }))).toEqual(tasks);
  });

  it.each(['employee', 'standard'] as const)(
    '%s: a source it may not read is refused alike whether the file exists or not',
    async (role) => {
      const { session: s, ends } = callers.get(role) as { session: RawSession; ends: Ends };
      const answer = async (path: string) => {
        const reply = await s.create('transfer', { source: path, destination: '/tmp/in/' });
        return [reply.status, reply.text.replaceAll(path, '<path>')];
      };
      const existing = await answer(ends.unreadable);
      expect(existing[0]).toBe(403);
      expect(await answer(ends.missing)).toEqual(existing);
    },
  );
});

// ---------------------------------------------------------------------------------------------------------------
// 4. A share's path stays in its volume

describe("a folder's or home's path stays in its volume", () => {
  let test: TestServer;
  let admin: RawSession;
  let employee: RawSession;
  let volumeDir: string;
  let outside: string;
  /** The outside folder as a path from the default volume's directory: ../../.. then its name. */
  let climb: string;

  beforeAll(async () => {
    test = await serve();
    admin = new RawSession(test.url, test.admin);
    employee = (await person(test, 'acme', 'eve@acme.test', 'employee')).session;
    const [volume] = await admin.result<Entity[]>(admin.find('Volume WHERE default=true'));
    volumeDir = volume?.path as string;
    // A folder of this test's own, beside the server's data directory, with a file in it that must stay.
    outside = mkdtempSync(join(tmpdir(), 'accsyn-security-outside-'));
    cleanups.push(() => rmSync(outside, { recursive: true, force: true }));
    mkdirSync(join(outside, 'keep'));
    writeFileSync(join(outside, 'keep', 'canary.txt'), 'canary');
    climb = relative(volumeDir, outside);
    expect(climb.startsWith('../')).toBe(true);
  });

  const untouched = () => expect(filesUnder(outside)).toEqual({ 'keep/': 0, 'keep/canary.txt': 6 });

  it('refuses, to an admin and an employee, a folder or home whose path holds "..", and makes none', async () => {
    for (const path of [climb, `${climb}/keep`, '../x', 'a/../../x', 'a/..']) {
      for (const caller of [admin, employee]) {
        const folder = await caller.create('folder', { parent: 'default', path, name: 'Escape' });
        expect([folder.status, folder.json.message]).toEqual([
          400,
          `folder.path must stay inside its volume: ".." cannot be in it, as in '${path}'.`,
        ]);
      }
      const home = await admin.create('home', { user: 'eve@acme.test', path });
      expect([home.status, home.json.message]).toEqual([
        400,
        `home.path must stay inside its volume: ".." cannot be in it, as in '${path}'.`,
      ]);
    }
    expect(await admin.result(admin.find('Folder WHERE name=Escape'))).toEqual([]);
    expect(await admin.result(admin.find('Home'))).toEqual([]);
    untouched();
  });

  it('answers 409 for a share whose stored path climbs out (made before this check), and touches nothing there', async () => {
    const [folder] = await admin.result<Entity[]>(
      admin.create('folder', { parent: 'default', path: 'legacy', name: 'Legacy' }),
    );
    await sql`UPDATE shares SET path = ${`${climb}/keep`} WHERE id = ${folder?.id}`.execute(test.server.store.db);
    mkdirSync(join(volumeDir, 'inside'), { recursive: true });
    writeFileSync(join(volumeDir, 'inside', 'a.txt'), 'a');
    const [collection] = await admin.result<Entity[]>(admin.create('collection', { name: 'Gathered' }));
    const refusal = [409, "The folder 'legacy' lies outside its volume: an admin must correct its path."];
    const calls: [string, () => Promise<Reply>][] = [
      ['ls', () => admin.call('GET', 'workspace/file', { op: 'ls', path: 'folder=legacy' })],
      ['getsize', () => admin.call('GET', 'workspace/file', { op: 'getsize', path: 'folder=legacy/canary.txt' })],
      ['exists', () => admin.call('GET', 'workspace/file', { op: 'exists', path: 'folder=legacy/canary.txt' })],
      ['mkdir', () => admin.call('POST', 'workspace/file', { op: 'mkdir', path: 'folder=legacy/made' })],
      ['delete', () => admin.call('POST', 'workspace/file', { op: 'delete', path: 'folder=legacy/canary.txt' })],
      [
        'rename',
        () => admin.call('PUT', 'workspace/file', { op: 'rename', path: 'folder=legacy/canary.txt', path_to: 'x' }),
      ],
      [
        'move out',
        () =>
          admin.call('PUT', 'workspace/file', {
            op: 'move',
            path: 'folder=legacy/canary.txt',
            path_to: 'volume=default/inside',
          }),
      ],
      [
        'move in',
        () =>
          admin.call('PUT', 'workspace/file', {
            op: 'move',
            path: 'volume=default/inside/a.txt',
            path_to: 'folder=legacy',
          }),
      ],
    ];
    for (const [what, call] of calls) {
      const reply = await call();
      expect([reply.status, reply.json.message], what).toEqual(refusal);
    }
    const added = await admin.call(
      'POST',
      'file/add',
      { files: ['folder=legacy/canary.txt'] },
      { id: collection?.id as string },
    );
    expect([added.status, added.json.message]).toEqual([409, `files[0]: ${refusal[1]}`]);
    untouched();
    expect(existsSync(join(volumeDir, 'inside', 'a.txt'))).toBe(true);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// 5. Limits of the HTTP layer that hardening-net.test.ts and fuzz.test.ts leave out

/** An answer read off a raw socket after sending `parts` one by one; the server may answer and close early. */
function exchange(
  url: string,
  parts: readonly (string | Buffer)[],
): Promise<{ status: number; headers: string; body: string }> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect({ host: hostname, port: Number(port) });
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', () => {});
    socket.on('close', () => {
      const raw = Buffer.concat(chunks);
      const end = raw.indexOf('\r\n\r\n');
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(raw.toString('latin1'))?.[1]);
      if (end === -1 || !status) return reject(new Error(`no answer: ${raw.toString().slice(0, 200)}`));
      const headers = raw.subarray(0, end).toString('latin1').toLowerCase();
      const length = Number(/^content-length: (\d+)$/m.exec(headers)?.[1] ?? raw.length);
      resolve({ status, headers, body: raw.subarray(end + 4, end + 4 + length).toString() });
    });
    socket.once('connect', async () => {
      for (const part of parts) {
        if (socket.destroyed) return;
        if (!socket.write(part)) await new Promise((drained) => socket.once('drain', drained).once('close', drained));
      }
    });
    socket.setTimeout(15_000, () => socket.destroy());
  });
}

describe('limits', () => {
  const BODY_LIMIT = 65_536;
  let test: TestServer;
  let session: string;

  beforeAll(async () => {
    test = await serve(['--body-limit', String(BODY_LIMIT)]);
    session = ((await login(test.url, test.admin)).json.result as { session_id: string }).session_id;
  });

  /** An answer in the protocol's JSON: a message and nothing else, naming no library. */
  function expectRefusal(reply: { status: number; headers: string; body: string }, status: number, message: string) {
    expect(reply.status, reply.body).toBe(status);
    expect(JSON.parse(reply.body)).toEqual({ message });
    expect(reply.headers).toMatch(/^content-type: application\/json/m);
    expect(reply.headers).toMatch(/^x-content-type-options: nosniff$/m);
  }

  const headerLines = (extra: Record<string, string> = {}) =>
    Object.entries({ Host: 'test', ...authHeaders(test.admin), ...extra, Connection: 'close' })
      .map(([name, value]) => `${name}: ${value}\r\n`)
      .join('');

  const envelopeWith = (data: string) =>
    objectOf([
      ['audience', '"api"'],
      ['workspace', JSON.stringify(test.admin.workspace)],
      ['session', JSON.stringify(session)],
      ['uri', '"setting"'],
      ['ident', JSON.stringify(test.admin.user)],
      ['data', data],
    ]);

  it('takes a body just under --body-limit, sent whole or in chunks', async () => {
    const body = envelopeWith(
      `{"entitytype": "user", "name": "download_directory", "value": "/dl"${' '.repeat(BODY_LIMIT - 1000)}}`,
    );
    const whole = await exchange(test.url, [
      `PUT /api/v3/event HTTP/1.1\r\n${headerLines({ 'Content-Length': String(body.length) })}\r\n`,
      body,
    ]);
    expect(whole.status, whole.body).toBe(200);
    const chunked = await exchange(test.url, [
      `PUT /api/v3/event HTTP/1.1\r\n${headerLines({ 'Transfer-Encoding': 'chunked' })}\r\n`,
      `${body.length.toString(16)}\r\n${body}\r\n0\r\n\r\n`,
    ]);
    expect(chunked.status, chunked.body).toBe(200);
  });

  it('refuses a body over --body-limit with 413 in JSON: chunked with no length, and on the login route', async () => {
    const chunk = `${'x'.repeat(16_384)}`;
    const chunked = await exchange(test.url, [
      `PUT /api/v3/event HTTP/1.1\r\n${headerLines({ 'Transfer-Encoding': 'chunked' })}\r\n`,
      ...Array.from({ length: 8 }, () => `${chunk.length.toString(16)}\r\n${chunk}\r\n`),
      '0\r\n\r\n',
    ]);
    expectRefusal(chunked, 413, 'The request body is too large.');
    const body = `{"x": "${'y'.repeat(BODY_LIMIT)}"}`;
    const loginBody = await exchange(test.url, [
      `PUT /api/v3/api/login HTTP/1.1\r\n${headerLines({ 'Content-Length': String(body.length) })}\r\n`,
      body,
    ]);
    expectRefusal(loginBody, 413, 'The request body is too large.');
  });

  it('refuses one header, or many, past the 512 KB of request line and headers with 431 in JSON', async () => {
    const message = 'The request line and headers are larger than 524288 bytes.';
    const one = await exchange(test.url, [
      `GET /healthz HTTP/1.1\r\n${headerLines({ 'X-Big': 'b'.repeat(600_000) })}\r\n`,
    ]);
    expectRefusal(one, 431, message);
    const many = Object.fromEntries(Array.from({ length: 3_000 }, (_, i) => [`X-Many-${i}`, 'm'.repeat(200)]));
    expectRefusal(await exchange(test.url, [`GET /healthz HTTP/1.1\r\n${headerLines(many)}\r\n`]), 431, message);
  });

  it('refuses gz_data that inflates past 32 MiB with 413: many gzip members in a small body, or one in a GET', async () => {
    const message = 'gz_data decompresses to more than 33554432 bytes';
    const member = gzipSync(Buffer.alloc(1024 * 1024));
    // 40 members of 1 MiB of zeros each: 40 KB of gzip, 40 MiB once inflated, in a body under the limit.
    const members = Buffer.concat(Array.from({ length: 40 }, () => member)).toString('base64');
    const envelope = (gz: string) => envelopeWith('{}').replace('"data": {}', `"gz_data": ${JSON.stringify(gz)}`);
    const body = envelope(members);
    expect(body.length).toBeLessThan(BODY_LIMIT);
    const put = await exchange(test.url, [
      `PUT /api/v3/event HTTP/1.1\r\n${headerLines({ 'Content-Length': String(body.length) })}\r\n`,
      body,
    ]);
    expectRefusal(put, 413, message);
    // 100 MiB of zeros in one member: some 100 KB of gzip, which a GET carries in its query string.
    const query = queryStringOf(envelope(gzipSync(Buffer.alloc(100 * 1024 * 1024)).toString('base64')));
    expect(query.length).toBeLessThan(400_000);
    const get = await exchange(test.url, [`GET /api/v3/event?${query} HTTP/1.1\r\n${headerLines()}\r\n`]);
    expectRefusal(get, 413, message);
    expect(
      (await exchange(test.url, [`GET /healthz HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n`])).status,
    ).toBe(200);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// What the fuzz found, one input each

describe('found by the fuzz', () => {
  let test: TestServer;
  let admin: RawSession;

  beforeAll(async () => {
    test = await serve();
    admin = new RawSession(test.url, test.admin);
    await admin.result(admin.create('user', { code: 'lisa@example.com' }));
  });

  it('answers activate and deactivate of an ACL named by a bare text with 404, not a "no column code_folded" 500', async () => {
    const [acl] = await admin.result<Entity[]>(
      admin.create('acl', { entity: 'user:lisa@example.com', target: 'share:default', path: 'x', read: true }),
    );
    for (const [method, operation] of [
      ['POST', 'activate'],
      ['DELETE', 'deactivate'],
    ] as const) {
      const reply = await admin.call(method, `acl/${operation}`, {}, { query: 'lisa@example.com' });
      expect([reply.status, reply.json.message]).toEqual([
        404,
        "There is no acl 'lisa@example.com', or you may not see it.",
      ]);
    }
    // An ACL's id, as the bare text, still names it.
    expect(await admin.result(admin.call('DELETE', 'acl/deactivate', {}, { query: acl?.id as string }))).toBe(true);
    expect(await admin.result(admin.call('POST', 'acl/activate', {}, { query: acl?.id as string }))).toBe(true);
  });
});
