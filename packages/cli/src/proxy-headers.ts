import type { IncomingMessage } from 'node:http';

/**
 * What the accsyn proxy forwards of a message's headers: the end-to-end ones, in their order and case, repeated
 * ones kept; never the hop-by-hop ones (RFC 9110 §7.6.1), which describe one connection, nor those the message's
 * Connection header names. Headers travel as Node's raw lists: `[name, value, name, value, ...]`.
 */

const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

/** The request headers the proxy sets itself (Host, X-Forwarded-*) or has answered already (Expect: 100-continue). */
const REPLACED = new Set(['host', 'x-forwarded-for', 'x-forwarded-proto', 'expect']);

/** `raw` without the hop-by-hop headers and without those named in `drop` (lowercase names). */
export function endToEnd(raw: readonly string[], drop: ReadonlySet<string> = new Set()): string[] {
  const named = new Set<string>();
  for (let i = 0; i < raw.length; i += 2) {
    if ((raw[i] as string).toLowerCase() !== 'connection') continue;
    for (const option of (raw[i + 1] as string).split(',')) named.add(option.trim().toLowerCase());
  }
  const kept: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const name = (raw[i] as string).toLowerCase();
    if (HOP_BY_HOP.has(name) || named.has(name) || drop.has(name)) continue;
    kept.push(raw[i] as string, raw[i + 1] as string);
  }
  return kept;
}

/**
 * The headers of the request sent on to `upstream`: the client's end-to-end headers, Host naming the upstream, the
 * client's address appended to X-Forwarded-For (so that a server trusting this proxy counts the real client against
 * its rate limits), X-Forwarded-Proto `http` (what the client spoke to us), and the framing of the body.
 */
export function upstreamRequestHeaders(incoming: IncomingMessage, upstream: URL, client: string): string[] {
  const headers = endToEnd(incoming.rawHeaders, REPLACED);
  const earlier = incoming.headers['x-forwarded-for'];
  headers.push('Host', upstream.host);
  headers.push('X-Forwarded-For', earlier ? `${earlier}, ${client}` : client);
  headers.push('X-Forwarded-Proto', 'http');
  // A chunked body stays chunked on the way on (Transfer-Encoding is hop-by-hop: the framing is ours to state);
  // Content-Length, end to end, is among the client's headers already.
  if (incoming.headers['transfer-encoding'] !== undefined) headers.push('Transfer-Encoding', 'chunked');
  return headers;
}

/** The headers of the upstream's answer passed back to the client. */
export function clientResponseHeaders(answer: IncomingMessage): string[] {
  return endToEnd(answer.rawHeaders);
}

/** Whether a request carries a body: a Content-Length above 0 or a Transfer-Encoding (RFC 9112 §6.3). */
export function hasBody(incoming: IncomingMessage): boolean {
  const length = incoming.headers['content-length'];
  return incoming.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}
