import { mkdirSync, mkdtempSync, realpathSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, sep } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Caller } from '../src/auth/authenticate.js';
import { locate } from '../src/files/locate.js';
import { HttpError } from '../src/http/errors.js';
import { startTestServer, type TestServer } from './support/server.js';
import { RawSession } from './support/session.js';

/**
 * The path resolver that file calls and transfers share (reference §3.12), fuzzed: whatever the text, it answers a
 * place inside the share's directory, through any symbolic link, or refuses with a 4xx that says why.
 */

let server: TestServer;
let caller: Caller;
let volumeDir: string;
let folderDir: string;

beforeAll(async () => {
  server = await startTestServer();
  const admin = new RawSession(server.url, server.admin);
  const [volume] = await admin.result<{ id: string; path: string }[]>(admin.find('Volume WHERE default=True'));
  volumeDir = realpathSync(volume?.path as string);
  folderDir = join(volumeDir, 'fz');
  mkdirSync(join(folderDir, 'a', 'b'), { recursive: true });
  const outside = mkdtempSync(join(tmpdir(), 'accsyn-outside-'));
  mkdirSync(join(outside, 'secret'));
  // Links out of the share, to its parent volume, and one that stays inside.
  symlinkSync(outside, join(folderDir, 'out'));
  symlinkSync(volumeDir, join(folderDir, 'up'));
  symlinkSync(join(folderDir, 'a'), join(folderDir, 'in'));
  symlinkSync(outside, join(volumeDir, 'vout'));
  await admin.result(admin.create('folder', { parent: volume?.id, path: 'fz', name: 'fz' }));
  const store = server.server.store;
  const workspace = await store.workspaceByCode(server.admin.workspace);
  const user = workspace && (await store.userByCode(workspace.id, server.admin.user));
  if (!workspace || !user) throw new Error('no admin');
  caller = { workspace, user, session: 'test' };
});

afterAll(async () => {
  await server?.stop();
});

const within = (root: string, path: string) => path === root || path.startsWith(root + sep);

const segment = fc.oneof(
  fc.constantFrom('a', 'b', 'in', 'out', 'up', 'vout', 'secret', '..', '.', '', '~', 'x'.repeat(256), 'é', 'b:c'),
  fc.constantFrom('a\u0000b', '%2e%2e', '\\..', 'C:', 'con', ' ', '*', '\n'),
  fc.string({ maxLength: 6 }),
);
const prefix = fc.constantFrom('', 'volume=default/', 'volume=(default)/', 'folder=fz/', 'share=fz/', '/', './', '~/');
const paths = fc
  .tuple(prefix, fc.array(segment, { maxLength: 6 }))
  .map(([start, segments]) => start + segments.join('/'));

describe('locate', () => {
  it('never answers a place outside the share, and refuses only with a 4xx', async () => {
    await fc.assert(
      fc.asyncProperty(paths, async (text) => {
        let located: Awaited<ReturnType<typeof locate>>;
        try {
          located = await locate(server.server.store, caller, server.dataDir, text);
        } catch (error) {
          if (!(error instanceof HttpError)) throw error;
          expect(error.status, `${JSON.stringify(text)}: ${error.message}`).toBeGreaterThanOrEqual(400);
          expect(error.status).toBeLessThan(500);
          return;
        }
        const root = text.startsWith('folder=') || text.startsWith('share=') ? folderDir : volumeDir;
        expect(located.shareRoot).toBe(root);
        expect(within(root, located.absolute), JSON.stringify(text)).toBe(true);
        // Through links: the deepest part that exists resolves inside the share too.
        let existing = located.absolute;
        for (;;) {
          try {
            expect(within(root, realpathSync(existing)), JSON.stringify(text)).toBe(true);
            break;
          } catch (error) {
            if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
            existing = existing.slice(0, existing.lastIndexOf(sep));
          }
        }
      }),
      { numRuns: 600 },
    );
  });

  it('refuses by name what leads out: .., links, NUL, long names, local paths', async () => {
    const cases: [string, RegExp][] = [
      ['folder=fz/../x', /climbs out of the share/],
      ['folder=fz/out/secret', /leads outside its share through a symbolic link/],
      ['folder=fz/up', /leads outside its share through a symbolic link/],
      ['vout/secret', /leads outside its share through a symbolic link/],
      ['folder=fz/a\u0000b', /control character/],
      [`folder=fz/${'x'.repeat(256)}`, /longer than 255 bytes/],
      ['/etc/passwd', /on a user's machine/],
      ['lisa@example.com:/tmp/x', /on a user's machine/],
      ['movie.%04d.exr[1-10]', /file sequence/],
    ];
    for (const [text, message] of cases) {
      await expect(locate(server.server.store, caller, server.dataDir, text), text).rejects.toThrow(message);
    }
    const inside = await locate(server.server.store, caller, server.dataDir, 'folder=fz/in/b');
    expect(inside.absolute).toBe(join(folderDir, 'in', 'b'));
    expect(inside.inVolume).toBe('fz/in/b');
  });
});
