import type { Send } from '../events.js';
import type { DataAnswer } from '../transport.js';

/**
 * What the transfer modules need of a session beyond its public calls: events of any uri (the agent events), and
 * the data routes, with the session's credentials, proxy and timeouts. The session makes one for itself; it is not
 * part of the package's API.
 */
export interface Link {
  readonly send: Send;
  data(request: DataRequest): Promise<DataAnswer>;
  /** This machine's Client, once a check-in has answered it. */
  client: string | undefined;
}

export interface DataRequest {
  readonly method: 'GET' | 'HEAD' | 'PUT';
  /** `u` to upload, `d` to download. */
  readonly route: 'u' | 'd';
  readonly task: string;
  readonly headers?: Record<string, string>;
  readonly body?: AsyncIterable<Uint8Array>;
  readonly signal?: AbortSignal | undefined;
}

export const SESSION_HEADER = 'X-Accsyn-Session';
