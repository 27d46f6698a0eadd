import { isIP } from 'node:net';

/**
 * The accsyn proxy's two addresses as a user types them: where it listens (`127.0.0.1:8282`, `[::1]:8282`, or a
 * bare port, on loopback) and the workspace it forwards to (`https://host:port`). A mistake is a ProxyConfigError
 * whose message is a sentence naming the text and showing the right form.
 */

export class ProxyConfigError extends Error {
  override readonly name = 'ProxyConfigError';
}

const HOST_NAME = /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/i;
const SCHEME = /^[a-z][a-z0-9+.-]*:\/\//i;

/** `host:port`, `[ipv6]:port` or a bare port (on 127.0.0.1); port 0 picks any free port. */
export function parseListen(text: string): { host: string; port: number } {
  const spec = text.trim();
  const bad = (why: string) =>
    new ProxyConfigError(
      `The listen address '${text}' ${why}; write it as host:port, such as 127.0.0.1:8282 or [::1]:8282.`,
    );
  if (spec === '') throw bad('is empty');
  if (SCHEME.test(spec)) throw bad('has a scheme, but the proxy always listens on plain HTTP');
  if (/^\d+$/.test(spec)) return { host: '127.0.0.1', port: portOf(spec, bad) };
  const bracketed = /^\[([^\]]*)\](?::(.*))?$/.exec(spec);
  if (bracketed) {
    const host = bracketed[1] as string;
    if (isIP(host) !== 6) throw bad(`has '${host}' in brackets, which is not an IPv6 address`);
    if (bracketed[2] === undefined) throw bad('has no port');
    return { host, port: portOf(bracketed[2], bad) };
  }
  const colon = spec.lastIndexOf(':');
  if (colon === -1) throw bad('has no port');
  const host = spec.slice(0, colon);
  if (host.includes(':')) throw bad('has an IPv6 address without brackets');
  if (host === '') throw bad('has no host');
  if (isIP(host) !== 4 && !HOST_NAME.test(host)) throw bad(`has '${host}', which is not a host name or an address`);
  return { host, port: portOf(spec.slice(colon + 1), bad) };
}

/** The workspace to forward to: an https:// (or http://) URL with a host and maybe a port, nothing more. */
export function parseUpstream(text: string): URL {
  const spec = text.trim();
  const bad = (why: string) =>
    new ProxyConfigError(
      `The upstream '${text}' ${why}; write it as https://host:port, such as https://acme.accsyn.com:443.`,
    );
  if (spec === '') throw bad('is empty');
  if (!SCHEME.test(spec)) throw bad('has no scheme');
  let url: URL;
  try {
    url = new URL(spec);
  } catch {
    // The usual culprit is the port: name it.
    const port = /^[^/]+\/\/[^/]*:([^/:\]]*)(?:\/.*)?$/.exec(spec)?.[1];
    const badPort = port !== undefined && (!/^\d{1,5}$/.test(port) || Number(port) > 65_535);
    throw bad(badPort ? `has the port '${port}', which is not a number from 1 to 65535` : 'is not a URL');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw bad(`has the scheme '${url.protocol.slice(0, -1)}', but the proxy forwards over https (or http) only`);
  }
  if (url.hostname === '') throw bad('has no host');
  if (url.port === '0') throw bad("has the port '0', which is not a number from 1 to 65535");
  if (url.username || url.password) throw bad('has credentials, which the proxy would not send');
  if (url.pathname !== '/' || url.search || url.hash) {
    throw bad('has a path, a query or a fragment; requests keep their own paths');
  }
  return new URL(url.origin);
}

function portOf(text: string, bad: (why: string) => ProxyConfigError): number {
  const port = Number(text);
  if (!/^\d{1,5}$/.test(text) || port > 65_535)
    throw bad(`has the port '${text}', which is not a number from 0 to 65535`);
  return port;
}
