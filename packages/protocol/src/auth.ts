import { isBase64, toBase64 } from './base64.js';
import { ProtocolError } from './errors.js';

/** The credentials an `Authorization` header carries. */
export interface Credentials {
  username: string;
  apiKey: string;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });
const SHAPE = 'the Authorization header must read "basic <base64 user name>:<base64 API key>"';

/**
 * The `Authorization` header of every v3 call: a lowercase `basic`, then the user name and the API key each
 * base64-encoded on its own and joined by `:` (§1.4). This is not RFC 7617 Basic.
 */
export function authorizationHeader(username: string, apiKey: string): string {
  return `basic ${toBase64(username)}:${toBase64(apiKey)}`;
}

/** Reads the credentials of an `Authorization` header; any problem is a ProtocolError 401 that never quotes the key. */
export function parseAuthorization(header: string | undefined): Credentials {
  if (header === undefined || header.trim() === '') throw new ProtocolError('the Authorization header is missing', 401);
  const [scheme = '', credentials, ...rest] = header.trim().split(/[ \t]+/);
  if (scheme.toLowerCase() !== 'basic' || credentials === undefined || rest.length > 0) {
    throw new ProtocolError(SHAPE, 401);
  }
  const parts = credentials.split(':');
  if (parts.length !== 2) throw new ProtocolError(SHAPE, 401);
  return { username: decodePart(parts[0] ?? '', 'user name'), apiKey: decodePart(parts[1] ?? '', 'API key') };
}

function decodePart(part: string, what: string): string {
  if (part === '') throw new ProtocolError(`the Authorization header has an empty ${what}`, 401);
  if (!isBase64(part)) throw new ProtocolError(`the ${what} in the Authorization header is not valid base64`, 401);
  let text: string;
  try {
    text = utf8.decode(Buffer.from(part, 'base64'));
  } catch {
    throw new ProtocolError(`the ${what} in the Authorization header is not valid UTF-8`, 401);
  }
  if (text === '') throw new ProtocolError(`the Authorization header has an empty ${what}`, 401);
  return text;
}
