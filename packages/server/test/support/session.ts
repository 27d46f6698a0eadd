import type { Role } from 'accsyn-protocol';
import { sql } from 'kysely';
import { hashApiKey, newApiKey } from '../../src/auth/keys.js';
import { newId } from '../../src/store/ids.js';
import type { Store } from '../../src/store/store.js';
import type { WorkspaceRow } from '../../src/store/tables.js';
import { type Credentials, envelope, event, login, type Method, type Reply } from './raw.js';

/**
 * A caller that speaks the wire as the official client does (reference §1, §2.2): it logs in once, then sends
 * events; `find` splits and lowercases a query the way `_decode_query` does. Built on the raw client, not our SDK.
 */
export class RawSession {
  private session: string | undefined;

  constructor(
    private readonly base: string,
    readonly credentials: Credentials,
  ) {}

  async call(method: Method, uri: string, data: unknown, extra: { query?: string; id?: string } = {}): Promise<Reply> {
    if (!this.session) {
      const reply = await login(this.base, this.credentials);
      if (reply.status !== 200) throw new Error(`login failed: ${reply.status} ${reply.text}`);
      this.session = (reply.json.result as { session_id: string }).session_id;
    }
    return event(this.base, this.credentials, method, envelope(this.credentials, this.session, uri, data, extra));
  }

  /** `find(query, **data)` as the official client sends it. */
  find(query: string, data: Record<string, unknown> = {}): Promise<Reply> {
    const match = /^\s*(\S+)(?:\s+where\s+([\s\S]*))?$/i.exec(query);
    if (!match) throw new Error(`bad query ${query}`);
    const [, type = '', expression] = match;
    return this.call('GET', `${type.toLowerCase()}/find`, data, expression ? { query: expression.toLowerCase() } : {});
  }

  /** The result of a call that must succeed. */
  async result<T = unknown>(reply: Promise<Reply>): Promise<T> {
    const answer = await reply;
    if (answer.status !== 200) throw new Error(`expected success, got ${answer.status}: ${answer.text}`);
    return answer.json.result as T;
  }

  create(type: string, data: unknown, id?: string): Promise<Reply> {
    return this.call('POST', `${type}/create`, data, id ? { id } : {});
  }

  update(type: string, id: string, data: unknown): Promise<Reply> {
    return this.call('PUT', `${type}/edit`, data, { id });
  }

  delete(type: string, id: string, data: unknown = null): Promise<Reply> {
    return this.call('DELETE', `${type}/delete`, data, { id });
  }
}

/** Adds a workspace straight into the store (workspaces are not made through the API), unless it is there. */
export async function addWorkspace(store: Store, code: string): Promise<WorkspaceRow> {
  const known = await store.workspaceByCode(code);
  if (known) return known;
  const now = new Date().toISOString();
  const workspace = { id: newId(), code, code_folded: code.toLowerCase(), name: code, created: now, modified: now };
  await store.insertWorkspace(workspace);
  return workspace;
}

/**
 * Adds a user with a key straight into the store (keys are not made through the API), in the workspace of that
 * code, made if need be; returns its credentials.
 */
export async function addUser(
  store: Store,
  workspaceCode: string,
  email: string,
  role: Role,
  options: { expires?: string } = {},
): Promise<Credentials> {
  const workspace = await addWorkspace(store, workspaceCode);
  const now = new Date().toISOString();
  const user = newId();
  await store.insertUser({
    id: user,
    workspace: workspace.id,
    code: email,
    code_folded: email.toLowerCase(),
    name: email.split('@')[0] ?? email,
    role,
    status: 'enabled',
    inactive: 0,
    created: now,
    creator: null,
    modified: now,
    modifier: null,
  });
  await registerMachine(store, workspace.id, user, email);
  const key = newApiKey();
  await store.insertApiKey({
    id: newId(),
    workspace: workspace.id,
    user,
    name: 'test',
    hash: hashApiKey(key),
    created: now,
    expires: options.expires ?? null,
    revoked: null,
    last_used: null,
  });
  return { workspace: workspaceCode, user: email, key };
}

/**
 * Registers a machine of the user's, as the agent's first check-in does: tests give their users a client, as a
 * workspace's people have the app, so that transfers from their own machines are taken (carriers.test.ts tests
 * the refusal without one).
 */
export async function registerMachine(store: Store, workspace: string, user: string, email: string): Promise<void> {
  const now = new Date().toISOString();
  const code = `${email.split('@')[0]}-laptop`;
  await sql`INSERT INTO clients (id, workspace, created, modified, code, code_folded, name, name_folded, status, type,
    os, "user", inactive) VALUES (${newId()}, ${workspace}, ${now}, ${now}, ${code}, ${code}, ${code}, ${code},
    'offline', 0, 'linux', ${user}, 0)`.execute(store.db);
}
