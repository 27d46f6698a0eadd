import { type Expression, QueryError as ParseError, parse } from 'accsyn-query';
import { AccsynError, QueryError } from './errors.js';

/**
 * A query's entity type and the expression after WHERE, checked here so that a typo costs no round trip. The
 * expression goes to the server as written, not lowercased as the official client sends it: the server compares
 * case-insensitively anyway, and regular expressions keep \D, \S and \W. `offset` is where it starts in the
 * query, to place the server's error positions.
 */
export interface ReadQuery {
  readonly entityType: string;
  readonly expression: string | undefined;
  readonly offset: number;
}

const queries = new Map<string, ReadQuery>();

export function readQuery(query: string): ReadQuery {
  const known = queries.get(query);
  if (known) return known;
  const read = readNewQuery(query);
  // Scripts send the same few queries over and over: keep the last few hundred read.
  if (queries.size >= 500) queries.delete(queries.keys().next().value as string);
  queries.set(query, read);
  return read;
}

function readNewQuery(query: string): ReadQuery {
  if (typeof query !== 'string' || query.trim() === '')
    throw new AccsynError('A query names an entity type, such as "Transfer".');
  let parsed: { entityType: string; where: Expression | null };
  try {
    parsed = parse(query);
  } catch (error) {
    if (error instanceof ParseError) throw new QueryError(error.message, query, error.position);
    throw error;
  }
  const head = /^\s*\S+\s+where\s+/i.exec(query);
  if (!parsed.where || !head) return { entityType: parsed.entityType, expression: undefined, offset: 0 };
  return { entityType: parsed.entityType, expression: query.slice(head[0].length).trimEnd(), offset: head[0].length };
}

/** Runs a call that sends `read`'s expression; an error the server placed in the expression is placed in `query`. */
export async function inQuery<T>(query: string, read: ReadQuery, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    if (error instanceof QueryError) {
      throw new QueryError(error.message.replace(/ \(at \d+\)$/, ''), query, error.position + read.offset, error);
    }
    throw error;
  }
}

/**
 * The query of a find in the audit log: `where` is its conditions (`outcome=denied`), or a whole `Log WHERE ...`
 * query as find takes it; nothing finds every entry the caller may read.
 */
export function logQuery(where: string | undefined): string {
  if (where === undefined || where.trim() === '') return 'Log';
  if (/^\s*log(\s+where\s|\s*$)/i.test(where)) return where;
  return `Log WHERE ${where}`;
}
