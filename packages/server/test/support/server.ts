import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type RunningServer, readConfig, startServer } from '../../src/index.js';
import { testDatabase } from './database.js';
import type { Credentials } from './raw.js';
import { registerMachine } from './session.js';

/**
 * A real server on a loopback port, with its own data directory and database (see database.ts), and the admin its
 * first start created.
 */
export interface TestServer {
  readonly server: RunningServer;
  readonly url: string;
  readonly dataDir: string;
  /** Its `--database`: the SQLite file, or the PostgreSQL URL with its schema. */
  readonly database: string;
  readonly admin: Credentials;
  stop(): Promise<void>;
}

/**
 * `options.postgres` puts this server on PostgreSQL (true) or SQLite (false) whatever `ACCSYN_TEST_STORE` says, for
 * a test that compares the two.
 */
export async function startTestServer(
  env: Record<string, string> = {},
  flags: string[] = [],
  options: { postgres?: boolean; machines?: boolean } = {},
): Promise<TestServer> {
  const dataDir = mkdtempSync(join(tmpdir(), 'accsyn-server-test-'));
  const database = await testDatabase(options.postgres);
  // The rate limits are off unless a test turns them on: tests call far faster than any client may.
  const unlimited = ['--limit-api', 'off', '--throttle', 'off', '--max-connections', '0'];
  // Transfers run only where a test asks (`--transfers on`): most make transfers of files that do not exist, as
  // records, and the engine would fail them under the tests' feet.
  const engine = flags.includes('--transfers') ? [] : ['--transfers', 'off'];
  const config = readConfig(
    ['--port', '0', '--data-dir', dataDir, ...database.flags, ...unlimited, ...engine, ...flags],
    {
      ACCSYN_BOOTSTRAP_WORKSPACE: 'acme',
      ACCSYN_BOOTSTRAP_ADMIN: 'admin@acme.test',
      ...env,
    },
  );
  // ACCSYN_TEST_LOG=1 shows the server's log, to see why a test failed.
  const server = await startServer(config, process.env.ACCSYN_TEST_LOG === '1');
  const created = server.bootstrapped;
  if (!created) throw new Error('the test server did not bootstrap');
  if (options.machines !== false) {
    const workspace = await server.store.workspaceByCode(created.workspace);
    const admin = workspace && (await server.store.userByCode(workspace.id, created.admin));
    if (admin) await registerMachine(server.store, admin.workspace, admin.id, created.admin);
  }
  return {
    server,
    url: server.url,
    dataDir,
    database: config.database,
    admin: { workspace: created.workspace, user: created.admin, key: created.apiKey },
    async stop() {
      await server.close();
      await database.drop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
