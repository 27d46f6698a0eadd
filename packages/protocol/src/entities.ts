/**
 * The entity types of the v3 API (reference §3), as both ends need them: the names and aliases a uri may use,
 * each type's attributes with their value types, which of them a caller may give on create or change on edit, and
 * the statuses. The server derives its storage, query schemas and checks from these; the client its types.
 */

export type Role = 'admin' | 'employee' | 'standard';

export const ROLES: readonly Role[] = ['admin', 'employee', 'standard'];

/**
 * `ref`: the id of another entity (its types in `refs`); `party`: an entity in `<type>:<id>` form (a transfer end,
 * what an audit log entry is about); `hr`: a
 * human-readable form that the server computes (`user_hr`, ...); `json`: any JSON value, not queryable.
 */
export type ValueType = 'string' | 'number' | 'boolean' | 'date' | 'json' | 'ref' | 'party' | 'hr';

export interface AttributeSpec {
  readonly type: ValueType;
  /** May be given on create. */
  readonly create?: boolean;
  /** May be changed by edit. */
  readonly update?: boolean;
  /** Must be given on create. */
  readonly required?: boolean;
  /** A number that must be whole (a byte count, seconds, a priority). */
  readonly integer?: boolean;
  /** The values a string takes. */
  readonly values?: readonly string[];
  /** For `ref`: the entity families it may point to. */
  readonly refs?: readonly Family[];
  /** Readable only from this role up; by default by every role that may read the entity. */
  readonly readableFrom?: Role;
}

/** The kinds of stored entity; several API types share one (transfer, queue, delivery and request are jobs). */
export type Family = 'workspace' | 'user' | 'job' | 'task' | 'share' | 'site' | 'client' | 'acl' | 'log' | 'file';

export interface EntityTypeSpec {
  readonly name: string;
  readonly family: Family;
  /** Other names a uri may use, lowercase: `job` for transfer, `share` for folder. */
  readonly aliases: readonly string[];
  /** The family's own type values that this API type covers: job types, client types, share types. */
  readonly subtypes?: readonly (number | string)[];
  /** `code` is unique in the workspace, and can stand for the id. */
  readonly uniqueCode: boolean;
  readonly attributes: Readonly<Record<string, AttributeSpec>>;
  readonly statuses: readonly string[];
  /** The statuses an edit may set. */
  readonly writableStatuses: readonly string[];
}

export const JOB_TYPES = { transfer: 1, queue: 2, delivery: 7, request: 8 } as const;
export const CLIENT_TYPES = { app: 0, server: 1, userserver: 2, browser: 3 } as const;
export const JOB_STATUSES = ['init', 'pending', 'waiting', 'running', 'paused', 'failed', 'aborted', 'done'] as const;
export const FINISHED_JOB_STATUSES: readonly string[] = ['done', 'aborted'];
export const TASK_STATUSES = ['pending', 'queued', 'booting', 'executing', 'failed', 'onhold', 'excluded', 'done'];

const str: AttributeSpec = { type: 'string' };
const num: AttributeSpec = { type: 'number' };
const int: AttributeSpec = { type: 'number', integer: true };
const bool: AttributeSpec = { type: 'boolean' };
const date: AttributeSpec = { type: 'date' };
const hr: AttributeSpec = { type: 'hr' };
const editable = (spec: AttributeSpec): AttributeSpec => ({ ...spec, create: true, update: true });
const given = (spec: AttributeSpec): AttributeSpec => ({ ...spec, create: true });
const ref = (...refs: Family[]): AttributeSpec => ({ type: 'ref', refs });

/** What the server keeps on every entity. */
const RECORD = { id: str, created: date, creator: ref('user'), creator_hr: hr, modified: date, modifier: ref('user') };
const DESCRIBED = { name: editable(str), description: editable(str), metadata: editable({ type: 'json' }) };

const JOB = {
  ...RECORD,
  ...DESCRIBED,
  code: editable(str),
  status: editable(str),
  finished: date,
  user: ref('user'),
  user_hr: hr,
  parent: given(ref('job')),
  parent_hr: hr,
  metadata: editable({ type: 'json' }),
};

const TRANSFER: Record<string, AttributeSpec> = {
  ...JOB,
  progress: num,
  size: int,
  // Bytes written so far, and when the engine first ran the job.
  bytes: int,
  started: date,
  speed: num,
  etr: int,
  // Why the job failed, when it did.
  message: str,
  source: given({ type: 'party' }),
  source_hr: hr,
  destination: given({ type: 'party' }),
  destination_hr: hr,
  queue: given(ref('job')),
  queue_hr: hr,
  priority: editable(int),
  uri: str,
};

const SHARE = {
  ...RECORD,
  ...DESCRIBED,
  code: editable(str),
  email: editable(str),
  status: editable(str),
  status_hr: hr,
  queue: editable(ref('job')),
  inactive: bool,
};

const CLIENT: Record<string, AttributeSpec> = {
  ...RECORD,
  ...DESCRIBED,
  code: str,
  type: int,
  type_hr: hr,
  status: { ...str, update: true },
  os: str,
  roles: str,
  site: ref('site'),
  site_hr: hr,
  user: ref('user'),
  user_hr: hr,
  // Where a machine is and who runs it there is for staff to know.
  username: { ...str, readableFrom: 'employee' },
  version: str,
  wan_ip: { ...str, readableFrom: 'employee' },
  host_ident: { ...str, readableFrom: 'employee' },
  parent: ref('client'),
  last_checkin: date,
  inactive: bool,
};

const SHARE_STATUSES = ['enabled', 'disabled', 'offline', 'disabled-offline'];
const CLIENT_STATUSES = ['init', 'online', 'offline', 'disabled', 'disabled-offline'];

function type(
  name: string,
  family: Family,
  attributes: Record<string, AttributeSpec>,
  rest: Partial<Omit<EntityTypeSpec, 'name' | 'family' | 'attributes'>> = {},
): EntityTypeSpec {
  return { name, family, attributes, aliases: [], uniqueCode: false, statuses: [], writableStatuses: [], ...rest };
}

const clientView = (name: keyof typeof CLIENT_TYPES | 'client', subtypes: number[]) =>
  type(name, 'client', CLIENT, { subtypes, statuses: CLIENT_STATUSES, writableStatuses: ['enabled', 'disabled'] });

export const ENTITY_TYPES: readonly EntityTypeSpec[] = [
  type(
    'user',
    'user',
    {
      ...RECORD,
      ...DESCRIBED,
      code: { ...str, create: true, required: true },
      role: { ...editable(str), values: ['admin', 'employee', 'standard'] },
      status: editable({ ...str, values: ['enabled', 'disabled'] }),
      queue: editable(ref('job')),
      inactive: bool,
    },
    { uniqueCode: true, statuses: ['enabled', 'disabled'], writableStatuses: ['enabled', 'disabled'] },
  ),
  type('workspace', 'workspace', { ...RECORD, ...DESCRIBED, code: str }, { uniqueCode: true }),
  type(
    'queue',
    'job',
    {
      ...JOB,
      name: { ...editable(str), required: true },
      priority: editable(int),
      default: bool,
      uri: str,
    },
    {
      subtypes: [JOB_TYPES.queue],
      uniqueCode: true,
      statuses: ['waiting', 'paused'],
      writableStatuses: ['waiting', 'paused'],
    },
  ),
  type('transfer', 'job', TRANSFER, {
    aliases: ['job'],
    subtypes: [JOB_TYPES.transfer],
    statuses: [...JOB_STATUSES],
    writableStatuses: ['waiting', 'paused', 'aborted', 'done'],
  }),
  type(
    'delivery',
    'job',
    { ...JOB, public: editable(bool), expires: date },
    {
      subtypes: [JOB_TYPES.delivery],
      statuses: [...JOB_STATUSES],
      writableStatuses: ['pending', 'waiting', 'paused', 'aborted', 'done'],
    },
  ),
  type(
    'request',
    'job',
    { ...JOB, public: editable(bool), destination: given({ type: 'party' }), destination_hr: hr, expires: date },
    {
      subtypes: [JOB_TYPES.request],
      statuses: [...JOB_STATUSES],
      writableStatuses: ['pending', 'waiting', 'paused', 'aborted', 'done'],
    },
  ),
  type(
    'task',
    'task',
    {
      id: str,
      uri: str,
      job: ref('job'),
      job_hr: hr,
      created: date,
      modified: date,
      finished: date,
      priority: editable(int),
      size: int,
      status: editable(str),
      time: int,
      // What the engine keeps of a task: bytes written, percent, speed (MB/s), seconds left, when it started, the
      // checksum of the file written (`<algorithm>:<hex>`), attempts, and the last failure's message.
      bytes: int,
      progress: num,
      speed: num,
      etr: int,
      started: date,
      checksum: str,
      attempts: int,
      message: str,
      metadata: editable({ type: 'json' }),
      source: { type: 'json' },
      destination: { type: 'json' },
    },
    { statuses: TASK_STATUSES, writableStatuses: ['queued', 'failed', 'onhold', 'excluded', 'done'] },
  ),
  type(
    'volume',
    'share',
    {
      ...SHARE,
      default: bool,
      path: editable(str),
      paths: editable({ type: 'json' }),
      type: str,
    },
    { subtypes: ['volume'], uniqueCode: true, statuses: SHARE_STATUSES, writableStatuses: ['enabled', 'disabled'] },
  ),
  ...(['folder', 'home'] as const).map((name) =>
    type(
      name,
      'share',
      {
        ...SHARE,
        parent: given(ref('share')),
        parent_hr: hr,
        path: given(str),
        ...(name === 'home' ? { user: given(ref('user')), user_hr: hr } : {}),
      },
      {
        aliases: name === 'folder' ? ['share'] : [],
        subtypes: [name],
        uniqueCode: true,
        statuses: SHARE_STATUSES,
        writableStatuses: ['enabled', 'disabled'],
      },
    ),
  ),
  type(
    'collection',
    'share',
    { ...SHARE, files: given({ type: 'json' }) },
    { subtypes: ['collection'], uniqueCode: true, statuses: SHARE_STATUSES, writableStatuses: ['enabled', 'disabled'] },
  ),
  type(
    'site',
    'site',
    { ...RECORD, ...DESCRIBED, code: editable(str), main: bool, accsyn: bool, status: editable(str) },
    { uniqueCode: true, statuses: ['enabled', 'disabled'], writableStatuses: ['enabled', 'disabled'] },
  ),
  clientView('client', [0, 1, 2, 3]),
  clientView('app', [CLIENT_TYPES.app]),
  clientView('server', [CLIENT_TYPES.server]),
  clientView('userserver', [CLIENT_TYPES.userserver]),
  type(
    'acl',
    'acl',
    {
      ...RECORD,
      entity: { ...given(str), required: true },
      entity_hr: hr,
      target: { ...given(str), required: true },
      target_hr: hr,
      path: editable(str),
      read: editable(bool),
      write: editable(bool),
      // Every path of the share the ACL grants rights on: [{path, read, write}]; path, read and write above are the
      // rule granted last.
      rules: { type: 'json' },
      acknowledged: bool,
      role: str,
      status: str,
      token: str,
      description: editable(str),
    },
    { statuses: ['enabled', 'disabled'] },
  ),
  // A file of a collection (reference §3.8): a path on one of the workspace's shares, with a uuid for its id.
  type('file', 'file', {
    id: str,
    parent: ref('share'),
    parent_hr: hr,
    path: str,
    created: date,
    creator: ref('user'),
    creator_hr: hr,
  }),
  // The audit log: one entry per write and login, which the server alone writes. `entity` is what was written, as
  // `<family>:<id>` (`job:...`, `share:...`); `data` the payload as sent, secrets masked, cut at a few KB.
  type('log', 'log', {
    id: str,
    created: date,
    user: ref('user'),
    user_hr: hr,
    address: str,
    method: str,
    operation: str,
    entity: { type: 'party' },
    entity_hr: hr,
    query: str,
    outcome: { ...str, values: ['ok', 'denied'] },
    message: str,
    data: { type: 'json' },
  }),
];

const BY_NAME = new Map<string, EntityTypeSpec>();
for (const spec of ENTITY_TYPES) {
  for (const name of [spec.name, ...spec.aliases]) BY_NAME.set(name, spec);
}

/** The type a uri or query names, in any case, aliases included; undefined when there is none. */
export function entityType(name: string): EntityTypeSpec | undefined {
  return BY_NAME.get(name.trim().toLowerCase());
}

/**
 * The attribute `name` of a type, when the type has one: looked up among the type's own attributes only, so that a
 * name from the wire such as `constructor` or `__proto__` is an unknown attribute like any other.
 */
export function attributeOf(spec: EntityTypeSpec, name: string): AttributeSpec | undefined {
  return Object.hasOwn(spec.attributes, name) ? spec.attributes[name] : undefined;
}

/** The names `entitytypes` answers: every type, without aliases. */
export const ENTITY_TYPE_NAMES: readonly string[] = ENTITY_TYPES.map((spec) => spec.name);
