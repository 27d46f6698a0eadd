/**
 * Reading a value written in a query as the type of the attribute it is compared with. Each reader returns
 * undefined when the text cannot be read so; the caller names the problem.
 */

const NUMBER = /^[+-]?(\d+(\.\d*)?|\.\d+)(e[+-]?\d+)?$/i;

export function readNumber(text: string): number | undefined {
  if (!NUMBER.test(text)) return undefined;
  const value = Number(text);
  return Number.isFinite(value) ? value : undefined;
}

const BOOLEANS: Readonly<Record<string, boolean>> = { true: true, false: false, '1': true, '0': false };

export function readBoolean(text: string): boolean | undefined {
  // Own keys only: `constructor` is no boolean.
  const key = text.toLowerCase();
  return Object.hasOwn(BOOLEANS, key) ? BOOLEANS[key] : undefined;
}

/**
 * A date as written, read as the span of time it names: `2024-05` is all of May 2024, `2024-05-01` that day,
 * `2024-05-01T10:30` that minute. `=` tests whether an instant falls in the span, `<` whether it lies before it,
 * `>` after it, so that <, = and > split time in three whatever the precision written.
 */
export interface DateSpan {
  /** The first instant of the span. */
  readonly start: Date;
  /** The first instant after the span. */
  readonly end: Date;
}

// YYYY[-MM[-DD[(T| )HH:MM[:SS[.fff]]]]][Z|±HH[:]MM]; a zone needs a time.
const DATE =
  /^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?(Z|[+-]\d{2}:?\d{2})?)?)?)?$/i;

export function readDate(text: string): DateSpan | undefined {
  const match = DATE.exec(text.trim());
  if (!match) return undefined;
  const [, y, mo, d, h, mi, s, fraction, zone] = match;
  const year = Number(y);
  const month = mo === undefined ? 1 : Number(mo);
  const day = d === undefined ? 1 : Number(d);
  const hour = Number(h ?? 0);
  const minute = Number(mi ?? 0);
  const second = Number(s ?? 0);
  // Beyond milliseconds, a Date has no room: the span is the millisecond the instant falls in.
  const millisecond = fraction === undefined ? 0 : Number(fraction.slice(0, 3).padEnd(3, '0'));
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month) || hour > 23 || minute > 59 || second > 59) {
    return undefined;
  }
  const offset = zoneOffsetMinutes(zone);
  if (offset === undefined) return undefined;
  const at = (y: number, monthIndex: number, dd: number, hh: number, mm: number, ss: number, ms: number) =>
    new Date(utc(y, monthIndex, dd, hh, mm, ss, ms) - offset * 60_000);
  const start = at(year, month - 1, day, hour, minute, second, millisecond);
  // The end is the start of the next unit at the precision written; Date arithmetic carries overflowing fields.
  let end: Date;
  if (mo === undefined) end = at(year + 1, 0, 1, 0, 0, 0, 0);
  else if (d === undefined) end = at(year, month, 1, 0, 0, 0, 0);
  else if (h === undefined) end = at(year, month - 1, day + 1, 0, 0, 0, 0);
  else if (s === undefined) end = at(year, month - 1, day, hour, minute + 1, 0, 0);
  else if (fraction === undefined) end = at(year, month - 1, day, hour, minute, second + 1, 0);
  else end = at(year, month - 1, day, hour, minute, second, millisecond + 1);
  return { start, end };
}

/** Milliseconds since the epoch of a UTC date; unlike Date.UTC it reads years 0-99 as written. */
function utc(year: number, monthIndex: number, day: number, h: number, m: number, s: number, ms: number): number {
  const date = new Date(0);
  date.setUTCFullYear(year, monthIndex, day);
  date.setUTCHours(h, m, s, ms);
  return date.getTime();
}

function daysInMonth(year: number, month: number): number {
  return new Date(utc(year, month, 0, 0, 0, 0, 0)).getUTCDate();
}

function zoneOffsetMinutes(zone: string | undefined): number | undefined {
  if (zone === undefined || zone.toUpperCase() === 'Z') return 0;
  const sign = zone[0] === '-' ? -1 : 1;
  const digits = zone.slice(1).replace(':', '');
  const hours = Number(digits.slice(0, 2));
  const minutes = Number(digits.slice(2));
  if (hours > 23 || minutes > 59) return undefined;
  return sign * (hours * 60 + minutes);
}
