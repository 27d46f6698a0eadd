import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import {
  AUTH_PATH,
  DEVICE_HEADER,
  decodeEnvelope,
  decodePayload,
  EVENT_PATH,
  LOGIN_PATH,
  MASTER_LOOKUP_PATH,
  ProtocolError,
  WORKSPACE_HEADER,
} from 'accsyn-protocol';
import { QueryError } from 'accsyn-query';
import Fastify, {
  type FastifyBaseLogger,
  type FastifyError,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  LogController,
} from 'fastify';
import { audited, recordLogin } from './audit/record.js';
import { authenticateEvent, type Headers, login } from './auth/authenticate.js';
import type { ServerConfig } from './config.js';
import { dispatch } from './events.js';
import { badRequest, HttpError, transportRefusal } from './http/errors.js';
import { ClientIdentity } from './limits/client.js';
import { capConnections } from './limits/connections.js';
import { ClientGone, Limits } from './limits/limits.js';
import type { LimitStore } from './limits/store.js';
import { databaseRefusedValue, databaseUnavailable } from './store/postgres.js';
import { sql } from './store/sql.js';
import type { Store } from './store/store.js';
import { dataRoutes } from './transfers/data.js';

/**
 * The workspace server, read top to bottom as a request travels: the routes of reference §1.1 (master lookup,
 * login, events), then what answers when something goes wrong.
 */
export interface AppOptions {
  readonly store: Store;
  readonly config: ServerConfig;
  readonly logger: FastifyBaseLogger | boolean;
  /** Where the rate limits keep their counters; no limits when undefined. */
  readonly limitStore?: LimitStore | undefined;
}

export function buildApp({ store, config, logger, limitStore }: AppOptions): FastifyInstance {
  let limits: Limits | undefined;
  // Who a request comes from, for the request log and the audit log: as the rate limits read it, also without them.
  const identity = new ClientIdentity(config.trustProxy, config.limits.ipv6Prefix);
  const clientOf = (request: FastifyRequest) =>
    limits?.clientOf(request) ??
    identity.address(request.raw.socket?.remoteAddress, request.headers['x-forwarded-for']);
  const tls = config.tls && { cert: readFileSync(config.tls.cert), key: readFileSync(config.tls.key) };
  const headers = answerHeaders(Boolean(tls));
  // GET and DELETE events carry their whole payload in the URL: allow request lines of several hundred KB. A
  // request without Host gets our JSON answer rather than Node's empty 400. A client has `headerTimeoutMs` for its
  // request line and headers (Node checks its connections every so often: often enough to keep the deadline).
  const http = {
    maxHeaderSize: config.maxHeaderSize,
    requireHostHeader: false,
    headersTimeout: config.headerTimeoutMs,
    connectionsCheckingInterval: Math.min(1000, config.headerTimeoutMs / 4),
  };
  const app = Fastify({
    loggerInstance: typeof logger === 'object' ? logger : undefined,
    logger: typeof logger === 'boolean' ? logger : undefined,
    // The TLS handshake has the same time as the headers: a socket that never finishes one does not stay.
    ...(tls ? { https: { ...tls, ...http, handshakeTimeout: config.headerTimeoutMs } } : { http }),
    // What Node's parser and the router refuse is answered in the protocol's JSON too.
    clientErrorHandler: (error: NodeJS.ErrnoException, socket: Duplex) =>
      answerClientError(error, socket, headers, config.maxHeaderSize),
    frameworkErrors: (error: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
      reply.headers(headers);
      answerError(error, request, reply, config.maxHeaderSize);
    },
    bodyLimit: config.bodyLimit,
    forceCloseConnections: 'idle',
    genReqId: () => randomUUID(),
    logController: new RequestLog(clientOf),
    // A GET event's whole query string is its envelope, which we read raw (`rawQueryOf`): parsing it into
    // `request.query` as well would only cost time, on every call. No route reads `request.query`.
    routerOptions: { querystringParser: () => ({}) },
  } as Parameters<typeof Fastify>[0]) as unknown as FastifyInstance;

  capConnections(app.server, config.limits.connectionsTotal, app.log);
  app.addHook('onRequest', (_request, reply, done) => {
    reply.headers(headers);
    done();
  });

  // The official client sends JSON bodies with no Content-Type at all: read every body as text, parse it ourselves.
  // Any Content-Type or none is fine (reference §1.4), so one that is not a media type (empty) is not refused either.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'string' }, (_request, body, done) => done(null, body));
  app.addHook('onRequest', (request, _reply, done) => {
    delete request.headers['content-type'];
    done();
  });

  limits = limitStore && new Limits(config.limits, config.trustProxy, limitStore, app.log);
  limits?.install(app, Boolean(tls));
  // Calls that anyone can make without credentials go through the backend throttle.
  const throttle = (request: FastifyRequest) => limits?.throttle(request);

  // Alive: the process serves. Ready: it reaches its database too, for a load balancer to send it requests.
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async () => {
    await store.rows(sql`SELECT 1`);
    return { status: 'ok' };
  });

  // Where a workspace is served (§1.2): this server's public address, the same for every code, so that nobody learns
  // which workspaces exist without logging in; never the request's Host, which the caller chooses.
  app.get(MASTER_LOOKUP_PATH, async (request) => {
    await throttle(request);
    const lookup = decodePayload({ method: 'GET', rawQuery: rawQueryOf(request) });
    const ident = lookup.ident;
    if (typeof ident !== 'string' || ident.trim() === '' || ident.length > 255) {
      throw badRequest('The master lookup takes {"ident": "<workspace code>"}.');
    }
    return { result: publicAddress(config, app) };
  });

  const loginRoute = async (request: FastifyRequest) => {
    await throttle(request);
    const caller = await login(store, headersOf(request), new Date());
    await recordLogin(store, request.log, caller, clientOf(request), request.method);
    return { result: { role: caller.user.role, id: caller.user.id, session_id: caller.session } };
  };
  // A login answers a session, and an event is asked with one: no cache keeps either.
  app.put(LOGIN_PATH, { onRequest: noStore }, loginRoute);
  app.put(AUTH_PATH, { onRequest: noStore }, loginRoute);

  app.route({
    method: ['GET', 'PUT', 'POST', 'DELETE'],
    url: EVENT_PATH,
    onRequest: noStore,
    handler: async (request) => {
      const envelope = decodeEnvelope({ method: request.method, rawQuery: rawQueryOf(request), body: bodyOf(request) });
      eventUris.set(request, envelope.uri);
      const caller = await authenticateEvent(store, headersOf(request), envelope, new Date()).catch(async (error) => {
        // A failed authentication costs the caller time, and in the end its window.
        await throttle(request);
        throw error;
      });
      const method = request.method as 'GET' | 'PUT' | 'POST' | 'DELETE';
      return audited({ store, config, caller, envelope, method, address: clientOf(request) }, dispatch, request.log);
    },
  });

  // The data routes of files carried to and from users' machines (docs/agent.md), with an event's credentials and
  // the session in a header of their own.
  const authenticateData = (request: FastifyRequest) => {
    const session = request.headers[SESSION_HEADER];
    const envelope = { uri: request.url, session: typeof session === 'string' ? session : undefined };
    return authenticateEvent(store, headersOf(request), envelope, new Date()).catch(async (error) => {
      await throttle(request);
      throw error;
    });
  };
  app.register(dataRoutes({ store, config, authenticate: authenticateData }));

  app.setNotFoundHandler(async (request, reply) => {
    await throttle(request);
    reply.code(404).send({ message: `There is nothing at ${request.method} ${pathOf(request.url)}.` });
  });
  app.setErrorHandler((error, request, reply) => answerError(error, request, reply, config.maxHeaderSize));
  return app;
}

/** The session of a data request (`/u`, `/d`), which has no envelope to carry it. */
const SESSION_HEADER = 'x-accsyn-session';

/** The headers of every answer: no content sniffing, and over TLS, HTTPS only from now on (HSTS, a year). */
function answerHeaders(tls: boolean): Readonly<Record<string, string>> {
  return {
    'x-content-type-options': 'nosniff',
    ...(tls ? { 'strict-transport-security': 'max-age=31536000' } : {}),
  };
}

function noStore(_request: FastifyRequest, reply: FastifyReply, done: () => void): void {
  reply.header('cache-control', 'no-store');
  done();
}

/**
 * The host name and port clients reach this server on: those of `--public-url`, else of the address it listens on.
 * A host name is as a URL writes it (an IPv6 address in brackets), for the client to put in its URL.
 */
function publicAddress(config: ServerConfig, app: FastifyInstance): { hostname: string; port: number } {
  let url = config.publicUrl;
  if (!url) {
    const address = app.server.address();
    const port = typeof address === 'object' && address ? address.port : config.port;
    const host = config.host.includes(':') ? `[${config.host}]` : config.host;
    url = new URL(`${config.tls ? 'https' : 'http'}://${host}:${port}`);
  }
  return { hostname: url.hostname, port: Number(url.port || (url.protocol === 'https:' ? 443 : 80)) };
}

/** The uri of each event being answered, for its log line. */
const eventUris = new WeakMap<FastifyRequest, string>();

/**
 * One line per request, when it is answered. Fastify's own lines would log the URL, and a GET event's URL holds the
 * whole envelope, session id included: ours logs the path and the event's uri.
 */
class RequestLog extends LogController {
  constructor(private readonly clientOf: (request: FastifyRequest) => string | undefined) {
    super();
  }

  override incomingRequest(request: FastifyRequest): void {
    // The client's address, read while the socket is surely there.
    this.clientOf(request);
  }

  override requestCompleted(error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    const uri = eventUris.get(request);
    const line = {
      ip: this.clientOf(request),
      method: request.method,
      path: clip(pathOf(request.url)),
      uri: uri === undefined ? undefined : clip(uri),
      status: reply.statusCode,
      ms: Math.round(reply.elapsedTime * 10) / 10,
    };
    if (error) request.log.error({ ...line, err: error }, 'request failed');
    else request.log.info(line, 'request');
  }
}

/** At most the first 1,000 characters of a request's text in the log, and how long it was: a path may be 500 KB. */
function clip(text: string): string {
  return text.length <= 1000 ? text : `${text.slice(0, 1000)}... (${text.length} characters)`;
}

function headersOf(request: FastifyRequest): Headers {
  const workspace = request.headers[WORKSPACE_HEADER.toLowerCase()];
  return {
    authorization: request.headers.authorization,
    workspace: typeof workspace === 'string' ? workspace : undefined,
  };
}

/** A URL's path, without the query string (which holds a GET event's envelope). */
function pathOf(url: string): string {
  const at = url.indexOf('?');
  return at === -1 ? url : url.slice(0, at);
}

function rawQueryOf(request: FastifyRequest): string | undefined {
  const at = request.raw.url?.indexOf('?') ?? -1;
  return at === -1 ? undefined : request.raw.url?.slice(at + 1);
}

function bodyOf(request: FastifyRequest): string | undefined {
  return typeof request.body === 'string' ? request.body : undefined;
}

/** Turns any error into the JSON answer of reference §1.9; what is not the caller's fault is logged with an id. */
function answerError(error: unknown, request: FastifyRequest, reply: FastifyReply, maxHeaderSize: number): void {
  if (error instanceof HttpError) {
    reply
      .code(error.status)
      .headers(error.headers)
      .send({ message: error.message, ...error.fields });
    return;
  }
  if (error instanceof ClientGone) {
    // It left while it waited: there is no one to answer.
    reply.hijack();
    reply.raw.destroy();
    return;
  }
  if (error instanceof ProtocolError) {
    reply.code(error.status).send({ message: error.message });
    return;
  }
  if (error instanceof QueryError) {
    reply.code(400).send({ message: `${error.message} (at ${error.position})`, position: error.position });
    return;
  }
  const refusal = transportRefusal(error as object, maxHeaderSize);
  if (refusal) {
    // The router's and the body reader's: a malformed path, a body over the limit.
    reply.code(refusal.status).send({ message: refusal.message });
    return;
  }
  if (databaseRefusedValue(error)) {
    // A value that PostgreSQL cannot take (SQLSTATE class 22): the request's fault, and nothing was written.
    reply.code(400).send({ message: `A value does not fit the database: ${(error as Error).message}.` });
    return;
  }
  if (databaseUnavailable(error)) {
    // PostgreSQL restarts or cannot be reached. The pool connects again by itself; the client may retry.
    request.log.warn({ err: error }, 'database unavailable');
    reply
      .code(503)
      .header('retry-after', '2')
      .send({ message: 'The database is unavailable at the moment; try again shortly.' });
    return;
  }
  const id = randomUUID();
  request.log.error(
    { err: error, errorId: id, device: request.headers[DEVICE_HEADER.toLowerCase()] },
    'internal error',
  );
  reply.code(500).send({ message: `internal error ${id}` });
}

/**
 * Answers what Node's HTTP parser refuses (a request line and headers over the limit, too slow, or not HTTP) in the
 * protocol's JSON, then closes the connection, which is no longer in step.
 */
function answerClientError(
  error: NodeJS.ErrnoException,
  socket: Duplex,
  headers: Readonly<Record<string, string>>,
  maxHeaderSize: number,
): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  const refusal = transportRefusal(error, maxHeaderSize) ?? badRequest('The request is not valid HTTP/1.1.');
  const body = JSON.stringify({ message: refusal.message });
  const lines = [
    `HTTP/1.1 ${refusal.status} ${STATUS_CODES[refusal.status]}`,
    'content-type: application/json; charset=utf-8',
    `content-length: ${Buffer.byteLength(body)}`,
    ...Object.entries(headers).map(([name, value]) => `${name}: ${value}`),
    'connection: close',
  ];
  if (socket.writable) socket.end(`${lines.join('\r\n')}\r\n\r\n${body}`);
  // Closed once the answer is out, or at once if it cannot be written.
  if (socket.writableFinished || !socket.writable) socket.destroy();
  else socket.once('finish', () => socket.destroy());
}
