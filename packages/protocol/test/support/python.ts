import { execFileSync } from 'node:child_process';
import { Float } from '../../src/index.js';

/**
 * The real Python 3 of this machine as the oracle: a script reads one JSON document from stdin and prints one,
 * so that a whole batch of cases costs one process.
 */
export function python(script: string, input: unknown = null): unknown {
  const output = execFileSync('python3', ['-c', script], {
    input: JSON.stringify(input),
    encoding: 'utf8',
    maxBuffer: 512 * 1024 * 1024,
  });
  return JSON.parse(output);
}

/**
 * Python that turns our tagged description (see `tagged`) back into Python values: ints, floats and datetimes,
 * and the official client's encoder for datetimes.
 */
export const PYTHON_VALUES = String.raw`
import base64, datetime, gzip, json, sys, urllib.parse

class JSONEncoder(json.JSONEncoder):
    def default(self, obj):
        if isinstance(obj, datetime.date) or isinstance(obj, datetime.datetime):
            return obj.strftime("%Y-%m-%dT%H:%M:%S")
        return super().default(obj)

def untag(d):
    if len(d) == 1:
        (key, value), = d.items()
        if key == "\x00int":
            return int(value)
        if key == "\x00float":
            return float(value)
        if key == "\x00date":
            return datetime.datetime(*value)
    return d

def dumps(value):
    return json.dumps(value, cls=JSONEncoder)

cases = json.loads(sys.stdin.read(), object_hook=untag)
`;

/** The prefix of our tags; generated dict keys must not start with it. */
export const TAG = '\u0000';

/**
 * Describes one of our values in plain JSON that Python reads back as the same value: integers (which JSON.stringify
 * would write as floats from 1e21 on, and which bigints cannot be) and Floats and Dates become one-key tags.
 */
export function tagged(value: unknown): unknown {
  if (typeof value === 'bigint') return { [`${TAG}int`]: value.toString() };
  if (typeof value === 'number' && Number.isInteger(value)) return { [`${TAG}int`]: BigInt(value).toString() };
  if (value instanceof Float) return { [`${TAG}float`]: Object.is(value.value, -0) ? '-0' : String(value.value) };
  if (value instanceof Date) {
    const d = value;
    const parts = [d.getUTCFullYear(), d.getUTCMonth() + 1, d.getUTCDate(), d.getUTCHours(), d.getUTCMinutes()];
    return { [`${TAG}date`]: [...parts, d.getUTCSeconds()] };
  }
  if (Array.isArray(value)) return value.map(tagged);
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, tagged(item)]));
  }
  return value;
}
