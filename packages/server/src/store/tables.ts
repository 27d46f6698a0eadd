/**
 * The tables, as kysely sees them. Dates are ISO 8601 text in UTC on SQLite (what `accsyn-query` compares
 * against); ids are 24 lowercase hex characters, as accsyn's.
 */
export interface Tables {
  workspaces: WorkspaceRow;
  users: UserRow;
  api_keys: ApiKeyRow;
  sessions: SessionRow;
  tasks: TaskRow;
  recipients: RecipientRow;
}

export interface WorkspaceRow {
  id: string;
  /** The workspace's API code, unique, as written. */
  code: string;
  code_folded: string;
  name: string;
  name_folded?: string | null;
  created: string;
  modified: string;
}

export type Role = 'admin' | 'employee' | 'standard';

export interface UserRow {
  id: string;
  workspace: string;
  /** The e-mail address, as written. */
  code: string;
  code_folded: string;
  name: string;
  role: Role;
  status: 'enabled' | 'disabled';
  /** 1 when deactivated. */
  inactive: number;
  created: string;
  creator: string | null;
  modified: string;
  modifier: string | null;
  description?: string | null;
  metadata?: string | null;
  queue?: string | null;
  /** When it was deleted; deleted users keep their row, so that their account can come back. */
  archived?: string | null;
  name_folded?: string | null;
}

export interface ApiKeyRow {
  id: string;
  workspace: string;
  user: string;
  name: string;
  /** SHA-256 of the key, hex. The key itself is never stored. */
  hash: string;
  created: string;
  expires: string | null;
  revoked: string | null;
  last_used: string | null;
}

export interface SessionRow {
  /** The opaque session id login answers, and every event echoes. */
  id: string;
  workspace: string;
  user: string;
  api_key: string;
  created: string;
}

export interface TaskRow {
  /** A uuid, unlike other entities' ids (reference §3.4). */
  id: string;
  workspace: string;
  job: string;
  /** The task's key within its job: "0", "1", ... */
  uri: string;
  status: string;
  priority: number;
  size: number | null;
  time: number | null;
  /** JSON: the task end of reference §3.4 (path, user, client, site, v, s). */
  source: string;
  destination: string;
  metadata: string | null;
  created: string;
  modified: string;
  finished: string | null;
}

/** The explicit recipients of a delivery or request. */
export interface RecipientRow {
  job: string;
  user: string;
  actioned: number;
  created: string;
}
