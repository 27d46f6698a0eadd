import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TimeoutError } from '../src/index.js';
import { Transport } from '../src/transport.js';

/**
 * The data routes' requests: a body of any size is streamed for as long as it takes, the timeout measuring silence
 * (no byte taken for that long, or no answer that long after the last), never the whole exchange.
 */

let server: Server;
let url: URL;
const transport = new Transport({ connectTimeout: 2_000, timeout: 300, tls: {}, proxy: () => undefined });

beforeAll(async () => {
  server = createServer((request, response) => {
    let bytes = 0;
    request.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
    });
    // `/mute` takes the body and never answers.
    request.on('end', () => {
      if (request.url !== '/mute') response.end(String(bytes));
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  url = new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
});

afterAll(async () => {
  await transport.close();
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

/** `count` pieces of 1000 bytes, `gap` milliseconds apart. */
async function* trickle(count: number, gap: number): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < count; i++) {
    yield Buffer.alloc(1000, i);
    await new Promise((resolve) => setTimeout(resolve, gap));
  }
}

describe('a streamed body', () => {
  it('may take longer than the timeout in all, as long as bytes keep moving', async () => {
    // 60 pieces 50 ms apart: three seconds in all, ten times the timeout, never silent for long.
    const answer = await transport.stream({
      method: 'PUT',
      url,
      headers: { 'content-length': '60000' },
      body: trickle(60, 50),
    });
    expect(answer.status).toBe(200);
    expect(await answer.body.text()).toBe('60000');
  });

  it('fails with a TimeoutError when no answer follows the last byte', async () => {
    const error = await transport
      .stream({ method: 'PUT', url: new URL('/mute', url), headers: { 'content-length': '2000' }, body: trickle(2, 0) })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(error).toBeInstanceOf(TimeoutError);
    expect((error as Error).message).toBe(`http://${url.host} did not answer in time.`);
  });
});
