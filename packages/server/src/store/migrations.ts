import { type Kysely, type Migration, type MigrationProvider, Migrator } from 'kysely';

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
};

const provider: MigrationProvider = { getMigrations: async () => MIGRATIONS };

/** Brings the schema up to date; throws with the failing migration's name. */
export async function migrate(db: Kysely<unknown>): Promise<void> {
  const { error, results } = await new Migrator({ db, provider }).migrateToLatest();
  if (error) {
    const failed = results?.find((r) => r.status === 'Error')?.migrationName ?? 'unknown';
    throw new Error(`migration ${failed} failed: ${(error as Error).message}`, { cause: error });
  }
}
