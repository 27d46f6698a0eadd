import type { SqlFragment } from 'accsyn-query';

/**
 * SQL text with its bound values, written as a template literal: sql`SELECT id FROM users WHERE code = ${code}`.
 * Each value becomes a placeholder; a nested `Sql` is spliced in where it stands; identifiers go in through
 * `sql.id`, fixed text through `sql.raw`. Nothing else reaches the text, so no value can be read as SQL.
 *
 * This is kysely's `sql` for the queries an API call runs, made flat as it is written: kysely keeps a tree of
 * frozen nodes that it walks again to compile on every run, which cost a find more than the database did.
 * Running a `Sql` is a join of its strings (the store keeps the prepared statement per text).
 */
export class Sql implements SqlFragment {
  constructor(
    readonly strings: readonly string[],
    readonly values: readonly unknown[],
  ) {}

  /** The text with `placeholder(i)` for the i-th value, counting from 1. */
  text(placeholder: (index: number) => string): string {
    let text = this.strings[0] as string;
    for (let i = 1; i < this.strings.length; i++) text += placeholder(i) + this.strings[i];
    return text;
  }
}

export function sql(strings: readonly string[], ...parts: readonly unknown[]): Sql {
  const texts = [strings[0] as string];
  const values: unknown[] = [];
  parts.forEach((part, i) => {
    append(texts, values, part);
    texts[texts.length - 1] += strings[i + 1] as string;
  });
  return new Sql(texts, values);
}

/** Adds a value, or a `Sql` spliced in, at the end of `texts` and `values`. */
function append(texts: string[], values: unknown[], part: unknown): void {
  if (!(part instanceof Sql)) {
    values.push(part);
    texts.push('');
    return;
  }
  texts[texts.length - 1] += part.strings[0] as string;
  for (let i = 0; i < part.values.length; i++) {
    values.push(part.values[i]);
    texts.push(part.strings[i + 1] as string);
  }
}

const IDENTIFIER = /^[a-z_][a-z0-9_]*$/;

/** Fixed SQL text: our own, never a caller's. */
sql.raw = (text: string): Sql => new Sql([text], []);

/** A table or column name, or `alias.column`, quoted as both databases quote names. */
sql.id = (name: string): Sql => {
  const parts = name.split('.');
  if (!parts.every((part) => IDENTIFIER.test(part))) throw new Error(`not an identifier: ${name}`);
  return sql.raw(parts.map((part) => `"${part}"`).join('.'));
};

/** The parts one after the other, `separator` between them; values among them become placeholders. */
sql.join = (parts: readonly unknown[], separator: Sql = sql.raw(', ')): Sql => {
  if (parts.length === 0) throw new Error('sql.join of nothing: SQL has no empty list');
  const texts = [''];
  const values: unknown[] = [];
  parts.forEach((part, i) => {
    if (i > 0) append(texts, values, separator);
    append(texts, values, part);
  });
  return new Sql(texts, values);
};

/** Nothing: for a condition that is left out. */
sql.empty = sql.raw('');
