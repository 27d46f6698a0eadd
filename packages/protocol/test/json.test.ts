import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { encodeEnvelope, encodeJson, estimateSize, Float, queryStringOf } from '../src/index.js';
import { REFERENCE_ENVELOPE } from './support/envelopes.js';
import { PYTHON_VALUES, python, TAG, tagged } from './support/python.js';

/**
 * The envelope must come out byte for byte as the official client writes it, so every case is checked against
 * the real Python: `json.dumps` with the client's date encoder, `urllib.parse.quote(safe='/')` and the client's
 * size estimate. All cases of this file go to one Python process, which answers before the tests run.
 */

/** JSON-like values of every kind our encoder takes; keys never look like the oracle's tags. */
const jsonValue = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.string({ unit: 'binary', maxLength: 12 }),
    fc.string({ unit: 'grapheme', maxLength: 12 }),
    fc.string({
      unit: fc.constantFrom('"', '\\', '/', '\n', '\u0000', '\u007f', '\ud800', '\udc00', ' ', '+'),
      maxLength: 8,
    }),
    fc.integer(),
    fc.maxSafeInteger(),
    fc.bigInt({ min: -(2n ** 200n), max: 2n ** 200n }),
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.double({ noNaN: true, noDefaultInfinity: true }).map((x) => new Float(x)),
    fc.boolean(),
    fc.constant(null),
    // Python's strftime writes years before 1000 without padding; formatDate pads them (see dates.test.ts).
    fc.date({ min: new Date('1000-01-01T00:00:00Z'), max: new Date('9999-12-31T23:59:59Z'), noInvalidDate: true }),
    fc.array(tie('value'), { maxLength: 5 }),
    fc.dictionary(
      fc.string({ unit: 'binary', maxLength: 8 }).filter((key) => !key.startsWith(TAG)),
      tie('value'),
      { maxKeys: 5 },
    ),
  ),
})).value;

const VALUES = {
  example: [REFERENCE_ENVELOPE],
  unicode: ['é', '😀', 'ÆØÅ æøå', '日本語', '\u2028\u2029', '\ud800', '\udfff', 'a\ud83db', '\uffff'],
  escapes: [
    Array.from({ length: 32 }, (_, i) => String.fromCharCode(i)).join(''),
    '"',
    '\\',
    '/',
    'a/b\\c"d',
    "it's",
    '\u007f',
    "~!*()'+ &=?#%",
  ],
  plain: [
    null,
    true,
    false,
    0,
    -0,
    42,
    -7,
    Number.MAX_SAFE_INTEGER,
    -Number.MAX_SAFE_INTEGER,
    1e21,
    -1e300,
    2n ** 100n,
    -(2n ** 64n),
    [],
    {},
    [[[]], {}, [{}]],
    { a: { b: { c: [1, 'x', { d: null }] } } },
    { '': '', ' ': ' ', ké: 'é', '1': 'one', b: 2 },
  ],
  floats: [
    new Float(1),
    new Float(0),
    new Float(-0),
    new Float(1e15),
    new Float(1e16),
    new Float(1e20),
    new Float(-1e300),
    1.5,
    -2.25,
    0.1,
    1 / 3,
    0.0001,
    0.00001,
    1.5e-7,
    5e-324,
    Number.MAX_VALUE,
    123456789.125,
    4503599627370495.5,
  ],
  dates: [
    { created: new Date(Date.UTC(2026, 10, 27, 18, 23, 39, 999)), list: [new Date(Date.UTC(1999, 0, 2, 3, 4, 5))] },
  ],
  random: fc.sample(jsonValue, { numRuns: 200, seed: 20261127 }),
};
type Group = keyof typeof VALUES;

const STRINGS = {
  ascii: [Array.from({ length: 128 }, (_, i) => String.fromCharCode(i)).join(''), '%25', '+', ' ', "!*()'", 'é😀日本'],
  random: fc.sample(fc.string({ unit: 'binary', maxLength: 40 }), { numRuns: 200, seed: 7 }),
};

const ORACLE = `${PYTHON_VALUES}
def estimate(o):
    result = 0
    if o is not None:
        if isinstance(o, dict):
            for key, value in list(o.items()):
                result += len(key) + estimate(value)
        elif isinstance(o, list):
            for item in o:
                result += estimate(item)
        elif isinstance(o, str):
            result += len(o)
        else:
            result += 10
    return result

print(json.dumps({
    "values": {group: [[dumps(c), urllib.parse.quote(dumps(c), safe="/"), estimate(c)] for c in values]
               for group, values in cases["values"].items()},
    "strings": {group: [urllib.parse.quote(s, safe="/") for s in strings] for group, strings in cases["strings"].items()},
}))
`;

interface Answers {
  values: Record<Group, [string, string, number][]>;
  strings: Record<keyof typeof STRINGS, string[]>;
}
let python3: Answers;

beforeAll(() => {
  const values = Object.fromEntries(Object.entries(VALUES).map(([group, cases]) => [group, cases.map(tagged)]));
  python3 = python(ORACLE, { values, strings: STRINGS }) as Answers;
});

/** Our json.dumps, quote and size estimate of each value of `group` are Python's. */
function expectPythonAgrees(group: Group): void {
  const ours = VALUES[group].map((value) => {
    const json = encodeJson(value);
    return [json, queryStringOf(json), estimateSize(value)];
  });
  expect(ours).toEqual(python3.values[group]);
}

describe('encodeJson writes what Python json.dumps writes', () => {
  it('writes the example envelope of §1.6 with spaces after , and :', () => {
    const json = encodeEnvelope(REFERENCE_ENVELOPE);
    expect(json).toBe(
      '{"audience": "api", "workspace": "acme", "eid": "0cca6f6e-8a38-4b0e-9d39-5b5c8ba1d3b7", "session": "sess-1", ' +
        '"uri": "transfer/find", "ident": "john@user.com", "created": "2026-11-27T18:23:39", "hostname": "vm", ' +
        '"data": {"finished": true, "limit": 5, "skip": 2, "attributes": ["source"]}, ' +
        `"query": "name='my file' and status=done"}`,
    );
    expect(queryStringOf(json)).toMatch(/^%7B%22audience%22%3A%20%22api%22%2C%20/);
    expect(queryStringOf(json)).toContain('%22transfer/find%22');
    expect(queryStringOf(json)).toContain('john%40user.com');
    expectPythonAgrees('example');
  });

  it('escapes non-ASCII as \\uXXXX in lowercase hex, astral characters as surrogate pairs', () => {
    expect(encodeJson('é😀')).toBe('"\\u00e9\\ud83d\\ude00"');
    expect(encodeJson('\ud800 lone')).toBe('"\\ud800 lone"');
    expectPythonAgrees('unicode');
  });

  it("uses Python's escapes for quotes, backslashes and control characters, and leaves / alone", () => {
    expect(encodeJson('"\\/\n\r\t\b\f\u0000\u001f\u007f')).toBe('"\\"\\\\/\\n\\r\\t\\b\\f\\u0000\\u001f\\u007f"');
    expectPythonAgrees('escapes');
  });

  it('writes null, booleans, integers and nested containers as Python does', () => {
    expect(encodeJson({ a: [1, -2, null, true, false], b: {}, c: [] })).toBe(
      '{"a": [1, -2, null, true, false], "b": {}, "c": []}',
    );
    expectPythonAgrees('plain');
  });

  it('writes integral JS numbers as ints and Float-marked ones as Python floats', () => {
    expect(encodeJson(1)).toBe('1');
    expect(encodeJson(new Float(1))).toBe('1.0');
    expect(encodeJson(1e20)).toBe('100000000000000000000');
    expect(encodeJson(new Float(1e20))).toBe('1e+20');
    expect(encodeJson(0.00001)).toBe('1e-05');
    expectPythonAgrees('floats');
  });

  it('writes dates as the official encoder does: naive UTC, no fraction', () => {
    expect(encodeJson({ created: new Date(Date.UTC(2026, 10, 27, 18, 23, 39, 999)) })).toBe(
      '{"created": "2026-11-27T18:23:39"}',
    );
    expectPythonAgrees('dates');
  });

  it('leaves out undefined properties, writes undefined array items as null and refuses what JSON cannot hold', () => {
    expect(encodeJson({ a: undefined, b: [undefined], c: 1 })).toBe('{"b": [null], "c": 1}');
    expect(() => encodeJson(Number.NaN)).toThrow(TypeError);
    expect(() => encodeJson(new Float(Number.POSITIVE_INFINITY))).toThrow(TypeError);
    expect(() => encodeJson({ f: () => 1 })).toThrow(TypeError);
    expect(() => encodeJson(undefined)).toThrow(TypeError);
    const cycle: Record<string, unknown> = {};
    cycle.self = cycle;
    expect(() => encodeJson(cycle)).toThrow(/circular/);
    const shared = { x: 1 };
    expect(encodeJson([shared, shared])).toBe('[{"x": 1}, {"x": 1}]');
  });

  it('agrees with json.dumps, quote and the size estimate on 200 random values', () => {
    expectPythonAgrees('random');
  });
});

describe('queryStringOf percent-encodes as urllib.parse.quote(s, safe="/")', () => {
  it('keeps letters, digits, _.-~ and /, and escapes everything else as uppercase UTF-8 %XX', () => {
    expect(queryStringOf('a+b c/~_.-@é😀')).toBe('a%2Bb%20c/~_.-%40%C3%A9%F0%9F%98%80');
    expect(STRINGS.ascii.map(queryStringOf)).toEqual(python3.strings.ascii);
  });

  it('agrees with quote on 200 random Unicode strings', () => {
    expect(STRINGS.random.map(queryStringOf)).toEqual(python3.strings.random);
  });

  it('refuses a lone surrogate, as Python does', () => {
    expect(() => queryStringOf('\ud800')).toThrow(TypeError);
  });
});
