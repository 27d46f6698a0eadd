import { type Comparison, type Expression, isNegated, positionOf, positive, type Value } from './ast.js';
import { QueryError } from './errors.js';
import { compileRegex, type Regex } from './regex.js';
import { type Attribute, type AttributeType, closeMatches, type Schema } from './schema.js';
import { fold, readWildcard, type Wildcard } from './text.js';
import { type DateSpan, readBoolean, readDate, readNumber } from './values.js';

/**
 * Binding turns a parsed expression into a condition that evaluation and SQL compilation share: NOT is pushed
 * down to the comparisons (negation normal form), and each comparison's values are read as its attribute's type
 * once, here, so that memory, SQLite and PostgreSQL cannot read them differently.
 */

export type Ordering = '<' | '<=' | '>' | '>=';

/** What one comparison asks of a present (non-null) value; a null value passes only `null`. */
export type Test =
  | { readonly kind: 'null' }
  /** Equal to one of the values: folded text, numbers or booleans. */
  | { readonly kind: 'equals'; readonly values: readonly (string | number | boolean)[] }
  | { readonly kind: 'like'; readonly pattern: Wildcard }
  | { readonly kind: 'contains'; readonly text: string }
  | { readonly kind: 'matches'; readonly regex: Regex }
  | { readonly kind: 'order'; readonly operator: Ordering; readonly value: string | number }
  | { readonly kind: 'span'; readonly operator: '=' | Ordering; readonly span: DateSpan }
  /** Any of the tests: an IN list mixing plain values, wildcards or null. */
  | { readonly kind: 'any'; readonly tests: readonly Test[] };

export interface Leaf {
  readonly kind: 'test';
  readonly attribute: string;
  readonly type: AttributeType;
  readonly test: Test;
  /** The exact complement of the test, null values included. */
  readonly negated: boolean;
}

/** A tree of AND and OR over leaves, with no NOT left in it. */
export type Tree<L> = { readonly kind: 'and' | 'or'; readonly operands: readonly Tree<L>[] } | L;

export type Condition = Tree<Leaf>;

/** Checks `expression` against `schema` and binds it; throws QueryError naming the first problem. */
export function bind(expression: Expression, schema: Schema): Condition {
  return normalise(expression, false, (comparison, negated) => {
    const attribute = lookup(comparison, schema);
    return {
      kind: 'test',
      attribute: comparison.attribute,
      type: attribute.type,
      test: bindComparison(comparison, attribute.type),
      negated: negated !== isNegated(comparison.operator),
    };
  });
}

/** Pushes NOT down to the comparisons, turning each into a leaf with `toLeaf`. */
export function normalise<L>(
  expression: Expression,
  negated: boolean,
  toLeaf: (comparison: Comparison, negated: boolean) => L,
): Tree<L> {
  switch (expression.kind) {
    case 'not':
      return normalise(expression.operand, !negated, toLeaf);
    case 'and':
    case 'or': {
      // De Morgan: NOT (a AND b) is (NOT a) OR (NOT b).
      const kind = (expression.kind === 'and') !== negated ? 'and' : 'or';
      return { kind, operands: expression.operands.map((operand) => normalise(operand, negated, toLeaf)) };
    }
    case 'comparison':
      return toLeaf(expression, negated);
  }
}

function lookup(comparison: Comparison, schema: Schema): Attribute {
  const attribute = Object.hasOwn(schema, comparison.attribute) ? schema[comparison.attribute] : undefined;
  if (attribute) return attribute;
  const suggestions = closeMatches(comparison.attribute, Object.keys(schema));
  const hint = suggestions.length ? ` (did you mean ${suggestions.map((s) => `'${s}'`).join(' or ')}?)` : '';
  throw new QueryError(`unknown attribute '${comparison.attribute}'${hint}`, positionOf(comparison)?.attribute ?? 0);
}

/** Reads a comparison's values as `type`; throws QueryError when a value or the operator doesn't fit it. */
export function bindComparison(comparison: Comparison, type: AttributeType): Test {
  const operator = positive(comparison.operator);
  const at = (index: number) => positionOf(comparison)?.values[index] ?? 0;
  const name = comparison.attribute;
  if (operator === 'contains' || operator === 'matches') {
    if (type !== 'string') {
      throw new QueryError(
        `${operator.toUpperCase()} compares text, but '${name}' is ${article(type)}`,
        positionOf(comparison)?.operator ?? 0,
      );
    }
    const text = textOf(comparison.values[0]);
    return operator === 'contains'
      ? { kind: 'contains', text: fold(text) }
      : { kind: 'matches', regex: compileRegex(text) };
  }
  if (operator === '=' || operator === 'in') {
    return oneOf(comparison.values.map((value, index) => equalTo(value, type, name, at(index))));
  }
  const ordering = operator as Ordering;
  const text = textOf(comparison.values[0]);
  switch (type) {
    case 'string':
      return { kind: 'order', operator: ordering, value: fold(text) };
    case 'number':
      return { kind: 'order', operator: ordering, value: read(readNumber, text, type, name, at(0)) };
    case 'date':
      return { kind: 'span', operator: ordering, span: read(readDate, text, type, name, at(0)) };
    case 'boolean':
      throw new QueryError(
        `'${name}' is a boolean: compare it with = or !=, not ${operator}`,
        positionOf(comparison)?.operator ?? 0,
      );
  }
}

function equalTo(value: Value, type: AttributeType, name: string, position: number): Test {
  if (value.kind === 'null') return { kind: 'null' };
  switch (type) {
    case 'string': {
      const wildcard = readWildcard(fold(value.text));
      return 'literal' in wildcard
        ? { kind: 'equals', values: [wildcard.literal] }
        : { kind: 'like', pattern: wildcard };
    }
    case 'number':
      return { kind: 'equals', values: [read(readNumber, value.text, type, name, position)] };
    case 'boolean':
      return { kind: 'equals', values: [read(readBoolean, value.text, type, name, position)] };
    case 'date':
      return { kind: 'span', operator: '=', span: read(readDate, value.text, type, name, position) };
  }
}

/** Merges the tests of an IN list, so that plain values become one `equals` (one SQL `IN (...)`). */
function oneOf(tests: Test[]): Test {
  if (tests.length === 1) return tests[0] as Test;
  const values = tests.flatMap((test) => (test.kind === 'equals' ? test.values : []));
  const others = tests.filter((test) => test.kind !== 'equals');
  const merged: Test[] = values.length ? [{ kind: 'equals', values: [...new Set(values)] }, ...others] : others;
  return merged.length === 1 ? (merged[0] as Test) : { kind: 'any', tests: merged };
}

const EXAMPLES: Readonly<Record<AttributeType, string>> = {
  string: 'text',
  number: 'a number (such as 42 or -1.5)',
  boolean: 'true or false',
  date: 'a date (such as 2024-05-01 or 2024-05-01T10:30:00)',
};

function read<T>(
  reader: (text: string) => T | undefined,
  text: string,
  type: AttributeType,
  name: string,
  position: number,
): T {
  const value = reader(text);
  if (value === undefined) {
    throw new QueryError(`expected ${EXAMPLES[type]} for '${name}', found '${text}'`, position);
  }
  return value;
}

function textOf(value: Value | undefined): string {
  // The parser admits null only after = / != / IN, so the other operators always carry text.
  return value?.kind === 'text' ? value.text : '';
}

function article(type: AttributeType): string {
  return type === 'string' ? 'text' : `a ${type}`;
}
