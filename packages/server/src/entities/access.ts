import type { EntityTypeSpec, Role } from 'accsyn-protocol';
import type { Caller } from '../auth/authenticate.js';
import { HttpError } from '../http/errors.js';
import { type Sql, sql } from '../store/sql.js';
import type { Row } from './model.js';

/**
 * Who may read and write what (reference §3.2 with its footnotes, and what the official tests show): reads are a
 * SQL condition added to every find, so what a caller may not see is simply not there (`{"result": []}`); writes
 * are checked on the entity as stored and refused with a 403 that says why.
 */

const TRUE = sql`1 = 1`;
const FALSE = sql`1 = 0`;

const party = (caller: Caller) => `user:${caller.user.id}`;

/** The caller holds a live ACL on the share whose id is in `column`. */
const granted = (caller: Caller, column: Sql) =>
  sql`EXISTS (SELECT 1 FROM acls a WHERE a.workspace = ${caller.workspace.id} AND a.entity = ${party(caller)}
    AND a.target = 'share:' || ${column} AND a.inactive = 0 AND a.archived IS NULL)`;

/** The caller holds an ACL on some volume: what employees need before they may handle deliveries. */
export const volumeAccess = (caller: Caller) =>
  sql`EXISTS (SELECT 1 FROM acls a JOIN shares s ON a.target = 'share:' || s.id
    WHERE a.workspace = ${caller.workspace.id} AND a.entity = ${party(caller)} AND s.type = 'volume'
    AND a.inactive = 0 AND a.archived IS NULL)`;

/** The user in `column` is the caller or a standard user: what employees see of people. */
const selfOrStandard = (caller: Caller, column: Sql) =>
  sql`(${column} = ${caller.user.id} OR ${column} IN
    (SELECT u.id FROM users u WHERE u.workspace = ${caller.workspace.id} AND u.role = 'standard'))`;

/** The job in `column` is one the caller takes part in: as its creator, sender, receiver or recipient. */
const takesPart = (caller: Caller, column: Sql) =>
  sql`${column} IN (SELECT j.id FROM jobs j WHERE j.workspace = ${caller.workspace.id} AND (j."user" = ${caller.user.id}
    OR j.source = ${party(caller)} OR j.destination = ${party(caller)}
    OR j.id IN (SELECT r.job FROM recipients r WHERE r."user" = ${caller.user.id})))`;

/** The condition on the rows of `spec`'s table (aliased `e`) that the caller may read. */
export function readable(spec: EntityTypeSpec, caller: Caller): Sql {
  const role = caller.user.role;
  if (role === 'admin') return TRUE;
  const id = sql.id('e.id');
  switch (spec.name) {
    case 'workspace':
      return role === 'employee' ? TRUE : FALSE;
    case 'user':
      return role === 'employee' ? selfOrStandard(caller, id) : sql`${id} = ${caller.user.id}`;
    case 'queue':
    case 'site':
    case 'server':
      return role === 'employee' ? TRUE : FALSE;
    case 'transfer':
      return role === 'employee' ? TRUE : takesPart(caller, id);
    case 'task':
      // A task is as visible as its job; employees see the files of deliveries only with volume access.
      return role === 'employee'
        ? sql`(${volumeAccess(caller)} OR ${takesPart(caller, sql.id('e.job'))}
            OR e.job IN (SELECT j.id FROM jobs j WHERE j.workspace = ${caller.workspace.id} AND j.type = 1))`
        : takesPart(caller, sql.id('e.job'));
    case 'delivery':
    case 'request':
      return role === 'employee' ? sql`(${volumeAccess(caller)} OR ${takesPart(caller, id)})` : takesPart(caller, id);
    case 'volume':
      return granted(caller, id);
    case 'folder':
    case 'collection':
    case 'home':
      return role === 'employee' ? TRUE : sql`(${granted(caller, id)} OR e."user" = ${caller.user.id})`;
    case 'acl':
      // Footnote 1 for standard users: their own entries and those of standard users.
      return role === 'employee' ? TRUE : selfOrStandard(caller, sql`substr(e.entity, 6)`);
    case 'log':
      // The audit log is the admins'; everyone else reads what they did themselves.
      return sql`${sql.id('e.user')} = ${caller.user.id}`;
    case 'file':
      // A collection's files are as visible as the collection.
      return role === 'employee'
        ? TRUE
        : sql`e.parent IN (SELECT c.id FROM shares c WHERE c.workspace = ${caller.workspace.id} AND (${granted(caller, sql.id('c.id'))} OR c."user" = ${caller.user.id}))`;
    default:
      // client, app, userserver: employees see all; standard users their own and standard users' (not servers).
      return role === 'employee' ? TRUE : sql`(e.type <> 1 AND ${selfOrStandard(caller, sql.id('e.user'))})`;
  }
}

export type Operation = 'create' | 'edit' | 'delete' | 'activate' | 'deactivate';

const forbidden = (message: string) => new HttpError(403, message);

/** Only these roles may write these types at all, whatever the entity. */
const WRITERS: Readonly<Record<string, readonly Role[]>> = {
  workspace: ['admin'],
  queue: ['admin'],
  volume: ['admin'],
  site: ['admin'],
  server: ['admin'],
  delivery: ['admin', 'employee'],
  request: ['admin', 'employee'],
  folder: ['admin', 'employee'],
  collection: ['admin', 'employee'],
  home: ['admin', 'employee'],
};

/**
 * Refuses an operation the caller's role does not allow on `spec`, before any entity is looked at. Rules that
 * depend on the entity follow in `checkOwnership`.
 */
export function checkRole(spec: EntityTypeSpec, caller: Caller, operation: Operation): void {
  if (spec.family === 'log') {
    throw forbidden('The audit log is written by the server alone: its entries cannot be created, changed or deleted.');
  }
  const role = caller.user.role;
  const writers = WRITERS[spec.name];
  if (writers && !writers.includes(role)) {
    throw forbidden(`Permission denied: a ${role} user may not ${operation} ${plural(spec.name)}.`);
  }
  if (operation === 'create' && ['workspace', 'client', 'app', 'server', 'userserver'].includes(spec.name)) {
    throw forbidden(`${capitalise(plural(spec.name))} cannot be created through the API.`);
  }
  if (spec.name === 'acl' && role === 'standard') {
    throw forbidden('Permission denied: a standard user may not grant or revoke access.');
  }
  if (spec.name === 'user' && role === 'standard' && operation !== 'edit') {
    throw forbidden(`Permission denied: a standard user may not ${operation} users.`);
  }
}

/** What ownership checks need to know of the users and shares an entity refers to. */
export interface Lookups {
  roleOf(userId: string): Promise<Role | undefined>;
  shareOf(shareId: string): Promise<{ type: string; user: string | null } | undefined>;
}

/**
 * Refuses a write (a new entity's values, or a stored entity the caller can read) that the footnotes of §3.2 rule
 * out for its role: employees change only themselves and standard users, not the homes of admins or other
 * employees, and grant no access to volumes (that access is what lets them handle deliveries); standard users
 * change only their own clients and those of standard users.
 */
export async function checkOwnership(spec: EntityTypeSpec, caller: Caller, row: Row, lookups: Lookups): Promise<void> {
  if (caller.user.role === 'admin') return;
  const ownOrStandard = async (userId: unknown) =>
    userId === caller.user.id || (typeof userId === 'string' && (await lookups.roleOf(userId)) === 'standard');
  const home = async (shareUser: unknown) => {
    if (!(await ownOrStandard(shareUser))) {
      throw forbidden('Permission denied: an employee may not change the home of an admin or another employee.');
    }
  };
  if (spec.name === 'user' && row.id !== undefined && !(await ownOrStandard(row.id))) {
    throw forbidden('Permission denied: an employee may change only themselves and standard users.');
  }
  if (spec.name === 'home') await home(row.user);
  if (spec.family === 'client' && caller.user.role === 'standard' && !(await ownOrStandard(row.user))) {
    throw forbidden('Permission denied: you may change only your own clients and those of standard users.');
  }
  if (spec.name === 'acl' && typeof row.target === 'string') {
    const share = await lookups.shareOf(row.target.replace(/^share:/, ''));
    if (share?.type === 'volume') throw forbidden('Permission denied: only an admin may grant access to a volume.');
    if (share?.type === 'home') await home(share.user);
  }
}

export function plural(name: string): string {
  return name === 'delivery' ? 'deliveries' : name.endsWith('s') ? `${name}es` : `${name}s`;
}

export function capitalise(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}
