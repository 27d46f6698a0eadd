import { randomUUID } from 'node:crypto';
import { type EntityTypeSpec, JOB_TYPES, type Role } from 'accsyn-protocol';
import { fold } from 'accsyn-query';
import type { EventContext } from '../events.js';
import { collectablePaths, insertFiles } from '../files/collections.js';
import { volumeDirectoryFor, withinVolume } from '../files/locate.js';
import { aclRules } from '../files/rights.js';
import { badRequest, HttpError } from '../http/errors.js';
import { executeIn, insertMany, rowsIn } from '../store/batches.js';
import { newId } from '../store/ids.js';
import { sql } from '../store/sql.js';
import type { Store } from '../store/store.js';
import type { TaskRow } from '../store/tables.js';
import { EndChecker } from '../transfers/authorize.js';
import { capitalise, checkRole, volumeAccess } from './access.js';
import { defaultQueue, defaultVolume, type ResolvedEndpoint, resolveEndpoint } from './endpoints.js';
import {
  foldedColumns,
  insertRow,
  type Row,
  readableAttributes,
  SUBTYPE_COLUMN,
  TABLES,
  typeNamed,
  updateRow,
} from './model.js';
import { parseEndpoint } from './parties.js';
import { present } from './present.js';
import { liveId } from './references.js';
import { inTransaction, withRowLocked } from './serial.js';
import {
  checkWrite,
  columnsOf,
  type Db,
  notSubmittable,
  objectOf,
  presentOne,
  resolveReferences,
  uniqueViolation,
  visibleJob,
  writableJob,
} from './write.js';

/**
 * `<type>/create` and `task/create` (reference §2.4): each type's defaults and checks, then one transaction for the
 * entity and what goes with it (tasks, recipients).
 */

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

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
      const path = await volumeDirectoryFor(row.path, data.paths);
      return { row: { status: 'enabled', default: 0, name: code, ...row, code, path, type: 'volume' } };
    }
    case 'folder':
    case 'home': {
      const parentText = row.parent ?? (await defaultVolume(store, workspace));
      const parent = await shareId(context, parentText, 'volume', `${spec.name}.parent`);
      if (typeof row.path === 'string' && !withinVolume(row.path)) {
        throw badRequest(`${spec.name}.path must stay inside its volume: ".." cannot be in it, as in '${row.path}'.`);
      }
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
      const paths = Array.isArray(files) && files.length === 0 ? [] : await collectablePaths(context, files);
      const name = String(row.name ?? '');
      if (!name) throw badRequest('A new collection needs name.');
      return {
        row: {
          status: 'enabled',
          inactive: 0,
          ...row,
          files: '[]',
          code: (row.code as string | undefined) ?? slug(name),
          type: 'collection',
        },
        after: async (db, id, now) => {
          await insertFiles(db, context, id, paths, now);
        },
      };
    }
    case 'site': {
      const code = (row.code as string | undefined) ?? slug(String(row.name ?? ''));
      return { row: { status: 'enabled', main: 0, accsyn: 0, name: code, ...row, code } };
    }
    case 'acl':
      return prepareAcl(context, row, data);
    default:
      throw badRequest(`${capitalise(spec.name)}s cannot be created through the API.`);
  }
}

export async function userId(context: EventContext, value: unknown, what: string): Promise<string> {
  if (typeof value !== 'string') throw badRequest(`${what} must be a user's id or e-mail.`);
  const id = await liveId(context.store, context.caller.workspace.id, 'user', value);
  if (!id) throw badRequest(`${what}: there is no user '${value}' in this workspace.`);
  return id;
}

async function shareId(context: EventContext, value: unknown, type: string | undefined, what: string): Promise<string> {
  if (typeof value !== 'string') throw badRequest(`${what} must be a ${type ?? 'share'}'s id or code.`);
  const ofType = type ? sql`AND type = ${type}` : sql.empty;
  const id = await liveId(context.store, context.caller.workspace.id, 'share', value, ofType);
  if (!id) throw badRequest(`${what}: there is no ${type ?? 'share'} '${value}' in this workspace.`);
  return id;
}

/** A job's queue: given by id or code, else the workspace's default queue. */
async function queueOf(context: EventContext, value: unknown): Promise<string | null> {
  const { store, caller } = context;
  if (value === undefined || value === null) return defaultQueue(store, caller.workspace.id);
  if (typeof value !== 'string') throw badRequest("transfer.queue must be a queue's id or code.");
  const id = await liveId(store, caller.workspace.id, 'job', value, sql`AND type = ${JOB_TYPES.queue}`);
  if (!id) throw badRequest(`transfer.queue: there is no queue '${value}' in this workspace.`);
  return id;
}

interface TaskSpec {
  readonly uri: string;
  readonly source: ResolvedEndpoint;
  readonly destination: ResolvedEndpoint;
}

/**
 * The tasks of a create payload: a list of paths or of {source, destination}, or an object keyed by task uri. A
 * bare path is taken from the job's source and sent to the job's destination under the same relative path. The caller
 * must be allowed to read each source and, unless `checked` is 'source', to write each destination.
 */
async function taskSpecs(
  context: EventContext,
  tasks: unknown,
  job: { source?: unknown; destination?: unknown },
  firstUri: number,
  checked: 'both' | 'source' = 'both',
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
  // The ends of a job's tasks name the same few parties and shares, looked up once (an image sequence is 100,000).
  const reading = { ...context, store: context.store.remembering() };
  const checker = new EndChecker(reading);
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
    const ends = {
      source: await resolveEndpoint(reading.store, context.caller, source, label('source')),
      destination: await resolveEndpoint(reading.store, context.caller, destination, label('destination')),
    };
    await checker.check(ends.source, 'read', label('source'));
    if (checked === 'both') await checker.check(ends.destination, 'write', label('destination'));
    specs.push({ uri: uri ?? String(firstUri + i), ...ends });
  }
  return specs;
}

function joinPath(base: unknown, path: string): string {
  return typeof base === 'string' ? `${base.replace(/\/+$/, '')}/${path.replace(/^\/+/, '')}` : path;
}

const TASK_COLUMNS = [
  'id',
  'workspace',
  'job',
  'uri',
  'status',
  'priority',
  'source',
  'destination',
  'created',
  'modified',
];

/** Inserts a job's new tasks, in batches: an image sequence is thousands of frames (see store/batches.ts). */
async function insertTasks(store: Store, workspace: string, job: string, specs: readonly TaskSpec[], now: string) {
  const rows = specs.map((task) => [
    randomUUID(),
    workspace,
    job,
    task.uri,
    'queued',
    500,
    JSON.stringify(task.source.end),
    JSON.stringify(task.destination.end),
    now,
    now,
  ]);
  await insertMany(store, 'tasks', TASK_COLUMNS, rows);
}

function tasksOf(store: Store, job: string): Promise<TaskRow[]> {
  return store.db.selectFrom('tasks').selectAll().where('job', '=', job).execute();
}

/** New tasks set against a job's existing ones: which to add, which to retry, which to replace, and the uris answered. */
interface MergedTasks {
  readonly added: readonly TaskSpec[];
  readonly retried: readonly string[];
  readonly replaced: readonly string[];
  readonly uris: readonly string[];
}

/**
 * A new task with the same source and destination as one of the job's tasks is not added twice (reference §3.4):
 * the existing task is retried, unless `allow_duplicates` is false, which refuses the call, or
 * `replace_duplicates` is true, which puts a new task (a new id, all afresh) in its place under the same uri.
 */
function mergeTasks(
  existing: readonly TaskRow[],
  specs: readonly TaskSpec[],
  data: Record<string, unknown>,
): MergedTasks {
  const { allow, replace } = duplicateOptions(data);
  const merged = { added: [] as TaskSpec[], retried: [] as string[], replaced: [] as string[], uris: [] as string[] };
  const ends = (source: string, destination: string) => `${source}\n${destination}`;
  const byEnds = new Map(existing.map((task) => [ends(task.source, task.destination), task]));
  for (const task of specs) {
    const same = byEnds.get(ends(JSON.stringify(task.source.end), JSON.stringify(task.destination.end)));
    if (same && allow === false) {
      throw badRequest(`Task ${same.uri} of this job has the same source and destination already.`);
    }
    if (same && replace) {
      merged.replaced.push(same.id);
      merged.added.push({ ...task, uri: same.uri });
      merged.uris.push(same.uri);
    } else if (same) {
      merged.retried.push(same.id);
      merged.uris.push(same.uri);
    } else {
      const uri = String(existing.length + merged.added.length - merged.replaced.length);
      merged.added.push({ ...task, uri });
      merged.uris.push(uri);
    }
  }
  return merged;
}

/** What a create payload says of duplicate tasks; checked on every create that takes tasks. */
function duplicateOptions(data: Record<string, unknown>) {
  const allow = optionalFlag(data, 'allow_duplicates');
  const replace = optionalFlag(data, 'replace_duplicates');
  if (allow === false && replace === true) {
    throw badRequest(
      'allow_duplicates: false refuses duplicate tasks, replace_duplicates: true replaces them; give one.',
    );
  }
  return { allow, replace };
}

/** A true/false option of a create payload, undefined when left out. */
function optionalFlag(data: Record<string, unknown>, name: string): boolean | undefined {
  const value = data[name];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'boolean') throw badRequest(`${name} must be true or false, not ${JSON.stringify(value)}.`);
  return value;
}

async function writeTasks(store: Store, workspace: string, job: string, merged: MergedTasks, now: string) {
  await executeIn(
    store,
    merged.retried,
    (ids) => sql`UPDATE tasks SET status = 'queued', modified = ${now}, finished = NULL WHERE id IN (${ids})`,
  );
  await executeIn(store, merged.replaced, (ids) => sql`DELETE FROM tasks WHERE id IN (${ids})`);
  await insertTasks(store, workspace, job, merged.added, now);
}

async function prepareTransfer(context: EventContext, data: Record<string, unknown>, row: Row): Promise<Prepared> {
  const { caller } = context;
  duplicateOptions(data);
  // The parent is a queue or a delivery; either way a job the caller can see. Files sent to a delivery land in its
  // own directory, unless the transfer names a destination.
  const parent = typeof row.parent === 'string' ? await visibleJob(context, row.parent) : undefined;
  const destination =
    data.destination ?? (parent?.spec.name === 'delivery' ? await deliveryDirectory(context, parent.row) : undefined);
  const specs =
    parent?.spec.name === 'delivery' && data.source === undefined && data.tasks === undefined
      ? await deliveryFiles(context, parent.row, data.destination)
      : parent?.spec.name === 'request' && data.destination === undefined
        ? await requestFiles(context, parent.row, data.tasks ?? [data.source])
        : await taskSpecs(context, data.tasks, { source: data.source, destination }, 0);
  if (specs.length === 0) throw badRequest('A new transfer needs a source and a destination, or tasks.');
  const first = specs[0] as TaskSpec;
  const name =
    (row.name as string | undefined) ?? (row.code as string | undefined) ?? lastSegment(first.source.end.path);
  if (data.append === true) {
    // The caller's latest transfer of that name; without a name, their latest transfer (as test_transfer.py appends).
    const given = (row.name as string | undefined) ?? (row.code as string | undefined);
    const named = given === undefined ? sql.empty : sql`AND code_folded = ${fold(given)}`;
    const [existing] = await context.store.rows<{ id: string }>(sql`SELECT id FROM jobs
      WHERE workspace = ${caller.workspace.id} AND type = 1 AND "user" = ${caller.user.id}
      ${named} AND archived IS NULL ORDER BY created DESC, id DESC LIMIT 1`);
    const id = existing?.id;
    if (id) {
      const merged = mergeTasks(await tasksOf(context.store, id), specs, data);
      return {
        row: { id, status: 'waiting', finished: null },
        after: (db, job, now) => writeTasks(context.store.within(db), caller.workspace.id, job, merged, now),
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
    after: (db, job, now) => insertTasks(context.store.within(db), caller.workspace.id, job, specs, now),
  };
}

/**
 * Where the files uploaded to a delivery land: `deliveries/<delivery id>/` on the default volume. Standard users
 * do not upload to deliveries (reference §3.2); others need write access there, as for any destination.
 */
async function deliveryDirectory(context: EventContext, delivery: Row): Promise<string> {
  if (context.caller.user.role === 'standard') {
    throw new HttpError(403, 'Permission denied: standard users cannot upload files to a delivery.');
  }
  const volume = await defaultVolume(context.store, context.caller.workspace.id);
  if (!volume) throw badRequest("The workspace has no default volume to keep the delivery's files on.");
  return `volume=${volume}/deliveries/${delivery.id}/`;
}

/**
 * A delivery downloaded (a transfer whose parent is the delivery and that names no source): one task per file of
 * the delivery, each into `destination`. Its recipients and its sender may download it once it is submitted; the
 * files are read by the sender's rights (see transfers/carried.ts, `authorityOf`), not the recipient's.
 */
async function deliveryFiles(context: EventContext, delivery: Row, destinationText: unknown): Promise<TaskSpec[]> {
  const { store, caller } = context;
  await demandParty(context, delivery, 'delivery', 'download');
  if (destinationText === undefined) throw badRequest("destination is missing: where the delivery's files go.");
  const destination = await resolveEndpoint(store, caller, destinationText, 'destination');
  await new EndChecker(context).check(destination, 'write', 'destination');
  // Each file lands inside the destination, as a source into a directory written with a trailing slash.
  const into = destination.end.path.endsWith('/') ? destination.end.path : `${destination.end.path}/`;
  const files = await store.rows<{ source: string }>(sql`SELECT source FROM tasks WHERE job = ${delivery.id as string}
    AND status <> 'excluded' ORDER BY created, uri`);
  return files.map((file, i) => {
    const end = JSON.parse(file.source) as ResolvedEndpoint['end'];
    return {
      uri: String(i),
      source: { party: `workspace:${caller.workspace.id}`, end, endpoint: parseEndpoint(end.path, 'source') },
      destination: { ...destination, end: { ...destination.end, path: into } },
    };
  });
}

/**
 * Files sent to a request (a transfer whose parent is the request and that names no destination): each source into
 * the request's destination, written by the rights of the request's sender (transfers/carried.ts), so that its
 * recipients need no access to the volume. Its recipients and its sender may send, once it is submitted.
 */
async function requestFiles(context: EventContext, request: Row, sources: unknown): Promise<TaskSpec[]> {
  const { store, caller } = context;
  await demandParty(context, request, 'request', 'send files to');
  if (!Array.isArray(sources) || sources.some((source) => source === undefined)) {
    throw badRequest('source is missing: the files to send to the request.');
  }
  const [row] = await store.rows<{ target: string | null }>(sql`SELECT target FROM jobs
    WHERE id = ${request.id as string}`);
  let target = row?.target ? (JSON.parse(row.target) as ResolvedEndpoint['end']) : undefined;
  if (!target) {
    target = await requestDirectory(context, request);
    await store.execute(sql`UPDATE jobs SET target = ${JSON.stringify(target)} WHERE id = ${request.id as string}`);
  }
  const into = target.path.endsWith('/') ? target.path : `${target.path}/`;
  const checker = new EndChecker(context);
  const specs: TaskSpec[] = [];
  for (const [i, text] of sources.entries()) {
    const what = sources.length === 1 ? 'source' : `tasks[${i}]`;
    const source = await resolveEndpoint(store, caller, text, what);
    await checker.check(source, 'read', what);
    const end = { ...target, path: into };
    specs.push({
      uri: String(i),
      source,
      destination: { party: `workspace:${caller.workspace.id}`, end, endpoint: parseEndpoint(into, 'destination') },
    });
  }
  return specs;
}

/** A request made without a destination collects its files in `requests/<request id>/` on the default volume. */
async function requestDirectory(context: EventContext, request: Row): Promise<ResolvedEndpoint['end']> {
  const volume = await defaultVolume(context.store, context.caller.workspace.id);
  if (!volume) throw badRequest("The workspace has no default volume to keep the request's files on.");
  return {
    path: `volume=${volume}/requests/${request.id}/`,
    path_abs_final: null,
    user: null,
    client: null,
    site: null,
    v: volume,
    s: volume,
  };
}

/** The caller is a recipient or the sender of a submitted delivery or request (or an admin). */
async function demandParty(context: EventContext, job: Row, kind: 'delivery' | 'request', verb: string) {
  const { store, caller } = context;
  const [recipient] = await store.rows(sql`SELECT 1 AS yes FROM recipients WHERE job = ${job.id as string}
    AND "user" = ${caller.user.id}`);
  if (!recipient && job.user !== caller.user.id && caller.user.role !== 'admin') {
    throw new HttpError(403, `Permission denied: only the recipients and the sender of a ${kind} may ${verb} it.`);
  }
  if (job.status === 'init') throw badRequest(`The ${kind} ${job.id} is not submitted yet: nothing can ${verb} it.`);
  if (job.status === 'aborted') throw badRequest(`The ${kind} ${job.id} was aborted.`);
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
    const access = await store.rows(sql`SELECT 1 AS ok WHERE ${volumeAccess(caller)}`);
    if (access.length === 0) {
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
          // A delivery's tasks name the files it sends; where they land is for each recipient to choose.
          'source',
        )
      : [];
  if (spec.name === 'request' && row.destination !== undefined) {
    const destination = await resolveEndpoint(store, caller, row.destination, 'request.destination');
    await new EndChecker(context).check(destination, 'write', 'request.destination');
    row.destination = destination.party;
    row.target = JSON.stringify(destination.end);
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
      const written = store.within(db);
      await insertTasks(written, caller.workspace.id, job, tasks, now);
      const rows = recipients.map((user) => [job, user, 0, now]);
      await insertMany(written, 'recipients', ['job', 'user', 'actioned', 'created'], rows);
    },
  };
}

/**
 * acl/create, which grant sends: one ACL per user and share, holding rights on several paths of the share (`rules`).
 * Granting again adds or replaces the rule of that path, and answers true. An e-mail that names no user invites
 * them, as a standard user, unless `invite` is false.
 */
async function prepareAcl(context: EventContext, row: Row, data: Record<string, unknown>): Promise<Prepared> {
  const entity = String(row.entity);
  const target = String(row.target);
  if (!entity.startsWith('user:')) throw badRequest(`acl.entity must be "user:<id or e-mail>", not '${entity}'.`);
  if (!target.startsWith('share:')) throw badRequest(`acl.target must be "share:<id or code>", not '${target}'.`);
  const share = await shareId(context, target.slice('share:'.length), undefined, 'acl.target');
  const read = row.read === undefined ? 1 : row.read;
  const write = row.write === undefined ? 1 : row.write;
  if (read === 0 && write === 0) throw badRequest('An ACL must grant read, write or both.');
  const path = normaliseAclPath(row.path);
  const user = await userOrInvite(context, entity.slice('user:'.length), data.invite, {
    operation: 'acl/create',
    field: 'acl.entity',
  });
  const [existing] = await context.store.rows<{
    id: string;
    path: string;
    read: number;
    write: number;
    rules: string | null;
  }>(
    sql`SELECT id, path, read, write, rules FROM acls WHERE workspace = ${context.caller.workspace.id}
    AND entity = ${`user:${user}`} AND target = ${`share:${share}`} AND archived IS NULL`,
  );
  const rule = { path: path === '/' ? '' : path, read: read === 1, write: write === 1 };
  const rules = [...(existing ? aclRules(existing).filter((known) => known.path !== rule.path) : []), rule];
  return {
    row: {
      ...(existing ? { id: existing.id } : { status: 'enabled', inactive: 0, acknowledged: 0, role: 'user' }),
      ...row,
      entity: `user:${user}`,
      target: `share:${share}`,
      path,
      read,
      write,
      rules: JSON.stringify(rules.map((known) => ({ ...known, path: known.path === '' ? '/' : known.path }))),
    },
  };
}

/**
 * The user an id or e-mail names; an e-mail that names none is invited as a standard user (as user/create would
 * make them) unless `invite` is false.
 */
export async function userOrInvite(
  context: EventContext,
  value: unknown,
  invite: unknown,
  what: { operation: string; field: string },
): Promise<string> {
  if (invite !== undefined && typeof invite !== 'boolean') {
    throw badRequest(`${what.operation}: invite must be true or false.`);
  }
  const found = typeof value === 'string' && (await liveId(context.store, context.caller.workspace.id, 'user', value));
  if (found) return found;
  if (invite === false || typeof value !== 'string' || !EMAIL.test(value)) return userId(context, value, what.field);
  const invited = await create(
    { ...context, envelope: { ...context.envelope, data: { code: value }, id: undefined } },
    typeNamed('user'),
  );
  return (invited[0] as Row).id as string;
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

/**
 * task/create: tasks added to a job (the envelope's id); one with the same ends as an existing task retries it. The
 * job's row is held meanwhile: tasks added through two nodes at once get distinct uris.
 */
function createTasks(context: EventContext): Promise<Row[]> {
  return withRowLocked(context, 'jobs', context.envelope.id, addTasks);
}

async function addTasks(context: EventContext): Promise<Row[]> {
  const { caller, store, envelope } = context;
  const job = await writableJob(context, envelope.id);
  const data = objectOf(envelope.data, 'task/create');
  const existing = await tasksOf(store, job.id as string);
  const specs = await taskSpecs(context, data.tasks ?? data, {}, existing.length);
  if (specs.length === 0) throw badRequest('task/create: tasks holds no task to add.');
  const merged = mergeTasks(existing, specs, data);
  const now = new Date().toISOString();
  await inTransaction(store, async (trx) => {
    await writeTasks(store.within(trx), caller.workspace.id, job.id as string, merged, now);
    await updateRow(trx, 'jobs', job.id as string, {
      status: 'waiting',
      finished: null,
      modified: now,
      modifier: caller.user.id,
    });
  });
  const rows = await rowsIn<Row>(
    store,
    merged.uris,
    (uris) => sql`SELECT * FROM tasks
    WHERE job = ${job.id} AND uri IN (${uris})`,
  );
  rows.sort((a, b) => (a.uri === b.uri ? 0 : (a.uri as string) < (b.uri as string) ? -1 : 1));
  const spec = typeNamed('task');
  return present(context, spec, rows as Row[], readableAttributes(spec, caller.user.role));
}
