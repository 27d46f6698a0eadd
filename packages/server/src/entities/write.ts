import { randomUUID } from 'node:crypto';
import { type EntityTypeSpec, FINISHED_JOB_STATUSES, JOB_TYPES, type Role } from 'accsyn-protocol';
import { closeMatches, fold } from 'accsyn-query';
import { type Kysely, sql } from 'kysely';
import type { EventContext } from '../events.js';
import { badRequest, HttpError } from '../http/errors.js';
import { isId, newId } from '../store/ids.js';
import type { Tables } from '../store/tables.js';
import { capitalise, checkOwnership, checkRole, readable, volumeAccess } from './access.js';
import { defaultVolume, type ResolvedEndpoint, resolveEndpoint } from './endpoints.js';
import {
  foldedColumns,
  insertRow,
  type Row,
  readableAttributes,
  SUBTYPE_COLUMN,
  TABLES,
  toColumn,
  typeNamed,
  updateRow,
} from './model.js';
import { present } from './present.js';
import { idsByCode } from './references.js';

/**
 * create, edit, delete, activate and deactivate (reference §2.4). Every write is checked (role, then the stored
 * entity's ownership), validated whole before anything is written, and written in one transaction, so that a
 * refused or failed call leaves nothing behind.
 */

type Db = Kysely<Tables>;

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

/** Keys a create payload may carry beside the type's attributes, handled by the type's own code. */
const EXTRA_KEYS: Readonly<Record<string, readonly string[]>> = {
  transfer: ['tasks', 'settings', 'hooks', 'append', 'allow_duplicates', 'mirror_paths'],
  delivery: ['tasks', 'recipients', 'allow_duplicates'],
  request: ['recipients', 'allow_duplicates'],
  task: ['tasks', 'allow_duplicates'],
  user: ['create_home_share', 'give_all_volumes_access', 'give_default_volume_access', 'volumes', 'message', 'mail'],
  volume: ['server', 'siteservers'],
  acl: ['notify', 'message', 'invite'],
};

function objectOf(data: unknown, what: string): Record<string, unknown> {
  if (typeof data !== 'object' || data === null || Array.isArray(data))
    throw badRequest(`${what}: data must be an object.`);
  return data as Record<string, unknown>;
}

/** The attribute values of `data` as columns; refuses unknown attributes and those the operation may not set. */
function columnsOf(spec: EntityTypeSpec, data: Record<string, unknown>, operation: 'create' | 'edit'): Row {
  const row: Row = {};
  const extras = operation === 'create' ? (EXTRA_KEYS[spec.name] ?? []) : [];
  for (const [key, value] of Object.entries(data)) {
    const name = key.toLowerCase();
    if (extras.includes(name)) continue;
    const attribute = spec.attributes[name];
    if (!attribute) {
      const close = closeMatches(name, Object.keys(spec.attributes));
      throw badRequest(
        `${spec.name} has no attribute '${key}'${close.length > 0 ? `; did you mean ${close.join(' or ')}?` : '.'}`,
      );
    }
    if (operation === 'create' ? !attribute.create : !attribute.update) {
      throw badRequest(
        operation === 'create'
          ? `${spec.name}.${name} cannot be given when creating a ${spec.name}.`
          : `${spec.name}.${name} cannot be changed.`,
      );
    }
    row[name] = toColumn(spec, name, value);
  }
  if (typeof row.status === 'string') {
    const allowed = operation === 'edit' ? spec.writableStatuses : [...spec.writableStatuses, 'init'];
    if (!allowed.includes(row.status)) {
      throw badRequest(
        `${spec.name} status '${row.status}' cannot be set; the statuses you may set are ${allowed.join(', ')}.`,
      );
    }
  }
  for (const [name, attribute] of Object.entries(spec.attributes)) {
    if (operation === 'create' && attribute.required && (row[name] === undefined || row[name] === '')) {
      throw badRequest(`A new ${spec.name} needs ${name}.`);
    }
  }
  return row;
}

/** The entity `id` of `spec` as stored, when the caller may see it; a 404 otherwise, which tells nothing more. */
export async function visibleRow(context: EventContext, spec: EntityTypeSpec, id: unknown): Promise<Row> {
  if (typeof id !== 'string' || !isId(id)) {
    throw badRequest(`${spec.name}: the envelope's id must be an id (24 lowercase letters and digits).`);
  }
  const { caller } = context;
  const subtype = SUBTYPE_COLUMN[spec.family];
  const row = await sql<Row>`SELECT e.* FROM ${sql.table(TABLES[spec.family])} e WHERE e.id = ${id}
    AND ${spec.family === 'workspace' ? sql`e.id` : sql`e.workspace`} = ${caller.workspace.id}
    AND ${readable(spec, caller)}
    ${subtype && spec.subtypes ? sql`AND ${sql.ref(`e.${subtype}`)} IN (${sql.join(spec.subtypes)})` : sql``}`
    .execute(context.store.db)
    .then((result) => result.rows[0]);
  if (!row) throw new HttpError(404, `There is no ${spec.name} ${id}, or you may not see it.`);
  return row;
}

function checkWrite(context: EventContext, spec: EntityTypeSpec, row: Row): Promise<void> {
  const db = context.store.db;
  return checkOwnership(spec, context.caller, row, {
    roleOf: async (userId) =>
      (await db.selectFrom('users').select('role').where('id', '=', userId).executeTakeFirst())?.role,
    shareOf: async (shareId) =>
      (
        await sql<{ type: string; user: string | null }>`SELECT type, "user" FROM shares WHERE id = ${shareId}`.execute(
          db,
        )
      ).rows[0],
  });
}

/** A job the caller can see, whatever its type: a transfer, a delivery, a request or a queue. */
async function visibleJob(context: EventContext, id: unknown): Promise<{ spec: EntityTypeSpec; row: Row }> {
  const found =
    typeof id === 'string'
      ? await sql<{ type: number }>`SELECT type FROM jobs WHERE id = ${id}`.execute(context.store.db)
      : undefined;
  const name = Object.entries(JOB_TYPES).find(([, type]) => type === found?.rows[0]?.type)?.[0] ?? 'transfer';
  const spec = typeNamed(name);
  return { spec, row: await visibleRow(context, spec, id) };
}

/**
 * Replaces each reference among `row`'s values, given as an id or a code, by the id of an entity of the caller's
 * workspace it names; a reference to nothing there is a 400, so no entity ever points into another workspace.
 */
async function resolveReferences(context: EventContext, spec: EntityTypeSpec, row: Row): Promise<void> {
  const workspace = context.caller.workspace.id;
  for (const [name, value] of Object.entries(row)) {
    const attribute = spec.attributes[name];
    if (attribute?.type !== 'ref' || typeof value !== 'string') continue;
    const families = attribute.refs ?? [];
    let id: string | undefined;
    for (const family of families) {
      const table = sql.table(TABLES[family]);
      const found = await sql<{ id: string }>`SELECT id FROM ${table} WHERE workspace = ${workspace}
        AND (id = ${value} OR code_folded = ${fold(value)})`.execute(context.store.db);
      id ??= found.rows[0]?.id;
    }
    if (!id)
      throw badRequest(`${spec.name}.${name}: there is no ${families.join(' or ')} '${value}' in this workspace.`);
    row[name] = id;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// create

interface Prepared {
  readonly row: Row;
  /** Writes what goes with the row (tasks, recipients), in the same transaction. */
  readonly after?: (db: Db, id: string, now: string) => Promise<void>;
}

export async function create(context: EventContext, spec: EntityTypeSpec): Promise<unknown[]> {
  checkRole(spec, context.caller, 'create');
  if (spec.name === 'task') return createTasks(context);
  const data = objectOf(context.envelope.data, `${spec.name}/create`);
  if (Object.keys(data).length === 0) throw badRequest(`A new ${spec.name} needs data.`);
  const now = new Date().toISOString();
  const { caller } = context;
  const given = columnsOf(spec, data, 'create');
  await resolveReferences(context, spec, given);
  const prepared = await prepare(context, spec, data, given);
  await checkWrite(context, spec, prepared.row);
  const row: Row = {
    id: newId(),
    workspace: caller.workspace.id,
    created: now,
    creator: caller.user.id,
    modified: now,
    modifier: caller.user.id,
    ...prepared.row,
  };
  if (spec.subtypes && SUBTYPE_COLUMN[spec.family]) row[SUBTYPE_COLUMN[spec.family] as string] = spec.subtypes[0];
  Object.assign(row, foldedColumns(row));
  await context.store.db
    .transaction()
    .execute(async (trx) => {
      if (prepared.row.id) {
        await updateRow(trx, TABLES[spec.family], row.id as string, row);
      } else {
        await insertRow(trx, TABLES[spec.family], row);
      }
      await prepared.after?.(trx, row.id as string, now);
    })
    .catch((error: unknown) => {
      throw uniqueViolation(error, spec, row) ?? error;
    });
  // Granting again updates the ACL and answers true, as the official tests expect of grant.
  if (spec.name === 'acl' && prepared.row.id) return [true];
  return presentOne(context, spec, row.id as string);
}

function uniqueViolation(error: unknown, spec: EntityTypeSpec, row: Row): HttpError | undefined {
  const text = String((error as Error)?.message ?? '');
  if (!/UNIQUE|unique/.test(text)) return undefined;
  return new HttpError(409, `A ${spec.name} with the code '${row.code}' exists already.`);
}

async function presentOne(context: EventContext, spec: EntityTypeSpec, id: string): Promise<Row[]> {
  const row = await sql<Row>`SELECT * FROM ${sql.table(TABLES[spec.family])} WHERE id = ${id}`.execute(
    context.store.db,
  );
  return present(context, spec, row.rows, readableAttributes(spec, context.caller.user.role));
}

/** A code made from a name: lowercase letters, digits and dashes. */
function slug(name: string): string {
  return (
    fold(name)
      .normalize('NFKD')
      .replace(/[\u0300-\u036f]/g, '')
      .replace(/[^a-z0-9]+/g, '-')
      .replace(/^-+|-+$/g, '') || 'x'
  );
}

async function prepare(
  context: EventContext,
  spec: EntityTypeSpec,
  data: Record<string, unknown>,
  row: Row,
): Promise<Prepared> {
  const { caller, store } = context;
  const workspace = caller.workspace.id;
  switch (spec.name) {
    case 'user': {
      const code = String(row.code).trim();
      if (!EMAIL.test(code)) throw badRequest(`user.code must be an e-mail address, not '${code}'.`);
      const role = (row.role as Role | undefined) ?? 'standard';
      if (caller.user.role !== 'admin' && role !== 'standard') {
        throw new HttpError(403, 'Permission denied: only an admin may create admins and employees.');
      }
      // A deleted user comes back with the same id: the account is kept, as accsyn keeps the central account.
      const archived = await store.db
        .selectFrom('users')
        .select('id')
        .where('workspace', '=', workspace)
        .where('code_folded', '=', fold(code))
        .executeTakeFirst();
      if (archived) {
        const live = await store.db
          .selectFrom('users')
          .select('id')
          .where('id', '=', archived.id)
          .where('archived', 'is', null)
          .executeTakeFirst();
        if (live) throw new HttpError(409, `A user ${code} exists already.`);
      }
      return {
        row: {
          ...(archived ? { id: archived.id, archived: null, inactive: 0 } : {}),
          name: code.split('@')[0],
          status: 'enabled',
          inactive: 0,
          ...row,
          code,
          role,
        },
      };
    }
    case 'queue': {
      const priority = (row.priority as number | undefined) ?? 500;
      if (priority < 0 || priority > 1000) throw badRequest('queue.priority must be from 0 to 1000.');
      const code = (row.code as string | undefined) ?? slug(String(row.name));
      return { row: { status: 'waiting', default: 0, ...row, code, priority, uri: code } };
    }
    case 'transfer':
      return prepareTransfer(context, data, row);
    case 'delivery':
    case 'request':
      return prepareDelivery(context, spec, data, row);
    case 'volume': {
      const code = (row.code as string | undefined) ?? slug(String(row.name ?? ''));
      return { row: { status: 'enabled', default: 0, name: code, ...row, code, type: 'volume' } };
    }
    case 'folder':
    case 'home': {
      const parentText = row.parent ?? (await defaultVolume(store, workspace));
      const parent = await shareId(context, parentText, 'volume', `${spec.name}.parent`);
      let user: string | null = null;
      if (spec.name === 'home') {
        user = await userId(context, row.user, 'home.user');
        const email = (
          await store.db.selectFrom('users').select('code').where('id', '=', user).executeTakeFirstOrThrow()
        ).code;
        return {
          row: {
            status: 'enabled',
            inactive: 0,
            name: email,
            code: `home-${slug(email)}`,
            path: `home/${email}`,
            ...row,
            parent,
            user,
            type: 'home',
          },
        };
      }
      if (typeof row.path !== 'string' || row.path.trim() === '')
        throw badRequest('A new folder needs path, its directory on the volume.');
      const name = (row.name as string | undefined) ?? row.path;
      return {
        row: {
          status: 'enabled',
          inactive: 0,
          ...row,
          name,
          code: (row.code as string | undefined) ?? slug(String(name)),
          parent,
          type: 'folder',
        },
      };
    }
    case 'collection': {
      const files = data.files ?? [];
      if (!Array.isArray(files))
        throw badRequest('collection.files must be a list of paths such as "volume=assets/a.mov".');
      for (const [i, file] of files.entries()) {
        const { endpoint } = await resolveEndpoint(store, caller, file, `files[${i}]`);
        if (endpoint.location.kind === 'local')
          throw badRequest(`files[${i}]: a collection takes share paths, not local ones.`);
      }
      const name = String(row.name ?? '');
      if (!name) throw badRequest('A new collection needs name.');
      return {
        row: {
          status: 'enabled',
          inactive: 0,
          ...row,
          code: (row.code as string | undefined) ?? slug(name),
          type: 'collection',
        },
      };
    }
    case 'site': {
      const code = (row.code as string | undefined) ?? slug(String(row.name ?? ''));
      return { row: { status: 'enabled', main: 0, accsyn: 0, name: code, ...row, code } };
    }
    case 'acl':
      return prepareAcl(context, row);
    default:
      throw badRequest(`${capitalise(spec.name)}s cannot be created through the API.`);
  }
}

async function userId(context: EventContext, value: unknown, what: string): Promise<string> {
  if (typeof value !== 'string') throw badRequest(`${what} must be a user's id or e-mail.`);
  const found = isId(value)
    ? [value]
    : (await idsByCode(context.store, context.caller.workspace.id, ['user'], value)).map((f) => f.id);
  const id = found[0];
  const live =
    id &&
    (await context.store.db
      .selectFrom('users')
      .select('id')
      .where('id', '=', id)
      .where('workspace', '=', context.caller.workspace.id)
      .where('archived', 'is', null)
      .executeTakeFirst());
  if (!live) throw badRequest(`${what}: there is no user '${value}' in this workspace.`);
  return live.id;
}

async function shareId(context: EventContext, value: unknown, type: string | undefined, what: string): Promise<string> {
  if (typeof value !== 'string') throw badRequest(`${what} must be a ${type ?? 'share'}'s id or code.`);
  const row = await sql<{ id: string }>`SELECT id FROM shares WHERE workspace = ${context.caller.workspace.id}
    AND archived IS NULL ${type ? sql`AND type = ${type}` : sql``}
    AND (id = ${value} OR code_folded = ${fold(value)})`.execute(context.store.db);
  const id = row.rows[0]?.id;
  if (!id) throw badRequest(`${what}: there is no ${type ?? 'share'} '${value}' in this workspace.`);
  return id;
}

/** A job's queue: given by id or code, else the workspace's default queue. */
async function queueOf(context: EventContext, value: unknown): Promise<string | null> {
  if (value !== undefined && value !== null && typeof value !== 'string') {
    throw badRequest("transfer.queue must be a queue's id or code.");
  }
  const which = typeof value === 'string' ? sql`(id = ${value} OR code_folded = ${fold(value)})` : sql`"default" = 1`;
  const found = await sql<{ id: string }>`SELECT id FROM jobs WHERE workspace = ${context.caller.workspace.id}
    AND type = 2 AND archived IS NULL AND ${which}`.execute(context.store.db);
  const id = found.rows[0]?.id ?? null;
  if (!id && typeof value === 'string')
    throw badRequest(`transfer.queue: there is no queue '${value}' in this workspace.`);
  return id;
}

interface TaskSpec {
  readonly uri: string;
  readonly source: ResolvedEndpoint;
  readonly destination: ResolvedEndpoint;
}

/**
 * The tasks of a create payload: a list of paths or of {source, destination}, or an object keyed by task uri. A
 * bare path is taken from the job's source and sent to the job's destination under the same relative path.
 */
async function taskSpecs(
  context: EventContext,
  tasks: unknown,
  job: { source?: unknown; destination?: unknown },
  firstUri: number,
): Promise<TaskSpec[]> {
  const entries: [string | undefined, unknown][] =
    tasks === undefined || tasks === null
      ? job.source !== undefined
        ? [[undefined, { source: job.source, destination: job.destination }]]
        : []
      : Array.isArray(tasks)
        ? tasks.map((task) => [undefined, task])
        : typeof tasks === 'object'
          ? 'source' in (tasks as object)
            ? [[undefined, tasks]]
            : Object.entries(tasks as object)
          : (() => {
              throw badRequest(
                'tasks must be a list of paths or of {"source", "destination"}, or an object keyed by uri.',
              );
            })();
  const specs: TaskSpec[] = [];
  for (const [i, [uri, task]] of entries.entries()) {
    const fromJob = tasks === undefined || tasks === null;
    const what = fromJob ? '' : `tasks[${uri ?? i}]`;
    const pair =
      typeof task === 'string'
        ? {
            source: job.source === undefined ? task : joinPath(job.source, task),
            destination: job.destination === undefined ? task : joinPath(job.destination, task),
          }
        : (task as Record<string, unknown>);
    if (typeof pair !== 'object' || pair === null || Array.isArray(pair)) {
      throw badRequest(`${what} must be a path or {"source", "destination"}.`);
    }
    const source = pair.source ?? job.source;
    const destination = pair.destination ?? job.destination;
    const label = (end: string) => (what ? `${what}.${end}` : end);
    if (source === undefined) throw badRequest(`${label('source')} is missing.`);
    if (destination === undefined) throw badRequest(`${label('destination')} is missing.`);
    specs.push({
      uri: uri ?? String(firstUri + i),
      source: await resolveEndpoint(context.store, context.caller, source, label('source')),
      destination: await resolveEndpoint(context.store, context.caller, destination, label('destination')),
    });
  }
  return specs;
}

function joinPath(base: unknown, path: string): string {
  return typeof base === 'string' ? `${base.replace(/\/+$/, '')}/${path.replace(/^\/+/, '')}` : path;
}

async function insertTasks(db: Db, workspace: string, job: string, specs: readonly TaskSpec[], now: string) {
  if (specs.length === 0) return;
  await db
    .insertInto('tasks')
    .values(
      specs.map((task) => ({
        id: randomUUID(),
        workspace,
        job,
        uri: task.uri,
        status: 'queued',
        priority: 500,
        source: JSON.stringify(task.source.end),
        destination: JSON.stringify(task.destination.end),
        created: now,
        modified: now,
      })),
    )
    .execute();
}

async function prepareTransfer(context: EventContext, data: Record<string, unknown>, row: Row): Promise<Prepared> {
  const { caller } = context;
  const specs = await taskSpecs(context, data.tasks, { source: data.source, destination: data.destination }, 0);
  if (specs.length === 0) throw badRequest('A new transfer needs a source and a destination, or tasks.');
  const first = specs[0] as TaskSpec;
  const name =
    (row.name as string | undefined) ?? (row.code as string | undefined) ?? lastSegment(first.source.end.path);
  // The parent is a queue or a delivery; either way a job the caller can see.
  if (typeof row.parent === 'string') await visibleJob(context, row.parent);
  if (data.append === true) {
    const existing = await sql<{ id: string }>`SELECT id FROM jobs WHERE workspace = ${caller.workspace.id} AND type = 1
      AND "user" = ${caller.user.id} AND code_folded = ${fold(String(name))} AND archived IS NULL
      ORDER BY created DESC LIMIT 1`.execute(context.store.db);
    const id = existing.rows[0]?.id;
    if (id) {
      const count = await sql<{ n: number }>`SELECT COUNT(*) AS n FROM tasks WHERE job = ${id}`.execute(
        context.store.db,
      );
      const next = Number(count.rows[0]?.n ?? 0);
      return {
        row: { id, status: 'waiting', finished: null },
        after: (db, job, now) =>
          insertTasks(
            db,
            caller.workspace.id,
            job,
            specs.map((t, i) => ({ ...t, uri: String(next + i) })),
            now,
          ),
      };
    }
  }
  const queue = await queueOf(context, data.queue);
  return {
    row: {
      status: 'waiting',
      priority: 500,
      ...row,
      name,
      code: name,
      source: first.source.party,
      destination: first.destination.party,
      user: caller.user.id,
      queue,
      progress: 0,
      size: null,
      speed: -1,
      settings: data.settings === undefined ? null : JSON.stringify(data.settings),
    },
    after: (db, job, now) => insertTasks(db, caller.workspace.id, job, specs, now),
  };
}

function lastSegment(path: string): string {
  return path.replace(/\/+$/, '').split('/').pop() || path || 'transfer';
}

async function prepareDelivery(
  context: EventContext,
  spec: EntityTypeSpec,
  data: Record<string, unknown>,
  row: Row,
): Promise<Prepared> {
  const { caller, store } = context;
  if (caller.user.role === 'employee') {
    const access = await sql<{ ok: number }>`SELECT 1 AS ok WHERE ${volumeAccess(caller)}`.execute(store.db);
    if (access.rows.length === 0) {
      throw new HttpError(
        403,
        `Permission denied: you need access to a volume before you may create ${spec.name === 'delivery' ? 'deliveries' : 'requests'}.`,
      );
    }
  }
  const name = (row.name as string | undefined) ?? (row.code as string | undefined);
  if (!name) throw badRequest(`A new ${spec.name} needs name.`);
  const recipientsGiven = data.recipients ?? [];
  if (!Array.isArray(recipientsGiven))
    throw badRequest(`${spec.name}.recipients must be a list of e-mails or user ids.`);
  const recipients: string[] = [];
  for (const [i, recipient] of recipientsGiven.entries())
    recipients.push(await userId(context, recipient, `recipients[${i}]`));
  const tasks =
    spec.name === 'delivery' && data.tasks !== undefined
      ? await taskSpecs(
          context,
          (Array.isArray(data.tasks) ? data.tasks : []).map((path: unknown) => ({ source: path, destination: path })),
          {},
          0,
        )
      : [];
  if (spec.name === 'request' && row.destination !== undefined) {
    row.destination = (await resolveEndpoint(store, caller, row.destination, 'request.destination')).party;
  }
  // With files and recipients, a delivery is submitted at once; otherwise it waits in init to be filled.
  const ready = recipients.length > 0 && (spec.name === 'request' || tasks.length > 0);
  const status = (row.status as string | undefined) ?? (ready ? 'waiting' : 'init');
  if (status !== 'init' && !ready) throw notSubmittable(spec);
  return {
    row: {
      public: 0,
      ...row,
      name,
      code: name,
      status,
      user: caller.user.id,
      source: `workspace:${caller.workspace.id}`,
    },
    after: async (db, job, now) => {
      await insertTasks(db, caller.workspace.id, job, tasks, now);
      if (recipients.length > 0) {
        await db
          .insertInto('recipients')
          .values(recipients.map((user) => ({ job, user, actioned: 0, created: now })))
          .execute();
      }
    },
  };
}

/** acl/create, which grant sends: one ACL per user and share; granting again updates it (and answers true). */
async function prepareAcl(context: EventContext, row: Row): Promise<Prepared> {
  const entity = String(row.entity);
  const target = String(row.target);
  if (!entity.startsWith('user:')) throw badRequest(`acl.entity must be "user:<id or e-mail>", not '${entity}'.`);
  if (!target.startsWith('share:')) throw badRequest(`acl.target must be "share:<id or code>", not '${target}'.`);
  const user = await userId(context, entity.slice('user:'.length), 'acl.entity');
  const share = await shareId(context, target.slice('share:'.length), undefined, 'acl.target');
  const read = row.read === undefined ? 1 : row.read;
  const write = row.write === undefined ? 1 : row.write;
  if (read === 0 && write === 0) throw badRequest('An ACL must grant read, write or both.');
  const existing = await sql<{ id: string }>`SELECT id FROM acls WHERE workspace = ${context.caller.workspace.id}
    AND entity = ${`user:${user}`} AND target = ${`share:${share}`} AND archived IS NULL`.execute(context.store.db);
  return {
    row: {
      ...(existing.rows[0]
        ? { id: existing.rows[0].id }
        : { status: 'enabled', inactive: 0, acknowledged: 0, role: 'user' }),
      ...row,
      entity: `user:${user}`,
      target: `share:${share}`,
      path: normaliseAclPath(row.path),
      read,
      write,
    },
  };
}

function normaliseAclPath(path: unknown): string {
  if (path === undefined || path === null) return '/';
  const text = String(path)
    .replace(/\\/g, '/')
    .replace(/\/+/g, '/')
    .replace(/^\/|\/$/g, '');
  if (text.split('/').includes('..')) throw badRequest(`acl.path must stay inside the share, not '${String(path)}'.`);
  return text === '' ? '/' : text;
}

/** The job whose tasks a call changes: the caller must see it and may edit it. */
async function writableJob(context: EventContext, id: unknown): Promise<Row> {
  const { spec, row } = await visibleJob(context, id);
  if (spec.name === 'queue') throw badRequest('A queue has no tasks: give the id of a transfer, delivery or request.');
  checkRole(spec, context.caller, 'edit');
  await checkWrite(context, spec, row);
  return row;
}

/** task/create: tasks added to a job (the envelope's id); one with the same ends as an existing task retries it. */
async function createTasks(context: EventContext): Promise<Row[]> {
  const { caller, store, envelope } = context;
  const job = await writableJob(context, envelope.id);
  const data = objectOf(envelope.data, 'task/create');
  const existing = await store.db
    .selectFrom('tasks')
    .selectAll()
    .where('job', '=', job.id as string)
    .execute();
  const specs = await taskSpecs(context, data.tasks ?? data, {}, existing.length);
  const now = new Date().toISOString();
  const retried: string[] = [];
  const added: TaskSpec[] = [];
  for (const task of specs) {
    const same = existing.find(
      (t) => t.source === JSON.stringify(task.source.end) && t.destination === JSON.stringify(task.destination.end),
    );
    if (same && data.allow_duplicates === false) {
      throw badRequest(`Task ${same.uri} of this job has the same source and destination already.`);
    }
    if (same) retried.push(same.id);
    else added.push({ ...task, uri: String(existing.length + added.length) });
  }
  await store.db.transaction().execute(async (trx) => {
    if (retried.length > 0) {
      await trx
        .updateTable('tasks')
        .set({ status: 'queued', modified: now, finished: null })
        .where('id', 'in', retried)
        .execute();
    }
    await insertTasks(trx, caller.workspace.id, job.id as string, added, now);
    await updateRow(trx, 'jobs', job.id as string, {
      status: 'waiting',
      finished: null,
      modified: now,
      modifier: caller.user.id,
    });
  });
  const uris = [...retried.map((id) => existing.find((t) => t.id === id)?.uri), ...added.map((t) => t.uri)];
  const rows = await store.db
    .selectFrom('tasks')
    .selectAll()
    .where('job', '=', job.id as string)
    .where('uri', 'in', uris as string[])
    .orderBy('uri')
    .execute();
  const spec = typeNamed('task');
  return present(context, spec, rows as Row[], readableAttributes(spec, caller.user.role));
}

// ---------------------------------------------------------------------------------------------------------------
// edit

export async function edit(context: EventContext, spec: EntityTypeSpec): Promise<Row[]> {
  checkRole(spec, context.caller, 'edit');
  if (spec.name === 'task') return editTasks(context);
  const data = objectOf(context.envelope.data, `${spec.name}/edit`);
  if (Object.keys(data).length === 0) throw badRequest(`${spec.name}/edit: data holds nothing to change.`);
  const stored = await visibleRow(context, spec, context.envelope.id);
  await checkWrite(context, spec, stored);
  const changes = columnsOf(spec, data, 'edit');
  await resolveReferences(context, spec, changes);
  if (spec.name === 'user' && changes.role !== undefined && context.caller.user.role !== 'admin') {
    throw new HttpError(403, 'Permission denied: only an admin may change roles.');
  }
  const now = new Date().toISOString();
  if (changes.status === 'pending' && (spec.name === 'delivery' || spec.name === 'request')) {
    await checkSubmittable(context, spec, stored);
    // Submitting passes through pending to waiting at once: nothing here waits for a submission to be processed.
    changes.status = 'waiting';
  }
  if (spec.family === 'job' && typeof changes.status === 'string') {
    changes.finished = FINISHED_JOB_STATUSES.includes(changes.status) ? now : null;
  }
  const row = { ...changes, ...foldedColumns(changes), modified: now, modifier: context.caller.user.id };
  await context.store.db
    .transaction()
    .execute(async (trx) => {
      await updateRow(trx, TABLES[spec.family], stored.id as string, row);
      // Changing a role revokes all access (reference §3.2).
      if (spec.name === 'user' && changes.role !== undefined && changes.role !== stored.role) {
        await sql`UPDATE acls SET archived = ${now} WHERE entity = ${`user:${stored.id}`} AND archived IS NULL`.execute(
          trx,
        );
      }
    })
    .catch((error: unknown) => {
      throw uniqueViolation(error, spec, { ...stored, ...changes }) ?? error;
    });
  return presentOne(context, spec, stored.id as string);
}

/** A delivery is submitted with files and recipients; a request with recipients. */
async function checkSubmittable(context: EventContext, spec: EntityTypeSpec, stored: Row): Promise<void> {
  const counts = await sql<{ files: number; recipients: number }>`SELECT
    (SELECT COUNT(*) FROM tasks WHERE job = ${stored.id}) AS files,
    (SELECT COUNT(*) FROM recipients WHERE job = ${stored.id}) AS recipients`.execute(context.store.db);
  const { files = 0, recipients = 0 } = counts.rows[0] ?? {};
  if ((spec.name === 'delivery' && Number(files) === 0) || Number(recipients) === 0) {
    throw notSubmittable(spec);
  }
}

function notSubmittable(spec: EntityTypeSpec): HttpError {
  return badRequest(
    `This ${spec.name} cannot be submitted yet: it needs ${spec.name === 'delivery' ? 'files and ' : ''}at least one recipient.`,
  );
}

/** task/edit: a list of changes to tasks of the job in the envelope's id, each task named by `id` or `uri`. */
async function editTasks(context: EventContext): Promise<Row[]> {
  const { store, envelope, caller } = context;
  const job = await writableJob(context, envelope.id);
  const spec = typeNamed('task');
  const changes = Array.isArray(envelope.data) ? envelope.data : [envelope.data];
  const tasks = await store.db
    .selectFrom('tasks')
    .selectAll()
    .where('job', '=', job.id as string)
    .execute();
  const now = new Date().toISOString();
  const updates = changes.map((change, i) => {
    const { id, uri, ...rest } = objectOf(change, `task/edit [${i}]`);
    const task = tasks.find((t) => (id !== undefined ? t.id === id : t.uri === String(uri)));
    if (!task) throw badRequest(`task/edit [${i}]: this job has no task ${JSON.stringify(id ?? uri)}.`);
    return { id: task.id, row: columnsOf(spec, rest, 'edit') };
  });
  await store.db.transaction().execute(async (trx) => {
    for (const { id, row } of updates) {
      const finished = typeof row.status === 'string' ? (row.status === 'done' ? now : null) : undefined;
      await trx
        .updateTable('tasks')
        .set({ ...row, modified: now, ...(finished !== undefined ? { finished } : {}) })
        .where('id', '=', id)
        .execute();
    }
  });
  const rows = await store.db
    .selectFrom('tasks')
    .selectAll()
    .where(
      'id',
      'in',
      updates.map((u) => u.id),
    )
    .execute();
  return present(context, spec, rows as Row[], readableAttributes(spec, caller.user.role));
}

// ---------------------------------------------------------------------------------------------------------------
// delete, activate, deactivate

/**
 * Deletes by archiving: the entity leaves every scope but `archived`, and its code is free again. `force` removes
 * a job for good, with its tasks. The main site, the default volume and the default queue stay.
 */
export async function remove(context: EventContext, spec: EntityTypeSpec): Promise<true> {
  checkRole(spec, context.caller, 'delete');
  if (spec.name === 'task') throw badRequest('Tasks cannot be deleted: set their status to excluded instead.');
  if (spec.name === 'workspace') throw new HttpError(403, 'A workspace cannot be deleted through the API.');
  const stored = await visibleRow(context, spec, context.envelope.id);
  await checkWrite(context, spec, stored);
  if (spec.name === 'user' && stored.id === context.caller.user.id) throw badRequest('You cannot delete yourself.');
  if (stored.main === 1 || stored.default === 1) {
    throw new HttpError(409, `The ${stored.main === 1 ? 'main site' : `default ${spec.name}`} cannot be deleted.`);
  }
  const force = (context.envelope.data as { force?: unknown } | null)?.force === true;
  const now = new Date().toISOString();
  const table = TABLES[spec.family];
  await context.store.db.transaction().execute(async (trx) => {
    if (force && spec.family === 'job') {
      await sql`DELETE FROM ${sql.table(table)} WHERE id = ${stored.id}`.execute(trx);
      return;
    }
    const set: Row = { archived: now, modified: now, modifier: context.caller.user.id };
    if (spec.family === 'job' && !FINISHED_JOB_STATUSES.includes(stored.status as string)) {
      Object.assign(set, { status: 'aborted', finished: now });
    }
    await updateRow(trx, table, stored.id as string, set);
    if (spec.family === 'share') {
      await sql`UPDATE acls SET archived = ${now} WHERE target = ${`share:${stored.id}`}`.execute(trx);
    }
  });
  return true;
}

/** activate (by id, or by a bare code in `query`) and deactivate: users, shares, clients and ACLs. */
export async function setActive(context: EventContext, spec: EntityTypeSpec, active: boolean): Promise<true> {
  const operation = active ? 'activate' : 'deactivate';
  if (!['user', 'share', 'client', 'acl'].includes(spec.family)) {
    throw badRequest(`${capitalise(spec.name)}s cannot be ${operation}d: only users, shares, clients and ACLs can.`);
  }
  if (spec.name === 'home' && !active) {
    throw badRequest('A home cannot be deactivated on its own: deactivate its user instead.');
  }
  checkRole(spec, context.caller, operation);
  const { envelope, caller } = context;
  let id = envelope.id;
  if (id === undefined && typeof envelope.query === 'string') {
    const found = await idsByCode(context.store, caller.workspace.id, [spec.family], envelope.query.trim());
    id = found[0]?.id ?? envelope.query.trim();
    if (!isId(id))
      throw new HttpError(404, `There is no ${spec.name} '${envelope.query.trim()}', or you may not see it.`);
  }
  const stored = await visibleRow(context, spec, id);
  await checkWrite(context, spec, stored);
  if (spec.name === 'user' && stored.id === caller.user.id && !active) {
    throw badRequest('You cannot deactivate yourself.');
  }
  const now = new Date().toISOString();
  await context.store.db.transaction().execute(async (trx) => {
    const set = { inactive: active ? 0 : 1, modified: now, modifier: caller.user.id };
    await updateRow(trx, TABLES[spec.family], stored.id as string, set);
    // A share's and a user's ACLs follow them offline and back (reference §3.6, §3.8).
    const acls =
      spec.family === 'share'
        ? sql`target = ${`share:${stored.id}`}`
        : spec.family === 'user'
          ? sql`entity = ${`user:${stored.id}`}`
          : undefined;
    if (acls) await sql`UPDATE acls SET inactive = ${active ? 0 : 1} WHERE ${acls}`.execute(trx);
  });
  return true;
}
