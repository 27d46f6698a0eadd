/**
 * Bounds that keep a hostile query from exhausting the stack or the database: a query beyond them is a
 * QueryError, never a crash. They sit far above what a person writes, and below what SQLite's parser accepts
 * (an expression depth of 1000 and 32766 bound parameters).
 */
export const LIMITS = {
  /** Nested parentheses and NOTs. */
  depth: 64,
  /** Comparisons in one query. */
  conditions: 256,
  /** Values in one query, counting each element of an IN list. */
  values: 10_000,
} as const;
