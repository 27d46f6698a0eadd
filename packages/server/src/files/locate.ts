import { constants } from 'node:fs';
import { access, realpath, stat } from 'node:fs/promises';
import { isAbsolute, join, resolve, sep } from 'node:path';
import { entityType } from 'accsyn-protocol';
import type { Caller } from '../auth/authenticate.js';
import { readable } from '../entities/access.js';
import { type Location, PartyError, parseEndpoint } from '../entities/parties.js';
import { badRequest, HttpError } from '../http/errors.js';
import { sql } from '../store/sql.js';
import type { Store } from '../store/store.js';

/**
 * Where a path of reference §3.12 lies on this server: the share it is written on, the volume that holds the
 * share, and the file's place in both. One resolver for the file calls and the transfers; nothing it answers lies
 * outside the share's directory, whatever the text (`..`, symbolic links, absolute paths).
 */

/** A share as the resolver needs it. `path`: a volume's directory, or a folder's or home's inside its volume. */
export interface ShareRow {
  readonly id: string;
  readonly type: 'volume' | 'folder' | 'home' | 'collection';
  readonly code: string;
  readonly parent: string | null;
  readonly path: string | null;
  readonly user: string | null;
}

export interface Located {
  /** The path as the caller wrote it, for messages: the server's own directories are never shown. */
  readonly text: string;
  readonly share: ShareRow;
  readonly volume: ShareRow;
  /** The share's place in its volume: '' for the volume itself, else `a/b` without slashes around. */
  readonly shareBase: string;
  /** The file's place in the share and in the volume, the same way. */
  readonly inShare: string;
  readonly inVolume: string;
  /** The share's directory and the file, absolute on this host. */
  readonly shareRoot: string;
  readonly absolute: string;
}

/** Longest file name and whole path that we accept, in bytes, as Linux and macOS take them. */
const MAX_NAME_BYTES = 255;
const MAX_PATH_BYTES = 4096;

const SHARE_COLUMNS = sql`s.id, s.type, s.code, s.parent, s.path, s."user"`;

/**
 * Resolves `text`, a path of §3.12 without a user's machine in it, for `caller`. A share the caller may not read
 * answers as one that does not exist. `dataDir` anchors a volume whose directory is stored relative (the first
 * start's default volume).
 */
export async function locate(
  store: Store,
  caller: Caller,
  dataDir: string,
  text: unknown,
  roots?: RealRoots,
): Promise<Located> {
  if (typeof text !== 'string') throw badRequest(`path must be text such as "folder=projects/in", not ${typeof text}.`);
  const location = locationOf(text);
  const share = await shareOf(store, caller, location, `path "${text}"`);
  const volume = share.type === 'volume' ? share : await volumeOf(store, share);
  const shareBase = share.type === 'volume' ? '' : clean(share.path ?? '');
  if (!withinVolume(shareBase)) {
    throw new HttpError(
      409,
      `The ${share.type} '${share.code}' lies outside its volume: an admin must correct its path.`,
    );
  }
  const inShare =
    location.kind === 'share' || location.kind === 'default' || location.kind === 'home' ? location.path : '';
  checkLengths(inShare, text);
  const real = roots ? (path: string) => roots.of(path) : realpath;
  const volumeRoot = await volumeDirectory(volume, dataDir, real);
  const shareRoot = shareBase === '' ? volumeRoot : join(volumeRoot, shareBase);
  const absolute = inShare === '' ? shareRoot : join(shareRoot, inShare);
  await checkContained(shareRoot, absolute, text, real);
  return {
    text,
    share,
    volume,
    shareBase,
    inShare,
    inVolume: [shareBase, inShare].filter((part) => part !== '').join('/'),
    shareRoot,
    absolute,
  };
}

function locationOf(text: string): Location {
  let endpoint: ReturnType<typeof parseEndpoint>;
  try {
    endpoint = parseEndpoint(text, 'path');
  } catch (error) {
    if (error instanceof PartyError) throw badRequest(`${error.message}.`);
    throw error;
  }
  const { party, location } = endpoint;
  if (party.kind === 'user' || party.kind === 'client' || location.kind === 'local') {
    throw badRequest(
      `path "${text}" is on a user's machine; file calls reach the workspace's shares, such as "folder=projects/in".`,
    );
  }
  if (location.kind === 'null') throw badRequest('path "null" names no file.');
  if (endpoint.sequence) throw badRequest(`path "${text}" is a file sequence; name one file or a directory.`);
  return location;
}

/**
 * The share a location is written on; one the caller may not read is refused as an unknown one. `what` names the
 * path in messages (`source`, `path "x"`).
 */
export async function shareOf(store: Store, caller: Caller, location: Location, what: string): Promise<ShareRow> {
  const workspace = caller.workspace.id;
  const live = sql`s.workspace = ${workspace} AND s.archived IS NULL AND s.inactive = 0`;
  if (location.kind === 'default' || (location.kind === 'share' && location.share === '(default)')) {
    // The default volume is no secret: the caller's rights on its paths decide.
    const [volume] = await store.rows<ShareRow>(sql`SELECT ${SHARE_COLUMNS} FROM shares s
      WHERE ${live} AND s.type = 'volume' AND s."default" = 1`);
    if (!volume) throw badRequest(`${what}: this workspace has no default volume; name a share ("volume=<code>/…").`);
    return volume;
  }
  if (location.kind === 'home') {
    const [home] = await store.rows<ShareRow>(sql`SELECT ${SHARE_COLUMNS} FROM shares s
      WHERE ${live} AND s.type = 'home' AND s."user" = ${caller.user.id}`);
    if (!home) throw badRequest(`${what}: "~" is your home share, and you have none in this workspace.`);
    return home;
  }
  if (location.kind !== 'share') throw badRequest(`${what} names no share.`);
  const { shareType, share } = location;
  const type = shareType === 'share' ? undefined : shareType;
  const named =
    shareType === 'home' && share.includes('@')
      ? sql`s."user" IN (SELECT u.id FROM users u WHERE u.workspace = ${workspace} AND u.code_folded = ${share.toLowerCase()}
          AND u.archived IS NULL)`
      : sql`(s.id = ${share} OR s.code_folded = ${share.toLowerCase()})`;
  const rows = await store.rows<ShareRow>(sql`SELECT ${SHARE_COLUMNS} FROM shares s
    WHERE ${live} AND ${named} ${type ? sql`AND s.type = ${type}` : sql.empty}`);
  for (const row of rows) {
    if (await mayRead(store, caller, row)) return row;
  }
  throw badRequest(`${what}: there is no ${shareType} '${share}' in this workspace.`);
}

/** Whether the caller may read the share as an entity (reference §3.2), the same test that its find applies. */
async function mayRead(store: Store, caller: Caller, share: ShareRow): Promise<boolean> {
  if (caller.user.role === 'admin') return true;
  const spec = entityType(share.type);
  if (!spec) return false;
  const rows = await store.rows(
    sql`SELECT 1 AS ok FROM shares e WHERE e.id = ${share.id} AND ${readable(spec, caller)}`,
  );
  return rows.length > 0;
}

async function volumeOf(store: Store, share: ShareRow): Promise<ShareRow> {
  const [volume] = await store.rows<ShareRow>(sql`SELECT ${SHARE_COLUMNS} FROM shares s
    WHERE s.id = ${share.parent} AND s.archived IS NULL`);
  if (!volume) throw new HttpError(409, `The ${share.type} '${share.code}' belongs to no volume.`);
  if (share.type === 'collection') {
    throw badRequest(`A collection holds files of other shares: list them with find("File", entityid=${share.id}).`);
  }
  return volume;
}

/**
 * The real paths of volumes' and shares' directories, kept for a while by a caller that resolves many paths in a
 * row (the transfer engine, two for each file it copies): they are an admin's to change, and each costs a realpath
 * call. What lies inside a share, which its users change, is always resolved anew.
 */
export class RealRoots {
  readonly #known = new Map<string, { real: Promise<string>; until: number }>();

  constructor(private readonly keepMs: number) {}

  of(path: string): Promise<string> {
    const known = this.#known.get(path);
    if (known && known.until > Date.now()) return known.real;
    const real = realpath(path);
    this.#known.set(path, { real, until: Date.now() + this.keepMs });
    real.catch(() => this.#known.delete(path));
    return real;
  }
}

/** A volume's directory on this host, as given or, when stored relative, under the data directory. */
export function volumeRoot(path: string | null, dataDir: string): string | undefined {
  if (path === null || path === '') return undefined;
  return isAbsolute(path) ? path : resolve(dataDir, path);
}

/** The volume's directory, its symbolic links resolved: the one against which containment is checked. */
async function volumeDirectory(
  volume: ShareRow,
  dataDir: string,
  real: (path: string) => Promise<string>,
): Promise<string> {
  const root = volumeRoot(volume.path, dataDir);
  if (root === undefined) throw new HttpError(409, `The volume '${volume.code}' has no directory on this server.`);
  try {
    return await real(root);
  } catch {
    throw new HttpError(503, `The volume '${volume.code}' is not reachable on this server at the moment.`);
  }
}

/**
 * Whether a folder's or home's path stays inside its volume: it holds no `..`, which would lead out of the volume's
 * directory (and `..` inside a share's path has no use that a plain path has not).
 */
export function withinVolume(path: string): boolean {
  return !path.split('/').includes('..');
}

/** A stored path as `a/b`: no empty or `.` segments, no slashes around. */
export function clean(path: string): string {
  return path
    .split('/')
    .filter((segment) => segment !== '' && segment !== '.')
    .join('/');
}

function checkLengths(path: string, text: string): void {
  if (Buffer.byteLength(path) > MAX_PATH_BYTES) {
    throw badRequest(`path "${text.slice(0, 60)}…" is longer than ${MAX_PATH_BYTES} bytes.`);
  }
  for (const segment of path.split('/')) {
    if (Buffer.byteLength(segment) > MAX_NAME_BYTES) {
      throw badRequest(`path "${text}": the name "${segment.slice(0, 40)}…" is longer than ${MAX_NAME_BYTES} bytes.`);
    }
  }
}

/**
 * Refuses a path whose existing part leads, through symbolic links, outside the share's directory. What does not
 * exist yet cannot lead anywhere: the deepest existing ancestor is what is resolved.
 */
async function checkContained(
  shareRoot: string,
  absolute: string,
  text: string,
  real: (path: string) => Promise<string>,
): Promise<void> {
  const root = await real(shareRoot).catch(() => shareRoot);
  let existing = absolute;
  for (;;) {
    try {
      const real = await realpath(existing);
      if (real === root || real.startsWith(root + sep)) return;
      break;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENOTDIR') throw error;
      if (existing.length <= shareRoot.length) return;
      existing = existing.slice(0, existing.lastIndexOf(sep));
    }
  }
  throw badRequest(`path "${text}" leads outside its share through a symbolic link.`);
}

/**
 * The directory a new or moved volume takes: given as `path`, else the entry of `paths` for this host's system
 * (`linux`, `mac`, `windows`). It must be absolute, exist, be a directory and be writable by the server.
 */
export async function volumeDirectoryFor(path: unknown, paths: unknown): Promise<string> {
  const key = process.platform === 'darwin' ? 'mac' : process.platform === 'win32' ? 'windows' : 'linux';
  const given =
    path ?? (typeof paths === 'object' && paths !== null ? (paths as Record<string, unknown>)[key] : undefined);
  if (typeof given !== 'string' || given === '') {
    throw badRequest(`A volume needs path, its directory on the server (or paths.${key}).`);
  }
  if (!isAbsolute(given)) throw badRequest(`volume.path must be an absolute directory, not "${given}".`);
  try {
    const found = await stat(given);
    if (!found.isDirectory()) throw badRequest(`volume.path "${given}" is not a directory.`);
    await access(given, constants.W_OK | constants.X_OK);
  } catch (error) {
    if (error instanceof HttpError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    throw badRequest(
      code === 'ENOENT'
        ? `volume.path "${given}" does not exist on the server; create the directory first.`
        : `volume.path "${given}" is not writable by the server.`,
    );
  }
  return resolve(given);
}
