import { constants, createReadStream, type Stats } from 'node:fs';
import { type FileHandle, lstat, mkdir, open, readdir, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, extname, join } from 'node:path';
import { type Checksum, checksum } from './checksum.js';
import type { Algorithm, MeasuredFile, Overwrite } from './protocol.js';

/**
 * The files on this machine, as docs/agent.md has them land: a download is written to a hidden part file beside
 * its destination (`.<name>.<task>.accsyn-part`), checksummed as it is written, given the source's time and mode,
 * synced, then renamed into place by the overwrite setting, and the directory synced. A part file left by an
 * interrupted download is resumed: its size is where the download goes on, its bytes are read back to carry the
 * checksum on. An upload's source is read with its checksum as it is sent.
 */

/** A problem with a local file. `permanent` when trying again cannot help: the file is not there, or not ours to touch. */
export class LocalError extends Error {
  override readonly name = 'LocalError';

  constructor(
    message: string,
    readonly permanent: boolean,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** Errors of the file system that no retry will mend. */
const PERMANENT = new Set(['ENOENT', 'ENOTDIR', 'EISDIR', 'EACCES', 'EPERM', 'ELOOP', 'ENAMETOOLONG', 'EROFS']);

/** A file system error as a LocalError that names the path in words. */
export function localError(error: unknown, path: string): Error {
  if (error instanceof LocalError || (error as Error)?.name === 'AbortError') return error as Error;
  const code = (error as NodeJS.ErrnoException)?.code;
  if (code === undefined) return error as Error;
  const why =
    code === 'ENOENT'
      ? 'does not exist'
      : code === 'EACCES' || code === 'EPERM'
        ? 'may not be read or written (permission denied)'
        : `cannot be used (${code})`;
  return new LocalError(`"${path}" ${why}`, PERMANENT.has(code), { cause: error });
}

/** Bytes read and written at a time. */
const CHUNK = 1024 * 1024;

export function partPath(destination: string, task: string): string {
  return join(dirname(destination), `.${basename(destination)}.${task}.accsyn-part`);
}

/** A download being written. */
export class PartFile {
  private constructor(
    readonly path: string,
    private handle: FileHandle,
    private hash: Checksum,
    /** The bytes the part holds. */
    private held: number,
    private readonly algorithm: Algorithm,
  ) {}

  /**
   * The part file of `task` beside `destination` (its directory made), holding at most `keep` bytes of what a
   * former attempt left; those bytes are read back into the checksum.
   */
  static async open(destination: string, task: string, algorithm: Algorithm, keep: number): Promise<PartFile> {
    const path = partPath(destination, task);
    await mkdir(dirname(path), { recursive: true });
    // Not followed: a link in the part's place is not written through.
    const handle = await open(path, constants.O_RDWR | constants.O_CREAT | constants.O_NOFOLLOW, 0o600);
    try {
      const stats = await handle.stat();
      if (!stats.isFile()) throw new LocalError(`"${path}" is not a file`, false);
      const held = Math.min(stats.size, Math.max(0, keep));
      if (held < stats.size) await handle.truncate(held);
      const hash = checksum(algorithm);
      await feed(handle, 0, held, hash);
      return new PartFile(path, handle, hash, held, algorithm);
    } catch (error) {
      await handle.close();
      throw error;
    }
  }

  /** The bytes the part holds: where the download goes on. */
  get size(): number {
    return this.held;
  }

  /** Starts again from nothing (the server sent the whole file rather than the rest). */
  async restart(): Promise<void> {
    await this.handle.truncate(0);
    this.held = 0;
    this.hash = checksum(this.algorithm);
  }

  /** Appends what `body` brings, checksummed, telling `onBytes` how many bytes each write added. */
  async append(body: AsyncIterable<Uint8Array>, onBytes: (bytes: number) => void): Promise<void> {
    let batch: Uint8Array[] = [];
    let batched = 0;
    let writing: Promise<void> = Promise.resolve();
    const flush = async () => {
      const [buffers, bytes, at] = [batch, batched, this.held];
      batch = [];
      batched = 0;
      this.held += bytes;
      await writing;
      // The next batch is read from the network while this one is written.
      writing = writeAll(this.handle, buffers, at).then(() => onBytes(bytes));
      writing.catch(() => undefined);
    };
    for await (const chunk of body) {
      this.hash.update(chunk);
      batch.push(chunk);
      batched += chunk.byteLength;
      if (batched >= CHUNK) await flush();
    }
    if (batched > 0) await flush();
    await writing;
  }

  /** `<algorithm>:<hex>` of the bytes the part holds. */
  checksum(): string {
    return this.hash.text();
  }

  /** The source's mode and modification time on the part, and its bytes synced to disk; the part is closed. */
  async seal(mtime: number | undefined, mode: number | undefined): Promise<void> {
    try {
      if (mode !== undefined) await this.handle.chmod(mode & 0o7777);
      if (mtime !== undefined) await this.handle.utimes(new Date(), new Date(mtime));
      await this.handle.sync();
    } finally {
      await this.close();
    }
  }

  async close(): Promise<void> {
    await this.handle.close().catch(() => undefined);
  }

  /** Removes the part: its bytes are not the source's. */
  async discard(): Promise<void> {
    await this.close();
    await rm(this.path, { force: true });
  }
}

/** Writes the buffers whole at `position`. */
async function writeAll(handle: FileHandle, buffers: Uint8Array[], position: number): Promise<void> {
  let pending = buffers;
  let at = position;
  while (pending.length > 0) {
    const { bytesWritten } = await handle.writev(pending, at);
    at += bytesWritten;
    pending = rest(pending, bytesWritten);
  }
}

/** The buffers past their first `bytes`. */
function rest(buffers: Uint8Array[], bytes: number): Uint8Array[] {
  let skip = bytes;
  const left: Uint8Array[] = [];
  for (const buffer of buffers) {
    if (skip >= buffer.byteLength) skip -= buffer.byteLength;
    else {
      left.push(skip > 0 ? buffer.subarray(skip) : buffer);
      skip = 0;
    }
  }
  return left;
}

/** Feeds bytes `from` to `to` of an open file to `hash`. */
async function feed(handle: FileHandle, from: number, to: number, hash: Checksum): Promise<void> {
  const buffer = Buffer.allocUnsafe(Math.max(1, Math.min(CHUNK, to - from)));
  for (let position = from; position < to; ) {
    const { bytesRead } = await handle.read(buffer, 0, Math.min(buffer.length, to - position), position);
    if (bytesRead === 0) throw new LocalError('the file ended before its size', false);
    hash.update(buffer.subarray(0, bytesRead));
    position += bytesRead;
  }
}

/**
 * Puts a sealed part in its destination's place by the overwrite setting, and syncs the directory. Answers where
 * the file is (the destination, or beside it when renamed), and whether the part was put there (not when an
 * identical file was kept).
 */
export async function land(
  part: string,
  destination: string,
  overwrite: Overwrite,
  source: { size: number; mtime: number | undefined },
): Promise<{ path: string; landed: boolean }> {
  const existing = await lstat(destination).catch(() => undefined);
  if (existing?.isDirectory()) throw new LocalError(`"${destination}" is a directory`, true);
  if (existing && overwrite === 'skip_identical' && identical(existing, source)) {
    await rm(part, { force: true });
    return { path: destination, landed: false };
  }
  const target = existing && overwrite === 'rename' ? await freeName(destination) : destination;
  await rename(part, target);
  await syncDirectory(dirname(target));
  return { path: target, landed: true };
}

/** Same size, and times less than a millisecond apart (a time set through utimes may be off by a microsecond). */
function identical(file: Stats, source: { size: number; mtime: number | undefined }): boolean {
  return (
    file.isFile() &&
    file.size === source.size &&
    source.mtime !== undefined &&
    Math.abs(file.mtimeMs - source.mtime) < 1
  );
}

/** `name (1).ext`, `name (2).ext`, ... the first that is free. */
async function freeName(path: string): Promise<string> {
  const extension = extname(path);
  const stem = path.slice(0, path.length - extension.length);
  for (let n = 1; ; n++) {
    const candidate = `${stem} (${n})${extension}`;
    if (!(await lstat(candidate).catch(() => undefined))) return candidate;
  }
}

async function syncDirectory(path: string): Promise<void> {
  const directory = await open(path, constants.O_RDONLY).catch(() => undefined);
  try {
    await directory?.sync();
  } catch {
    // Some file systems (and Windows) refuse to sync a directory; the rename is then as durable as they make it.
  } finally {
    await directory?.close();
  }
}

/** An upload's source: what it is, and its bytes from an offset on, checksummed as they are read. */
export class SourceFile {
  private constructor(
    readonly path: string,
    readonly size: number,
    readonly mtime: number,
    readonly mode: number,
  ) {}

  static async open(path: string): Promise<SourceFile> {
    const stats = await stat(path).catch((error: unknown) => {
      throw localError(error, path);
    });
    if (!stats.isFile()) throw new LocalError(`"${path}" is not a file`, true);
    return new SourceFile(path, stats.size, stats.mtimeMs, stats.mode);
  }

  /** The whole file in memory, for a small one: read once, then checksummed and sent from there. */
  async read(): Promise<Buffer> {
    const handle = await open(this.path, constants.O_RDONLY);
    try {
      const buffer = Buffer.allocUnsafe(this.size);
      let done = 0;
      while (done < this.size) {
        const { bytesRead } = await handle.read(buffer, done, this.size - done, done);
        if (bytesRead === 0) break;
        done += bytesRead;
      }
      if (done !== this.size) throw this.changed(done);
      return buffer;
    } finally {
      await handle.close();
    }
  }

  /** A checksum of the first `offset` bytes, to carry on from where the destination's part file stops. */
  async checksumTo(offset: number, algorithm: Algorithm): Promise<Checksum> {
    const hash = checksum(algorithm);
    const handle = await open(this.path, constants.O_RDONLY);
    try {
      await feed(handle, 0, offset, hash);
    } finally {
      await handle.close();
    }
    return hash;
  }

  /** The bytes from `offset` to the end, each fed to `hash` and counted by `onBytes` as it is read. */
  async *bytesFrom(offset: number, hash: Checksum, onBytes: (bytes: number) => void): AsyncGenerator<Uint8Array> {
    if (offset >= this.size) return;
    let read = offset;
    const stream = createReadStream(this.path, { start: offset, end: this.size - 1, highWaterMark: CHUNK });
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      hash.update(chunk);
      read += chunk.byteLength;
      yield chunk;
      onBytes(chunk.byteLength);
    }
    if (read !== this.size) throw this.changed(read);
  }

  private changed(read: number): LocalError {
    return new LocalError(`"${this.path}" changed while it was read (${read} of ${this.size} bytes)`, false);
  }
}

/**
 * What a local source holds: a file is itself (path `""`), a directory the files beneath it (by their paths below
 * it, separated by `/`), sorted. Links to files count as files; links to directories are not followed (a loop
 * would never end).
 */
export async function measure(path: string): Promise<MeasuredFile[]> {
  const stats = await stat(path).catch((error: unknown) => {
    throw localError(error, path);
  });
  if (stats.isFile()) return [fileOf('', stats)];
  if (!stats.isDirectory()) throw new LocalError(`"${path}" is neither a file nor a directory`, true);
  const files: MeasuredFile[] = [];
  await walk(path, '', files);
  return files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

async function walk(directory: string, prefix: string, files: MeasuredFile[]): Promise<void> {
  const entries = await readdir(directory, { withFileTypes: true }).catch((error: unknown) => {
    throw localError(error, directory);
  });
  for (const entry of entries) {
    const path = join(directory, entry.name);
    const relative = prefix === '' ? entry.name : `${prefix}/${entry.name}`;
    if (entry.isDirectory()) {
      await walk(path, relative, files);
    } else if (entry.isFile() || entry.isSymbolicLink()) {
      // A file removed since the listing is left out, as it would have been a moment later.
      const target = await stat(path).catch(() => undefined);
      if (target?.isFile()) files.push(fileOf(relative, target));
    }
  }
}

function fileOf(path: string, stats: Stats): MeasuredFile {
  return { path, size: stats.size, mtime: Math.trunc(stats.mtimeMs) };
}
