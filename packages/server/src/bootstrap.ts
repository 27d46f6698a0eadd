import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fold } from 'accsyn-query';
import { type Kysely, sql } from 'kysely';
import { EMAIL, keyRow, userRow } from './accounts.js';
import { checkChosenKey, newApiKey } from './auth/keys.js';
import type { ServerConfig } from './config.js';
import { ConfigError } from './config.js';
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

const CODE = /^[a-z0-9][a-z0-9-]{1,62}$/i;

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
  if (!CODE.test(workspace)) {
    throw new ConfigError(`ACCSYN_BOOTSTRAP_WORKSPACE '${workspace}' must be 2-63 letters, digits and '-'`);
  }
  if (!EMAIL.test(admin)) throw new ConfigError(`ACCSYN_BOOTSTRAP_ADMIN '${admin}' is not an e-mail address`);
  const weak = chosen.apiKey === undefined ? undefined : checkChosenKey(chosen.apiKey);
  if (weak) throw new ConfigError(`ACCSYN_BOOTSTRAP_API_KEY ${weak}`);
  const apiKey = chosen.apiKey ?? newApiKey();
  const at = now.toISOString();
  const workspaceId = newId(now.getTime());
  const user = userRow(workspaceId, admin, 'admin', now);
  const created = await store.db.transaction().execute(async (trx) => {
    // Nodes starting together on an empty PostgreSQL take turns here, and all but the first find its workspace.
    if (store.dialect === 'postgres')
      await sql`SELECT pg_advisory_xact_lock(hashtext('accsyn-bootstrap'))`.execute(trx);
    const found = await trx.selectFrom('workspaces').select('id').limit(1).executeTakeFirst();
    if (found) return false;
    await trx
      .insertInto('workspaces')
      .values({
        id: workspaceId,
        code: workspace,
        code_folded: fold(workspace),
        name: workspace,
        name_folded: fold(workspace),
        created: at,
        modified: at,
      })
      .execute();
    await trx.insertInto('users').values(user).execute();
    await trx
      .insertInto('api_keys')
      .values(keyRow(workspaceId, user.id, 'bootstrap', apiKey, now, undefined))
      .execute();
    await createDefaults(trx, workspaceId, user.id, at, join(config.dataDir, 'volumes', 'default'));
    return true;
  });
  if (!created) return undefined;
  mkdirSync(join(config.dataDir, 'volumes', 'default'), { recursive: true });
  return { workspace, admin, apiKey, generated: chosen.apiKey === undefined };
}

/**
 * What a new workspace starts with, so that it takes shares and transfers at once: the main site `hq`, the default
 * volume `default` (its files under `<data dir>/volumes/default`) and the queues high, medium (the default) and low.
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
