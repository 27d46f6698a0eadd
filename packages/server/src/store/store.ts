import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { fold, registerSqliteFunctions } from 'accsyn-query';
import Database from 'better-sqlite3';
import { Kysely, type SqliteDatabase, SqliteDialect, type SqliteStatement } from 'kysely';
import { migrate } from './migrations.js';
import { prepared } from './prepared.js';
import type { ApiKeyRow, SessionRow, Tables, UserRow, WorkspaceRow } from './tables.js';

/**
 * The server's data. Everything above this class speaks kysely, so PostgreSQL can stand behind the same code;
 * what is SQLite's alone (the file, its pragmas, our SQL functions) stays in `openSqlite`.
 */
export class Store {
  /** The session lookup that authenticates every event, compiled once (see `session`). */
  #sessionQuery: ReturnType<Store['compileSessionQuery']> | undefined;

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

  /** The session lookup with stand-ins for its values, compiled once per store. */
  private compileSessionQuery() {
    return prepared(this.db, (p: { id: string; now: string }) =>
      this.db
        .selectFrom('sessions')
        .innerJoin('users', 'users.id', 'sessions.user')
        .innerJoin('api_keys', 'api_keys.id', 'sessions.api_key')
        .innerJoin('workspaces', 'workspaces.id', 'sessions.workspace')
        .where('sessions.id', '=', p.id)
        .where('api_keys.revoked', 'is', null)
        .where((eb) => eb.or([eb('api_keys.expires', 'is', null), eb('api_keys.expires', '>', p.now)]))
        .select([
          'sessions.api_key as session_api_key',
          'sessions.created as session_created',
          'api_keys.hash as key_hash',
          'workspaces.code as workspace_code',
          'workspaces.code_folded as workspace_code_folded',
          'workspaces.name as workspace_name',
          'workspaces.created as workspace_created',
          'workspaces.modified as workspace_modified',
        ])
        .selectAll('users'),
    );
  }

  /** A session with its workspace, its user and its key's hash, when the session exists and its key is still live. */
  async session(
    id: string,
    now: string,
  ): Promise<{ session: SessionRow; workspace: WorkspaceRow; user: UserRow; keyHash: string } | undefined> {
    // Read on every event, never cached: a revoked key or a deleted session stops working at once, on every node.
    this.#sessionQuery ??= this.compileSessionQuery();
    const [row] = await this.#sessionQuery({ id, now });
    if (!row) return undefined;
    const {
      session_api_key,
      session_created,
      key_hash,
      workspace_code,
      workspace_code_folded,
      workspace_name,
      workspace_created,
      workspace_modified,
      ...user
    } = row;
    return {
      session: { id, workspace: user.workspace, user: user.id, api_key: session_api_key, created: session_created },
      workspace: {
        id: user.workspace,
        code: workspace_code,
        code_folded: workspace_code_folded,
        name: workspace_name,
        created: workspace_created,
        modified: workspace_modified,
      },
      user,
      keyHash: key_hash,
    };
  }
}

/**
 * The database with its prepared statements kept by SQL text: kysely prepares every query it runs, and preparing
 * costs more than running the small queries an API call makes. Statements are reusable because better-sqlite3
 * runs each to completion before the next; the cache is bounded, oldest out first.
 */
function withStatementCache(database: Database.Database, size = 500): SqliteDatabase {
  const statements = new Map<string, SqliteStatement>();
  return {
    close: () => database.close(),
    prepare(text: string) {
      let statement = statements.get(text);
      if (statement) {
        statements.delete(text);
      } else {
        statement = withObjectRows(database.prepare(text));
        if (statements.size >= size) statements.delete(statements.keys().next().value as string);
      }
      statements.set(text, statement);
      return statement;
    },
  };
}

/**
 * A statement that answers rows as objects, as kysely expects, built here from better-sqlite3's arrays: its own
 * objects cost twice as much (each key is looked up anew for every row), and a page of entities is thousands of
 * values. The objects are the same: keys in column order, a later column of the same name winning.
 */
function withObjectRows(statement: Database.Statement): SqliteStatement {
  if (!statement.reader) return statement;
  let names = statement.columns().map((column) => column.name);
  const objectOf = (values: unknown[]) => {
    // SQLite prepares a statement again when the schema changes, and `*` may then stand for other columns.
    if (values.length !== names.length) names = statement.columns().map((column) => column.name);
    const row: Record<string, unknown> = {};
    for (let i = 0; i < names.length; i++) row[names[i] as string] = values[i];
    return row;
  };
  statement.raw(true);
  return {
    reader: true,
    all: (parameters) => (statement.all(parameters) as unknown[][]).map(objectOf),
    run: (parameters) => statement.run(parameters),
    *iterate(parameters) {
      for (const values of statement.iterate(parameters)) yield objectOf(values as unknown[]);
    },
  };
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
  const db = new Kysely<Tables>({ dialect: new SqliteDialect({ database: withStatementCache(database) }) });
  await migrate(db as Kysely<unknown>);
  return new Store(db, 'sqlite');
}
