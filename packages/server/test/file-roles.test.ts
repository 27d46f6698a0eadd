import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Role } from 'accsyn-protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Reply } from './support/raw.js';
import { startTestServer, type TestServer } from './support/server.js';
import { addUser, RawSession } from './support/session.js';

/**
 * Who may do what with files (reference §3.2 footnotes 5 and 6, §3.9), cell by cell: role × share kind × the right
 * an ACL grants on the share × file call. Before each cell the caller's ACLs are cleared and the cell's one is
 * granted; a call that is refused leaves the files as they were.
 */

type Kind = 'volume' | 'folder' | 'own home' | "a standard user's home" | "an admin's home";
type Right = 'none' | 'read' | 'write' | 'read+write';
const RIGHTS: readonly Right[] = ['none', 'read', 'write', 'read+write'];
const OPERATIONS = ['ls', 'getsize', 'exists', 'mkdir', 'delete', 'rename', 'move'] as const;
type Operation = (typeof OPERATIONS)[number];

/** What an ACL's right allows, by operation (in OPERATIONS order): a write-only path is seen to exist, not listed. */
// biome-ignore format: a table.
const BY_ACL: Readonly<Record<Right, string>> = {
  'none':       'nnnnnnn',
  'read':       'YYYnnnn',
  'write':      'nnYYYYY',
  'read+write': 'YYYYYYY',
};
const EVERYTHING = 'YYYYYYY';

/** Per role and share kind: everything, or what the ACL grants. */
// biome-ignore format: a table.
const MATRIX: Readonly<Record<'employee' | 'standard', Readonly<Record<Kind, 'all' | 'acl'>>>> = {
  //          volume  folder  own home  standard's home  admin's home
  employee: { volume: 'acl', folder: 'all', 'own home': 'all', "a standard user's home": 'all', "an admin's home": 'acl' },
  standard: { volume: 'acl', folder: 'acl', 'own home': 'all', "a standard user's home": 'acl', "an admin's home": 'acl' },
};

let server: TestServer;
let admin: RawSession;
let volumeDir: string;
const callers = new Map<Role, { session: RawSession; email: string; id: string }>();
const shares = new Map<string, { id: string; code: string; dir: string }>();

async function home(email: string): Promise<{ id: string; code: string; dir: string }> {
  const [made] = await admin.result<{ id: string; code: string; path: string }[]>(
    admin.create('home', { user: email }),
  );
  const dir = join(volumeDir, made?.path as string);
  mkdirSync(dir, { recursive: true });
  return { id: made?.id as string, code: made?.code as string, dir };
}

beforeAll(async () => {
  server = await startTestServer();
  admin = new RawSession(server.url, server.admin);
  const [volume] = await admin.result<{ id: string; code: string; path: string }[]>(
    admin.find('Volume WHERE default=True'),
  );
  volumeDir = volume?.path as string;
  for (const role of ['admin', 'employee', 'standard'] as const) {
    const email = `${role}-caller@example.com`;
    const session = new RawSession(server.url, await addUser(server.server.store, server.admin.workspace, email, role));
    const [user] = await admin.result<{ id: string }[]>(admin.find(`User WHERE code=${email}`));
    callers.set(role, { session, email, id: user?.id as string });
  }
  shares.set('volume', { id: volume?.id as string, code: volume?.code as string, dir: volumeDir });
  mkdirSync(join(volumeDir, 'matrix-folder'), { recursive: true });
  const [folder] = await admin.result<{ id: string; code: string }[]>(
    admin.create('folder', { parent: volume?.id, path: 'matrix-folder', name: 'Matrix' }),
  );
  shares.set('folder', {
    id: folder?.id as string,
    code: folder?.code as string,
    dir: join(volumeDir, 'matrix-folder'),
  });
  await addUser(server.server.store, server.admin.workspace, 'other-standard@example.com', 'standard');
  shares.set("a standard user's home", await home('other-standard@example.com'));
  shares.set("an admin's home", await home(server.admin.user));
  for (const role of ['employee', 'standard'] as const) {
    shares.set(`${role}'s own home`, await home(callers.get(role)?.email as string));
  }
});

afterAll(async () => {
  await server?.stop();
});

let cells = 0;

/** A directory of its own for one cell, with the files its calls work on. */
function cellIn(dir: string): string {
  const name = `cell-${++cells}`;
  mkdirSync(join(dir, name, 'into'), { recursive: true });
  for (const file of ['read.txt', 'delete.txt', 'rename.txt', 'move.txt']) writeFileSync(join(dir, name, file), file);
  return name;
}

async function setAcl(userId: string, email: string, shareId: string, right: Right): Promise<void> {
  const held = await admin.result<{ id: string }[]>(
    admin.call('GET', 'acl/find', {}, { query: `acl WHERE entity=user:${userId}` }),
  );
  for (const acl of held) await admin.result(admin.call('DELETE', 'acl/delete', {}, { id: acl.id }));
  if (right === 'none') return;
  await admin.result(
    admin.create('acl', {
      entity: `user:${email}`,
      target: `share:${shareId}`,
      read: right.includes('read'),
      write: right.includes('write'),
      path: '/',
    }),
  );
}

/** Runs one call on the cell, and says whether it was allowed, checking its effect either way. */
async function attempt(session: RawSession, share: string, dir: string, cell: string, operation: Operation) {
  const at = (path: string) => `share=${share}/${cell}/${path}`;
  const file = (method: 'GET' | 'POST' | 'PUT', data: Record<string, unknown>) =>
    session.call(method, 'workspace/file', data);
  const on = (path: string) => existsSync(join(dir, cell, path));
  let reply: Reply;
  let changed: () => boolean = () => false;
  switch (operation) {
    case 'ls':
      reply = await file('GET', { op: 'ls', path: `share=${share}/${cell}` });
      if (reply.status === 200) expect(reply.json.result).toHaveLength(5);
      break;
    case 'getsize':
      reply = await file('GET', { op: 'getsize', path: at('read.txt') });
      if (reply.status === 200) expect(reply.json.result).toBe('read.txt'.length);
      break;
    case 'exists':
      reply = await file('GET', { op: 'exists', path: at('read.txt') });
      if (reply.status === 200) expect(reply.json.result).toBe(true);
      break;
    case 'mkdir':
      reply = await file('POST', { op: 'mkdir', path: at('made') });
      changed = () => on('made');
      break;
    case 'delete':
      reply = await file('POST', { op: 'delete', path: at('delete.txt') });
      changed = () => !on('delete.txt');
      break;
    case 'rename':
      reply = await file('PUT', { op: 'rename', path: at('rename.txt'), path_to: 'renamed.txt' });
      changed = () => on('renamed.txt') && !on('rename.txt');
      break;
    case 'move':
      reply = await file('PUT', { op: 'move', path: at('move.txt'), path_to: at('into') });
      changed = () => on('into/move.txt') && !on('move.txt');
      break;
  }
  const allowed = reply.status === 200;
  if (!allowed) {
    // Refused as forbidden, or as a share the caller cannot see; never as something else.
    expect([400, 403], `${operation}: ${reply.text}`).toContain(reply.status);
    expect(reply.json.message).toMatch(/Permission denied|there is no/);
  }
  expect(changed(), `${operation} ${allowed ? 'allowed but without effect' : 'refused but changed files'}`).toBe(
    allowed && operation !== 'ls' && operation !== 'getsize' && operation !== 'exists',
  );
  return allowed;
}

const verdicts = (allowed: readonly boolean[]) => allowed.map((yes) => (yes ? 'Y' : 'n')).join('');

describe('file calls by role, share kind and right', () => {
  const kinds: Kind[] = ['volume', 'folder', 'own home', "a standard user's home", "an admin's home"];

  it.each(kinds)('an admin may do everything on %s', async (kind) => {
    const { session } = callers.get('admin') as { session: RawSession };
    const share =
      kind === 'own home' ? (shares.get("an admin's home") as { code: string; dir: string }) : shares.get(kind);
    const { code, dir } = share as { code: string; dir: string };
    const cell = cellIn(dir);
    const allowed = [];
    for (const operation of OPERATIONS) allowed.push(await attempt(session, code, dir, cell, operation));
    expect(verdicts(allowed)).toBe(EVERYTHING);
  });

  for (const role of ['employee', 'standard'] as const) {
    for (const kind of kinds) {
      for (const right of RIGHTS) {
        const expected = MATRIX[role][kind] === 'all' ? EVERYTHING : BY_ACL[right];
        it(`${role}, ${kind}, ACL ${right}: ${expected} for ${OPERATIONS.join(', ')}`, async () => {
          const caller = callers.get(role) as { session: RawSession; email: string; id: string };
          const share = shares.get(kind === 'own home' ? `${role}'s own home` : kind) as {
            id: string;
            code: string;
            dir: string;
          };
          await setAcl(caller.id, caller.email, share.id, right);
          const allowed = [];
          for (const operation of OPERATIONS) {
            const cell = cellIn(share.dir);
            allowed.push(await attempt(caller.session, share.code, share.dir, cell, operation));
          }
          expect(verdicts(allowed)).toBe(expected);
        });
      }
    }
  }
});
