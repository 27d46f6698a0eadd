import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import {
  compileFilter,
  compileWhere,
  type Expression,
  type Operator,
  parseExpression,
  postgres,
  print,
  render,
  sqlite,
  type Value,
} from '../src/index.js';
import { openPostgres, openSqlite } from './support/databases.js';
import { createPostgresTable, createSqliteTable, type Row, schema } from './support/transfers.js';

/**
 * The same random queries over the same random rows must find the same rows in memory, in SQLite and in
 * PostgreSQL. The alphabet is chosen to hit the hard cases: case pairs inside and outside ASCII, final sigma,
 * a letter that lowercases to two, LIKE's own wildcards, backslashes, quotes and stars.
 */

const ALPHABET = [
  'a',
  'A',
  'b',
  'B',
  'é',
  'É',
  'ö',
  'Ö',
  'ß',
  'Σ',
  'σ',
  'ς',
  'İ',
  'i',
  ' ',
  '*',
  '%',
  '_',
  '\\',
  '.',
  '1',
  "'",
  '"',
];
const text = fc.string({ unit: fc.constantFrom(...ALPHABET), maxLength: 5 });
const nullable = <T>(arbitrary: fc.Arbitrary<T>) => fc.option(arbitrary, { nil: null, freq: 5 });

const START = Date.UTC(2023, 11, 31, 22);
const row = (id: number) =>
  fc.record({
    id: fc.constant(id),
    code: nullable(text),
    status: nullable(fc.constantFrom('done', 'DONE', 'Failed', 'queued', 'abörted', 'ΣΑΣ', 'σας', '')),
    size: nullable(fc.oneof(fc.integer({ min: -3, max: 3 }), fc.constantFrom(0.5, -1.5, 1000, 2.25))),
    paused: nullable(fc.boolean()),
    created: nullable(fc.integer({ min: 0, max: 3 * 86_400_000 }).map((ms) => new Date(START + ms))),
    'job.id': nullable(fc.constantFrom('j1', 'J1', 'j2', 'ĵ2')),
  });

const rows: Row[] = Array.from(
  { length: 300 },
  (_, id) => fc.sample(row(id + 1), { seed: 7 + id, numRuns: 1 })[0] as Row,
);

const value = (arbitrary: fc.Arbitrary<string>): fc.Arbitrary<Value> =>
  arbitrary.map((t) => ({ kind: 'text', text: t }));
const NULL: fc.Arbitrary<Value> = fc.constant({ kind: 'null' });

const EQUALITY: Operator[] = ['=', '!=', 'in', 'not in'];
const ORDERING: Operator[] = ['<', '>', '<=', '>='];
const PATTERNS = [
  '^a',
  'b$',
  'a.b',
  '[a-c]+',
  '\\d',
  'σ|ß',
  '(ab)*c',
  '.',
  '^$',
  'É',
  '\\.',
  '[^ab ]',
  'i̇',
  '^.{2,3}$',
  // Word boundaries: _ and 1 are word characters, é, ß, σ and the U+0307 of a folded İ are not (RE2's \w is ASCII).
  '\\bb',
  'a\\b',
  '\\Ba',
  'i\\B',
  '\\b\\.',
  '\\B',
  '^\\B$',
  '(?:\\b|_)1',
];

const stars = fc.string({ unit: fc.constantFrom(...ALPHABET, '*', '\\*'), maxLength: 5 });
const dates = fc.constantFrom(
  '2024',
  '2023-12',
  '2024-01',
  '2024-01-02',
  '2024-01-01T10:30',
  '2024-01-01 23:59',
  '2024-01-02T00:00:00',
  '2024-01-01T12:00:00.5',
  '2024-01-01T23:00-01:00',
  '2024-01-02T09:15:30Z',
);

function comparison(attribute: string, operators: Operator[], item: fc.Arbitrary<Value>): fc.Arbitrary<Expression> {
  return fc.constantFrom(...operators).chain((operator) => {
    const single =
      operator === 'in' || operator === 'not in'
        ? fc.array(item, { minLength: 1, maxLength: 3 })
        : item.map((v) => [v]);
    return single.map((values) => ({ kind: 'comparison', attribute, operator, values }) as Expression);
  });
}

const orNull = (arbitrary: fc.Arbitrary<Value>) => fc.oneof({ weight: 5, arbitrary }, { weight: 1, arbitrary: NULL });

const comparisons = fc.oneof(
  ...['code', 'status', 'job.id'].flatMap((attribute) => [
    comparison(attribute, EQUALITY, orNull(value(fc.oneof(text, stars)))),
    comparison(attribute, ORDERING, value(text)),
    comparison(attribute, ['contains', 'not contains'], value(text)),
    comparison(attribute, ['matches', 'not matches'], value(fc.constantFrom(...PATTERNS))),
  ]),
  comparison('size', [...EQUALITY, ...ORDERING], value(fc.constantFrom('-3', '0', '0.5', '1e3', '2.250', '-1.5', '3'))),
  comparison('size', EQUALITY, orNull(value(fc.constantFrom('1', '-2')))),
  comparison('paused', EQUALITY, orNull(value(fc.constantFrom('true', 'FALSE', '1', '0')))),
  comparison('created', [...EQUALITY, ...ORDERING], value(dates)),
  comparison('created', EQUALITY, orNull(value(dates))),
  comparison('id', ORDERING, value(fc.constantFrom('10', '150', '299'))),
);

const expressions: fc.Arbitrary<Expression> = fc.letrec<{ node: Expression }>((tie) => ({
  node: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    comparisons,
    fc.array(tie('node'), { minLength: 2, maxLength: 3 }).map((operands) => ({ kind: 'and', operands }) as Expression),
    fc.array(tie('node'), { minLength: 2, maxLength: 3 }).map((operands) => ({ kind: 'or', operands }) as Expression),
    tie('node').map((operand) => ({ kind: 'not', operand }) as Expression),
  ),
})).node;

const sqliteDb = openSqlite();
createSqliteTable(sqliteDb, rows);
const pgDb = await openPostgres();
if (pgDb) await createPostgresTable(pgDb, rows);
afterAll(async () => {
  sqliteDb.close();
  await pgDb?.close();
});

const ids = (found: { id: number }[]) => found.map((r) => r.id);

describe('memory, SQLite and PostgreSQL agree', () => {
  it('on random queries over random rows, and the printed query parses back to the same tree', async () => {
    await fc.assert(
      fc.asyncProperty(expressions, async (expression) => {
        const text = print(expression);
        expect(parseExpression(text)).toEqual(expression);

        const filter = compileFilter(text, { schema });
        const inMemory = rows.filter((row) => filter({ ...row })).map((r) => r.id);
        const lite = render(compileWhere(text, schema, sqlite), sqlite);
        const found = sqliteDb
          .prepare(`SELECT id FROM transfers WHERE ${lite.sql} ORDER BY id`)
          .all(...lite.parameters);
        expect(ids(found as { id: number }[]), `SQLite: ${text}`).toEqual(inMemory);
        if (pgDb) {
          const pgSql = render(compileWhere(text, schema, postgres), postgres);
          const result = await pgDb.client.query(
            `SELECT id FROM transfers WHERE ${pgSql.sql} ORDER BY id`,
            pgSql.parameters,
          );
          expect(ids(result.rows), `PostgreSQL: ${text}`).toEqual(inMemory);
        }
      }),
      { numRuns: process.env.CI ? 2_000 : 500, seed: 20261127 },
    );
  });

  it('and the generated rows are varied enough to mean something', () => {
    for (const key of ['code', 'status', 'size', 'paused', 'created', 'job.id'] as const) {
      expect(rows.filter((r) => r[key] === null).length).toBeGreaterThan(10);
      expect(new Set(rows.map((r) => String(r[key]))).size).toBeGreaterThan(2);
    }
  });
});
