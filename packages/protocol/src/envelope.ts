import { ProtocolError } from './errors.js';
import { decodeGzData, MAX_DECOMPRESSED_BYTES } from './gz.js';
import { encodeJson } from './json.js';
import { parseJson } from './parse.js';
import { percentDecode, queryStringOf } from './percent.js';

/**
 * The event envelope of §1.6. The official client writes the fields in this order, which `encodeEnvelope` keeps
 * as given: audience, workspace, eid, session, uri, ident, created, hostname, data or gz_data, query, id.
 */
export interface Envelope {
  /** Always `"api"` from the official client. */
  audience?: string;
  /** The workspace code. */
  workspace?: string;
  /** A new uuid4 per call. */
  eid?: string;
  /** The `session_id` the login answered. */
  session?: string;
  /** The operation, such as `transfer/find`; not always lowercased (`Transfer/find`). */
  uri: string;
  /** The caller's user name (e-mail). */
  ident?: string;
  /** When the call was made: naive UTC `YYYY-MM-DDTHH:MM:SS`. */
  created?: string;
  /** The calling machine's host name. */
  hostname?: string;
  /** The payload: `{}` when empty, `null` when the caller passed none, a list for `update_many`. */
  data?: unknown;
  /** A large payload as base64 gzip JSON, instead of `data`; decoding turns it back into `data`. */
  gz_data?: string;
  /** The expression, when there is one. */
  query?: string;
  /** The entity or parent id, when there is one. */
  id?: string;
}

/** The HTTP methods that carry a payload. */
export type Method = 'GET' | 'PUT' | 'POST' | 'DELETE';

/** A request as far as its payload goes: GET and DELETE carry it as the raw query string, PUT and POST as the body. */
export interface WireRequest {
  method: string;
  /** The query string as it arrived, without the `?`. */
  rawQuery?: string;
  body?: string | Uint8Array;
}

/** Options of `decodeEnvelope`. */
export interface DecodeOptions {
  /** How far `gz_data` may decompress before the request is refused with 413. */
  maxDecompressedBytes?: number;
}

const STRING_FIELDS = [
  'audience',
  'workspace',
  'eid',
  'session',
  'ident',
  'created',
  'hostname',
  'gz_data',
  'query',
  'id',
];

/** Writes an envelope as the official client does (Python `json.dumps`, fields in the order given). */
export function encodeEnvelope(fields: Envelope): string {
  return encodeJson(fields);
}

/** Places a payload (an envelope, the login's `{}`, the master lookup's `{"ident": ...}`) where `method` carries it. */
export function encodeRequest(method: Method, payload: object): WireRequest {
  const json = encodeJson(payload);
  return method === 'GET' || method === 'DELETE' ? { method, rawQuery: queryStringOf(json) } : { method, body: json };
}

/** Reads the JSON object a request carries (the master lookup's, the login's), whatever its content type. */
export function decodePayload(request: WireRequest): Record<string, unknown> {
  return readObject(request, 'payload');
}

/** Reads and checks an event's envelope, turning `gz_data` into `data`; unknown fields pass; any problem is a ProtocolError. */
export function decodeEnvelope(request: WireRequest, options: DecodeOptions = {}): Envelope {
  const maxBytes = options.maxDecompressedBytes ?? MAX_DECOMPRESSED_BYTES;
  if (!Number.isSafeInteger(maxBytes) || maxBytes < 1) {
    throw new RangeError('maxDecompressedBytes must be a positive integer');
  }
  const envelope = readObject(request, 'envelope');
  if (!Object.hasOwn(envelope, 'uri')) {
    throw new ProtocolError('uri must be a non-empty string, and the envelope has none');
  }
  if (typeof envelope.uri !== 'string' || envelope.uri === '') {
    const found = envelope.uri === '' ? 'an empty one' : kindOf(envelope.uri);
    throw new ProtocolError(`uri must be a non-empty string, not ${found}`);
  }
  for (const field of STRING_FIELDS) {
    if (Object.hasOwn(envelope, field) && typeof envelope[field] !== 'string') {
      throw new ProtocolError(`${field} must be a string, not ${kindOf(envelope[field])}`);
    }
  }
  if (!Object.hasOwn(envelope, 'gz_data')) return envelope as unknown as Envelope;
  if (Object.hasOwn(envelope, 'data')) throw new ProtocolError('an envelope carries data or gz_data, not both');
  const data = decodeGzData(envelope.gz_data as string, maxBytes);
  // The payload takes gz_data's place, so the decoded envelope reads in the official field order.
  const fields = Object.entries(envelope).map(([key, value]) => (key === 'gz_data' ? ['data', data] : [key, value]));
  return Object.fromEntries(fields) as Envelope;
}

function readObject(request: WireRequest, noun: string): Record<string, unknown> {
  const what = `the ${noun}`;
  const method = request.method.toUpperCase();
  let value: unknown;
  if (method === 'GET' || method === 'DELETE') {
    if (!request.rawQuery) {
      throw new ProtocolError(`a ${method} request carries ${what} as its query string, which is empty`);
    }
    value = parseJson(percentDecode(request.rawQuery), what);
  } else if (method === 'PUT' || method === 'POST') {
    if (!request.body?.length) {
      throw new ProtocolError(`a ${method} request carries ${what} as its body, which is empty`);
    }
    value = parseJson(request.body, what);
  } else {
    throw new ProtocolError(`${method} requests carry no ${noun}: use GET, PUT, POST or DELETE`, 405);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ProtocolError(`${what} must be a JSON object, not ${kindOf(value)}`);
  }
  return value as Record<string, unknown>;
}

/** Names a JSON value's kind for a message, without quoting it. */
function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}
