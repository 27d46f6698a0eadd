import { AUTH_PATH } from 'accsyn-protocol';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { authHeaders, type Credentials, envelope, type Method, type Reply, send } from './support/raw.js';
import { startTestServer, type TestServer } from './support/server.js';
import { addUser, RawSession } from './support/session.js';

/**
 * The audit log (docs/server.md, "The audit log"), over the wire as the official client speaks it: every write and
 * login leaves one entry (who, from which address, what, on which entity, done or denied, with the payload's
 * secrets masked), reads leave none, `Log WHERE ...` finds entries with the query language, admins read the whole
 * workspace's log and everyone else only their own entries, and no one writes the log through the API.
 */

type Entity = Record<string, unknown>;

let test: TestServer;
let admin: RawSession;
let employee: RawSession;
let standard: RawSession;
let ids: Record<'admin' | 'employee' | 'standard', string>;

beforeAll(async () => {
  test = await startTestServer();
  admin = new RawSession(test.url, test.admin);
  employee = new RawSession(test.url, await addUser(test.server.store, 'acme', 'emma@acme.test', 'employee'));
  standard = new RawSession(test.url, await addUser(test.server.store, 'acme', 'sam@acme.test', 'standard'));
  const users = await admin.result<Entity[]>(admin.find('User', { attributes: ['code'] }));
  const idOf = (code: string) => users.find((user) => user.code === code)?.id as string;
  ids = { admin: idOf('admin@acme.test'), employee: idOf('emma@acme.test'), standard: idOf('sam@acme.test') };
});
afterAll(() => test.stop());

/** The log entries a session finds with `query` (the text after WHERE), oldest first. */
function logs(session: RawSession, query?: string, data: Record<string, unknown> = {}): Promise<Entity[]> {
  return session.result<Entity[]>(session.find(query ? `Log WHERE ${query}` : 'Log', data));
}

/** How many entries the whole workspace's log holds, as its admin reads it. */
async function count(): Promise<number> {
  return (await logs(admin, undefined, { attributes: ['id'] })).length;
}

/**
 * Logs in and sends one event as the official client does, from the loopback address `localAddress` and with extra
 * request headers: what RawSession does, with control over where the call comes from.
 */
async function callFrom(
  base: string,
  credentials: Credentials,
  request: { method: Method; uri: string; data: unknown; localAddress: string; headers?: Record<string, string> },
): Promise<Reply> {
  const headers = { ...authHeaders(credentials), ...request.headers };
  const from = { headers, localAddress: request.localAddress };
  const login = await send(base, 'PUT', '/api/v3/api/login', { ...from, body: '{}' });
  expect(login.status, login.text).toBe(200);
  const session = (login.json.result as { session_id: string }).session_id;
  return send(base, request.method, '/api/v3/event', {
    ...from,
    body: envelope(credentials, session, request.uri, request.data),
  });
}

describe('writes', () => {
  it('records a create with who made it, from where, the operation, the new entity and the payload', async () => {
    const payload = { source: 'audit/a.mov', destination: 'audit/b.mov', status: 'paused' };
    const [job] = await admin.result<Entity[]>(admin.create('transfer', payload));
    const entries = await logs(admin, 'operation=transfer/create');
    expect(entries).toEqual([
      {
        id: expect.stringMatching(/^[0-9a-f]{24}$/),
        created: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$/),
        user: ids.admin,
        user_hr: 'admin@acme.test',
        address: '127.0.0.1',
        method: 'POST',
        operation: 'transfer/create',
        entity: `job:${job?.id}`,
        entity_hr: 'job:a.mov',
        query: null,
        outcome: 'ok',
        message: null,
        data: payload,
      },
    ]);
  });

  it('records edits, deletes, grants, deactivations and recipients on the entity they change', async () => {
    const [job] = await admin.result<Entity[]>(admin.create('transfer', { source: 'edit.mov', destination: 'x/' }));
    const jobId = job?.id as string;
    await admin.result(admin.update('transfer', jobId, { status: 'paused' }));
    await admin.result(admin.delete('transfer', jobId));
    expect(await logs(admin, `entity=job:${jobId}`, { attributes: ['method', 'operation', 'data'] })).toMatchObject([
      { method: 'POST', operation: 'transfer/create' },
      { method: 'PUT', operation: 'transfer/edit', data: { status: 'paused' } },
      { method: 'DELETE', operation: 'transfer/delete', data: null },
    ]);

    const [folder] = await admin.result<Entity[]>(admin.create('folder', { path: 'audit-projects' }));
    const [acl] = await admin.result<Entity[]>(
      admin.create('acl', { entity: 'user:emma@acme.test', target: `share:${folder?.id}`, read: true }),
    );
    const [grant] = await logs(admin, 'operation=acl/create');
    expect(grant).toMatchObject({
      user_hr: 'admin@acme.test',
      entity: `acl:${acl?.id}`,
      outcome: 'ok',
      data: { entity: 'user:emma@acme.test', target: `share:${folder?.id}`, read: true },
    });
    await admin.result(admin.call('DELETE', 'acl/delete', null, { id: acl?.id as string }));
    expect(await logs(admin, `operation=acl/delete AND entity=acl:${acl?.id}`)).toHaveLength(1);

    await admin.result(admin.call('DELETE', 'user/deactivate', null, { id: ids.standard }));
    await admin.result(admin.call('POST', 'user/activate', null, { query: 'sam@acme.test' }));
    // The user is found by the e-mail, as a reference is in every query.
    expect(await logs(admin, 'entity=sam@acme.test', { attributes: ['operation', 'entity_hr'] })).toEqual([
      { id: expect.any(String), operation: 'user/deactivate', entity_hr: 'user:sam@acme.test' },
    ]);
    // Activated by code: the entity is not known by id, the query says which.
    expect(await logs(admin, 'operation=user/activate', { attributes: ['entity', 'query'] })).toEqual([
      { id: expect.any(String), entity: null, query: 'sam@acme.test' },
    ]);

    const [delivery] = await admin.result<Entity[]>(admin.create('delivery', { name: 'Audit grade' }));
    await admin.result(
      admin.call('PUT', 'job/recipient/add', { recipient: 'sam@acme.test' }, { id: delivery?.id as string }),
    );
    expect(await logs(admin, 'operation=job/recipient/add')).toMatchObject([
      { entity: `job:${delivery?.id}`, entity_hr: 'job:Audit grade', data: { recipient: 'sam@acme.test' } },
    ]);
  });

  it('records a refused write as denied, with the refusal, and leaves nothing written', async () => {
    const refused = await standard.create('queue', { name: 'audit-sneaky' });
    expect(refused.status).toBe(403);
    expect(await admin.result(admin.find('Queue WHERE name=audit-sneaky'))).toEqual([]);
    expect(await logs(admin, 'outcome=denied AND operation=queue/create')).toMatchObject([
      {
        user_hr: 'sam@acme.test',
        method: 'POST',
        entity: null,
        outcome: 'denied',
        message: refused.json.message,
        data: { name: 'audit-sneaky' },
      },
    ]);
    const [queue] = await employee.result<Entity[]>(employee.find('Queue WHERE code=medium'));
    const edit = await employee.update('queue', queue?.id as string, { priority: 1 });
    expect(edit.status).toBe(403);
    expect(await logs(admin, 'outcome=denied AND user=emma@acme.test')).toMatchObject([
      { operation: 'queue/edit', entity: `job:${queue?.id}`, entity_hr: 'job:medium', message: edit.json.message },
    ]);
  });

  it('does not record calls that fail for another reason: a bad payload changes nothing and refuses no one', async () => {
    const before = await count();
    const bad = await admin.create('user', { code: 'x@example.com', rol: 'admin' });
    expect(bad.status).toBe(400);
    const missing = await admin.update('transfer', '0123456789abcdef01234567', { status: 'paused' });
    expect(missing.status).toBe(404);
    expect(await count()).toBe(before);
  });

  it('does not record reads', async () => {
    const before = await count();
    const [job] = await admin.result<Entity[]>(admin.find('Transfer', { limit: 1, archived: true }));
    await admin.result(admin.find('User WHERE code=sam@acme.test'));
    await admin.result(admin.call('GET', 'transfer/find', {}, { id: job?.id as string }));
    await admin.result(admin.call('GET', 'entitytypes', {}));
    await admin.result(admin.call('GET', 'attributes', { entitytype: 'log' }));
    await standard.result(standard.find('Transfer'));
    await logs(standard);
    // A refused read is a read too: user/api_key is a GET that answers 403.
    expect((await admin.call('GET', 'user/api_key', {})).status).toBe(403);
    expect(await count()).toBe(before);
  });

  it('masks secrets in the payload, also in settings named like one, before anything reaches the database', async () => {
    const metadata = {
      password: 'hunter2',
      API_KEY: 'k-123',
      nested: [{ token: 't-456', secret: { any: 'thing' }, keep: 'visible' }],
      setting: { name: 'smtp_pwd', value: 'p-789' },
    };
    await admin.result(admin.create('transfer', { source: 'secret.mov', destination: 'x/', metadata }));
    const entry = (await logs(admin, 'operation=transfer/create')).at(-1);
    expect((entry?.data as Entity | undefined)?.metadata).toEqual({
      password: '***',
      API_KEY: '***',
      nested: [{ token: '***', secret: '***', keep: 'visible' }],
      setting: { name: 'smtp_pwd', value: '***' },
    });
    const stored = await sql<{ data: string }>`SELECT data FROM logs`.execute(test.server.store.db);
    const everything = stored.rows.map((row) => row.data).join('\n');
    for (const secret of ['hunter2', 'k-123', 't-456', 'thing', 'p-789']) expect(everything).not.toContain(secret);
    expect(everything).toContain('visible');
  });

  it('keeps only the first 4 KB of a large payload', async () => {
    const description = 'x'.repeat(10_000);
    await admin.result(admin.create('transfer', { source: 'big.mov', destination: 'x/', description }));
    const entry = (await logs(admin, 'operation=transfer/create')).at(-1);
    const data = entry?.data as { truncated: number; head: string };
    expect(data.truncated).toBe(JSON.stringify({ source: 'big.mov', destination: 'x/', description }).length);
    expect(data.head).toHaveLength(4096);
    expect(data.head.startsWith('{"source":"big.mov","destination":"x/","description":"xxx')).toBe(true);
  });
});

describe('logins', () => {
  it('records a login with the user and the address, on both login paths; a failed one is not recorded', async () => {
    const before = (await logs(admin, 'operation=login AND user=sam@acme.test')).length;
    const again = new RawSession(test.url, standard.credentials);
    await again.result(again.find('User'));
    const alias = await send(test.url, 'PUT', AUTH_PATH, { headers: authHeaders(standard.credentials), body: '{}' });
    expect(alias.status).toBe(200);
    const entries = await logs(admin, 'operation=login AND user=sam@acme.test');
    expect(entries).toHaveLength(before + 2);
    expect(entries.at(-1)).toMatchObject({
      user_hr: 'sam@acme.test',
      address: '127.0.0.1',
      method: 'PUT',
      operation: 'login',
      outcome: 'ok',
      data: null,
    });

    const total = await count();
    const wrong = await send(test.url, 'PUT', '/api/v3/api/login', {
      headers: authHeaders({ ...standard.credentials, key: 'not-the-key' }),
      body: '{}',
    });
    expect(wrong.status).toBe(401);
    expect(await count()).toBe(total);
  });
});

describe('the address', () => {
  it("is the caller's own: a forwarded-for header is believed only from a trusted proxy", async () => {
    const direct = await callFrom(test.url, test.admin, {
      method: 'POST',
      uri: 'site/create',
      data: { code: 'audit-direct' },
      localAddress: '127.0.0.23',
      headers: { 'X-Forwarded-For': '198.51.100.1' },
    });
    expect(direct.status, direct.text).toBe(200);
    expect(await logs(admin, 'operation=site/create', { attributes: ['address'] })).toMatchObject([
      { address: '127.0.0.23' },
    ]);
    expect((await logs(admin, 'operation=login')).at(-1)).toMatchObject({ address: '127.0.0.23' });

    const proxied = await startTestServer({}, ['--trust-proxy', '127.0.0.0/8']);
    try {
      const reply = await callFrom(proxied.url, proxied.admin, {
        method: 'POST',
        uri: 'site/create',
        data: { code: 'audit-proxied' },
        localAddress: '127.0.0.24',
        headers: { 'X-Forwarded-For': '203.0.113.7, 127.0.0.5' },
      });
      expect(reply.status, reply.text).toBe(200);
      const session = new RawSession(proxied.url, proxied.admin);
      expect(await session.result(session.find('Log WHERE operation=site/create'))).toMatchObject([
        { address: '203.0.113.7' },
      ]);
    } finally {
      await proxied.stop();
    }
  });
});

describe('finding entries', () => {
  it('takes the query language: and, or, in, contains, dates, references, attributes and pages', async () => {
    const mine = await logs(admin, 'operation=transfer/create AND user=admin@acme.test');
    expect(mine.length).toBeGreaterThanOrEqual(4);
    expect(mine.every((entry) => entry.operation === 'transfer/create' && entry.user === ids.admin)).toBe(true);

    const changes = await logs(admin, 'operation in transfer/edit,transfer/delete', { attributes: ['operation'] });
    expect(new Set(changes.map((entry) => entry.operation))).toEqual(new Set(['transfer/edit', 'transfer/delete']));
    expect(await logs(admin, "operation contains 'recipient' OR (outcome=denied AND method=post)")).toMatchObject([
      { operation: 'job/recipient/add' },
      { operation: 'queue/create' },
    ]);

    const all = await logs(admin);
    const middle = all[Math.floor(all.length / 2)] as Entity;
    const later = await logs(admin, `created>=${middle.created}`);
    expect(later.map((entry) => entry.id)).toContain(middle.id);
    expect(later.map((entry) => entry.id)).toEqual(
      all.filter((entry) => (entry.created as string) >= (middle.created as string)).map((entry) => entry.id),
    );
    expect(await logs(admin, 'created<2000-01-01T00:00:00')).toEqual([]);

    // Pages in a stable order (oldest first, then id) cover the log once.
    const paged: Entity[] = [];
    for (let skip = 0; skip < all.length; skip += 3) paged.push(...(await logs(admin, undefined, { skip, limit: 3 })));
    expect(paged.map((entry) => entry.id)).toEqual(all.map((entry) => entry.id));

    const badAttribute = await admin.find('Log WHERE operaton=login');
    expect(badAttribute.status).toBe(400);
    expect(badAttribute.json.message).toContain("did you mean 'operation'?");
    expect(await admin.result(admin.call('GET', 'log/find', {}, { id: middle.id as string }))).toMatchObject([
      { id: middle.id, operation: middle.operation },
    ]);
  });
});

describe('who reads the log', () => {
  it('shows admins every entry, employees and standard users only their own', async () => {
    const everything = await logs(admin);
    const users = new Set(everything.map((entry) => entry.user_hr));
    expect(users).toEqual(new Set(['admin@acme.test', 'emma@acme.test', 'sam@acme.test']));
    for (const [session, id] of [
      [standard, ids.standard],
      [employee, ids.employee],
    ] as const) {
      const own = await logs(session);
      expect(own.length).toBeGreaterThan(0);
      expect(own.every((entry) => entry.user === id)).toBe(true);
      expect(own.map((entry) => entry.id)).toEqual(
        everything.filter((entry) => entry.user === id).map((entry) => entry.id),
      );
      expect(await logs(session, 'user=admin@acme.test')).toEqual([]);
      const adminEntry = everything.find((entry) => entry.user === ids.admin) as Entity;
      expect(await session.result(session.call('GET', 'log/find', {}, { id: adminEntry.id as string }))).toEqual([]);
    }
  });

  it("keeps workspaces apart: another workspace's entries are not there for its admin, nor its for ours", async () => {
    const other = new RawSession(test.url, await addUser(test.server.store, 'audit-other', 'boss@other.test', 'admin'));
    await other.result(other.create('site', { code: 'elsewhere' }));
    const theirs = await logs(other);
    expect(theirs.map((entry) => entry.operation)).toEqual(['login', 'site/create']);
    expect(theirs.every((entry) => entry.user_hr === 'boss@other.test')).toBe(true);
    const ours = await logs(admin);
    expect(ours.some((entry) => entry.user_hr === 'boss@other.test')).toBe(false);
    expect(ours.map((entry) => entry.id)).not.toContain(theirs[0]?.id);
    expect(await other.result(other.call('GET', 'log/find', {}, { id: ours[0]?.id as string }))).toEqual([]);
  });
});

describe('the log cannot be written through the API', () => {
  it('refuses to create, edit, delete or deactivate entries, and records the attempts', async () => {
    const [entry] = await logs(admin);
    const id = entry?.id as string;
    const message = 'The audit log is written by the server alone: its entries cannot be created, changed or deleted.';
    const create = await admin.create('log', { operation: 'transfer/create', outcome: 'ok' });
    expect({ status: create.status, message: create.json.message }).toEqual({ status: 403, message });
    const edit = await admin.update('log', id, { outcome: 'denied' });
    expect({ status: edit.status, message: edit.json.message }).toEqual({ status: 403, message });
    const remove = await admin.delete('log', id);
    expect({ status: remove.status, message: remove.json.message }).toEqual({ status: 403, message });
    const deactivate = await admin.call('DELETE', 'log/deactivate', null, { id });
    expect(deactivate.status).toBe(400);
    expect(deactivate.json.message).toContain('cannot be deactivated');
    expect((await logs(admin))[0]).toEqual(entry);
    expect(await logs(admin, 'operation in log/create,log/edit,log/delete', { attributes: ['outcome'] })).toEqual([
      { id: expect.any(String), outcome: 'denied' },
      { id: expect.any(String), outcome: 'denied' },
      { id: expect.any(String), outcome: 'denied' },
    ]);
    expect(await admin.result(admin.call('GET', 'attributes', { entitytype: 'log', create: true }))).toEqual([]);
  });
});

describe('when the log cannot be written', () => {
  it('still answers the write, which is made', async () => {
    const broken = await startTestServer();
    try {
      await sql`DROP TABLE logs`.execute(broken.server.store.db);
      const session = new RawSession(broken.url, broken.admin);
      const [site] = await session.result<Entity[]>(session.create('site', { code: 'unlogged' }));
      expect(site?.code).toBe('unlogged');
      expect(await session.result(session.find('Site WHERE code=unlogged'))).toHaveLength(1);
    } finally {
      await broken.stop();
    }
  });
});
