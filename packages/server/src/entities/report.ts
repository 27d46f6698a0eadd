import { type EntityTypeSpec, formatIsoDate } from 'accsyn-protocol';
import type { EventContext } from '../events.js';
import { capitalise, plural } from './access.js';
import { find } from './find.js';
import { metricsOf } from './metrics.js';
import type { Row } from './model.js';

/**
 * `<job type>/report` (reference §2.3 `report(query)`): a plain-text report of the jobs the query matches, which the
 * official client reads from the answer's top-level `report`. Its summary is the figures of metrics, its table the
 * jobs a find with the same query and `finished=True` answers, oldest first.
 */

/** A report lists at most this many jobs; its summary counts them all. */
export const REPORT_ROWS = 500;

export async function report(context: EventContext, spec: EntityTypeSpec): Promise<string> {
  const figures = await metricsOf(context, spec);
  const listing = { ...context, envelope: { ...context.envelope, data: { finished: true, limit: REPORT_ROWS } } };
  const jobs = await find(listing, spec);
  const kind = plural(spec.name);
  const statuses = Object.entries(figures.by_status)
    .filter(([, count]) => count > 0)
    .map(([status, count]) => `${count} ${status}`);
  const lines = [
    `${capitalise(spec.name)} report of workspace ${context.caller.workspace.code}, ${formatIsoDate(new Date().toISOString()).replace('T', ' ')} UTC`,
    `Query: ${context.envelope.query?.trim() || `none (every ${spec.name} you may read)`}`,
    `${capitalise(kind)}: ${figures.count}${statuses.length > 0 ? ` (${statuses.join(', ')})` : ''}`,
  ];
  if (spec.attributes.size) {
    lines.push(`Size: ${bytes(figures.size)}, of which done ${bytes(figures.size_done)} (${figures.progress}%)`);
    lines.push(
      figures.speed === null
        ? `Speed: none reported (${figures.running} running)`
        : `Speed: ${figures.speed_total} MB/s over ${figures.running} running (mean ${figures.speed} MB/s)`,
    );
  }
  lines.push('');
  if (jobs.length === 0) {
    lines.push(`No ${kind}.`);
  } else {
    lines.push(...table(columnsOf(spec), jobs));
    if (figures.count > jobs.length) {
      lines.push(`... and ${figures.count - jobs.length} more: a report lists ${REPORT_ROWS} at most.`);
    }
  }
  return `${lines.join('\n')}\n`;
}

interface Column {
  readonly title: string;
  readonly cell: (job: Row) => string;
  readonly right?: boolean;
}

const text = (value: unknown) => (value === null || value === undefined ? '-' : String(value));

/** The columns of a type's table: what its jobs have of name, status, progress, size, speed, ends, date, creator. */
function columnsOf(spec: EntityTypeSpec): Column[] {
  const columns: Column[] = [
    { title: 'Name', cell: (job) => text(job.name) },
    { title: 'Status', cell: (job) => text(job.status) },
  ];
  if (spec.attributes.size) {
    columns.push(
      { title: 'Progress', cell: (job) => `${Number(job.progress ?? 0).toFixed(1)}%`, right: true },
      { title: 'Size', cell: (job) => (job.size === null ? '-' : bytes(Number(job.size))), right: true },
      { title: 'Speed', cell: (job) => (Number(job.speed) >= 0 ? `${job.speed} MB/s` : '-'), right: true },
    );
  }
  if (spec.attributes.source) columns.push({ title: 'From', cell: (job) => text(job.source_hr) });
  if (spec.attributes.destination) columns.push({ title: 'To', cell: (job) => text(job.destination_hr) });
  if (spec.attributes.priority) columns.push({ title: 'Priority', cell: (job) => text(job.priority), right: true });
  columns.push(
    { title: 'Created', cell: (job) => text(job.created).replace('T', ' ') },
    { title: 'By', cell: (job) => text(job.user_hr ?? job.creator_hr) },
    { title: 'Id', cell: (job) => text(job.id) },
  );
  return columns;
}

const WIDEST = 48;

/**
 * Rows of aligned columns under a header and a rule: a cell is one line (control characters become blanks), and one
 * wider than WIDEST is cut with an ellipsis.
 */
function table(columns: readonly Column[], jobs: readonly Row[]): string[] {
  const cut = (text: string) => {
    // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it replaces.
    const cell = text.replace(/[\u0000-\u001f\u007f]/g, ' ');
    return cell.length > WIDEST ? `${cell.slice(0, WIDEST - 1)}…` : cell;
  };
  const cells = jobs.map((job) => columns.map((column) => cut(column.cell(job))));
  const widths = columns.map((column, i) =>
    Math.max(column.title.length, ...cells.map((row) => (row[i] as string).length)),
  );
  const line = (row: readonly string[]) =>
    row
      .map((cell, i) => (columns[i]?.right ? cell.padStart(widths[i] as number) : cell.padEnd(widths[i] as number)))
      .join('  ')
      .trimEnd();
  return [
    line(columns.map((column) => column.title)),
    line(widths.map((width) => '-'.repeat(width))),
    ...cells.map(line),
  ];
}

/** A byte count in decimal units, as speeds are in MB/s: 0 B, 999 B, 1.5 KB, 2.3 GB. */
export function bytes(count: number): string {
  const units = ['B', 'KB', 'MB', 'GB', 'TB', 'PB'];
  let value = count;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${units[unit]}`;
}
