import { describe, expect, it } from 'vitest';
import { authorizationHeader, ProtocolError, parseAuthorization } from '../src/index.js';

/** The ProtocolError that parsing `header` throws. */
function failure(header: string | undefined): ProtocolError {
  try {
    parseAuthorization(header);
  } catch (error) {
    if (error instanceof ProtocolError) return error;
    throw error;
  }
  throw new Error('parseAuthorization accepted the header');
}

const b64 = (text: string) => Buffer.from(text).toString('base64');

describe('authorizationHeader', () => {
  it('writes the example of §1.4: lowercase basic, user and key encoded apart, joined by a colon', () => {
    expect(authorizationHeader('john@user.com', 'KEY123')).toBe('basic am9obkB1c2VyLmNvbQ==:S0VZMTIz');
  });

  it('encodes user names as UTF-8', () => {
    expect(authorizationHeader('jöhn😀@user.com', 'k')).toBe(`basic ${b64('jöhn😀@user.com')}:${b64('k')}`);
  });
});

describe('parseAuthorization', () => {
  it.each([
    ['john@user.com', 'KEY123'],
    ['jöhn😀@user.com', 'a:b c=d'],
    ['x', 'y'],
  ])('reads back what authorizationHeader wrote for %s', (username, apiKey) => {
    expect(parseAuthorization(authorizationHeader(username, apiKey))).toEqual({ username, apiKey });
  });

  it('accepts the scheme in any case and surrounding whitespace', () => {
    const credentials = { username: 'john@user.com', apiKey: 'KEY123' };
    expect(parseAuthorization('Basic am9obkB1c2VyLmNvbQ==:S0VZMTIz')).toEqual(credentials);
    expect(parseAuthorization('  BASIC \t am9obkB1c2VyLmNvbQ==:S0VZMTIz ')).toEqual(credentials);
  });

  it.each<[string, string | undefined, RegExp]>([
    ['no header', undefined, /^the Authorization header is missing$/],
    ['an empty header', '  ', /^the Authorization header is missing$/],
    ['another scheme', `Bearer ${b64('u')}:${b64('SECRET')}`, /must read "basic <base64 user name>:<base64 API key>"/],
    ['no credentials', 'basic', /must read/],
    ['RFC 7617 Basic', `Basic ${b64('u:SECRET')}`, /must read/],
    ['three parts', `basic ${b64('u')}:${b64('SECRET')}:${b64('x')}`, /must read/],
    ['trailing words', `basic ${b64('u')}:${b64('SECRET')} more`, /must read/],
    ['an empty user name part', `basic :${b64('SECRET')}`, /^the Authorization header has an empty user name$/],
    ['an empty key part', `basic ${b64('u')}:`, /^the Authorization header has an empty API key$/],
    ['a user name that is empty once decoded', `basic ${b64('')}:${b64('SECRET')}`, /empty user name/],
    [
      'a user name that is not base64',
      `basic u!:${b64('SECRET')}`,
      /^the user name in the Authorization header is not valid base64$/,
    ],
    [
      'an unpadded key',
      `basic ${b64('u')}:${b64('SECRET7').replace(/=+$/, '')}`,
      /^the API key in the Authorization header is not valid base64$/,
    ],
    [
      'a key that is not UTF-8',
      `basic ${b64('u')}:${Buffer.from([0xff, 0xfe]).toString('base64')}`,
      /API key .* not valid UTF-8/,
    ],
  ])('refuses %s with 401, never quoting the key', (_, header, message) => {
    const error = failure(header);
    expect(error.message).toMatch(message);
    expect(error.status).toBe(401);
    expect(error.message).not.toContain('SECRET');
    expect(error.message).not.toContain(b64('SECRET'));
  });
});
