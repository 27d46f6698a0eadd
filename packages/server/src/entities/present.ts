import { type AttributeSpec, attributeOf, type EntityTypeSpec, type Family } from 'accsyn-protocol';
import type { EventContext } from '../events.js';
import { type Sql, sql } from '../store/sql.js';
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

/**
 * How one answered attribute is made from a row: a stored value converted, or an `_hr` form of the value in its
 * base attribute (a capitalised status, a client type's name, a party as `<type>:<code>`, the code alone of an
 * ACL's entity or target, or the code or name of the entity an id refers to, looked up in `family`).
 */
type Part =
  | { readonly kind: 'value'; readonly name: string; readonly attribute: AttributeSpec }
  | { readonly kind: 'status' | 'type' | 'party' | 'code'; readonly name: string; readonly base: string }
  | { readonly kind: 'id'; readonly name: string; readonly base: string; readonly family: Family | undefined };

const plans = new WeakMap<EntityTypeSpec, WeakMap<readonly string[], readonly Part[]>>();

/** The parts of `attributes` (names without a definition left out), worked out once per type and list. */
function planOf(spec: EntityTypeSpec, attributes: readonly string[]): readonly Part[] {
  const bySpec = plans.get(spec) ?? new WeakMap<readonly string[], readonly Part[]>();
  plans.set(spec, bySpec);
  let plan = bySpec.get(attributes);
  if (plan) return plan;
  plan = attributes.flatMap((name): Part[] => {
    const attribute = attributeOf(spec, name);
    if (!attribute) return [];
    if (attribute.type !== 'hr') return [{ kind: 'value', name, attribute }];
    const base = name.slice(0, -'_hr'.length);
    if (base === 'status' || base === 'type') return [{ kind: base, name, base }];
    if (attributeOf(spec, base)?.type === 'party') return [{ kind: 'party', name, base }];
    if (base === 'entity' || base === 'target') return [{ kind: 'code', name, base }];
    const family = (spec.family === 'share' || spec.family === 'file') && base === 'parent' ? 'share' : HR_FAMILY[base];
    return [{ kind: 'id', name, base, family }];
  });
  bySpec.set(attributes, plan);
  return plan;
}

/**
 * The columns that `present` reads to answer `attributes`: the stored attributes among them and the bases of their
 * `_hr` forms, so that a find reads no more of each row than it answers.
 */
export function columnsRead(spec: EntityTypeSpec, attributes: readonly string[]): readonly string[] {
  const plan = planOf(spec, attributes);
  let columns = columnsByPlan.get(plan);
  if (!columns) {
    columns = [...new Set(plan.map((part) => (part.kind === 'value' ? part.name : part.base)))];
    columnsByPlan.set(plan, columns);
  }
  return columns;
}

const columnsByPlan = new WeakMap<readonly Part[], readonly string[]>();

export async function present(
  context: EventContext,
  spec: EntityTypeSpec,
  rows: readonly Row[],
  attributes: readonly string[],
): Promise<Row[]> {
  const plan = planOf(spec, attributes);
  const names = await lookUpNames(context.store, context.caller.workspace.id, plan, rows);
  const forms: Forms = { party: new Map(), code: new Map() };
  const entityOf = makerOf(plan);
  return rows.map((row) => entityOf(row, names, forms));
}

/** Makes one answered entity of a row, its names and the page's party forms. */
type EntityMaker = (row: Row, names: Names, forms: Forms) => Row;

const makers = new WeakMap<readonly Part[], EntityMaker>();

/**
 * The entity maker of a plan: one object literal with the plan's names, each computed by its part, so that every
 * entity of every page has one shape, which V8 builds and reads faster than objects filled key by key. Each name is
 * a computed key quoted as a JSON string: whatever an attribute is called, it can only be an own property's name.
 */
function makerOf(plan: readonly Part[]): EntityMaker {
  let maker = makers.get(plan);
  if (!maker) {
    const parts = plan.map((part): ((row: Row, names: Names, forms: Forms) => unknown) =>
      part.kind === 'value'
        ? (row) => toWire(part.attribute, row[part.name])
        : (row, names, forms) => readable(part, row, names, forms),
    );
    const fields = plan.map((part, i) => `[${JSON.stringify(part.name)}]: parts[${i}](row, names, forms)`);
    maker = new Function('parts', `return (row, names, forms) => ({ ${fields.join(', ')} });`)(parts) as EntityMaker;
    makers.set(plan, maker);
  }
  return maker;
}

/** The `_hr` forms of the parties on a page, by stored value: the rows of a page mostly name the same few. */
type Forms = Record<'party' | 'code', Map<string, unknown>>;

function readable(part: Exclude<Part, { kind: 'value' }>, row: Row, names: Names, forms: Forms): unknown {
  const value = row[part.base];
  if (part.kind === 'status') {
    return typeof value === 'string' ? value.charAt(0).toUpperCase() + value.slice(1) : null;
  }
  if (part.kind === 'type') return CLIENT_TYPE_NAMES[value as number] ?? null;
  if (typeof value !== 'string') return null;
  if (part.kind === 'id') return names.get(value) ?? null;
  let form = forms[part.kind].get(value);
  if (form === undefined) {
    const [type, id] = value.split(':');
    const code = names.get(id ?? '');
    form = part.kind === 'code' ? (code ?? null) : code === undefined ? value : `${type}:${code}`;
    forms[part.kind].set(value, form);
  }
  return form;
}

/** The code or name of every entity the rows' `_hr` attributes refer to, by id. */
async function lookUpNames(
  store: Store,
  workspace: string,
  plan: readonly Part[],
  rows: readonly Row[],
): Promise<Names> {
  const wanted = new Map<Family, Set<string>>();
  const want = (family: Family, id: unknown) => {
    if (typeof id !== 'string' || id === '') return;
    const ids = wanted.get(family);
    if (ids) ids.add(id);
    else wanted.set(family, new Set([id]));
  };
  for (const part of plan) {
    if (part.kind === 'party' || part.kind === 'code') {
      const seen = new Set<unknown>();
      for (const row of rows) {
        const value = row[part.base];
        if (seen.has(value)) continue;
        seen.add(value);
        const [type, id] = String(value ?? '').split(':');
        want(type as Family, id);
      }
    } else if (part.kind === 'id' && part.family) {
      for (const row of rows) want(part.family, row[part.base]);
    }
  }
  // What the memo does not hold yet, in one query for every family: a page costs one round trip at most.
  const names: Names = new Map();
  const version = store.version();
  const keyOf = (family: Family, id: string) => `${workspace}/${family}/${id}`;
  const lookups: Sql[] = [];
  for (const [family, ids] of wanted) {
    // Tasks, ACLs, log entries and collection files have no code or name to show.
    if (!TABLES[family] || family === 'task' || family === 'acl' || family === 'log' || family === 'file') continue;
    const missing: string[] = [];
    for (const id of ids) {
      const label = version === undefined ? undefined : store.labels.get(version, keyOf(family, id));
      if (label === undefined) missing.push(id);
      else if (label !== null) names.set(id, label);
    }
    if (missing.length === 0) continue;
    const label = family === 'job' ? sql.id('name') : sql.id('code');
    const inWorkspace = family === 'workspace' ? sql`id = ${workspace}` : sql`workspace = ${workspace}`;
    lookups.push(sql`SELECT ${family} AS family, id, ${label} AS label FROM ${sql.id(TABLES[family])}
      WHERE id IN (${sql.join(missing)}) AND ${inWorkspace}`);
    if (version !== undefined) for (const id of missing) store.labels.set(version, keyOf(family, id), null);
  }
  if (lookups.length === 0) return names;
  const found = await store.rows<{ family: Family; id: string; label: string }>(sql.join(lookups, sql` UNION ALL `));
  for (const row of found) {
    names.set(row.id, row.label);
    if (version !== undefined) store.labels.set(version, keyOf(row.family, row.id), row.label);
  }
  return names;
}
