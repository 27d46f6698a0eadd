import { Kysely, SqliteDialect, sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileFilter, compileWhere, type Dialect, postgres, QueryError, render, sqlite } from '../src/index.js';
import { openPostgres, openSqlite } from './support/databases.js';
import { createPostgresTable, createSqliteTable, type Row, schema } from './support/transfers.js';

const at = (iso: string) => new Date(iso);

const rows: Row[] = [
  {
    id: 1,
    code: 'Weekly Backup',
    status: 'Done',
    size: 1500,
    paused: false,
    created: at('2024-05-01T10:30:15.250Z'),
    'job.id': 'j1',
  },
  {
    id: 2,
    code: 'JÖNSSON dailies',
    status: 'failed',
    size: 20,
    paused: true,
    created: at('2024-05-02T00:00:00Z'),
    'job.id': 'j2',
  },
  { id: 3, code: null, status: null, size: null, paused: null, created: null, 'job.id': null },
  {
    id: 4,
    code: '100% _real_ backup.zip',
    status: 'queued',
    size: -1.5,
    paused: false,
    created: at('2023-12-31T23:59:59.999Z'),
    'job.id': 'j1',
  },
  { id: 5, code: 'a*b', status: 'DONE', size: 0, paused: true, created: at('2024-05-01T00:00:00Z'), 'job.id': 'J3' },
  {
    id: 6,
    code: "Robert'); DROP TABLE transfers;--",
    status: 'aborted',
    size: 7,
    paused: false,
    created: at('2025-01-01T00:00:00Z'),
    'job.id': 'j4',
  },
];

/** Each query with the ids it must find, oldest first. */
const cases: [string, number[]][] = [
  ['code = "weekly backup"', [1]],
  ['code = "jönsson DAILIES"', [2]],
  ['code = "* backup"', [1]],
  ['code = "*backup*"', [1, 4]],
  ['code = "a\\*b"', [5]],
  ['code = "a*b"', [5]],
  ['code = "100%*"', [4]],
  ['code = "*_real_*" or code = "_*"', [4]],
  ['code != "weekly backup"', [2, 3, 4, 5, 6]],
  ['code = null', [3]],
  ['code != null', [1, 2, 4, 5, 6]],
  ['code contains "_REAL_"', [4]],
  ['code not contains backup', [2, 3, 5, 6]],
  ['code matches "backup.*\\.zip"', [4]],
  ['code not matches "^w"', [2, 3, 4, 5, 6]],
  ['code matches "\\bbackup\\b"', [1, 4]],
  ['code matches "\\breal\\b"', []], // _ is a word character
  ['code matches "j\\b"', [2]], // Ö is none, as RE2 has it, where ICU would say it is
  ['code matches "\\Bnsson"', []],
  ['code not matches "a\\B"', [3, 5]],
  ['code < "b"', [4, 5]],
  ['status in (done, FAILED)', [1, 2, 5]],
  ['status not in (done, failed)', [3, 4, 6]],
  ['status not in (done, null)', [2, 4, 6]],
  ['status in "queued,aborted"', [4, 6]],
  ['size > 7', [1, 2]],
  ['size <= 0', [4, 5]],
  ['size in 0, 7, 1500', [1, 5, 6]],
  ['size != 20', [1, 3, 4, 5, 6]],
  ['paused = true', [2, 5]],
  ['paused != true', [1, 3, 4, 6]],
  ['created = 2024-05-01', [1, 5]],
  ['created = "2024-05-01 10:30"', [1]],
  ['created < 2024', [4]],
  ['created >= 2024-05-02', [2, 6]],
  ['created <= 2024-05-01', [1, 4, 5]],
  ['created > 2024-05-01', [2, 6]],
  ['created != 2024-05', [3, 4, 6]],
  ['job.id = J1', [1, 4]],
  ['((status = done AND job.id = j1) OR size < 1) AND code = "*b*"', [1, 4, 5]],
  ['NOT (status = done OR paused = true)', [3, 4, 6]],
  ['NOT NOT size > 7', [1, 2]],
];

const databases: { dialect: Dialect; query(where: string, parameters: unknown[]): Promise<number[]> }[] = [];
const sqliteDb = openSqlite();
createSqliteTable(sqliteDb, rows);
databases.push({
  dialect: sqlite,
  async query(where, parameters) {
    const found = sqliteDb.prepare(`SELECT id FROM transfers WHERE ${where} ORDER BY id`).all(...parameters);
    return (found as { id: number }[]).map((r) => r.id);
  },
});
const pgDb = await openPostgres();
if (pgDb) {
  await createPostgresTable(pgDb, rows);
  databases.push({
    dialect: postgres,
    async query(where, parameters) {
      const found = await pgDb.client.query(`SELECT id FROM transfers WHERE ${where} ORDER BY id`, parameters);
      return found.rows.map((r) => r.id as number);
    },
  });
}
afterAll(async () => {
  sqliteDb.close();
  await pgDb?.close();
});

describe.each(databases)('on $dialect.name', ({ dialect, query }) => {
  it.each(cases)('%s', async (where, ids) => {
    const { sql: text, parameters } = render(compileWhere(where, schema, dialect), dialect);
    expect(await query(text, parameters)).toEqual(ids);
  });

  it('finds what evaluation in memory finds', async () => {
    for (const [where] of cases) {
      const filter = compileFilter(where, { schema });
      const { sql: text, parameters } = render(compileWhere(where, schema, dialect), dialect);
      expect(await query(text, parameters), where).toEqual(rows.filter((row) => filter({ ...row })).map((r) => r.id));
    }
  });

  it('binds every value as a parameter, so hostile values and names never become SQL', async () => {
    const hostile = `code = "Robert'); DROP TABLE transfers;--" OR code CONTAINS "'; DELETE FROM transfers; --"`;
    const fragment = compileWhere(hostile, schema, dialect);
    expect(fragment.strings.join('')).not.toMatch(/DROP|DELETE|Robert/);
    const { sql: text, parameters } = render(fragment, dialect);
    expect(await query(text, parameters)).toEqual([6]);
    expect(await query('1 = 1', [])).toHaveLength(rows.length);
    expect(() => compileWhere('"code" = 1', schema, dialect)).toThrow(QueryError);
    expect(() => compileWhere('code;drop = 1', schema, dialect)).toThrow("'code;drop' is not an attribute name");
    expect(() => compileWhere('id = 1 OR 1', schema, dialect)).toThrow("'1' is not an attribute name");
  });

  it('handles the largest query the limits allow', async () => {
    const wide = Array.from({ length: 256 }, (_, i) => `size = ${i}`).join(' OR ');
    const deep = `${'NOT ('.repeat(31)}NOT NOT size > 7${')'.repeat(31)}`;
    const list = `size in (${Array.from({ length: 9_000 }, (_, i) => i).join(',')})`;
    for (const [where, ids] of [
      [wide, [2, 5, 6]],
      [deep, [3, 4, 5, 6]],
      [list, [1, 2, 5, 6]],
    ] as const) {
      const { sql: text, parameters } = render(compileWhere(where, schema, dialect), dialect);
      expect(await query(text, parameters)).toEqual(ids);
    }
  });
});

describe('SQL text', () => {
  it('numbers PostgreSQL placeholders from the index given', () => {
    const fragment = compileWhere('code = a and size > 1', schema, postgres);
    expect(render(fragment, postgres, 3)).toEqual({
      sql: '(lower("code" COLLATE "und-x-icu") = $3 AND "size" > $4::numeric)',
      parameters: ['a', 1],
    });
    expect(render(compileWhere('code = a and size > 1', schema, sqlite), sqlite).sql).toBe(
      '(accsyn_fold("code") = ? AND "size" > ?)',
    );
  });

  it('matches regular expressions in PostgreSQL under "C", whose word characters are RE2\'s', () => {
    expect(render(compileWhere('code matches "\\bX\\B"', schema, postgres), postgres)).toEqual({
      sql: 'lower("code" COLLATE "und-x-icu") COLLATE "C" ~ $1',
      parameters: ['\\yx\\Y'],
    });
  });

  it('bounds the end of the year 9999 by text that sorts after every date', () => {
    const later = compileWhere('created > 9999', schema, sqlite);
    expect(later.values).toEqual(['9999-12-31T23:59:59.999Z~']);
    expect(['9999-12-31T23:59:59.999Z', '2026-11-27T00:00:00.000Z'].every((d) => d < (later.values[0] as string))).toBe(
      true,
    );
  });

  it('writes each negation as the exact complement, deciding the null case', () => {
    expect(render(compileWhere('code != a', schema, sqlite), sqlite).sql).toBe(
      '("code" IS NULL OR NOT (accsyn_fold("code") = ?))',
    );
    expect(render(compileWhere('code not in (a, null)', schema, sqlite), sqlite).sql).toBe(
      '("code" IS NOT NULL AND NOT ((accsyn_fold("code") = ? OR "code" IS NULL)))',
    );
    expect(render(compileWhere('id != 1', schema, sqlite), sqlite).sql).toBe('NOT ("id" = ?)');
  });

  it('plugs into kysely as a sql fragment', async () => {
    const db = new Kysely<{ transfers: { id: number } }>({ dialect: new SqliteDialect({ database: sqliteDb }) });
    const where = compileWhere('status = done AND size > 100', schema, sqlite);
    const found = await db
      .selectFrom('transfers')
      .select('id')
      .where(sql<boolean>(where.strings as unknown as TemplateStringsArray, ...where.values))
      .execute();
    expect(found).toEqual([{ id: 1 }]);
  });
});

describe('indexes', () => {
  it('lets SQLite use an index for equality on a folded expression or a folded column', () => {
    const plan = (where: string) => {
      const { sql: text, parameters } = render(compileWhere(where, schema, sqlite), sqlite);
      const steps = sqliteDb.prepare(`EXPLAIN QUERY PLAN SELECT id FROM transfers WHERE ${text}`).all(...parameters);
      return (steps as { detail: string }[]).map((s) => s.detail).join('\n');
    };
    expect(plan('code = "weekly backup"')).toMatch(/USING (COVERING )?INDEX transfers_code/);
    expect(plan('status in (done, failed)')).toMatch(/USING (COVERING )?INDEX transfers_status/);
    expect(plan('code contains backup')).toMatch(/^SCAN transfers/);
    // A wildcard with a fixed start is also a range on it, which the index serves.
    expect(plan('code = "weekly*"')).toMatch(
      /^SEARCH transfers USING (COVERING )?INDEX transfers_code \(.+>\? AND .+<\?\)/,
    );
    expect(plan('code = "*backup"')).toMatch(/^SCAN transfers/);
  });

  it.skipIf(!pgDb)('lets PostgreSQL use an index for equality on a folded expression or a folded column', async () => {
    const client = pgDb?.client;
    if (!client) return;
    const plan = async (where: string) => {
      const { sql: text, parameters } = render(compileWhere(where, schema, postgres), postgres);
      await client.query('SET enable_seqscan = off');
      const steps = await client.query(`EXPLAIN SELECT id FROM transfers WHERE ${text}`, parameters);
      await client.query('RESET enable_seqscan');
      return steps.rows.map((r) => r['QUERY PLAN']).join('\n');
    };
    expect(await plan('code = "weekly backup"')).toMatch(
      /Index (Only )?Scan using transfers_code|Bitmap Index Scan on transfers_code/,
    );
    expect(await plan('status = done')).toMatch(
      /Index (Only )?Scan using transfers_status|Bitmap Index Scan on transfers_status/,
    );
  });
});

beforeAll(() => {
  expect(databases.length).toBeGreaterThan(0);
});
