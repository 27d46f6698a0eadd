import { type EntityTypeSpec, formatIsoDate } from 'accsyn-protocol';
import { closeMatches } from 'accsyn-query';
import type { EventContext } from '../events.js';
import { badRequest } from '../http/errors.js';
import { sql } from '../store/sql.js';
import { type FindOptions, findConditions } from './find.js';
import { objectOf } from './write.js';

/**
 * `<job type>/metrics` (reference §2.3 `metrics(query, attributes, time)`): figures over the jobs that a find with
 * the same query and `finished=True` would answer the caller, the caller's read rights included. `time` keeps the
 * jobs created since a moment; `attributes` picks figures by name.
 */

export interface Metrics {
  /** The jobs counted. */
  count: number;
  /** How many are in each status, every status of the type listed. */
  by_status: Record<string, number>;
  /** Bytes in all, as measured so far (a job not measured yet counts 0). */
  size: number;
  /** Bytes done: the whole size of done jobs, size × progress of the others. */
  size_done: number;
  /** size_done of size, in percent with one decimal; 0 when there is nothing to transfer. */
  progress: number;
  /** Jobs running now. */
  running: number;
  /** Mean speed of the running jobs that report one, MB/s; null when none does. */
  speed: number | null;
  /** Their speeds added up, MB/s. */
  speed_total: number;
  /** Where `time` put the start of the period (naive UTC), or null for all time. */
  since: string | null;
}

export const METRICS: readonly (keyof Metrics)[] = [
  'count',
  'by_status',
  'size',
  'size_done',
  'progress',
  'running',
  'speed',
  'speed_total',
  'since',
];

/** What metrics and reports look at: every job a find sees, finished ones included (not the archived). */
const SCOPE: FindOptions = {
  finished: true,
  inactive: false,
  archived: false,
  single: false,
  recursive: false,
  skip: 0,
};

export async function metrics(context: EventContext, spec: EntityTypeSpec): Promise<Partial<Metrics>> {
  const data = objectOf(context.envelope.data ?? {}, `${spec.name}/metrics`);
  const wanted = figuresAsked(data.attributes, spec);
  const figures = await metricsOf(context, spec, periodStart(data.time, new Date()));
  if (!wanted) return figures;
  return Object.fromEntries(wanted.map((name) => [name, figures[name]]));
}

/** The figures of the jobs of `spec` that the envelope's query matches, created since `since` when given. */
export async function metricsOf(context: EventContext, spec: EntityTypeSpec, since?: Date): Promise<Metrics> {
  if (spec.family !== 'job') {
    throw badRequest(
      `Metrics and reports are about jobs (transfers, deliveries, requests, queues), not ${spec.name}s.`,
    );
  }
  const conditions = await findConditions(context, spec, SCOPE);
  if (since) conditions.push(sql`e.created >= ${since.toISOString()}`);
  // PostgreSQL answers sums of bigint as numeric, which pg hands over as text: every figure goes through Number.
  const groups = await context.store.rows<Record<'status' | 'count' | 'size' | 'done' | 'speed' | 'moving', unknown>>(
    sql`SELECT e.status AS status, COUNT(*) AS count, SUM(COALESCE(e.size, 0)) AS size,
      SUM(CASE WHEN e.status = 'done' THEN COALESCE(e.size, 0)
        WHEN e.progress > 100 THEN COALESCE(e.size, 0) WHEN e.progress > 0 THEN COALESCE(e.size, 0) * e.progress / 100.0
        ELSE 0 END) AS done,
      SUM(CASE WHEN e.speed >= 0 THEN e.speed ELSE 0 END) AS speed,
      SUM(CASE WHEN e.speed >= 0 THEN 1 ELSE 0 END) AS moving
    FROM jobs e WHERE ${sql.join(conditions, sql` AND `)} GROUP BY e.status`,
  );
  const figures: Metrics = {
    count: 0,
    by_status: Object.fromEntries(spec.statuses.map((status) => [status, 0])),
    size: 0,
    size_done: 0,
    progress: 0,
    running: 0,
    speed: null,
    speed_total: 0,
    since: since ? formatIsoDate(since.toISOString()) : null,
  };
  for (const group of groups) {
    const count = Number(group.count);
    figures.count += count;
    figures.by_status[String(group.status)] = count;
    figures.size += Number(group.size ?? 0);
    figures.size_done += Number(group.done ?? 0);
    if (group.status === 'running') {
      figures.running = count;
      const moving = Number(group.moving ?? 0);
      figures.speed_total = round(Number(group.speed ?? 0), 3);
      figures.speed = moving > 0 ? round(Number(group.speed) / moving, 3) : null;
    }
  }
  figures.size_done = Math.round(figures.size_done);
  figures.progress = figures.size > 0 ? round((100 * figures.size_done) / figures.size, 1) : 0;
  return figures;
}

const round = (value: number, decimals: number) => Math.round(value * 10 ** decimals) / 10 ** decimals;

/** The figures `attributes` names (all when null or empty); an unknown name is a 400 that suggests the right one. */
function figuresAsked(attributes: unknown, spec: EntityTypeSpec): (keyof Metrics)[] | undefined {
  if (attributes === undefined || attributes === null) return undefined;
  if (!Array.isArray(attributes) || !attributes.every((a) => typeof a === 'string')) {
    throw badRequest(`${spec.name}/metrics: attributes must be a list of figure names: ${METRICS.join(', ')}.`);
  }
  if (attributes.length === 0) return undefined;
  return attributes.map((asked) => {
    const name = asked.trim().toLowerCase();
    if ((METRICS as readonly string[]).includes(name)) return name as keyof Metrics;
    const close = closeMatches(name, METRICS);
    throw badRequest(
      `${spec.name}/metrics has no figure '${asked}'${close.length > 0 ? `; did you mean ${close.join(' or ')}?` : `; the figures are ${METRICS.join(', ')}.`}`,
    );
  });
}

const UNITS: Readonly<Record<string, number>> = { h: 3_600_000, d: 86_400_000, w: 604_800_000 };
const PERIOD = /^(\d{1,6})\s*([hdw])$/;
const MOMENT = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2}))?)?Z?$/;

/**
 * Where `time` starts the period that metrics count: a span back from `now` ("24h", "7d", "2w"), or a UTC date or
 * time ("2026-01-31", "2026-01-31T12:00:00", as the official client writes datetimes). Null or absent: all time.
 */
export function periodStart(time: unknown, now: Date): Date | undefined {
  if (time === undefined || time === null) return undefined;
  const text = typeof time === 'string' ? time.trim() : undefined;
  const period = text === undefined ? null : PERIOD.exec(text.toLowerCase());
  if (period) return new Date(now.getTime() - Number(period[1]) * (UNITS[period[2] as string] as number));
  const moment = text === undefined ? null : MOMENT.exec(text);
  if (moment) {
    const [year, month, day, hours, minutes, seconds] = moment.slice(1).map((part) => Number(part ?? 0));
    const date = new Date(Date.UTC(year as number, (month as number) - 1, day, hours, minutes, seconds));
    // Date.UTC rolls 2026-02-30 over into March: a moment that is not in the calendar is refused.
    const back = [date.getUTCFullYear(), date.getUTCMonth() + 1, date.getUTCDate()];
    const clock = [date.getUTCHours(), date.getUTCMinutes(), date.getUTCSeconds()];
    if ([...back, ...clock].every((part, i) => part === [year, month, day, hours, minutes, seconds][i])) return date;
  }
  throw badRequest(
    `metrics: time must be a period back from now, such as "24h", "7d" or "2w", or the UTC date or time it starts, such as "2026-01-31" or "2026-01-31T12:00:00"; not ${JSON.stringify(time)}.`,
  );
}
