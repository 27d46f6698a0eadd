import { type EntityTypeSpec, FINISHED_JOB_STATUSES } from 'accsyn-protocol';
import {
  closeMatches,
  compileWhere,
  type Dialect,
  type Expression,
  parseExpression,
  postgres,
  sqlite,
} from 'accsyn-query';
import type { EventContext } from '../events.js';
import { badRequest } from '../http/errors.js';
import { isId } from '../store/ids.js';
import { Sql, sql } from '../store/sql.js';
import type { Store } from '../store/store.js';
import { readable } from './access.js';
import {
  ARCHIVABLE,
  DEACTIVATABLE,
  querySchema,
  type Row,
  readableAttributes,
  SUBTYPE_COLUMN,
  TABLES,
} from './model.js';
import { columnsRead, present } from './present.js';
import { resolveReferences } from './references.js';

/**
 * `<type>/find` (reference §2.2, §2.4): the query compiled to SQL with the scope and the caller's read rights
 * around it, in a stable order (oldest first, then id) so that pages never overlap or miss an entity.
 */

export interface FindOptions {
  readonly finished: boolean;
  readonly inactive: boolean;
  readonly archived: boolean;
  readonly single: boolean;
  readonly limit?: number;
  readonly skip: number;
  readonly parent?: string;
  readonly attributes?: readonly string[];
  /** For ACLs: a target volume takes the shares on it too. */
  readonly recursive: boolean;
}

export function findOptions(data: unknown): FindOptions {
  const object = (data ?? {}) as Record<string, unknown>;
  if (typeof object !== 'object' || Array.isArray(object)) throw badRequest('find: data must be an object.');
  const flag = (name: string) => {
    const value = object[name] ?? false;
    if (typeof value !== 'boolean') throw badRequest(`find: ${name} must be true or false.`);
    return value;
  };
  const count = (name: string) => {
    const value = object[name];
    if (value === undefined || value === null) return undefined;
    if (!Number.isSafeInteger(value) || (value as number) < 0) {
      throw badRequest(`find: ${name} must be a whole number from 0 to ${Number.MAX_SAFE_INTEGER}.`);
    }
    return value as number;
  };
  const parent = object.parent;
  if (parent !== undefined && parent !== null && (typeof parent !== 'string' || !isId(parent))) {
    throw badRequest('find: parent must be an id (24 lowercase letters and digits).');
  }
  const attributes = object.attributes;
  if (
    attributes !== undefined &&
    attributes !== null &&
    (!Array.isArray(attributes) || !attributes.every((a) => typeof a === 'string'))
  ) {
    throw badRequest('find: attributes must be a list of attribute names.');
  }
  const limit = count('limit');
  return {
    finished: flag('finished'),
    inactive: flag('inactive'),
    archived: flag('archived'),
    single: flag('single_entity_query'),
    recursive: flag('recursive'),
    skip: count('skip') ?? 0,
    ...(limit ? { limit } : {}),
    ...(typeof parent === 'string' ? { parent } : {}),
    ...(attributes ? { attributes: (attributes as string[]).map((a) => a.trim().toLowerCase()) } : {}),
  };
}

export async function find(context: EventContext, spec: EntityTypeSpec): Promise<Row[]> {
  const { store } = context;
  const options = findOptions(context.envelope.data);
  const attributes = chosenAttributes(spec, context, options.attributes);
  const conditions = await findConditions(context, spec, options);
  const rows = await store.rows<Row>(sql`SELECT ${selectList(columnsRead(spec, attributes))}
    FROM ${sql.id(TABLES[spec.family])} e
    WHERE ${sql.join(conditions, sql` AND `)}
    ORDER BY e.created, e.id
    ${options.limit ? sql`LIMIT ${options.limit}` : store.dialect === 'sqlite' ? sql`LIMIT -1` : sql.empty}
    ${options.skip ? sql`OFFSET ${options.skip}` : sql.empty}`);
  return present(context, spec, rows, attributes);
}

/**
 * What a find of `spec` sees, as conditions on its table aliased `e`: the caller's workspace and read rights, the
 * subtype, the scope (or the envelope's id), the parent and the query. Metrics and reports count and list the same.
 */
export async function findConditions(
  context: EventContext,
  spec: EntityTypeSpec,
  options: FindOptions,
): Promise<Sql[]> {
  const { caller, envelope } = context;
  const conditions: Sql[] = [
    spec.family === 'workspace' ? sql`e.id = ${caller.workspace.id}` : sql`e.workspace = ${caller.workspace.id}`,
    readable(spec, caller),
  ];
  const subtype = SUBTYPE_COLUMN[spec.family];
  if (subtype && spec.subtypes) conditions.push(sql`${sql.id(`e.${subtype}`)} IN (${sql.join(spec.subtypes)})`);
  if (envelope.id !== undefined) {
    // get_entity: by id, in every scope.
    conditions.push(sql`e.id = ${envelope.id}`);
  } else {
    conditions.push(...scope(spec, options, context.config.archiveAfterDays));
    if (options.parent) conditions.push(sql`${sql.id(`e.${parentColumn(spec)}`)} = ${options.parent}`);
    // find_one("User") with no condition is the caller's own profile, as the page promises.
    if (spec.name === 'user' && options.single && !envelope.query) conditions.push(sql`e.id = ${caller.user.id}`);
  }
  if (envelope.query) conditions.push(await where(context, spec, envelope.query, options.recursive));
  return conditions;
}

const selectLists = new WeakMap<readonly string[], Sql>();

/** `e.<column>, ...`: attribute names, which are our own column names, quoted as both databases quote them. */
function selectList(columns: readonly string[]): Sql {
  let list = selectLists.get(columns);
  if (list === undefined) {
    list = sql.raw(columns.map((column) => `e."${column}"`).join(', '));
    selectLists.set(columns, list);
  }
  return list;
}

/** The column that holds an entity's parent: a task's job, a job's queue or delivery, a share's volume. */
function parentColumn(spec: EntityTypeSpec): string {
  if (spec.family === 'task') return 'job';
  if (spec.attributes.parent) return 'parent';
  throw badRequest(`find: a ${spec.name} has no parent; leave parent out.`);
}

/**
 * Our tables keep booleans as 0/1 and dates as ISO 8601 text in UTC on both databases, so PostgreSQL compares them
 * as SQLite does; folding, containment, regular expressions and text order stay PostgreSQL's own.
 */
const POSTGRES: Dialect = { ...postgres, boolean: sqlite.boolean, date: sqlite.date };

/** How queries compile for the store's database. */
export function queryDialect(store: Store): Dialect {
  return store.dialect === 'sqlite' ? sqlite : POSTGRES;
}

/** The caller's query as SQL over the table aliased `e`, its references resolved. */
async function where(context: EventContext, spec: EntityTypeSpec, query: string, recursive: boolean): Promise<Sql> {
  let expression = await resolveReferences(context.store, context.caller, spec, parseExpression(query));
  if (recursive && spec.name === 'acl') expression = await withSharesBeneath(context, expression);
  const fragment = compileWhere(expression, querySchema(spec), queryDialect(context.store));
  // Unqualified columns here can only mean the table of the main query, `e`.
  return new Sql(fragment.strings, fragment.values);
}

/**
 * `acl/find` with `recursive` (the official client's `access(..., recursive=True)`): a condition on an ACL's target
 * share also takes the folders and homes on that share, when it is a volume.
 */
async function withSharesBeneath(context: EventContext, expression: Expression): Promise<Expression> {
  switch (expression.kind) {
    case 'and':
    case 'or':
      return {
        ...expression,
        operands: await Promise.all(expression.operands.map((operand) => withSharesBeneath(context, operand))),
      };
    case 'not':
      return { ...expression, operand: await withSharesBeneath(context, expression.operand) };
    case 'comparison': {
      if (expression.attribute !== 'target' || (expression.operator !== '=' && expression.operator !== 'in')) {
        return expression;
      }
      const targets = expression.values.flatMap((value) => (value.kind === 'text' ? [value.text] : []));
      const ids = targets.filter((text) => text.startsWith('share:')).map((text) => text.slice('share:'.length));
      if (ids.length === 0) return expression;
      const beneath = await context.store.rows<{ id: string }>(sql`SELECT id FROM shares
        WHERE workspace = ${context.caller.workspace.id} AND parent IN (${sql.join(ids)}) AND archived IS NULL`);
      const values = [...targets, ...beneath.map((row) => `share:${row.id}`)].map((text) => ({
        kind: 'text' as const,
        text,
      }));
      return { ...expression, operator: 'in', values };
    }
  }
}

/** Which entities a plain find sees: active ones, widened by the flags (reference §2.2). */
function scope(spec: EntityTypeSpec, options: FindOptions, archiveAfterDays: number): Sql[] {
  const conditions: Sql[] = [];
  if (spec.family === 'job') {
    const cutoff = new Date(Date.now() - archiveAfterDays * 86_400_000).toISOString();
    if (!options.archived) conditions.push(sql`e.archived IS NULL AND (e.finished IS NULL OR e.finished >= ${cutoff})`);
    if (!(options.finished || options.single || options.archived)) {
      conditions.push(sql`e.status NOT IN (${sql.join(FINISHED_JOB_STATUSES)})`);
    }
    return conditions;
  }
  if (ARCHIVABLE.has(spec.family) && !options.archived) conditions.push(sql`e.archived IS NULL`);
  if (DEACTIVATABLE.has(spec.family) && !options.inactive) conditions.push(sql`e.inactive = 0`);
  return conditions;
}

/** The attributes to answer with: those asked for (each must exist and be readable), else all readable ones. */
function chosenAttributes(spec: EntityTypeSpec, context: EventContext, asked?: readonly string[]): readonly string[] {
  const readableNames = readableAttributes(spec, context.caller.user.role);
  if (!asked || asked.length === 0) return readableNames;
  for (const name of asked) {
    if (!readableNames.includes(name)) {
      const close = closeMatches(name, readableNames);
      throw badRequest(
        `find: ${spec.name} has no attribute '${name}'${close.length > 0 ? `; did you mean ${close.join(' or ')}?` : '.'}`,
      );
    }
  }
  return ['id', ...asked.filter((name) => name !== 'id')];
}
