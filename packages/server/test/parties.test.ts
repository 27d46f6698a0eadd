import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type Endpoint,
  type Location,
  type Party,
  PartyError,
  parseEndpoint,
  printEndpoint,
} from '../src/entities/parties.js';

const HQ: Party = { kind: 'workspace' };
const LISA: Party = { kind: 'user', email: 'lisa@example.com' };
const CLIENT_ID = '614d660de50d45bb027c9bdd';

const at = (party: Party, location: Location, directory = false): Endpoint => ({ party, location, directory });
const share = (shareType: 'share' | 'volume' | 'folder' | 'home' | 'collection', code: string, path: string) =>
  ({ kind: 'share', shareType, share: code, path }) as const;

describe('parseEndpoint reads every form of the accsyn docs', () => {
  const accepted: [string, Endpoint][] = [
    // No party: the workspace's main site.
    ['file.jpg', at(HQ, { kind: 'default', path: 'file.jpg' })],
    ['relative/p', at(HQ, { kind: 'default', path: 'relative/p' })],
    ['/local/file', at(HQ, { kind: 'local', path: '/local/file' })],
    ['C:\\x\\y.mov', at(HQ, { kind: 'local', path: 'C:\\x\\y.mov' })],
    ['C:/x/y.mov', at(HQ, { kind: 'local', path: 'C:/x/y.mov' })],
    ['\\\\server\\share\\x', at(HQ, { kind: 'local', path: '\\\\server\\share\\x' })],
    ['/Users/lisa/in/', at(HQ, { kind: 'local', path: '/Users/lisa/in' }, true)],
    ['C:\\in\\', at(HQ, { kind: 'local', path: 'C:\\in' }, true)],
    ['/', at(HQ, { kind: 'local', path: '/' }, true)],
    ['~', at(HQ, { kind: 'home', path: '' })],
    ['~/', at(HQ, { kind: 'home', path: '' }, true)],
    ['~/sub/', at(HQ, { kind: 'home', path: 'sub' }, true)],
    ['volume=projects/p', at(HQ, share('volume', 'projects', 'p'))],
    ['volume=(default)/p', at(HQ, share('volume', '(default)', 'p'))],
    ['share=proj/a/b', at(HQ, share('share', 'proj', 'a/b'))],
    ['share=614d660de50d45bb027c9bdd/a', at(HQ, share('share', CLIENT_ID, 'a'))],
    ['folder=abc/DOWNLOAD/x.png', at(HQ, share('folder', 'abc', 'DOWNLOAD/x.png'))],
    ['home=lisa@example.com/p', at(HQ, share('home', 'lisa@example.com', 'p'))],
    ['collection=reels', at(HQ, share('collection', 'reels', ''))],
    ['collection=reels/', at(HQ, share('collection', 'reels', ''), true)],
    ['workarea=proj/p', at(HQ, share('share', 'proj', 'p'))],
    ['share=abc/a:b', at(HQ, share('share', 'abc', 'a:b'))],
    ['share=p//a/./b/../c/', at(HQ, share('share', 'p', 'a/c'), true)],
    ['relative/p:1', at(HQ, { kind: 'default', path: 'relative/p:1' })],
    ['./a:b', at(HQ, { kind: 'default', path: 'a:b' })],
    ['.', at(HQ, { kind: 'default', path: '' })],
    ['null', at(HQ, { kind: 'null' })],
    // Parties.
    [
      'mycompany:volume=(default)/a',
      at({ kind: 'workspace' as const, code: 'mycompany' }, share('volume', '(default)', 'a')),
    ],
    ['c:share=x/y', at({ kind: 'workspace' as const, code: 'c' }, share('share', 'x', 'y'))],
    ['lisa@example.com:/Users/lisa/x.mov', at(LISA, { kind: 'local', path: '/Users/lisa/x.mov' })],
    ['lisa@example.com@ws12:C:\\x\\y.mov', at({ ...LISA, hostname: 'ws12' }, { kind: 'local', path: 'C:\\x\\y.mov' })],
    ['lisa@example.com:~/in/', at(LISA, { kind: 'home', path: 'in' }, true)],
    [
      `client=${CLIENT_ID}:D:/renders/`,
      at({ kind: 'client' as const, id: CLIENT_ID }, { kind: 'local', path: 'D:/renders' }, true),
    ],
    ['site=cloud:share=proj/in/', at({ kind: 'site' as const, code: 'cloud' }, share('share', 'proj', 'in'), true)],
    ['site=cloud:null', at({ kind: 'site' as const, code: 'cloud' }, { kind: 'null' })],
  ];

  it.each(accepted)('%s', (text, expected) => {
    expect(parseEndpoint(text, 'source')).toStrictEqual(expected);
  });

  it('reads a file sequence as its frame pattern and range', () => {
    expect(parseEndpoint('share=proj/out/movie.%04d.jpg[100-167]', 'source')).toStrictEqual({
      party: HQ,
      location: share('share', 'proj', 'out/movie.%04d.jpg'),
      directory: false,
      sequence: { first: 100, last: 167 },
    });
    expect(parseEndpoint('lisa@example.com:C:\\r\\f.%d.exr[7-7]', 'source')).toStrictEqual({
      party: LISA,
      location: { kind: 'local', path: 'C:\\r\\f.%d.exr' },
      directory: false,
      sequence: { first: 7, last: 7 },
    });
  });

  it('keeps brackets without a frame pattern as part of the name', () => {
    expect(parseEndpoint('take[1-2].mov', 'source').location).toStrictEqual({
      kind: 'default' as const,
      path: 'take[1-2].mov',
    });
  });
});

describe('parseEndpoint rejects, saying what and why', () => {
  const rejected: [string, string, string][] = [
    ['', 'source', 'source: empty; expected [<party>:]<path> such as "share=projects/in/"'],
    ['a\u0000b', 'source', 'source: "a\\u0000b" contains a control character'],
    ['share=p/a\tb', 'source', 'source: "share=p/a\\u0009b" contains a control character'],
    ['volume=/x', 'source', 'source: "volume=/x" has no volume code after volume='],
    ['share=', 'source', 'source: "share=" has no share code or id after share='],
    ['share=a.b/x', 'source', 'source: "a.b" after share= is not a valid share code or id'],
    ['home=lisa/x', 'source', 'source: "lisa" after home= is not a valid e-mail address'],
    ['a/../../b', 'destination', 'destination: ".." climbs out of the share ("a/../../b")'],
    ['~/..', 'destination', 'destination: ".." climbs out of the share ("~/..")'],
    [
      'foo=x/y',
      'source',
      'source: "foo=x/y" starts with an unknown prefix "foo="; known prefixes: share=, volume=, folder=, home=, collection=, workarea=',
    ],
    ['lisa@:x', 'source', 'source: "lisa@" is not an e-mail address'],
    ['lisa@example:x', 'source', 'source: "lisa@example" is not an e-mail address'],
    ['lisa@example.com@:x', 'source', 'source: "" after "lisa@example.com@" is not a hostname'],
    [
      'client=abc:x',
      'tasks[2].destination',
      'tasks[2].destination: client id "abc" is not 24 lowercase letters and digits',
    ],
    ['site=:x', 'source', 'source: "site=" has no site code after site='],
    ['site=cloud', 'source', 'source: "site=cloud" names a party but no path; write "site=cloud:<path>"'],
    ['mycompany:', 'source', 'source: "mycompany:" has no path after the party'],
    [
      'my file:x',
      'source',
      'source: "my file" before ":" is not a workspace code (letters, digits, "-" and "_"); write a relative path as "./my file:…"',
    ],
    ['movie.%04d.jpg[167-100]', 'source', 'source: frame range [167-100] starts after it ends'],
    ['movie.%04d.jpg[100-]', 'source', 'source: frame range [100-] is not [first-last] with whole numbers'],
    ['share=p/a\\b', 'source', 'source: "share=p/a\\b" has a "\\"; separate folders with "/"'],
    ['~lisa/x', 'source', 'source: "~lisa/x": "~" is your own home share; write another user\'s as home=<e-mail>/…'],
    [
      'site=cloud:/x',
      'source',
      'source: "/x" is a path on a user\'s machine, so its party must be a user, not "site=cloud"',
    ],
    [
      'mycompany:C:\\x',
      'source',
      'source: "C:\\x" is a path on a user\'s machine, so its party must be a user, not "mycompany"',
    ],
  ];

  it.each(rejected)('%j as %s', (text, what, message) => {
    expect(() => parseEndpoint(text, what)).toThrow(new PartyError(message));
  });

  it('throws PartyErrors', () => {
    expect(() => parseEndpoint('', 'source')).toThrow(PartyError);
  });
});

describe('printEndpoint', () => {
  it.each([
    ['workarea=proj//a/./b/../c', 'share=proj/a/c'],
    ['a//b/', 'a/b/'],
    ['./null', './null'],
    ['./', './'],
    ['~/', '~/'],
    ['C:\\in\\\\', 'C:\\in\\'],
    ['movie.%04d.jpg[007-010]', 'movie.%04d.jpg[7-10]'],
  ])('writes %s as %s', (text, canonical) => {
    expect(printEndpoint(parseEndpoint(text, 'source'))).toBe(canonical);
  });

  const code = fc.stringMatching(/^[A-Za-z0-9_-]{1,6}$/);
  const email = fc
    .tuple(fc.stringMatching(/^[a-z0-9.+_-]{1,6}$/), fc.stringMatching(/^[a-z0-9-]{1,6}(\.[a-z]{2,3}){1,2}$/))
    .map(([local, domain]) => `${local}@${domain}`);
  const party: fc.Arbitrary<Party> = fc.oneof(
    fc.constant(HQ),
    code.map((c) => ({ kind: 'workspace' as const, code: c })),
    email.map((e) => ({ kind: 'user' as const, email: e })),
    fc
      .tuple(email, fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._-]{0,6}$/))
      .map(([e, hostname]) => ({ kind: 'user' as const, email: e, hostname })),
    fc.stringMatching(/^[a-z0-9]{24}$/).map((id) => ({ kind: 'client' as const, id })),
    code.map((c) => ({ kind: 'site' as const, code: c })),
  );
  // Characters that make a relative path look like a party, a prefix or home: the printer must guard them.
  const segment = fc.oneof(
    fc.string({ unit: fc.constantFrom('a', 'B', '1', ' ', '.', '-', ':', '=', '~', '@', '%', 'é'), minLength: 1 }),
    fc.constantFrom('null', 'C:', 'share=x'),
  );
  const path = fc
    .array(
      segment.filter((s) => s !== '.' && s !== '..'),
      { maxLength: 3 },
    )
    .map((segments) => segments.join('/'));
  const sharePath = fc.oneof(
    fc.tuple(fc.constantFrom('share', 'folder', 'collection' as const), code),
    fc.tuple(fc.constant('volume' as const), fc.oneof(code, fc.constant('(default)'))),
    fc.tuple(fc.constant('home' as const), email),
  );
  const local = fc
    .tuple(
      fc.constantFrom('/', 'C:\\', 'd:/', '\\\\server\\'),
      fc.array(fc.stringMatching(/^[a-z .:]{1,4}$/), { minLength: 1, maxLength: 3 }),
    )
    .map(([root, names]) => root + names.join(root.includes('\\') ? '\\' : '/'));
  const location: fc.Arbitrary<Location> = fc.oneof(
    fc.tuple(sharePath, path).map(([[shareType, s], p]) => share(shareType, s, p)),
    path.map((p) => ({ kind: 'default' as const, path: p })),
    path.map((p) => ({ kind: 'home' as const, path: p })),
    local.map((p) => ({ kind: 'local' as const, path: p })),
    fc.constant({ kind: 'null' }),
  );
  const frames = fc
    .tuple(fc.nat(100_000), fc.nat(100_000))
    .map(([a, b]) => ({ first: Math.min(a, b), last: Math.max(a, b) }));

  /** An endpoint the parser can produce: local paths only for users, clients or no party; frames in a file. */
  const endpoint: fc.Arbitrary<Endpoint> = fc
    .tuple(party, location, fc.boolean(), fc.option(frames, { nil: undefined }))
    .map(([p, l, directory, sequence]) => {
      const owner =
        l.kind === 'local' && (p.kind === 'site' || (p.kind === 'workspace' && p.code !== undefined)) ? HQ : p;
      if (l.kind === 'null') return { party: owner, location: l, directory: false };
      if (sequence === undefined) return { party: owner, location: l, directory };
      const file = l.kind === 'local' ? `${l.path}/f.%04d.exr` : `${l.path === '' ? '' : `${l.path}/`}f.%04d.exr`;
      return { party: owner, location: { ...l, path: file }, directory: false, sequence };
    });

  it('writes text that parseEndpoint reads back to the same endpoint', () => {
    fc.assert(
      fc.property(endpoint, (e) => {
        expect(parseEndpoint(printEndpoint(e), 'source')).toStrictEqual(e);
      }),
      { numRuns: 500 },
    );
  });
});
