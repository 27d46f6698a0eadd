import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Server, startServer } from '../packages/api/test/support.js';

/**
 * Runs the `ts` blocks of docs/client.md, in order, against one fresh server, with the environment set to its
 * admin as the page says: each block is written to a file and imported, so its assertions run as they are.
 */

const page = readFileSync(new URL('./client.md', import.meta.url), 'utf8');
const blocks = [...page.matchAll(/```ts\n([\s\S]*?)```/g)].map(([, body]) => body as string);
const folder = new URL('./.client-examples/', import.meta.url);
const names = ['ACCSYN_WORKSPACE', 'ACCSYN_API_USER', 'ACCSYN_API_KEY', 'ACCSYN_HOSTNAME'] as const;
const saved = Object.fromEntries(names.map((name) => [name, process.env[name]]));
let server: Server;

beforeAll(async () => {
  server = await startServer();
  Object.assign(process.env, {
    ACCSYN_WORKSPACE: server.admin.workspace,
    ACCSYN_API_USER: server.admin.username,
    ACCSYN_API_KEY: server.admin.apiKey,
    ACCSYN_HOSTNAME: server.url,
  });
});
afterAll(async () => {
  for (const name of names) {
    if (saved[name] === undefined) delete process.env[name];
    else process.env[name] = saved[name];
  }
  rmSync(folder, { recursive: true, force: true });
  await server.stop();
});

describe('docs/client.md', () => {
  it('has examples', () => {
    expect(blocks.length).toBeGreaterThanOrEqual(5);
  });

  it.each(blocks.map((body, i) => [i + 1, body]))('example %i runs', async (n, body) => {
    mkdirSync(folder, { recursive: true });
    const file = new URL(`example-${n}.ts`, folder);
    writeFileSync(file, body as string);
    await import(file.href);
  });
});
