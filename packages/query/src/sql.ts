import type { Expression } from './ast.js';
import { bind, type Leaf, type Ordering, type Test, type Tree } from './bind.js';
import { inQuery } from './errors.js';
import { parseExpression } from './parser.js';
import { compileRegex, type Regex } from './regex.js';
import { type Attribute, columnOf, type Schema } from './schema.js';
import { fold, type Wildcard } from './text.js';

/**
 * SQL compilation of a bound condition, one function per kind of node. Every value becomes a bound parameter;
 * the only text taken from the schema is column names, which are quoted. What differs between SQLite and
 * PostgreSQL sits in a Dialect.
 */

/**
 * SQL text with its parameters, in the shape of a template literal: `values[i]` goes between `strings[i]` and
 * `strings[i + 1]`. Kysely takes it as it is (`sql(fragment.strings, ...fragment.values)`); `render` writes the
 * placeholders of a dialect.
 */
export interface SqlFragment {
  readonly strings: readonly string[];
  readonly values: readonly unknown[];
}

export interface Dialect {
  readonly name: 'sqlite' | 'postgres';
  /** The placeholder of the `index`th parameter, counting from 1. */
  placeholder(index: number): string;
  /** SQL that folds a text column as `fold` does in memory. */
  fold(column: string): string;
  /** `folded` contains `text`. */
  contains(sql: Writer, folded: string, text: string): void;
  /** `folded` has a match of `regex`. */
  matches(sql: Writer, folded: string, regex: Regex): void;
  /** `folded` compared with folded text in code point order. */
  orderText(folded: string): string;
  boolean(value: boolean): unknown;
  date(value: Date): unknown;
  /** What follows a number's placeholder: PostgreSQL would take a fraction for a whole-number column's type. */
  readonly numberCast: string;
}

/**
 * SQLite: text folds through `accsyn_fold` and regular expressions run in `regexp`, both registered on the
 * connection by `registerSqliteFunctions` with the very functions evaluation uses. Booleans are 0/1 and dates
 * ISO 8601 text in UTC (`toISOString`), which sorts chronologically.
 */
export const sqlite: Dialect = {
  name: 'sqlite',
  placeholder: () => '?',
  fold: (column) => `accsyn_fold(${column})`,
  contains(sql, folded, text) {
    sql.text(`instr(${folded}, `).value(text).text(') > 0');
  },
  matches(sql, folded, regex) {
    sql.text(`${folded} REGEXP `).value(regex.source);
  },
  orderText: (folded) => folded,
  boolean: (value) => (value ? 1 : 0),
  date: isoText,
  numberCast: '',
};

/**
 * An instant as ISO 8601 text in UTC (`toISOString`), which sorts as the instants do. The end of the year 9999's
 * span is in the year 10000, which `toISOString` writes as `+010000-...`, sorting before every other date: that bound
 * is written as text that sorts after every date a column holds.
 */
function isoText(value: Date): string {
  return value.getUTCFullYear() > 9999 ? '9999-12-31T23:59:59.999Z~' : value.toISOString();
}

/**
 * PostgreSQL: ICU's root lowercase mapping is JavaScript's, whatever the database's own collation; regular
 * expressions run as PostgreSQL ARE translated from the portable RE2 subset, under "C" so that word boundaries know
 * RE2's word characters only; text orders by code point ("C").
 */
export const postgres: Dialect = {
  name: 'postgres',
  placeholder: (index) => `$${index}`,
  fold: (column) => `lower(${column} COLLATE "und-x-icu")`,
  contains(sql, folded, text) {
    sql.text(`strpos(${folded}, `).value(text).text(') > 0');
  },
  matches(sql, folded, regex) {
    sql.text(`${folded} COLLATE "C" ~ `).value(regex.postgresSource);
  },
  orderText: (folded) => `${folded} COLLATE "C"`,
  boolean: (value) => value,
  date: (value) => value,
  numberCast: '::numeric',
};

/** Builds a SqlFragment piece by piece. */
export class Writer {
  readonly #strings: string[] = [''];
  readonly #values: unknown[] = [];

  text(sql: string): this {
    const last = this.#strings.length - 1;
    this.#strings[last] += sql;
    return this;
  }

  value(value: unknown): this {
    this.#values.push(value);
    this.#strings.push('');
    return this;
  }

  fragment(): SqlFragment {
    return { strings: [...this.#strings], values: [...this.#values] };
  }
}

/**
 * Compiles an expression (the text after WHERE, or a parsed one) to a SQL condition over the schema's columns.
 * Throws QueryError when the expression doesn't fit the schema. The condition is meant for WHERE, alone or
 * joined with AND: it may be NULL (not FALSE) where a row doesn't match, which WHERE treats alike.
 */
export function compileWhere(expression: string | Expression, schema: Schema, dialect: Dialect): SqlFragment {
  if (typeof expression === 'string')
    return inQuery(expression, () => compileWhere(parseExpression(expression), schema, dialect));
  const writer = new Writer();
  condition(writer, bind(expression, schema), schema, dialect);
  return writer.fragment();
}

/** The fragment as SQL text with the dialect's placeholders, numbered from `firstIndex`. */
export function render(
  fragment: SqlFragment,
  dialect: Dialect,
  firstIndex = 1,
): { sql: string; parameters: unknown[] } {
  let sql = fragment.strings[0] as string;
  fragment.values.forEach((_, i) => {
    sql += dialect.placeholder(firstIndex + i) + fragment.strings[i + 1];
  });
  return { sql, parameters: [...fragment.values] };
}

function condition(sql: Writer, node: Tree<Leaf>, schema: Schema, dialect: Dialect): void {
  if (node.kind === 'test') {
    leaf(sql, node, schema[node.attribute] as Attribute, dialect);
    return;
  }
  sql.text('(');
  node.operands.forEach((operand, i) => {
    if (i > 0) sql.text(node.kind === 'and' ? ' AND ' : ' OR ');
    condition(sql, operand, schema, dialect);
  });
  sql.text(')');
}

/**
 * A comparison. Its positive form is never NULL for a present value, so that its negation can be written as the
 * exact complement by deciding the null case explicitly (SQL's NOT of NULL is NULL, not TRUE).
 */
function leaf(sql: Writer, node: Leaf, attribute: Attribute, dialect: Dialect): void {
  const column = quote(columnOf(node.attribute, attribute));
  const folded = attribute.folded ? quote(attribute.folded) : dialect.fold(column);
  const write = (test: Test) => positive(sql, test, { column, folded, dialect });
  if (node.test.kind === 'null') {
    sql.text(`${column} IS ${node.negated ? 'NOT ' : ''}NULL`);
  } else if (!node.negated) {
    write(node.test);
  } else if (attribute.required) {
    sql.text('NOT (');
    write(node.test);
    sql.text(')');
  } else if (acceptsNull(node.test)) {
    sql.text(`(${column} IS NOT NULL AND NOT (`);
    write(node.test);
    sql.text('))');
  } else {
    sql.text(`(${column} IS NULL OR NOT (`);
    write(node.test);
    sql.text('))');
  }
}

function acceptsNull(test: Test): boolean {
  return test.kind === 'null' || (test.kind === 'any' && test.tests.some(acceptsNull));
}

interface Operand {
  readonly column: string;
  readonly folded: string;
  readonly dialect: Dialect;
}

function positive(sql: Writer, test: Test, on: Operand): void {
  const { column, folded, dialect } = on;
  switch (test.kind) {
    case 'null':
      sql.text(`${column} IS NULL`);
      return;
    case 'equals': {
      const text = typeof test.values[0] === 'string';
      const cast = typeof test.values[0] === 'number' ? dialect.numberCast : '';
      const values = test.values.map((v) => (typeof v === 'boolean' ? dialect.boolean(v) : v));
      sql.text(text ? folded : column);
      if (values.length === 1) {
        sql.text(' = ').value(values[0]).text(cast);
      } else {
        sql.text(' IN (');
        values.forEach((value, i) => {
          sql
            .text(i ? ', ' : '')
            .value(value)
            .text(cast);
        });
        sql.text(')');
      }
      return;
    }
    case 'like': {
      // LIKE uses no index, but a range on the pattern's fixed start does; it says nothing LIKE does not.
      const prefix = test.pattern.pieces[0] as string;
      const end = prefix && prefixEnd(prefix);
      if (end) {
        sql.text(`(${dialect.orderText(folded)} >= `).value(prefix);
        sql
          .text(` AND ${dialect.orderText(folded)} < `)
          .value(end)
          .text(' AND ');
      }
      sql.text(`${folded} LIKE `).value(likePattern(test.pattern)).text(` ESCAPE '\\'`);
      if (end) sql.text(')');
      return;
    }
    case 'contains':
      dialect.contains(sql, folded, test.text);
      return;
    case 'matches':
      dialect.matches(sql, folded, test.regex);
      return;
    case 'order':
      if (typeof test.value === 'string') sql.text(`${dialect.orderText(folded)} ${test.operator} `).value(test.value);
      else sql.text(`${column} ${test.operator} `).value(test.value).text(dialect.numberCast);
      return;
    case 'span': {
      const { start, end } = test.span;
      if (test.operator === '=') {
        sql
          .text(`(${column} >= `)
          .value(dialect.date(start))
          .text(` AND ${column} < `)
          .value(dialect.date(end))
          .text(')');
      } else {
        const [operator, bound] = SPAN_BOUNDS[test.operator];
        sql.text(`${column} ${operator} `).value(dialect.date(bound === 'start' ? start : end));
      }
      return;
    }
    case 'any':
      sql.text('(');
      test.tests.forEach((inner, i) => {
        if (i > 0) sql.text(' OR ');
        positive(sql, inner, on);
      });
      sql.text(')');
      return;
  }
}

/** How each ordering of an instant against a span reads as one comparison with one of its bounds. */
const SPAN_BOUNDS: Readonly<Record<Ordering, readonly [string, 'start' | 'end']>> = {
  '<': ['<', 'start'],
  '<=': ['<', 'end'],
  '>': ['>=', 'end'],
  '>=': ['>=', 'start'],
};

/**
 * The least string, in code point order, above every string that starts with `prefix`: its last character
 * replaced by the next one (skipping the surrogates, which are no characters); undefined when there is none.
 */
function prefixEnd(prefix: string): string | undefined {
  const characters = Array.from(prefix);
  const last = (characters.pop() as string).codePointAt(0) as number;
  if (last === 0x10ffff) return undefined;
  const next = last + 1 === 0xd800 ? 0xe000 : last + 1;
  return characters.join('') + String.fromCodePoint(next);
}

function likePattern({ pieces }: Wildcard): string {
  return pieces.map((piece) => piece.replace(/[\\%_]/g, (c) => `\\${c}`)).join('%');
}

function quote(identifier: string): string {
  return `"${identifier.replaceAll('"', '""')}"`;
}

/** The part of a better-sqlite3 Database that registering functions needs. */
export interface SqliteFunctionHost {
  function(name: string, options: { deterministic: boolean }, implementation: (...args: never[]) => unknown): unknown;
}

/** Registers on a SQLite connection the functions that compiled conditions call. */
export function registerSqliteFunctions(db: SqliteFunctionHost): void {
  db.function('accsyn_fold', { deterministic: true }, (text: unknown) =>
    typeof text === 'string' ? fold(text) : text,
  );
  db.function('regexp', { deterministic: true }, (pattern: string, text: unknown) =>
    typeof text === 'string' ? Number(compileRegex(pattern).test(text)) : null,
  );
}
