import { formatDate } from './dates.js';

/**
 * JSON written byte for byte as the official client writes it: Python's `json.dumps` with default settings
 * (`", "` and `": "` separators, `ensure_ascii`) and its encoder that turns datetimes into wire dates (§1.7).
 *
 * Where JavaScript values and Python values differ:
 * - A JS number that is an integer is written as a Python int (`1`, `100000000000000000000`), because JS cannot
 *   tell `1.0` from `1`; wrap it in `Float` to write it as Python writes a float (`1.0`, `1e+20`). Other numbers
 *   are written as Python's `repr(float)` does, which uses the same shortest digits as JS.
 * - NaN and the infinities throw: Python would write `NaN`/`Infinity`, which is not JSON and which our server rejects.
 * - Keys come in JS property order, which puts integer-like keys first; Python keeps insertion order.
 * - As with `JSON.stringify`, object properties that are `undefined` are left out and array items become `null`.
 *   Functions, symbols and cycles throw a TypeError.
 */

/** A number to write as a Python float, for integral values that JS cannot tell from integers. */
export class Float {
  constructor(readonly value: number) {}
}

/** Writes `value` as Python's `json.dumps` does, with the official client's date encoder. */
export function encodeJson(value: unknown): string {
  return encode(value, new Set());
}

function encode(value: unknown, ancestors: Set<object>): string {
  switch (typeof value) {
    case 'string':
      return quote(value);
    case 'number':
      return Number.isInteger(value) ? integer(value) : pythonFloat(value);
    case 'bigint':
      return value.toString();
    case 'boolean':
      return value ? 'true' : 'false';
    case 'object':
      break;
    default:
      throw new TypeError(`cannot encode a ${typeof value} as JSON`);
  }
  if (value === null) return 'null';
  if (value instanceof Date) return quote(formatDate(value));
  if (value instanceof Float) return pythonFloat(value.value);
  if (ancestors.has(value)) throw new TypeError('cannot encode a circular structure as JSON');
  ancestors.add(value);
  const text = Array.isArray(value)
    ? `[${Array.from(value, (item) => (item === undefined ? 'null' : encode(item, ancestors))).join(', ')}]`
    : `{${Object.entries(value)
        .filter(([, item]) => item !== undefined)
        .map(([key, item]) => `${quote(key)}: ${encode(item, ancestors)}`)
        .join(', ')}}`;
  ancestors.delete(value);
  return text;
}

// ensure_ascii escapes everything outside printable ASCII, DEL included, one UTF-16 unit at a time, so an astral
// character becomes its surrogate pair and a lone surrogate is written as it is.
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are exactly what must be escaped.
const NEEDS_ESCAPE = /[\u0000-\u001f"\\\u007f-\uffff]/g;
const SHORT_ESCAPES: Readonly<Record<string, string>> = {
  '"': '\\"',
  '\\': '\\\\',
  '\n': '\\n',
  '\r': '\\r',
  '\t': '\\t',
  '\b': '\\b',
  '\f': '\\f',
};

function quote(s: string): string {
  const escaped = s.replace(
    NEEDS_ESCAPE,
    (c) => SHORT_ESCAPES[c] ?? `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
  return `"${escaped}"`;
}

function integer(n: number): string {
  // String() switches to exponent notation from 1e21; a Python int never does.
  return Number.isSafeInteger(n) ? String(n) : BigInt(n).toString();
}

/** Python's `repr(float)`: the shortest round-trip digits, in exponent notation outside 1e-4 <= |x| < 1e16. */
function pythonFloat(x: number): string {
  if (!Number.isFinite(x)) throw new TypeError(`cannot encode ${x} as JSON`);
  const sign = x < 0 || Object.is(x, -0) ? '-' : '';
  const [mantissa = '', exponent = ''] = Math.abs(x).toExponential().split('e');
  const digits = mantissa.replace('.', '');
  const e = Number(exponent);
  if (e < -4 || e >= 16) {
    const shown = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
    return `${sign}${shown}e${e < 0 ? '-' : '+'}${String(Math.abs(e)).padStart(2, '0')}`;
  }
  if (e < 0) return `${sign}0.${'0'.repeat(-e - 1)}${digits}`;
  return `${sign}${digits.slice(0, e + 1).padEnd(e + 1, '0')}.${digits.slice(e + 1) || '0'}`;
}
