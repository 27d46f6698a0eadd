export type { And, Comparison, ComparisonPositions, Expression, Not, Operator, Or, Query, Value } from './ast.js';
export { positionOf } from './ast.js';
export { bind, type Condition, type Leaf, type Test } from './bind.js';
export { QueryError } from './errors.js';
export { compileFilter, evaluate, type FilterOptions, lookup, type PlainRecord } from './evaluate.js';
export { LIMITS } from './limits.js';
export { parse, parseExpression } from './parser.js';
export { print } from './print.js';
export { compileRegex, type Regex, RegexError } from './regex.js';
export { type Attribute, type AttributeType, closeMatches, type Schema } from './schema.js';
export {
  compileWhere,
  type Dialect,
  postgres,
  registerSqliteFunctions,
  render,
  type SqlFragment,
  type SqliteFunctionHost,
  sqlite,
  Writer,
} from './sql.js';
export { fold } from './text.js';
export { type DateSpan, readDate } from './values.js';
