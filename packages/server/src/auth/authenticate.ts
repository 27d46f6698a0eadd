import { type Envelope, parseAuthorization } from 'accsyn-protocol';
import { fold } from 'accsyn-query';
import { unauthorized } from '../http/errors.js';
import type { Store } from '../store/store.js';
import type { UserRow, WorkspaceRow } from '../store/tables.js';
import { hashApiKey, keyMatches, newSessionId } from './keys.js';

/** Who is calling: an active user of a workspace, proven by an API key. */
export interface Caller {
  readonly workspace: WorkspaceRow;
  readonly user: UserRow;
  readonly session: string;
}

export interface Headers {
  readonly authorization?: string | undefined;
  readonly workspace?: string | undefined;
}

// Compared against when the workspace or user is unknown, so that a miss costs as long as a wrong key.
const DECOY_HASH = hashApiKey('decoy');

/**
 * Login (§1.5): the Authorization header's key must be a live key of an active user of the workspace that
 * X-Accsyn-Workspace names. Answers a new session. Every failure reads the same.
 */
export async function login(store: Store, headers: Headers, now: Date): Promise<Caller> {
  const { username, apiKey } = parseAuthorization(headers.authorization);
  const workspace = headers.workspace ? await store.workspaceByCode(headers.workspace) : undefined;
  const user = workspace ? await store.userByCode(workspace.id, username) : undefined;
  const keys = user && isActive(user) ? await store.liveKeys(user.id, now.toISOString()) : [];
  // Check every key, and the decoy when there are none, so that timing tells nothing.
  const matching = keys.filter((key) => keyMatches(apiKey, key.hash));
  if (keys.length === 0) keyMatches(apiKey, DECOY_HASH);
  const key = matching[0];
  if (!workspace || !user || !key) throw unauthorized();
  const session = newSessionId();
  const created = now.toISOString();
  await store.insertSession({ id: session, workspace: workspace.id, user: user.id, api_key: key.id, created });
  await store.touchApiKey(key.id, created);
  return { workspace, user, session };
}

/**
 * An event's caller (§1.4): the credentials of every call must match the session the envelope carries, which
 * must belong to that user, in the workspace of X-Accsyn-Workspace, with a key that is still live.
 */
export async function authenticateEvent(
  store: Store,
  headers: Headers,
  envelope: Envelope,
  now: Date,
): Promise<Caller> {
  const { username, apiKey } = parseAuthorization(headers.authorization);
  const code = headers.workspace ?? envelope.workspace;
  if (!envelope.session || !code) throw unauthorized('Log in before sending events: the envelope has no session.');
  const found = await store.session(envelope.session, now.toISOString());
  const valid =
    found !== undefined &&
    found.workspace.code_folded === fold(code) &&
    (envelope.workspace === undefined || fold(envelope.workspace) === found.workspace.code_folded) &&
    found.user.code_folded === fold(username) &&
    isActive(found.user);
  if (!valid || !keyMatches(apiKey, found.keyHash)) {
    throw unauthorized('Authentication failed: the session is unknown or ended, or does not match the credentials.');
  }
  return { workspace: found.workspace, user: found.user, session: found.session.id };
}

function isActive(user: UserRow): boolean {
  return user.inactive === 0 && user.status === 'enabled' && !user.archived;
}
