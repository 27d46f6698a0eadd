import { type Comparison, type Expression, isNegated } from './ast.js';
import { bind, bindComparison, type Leaf, normalise, type Test, type Tree } from './bind.js';
import { inQuery, QueryError } from './errors.js';
import { parseExpression } from './parser.js';
import type { AttributeType, Schema } from './schema.js';
import { compareCodePoints, fold, matchesWildcard } from './text.js';

/** A plain record: numbers, booleans, Dates and strings are typed by their JavaScript type; null/undefined is absent. */
export type PlainRecord = Readonly<{ [attribute: string]: unknown }>;

export interface FilterOptions {
  /**
   * Types the attributes and rejects unknown ones up front. Without it, each value's JavaScript type decides how
   * the query's value is read, and a value that cannot be read so (`size = abc` for a number) matches nothing.
   */
  readonly schema?: Schema;
}

/** Whether `record` satisfies `expression` (the text after WHERE, or a parsed expression). */
export function evaluate(expression: string | Expression, record: PlainRecord, options: FilterOptions = {}): boolean {
  return compileFilter(expression, options)(record);
}

/** Parses and binds once, for testing many records. */
export function compileFilter(
  expression: string | Expression,
  options: FilterOptions = {},
): (record: PlainRecord) => boolean {
  if (typeof expression === 'string')
    return inQuery(expression, () => compileFilter(parseExpression(expression), options));
  return options.schema
    ? predicate(bind(expression, options.schema), testLeaf)
    : predicate(dynamic(expression), testDynamic);
}

type Predicate = (record: PlainRecord) => boolean;

function predicate<L>(tree: Tree<L>, leaf: (leaf: L) => Predicate): Predicate {
  const node = tree as Tree<L> & { kind: string };
  if (node.kind === 'and' || node.kind === 'or') {
    const operands = (node as { operands: readonly Tree<L>[] }).operands.map((operand) => predicate(operand, leaf));
    return node.kind === 'and'
      ? (record) => operands.every((operand) => operand(record))
      : (record) => operands.some((operand) => operand(record));
  }
  return leaf(tree as L);
}

function testLeaf(leaf: Leaf): Predicate {
  return (record) => {
    const value = coerce(lookup(record, leaf.attribute), leaf.type);
    return passes(leaf.test, value) !== leaf.negated;
  };
}

/** A comparison bound lazily, by the type of each record's value. */
interface DynamicLeaf {
  readonly comparison: Comparison;
  readonly negated: boolean;
  readonly tests: Map<AttributeType, Test | undefined>;
}

function dynamic(expression: Expression): Tree<DynamicLeaf> {
  return normalise(expression, false, (comparison, negated) => ({
    comparison,
    negated: negated !== isNegated(comparison.operator),
    tests: new Map(),
  }));
}

function testDynamic(leaf: DynamicLeaf): Predicate {
  return (record) => {
    const value = lookup(record, leaf.comparison.attribute);
    const type = typeOf(value);
    if (type === undefined) {
      // Absent, or of no type a query compares: only a test for null can pass.
      return (value == null && leaf.comparison.values.some((v) => v.kind === 'null')) !== leaf.negated;
    }
    let test = leaf.tests.get(type);
    if (!leaf.tests.has(type)) {
      test = bindOrUndefined(leaf.comparison, type);
      leaf.tests.set(type, test);
    }
    return (test !== undefined && passes(test, value)) !== leaf.negated;
  };
}

function bindOrUndefined(comparison: Comparison, type: AttributeType): Test | undefined {
  try {
    return bindComparison(comparison, type);
  } catch (error) {
    if (error instanceof QueryError) return undefined;
    throw error;
  }
}

function typeOf(value: unknown): AttributeType | undefined {
  if (typeof value === 'string') return 'string';
  if (typeof value === 'number') return 'number';
  if (typeof value === 'boolean') return 'boolean';
  if (value instanceof Date) return 'date';
  return undefined;
}

/** Reads a record's value as the schema's type; undefined when it is absent or cannot be read so. */
function coerce(value: unknown, type: AttributeType): unknown {
  if (value == null) return undefined;
  switch (type) {
    case 'string':
      return typeof value === 'string'
        ? value
        : typeof value === 'number' || typeof value === 'boolean'
          ? String(value)
          : undefined;
    case 'number':
      return typeof value === 'number' ? value : undefined;
    case 'boolean':
      return typeof value === 'boolean' ? value : value === 1 ? true : value === 0 ? false : undefined;
    case 'date': {
      const date =
        value instanceof Date
          ? value
          : typeof value === 'string' || typeof value === 'number'
            ? new Date(value)
            : undefined;
      return date && !Number.isNaN(date.getTime()) ? date : undefined;
    }
  }
}

/**
 * Finds an attribute in a record: by its whole (dotted) name, then by walking the dots through nested objects.
 * Names match case-insensitively, as in queries.
 */
export function lookup(record: PlainRecord, attribute: string): unknown {
  const direct = property(record, attribute);
  if (direct !== undefined || !attribute.includes('.')) return direct;
  let value: unknown = record;
  for (const part of attribute.split('.')) {
    if (value === null || typeof value !== 'object') return undefined;
    value = property(value as PlainRecord, part);
  }
  return value;
}

function property(record: PlainRecord, name: string): unknown {
  if (Object.hasOwn(record, name)) return record[name];
  for (const key of Object.keys(record)) {
    if (key.toLowerCase() === name) return record[key];
  }
  return undefined;
}

/** Whether a value passes a test; `value` is undefined when absent. */
function passes(test: Test, value: unknown): boolean {
  if (test.kind === 'any') return test.tests.some((inner) => passes(inner, value));
  if (test.kind === 'null') return value === undefined || value === null;
  if (value === undefined || value === null) return false;
  switch (test.kind) {
    case 'equals':
      return test.values.includes(typeof value === 'string' ? fold(value) : (value as number | boolean));
    case 'like':
      return matchesWildcard(fold(value as string), test.pattern);
    case 'contains':
      return fold(value as string).includes(test.text);
    case 'matches':
      return test.regex.test(fold(value as string));
    case 'order': {
      const order =
        typeof test.value === 'string'
          ? compareCodePoints(fold(value as string), test.value)
          : (value as number) - test.value;
      return ORDERED[test.operator](order);
    }
    case 'span': {
      const time = (value as Date).getTime();
      const { start, end } = test.span;
      switch (test.operator) {
        case '=':
          return time >= start.getTime() && time < end.getTime();
        case '<':
          return time < start.getTime();
        case '<=':
          return time < end.getTime();
        case '>':
          return time >= end.getTime();
        case '>=':
          return time >= start.getTime();
      }
      break;
    }
  }
  return false;
}

const ORDERED = {
  '<': (order: number) => order < 0,
  '<=': (order: number) => order <= 0,
  '>': (order: number) => order > 0,
  '>=': (order: number) => order >= 0,
} as const;
