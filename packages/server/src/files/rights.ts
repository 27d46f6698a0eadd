import type { Caller } from '../auth/authenticate.js';
import { HttpError } from '../http/errors.js';
import { sql } from '../store/sql.js';
import type { Store } from '../store/store.js';
import { clean, type Located } from './locate.js';

/**
 * What a caller may do with the files of a volume (reference §3.2 footnotes 5 and 6, §3.9). Rights are rules on
 * directories, each written in the volume's terms: a rule on `a/b` covers `a/b` and all beneath it, and a caller's
 * rights on a path are the union of the rules that cover it.
 *
 * - Admins may do everything.
 * - Employees read and write every folder and collection, their own home and those of standard users; a volume
 *   only where an ACL grants it.
 * - Standard users their own home, and what ACLs grant them.
 *
 * An ACL on a share grants its rules (`path` relative to the share) inside that share's directory.
 */

export interface Rule {
  /** In the volume: '' for its root, else `a/b`. */
  readonly path: string;
  readonly read: boolean;
  readonly write: boolean;
}

/** A caller's rights on one volume: everything, or a list of rules. */
export type Rights = 'all' | readonly Rule[];

export type Need = 'read' | 'write';

interface AclRuleRow {
  readonly share_path: string | null;
  readonly share_type: string;
  readonly path: string;
  readonly read: number;
  readonly write: number;
  readonly rules: string | null;
}

interface ShareRuleRow {
  readonly path: string | null;
  readonly type: string;
}

export async function rightsOn(store: Store, caller: Caller, volumeId: string): Promise<Rights> {
  const role = caller.user.role;
  if (role === 'admin') return 'all';
  const workspace = caller.workspace.id;
  const inVolume = sql`(s.id = ${volumeId} OR s.parent = ${volumeId}) AND s.archived IS NULL AND s.inactive = 0`;
  const acls = await store.rows<AclRuleRow>(sql`SELECT s.path AS share_path, s.type AS share_type, a.path, a.read,
    a.write, a.rules FROM acls a JOIN shares s ON a.target = 'share:' || s.id
    WHERE a.workspace = ${workspace} AND a.entity = ${`user:${caller.user.id}`} AND a.inactive = 0
    AND a.archived IS NULL AND ${inVolume}`);
  const rules: Rule[] = acls.flatMap((acl) => {
    const base = acl.share_type === 'volume' ? '' : clean(acl.share_path ?? '');
    return aclRules(acl).map((rule) => ({ ...rule, path: joined(base, rule.path) }));
  });
  // The shares a role reaches without an ACL: its own home, and for employees folders and the homes of standard users.
  const own = await store.rows<ShareRuleRow>(sql`SELECT s.path, s.type FROM shares s
    WHERE s.workspace = ${workspace} AND ${inVolume} AND s.type <> 'volume' AND (s."user" = ${caller.user.id}
    ${
      role === 'employee'
        ? sql`OR s.type IN ('folder', 'collection') OR (s.type = 'home' AND s."user" IN
            (SELECT u.id FROM users u WHERE u.workspace = ${workspace} AND u.role = 'standard'))`
        : sql.empty
    })`);
  for (const share of own) {
    if (share.path !== null) rules.push({ path: clean(share.path), read: true, write: true });
  }
  return rules;
}

/** The rules an ACL row holds, in its share's terms: its list, or the single path of an ACL from before lists. */
export function aclRules(acl: { path: string; read: number; write: number; rules: string | null }): Rule[] {
  const listed = acl.rules ? (JSON.parse(acl.rules) as { path: string; read: boolean; write: boolean }[]) : undefined;
  const rules = listed ?? [{ path: acl.path, read: acl.read === 1, write: acl.write === 1 }];
  return rules.map((rule) => ({ path: clean(rule.path), read: rule.read, write: rule.write }));
}

/** Whether `rule` covers `path`: it is the rule's directory or lies beneath it. */
const covers = (rule: Rule, path: string) => rule.path === '' || path === rule.path || path.startsWith(`${rule.path}/`);

/** Whether `path` holds a rule's directory beneath it, so that the way there may be listed. */
const leadsTo = (rule: Rule, path: string) => rule.path !== path && (path === '' || rule.path.startsWith(`${path}/`));

export function may(rights: Rights, path: string, need: Need): boolean {
  return rights === 'all' || rights.some((rule) => rule[need] && covers(rule, path));
}

/** Whether a directory may be listed: readable, or on the way to a path the caller has rights on. */
export function mayList(rights: Rights, path: string): boolean {
  return may(rights, path, 'read') || (rights !== 'all' && rights.some((rule) => leadsTo(rule, path)));
}

/**
 * Whether an entry is shown in a listing and seen by `exists`: the caller has a right on it, or it is on the way to a
 * path with rights. Without read on a directory, only the way to the granted paths shows.
 */
export function mayShow(rights: Rights, path: string): boolean {
  return rights === 'all' || rights.some((rule) => covers(rule, path) || leadsTo(rule, path));
}

/** Refuses, in words that tell nothing of whether the path exists. */
export function demand(rights: Rights, located: Located, need: Need | 'list'): void {
  const allowed = need === 'list' ? mayList(rights, located.inVolume) : may(rights, located.inVolume, need);
  if (allowed) return;
  const verb = need === 'list' ? 'list' : need === 'read' ? 'read' : 'write to';
  throw new HttpError(403, `Permission denied: you may not ${verb} "${located.text}".`);
}

function joined(base: string, path: string): string {
  return [base, path].filter((part) => part !== '').join('/');
}
