import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { hashApiKey, newApiKey } from '../../server/src/auth/keys.js';
import { newId } from '../../server/src/store/ids.js';
import { type ServerProcess, startServerProcess } from '../../server/test/support/process.js';
import { parseEnvFile } from '../src/settings.js';

/** The real server as a process, with the admin its first start wrote to admin.env. */
export interface Server {
  readonly process: ServerProcess;
  readonly url: string;
  readonly dataDir: string;
  readonly admin: { workspace: string; username: string; apiKey: string; hostname: string };
  stop(): Promise<void>;
}

export async function startServer(env: Record<string, string> = {}, flags: string[] = []): Promise<Server> {
  const dataDir = mkdtempSync(join(tmpdir(), 'accsyn-api-test-'));
  const process = await startServerProcess(['--port', '0', '--data-dir', dataDir, ...flags], {
    ACCSYN_BOOTSTRAP_WORKSPACE: 'acme',
    ACCSYN_BOOTSTRAP_ADMIN: 'admin@acme.test',
    ...env,
  });
  const file = parseEnvFile(readFileSync(join(dataDir, 'admin.env'), 'utf8'));
  return {
    process,
    url: process.url,
    dataDir,
    admin: {
      workspace: file.ACCSYN_WORKSPACE as string,
      username: file.ACCSYN_API_USER as string,
      apiKey: file.ACCSYN_API_KEY as string,
      hostname: file.ACCSYN_HOSTNAME as string,
    },
    async stop() {
      process.child.kill('SIGTERM');
      await process.exited;
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Adds a user with an API key straight into the server's database (keys are not made through the API). */
export function addUser(server: Server, email: string, role: 'admin' | 'employee' | 'standard') {
  const db = new Database(join(server.dataDir, 'accsyn.db'));
  try {
    const workspace = (db.prepare('SELECT id FROM workspaces').get() as { id: string }).id;
    const now = new Date().toISOString();
    const user = newId();
    db.prepare(`INSERT INTO users (id, workspace, code, code_folded, name, name_folded, role, status, inactive, created,
      modified) VALUES (?, ?, ?, ?, ?, ?, ?, 'enabled', 0, ?, ?)`).run(
      user,
      workspace,
      email,
      email.toLowerCase(),
      email,
      email.toLowerCase(),
      role,
      now,
      now,
    );
    const apiKey = newApiKey();
    db.prepare(`INSERT INTO api_keys (id, workspace, user, name, hash, created) VALUES (?, ?, ?, 'test', ?, ?)`).run(
      newId(),
      workspace,
      user,
      hashApiKey(apiKey),
      now,
    );
    return { workspace: server.admin.workspace, username: email, apiKey, hostname: server.url };
  } finally {
    db.close();
  }
}
