import { once } from 'node:events';
import { type AddressInfo, connect, createServer, isIP, type Socket } from 'node:net';

/**
 * A small SOCKS4, SOCKS4a and SOCKS5 server for tests: CONNECT only, on 127.0.0.1. It records what each client
 * asked for, can demand a SOCKS5 username and password, can be told to refuse, and only ever connects onward to
 * loopback: a name other than `localhost` or an address off loopback is refused, so traffic stays on the machine.
 */

export interface ConnectRequest {
  readonly version: 4 | 5;
  /** The host as the client sent it: a name (socks4a, socks5h) or an address (socks4, socks5). */
  readonly host: string;
  readonly kind: 'name' | 'ipv4' | 'ipv6';
  readonly port: number;
  /** The SOCKS4 user id, or the SOCKS5 username. */
  readonly user?: string;
}

export interface SocksServer {
  readonly port: number;
  readonly requests: ConnectRequest[];
  /** Answer every CONNECT with a failure. */
  refuse: boolean;
  close(): Promise<void>;
}

export async function startSocksServer(options: { users?: Record<string, string> } = {}): Promise<SocksServer> {
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    client.on('error', () => client.destroy());
    handshake(client).catch(() => client.destroy());
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');

  const state: SocksServer = {
    port: (server.address() as AddressInfo).port,
    requests: [],
    refuse: false,
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };

  async function handshake(client: Socket): Promise<void> {
    const read = reader(client);
    const [version] = await read(1);
    let request: ConnectRequest;
    let reply: (ok: boolean) => Buffer;
    if (version === 4) {
      const head = await read(7);
      if (head[0] !== 1) return void client.destroy();
      const port = head.readUInt16BE(1);
      const user = await read.text();
      // 0.0.0.x (x ≠ 0) announces SOCKS4a: the host name follows the user id.
      const name = head[3] === 0 && head[4] === 0 && head[5] === 0 && head[6] !== 0 ? await read.text() : undefined;
      request = {
        version: 4,
        host: name ?? [...head.subarray(3, 7)].join('.'),
        kind: name === undefined ? 'ipv4' : 'name',
        port,
        ...(user ? { user } : {}),
      };
      reply = (ok) => Buffer.from([0, ok ? 0x5a : 0x5b, 0, 0, 0, 0, 0, 0]);
    } else if (version === 5) {
      const methods = await read.short();
      const wanted = options.users ? 2 : 0;
      if (!methods.includes(wanted)) return void client.end(Buffer.from([5, 0xff]));
      client.write(Buffer.from([5, wanted]));
      let user: string | undefined;
      if (options.users) {
        await read(1); // the sub-negotiation's version, 1
        user = (await read.short()).toString();
        const password = (await read.short()).toString();
        const ok = Object.hasOwn(options.users, user) && options.users[user] === password;
        if (!ok) return void client.end(Buffer.from([1, 1]));
        client.write(Buffer.from([1, 0]));
      }
      const [, command, , type] = await read(4);
      if (command !== 1) return void client.end(Buffer.from([5, 7, 0, 1, 0, 0, 0, 0, 0, 0]));
      const kind = type === 1 ? 'ipv4' : type === 4 ? 'ipv6' : 'name';
      const host =
        kind === 'ipv4'
          ? [...(await read(4))].join('.')
          : kind === 'ipv6'
            ? ipv6(await read(16))
            : (await read.short()).toString();
      const port = (await read(2)).readUInt16BE(0);
      request = { version: 5, host, kind, port, ...(user === undefined ? {} : { user }) };
      reply = (ok) => Buffer.from([5, ok ? 0 : 2, 0, 1, 0, 0, 0, 0, 0, 0]);
    } else {
      return void client.destroy();
    }
    state.requests.push(request);
    const target = loopback(request.host);
    if (state.refuse || target === undefined) return void client.end(reply(false));
    const upstream = connect({ host: target, port: request.port });
    let connected = false;
    sockets.add(upstream);
    upstream.on('close', () => sockets.delete(upstream));
    upstream.once('error', () => (connected ? client.destroy() : client.end(reply(false))));
    upstream.once('connect', () => {
      connected = true;
      client.write(reply(true));
      const early = read.rest();
      if (early.length > 0) upstream.write(early);
      client.pipe(upstream).on('error', () => upstream.destroy());
      upstream.pipe(client);
      client.once('close', () => upstream.destroy());
    });
  }

  return state;
}

/** The loopback address a request may be sent on to, or undefined when it would leave the machine. */
function loopback(host: string): string | undefined {
  if (host.toLowerCase() === 'localhost') return '127.0.0.1';
  if (isIP(host) === 4 && host.startsWith('127.')) return host;
  if (host === '::1' || host === '0:0:0:0:0:0:0:1') return '::1';
  return undefined;
}

function ipv6(bytes: Buffer): string {
  return Array.from({ length: 8 }, (_, i) => bytes.readUInt16BE(2 * i).toString(16)).join(':');
}

/** Exact reads from a socket while the handshake lasts; `rest()` ends them and hands over what came early. */
function reader(socket: Socket) {
  let buffered = Buffer.alloc(0);
  let wake: (() => void) | undefined;
  const onData = (chunk: Buffer) => {
    buffered = Buffer.concat([buffered, chunk]);
    wake?.();
  };
  const onEnd = () => wake?.();
  socket.on('data', onData);
  socket.on('close', onEnd);
  const waitFor = async (ready: () => boolean) => {
    while (!ready()) {
      if (socket.destroyed) throw new Error('the client left during the handshake');
      await new Promise<void>((resolve) => {
        wake = resolve;
      });
    }
  };
  const take = (n: number) => {
    const out = buffered.subarray(0, n);
    buffered = buffered.subarray(n);
    return out;
  };
  const read = async (n: number) => {
    await waitFor(() => buffered.length >= n);
    return take(n);
  };
  /** Bytes after their count, as SOCKS5 sends its methods, names and credentials. */
  read.short = async () => read((await read(1))[0] as number);
  /** A NUL-terminated string, as SOCKS4 sends the user id and the SOCKS4a host. */
  read.text = async () => {
    await waitFor(() => buffered.includes(0));
    const text = take(buffered.indexOf(0)).toString();
    take(1);
    return text;
  };
  read.rest = () => {
    socket.off('data', onData);
    socket.off('close', onEnd);
    return take(buffered.length);
  };
  return read;
}
