import { fold } from 'accsyn-query';
import { hashApiKey } from './auth/keys.js';
import { newId } from './store/ids.js';
import type { ApiKeyRow, Role, UserRow } from './store/tables.js';

/** What the first start and `accsyn server` take for an e-mail address. */
export const EMAIL = /^[^\s@]+@[^\s@]+$/;

/** A new user's row: enabled and active, named by the address's local part unless a name is given. */
export function userRow(workspace: string, email: string, role: Role, now: Date, name?: string): UserRow {
  const at = now.toISOString();
  const shown = name?.trim() || (email.split('@')[0] as string);
  return {
    id: newId(now.getTime()),
    workspace,
    code: email,
    code_folded: fold(email),
    name: shown,
    name_folded: fold(shown),
    role,
    status: 'enabled',
    inactive: 0,
    created: at,
    creator: null,
    modified: at,
    modifier: null,
  };
}

/** A new API key's row: only the key's hash is kept. */
export function keyRow(
  workspace: string,
  user: string,
  name: string,
  key: string,
  now: Date,
  expires: Date | undefined,
): ApiKeyRow {
  return {
    id: newId(now.getTime()),
    workspace,
    user,
    name,
    hash: hashApiKey(key),
    created: now.toISOString(),
    expires: expires?.toISOString() ?? null,
    revoked: null,
    last_used: null,
  };
}
