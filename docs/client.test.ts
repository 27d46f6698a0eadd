import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Server, startServer } from '../packages/api/test/support.js';

/**
 * Runs the `ts` blocks of docs/client.md, in order, against one fresh server, with the environment set to its
 * admin as the page says: each block is written to a file and imported, so its assertions run as they are. Blocks
 * marked `ts transfers` (uploads, downloads, the agent) run against a second server whose transfer engine runs: on
 * the first, the other examples' transfers of files that do not exist stay as they were made.
 */

const page = readFileSync(new URL('./client.md', import.meta.url), 'utf8');
const blocks = [...page.matchAll(/```ts( transfers)?\n([\s\S]*?)```/g)].map(([, transfers, body]) => ({
  body: body as string,
  transfers: transfers !== undefined,
}));
const folder = new URL('./.client-examples/', import.meta.url);
const names = ['ACCSYN_WORKSPACE', 'ACCSYN_API_USER', 'ACCSYN_API_KEY', 'ACCSYN_HOSTNAME'] as const;
const saved = Object.fromEntries(names.map((name) => [name, process.env[name]]));
let server: Server;
let engine: Server | undefined;

function useServer(target: Server): void {
  Object.assign(process.env, {
    ACCSYN_WORKSPACE: target.admin.workspace,
    ACCSYN_API_USER: target.admin.username,
    ACCSYN_API_KEY: target.admin.apiKey,
    ACCSYN_HOSTNAME: target.url,
  });
}

beforeAll(async () => {
  server = await startServer();
});
afterAll(async () => {
  for (const name of names) {
    if (saved[name] === undefined) delete process.env[name];
    else process.env[name] = saved[name];
  }
  rmSync(folder, { recursive: true, force: true });
  await Promise.all([server.stop(), engine?.stop()]);
});

describe('docs/client.md', () => {
  it('has examples', () => {
    expect(blocks.length).toBeGreaterThanOrEqual(5);
  });

  it.each(blocks.map((block, i) => [i + 1, block] as const))('example %i runs', async (n, { body, transfers }) => {
    if (transfers) engine ??= await startServer({}, ['--transfers', 'on']);
    useServer(transfers ? (engine as Server) : server);
    mkdirSync(folder, { recursive: true });
    const file = new URL(`example-${n}.ts`, folder);
    writeFileSync(file, body);
    await import(file.href);
  });
});
