import { describe, expect, it } from 'vitest';
import { type Expression, parse, parseExpression, positionOf, print, QueryError } from '../src/index.js';

/** The error a parse throws, for checking its message and position. */
function failure(run: () => unknown): QueryError {
  try {
    run();
  } catch (error) {
    if (error instanceof QueryError) return error;
    throw error;
  }
  throw new Error('expected a QueryError');
}

const cmp = (attribute: string, operator: string, ...texts: (string | null)[]) => ({
  kind: 'comparison',
  attribute,
  operator,
  values: texts.map((text) => (text === null ? { kind: 'null' } : { kind: 'text', text })),
});

describe('the examples of the page our users read', () => {
  it('reads an entity type alone', () => {
    expect(parse('User')).toEqual({ entityType: 'user', where: null });
    expect(parse('transfer')).toEqual({ entityType: 'transfer', where: null });
  });

  it('reads a lookup by id', () => {
    expect(parse('Transfer WHERE id=614d660de50d45bb027c9bdd')).toEqual({
      entityType: 'transfer',
      where: cmp('id', '=', '614d660de50d45bb027c9bdd'),
    });
  });

  it('reads the nested example with AND binding tighter than OR', () => {
    const query = parse(
      'transfer WHERE ((user=lisa@example.com AND destination=hq) OR status<>failed) AND code="* backup"',
    );
    expect(query.where).toEqual({
      kind: 'and',
      operands: [
        {
          kind: 'or',
          operands: [
            { kind: 'and', operands: [cmp('user', '=', 'lisa@example.com'), cmp('destination', '=', 'hq')] },
            cmp('status', '!=', 'failed'),
          ],
        },
        cmp('code', '=', '* backup'),
      ],
    });
  });

  it('reads CONTAINS and MATCHES with the regex as written', () => {
    expect(parse('Transfer WHERE name CONTAINS "backup"').where).toEqual(cmp('name', 'contains', 'backup'));
    expect(parse('Transfer WHERE name matches "backup.*\\.zip"').where).toEqual(
      cmp('name', 'matches', 'backup.*\\.zip'),
    );
  });

  it('reads the queries the official client and its tests send', () => {
    expect(parseExpression('roles contains storage')).toEqual(cmp('roles', 'contains', 'storage'));
    expect(parseExpression("code='x@y.com'")).toEqual(cmp('code', '=', 'x@y.com'));
    expect(parseExpression('user=5b0f and type in 0,2')).toEqual({
      kind: 'and',
      operands: [cmp('user', '=', '5b0f'), cmp('type', 'in', '0', '2')],
    });
    expect(parseExpression('acl WHERE target=share:6676aa')).toEqual(cmp('target', '=', 'share:6676aa'));
    expect(parseExpression('task WHERE job.id=614d660de50d45bb027c9bdd')).toEqual(
      cmp('job.id', '=', '614d660de50d45bb027c9bdd'),
    );
    expect(parseExpression('user=U1 AND code=Host AND (type=1 OR type=2)')).toEqual({
      kind: 'and',
      operands: [
        cmp('user', '=', 'U1'),
        cmp('code', '=', 'Host'),
        { kind: 'or', operands: [cmp('type', '=', '1'), cmp('type', '=', '2')] },
      ],
    });
  });
});

describe('the grammar', () => {
  it('is case-insensitive for keywords, entity types and attributes, and keeps the case of values', () => {
    expect(parse('TRANSFER where Status = Done or NAME Not Contains X')).toEqual(
      parse('transfer WHERE status = Done OR name NOT CONTAINS X'),
    );
    expect(parseExpression('Status=Done')).toEqual(cmp('status', '=', 'Done'));
  });

  it('reads every operator, <> as !=', () => {
    const operators = [
      '=',
      '!=',
      '<',
      '>',
      '<=',
      '>=',
      'in',
      'not in',
      'contains',
      'not contains',
      'matches',
      'not matches',
    ];
    for (const operator of operators) {
      expect(parseExpression(`a ${operator} b`)).toEqual(cmp('a', operator, 'b'));
    }
    expect(parseExpression('a<>b')).toEqual(cmp('a', '!=', 'b'));
  });

  it('reads quoted values with escapes, keeping other backslashes as written', () => {
    expect(parseExpression(`name="say \\"hi\\""`)).toEqual(cmp('name', '=', 'say "hi"'));
    expect(parseExpression(`name='it\\'s'`)).toEqual(cmp('name', '=', "it's"));
    expect(parseExpression(`name="a\\\\b"`)).toEqual(cmp('name', '=', 'a\\b'));
    expect(parseExpression(`name="C:\\dir\\*"`)).toEqual(cmp('name', '=', 'C:\\dir\\*'));
    expect(parseExpression(`name='two words' and x="it's"`)).toEqual({
      kind: 'and',
      operands: [cmp('name', '=', 'two words'), cmp('x', '=', "it's")],
    });
  });

  it('takes bare values up to a blank, a parenthesis, a comma or a comparison sign', () => {
    expect(parseExpression('created>=2024-05-01T10:30:00')).toEqual(cmp('created', '>=', '2024-05-01T10:30:00'));
    expect(parseExpression("name=o'brien")).toEqual(cmp('name', '=', "o'brien"));
    expect(parseExpression('size>-1.5e3')).toEqual(cmp('size', '>', '-1.5e3'));
    expect(parseExpression('(a=1)')).toEqual(cmp('a', '=', '1'));
  });

  it('reads lists after IN: bare, parenthesised, or one quoted string split at its commas', () => {
    const expected = cmp('type', 'in', '0', '2', 'x y');
    expect(parseExpression('type in 0, 2, "x y"')).toEqual(expected);
    expect(parseExpression('type IN (0,2,"x y")')).toEqual(expected);
    expect(parseExpression('type in "0, 2,x y"')).toEqual(expected);
    expect(parseExpression('type not in ("a,b", null)')).toEqual(cmp('type', 'not in', 'a,b', null));
  });

  it('reads null as the absence of a value, and "null" as text', () => {
    expect(parseExpression('code = NULL')).toEqual(cmp('code', '=', null));
    expect(parseExpression('code != "null"')).toEqual(cmp('code', '!=', 'null'));
  });

  it('reads NOT before a condition or a group, and as an attribute name before an operator', () => {
    expect(parseExpression('NOT a=1 AND b=2')).toEqual({
      kind: 'and',
      operands: [{ kind: 'not', operand: cmp('a', '=', '1') }, cmp('b', '=', '2')],
    });
    expect(parseExpression('not (a=1 or b=2)')).toEqual({
      kind: 'not',
      operand: { kind: 'or', operands: [cmp('a', '=', '1'), cmp('b', '=', '2')] },
    });
    expect(parseExpression('not=1')).toEqual(cmp('not', '=', '1'));
  });

  it('keeps the grouping that was written', () => {
    expect(parseExpression('(a=1 AND b=2) AND c=3')).toEqual({
      kind: 'and',
      operands: [{ kind: 'and', operands: [cmp('a', '=', '1'), cmp('b', '=', '2')] }, cmp('c', '=', '3')],
    });
  });

  it('remembers where each part was written', () => {
    const comparison = parseExpression('status = "done"') as Expression & { kind: 'comparison' };
    expect(positionOf(comparison)).toEqual({ attribute: 0, operator: 7, values: [9] });
  });
});

describe('errors name the problem and where it is', () => {
  const cases: [string, string, number][] = [
    ['Transfer WHERE status=done AND', 'expected a condition after AND, found the end of the query', 30],
    ['Transfer WHERE status', "expected an operator after 'status', found the end of the query", 21],
    ['Transfer WHERE status done', "expected an operator after 'status', found 'done'", 22],
    ['Transfer WHERE name="backup', 'unterminated string starting at 20', 20],
    ['Transfer WHERE status==done', "unknown operator '==' (did you mean '='?)", 21],
    ['Transfer WHERE size=<5', "unknown operator '=<' (did you mean '<='?)", 19],
    ['Transfer WHERE', 'expected a condition after WHERE', 14],
    ['Transfer status=done', "expected WHERE after 'transfer', found 'status'", 9],
    ['Transfer WHERE (a=1', "expected ')' to close the '(' at 15, found the end of the query", 19],
    ['Transfer WHERE a=1)', "unexpected ')' without a matching '('", 18],
    ['Transfer WHERE a=1 b=2', "expected AND or OR, found 'b'", 19],
    ['Transfer WHERE a=', "expected a value after '=', found the end of the query", 17],
    ['Transfer WHERE a=1,2', "a list of values needs IN, as in 'a IN (x, y)'", 18],
    ['Transfer WHERE a in ()', "expected a value after '(', found ')'", 21],
    ['Transfer WHERE a in (1 2)', "expected ',' or ')' in the list opened at 20, found '2'", 23],
    ['Transfer WHERE a in ""', 'empty value in the list ""', 20],
    ['Transfer WHERE a < null', 'null can only be compared with = or !=, not <', 19],
    ['Transfer WHERE a not like b', "expected IN, CONTAINS or MATCHES after NOT, found 'like'", 21],
    ['Transfer WHERE 9lives=1', "'9lives' is not an attribute name: expected letters, digits, '_' and '.'", 15],
    ['Transfer WHERE a=1 AND OR b=2', "expected a condition after AND, found 'OR'", 23],
    ['"Transfer"', 'expected an entity type, found "Transfer"', 0],
    ['', 'expected an entity type, found the end of the query', 0],
    ['Transfer WHERE name matches "(a"', 'invalid regular expression "(a": missing ): (a', 28],
  ];

  it.each(cases)('%s', (query, message, position) => {
    const error = failure(() => parse(query));
    expect(error.message).toBe(message);
    expect(error.position).toBe(position);
    expect(error.query).toBe(query);
  });

  it('prints the query with a caret under the culprit', () => {
    expect(failure(() => parse('Transfer WHERE status=done AND')).format()).toBe(
      'Transfer WHERE status=done AND\n                              ^ expected a condition after AND, found the end of the query',
    );
    expect(failure(() => parseExpression('a = 1 AND\n  b == 2')).format()).toBe(
      "  b == 2\n    ^ unknown operator '==' (did you mean '='?)",
    );
  });

  it('refuses a hostile nesting depth with an error, not a crash', () => {
    const deep = `${'('.repeat(100_000)}a=1${')'.repeat(100_000)}`;
    expect(failure(() => parseExpression(deep)).message).toBe('the query nests deeper than 64 levels');
    expect(failure(() => parseExpression(`${'NOT '.repeat(100_000)}a=1`)).message).toBe(
      'the query nests deeper than 64 levels',
    );
    expect(parseExpression(`${'('.repeat(64)}a=1${')'.repeat(64)}`)).toEqual(cmp('a', '=', '1'));
  });

  it('refuses more conditions or values than the limits', () => {
    const conditions = Array.from({ length: 257 }, (_, i) => `a=${i}`).join(' OR ');
    expect(failure(() => parseExpression(conditions)).message).toBe('the query has more than 256 conditions');
    const values = `a in (${Array.from({ length: 10_001 }, (_, i) => i).join(',')})`;
    expect(failure(() => parseExpression(values)).message).toBe('the query has more than 10000 values');
  });
});

describe('print', () => {
  it('writes the canonical text', () => {
    expect(
      print(parse('transfer where ((user=lisa@example.com and destination=hq) or status<>failed) and code="* backup"')),
    ).toBe('transfer WHERE (user = lisa@example.com AND destination = hq OR status != failed) AND code = "* backup"');
    expect(print(parseExpression('not (a in 1,2) and b not matches "x\\\\d"'))).toBe(
      'NOT a IN (1, 2) AND b NOT MATCHES "x\\\\d"',
    );
    expect(print(parseExpression('a=null or a="null" or a=""'))).toBe('a = null OR a = "null" OR a = ""');
  });

  it('gives back the same tree when its text is parsed', () => {
    const texts = [
      '(a=1 AND b=2) AND c=3',
      '(a=1 OR b=2) OR c=3',
      'NOT NOT a=1',
      'not=1 and not not=2',
      'name="it\'s \\"quoted\\" \\\\ and \\d"',
      'x in ("a,b", null, \'c d\')',
    ];
    for (const text of texts) {
      const tree = parseExpression(text);
      expect(parseExpression(print(tree))).toEqual(tree);
    }
  });
});
