import type { Dirent, Stats } from 'node:fs';
import {
  lstat,
  mkdir,
  opendir,
  readdir,
  realpath,
  rename as renameFile,
  rm,
  rmdir,
  stat,
  unlink,
} from 'node:fs/promises';
import { basename, dirname, join, sep } from 'node:path';
import { formatDate } from 'accsyn-protocol';
import { objectOf } from '../entities/write.js';
import type { EventContext } from '../events.js';
import { badRequest, HttpError, notFound } from '../http/errors.js';
import { sql } from '../store/sql.js';
import { kept, type NameTest, nameFilter } from './filters.js';
import { type Located, locate, shareOf } from './locate.js';
import { demand, may, mayShow, type Rights, rightsOn } from './rights.js';

/**
 * `workspace/file` (reference §2.3, §3.9): the file calls on the workspace's shares. `data.op` names the call and
 * the method it takes; `data.path` is one path, or a list of them answered as `[{"path", "result"}, ...]`.
 */

/** One listed entry: type 0 a directory, 1 a file; a recursive listing puts a directory's entries in `files`. */
export interface FileEntry {
  type: 0 | 1;
  filename: string;
  size: number;
  modified: string;
  files?: FileEntry[];
}

type Method = EventContext['method'];
type Operation = (context: FileContext, located: Located, data: Record<string, unknown>) => Promise<unknown>;

interface FileContext {
  readonly event: EventContext;
  /** The caller's rights per volume, read once per call. */
  rights(volumeId: string): Promise<Rights>;
}

const OPERATIONS: Readonly<Record<string, { method: Method; run: Operation }>> = {
  ls: { method: 'GET', run: list },
  getsize: { method: 'GET', run: getSize },
  exists: { method: 'GET', run: exists },
  mkdir: { method: 'POST', run: makeDirectory },
  delete: { method: 'POST', run: remove },
  rename: { method: 'PUT', run: rename },
  move: { method: 'PUT', run: move },
};

/**
 * Past this many entries a listing is refused rather than held in memory (about 500 bytes an entry): `maxdepth`
 * narrows it.
 */
const MAX_LISTED = 300_000;
/** Files stat'ed at once: libuv's threads work in parallel, and memory holds one batch of promises a directory. */
const STAT_BATCH = 64;

export async function fileOperation(context: EventContext): Promise<unknown> {
  const data = objectOf(context.envelope.data, 'workspace/file');
  const name = typeof data.op === 'string' ? data.op.trim().toLowerCase() : undefined;
  const operation = name === undefined ? undefined : Object.hasOwn(OPERATIONS, name) ? OPERATIONS[name] : undefined;
  if (!operation) {
    throw badRequest(
      `workspace/file: op must be one of ${Object.keys(OPERATIONS).join(', ')}, not ${JSON.stringify(data.op)}.`,
    );
  }
  if (operation.method !== context.method) {
    throw badRequest(`workspace/file: ${name} takes ${operation.method}, not ${context.method}.`);
  }
  const known = new Map<string, Promise<Rights>>();
  const files: FileContext = {
    event: context,
    rights(volumeId) {
      const rights = known.get(volumeId) ?? rightsOn(context.store, context.caller, volumeId);
      known.set(volumeId, rights);
      return rights;
    },
  };
  const at = (path: unknown) => locate(context.store, context.caller, context.config.dataDir, path);
  if (name === 'ls' && typeof data.path === 'string' && /^collection=[^/]+\/?$/.test(data.path)) {
    return listCollection(files, data.path);
  }
  if (!Array.isArray(data.path)) return operation.run(files, await at(data.path), data);
  if (data.path.length === 0) throw badRequest('workspace/file: path is an empty list.');
  // Every path is resolved and checked before any is touched.
  const located = await Promise.all(data.path.map(at));
  const results: { path: string; result: unknown }[] = [];
  for (const one of located) results.push({ path: one.text, result: await operation.run(files, one, data) });
  return results;
}

// ---- reading ----

interface ListOptions {
  readonly depth: number;
  readonly getsize: boolean;
  readonly filesOnly: boolean;
  readonly directoriesOnly: boolean;
  readonly include: NameTest | undefined;
  readonly exclude: NameTest | undefined;
}

async function list(context: FileContext, located: Located, data: Record<string, unknown>): Promise<FileEntry[]> {
  const rights = await context.rights(located.volume.id);
  demand(rights, located, 'list');
  const options: ListOptions = {
    depth: data.recursive === true ? (positiveWhole(data.maxdepth, 'maxdepth') ?? Number.POSITIVE_INFINITY) : 1,
    getsize: flag(data.getsize, 'getsize'),
    filesOnly: flag(data.files_only, 'files_only'),
    directoriesOnly: flag(data.directories_only, 'directories_only'),
    include: nameFilter(data.include, 'include'),
    exclude: nameFilter(data.exclude, 'exclude'),
  };
  if (options.filesOnly && options.directoriesOnly) {
    throw badRequest('workspace/file: files_only and directories_only exclude each other.');
  }
  const found = await statOf(located.absolute, located.text);
  if (!found.isDirectory()) return [entryOf(basename(located.absolute), found)];
  const walk = new Walk(rights, options);
  const entries = await walk.directory(located.absolute, located.inVolume, options.depth, located.text);
  return options.filesOnly && options.depth > 1 ? flatten(entries, '') : entries;
}

/** A listing under way: the entries so far are counted against MAX_LISTED. */
class Walk {
  #count = 0;

  constructor(
    private readonly rights: Rights,
    private readonly options: ListOptions,
  ) {}

  async directory(absolute: string, inVolume: string, depth: number, text: string): Promise<FileEntry[]> {
    const children = await readdir(absolute, { withFileTypes: true }).catch((error) => {
      throw fileError(error, text);
    });
    children.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const entries: FileEntry[] = [];
    for (let start = 0; start < children.length; start += STAT_BATCH) {
      const batch = children.slice(start, start + STAT_BATCH);
      const done = await Promise.all(batch.map((child) => this.#entry(child, absolute, inVolume, depth, text)));
      for (const entry of done) if (entry) entries.push(entry);
    }
    return entries;
  }

  async #entry(
    child: Dirent,
    parent: string,
    parentInVolume: string,
    depth: number,
    parentText: string,
  ): Promise<FileEntry | undefined> {
    const { options } = this;
    const inVolume = parentInVolume === '' ? child.name : `${parentInVolume}/${child.name}`;
    if (!mayShow(this.rights, inVolume)) return undefined;
    const absolute = join(parent, child.name);
    const found = await shownStat(absolute, parent);
    if (!found) return undefined;
    const directory = found.isDirectory();
    if (!kept(child.name, directory, options.include, options.exclude)) return undefined;
    if (++this.#count > MAX_LISTED) {
      throw badRequest(
        `workspace/file: the listing holds more than ${MAX_LISTED.toLocaleString('en')} entries; narrow it with maxdepth.`,
      );
    }
    const entry = entryOf(child.name, found);
    // A link to a directory is shown, not followed: a loop of links would never end.
    if (directory && depth > 1 && !child.isSymbolicLink()) {
      entry.files = await this.directory(absolute, inVolume, depth - 1, `${parentText}/${child.name}`);
      if (options.getsize) entry.size = sizeOf(entry.files);
    } else if (directory && options.getsize) {
      entry.size = await sizeUnder(absolute, this.rights, inVolume, options);
    }
    if (options.directoriesOnly && !directory) return undefined;
    if (options.filesOnly && directory && depth <= 1) return undefined;
    return entry;
  }
}

/**
 * `ls` of a collection: its files, each by its name, as the share it lies on shows it; a file the caller may not
 * read, or that is gone, is left out.
 */
async function listCollection(context: FileContext, text: string): Promise<FileEntry[]> {
  const { store, caller, config } = context.event;
  const code = text.slice('collection='.length).replace(/\/$/, '');
  const collection = await shareOf(
    store,
    caller,
    { kind: 'share', shareType: 'collection', share: code, path: '' },
    `path "${text}"`,
  );
  // The collection's `files` keeps its paths in the order they were added.
  const [row] = await store.rows<{ files: string | null }>(sql`SELECT files FROM shares WHERE id = ${collection.id}`);
  const entries: FileEntry[] = [];
  for (const path of JSON.parse(row?.files ?? '[]') as string[]) {
    const located = await locate(store, caller, config.dataDir, path).catch(() => undefined);
    if (!located || !may(await context.rights(located.volume.id), located.inVolume, 'read')) continue;
    const found = await stat(located.absolute).catch(() => undefined);
    if (found?.isFile() || found?.isDirectory()) entries.push(entryOf(basename(located.absolute), found));
  }
  return entries;
}

function entryOf(name: string, found: Stats): FileEntry {
  const directory = found.isDirectory();
  return {
    type: directory ? 0 : 1,
    filename: name,
    size: directory ? 0 : found.size,
    modified: formatDate(found.mtime),
  };
}

const sizeOf = (entries: readonly FileEntry[]): number => entries.reduce((sum, entry) => sum + entry.size, 0);

/** A recursive listing's files alone, each named by its path under the listed directory. */
function flatten(entries: readonly FileEntry[], prefix: string): FileEntry[] {
  return entries.flatMap((entry) => {
    const filename = prefix + entry.filename;
    if (entry.type === 1) return [{ ...entry, filename }];
    return flatten(entry.files ?? [], `${filename}/`);
  });
}

/**
 * What a listing shows of an entry: its own stats, or those of what a symbolic link points to when that lies in
 * the same share. Links that lead out, dangle, or to sockets and devices are not shown.
 */
async function shownStat(absolute: string, parent: string): Promise<Stats | undefined> {
  try {
    const own = await lstat(absolute);
    if (own.isFile() || own.isDirectory()) return own;
    if (!own.isSymbolicLink()) return undefined;
    const [target, root] = await Promise.all([realpath(absolute), realpath(parent)]);
    // Links may point anywhere beneath the listed directory's share; the parent is a safe, conservative bound.
    if (!target.startsWith(root + sep)) return undefined;
    const followed = await stat(target);
    return followed.isFile() || followed.isDirectory() ? followed : undefined;
  } catch {
    return undefined;
  }
}

async function getSize(context: FileContext, located: Located, data: Record<string, unknown>): Promise<number> {
  const rights = await context.rights(located.volume.id);
  demand(rights, located, 'list');
  const options = { include: nameFilter(data.include, 'include'), exclude: nameFilter(data.exclude, 'exclude') };
  const found = await statOf(located.absolute, located.text);
  if (!found.isDirectory()) return found.size;
  return sizeUnder(located.absolute, rights, located.inVolume, options);
}

/** The bytes of the files beneath a directory that the caller may see, read as a stream of entries. */
async function sizeUnder(
  absolute: string,
  rights: Rights,
  inVolume: string,
  options: { include: NameTest | undefined; exclude: NameTest | undefined },
): Promise<number> {
  let total = 0;
  const directory = await opendir(absolute).catch(() => undefined);
  if (!directory) return 0;
  // Files are sized a batch at a time, in parallel, as a listing stats them; the entries are read as a stream.
  let batch: string[] = [];
  const sizeBatch = async () => {
    const sizes = await Promise.all(
      batch.map((path) =>
        lstat(path).then(
          (found) => found.size,
          () => 0,
        ),
      ),
    );
    total += sizes.reduce((sum, size) => sum + size, 0);
    batch = [];
  };
  for await (const child of directory) {
    const childInVolume = inVolume === '' ? child.name : `${inVolume}/${child.name}`;
    if (!mayShow(rights, childInVolume) || !kept(child.name, child.isDirectory(), options.include, options.exclude)) {
      continue;
    }
    const path = join(absolute, child.name);
    if (child.isDirectory()) total += await sizeUnder(path, rights, childInVolume, options);
    else if (child.isFile()) batch.push(path);
    if (batch.length >= STAT_BATCH) await sizeBatch();
  }
  await sizeBatch();
  return total;
}

async function exists(context: FileContext, located: Located): Promise<boolean> {
  const rights = await context.rights(located.volume.id);
  if (!mayShow(rights, located.inVolume)) {
    throw new HttpError(403, `Permission denied: you may not look at "${located.text}".`);
  }
  return (await lstat(located.absolute).catch(() => undefined)) !== undefined;
}

// ---- writing ----

async function makeDirectory(context: FileContext, located: Located): Promise<true> {
  demand(await context.rights(located.volume.id), located, 'write');
  const found = await lstat(located.absolute).catch(() => undefined);
  if (found && !found.isDirectory()) throw badRequest(`"${located.text}" exists and is not a directory.`);
  await mkdir(located.absolute, { recursive: true }).catch((error) => {
    throw fileError(error, located.text);
  });
  return true;
}

async function remove(context: FileContext, located: Located, data: Record<string, unknown>): Promise<true> {
  demand(await context.rights(located.volume.id), located, 'write');
  if (located.inShare === '') throw badRequest(`"${located.text}" is the root of a share, which cannot be deleted.`);
  const force = flag(data.force, 'force');
  const found = await statOf(located.absolute, located.text, lstat);
  try {
    if (!found.isDirectory()) await unlink(located.absolute);
    else if (force) await rm(located.absolute, { recursive: true });
    else await rmdir(located.absolute);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOTEMPTY' || code === 'EEXIST') {
      throw badRequest(
        `Cannot delete non-empty directory '${located.text}'! Give force to delete it with all it holds.`,
      );
    }
    throw fileError(error, located.text);
  }
  return true;
}

async function rename(context: FileContext, located: Located, data: Record<string, unknown>): Promise<true> {
  const to = data.path_to;
  if (typeof to !== 'string' || to === '') throw badRequest('workspace/file: rename takes path_to, the new name.');
  const name = to.includes('/') ? to.slice(to.lastIndexOf('/') + 1) : to;
  if (to.includes('/')) {
    // A whole path is allowed when it stays in the same directory.
    const target = await locate(context.event.store, context.event.caller, context.event.config.dataDir, to);
    if (dirname(target.absolute) !== dirname(located.absolute)) {
      throw badRequest(`rename keeps a file in its directory; "${to}" is elsewhere: use move.`);
    }
  }
  checkName(name);
  const parentInShare = located.inShare.includes('/') ? located.inShare.slice(0, located.inShare.lastIndexOf('/')) : '';
  const target = await locate(
    context.event.store,
    context.event.caller,
    context.event.config.dataDir,
    shareText(located, parentInShare === '' ? name : `${parentInShare}/${name}`),
  );
  return moveTo(context, located, { ...target, text: name });
}

async function move(context: FileContext, located: Located, data: Record<string, unknown>): Promise<true> {
  const { store, caller, config } = context.event;
  let target = await locate(store, caller, config.dataDir, data.path_to);
  const there = await lstat(target.absolute).catch(() => undefined);
  if (there?.isDirectory()) {
    // Into an existing directory, as mv does.
    const name = basename(located.absolute);
    target = await locate(
      store,
      caller,
      config.dataDir,
      shareText(target, target.inShare === '' ? name : `${target.inShare}/${name}`),
    );
  }
  return moveTo(context, located, target);
}

async function moveTo(context: FileContext, from: Located, to: Located): Promise<true> {
  demand(await context.rights(from.volume.id), from, 'write');
  demand(await context.rights(to.volume.id), to, 'write');
  if (from.inShare === '') throw badRequest(`"${from.text}" is the root of a share, which cannot be moved.`);
  if (to.absolute === from.absolute || to.absolute.startsWith(from.absolute + sep)) {
    throw badRequest(`"${from.text}" cannot be moved into itself.`);
  }
  await statOf(from.absolute, from.text, lstat);
  if (await lstat(to.absolute).catch(() => undefined)) throw badRequest(`"${to.text}" exists already.`);
  try {
    await renameFile(from.absolute, to.absolute);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EXDEV') {
      throw badRequest(`"${from.text}" and "${to.text}" are on different file systems: move the file with a transfer.`);
    }
    throw fileError(error, to.text);
  }
  return true;
}

/** The text that names a path of the share of `located`, by the share's id. */
function shareText(located: Located, inShare: string): string {
  return `share=${located.share.id}${inShare === '' ? '' : `/${inShare}`}`;
}

function checkName(name: string): void {
  if (name === '' || name === '.' || name === '..' || name.includes('\0')) {
    throw badRequest(`"${name}" is not a file name.`);
  }
}

// ---- shared ----

async function statOf(absolute: string, text: string, how: typeof stat = stat): Promise<Stats> {
  try {
    return await how(absolute);
  } catch (error) {
    throw fileError(error, text);
  }
}

/** A file system's refusal, in words about the caller's path; the server's own directories are never named. */
function fileError(error: unknown, text: string): Error {
  switch ((error as NodeJS.ErrnoException).code) {
    case 'ENOENT':
      return notFound(`There is no file or directory "${text}".`);
    case 'ENOTDIR':
      return badRequest(`A part of "${text}" is a file, not a directory.`);
    case 'EEXIST':
      return badRequest(`"${text}" exists already.`);
    case 'EISDIR':
      return badRequest(`"${text}" is a directory.`);
    case 'ENAMETOOLONG':
    case 'EINVAL':
    case 'EILSEQ':
      return badRequest(`The file system does not take the name "${text}".`);
    case 'EACCES':
    case 'EPERM':
    case 'EROFS':
      return new HttpError(403, `The server's file system does not allow this on "${text}".`);
    case 'ENOSPC':
    case 'EDQUOT':
      return new HttpError(507, `The volume has no space left for "${text}".`);
    default:
      return error as Error;
  }
}

function flag(value: unknown, name: string): boolean {
  if (value === undefined || value === null) return false;
  if (typeof value !== 'boolean') throw badRequest(`workspace/file: ${name} must be true or false.`);
  return value;
}

function positiveWhole(value: unknown, name: string): number | undefined {
  if (value === undefined || value === null) return undefined;
  if (!Number.isSafeInteger(value) || (value as number) < 1) {
    throw badRequest(`workspace/file: ${name} must be a whole number of at least 1.`);
  }
  return value as number;
}
