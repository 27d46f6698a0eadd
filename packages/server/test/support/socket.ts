import { connect } from 'node:net';

/**
 * HTTP/1.1 over a bare socket, byte for byte: the request target and headers go out exactly as given (no URL
 * normalising, no header validation), which is what a fuzzer needs and what `http.request` refuses to do. One
 * request per connection; the answer must arrive within `timeoutMs`, or the promise rejects.
 */

export interface SocketRequest {
  readonly method: string;
  /** The request target as sent, such as `/api/v3/event?%7B...`; a Buffer for bytes that are not text. */
  readonly target: string | Buffer;
  /** Header lines as sent; `Host` is added unless `host` is null. */
  readonly headers?: Readonly<Record<string, string | Buffer>>;
  /** The Host header's value; `null` leaves it out. Defaults to the server's host and port. */
  readonly host?: string | Buffer | null;
  readonly body?: string | Buffer;
  readonly timeoutMs?: number;
}

export interface SocketReply {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly text: string;
}

export function socketRequest(base: string, request: SocketRequest): Promise<SocketReply> {
  const url = new URL(base);
  const body = request.body === undefined ? undefined : Buffer.from(request.body);
  const lines: Buffer[] = [
    Buffer.from(`${request.method} `),
    Buffer.from(request.target),
    Buffer.from(' HTTP/1.1\r\n'),
  ];
  const host = request.host === undefined ? url.host : request.host;
  if (host !== null) lines.push(Buffer.from('Host: '), Buffer.from(host), Buffer.from('\r\n'));
  for (const [name, value] of Object.entries(request.headers ?? {})) {
    lines.push(Buffer.from(`${name}: `), Buffer.from(value), Buffer.from('\r\n'));
  }
  if (body !== undefined) lines.push(Buffer.from(`Content-Length: ${body.length}\r\n`));
  lines.push(Buffer.from('Connection: close\r\n\r\n'));
  if (body !== undefined) lines.push(body);
  const timeoutMs = request.timeoutMs ?? 10_000;

  return new Promise((resolve, reject) => {
    const socket = connect({ host: url.hostname, port: Number(url.port) });
    const chunks: Buffer[] = [];
    let settled = false;
    const settle = (error?: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      const reply = parseReply(Buffer.concat(chunks));
      if (reply) resolve(reply);
      else reject(error ?? new Error(`the server closed the connection without an answer (${chunks.length} chunks)`));
    };
    const timer = setTimeout(
      () => settle(new Error(`no answer within ${timeoutMs} ms to ${request.method} ${describe(request.target)}`)),
      timeoutMs,
    );
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
    });
    socket.on('end', () => settle());
    socket.on('close', () => settle());
    // The server may answer (431, 413) and close before it has read all we write: the answer still counts.
    socket.on('error', (error) => settle(error));
    // Written without closing our side, as HTTP clients do: the server takes a client's FIN for its going away.
    socket.write(Buffer.concat(lines));
  });
}

function describe(target: string | Buffer): string {
  const text = target.toString();
  return text.length > 120 ? `${text.slice(0, 120)}... (${text.length} chars)` : text;
}

/** A whole HTTP/1.1 answer, or undefined when what arrived is not one. */
function parseReply(raw: Buffer): SocketReply | undefined {
  const end = raw.indexOf('\r\n\r\n');
  if (end === -1) return undefined;
  const [statusLine = '', ...headerLines] = raw.subarray(0, end).toString('latin1').split('\r\n');
  const status = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine)?.[1];
  if (!status) return undefined;
  const headers: Record<string, string> = {};
  for (const line of headerLines) {
    const colon = line.indexOf(':');
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  let body = raw.subarray(end + 4);
  if (headers['transfer-encoding']?.toLowerCase() === 'chunked') body = dechunk(body);
  else if (headers['content-length'] !== undefined) {
    const length = Number(headers['content-length']);
    if (body.length < length) return undefined;
    body = body.subarray(0, length);
  }
  return { status: Number(status), headers, text: body.toString('utf8') };
}

function dechunk(raw: Buffer): Buffer {
  const parts: Buffer[] = [];
  let at = 0;
  for (;;) {
    const lineEnd = raw.indexOf('\r\n', at);
    if (lineEnd === -1) break;
    const size = Number.parseInt(raw.subarray(at, lineEnd).toString('latin1'), 16);
    if (!(size > 0)) break;
    parts.push(raw.subarray(lineEnd + 2, lineEnd + 2 + size));
    at = lineEnd + 2 + size + 2;
  }
  return Buffer.concat(parts);
}
