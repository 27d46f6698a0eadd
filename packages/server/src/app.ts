import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
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
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  LogController,
} from 'fastify';
import { audited, recordLogin } from './audit/record.js';
import { authenticateEvent, type Headers, login } from './auth/authenticate.js';
import type { ServerConfig } from './config.js';
import { dispatch } from './events.js';
import { HttpError, notFound } from './http/errors.js';
import { ClientIdentity } from './limits/client.js';
import { ClientGone, Limits } from './limits/limits.js';
import type { LimitStore } from './limits/store.js';
import { databaseRefusedValue, databaseUnavailable } from './store/postgres.js';
import { sql } from './store/sql.js';
import type { Store } from './store/store.js';

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
  const app = Fastify({
    loggerInstance: typeof logger === 'object' ? logger : undefined,
    logger: typeof logger === 'boolean' ? logger : undefined,
    // GET and DELETE events carry their whole payload in the URL: allow request lines of several hundred KB. A
    // request without Host gets our JSON answer rather than Node's empty 400.
    ...(tls
      ? { https: { ...tls, maxHeaderSize: config.maxHeaderSize, requireHostHeader: false } }
      : { http: { maxHeaderSize: config.maxHeaderSize, requireHostHeader: false } }),
    bodyLimit: config.bodyLimit,
    forceCloseConnections: 'idle',
    genReqId: () => randomUUID(),
    logController: new RequestLog(clientOf),
    // A GET event's whole query string is its envelope, which we read raw (`rawQueryOf`): parsing it into
    // `request.query` as well would only cost time, on every call. No route reads `request.query`.
    routerOptions: { querystringParser: () => ({}) },
  } as Parameters<typeof Fastify>[0]) as unknown as FastifyInstance;

  // The official client sends JSON bodies with no Content-Type at all: read every body as text, parse it ourselves.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'string' }, (_request, body, done) => done(null, body));

  limits = limitStore && new Limits(config.limits, config.trustProxy, limitStore, app.log);
  limits?.install(app, tls ? 'secureConnection' : 'connection');
  // Calls that anyone can make without credentials go through the backend throttle.
  const throttle = (request: FastifyRequest) => limits?.throttle(request);

  // Alive: the process serves. Ready: it reaches its database too, for a load balancer to send it requests.
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async () => {
    await store.rows(sql`SELECT 1`);
    return { status: 'ok' };
  });

  app.get(MASTER_LOOKUP_PATH, async (request) => {
    await throttle(request);
    const lookup = decodePayload({ method: 'GET', rawQuery: rawQueryOf(request) });
    const ident = typeof lookup.ident === 'string' ? lookup.ident : '';
    if (!ident || !(await store.workspaceByCode(ident))) throw notFound(`No workspace '${ident}' is served here.`);
    return { result: { hostname: request.hostname.replace(/:\d+$/, ''), port: request.port ?? config.port } };
  });

  const loginRoute = async (request: FastifyRequest) => {
    await throttle(request);
    const caller = await login(store, headersOf(request), new Date());
    await recordLogin(store, request.log, caller, clientOf(request), request.method);
    return { result: { role: caller.user.role, id: caller.user.id, session_id: caller.session } };
  };
  app.put(LOGIN_PATH, loginRoute);
  app.put(AUTH_PATH, loginRoute);

  app.route({
    method: ['GET', 'PUT', 'POST', 'DELETE'],
    url: EVENT_PATH,
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

  app.setNotFoundHandler(async (request, reply) => {
    await throttle(request);
    reply.code(404).send({ message: `There is nothing at ${request.method} ${pathOf(request.url)}.` });
  });
  app.setErrorHandler((error, request, reply) => answerError(error, request, reply));
  return app;
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
    const line = {
      ip: this.clientOf(request),
      method: request.method,
      path: pathOf(request.url),
      uri: eventUris.get(request),
      status: reply.statusCode,
      ms: Math.round(reply.elapsedTime * 10) / 10,
    };
    if (error) request.log.error({ ...line, err: error }, 'request failed');
    else request.log.info(line, 'request');
  }
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
function answerError(error: unknown, request: FastifyRequest, reply: FastifyReply): void {
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
  const status = (error as { statusCode?: number }).statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    // Fastify's own refusals: a body over the limit, a malformed request line.
    const message = status === 413 ? 'The request body is too large.' : (error as Error).message;
    reply.code(status).send({ message });
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
