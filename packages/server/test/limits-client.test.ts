import { describe, expect, it } from 'vitest';
import { ConfigError } from '../src/config.js';
import { ClientIdentity } from '../src/limits/client.js';

describe('ClientIdentity', () => {
  const identity = new ClientIdentity(['10.0.0.0/8', '192.0.2.1', 'fd00::/8'], 64);

  it('takes the socket address when no trusted proxy speaks', () => {
    expect(identity.address('203.0.113.9', '198.51.100.1')).toBe('203.0.113.9');
    expect(identity.address('::ffff:203.0.113.9', undefined)).toBe('203.0.113.9');
  });

  it('walks X-Forwarded-For from the nearest hop, past every trusted proxy', () => {
    expect(identity.address('10.1.2.3', '198.51.100.1')).toBe('198.51.100.1');
    expect(identity.address('10.1.2.3', '6.6.6.6, 198.51.100.1, 192.0.2.1, 10.9.9.9')).toBe('198.51.100.1');
    expect(identity.address('10.1.2.3', ['6.6.6.6', '198.51.100.1'])).toBe('198.51.100.1');
    expect(identity.address('fd12::1', '2001:db8::7')).toBe('2001:db8::7');
    // A hop that is no address ends the walk at the last one vouched for.
    expect(identity.address('10.1.2.3', '198.51.100.1, garbage')).toBe('10.1.2.3');
    // Only proxies all the way: the farthest one stands for the client.
    expect(identity.address('10.1.2.3', '10.4.4.4, 192.0.2.1')).toBe('10.4.4.4');
  });

  it('groups IPv6 clients by network and keeps IPv4 addresses whole', () => {
    expect(identity.key('2001:db8:1:2:aaaa::1')).toBe('2001:db8:1:2:0:0:0:0/64');
    expect(identity.key('2001:db8:1:2:bbbb:cccc:dddd:eeee')).toBe('2001:db8:1:2:0:0:0:0/64');
    expect(identity.key('2001:db8:1:3::1')).toBe('2001:db8:1:3:0:0:0:0/64');
    expect(identity.key('::1')).toBe('0:0:0:0:0:0:0:0/64');
    expect(new ClientIdentity([], 48).key('2001:db8:1:2::1')).toBe('2001:db8:1:0:0:0:0:0/48');
    expect(new ClientIdentity([], 56).key('2001:db8:1:2ff::1')).toBe('2001:db8:1:200:0:0:0:0/56');
    expect(new ClientIdentity([], 128).key('64:ff9b::192.0.2.1')).toBe('64:ff9b:0:0:0:0:c000:201/128');
    expect(identity.key('203.0.113.9')).toBe('203.0.113.9');
  });

  it('refuses a trusted proxy that is no address or range', () => {
    expect(() => new ClientIdentity(['10.0.0.0/33'], 64)).toThrow(ConfigError);
    expect(() => new ClientIdentity(['proxy.local'], 64)).toThrow(
      "--trust-proxy (ACCSYN_TRUST_PROXY): 'proxy.local' is not an address or CIDR range",
    );
  });
});
