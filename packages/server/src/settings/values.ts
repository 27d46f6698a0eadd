import { type EntityTypeSpec, JOB_TYPES } from 'accsyn-protocol';
import type { Caller } from '../auth/authenticate.js';
import { readable } from '../entities/access.js';
import { typeNamed } from '../entities/model.js';
import { type Sql, sql } from '../store/sql.js';
import type { Store } from '../store/store.js';
import type { HolderRef, SettingHolder } from './holders.js';
import { SETTINGS } from './registry.js';

/**
 * The values set, in the `settings` table (migration 0007): one row per workspace, holder, entity and name. Only
 * what someone set is stored; defaults live in the registry.
 */

/** `holder:id`, the key of a holder in maps and in the answers of a recursive get_settings. */
export const keyOf = (ref: HolderRef) => `${ref.holder}:${ref.id}`;

/** The values set on `refs` (all, or only `name`), by holder key and name. */
export async function valuesOn(
  store: Store,
  workspace: string,
  refs: readonly HolderRef[],
  name?: string,
): Promise<Map<string, Map<string, string>>> {
  const on = sql.join(
    refs.map((ref) => sql`(v.holder = ${ref.holder} AND v.entity = ${ref.id})`),
    sql` OR `,
  );
  const rows = await store.rows<{ holder: string; entity: string; name: string; value: string }>(sql`SELECT v.holder,
    v.entity, v.name, v.value FROM settings v WHERE v.workspace = ${workspace} AND (${on})
    ${name === undefined ? sql.empty : sql`AND v.name = ${name}`}`);
  return byHolder(rows);
}

function byHolder(
  rows: readonly { holder: string; entity: string; name: string; value: string }[],
): Map<string, Map<string, string>> {
  const values = new Map<string, Map<string, string>>();
  for (const row of rows) {
    const key = `${row.holder}:${row.entity}`;
    const own = values.get(key) ?? new Map<string, string>();
    own.set(row.name, row.value);
    values.set(key, own);
  }
  return values;
}

/** Sets a value: one statement that inserts or replaces, so that two nodes setting it at once both succeed. */
export async function putValue(
  store: Store,
  workspace: string,
  ref: HolderRef,
  name: string,
  value: string,
  modifier: string,
): Promise<void> {
  await store.rows(sql`INSERT INTO settings (workspace, holder, entity, name, value, modified, modifier)
    VALUES (${workspace}, ${ref.holder}, ${ref.id}, ${name}, ${value}, ${new Date().toISOString()}, ${modifier})
    ON CONFLICT (workspace, holder, entity, name)
    DO UPDATE SET value = excluded.value, modified = excluded.modified, modifier = excluded.modifier
    RETURNING name`);
}

/** Removes a value, if it is set. */
export async function removeValue(store: Store, workspace: string, ref: HolderRef, name: string): Promise<void> {
  await store.rows(sql`DELETE FROM settings
    WHERE workspace = ${workspace} AND holder = ${ref.holder} AND entity = ${ref.id} AND name = ${name}
    RETURNING name`);
}

/** The API types of each kind of holder, with the value of the type column that tells them apart. */
const JOB_SPECS: readonly [EntityTypeSpec, number][] = Object.entries(JOB_TYPES).map(([name, type]) => [
  typeNamed(name),
  type,
]);
const SHARE_SPECS: readonly [EntityTypeSpec, string][] = ['volume', 'folder', 'home', 'collection'].map((name) => [
  typeNamed(name),
  name,
]);

/** The condition on the rows of a family's table (aliased `e`) whose type is one the caller may read. */
function readableOfTypes(caller: Caller, specs: readonly [EntityTypeSpec, number | string][]): Sql {
  return sql`(${sql.join(
    specs.map(([spec, type]) => sql`(e.type = ${type} AND ${readable(spec, caller)})`),
    sql` OR `,
  )})`;
}

/**
 * The values set on the entities below `holder` that the caller may read and that are not deleted, by holder key:
 * below the workspace, every user, job and share of it; below a queue, its jobs; below a volume, its folders and
 * homes. Other holders have nothing below them.
 */
export async function valuesBelow(
  store: Store,
  caller: Caller,
  holder: SettingHolder,
): Promise<Map<string, Map<string, string>>> {
  const workspace = caller.workspace.id;
  const live = sql`e.workspace = ${workspace} AND e.archived IS NULL`;
  const users = sql`(v.holder = 'user' AND v.entity IN (SELECT e.id FROM users e WHERE ${live}
    AND ${readable(typeNamed('user'), caller)}))`;
  const jobs = (below: Sql) => sql`(v.holder = 'job' AND v.entity IN (SELECT e.id FROM jobs e WHERE ${live} ${below}
    AND ${readableOfTypes(caller, JOB_SPECS)}))`;
  // A standard user sees no share's settings (see holders.ts).
  const shares = (below: Sql) =>
    caller.user.role === 'standard'
      ? sql`1 = 0`
      : sql`(v.holder = 'share' AND v.entity IN (SELECT e.id FROM shares e WHERE ${live} ${below}
        AND ${readableOfTypes(caller, SHARE_SPECS)}))`;
  let which: Sql | undefined;
  if (holder.holder === 'workspace') which = sql`(${users} OR ${jobs(sql.empty)} OR ${shares(sql.empty)})`;
  else if (holder.spec.name === 'queue') which = jobs(sql`AND e.queue = ${holder.id}`);
  else if (holder.spec.name === 'volume') which = shares(sql`AND e.parent = ${holder.id}`);
  if (!which) return new Map();
  const rows = await store.rows<{ holder: string; entity: string; name: string; value: string }>(sql`SELECT v.holder,
    v.entity, v.name, v.value FROM settings v WHERE v.workspace = ${workspace} AND ${which}
    ORDER BY v.holder, v.entity, v.name`);
  return byHolder(rows);
}

/**
 * The value of the setting `name` that applies to the first holder of `chain` (nearest first, as `chainOf` orders
 * them): the one set nearest, else the registry's default.
 */
export async function effectiveValue(
  store: Store,
  workspace: string,
  chain: readonly HolderRef[],
  name: string,
): Promise<string | null> {
  const values = await valuesOn(store, workspace, chain, name);
  for (const ref of chain) {
    const value = values.get(keyOf(ref))?.get(name);
    if (value !== undefined) return value;
  }
  return SETTINGS.find((setting) => setting.name === name)?.default ?? null;
}
