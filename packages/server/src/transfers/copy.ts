import { createHash } from 'node:crypto';
import { constants, type Stats } from 'node:fs';
import { chmod, lstat, open, rename, rm, stat, utimes } from 'node:fs/promises';
import { basename, dirname, extname, join } from 'node:path';
import { Xxh64 } from '@node-rs/xxhash';

/**
 * One file copied so that it appears whole or not at all: written to a part file beside the destination, its
 * checksum taken on the way, synced to disk, checked, given the source's mode and modification time, then renamed
 * into place. A part file left by an interrupted copy is resumed from where it stopped, its bytes read again to
 * carry the checksum on.
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
  /** Read the written file back and compare its checksum before renaming it into place. */
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
  override readonly name = 'CopyError';
}

const CHUNK = 4 * 1024 * 1024;

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
  const resumed = await resumeFrom(part, from.size, hash, signal);
  if (resumed > 0) options.onBytes?.(resumed);
  await append(source, part, resumed, from.size, hash, options);
  const checksum = `${algorithm}:${hash.digest()}`;
  if (options.verify) {
    const written = await checksumOf(part, algorithm, signal);
    if (written !== checksum) {
      await rm(part, { force: true });
      throw new CopyError('the file read back differs from what was written');
    }
  }
  await chmod(part, from.mode & 0o7777);
  await utimes(part, from.atime, from.mtime);
  await rename(part, destination);
  await syncDirectory(dirname(destination));
  return { outcome: 'copied', size: from.size, checksum, destination, resumed };
}

/** Same size, and modification times equal to the millisecond (what utimes keeps on every file system we target). */
function identical(a: Stats, b: Stats): boolean {
  return a.isFile() && a.size === b.size && Math.floor(a.mtimeMs) === Math.floor(b.mtimeMs);
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

/** The bytes of a part file that can be kept, fed to `hash`; a part longer than the source is started again. */
async function resumeFrom(part: string, size: number, hash: Hasher, signal?: AbortSignal): Promise<number> {
  const found = await lstat(part).catch(() => undefined);
  if (!found) return 0;
  if (!found.isFile() || found.size > size) {
    await rm(part, { force: true });
    return 0;
  }
  await feed(part, hash, signal);
  return found.size;
}

/**
 * Copies `source` from `offset` onto the end of `part`, hashing as it goes: the next chunk is read while the last
 * is written, so the disk reads and writes at once and the hash runs between.
 */
async function append(
  source: string,
  part: string,
  offset: number,
  size: number,
  hash: Hasher,
  options: CopyOptions,
): Promise<void> {
  const input = await open(source, constants.O_RDONLY);
  // Created owner-only: the final mode is set from the source once the file is whole.
  const output = await open(part, offset === 0 ? 'w' : 'a', 0o600);
  try {
    const buffers = [Buffer.allocUnsafe(CHUNK), Buffer.allocUnsafe(CHUNK)];
    let position = offset;
    let turn = 0;
    let reading = input.read(buffers[turn] as Buffer, 0, CHUNK, position);
    let writing: Promise<unknown> = Promise.resolve();
    for (;;) {
      const { bytesRead, buffer } = await reading;
      if (bytesRead === 0) break;
      position += bytesRead;
      options.signal?.throwIfAborted();
      await writing;
      turn = 1 - turn;
      reading = input.read(buffers[turn] as Buffer, 0, CHUNK, position);
      const chunk = buffer.subarray(0, bytesRead);
      hash.update(chunk);
      writing = output.write(chunk).then(() => options.onBytes?.(bytesRead));
    }
    await writing;
    if (position !== size) throw new CopyError(`the source changed while it was copied (${position} of ${size} bytes)`);
    await output.sync();
  } finally {
    await Promise.allSettled([input.close(), output.close()]);
  }
}

async function syncDirectory(path: string): Promise<void> {
  const directory = await open(path, constants.O_RDONLY);
  try {
    await directory.sync();
  } catch {
    // Some file systems refuse to sync a directory; the rename is then as durable as they make it.
  } finally {
    await directory.close();
  }
}

interface Hasher {
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

async function feed(path: string, hash: Hasher, signal?: AbortSignal): Promise<void> {
  const file = await open(path, constants.O_RDONLY);
  try {
    const buffer = Buffer.allocUnsafe(CHUNK);
    for (;;) {
      signal?.throwIfAborted();
      const { bytesRead } = await file.read(buffer, 0, CHUNK, null);
      if (bytesRead === 0) return;
      hash.update(buffer.subarray(0, bytesRead));
    }
  } finally {
    await file.close();
  }
}

/** A file's checksum, `<algorithm>:<hex>`. */
export async function checksumOf(path: string, algorithm: Algorithm, signal?: AbortSignal): Promise<string> {
  const hash = hasher(algorithm);
  await feed(path, hash, signal);
  return `${algorithm}:${hash.digest()}`;
}

function shortHash(text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, 12);
}
