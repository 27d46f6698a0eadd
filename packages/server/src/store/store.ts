import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { fold, registerSqliteFunctions } from 'accsyn-query';
import Database from 'better-sqlite3';
import { Kysely, SqliteDialect } from 'kysely';
import { migrate } from './migrations.js';
import type { ApiKeyRow, SessionRow, Tables, UserRow, WorkspaceRow } from './tables.js';

/**
 * The server's data. Everything above this class speaks kysely, so PostgreSQL can stand behind the same code;
 * what is SQLite's alone (the file, its pragmas, our SQL functions) stays in `openSqlite`.
 */
export class Store {
  constructor(
    readonly db: Kysely<Tables>,
    readonly dialect: 'sqlite' | 'postgres',
  ) {}

  async close(): Promise<void> {
    await this.db.destroy();
  }

  async countWorkspaces(): Promise<number> {
    const row = await this.db
      .selectFrom('workspaces')
      .select((eb) => eb.fn.countAll<number>().as('count'))
      .executeTakeFirstOrThrow();
    return Number(row.count);
  }

  async workspaceByCode(code: string): Promise<WorkspaceRow | undefined> {
    return this.db
      .selectFrom('workspaces')
      .selectAll()
      .where('code_folded', '=', code.toLowerCase())
      .executeTakeFirst();
  }

  async insertWorkspace(row: WorkspaceRow): Promise<void> {
    await this.db
      .insertInto('workspaces')
      .values({ ...row, name_folded: fold(row.name) })
      .execute();
  }

  async userByCode(workspace: string, code: string): Promise<UserRow | undefined> {
    return this.db
      .selectFrom('users')
      .selectAll()
      .where('workspace', '=', workspace)
      .where('code_folded', '=', code.toLowerCase())
      .executeTakeFirst();
  }

  async insertUser(row: UserRow): Promise<void> {
    await this.db
      .insertInto('users')
      .values({ ...row, name_folded: fold(row.name) })
      .execute();
  }

  /** The keys of a user that are neither revoked nor expired at `now`. */
  async liveKeys(user: string, now: string): Promise<ApiKeyRow[]> {
    return this.db
      .selectFrom('api_keys')
      .selectAll()
      .where('user', '=', user)
      .where('revoked', 'is', null)
      .where((eb) => eb.or([eb('expires', 'is', null), eb('expires', '>', now)]))
      .execute();
  }

  async insertApiKey(row: ApiKeyRow): Promise<void> {
    await this.db.insertInto('api_keys').values(row).execute();
  }

  async touchApiKey(id: string, now: string): Promise<void> {
    await this.db.updateTable('api_keys').set({ last_used: now }).where('id', '=', id).execute();
  }

  async insertSession(row: SessionRow): Promise<void> {
    await this.db.insertInto('sessions').values(row).execute();
  }

  /** A session with its user and its key's hash, when the session exists and its key is still live. */
  async session(id: string, now: string): Promise<{ session: SessionRow; user: UserRow; keyHash: string } | undefined> {
    const row = await this.db
      .selectFrom('sessions')
      .innerJoin('users', 'users.id', 'sessions.user')
      .innerJoin('api_keys', 'api_keys.id', 'sessions.api_key')
      .where('sessions.id', '=', id)
      .where('api_keys.revoked', 'is', null)
      .where((eb) => eb.or([eb('api_keys.expires', 'is', null), eb('api_keys.expires', '>', now)]))
      .select([
        'sessions.id as session_id',
        'sessions.workspace as session_workspace',
        'sessions.api_key as session_api_key',
        'sessions.created as session_created',
        'api_keys.hash as key_hash',
      ])
      .selectAll('users')
      .executeTakeFirst();
    if (!row) return undefined;
    const { session_id, session_workspace, session_api_key, session_created, key_hash, ...user } = row;
    return {
      session: {
        id: session_id,
        workspace: session_workspace,
        user: user.id,
        api_key: session_api_key,
        created: session_created,
      },
      user,
      keyHash: key_hash,
    };
  }
}

/** Opens (creating if needed) a SQLite database file and brings its schema up to date. */
export async function openSqlite(file: string): Promise<Store> {
  if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true });
  const database = new Database(file);
  // WAL lets readers run beside the writer; a committed transaction is in the WAL file before the call returns,
  // so it survives the process being killed (synchronous=FULL would also survive a power cut, at a cost).
  database.pragma('journal_mode = WAL');
  database.pragma('synchronous = NORMAL');
  database.pragma('foreign_keys = ON');
  database.pragma('busy_timeout = 5000');
  registerSqliteFunctions(database);
  const db = new Kysely<Tables>({ dialect: new SqliteDialect({ database }) });
  await migrate(db as Kysely<unknown>);
  return new Store(db, 'sqlite');
}
