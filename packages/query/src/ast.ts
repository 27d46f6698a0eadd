/**
 * The query language's syntax tree: a readonly discriminated union. Positions are kept out of sight (see
 * `positionOf`), so that two trees for the same query are equal however the query was spaced or quoted.
 */

export type Expression = And | Or | Not | Comparison;

/** All operands hold. n-ary, so that a long chain of conditions does not make a deep tree. */
export interface And {
  readonly kind: 'and';
  readonly operands: readonly Expression[];
}

/** At least one operand holds. */
export interface Or {
  readonly kind: 'or';
  readonly operands: readonly Expression[];
}

export interface Not {
  readonly kind: 'not';
  readonly operand: Expression;
}

export type Operator =
  | '='
  | '!='
  | '<'
  | '>'
  | '<='
  | '>='
  | 'in'
  | 'not in'
  | 'contains'
  | 'not contains'
  | 'matches'
  | 'not matches';

/** `attribute operator value`; `values` has one element except after IN / NOT IN. */
export interface Comparison {
  readonly kind: 'comparison';
  /** Lowercased attribute path, such as `status` or `job.id`. */
  readonly attribute: string;
  /** `<>` is read as `!=`. */
  readonly operator: Operator;
  readonly values: readonly Value[];
}

/** A value as written: text (quotes and escapes removed) or the bare word `null`. */
export type Value = { readonly kind: 'text'; readonly text: string } | { readonly kind: 'null' };

/** A query: the entity type it asks for and an optional condition. */
export interface Query {
  /** Lowercased entity type, such as `transfer`. */
  readonly entityType: string;
  readonly where: Expression | null;
}

/** Where the parts of a comparison were written, as offsets in the query text. */
export interface ComparisonPositions {
  readonly attribute: number;
  readonly operator: number;
  readonly values: readonly number[];
}

// A hidden property rather than a WeakMap: WeakMap entries for short-lived nodes cost the garbage collector
// more than parsing does. Not enumerable, so it takes no part in comparing or serialising trees.
const POSITIONS = Symbol('positions');

export function setPositions(node: Comparison, at: ComparisonPositions): void {
  Object.defineProperty(node, POSITIONS, { value: at });
}

/** Where `node` was written, for trees that came from the parser; undefined for trees built by hand. */
export function positionOf(node: Comparison): ComparisonPositions | undefined {
  return (node as { [POSITIONS]?: ComparisonPositions })[POSITIONS];
}

/** Whether the operator is the negation of another one. */
export function isNegated(operator: Operator): boolean {
  return operator === '!=' || operator.startsWith('not ');
}

/** The positive form of a negated operator (`!=` -> `=`), or the operator itself. */
export function positive(operator: Operator): Operator {
  if (operator === '!=') return '=';
  return operator.startsWith('not ') ? (operator.slice(4) as Operator) : operator;
}
