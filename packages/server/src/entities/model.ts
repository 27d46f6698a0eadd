import {
  type AttributeSpec,
  attributeOf,
  type EntityTypeSpec,
  entityType,
  type Family,
  formatIsoDate,
  type Role,
} from 'accsyn-protocol';
import { type Attribute, fold, type Schema } from 'accsyn-query';
import { type Kysely, sql } from 'kysely';
import { HttpError } from '../http/errors.js';
import type { Tables } from '../store/tables.js';

/**
 * How the entity types of accsyn-protocol are stored: one table per family, one column per stored attribute, and
 * text columns `code_folded`/`name_folded` beside `code` and `name` so that the common filters use plain indexes.
 */

export const TABLES: Readonly<Record<Family, string>> = {
  workspace: 'workspaces',
  user: 'users',
  job: 'jobs',
  task: 'tasks',
  share: 'shares',
  site: 'sites',
  client: 'clients',
  acl: 'acls',
  log: 'logs',
  file: 'files',
};

/** Families whose entities can be deactivated (`inactive`), and families whose rows have `archived`. */
export const DEACTIVATABLE: ReadonlySet<Family> = new Set(['user', 'share', 'client', 'acl']);
export const ARCHIVABLE: ReadonlySet<Family> = new Set(['user', 'job', 'share', 'site', 'client', 'acl']);

/** The column that tells the subtypes of a family apart: job type, share type, client type. */
export const SUBTYPE_COLUMN: Partial<Record<Family, string>> = { job: 'type', share: 'type', client: 'type' };

const FOLDED = new Set(['code', 'name']);

/**
 * The longest text an attribute takes, in characters (docs/server.md, "Security"): codes and names are indexed, and
 * an index entry has a size limit (PostgreSQL's is about 2.7 KB); paths and transfer ends are paths; every other
 * text is short. A JSON attribute takes at most MAX_JSON bytes of JSON: above the official client's 100 KB
 * compression threshold, so that what it sends compressed still fits, and small enough that a page of finds stays
 * small.
 */
const MAX_TEXT: Readonly<Record<string, number>> = {
  code: 500,
  name: 500,
  description: 10_000,
  path: 4_096,
  source: 4_096,
  destination: 4_096,
};
const MAX_OTHER_TEXT = 1_000;
const MAX_JSON = 256 * 1024;

/**
 * Attributes whose stored text is lowercase already (ids, references, parties, statuses, roles): a query compares
 * them with the column as it is, which an index serves, instead of folding every row.
 */
function storedLowercase(name: string, attribute: AttributeSpec): boolean {
  return attribute.type === 'ref' || attribute.type === 'party' || LOWERCASE.has(name);
}

const LOWERCASE = new Set(['id', 'status', 'role', 'entity', 'target', 'operation', 'outcome']);

export type Row = Record<string, unknown>;

/** An entity type, by the name a uri or query gives it; an unknown one is a 400 that names the known ones. */
export function typeNamed(name: string): EntityTypeSpec {
  const spec = entityType(name);
  if (!spec) throw new HttpError(400, `Unknown entity type '${name.trim()}': see find("entitytypes").`);
  return spec;
}

/** The attributes stored in a column of the family's table. */
export function storedAttributes(spec: EntityTypeSpec): [string, AttributeSpec][] {
  return Object.entries(spec.attributes).filter(([, attribute]) => attribute.type !== 'hr');
}

const schemas = new WeakMap<EntityTypeSpec, Schema>();

/**
 * The query schema of a type: every stored attribute but JSON ones, `<ref>.id` for references (`job.id`), and the
 * folded columns for code and name. References and parties are text here; `references.ts` resolves their values.
 */
export function querySchema(spec: EntityTypeSpec): Schema {
  const known = schemas.get(spec);
  if (known) return known;
  const schema: Record<string, Attribute> = {};
  for (const [name, attribute] of storedAttributes(spec)) {
    if (attribute.type === 'json') continue;
    const type =
      attribute.type === 'ref' || attribute.type === 'party' ? 'string' : (attribute.type as Attribute['type']);
    const entry: Attribute = {
      type,
      column: name,
      ...(FOLDED.has(name) ? { folded: `${name}_folded` } : storedLowercase(name, attribute) ? { folded: name } : {}),
      ...(name === 'id' || name === 'created' || name === 'modified' ? { required: true } : {}),
    };
    schema[name] = entry;
    if (attribute.type === 'ref') schema[`${name}.id`] = entry;
  }
  schemas.set(spec, schema);
  return schema;
}

const RANK: Readonly<Record<Role, number>> = { admin: 0, employee: 1, standard: 2 };
const readable = new WeakMap<EntityTypeSpec, Map<Role, readonly string[]>>();

/** The attributes a role reads of a type, in definition order (worked out once per type and role). */
export function readableAttributes(spec: EntityTypeSpec, role: Role): readonly string[] {
  const byRole = readable.get(spec) ?? new Map<Role, readonly string[]>();
  readable.set(spec, byRole);
  let names = byRole.get(role);
  if (!names) {
    names = Object.entries(spec.attributes)
      .filter(([, attribute]) => RANK[role] <= RANK[attribute.readableFrom ?? 'standard'])
      .map(([name]) => name);
    byRole.set(role, names);
  }
  return names;
}

/** A stored value as the wire shows it: dates naive UTC, booleans true/false, JSON parsed. */
export function toWire(attribute: AttributeSpec, value: unknown): unknown {
  if (value === null || value === undefined) return null;
  switch (attribute.type) {
    case 'date':
      return formatIsoDate(value as string);
    case 'boolean':
      return value === 1 || value === true;
    case 'json':
      return JSON.parse(value as string);
    default:
      return value;
  }
}

/** A value from the wire as it is stored; throws a 400 naming the attribute when it has the wrong type. */
export function toColumn(spec: EntityTypeSpec, name: string, value: unknown): unknown {
  const attribute = attributeOf(spec, name) as AttributeSpec;
  if (value === null) {
    if (attribute.required || NOT_NULL.has(name)) throw new HttpError(400, `${spec.name}.${name} cannot be null.`);
    return null;
  }
  const wrong = (expected: string) =>
    new HttpError(400, `${spec.name}.${name} must be ${expected}, not ${describe(value)}.`);
  switch (attribute.type) {
    case 'number':
      if (typeof value !== 'number' || !Number.isFinite(value)) throw wrong('a number');
      // Whole numbers are stored as 64-bit integers: past 2^53 JavaScript could not give them back exactly.
      if (attribute.integer && !Number.isSafeInteger(value)) throw wrong('a whole number below 2^53 in size');
      return value;
    case 'boolean':
      if (typeof value !== 'boolean') throw wrong('true or false');
      return value ? 1 : 0;
    case 'json': {
      const json = JSON.stringify(value);
      if (Buffer.byteLength(json) > MAX_JSON) throw wrong(`at most ${MAX_JSON / 1024} KB of JSON`);
      return json;
    }
    case 'date': {
      const date = typeof value === 'string' ? new Date(value.endsWith('Z') ? value : `${value}Z`) : undefined;
      // Years of four digits only: beyond, ISO text would no longer sort as the dates do.
      const year = date?.getUTCFullYear() ?? Number.NaN;
      if (!date || !(year >= 0 && year <= 9999)) throw wrong('a date (YYYY-MM-DDTHH:MM:SS) from year 0 to 9999');
      return date.toISOString();
    }
    default:
      if (typeof value !== 'string') throw wrong('text');
      // PostgreSQL keeps no U+0000 in text; SQLite would, and the two must agree.
      if (value.includes('\u0000')) throw wrong('text without the character U+0000 (NUL)');
      if (value.length > maxText(name)) throw wrong(`at most ${maxText(name).toLocaleString('en')} characters long`);
      if (attribute.values && !attribute.values.includes(value.toLowerCase())) {
        throw wrong(`one of ${attribute.values.join(', ')}`);
      }
      return attribute.values || storedLowercase(name, attribute) ? value.toLowerCase() : value;
  }
}

function maxText(name: string): number {
  return Object.hasOwn(MAX_TEXT, name) ? (MAX_TEXT[name] as number) : MAX_OTHER_TEXT;
}

/** Attributes every entity that has them must hold, beside the required ones. */
const NOT_NULL = new Set(['code', 'name', 'status', 'role', 'priority', 'path', 'read', 'write']);

/** A value as an error message shows it: short text as it is, anything else by its kind. */
function describe(value: unknown): string {
  if (typeof value === 'string')
    return value.length <= 40 ? JSON.stringify(value) : `a text of ${value.length} characters`;
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'an object';
  return String(value);
}

/** The folded copies of code and name that a row keeps beside them. */
export function foldedColumns(row: Row): Row {
  const folded: Row = {};
  for (const name of FOLDED) {
    if (typeof row[name] === 'string') folded[`${name}_folded`] = fold(row[name] as string);
  }
  return folded;
}

/** Inserts `row` (its defined values) into `table`. */
export async function insertRow(db: Kysely<Tables>, table: string, row: Row): Promise<void> {
  const entries = Object.entries(row).filter(([, value]) => value !== undefined);
  await sql`INSERT INTO ${sql.table(table)} (${sql.join(entries.map(([column]) => sql.ref(column)))})
    VALUES (${sql.join(entries.map(([, value]) => value))})`.execute(db);
}

/** Sets the defined values of `set` on the row `id` of `table`. */
export async function updateRow(db: Kysely<Tables>, table: string, id: string, set: Row): Promise<void> {
  const entries = Object.entries(set).filter(([, value]) => value !== undefined);
  await sql`UPDATE ${sql.table(table)} SET ${sql.join(entries.map(([column, value]) => sql`${sql.ref(column)} = ${value}`))}
    WHERE id = ${id}`.execute(db);
}
