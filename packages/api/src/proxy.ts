import { lookup } from 'node:dns/promises';
import { isIP, type Socket } from 'node:net';
import { rootCertificates, connect as tlsConnect } from 'node:tls';
import { SocksClient, type SocksProxy } from 'socks';
import { Agent, type buildConnector } from 'undici';
import { AccsynError } from './errors.js';

/**
 * The two kinds of proxy of reference §1.3 and the page: SOCKS (v4, v4a, v5, v5h), through which we reach the
 * server itself, keeping HTTPS and its certificate check (the official client drops TLS behind any proxy); and the
 * accsyn network proxy, a plain-HTTP relay that the requests are sent to as they are.
 */

export type ProxySetting =
  | {
      readonly kind: 'socks';
      readonly version: 4 | 5;
      /** Whether the proxy resolves the server's name (socks4a, socks5h) rather than we. */
      readonly remoteDns: boolean;
      readonly host: string;
      readonly port: number;
      readonly username?: string;
      readonly password?: string;
    }
  | { readonly kind: 'accsyn'; readonly host: string; readonly port: number };

const SOCKS_TYPES: Readonly<Record<string, { version: 4 | 5; remoteDns: boolean }>> = {
  socks: { version: 5, remoteDns: false },
  socks5: { version: 5, remoteDns: false },
  socks5h: { version: 5, remoteDns: true },
  socks4: { version: 4, remoteDns: false },
  socks4a: { version: 4, remoteDns: true },
};

/**
 * Reads a proxy setting: `<type>:[user:password@]host:port` with type socks, socks4, socks4a, socks5, socks5h or
 * accsyn; `host:port` and `host` (port 80) mean the accsyn proxy, as in the official client.
 */
export function parseProxy(text: string): ProxySetting {
  const bad = (why: string) =>
    new AccsynError(`The proxy '${text}' ${why}; write it as socks5:host:port, socks4:host:port or accsyn:host:port.`);
  const typed = /^(accsyn|socks|socks4|socks4a|socks5|socks5h):(.*)$/i.exec(text.trim());
  const unknown = /^([a-z][a-z0-9]*):[^:@]+:\d+$/i.exec(text.trim());
  if (!typed && unknown) throw bad(`has the unknown type '${unknown[1]}'`);
  const kind = typed ? (typed[1] as string).toLowerCase() : 'accsyn';
  const rest = typed ? (typed[2] as string) : text.trim();
  const at = rest.lastIndexOf('@');
  const credentials = at === -1 ? undefined : rest.slice(0, at);
  const address = /^(\[[^\]]+\]|[^:@/[\]]+)(?::(\d+))?$/.exec(at === -1 ? rest : rest.slice(at + 1));
  if (!address) throw bad('is not a proxy setting');
  const host = (address[1] as string).replace(/^\[|\]$/g, '');
  const port = address[2] === undefined ? (kind === 'accsyn' ? 80 : undefined) : Number(address[2]);
  if (port === undefined || port < 1 || port > 65_535) throw bad('needs a port from 1 to 65535');
  if (kind === 'accsyn') {
    if (credentials !== undefined) throw bad('has credentials, which the accsyn proxy does not take');
    return { kind: 'accsyn', host, port };
  }
  const socks = SOCKS_TYPES[kind] as { version: 4 | 5; remoteDns: boolean };
  const [user = '', ...secret] = credentials?.split(':') ?? [];
  const password = secret.length > 0 ? secret.join(':') : undefined;
  if (credentials !== undefined && user === '') throw bad('has a password but no user');
  if (socks.version === 4 && password) throw bad('has a password, which SOCKS4 does not take');
  const decode = (part: string) => {
    try {
      return decodeURIComponent(part);
    } catch {
      throw bad('has credentials with a broken %-escape');
    }
  };
  return {
    kind: 'socks',
    ...socks,
    host,
    port,
    ...(user ? { username: decode(user) } : {}),
    ...(password ? { password: decode(password) } : {}),
  };
}

export interface TlsOptions {
  /** Check the server's certificate (the default); false accepts any, as the official client does. */
  readonly rejectUnauthorized?: boolean | undefined;
  /** Certificate authorities to trust beside Node's bundled ones, PEM. */
  readonly ca?: string | Buffer | readonly (string | Buffer)[] | undefined;
}

/** The authorities a TLS connection trusts: Node's bundled ones and those given (TLS's `ca` alone would replace them). */
export function trustedAuthorities(tls: TlsOptions): (string | Buffer)[] | undefined {
  return tls.ca === undefined ? undefined : [...rootCertificates, ...[tls.ca].flat()];
}

/** An undici dispatcher that opens each connection through a SOCKS proxy, then TLS over it for HTTPS. */
export function socksAgent(
  proxy: Extract<ProxySetting, { kind: 'socks' }>,
  tls: TlsOptions,
  connectTimeout: number,
  connections = 8,
): Agent {
  const connect: buildConnector.connector = (options, callback) => {
    open(proxy, options.hostname, Number(options.port || (options.protocol === 'https:' ? 443 : 80)), connectTimeout)
      .then((socket) => {
        if (options.protocol !== 'https:') return callback(null, socket);
        const secure = tlsConnect({
          socket,
          servername: isIP(options.hostname) ? undefined : (options.servername ?? options.hostname),
          rejectUnauthorized: tls.rejectUnauthorized ?? true,
          ca: trustedAuthorities(tls),
          ALPNProtocols: ['http/1.1'],
        });
        secure.once('secureConnect', () => callback(null, secure));
        secure.once('error', (error) => callback(error, null));
      })
      .catch((error: Error) => callback(error, null));
  };
  return new Agent({ connect, connectTimeout, connections });
}

async function open(
  proxy: Extract<ProxySetting, { kind: 'socks' }>,
  host: string,
  port: number,
  timeout: number,
): Promise<Socket> {
  // Without remote DNS we resolve the name ourselves; SOCKS4 carries IPv4 addresses only.
  const address =
    proxy.remoteDns || isIP(host) ? host : (await lookup(host, { family: proxy.version === 4 ? 4 : 0 })).address;
  const settings: SocksProxy = {
    host: proxy.host,
    port: proxy.port,
    type: proxy.version,
    ...(proxy.version === 4 && proxy.username ? { userId: proxy.username } : {}),
    ...(proxy.version === 5 && proxy.username ? { userId: proxy.username, password: proxy.password ?? '' } : {}),
  };
  const { socket } = await SocksClient.createConnection({
    proxy: settings,
    command: 'connect',
    destination: { host: address, port },
    timeout,
  });
  return socket;
}
