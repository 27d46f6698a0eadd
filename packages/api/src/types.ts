/**
 * The entities as the client returns them: dates as `Date`, references as ids beside their `_hr` forms. Every
 * entity may carry attributes that a newer server adds; those are `unknown` until typed here.
 */

export interface Entity {
  readonly id: string;
  readonly created?: Date;
  readonly modified?: Date;
  readonly [attribute: string]: unknown;
}

export type Role = 'admin' | 'employee' | 'standard';
export type JobStatus = 'init' | 'pending' | 'waiting' | 'running' | 'paused' | 'failed' | 'aborted' | 'done';
export type TaskStatus = 'pending' | 'queued' | 'booting' | 'executing' | 'failed' | 'onhold' | 'excluded' | 'done';
export type ShareStatus = 'enabled' | 'disabled' | 'offline' | 'disabled-offline';
export type ClientStatus = 'init' | 'online' | 'offline' | 'disabled' | 'disabled-offline';

interface Described extends Entity {
  readonly name?: string;
  readonly description?: string | null;
  readonly metadata?: unknown;
  readonly creator?: string | null;
  readonly modifier?: string | null;
}

export interface User extends Described {
  readonly code: string;
  readonly role: Role;
  readonly status: 'enabled' | 'disabled';
  readonly inactive?: boolean;
}

export interface Workspace extends Described {
  readonly code: string;
}

interface Job extends Described {
  readonly code: string;
  readonly status: JobStatus;
  readonly finished?: Date | null;
  readonly user?: string;
  readonly user_hr?: string;
  readonly parent?: string | null;
  readonly parent_hr?: string | null;
}

export interface Transfer extends Job {
  /** Percent. */
  readonly progress?: number;
  /** Bytes of all its files, once measured. */
  readonly size?: number | null;
  /** Bytes carried so far. */
  readonly bytes?: number | null;
  readonly speed?: number;
  readonly etr?: number | null;
  /** `<type>:<id>` of the sending party. */
  readonly source?: string;
  readonly source_hr?: string;
  readonly destination?: string;
  readonly destination_hr?: string;
  readonly queue?: string | null;
  readonly queue_hr?: string | null;
  readonly priority?: number;
}

export interface Queue extends Job {
  readonly status: 'waiting' | 'paused';
  readonly priority?: number;
  readonly default?: boolean;
}

export interface Delivery extends Job {
  readonly public?: boolean;
}

export type Request = Delivery;

/** A task end (reference §3.4). */
export interface TaskEnd {
  readonly path: string;
  readonly user?: string | null;
  readonly client?: string | null;
  readonly site?: string | null;
  readonly v?: string | null;
  readonly s?: string | null;
}

export interface Task extends Entity {
  readonly uri: string;
  readonly job: string;
  readonly job_hr?: string;
  readonly status: TaskStatus;
  readonly priority?: number;
  readonly size?: number | null;
  readonly source: TaskEnd;
  readonly destination: TaskEnd;
  readonly finished?: Date | null;
}

export interface Share extends Described {
  readonly code: string;
  readonly status: ShareStatus;
  readonly status_hr?: string;
  readonly inactive?: boolean;
  readonly parent?: string | null;
  readonly parent_hr?: string | null;
  readonly path?: string | null;
}

export interface Volume extends Share {
  readonly default?: boolean;
  readonly paths?: Record<string, string> | null;
}

export interface Site extends Described {
  readonly code: string;
  readonly main?: boolean;
  readonly status: 'enabled' | 'disabled';
}

export interface Client extends Described {
  readonly code: string;
  readonly type: number;
  readonly type_hr?: string;
  readonly status: ClientStatus;
  readonly user?: string | null;
  readonly site?: string | null;
}

export interface Acl extends Entity {
  /** `user:<id>`. */
  readonly entity: string;
  readonly entity_hr?: string;
  /** `share:<id>`. */
  readonly target: string;
  readonly target_hr?: string;
  /** The path of the rule granted last, relative to the share (`/` for all of it), and its rights. */
  readonly path: string;
  readonly read: boolean;
  readonly write: boolean;
  /** Every path of the share the ACL grants rights on (this server: one ACL per user and share). */
  readonly rules?: readonly AclRule[];
  readonly acknowledged?: boolean;
  readonly role?: string;
  readonly status?: string;
  readonly token?: string | null;
  readonly description?: string | null;
}

/** A user's rights on one path of a share, relative to the share (`/`: all of it). */
export interface AclRule {
  readonly path: string;
  readonly read: boolean;
  readonly write: boolean;
}

/** An entry of the audit log: one write or login, who made it, from where, and how it ended. */
export interface LogEntry extends Entity {
  readonly created: Date;
  /** Who called: their id, and their e-mail. */
  readonly user: string;
  readonly user_hr?: string;
  /** The client's IP address. */
  readonly address: string;
  readonly method: 'PUT' | 'POST' | 'DELETE';
  /** The event's uri (`transfer/create`, `acl/create`, `workspace/file`, `setting`), or `login`. */
  readonly operation: string;
  /** What was written, as `<kind>:<id>` (`job:...`, `share:...`, `user:...`), and with its name or code. */
  readonly entity: string | null;
  readonly entity_hr?: string | null;
  readonly query: string | null;
  readonly outcome: 'ok' | 'denied';
  /** The refusal, for `denied`. */
  readonly message: string | null;
  /** The payload as sent, secrets masked, large payloads cut short. */
  readonly data: unknown;
}

/** The entity each type name (in any case, aliases included) stands for. */
export interface EntityTypes {
  user: User;
  workspace: Workspace;
  queue: Queue;
  transfer: Transfer;
  job: Transfer;
  delivery: Delivery;
  request: Request;
  task: Task;
  volume: Volume;
  folder: Share;
  share: Share;
  home: Share;
  collection: Share;
  site: Site;
  client: Client;
  app: Client;
  server: Client;
  userserver: Client;
  acl: Acl;
  log: LogEntry;
}

/** The entity of a type name, or a plain Entity for a name we do not know. */
export type EntityOf<T extends string> = Lowercase<T> extends keyof EntityTypes ? EntityTypes[Lowercase<T>] : Entity;

/** The entity a query asks for, from its first word: `'Transfer WHERE status=done'` gives Transfer. */
export type EntityOfQuery<Q extends string> = Q extends `${infer T} ${string}` ? EntityOf<T> : EntityOf<Q>;
