import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { compileFilter, type PlainRecord, parse, QueryError, type Schema } from '../packages/query/src/index.js';

/**
 * Runs the examples of docs/query-language.md, so that the page says what the code does:
 * - `query-examples` blocks: `record: {json}` or `schema: {json}`, then `expression → true|false|error: message`;
 * - `query-error` blocks: a query, then exactly what QueryError.format() prints for it;
 * - `ts` blocks: programs with assertions, run as they are.
 */

const page = readFileSync(new URL('./query-language.md', import.meta.url), 'utf8');
const blocks = [...page.matchAll(/```([\w-]+)\n([\s\S]*?)```/g)].map(([, kind, body]) => ({
  kind: kind as string,
  body: body as string,
}));

// ISO text with a Z stands for a Date in the examples' JSON records.
const revive = (_: string, value: unknown) =>
  typeof value === 'string' && /^\d{4}-\d{2}-\d{2}T[\d:.]+Z$/.test(value) ? new Date(value) : value;

function thrown(run: () => unknown): unknown {
  try {
    run();
  } catch (error) {
    return error;
  }
  return undefined;
}

describe('docs/query-language.md', () => {
  it('has examples of each kind', () => {
    const kinds = blocks.map((b) => b.kind);
    expect(kinds.filter((k) => k === 'query-examples').length).toBeGreaterThan(8);
    expect(kinds.filter((k) => k === 'query-error').length).toBe(3);
    expect(kinds.filter((k) => k === 'ts').length).toBe(2);
  });

  const examples = blocks.filter((b) => b.kind === 'query-examples');
  it.each(examples.map((b, i) => [i + 1, b.body]))('query examples, block %i', (_, body) => {
    let record: PlainRecord = {};
    let schema: Schema | undefined;
    for (const line of body.split('\n').filter((l) => l.trim())) {
      if (line.startsWith('record:')) {
        record = JSON.parse(line.slice(7), revive);
        continue;
      }
      if (line.startsWith('schema:')) {
        schema = JSON.parse(line.slice(7));
        continue;
      }
      const [expression, expected] = line.split('→').map((s) => s.trim()) as [string, string];
      if (expected.startsWith('error: ')) {
        const error = thrown(() => compileFilter(expression, { schema })(record));
        expect(error, expression).toBeInstanceOf(QueryError);
        expect((error as QueryError).message).toBe(expected.slice(7));
      } else {
        expect(compileFilter(expression, { schema })(record), expression).toBe(expected === 'true');
      }
    }
  });

  it.each(blocks.filter((b) => b.kind === 'query-error').map((b) => [b.body.split('\n')[0], b.body]))(
    'caret for %s',
    (_, body) => {
      const [query, ...shown] = body.trimEnd().split('\n') as [string, ...string[]];
      const error = thrown(() => parse(query));
      expect(error).toBeInstanceOf(QueryError);
      expect((error as QueryError).format()).toBe(shown.join('\n'));
    },
  );

  const folder = new URL('./.examples/', import.meta.url);
  afterAll(() => rmSync(folder, { recursive: true, force: true }));
  it.each(blocks.filter((b) => b.kind === 'ts').map((b, i) => [i + 1, b.body]))(
    'TypeScript example %i runs',
    async (n, body) => {
      mkdirSync(folder, { recursive: true });
      const file = new URL(`example-${n}.ts`, folder);
      writeFileSync(file, body);
      await import(file.href);
    },
  );
});
