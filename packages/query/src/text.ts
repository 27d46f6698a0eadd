/**
 * How text is compared. Every comparison is case-insensitive for all of Unicode: both sides are folded with the
 * full Unicode lowercase mapping (JavaScript's toLowerCase, which PostgreSQL reproduces as
 * `lower(x COLLATE "und-x-icu")` and Python's str.lower, with which the official client lowercases queries).
 */
export function fold(text: string): string {
  return text.toLowerCase();
}

/** Orders strings by code point, as SQLite's BINARY and PostgreSQL's "C" collations do (UTF-16 order is not). */
export function compareCodePoints(a: string, b: string): number {
  const length = Math.min(a.length, b.length);
  for (let i = 0; i < length; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    // Surrogates (D800-DFFF) encode code points above FFFF, so they sort after the rest of the BMP.
    const surrogateX = x >= 0xd800 && x <= 0xdfff;
    const surrogateY = y >= 0xd800 && y <= 0xdfff;
    if (surrogateX !== surrogateY) return surrogateX ? 1 : -1;
    return x - y;
  }
  return a.length - b.length;
}

/**
 * A value of `=` with an unescaped `*`: literal pieces between the stars. `\*` is a literal star and `\\` a
 * literal backslash; any other backslash is itself.
 */
export interface Wildcard {
  /** Literal pieces; the stars sit between them, so `a*b*` is `['a', 'b', '']`. */
  readonly pieces: readonly string[];
}

/** Reads `text` as a wildcard pattern, or as a plain value (`{ literal }`) when it has no unescaped star. */
export function readWildcard(text: string): Wildcard | { readonly literal: string } {
  const pieces: string[] = [];
  let piece = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i] as string;
    const next = text[i + 1];
    if (c === '\\' && (next === '*' || next === '\\')) {
      piece += next;
      i++;
    } else if (c === '*') {
      pieces.push(piece);
      piece = '';
    } else {
      piece += c;
    }
  }
  pieces.push(piece);
  return pieces.length === 1 ? { literal: piece } : { pieces };
}

/** Whether `text` matches the whole wildcard pattern (both already folded). */
export function matchesWildcard(text: string, { pieces }: Wildcard): boolean {
  const first = pieces[0] as string;
  const last = pieces[pieces.length - 1] as string;
  if (text.length < first.length + last.length || !text.startsWith(first) || !text.endsWith(last)) return false;
  // Greedy leftmost placement of the middle pieces is enough: stars absorb whatever lies between them.
  let at = first.length;
  const end = text.length - last.length;
  for (let i = 1; i < pieces.length - 1; i++) {
    const piece = pieces[i] as string;
    const found = text.indexOf(piece, at);
    if (found === -1 || found + piece.length > end) return false;
    at = found + piece.length;
  }
  return true;
}
