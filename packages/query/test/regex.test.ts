import { it } from 'vitest';
import { compileRegex } from '../src/regex.js';

it('smoke', () => {
  for (const p of [
    'BACKUP.*\\.ZIP',
    'a|',
    '()',
    '(?P<n>x)*',
    '[^]a\\d-]',
    '\\w+\\S',
    'İ+',
    '[[:upper:]\\s]',
    'a{,3}',
    'a{2,5}?',
    '😀{2}',
    '\\x{1F600}\\u00e9a\\cA',
    '^\\Aa$\\z',
    '',
  ]) {
    const r = compileRegex(p);
    console.log(JSON.stringify(p), '|', r.re2Source, '|', r.postgresSource);
  }
  for (const p of [
    '\\1',
    '(?=a)',
    '\\b',
    '(?i)a',
    '(?s:a)',
    '[\\D]',
    '[[:^alpha:]]',
    'a{256}',
    '^*',
    '[İ]',
    '[Z-a]',
    '\\0',
    '\\pL',
    '\\Q',
    '\ud800',
    '\\u41',
    '\\x{D800}',
    '\\Z',
  ]) {
    try {
      compileRegex(p);
      console.log('NO ERROR', p);
    } catch (e: any) {
      console.log(JSON.stringify(p), '->', e.name, e.message, e.index);
    }
  }
});
