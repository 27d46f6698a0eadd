import { describe, expect, it } from 'vitest';
import { sql } from '../src/store/sql.js';

const numbered = (index: number) => `$${index}`;

describe('sql', () => {
  it('turns values into placeholders and splices nested SQL where it stands', () => {
    const inner = sql`status = ${'paused'} AND name = ${"x'; DROP TABLE jobs; --"}`;
    const query = sql`SELECT id FROM ${sql.id('jobs')} e WHERE e.workspace = ${'w1'} AND ${inner} LIMIT ${5}`;
    expect(query.text(numbered)).toBe(
      'SELECT id FROM "jobs" e WHERE e.workspace = $1 AND status = $2 AND name = $3 LIMIT $4',
    );
    expect(query.values).toEqual(['w1', 'paused', "x'; DROP TABLE jobs; --", 5]);
    expect(sql`a${sql.empty}b`.text(numbered)).toBe('ab');
  });

  it('joins values and fragments with a separator', () => {
    const list = sql`id IN (${sql.join(['a', 'b', 'c'])})`;
    expect(list.text(() => '?')).toBe('id IN (?, ?, ?)');
    expect(list.values).toEqual(['a', 'b', 'c']);
    const conditions = sql.join([sql`x = ${1}`, sql`y = ${2}`, sql.raw('1 = 1')], sql` AND `);
    expect(conditions.text(numbered)).toBe('x = $1 AND y = $2 AND 1 = 1');
    expect(() => sql.join([])).toThrow(/of nothing/);
  });

  it('quotes identifiers, and refuses anything else as one', () => {
    expect(sql.id('e.status').text(numbered)).toBe('"e"."status"');
    for (const bad of ['e."x"', 'jobs; DROP', '', 'a..b', 'Users'])
      expect(() => sql.id(bad)).toThrow(/not an identifier/);
  });
});
