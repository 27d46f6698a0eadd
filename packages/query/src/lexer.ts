import { QueryError } from './errors.js';

/**
 * Tokens of the query language. A word is any run of characters that are not blanks, parentheses, commas or
 * comparison signs, so that bare values such as `lisa@example.com`, `share:5b0f...`, `-1.5` and `2024-01-01T10:00`
 * need no quotes; the parser decides whether a word is a keyword, a name or a value.
 */
export type Token =
  | { readonly kind: 'word'; readonly text: string; readonly position: number }
  | { readonly kind: 'string'; readonly text: string; readonly position: number }
  | { readonly kind: 'operator'; readonly text: string; readonly position: number }
  | { readonly kind: '(' | ')' | ',' | 'end'; readonly text: string; readonly position: number };

const OPERATORS = new Set(['=', '!=', '<>', '<', '>', '<=', '>=']);

/** What a person probably meant by an operator we don't have. */
const LIKELY: Readonly<Record<string, string>> = {
  '==': '=',
  '=<': '<=',
  '=>': '>=',
  '=!': '!=',
  '!': '!=',
  '><': '<>',
};

function isBlank(c: string): boolean {
  return c === ' ' || c === '\t' || c === '\n' || c === '\r' || c === '\f' || c === '\v';
}

function isSign(c: string): boolean {
  return c === '=' || c === '<' || c === '>';
}

function endsWord(text: string, i: number): boolean {
  const c = text[i] as string;
  return isBlank(c) || c === '(' || c === ')' || c === ',' || isSign(c) || (c === '!' && text[i + 1] === '=');
}

export function tokenize(text: string): Token[] {
  // No database keeps U+0000 in text (PostgreSQL refuses it outright), so no value can hold it: refused alike.
  const nul = text.indexOf('\u0000');
  if (nul !== -1) throw new QueryError('the character U+0000 (NUL) is not allowed in a query', nul);
  const tokens: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i] as string;
    if (isBlank(c)) {
      i++;
    } else if (c === '(' || c === ')' || c === ',') {
      tokens.push({ kind: c, text: c, position: i });
      i++;
    } else if (c === '"' || c === "'") {
      i = readString(text, i, tokens);
    } else if (isSign(c) || (c === '!' && text[i + 1] === '=')) {
      const start = i;
      while (i < text.length && (isSign(text[i] as string) || text[i] === '!')) i++;
      const op = text.slice(start, i);
      if (!OPERATORS.has(op)) {
        const hint = LIKELY[op] ? ` (did you mean '${LIKELY[op]}'?)` : '';
        throw new QueryError(`unknown operator '${op}'${hint}`, start);
      }
      tokens.push({ kind: 'operator', text: op, position: start });
    } else {
      const start = i;
      while (i < text.length && !endsWord(text, i)) i++;
      tokens.push({ kind: 'word', text: text.slice(start, i), position: start });
    }
  }
  tokens.push({ kind: 'end', text: '', position: text.length });
  return tokens;
}

/**
 * Reads a quoted string starting at `start`. `\"`, `\'` and `\\` stand for the character; any other backslash
 * pair stays as written, so that a regular expression such as "backup.*\.zip" means what it looks like.
 */
function readString(text: string, start: number, tokens: Token[]): number {
  const quote = text[start];
  let value = '';
  let i = start + 1;
  while (i < text.length) {
    const c = text[i] as string;
    if (c === quote) {
      tokens.push({ kind: 'string', text: value, position: start });
      return i + 1;
    }
    if (c === '\\' && i + 1 < text.length) {
      const next = text[i + 1] as string;
      value += next === '"' || next === "'" || next === '\\' ? next : c + next;
      i += 2;
    } else {
      value += c;
      i++;
    }
  }
  throw new QueryError(`unterminated string starting at ${start}`, start);
}
