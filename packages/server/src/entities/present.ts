import type { EntityTypeSpec, Family } from 'accsyn-protocol';
import { sql } from 'kysely';
import type { EventContext } from '../events.js';
import type { Store } from '../store/store.js';
import { type Row, TABLES, toWire } from './model.js';

/**
 * Rows as the wire shows them: the requested attributes in definition order, values converted (dates naive UTC,
 * booleans, JSON), and the human-readable `_hr` forms filled in with one lookup per referenced family and page.
 *
 * The `_hr` forms: a user is their e-mail, a job its name, a share, site or client its code, a party
 * `<type>:<code>` (`user:lisa@example.com`, `site:hq`), a client type its name, a status its capitalised self.
 */

const CLIENT_TYPE_NAMES = ['app', 'server', 'user server', 'browser'];

/** Which family an `_hr` attribute's base refers to, for the attributes whose base is a plain id. */
const HR_FAMILY: Readonly<Record<string, Family>> = {
  user: 'user',
  creator: 'user',
  modifier: 'user',
  parent: 'job',
  queue: 'job',
  job: 'job',
  site: 'site',
};

type Names = Map<string, string>;

export async function present(
  context: EventContext,
  spec: EntityTypeSpec,
  rows: readonly Row[],
  attributes: readonly string[],
): Promise<Row[]> {
  const names = await lookUpNames(context.store, context.caller.workspace.id, spec, rows, attributes);
  return rows.map((row) => {
    const entity: Row = {};
    for (const name of attributes) {
      const attribute = spec.attributes[name];
      if (!attribute) continue;
      entity[name] = attribute.type === 'hr' ? readable(spec, name, row, names) : toWire(attribute, row[name]);
    }
    return entity;
  });
}

function readable(spec: EntityTypeSpec, name: string, row: Row, names: Names): unknown {
  const base = name.slice(0, -'_hr'.length);
  const value = row[base];
  if (base === 'status') return typeof value === 'string' ? value.charAt(0).toUpperCase() + value.slice(1) : null;
  if (base === 'type') return CLIENT_TYPE_NAMES[value as number] ?? null;
  if (typeof value !== 'string') return null;
  if (spec.attributes[base]?.type === 'party' || base === 'entity' || base === 'target') {
    const [type, id] = value.split(':');
    const code = names.get(id ?? '');
    if (base === 'entity' || base === 'target') return code ?? null;
    return code === undefined ? value : `${type}:${code}`;
  }
  return names.get(value) ?? null;
}

/** The code or name of every entity the rows' `_hr` attributes refer to, by id. */
async function lookUpNames(
  store: Store,
  workspace: string,
  spec: EntityTypeSpec,
  rows: readonly Row[],
  attributes: readonly string[],
): Promise<Names> {
  const wanted = new Map<Family, Set<string>>();
  const want = (family: Family, id: unknown) => {
    if (typeof id !== 'string' || id === '') return;
    const ids = wanted.get(family) ?? new Set<string>();
    wanted.set(family, ids.add(id));
  };
  for (const name of attributes) {
    if (!name.endsWith('_hr')) continue;
    const base = name.slice(0, -'_hr'.length);
    const typeOfBase = spec.attributes[base]?.type;
    for (const row of rows) {
      if (typeOfBase === 'party' || base === 'entity' || base === 'target') {
        const [type, id] = String(row[base] ?? '').split(':');
        want(type as Family, id);
      } else if (spec.family === 'share' && base === 'parent') want('share', row[base]);
      else if (HR_FAMILY[base]) want(HR_FAMILY[base], row[base]);
    }
  }
  // One query for every family, so that a page costs one round trip whatever it refers to.
  const lookups = [...wanted]
    .filter(([family]) => TABLES[family] && family !== 'task' && family !== 'acl')
    .map(([family, ids]) => {
      const label = family === 'job' ? sql.ref('name') : sql.ref('code');
      const inWorkspace = family === 'workspace' ? sql`id = ${workspace}` : sql`workspace = ${workspace}`;
      return sql`SELECT id, ${label} AS label FROM ${sql.table(TABLES[family])}
        WHERE id IN (${sql.join([...ids])}) AND ${inWorkspace}`;
    });
  const names: Names = new Map();
  if (lookups.length === 0) return names;
  const found = await sql<{ id: string; label: string }>`${sql.join(lookups, sql` UNION ALL `)}`.execute(store.db);
  for (const row of found.rows) names.set(row.id, row.label);
  return names;
}
