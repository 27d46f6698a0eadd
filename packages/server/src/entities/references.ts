import { attributeOf, type EntityTypeSpec, type Family } from 'accsyn-protocol';
import { type Comparison, type Expression, fold, type Value } from 'accsyn-query';
import type { Caller } from '../auth/authenticate.js';
import { isId } from '../store/ids.js';
import { sql } from '../store/sql.js';
import type { Store } from '../store/store.js';
import { TABLES } from './model.js';

/**
 * References between entities are stored as ids (`user`, `parent`, ...) or, for the ends of a transfer, as
 * `<type>:<id>` parties. People write them as codes: `Transfer WHERE user=lisa@example.com`, `destination=hq`. So
 * before a query is compiled, each value compared with a reference is replaced by the ids it can stand for: the id
 * itself, the `type:id` form, or the code of an entity of the referenced families in the caller's workspace.
 */

const PARTY_FAMILIES: readonly Family[] = ['user', 'site', 'client', 'workspace'];

/** The ids of the entities of `families` in the workspace whose code is `code` (case-insensitive). */
export async function idsByCode(store: Store, workspace: string, families: readonly Family[], code: string) {
  const found: { family: Family; id: string }[] = [];
  for (const family of families) {
    if (family === 'task') continue;
    const table = TABLES[family];
    const rows = await store.rows<{ id: string }>(sql`SELECT id FROM ${sql.id(table)}
      WHERE ${family === 'workspace' ? sql`id` : sql`workspace`} = ${workspace} AND code_folded = ${fold(code)}
      ${family === 'workspace' ? sql.empty : sql`AND archived IS NULL`}`);
    for (const row of rows) found.push({ family, id: row.id });
  }
  return found;
}

/** The families whose entities have a code and can be deleted: users, jobs, shares, sites, clients. */
export type CodedFamily = Exclude<Family, 'workspace' | 'task' | 'acl' | 'log' | 'file'>;

/**
 * The id of the live (not deleted) entity of `family` in the workspace that `value` names, by its id or its code;
 * `narrower` adds conditions (`AND type = 'volume'`). Undefined when there is none.
 */
export async function liveId(
  store: Store,
  workspace: string,
  family: CodedFamily,
  value: string,
  narrower = sql.empty,
): Promise<string | undefined> {
  const [found] = await store.rows<{ id: string }>(sql`SELECT id FROM ${sql.id(TABLES[family])}
    WHERE workspace = ${workspace} AND archived IS NULL ${narrower}
    AND (id = ${value} OR code_folded = ${fold(value)}) LIMIT 1`);
  return found?.id;
}

/**
 * What a value compared with a reference can stand for; the value itself when it names nothing. Kept while the
 * database is unchanged: a page of finds by the same user or site asks the same each time.
 */
async function candidates(
  store: Store,
  caller: Caller,
  text: string,
  families: readonly Family[],
  asParty: boolean,
): Promise<readonly string[]> {
  const key = `${caller.workspace.id}/${asParty}/${families.join(',')}/${text}`;
  return store.remembered(store.references, key, () => lookUp(store, caller, text, families, asParty));
}

async function lookUp(
  store: Store,
  caller: Caller,
  text: string,
  families: readonly Family[],
  asParty: boolean,
): Promise<readonly string[]> {
  const typed = /^([a-z]+):([a-z0-9]{24})$/i.exec(text);
  if (typed) return [asParty ? `${typed[1]?.toLowerCase()}:${typed[2]}` : (typed[2] as string)];
  if (text.includes('*')) return [text];
  if (isId(text)) return asParty ? families.map((family) => `${family}:${text}`) : [text];
  const found = await idsByCode(store, caller.workspace.id, families, text);
  const ids = found.map(({ family, id }) => (asParty ? `${family}:${id}` : id));
  if (asParty && found.some(({ family }) => family === 'site')) {
    // The main site also stands for the workspace party, which is what a transfer with no party stores.
    const sites = found.filter(({ family }) => family === 'site').map(({ id }) => id);
    const main = await store.rows<{ main: number }>(sql`SELECT main FROM sites WHERE id IN (${sql.join(sites)})`);
    if (main.some((row) => row.main === 1)) ids.push(`workspace:${caller.workspace.id}`);
  }
  return ids.length > 0 ? ids : [text];
}

const WIDER = { '=': 'in', '!=': 'not in', in: 'in', 'not in': 'not in' } as const;

/** `expression` with the values of its comparisons on references replaced by what they stand for. */
export async function resolveReferences(
  store: Store,
  caller: Caller,
  spec: EntityTypeSpec,
  expression: Expression,
): Promise<Expression> {
  switch (expression.kind) {
    case 'and':
    case 'or':
      return {
        kind: expression.kind,
        operands: await Promise.all(expression.operands.map((o) => resolveReferences(store, caller, spec, o))),
      };
    case 'not':
      return { kind: 'not', operand: await resolveReferences(store, caller, spec, expression.operand) };
    case 'comparison':
      return resolveComparison(store, caller, spec, expression);
  }
}

async function resolveComparison(
  store: Store,
  caller: Caller,
  spec: EntityTypeSpec,
  comparison: Comparison,
): Promise<Comparison> {
  const attribute = attributeOf(spec, comparison.attribute.replace(/\.id$/, ''));
  const operator = comparison.operator;
  if (!attribute || (attribute.type !== 'ref' && attribute.type !== 'party') || !Object.hasOwn(WIDER, operator)) {
    return comparison;
  }
  const asParty = attribute.type === 'party';
  const families = asParty ? PARTY_FAMILIES : (attribute.refs ?? []);
  const values: Value[] = [];
  for (const value of comparison.values) {
    if (value.kind === 'null') values.push(value);
    else {
      for (const text of await candidates(store, caller, value.text, families, asParty)) {
        values.push({ kind: 'text', text });
      }
    }
  }
  return { ...comparison, operator: WIDER[operator as keyof typeof WIDER], values };
}
