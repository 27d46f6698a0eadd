import { join } from 'node:path';
import { EMAIL, keyRow, userRow } from './accounts.js';
import { newApiKey } from './auth/keys.js';
import { insertWorkspace, WORKSPACE_CODE } from './bootstrap.js';
import { makePrivateFolder } from './private-files.js';
import { sql } from './store/sql.js';
import type { Store } from './store/store.js';
import type { ApiKeyRow, Role, UserRow, WorkspaceRow } from './store/tables.js';

/**
 * Administration straight on the database, for `accsyn server ...`: when no admin key exists yet, or it was lost.
 * The server may be running meanwhile: a key revoked here stops working on its next request.
 */

export class AdminError extends Error {}

const ROLES: readonly Role[] = ['admin', 'employee', 'standard'];

/** The workspace named by `code`, or the only one there is. */
export async function workspaceOf(store: Store, code: string | undefined): Promise<WorkspaceRow> {
  if (code !== undefined) {
    const found = await store.workspaceByCode(code);
    if (!found) throw new AdminError(`There is no workspace '${code}' in this database.`);
    return found;
  }
  const all = await store.db.selectFrom('workspaces').selectAll().orderBy('code_folded').execute();
  if (all.length === 1) return all[0] as WorkspaceRow;
  if (all.length === 0) throw new AdminError('This database has no workspace yet: start the server once to create it.');
  throw new AdminError(`This database holds several workspaces; name one with --workspace: ${codes(all)}.`);
}

async function userOf(store: Store, workspace: WorkspaceRow, email: string): Promise<UserRow> {
  const user = await store.userByCode(workspace.id, email);
  if (!user) throw new AdminError(`There is no user ${email} in workspace '${workspace.code}'.`);
  return user;
}

export interface AddedUser {
  readonly id: string;
  readonly email: string;
  readonly role: Role;
  readonly workspace: string;
}

export async function addUser(
  store: Store,
  options: { workspace?: string; email: string; role: string; name?: string },
  now = new Date(),
): Promise<AddedUser> {
  const { email } = options;
  if (!EMAIL.test(email)) throw new AdminError(`'${email}' is not an e-mail address.`);
  const role = options.role as Role;
  if (!ROLES.includes(role)) throw new AdminError(`The role must be one of ${ROLES.join(', ')}, not '${role}'.`);
  const workspace = await workspaceOf(store, options.workspace);
  if (await store.userByCode(workspace.id, email)) {
    throw new AdminError(`Workspace '${workspace.code}' already has a user ${email}.`);
  }
  const row = userRow(workspace.id, email, role, now, options.name);
  await store.insertUser(row);
  return { id: row.id, email, role, workspace: workspace.code };
}

/** An API key as listed: never the key, which only its creation shows. */
export interface KeyInfo {
  readonly id: string;
  readonly name: string;
  readonly user: string;
  readonly created: Date;
  readonly expires: Date | null;
  readonly revoked: Date | null;
  readonly lastUsed: Date | null;
  readonly state: 'active' | 'expired' | 'revoked';
}

export async function createApiKey(
  store: Store,
  options: { workspace?: string; email: string; name?: string; expires?: Date },
  now = new Date(),
): Promise<KeyInfo & { readonly key: string }> {
  const workspace = await workspaceOf(store, options.workspace);
  const user = await userOf(store, workspace, options.email);
  if (options.expires !== undefined && options.expires.getTime() <= now.getTime()) {
    throw new AdminError(`The expiry ${options.expires.toISOString()} has passed already.`);
  }
  const key = newApiKey();
  const name = options.name?.trim() || `key-${now.toISOString().slice(0, 10)}`;
  const row = keyRow(workspace.id, user.id, name, key, now, options.expires);
  await store.insertApiKey(row);
  return { ...infoOf(row, user.code, now), key };
}

export async function listApiKeys(
  store: Store,
  options: { workspace?: string; email: string },
  now = new Date(),
): Promise<KeyInfo[]> {
  const workspace = await workspaceOf(store, options.workspace);
  const user = await userOf(store, workspace, options.email);
  const rows = await store.db
    .selectFrom('api_keys')
    .selectAll()
    .where('user', '=', user.id)
    .orderBy('created')
    .orderBy('name')
    .orderBy('id')
    .execute();
  return rows.map((row) => infoOf(row, user.code, now));
}

/** Revokes a key by its id; its sessions end with it. Revoking a revoked key changes nothing. */
export async function revokeApiKey(store: Store, id: string, now = new Date()): Promise<KeyInfo> {
  const row = await store.db
    .selectFrom('api_keys')
    .selectAll()
    .where('id', '=', id.trim().toLowerCase())
    .executeTakeFirst();
  if (!row) throw new AdminError(`There is no API key with id ${id}.`);
  const user = await store.db.selectFrom('users').select('code').where('id', '=', row.user).executeTakeFirstOrThrow();
  if (row.revoked === null) {
    row.revoked = now.toISOString();
    await store.db.updateTable('api_keys').set({ revoked: row.revoked }).where('id', '=', row.id).execute();
    await store.db.deleteFrom('sessions').where('api_key', '=', row.id).execute();
  }
  return infoOf(row, user.code, now);
}

function infoOf(row: ApiKeyRow, user: string, now: Date): KeyInfo {
  const expired = row.expires !== null && row.expires <= now.toISOString();
  const date = (text: string | null) => (text === null ? null : new Date(text));
  return {
    id: row.id,
    name: row.name,
    user,
    created: new Date(row.created),
    expires: date(row.expires),
    revoked: date(row.revoked),
    lastUsed: date(row.last_used),
    state: row.revoked !== null ? 'revoked' : expired ? 'expired' : 'active',
  };
}

/** A workspace as listed. */
export interface WorkspaceInfo {
  readonly id: string;
  readonly code: string;
  readonly name: string;
  /** The e-mails of its admins. */
  readonly admins: readonly string[];
  /** How many users it has, deleted ones left out. */
  readonly users: number;
  readonly created: Date;
}

export interface AddedWorkspace {
  readonly id: string;
  readonly code: string;
  readonly name: string;
  /** The first admin's e-mail. */
  readonly admin: string;
  /** The directory of its default volume. */
  readonly volume: string;
  readonly created: Date;
  /** The admin's API key, shown this once. */
  readonly key: string;
}

/**
 * Adds a workspace, made as the first start makes one (bootstrap.ts): its admin and the admin's API key, the main
 * site hq, the queues, and the default volume in a directory of its own, `<data dir>/workspaces/<code>/default`
 * (`volumes/default` is the first workspace's; a workspace called "default" must not land inside it). Answers the
 * key, which is shown this once.
 */
export async function addWorkspace(
  store: Store,
  options: { code: string; admin: string; name?: string; dataDir: string },
  now = new Date(),
): Promise<AddedWorkspace> {
  const { code, admin } = options;
  if (!WORKSPACE_CODE.test(code)) {
    throw new AdminError(
      `A workspace code is 2-63 letters, digits and '-', starting with a letter or digit, not '${code}'.`,
    );
  }
  if (!EMAIL.test(admin)) throw new AdminError(`'${admin}' is not an e-mail address.`);
  const taken = () => new AdminError(`There is a workspace '${code}' already.`);
  if (await store.workspaceByCode(code)) throw taken();
  const name = options.name?.trim() || code;
  const volume = join(options.dataDir, 'workspaces', code.toLowerCase(), 'default');
  const key = newApiKey();
  makePrivateFolder(volume);
  const fresh = { code, name, admin, apiKey: key, keyName: `key-${now.toISOString().slice(0, 10)}`, volume };
  const id = await store.db
    .transaction()
    .execute((trx) => insertWorkspace(trx, fresh, now))
    .catch(async (error: unknown) => {
      // Added meanwhile by someone else: its code is unique.
      throw (await store.workspaceByCode(code)) ? taken() : error;
    });
  return { id, code, name, admin, volume, created: now, key };
}

/** Every workspace of the database, oldest first. */
export async function listWorkspaces(store: Store): Promise<WorkspaceInfo[]> {
  const workspaces = await store.rows<WorkspaceRow>(sql`SELECT * FROM workspaces ORDER BY created, id`);
  const users = await store.rows<{ workspace: string; code: string; role: string }>(sql`SELECT workspace, code, role
    FROM users WHERE archived IS NULL ORDER BY created, id`);
  const byWorkspace = new Map(workspaces.map((workspace) => [workspace.id, [] as typeof users]));
  for (const user of users) byWorkspace.get(user.workspace)?.push(user);
  return workspaces.map((workspace) => {
    const theirs = byWorkspace.get(workspace.id) ?? [];
    return {
      id: workspace.id,
      code: workspace.code,
      name: workspace.name,
      admins: theirs.filter((user) => user.role === 'admin').map((user) => user.code),
      users: theirs.length,
      created: new Date(workspace.created),
    };
  });
}

function codes(workspaces: readonly WorkspaceRow[]): string {
  return workspaces.map((w) => w.code).join(', ');
}
