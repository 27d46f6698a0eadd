import { once } from 'node:events';
import {
  type ClientRequest,
  createServer,
  Agent as HttpAgent,
  request as httpRequest,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { isIP, type Socket } from 'node:net';
import { pipeline } from 'node:stream';
import { rootCertificates } from 'node:tls';
import { clientResponseHeaders, hasBody, upstreamRequestHeaders } from './proxy-headers.js';
import { ProxyConfigError } from './proxy-settings.js';

export { ProxyConfigError, parseListen, parseUpstream } from './proxy-settings.js';

/**
 * The accsyn network proxy (reference §1.3, §5.2): a client configured with `proxy: 'accsyn:host:port'` sends its
 * requests to us as they are, over plain HTTP, and we forward them to the workspace over HTTPS, checking its
 * certificate. Bodies stream both ways and are never held whole; whatever goes wrong on the way is answered as the
 * protocol's JSON `{"message": ...}`, which every accsyn client raises as an error.
 */

export interface ProxyOptions {
  /** Where to listen; port 0 picks any free port. */
  readonly listen: { host: string; port: number };
  /** The workspace, `https://host:port` (`http://` works, unencrypted). */
  readonly upstream: URL;
  /** PEM of certificate authorities to trust for the upstream, beside Node's bundled ones. */
  readonly ca?: string | Buffer;
  /** Do not check the upstream's certificate at all. */
  readonly insecure?: boolean;
  /** How long connecting to the upstream (TLS handshake included) may take; default 10 s. */
  readonly connectTimeoutMs?: number;
  /** How long an exchange may pass no byte either way; default 120 s, the official client's read timeout. */
  readonly idleTimeoutMs?: number;
  /** Client connections open at once; beyond, a connection's request is answered 503; default 1000. */
  readonly maxConnections?: number;
  /** Receives one line per request, and one when the proxy starts. */
  readonly log?: (line: string) => void;
}

export interface RunningProxy {
  /** Where clients reach the proxy, `http://host:port`. */
  readonly url: string;
  /** Stops listening, lets the requests in flight finish (for a while), then closes every connection. */
  close(): Promise<void>;
}

/** The paths an accsyn client or the file routes use; nothing else is forwarded, so this is no open relay. */
const FORWARDED_PREFIXES = ['/api/v3/', '/u/', '/d/', '/proxy/'];
const FORWARDED_PATHS = ['/healthz'];

/** The request line and headers may be long: GET events carry their envelope (up to ~300 KB) in the URL. */
const MAX_HEADER_SIZE = 512 * 1024;
const HEADERS_TIMEOUT_MS = 60_000;
const KEEP_ALIVE_TIMEOUT_MS = 5_000;
/** How long `close()` waits for requests in flight before it cuts them off. */
const CLOSE_GRACE_MS = 10_000;
/** How long a connection over the cap may take to send the request that gets its 503. */
const OVER_CAP_GRACE_MS = 5_000;

/** The upstream took too long: to connect, or to send or take a byte. */
class UpstreamTimeout extends Error {
  constructor(
    readonly phase: 'connect' | 'idle',
    ms: number,
  ) {
    super(phase === 'connect' ? `no connection within ${seconds(ms)}` : `no byte either way for ${seconds(ms)}`);
  }
}

/** One request through the proxy, as its log line tells it. */
interface Exchange {
  readonly started: number;
  readonly client: string;
  readonly method: string;
  readonly path: string;
  received: number;
  sent: number;
  /** Why the exchange ended early, if it did. */
  failure: string | undefined;
}

export async function startProxy(options: ProxyOptions): Promise<RunningProxy> {
  const proxy = new AccsynProxy(options);
  const url = await proxy.listen();
  options.log?.(`accsyn proxy listening on ${url}, forwarding to ${proxy.upstreamDescription}`);
  return { url, close: () => proxy.close() };
}

class AccsynProxy {
  private readonly server: Server;
  private readonly agent: HttpAgent;
  private readonly upstream: URL;
  /** The upstream's host name or address, without the brackets of an IPv6 address. */
  private readonly upstreamHost: string;
  private readonly secure: boolean;
  private readonly connectTimeoutMs: number;
  private readonly idleTimeoutMs: number;
  private readonly maxConnections: number;
  private readonly log: (line: string) => void;
  /** The client connections within the cap; those beyond are only answered 503. */
  private readonly accepted = new Set<Socket>();
  private readonly overCap = new WeakSet<Socket>();
  private inFlight = 0;
  private closing: Promise<void> | undefined;
  private onDrained: (() => void) | undefined;

  constructor(private readonly options: ProxyOptions) {
    this.upstream = options.upstream;
    if (this.upstream.protocol !== 'https:' && this.upstream.protocol !== 'http:') {
      throw new ProxyConfigError(`The upstream ${this.upstream.href} is not an https:// (or http://) URL.`);
    }
    this.secure = this.upstream.protocol === 'https:';
    this.upstreamHost = this.upstream.hostname.replace(/^\[|\]$/g, '');
    this.connectTimeoutMs = positive('connectTimeoutMs', options.connectTimeoutMs ?? 10_000);
    this.idleTimeoutMs = positive('idleTimeoutMs', options.idleTimeoutMs ?? 120_000);
    this.maxConnections = positive('maxConnections', options.maxConnections ?? 1_000);
    this.log = options.log ?? (() => {});
    // Kept-alive connections to the upstream spare a TCP and TLS handshake per request. `ca` would replace Node's
    // bundled authorities: the given ones are added to them instead.
    this.agent = this.secure
      ? new HttpsAgent({
          keepAlive: true,
          scheduling: 'lifo',
          rejectUnauthorized: options.insecure !== true,
          ...(options.ca ? { ca: [...rootCertificates, options.ca] } : {}),
        })
      : new HttpAgent({ keepAlive: true, scheduling: 'lifo' });
    this.server = createServer(
      {
        maxHeaderSize: MAX_HEADER_SIZE,
        requireHostHeader: false,
        headersTimeout: HEADERS_TIMEOUT_MS,
        // An upload may take as long as it takes, as long as bytes move: the idle timeout watches that.
        requestTimeout: 0,
        keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS,
        noDelay: true,
      },
      (incoming, outgoing) => this.handle(incoming, outgoing),
    );
    // A backstop for a client connection nobody else watches (a stalled upload to a 404): longer than the upstream's
    // timeouts, so that a slow upstream is answered 504 before its client is cut off.
    this.server.timeout = this.connectTimeoutMs + this.idleTimeoutMs + 1_000;
    // Connections beyond the cap are taken to be answered 503; far beyond it, Node drops them unanswered.
    this.server.maxConnections = this.maxConnections * 2 + 16;
    this.server.on('connection', (socket: Socket) => this.admit(socket));
    this.server.on('connect', (incoming: IncomingMessage, socket: Socket) => this.refuseTunnel(incoming, socket));
  }

  get upstreamDescription(): string {
    const where = this.upstream.origin;
    if (!this.secure) return `${where} over plain HTTP: the traffic to the workspace is NOT encrypted`;
    if (this.options.insecure) return `${where} WITHOUT checking its certificate (insecure)`;
    return `${where}, checking its certificate${this.options.ca ? ' (with the given CA)' : ''}`;
  }

  async listen(): Promise<string> {
    const { host, port } = this.options.listen;
    const failed = once(this.server, 'error');
    this.server.listen(port, host);
    const listening = once(this.server, 'listening');
    try {
      await Promise.race([listening, failed.then(([error]) => Promise.reject(error))]);
    } catch (error) {
      this.agent.destroy();
      throw new ProxyConfigError(`The proxy cannot listen on ${hostPort(host, port)}: ${listenFailure(error)}.`, {
        cause: error,
      });
    }
    const address = this.server.address();
    return `http://${hostPort(host, typeof address === 'object' && address ? address.port : port)}`;
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      const stopped = new Promise((resolve) => this.server.close(resolve));
      this.server.closeIdleConnections();
      if (this.inFlight > 0) {
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([
          new Promise<void>((resolve) => {
            this.onDrained = resolve;
          }),
          new Promise((resolve) => {
            timer = setTimeout(resolve, CLOSE_GRACE_MS);
          }),
        ]);
        clearTimeout(timer);
      }
      // What is still open is idle, or past its grace.
      this.server.closeAllConnections();
      await stopped;
      this.agent.destroy();
    })();
    return this.closing;
  }

  /** Counts a new client connection against the cap. */
  private admit(socket: Socket): void {
    if (this.accepted.size >= this.maxConnections) {
      this.overCap.add(socket);
      socket.setTimeout(OVER_CAP_GRACE_MS, () => socket.destroy());
      return;
    }
    this.accepted.add(socket);
    socket.once('close', () => this.accepted.delete(socket));
  }

  private handle(incoming: IncomingMessage, outgoing: ServerResponse): void {
    const exchange: Exchange = {
      started: performance.now(),
      client: plainAddress(incoming.socket.remoteAddress),
      method: incoming.method ?? 'GET',
      path: pathOf(incoming.url ?? ''),
      received: 0,
      sent: 0,
      failure: undefined,
    };
    this.inFlight++;
    outgoing.once('close', () => {
      this.inFlight--;
      this.log(logLine(exchange, outgoing));
      if (this.inFlight === 0) this.onDrained?.();
    });
    // Either stream may fail when the client goes away; the 'close' above and the upstream's error tell the story.
    incoming.on('error', () => {});
    outgoing.on('error', () => {});
    if (this.closing) outgoing.shouldKeepAlive = false;

    if (this.overCap.has(incoming.socket)) {
      const message = `accsyn proxy: too many connections (at most ${this.maxConnections} at a time); try again shortly.`;
      answer(outgoing, exchange, 503, message, { close: true, retryAfter: 1 });
      return;
    }
    if (!isForwarded(exchange.path)) {
      const message =
        `accsyn proxy: there is nothing at ${exchange.method} ${printable(exchange.path, 200)}; ` +
        `it forwards ${FORWARDED_PREFIXES.map((prefix) => `${prefix}...`).join(', ')} and ${FORWARDED_PATHS.join(', ')}.`;
      answer(outgoing, exchange, 404, message);
      return;
    }
    this.forward(incoming, outgoing, exchange, false);
  }

  /** Sends the request on to the upstream and its answer back, streaming both bodies. */
  private forward(incoming: IncomingMessage, outgoing: ServerResponse, exchange: Exchange, isRetry: boolean): void {
    const onward = (this.secure ? httpsRequest : httpRequest)({
      protocol: this.upstream.protocol,
      hostname: this.upstreamHost,
      port: this.upstream.port || (this.secure ? 443 : 80),
      // The name the certificate must hold; an address is checked against the certificate's IP entries instead.
      ...(this.secure && isIP(this.upstreamHost) === 0 ? { servername: this.upstreamHost } : {}),
      method: exchange.method,
      path: incoming.url,
      headers: upstreamRequestHeaders(incoming, this.upstream, exchange.client),
      agent: this.agent,
    });
    const watch = this.watchTimeouts(onward);
    let clientGone = false;

    outgoing.once('close', () => {
      if (outgoing.writableFinished) return;
      clientGone = true;
      exchange.failure ??= 'the client went away';
      onward.destroy();
    });

    onward.once('response', (reply: IncomingMessage) => {
      watch.connected();
      try {
        outgoing.writeHead(reply.statusCode ?? 502, reply.statusMessage || undefined, clientResponseHeaders(reply));
      } catch (error) {
        // Node refuses to send what it would not have parsed: treat it as a broken upstream.
        onward.destroy(error as Error);
        return;
      }
      reply.on('data', (chunk: Buffer) => {
        exchange.sent += chunk.length;
      });
      pipeline(reply, outgoing, (error) => {
        if (!error) return;
        exchange.failure ??= `the workspace's answer broke off (${describe(error)})`;
        outgoing.destroy();
      });
    });

    onward.on('error', (error: Error) => {
      watch.done();
      if (clientGone || outgoing.writableEnded) return;
      if (outgoing.headersSent) {
        // Too late for an answer of ours: a cut connection is all the client can be told.
        exchange.failure ??= `the workspace's answer broke off (${describe(error)})`;
        outgoing.destroy();
        return;
      }
      // A kept-alive connection that the upstream closed while we took it up: send the request again, once, when
      // it has no body to replay (Node's advice for `reusedSocket`).
      if (!isRetry && onward.reusedSocket && isStaleConnection(error) && !hasBody(incoming)) {
        this.forward(incoming, outgoing, exchange, true);
        return;
      }
      const problem = problemOf(error, this.upstream.origin);
      exchange.failure = describe(error);
      answer(outgoing, exchange, problem.status, problem.message, { close: !incoming.complete });
    });
    onward.once('close', () => watch.done());

    if (!hasBody(incoming)) {
      onward.end();
      return;
    }
    incoming.on('data', (chunk: Buffer) => {
      exchange.received += chunk.length;
    });
    incoming.pipe(onward);
  }

  /**
   * The connect timeout (until the TCP connection, and for HTTPS the TLS handshake, is up; nothing to wait for on a
   * kept-alive connection) and the idle timeout (the upstream connection passes no byte either way).
   */
  private watchTimeouts(onward: ClientRequest): { connected(): void; done(): void } {
    const connect = setTimeout(
      () => onward.destroy(new UpstreamTimeout('connect', this.connectTimeoutMs)),
      this.connectTimeoutMs,
    );
    const connected = () => clearTimeout(connect);
    onward.once('socket', (socket: Socket) => {
      if (onward.reusedSocket || (!this.secure && !socket.connecting)) connected();
      else socket.once(this.secure ? 'secureConnect' : 'connect', connected);
    });
    onward.setTimeout(this.idleTimeoutMs, () => onward.destroy(new UpstreamTimeout('idle', this.idleTimeoutMs)));
    return { connected, done: connected };
  }

  /** A CONNECT request asks for a tunnel, which an accsyn proxy does not make. */
  private refuseTunnel(incoming: IncomingMessage, socket: Socket): void {
    const body = JSON.stringify({
      message: 'accsyn proxy: CONNECT is not supported; send the accsyn requests to the proxy as they are.',
    });
    socket.on('error', () => {});
    socket.end(
      'HTTP/1.1 405 Method Not Allowed\r\nContent-Type: application/json; charset=utf-8\r\n' +
        `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
    this.log(
      `${plainAddress(socket.remoteAddress)} CONNECT ${printable(incoming.url ?? '', 200)} 405 ${Buffer.byteLength(body)} B 0 ms`,
    );
  }
}

/** Whether a path goes to the upstream: one of ours, and free of `.` and `..` segments an upstream might resolve. */
function isForwarded(path: string): boolean {
  if (path.split('/').some((segment) => /^(?:\.|%2e){1,2}$/i.test(segment))) return false;
  return FORWARDED_PREFIXES.some((prefix) => path.startsWith(prefix)) || FORWARDED_PATHS.includes(path);
}

/** What the client is told when the upstream fails before answering: 504 when it was slow, else 502. */
function problemOf(error: Error, upstream: string): { status: number; message: string } {
  const code = (error as NodeJS.ErrnoException).code ?? '';
  if (error instanceof UpstreamTimeout || code === 'ETIMEDOUT') {
    return {
      status: 504,
      message: `accsyn proxy: the workspace at ${upstream} did not answer in time (${error.message}).`,
    };
  }
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    return {
      status: 502,
      message:
        `accsyn proxy: the certificate of the workspace at ${upstream} was refused: it is not made out to that ` +
        `name (${error.message}). Give the proxy the upstream by a name the certificate holds.`,
    };
  }
  if (/CERT|SELF_SIGNED|UNABLE_TO_(?:GET|VERIFY)|INVALID_CA|INVALID_PURPOSE|PATH_LENGTH/.test(code)) {
    return {
      status: 502,
      message:
        `accsyn proxy: the certificate of the workspace at ${upstream} was refused (${code}: ${error.message}). ` +
        `To trust it, start the proxy with --ca-file naming the PEM file of the authority that signed it (for a ` +
        `self-signed certificate, the certificate itself).`,
    };
  }
  return {
    status: 502,
    message: `accsyn proxy: the workspace at ${upstream} could not be reached (${describe(error)}).`,
  };
}

/** A kept-alive connection found closed: the upstream hung up before it read our request. */
function isStaleConnection(error: Error): boolean {
  const code = (error as NodeJS.ErrnoException).code;
  return code === 'ECONNRESET' || code === 'EPIPE';
}

/** Answers with the protocol's JSON error; `close` ends the connection after it, when the request was not all read. */
function answer(
  outgoing: ServerResponse,
  exchange: Exchange,
  status: number,
  message: string,
  options: { close?: boolean; retryAfter?: number } = {},
): void {
  const body = JSON.stringify({ message });
  exchange.sent = Buffer.byteLength(body);
  outgoing.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': exchange.sent,
    ...(options.retryAfter === undefined ? {} : { 'retry-after': String(options.retryAfter) }),
    ...(options.close ? { connection: 'close' } : {}),
  });
  outgoing.end(body);
}

/** `127.0.0.2 GET /api/v3/event 200 512 B 12 ms`; the query string, which holds a GET event's envelope, never. */
function logLine(exchange: Exchange, outgoing: ServerResponse): string {
  const status = outgoing.headersSent ? String(outgoing.statusCode) : '-';
  const ms = Math.round(performance.now() - exchange.started);
  const received = exchange.received > 0 ? ` (${exchange.received} B in)` : '';
  const failure = exchange.failure ? `; ${exchange.failure}` : '';
  return `${exchange.client} ${exchange.method} ${printable(exchange.path, 300)} ${status} ${exchange.sent} B${received} ${ms} ms${failure}`;
}

function pathOf(target: string): string {
  const query = target.indexOf('?');
  return query === -1 ? target : target.slice(0, query);
}

/** Text from the wire, safe for a log line or a message: control and other odd characters escaped, length capped. */
function printable(text: string, max: number): string {
  const safe = text.replace(/[^\x21-\x7e]/g, (character) => encodeURIComponent(character));
  return safe.length > max ? `${safe.slice(0, max)}...` : safe;
}

function describe(error: Error): string {
  return error.message || (error as NodeJS.ErrnoException).code || error.name;
}

/** An IPv4 client as itself, also when the socket shows it IPv4-mapped (`::ffff:127.0.0.1`). */
function plainAddress(address: string | undefined): string {
  if (address === undefined) return 'unknown';
  return /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)?.[1] ?? address;
}

function hostPort(host: string, port: number): string {
  return `${host.includes(':') ? `[${host}]` : host}:${port}`;
}

function listenFailure(error: unknown): string {
  switch ((error as NodeJS.ErrnoException).code) {
    case 'EADDRINUSE':
      return 'the address is in use (another program listens there)';
    case 'EACCES':
      return 'permission denied (ports below 1024 need privileges)';
    case 'EADDRNOTAVAIL':
      return 'that address is not one of this machine';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return 'that host name does not resolve';
    default:
      return (error as Error).message;
  }
}

function positive(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 1) {
    throw new ProxyConfigError(`The proxy's ${name} must be a whole number above 0, not ${value}.`);
  }
  return value;
}

function seconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`;
}
