import { Readable } from 'node:stream';
import { Agent, type Dispatcher, errors, request } from 'undici';
import { AbortError, AccsynError, ConnectionError, TimeoutError } from './errors.js';
import { type ProxySetting, parseProxy, socksAgent, type TlsOptions, trustedAuthorities } from './proxy.js';

/**
 * One HTTP exchange with the server, through the configured proxy: connection reuse (undici keeps connections
 * alive), the connect and read timeouts, an AbortSignal, and failures turned into our errors. What the answer
 * means is the session's business.
 */

export interface TransportOptions {
  readonly connectTimeout: number;
  readonly timeout: number;
  readonly tls: TlsOptions;
  /** Re-read before each call, as the official client re-reads ACCSYN_PROXY. */
  readonly proxy: () => string | undefined;
}

export interface Exchange {
  readonly method: 'GET' | 'PUT' | 'POST' | 'DELETE';
  readonly url: URL;
  readonly headers: Record<string, string>;
  readonly body?: string | undefined;
  readonly signal?: AbortSignal | undefined;
}

export interface Answer {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly text: string;
}

/** A request to a data route (`/u`, `/d`): its body, and the answer's, are streamed rather than held. */
export interface DataExchange {
  readonly method: 'GET' | 'HEAD' | 'PUT';
  readonly url: URL;
  readonly headers: Record<string, string>;
  readonly body?: AsyncIterable<Uint8Array> | undefined;
  readonly signal?: AbortSignal | undefined;
}

export interface DataAnswer {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  /** The answer's bytes as they arrive; a failure while reading them is turned into ours by `failure`. */
  readonly body: Dispatcher.ResponseData['body'];
  /** Where the request went, for the messages of errors. */
  readonly url: URL;
}

type Purpose = 'events' | 'data';

/** Connections per server: a few are plenty for events; the data routes carry up to 64 files at once. */
const CONNECTIONS: Readonly<Record<Purpose, number>> = { events: 8, data: 64 };

export class Transport {
  /** Events and files go over connections of their own, so that a renewal of claims never waits behind a file. */
  private readonly direct: Readonly<Record<Purpose, Agent>>;
  private socks: { spec: string; agents: Record<Purpose, Agent> } | undefined;

  constructor(private readonly options: TransportOptions) {
    const agent = (purpose: Purpose) =>
      new Agent({
        connectTimeout: options.connectTimeout,
        connections: CONNECTIONS[purpose],
        connect: { rejectUnauthorized: options.tls.rejectUnauthorized ?? true, ca: trustedAuthorities(options.tls) },
      });
    this.direct = { events: agent('events'), data: agent('data') };
  }

  async send(exchange: Exchange): Promise<Answer> {
    const { url, dispatcher } = this.route(exchange.url, 'events');
    try {
      const answer = await request(url, {
        method: exchange.method,
        headers: exchange.headers,
        body: exchange.body,
        signal: exchange.signal,
        dispatcher,
        headersTimeout: this.options.timeout,
        bodyTimeout: this.options.timeout,
      });
      return { status: answer.statusCode, headers: answer.headers, text: await answer.body.text() };
    } catch (error) {
      throw failure(error, url);
    }
  }

  /**
   * One request to a data route. The timeout is for silence, never for the whole exchange: undici holds its header
   * timeout while a body is being sent (unless the server stops taking it), and its body timeout runs between
   * pieces, so a file of any size takes as long as it takes while bytes keep moving.
   */
  async stream(exchange: DataExchange): Promise<DataAnswer> {
    const { url, dispatcher } = this.route(exchange.url, 'data');
    try {
      const answer = await request(url, {
        method: exchange.method,
        headers: exchange.headers,
        body: exchange.body && Readable.from(exchange.body, { objectMode: false }),
        signal: exchange.signal,
        dispatcher,
        headersTimeout: this.options.timeout,
        bodyTimeout: this.options.timeout,
      });
      return { status: answer.statusCode, headers: answer.headers, body: answer.body, url };
    } catch (error) {
      throw failure(error, url);
    }
  }

  async close(): Promise<void> {
    const agents = [...Object.values(this.direct), ...Object.values(this.socks?.agents ?? {})];
    await Promise.all(agents.map((agent) => agent.close()));
  }

  /** Where a request really goes, and through what. */
  private route(target: URL, purpose: Purpose): { url: URL; dispatcher: Dispatcher } {
    const spec = this.options.proxy();
    if (!spec) return { url: target, dispatcher: this.direct[purpose] };
    const proxy: ProxySetting = parseProxy(spec);
    if (proxy.kind === 'accsyn') {
      // The accsyn proxy relays plain HTTP: the request goes to it, path and headers unchanged (reference §1.3).
      const host = proxy.host.includes(':') ? `[${proxy.host}]` : proxy.host;
      return {
        url: new URL(`${target.pathname}${target.search}`, `http://${host}:${proxy.port}`),
        dispatcher: this.direct[purpose],
      };
    }
    if (this.socks?.spec !== spec) {
      for (const agent of Object.values(this.socks?.agents ?? {})) void agent.close();
      const { tls, connectTimeout } = this.options;
      this.socks = {
        spec,
        agents: {
          events: socksAgent(proxy, tls, connectTimeout, CONNECTIONS.events),
          data: socksAgent(proxy, tls, connectTimeout, CONNECTIONS.data),
        },
      };
    }
    return { url: target, dispatcher: this.socks.agents[purpose] };
  }
}

/** An undici failure as one of ours, naming the server. */
export function failure(error: unknown, url: URL): AccsynError {
  const where = `${url.protocol}//${url.host}`;
  const cause = { cause: error };
  if (error instanceof AccsynError) return error;
  if ((error as Error)?.name === 'AbortError' || error instanceof errors.RequestAbortedError) {
    return new AbortError('The call was aborted.', cause);
  }
  if (error instanceof errors.ConnectTimeoutError) {
    return new TimeoutError(`Could not connect to ${where} in time.`, cause);
  }
  if (error instanceof errors.HeadersTimeoutError || error instanceof errors.BodyTimeoutError) {
    return new TimeoutError(`${where} did not answer in time.`, cause);
  }
  const code = (error as { code?: string })?.code;
  const detail = (error as Error)?.message ?? String(error);
  return new ConnectionError(`Could not reach ${where}${code ? ` (${code})` : ''}: ${detail}`, cause);
}
