import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request as httpRequest, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import { createServer as createHttpsServer, request as httpsRequest } from 'node:https';
import { type AddressInfo, connect, createServer as createNetServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ServerError, Session } from 'accsyn-api';
import { MASTER_LOOKUP_PATH, queryStringOf } from 'accsyn-protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Server, startServer } from '../../api/test/support.js';
import { freePort } from '../../server/test/support/net.js';
import {
  authHeaders,
  type Credentials,
  envelope,
  event,
  login,
  type Method,
  send,
} from '../../server/test/support/raw.js';
import { selfSignedCertificate } from '../../server/test/support/tls.js';
import {
  ProxyConfigError,
  type ProxyOptions,
  parseListen,
  parseUpstream,
  type RunningProxy,
  startProxy,
} from '../src/proxy.js';

/**
 * The accsyn network proxy in front of the real server, spawned over HTTPS with a self-signed certificate: our
 * client and a raw client shaped like the official one go through it, the server's rate limits see the clients
 * behind it, and its failures are answered as the protocol's JSON. Streaming and header handling are shown against
 * a small HTTPS stub that reports what it received and answers slowly on cue. Everything stays on loopback.
 */

const cleanups: (() => Promise<unknown> | unknown)[] = [];
let folder: string;
let certFile: string;
let keyFile: string;
let certificate: string;
let server: Server;
let credentials: Credentials;

interface TestProxy extends RunningProxy {
  readonly port: number;
  /** The lines it logged. */
  readonly lines: string[];
}

async function proxyTo(upstream: string, options: Partial<ProxyOptions> = {}): Promise<TestProxy> {
  const lines: string[] = [];
  const proxy = await startProxy({
    listen: { host: '127.0.0.1', port: 0 },
    upstream: new URL(upstream),
    log: (line) => lines.push(line),
    ...options,
  });
  cleanups.push(() => proxy.close());
  return { ...proxy, port: Number(new URL(proxy.url).port), lines };
}

/** Our client, through the proxy; the host name it is given is never looked up, as the proxy is asked instead. */
function sessionVia(proxy: TestProxy, admin: Server['admin'] = server.admin, hostname = 'workspace.invalid'): Session {
  const session = new Session({
    workspace: admin.workspace,
    username: admin.username,
    apiKey: admin.apiKey,
    ...(hostname ? { hostname } : {}),
    proxy: `accsyn:127.0.0.1:${proxy.port}`,
    environment: false,
    retry: false,
  });
  cleanups.push(() => session.close());
  return session;
}

beforeAll(async () => {
  folder = mkdtempSync(join(tmpdir(), 'accsyn-cli-proxy-test-'));
  cleanups.push(() => rmSync(folder, { recursive: true, force: true }));
  ({ certFile, keyFile, certificate } = selfSignedCertificate(folder));
  server = await startServer({}, ['--tls-cert', certFile, '--tls-key', keyFile]);
  cleanups.push(() => server.stop());
  credentials = { workspace: server.admin.workspace, user: server.admin.username, key: server.admin.apiKey };
});

afterAll(async () => {
  // Sessions and proxies first, then the servers they talk to, then the files.
  for (const cleanup of cleanups.reverse()) await cleanup();
});

describe('our client through the proxy', () => {
  it('logs in, finds and creates, with the workspace certificate checked against the CA file', async () => {
    const proxy = await proxyTo(server.url, { ca: certificate });
    const session = sessionVia(proxy);
    expect(await session.login()).toMatchObject({ role: 'admin' });
    const users = await session.find('User');
    expect(users.map((user) => (user as { code: string }).code)).toContain(server.admin.username);
    const queue = await session.create('Queue', { name: 'Through the proxy' });
    expect(queue).toMatchObject({ name: 'Through the proxy' });
    expect(await session.findOne(`Queue WHERE id=${(queue as { id: string }).id}`)).toMatchObject({
      name: 'Through the proxy',
    });
  });

  it('makes the master lookup through the proxy too, when no host name is given', async () => {
    const proxy = await proxyTo(server.url, { ca: certificate });
    const session = sessionVia(proxy, server.admin, '');
    expect(await session.login()).toMatchObject({ role: 'admin' });
    expect(await session.find('Site')).not.toHaveLength(0);
    const paths = proxy.lines.slice(1).map((line) => line.split(' ').slice(1, 4).join(' '));
    expect(paths).toEqual([`GET ${MASTER_LOOKUP_PATH} 200`, 'PUT /api/v3/api/login 200', 'GET /api/v3/event 200']);
  });

  it('logs one line per request, without the query string that carries a GET event', async () => {
    const proxy = await proxyTo(server.url, { ca: certificate });
    await sessionVia(proxy).find('User WHERE code=secret@example.com');
    const requests = proxy.lines.slice(1);
    expect(requests).toHaveLength(2);
    for (const line of requests) {
      expect(line).toMatch(/^127\.0\.0\.1 (GET|PUT) \/api\/v3\/(event|api\/login) 200 \d+ B( \(\d+ B in\))? \d+ ms$/);
      expect(line).not.toMatch(/\?|%7B|secret|basic/i);
    }
    expect(proxy.lines[0]).toBe(
      `accsyn proxy listening on ${proxy.url}, forwarding to ${server.url}, checking its certificate (with the given CA)`,
    );
  });
});

describe('a client speaking the wire as the official one does', () => {
  it('gets through the proxy the same answers as straight from the server', async () => {
    const proxy = await proxyTo(server.url, { ca: certificate });
    const [proxied, direct] = await Promise.all([
      login(proxy.url, credentials),
      sendDirect('PUT', '/api/v3/api/login', authHeaders(credentials), '{}'),
    ]);
    expect(proxied.status).toBe(200);
    expect(proxied.headers['content-type']).toBe(direct.headers['content-type']);
    const result = (reply: { json: Record<string, unknown> }) => reply.json.result as Record<string, unknown>;
    expect({ ...result(proxied), session_id: 'x' }).toEqual({ ...result(direct), session_id: 'x' });

    // GET events carry the envelope as the whole, percent-encoded query string; a long one is a long request line.
    const find = (session: string, pad: string) =>
      envelope(credentials, session, 'user/find', { attributes: ['code', 'role'], pad }, { query: 'role=admin' });
    for (const pad of ['', 'x'.repeat(250_000)]) {
      const viaProxy = await event(proxy.url, credentials, 'GET', find(result(proxied).session_id as string, pad));
      const json = find(result(direct).session_id as string, pad);
      const straight = await sendDirect('GET', `/api/v3/event?${queryStringOf(json)}`, authHeaders(credentials));
      expect(viaProxy.status).toBe(straight.status);
      expect(viaProxy.json).toEqual(straight.json);
    }
  });

  it('forwards /healthz and answers 404 JSON naming any path that is not forwarded', async () => {
    const proxy = await proxyTo(server.url, { ca: certificate });
    expect(await send(proxy.url, 'GET', '/healthz')).toMatchObject({ status: 200, json: { status: 'ok' } });
    const forwards = 'it forwards /api/v3/..., /u/..., /d/..., /proxy/... and /healthz.';
    for (const path of ['/graphql', '/api/v2/event', '/']) {
      const reply = await send(proxy.url, 'GET', `${path}?secret=1`);
      expect(reply.status, path).toBe(404);
      expect(reply.json, path).toEqual({ message: `accsyn proxy: there is nothing at GET ${path}; ${forwards}` });
    }
    // Dot segments, which an upstream might resolve to a path the proxy does not forward (URL clients remove them).
    for (const path of ['/api/v3/../../admin', '/d/%2E%2e/x']) {
      const reply = await rawExchange(proxy.port, `GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`);
      expect(reply).toMatch(/^HTTP\/1\.1 404 /);
      expect(reply).toContain(`"accsyn proxy: there is nothing at GET ${path}; ${forwards}"`);
    }
    // Not an open relay: a request for another host's URL, or a tunnel, goes nowhere.
    expect(
      await rawExchange(proxy.port, 'GET http://example.com/api/v3/event HTTP/1.1\r\nHost: example.com\r\n\r\n'),
    ).toMatch(/^HTTP\/1\.1 404 .*accsyn proxy: there is nothing at GET http:\/\/example\.com\/api\/v3\/event;/s);
    expect(await rawExchange(proxy.port, 'CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n')).toMatch(
      /^HTTP\/1\.1 405 .*"accsyn proxy: CONNECT is not supported/s,
    );
  });
});

describe("the server's rate limits behind the proxy", () => {
  let trusting: Server;
  let distrusting: Server;
  beforeAll(async () => {
    const tls = ['--tls-cert', certFile, '--tls-key', keyFile];
    // A burst of 3 requests, then 1 a second.
    [trusting, distrusting] = await Promise.all([
      startServer({ ACCSYN_LIMIT_API: '1:3' }, [...tls, '--trust-proxy', '127.0.0.1']),
      startServer({ ACCSYN_LIMIT_API: '1:3' }, tls),
    ]);
    cleanups.push(
      () => trusting.stop(),
      () => distrusting.stop(),
    );
  });

  /** Master lookups from `from` through `proxy` until one is refused; the statuses. */
  async function untilRefused(proxy: TestProxy, from: string): Promise<number[]> {
    const statuses: number[] = [];
    while (statuses.length < 20 && statuses.at(-1) !== 429) {
      statuses.push((await lookupVia(proxy, from)).status);
    }
    return statuses;
  }
  const lookupVia = (proxy: TestProxy, from: string) =>
    send(proxy.url, 'GET', `${MASTER_LOOKUP_PATH}?${queryStringOf('{"ident": "acme"}')}`, { localAddress: from });

  it('count each client behind a trusted proxy on its own, by X-Forwarded-For', async () => {
    const proxy = await proxyTo(trusting.url, { ca: certificate });
    const statuses = await untilRefused(proxy, '127.0.0.2');
    expect(statuses[0]).toBe(200);
    expect(statuses.at(-1)).toBe(429);
    const other = await lookupVia(proxy, '127.0.0.3');
    expect(other.status).toBe(200);
    expect(other.json).toMatchObject({ result: { port: Number(new URL(trusting.url).port) } });
  });

  it('count every client as the proxy when the server does not trust it', async () => {
    const proxy = await proxyTo(distrusting.url, { ca: certificate });
    expect((await untilRefused(proxy, '127.0.0.4')).at(-1)).toBe(429);
    const other = await lookupVia(proxy, '127.0.0.5');
    expect(other.status).toBe(429);
    expect(other.json).toEqual({ message: 'Too many requests, please try again later.', retry_after: 1 });
  });
});

describe('when the workspace fails', () => {
  it('answers 502 JSON while the workspace is down, which our client raises, and serves once it is back', async () => {
    const port = await freePort();
    const upstream = `https://127.0.0.1:${port}`;
    const proxy = await proxyTo(upstream, { ca: certificate });
    const apiKey = 'proxy-test-key-0123456789-abcdefghijklmnopqrstuvwxyz';
    const admin = { workspace: 'acme', username: 'admin@acme.test', apiKey, hostname: upstream };
    const session = sessionVia(proxy, admin);
    const message = `accsyn proxy: the workspace at ${upstream} could not be reached (connect ECONNREFUSED 127.0.0.1:${port}).`;

    const reply = await send(proxy.url, 'GET', '/healthz');
    expect(reply).toMatchObject({ status: 502, json: { message } });
    expect(reply.headers['content-type']).toBe('application/json; charset=utf-8');
    const error = await session.login().then(
      () => undefined,
      (e: unknown) => e as ServerError,
    );
    expect(error).toBeInstanceOf(ServerError);
    expect(error).toMatchObject({ message, status: 502 });

    const revived = await startServer({ ACCSYN_BOOTSTRAP_API_KEY: apiKey }, [
      '--tls-cert',
      certFile,
      '--tls-key',
      keyFile,
      '--port',
      String(port),
    ]);
    cleanups.push(() => revived.stop());
    expect(await session.login()).toMatchObject({ role: 'admin' });
    expect(await send(proxy.url, 'GET', '/healthz')).toMatchObject({ status: 200 });
  });

  it('answers 504 JSON when the workspace takes the connection but never answers', async () => {
    const silent = await silentServer();
    const upstream = `http://127.0.0.1:${silent.port}`;
    const proxy = await proxyTo(upstream, { idleTimeoutMs: 300 });
    expect(proxy.lines[0]).toContain('over plain HTTP: the traffic to the workspace is NOT encrypted');
    const reply = await send(proxy.url, 'PUT', '/api/v3/api/login', { body: '{}' });
    expect(reply).toMatchObject({
      status: 504,
      json: {
        message: `accsyn proxy: the workspace at ${upstream} did not answer in time (no byte either way for 300 ms).`,
      },
    });
    expect(silent.received()).toContain('PUT /api/v3/api/login HTTP/1.1');
  });

  it('answers 504 JSON when the connection (the TLS handshake) takes too long', async () => {
    const silent = await silentServer();
    const upstream = `https://127.0.0.1:${silent.port}`;
    const proxy = await proxyTo(upstream, { connectTimeoutMs: 300 });
    expect(await send(proxy.url, 'GET', '/healthz')).toMatchObject({
      status: 504,
      json: {
        message: `accsyn proxy: the workspace at ${upstream} did not answer in time (no connection within 300 ms).`,
      },
    });
  });

  it('refuses a certificate it cannot trust with 502 JSON that says how to trust it; insecure takes any', async () => {
    const refusing = await proxyTo(server.url);
    const reply = await send(refusing.url, 'GET', '/healthz');
    expect(reply.status).toBe(502);
    expect(reply.json.message).toMatch(
      /^accsyn proxy: the certificate of the workspace at https:\/\/127\.0\.0\.1:\d+ was refused \(DEPTH_ZERO_SELF_SIGNED_CERT: self-signed certificate\)\. To trust it, start the proxy with --ca-file /,
    );

    const trusting = await proxyTo(server.url, { insecure: true });
    expect(trusting.lines[0]).toContain('WITHOUT checking its certificate');
    expect(await send(trusting.url, 'GET', '/healthz')).toMatchObject({ status: 200, json: { status: 'ok' } });
  });
});

describe('the connection cap', () => {
  it('answers 503 JSON to a connection beyond the cap, and takes connections again when one closes', async () => {
    const proxy = await proxyTo(server.url, { ca: certificate, maxConnections: 2 });
    const held = await Promise.all([openSocket(proxy.port), openSocket(proxy.port)]);
    const refused = await send(proxy.url, 'GET', '/healthz');
    expect(refused).toMatchObject({
      status: 503,
      json: { message: 'accsyn proxy: too many connections (at most 2 at a time); try again shortly.' },
    });
    expect(refused.headers['retry-after']).toBe('1');
    expect(refused.headers.connection).toBe('close');

    held[0]?.destroy();
    let status = 0;
    for (let tries = 0; tries < 100 && status !== 200; tries++) {
      status = (await send(proxy.url, 'GET', '/healthz')).status;
      if (status !== 200) await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(status).toBe(200);
    held[1]?.destroy();
  });
});

describe('streaming and headers, against an HTTPS stub', () => {
  let stub: Stub;
  beforeAll(async () => {
    stub = await startStub();
  });

  it('passes the first chunk of an answer on before the upstream sends the last', async () => {
    const proxy = await proxyTo(stub.url, { ca: certificate });
    const chunks: string[] = [];
    const answer = await get(`${proxy.url}/d/stream`);
    expect(answer.statusCode).toBe(200);
    answer.setEncoding('utf8');
    answer.on('data', (chunk: string) => {
      chunks.push(chunk);
      stub.firstChunkSeen();
    });
    await once(answer, 'end');
    expect(chunks.join('')).toBe(`first chunk;${'y'.repeat(1 << 16)};last chunk`);
    expect(stub.lastSentAfterFirstSeen()).toBe(true);
  });

  it('streams a large request body on before the client has sent it all', async () => {
    const proxy = await proxyTo(stub.url, { ca: certificate });
    const chunk = Buffer.alloc(256 * 1024, 'z');
    const chunks = 32; // 8 MiB
    const digest = createHash('sha256');
    const upload = httpRequest(`${proxy.url}/u/upload`, { method: 'PUT', agent: false });
    const answered = once(upload, 'response') as Promise<[IncomingMessage]>;
    const write = async (data: Buffer) => {
      digest.update(data);
      if (!upload.write(data)) await once(upload, 'drain');
    };
    await write(chunk);
    // The rest waits until the stub has bytes of the body: a proxy that buffered whole bodies would wait forever.
    const arrivedBeforeTheEnd = await Promise.race([
      stub.uploadStarted.then(() => true),
      new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 5_000)),
    ]);
    for (let i = 1; i < chunks; i++) await write(chunk);
    upload.end();
    const [answer] = await answered;
    const body = JSON.parse(await text(answer));
    expect(arrivedBeforeTheEnd).toBe(true);
    expect(body).toEqual({ bytes: chunk.length * chunks, sha256: digest.digest('hex') });
    expect(proxy.lines.at(-1)).toMatch(
      new RegExp(`^127\\.0\\.0\\.1 PUT /u/upload 200 \\d+ B \\(${8 << 20} B in\\) \\d+ ms$`),
    );
  });

  it('drops hop-by-hop headers both ways, keeps the others, and sets Host and X-Forwarded-*', async () => {
    const proxy = await proxyTo(stub.url, { ca: certificate });
    const answer = await get(`${proxy.url}/proxy/echo?x=1`, [
      ...['Host', 'proxy.example', 'Connection', 'keep-alive, X-Hop-In', 'X-Hop-In', 'secret'],
      ...['Keep-Alive', 'timeout=9', 'Proxy-Connection', 'keep-alive', 'TE', 'trailers', 'Trailer', 'X-Sum'],
      // A chunked GET, so that Trailer is allowed; the framing is the proxy's to choose on the way on.
      ...['Transfer-Encoding', 'chunked'],
      ...['X-Forwarded-For', '203.0.113.9', 'X-Forwarded-Proto', 'https', 'X-Multi', 'a', 'X-Multi', 'b'],
      ...['Authorization', 'basic dXNlcg==:a2V5', 'X-Accsyn-Workspace', 'acme'],
    ]);
    const seen = JSON.parse(await text(answer)) as { url: string; headers: IncomingHttpHeaders; raw: string[] };
    expect(seen.url).toBe('/proxy/echo?x=1');
    expect(seen.headers).toMatchObject({
      host: `127.0.0.1:${stub.port}`,
      'x-forwarded-for': '203.0.113.9, 127.0.0.1',
      'x-forwarded-proto': 'http',
      authorization: 'basic dXNlcg==:a2V5',
      'x-accsyn-workspace': 'acme',
    });
    expect(seen.raw.filter((_, i) => seen.raw[i - 1] === 'X-Multi')).toEqual(['a', 'b']);
    for (const name of ['x-hop-in', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'upgrade']) {
      expect(seen.headers, name).not.toHaveProperty(name);
    }
    expect(seen.headers.connection).toBe('keep-alive');

    expect(answer.headers['x-end']).toBe('kept');
    expect(answer.headers['set-cookie']).toEqual(['a=1', 'b=2']);
    expect(answer.headers).not.toHaveProperty('x-hop-out');
    expect(answer.headers['keep-alive']).not.toBe('timeout=7');
  });

  it('sends a request without a body again when the kept-alive connection it took turns out closed', async () => {
    const proxy = await proxyTo(stub.url, { ca: certificate });
    for (let i = 0; i < 3; i++) {
      const reply = await send(proxy.url, 'GET', '/d/hangs-up-on-reuse');
      expect(reply).toMatchObject({ status: 200, text: 'answered on a fresh connection' });
    }
    // A body may be half gone: such a request, on the connection the last retry left idle, is not sent again.
    const reply = await send(proxy.url, 'PUT', '/u/hangs-up-on-reuse', { body: 'x' });
    expect(reply).toMatchObject({
      status: 502,
      json: { message: `accsyn proxy: the workspace at ${stub.url} could not be reached (socket hang up).` },
    });
  });

  it('lets the requests in flight finish when it closes, then takes no more', async () => {
    const proxy = await proxyTo(stub.url, { ca: certificate });
    const pending = get(`${proxy.url}/d/on-cue`);
    await stub.cueWaiting;
    const closed = proxy.close();
    stub.cue();
    const answer = await pending;
    expect(answer.statusCode).toBe(200);
    expect(await text(answer)).toBe('on cue');
    await closed;
    await expect(send(proxy.url, 'GET', '/healthz')).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });
});

describe('parseListen and parseUpstream', () => {
  it.each([
    ['127.0.0.1:8282', { host: '127.0.0.1', port: 8282 }],
    ['  0.0.0.0:80 ', { host: '0.0.0.0', port: 80 }],
    ['localhost:0', { host: 'localhost', port: 0 }],
    ['[::1]:8282', { host: '::1', port: 8282 }],
    ['[::]:8282', { host: '::', port: 8282 }],
    ['8282', { host: '127.0.0.1', port: 8282 }],
  ])('reads the listen address %j', (text, parsed) => {
    expect(parseListen(text)).toEqual(parsed);
  });

  const listenAdvice = 'write it as host:port, such as 127.0.0.1:8282 or [::1]:8282.';
  it.each([
    ['', 'is empty'],
    ['127.0.0.1', 'has no port'],
    ['[::1]', 'has no port'],
    ['::1:8282', 'has an IPv6 address without brackets'],
    ['[127.0.0.1]:80', "has '127.0.0.1' in brackets, which is not an IPv6 address"],
    [':8282', 'has no host'],
    ['bad_host:80', "has 'bad_host', which is not a host name or an address"],
    ['127.0.0.1:65536', "has the port '65536', which is not a number from 0 to 65535"],
    ['127.0.0.1:http', "has the port 'http', which is not a number from 0 to 65535"],
    ['http://127.0.0.1:8282', 'has a scheme, but the proxy always listens on plain HTTP'],
  ])('refuses the listen address %j', (text, why) => {
    expect(() => parseListen(text)).toThrow(ProxyConfigError);
    expect(() => parseListen(text)).toThrow(`The listen address '${text}' ${why}; ${listenAdvice}`);
  });

  it.each([
    ['https://acme.accsyn.com', 'https://acme.accsyn.com'],
    ['https://acme.accsyn.com:443/', 'https://acme.accsyn.com'],
    ['https://127.0.0.1:8443', 'https://127.0.0.1:8443'],
    ['HTTPS://[::1]:8443', 'https://[::1]:8443'],
    ['http://127.0.0.1:8181', 'http://127.0.0.1:8181'],
  ])('reads the upstream %j', (text, href) => {
    expect(parseUpstream(text).origin).toBe(href);
  });

  const upstreamAdvice = 'write it as https://host:port, such as https://acme.accsyn.com:443.';
  it.each([
    ['', 'is empty'],
    ['acme.accsyn.com:443', 'has no scheme'],
    ['ftp://acme.accsyn.com', "has the scheme 'ftp', but the proxy forwards over https (or http) only"],
    ['https://acme.accsyn.com:99999', "has the port '99999', which is not a number from 1 to 65535"],
    ['https://acme.accsyn.com:0', "has the port '0', which is not a number from 1 to 65535"],
    ['https://user:pw@acme.accsyn.com', 'has credentials, which the proxy would not send'],
    ['https://acme.accsyn.com/api/v3', 'has a path, a query or a fragment; requests keep their own paths'],
    ['https://', 'is not a URL'],
  ])('refuses the upstream %j', (text, why) => {
    expect(() => parseUpstream(text)).toThrow(ProxyConfigError);
    expect(() => parseUpstream(text)).toThrow(`The upstream '${text}' ${why}; ${upstreamAdvice}`);
  });

  it('refuses to start on an address in use, or with a timeout that is not a whole number', async () => {
    const proxy = await proxyTo(server.url);
    await expect(proxyTo(server.url, { listen: { host: '127.0.0.1', port: proxy.port } })).rejects.toThrow(
      new ProxyConfigError(
        `The proxy cannot listen on 127.0.0.1:${proxy.port}: the address is in use (another program listens there).`,
      ),
    );
    await expect(proxyTo(server.url, { idleTimeoutMs: 0.5 })).rejects.toThrow(
      "The proxy's idleTimeoutMs must be a whole number above 0, not 0.5.",
    );
  });
});

// ---------------------------------------------------------------------------------------------------------------

/** A request straight to the TLS server, trusting its certificate: what the proxy's answers are compared with. */
function sendDirect(
  method: Method,
  path: string,
  headers: Record<string, string>,
  body?: string,
): Promise<{ status: number; headers: IncomingHttpHeaders; json: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const request = httpsRequest(
      new URL(path, server.url),
      { method, headers: { ...headers, Accept: '*/*' }, ca: certificate, agent: false },
      (answer) => {
        text(answer).then((body) => {
          resolve({ status: answer.statusCode ?? 0, headers: answer.headers, json: JSON.parse(body) });
        }, reject);
      },
    );
    request.on('error', reject);
    request.end(body);
  });
}

/** A GET with raw headers (a list of name, value, ...), resolving when the answer's headers arrive. */
function get(url: string, headers: string[] = []): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const request = httpRequest(url, { headers, agent: false }, resolve);
    request.on('error', reject);
    request.end();
  });
}

async function text(answer: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of answer) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** Writes `request` on a new connection to the proxy and reads until the proxy closes it. */
async function rawExchange(port: number, request: string): Promise<string> {
  const socket = connect(port, '127.0.0.1');
  socket.end(request);
  let answer = '';
  for await (const chunk of socket) answer += String(chunk);
  return answer;
}

/** A connection to the proxy that sends nothing. */
async function openSocket(port: number): Promise<Socket> {
  const socket = connect(port, '127.0.0.1');
  socket.on('error', () => {});
  await once(socket, 'connect');
  cleanups.push(() => socket.destroy());
  return socket;
}

/** A workspace that takes connections and what is sent on them, and never answers. */
async function silentServer(): Promise<{ port: number; received(): string }> {
  let received = '';
  const sockets = new Set<Socket>();
  const silent = createNetServer((socket) => {
    sockets.add(socket);
    socket.on('data', (chunk) => {
      received += chunk.toString('latin1');
    });
    socket.on('error', () => {});
  });
  silent.listen(0, '127.0.0.1');
  await once(silent, 'listening');
  cleanups.push(() => {
    for (const socket of sockets) socket.destroy();
    return new Promise((resolve) => silent.close(resolve));
  });
  return { port: (silent.address() as AddressInfo).port, received: () => received };
}

interface Stub {
  readonly url: string;
  readonly port: number;
  /** The client says it has the first chunk of /d/stream. */
  firstChunkSeen(): void;
  /** Whether /d/stream's last chunk left after the client had the first. */
  lastSentAfterFirstSeen(): boolean;
  /** Resolves when the first bytes of an /u/upload body arrive. */
  readonly uploadStarted: Promise<void>;
  /** Resolves when /d/on-cue waits for its cue; `cue()` gives it. */
  readonly cueWaiting: Promise<void>;
  cue(): void;
}

/**
 * An HTTPS upstream with the test certificate: /d/stream sends its first chunk, and its last only once the client
 * has the first (or after 5 s); /u/upload answers the size and hash of what it received; /proxy/echo answers the
 * request's headers, with hop-by-hop headers of its own; /d/on-cue answers when told; /[du]/hangs-up-on-reuse
 * closes a kept-alive connection instead of answering its second request.
 */
async function startStub(): Promise<Stub> {
  let seeFirst: () => void = () => {};
  const firstSeen = new Promise<void>((resolve) => {
    seeFirst = resolve;
  });
  let lastAfterFirst = false;
  let startUpload: () => void = () => {};
  const uploadStarted = new Promise<void>((resolve) => {
    startUpload = resolve;
  });
  let waiting: () => void = () => {};
  const cueWaiting = new Promise<void>((resolve) => {
    waiting = resolve;
  });
  let cue: () => void = () => {};
  const cued = new Promise<void>((resolve) => {
    cue = resolve;
  });

  const served = new WeakMap<object, number>();
  const stub = createHttpsServer({ cert: certificate, key: readFileSync(keyFile) }, async (request, response) => {
    const path = request.url?.split('?')[0];
    if (path === '/d/stream') {
      response.writeHead(200, { 'content-type': 'application/octet-stream' });
      response.write('first chunk;');
      response.write(`${'y'.repeat(1 << 16)};`);
      let seen = false;
      await Promise.race([
        firstSeen.then(() => {
          seen = true;
        }),
        new Promise((resolve) => setTimeout(resolve, 5_000)),
      ]);
      lastAfterFirst = seen;
      response.end('last chunk');
    } else if (path === '/u/upload') {
      const hash = createHash('sha256');
      let bytes = 0;
      for await (const chunk of request) {
        if (bytes === 0) startUpload();
        bytes += (chunk as Buffer).length;
        hash.update(chunk as Buffer);
      }
      response.end(JSON.stringify({ bytes, sha256: hash.digest('hex') }));
    } else if (path === '/proxy/echo') {
      response.writeHead(200, [
        ...['Content-Type', 'application/json', 'Connection', 'X-Hop-Out', 'X-Hop-Out', 'secret'],
        ...['Keep-Alive', 'timeout=7', 'X-End', 'kept', 'Set-Cookie', 'a=1', 'Set-Cookie', 'b=2'],
      ]);
      response.end(JSON.stringify({ url: request.url, headers: request.headers, raw: request.rawHeaders }));
    } else if (path === '/d/hangs-up-on-reuse' || path === '/u/hangs-up-on-reuse') {
      // As a server whose keep-alive timeout struck just as the proxy took the idle connection up again.
      const count = (served.get(request.socket) ?? 0) + 1;
      served.set(request.socket, count);
      if (count > 1) request.socket.destroy();
      else response.end(`answered on a fresh connection`);
    } else if (path === '/d/on-cue') {
      waiting();
      await cued;
      response.end('on cue');
    } else {
      response.writeHead(404).end();
    }
  });
  stub.listen(0, '127.0.0.1');
  await once(stub, 'listening');
  cleanups.push(() => {
    stub.closeAllConnections();
    return new Promise((resolve) => stub.close(resolve));
  });
  const port = (stub.address() as AddressInfo).port;
  return {
    url: `https://127.0.0.1:${port}`,
    port,
    firstChunkSeen: () => seeFirst(),
    lastSentAfterFirstSeen: () => lastAfterFirst,
    uploadStarted,
    cueWaiting,
    cue: () => cue(),
  };
}
