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

const CONNECTIONS = 8;

export class Transport {
  private readonly direct: Agent;
  private socks: { spec: string; agent: Agent } | undefined;

  constructor(private readonly options: TransportOptions) {
    this.direct = new Agent({
      connectTimeout: options.connectTimeout,
      // A few connections per server are plenty for one script, and stay far below the per-client cap.
      connections: CONNECTIONS,
      connect: { rejectUnauthorized: options.tls.rejectUnauthorized ?? true, ca: trustedAuthorities(options.tls) },
    });
  }

  async send(exchange: Exchange): Promise<Answer> {
    const { url, dispatcher } = this.route(exchange.url);
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

  async close(): Promise<void> {
    await Promise.all([this.direct.close(), this.socks?.agent.close()]);
  }

  /** Where a request really goes, and through what. */
  private route(target: URL): { url: URL; dispatcher: Dispatcher } {
    const spec = this.options.proxy();
    if (!spec) return { url: target, dispatcher: this.direct };
    const proxy: ProxySetting = parseProxy(spec);
    if (proxy.kind === 'accsyn') {
      // The accsyn proxy relays plain HTTP: the request goes to it, path and headers unchanged (reference §1.3).
      const host = proxy.host.includes(':') ? `[${proxy.host}]` : proxy.host;
      return {
        url: new URL(`${target.pathname}${target.search}`, `http://${host}:${proxy.port}`),
        dispatcher: this.direct,
      };
    }
    if (this.socks?.spec !== spec) {
      void this.socks?.agent.close();
      this.socks = { spec, agent: socksAgent(proxy, this.options.tls, this.options.connectTimeout) };
    }
    return { url: target, dispatcher: this.socks.agent };
  }
}

/** An undici failure as one of ours, naming the server. */
function failure(error: unknown, url: URL): AccsynError {
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
