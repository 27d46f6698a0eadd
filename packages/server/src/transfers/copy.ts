import { createHash } from 'node:crypto';
import { constants, type Stats } from 'node:fs';
import { type FileHandle, lstat, open, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, extname, join } from 'node:path';
import { Xxh64 } from '@node-rs/xxhash';

/**
 * One file copied so that it appears whole or not at all: written to a part file beside the destination, its
 * checksum taken on the way (and, to verify, each piece read back once written and compared), given the source's
 * mode and modification time, synced to disk, then renamed into place, and the directory synced. A part file left
 * by an interrupted copy is resumed from where it stopped, its bytes read again to carry the checksum on.
 */

export type Algorithm = 'xxhash64' | 'sha256';

/**
 * What to do with a destination file that exists: `skip_identical` keeps one of the source's size and modification
 * time (as rsync does) and replaces any other; `overwrite` replaces it; `rename` writes beside it as `name (1).ext`.
 */
export type Overwrite = 'skip_identical' | 'overwrite' | 'rename';

export interface CopyOptions {
  readonly source: string;
  readonly destination: string;
  /** Names the part file, so that a retry of the same task finds it again. */
  readonly key: string;
  readonly algorithm: Algorithm;
  /** Read each piece of the part back once written and compare it with what was written. */
  readonly verify: boolean;
  readonly overwrite: Overwrite;
  readonly signal?: AbortSignal | undefined;
  /** Called with the bytes added each time some are written (or found already written). */
  readonly onBytes?: ((bytes: number) => void) | undefined;
}

export interface Copied {
  readonly outcome: 'copied' | 'skipped';
  readonly size: number;
  /** `<algorithm>:<hex>`. */
  readonly checksum: string;
  /** Where the file landed: the destination, or beside it when renamed. */
  readonly destination: string;
  /** Bytes found in a part file and not written again. */
  readonly resumed: number;
}

/** A copy that cannot succeed as asked: the source changed, the bytes written differ. Retried like any failure. */
export class CopyError extends Error {
  override readonly name: string = 'CopyError';
}

/** The part file read back differs from what was written to it: it is removed, and the next attempt starts anew. */
class ReadBackError extends CopyError {
  override readonly name = 'ReadBackError';
}

const CHUNK = 4 * 1024 * 1024;
/**
 * While a big file is copied, the bytes written so far are synced every this many: the disk writes them while the
 * rest is copied, rather than all at the end (the kernel would otherwise keep them cached until the final sync).
 */
const SYNC_EVERY = 64 * 1024 * 1024;

export async function copyFile(options: CopyOptions): Promise<Copied> {
  const { source, algorithm, signal } = options;
  const from = await stat(source);
  if (!from.isFile()) throw new CopyError(`the source is not a file`);
  let destination = options.destination;
  const existing = await lstat(destination).catch(() => undefined);
  if (existing?.isDirectory()) throw new CopyError('the destination is a directory');
  if (existing && options.overwrite === 'skip_identical' && identical(existing, from)) {
    const checksum = await checksumOf(destination, algorithm, signal);
    options.onBytes?.(from.size);
    return { outcome: 'skipped', size: from.size, checksum, destination, resumed: 0 };
  }
  if (existing && options.overwrite === 'rename') destination = await freeName(destination);
  // The part file's name carries the source's size and time: a source that changed starts a new part.
  const part = join(
    dirname(destination),
    `.${basename(destination)}.${shortHash(`${options.key}:${from.size}:${from.mtimeMs}`)}.accsyn-part`,
  );
  const hash = hasher(algorithm);
  const resumed = await writePart(part, from, hash, options).catch(async (error: unknown) => {
    if (error instanceof ReadBackError) await rm(part, { force: true });
    throw error;
  });
  const checksum = `${algorithm}:${hash.digest()}`;
  await rename(part, destination);
  await syncDirectory(dirname(destination));
  return { outcome: 'copied', size: from.size, checksum, destination, resumed };
}

/**
 * Same size, and modification times less than a millisecond apart. A copy's time is the source's as a Date gives it,
 * rounded to the millisecond (and off by a microsecond once utimes has it): whole milliseconds would differ half the
 * time, and a finished file would be copied again.
 */
export function identical(a: Stats, b: Stats): boolean {
  return a.isFile() && a.size === b.size && Math.abs(a.mtimeMs - b.mtimeMs) < 1;
}

/** `name (1).ext`, `name (2).ext`, ... the first that is free. */
export async function freeName(path: string): Promise<string> {
  const extension = extname(path);
  const stem = path.slice(0, path.length - extension.length);
  for (let n = 1; ; n++) {
    const candidate = `${stem} (${n})${extension}`;
    if (!(await lstat(candidate).catch(() => undefined))) return candidate;
  }
}

/**
 * Writes the part file whole: what a former attempt left is kept (its bytes fed to the checksum), the rest copied
 * from the source; then the source's mode and times are set on it and it is synced to disk. Answers the bytes kept.
 */
async function writePart(part: string, from: Stats, hash: Hasher, options: CopyOptions): Promise<number> {
  const input = await open(options.source, constants.O_RDONLY);
  let output: FileHandle | undefined;
  try {
    const opened = await openPart(part, from.size, hash, options.signal);
    output = opened.output;
    if (opened.kept > 0) options.onBytes?.(opened.kept);
    await copyBytes(input, output, opened.kept, from.size, hash, options);
    // Created owner-only: the final mode is set from the source once the file is whole.
    await Promise.all([output.chmod(from.mode & 0o7777), output.utimes(from.atime, from.mtime)]);
    await output.sync();
    return opened.kept;
  } finally {
    await Promise.allSettled([input.close(), output?.close()]);
  }
}

/**
 * The part file, opened to read and write: created, or, when a former attempt left one, kept as far as it goes and
 * its bytes fed to the checksum. A part longer than the source, or that is not a plain file, is started again.
 */
async function openPart(
  part: string,
  size: number,
  hash: Hasher,
  signal?: AbortSignal,
): Promise<{ output: FileHandle; kept: number }> {
  const create = () => open(part, constants.O_RDWR | constants.O_CREAT | constants.O_EXCL, 0o600);
  try {
    return { output: await create(), kept: 0 };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
  // Not followed: a link in the part's place is removed, not written through.
  const found = await open(part, constants.O_RDWR | constants.O_NOFOLLOW).catch(() => undefined);
  const stats = await found?.stat().catch(() => undefined);
  if (!found || !stats?.isFile() || stats.size > size) {
    await found?.close();
    await rm(part, { force: true });
    return { output: await create(), kept: 0 };
  }
  try {
    await feed(found, stats.size, hash, signal);
  } catch (error) {
    await found.close();
    throw error;
  }
  return { output: found, kept: stats.size };
}

/**
 * Copies the source from `offset` into the part at the same place, hashing as it goes: the next chunk is read while
 * the last is written (and, to verify, read back), so that the disk reads and writes at once and the hash runs
 * between. A big file is synced as it grows, so that little is left to write when it is synced at the end.
 */
async function copyBytes(
  input: FileHandle,
  output: FileHandle,
  offset: number,
  size: number,
  hash: Hasher,
  options: CopyOptions,
): Promise<void> {
  // One byte more than the file holds, for a small one: a read that comes short has found its end.
  const length = Math.min(CHUNK, size - offset + 1);
  const buffers = [Buffer.allocUnsafe(length), Buffer.allocUnsafe(length)];
  const readBack = options.verify ? Buffer.allocUnsafe(length) : undefined;
  let position = offset;
  let turn = 0;
  let reading = input.read(buffers[turn] as Buffer, 0, length, position);
  let writing: Promise<unknown> = Promise.resolve();
  let syncing: Promise<unknown> | undefined;
  let synced = offset;
  try {
    for (;;) {
      const { bytesRead, buffer } = await reading;
      if (bytesRead === 0) break;
      const at = position;
      position += bytesRead;
      options.signal?.throwIfAborted();
      await writing;
      // A read that came short at the source's size found its end: none is needed to find it again.
      const more = bytesRead === length || position !== size;
      turn = 1 - turn;
      if (more) reading = input.read(buffers[turn] as Buffer, 0, length, position);
      const chunk = buffer.subarray(0, bytesRead);
      hash.update(chunk);
      writing = observed(
        writeAt(output, chunk, at).then(async () => {
          // The chunk's buffer is not read into again before this ends.
          if (readBack && !(await readAt(output, readBack, bytesRead, at)).equals(chunk)) {
            throw new ReadBackError('the file read back differs from what was written');
          }
          options.onBytes?.(bytesRead);
        }),
      );
      if (position - synced >= SYNC_EVERY && !syncing) {
        synced = position;
        const sync = writing.then(() => output.datasync());
        syncing = observed(sync);
        sync.then(
          () => {
            if (syncing === sync) syncing = undefined;
          },
          () => undefined,
        );
      }
      if (!more) break;
    }
    await writing;
  } finally {
    // Settled before the handles close, whatever ended the copy.
    await Promise.allSettled([reading, writing, syncing]);
  }
  await syncing;
  if (position !== size) throw new CopyError(`the source changed while it was copied (${position} of ${size} bytes)`);
}

/** `promise`, its failure seen now (a failure with no handler yet would end the process) and by who awaits it. */
function observed<T>(promise: Promise<T>): Promise<T> {
  promise.catch(() => undefined);
  return promise;
}

/** Writes all of `chunk` at `position`. */
async function writeAt(output: FileHandle, chunk: Buffer, position: number): Promise<void> {
  let done = 0;
  while (done < chunk.length) {
    const { bytesWritten } = await output.write(chunk, done, chunk.length - done, position + done);
    done += bytesWritten;
  }
}

/** Reads `length` bytes at `position` into `buffer`; a file that ends sooner is not what was written. */
async function readAt(file: FileHandle, buffer: Buffer, length: number, position: number): Promise<Buffer> {
  let done = 0;
  while (done < length) {
    const { bytesRead } = await file.read(buffer, done, length - done, position + done);
    if (bytesRead === 0) break;
    done += bytesRead;
  }
  return buffer.subarray(0, done);
}

/**
 * Directory syncs by path: the one running, and the one to start after it. A rename is durable once a sync of its
 * directory that began after it has ended; renames made while one runs share the next, so that many small files
 * landing in one directory cost a few syncs, not one each.
 */
const directorySyncs = new Map<string, { running: Promise<void>; next?: Promise<void> }>();

export function syncDirectory(path: string): Promise<void> {
  const syncs = directorySyncs.get(path);
  if (!syncs) return startSync(path);
  syncs.next ??= syncs.running.catch(() => undefined).then(() => startSync(path));
  return syncs.next;
}

function startSync(path: string): Promise<void> {
  const running = syncNow(path).finally(() => {
    const syncs = directorySyncs.get(path);
    if (syncs?.running === running && !syncs.next) directorySyncs.delete(path);
  });
  directorySyncs.set(path, { running });
  return running;
}

async function syncNow(path: string): Promise<void> {
  const directory = await open(path, constants.O_RDONLY);
  try {
    await directory.sync();
  } catch {
    // Some file systems refuse to sync a directory; the rename is then as durable as they make it.
  } finally {
    await directory.close();
  }
}

export interface Hasher {
  update(data: Buffer): void;
  digest(): string;
}

export function hasher(algorithm: Algorithm): Hasher {
  if (algorithm === 'sha256') {
    const hash = createHash('sha256');
    return { update: (data) => hash.update(data), digest: () => hash.digest('hex') };
  }
  const hash = new Xxh64();
  return {
    update: (data) => hash.update(data),
    digest: () => hash.digest().toString(16).padStart(16, '0'),
  };
}

/** Feeds the first `size` bytes of an open file to `hash`. */
export async function feed(file: FileHandle, size: number, hash: Hasher, signal?: AbortSignal): Promise<void> {
  const buffer = Buffer.allocUnsafe(Math.max(1, Math.min(CHUNK, size)));
  for (let position = 0; position < size; ) {
    signal?.throwIfAborted();
    const chunk = await readAt(file, buffer, Math.min(buffer.length, size - position), position);
    if (chunk.length === 0) throw new CopyError('the file ended before its size');
    hash.update(chunk);
    position += chunk.length;
  }
}

/** A file's checksum, `<algorithm>:<hex>`. */
export async function checksumOf(path: string, algorithm: Algorithm, signal?: AbortSignal): Promise<string> {
  const hash = hasher(algorithm);
  const file = await open(path, constants.O_RDONLY);
  try {
    await feed(file, (await file.stat()).size, hash, signal);
  } finally {
    await file.close();
  }
  return `${algorithm}:${hash.digest()}`;
}

export function shortHash(text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, 12);
}
