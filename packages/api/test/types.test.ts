import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

describe('the entity types', () => {
  it('type a query by its entity type, and refuse mistakes', () => {
    const project = new URL('./types/tsconfig.json', import.meta.url).pathname;
    const tsc = new URL('../../../node_modules/.bin/tsc', import.meta.url).pathname;
    let output = '';
    try {
      execFileSync(tsc, ['-p', project], { encoding: 'utf8', stdio: 'pipe' });
    } catch (error) {
      output = `${(error as { stdout?: string }).stdout ?? ''}${(error as { stderr?: string }).stderr ?? ''}`;
    }
    expect(output).toBe('');
  });
});
