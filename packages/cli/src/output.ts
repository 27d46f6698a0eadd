import Table from 'cli-table3';
import type { Io } from './io.js';

/** How results are printed: a table for a person at a terminal, JSON for a program or a pipe. */
export type Format = 'table' | 'json' | 'ndjson';

export function formatOf(options: { json?: boolean; ndjson?: boolean }, io: Io): Format {
  if (options.ndjson) return 'ndjson';
  if (options.json) return 'json';
  return io.stdout.isTTY ? 'table' : 'json';
}

/** Dates in ISO 8601, to the second, in UTC: `2026-11-27T09:30:00Z`. */
export function isoDate(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function jsonOf(value: unknown, indent?: number): string {
  return JSON.stringify(
    value,
    function (this: Record<string, unknown>, key, v) {
      const raw = this[key];
      return raw instanceof Date ? isoDate(raw) : v;
    },
    indent,
  );
}

/** Columns apart by two spaces, without rules, as `ps` and `kubectl get` print them. */
const PLAIN = {
  chars: {
    top: '',
    'top-mid': '',
    'top-left': '',
    'top-right': '',
    bottom: '',
    'bottom-mid': '',
    'bottom-left': '',
    'bottom-right': '',
    left: '',
    'left-mid': '',
    mid: '',
    'mid-mid': '',
    right: '',
    'right-mid': '',
    middle: '  ',
  },
  style: { head: [], border: [], 'padding-left': 0, 'padding-right': 0 },
};

/** The columns of a table when `--attributes` picks none: the usual ones the entities have, in this order. */
const USUAL = ['id', 'code', 'name', 'email', 'role', 'status', 'progress', 'source', 'destination', 'user', 'created'];

/** Prints a list of entities (or of plain values, such as the entity types), and at a terminal how many. */
export function printList(
  io: Io,
  items: readonly unknown[],
  format: Format,
  columns?: readonly string[],
  noun: readonly [one: string, many: string] = ['entity', 'entities'],
): void {
  if (format === 'ndjson') {
    for (const item of items) io.stdout.write(`${jsonOf(item)}\n`);
    return;
  }
  if (format === 'json') {
    io.stdout.write(`${jsonOf(items, 2)}\n`);
    return;
  }
  if (items.length === 0) {
    io.stdout.write('Nothing found.\n');
    return;
  }
  if (!items.every(isRecord)) {
    for (const item of items) io.stdout.write(`${cell(item)}\n`);
    return;
  }
  const records = items as readonly Record<string, unknown>[];
  const picked = columns ?? defaultColumns(records);
  const table = new Table({ head: [...picked], ...PLAIN });
  for (const record of records) table.push(picked.map((column) => cell(shown(record, column))));
  io.stdout.write(`${plain(table)}\n${records.length} ${records.length === 1 ? noun[0] : noun[1]}\n`);
}

/** Prints one entity: its attributes one per line at a terminal. */
export function printOne(io: Io, item: unknown, format: Format): void {
  if (format !== 'table' || !isRecord(item)) {
    io.stdout.write(`${jsonOf(item, format === 'json' ? 2 : undefined)}\n`);
    return;
  }
  const table = new Table(PLAIN);
  for (const key of Object.keys(item)) {
    if (key.endsWith('_hr') && key.slice(0, -3) in item) continue;
    table.push([`${key}:`, cell(shown(item, key))]);
  }
  io.stdout.write(`${plain(table)}\n`);
}

function plain(table: Table.Table): string {
  return table
    .toString()
    .split('\n')
    .map((line) => line.trimEnd())
    .join('\n');
}

function defaultColumns(records: readonly Record<string, unknown>[]): string[] {
  const keys = new Set(records.flatMap((record) => Object.keys(record)));
  // A transfer's code is its name: one column is enough.
  const sameCode = records.every((record) => record.code === record.name);
  const usual = USUAL.filter((key) => keys.has(key) && !(key === 'code' && sameCode));
  if (usual.length > 1) return usual;
  // Something unusual, such as the attributes of a type: every attribute that is not an object.
  return [...keys].filter((key) => !key.endsWith('_hr') && records.every((r) => !isRecord(r[key])));
}

/** A reference reads better by its name: `user_hr` (an e-mail) rather than `user` (an id). */
function shown(record: Record<string, unknown>, key: string): unknown {
  const readable = record[`${key}_hr`];
  return readable === undefined || readable === null || readable === '' ? record[key] : readable;
}

function cell(value: unknown): string {
  if (value === undefined || value === null) return '';
  if (value instanceof Date) return isoDate(value);
  if (typeof value === 'object') return jsonOf(value);
  return String(value);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Date);
}

/** A byte count for people, in decimal units as speeds in MB/s are: 0 B, 999 B, 1.5 KB, 2.3 GB. */
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

/** A speed in MB/s as the server and the client give it; `idle` when there is none (the server's -1). */
export function speedOf(speed: number | null | undefined): string {
  return typeof speed === 'number' && speed >= 0 ? `${speed.toFixed(1)} MB/s` : 'idle';
}

/** Seconds left for people: `1h2m3s left`, or nothing while unknown. */
export function timeLeft(seconds: number | null | undefined): string {
  if (typeof seconds !== 'number' || seconds <= 0) return '';
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = Math.floor(seconds % 60);
  return `${h > 0 ? `${h}h` : ''}${h > 0 || m > 0 ? `${m}m` : ''}${s}s left`;
}
