import { request as httpRequest } from 'node:http';
import { authorizationHeader, encodeEnvelope, queryStringOf } from 'accsyn-protocol';

/**
 * A deliberately small client that speaks the v3 wire as the official Python client does (reference §1): the
 * Authorization and X-Accsyn-* headers, the envelope as a raw query string for GET and DELETE, as a body with
 * no Content-Type for PUT and POST. Not our SDK: the protocol is tested on its own.
 */

export interface Reply {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly text: string;
  readonly json: Record<string, unknown>;
}

export interface Credentials {
  readonly workspace: string;
  readonly user: string;
  readonly key: string;
}

export type Method = 'GET' | 'PUT' | 'POST' | 'DELETE';

/** Sends one request; `body` goes as it is, with no Content-Type, like Python requests with a str body. */
export function send(
  base: string,
  method: Method,
  path: string,
  options: { headers?: Record<string, string>; body?: string; localAddress?: string } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const url = new URL(path, base);
    const headers: Record<string, string | number> = { ...options.headers, Accept: '*/*' };
    if (options.body !== undefined) headers['Content-Length'] = Buffer.byteLength(options.body);
    else if (method === 'DELETE') headers['Content-Length'] = 0;
    const req = httpRequest(url, { method, headers, localAddress: options.localAddress, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json: Record<string, unknown> = {};
        try {
          json = JSON.parse(text);
        } catch {}
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
      });
    });
    req.on('error', reject);
    if (options.body !== undefined) req.write(options.body);
    req.end();
  });
}

export function authHeaders(credentials: Credentials): Record<string, string> {
  return {
    Authorization: authorizationHeader(credentials.user, credentials.key),
    'X-Accsyn-Workspace': credentials.workspace,
    'X-Accsyn-Device': 'PythonAPI v3.3.0-0 @ linux test(posix)',
  };
}

export async function login(base: string, credentials: Credentials): Promise<Reply> {
  return send(base, 'PUT', '/api/v3/api/login', { headers: authHeaders(credentials), body: '{}' });
}

/** An event as the official client builds it: its fields, in its order. */
export function envelope(
  credentials: Credentials,
  session: string,
  uri: string,
  data: unknown,
  extra: { query?: string; id?: string } = {},
): string {
  return encodeEnvelope({
    audience: 'api',
    workspace: credentials.workspace,
    eid: '0cca5b5e-0000-4000-8000-000000000000',
    session,
    uri,
    ident: credentials.user,
    created: '2026-11-27T18:23:39',
    hostname: 'test',
    data,
    ...extra,
  });
}

export function event(base: string, credentials: Credentials, method: Method, json: string): Promise<Reply> {
  const headers = authHeaders(credentials);
  if (method === 'GET' || method === 'DELETE') {
    return send(base, method, `/api/v3/event?${queryStringOf(json)}`, { headers });
  }
  return send(base, method, '/api/v3/event', { headers, body: json });
}
