import { BlockList, isIP } from 'node:net';
import { ConfigError } from '../config.js';

/**
 * Who a request comes from, for the rate limits: the socket's address, or, when the socket is a trusted proxy's,
 * the nearest address in X-Forwarded-For that is not a trusted proxy (so that a client cannot pick its own
 * address by sending the header). Counters are kept per address, and per network for IPv6, where one client
 * holds a whole /64.
 */
export class ClientIdentity {
  private readonly trusted = new BlockList();
  private readonly anyTrusted: boolean;

  constructor(
    trustProxy: readonly string[],
    private readonly ipv6Prefix: number,
  ) {
    for (const entry of trustProxy) {
      const [address = '', bits] = entry.split('/');
      const family = isIP(address);
      const prefix = bits === undefined ? (family === 6 ? 128 : 32) : Number(bits);
      if (family === 0 || !Number.isInteger(prefix) || prefix < 0 || prefix > (family === 6 ? 128 : 32)) {
        throw new ConfigError(`--trust-proxy (ACCSYN_TRUST_PROXY): '${entry}' is not an address or CIDR range`);
      }
      this.trusted.addSubnet(address, prefix, family === 6 ? 'ipv6' : 'ipv4');
    }
    this.anyTrusted = trustProxy.length > 0;
  }

  isTrusted(address: string): boolean {
    if (!this.anyTrusted) return false;
    const family = isIP(address);
    return family !== 0 && this.trusted.check(address, family === 6 ? 'ipv6' : 'ipv4');
  }

  /** The client's address, as the socket or a trusted proxy tells it. */
  address(socketAddress: string | undefined, forwardedFor: string | string[] | undefined): string {
    let client = plain(socketAddress ?? '');
    if (!this.isTrusted(client) || forwardedFor === undefined) return client;
    const hops = (Array.isArray(forwardedFor) ? forwardedFor.join(',') : forwardedFor).split(',');
    // From the nearest hop outwards: each trusted proxy vouches for the address before it.
    for (let i = hops.length - 1; i >= 0; i--) {
      const hop = plain((hops[i] as string).trim());
      if (isIP(hop) === 0) break;
      client = hop;
      if (!this.isTrusted(hop)) break;
    }
    return client;
  }

  /** The key a client's counters go under: its IPv4 address, or its IPv6 network. */
  key(address: string): string {
    return isIP(address) === 6 ? `${network(address, this.ipv6Prefix)}/${this.ipv6Prefix}` : address;
  }
}

/** An IPv4 address as itself, also when it arrives IPv4-mapped (`::ffff:127.0.0.1`). */
function plain(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  return mapped ? (mapped[1] as string) : address;
}

/** The first `bits` of an IPv6 address, the rest zero, written in full. */
function network(address: string, bits: number): string {
  const [head = '', tail = ''] = address.split('%')[0]?.split('::') ?? [];
  const left = head ? head.split(':') : [];
  const right = address.includes('::') && tail ? tail.split(':') : [];
  for (const part of [left, right]) {
    // An IPv4 address at the end (64:ff9b::192.0.2.1) is the last two groups.
    const last = part[part.length - 1];
    if (last?.includes('.')) {
      const [a = 0, b = 0, c = 0, d = 0] = last.split('.').map(Number);
      part.splice(-1, 1, ((a << 8) | b).toString(16), ((c << 8) | d).toString(16));
    }
  }
  const groups = [...left, ...Array(8 - left.length - right.length).fill('0'), ...right].map((g) =>
    Number.parseInt(g || '0', 16),
  );
  return groups
    .map((group, i) => {
      const keep = Math.max(0, Math.min(16, bits - i * 16));
      return (keep === 0 ? 0 : group & (0xffff << (16 - keep)) & 0xffff).toString(16);
    })
    .join(':');
}
