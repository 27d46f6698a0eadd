import { once } from 'node:events';
import { createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * The accsyn proxy for tests: a plain-HTTP relay that sends every request on to `target` unchanged, and records
 * each (method, path, the X-Accsyn-Offset and Range it carried, the bytes it brought and got, the status answered). `cut` is
 * called with each request's bytes as they arrive: when it answers true, the connection to the server breaks there
 * (the bytes up to there have gone through), as a network cut would.
 */

export interface Relayed {
  readonly method: string;
  readonly path: string;
  readonly offset: number | undefined;
  readonly range: string | undefined;
  /** Body bytes of the request, and of its answer. */
  bytes: number;
  answered: number;
  status: number | undefined;
}

export interface Relay {
  readonly port: number;
  readonly seen: Relayed[];
  /** Breaks the connection to the server once this answers true, while a request's body arrives. */
  cut: ((request: Relayed) => boolean) | undefined;
  /** Breaks both connections once this answers true, while an answer's body arrives. */
  cutAnswer: ((request: Relayed) => boolean) | undefined;
  close(): Promise<void>;
}

export async function startRelay(target: string): Promise<Relay> {
  const relay: Relay = { port: 0, seen: [], cut: undefined, cutAnswer: undefined, close: async () => undefined };
  const server = createServer((incoming, outgoing) => {
    const offset = incoming.headers['x-accsyn-offset'];
    const range = incoming.headers.range;
    const seen: Relayed = {
      method: incoming.method ?? '',
      path: incoming.url ?? '',
      offset: typeof offset === 'string' ? Number(offset) : undefined,
      range,
      bytes: 0,
      answered: 0,
      status: undefined,
    };
    relay.seen.push(seen);
    const onward = request(
      new URL(incoming.url ?? '/', target),
      { method: incoming.method, headers: incoming.headers, agent: false },
      (answer) => {
        seen.status = answer.statusCode;
        outgoing.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.on('data', (chunk: Buffer) => {
          seen.answered += chunk.length;
          outgoing.write(chunk);
          if (relay.cutAnswer?.(seen)) {
            answer.destroy();
            outgoing.destroy();
          }
        });
        answer.on('end', () => outgoing.end());
      },
    );
    onward.on('error', () => outgoing.destroy());
    let cut = false;
    incoming.on('data', (chunk: Buffer) => {
      if (cut) return;
      seen.bytes += chunk.length;
      onward.write(chunk);
      if (relay.cut?.(seen)) {
        // The connection to the server breaks here; the sender's bytes after this are dropped.
        cut = true;
        onward.destroy();
      }
    });
    incoming.on('end', () => {
      if (!cut) onward.end();
    });
    // The sender went away before its body was whole: the server sees the connection end, as with a real cut.
    incoming.on('close', () => {
      if (!incoming.complete) onward.destroy();
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return Object.assign(relay, {
    port: (server.address() as AddressInfo).port,
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  });
}
