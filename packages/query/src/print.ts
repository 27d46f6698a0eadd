import type { Expression, Query, Value } from './ast.js';

/**
 * The canonical text of a query or expression: keywords in capitals, one space around operators, values bare
 * where that is unambiguous and double-quoted otherwise. `parse(print(q))` gives back `q`.
 */
export function print(node: Query | Expression): string {
  if ('entityType' in node) {
    return node.where ? `${node.entityType} WHERE ${printExpression(node.where)}` : node.entityType;
  }
  return printExpression(node);
}

function printExpression(node: Expression): string {
  switch (node.kind) {
    case 'and':
      // An `and` inside an `and` was parenthesised when it was written; keep it so, or the tree would flatten.
      return node.operands
        .map((o) => (o.kind === 'comparison' || o.kind === 'not' ? printExpression(o) : `(${printExpression(o)})`))
        .join(' AND ');
    case 'or':
      return node.operands.map((o) => (o.kind === 'or' ? `(${printExpression(o)})` : printExpression(o))).join(' OR ');
    case 'not':
      return node.operand.kind === 'and' || node.operand.kind === 'or'
        ? `NOT (${printExpression(node.operand)})`
        : `NOT ${printExpression(node.operand)}`;
    case 'comparison': {
      const operator = /^[a-z]/.test(node.operator) ? node.operator.toUpperCase() : node.operator;
      const values =
        node.operator === 'in' || node.operator === 'not in'
          ? `(${node.values.map(printValue).join(', ')})`
          : printValue(node.values[0] as Value);
      return `${node.attribute} ${operator} ${values}`;
    }
  }
}

const BARE = /^[\p{L}\p{N}_.@:*/+-]+$/u;

function printValue(value: Value): string {
  if (value.kind === 'null') return 'null';
  if (BARE.test(value.text) && value.text.toLowerCase() !== 'null') return value.text;
  return `"${value.text.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
}
