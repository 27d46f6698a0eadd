/**
 * Every problem with a query is a QueryError: a message naming what was found and what was expected, and the
 * offset (in UTF-16 code units) of the culprit in the query text, so that a caller can point at it.
 */
export class QueryError extends Error {
  override readonly name = 'QueryError';

  constructor(
    message: string,
    /** Offset of the culprit in `query`. */
    readonly position: number,
    /** The text the position refers to, when known. */
    readonly query?: string,
  ) {
    super(message);
  }

  /** A copy of this error that knows the query text it refers to. */
  withQuery(query: string): QueryError {
    return new QueryError(this.message, this.position, query);
  }

  /**
   * The query's line with a caret under the culprit and the message beside the caret, as compilers print it:
   *
   *     Transfer WHERE status=done AND
   *                                   ^ expected a condition after AND
   */
  format(): string {
    if (this.query === undefined) return `${this.message} (at ${this.position})`;
    return caret(this.query, this.position, this.message);
  }
}

/** Draws `text`'s line around `position` with a caret under it, followed by `note`. */
function caret(text: string, position: number, note: string): string {
  const at = Math.max(0, Math.min(position, text.length));
  const lineStart = text.lastIndexOf('\n', at - 1) + 1;
  const newline = text.indexOf('\n', at);
  const lineEnd = newline === -1 ? text.length : newline;
  const line = text.slice(lineStart, lineEnd).replace(/\t/g, ' ');
  const prefix = text.slice(lineStart, at).replace(/[\t\r]/g, ' ');
  // Count code points so that a character outside the BMP moves the caret by one column, not two.
  const column = [...prefix].length;
  return `${line}\n${' '.repeat(column)}^ ${note}`;
}

/** Runs `run`, giving any QueryError it throws the query text its position refers to. */
export function inQuery<T>(text: string, run: () => T): T {
  try {
    return run();
  } catch (error) {
    throw error instanceof QueryError && error.query === undefined ? error.withQuery(text) : error;
  }
}
