import { gunzipSync, gzipSync } from 'node:zlib';
import { isBase64 } from './base64.js';
import { ProtocolError } from './errors.js';
import { encodeJson, Float } from './json.js';
import { parseJson } from './parse.js';

/** Payloads whose estimated size is above this travel as `gz_data` (§1.8). */
export const GZ_THRESHOLD = 102_400;

/** How far a server lets `gz_data` decompress by default: 32 MiB. */
export const MAX_DECOMPRESSED_BYTES = 32 * 1024 * 1024;

// A pair is one character to Python's len(), two UTF-16 units to JS.
const SURROGATE_PAIR = /[\uD800-\uDBFF][\uDC00-\uDFFF]/g;

/**
 * The official client's size estimate of a payload: a string's length (in code points, as Python counts), each
 * dict key's length plus its value, the sum of a list, 0 for null and 10 for any other scalar, dates included.
 */
export function estimateSize(data: unknown): number {
  if (data === null || data === undefined) return 0;
  if (typeof data === 'string') return data.length - (data.match(SURROGATE_PAIR)?.length ?? 0);
  if (Array.isArray(data)) return data.reduce((sum: number, item) => sum + estimateSize(item), 0);
  if (typeof data !== 'object' || data instanceof Date || data instanceof Float) return 10;
  let size = 0;
  for (const [key, value] of Object.entries(data)) {
    if (value !== undefined) size += estimateSize(key) + estimateSize(value);
  }
  return size;
}

/** Gzips a payload's JSON and writes it as standard, padded base64: the value of `gz_data`. */
export function encodeGzData(json: string): string {
  return gzipSync(Buffer.from(json, 'utf8')).toString('base64');
}

/** The payload field of an envelope as the official client chooses it: `data`, or `gz_data` when it is large. */
export function packData(data: unknown): { data: unknown } | { gz_data: string } {
  return estimateSize(data) > GZ_THRESHOLD ? { gz_data: encodeGzData(encodeJson(data)) } : { data };
}

/** Reads `gz_data` (base64, then gzip, then JSON) without ever inflating more than `maxBytes`. */
export function decodeGzData(gzData: string, maxBytes: number): unknown {
  if (!isBase64(gzData)) throw new ProtocolError('gz_data is not valid base64');
  let json: Buffer;
  try {
    json = gunzipSync(Buffer.from(gzData, 'base64'), { maxOutputLength: maxBytes });
  } catch (error) {
    if ((error as { code?: unknown }).code === 'ERR_BUFFER_TOO_LARGE') {
      throw new ProtocolError(`gz_data decompresses to more than ${maxBytes} bytes`, 413);
    }
    throw new ProtocolError(`gz_data is not valid gzip: ${(error as Error).message}`);
  }
  return parseJson(json, 'the decompressed gz_data');
}
