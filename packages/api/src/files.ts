import { checkPath } from './checks.js';
import { AccsynError } from './errors.js';
import { type CallOptions, type Method, resultOf, type Send } from './events.js';

/**
 * The file calls of a workspace's shares (reference §2.3 ls ... delete, §3.9): one `workspace/file` event each,
 * `data.op` naming the call. A path is relative to the default volume (`renders/a.exr`), or names a share first:
 * `folder=<code>/...`, `volume=`, `home=`, `share=` with a code or id. A list of paths makes one call about each,
 * answered path by path. Reads (ls, getsize, exists) are retried as finds are; writes are sent once.
 */

/** One entry of a listing. */
export interface FileEntry {
  /** 0 a directory, 1 a file. */
  readonly type: 0 | 1;
  readonly filename: string;
  /** Bytes: a file's size; a directory's is 0 unless the listing was asked for sizes (`getSize`). */
  readonly size: number;
  readonly modified: Date;
  /** What a directory holds, in a recursive listing. */
  readonly files?: readonly FileEntry[];
}

/** The answer about one path of a call given several. */
export interface PathResult<T> {
  readonly path: string;
  readonly result: T;
}

/** A filter on names: `word` exactly, `*` wildcards (`*.exr`), `re('regex')`; a list matches when any does. */
export type NameFilter = string | readonly string[];

export interface FilterOptions extends CallOptions {
  /** Only names that match (directories are always gone into); include wins over exclude. */
  readonly include?: NameFilter;
  /** Leave out names that match. */
  readonly exclude?: NameFilter;
}

export interface ListOptions extends FilterOptions {
  /** Go down into directories; their entries come in `files`. */
  readonly recursive?: boolean;
  /** How many levels down a recursive listing goes (1: the directory's own entries); implies `recursive`. */
  readonly maxDepth?: number;
  /** Directories' sizes too: the bytes of all they hold. */
  readonly getSize?: boolean;
  /** Files only; recursive, they come as paths below the directory listed (`a/b/c.exr`). */
  readonly filesOnly?: boolean;
  readonly directoriesOnly?: boolean;
}

export interface RemoveOptions extends CallOptions {
  /** Remove a directory with everything in it; without, only an empty directory is removed. */
  readonly force?: boolean;
}

/** The answer about one path, or about each of several, path by path. */
export type PathAnswer<P, T> = P extends string ? T : PathResult<T>[];

export async function ls<P extends string | readonly string[]>(
  send: Send,
  path: P,
  options: ListOptions = {},
): Promise<PathAnswer<P, FileEntry[]>> {
  if (options.filesOnly && options.directoriesOnly) {
    throw new AccsynError('ls lists files only or directories only, not both.');
  }
  const { maxDepth } = options;
  if (maxDepth !== undefined && (!Number.isSafeInteger(maxDepth) || maxDepth < 1)) {
    throw new AccsynError('maxDepth must be a whole number of at least 1.');
  }
  // As the official client sends it: these always, the rest only when asked for.
  const data: Record<string, unknown> = {
    download: true,
    recursive: options.recursive === true || maxDepth !== undefined,
    getsize: options.getSize === true,
  };
  if (maxDepth !== undefined) data.maxdepth = maxDepth;
  if (options.directoriesOnly) data.directories_only = true;
  if (options.filesOnly) data.files_only = true;
  return fileCall(send, 'GET', 'ls', path, { ...data, ...filters(options) }, options.signal);
}

export async function getSize<P extends string | readonly string[]>(
  send: Send,
  path: P,
  options: FilterOptions = {},
): Promise<PathAnswer<P, number>> {
  return fileCall(send, 'GET', 'getsize', path, filters(options), options.signal);
}

export async function exists<P extends string | readonly string[]>(
  send: Send,
  path: P,
  options: CallOptions = {},
): Promise<PathAnswer<P, boolean>> {
  return fileCall(send, 'GET', 'exists', path, {}, options.signal);
}

export async function mkdir<P extends string | readonly string[]>(
  send: Send,
  path: P,
  options: CallOptions = {},
): Promise<PathAnswer<P, true>> {
  return fileCall(send, 'POST', 'mkdir', path, {}, options.signal);
}

export async function remove<P extends string | readonly string[]>(
  send: Send,
  path: P,
  options: RemoveOptions = {},
): Promise<PathAnswer<P, true>> {
  return fileCall(send, 'POST', 'delete', path, { force: options.force === true }, options.signal);
}

/** Renames in place: `name` is the new name (a path in the same directory is taken too). */
export async function rename(send: Send, path: string, name: string, options: CallOptions = {}): Promise<true> {
  checkPath(name, 'The new name');
  return fileCall(send, 'PUT', 'rename', path, { path_to: name }, options.signal);
}

/** Moves a file or directory to `destination`, or into it when it is a directory. */
export async function move(send: Send, path: string, destination: string, options: CallOptions = {}): Promise<true> {
  checkPath(destination, 'The destination');
  return fileCall(send, 'PUT', 'move', path, { path_to: destination }, options.signal);
}

async function fileCall<T>(
  send: Send,
  method: Method,
  op: string,
  path: string | readonly string[],
  data: Record<string, unknown>,
  signal: AbortSignal | undefined,
): Promise<T> {
  if (Array.isArray(path)) {
    if (path.length === 0) throw new AccsynError(`${op} needs at least one path.`);
    for (const one of path) checkPath(one);
  } else {
    checkPath(path);
  }
  const answer = await send({ method, uri: 'workspace/file', data: { op, path, ...data }, signal });
  return resultOf(answer) as T;
}

function filters(options: FilterOptions): Record<string, unknown> {
  const data: Record<string, unknown> = {};
  for (const name of ['include', 'exclude'] as const) {
    const value = options[name];
    if (value === undefined || (Array.isArray(value) && value.length === 0)) continue;
    data[name] = value;
  }
  return data;
}
