import { randomBytes } from 'node:crypto';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fold } from 'accsyn-query';
import { type Kysely, sql } from 'kysely';
import { EMAIL, keyRow, userRow } from './accounts.js';
import { checkChosenKey, newApiKey } from './auth/keys.js';
import type { ServerConfig } from './config.js';
import { ConfigError } from './config.js';
import { makePrivateFolder } from './private-files.js';
import { newId } from './store/ids.js';
import type { Store } from './store/store.js';
import type { Tables } from './store/tables.js';

/** What the first start created: the admin's credentials, the key only when it was generated. */
export interface Bootstrapped {
  readonly workspace: string;
  readonly admin: string;
  readonly apiKey: string;
  readonly generated: boolean;
}

/** A workspace's code: 2-63 letters, digits and '-', starting with a letter or digit. */
export const WORKSPACE_CODE = /^[a-z0-9][a-z0-9-]{1,62}$/i;

/**
 * On an empty database, creates one workspace, its admin and an API key, chosen by ACCSYN_BOOTSTRAP_* or
 * generated. Does nothing on a database that has a workspace already.
 */
export async function bootstrap(
  store: Store,
  config: ServerConfig,
  now = new Date(),
): Promise<Bootstrapped | undefined> {
  if ((await store.countWorkspaces()) > 0) return undefined;
  const chosen = config.bootstrap;
  const workspace = chosen.workspace ?? `workspace-${randomBytes(3).toString('hex')}`;
  const admin = chosen.admin ?? `admin@${workspace}.local`;
  if (!WORKSPACE_CODE.test(workspace)) {
    throw new ConfigError(`ACCSYN_BOOTSTRAP_WORKSPACE '${workspace}' must be 2-63 letters, digits and '-'`);
  }
  if (!EMAIL.test(admin)) throw new ConfigError(`ACCSYN_BOOTSTRAP_ADMIN '${admin}' is not an e-mail address`);
  const weak = chosen.apiKey === undefined ? undefined : checkChosenKey(chosen.apiKey);
  if (weak) throw new ConfigError(`ACCSYN_BOOTSTRAP_API_KEY ${weak}`);
  const apiKey = chosen.apiKey ?? newApiKey();
  const volume = join(config.dataDir, 'volumes', 'default');
  const created = await store.db.transaction().execute(async (trx) => {
    // Nodes starting together on an empty PostgreSQL take turns here, and all but the first find its workspace.
    if (store.dialect === 'postgres')
      await sql`SELECT pg_advisory_xact_lock(hashtext('accsyn-bootstrap'))`.execute(trx);
    const found = await trx.selectFrom('workspaces').select('id').limit(1).executeTakeFirst();
    if (found) return false;
    const fresh = { code: workspace, name: workspace, admin, apiKey, keyName: 'bootstrap', volume };
    await insertWorkspace(trx, fresh, now);
    return true;
  });
  if (!created) return undefined;
  makePrivateFolder(volume);
  return { workspace, admin, apiKey, generated: chosen.apiKey === undefined };
}

/** A workspace about to be made: its code and name, its first admin, that admin's API key, its default volume. */
export interface NewWorkspace {
  readonly code: string;
  readonly name: string;
  /** The first admin's e-mail. */
  readonly admin: string;
  readonly apiKey: string;
  readonly keyName: string;
  /** The directory of its default volume. */
  readonly volume: string;
}

/**
 * Writes a new workspace in `db`, a transaction: the workspace, its admin and the admin's key, and what every
 * workspace starts with (`createDefaults`). The first start and `accsyn server workspace add` make workspaces so.
 */
export async function insertWorkspace(db: Kysely<Tables>, workspace: NewWorkspace, now: Date): Promise<string> {
  const at = now.toISOString();
  const id = newId(now.getTime());
  const user = userRow(id, workspace.admin, 'admin', now);
  await db
    .insertInto('workspaces')
    .values({
      id,
      code: workspace.code,
      code_folded: fold(workspace.code),
      name: workspace.name,
      name_folded: fold(workspace.name),
      created: at,
      modified: at,
    })
    .execute();
  await db.insertInto('users').values(user).execute();
  await db
    .insertInto('api_keys')
    .values(keyRow(id, user.id, workspace.keyName, workspace.apiKey, now, undefined))
    .execute();
  await createDefaults(db, id, user.id, at, workspace.volume);
  return id;
}

/**
 * What a new workspace starts with, so that it takes shares and transfers at once: the main site `hq`, the default
 * volume `default` (its files in `volumePath`) and the queues high, medium (the default) and low.
 */
async function createDefaults(
  db: Kysely<Tables>,
  workspace: string,
  admin: string,
  at: string,
  volumePath: string,
): Promise<void> {
  const record = () => ({ id: newId(), workspace, created: at, creator: admin, modified: at, modifier: admin });
  await sql`INSERT INTO sites (id, workspace, created, creator, modified, modifier, code, code_folded, name, name_folded,
    main, accsyn, status) VALUES (${sql.join(Object.values(record()))}, 'hq', 'hq', 'hq', 'hq', 1, 0, 'enabled')`.execute(
    db,
  );
  await sql`INSERT INTO shares (id, workspace, created, creator, modified, modifier, type, code, code_folded, name,
    name_folded, status, "default", path, inactive) VALUES (${sql.join(Object.values(record()))}, 'volume', 'default',
    'default', 'default', 'default', 'enabled', 1, ${volumePath}, 0)`.execute(db);
  for (const [code, priority] of [
    ['high', 999],
    ['medium', 500],
    ['low', 1],
  ] as const) {
    await sql`INSERT INTO jobs (id, workspace, created, creator, modified, modifier, type, code, code_folded, name,
      name_folded, status, priority, "default", uri) VALUES (${sql.join(Object.values(record()))}, 2, ${code}, ${code},
      ${code}, ${code}, 'waiting', ${priority}, ${code === 'medium' ? 1 : 0}, ${code})`.execute(db);
  }
}

/** Writes the admin's credentials in the client's env-file format, readable by the owner alone. */
export function writeAdminEnv(dataDir: string, created: Bootstrapped, url: string): string {
  const file = join(dataDir, 'admin.env');
  const lines = [
    '# The first admin of this workspace, written by its first start. Keep it secret.',
    `ACCSYN_WORKSPACE=${created.workspace}`,
    `ACCSYN_API_USER=${created.admin}`,
    `ACCSYN_API_KEY=${created.apiKey}`,
    `ACCSYN_HOSTNAME=${url}`,
  ];
  writeFileSync(file, `${lines.join('\n')}\n`, { mode: 0o600 });
  chmodSync(file, 0o600);
  return file;
}
