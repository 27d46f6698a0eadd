import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { accessSync, constants, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, request } from 'node:http';
import { type AddressInfo, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { freePort } from '../../server/test/support/net.js';
import { selfSignedCertificate } from '../../server/test/support/tls.js';
import { AccsynError, ConnectionError, Session, type SessionOptions } from '../src/index.js';
import { parseProxy } from '../src/proxy.js';
import { type SocksServer, startSocksServer } from './socks-server.js';
import { type Server, startServer } from './support.js';

/**
 * The proxy settings and both kinds of proxy, against the real server, all on loopback: SOCKS (our own server,
 * which records what it was asked, and Debian's microsocks) in front of HTTP and HTTPS, and the accsyn proxy as a
 * small relay. The server is addressed as `localhost`, so that who resolved the name is visible: the proxy is
 * asked for the name with socks4a and socks5h, and for an address with socks4 and socks5.
 */

const cleanups: (() => Promise<unknown> | unknown)[] = [];
const sessions: Session[] = [];
let server: Server;
let tlsServer: Server;
let certificate: string;
let socks: SocksServer;
let socksWithLogin: SocksServer;
let relay: Relay;

/** The server's URL, by name. */
const byName = (url: string) => url.replace('127.0.0.1', 'localhost');
const portOf = (url: string) => Number(new URL(url).port);

/** A session with `target` (the HTTP server unless said), addressed by name, through what `options` say. */
function open(options: SessionOptions, target: Server = server): Session {
  const session = new Session({
    workspace: target.admin.workspace,
    username: target.admin.username,
    apiKey: target.admin.apiKey,
    hostname: byName(target.url),
    environment: false,
    retry: false,
    connectTimeout: 5_000,
    ...options,
  });
  sessions.push(session);
  return session;
}

async function loginAndFind(session: Session): Promise<void> {
  expect(await session.login()).toMatchObject({ role: 'admin' });
  const users = await session.find('User');
  expect(users.map((user) => user.code)).toContain(server.admin.username);
}

async function failure(promise: Promise<unknown>): Promise<Error> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(Error);
  return error as Error;
}

beforeAll(async () => {
  const folder = mkdtempSync(join(tmpdir(), 'accsyn-proxy-test-'));
  cleanups.push(() => rmSync(folder, { recursive: true, force: true }));
  const { certFile: cert, keyFile: key, certificate: pem } = selfSignedCertificate(folder);
  certificate = pem;
  [server, tlsServer, socks, socksWithLogin] = await Promise.all([
    startServer(),
    startServer({}, ['--tls-cert', cert, '--tls-key', key]),
    startSocksServer(),
    startSocksServer({ users: { alice: 'p@ss:word' } }),
  ]);
  cleanups.push(
    () => server.stop(),
    () => tlsServer.stop(),
    () => socks.close(),
    () => socksWithLogin.close(),
  );
  relay = await startRelay(server.url);
  cleanups.push(() => relay.close());
});

afterAll(async () => {
  await Promise.all(sessions.map((session) => session.close()));
  await Promise.all(cleanups.map((cleanup) => cleanup()));
});

describe('parseProxy', () => {
  const socks5 = { kind: 'socks', version: 5, remoteDns: false } as const;
  it.each([
    ['socks:proxy.example.com:1080', { ...socks5, host: 'proxy.example.com', port: 1080 }],
    ['socks5:proxy:1080', { ...socks5, host: 'proxy', port: 1080 }],
    ['socks5h:proxy:1080', { ...socks5, remoteDns: true, host: 'proxy', port: 1080 }],
    ['socks4:10.0.0.1:1080', { kind: 'socks', version: 4, remoteDns: false, host: '10.0.0.1', port: 1080 }],
    ['socks4a:proxy:1080', { kind: 'socks', version: 4, remoteDns: true, host: 'proxy', port: 1080 }],
    ['SOCKS5H:Proxy:1080', { ...socks5, remoteDns: true, host: 'Proxy', port: 1080 }],
    [' socks5:proxy:1080 ', { ...socks5, host: 'proxy', port: 1080 }],
    ['socks5:[::1]:1080', { ...socks5, host: '::1', port: 1080 }],
    ['socks5:alice:s3cret@proxy:1080', { ...socks5, host: 'proxy', port: 1080, username: 'alice', password: 's3cret' }],
    [
      'socks5:alice:p%40ss%3Aword@proxy:1',
      { ...socks5, host: 'proxy', port: 1, username: 'alice', password: 'p@ss:word' },
    ],
    [
      'socks4a:bob:@proxy:1080',
      { kind: 'socks', version: 4, remoteDns: true, host: 'proxy', port: 1080, username: 'bob' },
    ],
    ['accsyn:proxy.example.com:8080', { kind: 'accsyn', host: 'proxy.example.com', port: 8080 }],
    ['accsyn:proxy', { kind: 'accsyn', host: 'proxy', port: 80 }],
    ['proxy.example.com:3128', { kind: 'accsyn', host: 'proxy.example.com', port: 3128 }],
    ['127.0.0.1:3128', { kind: 'accsyn', host: '127.0.0.1', port: 3128 }],
    ['[::1]:3128', { kind: 'accsyn', host: '::1', port: 3128 }],
    ['proxy', { kind: 'accsyn', host: 'proxy', port: 80 }],
    // host:port with a host name of one label: the name must not be taken for the proxy's type.
    ['localhost:3128', { kind: 'accsyn', host: 'localhost', port: 3128 }],
    ['proxy:3128', { kind: 'accsyn', host: 'proxy', port: 3128 }],
  ])('reads %j', (text, parsed) => {
    expect(parseProxy(text)).toStrictEqual(parsed);
  });

  const advice = 'write it as socks5:host:port, socks4:host:port or accsyn:host:port.';
  it.each([
    ['', "The proxy '' is not a proxy setting; write it as socks5:host:port, socks4:host:port or accsyn:host:port."],
    ['socks5://proxy:1080', `The proxy 'socks5://proxy:1080' is not a proxy setting; ${advice}`],
    ['socks5:proxy:http', `The proxy 'socks5:proxy:http' is not a proxy setting; ${advice}`],
    ['socks5:proxy', `The proxy 'socks5:proxy' needs a port from 1 to 65535; ${advice}`],
    ['socks5:proxy:0', `The proxy 'socks5:proxy:0' needs a port from 1 to 65535; ${advice}`],
    ['socks5:proxy:65536', `The proxy 'socks5:proxy:65536' needs a port from 1 to 65535; ${advice}`],
    ['http:proxy:3128', `The proxy 'http:proxy:3128' has the unknown type 'http'; ${advice}`],
    ['socks6:proxy:1080', `The proxy 'socks6:proxy:1080' has the unknown type 'socks6'; ${advice}`],
    [
      'accsyn:alice:s3cret@proxy:8080',
      `The proxy 'accsyn:alice:s3cret@proxy:8080' has credentials, which the accsyn proxy does not take; ${advice}`,
    ],
    [
      'socks4:bob:s3cret@proxy:1080',
      `The proxy 'socks4:bob:s3cret@proxy:1080' has a password, which SOCKS4 does not take; ${advice}`,
    ],
  ])('refuses %j', (text, message) => {
    expect(() => parseProxy(text)).toThrow(AccsynError);
    expect(() => parseProxy(text)).toThrow(new AccsynError(message));
  });

  it('refuses badly percent-encoded credentials with an AccsynError, not a URIError', () => {
    const error = (() => {
      try {
        parseProxy('socks5:%zz:pw@proxy:1080');
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(AccsynError);
    expect((error as Error).message).toMatch(/^The proxy 'socks5:%zz:pw@proxy:1080' /);
  });
});

describe('SOCKS, through our own server', () => {
  it.each([
    { type: 'socks4', version: 4, host: '127.0.0.1', kind: 'ipv4' },
    { type: 'socks4a', version: 4, host: 'localhost', kind: 'name' },
    { type: 'socks5', version: 5, host: '127.0.0.1', kind: 'ipv4' },
    { type: 'socks5h', version: 5, host: 'localhost', kind: 'name' },
    { type: 'socks', version: 5, host: '127.0.0.1', kind: 'ipv4' },
  ])('$type: logs in and finds, asking the proxy for $host', async ({ type, version, host, kind }) => {
    const before = socks.requests.length;
    await loginAndFind(open({ proxy: `${type}:127.0.0.1:${socks.port}` }));
    const asked = socks.requests.slice(before);
    expect(asked.length).toBeGreaterThan(0);
    for (const request of asked) expect(request).toStrictEqual({ version, host, kind, port: portOf(server.url) });
  });

  it('sends the SOCKS4 user id', async () => {
    const before = socks.requests.length;
    await loginAndFind(open({ proxy: `socks4a:bob:@127.0.0.1:${socks.port}` }));
    expect(socks.requests.slice(before)[0]).toMatchObject({ version: 4, host: 'localhost', user: 'bob' });
  });

  it('logs in to the proxy with SOCKS5 username and password', async () => {
    const before = socksWithLogin.requests.length;
    await loginAndFind(open({ proxy: `socks5:alice:p%40ss%3Aword@127.0.0.1:${socksWithLogin.port}` }));
    const asked = socksWithLogin.requests.slice(before);
    expect(asked.length).toBeGreaterThan(0);
    for (const request of asked) expect(request).toMatchObject({ version: 5, host: '127.0.0.1', user: 'alice' });
  });

  it('raises a ConnectionError when the proxy refuses the password', async () => {
    const before = socksWithLogin.requests.length;
    const error = await failure(open({ proxy: `socks5:alice:wrong@127.0.0.1:${socksWithLogin.port}` }).login());
    expect(error).toBeInstanceOf(ConnectionError);
    expect(error.message).toBe(`Could not reach ${byName(server.url)}: Socks5 Authentication failed`);
    expect(socksWithLogin.requests.length).toBe(before);
  });

  it.each([
    ['socks5h', 'Socks5 proxy rejected connection - NotAllowed'],
    ['socks4a', 'Socks4 Proxy rejected connection - (Failed)'],
  ])('%s: raises a ConnectionError naming the server when the proxy refuses the connection', async (type, why) => {
    socks.refuse = true;
    try {
      const error = await failure(open({ proxy: `${type}:127.0.0.1:${socks.port}` }).login());
      expect(error).toBeInstanceOf(ConnectionError);
      expect(error.message).toBe(`Could not reach ${byName(server.url)}: ${why}`);
      expect(socks.requests.at(-1)).toMatchObject({ host: 'localhost', port: portOf(server.url) });
    } finally {
      socks.refuse = false;
    }
  });

  it('raises a ConnectionError when no proxy listens', async () => {
    const port = await freePort();
    const error = await failure(open({ proxy: `socks5:127.0.0.1:${port}` }).login());
    expect(error).toBeInstanceOf(ConnectionError);
    expect(error.message).toBe(`Could not reach ${byName(server.url)}: connect ECONNREFUSED 127.0.0.1:${port}`);
  });
});

const microsocks = onPath('microsocks');
if (!microsocks && !process.env.CI) {
  console.warn(
    '\n!!! microsocks is not installed: the SOCKS5 tests against it are SKIPPED.\n' +
      '!!! Install it with: apt-get install -y --no-install-recommends microsocks\n',
  );
}

describe.skipIf(!microsocks && !process.env.CI)("SOCKS5, through Debian's microsocks", () => {
  let open5: (auth?: string) => Promise<number>;

  beforeAll(() => {
    if (!microsocks) throw new Error('microsocks is not installed; .ci/run installs it with apt-get');
    open5 = async (auth) => {
      const port = await freePort();
      const args = ['-i', '127.0.0.1', '-p', String(port), ...(auth ? ['-u', 'alice', '-P', auth] : [])];
      const child = spawn(microsocks, args, { stdio: 'ignore' });
      cleanups.push(() => stop(child));
      await listening(port);
      return port;
    };
  });

  it.each(['socks5', 'socks5h'])('%s: logs in and finds', async (type) => {
    const port = await open5();
    await loginAndFind(open({ proxy: `${type}:127.0.0.1:${port}` }));
  });

  it('logs in to microsocks with a username and password', async () => {
    const port = await open5('s3cret');
    await loginAndFind(open({ proxy: `socks5:alice:s3cret@127.0.0.1:${port}` }));
    const refused = await failure(open({ proxy: `socks5:alice:wrong@127.0.0.1:${port}` }).login());
    expect(refused).toBeInstanceOf(ConnectionError);
  });
});

describe('HTTPS through SOCKS keeps the certificate check', () => {
  it.each(['socks5', 'socks5h'])('%s: works when the certificate is trusted through `ca`', async (type) => {
    const before = socks.requests.length;
    await loginAndFind(open({ proxy: `${type}:127.0.0.1:${socks.port}`, tls: { ca: certificate } }, tlsServer));
    expect(socks.requests.slice(before)[0]).toMatchObject({ version: 5, port: portOf(tlsServer.url) });
  });

  it('checks the certificate against an address as well as a name', async () => {
    const options = { proxy: `socks5:127.0.0.1:${socks.port}`, tls: { ca: certificate } };
    await loginAndFind(open({ ...options, hostname: tlsServer.url }, tlsServer));
  });

  it('fails with a ConnectionError naming the problem when the certificate is not trusted', async () => {
    const error = await failure(open({ proxy: `socks5:127.0.0.1:${socks.port}` }, tlsServer).login());
    expect(error).toBeInstanceOf(ConnectionError);
    expect(error.message).toBe(
      `Could not reach ${byName(tlsServer.url)} (DEPTH_ZERO_SELF_SIGNED_CERT): self-signed certificate`,
    );
  });

  it('works with rejectUnauthorized: false', async () => {
    await loginAndFind(
      open({ proxy: `socks5h:127.0.0.1:${socks.port}`, tls: { rejectUnauthorized: false } }, tlsServer),
    );
  });
});

describe('the accsyn proxy', () => {
  // The server's address is a port where nothing listens: only the relay can answer.
  const unreachable = 'https://localhost:1';

  it.each(['accsyn:127.0.0.1:PORT', '127.0.0.1:PORT'])(
    '%s: sends the requests to the proxy as they are, over plain HTTP',
    async (setting) => {
      const before = relay.seen.length;
      await loginAndFind(open({ hostname: unreachable, proxy: setting.replace('PORT', String(relay.port)) }));
      const seen = relay.seen.slice(before);
      expect(seen[0]).toMatchObject({ method: 'PUT', path: '/api/v3/api/login' });
      expect(seen[0]?.headers['x-accsyn-workspace']).toBe(server.admin.workspace);
      const event = seen.find((request) => request.path.startsWith('/api/v3/event'));
      expect(event).toMatchObject({ method: 'GET' });
      expect(event?.headers['x-accsyn-workspace']).toBe(server.admin.workspace);
      expect(event?.headers.authorization).toMatch(/^basic /);
    },
  );
});

describe('the proxy from the environment', () => {
  let saved: string | undefined;
  let envFile: string;
  beforeEach(() => {
    saved = process.env.ACCSYN_PROXY;
    delete process.env.ACCSYN_PROXY;
    // An env file of our own, so that a ./.env or ACCSYN_CREDENTIALS_PATH of the machine plays no part.
    envFile = join(mkdtempSync(join(tmpdir(), 'accsyn-proxy-env-')), '.env');
    writeFileSync(envFile, '');
  });
  afterEach(() => {
    if (saved === undefined) delete process.env.ACCSYN_PROXY;
    else process.env.ACCSYN_PROXY = saved;
    rmSync(join(envFile, '..'), { recursive: true, force: true });
  });
  const fromEnvironment = () => open({ environment: undefined, envFile });

  it('follows ACCSYN_PROXY, re-read before each call, unless environment is false', async () => {
    process.env.ACCSYN_PROXY = `socks5h:127.0.0.1:${socks.port}`;
    const session = fromEnvironment();
    let before = socks.requests.length;
    await session.login();
    expect(socks.requests.length).toBeGreaterThan(before);

    before = socks.requests.length;
    await loginAndFind(open({ environment: false }));
    expect(socks.requests.length).toBe(before);

    process.env.ACCSYN_PROXY = `accsyn:127.0.0.1:${relay.port}`;
    const relayed = relay.seen.length;
    await session.find('User');
    expect(relay.seen.slice(relayed).map((request) => request.path.split('?')[0])).toEqual(['/api/v3/event']);
    expect(socks.requests.length).toBe(before);
  });

  it('takes ACCSYN_PROXY from the env file', async () => {
    writeFileSync(envFile, `ACCSYN_PROXY=socks4a:127.0.0.1:${socks.port}\n`);
    const before = socks.requests.length;
    await loginAndFind(fromEnvironment());
    expect(socks.requests.slice(before)[0]).toMatchObject({ version: 4, host: 'localhost' });
  });

  it('lets the env file beat the environment for ACCSYN_PROXY, as for every other setting', async () => {
    writeFileSync(envFile, `ACCSYN_PROXY=socks4a:127.0.0.1:${socks.port}\n`);
    process.env.ACCSYN_PROXY = `accsyn:127.0.0.1:${relay.port}`;
    const before = socks.requests.length;
    await loginAndFind(fromEnvironment());
    expect(socks.requests.length).toBeGreaterThan(before);
  });
});

// ---------------------------------------------------------------------------------------------------------------

interface Relay {
  readonly port: number;
  readonly seen: { method: string; path: string; headers: IncomingHttpHeaders }[];
  close(): Promise<void>;
}

/** The accsyn proxy, as small as it gets: every request goes on to `target` unchanged, and its answer comes back. */
async function startRelay(target: string): Promise<Relay> {
  const seen: Relay['seen'] = [];
  const relay = createServer((incoming, outgoing) => {
    seen.push({ method: incoming.method ?? '', path: incoming.url ?? '', headers: incoming.headers });
    const onward = request(
      new URL(incoming.url ?? '/', target),
      { method: incoming.method, headers: incoming.headers, agent: false },
      (answer) => {
        outgoing.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(outgoing);
      },
    );
    onward.on('error', (error) => outgoing.writeHead(502).end(String(error)));
    incoming.pipe(onward);
  });
  relay.listen(0, '127.0.0.1');
  await once(relay, 'listening');
  return {
    port: (relay.address() as AddressInfo).port,
    seen,
    async close() {
      relay.closeAllConnections();
      await new Promise((resolve) => relay.close(resolve));
    },
  };
}

/** Resolves once something accepts connections on the loopback port. */
async function listening(port: number, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const socket = connect(port, '127.0.0.1');
    try {
      await once(socket, 'connect');
      socket.destroy();
      return;
    } catch (error) {
      socket.destroy();
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  await once(child, 'exit');
}

function onPath(name: string): string | undefined {
  for (const folder of (process.env.PATH ?? '').split(delimiter).concat('/usr/bin', '/usr/sbin')) {
    try {
      accessSync(join(folder, name), constants.X_OK);
      return join(folder, name);
    } catch {}
  }
  return undefined;
}
