import { readFileSync, statSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashApiKey, newApiKey } from '../src/auth/keys.js';
import { authHeaders, type Credentials, envelope, event, login, send } from './support/raw.js';
import { startTestServer, type TestServer } from './support/server.js';
import { addUser } from './support/session.js';

let test: TestServer;
let base: string;
let admin: Credentials;

async function sessionOf(credentials: Credentials): Promise<string> {
  const reply = await login(base, credentials);
  expect(reply.status).toBe(200);
  return (reply.json.result as { session_id: string }).session_id;
}

beforeAll(async () => {
  test = await startTestServer();
  base = test.url;
  admin = test.admin;
});
afterAll(() => test.stop());

describe('first start', () => {
  it('creates the workspace, its admin and a key, and writes them to admin.env readable by the owner alone', () => {
    const file = `${test.dataDir}/admin.env`;
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readFileSync(file, 'utf8')).toBe(
      [
        '# The first admin of this workspace, written by its first start. Keep it secret.',
        'ACCSYN_WORKSPACE=acme',
        'ACCSYN_API_USER=admin@acme.test',
        `ACCSYN_API_KEY=${admin.key}`,
        `ACCSYN_HOSTNAME=${base}`,
        '',
      ].join('\n'),
    );
    expect(admin.key).toMatch(/^[A-Za-z0-9]{64}$/);
  });

  it('keeps no API key in the database, only its hash', async () => {
    const rows = await test.server.store.db.selectFrom('api_keys').selectAll().execute();
    expect(rows.map((r) => r.hash)).toContain(hashApiKey(admin.key));
    expect(JSON.stringify(rows)).not.toContain(admin.key);
  });
});

describe('health and the master lookup', () => {
  it('answers /healthz, and /readyz once it reaches its database', async () => {
    expect(await send(base, 'GET', '/healthz')).toMatchObject({ status: 200, json: { status: 'ok' } });
    const ready = await send(base, 'GET', '/readyz');
    expect([ready.status, ready.json]).toEqual([200, { status: 'ok' }]);
  });

  it('tells where workspaces are served: its own address, for a workspace it holds and for any other', async () => {
    const lookup = (ident: string) =>
      send(base, 'GET', `/api/v3/J3PKTtDvolDMBtTy6AFGA?${encodeURIComponent(JSON.stringify({ ident }))}`, {
        headers: { 'X-Accsyn-Device': 'test' },
      });
    const port = Number(new URL(base).port);
    // Whether a workspace is here is learned by logging in, not by asking (see hardening.test.ts).
    for (const ident of ['ACME', 'other']) {
      expect(await lookup(ident)).toEqual(
        expect.objectContaining({ status: 200, json: { result: { hostname: '127.0.0.1', port } } }),
      );
    }
  });
});

describe('login', () => {
  it('answers the role, the user id and a session, on /api/login and /api/auth', async () => {
    for (const path of ['/api/v3/api/login', '/api/v3/api/auth']) {
      const reply = await send(base, 'PUT', path, { headers: authHeaders(admin), body: '{}' });
      expect(reply.status).toBe(200);
      const result = reply.json.result as Record<string, string>;
      expect(Object.keys(reply.json)).toEqual(['result']);
      expect(result.role).toBe('admin');
      expect(result.id).toMatch(/^[0-9a-f]{24}$/);
      expect(result.session_id).toMatch(/^[0-9a-f]{64}$/);
    }
  });

  it('takes the workspace code and the e-mail in any case', async () => {
    const reply = await login(base, { ...admin, workspace: 'ACME', user: 'Admin@ACME.test' });
    expect(reply.status).toBe(200);
  });

  it('refuses wrong credentials with one message that tells nothing of what exists', async () => {
    const other = await addUser(test.server.store, 'acme', 'expired@acme.test', 'standard', {
      expires: '2020-01-01T00:00:00.000Z',
    });
    for (const credentials of [
      { ...admin, key: newApiKey() },
      { ...admin, user: 'nobody@acme.test' },
      { ...admin, workspace: 'nowhere' },
      other,
    ]) {
      const reply = await login(base, credentials);
      expect(reply).toMatchObject({
        status: 401,
        json: { message: 'Authentication failed: check the workspace, the user and the API key.' },
      });
    }
  });

  it('names a malformed Authorization header without echoing it', async () => {
    const reply = await send(base, 'PUT', '/api/v3/api/login', {
      headers: { Authorization: 'Bearer secret-token', 'X-Accsyn-Workspace': 'acme' },
      body: '{}',
    });
    expect(reply.status).toBe(401);
    expect(reply.json.message).toBe('the Authorization header must read "basic <base64 user name>:<base64 API key>"');
    expect(reply.text).not.toContain('secret-token');
  });
});

describe('events', () => {
  it('authenticates each event by its session and credentials, then refuses an operation it does not know by name', async () => {
    const session = await sessionOf(admin);
    for (const method of ['GET', 'PUT', 'POST', 'DELETE'] as const) {
      const reply = await event(base, admin, method, envelope(admin, session, 'Nothing/Here', {}));
      expect(reply).toMatchObject({ status: 400, json: { message: `Unknown operation: ${method} nothing/here.` } });
    }
  });

  it('refuses an event without a session, with a session of someone else, or of another workspace', async () => {
    const session = await sessionOf(admin);
    const lisa = await addUser(test.server.store, 'acme', 'lisa@acme.test', 'standard');
    const bob = await addUser(test.server.store, 'globex', 'bob@globex.test', 'standard');
    const lisaSession = await sessionOf(lisa);
    const bobSession = await sessionOf(bob);
    const cases: [Credentials, string][] = [
      [admin, ''],
      [admin, 'f'.repeat(64)],
      [admin, lisaSession],
      [lisa, session],
      [{ ...bob, workspace: 'acme' }, bobSession],
      [bob, session],
      [{ ...admin, key: newApiKey() }, session],
    ];
    for (const [credentials, id] of cases) {
      const reply = await event(base, credentials, 'GET', envelope(credentials, id, 'user/find', {}));
      expect(reply.status, `${credentials.user} with ${id.slice(0, 8)}`).toBe(401);
      expect(reply.json.message).toMatch(/^(Authentication failed|Log in before)/);
    }
  });

  it('takes a GET whose envelope fills a 300 KB query string', async () => {
    const session = await sessionOf(admin);
    const json = envelope(admin, session, 'nothing/here', { filler: 'x'.repeat(300_000) });
    const reply = await event(base, admin, 'GET', json);
    expect(reply).toMatchObject({ status: 400, json: { message: 'Unknown operation: GET nothing/here.' } });
  });

  it('decodes gz_data', async () => {
    const session = await sessionOf(admin);
    const gz = gzipSync(Buffer.from(JSON.stringify({ a: 1 }))).toString('base64');
    const json = envelope(admin, session, 'nothing/gz', undefined).replace(
      '"hostname": "test"',
      `"hostname": "test", "gz_data": "${gz}"`,
    );
    const reply = await event(base, admin, 'PUT', json);
    expect(reply).toMatchObject({ status: 400, json: { message: 'Unknown operation: PUT nothing/gz.' } });
  });

  it('names a malformed envelope with a 4xx, and a body over the limit with 413', async () => {
    const headers = authHeaders(admin);
    const bad = [
      ['{"uri": ', 400, /^the envelope is not valid JSON/],
      ['[1, 2]', 400, /^the envelope must be a JSON object/],
      ['{"uri": 42}', 400, /^uri must be a non-empty string/],
      ['{"uri": "x", "gz_data": "!!!"}', 400, /^gz_data is not valid base64/],
      [
        `{"uri": "x", "gz_data": "${gzipSync(Buffer.alloc(64 * 1024 * 1024)).toString('base64')}"}`,
        413,
        /decompresses to more than/,
      ],
    ] as const;
    for (const [body, status, message] of bad) {
      const reply = await send(base, 'PUT', '/api/v3/event', { headers, body });
      expect(reply.status, body.slice(0, 30)).toBe(status);
      expect(reply.json.message).toMatch(message);
    }
    const huge = await send(base, 'PUT', '/api/v3/event', {
      headers,
      body: `{"uri": "x", "data": "${'x'.repeat(33 * 1024 * 1024)}"}`,
    });
    expect(huge).toMatchObject({ status: 413, json: { message: 'The request body is too large.' } });
  });

  it('answers JSON with a message for what is not there', async () => {
    expect(await send(base, 'GET', '/api/v3/nothing')).toMatchObject({
      status: 404,
      json: { message: 'There is nothing at GET /api/v3/nothing.' },
    });
    expect((await send(base, 'PATCH' as 'PUT', '/api/v3/event')).status).toBe(404);
  });
});
