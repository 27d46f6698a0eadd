/**
 * Regular expressions for MATCHES. One query must give the same answer in memory and in SQLite (both RE2) and in
 * PostgreSQL (Henry Spencer's ARE, a different flavour). So we accept a portable subset of RE2's syntax, parse it
 * ourselves into a small tree and write that tree out twice, once for each engine, both meaning the same thing.
 *
 * Matching is case-insensitive by folding: the text is lowercased with `String.prototype.toLowerCase()` (PostgreSQL:
 * `lower(x COLLATE "und-x-icu")`) before the match, so that both engines can then match case-sensitively. The
 * pattern is folded to suit: a literal character matches its own lowercase, and a bracket expression matches a
 * folded character t when t is the lowercase of some member of the class, taken alone, i.e. when the class holds
 * t or a character that lowercases to t. So `[A-Z]` and `[a-z]` both match a letter in either case, `[A-z]` still
 * holds `_`, and `[^A-Z]` matches no letter from a to z. `\d`, `\w`, `\s` and POSIX classes keep RE2's ASCII
 * meanings as their members, and `\b` and `\B` RE2's ASCII word characters.
 *
 * PostgreSQL compiles some small patterns very slowly (long chains of optional parts, multiplied by repetitions;
 * assertions that offer alternatives with no character between them), so such patterns are refused, see MAX_SIZE
 * and MAX_EMPTY_PATHS.
 */
import RE2 from 're2';

export class RegexError extends Error {
  override readonly name = 'RegexError';

  constructor(
    message: string,
    /** Offset (in UTF-16 code units) of the culprit in the pattern. */
    readonly index: number,
  ) {
    super(message);
  }
}

export interface Regex {
  /** The pattern as written. */
  readonly source: string;
  /** Folded, in RE2 syntax; used in memory and by SQLite's REGEXP function. */
  readonly re2Source: string;
  /**
   * Folded, in PostgreSQL ARE syntax; used as `folded_text COLLATE "C" ~ $1`. The collation matters to word
   * boundaries only: `\y` and `\Y` take their word characters from it, and "C" has RE2's, where ICU and most
   * locales count é as one.
   */
  readonly postgresSource: string;
  /** Whether re2Source matches anywhere in `foldedText`, which must already be folded. */
  test(foldedText: string): boolean;
}

/** Compiles `pattern`, or throws a RegexError saying what is wrong or unsupported, and where. */
export function compileRegex(pattern: string): Regex {
  const cached = cache.get(pattern);
  if (cached !== undefined) {
    // Re-inserting moves the entry to the back of the Map's order, so the front is always the least recently used.
    cache.delete(pattern);
    cache.set(pattern, cached);
    return cached;
  }
  const regex = build(pattern);
  cache.set(pattern, regex);
  if (cache.size > CACHE_SIZE) {
    const oldest = cache.keys().next();
    if (!oldest.done) cache.delete(oldest.value);
  }
  return regex;
}

// The same pattern is compiled once per query and, in SQLite's REGEXP function, looked up once per row.
const CACHE_SIZE = 500;
const cache = new Map<string, Regex>();

/** PostgreSQL rejects repetition counts above 255 (RE_DUP_MAX); RE2 would allow 1000. */
const MAX_REPEAT = 255;

class CompiledRegex implements Regex {
  readonly #engine: RE2;

  constructor(
    readonly source: string,
    readonly re2Source: string,
    readonly postgresSource: string,
  ) {
    this.#engine = new RE2(re2Source, 'u');
  }

  test(foldedText: string): boolean {
    return this.#engine.test(foldedText);
  }
}

function build(pattern: string): Regex {
  checkSurrogates(pattern);
  // RE2 has the final word on what is valid RE2, with its own messages; our parser then only meets valid input.
  try {
    new RE2(pattern, 'u');
  } catch (error) {
    throw fromRe2Error(pattern, error);
  }
  const tree = new Parser(pattern).parse();
  if (sizeOf(tree) > MAX_SIZE) {
    throw new RegexError(`the pattern is too complex: repetitions multiply to more than ${MAX_SIZE}`, 0);
  }
  if (emptyPaths(tree).within > MAX_EMPTY_PATHS) {
    throw new RegexError(
      'the pattern is too complex: its anchors and word boundaries, with no character between them, ' +
        `combine in more than ${MAX_EMPTY_PATHS} ways`,
      0,
    );
  }
  return new CompiledRegex(pattern, renderRe2(tree), render(tree, ARE_SYNTAX));
}

/** The re2 package silently turns an unpaired surrogate into U+FFFD; say so instead. */
function checkSurrogates(pattern: string): void {
  for (let i = 0; i < pattern.length; i++) {
    const unit = pattern.charCodeAt(i);
    if (unit < 0xd800 || unit > 0xdfff) continue;
    const next = pattern.charCodeAt(i + 1);
    if (unit <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
      i++;
      continue;
    }
    throw new RegexError(`unpaired surrogate ${showCodePoint(unit)} is not a character`, i);
  }
}

function fromRe2Error(pattern: string, error: unknown): RegexError {
  const message = error instanceof Error ? error.message : String(error);
  if (/^invalid escape sequence: \\[bB]$/.test(message)) {
    // RE2 takes \b and \B outside brackets only, so this one is inside; indexOf could find a word boundary before
    // it. Our parser reads brackets as RE2 does, up to this first error: it finds the culprit and says what to write.
    try {
      new Parser(pattern).parse();
    } catch (ours) {
      if (ours instanceof RegexError) return ours;
      throw ours;
    }
  }
  // RE2's messages read "<what>: <the offending text>"; find that text to point at it.
  const colon = message.indexOf(': ');
  const culprit = colon === -1 ? '' : message.slice(colon + 2);
  let index = culprit === '' ? -1 : pattern.indexOf(culprit);
  if (message === 'trailing \\') index = pattern.length - 1;
  let hint = '';
  if (/^invalid escape sequence: \\[1-9]$/.test(message)) hint = ' (backreferences are not supported)';
  else if (/^invalid perl operator: \(\?<?[=!]$/.test(message)) hint = ' (look-around assertions are not supported)';
  else if (message === 'invalid escape sequence: \\Z') hint = ' (use \\z or $ for the end of the text)';
  return new RegexError(`${message}${hint}`, Math.max(index, 0));
}

// ---------------------------------------------------------------------------------------------------------------
// The tree. Characters in it are already folded.

type Range = readonly [lo: number, hi: number];
type Assertion = '^' | '$' | '\\A' | '\\z' | '\\b' | '\\B';

type Node =
  | { readonly kind: 'empty' }
  /** One folded character: one code point, or two when lowercasing expands it (İ becomes i + U+0307). */
  | { readonly kind: 'literal'; readonly codePoints: readonly number[] }
  | { readonly kind: 'set'; readonly negated: boolean; readonly ranges: readonly Range[] }
  | { readonly kind: 'dot' }
  | { readonly kind: 'assertion'; readonly which: Assertion }
  | { readonly kind: 'group'; readonly body: Node }
  | { readonly kind: 'concat'; readonly items: readonly Node[] }
  | { readonly kind: 'alternate'; readonly options: readonly Node[] }
  | { readonly kind: 'repeat'; readonly body: Node; readonly min: number; readonly max: number | null };

const EMPTY: Node = { kind: 'empty' };

// RE2's ASCII-only meanings; ARE's own \d, \w and [[:alpha:]] depend on the locale, so we always spell them out.
const PERL_CLASSES: Readonly<Record<string, readonly Range[]>> = {
  d: [[0x30, 0x39]],
  s: [
    [0x09, 0x0a],
    [0x0c, 0x0d],
    [0x20, 0x20],
  ],
  w: [
    [0x30, 0x39],
    [0x41, 0x5a],
    [0x5f, 0x5f],
    [0x61, 0x7a],
  ],
};

const POSIX_CLASSES: Readonly<Record<string, readonly Range[]>> = {
  alnum: [
    [0x30, 0x39],
    [0x41, 0x5a],
    [0x61, 0x7a],
  ],
  alpha: [
    [0x41, 0x5a],
    [0x61, 0x7a],
  ],
  ascii: [[0x00, 0x7f]],
  blank: [
    [0x09, 0x09],
    [0x20, 0x20],
  ],
  cntrl: [
    [0x00, 0x1f],
    [0x7f, 0x7f],
  ],
  digit: [[0x30, 0x39]],
  graph: [[0x21, 0x7e]],
  lower: [[0x61, 0x7a]],
  print: [[0x20, 0x7e]],
  punct: [
    [0x21, 0x2f],
    [0x3a, 0x40],
    [0x5b, 0x60],
    [0x7b, 0x7e],
  ],
  space: [
    [0x09, 0x0d],
    [0x20, 0x20],
  ],
  upper: [[0x41, 0x5a]],
  word: [
    [0x30, 0x39],
    [0x41, 0x5a],
    [0x5f, 0x5f],
    [0x61, 0x7a],
  ],
  xdigit: [
    [0x30, 0x39],
    [0x41, 0x46],
    [0x61, 0x66],
  ],
};

const SIMPLE_ESCAPES: Readonly<Record<string, number>> = { a: 0x07, f: 0x0c, n: 0x0a, r: 0x0d, t: 0x09, v: 0x0b };

// ---------------------------------------------------------------------------------------------------------------
// The parser: recursive descent over the pattern, following RE2's parse.cc decision for decision, so that our
// tree means what RE2 would have understood. Positions are UTF-16 offsets; characters are read as code points.

class Parser {
  private pos = 0;

  constructor(private readonly src: string) {}

  parse(): Node {
    const tree = this.parseAlternation();
    if (this.pos < this.src.length) throw new RegexError(`unexpected ): ${this.src}`, this.pos);
    return tree;
  }

  private parseAlternation(): Node {
    const options = [this.parseConcat()];
    while (this.src[this.pos] === '|') {
      this.pos++;
      options.push(this.parseConcat());
    }
    return options.length === 1 ? (options[0] as Node) : { kind: 'alternate', options };
  }

  private parseConcat(): Node {
    const items: Node[] = [];
    while (this.pos < this.src.length && this.src[this.pos] !== '|' && this.src[this.pos] !== ')') {
      items.push(this.parseQuantified(this.parseAtom()));
    }
    if (items.length === 0) return EMPTY;
    return items.length === 1 ? (items[0] as Node) : { kind: 'concat', items };
  }

  /** `atom` followed by at most one quantifier: RE2 rejects stacked ones like `a**` or `a{2}*`. */
  private parseQuantified(atom: Node): Node {
    const start = this.pos;
    let min: number;
    let max: number | null;
    switch (this.src[start]) {
      case '*':
        [min, max] = [0, null];
        this.pos++;
        break;
      case '+':
        [min, max] = [1, null];
        this.pos++;
        break;
      case '?':
        [min, max] = [0, 1];
        this.pos++;
        break;
      case '{': {
        const repetition = this.peekRepetition();
        if (repetition === null) return atom; // a literal `{`, read as the next atom
        [min, max] = [repetition.min, repetition.max];
        this.pos = repetition.end;
        break;
      }
      default:
        return atom;
    }
    // A lazy quantifier matches the same texts; only the match boundaries differ, and we only ask yes or no.
    if (this.src[this.pos] === '?') this.pos++;
    if (atom.kind === 'assertion') {
      throw new RegexError(`a quantifier cannot follow ${atom.which}: it matches a position, not characters`, start);
    }
    const largest = Math.max(min, max ?? 0);
    if (largest > MAX_REPEAT) {
      throw new RegexError(`repetition count ${largest} is too large: the limit is ${MAX_REPEAT}`, start);
    }
    return { kind: 'repeat', body: atom, min, max };
  }

  /** RE2's MaybeParseRepetition: `{n}`, `{n,}` or `{n,m}` without leading zeros; anything else is a literal `{`. */
  private peekRepetition(): { min: number; max: number | null; end: number } | null {
    const match = /^\{(0|[1-9][0-9]{0,8})(?:(,)(0|[1-9][0-9]{0,8})?)?\}/.exec(this.src.slice(this.pos, this.pos + 24));
    if (match === null) return null;
    // At most nine digits: RE2's overflow guard gives up on longer numbers, leaving a literal `{`.
    const [text, low, comma, high] = match;
    const min = Number(low);
    const max = comma === undefined ? min : high === undefined ? null : Number(high);
    return { min, max, end: this.pos + text.length };
  }

  private parseAtom(): Node {
    const start = this.pos;
    const c = this.src[start];
    switch (c) {
      case '(':
        return this.parseGroup();
      case '[':
        return this.parseBracket();
      case '.':
        this.pos++;
        return { kind: 'dot' };
      case '^':
      case '$':
        this.pos++;
        return { kind: 'assertion', which: c };
      case '\\':
        return this.parseEscape();
      case '*':
      case '+':
      case '?':
        throw new RegexError(`missing argument to repetition operator: ${c}`, start);
      case '{': {
        const repetition = this.peekRepetition();
        if (repetition !== null) {
          const operator = this.src.slice(start, repetition.end);
          throw new RegexError(`missing argument to repetition operator: ${operator}`, start);
        }
        this.pos++;
        return literal(0x7b);
      }
      default:
        return literal(this.nextCodePoint());
    }
  }

  private parseGroup(): Node {
    const start = this.pos;
    const rest = this.src.slice(start);
    if (rest.startsWith('(?:')) {
      this.pos += 3;
    } else if (/^\(\?<?[=!]/.test(rest)) {
      throw new RegexError(`look-around assertions like ${/^\(\?<?[=!]/.exec(rest)?.[0]} are not supported`, start);
    } else if (rest.startsWith('(?P<') || rest.startsWith('(?<')) {
      // A name only matters for capturing, and every group renders as non-capturing.
      const close = this.src.indexOf('>', start);
      if (close === -1) throw new RegexError(`invalid named capture group: ${rest}`, start);
      this.pos = close + 1;
    } else if (rest.startsWith('(?')) {
      const flags = /^\(\?[^:)]*[:)]?/.exec(rest)?.[0] ?? '(?';
      throw new RegexError(`flags like ${flags} are not supported: matching is always case-insensitive`, start);
    } else {
      this.pos++;
    }
    const body = this.parseAlternation();
    if (this.src[this.pos] !== ')') throw new RegexError(`missing ): ${this.src}`, start);
    this.pos++;
    return { kind: 'group', body };
  }

  /** A backslash outside brackets. */
  private parseEscape(): Node {
    const start = this.pos;
    const c = this.src[start + 1];
    switch (c) {
      case 'A':
      case 'z':
      case 'b':
      case 'B':
        this.pos += 2;
        return { kind: 'assertion', which: `\\${c}` };
      case 'C':
        throw new RegexError('\\C (any byte) is not supported', start);
      case 'Q':
        throw new RegexError('\\Q...\\E (quoted text) is not supported: escape each character with \\ instead', start);
      case 'p':
      case 'P':
        throw new RegexError(`\\${c} (Unicode character classes) is not supported`, start);
      case 'd':
      case 's':
      case 'w':
      case 'D':
      case 'S':
      case 'W':
        this.pos += 2;
        return {
          kind: 'set',
          negated: c !== c.toLowerCase(),
          ranges: foldClass(perlClass(c.toLowerCase())),
        };
      default:
        return literal(this.parseEscapedCharacter());
    }
  }

  /** An escape that stands for one character, in or out of brackets (RE2's ParseEscape, plus re2's JS forms). */
  private parseEscapedCharacter(): number {
    const start = this.pos;
    const c = this.src[start + 1];
    if (c === undefined) throw new RegexError('trailing \\', start);
    const simple = SIMPLE_ESCAPES[c];
    if (simple !== undefined) {
      this.pos += 2;
      return simple;
    }
    if (c >= '0' && c <= '7') {
      throw new RegexError(`octal escapes like \\${c} are not supported: use \\x{...}`, start);
    }
    if (c === 'x' || c === 'u') {
      // The re2 package rewrites JavaScript's \uHHHH and \u{H...} into RE2's \x{...}; we accept them too, but
      // only with exactly four digits, because it would also take one to three digits that JavaScript refuses.
      const rest = this.src.slice(start + 2);
      const braced = /^\{([0-9A-Fa-f]+)\}/.exec(rest);
      const bare = (c === 'x' ? /^[0-9A-Fa-f]{2}/ : /^[0-9A-Fa-f]{4}/).exec(rest);
      const digits = braced?.[1] ?? bare?.[0];
      if (digits === undefined) {
        const expected = c === 'x' ? 'two hex digits' : 'four hex digits';
        throw new RegexError(`invalid escape sequence: \\${c} must be followed by ${expected} or {hex digits}`, start);
      }
      const codePoint = Number.parseInt(digits, 16);
      if (codePoint > 0x10ffff || (codePoint >= 0xd800 && codePoint <= 0xdfff)) {
        const shown = codePoint > 0x10ffff ? digits : showCodePoint(codePoint);
        throw new RegexError(`invalid escape sequence: ${shown} is not a character`, start);
      }
      this.pos = start + 2 + (braced?.[0] ?? digits).length;
      return codePoint;
    }
    if (c === 'c') {
      // The re2 package rewrites JavaScript's control escapes \cA..\cZ; RE2 itself has none.
      const letter = this.src[start + 2];
      if (letter !== undefined && letter >= 'A' && letter <= 'Z') {
        this.pos += 3;
        return letter.charCodeAt(0) - 0x40;
      }
    }
    const code = c.charCodeAt(0);
    // RE2: an escaped ASCII character that is neither a letter nor a digit stands for itself.
    if (code < 0x80 && !/[0-9A-Za-z]/.test(c)) {
      this.pos += 2;
      return code;
    }
    throw new RegexError(
      `invalid escape sequence: \\${String.fromCodePoint(this.src.codePointAt(start + 1) ?? 0)}`,
      start,
    );
  }

  /** A bracket expression, following RE2's ParseCharClass: `]` first is literal, `-` is literal unless between two. */
  private parseBracket(): Node {
    const start = this.pos;
    this.pos++;
    const negated = this.src[this.pos] === '^';
    if (negated) this.pos++;
    const ranges: Range[] = [];
    let first = true;
    while (this.pos < this.src.length && (this.src[this.pos] !== ']' || first)) {
      first = false;
      const itemStart = this.pos;
      if (this.src.startsWith('[:', this.pos)) {
        const close = this.src.indexOf(':]', this.pos + 2);
        if (close !== -1) {
          const name = this.src.slice(this.pos + 2, close);
          if (name.startsWith('^')) {
            throw new RegexError(`negated POSIX classes like [:${name}:] are not supported`, itemStart);
          }
          const members = Object.hasOwn(POSIX_CLASSES, name) ? POSIX_CLASSES[name] : undefined;
          if (members === undefined) throw new RegexError(`invalid character class range: [:${name}:]`, itemStart);
          ranges.push(...members);
          this.pos = close + 2;
          continue;
        }
      }
      if (this.src[this.pos] === '\\') {
        const c = this.src[this.pos + 1] ?? '';
        if (c === 'p' || c === 'P') {
          throw new RegexError(`\\${c} (Unicode character classes) is not supported`, itemStart);
        }
        if (c === 'D' || c === 'S' || c === 'W') {
          throw new RegexError(`\\${c} is not supported inside brackets: use [^...] or \\${c} outside`, itemStart);
        }
        if (c === 'd' || c === 's' || c === 'w') {
          ranges.push(...perlClass(c));
          this.pos += 2;
          continue;
        }
      }
      const lo = this.parseBracketCharacter();
      let hi = lo;
      if (this.src[this.pos] === '-' && this.pos + 1 < this.src.length && this.src[this.pos + 1] !== ']') {
        this.pos++;
        hi = this.parseBracketCharacter();
      }
      if (hi < lo) {
        throw new RegexError(`invalid character class range: ${this.src.slice(itemStart, this.pos)}`, itemStart);
      }
      refuseExpanding(lo, hi, this.src.slice(itemStart, this.pos), itemStart);
      ranges.push([lo, hi]);
    }
    if (this.pos >= this.src.length) throw new RegexError(`missing ]: ${this.src.slice(start)}`, start);
    this.pos++;
    return { kind: 'set', negated, ranges: foldClass(ranges) };
  }

  private parseBracketCharacter(): number {
    if (this.pos >= this.src.length) throw new RegexError('missing ]', this.pos);
    if (this.src[this.pos] !== '\\') return this.nextCodePoint();
    // RE2 refuses both; Python and JavaScript read [\b] as a backspace. Say what to write instead.
    if (this.src[this.pos + 1] === 'b') {
      throw new RegexError(
        '\\b is not supported inside brackets: write \\x08 for a backspace, or \\b outside brackets for a word boundary',
        this.pos,
      );
    }
    if (this.src[this.pos + 1] === 'B') {
      throw new RegexError(
        '\\B is not supported inside brackets: write \\B outside brackets for "not a word boundary"',
        this.pos,
      );
    }
    return this.parseEscapedCharacter();
  }

  private nextCodePoint(): number {
    const codePoint = this.src.codePointAt(this.pos) as number;
    this.pos += codePoint > 0xffff ? 2 : 1;
    return codePoint;
  }
}

function perlClass(letter: string): readonly Range[] {
  return PERL_CLASSES[letter] ?? [];
}

function literal(codePoint: number): Node {
  return { kind: 'literal', codePoints: foldCodePoint(codePoint) };
}

/** The code points of `codePoint`'s full lowercase, as `toLowerCase()` computes it. */
function foldCodePoint(codePoint: number): number[] {
  return Array.from(String.fromCodePoint(codePoint).toLowerCase(), (c) => c.codePointAt(0) as number);
}

/**
 * Code points up to U+1FFFF (no cased character lies above) whose lowercase differs from them: `from` sorted, each
 * with its lowercase in `to` when that is one code point, and apart in `expanding` when it is longer.
 */
interface FoldTable {
  readonly from: readonly number[];
  readonly to: readonly number[];
  readonly expanding: readonly number[];
}

let foldTable: FoldTable | undefined;

// Built on first use rather than at import: it takes some milliseconds, and most processes never see a bracket.
function folds(): FoldTable {
  if (foldTable !== undefined) return foldTable;
  const from: number[] = [];
  const to: number[] = [];
  const expanding: number[] = [];
  for (let codePoint = 0; codePoint <= 0x1ffff; codePoint++) {
    const lower = foldCodePoint(codePoint);
    if (lower.length > 1) expanding.push(codePoint);
    else if (lower[0] !== codePoint) {
      from.push(codePoint);
      to.push(lower[0] as number);
    }
  }
  foldTable = { from, to, expanding };
  return foldTable;
}

/**
 * Refuses a bracket item holding a character that lowercases to several code points (İ): a bracket expression
 * matches one character, so no folded text could ever match it there.
 */
function refuseExpanding(lo: number, hi: number, written: string, index: number): void {
  const culprit = folds().expanding.find((codePoint) => codePoint >= lo && codePoint <= hi);
  if (culprit === undefined) return;
  const lower = foldCodePoint(culprit);
  const why = `lowercases to ${lower.length} characters (${lower.map(showCodePoint).join(' ')})`;
  if (culprit === lo || culprit === hi) {
    throw new RegexError(
      `${showCharacter(culprit)} ${why}, which cannot stand in a bracket expression: write it outside brackets`,
      index,
    );
  }
  throw new RegexError(
    `range ${written} holds ${showCharacter(culprit)}, which ${why} and so cannot stand in a bracket expression: ` +
      'split the range around it',
    index,
  );
}

/**
 * The class `ranges` as folded text meets it: each member is replaced by its lowercase. Folded text holds no character
 * whose lowercase differs from it, so those members are dropped rather than kept; negation applies to the result.
 */
function foldClass(ranges: readonly Range[]): Range[] {
  const { from, to } = folds();
  const folded: Range[] = [];
  for (const [lo, hi] of ranges) {
    let next = lo;
    for (let i = firstAtLeast(from, lo); i < from.length && (from[i] as number) <= hi; i++) {
      const codePoint = from[i] as number;
      if (codePoint > next) folded.push([next, codePoint - 1]);
      folded.push([to[i] as number, to[i] as number]);
      next = codePoint + 1;
    }
    if (next <= hi) folded.push([next, hi]);
  }
  return normalize(folded);
}

/** The index of the first element of the ascending `sorted` that is at least `value` (its length if none is). */
function firstAtLeast(sorted: readonly number[], value: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((sorted[mid] as number) < value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Sorts and merges overlapping or adjacent ranges. */
function normalize(ranges: readonly Range[]): Range[] {
  const sorted = [...ranges].sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  const merged: [number, number][] = [];
  for (const [lo, hi] of sorted) {
    const last = merged[merged.length - 1];
    if (last !== undefined && lo <= last[1] + 1) last[1] = Math.max(last[1], hi);
    else merged.push([lo, hi]);
  }
  return merged;
}

function showCodePoint(codePoint: number): string {
  return `U+${codePoint.toString(16).toUpperCase().padStart(4, '0')}`;
}

function showCharacter(codePoint: number): string {
  return codePoint > 0x20 && codePoint !== 0x7f ? String.fromCodePoint(codePoint) : showCodePoint(codePoint);
}

// ---------------------------------------------------------------------------------------------------------------
// Size. PostgreSQL turns a pattern into an automaton and then removes its empty transitions, in time about cubic in
// the length of a chain of optional parts, and it gives a bracket expression one transition for each piece ("color")
// that the other characters of the pattern cut it into. So a small pattern can take seconds to compile: 100
// repetitions of an optional class cut 70 ways take 4 s. We bound the automaton's size much as RE2 bounds its
// program: a repetition multiplies its operand's size, and a bracket expression counts its pieces.

/**
 * Measured on PostgreSQL 15: `(?:(?:[a-z]?){16}){16}` (size 528) compiles in 0.2 s, `(?:(?:[a-z]?){22}){22}` (990)
 * in 3.7 s and `(?:(?:[a-z]?){30}){30}` (1830) in 24 s, while RE2 takes all three. At 256, a pattern compiles in
 * well under 0.1 s, and everyday patterns (`[a-z]{1,100}`, `^shot_\d{3,4}$`) stay far below.
 */
const MAX_SIZE = 256;

function sizeOf(tree: Node): number {
  const cuts = [...new Set([0, 0x110000, ...cutsOf(tree)])].sort((a, b) => a - b);
  const pieces = (ranges: readonly Range[], negated: boolean): number => {
    let count = 0;
    for (const [lo, hi] of negated ? complement(ranges) : ranges) {
      count += firstAtLeast(cuts, hi + 1) - firstAtLeast(cuts, lo);
    }
    return Math.max(count, 1);
  };
  const size = (node: Node): number => {
    switch (node.kind) {
      case 'empty':
        return 1;
      case 'assertion':
        return ASSERTION_SIZE;
      case 'literal':
        return node.codePoints.length;
      case 'set':
        return pieces(node.ranges, node.negated);
      case 'dot':
        return pieces(NEWLINE, true);
      case 'group':
        return size(node.body);
      case 'concat':
        return sum(node.items.map(size));
      case 'alternate':
        return sum(node.options.map(size)) + node.options.length - 1;
      case 'repeat': {
        const copies = node.max ?? Math.max(node.min, 1);
        // An optional copy, or the loop of an open repetition, adds a branch.
        return size(node.body) * copies + (node.max === null ? 1 : node.max - node.min);
      }
    }
  };
  return size(tree);
}

const ASSERTION_SIZE = 4;

const NEWLINE: readonly Range[] = [[0x0a, 0x0a]];

/** Where the pattern's characters and classes start and stop: each piece of a class lies between two of them. */
function cutsOf(node: Node): number[] {
  switch (node.kind) {
    case 'empty':
      return [];
    case 'assertion':
      // A word boundary tells word characters from the others.
      return isWordBoundary(node) ? perlClass('w').flatMap(([lo, hi]) => [lo, hi + 1]) : [];
    case 'literal':
      return node.codePoints.flatMap((codePoint) => [codePoint, codePoint + 1]);
    case 'set':
      return node.ranges.flatMap(([lo, hi]) => [lo, hi + 1]);
    case 'dot':
      return [0x0a, 0x0b];
    case 'group':
    case 'repeat':
      return cutsOf(node.body);
    case 'concat':
      return node.items.flatMap(cutsOf);
    case 'alternate':
      return node.options.flatMap(cutsOf);
  }
}

/** The code points that `ranges`, sorted and merged, leave out. */
function complement(ranges: readonly Range[]): Range[] {
  const gaps: Range[] = [];
  let next = 0;
  for (const [lo, hi] of ranges) {
    if (lo > next) gaps.push([next, lo - 1]);
    next = hi + 1;
  }
  if (next <= 0x10ffff) gaps.push([next, 0x10ffff]);
  return gaps;
}

const sum = (numbers: readonly number[]): number => numbers.reduce((total, n) => total + n, 0);

const isWordBoundary = (node: Node): boolean =>
  node.kind === 'assertion' && (node.which === '\\b' || node.which === '\\B');

// ---------------------------------------------------------------------------------------------------------------
// Chains of assertions. PostgreSQL is exponentially slow on assertions that offer alternatives with no character
// between them: `(?:(?:^|$)[a-z]?){16}` takes 30 s to compile and `(?:\b[a-z]?){16}` 1 s, a word boundary being
// itself two alternatives (a word ends here, or one starts). The time follows the number of ways to go from one
// point of the pattern to another through assertions alone, matching no character: we count them.

/**
 * Measured on PostgreSQL 15: 2^10 ways (`(?:\b[a-z]?){10}`) compile in 7 ms, 2^12 in 35 to 80 ms and 2^16 in 1 to
 * 30 s. Everyday patterns have a handful: `\b(?:cat|dog)s?\b` has 2, `^\b` 2, `(?:^|\b)x` 3.
 */
const MAX_EMPTY_PATHS = 256;

/**
 * The ways to match no character: from a node's start to its end (`through`, 0 when it always matches some), and the
 * most from its start to a point inside it, from a point inside it to its end, and between two points inside it.
 */
interface EmptyPaths {
  readonly through: number;
  readonly into: number;
  readonly outOf: number;
  readonly within: number;
}

/** Counts past the limit stop at just above it, so that they stay finite (0 times Infinity would be NaN). */
const capped = (ways: number): number => Math.min(ways, MAX_EMPTY_PATHS + 1);

const waysThrough = (through: number): EmptyPaths => {
  const most = Math.max(through, 1);
  return { through, into: most, outOf: most, within: most };
};

function emptyPaths(node: Node): EmptyPaths {
  switch (node.kind) {
    case 'empty':
      return waysThrough(1);
    case 'literal':
    case 'set':
    case 'dot':
      return waysThrough(0);
    case 'assertion':
      return waysThrough(isWordBoundary(node) ? 2 : 1);
    case 'group':
      return emptyPaths(node.body);
    case 'concat':
      return inSequence(node.items.map(emptyPaths));
    case 'alternate':
      return eitherOf(node.options.map(emptyPaths));
    case 'repeat': {
      const body = emptyPaths(node.body);
      const optional = eitherOf([body, waysThrough(1)]);
      const copies = node.max ?? Math.max(node.min, 1);
      return inSequence(Array.from({ length: copies }, (_, i) => (i < node.min ? body : optional)));
    }
  }
}

function inSequence(parts: readonly EmptyPaths[]): EmptyPaths {
  let through = 1;
  let into = 1;
  let outOf = 1;
  let within = 1;
  for (const part of parts) {
    within = capped(Math.max(within, part.within, outOf * part.into));
    into = capped(Math.max(into, through * part.into));
    outOf = capped(Math.max(part.outOf, outOf * part.through));
    through = capped(through * part.through);
  }
  return { through, into, outOf, within };
}

function eitherOf(options: readonly EmptyPaths[]): EmptyPaths {
  const through = capped(sum(options.map((option) => option.through)));
  const most = (ways: (option: EmptyPaths) => number): number => Math.max(through, ...options.map(ways));
  return { through, into: most((o) => o.into), outOf: most((o) => o.outOf), within: most((o) => o.within) };
}

// ---------------------------------------------------------------------------------------------------------------
// Rendering. Every character other than [0-9a-z] is written as an escape, in and out of brackets, so that no
// character can be misread as syntax by either engine (ARE, for one, treats `\` inside brackets as an escape).

interface Syntax {
  /** One code point, valid both inside and outside brackets. */
  character(codePoint: number): string;
  /** Any character but newline: ARE's `.` also matches newline, RE2's does not. */
  readonly notNewline: string;
  readonly assertions: Readonly<Record<Assertion, string>>;
}

const isPlain = (codePoint: number): boolean =>
  (codePoint >= 0x30 && codePoint <= 0x39) || (codePoint >= 0x61 && codePoint <= 0x7a);

const RE2_SYNTAX: Syntax = {
  character: (codePoint) => (isPlain(codePoint) ? String.fromCodePoint(codePoint) : `\\x{${codePoint.toString(16)}}`),
  notNewline: '[^\\x{a}]',
  assertions: { '^': '^', $: '$', '\\A': '\\A', '\\z': '\\z', '\\b': '\\b', '\\B': '\\B' },
};

const ARE_SYNTAX: Syntax = {
  // ARE's \x takes as many hex digits as follow it, so use \u and \U, which take exactly four and eight.
  character: (codePoint) =>
    isPlain(codePoint)
      ? String.fromCodePoint(codePoint)
      : codePoint <= 0xffff
        ? `\\u${codePoint.toString(16).padStart(4, '0')}`
        : `\\U${codePoint.toString(16).padStart(8, '0')}`,
  notNewline: '[^\\u000a]',
  assertions: {
    '^': '^',
    $: '$',
    '\\A': '\\A',
    // ARE's \Z is the very end of the text (unlike Perl's \Z, which allows a final newline): RE2's \z.
    '\\z': '\\Z',
    // ARE's \b is a backspace. Its \y and \Y take their word characters from the collation, which under "C" are
    // RE2's: ASCII letters, digits and _ (see Regex.postgresSource).
    '\\b': '\\y',
    '\\B': '\\Y',
  },
};

/**
 * RE2 tries a match from every byte, and between two bytes of one character (neither of them a word character) \B
 * holds: `\B` alone would match "béu". So a pattern with \B starts its matches at characters, as ARE's do. (Only
 * the assertion renders as `\B`: letters are folded, and every other character is written `\x{...}`.)
 */
function renderRe2(tree: Node): string {
  const source = render(tree, RE2_SYNTAX);
  return source.includes('\\B') ? `\\A(?s:.)*?(?:${source})` : source;
}

function render(node: Node, syntax: Syntax): string {
  switch (node.kind) {
    case 'empty':
      return '(?:)';
    case 'literal':
      return node.codePoints.map(syntax.character).join('');
    case 'set': {
      // A range of two is no shorter written as one.
      const members = node.ranges.map(([lo, hi]) =>
        hi - lo >= 2
          ? `${syntax.character(lo)}-${syntax.character(hi)}`
          : lo === hi
            ? syntax.character(lo)
            : syntax.character(lo) + syntax.character(hi),
      );
      return `[${node.negated ? '^' : ''}${members.join('')}]`;
    }
    case 'dot':
      return syntax.notNewline;
    case 'assertion':
      return syntax.assertions[node.which];
    case 'group':
      return node.body.kind === 'empty' ? '(?:)' : `(?:${render(node.body, syntax)})`;
    case 'concat':
      return node.items.map((item) => render(item, syntax)).join('');
    case 'alternate':
      return node.options.map((option) => render(option, syntax)).join('|');
    case 'repeat': {
      const body = render(node.body, syntax);
      // A folded İ is two code points; the quantifier must apply to both.
      const operand = node.body.kind === 'literal' && node.body.codePoints.length > 1 ? `(?:${body})` : body;
      return operand + quantifier(node.min, node.max);
    }
  }
}

function quantifier(min: number, max: number | null): string {
  if (max === null) return min === 0 ? '*' : min === 1 ? '+' : `{${min},}`;
  if (min === 0 && max === 1) return '?';
  return min === max ? `{${min}}` : `{${min},${max}}`;
}
