import { ProtocolError } from './errors.js';

// What Python's `urllib.parse.quote(s, safe='/')` leaves alone: letters, digits, `_.-~` and `/`.
const UNSAFE = /[^A-Za-z0-9_.\-~/]/gu;
// With the u flag a surrogate pair is one code point, so this matches only surrogates without a partner.
const LONE_SURROGATE = /\p{Cs}/u;
const BAD_ESCAPE = /%(?![0-9A-Fa-f]{2})/;

/**
 * Percent-encodes `json` as `urllib.parse.quote(json, safe='/')` does; GET and DELETE carry the result as the whole
 * raw query string, with no `key=`.
 */
export function queryStringOf(json: string): string {
  // Python's quote raises on these too: they have no UTF-8 form.
  if (LONE_SURROGATE.test(json)) throw new TypeError('cannot percent-encode a string holding a lone surrogate');
  return json.replace(UNSAFE, (c) =>
    c < '\x80' ? `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}` : encodeURIComponent(c),
  );
}

/**
 * Percent-decodes a raw query string as `urllib.parse.unquote` does, but strictly: a `%` without two hex digits or
 * escapes that are not UTF-8 are errors. A `+` stays a `+`: the official client always writes `%2B` for a plus and
 * `%20` for a space, so reading `+` as a space would only ever corrupt what other clients meant as a plus.
 */
export function percentDecode(raw: string): string {
  const bad = BAD_ESCAPE.exec(raw);
  if (bad !== null) {
    const found = JSON.stringify(raw.slice(bad.index, bad.index + 3));
    throw new ProtocolError(`the query string has an invalid percent-escape ${found} at offset ${bad.index}`);
  }
  try {
    return decodeURIComponent(raw);
  } catch {
    throw new ProtocolError('the query string percent-encodes bytes that are not valid UTF-8');
  }
}
