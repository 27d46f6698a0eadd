import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { describe, it } from 'vitest';
import {
  decodeEnvelope,
  type Envelope,
  encodeEnvelope,
  encodeRequest,
  ProtocolError,
  queryStringOf,
  type WireRequest,
} from '../src/index.js';
import { REFERENCE_ENVELOPE } from './support/envelopes.js';

/**
 * Whatever arrives, decodeEnvelope answers with an envelope that has a non-empty string uri or with a
 * ProtocolError carrying a 4xx status, and never throws anything else. Runs 100,000 requests in CI: mutations of
 * real envelopes (in query strings, text bodies and byte bodies), random text and bytes, well-formed JSON with
 * fields of the wrong kinds, and corrupted gz_data.
 */

const TOTAL = process.env.CI ? 100_000 : 10_000;

const CORPUS: Envelope[] = [
  { ...REFERENCE_ENVELOPE, data: { finished: true, limit: 5, attributes: ['source'], name: 'é😀 +&=?#%' } },
  { uri: 'user/delete', data: null, id: '614d660de50d45bb027c9bdd' },
  { uri: 'task/edit', data: [{ uri: '2', status: 'onhold' }], id: '614d660de50d45bb027c9bdd' },
  { uri: 'workspace/publish/preprocess', gz_data: gzipSync('{"files": [1, 2, 3]}').toString('base64') },
];
const PIECES = [
  '%',
  '%2',
  '%zz',
  '%FF',
  '%C3',
  '"',
  '\\',
  '\\u',
  '{',
  '}',
  '[',
  ']',
  ',',
  ':',
  'null',
  '1e999',
  '=',
  '+',
];
const MORE_PIECES = [...PIECES, 'H4sI', '"gz_data": "', '"data": ', '"uri": ', '😀', '\ud800', '\0', ' '];
const anyMethod = fc.oneof(
  { weight: 9, arbitrary: fc.constantFrom('GET', 'PUT', 'POST', 'DELETE') },
  { weight: 1, arbitrary: fc.constantFrom('get', 'Delete', 'PATCH', 'HEAD', '') },
);

/** Applies a few random insertions, deletions and replacements to `text`. */
function mutate(text: string, edits: [number, number, string, number][]): string {
  return edits.reduce((out, [at, kind, piece, length]) => {
    const i = at % (out.length + 1);
    if (kind === 0) return out.slice(0, i) + piece + out.slice(i);
    if (kind === 1) return out.slice(0, i) + out.slice(i + length + 1);
    return out.slice(0, i) + piece + out.slice(i + length + 1);
  }, text);
}

const edits = fc.array(fc.tuple(fc.nat(), fc.nat(2), fc.constantFrom(...MORE_PIECES), fc.nat(3)), {
  minLength: 1,
  maxLength: 6,
});

const mutated: fc.Arbitrary<WireRequest> = fc
  .tuple(fc.constantFrom(...CORPUS), anyMethod, fc.nat(2), edits)
  .map(([envelope, method, form, changes]) => {
    const json = mutate(encodeEnvelope(envelope), changes);
    if (form === 0) return { method, rawQuery: mutate(queryStringOf(encodeEnvelope(envelope)), changes) };
    return { method, rawQuery: json, body: form === 1 ? json : Buffer.from(json) };
  });

const text = fc.oneof(
  fc.string({ unit: fc.constantFrom(...PIECES, 'a', 'uri', '1'), maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 40 }),
);
const random: fc.Arbitrary<WireRequest> = fc.record(
  {
    method: anyMethod,
    rawQuery: text,
    body: fc.oneof(
      text,
      fc.uint8Array({ maxLength: 40 }).map((bytes) => Buffer.from(bytes)),
    ),
  },
  { requiredKeys: ['method'] },
);

/** Well-formed JSON objects with the envelope's field names holding values of any JSON kind. */
const FIELDS = [
  'audience',
  'workspace',
  'eid',
  'session',
  'uri',
  'ident',
  'created',
  'hostname',
  'data',
  'query',
  'id',
];
const shaped: fc.Arbitrary<WireRequest> = fc
  .tuple(
    fc.constantFrom('GET', 'PUT', 'POST', 'DELETE' as const),
    fc.dictionary(
      fc.constantFrom(...FIELDS, 'gz_data'),
      fc.oneof(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 2 })),
    ),
  )
  .map(([method, fields]) => encodeRequest(method, fields));

/** gz_data whose gzip bytes were flipped, cut or extended, around JSON that may not be an envelope's data. */
const corruptGz: fc.Arbitrary<WireRequest> = fc
  .tuple(
    fc.constantFrom('GET', 'PUT'),
    fc.json({ maxDepth: 2 }),
    fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }),
    fc.integer({ min: -8, max: 4 }),
  )
  .map(([method, json, flips, cut]) => {
    const bytes = Buffer.from(gzipSync(json));
    for (const [at, value] of flips) bytes[at % bytes.length] = value;
    const sized = cut < 0 ? bytes.subarray(0, cut) : Buffer.concat([bytes, Buffer.alloc(cut, 0x1f)]);
    return encodeRequest(method as 'GET' | 'PUT', { uri: 'x', gz_data: sized.toString('base64') });
  });

function check(request: WireRequest): void {
  try {
    const envelope = decodeEnvelope(request);
    if (typeof envelope.uri !== 'string' || envelope.uri === '')
      throw new Error(`accepted ${JSON.stringify(envelope)}`);
  } catch (error) {
    if (!(error instanceof ProtocolError)) throw error;
    if (![400, 405, 413].includes(error.status)) throw new Error(`unexpected status ${error.status}`);
  }
}

describe('fuzzing decodeEnvelope', () => {
  it(`sees nothing but envelopes and ProtocolErrors for ${TOTAL} requests`, () => {
    fc.assert(
      fc.property(
        fc.oneof(
          { weight: 3, arbitrary: mutated },
          { weight: 3, arbitrary: random },
          { weight: 2, arbitrary: shaped },
          { weight: 2, arbitrary: corruptGz },
        ),
        check,
      ),
      { numRuns: TOTAL, seed: 3 },
    );
  });
});
