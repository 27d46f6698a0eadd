/**
 * Dates on the wire are naive UTC `YYYY-MM-DDTHH:MM:SS` strings (§1.10). The decoder mirrors the official
 * client's: it turns matching strings that sit in dict values into dates and strips `ObjectId:` prefixes.
 */

// The official decoder tests `[0-9]`, not `\d`, and its unescaped `.` takes any character but a newline.
const WIRE_DATE = /^([0-9]{2,4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})(?:[^\n]([0-9]{3}))?$/;
const OBJECT_ID_PREFIX = 'ObjectId:';

/** Formats `d` as the wire does: UTC, `YYYY-MM-DDTHH:MM:SS`, no fraction, no zone. */
export function formatDate(d: Date): string {
  const year = d.getUTCFullYear();
  if (Number.isNaN(year)) throw new RangeError('cannot send an invalid Date');
  // Python's datetime, which reads these, knows only years 1 to 9999.
  if (year < 1 || year > 9999) throw new RangeError(`cannot send a date in the year ${year}: the wire takes 1 to 9999`);
  const two = (n: number) => String(n).padStart(2, '0');
  return (
    `${String(year).padStart(4, '0')}-${two(d.getUTCMonth() + 1)}-${two(d.getUTCDate())}` +
    `T${two(d.getUTCHours())}:${two(d.getUTCMinutes())}:${two(d.getUTCSeconds())}`
  );
}

// What `toISOString` writes for the years 1 to 9999 (with the calendar checked in `formatIsoDate`).
const ISO_DATE =
  /^([0-9]{4})-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]\.[0-9]{3}Z$/;

/**
 * `formatDate(new Date(text))` for a date kept as text (the server's columns), without building the Date when the
 * text is in `toISOString`'s own form: the wire's form is then its first 19 characters.
 */
export function formatIsoDate(text: string): string {
  const [, year = '0000', month, day] = ISO_DATE.exec(text) ?? [];
  if (year !== '0000' && Number(day) <= daysInMonth(Number(year), Number(month))) return text.slice(0, 19);
  return formatDate(new Date(text));
}

/**
 * Reads a wire date as the official client does (UTC), or returns `s` unchanged when it is not one. Strings the
 * official client would match but then fail to parse (month 13, a 3-digit year, a separator other than `.` before
 * the milliseconds) stay strings here, where Python would fail the whole response.
 */
export function parseWireDate(s: string): Date | string {
  // Most strings are no dates: a date is 17 to 23 characters long, which is quicker to ask than the pattern.
  if (s.length < 17 || s.length > 23) return s;
  const match = WIRE_DATE.exec(s);
  if (match === null) return s;
  const [, yearText = '', ...fields] = match;
  if (fields[5] !== undefined && s[s.length - 4] !== '.') return s;
  // A 4-digit year is read with %Y, any other with %y, which takes exactly two digits (00-68 are the 2000s).
  if (yearText.length === 3) return s;
  const digits = Number(yearText);
  const year = yearText.length === 4 ? digits : digits + (digits <= 68 ? 2000 : 1900);
  const [month = 0, day = 0, hour = 0, minute = 0, second = 0, ms = 0] = fields.map((field) => Number(field ?? 0));
  if (year < 1 || month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return s;
  if (hour > 23 || minute > 59 || second > 59) return s;
  const date = new Date(Date.UTC(2000, 0, 1, hour, minute, second, ms));
  // Date.UTC maps years 0-99 to the 1900s; setUTCFullYear takes the year as it is.
  date.setUTCFullYear(year, month - 1, day);
  return date;
}

/**
 * Revives a decoded response as the official client does: strings in dict values, recursively and in dicts
 * directly inside lists, become dates when they match and lose an `ObjectId:` prefix. Strings directly inside
 * lists, lists inside lists, a top-level list and top-level scalars are left as they are. Returns a new value.
 */
export function reviveDates(value: unknown): unknown {
  return isRecord(value) ? reviveRecord(value) : value;
}

function reviveRecord(record: Record<string, unknown>): Record<string, unknown> {
  // fromEntries defines keys such as `__proto__` as own properties instead of setting the prototype.
  return Object.fromEntries(Object.entries(record).map(([key, value]) => [key, reviveDictValue(value)]));
}

function reviveDictValue(value: unknown): unknown {
  if (typeof value === 'string') {
    return value.startsWith(OBJECT_ID_PREFIX) ? value.slice(OBJECT_ID_PREFIX.length) : parseWireDate(value);
  }
  if (Array.isArray(value)) return value.map((item) => (isRecord(item) ? reviveRecord(item) : item));
  return isRecord(value) ? reviveRecord(value) : value;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28;
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}
