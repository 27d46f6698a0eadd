import {
  type CreateTableBuilder,
  type Kysely,
  type Migration,
  type MigrationProvider,
  Migrator,
  PostgresAdapter,
  sql,
} from 'kysely';

/**
 * The schema's history, oldest first. A migration never changes once released; a change is a new one. Kysely's
 * Migrator records which ran, and takes a lock so that nodes starting together run each once.
 */
const MIGRATIONS: Record<string, Migration> = {
  '0001-accounts': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('workspaces')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('code', 'text', (c) => c.notNull())
        .addColumn('code_folded', 'text', (c) => c.notNull().unique())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('created', 'text', (c) => c.notNull())
        .addColumn('modified', 'text', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('users')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('workspace', 'text', (c) => c.notNull().references('workspaces.id'))
        .addColumn('code', 'text', (c) => c.notNull())
        .addColumn('code_folded', 'text', (c) => c.notNull())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('role', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('inactive', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('created', 'text', (c) => c.notNull())
        .addColumn('creator', 'text')
        .addColumn('modified', 'text', (c) => c.notNull())
        .addColumn('modifier', 'text')
        .addUniqueConstraint('users_workspace_code', ['workspace', 'code_folded'])
        .execute();
      await db.schema
        .createTable('api_keys')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('workspace', 'text', (c) => c.notNull().references('workspaces.id'))
        .addColumn('user', 'text', (c) => c.notNull().references('users.id'))
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('hash', 'text', (c) => c.notNull())
        .addColumn('created', 'text', (c) => c.notNull())
        .addColumn('expires', 'text')
        .addColumn('revoked', 'text')
        .addColumn('last_used', 'text')
        .execute();
      await db.schema.createIndex('api_keys_user').on('api_keys').column('user').execute();
      await db.schema
        .createTable('sessions')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('workspace', 'text', (c) => c.notNull().references('workspaces.id'))
        .addColumn('user', 'text', (c) => c.notNull().references('users.id'))
        .addColumn('api_key', 'text', (c) => c.notNull().references('api_keys.id'))
        .addColumn('created', 'text', (c) => c.notNull())
        .execute();
    },
  },
  '0002-entities': {
    async up(db: Kysely<unknown>) {
      for (const column of ['description', 'metadata', 'queue', 'archived', 'name_folded']) {
        await db.schema.alterTable('users').addColumn(column, 'text').execute();
      }
      for (const column of ['description', 'metadata', 'creator', 'modifier', 'name_folded']) {
        await db.schema.alterTable('workspaces').addColumn(column, 'text').execute();
      }
      await entityTable(db, 'jobs', (t) =>
        described(t)
          .addColumn('type', 'integer', (c) => c.notNull())
          .addColumn('progress', 'real')
          .addColumn('size', 'integer')
          .addColumn('speed', 'real')
          .addColumn('etr', 'integer')
          .addColumn('source', 'text')
          .addColumn('destination', 'text')
          .addColumn('user', 'text')
          .addColumn('parent', 'text')
          .addColumn('queue', 'text')
          .addColumn('priority', 'integer')
          .addColumn('default', 'integer')
          .addColumn('public', 'integer')
          .addColumn('uri', 'text')
          .addColumn('finished', 'text')
          .addColumn('expires', 'text')
          .addColumn('settings', 'text'),
      );
      await db.schema
        .createIndex('jobs_scope')
        .on('jobs')
        .columns(['workspace', 'type', 'status', 'created'])
        .execute();
      await db.schema.createIndex('jobs_code').on('jobs').columns(['workspace', 'code_folded']).execute();
      await db.schema.createIndex('jobs_name').on('jobs').columns(['workspace', 'name_folded']).execute();
      await db.schema.createIndex('jobs_user').on('jobs').columns(['workspace', 'user']).execute();
      await db.schema.createIndex('jobs_parent').on('jobs').columns(['parent']).execute();
      await db.schema
        .createIndex('jobs_queue_code')
        .on('jobs')
        .columns(['workspace', 'code_folded'])
        .unique()
        .where(sql.ref('type'), '=', 2)
        .where(sql.ref('archived'), 'is', null)
        .execute();
      await db.schema
        .createTable('tasks')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('workspace', 'text', (c) => c.notNull().references('workspaces.id'))
        .addColumn('job', 'text', (c) => c.notNull().references('jobs.id').onDelete('cascade'))
        .addColumn('uri', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('priority', 'integer', (c) => c.notNull())
        .addColumn('size', 'integer')
        .addColumn('time', 'integer')
        .addColumn('source', 'text', (c) => c.notNull())
        .addColumn('destination', 'text', (c) => c.notNull())
        .addColumn('metadata', 'text')
        .addColumn('created', 'text', (c) => c.notNull())
        .addColumn('modified', 'text', (c) => c.notNull())
        .addColumn('finished', 'text')
        .addUniqueConstraint('tasks_job_uri', ['job', 'uri'])
        .execute();
      await db.schema
        .createTable('recipients')
        .addColumn('job', 'text', (c) => c.notNull().references('jobs.id').onDelete('cascade'))
        .addColumn('user', 'text', (c) => c.notNull().references('users.id'))
        .addColumn('actioned', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('created', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('recipients_key', ['job', 'user'])
        .execute();
      await db.schema.createIndex('recipients_user').on('recipients').column('user').execute();
      await entityTable(db, 'shares', (t) =>
        described(t)
          .addColumn('type', 'text', (c) => c.notNull())
          .addColumn('email', 'text')
          .addColumn('default', 'integer')
          .addColumn('path', 'text')
          .addColumn('paths', 'text')
          .addColumn('parent', 'text')
          .addColumn('user', 'text')
          .addColumn('queue', 'text')
          .addColumn('files', 'text')
          .addColumn('inactive', 'integer', (c) => c.notNull().defaultTo(0)),
      );
      await uniqueLiveCode(db, 'shares');
      await entityTable(db, 'sites', (t) =>
        described(t)
          .addColumn('main', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('accsyn', 'integer', (c) => c.notNull().defaultTo(0)),
      );
      await uniqueLiveCode(db, 'sites');
      await entityTable(db, 'clients', (t) =>
        described(t)
          .addColumn('type', 'integer', (c) => c.notNull())
          .addColumn('os', 'text')
          .addColumn('roles', 'text')
          .addColumn('site', 'text')
          .addColumn('user', 'text')
          .addColumn('username', 'text')
          .addColumn('version', 'text')
          .addColumn('wan_ip', 'text')
          .addColumn('host_ident', 'text')
          .addColumn('parent', 'text')
          .addColumn('last_checkin', 'text')
          .addColumn('inactive', 'integer', (c) => c.notNull().defaultTo(0)),
      );
      await db.schema.createIndex('clients_user').on('clients').columns(['workspace', 'user']).execute();
      await entityTable(db, 'acls', (t) =>
        t
          .addColumn('entity', 'text', (c) => c.notNull())
          .addColumn('target', 'text', (c) => c.notNull())
          .addColumn('path', 'text', (c) => c.notNull())
          .addColumn('read', 'integer', (c) => c.notNull())
          .addColumn('write', 'integer', (c) => c.notNull())
          .addColumn('acknowledged', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('role', 'text')
          .addColumn('status', 'text', (c) => c.notNull())
          .addColumn('token', 'text')
          .addColumn('description', 'text')
          .addColumn('inactive', 'integer', (c) => c.notNull().defaultTo(0)),
      );
      await db.schema.createIndex('acls_entity').on('acls').columns(['workspace', 'entity']).execute();
      await db.schema.createIndex('acls_target').on('acls').columns(['workspace', 'target']).execute();
    },
  },
  '0003-postgres-types': {
    // SQLite's integer and real are 8 bytes; PostgreSQL's are 4. Whole numbers take bigint, fractions double.
    async up(db: Kysely<unknown>) {
      if (!(db.getExecutor().adapter instanceof PostgresAdapter)) return;
      const retype = (table: string, column: string, type: 'bigint' | 'double precision') =>
        db.schema
          .alterTable(table)
          .alterColumn(column, (c) => c.setDataType(type))
          .execute();
      for (const column of ['size', 'priority', 'etr']) await retype('jobs', column, 'bigint');
      for (const column of ['size', 'priority', 'time']) await retype('tasks', column, 'bigint');
      for (const column of ['progress', 'speed']) await retype('jobs', column, 'double precision');
    },
  },
  '0004-job-indexes-in-find-order': {
    // Every find orders by (created, id), and SQLite keeps no statistics on our tables: rather than filter with an
    // index and sort what it finds, it walked jobs_created in that order past every row (a transfer by name was a
    // full scan of the jobs). So the indexes that filter jobs by equality also keep that order, and status with
    // name, the common filter of transfers, gets one of its own.
    async up(db: Kysely<unknown>) {
      const filters: [string, string[]][] = [
        ['jobs_scope', ['workspace', 'type', 'status']],
        ['jobs_code', ['workspace', 'code_folded']],
        ['jobs_name', ['workspace', 'name_folded']],
        ['jobs_user', ['workspace', 'user']],
        ['jobs_status_name', ['workspace', 'type', 'status', 'name_folded']],
      ];
      for (const [name, columns] of filters) {
        await db.schema.dropIndex(name).ifExists().execute();
        await db.schema
          .createIndex(name)
          .on('jobs')
          .columns([...columns, 'created', 'id'])
          .execute();
      }
    },
  },
  '0005-postgres-folded-code-point-order': {
    // Codes and names are compared folded and in code point order (`COLLATE "C"`, as SQLite compares text). Folded
    // columns of that collation let PostgreSQL's indexes serve the ranges of `name = 'x 5*'` too, not only equality.
    async up(db: Kysely<unknown>) {
      if (!(db.getExecutor().adapter instanceof PostgresAdapter)) return;
      for (const table of ['workspaces', 'users', 'jobs', 'shares', 'sites', 'clients']) {
        for (const column of ['code_folded', 'name_folded']) {
          await sql`ALTER TABLE ${sql.table(table)} ALTER COLUMN ${sql.ref(column)} TYPE text COLLATE "C"`.execute(db);
        }
      }
    },
  },
  '0006-files': {
    // An ACL holds rights on several paths of its share (`rules`, JSON: [{path, read, write}]); its path, read and
    // write stay the rule granted last. A collection's files are rows of their own.
    async up(db: Kysely<unknown>) {
      await db.schema.alterTable('acls').addColumn('rules', 'text').execute();
      await db.schema
        .createTable('files')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('workspace', 'text', (c) => c.notNull().references('workspaces.id'))
        .addColumn('parent', 'text', (c) => c.notNull().references('shares.id'))
        .addColumn('path', 'text', (c) => c.notNull())
        .addColumn('created', 'text', (c) => c.notNull())
        .addColumn('creator', 'text')
        .addColumn('modified', 'text', (c) => c.notNull())
        .addColumn('modifier', 'text')
        .execute();
      await db.schema.createIndex('files_parent').on('files').columns(['parent', 'created', 'id']).execute();
    },
  },
  '0007-settings': {
    // Settings (src/settings/): one string per workspace, holder and name; `holder` is workspace, user, job or share.
    // And which server clients serve a volume (share/server).
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('settings')
        .addColumn('workspace', 'text', (c) => c.notNull().references('workspaces.id'))
        .addColumn('holder', 'text', (c) => c.notNull())
        .addColumn('entity', 'text', (c) => c.notNull())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('value', 'text', (c) => c.notNull())
        .addColumn('modified', 'text', (c) => c.notNull())
        .addColumn('modifier', 'text')
        .addPrimaryKeyConstraint('settings_key', ['workspace', 'holder', 'entity', 'name'])
        .execute();
      await db.schema
        .createTable('share_servers')
        .addColumn('workspace', 'text', (c) => c.notNull().references('workspaces.id'))
        .addColumn('share', 'text', (c) => c.notNull().references('shares.id').onDelete('cascade'))
        .addColumn('client', 'text', (c) => c.notNull().references('clients.id').onDelete('cascade'))
        .addColumn('created', 'text', (c) => c.notNull())
        .addColumn('creator', 'text')
        .addPrimaryKeyConstraint('share_servers_key', ['share', 'client'])
        .execute();
      await db.schema.createIndex('share_servers_client').on('share_servers').column('client').execute();
    },
  },
  '0008-audit-log': {
    // The audit log (src/audit/): one row per write or login, never changed. Its indexes keep find's order, for the
    // whole workspace (admins) and for one user (everyone else, and `user=` queries).
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('logs')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('workspace', 'text', (c) => c.notNull().references('workspaces.id'))
        .addColumn('created', 'text', (c) => c.notNull())
        .addColumn('user', 'text')
        .addColumn('address', 'text')
        .addColumn('method', 'text', (c) => c.notNull())
        .addColumn('operation', 'text', (c) => c.notNull())
        .addColumn('entity', 'text')
        .addColumn('query', 'text')
        .addColumn('outcome', 'text', (c) => c.notNull())
        .addColumn('message', 'text')
        .addColumn('data', 'text')
        .execute();
      await db.schema.createIndex('logs_created').on('logs').columns(['workspace', 'created', 'id']).execute();
      await db.schema.createIndex('logs_user').on('logs').columns(['workspace', 'user', 'created', 'id']).execute();
    },
  },
  '0009-transfer-engine': {
    // What the transfer engine (src/transfers/) keeps: per task the bytes written, speed, checksum, attempts and the
    // last failure; per job its start, bytes done, and which node carries it until when (a lease it renews).
    async up(db: Kysely<unknown>) {
      const whole = db.getExecutor().adapter instanceof PostgresAdapter ? 'bigint' : 'integer';
      const fraction = db.getExecutor().adapter instanceof PostgresAdapter ? 'double precision' : 'real';
      const add = (table: string, column: string, type: 'text' | 'bigint' | 'integer' | 'real' | 'double precision') =>
        db.schema.alterTable(table).addColumn(column, type).execute();
      for (const [column, type] of [
        ['started', 'text'],
        ['bytes', whole],
        ['progress', fraction],
        ['speed', fraction],
        ['etr', whole],
        ['checksum', 'text'],
        ['message', 'text'],
        ['attempts', whole],
        ['retry_at', 'text'],
      ] as const) {
        await add('tasks', column, type);
      }
      for (const [column, type] of [
        ['started', 'text'],
        ['bytes', whole],
        ['message', 'text'],
        ['node', 'text'],
        ['lease', 'text'],
      ] as const) {
        await add('jobs', column, type);
      }
      await db.schema.createIndex('tasks_job_status').on('tasks').columns(['job', 'status']).execute();
    },
  },
  '0010-task-pages': {
    // A job's tasks in find's order, page after page: without it, every page of a job of 100,000 tasks sorted them
    // all. With the workspace in it, the rows a page skips are skipped in the index.
    async up(db: Kysely<unknown>) {
      await db.schema
        .createIndex('tasks_job_created')
        .on('tasks')
        .columns(['job', 'workspace', 'created', 'id'])
        .execute();
    },
  },
  '0011-carriers': {
    // A task with an end on a user's machine is carried by a client (the agent, or the TypeScript client's upload
    // and download): which one holds it, and until when (a lease it renews while it carries the file). A request
    // keeps where its recipients' uploads land.
    async up(db: Kysely<unknown>) {
      await db.schema.alterTable('tasks').addColumn('carrier', 'text').execute();
      await db.schema.alterTable('tasks').addColumn('lease', 'text').execute();
      await db.schema.createIndex('tasks_carrier').on('tasks').columns(['carrier', 'lease']).execute();
      // Where a request's uploads land: its destination as a task end (JSON), kept whole, path and share.
      await db.schema.alterTable('jobs').addColumn('target', 'text').execute();
    },
  },
};

/** A table of entities: the columns every entity has, then `columns`. */
async function entityTable(
  db: Kysely<unknown>,
  name: string,
  columns: (table: CreateTableBuilder<string, never>) => CreateTableBuilder<string, never>,
): Promise<void> {
  const table = db.schema
    .createTable(name)
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('workspace', 'text', (c) => c.notNull().references('workspaces.id'))
    .addColumn('created', 'text', (c) => c.notNull())
    .addColumn('creator', 'text')
    .addColumn('modified', 'text', (c) => c.notNull())
    .addColumn('modifier', 'text')
    .addColumn('archived', 'text');
  await columns(table).execute();
  await db.schema.createIndex(`${name}_created`).on(name).columns(['workspace', 'created', 'id']).execute();
}

/** The columns of entities with a code, a name (both also folded, for queries), a status and metadata. */
function described(table: CreateTableBuilder<string, never>): CreateTableBuilder<string, never> {
  return table
    .addColumn('code', 'text', (c) => c.notNull())
    .addColumn('code_folded', 'text', (c) => c.notNull())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('name_folded', 'text', (c) => c.notNull())
    .addColumn('description', 'text')
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('metadata', 'text');
}

/** Codes are unique among the entities that are not archived, so that a deleted one's code can be used again. */
async function uniqueLiveCode(db: Kysely<unknown>, table: string): Promise<void> {
  await db.schema
    .createIndex(`${table}_code`)
    .on(table)
    .columns(['workspace', 'code_folded'])
    .unique()
    .where(sql.ref('archived'), 'is', null)
    .execute();
}

const provider: MigrationProvider = { getMigrations: async () => MIGRATIONS };

/**
 * Brings the schema up to date; throws with the failing migration's name. On PostgreSQL, `schema` is where our
 * tables are, and kysely's own must be named too: without it, kysely takes another schema's for ours.
 */
export async function migrate(db: Kysely<unknown>, schema?: string): Promise<void> {
  const migrator = new Migrator({ db, provider, ...(schema !== undefined && { migrationTableSchema: schema }) });
  const { error, results } = await migrator.migrateToLatest();
  if (error) {
    const failed = results?.find((r) => r.status === 'Error')?.migrationName ?? 'unknown';
    throw new Error(`migration ${failed} failed: ${(error as Error).message}`, { cause: error });
  }
}
