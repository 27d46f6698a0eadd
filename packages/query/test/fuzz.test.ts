import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  compileFilter,
  compileWhere,
  parse,
  parseExpression,
  postgres,
  print,
  QueryError,
  sqlite,
} from '../src/index.js';
import { schema } from './support/transfers.js';

/**
 * Whatever text arrives, the parser answers with a tree or a QueryError that points inside the text, and never
 * hangs or throws anything else. Runs 100,000 inputs in CI: half mutations of real queries, half random text.
 */

const TOTAL = process.env.CI ? 100_000 : 20_000;

const CORPUS = [
  'transfer WHERE ((user=lisa@example.com AND destination=hq) OR status<>failed) AND code="* backup"',
  'Transfer WHERE name matches "backup.*\\.zip"',
  "user WHERE code='x@y.com' and type in (0,2) or not roles contains storage",
  'task WHERE job.id=614d660de50d45bb027c9bdd AND created >= "2024-05-01 10:30"',
  'acl WHERE target=share:6676aa AND size not in "1, 2,3" AND x != null',
];
const PIECES = [
  '(',
  ')',
  '"',
  "'",
  '\\',
  ',',
  '=',
  '<',
  '>',
  '!',
  ' ',
  '*',
  'AND',
  'OR',
  'NOT',
  'IN',
  'WHERE',
  'null',
  '[',
  '{',
  '😀',
  '\n',
  '\0',
];

/** Applies a few random insertions, deletions and replacements to a query of the corpus. */
const mutated = fc
  .tuple(
    fc.constantFrom(...CORPUS),
    fc.array(fc.tuple(fc.nat(), fc.nat(2), fc.constantFrom(...PIECES), fc.nat(3)), { minLength: 1, maxLength: 6 }),
  )
  .map(([query, edits]) =>
    edits.reduce((text, [at, kind, piece, length]) => {
      const i = at % (text.length + 1);
      if (kind === 0) return text.slice(0, i) + piece + text.slice(i);
      if (kind === 1) return text.slice(0, i) + text.slice(i + length + 1);
      return text.slice(0, i) + piece + text.slice(i + length + 1);
    }, query),
  );

const random = fc.oneof(
  fc.string({ unit: fc.constantFrom(...PIECES, 'a', 'b', '1', '.', '-', ':'), maxLength: 60 }),
  fc.string({ unit: 'grapheme', maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 40 }),
);

function check(text: string): void {
  for (const read of [parse, parseExpression]) {
    let tree: ReturnType<typeof read>;
    try {
      tree = read(text);
    } catch (error) {
      if (!(error instanceof QueryError)) throw error;
      expect(error.position).toBeGreaterThanOrEqual(0);
      expect(error.position).toBeLessThanOrEqual(text.length);
      expect(error.query).toBe(text);
      continue;
    }
    // What parses prints to text that parses back to the same tree.
    expect(read(print(tree))).toEqual(tree);
  }
  // Compilation against a schema and evaluation fail only with QueryError too.
  for (const use of [
    () => compileWhere(text, schema, sqlite),
    () => compileWhere(text, schema, postgres),
    () => compileFilter(text)({ code: 'a', size: 1, created: new Date(0) }),
  ]) {
    try {
      use();
    } catch (error) {
      if (!(error instanceof QueryError)) throw error;
    }
  }
}

describe('fuzzing the parser', () => {
  it(`sees nothing but trees and QueryErrors for ${TOTAL / 2} mutated queries`, () => {
    fc.assert(
      fc.property(mutated, (text) => check(text)),
      { numRuns: TOTAL / 2, seed: 1 },
    );
  });

  it(`sees nothing but trees and QueryErrors for ${TOTAL / 2} random strings`, () => {
    fc.assert(
      fc.property(random, (text) => check(text)),
      { numRuns: TOTAL / 2, seed: 2 },
    );
  });

  it('answers quickly on huge and pathological input', () => {
    for (const text of [
      `a=${'x'.repeat(1_000_000)}`,
      `a="${'\\"'.repeat(200_000)}`,
      '('.repeat(1_000_000),
      `a in (${'1,'.repeat(200_000)}1)`,
      'NOT '.repeat(200_000),
      `a matches "${'(a*)*'.repeat(1_000)}"`,
    ]) {
      check(text);
    }
  });
});
