import { dirname } from 'node:path';
import { fold, registerSqliteFunctions } from 'accsyn-query';
import Database from 'better-sqlite3';
import { CompiledQuery, Kysely, type SqliteDatabase, SqliteDialect, type SqliteStatement } from 'kysely';
import { makePrivateFile, makePrivateFolder, restrictFile } from '../private-files.js';
import { Memo } from './memo.js';
import { migrate } from './migrations.js';
import { type Sql, sql } from './sql.js';
import type { ApiKeyRow, SessionRow, Tables, UserRow, WorkspaceRow } from './tables.js';

/** SQLite's connection, for the queries that run on it directly (see `Store.rows`). */
interface DirectSqlite {
  inTransaction(): boolean;
  all(text: string, values: readonly unknown[]): unknown[];
  /** Changes whenever a transaction commits, on this connection or another. */
  version(): string;
}

const questionMark = () => '?';
const dollarNumber = (index: number) => `$${index}`;

/** The session lookup's row: the user's columns, and the session's, key's and workspace's under other names. */
type SessionLookup = UserRow & {
  session_api_key: string;
  session_created: string;
  key_hash: string;
  key_expires: string | null;
  workspace_code: string;
  workspace_code_folded: string;
  workspace_name: string;
  workspace_created: string;
  workspace_modified: string;
};

/**
 * The server's data. Everything above this class speaks kysely, or `sql` run by `rows`, so PostgreSQL can stand
 * behind the same code; what is SQLite's alone (the file, its pragmas, our SQL functions) stays in `openSqlite`.
 */
export class Store {
  readonly #sessions = new Memo<SessionFound>(10_000);
  /** The labels of referenced entities, by workspace and id, as `_hr` attributes show them (see `present`). */
  readonly labels = new Memo<string | null>(20_000);
  /** What values compared with references in queries stand for (see `resolveReferences`). */
  readonly references = new Memo<readonly string[]>(10_000);

  constructor(
    readonly db: Kysely<Tables>,
    readonly dialect: 'sqlite' | 'postgres',
    private readonly direct?: DirectSqlite,
  ) {}

  /**
   * The rows a query answers, as objects. On SQLite outside a transaction the statement runs at once, without
   * kysely in between; inside one, and on PostgreSQL, through kysely's connection, which waits its turn.
   */
  async rows<R = Record<string, unknown>>(query: Sql): Promise<R[]> {
    const direct = this.#directNow();
    if (direct) return direct.all(query.text(questionMark), query.values) as R[];
    const text = query.text(this.dialect === 'sqlite' ? questionMark : dollarNumber);
    return (await this.db.executeQuery<R>(CompiledQuery.raw(text, [...query.values]))).rows;
  }

  /** This store seen through `db`, a transaction of its database, for `rows` and `execute` in that transaction. */
  within(db: Kysely<Tables>): Store {
    return new Store(db, this.dialect);
  }

  /**
   * This store, answering each read it has made once again from memory, for as long as it is used: for one call
   * that looks the same few things up for each of many items (the parties and shares of 100,000 transfer ends).
   * What it answers is what the database held at the first read: use it for the lookups of one call, not beyond.
   */
  remembering(): Store {
    return new RememberingStore(this.db, this.dialect, this.direct);
  }

  /** Runs a statement that answers no rows (INSERT, UPDATE, DELETE), through kysely's connection. */
  async execute(query: Sql): Promise<void> {
    const text = query.text(this.dialect === 'sqlite' ? questionMark : dollarNumber);
    await this.db.executeQuery(CompiledQuery.raw(text, [...query.values]));
  }

  /**
   * The database's version, for memos of what was read from it (`Memo`): on SQLite, outside a transaction, where
   * the one connection sees every commit. Undefined where a memo cannot know of every change: inside a transaction,
   * and on PostgreSQL, where other nodes write too.
   */
  version(): string | undefined {
    return this.#directNow()?.version();
  }

  /**
   * What `load` reads for `key`, kept in `memo` while the database is unchanged; read each time where no version is
   * known. Nothing is kept of a load that found nothing.
   */
  async remembered<V>(memo: Memo<NonNullable<V>>, key: string, load: () => Promise<V>): Promise<V> {
    const version = this.version();
    if (version === undefined) return load();
    const known = memo.get(version, key);
    if (known !== undefined) return known;
    const loaded = await load();
    if (loaded !== undefined && loaded !== null) memo.set(version, key, loaded);
    return loaded;
  }

  /** SQLite's connection, when no transaction holds it. */
  #directNow(): DirectSqlite | undefined {
    return this.direct && !this.direct.inTransaction() && !this.db.isTransaction ? this.direct : undefined;
  }

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

  /**
   * A session with its workspace, its user and its key's hash, when the session exists and its key is still live:
   * read again after any change to the database, so that a revoked key or a deleted session stops working at once.
   */
  async session(id: string, now: string): Promise<SessionFound | undefined> {
    const found = await this.remembered(this.#sessions, id, async () => {
      const [row] = await this.rows<SessionLookup>(sql`SELECT s.api_key AS session_api_key,
        s.created AS session_created, k.hash AS key_hash, k.expires AS key_expires, w.code AS workspace_code,
        w.code_folded AS workspace_code_folded, w.name AS workspace_name, w.created AS workspace_created,
        w.modified AS workspace_modified, u.*
        FROM sessions s JOIN users u ON u.id = s."user" JOIN api_keys k ON k.id = s.api_key
        JOIN workspaces w ON w.id = s.workspace
        WHERE s.id = ${id} AND k.revoked IS NULL`);
      return row && sessionFound(id, row);
    });
    if (!found) return undefined;
    // Time passes without the database changing: an expiry is checked on every call.
    return found.keyExpires === null || found.keyExpires > now ? found : undefined;
  }
}

/** See `Store.remembering`. Only SELECTs are remembered; any other statement forgets everything. */
class RememberingStore extends Store {
  readonly #answers = new Map<string, Promise<unknown[]>>();

  override rows<R = Record<string, unknown>>(query: Sql): Promise<R[]> {
    if (!/^\s*SELECT\b/i.test(query.strings[0] as string)) {
      this.#answers.clear();
      return super.rows(query);
    }
    const key = `${query.strings.join('\u0000')}\u0001${JSON.stringify(query.values)}`;
    let answer = this.#answers.get(key);
    if (!answer) {
      answer = super.rows(query);
      this.#answers.set(key, answer);
      answer.catch(() => this.#answers.delete(key));
    }
    // Each caller gets its own list, so that none changes what another is answered.
    return answer.then((rows) => rows.slice() as R[]);
  }

  override execute(query: Sql): Promise<void> {
    this.#answers.clear();
    return super.execute(query);
  }
}

export interface SessionFound {
  readonly session: SessionRow;
  readonly workspace: WorkspaceRow;
  readonly user: UserRow;
  readonly keyHash: string;
  readonly keyExpires: string | null;
}

function sessionFound(id: string, row: SessionLookup): SessionFound {
  const {
    session_api_key,
    session_created,
    key_hash,
    key_expires,
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
    keyExpires: key_expires,
  };
}

/**
 * The database with its prepared statements kept by SQL text: kysely prepares every query it runs, and preparing
 * costs more than running the small queries an API call makes. Statements are reusable because better-sqlite3
 * runs each to completion before the next; the cache is bounded, oldest out first. `writes` counts the runs of
 * statements that may write.
 */
function withStatementCache(database: Database.Database, size = 500): SqliteDatabase & { writes(): number } {
  const statements = new Map<string, SqliteStatement>();
  let writes = 0;
  const wrote = () => {
    writes++;
  };
  return {
    writes: () => writes,
    close: () => database.close(),
    prepare(text: string) {
      let statement = statements.get(text);
      if (statement) {
        statements.delete(text);
      } else {
        statement = withObjectRows(database.prepare(text), wrote);
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
function withObjectRows(statement: Database.Statement, wrote: () => void): SqliteStatement {
  if (!statement.readonly) {
    // Writes, and reads that write (INSERT ... RETURNING): counted as they run.
    return {
      reader: statement.reader,
      all(parameters) {
        wrote();
        return statement.all(parameters);
      },
      run(parameters) {
        wrote();
        return statement.run(parameters);
      },
      iterate(parameters) {
        wrote();
        return statement.iterate(parameters);
      },
    };
  }
  if (!statement.reader) return statement;
  let width = -1;
  let objectOf: (values: unknown[]) => Record<string, unknown> = () => ({});
  const rowsOf = (rows: unknown[][]) => {
    // SQLite prepares a statement again when the schema changes, and `*` may then stand for other columns.
    if (rows.length > 0 && rows[0]?.length !== width) {
      const names = statement.columns().map((column) => column.name);
      width = names.length;
      objectOf = rowMaker(names);
    }
    return rows.map(objectOf);
  };
  statement.raw(true);
  return {
    reader: true,
    all: (parameters) => rowsOf(statement.all(parameters) as unknown[][]),
    run: (parameters) => statement.run(parameters),
    *iterate(parameters) {
      for (const values of statement.iterate(parameters)) yield* rowsOf([values as unknown[]]);
    },
  };
}

/**
 * A function that makes the object of a row from its values: an object literal with the columns' names, so that
 * every row of a statement has one shape (five times faster to build than key by key). Each name is a computed key
 * quoted as a JSON string: whatever a column is called, it can only ever be an own property's name.
 */
function rowMaker(names: readonly string[]): (values: unknown[]) => Record<string, unknown> {
  const fields = names.map((name, i) => `[${JSON.stringify(name)}]: v[${i}]`);
  return new Function('v', `return { ${fields.join(', ')} };`) as (values: unknown[]) => Record<string, unknown>;
}

/** Opens (creating if needed) a SQLite database file and brings its schema up to date. */
export async function openSqlite(file: string): Promise<Store> {
  if (file !== ':memory:') {
    // Users, key hashes and sessions: the owner's alone. SQLite gives the journals it creates the database's mode;
    // journals left by an earlier run, perhaps under another umask, are made private too.
    makePrivateFolder(dirname(file));
    makePrivateFile(file);
    for (const journal of ['-wal', '-shm', '-journal']) restrictFile(`${file}${journal}`);
  }
  const database = new Database(file);
  // WAL lets readers run beside the writer; a committed transaction is in the WAL file before the call returns,
  // so it survives the process being killed (synchronous=FULL would also survive a power cut, at a cost).
  database.pragma('journal_mode = WAL');
  database.pragma('synchronous = NORMAL');
  database.pragma('foreign_keys = ON');
  database.pragma('busy_timeout = 5000');
  registerSqliteFunctions(database);
  const statements = withStatementCache(database);
  const db = new Kysely<Tables>({ dialect: new SqliteDialect({ database: statements }) });
  await migrate(db as Kysely<unknown>);
  // data_version moves when another connection commits; the count of writes, when this one may have.
  const dataVersion = database.prepare('PRAGMA data_version').pluck();
  return new Store(db, 'sqlite', {
    inTransaction: () => database.inTransaction,
    all: (text, values) => statements.prepare(text).all(values),
    version: () => `${dataVersion.get()}/${statements.writes()}`,
  });
}
