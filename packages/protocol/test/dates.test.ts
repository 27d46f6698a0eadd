import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatDate, formatIsoDate, parseWireDate, reviveDates } from '../src/index.js';
import { python } from './support/python.js';

/** A UTC date from its fields, years 0-99 included (which Date.UTC would move to the 1900s). */
function utc(year: number, month: number, day: number, hour: number, minute: number, second: number, ms = 0): Date {
  const date = new Date(Date.UTC(2000, 0, 1, hour, minute, second, ms));
  date.setUTCFullYear(year, month - 1, day);
  return date;
}

describe('formatDate', () => {
  it('writes UTC as YYYY-MM-DDTHH:MM:SS, without fraction or zone', () => {
    expect(formatDate(new Date('2026-11-27T18:23:39.999+02:00'))).toBe('2026-11-27T16:23:39');
    expect(formatDate(utc(2024, 2, 29, 0, 0, 0))).toBe('2024-02-29T00:00:00');
  });

  it('pads years before 1000 to four digits, where Python writes them unpadded', () => {
    expect(formatDate(utc(999, 1, 2, 3, 4, 5))).toBe('0999-01-02T03:04:05');
  });

  it('refuses invalid dates and years Python cannot hold', () => {
    expect(() => formatDate(new Date(Number.NaN))).toThrow(RangeError);
    expect(() => formatDate(utc(10000, 1, 1, 0, 0, 0))).toThrow(/1 to 9999/);
    expect(() => formatDate(utc(0, 1, 1, 0, 0, 0))).toThrow(RangeError);
  });
});

describe('formatIsoDate', () => {
  /** What it must always answer: formatDate of the text read as a Date, or formatDate's error. */
  const expected = (text: string) => {
    try {
      return formatDate(new Date(text));
    } catch (error) {
      return error;
    }
  };
  const actual = (text: string) => {
    try {
      return formatIsoDate(text);
    } catch (error) {
      return error;
    }
  };

  it('writes a date kept as toISOString text as formatDate writes the date', () => {
    const anyDate = fc.date({ min: new Date(-62135596800000), max: new Date(253402300799999), noInvalidDate: true });
    fc.assert(fc.property(anyDate, (date) => formatIsoDate(date.toISOString()) === formatDate(date)));
  });

  it('reads any other text as new Date does, with the same errors', () => {
    for (const text of [
      '2024-02-29T10:00:00.000Z',
      '2023-02-29T10:00:00.000Z',
      '2026-04-31T00:00:00.000Z',
      '0000-01-01T00:00:00.000Z',
      '2026-11-27T18:23:39.999+02:00',
      '2026-11-27T18:23:39Z',
      '2026-13-01T00:00:00.000Z',
      '+010000-01-01T00:00:00.000Z',
      'not a date',
    ]) {
      expect(actual(text)).toEqual(expected(text));
    }
  });
});

const PARSED: [string, Date][] = [
  ['2026-11-27T18:23:39', utc(2026, 11, 27, 18, 23, 39)],
  ['2026-11-27T18:23:39.123', utc(2026, 11, 27, 18, 23, 39, 123)],
  ['2024-02-29T23:59:59', utc(2024, 2, 29, 23, 59, 59)],
  ['0001-01-01T00:00:00', utc(1, 1, 1, 0, 0, 0)],
  ['0099-06-01T00:00:00', utc(99, 6, 1, 0, 0, 0)],
  ['00-01-01T00:00:00', utc(2000, 1, 1, 0, 0, 0)],
  ['68-12-31T00:00:00', utc(2068, 12, 31, 0, 0, 0)],
  ['69-01-01T00:00:00', utc(1969, 1, 1, 0, 0, 0)],
  ['99-01-01T00:00:00.500', utc(1999, 1, 1, 0, 0, 0, 500)],
];

const KEPT: [string, string][] = [
  ['a Z', '2026-11-27T18:23:39Z'],
  ['an offset', '2026-02-09T09:17:45+01:00'],
  ['microseconds', '2026-11-27T18:23:39.123456'],
  ['two fraction digits', '2026-11-27T18:23:39.12'],
  ['a space for the T', '2026-11-27 18:23:39'],
  ['a date alone', '2026-11-27'],
  ['a 3-digit year, which Python fails to parse', '202-11-27T18:23:39'],
  ['a 5-digit year', '20266-11-27T18:23:39'],
  ['month 13', '2026-13-01T00:00:00'],
  ['February 29 of a common year', '2023-02-29T00:00:00'],
  ['day 0', '2026-01-00T00:00:00'],
  ['hour 24', '2026-01-01T24:00:00'],
  ['second 60', '2026-01-01T00:00:60'],
  ['year 0', '0000-01-01T00:00:00'],
  ['a separator other than . before the milliseconds, which Python fails to parse', '2026-11-27T18:23:39x123'],
  ['a newline before the milliseconds', '2026-11-27T18:23:39\n123'],
  ['a trailing newline', '2026-11-27T18:23:39\n'],
  ['non-ASCII digits', '２０２６-11-27T18:23:39'],
  ['text around it', 'on 2026-11-27T18:23:39'],
];

/** The official decoder's reading of one string, in Python: a date's fields, the string kept, or a failure. */
const OFFICIAL_DECODER = `
import datetime, json, re, sys

def decode(s):
    printable = s.encode().decode("ascii", "ignore")
    if re.match("^[0-9]{2,4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}$", printable):
        fmt = "%Y-%m-%dT%H:%M:%S" if len(s.split("-")[0]) == 4 else "%y-%m-%dT%H:%M:%S"
    elif re.match("^[0-9]{2,4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}.[0-9]{3}$", printable):
        fmt = "%Y-%m-%dT%H:%M:%S.%f" if len(s.split("-")[0]) == 4 else "%y-%m-%dT%H:%M:%S.%f"
    else:
        return "kept"
    try:
        d = datetime.datetime.strptime(s, fmt)
    except ValueError:
        return "fails"
    return [d.year, d.month, d.day, d.hour, d.minute, d.second, d.microsecond // 1000]

print(json.dumps([decode(s) for s in json.load(sys.stdin)]))
`;

describe('parseWireDate follows the official decoder', () => {
  it.each(PARSED)('reads %s as UTC', (text, date) => {
    expect(parseWireDate(text)).toEqual(date);
  });

  it.each(KEPT)('leaves a string with %s as it is', (_, text) => {
    expect(parseWireDate(text)).toBe(text);
  });

  it("agrees with the official decoder's Python on all of the above, keeping the strings on which Python fails", () => {
    const texts = [...PARSED.map(([text]) => text), ...KEPT.map(([, text]) => text)];
    const official = python(OFFICIAL_DECODER, texts) as (string | Parameters<typeof utc>)[];
    const expected = official.map((reading, i) => (Array.isArray(reading) ? utc(...reading) : texts[i]));
    expect(texts.map(parseWireDate)).toEqual(expected);
    // The failures are the strings the regex admits that strptime then refuses, which break Python's whole response.
    expect(texts.filter((_, i) => official[i] === 'fails')).toEqual([
      '202-11-27T18:23:39',
      '2026-13-01T00:00:00',
      '2023-02-29T00:00:00',
      '2026-01-00T00:00:00',
      '2026-01-01T24:00:00',
      '2026-01-01T00:00:60',
      '0000-01-01T00:00:00',
      '2026-11-27T18:23:39x123',
      '2026-11-27T18:23:39\n',
    ]);
  });
});

describe('reviveDates walks as the official decoder does', () => {
  const wire = '2026-11-27T18:23:39';
  const date = utc(2026, 11, 27, 18, 23, 39);

  it('turns dict values into dates, recursively and in dicts directly inside lists', () => {
    expect(
      reviveDates({ created: wire, nested: { deeper: { at: wire } }, list: [{ at: wire }, wire, 3], n: 1, b: null }),
    ).toEqual({ created: date, nested: { deeper: { at: date } }, list: [{ at: date }, wire, 3], n: 1, b: null });
  });

  it('strips the ObjectId: prefix from dict values', () => {
    expect(reviveDates({ id: 'ObjectId:5b0f1c2d3e4f5a6b7c8d9e0f', ids: [{ id: 'ObjectId:x' }, 'ObjectId:y'] })).toEqual(
      {
        id: '5b0f1c2d3e4f5a6b7c8d9e0f',
        ids: [{ id: 'x' }, 'ObjectId:y'],
      },
    );
  });

  it('leaves top-level scalars, top-level lists and lists inside lists alone', () => {
    expect(reviveDates(wire)).toBe(wire);
    expect(reviveDates('ObjectId:x')).toBe('ObjectId:x');
    expect(reviveDates([{ at: wire }])).toEqual([{ at: wire }]);
    expect(reviveDates({ grid: [[{ at: wire }], [wire]] })).toEqual({ grid: [[{ at: wire }], [wire]] });
  });

  it('returns a new value, keeping a __proto__ key an ordinary key', () => {
    const input = JSON.parse(`{"result": [{"created": "${wire}"}], "__proto__": {"polluted": "${wire}"}}`);
    const output = reviveDates(input) as Record<string, unknown>;
    expect(input.result[0].created).toBe(wire);
    expect(Object.getPrototypeOf(output)).toBe(Object.prototype);
    expect(Object.getOwnPropertyDescriptor(output, '__proto__')?.value).toEqual({ polluted: date });
  });
});
