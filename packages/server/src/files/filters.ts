import RE2 from 're2';
import { badRequest } from '../http/errors.js';

/**
 * The `include` and `exclude` filters of `ls` and `getsize` (reference §3.9), on file names:
 *
 * - `word`: the name, exactly;
 * - `*word`, `word*`, `*word*`, `start*end`: `*` stands for any run of characters;
 * - `re('pattern')`: a regular expression found anywhere in the name (RE2: linear time, whatever the pattern);
 * - `re('pattern','I')`: the same, case-sensitive, as accsyn documents it.
 *
 * Everything else compares without regard to case. A filter is one such text or a list of them (any may match).
 */
export type NameTest = (name: string) => boolean;

const REGEX = /^re\(\s*'((?:[^'\\]|\\.)*)'\s*(?:,\s*'([A-Za-z]*)'\s*)?\)$/s;

export function nameFilter(value: unknown, what: string): NameTest | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  const texts = Array.isArray(value) ? value : [value];
  if (texts.length === 0) return undefined;
  const tests = texts.map((text, i) => {
    if (typeof text !== 'string' || text === '') {
      throw badRequest(`${what}${Array.isArray(value) ? `[${i}]` : ''} must be a non-empty text such as "*.exr".`);
    }
    return compile(text, what);
  });
  return (name) => tests.some((test) => test.test(name));
}

function compile(text: string, what: string): RE2 {
  const regex = REGEX.exec(text);
  if (regex) {
    const [, pattern = '', flags = ''] = regex;
    if (flags !== '' && flags !== 'I') throw badRequest(`${what}: ${text} has flags '${flags}'; the only flag is 'I'.`);
    try {
      return new RE2(pattern, flags === 'I' ? 'u' : 'iu');
    } catch (error) {
      throw badRequest(`${what}: ${text} is not a regular expression RE2 takes: ${(error as Error).message}.`);
    }
  }
  if (text.startsWith('re(')) throw badRequest(`${what}: ${text} should read re('pattern') or re('pattern','I').`);
  const wildcard = text
    .split('*')
    .map((part) => part.replace(/[\\^$.|?+()[\]{}]/g, '\\$&'))
    .join('.*');
  return new RE2(`^${wildcard}$`, 'isu');
}

/**
 * Whether an entry is kept: a name that `include` matches always is (include wins over exclude); else one that
 * `exclude` matches is not; else a directory is (it may hold what is included), and a file when no include is given.
 */
export function kept(name: string, directory: boolean, include?: NameTest, exclude?: NameTest): boolean {
  if (include?.(name)) return true;
  if (exclude?.(name)) return false;
  return directory || include === undefined;
}
