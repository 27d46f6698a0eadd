import { formatDate } from 'accsyn-protocol';
import { normalType } from './checks.js';
import { ServerError } from './errors.js';
import { type CallOptions, resultOf, type Send } from './events.js';
import { inQuery, readQuery } from './queries.js';

/**
 * Figures and reports about the jobs a query matches (reference §2.3 metrics, report): `<type>/metrics` and
 * `<type>/report`, over every job a find with the same query and `finished` would answer the caller.
 */

/** The figures of metrics (this server's; another may answer others, which come through as they are). */
export interface Metrics {
  /** The jobs counted. */
  readonly count: number;
  /** How many are in each status, every status of the type listed. */
  readonly by_status: Readonly<Record<string, number>>;
  /** Bytes in all, as measured so far. */
  readonly size: number;
  /** Bytes done. */
  readonly size_done: number;
  /** size_done of size, in percent with one decimal. */
  readonly progress: number;
  /** Jobs running now. */
  readonly running: number;
  /** Mean speed of the running jobs that report one, MB/s; null when none does. */
  readonly speed: number | null;
  /** Their speeds added up, MB/s. */
  readonly speed_total: number;
  /** Where `time` started the period, or null for all time. */
  readonly since: Date | null;
}

export interface MetricsOptions<K extends keyof Metrics> extends CallOptions {
  /** The figures to answer (all by default). */
  readonly attributes?: readonly K[];
  /** Only jobs created since then: a Date, or a period back from now such as "24h", "7d", "2w". */
  readonly time?: Date | string;
}

export async function metrics<K extends keyof Metrics = keyof Metrics>(
  send: Send,
  query: string,
  options: MetricsOptions<K> = {},
): Promise<Pick<Metrics, K>> {
  const read = readQuery(query);
  const data: Record<string, unknown> = {
    attributes: options.attributes && options.attributes.length > 0 ? [...options.attributes] : null,
  };
  if (options.time !== undefined) data.time = options.time instanceof Date ? formatDate(options.time) : options.time;
  return inQuery(query, read, async () => {
    const answer = await send({
      method: 'GET',
      uri: `${normalType(read.entityType)}/metrics`,
      data,
      query: read.expression,
      signal: options.signal,
    });
    return resultOf(answer) as Pick<Metrics, K>;
  });
}

/** A plain-text report: the figures, then the jobs one a line. */
export async function report(send: Send, query: string, options: CallOptions = {}): Promise<string> {
  const read = readQuery(query);
  return inQuery(query, read, async () => {
    const answer = await send({
      method: 'GET',
      uri: `${normalType(read.entityType)}/report`,
      data: {},
      query: read.expression,
      signal: options.signal,
    });
    // The report comes at the top level of the answer, not under result.
    if (typeof answer.report !== 'string') throw new ServerError('The server answered no report.');
    return answer.report;
  });
}
