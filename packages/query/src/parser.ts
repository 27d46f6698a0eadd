import { type Comparison, type Expression, type Operator, type Query, setPositions, type Value } from './ast.js';
import { inQuery, QueryError } from './errors.js';
import { type Token, tokenize } from './lexer.js';
import { LIMITS } from './limits.js';
import { compileRegex, RegexError } from './regex.js';

/**
 * Recursive descent over the grammar of docs/query-language.md, one method per rule. Keywords, entity types
 * and attribute names are case-insensitive; values keep their case (comparisons fold it later).
 */

/** Parses a whole query, `<entitytype> [WHERE <expression>]`. */
export function parse(text: string): Query {
  return inQuery(text, () => new Parser(text).query());
}

/**
 * Parses the condition after WHERE, as the protocol's `query` field carries it. A leading `<entitytype> WHERE`
 * is accepted too, because the official client sometimes sends it (`acl WHERE target=share:...`).
 */
export function parseExpression(text: string): Expression {
  return inQuery(text, () => new Parser(text).expression());
}

const NAME = /^[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)*$/i;
const COMPARISON_KEYWORDS = new Set(['in', 'contains', 'matches']);

class Parser {
  readonly #tokens: Token[];
  #next = 0;
  #depth = 0;
  #conditions = 0;
  #values = 0;

  constructor(text: string) {
    this.#tokens = tokenize(text);
  }

  // query := entitytype [ WHERE expression ]
  query(): Query {
    const type = this.#entityType();
    if (this.#peek().kind === 'end') return { entityType: type, where: null };
    if (!this.#isKeyword(this.#peek(), 'where')) {
      throw this.#error(`expected WHERE after '${type}', found ${describe(this.#peek())}`, this.#peek());
    }
    this.#advance();
    if (this.#peek().kind === 'end') throw this.#error('expected a condition after WHERE', this.#peek());
    return { entityType: type, where: this.#whole(() => this.#or()) };
  }

  // expression := [ entitytype WHERE ] or
  expression(): Expression {
    if (this.#peek().kind === 'end') throw this.#error('expected a condition', this.#peek());
    if (this.#isKeyword(this.#peek(1), 'where')) {
      this.#entityType();
      this.#advance();
      if (this.#peek().kind === 'end') throw this.#error('expected a condition after WHERE', this.#peek());
    }
    return this.#whole(() => this.#or());
  }

  #whole(rule: () => Expression): Expression {
    const expression = rule();
    const rest = this.#peek();
    if (rest.kind === ')') throw this.#error("unexpected ')' without a matching '('", rest);
    if (rest.kind !== 'end') throw this.#error(`expected AND or OR, found ${describe(rest)}`, rest);
    return expression;
  }

  #entityType(): string {
    const token = this.#peek();
    if (token.kind !== 'word' || !NAME.test(token.text) || token.text.includes('.')) {
      throw this.#error(`expected an entity type, found ${describe(token)}`, token);
    }
    this.#advance();
    return token.text.toLowerCase();
  }

  // or := and { OR and }
  #or(): Expression {
    const operands = [this.#and()];
    while (this.#isKeyword(this.#peek(), 'or')) {
      const or = this.#advance();
      operands.push(this.#and(or));
    }
    return operands.length === 1 ? (operands[0] as Expression) : { kind: 'or', operands };
  }

  // and := not { AND not }
  #and(after?: Token): Expression {
    const operands = [this.#not(after)];
    while (this.#isKeyword(this.#peek(), 'and')) {
      const and = this.#advance();
      operands.push(this.#not(and));
    }
    return operands.length === 1 ? (operands[0] as Expression) : { kind: 'and', operands };
  }

  // not := NOT not | '(' or ')' | comparison
  #not(after?: Token): Expression {
    const token = this.#peek();
    if (this.#isKeyword(token, 'not') && !this.#startsComparison(token)) {
      this.#advance();
      return this.#nested(token, () => ({ kind: 'not', operand: this.#not(token) }));
    }
    if (token.kind === '(') {
      this.#advance();
      return this.#nested(token, () => {
        const inner = this.#or();
        const close = this.#peek();
        if (close.kind !== ')') {
          throw this.#error(`expected ')' to close the '(' at ${token.position}, found ${describe(close)}`, close);
        }
        this.#advance();
        return inner;
      });
    }
    return this.#comparison(after);
  }

  #nested(token: Token, rule: () => Expression): Expression {
    if (++this.#depth > LIMITS.depth) {
      throw this.#error(`the query nests deeper than ${LIMITS.depth} levels`, token);
    }
    const expression = rule();
    this.#depth--;
    return expression;
  }

  /** `not` is also a fine attribute name: `not = 1` compares it rather than negating. */
  #startsComparison(token: Token): boolean {
    const next = this.#peek(1);
    return token.kind === 'word' && next.kind === 'operator';
  }

  // comparison := attribute operator value
  #comparison(after?: Token): Comparison {
    const name = this.#peek();
    if (name.kind !== 'word' || this.#isKeyword(name, 'and') || this.#isKeyword(name, 'or')) {
      const where = after ? ` after ${after.text.toUpperCase()}` : '';
      throw this.#error(`expected a condition${where}, found ${describe(name)}`, name);
    }
    if (!NAME.test(name.text)) {
      throw this.#error(`'${name.text}' is not an attribute name: expected letters, digits, '_' and '.'`, name);
    }
    this.#advance();
    if (++this.#conditions > LIMITS.conditions) {
      throw this.#error(`the query has more than ${LIMITS.conditions} conditions`, name);
    }
    const attribute = name.text.toLowerCase();
    const operatorToken = this.#peek();
    const operator = this.#operator(name);
    const values: Value[] = [];
    const valuePositions: number[] = [];
    if (operator === 'in' || operator === 'not in') {
      this.#list(operatorToken, values, valuePositions);
    } else {
      const token = this.#valueToken(operatorToken);
      const value = readValue(token);
      if (value.kind === 'null' && operator !== '=' && operator !== '!=') {
        throw this.#error(`null can only be compared with = or !=, not ${operator.toUpperCase()}`, token);
      }
      if (this.#peek().kind === ',') {
        throw this.#error(`a list of values needs IN, as in '${attribute} IN (x, y)'`, this.#peek());
      }
      values.push(value);
      valuePositions.push(token.position);
    }
    if (operator === 'matches' || operator === 'not matches') {
      checkPattern(values[0], valuePositions[0] as number);
    }
    this.#values += values.length;
    if (this.#values > LIMITS.values) {
      throw this.#error(`the query has more than ${LIMITS.values} values`, name);
    }
    const comparison: Comparison = { kind: 'comparison', attribute, operator, values };
    setPositions(comparison, { attribute: name.position, operator: operatorToken.position, values: valuePositions });
    return comparison;
  }

  // operator := = | != | <> | < | > | <= | >= | [NOT] IN | [NOT] CONTAINS | [NOT] MATCHES
  #operator(name: Token): Operator {
    const token = this.#peek();
    if (token.kind === 'operator') {
      this.#advance();
      return token.text === '<>' ? '!=' : (token.text as Operator);
    }
    const word = token.kind === 'word' ? token.text.toLowerCase() : '';
    if (COMPARISON_KEYWORDS.has(word)) {
      this.#advance();
      return word as Operator;
    }
    if (word === 'not') {
      const next = this.#peek(1);
      const second = next.kind === 'word' ? next.text.toLowerCase() : '';
      if (COMPARISON_KEYWORDS.has(second)) {
        this.#advance();
        this.#advance();
        return `not ${second}` as Operator;
      }
      throw this.#error(`expected IN, CONTAINS or MATCHES after NOT, found ${describe(next)}`, next);
    }
    throw this.#error(`expected an operator after '${name.text}', found ${describe(token)}`, token);
  }

  #valueToken(operator: Token): Token {
    const token = this.#peek();
    if (token.kind !== 'word' && token.kind !== 'string') {
      throw this.#error(`expected a value after '${operator.text}', found ${describe(token)}`, token);
    }
    this.#advance();
    return token;
  }

  // list := value { ',' value } | '(' value { ',' value } ')'; a single quoted "a,b" is split at its commas
  #list(operator: Token, values: Value[], positions: number[]): void {
    const open = this.#peek();
    const parenthesised = open.kind === '(';
    if (parenthesised) this.#advance();
    const first = this.#valueToken(parenthesised ? open : operator);
    if (!parenthesised && first.kind === 'string' && this.#peek().kind !== ',') {
      for (const item of first.text.split(',')) {
        const text = item.trim();
        if (text === '') throw this.#error(`empty value in the list "${first.text}"`, first);
        values.push({ kind: 'text', text });
        positions.push(first.position);
      }
      return;
    }
    values.push(readValue(first));
    positions.push(first.position);
    while (this.#peek().kind === ',') {
      const comma = this.#advance();
      const item = this.#valueToken(comma);
      values.push(readValue(item));
      positions.push(item.position);
    }
    if (parenthesised) {
      const close = this.#peek();
      if (close.kind !== ')') {
        throw this.#error(
          `expected ',' or ')' in the list opened at ${open.position}, found ${describe(close)}`,
          close,
        );
      }
      this.#advance();
    }
  }

  #peek(ahead = 0): Token {
    const tokens = this.#tokens;
    return tokens[Math.min(this.#next + ahead, tokens.length - 1)] as Token;
  }

  #advance(): Token {
    const token = this.#peek();
    if (token.kind !== 'end') this.#next++;
    return token;
  }

  #isKeyword(token: Token, keyword: string): boolean {
    return token.kind === 'word' && token.text.length === keyword.length && token.text.toLowerCase() === keyword;
  }

  /** An error at `token`; at the end of the text, the caret goes just after it, where input is missing. */
  #error(message: string, token: Token): QueryError {
    return new QueryError(message, token.position);
  }
}

function readValue(token: Token): Value {
  if (token.kind === 'word' && token.text.toLowerCase() === 'null') return { kind: 'null' };
  return { kind: 'text', text: token.text };
}

function checkPattern(value: Value | undefined, position: number): void {
  if (value?.kind !== 'text') return;
  try {
    compileRegex(value.text);
  } catch (error) {
    if (!(error instanceof RegexError)) throw error;
    throw new QueryError(`invalid regular expression "${value.text}": ${error.message}`, position);
  }
}

function describe(token: Token): string {
  switch (token.kind) {
    case 'end':
      return 'the end of the query';
    case 'string':
      return `"${token.text}"`;
    default:
      return `'${token.text}'`;
  }
}
