import type { Socket } from 'node:net';
import type { FastifyBaseLogger, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { EdgeLimit, LimitsConfig } from '../config.js';
import { HttpError } from '../http/errors.js';
import { ClientIdentity } from './client.js';
import type { LimitStore } from './store.js';

/**
 * The two layers of rate limits of reference §5.1, in the server itself, so that one process is protected without
 * a proxy in front:
 * - the edge layer, before anything is parsed: requests per second with a burst per client and path prefix (as
 *   nginx's `limit_req ... nodelay`), and at most so many open connections per client;
 * - the backend throttle, over a sliding window per client: logins, unauthenticated calls and failed
 *   authentications are delayed more and more (logarithmically, up to a cap), then refused.
 * A refusal is 429 with Retry-After and the JSON body the official client turns into an error.
 */

export const TOO_MANY = 'Too many requests, please try again later.';

const tooMany = (retryAfterMs: number) => {
  const seconds = Math.max(1, Math.ceil(retryAfterMs / 1000));
  return new HttpError(429, TOO_MANY, { retry_after: seconds }, { 'retry-after': String(seconds) });
};

export class Limits {
  readonly identity: ClientIdentity;
  private readonly clients = new WeakMap<FastifyRequest, string>();
  private readonly connections = new Map<string, number>();
  private readonly overCap = new WeakSet<Socket>();
  private lastFailureLog = 0;

  constructor(
    private readonly config: LimitsConfig,
    trustProxy: readonly string[],
    private readonly store: LimitStore,
    private readonly log: FastifyBaseLogger,
  ) {
    this.identity = new ClientIdentity(trustProxy, config.ipv6Prefix);
  }

  /** Installs the edge layer on `app`, which serves HTTPS when `tls`. */
  install(app: FastifyInstance, tls: boolean): void {
    if (this.config.connectionsPerClient > 0) {
      // Counted when TCP accepts it, under TLS too: a client that never finishes its handshake still counts.
      app.server.on('connection', (socket: Socket) => this.countConnection(socket, tls));
    }
    // With neither edge limits nor a connection cap, the edge layer has nothing to check.
    if (this.config.edge.length === 0 && this.config.connectionsPerClient === 0) return;
    app.addHook('onRequest', async (request, reply) => {
      const path = pathOf(request.url);
      // Health checks are never limited: a load balancer must not take a busy server for a dead one.
      if (path === HEALTH_PATH) return;
      const client = this.clientOf(request);
      if (this.overCap.has(request.raw.socket)) {
        // Answer, then close: one address must not hold more than its share of the server's sockets.
        reply.header('connection', 'close');
        reply.raw.once('finish', () => request.raw.socket.destroy());
        throw tooMany(1000);
      }
      const limit = this.edgeLimitOf(path);
      if (limit) await this.takeEdge(limit, client, reply);
    });
  }

  /** The client address of a request, worked out once. */
  clientOf(request: FastifyRequest): string {
    let client = this.clients.get(request);
    if (client === undefined) {
      client = this.identity.address(request.raw.socket?.remoteAddress, request.headers['x-forwarded-for']);
      this.clients.set(request, client);
    }
    return client;
  }

  /**
   * The backend throttle: records a hit for the request's client, then waits the delay that the hits before it
   * earn, or refuses with 429 when the window is full. The wait ends early, with an error, if the client goes.
   */
  async throttle(request: FastifyRequest): Promise<void> {
    const throttle = this.config.throttle;
    if (!throttle) return;
    const client = this.clientOf(request);
    const decision = await this.guard(() => this.store.hit(`throttle:${this.identity.key(client)}`, throttle));
    if (!decision) return;
    if (!decision.allowed) throw tooMany(decision.retryAfterMs);
    const delay = throttleDelay(decision.previousHits, throttle.max, throttle.maxDelayMs);
    if (delay > 0) await sleepUnlessGone(delay, request);
  }

  private countConnection(socket: Socket, tls: boolean): void {
    const address = this.identity.address(socket.remoteAddress, undefined);
    // Behind a trusted proxy, its connections carry many clients: the proxy caps them itself.
    if (this.identity.isTrusted(address)) return;
    const key = this.identity.key(address);
    const open = (this.connections.get(key) ?? 0) + 1;
    this.connections.set(key, open);
    socket.once('close', () => {
      const left = (this.connections.get(key) ?? 1) - 1;
      if (left > 0) this.connections.set(key, left);
      else this.connections.delete(key);
    });
    const cap = this.config.connectionsPerClient;
    if (open <= cap) return;
    // Beyond its cap, a client is told so on its first request (429) while it holds up to twice its cap. Past that,
    // and under TLS, where telling it would cost a handshake first, the connection is closed as it is accepted.
    if (tls || open > 2 * cap) socket.destroy();
    else this.overCap.add(socket);
  }

  private edgeLimitOf(path: string): EdgeLimit | undefined {
    return this.config.edge.find((limit) =>
      limit.prefixes.some((prefix) => path === prefix || path.startsWith(`${prefix}/`)),
    );
  }

  private async takeEdge(limit: EdgeLimit, client: string, reply: FastifyReply): Promise<void> {
    const decision = await this.guard(() => this.store.take(`edge:${limit.name}:${this.identity.key(client)}`, limit));
    if (!decision) return;
    // IETF draft-ietf-httpapi-ratelimit-headers: the policy (quota per window), then what is left of it.
    reply.header('ratelimit-policy', policyOf(limit));
    reply.header('ratelimit', `"${limit.name}";r=${decision.remaining};t=${Math.ceil(decision.resetMs / 1000)}`);
    if (!decision.allowed) throw tooMany(decision.retryAfterMs);
  }

  /** Runs a store call; when the store fails, lets the request through or answers 503, as configured. */
  private async guard<T>(call: () => Promise<T>): Promise<T | undefined> {
    try {
      return await call();
    } catch (error) {
      const now = Date.now();
      if (now - this.lastFailureLog > 10_000) {
        this.lastFailureLog = now;
        this.log.error(
          { err: error, failing: this.config.redisFailure },
          `rate limits unavailable: failing ${this.config.redisFailure}`,
        );
      }
      if (this.config.redisFailure === 'open') return undefined;
      throw new HttpError(503, 'The rate limiter is unavailable; please try again shortly.');
    }
  }
}

const HEALTH_PATH = '/healthz';

/** A URL's path, without its query string. */
function pathOf(url: string): string {
  const at = url.indexOf('?');
  return at === -1 ? url : url.slice(0, at);
}

const policies = new WeakMap<EdgeLimit, string>();

/** A limit's RateLimit-Policy value: its burst as the quota, over the seconds the bucket takes to refill. */
function policyOf(limit: EdgeLimit): string {
  let policy = policies.get(limit);
  if (policy === undefined) {
    policy = `"${limit.name}";q=${limit.burst};w=${Math.max(1, Math.ceil(limit.burst / limit.rate))}`;
    policies.set(limit, policy);
  }
  return policy;
}

/**
 * How long a call waits that comes after `previousHits` in the window: nothing for the first, then growing with
 * the logarithm of the hits, to `maxDelayMs` at the last one the window admits.
 */
export function throttleDelay(previousHits: number, max: number, maxDelayMs: number): number {
  if (previousHits <= 0) return 0;
  const scale = Math.log2(Math.max(2, max));
  return Math.min(maxDelayMs, Math.round((maxDelayMs * Math.log2(1 + previousHits)) / scale));
}

/** Waits `ms`, holding only a timer; rejects as soon as the client's connection closes. */
function sleepUnlessGone(ms: number, request: FastifyRequest): Promise<void> {
  const socket = request.raw.socket;
  if (socket.destroyed) return Promise.reject(new ClientGone());
  return new Promise((resolve, reject) => {
    const gone = () => {
      clearTimeout(timer);
      reject(new ClientGone());
    };
    const timer = setTimeout(() => {
      socket.off('close', gone);
      resolve();
    }, ms);
    socket.once('close', gone);
  });
}

/** The client left while its request waited; there is no one to answer. */
export class ClientGone extends Error {
  override readonly name = 'ClientGone';
}
