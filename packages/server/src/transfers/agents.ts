import { randomUUID } from 'node:crypto';
import { basename } from 'node:path';
import { CLIENT_TYPES } from 'accsyn-protocol';
import { fold } from 'accsyn-query';
import type { TaskEnd } from '../entities/endpoints.js';
import { objectOf } from '../entities/write.js';
import type { EventContext } from '../events.js';
import { badRequest, HttpError, notFound } from '../http/errors.js';
import { insertMany } from '../store/batches.js';
import { newId } from '../store/ids.js';
import { sql } from '../store/sql.js';
import type { Store } from '../store/store.js';
import { CARRY_LEASE_S, isLocal, releaseLapsed } from './carried.js';
import { checksumOf } from './copy.js';
import { jobSettings } from './settings.js';
import { settle } from './settle.js';
import { placeOnShares } from './sources.js';

/**
 * The agent events (docs/agent.md): a program on a user's machine registers it as a Client, and carries the tasks
 * whose end lies there: measures local sources, uploads through `/u`, downloads through `/d`, and tells how each
 * ended. Every event names the caller's own client; a client answers only for itself.
 */

/** Seconds between check-ins, and without one after which a client is offline. */
export const CHECKIN_S = 10;
export const OFFLINE_S = 60;
const MAX_WORK = 64;
const MAX_TEXT = 1000;

interface ClaimedTask {
  readonly id: string;
  readonly job: string;
  readonly source: string;
  readonly destination: string;
  readonly size: number | null;
  readonly status: string;
}

type Handler = (context: EventContext, data: Record<string, unknown>) => Promise<unknown>;

const HANDLERS: ReadonlyMap<string, { method: EventContext['method']; handler: Handler }> = new Map([
  ['checkin', { method: 'PUT', handler: checkin }],
  ['offline', { method: 'PUT', handler: offline }],
  ['work', { method: 'GET', handler: work }],
  ['progress', { method: 'PUT', handler: progress }],
  ['measured', { method: 'PUT', handler: measured }],
  ['done', { method: 'PUT', handler: done }],
  ['failed', { method: 'PUT', handler: failed }],
] as const);

/** `agent/<operation>`. */
export async function agentEvent(context: EventContext, operation: string): Promise<unknown> {
  const found = HANDLERS.get(operation);
  if (!found) throw badRequest(`Unknown operation: ${context.method} agent/${operation}.`);
  if (found.method !== context.method) {
    throw badRequest(`agent/${operation} takes ${found.method}, not ${context.method}.`);
  }
  return found.handler(context, objectOf(context.envelope.data ?? {}, `agent/${operation}`));
}

/** Registers the machine (one Client per user and host name), or checks it in again: it is online. */
async function checkin(context: EventContext, data: Record<string, unknown>): Promise<unknown> {
  const { store, caller } = context;
  const code = text(data.code, 'code', 255);
  const os = optionalText(data.os, 'os', 32);
  const version = optionalText(data.version, 'version', 64);
  const now = new Date().toISOString();
  const given = data.client === undefined ? undefined : await ownClient(context, data.client);
  const [existing] = given
    ? [given]
    : await store.rows<{ id: string; status: string }>(sql`SELECT id, status FROM clients
        WHERE workspace = ${caller.workspace.id} AND "user" = ${caller.user.id} AND type = ${CLIENT_TYPES.app}
        AND code_folded = ${fold(code)} AND archived IS NULL LIMIT 1`);
  if (existing?.status.startsWith('disabled')) {
    throw new HttpError(403, `This client (${existing.id}) is disabled by an admin of the workspace.`);
  }
  const id = existing?.id ?? newId();
  if (existing) {
    await store.execute(sql`UPDATE clients SET status = 'online', last_checkin = ${now}, os = COALESCE(${os}, os),
      version = COALESCE(${version}, version),
      wan_ip = ${context.address}, modified = ${now} WHERE id = ${id}`);
  } else {
    await insertClient(store, {
      id,
      workspace: caller.workspace.id,
      creator: caller.user.id,
      modifier: caller.user.id,
      code,
      status: 'online',
      type: CLIENT_TYPES.app,
      os,
      roles: '',
      user: caller.user.id,
      username: caller.user.code,
      version,
      wan_ip: context.address,
      last_checkin: now,
    });
  }
  await markOffline(store);
  return { client: id, status: 'online', checkin: CHECKIN_S, offline: OFFLINE_S };
}

/** The agent stops: its client is offline, and the tasks it held go back to the queue at once. */
async function offline(context: EventContext, data: Record<string, unknown>): Promise<true> {
  const { store } = context;
  const client = await ownClient(context, data.client);
  await store.execute(sql`UPDATE clients SET status = 'offline' WHERE id = ${client.id} AND status = 'online'`);
  await store.execute(sql`UPDATE tasks SET status = CASE WHEN status = 'executing' THEN 'queued' ELSE status END,
    carrier = NULL, lease = NULL WHERE carrier = ${client.id}`);
  return true;
}

/**
 * Tasks for this client to carry, claimed for it: local sources to measure (of jobs waiting, running, or paused
 * and not measured yet), then files to upload or download (of jobs waiting or running).
 */
async function work(context: EventContext, data: Record<string, unknown>): Promise<unknown> {
  const { store, caller } = context;
  const client = await ownClient(context, data.client);
  const limit = data.limit === undefined ? MAX_WORK : count(data.limit, 'limit', MAX_WORK);
  const job = data.job === undefined ? undefined : text(data.job, 'job', 64);
  const now = new Date();
  await store.execute(sql`UPDATE clients SET status = 'online', last_checkin = ${now.toISOString()}
    WHERE id = ${client.id}`);
  await releaseLapsed(store);
  const mine = localTo(caller.user.id, client.id);
  const lease = new Date(now.getTime() + CARRY_LEASE_S * 1000).toISOString();
  const jobs = sql`SELECT id FROM jobs WHERE workspace = ${caller.workspace.id} AND type = 1 AND archived IS NULL
    ${job === undefined ? sql.empty : sql`AND id = ${job}`}`;
  // Not measured yet: the local source's size comes from the machine.
  const toMeasure = await store.rows<ClaimedTask>(sql`SELECT t.id, t.job, t.source, t.destination, t.size, t.status
    FROM tasks t WHERE t.job IN (${jobs} AND status IN ('init', 'waiting', 'running', 'paused')) AND t.status = 'queued'
    AND t.size IS NULL AND ${mine.source} AND (t.lease IS NULL OR t.lease < ${now.toISOString()})
    ORDER BY t.created, t.uri LIMIT ${limit}`);
  const toCarry =
    toMeasure.length >= limit
      ? []
      : await store.rows<ClaimedTask>(sql`SELECT t.id, t.job, t.source, t.destination, t.size, t.status
        FROM tasks t WHERE t.job IN (${jobs} AND status IN ('init', 'waiting', 'running')) AND t.status = 'queued'
        AND t.size IS NOT NULL AND (${mine.source} OR ${mine.destination})
        AND (t.retry_at IS NULL OR t.retry_at <= ${now.toISOString()})
        ORDER BY t.priority DESC, t.created, t.uri LIMIT ${limit - toMeasure.length}`);
  const items: unknown[] = [];
  for (const task of toMeasure) {
    const claimed = await store.rows(sql`UPDATE tasks SET carrier = ${client.id}, lease = ${lease}
      WHERE id = ${task.id} AND status = 'queued' AND size IS NULL AND (lease IS NULL OR lease < ${now.toISOString()})
      RETURNING id`);
    if (claimed.length > 0) items.push(await workItem(store, task, 'measure'));
  }
  const started = new Set<string>();
  for (const task of toCarry) {
    const claimed = await store.rows(sql`UPDATE tasks SET status = 'executing', carrier = ${client.id},
      lease = ${lease}, started = COALESCE(started, ${now.toISOString()}), modified = ${now.toISOString()}
      WHERE id = ${task.id} AND status = 'queued' RETURNING id`);
    if (claimed.length === 0) continue;
    const source = JSON.parse(task.source) as TaskEnd;
    items.push(await workItem(store, task, isLocal(source) ? 'upload' : 'download'));
    started.add(task.job);
  }
  for (const id of started) {
    await store.execute(sql`UPDATE jobs SET status = 'running', started = COALESCE(started, ${now.toISOString()}),
      finished = NULL, message = NULL WHERE id = ${id} AND status IN ('init', 'waiting')`);
  }
  return { tasks: items };
}

/** SQL that tells whether a task's source (or destination) lies on this user's machine, or this client's. */
function localTo(user: string, client: string) {
  // The ends are our own JSON (JSON.stringify of a TaskEnd, keys in a fixed order): a quote inside a path is
  // escaped there, so a path cannot pass for these fields.
  const patterns = [`%"user":"${user}","client":null,%"s":null}`, `%"client":"${client}",%"s":null}`];
  const on = (column: 'source' | 'destination') =>
    sql`(${sql.raw(`t.${column}`)} LIKE ${patterns[0]} OR ${sql.raw(`t.${column}`)} LIKE ${patterns[1]})`;
  return { source: on('source'), destination: on('destination') };
}

async function workItem(store: Store, task: ClaimedTask, kind: 'measure' | 'upload' | 'download') {
  const source = JSON.parse(task.source) as TaskEnd;
  const destination = JSON.parse(task.destination) as TaskEnd;
  const [local, remote] = kind === 'download' ? [destination, source] : [source, destination];
  const settings = await settingsOf(store, task.job);
  return {
    task: task.id,
    job: task.job,
    kind,
    local: local.path,
    remote: remote.path,
    // Where a download lands when `local` is a directory on the machine.
    name: basename(source.path.replace(/[\\/]+$/, '')),
    size: task.size,
    mtime: null,
    checksum: settings.checksum,
    overwrite: settings.overwrite,
    lease: CARRY_LEASE_S,
  };
}

/**
 * Bytes carried so far, which renews the claims; answers the tasks to stop: those of a job paused, aborted or
 * deleted, or put on hold, or no longer this client's. A stopped task goes back to the queue, its bytes kept.
 */
async function progress(context: EventContext, data: Record<string, unknown>): Promise<unknown> {
  const { store } = context;
  const client = await ownClient(context, data.client);
  if (!Array.isArray(data.tasks)) throw badRequest('agent/progress: tasks must be a list of {"task", "bytes"}.');
  const lease = new Date(Date.now() + CARRY_LEASE_S * 1000).toISOString();
  const stop: string[] = [];
  const jobs = new Set<string>();
  for (const [i, entry] of data.tasks.entries()) {
    const item = objectOf(entry, `agent/progress: tasks[${i}]`);
    const id = text(item.task, `tasks[${i}].task`, 64);
    const bytes = count(item.bytes, `tasks[${i}].bytes`, Number.MAX_SAFE_INTEGER);
    const [row] = await store.rows<{ job: string; status: string; job_status: string; archived: string | null }>(sql`
      SELECT t.job, t.status, j.status AS job_status, j.archived FROM tasks t JOIN jobs j ON j.id = t.job
      WHERE t.id = ${id} AND t.carrier = ${client.id}`);
    if (row?.status !== 'executing' || row.archived !== null || !['waiting', 'running'].includes(row.job_status)) {
      stop.push(id);
      if (row) {
        await store.execute(sql`UPDATE tasks SET status = CASE WHEN status = 'executing' THEN 'queued' ELSE status END,
          carrier = NULL, lease = NULL, bytes = ${bytes} WHERE id = ${id} AND carrier = ${client.id}`);
      }
      continue;
    }
    await store.execute(sql`UPDATE tasks SET bytes = ${bytes}, lease = ${lease}, modified = ${new Date().toISOString()}
      WHERE id = ${id} AND carrier = ${client.id}`);
    jobs.add(row.job);
  }
  for (const job of jobs) await jobProgress(store, job);
  return { stop };
}

/** Speeds measured between two progress reports of a job, by job: smoothed as the engine smooths its own. */
const lastProgress = new Map<string, { at: number; bytes: number; speed: number }>();

async function jobProgress(store: Store, job: string): Promise<void> {
  const [row] = await store.rows<{ size: number | null; bytes: number | null }>(sql`SELECT j.size,
    (SELECT SUM(CASE WHEN t.status = 'done' THEN t.size ELSE COALESCE(t.bytes, 0) END) FROM tasks t
      WHERE t.job = j.id AND t.status <> 'excluded') AS bytes FROM jobs j WHERE j.id = ${job}`);
  const size = Number(row?.size ?? 0);
  const bytes = Number(row?.bytes ?? 0);
  const now = Date.now();
  const last = lastProgress.get(job);
  const seconds = last ? (now - last.at) / 1000 : 0;
  const sample = last && seconds > 0 ? Math.max(0, bytes - last.bytes) / seconds / 1e6 : 0;
  const speed = !last ? 0 : last.speed === 0 ? sample : 0.3 * sample + 0.7 * last.speed;
  lastProgress.set(job, { at: now, bytes, speed });
  if (lastProgress.size > 10_000) lastProgress.delete(lastProgress.keys().next().value as string);
  const progressed = size > 0 ? Math.round(Math.min(100, (bytes / size) * 100) * 100) / 100 : 0;
  const etr = speed > 0 ? Math.round((size - bytes) / (speed * 1e6)) : null;
  await store.execute(sql`UPDATE jobs SET bytes = ${bytes}, progress = ${progressed},
    speed = ${Math.round(speed * 100) / 100}, etr = ${etr},
    status = CASE WHEN status = 'waiting' THEN 'running' ELSE status END WHERE id = ${job}`);
}

/**
 * A local source measured: a file's size, or the files beneath a directory, each of which becomes a task of its
 * own (as the engine does for sources on the shares); or the error that it cannot be read, which fails the task.
 */
async function measured(context: EventContext, data: Record<string, unknown>): Promise<true> {
  const { store, caller } = context;
  const client = await ownClient(context, data.client);
  const id = text(data.task, 'task', 64);
  const [task] = await store.rows<ClaimedTask & { uri: string; priority: number }>(sql`SELECT id, job, uri, source,
    destination, size, status, priority FROM tasks WHERE id = ${id} AND carrier = ${client.id} AND size IS NULL
    AND status = 'queued'`);
  if (!task) throw notFound(`agent/measured: task ${id} is not waiting to be measured by this client.`);
  const source = JSON.parse(task.source) as TaskEnd;
  const now = new Date().toISOString();
  if (data.error !== undefined) {
    const reason = text(data.error, 'error', MAX_TEXT);
    await store.execute(sql`UPDATE tasks SET status = 'failed', message = ${`The source "${source.path}" cannot be read: ${reason}`},
      carrier = NULL, lease = NULL, finished = ${now}, modified = ${now} WHERE id = ${id}`);
    await settle(store, task.job);
    return true;
  }
  const files = filesOf(data.files);
  const single = files.length === 1 && files[0]?.path === '';
  if (single) {
    await store.execute(sql`UPDATE tasks SET size = ${files[0]?.size ?? 0}, carrier = NULL, lease = NULL
      WHERE id = ${id}`);
  } else {
    const destination = JSON.parse(task.destination) as TaskEnd;
    const from = source.path.replace(/[\\/]+$/, '');
    const to = destination.path.endsWith('/') ? `${destination.path}${basename(from)}` : destination.path;
    let next = await nextUri(store, task.job);
    const rows = files.map((file) => [
      randomUUID(),
      caller.workspace.id,
      task.job,
      String(next++),
      'queued',
      task.priority,
      JSON.stringify({ ...source, path: `${from}/${file.path}` }),
      JSON.stringify({ ...destination, path: `${to}/${file.path}` }),
      file.size,
      now,
      now,
    ]);
    await store.db.transaction().execute(async (trx) => {
      const within = store.within(trx);
      await within.execute(sql`DELETE FROM tasks WHERE id = ${id}`);
      await insertMany(
        within,
        'tasks',
        ['id', 'workspace', 'job', 'uri', 'status', 'priority', 'source', 'destination', 'size', 'created', 'modified'],
        rows,
      );
    });
  }
  await store.execute(sql`UPDATE jobs SET size = (SELECT COALESCE(SUM(t.size), 0) FROM tasks t WHERE t.job = ${task.job}
    AND t.status <> 'excluded'), status = CASE WHEN status = 'init' THEN 'waiting' ELSE status END
    WHERE id = ${task.job}`);
  // A directory with no files leaves nothing to carry.
  if (files.length === 0) await settle(store, task.job);
  return true;
}

function filesOf(value: unknown): { path: string; size: number }[] {
  if (!Array.isArray(value)) throw badRequest('agent/measured: files must be a list of {"path", "size", "mtime"}.');
  return value.map((entry, i) => {
    const file = objectOf(entry, `agent/measured: files[${i}]`);
    const path = typeof file.path === 'string' ? file.path : undefined;
    const parts = path?.split('/') ?? [];
    // Relative, below the measured source, in plain names: nothing that climbs out or hides a control character.
    const bad =
      path === undefined ||
      path.startsWith('/') ||
      (path !== '' && parts.some((part) => part === '' || part === '.' || part === '..')) ||
      hasControlCharacter(path) ||
      path.includes('\\') ||
      Buffer.byteLength(path) > 4096;
    if (bad) throw badRequest(`agent/measured: files[${i}].path must be a relative path below the source.`);
    return { path, size: count(file.size, `files[${i}].size`, Number.MAX_SAFE_INTEGER) };
  });
}

/**
 * A download written whole on the machine: its size and checksum must be the source's (as `/d` served it, or read
 * again now); then the task is done.
 */
async function done(context: EventContext, data: Record<string, unknown>): Promise<true> {
  const { store } = context;
  const client = await ownClient(context, data.client);
  const id = text(data.task, 'task', 64);
  const size = count(data.size, 'size', Number.MAX_SAFE_INTEGER);
  const checksum = text(data.checksum, 'checksum', 200);
  const [task] = await store.rows<ClaimedTask & { checksum: string | null; started: string | null }>(sql`SELECT id,
    job, source, destination, size, status, checksum, started FROM tasks
    WHERE id = ${id} AND carrier = ${client.id} AND status = 'executing'`);
  if (!task) throw notFound(`agent/done: task ${id} is not being carried by this client.`);
  const source = JSON.parse(task.source) as TaskEnd;
  if (isLocal(source)) throw badRequest('agent/done is for downloads; an upload ends with its last PUT /u.');
  const algorithm = checksum.startsWith('sha256:') ? 'sha256' : 'xxhash64';
  const sent =
    task.checksum?.startsWith(`${algorithm}:`) === true
      ? task.checksum
      : await checksumOf(
          (await placeOnShares(store, context.config.dataDir, task.job, source, 'read')).absolute,
          algorithm,
        );
  if (sent !== checksum || (task.size !== null && size !== Number(task.size))) {
    await retry(
      store,
      task.job,
      id,
      'The file received differs from the source (checksum or size); it is sent again.',
      false,
    );
    throw new HttpError(409, `The checksum ${checksum} differs from the source's ${sent}: the task is tried again.`);
  }
  await recordDone(store, { id, job: task.job, size, checksum, started: task.started });
  return true;
}

/** A task written whole: done, its claim let go; then the job is settled. */
export async function recordDone(
  store: Store,
  task: { id: string; job: string; size: number; checksum: string; started: string | null },
): Promise<void> {
  const finished = new Date().toISOString();
  const seconds = task.started ? Math.max(0, Math.round((Date.parse(finished) - Date.parse(task.started)) / 1000)) : 0;
  await store.execute(sql`UPDATE tasks SET status = 'done', size = ${task.size}, bytes = ${task.size}, progress = 100,
    speed = -1, etr = 0, checksum = ${task.checksum}, message = NULL, retry_at = NULL, carrier = NULL, lease = NULL,
    time = ${seconds}, finished = ${finished}, modified = ${finished} WHERE id = ${task.id}`);
  await jobProgress(store, task.job);
  await settle(store, task.job);
}

/** A task that failed on the machine: tried again after a pause, or failed for good. */
async function failed(context: EventContext, data: Record<string, unknown>): Promise<true> {
  const { store } = context;
  const client = await ownClient(context, data.client);
  const id = text(data.task, 'task', 64);
  const message = text(data.message, 'message', MAX_TEXT);
  const [task] = await store.rows<{ job: string }>(sql`SELECT job FROM tasks WHERE id = ${id}
    AND carrier = ${client.id}`);
  if (!task) throw notFound(`agent/failed: task ${id} is not being carried by this client.`);
  await retry(store, task.job, id, message, data.permanent === true);
  return true;
}

/** A failed attempt: tried again after a pause that doubles each time, until the job's retries are spent. */
export async function retry(store: Store, job: string, task: string, message: string, permanent: boolean) {
  const [row] = await store.rows<{ attempts: number | null }>(sql`SELECT attempts FROM tasks WHERE id = ${task}`);
  const attempts = Number(row?.attempts ?? 0) + 1;
  const now = new Date();
  const settings = await settingsOf(store, job);
  if (permanent || attempts > settings.retries) {
    await store.execute(sql`UPDATE tasks SET status = 'failed', attempts = ${attempts}, message = ${message},
      speed = -1, carrier = NULL, lease = NULL, finished = ${now.toISOString()}, modified = ${now.toISOString()}
      WHERE id = ${task}`);
  } else {
    const retryAt = new Date(now.getTime() + Math.min(30_000, 500 * 2 ** (attempts - 1))).toISOString();
    await store.execute(sql`UPDATE tasks SET status = 'queued', attempts = ${attempts}, message = ${message},
      retry_at = ${retryAt}, carrier = NULL, lease = NULL, modified = ${now.toISOString()} WHERE id = ${task}`);
  }
  await settle(store, job);
}

export async function settingsOf(store: Store, job: string) {
  const [row] = await store.rows<{ id: string; workspace: string; queue: string | null; settings: string | null }>(
    sql`SELECT id, workspace, queue, settings FROM jobs WHERE id = ${job}`,
  );
  if (!row) throw notFound(`There is no transfer ${job}.`);
  return jobSettings(store, row);
}

/** A new client: a user's machine or a server node, named by its code (its host name), created now. */
export async function insertClient(
  store: Store,
  client: { id: string; workspace: string; code: string; last_checkin: string } & Record<string, unknown>,
): Promise<void> {
  const row = {
    created: client.last_checkin,
    modified: client.last_checkin,
    code_folded: fold(client.code),
    name: client.code,
    name_folded: fold(client.code),
    inactive: 0,
    ...client,
  };
  await insertMany(store, 'clients', Object.keys(row), [Object.values(row)]);
}

/** Clients whose agent has missed a minute of check-ins are offline (servers check in as the engine runs). */
export async function markOffline(store: Store): Promise<void> {
  const before = new Date(Date.now() - OFFLINE_S * 1000).toISOString();
  await store.execute(sql`UPDATE clients SET status = 'offline' WHERE status = 'online' AND last_checkin < ${before}`);
}

/** The caller's own client that `value` names, not deleted: the only one its events may speak for. */
async function ownClient(context: EventContext, value: unknown): Promise<{ id: string; status: string }> {
  const id = text(value, 'client', 64);
  const [client] = await context.store.rows<{ id: string; status: string }>(sql`SELECT id, status FROM clients
    WHERE id = ${id} AND workspace = ${context.caller.workspace.id} AND "user" = ${context.caller.user.id}
    AND archived IS NULL`);
  if (!client) throw notFound(`There is no client ${id} of yours in this workspace: check in first (agent/checkin).`);
  return client;
}

function text(value: unknown, name: string, max: number): string {
  if (typeof value !== 'string' || value.trim() === '') throw badRequest(`${name} must be text.`);
  if (value.length > max) throw badRequest(`${name} is longer than ${max} characters.`);
  if (hasControlCharacter(value)) throw badRequest(`${name} holds a control character.`);
  return value;
}

function hasControlCharacter(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x20 || code === 0x7f) return true;
  }
  return false;
}

function optionalText(value: unknown, name: string, max: number): string | null {
  return value === undefined || value === null ? null : text(value, name, max);
}

function count(value: unknown, name: string, max: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0 || value > max) {
    throw badRequest(`${name} must be a whole number from 0 to ${max}.`);
  }
  return value;
}

/** The first whole number not yet a task uri of the job. */
async function nextUri(store: Store, job: string): Promise<number> {
  const rows = await store.rows<{ uri: string }>(sql`SELECT uri FROM tasks WHERE job = ${job}`);
  return rows.reduce((max, row) => (/^\d+$/.test(row.uri) ? Math.max(max, Number(row.uri) + 1) : max), 0);
}
