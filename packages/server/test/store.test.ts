import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compileWhere, render } from 'accsyn-query';
import { CompiledQuery, sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AdminError, addUser, createApiKey, listApiKeys, revokeApiKey, workspaceOf } from '../src/admin.js';
import { bootstrap } from '../src/bootstrap.js';
import { readConfig } from '../src/config.js';
import { queryDialect } from '../src/entities/find.js';
import { querySchema, typeNamed } from '../src/entities/model.js';
import { newId } from '../src/store/ids.js';
import { openStore } from '../src/store/open.js';
import { databaseUnavailable, postgresSettings } from '../src/store/postgres.js';
import { sql as flat } from '../src/store/sql.js';
import { Store } from '../src/store/store.js';
import { onPostgres, testDatabase } from './support/database.js';
import { startTestServer, type TestServer } from './support/server.js';

/**
 * The store on its own: migrations, the administration of users and keys, and what PostgreSQL must do as SQLite
 * does. Runs on SQLite, and again on PostgreSQL in the `postgres` project.
 */

let test: TestServer;
let store: Store;

beforeAll(async () => {
  test = await startTestServer();
  store = test.server.store;
});
afterAll(() => test.stop());

describe('migrations', () => {
  it('run once: opening the migrated database again changes nothing', async () => {
    const before = await store.db
      .selectFrom('kysely_migration' as never)
      .selectAll()
      .execute();
    expect(before.map((row) => (row as { name: string }).name)).toEqual([
      '0001-accounts',
      '0002-entities',
      '0003-postgres-types',
      '0004-job-indexes-in-find-order',
      '0005-postgres-folded-code-point-order',
      '0006-files',
      '0007-settings',
      '0008-audit-log',
      '0009-transfer-engine',
      '0010-task-pages',
      '0011-carriers',
    ]);
    const again = await openStore(test.database);
    try {
      expect(await again.countWorkspaces()).toBe(1);
    } finally {
      await again.close();
    }
  });

  it.runIf(onPostgres)(
    'take turns when several nodes start at once on an empty database, as bootstrap does',
    async () => {
      const database = await testDatabase(true);
      try {
        const stores = await Promise.all(Array.from({ length: 4 }, () => openStore(database.url as string)));
        const [first] = stores as [Store];
        const tables = await sql<{ count: number }>`SELECT count(*)::int AS count FROM information_schema.tables
        WHERE table_schema = current_schema() AND table_name = 'jobs'`.execute(first.db);
        expect(tables.rows[0]?.count).toBe(1);
        const ran = await first.db
          .selectFrom('kysely_migration' as never)
          .selectAll()
          .execute();
        expect(ran).toHaveLength(11);
        // Each node then bootstraps, unless another did: one workspace, whatever the order.
        const config = readConfig(['--data-dir', mkdtempSync(join(tmpdir(), 'accsyn-store-test-'))], {});
        const created = await Promise.all(stores.map((s) => bootstrap(s, config)));
        expect(created.filter(Boolean)).toHaveLength(1);
        expect(await first.countWorkspaces()).toBe(1);
        await Promise.all(stores.map((s) => s.close()));
      } finally {
        await database.drop();
      }
    },
  );
});

describe('reads beside a transaction', () => {
  it('never see what an open transaction has not committed', async () => {
    const count = async () =>
      Number((await store.rows<{ n: number }>(flat`SELECT COUNT(*) AS n FROM workspaces`))[0]?.n);
    const before = await count();
    let commit = () => {};
    const committing = new Promise<void>((resolve) => {
      commit = resolve;
    });
    let written = () => {};
    const hasWritten = new Promise<void>((resolve) => {
      written = resolve;
    });
    const id = newId();
    const now = new Date().toISOString();
    const workspace = { id, code: id, code_folded: id, name: id, created: now, modified: now };
    const transaction = store.db.transaction().execute(async (trx) => {
      await new Store(trx, store.dialect).insertWorkspace(workspace);
      written();
      await committing;
    });
    await hasWritten;
    const during = count();
    if (store.dialect === 'sqlite') {
      // The one connection is the transaction's until it ends: the read waits its turn, then sees the commit.
      const early = await Promise.race([during, new Promise((resolve) => setImmediate(() => resolve('waiting')))]);
      expect(early).toBe('waiting');
      commit();
      expect(await during).toBe(before + 1);
    } else {
      // Another connection of the pool answers at once, with what was committed.
      expect(await during).toBe(before);
      commit();
    }
    await transaction;
    expect(await count()).toBe(before + 1);
    await store.db.deleteFrom('workspaces').where('id', '=', id).execute();
  });
});

describe('administration', () => {
  it('adds a user, makes keys, lists them without the key, and revokes one with its sessions', async () => {
    const added = await addUser(store, { email: 'Kim@Example.com', role: 'employee' });
    expect(added).toMatchObject({ email: 'Kim@Example.com', role: 'employee', workspace: 'acme' });
    const now = new Date();
    const laptop = await createApiKey(store, { email: 'kim@example.com', name: 'laptop' }, now);
    expect(laptop.key).toMatch(/^[A-Za-z0-9]{64}$/);
    const soon = await createApiKey(
      store,
      { email: 'kim@example.com', name: 'soon', expires: new Date(now.getTime() + 1000) },
      now,
    );
    const later = new Date(now.getTime() + 2000);
    const listed = await listApiKeys(store, { email: 'kim@example.com' }, later);
    expect(listed.map((key) => [key.name, key.state])).toEqual([
      ['laptop', 'active'],
      ['soon', 'expired'],
    ]);
    expect(JSON.stringify(listed)).not.toContain(laptop.key);

    await store.insertSession({
      id: 'f'.repeat(64),
      workspace: (await workspaceOf(store, undefined)).id,
      user: added.id,
      api_key: laptop.id,
      created: now.toISOString(),
    });
    expect(await store.session('f'.repeat(64), now.toISOString())).toBeDefined();
    const revoked = await revokeApiKey(store, laptop.id.toUpperCase());
    expect(revoked.state).toBe('revoked');
    expect(await store.session('f'.repeat(64), now.toISOString())).toBeUndefined();
    // Revoking again changes nothing.
    expect((await revokeApiKey(store, laptop.id)).revoked).toEqual(revoked.revoked);
    expect(soon.state).toBe('active');
  });

  it('sees a key revoked through another connection at the next lookup, and checks expiry on every one', async () => {
    const lee = await addUser(store, { email: 'lee@example.com', role: 'standard' });
    const now = new Date();
    const later = (ms: number) => new Date(now.getTime() + ms).toISOString();
    const key = await createApiKey(store, { email: 'lee@example.com', expires: new Date(later(60_000)) }, now);
    const id = 'e'.repeat(64);
    const workspace = (await workspaceOf(store, undefined)).id;
    await store.insertSession({ id, workspace, user: lee.id, api_key: key.id, created: now.toISOString() });
    // The second lookup may come from memory (SQLite): it must answer as the first did.
    expect((await store.session(id, later(1)))?.user.code).toBe('lee@example.com');
    expect((await store.session(id, later(2)))?.user.code).toBe('lee@example.com');
    // Nothing changed in the database, but the key's time is up.
    expect(await store.session(id, later(61_000))).toBeUndefined();
    expect(await store.session(id, later(3))).toBeDefined();
    // Another process (here another connection) revokes the key: the next lookup sees it.
    const other = await openStore(test.database);
    try {
      await revokeApiKey(other, key.id);
    } finally {
      await other.close();
    }
    expect(await store.session(id, later(4))).toBeUndefined();
  });

  it('refuses what it cannot do with a sentence', async () => {
    const refusals: [() => Promise<unknown>, RegExp][] = [
      [() => addUser(store, { email: 'not-an-address', role: 'employee' }), /is not an e-mail address/],
      [() => addUser(store, { email: 'a@b.test', role: 'owner' }), /must be one of admin, employee, standard/],
      [() => addUser(store, { email: 'ADMIN@acme.test', role: 'admin' }), /already has a user ADMIN@acme.test/],
      [() => addUser(store, { workspace: 'nope', email: 'a@b.test', role: 'admin' }), /no workspace 'nope'/],
      [() => createApiKey(store, { email: 'nobody@acme.test' }), /no user nobody@acme.test/],
      [() => createApiKey(store, { email: 'admin@acme.test', expires: new Date(0) }), /has passed already/],
      [() => revokeApiKey(store, '0123456789abcdef01234567'), /no API key with id/],
    ];
    for (const [attempt, message] of refusals) {
      const refused = attempt();
      await expect(refused).rejects.toThrow(AdminError);
      await expect(refused).rejects.toThrow(message);
    }
  });
});

describe('values', () => {
  it('keeps byte sizes past 2^31, fractions of progress and speed, and dates as written', async () => {
    const workspace = await workspaceOf(store, undefined);
    const at = '2026-01-02T03:04:05.678Z';
    const id = 'aaaaaaaaaaaaaaaaaaaaaaaa';
    await sql`INSERT INTO jobs (id, workspace, created, modified, type, code, code_folded, name, name_folded, status,
      size, progress, speed) VALUES (${id}, ${workspace.id}, ${at}, ${at}, 1, 'big', 'big', 'big', 'big', 'running',
      ${5_000_000_000_000}, ${33.333333333}, ${1234.5678})`.execute(store.db);
    const row = await store.db
      .selectFrom('jobs' as never)
      .selectAll()
      .where('id' as never, '=', id as never)
      .executeTakeFirst();
    expect(row).toMatchObject({ size: 5_000_000_000_000, progress: 33.333333333, speed: 1234.5678, created: at });
  });
});

describe.runIf(onPostgres)('on PostgreSQL', () => {
  it('cancels a statement past the timeout the URL sets, as an outage the server answers 503', async () => {
    const slow = await openStore(`${test.database}&statement_timeout=100`);
    try {
      const error = await sql`SELECT pg_sleep(2)`.execute(slow.db).then(
        () => undefined,
        (failure: unknown) => failure,
      );
      expect(error).toMatchObject({ code: '57014' });
      expect(databaseUnavailable(error)).toBe(true);
      // The pool goes on with the next statement.
      expect((await sql<{ one: number }>`SELECT 1 AS one`.execute(slow.db)).rows).toEqual([{ one: 1 }]);
    } finally {
      await slow.close();
    }
  });

  it('refuses settings of ours in the URL that make no sense, naming them', () => {
    expect(() => postgresSettings('postgres://h/db?schema=Bad-Name')).toThrow(/The schema 'Bad-Name' must be/);
    expect(() => postgresSettings('postgres://h/db?pool=1')).toThrow(/pool must be a whole number of at least 2/);
    expect(postgresSettings('postgres://u:secret@h:5433/db?schema=acc&pool=4&sslmode=require')).toEqual({
      schema: 'acc',
      pool: 4,
      statementTimeout: 15_000,
      connectionString: 'postgres://u:secret@h:5433/db?sslmode=require',
    });
  });

  it('finds by an indexed attribute through its index', async () => {
    const workspace = await workspaceOf(store, undefined);
    await sql`INSERT INTO jobs (id, workspace, created, modified, type, code, code_folded, name, name_folded, status)
      SELECT lpad(to_hex(n), 24, '0'), ${workspace.id}, '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z', 1,
        'shot_' || n, 'shot_' || n, 'shot_' || n, 'shot_' || n, 'waiting'
      FROM generate_series(1, 20000) AS n`.execute(store.db);
    await sql`ANALYZE jobs`.execute(store.db);
    const dialect = queryDialect(store);
    const where = render(compileWhere('code = SHOT_42', querySchema(typeNamed('transfer')), dialect), dialect);
    const plan = await store.db.executeQuery(
      CompiledQuery.raw(`EXPLAIN SELECT * FROM jobs e WHERE e.workspace = $2 AND ${where.sql}`, [
        ...where.parameters,
        workspace.id,
      ]),
    );
    const text = plan.rows.map((row) => Object.values(row as object)[0]).join('\n');
    expect(text).toMatch(/Index Scan|Bitmap Index Scan/);
    expect(text).toMatch(/jobs_code/);
  });
});
