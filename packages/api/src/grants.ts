import { ID, normalType } from './checks.js';
import { AccsynError } from './errors.js';
import { type CallOptions, resultOf, type Send } from './events.js';
import { idOf } from './lookup.js';
import type { Acl, AclRule } from './types.js';

/**
 * Who may reach what (reference §2.3 grant, access, revoke): the recipients of a delivery or request
 * (`job/recipient...`), and the ACLs of a share (`acl/...`), which give a user read or write on a path of it. The
 * user and the target are named by id, or by code where their type has unique codes (an e-mail, a share's code).
 */

/** Types whose access is their recipients. */
export type RecipientType = 'delivery' | 'request' | 'stream';
/** Types whose access is ACLs; `share` stands for any of them. */
export type ShareType = 'volume' | 'folder' | 'home' | 'collection' | 'share';

const RECIPIENT_TYPES: ReadonlySet<string> = new Set<RecipientType>(['delivery', 'request', 'stream']);
const SHARE_TYPES: ReadonlySet<string> = new Set<ShareType>(['volume', 'folder', 'home', 'collection', 'share']);

/** What a grant answers: true for a delivery or request, the ACL for a share. */
export type GrantResult<T extends string> = string extends T
  ? true | Acl
  : Lowercase<T> extends RecipientType
    ? true
    : Acl;

/** What access answers: the recipients of a delivery or request, the users' access to a share. */
export type AccessOf<T extends string> = string extends T
  ? Recipient[] | ShareAccess[]
  : Lowercase<T> extends RecipientType
    ? Recipient[]
    : ShareAccess[];

/** A recipient of a delivery or request. */
export interface Recipient {
  /** Whether they have acted on it (downloaded, uploaded). */
  readonly actioned: boolean;
  /** Their id and e-mail. */
  readonly user: string;
  readonly user_hr: string;
}

/** A user's access to a share, as the official client's access maps an ACL. */
export interface ShareAccess {
  /** The ACL's id. */
  readonly id: string;
  /** The user's id, and their readable form (this server: the e-mail). */
  readonly user: string;
  readonly user_hr: string;
  /** The share's id and code. */
  readonly share: string;
  readonly share_hr: string;
  /** The rule granted last: its path and rights. */
  readonly path: string;
  readonly read: boolean;
  readonly write: boolean;
  /** Every path of the share the user has rights on. */
  readonly rules: readonly AclRule[];
  readonly acknowledged: boolean;
}

export interface GrantData {
  /** Read (download, list), by default true. */
  readonly read?: boolean;
  /** Write (upload, change), by default true. */
  readonly write?: boolean;
  /** The path of the share the rights are on, relative to it; by default `/`, all of it. */
  readonly path?: string;
  /** E-mail the user about it (by default true); `message` goes with it. */
  readonly notify?: boolean;
  readonly message?: string;
  /** An e-mail that names no user invites them (by default); false refuses instead. */
  readonly invite?: boolean;
}

export interface AccessOptions extends CallOptions {
  /** Also the ACLs of the shares below a volume (the official client's flag, passed on). */
  readonly recursive?: boolean;
}

export async function grant<T extends string>(
  send: Send,
  entityType: string,
  entity: string,
  targetType: T,
  target: string,
  data: GrantData = {},
  options: CallOptions = {},
): Promise<GrantResult<T>> {
  const { signal } = options;
  checkUserType(entityType);
  const kind = kindOf(targetType, 'grant');
  const targetId = await targetOf(send, targetType, target, signal);
  const found = await idOf(send, 'user', entity, signal);
  if (found === undefined && data.invite === false) {
    throw notFound(`There is no user ${entity} in this workspace, and invite is false.`);
  }
  // Unknown, the e-mail goes as given: the server invites them.
  const user = found ?? entity.trim().toLowerCase();
  if (kind === 'recipients') {
    const recipient = { recipient: user, invite: data.invite ?? true };
    await send({ method: 'PUT', uri: 'job/recipient/add', data: recipient, id: targetId, signal });
    return true as GrantResult<T>;
  }
  const acl = {
    entity: `user:${user}`,
    target: `share:${targetId}`,
    read: data.read ?? true,
    write: data.write ?? true,
    notify: data.notify ?? true,
    message: data.message ?? '',
    path: data.path ?? '/',
    ...(data.invite === false ? { invite: false } : {}),
  };
  const [created] = resultOf(await send({ method: 'POST', uri: 'acl/create', data: acl, signal })) as (Acl | true)[];
  if (typeof created === 'object' && created !== null) return created as GrantResult<T>;
  // Granting again answers true: the ACL it changed is read back, so that a grant always answers one.
  const [changed] = await aclsOf(send, user, targetId, signal);
  if (!changed) throw new AccsynError(`The grant was made, but its ACL on share ${targetId} cannot be read back.`);
  return changed as GrantResult<T>;
}

export async function access<T extends string>(
  send: Send,
  targetType: T,
  target: string,
  options: AccessOptions = {},
): Promise<AccessOf<T>> {
  const { signal } = options;
  const kind = kindOf(targetType, 'access');
  const targetId = await targetOf(send, targetType, target, signal);
  if (kind === 'recipients') {
    const answer = await send({ method: 'GET', uri: 'job/recipients', data: {}, id: targetId, signal });
    return resultOf(answer) as AccessOf<T>;
  }
  const answer = await send({
    method: 'GET',
    uri: 'acl/find',
    data: { recursive: options.recursive === true },
    query: `acl WHERE target=share:${targetId}`,
    signal,
  });
  return (resultOf(answer) as Acl[]).map(accessOf) as AccessOf<T>;
}

/** Takes away a user's access: off a delivery's or request's recipients, or every ACL they have on a share. */
export async function revoke(
  send: Send,
  entityType: string,
  entity: string,
  targetType: string,
  target: string,
  options: CallOptions = {},
): Promise<true> {
  const { signal } = options;
  checkUserType(entityType);
  const kind = kindOf(targetType, 'revoke');
  const targetId = await targetOf(send, targetType, target, signal);
  const user = await idOf(send, 'user', entity, signal);
  if (user === undefined) throw notFound(`There is no user ${entity} in this workspace, or you may not see them.`);
  if (kind === 'recipients') {
    await send({ method: 'DELETE', uri: 'job/recipient', data: { recipient: user }, id: targetId, signal });
    return true;
  }
  const acls = await aclsOf(send, user, targetId, signal);
  if (acls.length === 0) throw notFound(`${entity} has no access to ${normalType(targetType)} ${target}.`);
  for (const acl of acls) await send({ method: 'DELETE', uri: 'acl/delete', data: {}, id: acl.id, signal });
  return true;
}

function kindOf(targetType: string, call: string): 'recipients' | 'acls' {
  const type = normalType(targetType);
  if (RECIPIENT_TYPES.has(type)) return 'recipients';
  if (SHARE_TYPES.has(type)) return 'acls';
  throw new AccsynError(
    `${call} is about deliveries, requests and shares (volume, folder, home, collection), not ${type}s.`,
  );
}

/** The target's id: a share may be named by its code, a delivery or request only by its id. */
async function targetOf(send: Send, type: string, target: string, signal?: AbortSignal): Promise<string> {
  const id = await idOf(send, type, target, signal);
  if (id === undefined) throw notFound(`There is no ${normalType(type)} ${target}, or you may not see it.`);
  return id;
}

/** Access is given to users (the official client's grant and revoke take an entity type, which is always user). */
function checkUserType(entityType: string): void {
  if (normalType(entityType) !== 'user') {
    throw new AccsynError(`Access is given to users, not ${normalType(entityType)}s.`);
  }
}

/** The ACLs of a user (an id, or an e-mail the caller could not look up) on a share. */
async function aclsOf(send: Send, user: string, share: string, signal?: AbortSignal): Promise<Acl[]> {
  if (ID.test(user)) {
    const query = `acl WHERE entity=user:${user} AND target=share:${share}`;
    return resultOf(await send({ method: 'GET', uri: 'acl/find', data: {}, query, signal })) as Acl[];
  }
  const query = `acl WHERE target=share:${share}`;
  const all = resultOf(await send({ method: 'GET', uri: 'acl/find', data: {}, query, signal })) as Acl[];
  return all.filter((acl) => acl.entity_hr?.toLowerCase() === user);
}

/** An ACL as access answers it (the official client's mapping, with the ACL's id and rules beside it). */
function accessOf(acl: Acl): ShareAccess {
  const rest = (reference: string) => reference.slice(reference.indexOf(':') + 1);
  const path = acl.path ?? '/';
  return {
    id: acl.id,
    user: rest(acl.entity),
    user_hr: acl.entity_hr ?? '',
    share: rest(acl.target),
    share_hr: acl.target_hr ?? '',
    path,
    read: acl.read,
    write: acl.write,
    rules: acl.rules ?? [{ path, read: acl.read, write: acl.write }],
    acknowledged: acl.acknowledged ?? false,
  };
}

/**
 * Nothing of that name to see. The server answers a missing entity 404; a lookup that finds none says the same,
 * so that callers (and the command line's exit codes) treat both alike.
 */
function notFound(message: string): AccsynError {
  return new AccsynError(message, { status: 404 });
}
