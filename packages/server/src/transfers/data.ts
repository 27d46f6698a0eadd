import { constants, type Stats } from 'node:fs';
import { type FileHandle, lstat, mkdir, open, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Caller } from '../auth/authenticate.js';
import type { ServerConfig } from '../config.js';
import type { TaskEnd } from '../entities/endpoints.js';
import { badRequest, HttpError, notFound } from '../http/errors.js';
import { sql } from '../store/sql.js';
import type { Store } from '../store/store.js';
import { recordDone, retry, settingsOf } from './agents.js';
import { isLocal } from './carried.js';
import {
  type Algorithm,
  feed,
  freeName,
  type Hasher,
  hasher,
  identical,
  type Overwrite,
  shortHash,
  syncDirectory,
} from './copy.js';
import { collect } from './deliveries.js';
import { placeOnShares } from './sources.js';

/**
 * The data routes (docs/agent.md): `GET /d/<task>` serves a task's source from the shares, `HEAD` and `PUT /u/<task>`
 * write a task's destination on the shares, resumable by offset and checked by checksum. Only the client holding
 * the task's claim may call them, with its user's session, while the task's transfer runs.
 */

export interface DataRoutesOptions {
  readonly store: Store;
  readonly config: ServerConfig;
  /** The caller of a data request, from the same credentials as an event's and the session in X-Accsyn-Session. */
  readonly authenticate: (request: FastifyRequest) => Promise<Caller>;
}

/** Bytes read from a source per piece served, and gathered from an upload before each write. */
const PIECE = 1024 * 1024;

interface CarriedTask {
  readonly id: string;
  readonly job: string;
  readonly source: TaskEnd;
  readonly destination: TaskEnd;
  readonly size: number | null;
  readonly started: string | null;
}

/** Uploads being written on this node, by task, with the checksum of the bytes so far: resumed without a read-back. */
const uploads = new Map<string, { offset: number; hash: Hasher; algorithm: Algorithm; busy: boolean }>();
const MAX_REMEMBERED = 1000;

export function dataRoutes({ store, config, authenticate }: DataRoutesOptions) {
  return async (scope: FastifyInstance) => {
    // Upload bodies are read as streams, by the route itself, whatever their length.
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', (_request, _payload, done) => done(null));

    const carried = async (request: FastifyRequest): Promise<CarriedTask> => {
      const caller = await authenticate(request);
      return carriedTask(store, caller, (request.params as { task: string }).task);
    };

    scope.get('/d/:task', async (request, reply) => {
      const task = await carried(request);
      if (isLocal(task.source)) throw badRequest('This task is an upload: its source is on your machine.');
      const located = await placeOnShares(store, config.dataDir, task.job, task.source, 'read');
      const stats = await stat(located.absolute).catch(() => undefined);
      if (!stats?.isFile()) throw notFound(`The source "${task.source.path}" does not exist (any more).`);
      const range = rangeOf(request.headers.range, stats.size);
      const algorithm = (await settingsOf(store, task.job)).checksum;
      reply
        .code(range.partial ? 206 : 200)
        .headers(fileHeaders(stats))
        .header('content-type', 'application/octet-stream')
        .header('content-length', String(range.end - range.start))
        .header('accept-ranges', 'bytes');
      if (range.partial) reply.header('content-range', `bytes ${range.start}-${range.end - 1}/${stats.size}`);
      if (range.end - range.start === 0) return reply.send('');
      const whole = range.end === stats.size;
      const file = await open(located.absolute, constants.O_RDONLY);
      return reply.send(
        Readable.from(serve(file, range, whole ? { algorithm, hash: hasher(algorithm) } : undefined, store, task.id)),
      );
    });

    scope.head('/u/:task', async (request, reply) => {
      const task = await carried(request);
      const target = await uploadTarget(store, config, task);
      const part = await lstat(target.part).catch(() => undefined);
      reply.header('x-accsyn-offset', String(part?.isFile() ? part.size : 0)).send();
    });

    scope.put('/u/:task', async (request, reply) => {
      const task = await carried(request);
      const offset = wholeNumber(request.headers['x-accsyn-offset'], 'X-Accsyn-Offset');
      const final = finalOf(request);
      const target = await uploadTarget(store, config, task);
      const settings = await settingsOf(store, task.job);
      const known = uploads.get(task.id);
      if (known?.busy) throw new HttpError(409, 'This file is being uploaded by another request.');
      // Marked busy before anything is awaited: a second request for the file meanwhile is refused above.
      const upload = { offset, hash: hasher(settings.checksum), algorithm: settings.checksum, busy: true };
      if (known && known.offset === offset && known.algorithm === settings.checksum) upload.hash = known.hash;
      remember(task.id, upload);
      let output: FileHandle | undefined;
      try {
        await mkdir(dirname(target.part), { recursive: true });
        const held = (await lstat(target.part).catch(() => undefined))?.size ?? 0;
        if (held !== offset) {
          reply.header('x-accsyn-offset', String(held));
          throw new HttpError(409, `The upload is at byte ${held}, not ${offset}: send from there.`, {
            offset: held,
          });
        }
        output = await open(target.part, offset === 0 ? 'w' : 'r+', 0o600);
        if (upload.hash !== known?.hash) await feed(output, offset, upload.hash);
        upload.offset = await receive(request, output, upload, final?.size);
        if (!final || upload.offset !== final.size) {
          return { offset: upload.offset, done: false };
        }
        const checksum = `${upload.algorithm}:${upload.hash.digest()}`;
        uploads.delete(task.id);
        if (checksum !== final.checksum) {
          await output.close();
          output = undefined;
          await rm(target.part, { force: true });
          await retry(
            store,
            task.job,
            task.id,
            'The file received differs from the one sent (checksum); it is sent again.',
            false,
          );
          throw new HttpError(
            409,
            `The checksum of the bytes received (${checksum}) is not ${final.checksum}; send the file again.`,
          );
        }
        await Promise.all([output.chmod(final.mode), output.utimes(new Date(), new Date(final.mtime))]);
        await output.sync();
        await output.close();
        output = undefined;
        const landed = await land(target.part, target.file, settings.overwrite, final.size, final.mtime);
        await recordDone(store, { id: task.id, job: task.job, size: final.size, checksum, started: task.started });
        await collect(
          store,
          task.job,
          { ...task.destination, path: renamed(task.destination.path, target, landed) },
          final.size,
        );
        return { offset: upload.offset, done: true, checksum };
      } catch (error) {
        // What arrived is in the part file; its checksum is read back from it next time.
        uploads.delete(task.id);
        throw error;
      } finally {
        upload.busy = false;
        await output?.close().catch(() => undefined);
      }
    });
  };
}

/** The task `id` if the caller's client holds its claim and its transfer runs; refusals say which is not so. */
async function carriedTask(store: Store, caller: Caller, id: string): Promise<CarriedTask> {
  const [row] = await store.rows<{
    id: string;
    job: string;
    source: string;
    destination: string;
    size: number | null;
    status: string;
    started: string | null;
    job_status: string;
    job_archived: string | null;
  }>(sql`SELECT t.id, t.job, t.source, t.destination, t.size, t.status, t.started, j.status AS job_status,
    j.archived AS job_archived FROM tasks t JOIN jobs j ON j.id = t.job JOIN clients c ON c.id = t.carrier
    WHERE t.id = ${id} AND t.workspace = ${caller.workspace.id} AND c."user" = ${caller.user.id}`);
  if (!row) throw notFound(`There is no task ${id} carried by one of your clients: ask for work first (agent/work).`);
  if (row.job_archived !== null) throw new HttpError(409, 'The transfer of this task was deleted.');
  if (!['waiting', 'running'].includes(row.job_status)) {
    throw new HttpError(409, `The transfer of this task is ${row.job_status}, not running.`);
  }
  if (row.status !== 'executing') throw new HttpError(409, `The task is ${row.status}, not being carried.`);
  return {
    id: row.id,
    job: row.job,
    source: JSON.parse(row.source) as TaskEnd,
    destination: JSON.parse(row.destination) as TaskEnd,
    size: row.size === null ? null : Number(row.size),
    started: row.started,
  };
}

/**
 * Where an upload lands: its destination on the shares, or the file of the source's name in it when it is a
 * directory (or written with a trailing slash); and the part file beside it.
 */
async function uploadTarget(store: Store, config: ServerConfig, task: CarriedTask) {
  if (!isLocal(task.source)) throw badRequest('This task is a download: its destination is on your machine.');
  const located = await placeOnShares(store, config.dataDir, task.job, task.destination, 'write');
  const into =
    task.destination.path.endsWith('/') || (await stat(located.absolute).catch(() => undefined))?.isDirectory();
  const file = into ? join(located.absolute, basename(task.source.path.replace(/[\\/]+$/, ''))) : located.absolute;
  return {
    file,
    into: Boolean(into),
    part: join(dirname(file), `.${basename(file)}.${shortHash(task.id)}.accsyn-part`),
  };
}

/** Serves a range of an open file, piece by piece; the whole file's checksum is kept on the task once sent. */
async function* serve(
  file: FileHandle,
  range: { start: number; end: number },
  hash: { algorithm: Algorithm; hash: Hasher } | undefined,
  store: Store,
  task: string,
): AsyncGenerator<Buffer> {
  try {
    if (hash && range.start > 0) await feed(file, range.start, hash.hash);
    for (let position = range.start; position < range.end; ) {
      const buffer = Buffer.allocUnsafe(Math.min(PIECE, range.end - position));
      const { bytesRead } = await file.read(buffer, 0, buffer.length, position);
      if (bytesRead === 0) throw new Error('the source ended before its size: it changed while it was sent');
      const piece = bytesRead === buffer.length ? buffer : buffer.subarray(0, bytesRead);
      hash?.hash.update(piece);
      position += bytesRead;
      yield piece;
    }
    // The receiver's checksum is compared with this one when it reports the file written (agent/done).
    if (hash) {
      await store.execute(sql`UPDATE tasks SET checksum = ${`${hash.algorithm}:${hash.hash.digest()}`}
        WHERE id = ${task} AND status = 'executing'`);
    }
  } finally {
    await file.close();
  }
}

/**
 * Appends the request's body to the part file from `upload.offset`, gathering pieces of up to a mebibyte between
 * writes, and the checksum on the way. Answers the part's size after. A body that goes past the file's size is
 * refused, keeping what fits.
 */
async function receive(
  request: FastifyRequest,
  output: FileHandle,
  upload: { offset: number; hash: Hasher },
  size: number | undefined,
): Promise<number> {
  let position = upload.offset;
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  const flush = async () => {
    if (pendingBytes === 0) return;
    const data = pending.length === 1 ? (pending[0] as Buffer) : Buffer.concat(pending, pendingBytes);
    pending = [];
    pendingBytes = 0;
    await write(output, data, position);
    upload.hash.update(data);
    position += data.length;
    upload.offset = position;
  };
  for await (const chunk of request.raw as AsyncIterable<Buffer>) {
    if (size !== undefined && position + pendingBytes + chunk.length > size) {
      await flush();
      throw badRequest(`The body goes past the file's size (${size} bytes, X-Accsyn-Size).`);
    }
    pending.push(chunk);
    pendingBytes += chunk.length;
    if (pendingBytes >= PIECE) await flush();
  }
  await flush();
  return position;
}

async function write(output: FileHandle, data: Buffer, position: number): Promise<void> {
  for (let written = 0; written < data.length; ) {
    const { bytesWritten } = await output.write(data, written, data.length - written, position + written);
    written += bytesWritten;
  }
}

/**
 * Renames a finished part file into place by the job's `overwrite` setting, and syncs the directory. With
 * `skip_identical`, a destination of the same size and time is kept, and the part removed.
 */
async function land(part: string, file: string, overwrite: Overwrite, size: number, mtime: number): Promise<string> {
  const existing = await lstat(file).catch(() => undefined);
  if (existing?.isDirectory()) throw new HttpError(409, 'The destination is a directory.');
  let destination = file;
  if (existing && overwrite === 'skip_identical' && identical(existing, { size, mtimeMs: mtime } as Stats)) {
    await rm(part, { force: true });
    return file;
  }
  if (existing && overwrite === 'rename') destination = await freeName(file);
  await rename(part, destination);
  await syncDirectory(dirname(destination));
  return destination;
}

/** The share path of the file an upload wrote: its destination, inside it when a directory, renamed as it landed. */
function renamed(path: string, target: { into: boolean }, landed: string): string {
  if (target.into) return `${path.replace(/\/*$/, '/')}${basename(landed)}`;
  const at = path.lastIndexOf('/');
  return `${path.slice(0, at + 1)}${basename(landed)}`;
}

/** The headers that tell a file: its size, time and mode, and an ETag of the first two. */
function fileHeaders(stats: Stats): Record<string, string> {
  return {
    'x-accsyn-size': String(stats.size),
    'x-accsyn-mtime': String(stats.mtimeMs),
    'x-accsyn-mode': (stats.mode & 0o7777).toString(8),
    etag: `"${stats.size.toString(16)}-${Math.round(stats.mtimeMs).toString(16)}"`,
  };
}

/** `Range: bytes=N-` or `bytes=N-M`, the only forms a carrier sends; none is the whole file. */
function rangeOf(header: string | undefined, size: number): { start: number; end: number; partial: boolean } {
  if (header === undefined) return { start: 0, end: size, partial: false };
  const match = /^bytes=(\d{1,16})-(\d{0,16})$/.exec(header.trim());
  const start = Number(match?.[1]);
  const end = match?.[2] ? Number(match[2]) + 1 : size;
  if (!match || start > size || end > size || end < start) {
    throw new HttpError(416, `The range "${header}" is not within the file's ${size} bytes.`, undefined, {
      'content-range': `bytes */${size}`,
    });
  }
  return { start, end, partial: true };
}

/** The headers that end an upload, all or none: size, checksum, time, and optionally mode. */
function finalOf(request: FastifyRequest) {
  const headers = request.headers;
  if (headers['x-accsyn-checksum'] === undefined) return undefined;
  const checksum = String(headers['x-accsyn-checksum']);
  if (!/^(xxhash64|sha256):[0-9a-f]{1,64}$/.test(checksum)) {
    throw badRequest('X-Accsyn-Checksum must be "xxhash64:<hex>" or "sha256:<hex>".');
  }
  const mtime = Number(headers['x-accsyn-mtime']);
  if (!Number.isFinite(mtime) || mtime < 0) throw badRequest('X-Accsyn-Mtime must be milliseconds since 1970.');
  const modeText = headers['x-accsyn-mode'];
  const mode = modeText === undefined ? 0o644 : Number.parseInt(String(modeText), 8);
  if (!Number.isInteger(mode) || mode < 0 || mode > 0o7777) throw badRequest('X-Accsyn-Mode must be octal, as 644.');
  return { size: wholeNumber(headers['x-accsyn-size'], 'X-Accsyn-Size'), checksum, mtime, mode };
}

function wholeNumber(value: string | string[] | undefined, name: string): number {
  const number = Number(value);
  if (typeof value !== 'string' || !/^\d{1,16}$/.test(value) || !Number.isSafeInteger(number)) {
    throw badRequest(`${name} must be a whole number of bytes.`);
  }
  return number;
}

function remember(task: string, upload: { offset: number; hash: Hasher; algorithm: Algorithm; busy: boolean }) {
  uploads.delete(task);
  uploads.set(task, upload);
  if (uploads.size > MAX_REMEMBERED) uploads.delete(uploads.keys().next().value as string);
}
