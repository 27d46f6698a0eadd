import { gzipSync } from 'node:zlib';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  decodeEnvelope,
  decodePayload,
  type Envelope,
  encodeEnvelope,
  encodeGzData,
  encodeJson,
  encodeRequest,
  estimateSize,
  GZ_THRESHOLD,
  type Method,
  ProtocolError,
  packData,
  queryStringOf,
  type WireRequest,
} from '../src/index.js';
import { REFERENCE_ENVELOPE } from './support/envelopes.js';
import { PYTHON_VALUES, python } from './support/python.js';

const ENVELOPE: Envelope = {
  ...REFERENCE_ENVELOPE,
  data: { ...REFERENCE_ENVELOPE.data, note: 'é😀 + & = ? # %', empty: null },
  id: '614d660de50d45bb027c9bdd',
};

/** A payload the client's estimate puts above the threshold, so that it travels as gz_data. */
const BIG_DATA = {
  files: Array.from({ length: 2000 }, (_, i) => ({ path: `/projects/${i}/${'x'.repeat(60)}`, size: i })),
};

/** The envelope a request carries must decode to `expected`, as JSON values (key order included). */
function expectDecodes(request: WireRequest, expected: unknown): void {
  const decoded = decodeEnvelope(request);
  expect(decoded).toEqual(expected);
  expect(Object.keys(decoded)).toEqual(Object.keys(expected as object));
}

/** The ProtocolError that decoding `request` throws. */
function failure(request: WireRequest, options = {}): ProtocolError {
  try {
    decodeEnvelope(request, options);
  } catch (error) {
    if (error instanceof ProtocolError) return error;
    throw error;
  }
  throw new Error('decodeEnvelope accepted the request');
}

describe('encodeRequest places the envelope where the method carries it', () => {
  it('puts it in the raw query string for GET and DELETE, with no key=', () => {
    const json = encodeEnvelope(ENVELOPE);
    expect(encodeRequest('GET', ENVELOPE)).toEqual({ method: 'GET', rawQuery: queryStringOf(json) });
    expect(encodeRequest('DELETE', ENVELOPE)).toEqual({ method: 'DELETE', rawQuery: queryStringOf(json) });
  });

  it('puts it in the body for PUT and POST', () => {
    expect(encodeRequest('PUT', ENVELOPE)).toEqual({ method: 'PUT', body: encodeEnvelope(ENVELOPE) });
    expect(encodeRequest('POST', { uri: 'x' })).toEqual({ method: 'POST', body: '{"uri": "x"}' });
  });
});

describe('decodeEnvelope reads back what the encoder wrote', () => {
  it.each<Method>(['GET', 'PUT', 'POST', 'DELETE'])('round-trips an envelope sent with %s', (method) => {
    expectDecodes(encodeRequest(method, ENVELOPE), ENVELOPE);
  });

  it('reads the body as bytes as well as text, whatever the content type, and the method in any case', () => {
    const body = Buffer.from(encodeEnvelope(ENVELOPE));
    expectDecodes({ method: 'put', body }, ENVELOPE);
    expectDecodes({ method: 'POST', body: new Uint8Array(body) }, ENVELOPE);
  });

  it('reads DELETE from the query string when the body is empty', () => {
    expectDecodes({ ...encodeRequest('DELETE', ENVELOPE), body: '' }, ENVELOPE);
  });

  it('keeps data: null and lists as data', () => {
    expectDecodes(encodeRequest('DELETE', { uri: 'user/delete', data: null, id: 'x' }), {
      uri: 'user/delete',
      data: null,
      id: 'x',
    });
    expectDecodes(encodeRequest('PUT', { uri: 'task/edit', data: [{ uri: '2', status: 'onhold' }] }), {
      uri: 'task/edit',
      data: [{ uri: '2', status: 'onhold' }],
    });
  });

  it('reads a plus as a plus and %20 as a space', () => {
    expectDecodes({ method: 'GET', rawQuery: '{"uri":"a+b%20c"}' }, { uri: 'a+b c' });
  });

  it.each<Method>(['GET', 'PUT'])('turns gz_data into data, in its place, for %s', (method) => {
    const packed = packData(BIG_DATA);
    expect(packed).toHaveProperty('gz_data');
    const sent = { uri: 'workspace/publish/preprocess', ...packed, id: 'x' };
    expectDecodes(encodeRequest(method, sent), { uri: 'workspace/publish/preprocess', data: BIG_DATA, id: 'x' });
  });

  it('reads the master lookup and the login with decodePayload', () => {
    expect(decodePayload(encodeRequest('GET', { ident: 'acme' }))).toEqual({ ident: 'acme' });
    expect(decodePayload({ method: 'PUT', body: '{}' })).toEqual({});
  });
});

describe('packData follows the client size estimate of §1.8', () => {
  it('sends data up to 102400 and gz_data above', () => {
    expect(packData({ k: 'x'.repeat(GZ_THRESHOLD - 1) })).toEqual({ data: { k: 'x'.repeat(GZ_THRESHOLD - 1) } });
    const above = { k: 'x'.repeat(GZ_THRESHOLD) };
    expect(estimateSize(above)).toBe(GZ_THRESHOLD + 1);
    expect(Object.keys(packData(above))).toEqual(['gz_data']);
  });

  it('estimates as the client does', () => {
    expect(estimateSize(null)).toBe(0);
    expect(estimateSize('😀é')).toBe(2);
    expect(estimateSize({ ab: [1, true, null, 'xyz', new Date()] })).toBe(2 + 10 + 10 + 0 + 3 + 10);
  });
});

describe('the official client and we read each other', () => {
  let fromPython: { query: string; body: string; gz: string; ours: unknown };
  beforeAll(() => {
    fromPython = python(
      `${PYTHON_VALUES}
envelope = cases["envelope"]
data = cases["data"]
compressed = dict(envelope, gz_data=base64.b64encode(gzip.compress(dumps(data).encode("ascii"))).decode("ascii"))
del compressed["data"]
print(json.dumps({
    "query": urllib.parse.quote(dumps(envelope), safe="/"),
    "body": dumps(envelope),
    "gz": dumps(compressed),
    "ours": json.loads(gzip.decompress(base64.b64decode(cases["ours"], validate=True))),
}))
`,
      { envelope: ENVELOPE, data: BIG_DATA, ours: encodeGzData(encodeJson(BIG_DATA)) },
    ) as typeof fromPython;
  });

  it('reads a GET query string quoted by Python', () => {
    expectDecodes({ method: 'GET', rawQuery: fromPython.query }, ENVELOPE);
  });

  it('reads a PUT body written by Python', () => {
    expectDecodes({ method: 'PUT', body: fromPython.body }, ENVELOPE);
  });

  it('reads gz_data compressed by Python', () => {
    const decoded = decodeEnvelope({ method: 'POST', body: fromPython.gz });
    expect(decoded.data).toEqual(BIG_DATA);
    expect(decoded).not.toHaveProperty('gz_data');
  });

  it('gives Python gz_data it can read', () => {
    expect(fromPython.ours).toEqual(BIG_DATA);
  });
});

describe('decodeEnvelope names what is wrong', () => {
  const gz = (text: string) => gzipSync(text).toString('base64');
  const body = (value: unknown) => ({ method: 'PUT', body: JSON.stringify(value) });

  it.each<[string, WireRequest, RegExp]>([
    ['a lone %', { method: 'GET', rawQuery: '{"uri":"a"}%' }, /invalid percent-escape "%" at offset 11/],
    ['%zz', { method: 'GET', rawQuery: '%7B%zz' }, /invalid percent-escape "%zz" at offset 3/],
    ['escapes that are not UTF-8', { method: 'GET', rawQuery: '%7B%22uri%22:%22%FF%22%7D' }, /not valid UTF-8/],
    [
      'an empty query string',
      { method: 'GET', rawQuery: '' },
      /a GET request carries the envelope as its query string, which is empty/,
    ],
    ['no query string on DELETE', { method: 'DELETE', body: '{"uri":"a"}' }, /query string, which is empty/],
    ['an empty body', { method: 'POST', body: '' }, /a POST request carries the envelope as its body, which is empty/],
    [
      'a body that is not UTF-8',
      { method: 'PUT', body: Buffer.from([0x7b, 0xff, 0x7d]) },
      /the envelope is not valid UTF-8/,
    ],
    ['invalid JSON', { method: 'PUT', body: '{"uri": x}' }, /^the envelope is not valid JSON: Unexpected token/],
    ['truncated JSON', { method: 'GET', rawQuery: '%7B' }, /^the envelope is not valid JSON/],
    ['JSON that is an array', body([{ uri: 'a' }]), /^the envelope must be a JSON object, not an array$/],
    ['JSON that is a string', body('uri'), /^the envelope must be a JSON object, not a string$/],
    ['JSON null', body(null), /not null$/],
    ['no uri', body({ data: {} }), /^uri must be a non-empty string, and the envelope has none$/],
    ['an empty uri', body({ uri: '' }), /^uri must be a non-empty string, not an empty one$/],
    ['a uri that is a number', body({ uri: 5 }), /^uri must be a non-empty string, not a number$/],
    ['a workspace that is an object', body({ uri: 'a', workspace: {} }), /^workspace must be a string, not an object$/],
    ['an ident that is null', body({ uri: 'a', ident: null }), /^ident must be a string, not null$/],
    ['a query that is a list', body({ uri: 'a', query: ['x'] }), /^query must be a string, not an array$/],
    ['an id that is a number', body({ uri: 'a', id: 1 }), /^id must be a string, not a number$/],
    ['a created that is a boolean', body({ uri: 'a', created: true }), /^created must be a string, not a boolean$/],
    ['gz_data that is not a string', body({ uri: 'a', gz_data: 1 }), /^gz_data must be a string, not a number$/],
    [
      'data and gz_data together',
      body({ uri: 'a', data: {}, gz_data: gz('{}') }),
      /^an envelope carries data or gz_data, not both$/,
    ],
    ['gz_data that is not base64', body({ uri: 'a', gz_data: 'H4sI!!==' }), /^gz_data is not valid base64$/],
    [
      'unpadded base64',
      body({ uri: 'a', gz_data: gz('{}').replace(/=+$/, '').slice(0, -1) }),
      /^gz_data is not valid base64$/,
    ],
    [
      'gz_data that is not gzip',
      body({ uri: 'a', gz_data: Buffer.from('hello!').toString('base64') }),
      /^gz_data is not valid gzip: /,
    ],
    [
      'truncated gzip',
      body({ uri: 'a', gz_data: gzipSync('{"a": 1}').subarray(0, 12).toString('base64') }),
      /^gz_data is not valid gzip/,
    ],
    ['gzip of invalid JSON', body({ uri: 'a', gz_data: gz('{nope') }), /^the decompressed gz_data is not valid JSON: /],
  ])('refuses %s with 400', (_, request, message) => {
    const error = failure(request);
    expect(error.message).toMatch(message);
    expect(error.status).toBe(400);
  });

  it('refuses a method that carries no envelope with 405', () => {
    const error = failure({ method: 'PATCH', body: '{"uri":"a"}' });
    expect(error.message).toBe('PATCH requests carry no envelope: use GET, PUT, POST or DELETE');
    expect(error.status).toBe(405);
  });

  it('refuses a gzip bomb with 413, stopping at the limit', () => {
    // Ten gzip members of 10 MiB of zeros each: 100 MiB once inflated, cheap to build, 100 kB on the wire.
    const member = gzipSync(Buffer.alloc(10 * 1024 * 1024));
    const bomb = Buffer.concat(Array.from({ length: 10 }, () => member)).toString('base64');
    expect(bomb.length).toBeLessThan(200_000);
    const error = failure(body({ uri: 'a', gz_data: bomb }));
    expect(error.message).toBe('gz_data decompresses to more than 33554432 bytes');
    expect(error.status).toBe(413);
    const small = failure(body({ uri: 'a', gz_data: gz(JSON.stringify({ k: 'x'.repeat(2000) })) }), {
      maxDecompressedBytes: 1000,
    });
    expect(small.message).toBe('gz_data decompresses to more than 1000 bytes');
    expect(small.status).toBe(413);
  });
});
